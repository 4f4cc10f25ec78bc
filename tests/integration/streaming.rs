//! The bytes the client gets, the crate's own guarantee: exactly the inner
//! body, trailer fields included (RFC 9110 §6.5; HTTP/1.1 chunked trailers and
//! HTTP/2) and left out of the hash, and bodies over `max_hashed_body_size` (known
//! in advance or found out while reading) sent whole and unchanged without
//! an `ETag`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use tower::Layer;
use tower_conditional::{ConditionalLayer, DEFAULT_MAX_HASHED_BODY_SIZE};

use crate::support::*;

const LIMIT: usize = 16;

fn trailers() -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc123"));
    trailers.insert("x-row-count", HeaderValue::from_static("3"));
    trailers
}

fn with_trailers() -> http::Response<Body> {
    let body = FramesBody::new([
        Frame::data(Bytes::from_static(b"row 1\n")),
        Frame::data(Bytes::from_static(b"row 2\n")),
        Frame::data(Bytes::from_static(b"row 3\n")),
        Frame::trailers(trailers()),
    ])
    .pending_before_each();
    response(
        StatusCode::OK,
        &[("trailer", "x-checksum, x-row-count")],
        Body::new(body),
    )
}

const ROWS: &str = "row 1\nrow 2\nrow 3\n";

/// One data chunk, then trailers: found by fuzzing, the single-chunk fast
/// path once missed the chunk when trailers followed it.
fn one_chunk_with_trailers() -> http::Response<Body> {
    let body = FramesBody::new([
        Frame::data(Bytes::from_static(ROWS.as_bytes())),
        Frame::trailers(trailers()),
    ])
    .pending_before_each();
    response(
        StatusCode::OK,
        &[("trailer", "x-checksum, x-row-count")],
        Body::new(body),
    )
}

/// Trailers after a body whose handler states a `Content-Length`.
fn trailers_with_length(length: &'static str) -> http::Response<Body> {
    let mut response = with_trailers();
    response
        .headers_mut()
        .insert("content-length", HeaderValue::from_static(length));
    response
}

fn app(layer: ConditionalLayer, tap: Tap) -> Router {
    Router::new()
        .route("/trailers", get(|| async { with_trailers() }))
        .route(
            "/trailers-false-length",
            get(|| async { trailers_with_length("5") }),
        )
        .route(
            "/trailers-true-length",
            get(|| async { trailers_with_length("18") }),
        )
        .route(
            "/one-chunk-trailers",
            get(|| async { one_chunk_with_trailers() }),
        )
        .route(
            "/exact/{n}",
            get(|axum::extract::Path(n): axum::extract::Path<usize>| async move { patterned(n) }),
        )
        .route(
            "/stream/{n}/{chunk}",
            get(
                |axum::extract::Path((n, chunk)): axum::extract::Path<(usize, usize)>| async move {
                    let data = patterned(n);
                    let chunks: Vec<Vec<u8>> = data.chunks(chunk).map(<[u8]>::to_vec).collect();
                    Body::new(FramesBody::chunks(chunks).pending_before_each())
                },
            ),
        )
        .route(
            "/hinted/{n}/{chunk}/{hint}",
            get(
                |axum::extract::Path((n, chunk, hint)): axum::extract::Path<(
                    usize,
                    usize,
                    u64,
                )>| async move {
                    let data = patterned(n);
                    let chunks: Vec<Vec<u8>> = data.chunks(chunk).map(<[u8]>::to_vec).collect();
                    // A hint true or not: the layer sizes its buffers from
                    // hints and must not trust them.
                    Body::new(
                        FramesBody::chunks(chunks)
                            .pending_before_each()
                            .with_size_hint(SizeHint::with_exact(hint)),
                    )
                },
            ),
        )
        .route(
            "/channel",
            get(|State(tap): State<Tap>| async move { Body::new(tap.body()) }),
        )
        .route(
            "/channel-announced",
            get(|State(tap): State<Tap>| async move {
                response(
                    StatusCode::OK,
                    &[("content-length", "20")],
                    Body::new(tap.body()),
                )
            }),
        )
        .route(
            "/channel-hinted",
            get(|State(tap): State<Tap>| async move {
                Body::new(tap.body_with_hint(SizeHint::with_exact(20)))
            }),
        )
        .with_state(tap)
        .layer(layer)
}

async fn server(layer: ConditionalLayer) -> (SocketAddr, TapRx) {
    let (tap, rx) = tap();
    (serve_router(app(layer, tap)).await, rx)
}

