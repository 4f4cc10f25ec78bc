//! A small site behind `ConditionalLayer` that shows revalidation at work.
//!
//! ```text
//! cargo run -p example-demo            # listens on 127.0.0.1:3000
//! ADDR=127.0.0.1:8080 cargo run -p example-demo
//! RUST_LOG=tower_conditional=debug cargo run -p example-demo   # the layer's own events too
//! ```
//!
//! The terminal prints one line per request: method, path, status, ETag,
//! what the layer did, the bytes sent and the bytes a `304` saved. The page
//! at http://127.0.0.1:3000/ shows the same live, per route, over
//! server-sent events, with buttons that make a `304` and a `412` happen.
//!
//! ```text
//! curl -i http://127.0.0.1:3000/data.json                       # 200 with an ETag
//! curl -i -H 'If-None-Match: "<that etag>"' http://127.0.0.1:3000/data.json   # 304, no body
//! curl -i -X PUT -H 'If-Match: "v0"' -d 5 http://127.0.0.1:3000/counter      # 412: stale tag
//! curl -i --range 0-99 http://127.0.0.1:3000/export.csv         # 206, the first 100 bytes
//! ```

mod live;

use std::convert::Infallible;
use std::future::ready;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MATCH, LAST_MODIFIED};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Router};
use futures_util::stream::{self, Stream, StreamExt};
use tower_conditional::{ConditionalLayer, EntityTag, LookupRequest, ResourceState};
use tracing_subscriber::EnvFilter;

use crate::live::Live;

/// Revalidate every time: the browser keeps its copy but asks first, and the
/// answer is a 304 while nothing changed.
const REVALIDATE: &str = "no-cache";

/// What `/data.json` and `/feed.json` serve. It claims nothing about the
/// server: the headers and the live table say what happened to it.
const DATA_JSON: &str =
    r#"{"items":[{"id":1,"name":"apples","stock":12},{"id":2,"name":"pears","stock":7}]}"#;

/// The date `/report` names as its `Last-Modified`: 2026-01-01T00:00:00Z.
const REPORT_PUBLISHED: u64 = 1_767_225_600;

/// Every route, with the line the page says about it. The page's table is
/// made from this list, so it cannot name a route the router lacks.
const ROUTES: &[(&str, &str)] = &[
    (
        "/",
        "this page; Cache-Control: no-cache, so a reload revalidates it (304)",
    ),
    (
        "/app.css",
        "the stylesheet; no-cache: revalidated on every use, 304 while unchanged",
    ),
    (
        "/data.json",
        "the JSON this page shows; no-cache, ETag hashed from the body",
    ),
    (
        "/feed.json",
        "the same JSON for shared caches: public, max-age=1, then revalidated",
    ),
    ("/report", "LAST_MODIFIED"),
    (
        "/export.csv",
        "a ~300 KB CSV made row by row; the layer tags it and answers Range (206)",
    ),
    (
        "/private.json",
        "Cache-Control: no-store: the layer adds no ETag and never answers 304",
    ),
    (
        "/events",
        "server-sent events (the clock below): passed through untouched, never tagged",
    ),
    (
        "/counter",
        "a counter: GET it, PUT a new value with If-Match; a stale tag gets 412",
    ),
];

/// The page's own live feed, not counted in the table it feeds.
const LIVE_FEED: &str = "/live";

fn report_published() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(REPORT_PUBLISHED)
}

fn stylesheet_text() -> &'static str {
    include_str!("app.css")
}

/// The page, made once: the route table from [`ROUTES`], with every text
/// HTML-escaped.
fn page() -> String {
    let mut rows = String::new();
    for (path, line) in ROUTES {
        let line = if *line == "LAST_MODIFIED" {
            format!(
                "the handler sets Last-Modified: {} (and max-age=60); If-Modified-Since revalidates it",
                httpdate::fmt_http_date(report_published())
            )
        } else {
            (*line).to_owned()
        };
        let link = if *path == "/counter" || *path == "/events" {
            // Followed, they would show raw JSON or a never-ending stream;
            // the page shows them in place.
            format!(
                "<a href=\"#{0}\">{0}</a>",
                html(path.trim_start_matches('/'))
            )
        } else {
            format!("<a href=\"{0}\">{0}</a>", html(path))
        };
        rows.push_str(&format!(
            "<tr data-route=\"{}\"><td>{link}</td><td class=\"what\">{}</td>\
             <td data-k=\"ok\">0</td><td data-k=\"not_modified\">0</td>\
             <td data-k=\"failed\">0</td><td data-k=\"other\">0</td>\
             <td data-k=\"sent\">0</td><td data-k=\"saved\">0</td></tr>\n",
            html(path),
            html(&line)
        ));
    }
    include_str!("page.html").replace("<!--ROUTES-->", &rows)
}

fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn index(State(app): State<AppState>) -> impl IntoResponse {
    ([(CACHE_CONTROL, REVALIDATE)], Html(app.page.clone()))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, REVALIDATE),
        ],
        stylesheet_text(),
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
    (
        [
            (CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (CACHE_CONTROL, "max-age=60".to_owned()),
            (LAST_MODIFIED, httpdate::fmt_http_date(report_published())),
        ],
        "Annual report: revalidate me with If-Modified-Since.\n",
    )
}

/// Changes on every request and must not be kept: the layer leaves it alone.
async fn private() -> impl IntoResponse {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "no-store"),
        ],
        format!("{{\"server_time_ms\":{now}}}"),
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

/// The counter behind `/counter`: its value and the version its tag names.
struct Counter {
    version: u64,
    value: i64,
}

impl Default for Counter {
    /// Version 1, so that `"v0"` is stale from the start.
    fn default() -> Self {
        Counter {
            version: 1,
            value: 0,
        }
    }
}

impl Counter {
    fn tag(&self) -> EntityTag {
        EntityTag::strong(&format!("v{}", self.version)).expect("v and digits make a valid tag")
    }

    fn response(&self, status: StatusCode) -> Response {
        let body = format!("{{\"value\":{},\"version\":{}}}", self.value, self.version);
        (
            status,
            [
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (CACHE_CONTROL, HeaderValue::from_static(REVALIDATE)),
                (ETAG, self.tag().to_header_value()),
            ],
            body,
        )
            .into_response()
    }
}

#[derive(Clone)]
struct AppState {
    page: Bytes,
    counter: Arc<Mutex<Counter>>,
}

async fn read_counter(State(app): State<AppState>) -> Response {
    app.counter.lock().unwrap().response(StatusCode::OK)
}

/// A write guarded by `If-Match`. The layer's lookup already refused a stale
/// tag before this ran; the check here is the one that counts, made under
/// the same lock as the write, because another writer may have got in
/// between the lookup and this handler.
async fn write_counter(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(value) = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
    else {
        return (StatusCode::BAD_REQUEST, "the body must be an integer\n").into_response();
    };
    let mut counter = app.counter.lock().unwrap();
    let Some(if_match) = headers.get(IF_MATCH) else {
        // Without a tag, a write could undo one this client never saw.
        return counter.response(StatusCode::PRECONDITION_REQUIRED);
    };
    let current = counter.tag();
    let matches = if_match.to_str().is_ok_and(|list| {
        list.split(',').map(str::trim).any(|item| {
            item == "*"
                || HeaderValue::from_str(item)
                    .ok()
                    .and_then(|value| EntityTag::from_header_value(&value).ok())
                    .is_some_and(|tag| tag.strong_eq(&current))
        })
    });
    if !matches {
        return counter.response(StatusCode::PRECONDITION_FAILED);
    }
    counter.value = value;
    counter.version += 1;
    counter.response(StatusCode::OK)
}

fn app() -> Router {
    let state = AppState {
        page: Bytes::from(page()),
        counter: Arc::default(),
    };
    let live = Arc::new(Live::new(
        ROUTES.iter().map(|(path, _)| *path).collect(),
        LIVE_FEED,
    ));
    let counter = state.counter.clone();
    // The counter's tag is known without running the handler, so a stale
    // write is refused (412) before it runs. GETs are hashed as usual.
    let lookup = move |request: LookupRequest| {
        let answer = if request.uri.path() == "/counter" {
            ResourceState::from(counter.lock().unwrap().tag())
        } else {
            ResourceState::Unknown
        };
        ready(answer)
    };
    Router::new()
        .route("/", get(index))
        .route("/app.css", get(stylesheet))
        .route("/data.json", get(data))
        .route("/feed.json", get(feed))
        .route("/report", get(report))
        .route("/export.csv", get(export))
        .route("/private.json", get(private))
        .route("/events", get(events))
        .route("/counter", get(read_counter).put(write_counter))
        .with_state(state)
        .route(LIVE_FEED, get(live::feed).with_state(live.clone()))
        .layer(
            ConditionalLayer::new()
                .record_outcomes(true)
                .lookup_validators(lookup)
                .for_methods([Method::PUT]),
        )
        .layer(middleware::from_fn_with_state(live, live::observe))
}

#[tokio::main]
async fn main() {
    // Off for the layer by default, so the terminal shows one line per
    // request; RUST_LOG=tower_conditional=debug adds the layer's own event.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,tower_conditional=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

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
    // The first line, which the tests read to find the port.
    println!("listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app()).await.unwrap();
}
