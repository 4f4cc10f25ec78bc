//! A streaming proxy of an upstream the operator does not control, which
//! answers in the smallest chunks HTTP/1.1 allows (`1\r\nz\r\n`): what the
//! process holds, measured as its resident set, with the layer and without.
//!
//! The layer reads such a body to hash it. Held as they came, each one-byte
//! chunk would cost a `Bytes` of 32 bytes in the held queue (up to 64 as
//! the queue doubles) and keep alive the upstream's read buffers, six wire
//! bytes per body byte: tens of bytes per byte of body. Staged, a request
//! holds its body's bytes plus one stage, whatever the chunking; the bound
//! below is far under what chunks held one by one would take.
//!
//! Each case runs in a process of its own (this binary, started again on
//! one ignored test), so that memory the allocator kept from one case does
//! not hide, or inflate, what the next one needs. Everything is on the
//! loopback interface, and the bodies are bounded.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_conditional::ConditionalLayer;
use tower_conditional_test_support::base64url;

/// The layer's limit here, small for the sake of time: a body in one-byte
/// chunks is one frame per byte through hyper's client, the layer and, without
/// the layer, hyper's server and the socket, and in the debug build `cargo
/// test` makes a frame costs microseconds. At 64 KiB the six cases take
/// seconds, and eight bodies held one chunk at a time would still take
/// several times the bound (a test that can fail), while eight held as
/// staged sit within the noise of the connections' own buffers.
const LIMIT: usize = 64 * 1024;

/// Just under the limit: the layer reads it all and tags it.
const BODY: usize = LIMIT - 1;

const CONCURRENT: usize = 8;

/// Allowed per request beyond the body: a stage, and the read and write
/// buffers of its connections (upstream, downstream, the test's client),
/// which the case without the layer needs as well.
const PER_REQUEST_SLACK: usize = 256 * 1024;

/// The allocator's slack: freed chunks kept, arenas per thread, pages
/// touched but half used.
const ALLOCATOR_FACTOR: f64 = 2.5;

/// The bound on one case, for a loaded machine: the cases take seconds.
const CASE_BOUND: Duration = Duration::from_secs(30);

/// Names the case a child process runs.
const CASE: &str = "UNTRUSTED_UPSTREAM_CASE";

/// What a child prints, for the parent to read back.
const RESULT: &str = "untrusted-upstream-result";

// ---------------------------------------------------------------------------
// The upstream: raw HTTP/1.1, one chunk per `chunk` bytes
// ---------------------------------------------------------------------------

/// The whole response the upstream sends, built once before the baseline is
/// taken so that it is not counted as growth.
fn upstream_response(chunk: usize) -> Vec<u8> {
    let mut wire = b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
        transfer-encoding: chunked\r\n\r\n"
        .to_vec();
    let mut left = BODY;
    while left > 0 {
        let n = left.min(chunk);
        write!(wire, "{n:x}\r\n").unwrap();
        wire.resize(wire.len() + n, b'z');
        wire.extend_from_slice(b"\r\n");
        left -= n;
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    wire
}

/// The tiny answer to `GET /tiny`, with which connections are opened before
/// the baseline is taken.
const TINY: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\ntiny\r\n0\r\n\r\n";

/// Answers `GET /tiny` with [`TINY`] and any other request with `wire`,
/// written in large pieces so that the tiny chunks cost the reader, not the
/// writer.
async fn upstream(wire: Arc<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(answer(stream, wire.clone()));
        }
    });
    addr
}