async fn limited() -> (SocketAddr, TapRx) {
    server(ConditionalLayer::new().max_hashed_body_size(LIMIT)).await
}

// --- Exact bytes and trailers ---------------------------------------------

#[tokio::test]
async fn client_gets_exactly_the_bytes_of_the_handler() {
    let (addr, _taps) = server(ConditionalLayer::new()).await;
    for path in [
        "/exact/1",
        "/exact/1000000",
        "/stream/20000/1",
        "/stream/300000/4093",
        // Small chunks up to 16 KiB are gathered into one; past that the
        // gathered bytes become the hasher's stage.
        "/stream/1000/3",
        "/stream/16384/256",
        "/stream/16385/256",
        "/stream/16400/8000",
        "/stream/40000/16383",
        // Size hints that lie, low and high.
        "/hinted/16384/100/20",
        "/hinted/16500/100/20",
        "/hinted/5000/7/16384",
        "/hinted/100000/1000/1",
    ] {
        let response = http_get(addr, path).await;
        let n: usize = path.split('/').nth(2).unwrap().parse().unwrap();
        assert_eq!(response.body.len(), n, "{path}");
        assert!(response.body == patterned(n), "{path}: bytes differ");
        assert_eq!(response.etag(), expected_etag(&patterned(n)), "{path}");
    }
}

#[tokio::test]
async fn http1_trailers_reach_the_client() {
    let (addr, _taps) = server(ConditionalLayer::new()).await;
    let response = fetch(addr, Method::GET, "/trailers", &[("te", "trailers")]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, ROWS);
    assert_eq!(response.trailers, Some(trailers()));
    // The tag is the hash of the data; trailers are not part of it.
    assert_eq!(response.etag(), expected_etag(ROWS.as_bytes()));
    assert!(
        !response.has("content-length"),
        "a body with trailers must stay chunked"
    );
}

#[tokio::test]
async fn a_false_length_before_trailers_is_dropped_a_true_one_kept() {
    let (addr, _taps) = server(ConditionalLayer::new()).await;
    assert_eq!(ROWS.len(), 18);
    let response = fetch(
        addr,
        Method::GET,
        "/trailers-false-length",
        &[("te", "trailers")],
    )
    .await;
    assert_eq!(
        response.body, ROWS,
        "every byte, not the 5 the handler stated"
    );
    assert_eq!(response.trailers, Some(trailers()));
    assert!(!response.has("content-length"), "{:?}", response.headers);
    let head = fetch(addr, Method::HEAD, "/trailers-false-length", &[]).await;
    assert!(!head.has("content-length"), "{:?}", head.headers);
    assert_eq!(head.etag(), response.etag());

    // A true length stays, as the handler sent it; hyper then frames the
    // HTTP/1.1 body by it (and drops the trailers, as it would without us).
    let response = http_get(addr, "/trailers-true-length").await;
    assert_eq!(response.body, ROWS);
    assert_eq!(response.header("content-length"), "18");
    assert_eq!(response.etag(), expected_etag(ROWS.as_bytes()));
}

#[tokio::test]
async fn one_chunk_then_trailers_is_hashed_whole() {
    let (addr, _taps) = server(ConditionalLayer::new()).await;
    let response = fetch(
        addr,
        Method::GET,
        "/one-chunk-trailers",
        &[("te", "trailers")],
    )
    .await;
    assert_eq!(response.body, ROWS);
    assert_eq!(response.trailers, Some(trailers()));
    assert_eq!(response.etag(), expected_etag(ROWS.as_bytes()));
    let again = fetch(
        addr,
        Method::GET,
        "/one-chunk-trailers",
        &[("if-none-match", &expected_etag(ROWS.as_bytes()))],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn http1_trailers_on_the_wire() {
    let (addr, _taps) = server(ConditionalLayer::new()).await;
    let raw = raw_exchange(
        addr,
        &raw_request(
            "GET",
            "/trailers",
            &[("TE", b"trailers"), ("Connection", b"close")],
        ),
    )
    .await;
    let response = parse_response(&raw, false);
    assert!(response.chunked, "{response:?}");
    assert_eq!(response.body, ROWS.as_bytes());
    let mut got = response.trailers.clone();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("x-checksum".to_owned(), b"abc123".to_vec()),
            ("x-row-count".to_owned(), b"3".to_vec()),
        ]
    );
    assert_eq!(
        response.get_str("etag"),
        Some(expected_etag(ROWS.as_bytes()).as_str())
    );
    assert_eq!(response.raw.len(), raw.len());
}

