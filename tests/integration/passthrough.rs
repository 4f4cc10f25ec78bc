//! What streams through untouched and unbuffered: which responses the layer
//! hashes is the crate's own rule. Other methods and statuses (a non-2xx
//! answer ignores the preconditions, RFC 9110 §13.2.1), `Cache-Control:
//! no-store` (RFC 9111 §5.2.2.5), server-sent events, gRPC, the `Bypass`
//! marker on the response or the request, and responses that carry their own
//! `ETag` (which is kept and compared, not re-hashed).
//!
//! "Unbuffered" is shown with a body the test drives through a channel: the
//! response head and the first chunk must reach the client while the handler
//! has not sent the rest yet.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::routing::{any, get};
use axum::{Extension, Router};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower_conditional::{Bypass, ConditionalLayer};

use crate::support::*;

const FIRST: &str = "first chunk|";
const SECOND: &str = "second chunk";

fn streamed(tap: &Tap, status: StatusCode, headers: &[(&str, &str)]) -> http::Response<Body> {
    let mut all = vec![("x-handler", "kept")];
    all.extend_from_slice(headers);
    response(status, &all, Body::new(tap.body()))
}

/// Marks requests that carry `x-bypass` with the `Bypass` extension, from a
/// layer outside the conditional one.
async fn mark_bypass(mut request: axum::extract::Request) -> axum::extract::Request {
    if request.headers().contains_key("x-bypass") {
        request.extensions_mut().insert(Bypass);
    }
    request
}

async fn server() -> (SocketAddr, TapRx) {
    let (tap, rx) = tap();
    let app = Router::new()
        .route(
            "/ok",
            any(|State(tap): State<Tap>| async move { streamed(&tap, StatusCode::OK, &[]) }),
        )
        .route(
            "/status/{code}",
            any(|State(tap): State<Tap>, Path(code): Path<u16>| async move {
                let status = StatusCode::from_u16(code).unwrap();
                if status == StatusCode::PARTIAL_CONTENT {
                    streamed(&tap, status, &[("content-range", "bytes 0-23/100")])
                } else {
                    streamed(&tap, status, &[])
                }
            }),
        )
        .route(
            "/header/{name}/{value}",
            get(
                |State(tap): State<Tap>, Path((name, value)): Path<(String, String)>| async move {
                    streamed(&tap, StatusCode::OK, &[(name.as_str(), value.as_str())])
                },
            ),
        )
        .route(
            "/no-store-second-line",
            get(|State(tap): State<Tap>| async move {
                streamed(
                    &tap,
                    StatusCode::OK,
                    &[
                        ("cache-control", "max-age=0"),
                        ("cache-control", "no-store"),
                    ],
                )
            }),
        )
        .route(
            "/bypass",
            get(|State(tap): State<Tap>| async move {
                (Extension(Bypass), streamed(&tap, StatusCode::OK, &[]))
            }),
        )
        .route(
            "/own-etag",
            get(|State(tap): State<Tap>| async move {
                streamed(&tap, StatusCode::OK, &[("etag", "\"v1\"")])
            }),
        )
        .route(
            "/own-weak-etag",
            get(|State(tap): State<Tap>| async move {
                streamed(&tap, StatusCode::OK, &[("etag", "W/\"v1\"")])
            }),
        )
        .with_state(tap)
        .layer(ConditionalLayer::new())
        .layer(axum::middleware::map_request(mark_bypass));
    (serve_router(app).await, rx)
}

