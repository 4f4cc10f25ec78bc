//! The server that `perf/scripts/load.sh`, `pinned_ab.sh` and `callgrind_e2e.sh` put
//! under load.
//!
//! ```text
//! LAYER=on  ADDR=127.0.0.1:3001 cargo run --release -p tower-conditional-perf --bin load_target
//! LAYER=off ADDR=127.0.0.1:3002 cargo run --release -p tower-conditional-perf --bin load_target
//! ```
//!
//! Routes:
//!
//! - `/json/1k`, `/json/1m`: a JSON document of exactly 1 KiB and 1 MiB,
//!   built once at start-up and served from memory. With `LAYER=on` (the
//!   default) these routes are behind `ConditionalLayer::new()` (default
//!   settings: strong blake3 ETags, 4 MiB limit), with `LAYER=off` not, and
//!   with `LAYER=no-memo` behind the layer with its memo of recent bodies off;
//!   with `LAYER=hand-rolled` behind the least middleware an axum user could
//!   write for the job instead (`axum::middleware::from_fn`: read the body,
//!   hash it, tag it), to tell the layer's cost from any middleware's; with
//!   `LAYER=identity` behind a layer that does nothing, what any layer added
//!   with `Router::layer` costs.
//! - `/fresh/1k`: the 1 KiB document with a request counter written into
//!   its first record, so every response has other bytes, as from a
//!   handler that renders per request (the layer's memo of recent bodies
//!   never has them: every body is hashed). Behind the layer like `/json/*`.
//! - `/manual/1k`, `/manual/1m`: the same documents with a hand-written
//!   conditional GET, never behind the layer: the handler hashes the body with
//!   SHA-256 on every request, as a handler that does not store a version
//!   would, sets `ETag` and answers a matching `If-None-Match` with a `304`.
//! - `/in-handler/json/1k`, `/in-handler/fresh/1k`: the 1 KiB documents of
//!   `/json/1k` and `/fresh/1k`, tagged in the handler with blake3 (hex of
//!   128 bits) and nothing else, never behind the layer: the least work that
//!   tags each response with a content hash, for `perf/scripts/pinned_ab.sh` to
//!   set the layer against.
//! - `/looked-up/1k`: the 1 KiB document behind a layer of its own, whatever
//!   `LAYER` says, whose lookup knows the document's tag (computed at
//!   start-up): a request that revalidates gets its `304` before the handler
//!   runs, as with a version kept in a database or a cache.
//! - `/cached/1k`, `/changing`, `/missing`: for the correctness checks of
//!   `load.sh` (PARTS=peers), the same in every peer server
//!   (`perf/peers/`), behind the layer like `/json/*`: the 1 KiB document
//!   with `Cache-Control: max-age=60` (which a 304 must repeat), a counter
//!   (other bytes on every request: an old tag must not get a 304) and a 404
//!   (`If-None-Match: *` must not turn it into a 304).
//! - `/stream/8m`, `/stream/1g`: 8 MiB and 1 GiB generated as a stream of
//!   64 KiB chunks, each freshly allocated (as a generator or a proxy would),
//!   with no announced length. Behind the layer like `/json/*`; the layer
//!   holds at most its limit per response before it gives up and streams.
//! - `/paced/8m`: the same 8 MiB, but the stream yields to the runtime before
//!   each chunk, as one fed by I/O would: concurrent responses are then read
//!   (and held by the layer) at the same time, its worst case for memory.
//!
//! The JSON documents are the same bytes for every process, so other servers
//! (`perf/express/server.js`) can be given exactly what this one serves.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tower_conditional::{ConditionalLayer, EntityTag};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// A JSON document of exactly `len` bytes: an array of small records, padded
/// with a string field to the exact length.
fn json_document(len: usize) -> Bytes {
    let mut out = String::with_capacity(len);
    out.push_str("{\"items\":[");
    let tail = "],\"pad\":\"\"}";
    let mut id = 0u64;
    loop {
        let record = format!(
            "{}{{\"id\":{id},\"name\":\"item-{id:06}\",\"price\":{}.{:02},\"tags\":[\"a\",\"b\"]}}",
            if id == 0 { "" } else { "," },
            (id * 37) % 1000,
            id % 100
        );
        if out.len() + record.len() + tail.len() > len {
            break;
        }
        out.push_str(&record);
        id += 1;
    }
    out.push_str("],\"pad\":\"");
    while out.len() + 2 < len {
        out.push('x');
    }
    out.push_str("\"}");
    assert_eq!(out.len(), len, "document of {len} bytes");
    Bytes::from(out)
}

