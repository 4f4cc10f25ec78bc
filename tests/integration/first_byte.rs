//! Time to the response head and to the first body byte over TCP, with the
//! layer and without it, for handlers that send a first chunk at once and
//! hold the rest back for [`HOLD`].
//!
//! What is asserted is behaviour, not speed: a streamed response's first
//! byte reaches the client while the handler still holds the rest (so the
//! layer does not wait on the stream), and a plain `text/plain` body is held
//! by the layer until it ends (the price of its `ETag`). Which instant the
//! handler released the rest at is recorded by the handler itself, so "before"
//! and "after" are read off one monotonic clock rather than guessed from a
//! delay. The figures are printed as a Markdown table (`--nocapture`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use http::{StatusCode, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_conditional::ConditionalLayer;

use crate::support::*;

/// How long each handler holds back the rest of its body. Long enough that
/// "before the release" cannot be confused with scheduling noise on a busy
/// machine, short enough that the whole test, rows run at once, takes
/// about this long.
const HOLD: Duration = Duration::from_millis(1500);

const FIRST: &str = "first message\n";
const REST: &str = "the rest, held back\n";

/// The bound on one read of the socket: the rest comes after [`HOLD`].
const READ_BOUND: Duration = Duration::from_secs(5);

/// When each handler released the rest of its body, by request path and
/// query.
#[derive(Clone, Default)]
struct Released(Arc<Mutex<HashMap<String, Instant>>>);

impl Released {
    /// The instant `key`'s handler released its rest, waiting (bounded) for
    /// it: after a `HEAD` the client may be done before the handler is.
    async fn at(&self, key: &str) -> Instant {
        let deadline = Instant::now() + HOLD + READ_BOUND;
        loop {
            if let Some(at) = self.0.lock().unwrap().get(key) {
                return *at;
            }
            assert!(Instant::now() < deadline, "{key}: never released");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The header fields of each kind of response.
fn fields(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "sse" => &[("content-type", "text/event-stream")],
        "x-ndjson" => &[("content-type", "application/x-ndjson")],
        "ndjson" => &[("content-type", "application/ndjson")],
        "jsonl" => &[("content-type", "application/jsonl")],
        "x-jsonlines" => &[("content-type", "application/x-jsonlines")],
        "json-seq" => &[("content-type", "application/json-seq")],
        "mixed-replace" => &[("content-type", "multipart/x-mixed-replace; boundary=frame")],
        // A gRPC content type over HTTP/1.1: what the layer looks at is the
        // field, not the protocol.
        "grpc" => &[("content-type", "application/grpc")],
        "no-store" => &[
            ("content-type", "text/plain"),
            ("cache-control", "no-store"),
        ],
        "plain" => &[("content-type", "text/plain")],
        _ => &[],
    }
}

/// Sends [`FIRST`] at once, and [`REST`] after [`HOLD`], from a task of its
/// own so that the response leaves the handler straight away.
async fn held(
    State(released): State<Released>,
    Path(kind): Path<String>,
    uri: Uri,
) -> http::Response<Body> {
    let key = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), ToString::to_string);
    let (sender, body) = ChannelBody::new();
    sender.data(FIRST);
    tokio::spawn(async move {
        tokio::time::sleep(HOLD).await;
        // Noted before the send: a byte the client got before this instant
        // was sent while the rest was still held.
        released.0.lock().unwrap().insert(key, Instant::now());
        sender.data(REST);
    });
    response(StatusCode::OK, fields(&kind), Body::new(body))
}

async fn server(layered: bool) -> (SocketAddr, Released) {
    let released = Released::default();
    let router = Router::new()
        .route("/held/{kind}", get(held))
        .with_state(released.clone());
    let router = if layered {
        router.layer(ConditionalLayer::new())
    } else {
        router
    };
    (serve_router(router).await, released)
}

/// One response as timed from the moment its request was written.
struct Timed {
    head: Duration,
    /// `None` when no body byte came (a `HEAD`).
    first_byte: Option<Duration>,
    first_byte_at: Option<Instant>,
    head_at: Instant,
    response: RawResponse,
}

/// Whether `bytes`, a response head and what followed it, hold at least one
/// byte of body data (past the chunk-size line when it is chunked).
fn has_body_byte(bytes: &[u8], head_request: bool) -> bool {
    let Some((_, fields, head_len)) = parse_head(bytes) else {
        return false;
    };
    if head_request {
        return false;
    }
    let rest = &bytes[head_len..];
    let chunked = fields
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.eq_ignore_ascii_case(b"chunked"));
    if !chunked {
        return !rest.is_empty();
    }
    let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    let size = std::str::from_utf8(&rest[..line_end])
        .ok()
        .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok());
    matches!(size, Some(size) if size > 0) && rest.len() > line_end + 2
}