async fn answer(mut stream: TcpStream, wire: Arc<Vec<u8>>) {
    let mut request = Vec::new();
    loop {
        // The requests have no body: a head ends each.
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read_buf(&mut request).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let response: &[u8] = if request.starts_with(b"GET /tiny ") {
            TINY
        } else {
            &wire
        };
        request.clear();
        for piece in response.chunks(256 * 1024) {
            if stream.write_all(piece).await.is_err() {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The proxy
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct Proxy {
    upstream: SocketAddr,
    client: Client<HttpConnector, Empty<Bytes>>,
}

/// Streams the upstream's body back as the response body: what a gateway
/// does with `hyper::body::Incoming`.
async fn proxy(State(proxy): State<Proxy>, uri: Uri) -> Response<Body> {
    let request = Request::get(format!("http://{}{}", proxy.upstream, uri.path()))
        .body(Empty::new())
        .unwrap();
    match proxy.client.request(request).await {
        Ok(upstream) => {
            let (parts, body) = upstream.into_parts();
            let mut response = Response::new(Body::new(body));
            *response.status_mut() = parts.status;
            if let Some(media_type) = parts.headers.get(CONTENT_TYPE) {
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, media_type.clone());
            }
            response
        }
        Err(_) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        }
    }
}

async fn serve(upstream: SocketAddr, layered: bool) -> SocketAddr {
    let proxy_state = Proxy {
        upstream,
        client: Client::builder(TokioExecutor::new()).build_http(),
    };
    let router = Router::new()
        .route("/", get(proxy))
        .route("/tiny", get(proxy))
        .with_state(proxy_state);
    let router = if layered {
        router.layer(ConditionalLayer::new().max_hashed_body_size(LIMIT))
    } else {
        router
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------

/// The resident set of this process, in bytes. `VmRSS` of `/proc/self/status`
/// is in kB, so no page size need be assumed.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}

/// Samples the resident set every 5 ms on a thread of its own (the
/// runtime's threads are busy), until told to stop; returns the peak.
fn sample_rss(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut peak = rss();
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss());
            std::thread::sleep(Duration::from_millis(5));
        }
        peak.max(rss())
    })
}

/// What the test's client got: the body's length and hash, and the tag.
struct Got {
    status: u16,
    len: usize,
    hash: blake3::Hash,
    etag: Option<String>,
}

/// `GET path` on a connection of its own, read to its end: a raw socket
/// and a decoder that holds at most one buffer of the body, so that the
/// client (in this process too) neither holds the bodies nor adds a hop of
/// one frame per byte when the proxy sends them in one-byte chunks.
async fn get_through(addr: SocketAddr, path: &str) -> Got {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: proxy\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut bytes = Vec::new();
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read_buf(&mut bytes).await.expect("read");
        assert!(n > 0, "closed before the response head");
    };
    let head = std::str::from_utf8(&bytes[..head_end]).expect("an ASCII head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1)?.parse().ok())
        .expect("a status line");
    let mut etag = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("etag") {
            etag = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    let mut body = Body64k::default();
    let mut dechunk = chunked.then(Dechunk::default);
    let mut feed = |input: &[u8]| match &mut dechunk {
        Some(dechunk) => dechunk.feed(input, &mut body),
        None => body.push(input),
    };
    feed(&bytes[head_end..]);
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = stream.read(&mut buffer).await.expect("read");
        if n == 0 {
            break;
        }
        feed(&buffer[..n]);
    }
    if let Some(dechunk) = &dechunk {
        assert!(dechunk.done(), "the chunked body was cut short");
    }
    let (len, hash) = body.finish();
    Got {
        status,
        len,
        hash,
        etag,
    }
}

/// A body being hashed, a buffer's worth at a time.
struct Body64k {
    len: usize,
    buffer: Vec<u8>,
    hasher: blake3::Hasher,
}

impl Default for Body64k {
    fn default() -> Self {
        Self {
            len: 0,
            buffer: Vec::with_capacity(64 * 1024),
            hasher: blake3::Hasher::new(),
        }
    }
}

impl Body64k {
    fn push(&mut self, data: &[u8]) {
        self.len += data.len();
        if self.buffer.len() + data.len() > self.buffer.capacity() {
            self.hasher.update(&self.buffer);
            self.buffer.clear();
        }
        if data.len() > self.buffer.capacity() {
            self.hasher.update(data);
        } else {
            self.buffer.extend_from_slice(data);
        }
    }