#[derive(Clone)]
struct Documents {
    one_k: Bytes,
    one_m: Bytes,
}

fn json(body: Bytes) -> Response {
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

/// Requests answered by `/fresh/1k`, written into each of its bodies.
static RENDERED: AtomicU64 = AtomicU64::new(0);

/// A copy of `document` whose first record is named after a counter (the
/// six digits of `"item-000000"`: a million different bodies, against the 32
/// the memo keeps).
fn rendered(document: &Bytes) -> Bytes {
    const NAME: &[u8] = b"\"item-000000\"";
    let count = RENDERED.fetch_add(1, Ordering::Relaxed);
    let mut body = document.to_vec();
    let start = body
        .windows(NAME.len())
        .position(|window| window == NAME)
        .expect("the document names its first record item-000000")
        + "\"item-".len();
    let mut rest = count;
    for digit in body[start..start + 6].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    Bytes::from(body)
}

/// Requests answered by `/changing`.
static CHANGED: AtomicU64 = AtomicU64::new(0);

/// The hand-written conditional GET: hash, compare, answer.
fn manual(body: Bytes, request: &HeaderMap) -> Response {
    let digest = Sha256::digest(&body);
    let mut etag = String::with_capacity(2 + 2 * digest.len());
    etag.push('"');
    for byte in digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        etag.push(HEX[usize::from(byte >> 4)] as char);
        etag.push(HEX[usize::from(byte & 0xf)] as char);
    }
    etag.push('"');
    let matches = request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag);
    let etag = HeaderValue::from_str(&etag).expect("hex is a valid header value");
    if matches {
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response();
    }
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// The least an application can do to tag a response with a content hash:
/// blake3 in the handler, 128 bits of it in hex as the `ETag`, nothing else
/// (no comparison, no 304). What that costs a request is the floor under
/// any middleware that does the same job.
fn tagged_in_handler(body: Bytes) -> Response {
    let etag = hex_tag(&body);
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// The middleware an axum user could write instead of the layer, with
/// nothing but the job in it: read the whole body, hash it with blake3, tag
/// it. No limit, no streaming, no preconditions (`LAYER=hand-rolled`).
async fn hash_then_tag(request: axum::extract::Request, next: Next) -> Response {
    let (mut parts, body) = next.run(request).await.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    parts.headers.insert(ETAG, hex_tag(&body));
    Response::from_parts(parts, Body::from(body))
}

/// An `ETag` of the hex of 128 bits of blake3.
fn hex_tag(body: &[u8]) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = blake3::hash(body);
    let mut tag = [b'"'; 34];
    for (i, byte) in hash.as_bytes()[..16].iter().enumerate() {
        tag[1 + 2 * i] = HEX[usize::from(byte >> 4)];
        tag[2 + 2 * i] = HEX[usize::from(byte & 0xf)];
    }
    HeaderValue::from_bytes(&tag).expect("hex is a valid header value")
}