/// Sends the request, then proves the response streams: its head and first
/// chunk arrive while the handler still holds the rest back. Returns the
/// status and headers the client saw.
async fn assert_streams(
    addr: SocketAddr,
    taps: &mut TapRx,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap) {
    let mut builder = request(method.clone(), addr, path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let client = client();
    let mut pending = Box::pin(client.request(builder.body(Full::default()).unwrap()));
    let sender = tokio::select! {
        sender = taps.next() => sender,
        result = &mut pending => panic!("{method} {path}: answered before the body started: {result:?}"),
    };
    sender.data(FIRST);
    let response = within("the head before the body ends", &mut pending)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let (parts, mut body) = response.into_parts();
    let frame = within("the first chunk before the body ends", body.frame())
        .await
        .expect("a frame")
        .expect("no error");
    assert_eq!(frame.into_data().unwrap(), FIRST, "{method} {path}");
    sender.data(SECOND);
    drop(sender);
    let rest = within("the rest of the body", body.collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(rest, SECOND, "{method} {path}: rest of the body");
    // No ETag may be added: only a handler's own tag may be there.
    let etags: Vec<_> = parts.headers.get_all("etag").iter().collect();
    if path.starts_with("/own-etag") {
        assert_eq!(
            etags,
            ["\"v1\""],
            "{method} {path}: the handler's tag, alone"
        );
    } else {
        assert!(
            etags.is_empty(),
            "{method} {path}: no ETag may be added, got {etags:?}"
        );
    }
    assert_eq!(
        parts.headers.get("x-handler").map(|v| v.as_bytes()),
        Some(&b"kept"[..]),
        "{method} {path}: handler headers kept"
    );
    (parts.status, parts.headers)
}

/// The control: an eligible response is held back until its body ends, and
/// then gets the tag of everything that was sent.
#[tokio::test]
async fn eligible_get_is_held_until_the_body_ends() {
    let (addr, mut taps) = server().await;
    let client = client();
    let request = request(Method::GET, addr, "/ok")
        .body(Full::default())
        .unwrap();
    let mut pending = Box::pin(client.request(request));
    let sender = tokio::select! {
        sender = taps.next() => sender,
        _ = &mut pending => panic!("answered before the body started"),
    };
    sender.data(FIRST);
    assert!(
        still_pending(&mut pending, Duration::from_millis(300)).await,
        "an eligible 200 must be held until it is hashed"
    );
    sender.data(SECOND);
    drop(sender);
    let response = within("the head", pending).await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body = within("the body", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, format!("{FIRST}{SECOND}"));
    assert_eq!(etag, expected_etag(format!("{FIRST}{SECOND}").as_bytes()));
}

#[tokio::test]
async fn other_methods_stream_through_without_etag() {
    let (addr, mut taps) = server().await;
    for method in [
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ] {
        let (status, _) = assert_streams(addr, &mut taps, method, "/ok", &[]).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn other_methods_ignore_conditions() {
    let (addr, mut taps) = server().await;
    // A matching If-None-Match (any current representation matches `*`) on a
    // POST is not this layer's business: no 304, no 412.
    let (status, _) = assert_streams(
        addr,
        &mut taps,
        Method::POST,
        "/ok",
        &[("if-none-match", "*")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Nor does a failing If-Match on a PUT get a 412 from this layer.
    let (status, _) = assert_streams(
        addr,
        &mut taps,
        Method::PUT,
        "/ok",
        &[("if-match", "\"nope\""), ("if-none-match", "*")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn other_statuses_stream_through_without_etag() {
    let (addr, mut taps) = server().await;
    for code in [201u16, 202, 203, 206, 301, 404, 410, 500, 503] {
        let (status, headers) = assert_streams(
            addr,
            &mut taps,
            Method::GET,
            &format!("/status/{code}"),
            &[],
        )
        .await;
        assert_eq!(status.as_u16(), code);
        if code == 206 {
            assert_eq!(headers["content-range"], "bytes 0-23/100");
        }
    }
}

#[tokio::test]
async fn other_statuses_ignore_if_none_match_star() {
    let (addr, mut taps) = server().await;
    // Nothing describes these responses: `*` must not turn them into a 304.
    for code in [206u16, 404, 500] {
        let (status, _) = assert_streams(
            addr,
            &mut taps,
            Method::GET,
            &format!("/status/{code}"),
            &[("if-none-match", "*")],
        )
        .await;
        assert_eq!(status.as_u16(), code);
    }
}

#[tokio::test]
async fn inner_304_and_204_pass_through_untouched() {
    let app = Router::new()
        .route(
            "/304",
            get(|| async {
                response(
                    StatusCode::NOT_MODIFIED,
                    &[("etag", "\"inner\""), ("cache-control", "max-age=5")],
                    Body::empty(),
                )
            }),
        )
        .route(
            "/204",
            get(|| async { response(StatusCode::NO_CONTENT, &[("x-a", "b")], Body::empty()) }),
        )
        .layer(ConditionalLayer::new());
    let addr = serve_router(app).await;
    let not_modified = http_get(addr, "/304").await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.etag(), "\"inner\"");
    assert_eq!(not_modified.header("cache-control"), "max-age=5");
    assert!(not_modified.body.is_empty());
    let no_content = http_get(addr, "/204").await;
    assert_eq!(no_content.status, StatusCode::NO_CONTENT);
    assert!(!no_content.has("etag"));
    assert_eq!(no_content.header("x-a"), "b");
}

#[tokio::test]
async fn cache_control_no_store_streams_without_etag() {
    let (addr, mut taps) = server().await;
    for path in [
        "/header/cache-control/no-store",
        "/header/cache-control/private,%20NO-STORE",
        "/header/cache-control/max-age=0,no-store,%20private",
        // After a quoted argument with an escaped quote in it.
        "/header/cache-control/private=%22a%5C%22,%20b%22,%20no-store",
        "/no-store-second-line",
    ] {
        let (status, headers) = assert_streams(addr, &mut taps, Method::GET, path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(headers.contains_key("cache-control"), "{path}");
    }
}

#[tokio::test]
async fn no_store_is_a_directive_not_a_substring() {
    // These are not the `no-store` directive: the body is hashed.
    // Nor is one inside a quoted argument, commas and escaped quotes and all.
    for value in [
        "no-storex",
        "x-no-store",
        "private=\"no-store\"",
        r#"private="x, no-store, y""#,
        r#"private="a\", no-store, b""#,
    ] {
        let app = Router::new()
            .route(
                "/",
                get(move || async move {
                    response(
                        StatusCode::OK,
                        &[("cache-control", value)],
                        Body::from("hashed body"),
                    )
                }),
            )
            .layer(ConditionalLayer::new());
        let addr = serve_router(app).await;
        let response = http_get(addr, "/").await;
        assert_eq!(response.body, "hashed body", "{value}");
        assert_eq!(
            response.etag(),
            expected_etag(b"hashed body"),
            "Cache-Control: {value} must be hashed"
        );
    }
}

#[tokio::test]
async fn event_streams_and_grpc_stream_without_etag() {
    let (addr, mut taps) = server().await;
    for path in [
        "/header/content-type/text%2Fevent-stream",
        "/header/content-type/text%2Fevent-stream;%20charset=utf-8",
        "/header/content-type/Text%2FEvent-Stream",
        "/header/content-type/application%2Fgrpc",
        "/header/content-type/application%2Fgrpc+proto",
        "/header/content-type/application%2Fgrpc-web",
    ] {
        let (status, headers) = assert_streams(addr, &mut taps, Method::GET, path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(headers.contains_key("content-type"), "{path}");
    }
}

/// Streams of messages (newline-delimited JSON, JSON text sequences, a
/// replacing multipart feed) reach the client as they come, GET and HEAD
/// alike: held back to be hashed, each message would wait for the stream's end.
#[tokio::test]
async fn message_streams_reach_the_client_as_they_come() {
    let (addr, mut taps) = server().await;
    for path in [
        "/header/content-type/application%2Fx-ndjson",
        "/header/content-type/application%2Fndjson",
        "/header/content-type/application%2Fjsonl;%20charset=utf-8",
        "/header/content-type/application%2Fx-jsonlines",
        "/header/content-type/application%2Fjson-seq",
        "/header/content-type/multipart%2Fx-mixed-replace;%20boundary=frame",
    ] {
        let (status, headers) = assert_streams(addr, &mut taps, Method::GET, path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(headers.contains_key("content-type"), "{path}");
    }
}

#[tokio::test]
async fn similar_content_types_are_hashed() {
    let (addr, mut taps) = server().await;
    // Control: a type that is neither SSE nor gRPC is held and hashed.
    let client = client();
    let request = request(
        Method::GET,
        addr,
        "/header/content-type/text%2Fevent-streamer",
    )
    .body(Full::default())
    .unwrap();
    let mut pending = Box::pin(client.request(request));
    let sender = tokio::select! {
        sender = taps.next() => sender,
        _ = &mut pending => panic!("answered before the body started"),
    };
    sender.data(FIRST);
    assert!(still_pending(&mut pending, Duration::from_millis(200)).await);
    drop(sender);
    let response = within("head", pending).await.unwrap();
    assert_eq!(response.headers()["etag"], expected_etag(FIRST.as_bytes()));
}

#[tokio::test]
async fn bypass_in_the_response_streams_without_etag() {
    let (addr, mut taps) = server().await;
    let (status, _) = assert_streams(addr, &mut taps, Method::GET, "/bypass", &[]).await;
    assert_eq!(status, StatusCode::OK);
    // Bypass means no condition is evaluated either.
    let (status, _) = assert_streams(
        addr,
        &mut taps,
        Method::GET,
        "/bypass",
        &[("if-none-match", "*")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bypass_in_the_request_streams_without_etag() {
    let (addr, mut taps) = server().await;
    let (status, _) =
        assert_streams(addr, &mut taps, Method::GET, "/ok", &[("x-bypass", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = assert_streams(
        addr,
        &mut taps,
        Method::GET,
        "/own-etag",
        &[("x-bypass", "1"), ("if-none-match", "\"v1\"")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "no condition is evaluated");
}

#[tokio::test]
async fn handler_etag_is_kept_streamed_and_not_rehashed() {
    let (addr, mut taps) = server().await;
    let mut builder = request(Method::GET, addr, "/own-etag");
    builder = builder.header("x-probe", "1");
    let client = client();
    let mut pending = Box::pin(client.request(builder.body(Full::default()).unwrap()));
    let sender = tokio::select! {
        sender = taps.next() => sender,
        _ = &mut pending => panic!("answered before the body started"),
    };
    sender.data(FIRST);
    let response = within("the head before the body ends", &mut pending)
        .await
        .unwrap();
    assert_eq!(response.headers().get_all("etag").iter().count(), 1);
    assert_eq!(response.headers()["etag"], "\"v1\"");
    drop(sender);
    let body = within("body", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, FIRST);
}

#[tokio::test]
async fn handler_etag_is_used_for_the_comparison() {
    let (addr, mut taps) = server().await;
    for (path, condition) in [
        ("/own-etag", "\"v1\""),
        ("/own-etag", "W/\"v1\""),
        ("/own-etag", "\"zzz\", \"v1\""),
        ("/own-etag", "*"),
        ("/own-weak-etag", "\"v1\""),
        ("/own-weak-etag", "W/\"v1\""),
    ] {
        // The 304 comes without any byte of the body having been sent.
        let client = client();
        let request = request(Method::GET, addr, path)
            .header("if-none-match", condition)
            .body(Full::default())
            .unwrap();
        let mut pending = Box::pin(client.request(request));
        let sender = tokio::select! {
            sender = taps.next() => sender,
            _ = &mut pending => panic!("answered before the handler ran"),
        };
        let response = within("the 304 without the body", &mut pending)
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NOT_MODIFIED,
            "{path} If-None-Match: {condition}"
        );
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.ends_with("\"v1\""), "handler's tag kept: {etag}");
        drop(sender);
    }
    // The hash of the body is not the handler's tag, so it does not match.
    let mismatch = Request::get(format!("http://{addr}/own-etag"))
        .header("if-none-match", expected_etag(FIRST.as_bytes()))
        .body(Full::<Bytes>::default())
        .unwrap();
    let client = client();
    let mut pending = Box::pin(client.request(mismatch));
    let sender = tokio::select! {
        sender = taps.next() => sender,
        _ = &mut pending => panic!("answered before the handler ran"),
    };
    sender.data(FIRST);
    drop(sender);
    let response = within("the 200", pending).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"v1\"");
}