    fn finish(mut self) -> (usize, blake3::Hash) {
        self.hasher.update(&self.buffer);
        (self.len, self.hasher.finalize())
    }
}

/// A decoder of HTTP/1.1 chunked coding (RFC 9112 §7.1) fed what the socket
/// gives; trailers are not looked at.
#[derive(Default)]
enum Dechunk {
    #[default]
    SizeStart,
    Size(usize),
    Extension(usize),
    SizeLf(usize),
    Data(usize),
    DataCr,
    DataLf,
    Done,
}

impl Dechunk {
    fn feed(&mut self, mut input: &[u8], body: &mut Body64k) {
        while let Some((&byte, rest)) = input.split_first() {
            if let Self::Data(left) = *self {
                let n = left.min(input.len());
                body.push(&input[..n]);
                input = &input[n..];
                *self = if n == left {
                    Self::DataCr
                } else {
                    Self::Data(left - n)
                };
                continue;
            }
            input = rest;
            *self = match (&*self, byte) {
                (Self::SizeStart, _) => Self::Size(hex(byte)),
                (Self::Size(size), b';') => Self::Extension(*size),
                (Self::Size(size) | Self::Extension(size), b'\r') => Self::SizeLf(*size),
                (Self::Size(size), _) => Self::Size(size * 16 + hex(byte)),
                (Self::Extension(size), _) => Self::Extension(*size),
                (Self::SizeLf(0), b'\n') => Self::Done,
                (Self::SizeLf(size), b'\n') => Self::Data(*size),
                (Self::DataCr, b'\r') => Self::DataLf,
                (Self::DataLf, b'\n') => Self::SizeStart,
                (Self::Done, _) => return,
                (state, _) => panic!("bad chunked coding at {byte:?} after {}", state.name()),
            };
        }
    }

    fn done(&self) -> bool {
        matches!(self, Self::Done)
    }

    fn name(&self) -> &'static str {
        match self {
            Self::SizeStart => "a chunk",
            Self::Size(_) | Self::Extension(_) => "a chunk size",
            Self::SizeLf(_) => "a chunk size's CR",
            Self::Data(_) => "chunk data",
            Self::DataCr | Self::DataLf => "the end of chunk data",
            Self::Done => "the last chunk",
        }
    }
}

fn hex(byte: u8) -> usize {
    char::from(byte)
        .to_digit(16)
        .unwrap_or_else(|| panic!("{byte:?} in a chunk size")) as usize
}

/// The layer's strong tag for a body of this hash: 128 bits, base64url.
fn strong_tag(hash: &blake3::Hash) -> String {
    format!("\"{}\"", base64url(&hash.as_bytes()[..16]))
}

/// One case, in this process: `CONCURRENT` GETs through the proxy at once,
/// each body read to its end, while the resident set is sampled.
async fn run_case(layered: bool, chunk: usize) -> (usize, usize, Duration) {
    let wire = Arc::new(upstream_response(chunk));
    let expected_hash = blake3::hash(&vec![b'z'; BODY]);
    let upstream = upstream(wire).await;
    let addr = serve(upstream, layered).await;

    // The proxy's connections to the upstream, pooled, and what the runtime
    // and the allocator set up for a first request are there before the
    // baseline: the growth is what the bodies cost.
    let warm_up: Vec<_> = (0..CONCURRENT)
        .map(|_| tokio::spawn(get_through(addr, "/tiny")))
        .collect();
    for request in warm_up {
        let got = request.await.unwrap();
        assert_eq!((got.status, got.len), (200, 4));
    }

    let baseline = rss();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(stop.clone());
    let start = Instant::now();
    let requests: Vec<_> = (0..CONCURRENT)
        .map(|_| tokio::spawn(get_through(addr, "/")))
        .collect();
    let mut got = Vec::new();
    for request in requests {
        got.push(request.await.expect("a request panicked"));
    }
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();

    for got in got {
        assert_eq!(got.status, 200);
        assert_eq!(got.len, BODY, "the body was cut or padded");
        assert_eq!(got.hash, expected_hash, "the body's bytes changed");
        if layered {
            assert_eq!(
                got.etag,
                Some(strong_tag(&expected_hash)),
                "a body just under the limit is tagged"
            );
        } else {
            assert_eq!(got.etag, None);
        }
    }
    (baseline, peak, took)
}