/// `total` bytes as a stream of freshly allocated 64 KiB chunks, no length.
/// A `paced` stream lets other tasks run before each chunk, as a stream fed
/// by I/O would, so that many responses are read at the same time.
fn generated(total: usize, paced: bool) -> Response {
    const CHUNK: usize = 64 * KIB;
    let chunks = futures_util::stream::unfold(0usize, move |sent| async move {
        if sent >= total {
            return None;
        }
        if paced {
            tokio::task::yield_now().await;
        }
        let len = CHUNK.min(total - sent);
        let chunk = Bytes::from(vec![b'.'; len]);
        Some((Ok::<_, Infallible>(chunk), sent + len))
    });
    (
        [(CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// Which layer the covered routes get.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Off,
    On,
    /// `ConditionalLayer::new().remember_recent_bodies(false)`.
    NoMemo,
    /// [`hash_then_tag`] in place of the layer.
    HandRolled,
    /// A layer that does nothing (`MapResponseLayer` of the identity): what
    /// any layer added with `Router::layer` costs, axum's wrapping included.
    Identity,
}

fn app(mode: Mode) -> Router {
    let documents = Documents {
        one_k: json_document(KIB),
        one_m: json_document(MIB),
    };
    let covered = Router::new()
        .route(
            "/json/1k",
            get(|State(d): State<Documents>| async move { json(d.one_k) }),
        )
        .route(
            // The fields of `/json/1k` (but `Content-Length`) with nothing to
            // send: about what a 304 made after the handler could save at best.
            "/json/0",
            get(|| async { json(Bytes::new()) }),
        )
        .route(
            "/json/1m",
            get(|State(d): State<Documents>| async move { json(d.one_m) }),
        )
        .route(
            "/fresh/1k",
            get(|State(d): State<Documents>| async move { json(rendered(&d.one_k)) }),
        )
        .route(
            "/cached/1k",
            get(|State(d): State<Documents>| async move {
                (
                    [
                        (CONTENT_TYPE, "application/json"),
                        (CACHE_CONTROL, "max-age=60"),
                    ],
                    d.one_k,
                )
            }),
        )
        .route(
            "/changing",
            get(|| async {
                let count = CHANGED.fetch_add(1, Ordering::Relaxed);
                ([(CONTENT_TYPE, "text/plain")], format!("{count}\n"))
            }),
        )
        .route(
            "/missing",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    [(CONTENT_TYPE, "text/plain")],
                    "not found\n",
                )
            }),
        )
        .route("/stream/8m", get(|| async { generated(8 * MIB, false) }))
        .route("/stream/1g", get(|| async { generated(1024 * MIB, false) }))
        .route("/paced/8m", get(|| async { generated(8 * MIB, true) }));
    let covered = match mode {
        Mode::Off => covered,
        Mode::On => covered.layer(ConditionalLayer::new()),
        Mode::NoMemo => covered.layer(ConditionalLayer::new().remember_recent_bodies(false)),
        Mode::HandRolled => covered.layer(axum::middleware::from_fn(hash_then_tag)),
        Mode::Identity => {
            covered.layer(tower::util::MapResponseLayer::new(|response: Response| {
                response
            }))
        }
    };
    let by_hand = Router::new()
        .route(
            "/manual/1k",
            get(
                |State(d): State<Documents>, headers: HeaderMap| async move {
                    manual(d.one_k, &headers)
                },
            ),
        )
        .route(
            "/manual/1m",
            get(
                |State(d): State<Documents>, headers: HeaderMap| async move {
                    manual(d.one_m, &headers)
                },
            ),
        )
        .route(
            "/in-handler/json/1k",
            get(|State(d): State<Documents>| async move { tagged_in_handler(d.one_k) }),
        )
        .route(
            "/in-handler/fresh/1k",
            get(|State(d): State<Documents>| async move { tagged_in_handler(rendered(&d.one_k)) }),
        );
    let tag = EntityTag::from_content(&documents.one_k);
    let looked_up = Router::new()
        .route(
            "/looked-up/1k",
            get(|State(d): State<Documents>| async move { json(d.one_k) }),
        )
        .layer(
            ConditionalLayer::new()
                .lookup_validators(move |_request| std::future::ready(tag.clone())),
        );
    covered
        .merge(by_hand)
        .merge(looked_up)
        .with_state(documents)
}

#[tokio::main]
async fn main() {
    let mode = match std::env::var("LAYER").as_deref() {
        Ok("on") | Err(_) => Mode::On,
        Ok("off") => Mode::Off,
        Ok("no-memo") => Mode::NoMemo,
        Ok("hand-rolled") => Mode::HandRolled,
        Ok("identity") => Mode::Identity,
        Ok(other) => {
            panic!("LAYER must be on, off, no-memo, hand-rolled or identity, not {other:?}")
        }
    };
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()
        .expect("ADDR must be an address like 127.0.0.1:3000");
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|error| panic!("cannot listen on {addr}: {error}"));
    println!(
        "listening on http://{} (layer {})",
        listener.local_addr().unwrap(),
        match mode {
            Mode::On => "on",
            Mode::Off => "off",
            Mode::NoMemo => "on, memo off",
            Mode::HandRolled => "off, a hand-rolled hashing middleware instead",
            Mode::Identity => "off, a layer that does nothing instead",
        }
    );
    axum::serve(listener, app(mode)).await.unwrap();
}