#[tokio::test]
async fn http2_trailers_reach_the_client() {
    let (tap, _taps) = tap();
    let service =
        ConditionalLayer::new().layer(app(ConditionalLayer::new().max_hashed_body_size(1), tap));
    // The outer layer hashes (the inner one, with a one-byte limit, lets these through).
    let addr = serve_h2(service).await;
    let client = h2_client();
    let request = request(Method::GET, addr, "/trailers")
        .body(Full::default())
        .unwrap();
    let response = send(&client, request).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, ROWS);
    assert_eq!(response.trailers, Some(trailers()));
    assert_eq!(response.etag(), expected_etag(ROWS.as_bytes()));

    let second = crate::support::request(Method::GET, addr, "/exact/70000")
        .body(Full::default())
        .unwrap();
    let response = send(&client, second).await;
    assert!(response.body == patterned(70000));
    assert_eq!(response.etag(), expected_etag(&patterned(70000)));
}

// --- max_hashed_body_size ---------------------------------------------------------

#[tokio::test]
async fn body_of_exactly_the_limit_is_hashed() {
    let (addr, _taps) = limited().await;
    for path in ["/exact/16", "/stream/16/5", "/stream/16/1"] {
        let response = http_get(addr, path).await;
        assert_eq!(response.body, patterned(LIMIT), "{path}");
        assert_eq!(response.etag(), expected_etag(&patterned(LIMIT)), "{path}");
    }
}

#[tokio::test]
async fn body_over_the_limit_goes_out_whole_without_etag() {
    let (addr, _taps) = limited().await;
    for (path, n) in [
        ("/exact/17", 17),
        ("/exact/5000", 5000),
        ("/stream/17/5", 17),
        ("/stream/17/17", 17),
        ("/stream/40/16", 40),
        ("/stream/5000/7", 5000),
        ("/stream/5000/1", 5000),
    ] {
        let response = http_get(addr, path).await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert!(response.body == patterned(n), "{path}: bytes differ");
        assert!(!response.has("etag"), "{path}: no ETag over the limit");
    }
}