/// Runs the case named by [`CASE`], `layer:CHUNK` or `bare:CHUNK`; started by
/// [`resident_set_of_a_proxied_body_in_tiny_chunks`] in a process of its own.
#[test]
#[ignore = "a case of untrusted_upstream, run in a process of its own"]
fn one_case() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    let (mode, chunk) = case.split_once(':').expect("MODE:CHUNK");
    let layered = match mode {
        "layer" => true,
        "bare" => false,
        _ => panic!("{CASE}={case}: the mode is `layer` or `bare`"),
    };
    let chunk: usize = chunk.parse().expect("a chunk size");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (baseline, peak, took) = runtime.block_on(async {
        tokio::time::timeout(CASE_BOUND, run_case(layered, chunk))
            .await
            .unwrap_or_else(|_| panic!("{case} took over {CASE_BOUND:?}"))
    });
    // On a line of its own: the harness may have begun one.
    println!("\n{RESULT} {baseline} {peak} {}", took.as_millis());
}

/// What a child process reported: the resident set before and at its
/// peak, in bytes, and how long the requests took.
fn run_child(case: &str) -> (usize, usize, u128) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "one_case",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE, case)
        .output()
        .expect("start this test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "case {case} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(RESULT))
        .unwrap_or_else(|| panic!("case {case} printed no result:\n{stdout}"));
    let numbers: Vec<u128> = line
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (numbers[0] as usize, numbers[1] as usize, numbers[2])
}

#[test]
fn resident_set_of_a_proxied_body_in_tiny_chunks() {
    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    let bound = (CONCURRENT * (LIMIT + PER_REQUEST_SLACK)) as f64 * ALLOCATOR_FACTOR;
    let mut rows = Vec::new();
    for chunk in [1, 4, 16] {
        for layered in [true, false] {
            let case = format!("{}:{chunk}", if layered { "layer" } else { "bare" });
            let (baseline, peak, took) = run_child(&case);
            rows.push((layered, chunk, peak.saturating_sub(baseline), took));
        }
    }

    println!(
        "\n{CONCURRENT} concurrent GETs through a streaming proxy, upstream body of {BODY} B \
         (limit {LIMIT} B) in chunks of 1, 4 and 16 B; each case in a process of its own:\n"
    );
    println!("| case | peak RSS growth (MiB) | × ({CONCURRENT} × LIMIT) | requests took (ms) |");
    println!("| --- | ---: | ---: | ---: |");
    for (layered, chunk, growth, took) in &rows {
        let case = if *layered {
            "with layer"
        } else {
            "without layer"
        };
        println!(
            "| {case}, {chunk}-byte chunks | {:.1} | {:.2} | {took} |",
            mib(*growth),
            *growth as f64 / (CONCURRENT * LIMIT) as f64,
        );
    }
    println!(
        "\nBound with the layer: {CONCURRENT} × (LIMIT + {} KiB) × {ALLOCATOR_FACTOR} = {:.1} MiB\n",
        PER_REQUEST_SLACK / 1024,
        mib(bound as usize)
    );

    for (layered, chunk, growth, _) in rows {
        if layered {
            assert!(
                (growth as f64) <= bound,
                "{chunk}-byte chunks: the resident set grew by {:.1} MiB, over {:.1} MiB",
                mib(growth),
                mib(bound as usize)
            );
        }
    }
}