/// Sends `method path` on a new connection (`Connection: close`) and reads
/// the response to its end, noting when its head and first body byte came.
async fn timed(addr: SocketAddr, method: &str, path: &str) -> Timed {
    let head_request = method == "HEAD";
    let mut stream = within("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    let request = raw_request(method, path, &[("Connection", b"close")]);
    let start = Instant::now();
    within("write", stream.write_all(&request))
        .await
        .expect("write request");
    let mut bytes = Vec::new();
    let mut head_at = None;
    let mut first_byte_at = None;
    loop {
        let n = tokio::time::timeout(READ_BOUND, stream.read_buf(&mut bytes))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no bytes for {READ_BOUND:?}"))
            .expect("read");
        let now = Instant::now();
        if head_at.is_none() && parse_head(&bytes).is_some() {
            head_at = Some(now);
        }
        if first_byte_at.is_none() && has_body_byte(&bytes, head_request) {
            first_byte_at = Some(now);
        }
        if n == 0 {
            break;
        }
    }
    let head_at = head_at.unwrap_or_else(|| panic!("{method} {path}: no response head"));
    Timed {
        head: head_at - start,
        first_byte: first_byte_at.map(|at| at - start),
        first_byte_at,
        head_at,
        response: parse_response(&bytes, head_request),
    }
}

struct Row {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    /// Whether the layer must let the first byte through before the rest.
    streams: bool,
}

const ROWS: &[Row] = &[
    Row {
        name: "SSE `text/event-stream`",
        method: "GET",
        path: "/held/sse",
        streams: true,
    },
    Row {
        name: "NDJSON `application/x-ndjson`",
        method: "GET",
        path: "/held/x-ndjson",
        streams: true,
    },
    Row {
        name: "NDJSON `application/ndjson`",
        method: "GET",
        path: "/held/ndjson",
        streams: true,
    },
    Row {
        name: "JSON Lines `application/jsonl`",
        method: "GET",
        path: "/held/jsonl",
        streams: true,
    },
    Row {
        name: "JSON Lines `application/x-jsonlines`",
        method: "GET",
        path: "/held/x-jsonlines",
        streams: true,
    },
    Row {
        name: "JSON text sequences `application/json-seq`",
        method: "GET",
        path: "/held/json-seq",
        streams: true,
    },
    Row {
        name: "`multipart/x-mixed-replace`",
        method: "GET",
        path: "/held/mixed-replace",
        streams: true,
    },
    Row {
        name: "gRPC content type `application/grpc`",
        method: "GET",
        path: "/held/grpc",
        streams: true,
    },
    Row {
        name: "`text/plain`, `Cache-Control: no-store`",
        method: "GET",
        path: "/held/no-store",
        streams: true,
    },
    Row {
        name: "HEAD to `application/x-ndjson` (head only)",
        method: "HEAD",
        path: "/held/x-ndjson?as=head",
        streams: true,
    },
    Row {
        name: "plain `text/plain` (held by design)",
        method: "GET",
        path: "/held/plain",
        streams: false,
    },
];

fn ms(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "—".to_owned(),
        |d| format!("{:.1}", d.as_secs_f64() * 1000.0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_byte_of_streams_is_not_held_and_of_plain_bodies_is() {
    let (layered, layered_released) = server(true).await;
    let (bare, bare_released) = server(false).await;
    // Every row, with and without the layer, at once: the test takes about
    // one hold, not twenty-two.
    let mut runs = Vec::new();
    for row in ROWS {
        for addr in [layered, bare] {
            runs.push(tokio::spawn(timed(addr, row.method, row.path)));
        }
    }
    let mut results = Vec::new();
    for run in runs {
        results.push(run.await.expect("a measurement panicked"));
    }
    let mut results = results.into_iter();

    println!("\nTime to first byte over TCP, the rest held back {HOLD:?} by the handler:\n");
    println!("| response | with layer: head ms | with layer: first byte ms | without: head ms | without: first byte ms |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let mut checks = Vec::new();
    for row in ROWS {
        let with = results.next().unwrap();
        let without = results.next().unwrap();
        println!(
            "| {} | {} | {} | {} | {} |",
            row.name,
            ms(Some(with.head)),
            ms(with.first_byte),
            ms(Some(without.head)),
            ms(without.first_byte),
        );
        checks.push((row, with, without));
    }
    println!();

    let key = |row: &Row| row.path.to_owned();
    for (row, with, without) in checks {
        let name = row.name;
        let with_released = layered_released.at(&key(row)).await;
        let without_released = bare_released.at(&key(row)).await;
        for timed in [&with, &without] {
            assert_eq!(timed.response.status, 200, "{name}");
            let expected = if row.method == "HEAD" {
                String::new()
            } else {
                format!("{FIRST}{REST}")
            };
            assert_eq!(timed.response.body, expected.as_bytes(), "{name}");
        }
        // Without the layer nothing is held: the measurement itself works.
        assert_first_before_release(name, &without, without_released);
        if row.streams {
            assert_first_before_release(name, &with, with_released);
            assert!(
                !with.response.has("etag"),
                "{name}: a streamed response got an ETag"
            );
        } else {
            let first = with.first_byte_at.expect("a body byte");
            assert!(
                with.head_at >= with_released && first >= with_released,
                "{name}: the layer let the response out before the body ended \
                 (head {:?}, first byte {:?}, released after {HOLD:?})",
                with.head,
                with.first_byte,
            );
            assert_eq!(
                with.response.get_str("etag"),
                Some(expected_etag(format!("{FIRST}{REST}").as_bytes()).as_str()),
                "{name}"
            );
        }
    }
}

/// The response (its head, and its first body byte when it has a body)
/// reached the client while its handler still held the rest, and well within
/// the hold: the margin of half a hold absorbs a noisy machine.
fn assert_first_before_release(name: &str, timed: &Timed, released: Instant) {
    let (at, after) = match (timed.first_byte_at, timed.first_byte) {
        (Some(at), Some(after)) => (at, after),
        _ => (timed.head_at, timed.head),
    };
    assert!(
        at < released && after < HOLD / 2,
        "{name}: the first byte came after {after:?}, not while the rest was held ({HOLD:?})"
    );
}