#[tokio::test]
async fn head_over_the_limit_matches_get() {
    let (addr, _taps) = limited().await;
    for path in ["/exact/17", "/stream/40/16"] {
        let get = http_get(addr, path).await;
        let head = fetch(addr, Method::HEAD, path, &[]).await;
        assert!(!head.has("etag"), "{path}");
        assert_eq!(
            head.headers.get("content-length"),
            get.headers.get("content-length"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn over_the_limit_found_while_reading_then_streams_the_rest() {
    let (addr, mut taps) = limited().await;
    let client = client();
    let request = request(Method::GET, addr, "/channel")
        .body(Full::default())
        .unwrap();
    let mut pending = Box::pin(client.request(request));
    let sender = tokio::select! {
        sender = taps.next() => sender,
        _ = &mut pending => panic!("answered before the body started"),
    };
    sender.data("0123456789");
    assert!(
        still_pending(&mut pending, Duration::from_millis(200)).await,
        "within the limit the body is held"
    );
    sender.data("abcdefghij");
    // The limit is crossed: the response goes out now, without a tag.
    let response = within("the head once the limit is crossed", &mut pending)
        .await
        .unwrap();
    assert!(!response.headers().contains_key("etag"));
    let mut body = response.into_body();
    let mut got = Vec::new();
    while got.len() < 20 {
        let frame = within("held frames", body.frame()).await.unwrap().unwrap();
        got.extend_from_slice(&frame.into_data().unwrap());
    }
    assert_eq!(got, b"0123456789abcdefghij");
    sender.data("KLM");
    let frame = within("the rest, streamed", body.frame())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame.into_data().unwrap(), "KLM");
    drop(sender);
    let rest = within("end", body.collect()).await.unwrap().to_bytes();
    assert!(rest.is_empty());
}

/// A body that states an exact length within the limit is read where it is
/// (not boxed). One that breaks its word and sends more than the limit
/// cannot go on unread from there: it is cut after the chunk that crossed
/// the limit, untagged, and the response ends as if complete (without the
/// layer, hyper would send the 10 bytes it stated and no more). Within the
/// limit, a lie costs nothing.
#[tokio::test]
async fn a_body_that_sends_more_than_it_stated_and_the_limit_is_cut_untagged() {
    let (addr, _taps) = limited().await;
    let within = http_get(addr, "/hinted/16/3/10").await;
    assert_eq!(within.body, patterned(16));
    assert_eq!(within.etag(), expected_etag(&patterned(16)));
    let past = http_get(addr, "/hinted/100/7/10").await;
    assert_eq!(past.status, StatusCode::OK);
    assert!(!past.has("etag"), "{}", past.etag());
    assert!(
        past.body.len() > LIMIT && past.body.len() < 100,
        "{}",
        past.body.len()
    );
    assert!(patterned(100).starts_with(&past.body), "bytes differ");
}

/// A body announced over the limit (by Content-Length or by its size hint)
/// is not read at all: its head and first chunk arrive at once.
#[tokio::test]
async fn body_announced_over_the_limit_is_not_held() {
    let (addr, mut taps) = limited().await;
    for path in ["/channel-announced", "/channel-hinted"] {
        let client = client();
        let request = request(Method::GET, addr, path)
            .body(Full::default())
            .unwrap();
        let mut pending = Box::pin(client.request(request));
        let sender = tokio::select! {
            sender = taps.next() => sender,
            _ = &mut pending => panic!("answered before the body started"),
        };
        sender.data("0123456789");
        let response = within("the head before the body ends", &mut pending)
            .await
            .unwrap();
        assert!(!response.headers().contains_key("etag"), "{path}");
        let mut body = response.into_body();
        let frame = within("the first chunk", body.frame())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(frame.into_data().unwrap(), "0123456789", "{path}");
        sender.data("abcdefghij");
        drop(sender);
        let rest = within("the rest", body.collect()).await.unwrap().to_bytes();
        assert_eq!(rest, "abcdefghij", "{path}");
    }
}

#[tokio::test]
async fn default_limit_is_four_mebibytes() {
    assert_eq!(DEFAULT_MAX_HASHED_BODY_SIZE, 4 * 1024 * 1024);
    let (addr, _taps) = server(ConditionalLayer::new()).await;
    let at = http_get(
        addr,
        &format!("/stream/{}/65536", DEFAULT_MAX_HASHED_BODY_SIZE),
    )
    .await;
    assert_eq!(at.body.len(), DEFAULT_MAX_HASHED_BODY_SIZE);
    assert_eq!(
        at.etag(),
        expected_etag(&patterned(DEFAULT_MAX_HASHED_BODY_SIZE))
    );
    let over = http_get(
        addr,
        &format!("/stream/{}/65536", DEFAULT_MAX_HASHED_BODY_SIZE + 1),
    )
    .await;
    assert!(over.body == patterned(DEFAULT_MAX_HASHED_BODY_SIZE + 1));
    assert!(!over.has("etag"));
}

// --- How the frames go out ---------------------------------------------------

/// The data frames a layered service sends for a body of `n` bytes in chunks
/// of `chunk`, and its entity-tag.
async fn frames_sent(layer: ConditionalLayer, n: usize, chunk: usize) -> (Vec<Bytes>, String) {
    use tower::ServiceExt;
    let service = layer.layer(tower::service_fn(
        move |_req: http::Request<()>| async move {
            let data = patterned(n);
            let chunks: Vec<Vec<u8>> = data.chunks(chunk).map(<[u8]>::to_vec).collect();
            Ok::<_, std::convert::Infallible>(http::Response::new(
                FramesBody::chunks(chunks).pending_before_each(),
            ))
        },
    ));
    let response = service.oneshot(http::Request::new(())).await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.unwrap().into_data().unwrap());
    }
    (frames, etag)
}

/// A body of up to 16 KiB in small chunks was copied together to be hashed
/// in one call; that copy goes out as one frame, in place of the chunks. A
/// longer one goes out as the copy of its start (the chunks up to 16 KiB),
/// then its later chunks: those under 16 KiB copied together into frames of
/// up to 16 KiB (so that what is held does not grow with their number),
/// larger ones as they came (held, not copied).
#[tokio::test]
async fn small_chunks_go_out_gathered_into_one_frame() {
    for remember in [true, false] {
        let layer = ConditionalLayer::new().remember_recent_bodies(remember);
        for (n, chunk, expected_frames) in [
            (1000, 3, 1),
            (16384, 256, 1),
            (16384, 16383, 1),
            (16385, 256, 2),
            (20000, 1000, 2),
            (40000, 1000, 3),
            (40000, 16383, 3),
            (70000, 20000, 4),
            (300, 300, 1),
        ] {
            for round in 0..2 {
                let (frames, etag) = frames_sent(layer.clone(), n, chunk).await;
                let what = format!("{n} B in chunks of {chunk}, memo {remember}, round {round}");
                assert_eq!(frames.len(), expected_frames, "{what}");
                assert!(frames.concat() == patterned(n), "{what}: bytes differ");
                assert_eq!(etag, expected_etag(&patterned(n)), "{what}");
            }
        }
    }
}

/// The data a body yields up to its end or its first error, and the error.
async fn read_to_error_or_end<B>(mut body: B) -> (Vec<u8>, Option<B::Error>)
where
    B: http_body::Body + Unpin,
    B::Data: bytes::Buf,
{
    use bytes::Buf;
    let mut got = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(mut data) = frame.into_data() {
                    while data.has_remaining() {
                        let n = data.chunk().len();
                        got.extend_from_slice(data.chunk());
                        data.advance(n);
                    }
                }
            }
            Err(error) => return (got, Some(error)),
        }
    }
    (got, None)
}

