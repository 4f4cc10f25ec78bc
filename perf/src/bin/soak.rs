//! Sustained load through `ConditionalLayer` on loopback, with every answer
//! checked: 200s against their `ETag`, 304s for empty bodies, oversize and
//! streamed bodies byte for byte. Prints the server's RSS once a second and
//! exits non-zero on any error or on memory growth.
//!
//! ```text
//! cargo run --release -p tower-conditional-perf --bin soak   # 60 s, 64 connections
//! SOAK_SECONDS=10 SOAK_CONCURRENCY=32 cargo run -p tower-conditional-perf --bin soak
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tower_conditional::{ConditionalLayer, EntityTag};

/// Bodies over this are streamed without an ETag.
const CAP: usize = 256 * 1024;
const OVERSIZE: usize = 3 * CAP + 17;
const EVENTS: usize = 20;

/// The deterministic content of resource `id`, `len` bytes long.
fn content(id: u64, len: usize) -> Vec<u8> {
    let mut state = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'a' + (state % 26) as u8
        })
        .collect()
}

/// A body sent in `parts` chunks, with a yield between chunks.
fn chunked(bytes: Vec<u8>, parts: usize) -> Body {
    let bytes = Bytes::from(bytes);
    let step = bytes.len().div_ceil(parts.max(1)).max(1);
    let chunks: Vec<Bytes> = (0..bytes.len())
        .step_by(step)
        .map(|start| bytes.slice(start..(start + step).min(bytes.len())))
        .collect();
    let stream = futures_util::stream::iter(chunks).then(|chunk| async move {
        tokio::task::yield_now().await;
        Ok::<_, std::convert::Infallible>(chunk)
    });
    Body::from_stream(stream)
}

async fn small(Path(id): Path<u64>) -> Response {
    let len = (id % 64) as usize * 97 + 1;
    let parts = (id % 7) as usize + 1;
    (
        [(CACHE_CONTROL, "no-cache")],
        chunked(content(id, len), parts),
    )
        .into_response()
}

async fn oversize() -> Response {
    chunked(content(7, OVERSIZE), 50).into_response()
}

async fn events() -> Response {
    let stream = futures_util::stream::iter(0..EVENTS).then(|n| async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok::<_, std::convert::Infallible>(Bytes::from(format!("data: {n}\n\n")))
    });
    (
        [(CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

fn app() -> Router {
    Router::new()
        .route("/small/{id}", get(small))
        .route("/oversize", get(oversize))
        .route("/events", get(events))
        .layer(ConditionalLayer::new().max_hashed_body_size(CAP))
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    ok_200: AtomicU64,
    ok_304: AtomicU64,
    oversize: AtomicU64,
    streams: AtomicU64,
    errors: AtomicU64,
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

async fn fetch(
    client: &HttpClient,
    url: String,
    etag: Option<&str>,
) -> Result<(StatusCode, Option<String>, Bytes), String> {
    let mut request = Request::get(url);
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status();
    let etag = response
        .headers()
        .get(ETAG)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok((status, etag, body))
}

/// One request of the mix, checked. Returns what went wrong, if anything.
async fn one(client: &HttpClient, addr: SocketAddr, n: u64, tally: &Tally) -> Result<(), String> {
    match n % 10 {
        0 => {
            let (status, etag, body) =
                fetch(client, format!("http://{addr}/oversize"), None).await?;
            if status != StatusCode::OK || etag.is_some() || body[..] != content(7, OVERSIZE)[..] {
                return Err(format!("oversize: {status} {etag:?} {} bytes", body.len()));
            }
            tally.oversize.fetch_add(1, Ordering::Relaxed);
        }
        1 => {
            let (status, etag, body) = fetch(client, format!("http://{addr}/events"), None).await?;
            let expected: String = (0..EVENTS).map(|n| format!("data: {n}\n\n")).collect();
            if status != StatusCode::OK || etag.is_some() || body != expected.as_bytes() {
                return Err(format!("events: {status} {etag:?}"));
            }
            tally.streams.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            let id = n % 1000;
            let url = format!("http://{addr}/small/{id}");
            let (status, etag, body) = fetch(client, url.clone(), None).await?;
            let etag = etag.ok_or("small: no etag")?;
            let expected = content(id, (id % 64) as usize * 97 + 1);
            if status != StatusCode::OK || body[..] != expected[..] {
                return Err(format!("small {id}: {status}, {} bytes", body.len()));
            }
            if EntityTag::from_content(&body).to_string() != etag {
                return Err(format!("small {id}: etag {etag} is not the body's hash"));
            }
            tally.ok_200.fetch_add(1, Ordering::Relaxed);
            let (status, again, body) = fetch(client, url, Some(&etag)).await?;
            if status != StatusCode::NOT_MODIFIED
                || !body.is_empty()
                || again.as_deref() != Some(&etag)
            {
                return Err(format!(
                    "small {id} revalidation: {status}, {} bytes",
                    body.len()
                ));
            }
            tally.ok_304.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let concurrency: u64 = std::env::var("SOAK_CONCURRENCY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app()).await.unwrap() });

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, tally, stop, next) =
            (client.clone(), tally.clone(), stop.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let outcome =
                    tokio::time::timeout(Duration::from_secs(10), one(&client, addr, n, &tally))
                        .await;
                let failure = match outcome {
                    Ok(Ok(())) => continue,
                    Ok(Err(error)) => error,
                    Err(_) => format!("request {n} timed out"),
                };
                if tally.errors.fetch_add(1, Ordering::Relaxed) < 10 {
                    eprintln!("error: {failure}");
                }
            }
        }));
    }

    println!("second,rss_kib,200s,304s,oversize,streams,errors");
    let started = Instant::now();
    let mut samples = Vec::new();
    for second in 1..=seconds {
        tokio::time::sleep_until((started + Duration::from_secs(second)).into()).await;
        let rss = rss_kib();
        samples.push(rss);
        println!(
            "{second},{rss},{},{},{},{},{}",
            tally.ok_200.load(Ordering::Relaxed),
            tally.ok_304.load(Ordering::Relaxed),
            tally.oversize.load(Ordering::Relaxed),
            tally.streams.load(Ordering::Relaxed),
            tally.errors.load(Ordering::Relaxed),
        );
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(15), worker).await;
    }

    let errors = tally.errors.load(Ordering::Relaxed);
    let settled = samples[samples.len().min(3) - 1];
    let peak_late = *samples.iter().skip(samples.len() / 2).max().unwrap();
    let growth_kib = peak_late.saturating_sub(settled);
    println!(
        "summary: {} requests checked, {errors} errors, RSS after warm-up {settled} KiB, late peak {peak_late} KiB (growth {growth_kib} KiB)",
        2 * tally.ok_200.load(Ordering::Relaxed)
            + tally.oversize.load(Ordering::Relaxed)
            + tally.streams.load(Ordering::Relaxed)
    );
    // Held memory is bounded by CAP x concurrency; anything growing past
    // that after warm-up is a leak.
    let bound_kib = (CAP as u64 * concurrency) / 1024 + 16 * 1024;
    if errors > 0 || growth_kib > bound_kib || tally.ok_304.load(Ordering::Relaxed) == 0 {
        eprintln!("soak failed: {errors} errors, growth {growth_kib} KiB (bound {bound_kib} KiB)");
        std::process::exit(1);
    }
}
