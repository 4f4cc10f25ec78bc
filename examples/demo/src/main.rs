//! A small site behind `ConditionalLayer`.
//!
//! ```text
//! cargo run -p example-demo            # listens on 127.0.0.1:3000
//! ADDR=127.0.0.1:8080 cargo run -p example-demo
//! ```
//!
//! Then watch revalidation at work:
//!
//! ```text
//! curl -i http://127.0.0.1:3000/data.json                       # 200 with an ETag
//! curl -i -H 'If-None-Match: "<that etag>"' http://127.0.0.1:3000/data.json   # 304, no body
//! ```
//!
//! Open http://127.0.0.1:3000/ in a browser and reload: the stylesheet and the
//! JSON are revalidated and answered `304 Not Modified`.
//!
//! A generated export can be fetched in ranges, and resumed:
//!
//! ```text
//! curl -i --range 0-99 http://127.0.0.1:3000/export.csv     # 206, the first 100 bytes
//! curl -C - -o export.csv http://127.0.0.1:3000/export.csv  # resumes a partial download
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LAST_MODIFIED};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use tower_conditional::ConditionalLayer;

/// Revalidate every time: the browser keeps its copy but asks first, and the
/// answer is a 304 while nothing changed.
const REVALIDATE: &str = "no-cache";

async fn index() -> impl IntoResponse {
    (
        [(CACHE_CONTROL, REVALIDATE)],
        Html(
            r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>tower-conditional demo</title>
  <link rel="stylesheet" href="/app.css">
</head>
<body>
  <h1>tower-conditional</h1>
  <p>Reload this page: <code>/app.css</code> and <code>/data.json</code> come back as <code>304 Not Modified</code>.</p>
  <pre id="data">loading…</pre>
  <p>Server clock (server-sent events, never buffered): <span id="clock">…</span></p>
  <script>
    fetch("/data.json").then(r => r.json()).then(d => {
      document.getElementById("data").textContent = JSON.stringify(d, null, 2);
    });
    new EventSource("/events").onmessage = e => {
      document.getElementById("clock").textContent = e.data;
    };
  </script>
</body>
</html>
"#,
        ),
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, REVALIDATE),
        ],
        "body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }\n\
         pre { background: #f4f4f4; padding: 1rem; }\n",
    )
}

async fn data() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, REVALIDATE),
        ],
        DATA_JSON,
    )
}

const DATA_JSON: &str =
    r#"{"name":"tower-conditional","validators":["ETag","Last-Modified"],"status":304}"#;

/// The same data for shared caches: fresh for one second, then revalidated.
/// A caching proxy in front of several replicas revalidates it with the
/// `ETag` one replica issued at whichever replica it reaches next.
async fn feed() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "public, max-age=1"),
        ],
        DATA_JSON,
    )
}

/// The handler knows when its content last changed and says so; clients can
/// revalidate with `If-Modified-Since` as well as with the computed `ETag`.
async fn report() -> impl IntoResponse {
    let published = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01
    (
        [
            (CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (CACHE_CONTROL, "max-age=60".to_owned()),
            (LAST_MODIFIED, httpdate::fmt_http_date(published)),
        ],
        "Annual report: revalidate me with If-Modified-Since.\n",
    )
}

/// A generated export (about 300 KB), produced row by row as a stream. The
/// layer holds it whole to tag it, so it also answers `Range` requests from
/// it: an interrupted download resumes with `curl -C -`.
async fn export() -> impl IntoResponse {
    let header = stream::once(async { Ok::<_, Infallible>("id,customer,amount\n".to_owned()) });
    let rows = stream::iter((1..=10_000u32).map(|id| {
        let cents = id.wrapping_mul(2_654_435_761) % 100_000;
        Ok(format!(
            "{id},customer-{:05},{}.{:02}\n",
            id * 7 % 99_991,
            cents / 100,
            cents % 100
        ))
    }));
    (
        [(CONTENT_TYPE, "text/csv; charset=utf-8")],
        Body::from_stream(header.chain(rows)),
    )
}

/// Server-sent events stream through the layer as they are produced.
async fn events() -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ticks = stream::unfold(0u64, |tick| async move {
        if tick > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let now = httpdate::fmt_http_date(SystemTime::now());
        Some((Ok(Event::default().data(now)), tick + 1))
    });
    Sse::new(ticks).keep_alive(KeepAlive::default())
}

fn app() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.css", get(stylesheet))
        .route("/data.json", get(data))
        .route("/feed.json", get(feed))
        .route("/report", get(report))
        .route("/export.csv", get(export))
        .route("/events", get(events))
        .layer(ConditionalLayer::new())
}

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()
        .expect("ADDR must be an address like 127.0.0.1:3000");
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            if error.kind() == std::io::ErrorKind::AddrInUse {
                eprintln!("{addr} is in use; set ADDR=127.0.0.1:8080 to use another address");
            } else {
                eprintln!("cannot listen on {addr}: {error}; set ADDR to use another address");
            }
            std::process::exit(1);
        }
    };
    println!("listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app()).await.unwrap();
}