/// A body that yields the given frames and errors in order.
struct Scripted<D = Bytes>(std::collections::VecDeque<Result<Frame<D>, std::io::Error>>);

impl<D: bytes::Buf + Unpin> http_body::Body for Scripted<D> {
    type Data = D;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<D>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front())
    }
}

/// Data in two pieces, whose `chunk()` is shorter than `remaining()`.
type Split = bytes::buf::Chain<Bytes, Bytes>;

fn split(piece: &[u8]) -> Split {
    use bytes::Buf;
    let half = piece.len() / 2;
    Bytes::copy_from_slice(&piece[..half]).chain(Bytes::copy_from_slice(&piece[half..]))
}

/// Data types other than `Bytes` may come in pieces (`Buf::chunk` is only
/// the first): every piece is sent and hashed, whether the chunks are
/// gathered, held, cut off by the limit, or followed by an error.
#[tokio::test]
async fn data_in_several_pieces_is_sent_and_hashed_whole() {
    use tower::ServiceExt;
    for (n, chunk, limit, fails) in [
        (1000, 10, DEFAULT_MAX_HASHED_BODY_SIZE, false),
        (1000, 1000, DEFAULT_MAX_HASHED_BODY_SIZE, false),
        (20000, 1000, DEFAULT_MAX_HASHED_BODY_SIZE, false),
        (1000, 10, 500, false),
        (1000, 10, DEFAULT_MAX_HASHED_BODY_SIZE, true),
    ] {
        let what = format!("{n} B in chunks of {chunk}, limit {limit}, fails {fails}");
        let service =
            ConditionalLayer::new()
                .max_hashed_body_size(limit)
                .layer(tower::service_fn(move |_req: http::Request<()>| {
                    let data = patterned(n);
                    let mut script: std::collections::VecDeque<_> = data
                        .chunks(chunk)
                        .map(|piece| Ok(Frame::data(split(piece))))
                        .collect();
                    if fails {
                        script.push_back(Err(std::io::Error::other("cut")));
                    }
                    async move {
                        Ok::<_, std::convert::Infallible>(http::Response::new(Scripted(script)))
                    }
                }));
        let response = service.oneshot(http::Request::new(())).await.unwrap();
        let etag = response
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        let (got, error) = read_to_error_or_end(response.into_body()).await;
        assert!(got == patterned(n), "{what}: bytes differ");
        assert_eq!(error.is_some(), fails, "{what}");
        if fails || n > limit {
            assert_eq!(etag, None, "{what}");
        } else {
            assert_eq!(etag, Some(expected_etag(&patterned(n))), "{what}");
        }
    }
}

/// Chunks read before a body fails reach the client before the error, also
/// when they were gathered to be hashed together, or gathered and then held.
#[tokio::test]
async fn bytes_read_before_an_error_go_out_before_it() {
    use tower::ServiceExt;
    for chunks in [
        vec!["partial"],
        vec!["partial", " data"],
        vec!["a", "b", "c", "d"],
    ]
    .into_iter()
    .chain([vec!["x"; 20_000]])
    {
        let sent: String = chunks.concat();
        let service =
            ConditionalLayer::new().layer(tower::service_fn(move |_req: http::Request<()>| {
                let script = chunks
                    .iter()
                    .map(|chunk| Ok(Frame::data(Bytes::from(chunk.to_string()))))
                    .chain([Err(std::io::Error::other("the database went away"))])
                    .collect();
                let body = Scripted(script);
                async move { Ok::<_, std::convert::Infallible>(http::Response::new(body)) }
            }));
        let response = service.oneshot(http::Request::new(())).await.unwrap();
        assert!(!response.headers().contains_key("etag"));
        let (got, error) = read_to_error_or_end(response.into_body()).await;
        let error =
            error.unwrap_or_else(|| panic!("{} B: the body ended without its error", sent.len()));
        assert_eq!(error.to_string(), "the database went away");
        assert!(
            got == sent.as_bytes(),
            "{} B: bytes before the error differ",
            sent.len()
        );
    }
}
