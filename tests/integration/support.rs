//! The harness of the integration tests: servers on real sockets, a hyper
//! client, a raw HTTP/1.1 socket reader, and bodies a test drives by hand.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower_conditional::EntityTag;

// The handler body and body bytes the benchmarks and fuzz targets use too.
pub use tower_conditional_test_support::{base64url, patterned, FramesBody};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The bound on every single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(2);

/// Awaits `future`, failing the test if it takes longer than [`WAIT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Whether `future` is still pending after `duration` (it is polled in place,
/// so it can be awaited again afterwards).
pub async fn still_pending<F: Future + Unpin>(future: &mut F, duration: Duration) -> bool {
    tokio::time::timeout(duration, future).await.is_err()
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Serves an axum `Router` with `axum::serve` on 127.0.0.1:0.
pub async fn serve_router(router: Router) -> SocketAddr {
    let (listener, addr) = listener().await;
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("axum::serve");
    });
    addr
}

/// Serves any axum-compatible service (for instance a whole `Router` wrapped in
/// the layer, mapped back to an axum response) with `axum::serve`.
pub async fn serve_axum_service<S>(service: S) -> SocketAddr
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let (listener, addr) = listener().await;
    tokio::spawn(async move {
        axum::serve(listener, axum::ServiceExt::into_make_service(service))
            .await
            .expect("axum::serve");
    });
    addr
}

/// Options of the plain hyper HTTP/1.1 server.
#[derive(Debug, Clone, Copy, Default)]
pub struct H1Options {
    /// `http1::Builder::max_buf_size`, for very large request heads.
    pub max_buf_size: Option<usize>,
}

/// Serves a tower service over plain hyper HTTP/1.1 (through
/// `TowerToHyperService`), one task per connection.
pub async fn serve_h1<S, B>(service: S, options: H1Options) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (listener, addr) = listener().await;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                if let Some(size) = options.max_buf_size {
                    builder.max_buf_size(size);
                }
                // Errors (a client gone, a body that failed) end this connection only.
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Serves a tower service over plain hyper HTTP/2 (prior knowledge, h2c).
pub async fn serve_h2<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (listener, addr) = listener().await;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------
// hyper client
// ---------------------------------------------------------------------------

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A pooling HTTP/1.1 client.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An HTTP/2 (prior knowledge) client.
pub fn h2_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// A request with an empty body to `http://{addr}{path}`.
pub fn request(method: Method, addr: SocketAddr, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
}

/// A response read to its end.
#[derive(Debug)]
pub struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl Fetched {
    /// The value of a header that must be there exactly once, as text.
    pub fn header(&self, name: &str) -> &str {
        let mut values = self.headers.get_all(name).iter();
        let value = values
            .next()
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers));
        assert!(values.next().is_none(), "{name} appears more than once");
        value.to_str().expect("ASCII header")
    }

    pub fn etag(&self) -> &str {
        self.header("etag")
    }

    pub fn has(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }
}

/// Sends `request` and reads the whole response, trailers included.
pub async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> Fetched {
    let response = within("response head", client.request(request))
        .await
        .expect("request failed");
    let (parts, body) = response.into_parts();
    let collected = within("response body", body.collect())
        .await
        .expect("reading the body failed");
    let trailers = collected.trailers().cloned();
    Fetched {
        status: parts.status,
        headers: parts.headers,
        body: collected.to_bytes(),
        trailers,
    }
}

/// `method path` with the given request headers (a name may repeat: each pair
/// is one field line).
pub async fn fetch(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Fetched {
    let mut builder = request(method, addr, path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(&client(), builder.body(Full::default()).unwrap()).await
}

pub async fn http_get(addr: SocketAddr, path: &str) -> Fetched {
    fetch(addr, Method::GET, path, &[]).await
}

/// GET with one `If-None-Match` line.
pub async fn get_if_none_match(addr: SocketAddr, path: &str, tags: &str) -> Fetched {
    fetch(addr, Method::GET, path, &[("if-none-match", tags)]).await
}

// ---------------------------------------------------------------------------
// Raw HTTP/1.1 over a TcpStream
// ---------------------------------------------------------------------------

/// Writes `request` as is on a new connection and reads until the server
/// closes it (send `Connection: close`), within [`WAIT`].
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = within("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    within("write", stream.write_all(request))
        .await
        .expect("write request");
    let mut out = Vec::new();
    within(
        "the server to close the connection",
        stream.read_to_end(&mut out),
    )
    .await
    .expect("read response");
    out
}

/// Header or trailer fields: lowercased names, raw values, in wire order.
pub type Fields = Vec<(String, Vec<u8>)>;

/// A response head and body as they were on the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lowercased, values as raw bytes, in wire order.
    pub headers: Fields,
    /// The message body, de-chunked when it was chunked.
    pub body: Vec<u8>,
    /// Trailer fields of a chunked body.
    pub trailers: Fields,
    pub chunked: bool,
    /// The exact bytes of this response (head and body, as framed).
    pub raw: Vec<u8>,
}

impl RawResponse {
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name)
            .map(|v| std::str::from_utf8(v).expect("ASCII header"))
    }

    pub fn all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_fields(block: &[u8]) -> Fields {
    block
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(|line| {
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .unwrap_or_else(|| panic!("bad field line {:?}", String::from_utf8_lossy(line)));
            let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
            (name, line[colon + 1..].trim_ascii().to_vec())
        })
        .collect()
}

/// Parses a response head (status line and fields, up to the blank line).
/// Returns the status, the fields and the length of the head.
pub fn parse_head(bytes: &[u8]) -> Option<(u16, Fields, usize)> {
    let end = find(bytes, b"\r\n\r\n")? + 4;
    let head = &bytes[..end - 4];
    let line_end = find(head, b"\r\n").unwrap_or(head.len());
    let status_line = std::str::from_utf8(&head[..line_end]).expect("ASCII status line");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap();
    assert!(
        version.starts_with("HTTP/1."),
        "status line {status_line:?}"
    );
    let status = parts.next().unwrap().parse().expect("status code");
    let fields = parse_fields(&head[line_end..]);
    Some((status, fields, end))
}

/// Parses one complete response from `bytes` (as read to the end of the
/// connection). `head_request` says the request was HEAD (no body follows).
pub fn parse_response(bytes: &[u8], head_request: bool) -> RawResponse {
    let (status, headers, head_len) = parse_head(bytes)
        .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(bytes)));
    let rest = &bytes[head_len..];
    let mut response = RawResponse {
        status,
        headers,
        body: Vec::new(),
        trailers: Vec::new(),
        chunked: false,
        raw: bytes[..head_len].to_vec(),
    };
    match body_framing(&response, head_request) {
        Framing::None => {}
        Framing::Length(n) => {
            assert!(rest.len() >= n, "short body: {} of {n}", rest.len());
            response.body = rest[..n].to_vec();
            response.raw.extend_from_slice(&rest[..n]);
        }
        Framing::Chunked => {
            let (body, trailers, used) =
                decode_chunked(rest).expect("complete chunked body on the wire");
            response.body = body;
            response.trailers = trailers;
            response.chunked = true;
            response.raw.extend_from_slice(&rest[..used]);
        }
        Framing::UntilClose => {
            response.body = rest.to_vec();
            response.raw.extend_from_slice(rest);
        }
    }
    response
}

enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

fn body_framing(response: &RawResponse, head_request: bool) -> Framing {
    let status = response.status;
    if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        return Framing::None;
    }
    if let Some(te) = response.get("transfer-encoding") {
        assert!(
            te.eq_ignore_ascii_case(b"chunked"),
            "unexpected transfer-encoding {te:?}"
        );
        return Framing::Chunked;
    }
    if let Some(length) = response.get_str("content-length") {
        return Framing::Length(length.parse().expect("content-length"));
    }
    Framing::UntilClose
}

/// Decodes a chunked body: data, trailers and the bytes used, or `None` when
/// the body is not complete (no last chunk and final CRLF).
pub fn decode_chunked(mut bytes: &[u8]) -> Option<(Vec<u8>, Fields, usize)> {
    let total = bytes.len();
    let mut body = Vec::new();
    loop {
        let line_end = find(bytes, b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[..line_end]).ok()?;
        let size_text = size_text.split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            let end = if bytes.starts_with(b"\r\n") {
                0
            } else {
                find(bytes, b"\r\n\r\n")? + 2
            };
            let trailers = parse_fields(&bytes[..end]);
            bytes = &bytes[end + 2..];
            return Some((body, trailers, total - bytes.len()));
        }
        if bytes.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&bytes[..size]);
        assert_eq!(
            &bytes[size..size + 2],
            b"\r\n",
            "chunk not followed by CRLF"
        );
        bytes = &bytes[size + 2..];
    }
}

/// One keep-alive HTTP/1.1 connection driven by hand.
pub struct RawConn {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = within("connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    pub async fn send(&mut self, request: &[u8]) {
        within("write", self.stream.write_all(request))
            .await
            .expect("write request");
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        let n = within("response bytes", self.stream.read(&mut chunk))
            .await
            .expect("read");
        self.buffer.extend_from_slice(&chunk[..n]);
        n
    }

    /// Reads exactly one response (framed by its headers) and nothing more.
    pub async fn read_response(&mut self, head_request: bool) -> RawResponse {
        let (status, headers, head_len) = loop {
            if let Some(head) = parse_head(&self.buffer) {
                break head;
            }
            assert!(
                self.fill().await > 0,
                "connection closed before a response head"
            );
        };
        let probe = RawResponse {
            status,
            headers,
            body: Vec::new(),
            trailers: Vec::new(),
            chunked: false,
            raw: Vec::new(),
        };
        let body_len = match body_framing(&probe, head_request) {
            Framing::None => 0,
            Framing::Length(n) => {
                while self.buffer.len() < head_len + n {
                    assert!(self.fill().await > 0, "connection closed inside a body");
                }
                n
            }
            Framing::Chunked => loop {
                if let Some((_, _, used)) = decode_chunked(&self.buffer[head_len..]) {
                    break used;
                }
                assert!(
                    self.fill().await > 0,
                    "connection closed inside a chunked body"
                );
            },
            Framing::UntilClose => {
                while self.fill().await > 0 {}
                self.buffer.len() - head_len
            }
        };
        let message: Vec<u8> = self.buffer.drain(..head_len + body_len).collect();
        parse_response(&message, head_request)
    }

    /// Asserts that the server sends nothing more for `duration`: no stray
    /// body bytes after a response that must not have any.
    pub async fn assert_quiet(&mut self, duration: Duration) {
        assert!(
            self.buffer.is_empty(),
            "unexpected bytes after the response: {:?}",
            String::from_utf8_lossy(&self.buffer)
        );
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(duration, self.stream.read(&mut chunk)).await {
            Err(_) => {}
            Ok(Ok(0)) => panic!("the server closed a keep-alive connection"),
            Ok(Ok(n)) => panic!(
                "unexpected bytes after the response: {:?}",
                String::from_utf8_lossy(&chunk[..n])
            ),
            Ok(Err(error)) => panic!("read error: {error}"),
        }
    }

    pub fn into_stream(self) -> TcpStream {
        self.stream
    }
}

/// A minimal HTTP/1.1 request head (keep-alive) with extra field lines.
pub fn raw_request(method: &str, path: &str, headers: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

// ---------------------------------------------------------------------------
// Entity-tags
// ---------------------------------------------------------------------------

/// The strong tag the layer must compute for `body`: 128 bits of blake3,
/// base64url, quoted (computed here without the crate).
pub fn expected_etag(body: &[u8]) -> String {
    let hash = blake3::hash(body);
    format!("\"{}\"", base64url(&hash.as_bytes()[..16]))
}

/// The tag as the crate's public API computes it.
pub fn content_etag(body: &[u8]) -> String {
    EntityTag::from_content(body).to_string()
}

// ---------------------------------------------------------------------------
// Test bodies
// ---------------------------------------------------------------------------

/// What a test sends into a [`ChannelBody`].
pub type BodyItem = Result<Frame<Bytes>, io::Error>;

/// The sending end of a [`ChannelBody`], held by the test.
#[derive(Debug, Clone)]
pub struct BodySender(mpsc::UnboundedSender<BodyItem>);

impl BodySender {
    pub fn data(&self, chunk: impl Into<Bytes>) {
        let _ = self.0.send(Ok(Frame::data(chunk.into())));
    }

    pub fn error(&self, message: &str) {
        let _ = self.0.send(Err(io::Error::other(message.to_owned())));
    }

    /// Whether the body (the receiving end) is gone.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// A body driven by the test through a channel: it ends when every sender is
/// dropped. Dropping it sets its `dropped` flag.
pub struct ChannelBody {
    rx: mpsc::UnboundedReceiver<BodyItem>,
    dropped: Arc<AtomicBool>,
    hint: SizeHint,
}

impl ChannelBody {
    pub fn new() -> (BodySender, Self) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            BodySender(tx),
            Self {
                rx,
                dropped: Arc::new(AtomicBool::new(false)),
                hint: SizeHint::default(),
            },
        )
    }

    pub fn with_size_hint(mut self, hint: SizeHint) -> Self {
        self.hint = hint;
        self
    }

    pub fn dropped_flag(&self) -> Arc<AtomicBool> {
        self.dropped.clone()
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

impl Drop for ChannelBody {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

/// A channel through which handlers hand the test the sending end of the body
/// they answer with, together with the body's drop flag.
#[derive(Clone)]
pub struct Tap(mpsc::UnboundedSender<(BodySender, Arc<AtomicBool>)>);

pub struct TapRx(mpsc::UnboundedReceiver<(BodySender, Arc<AtomicBool>)>);

pub fn tap() -> (Tap, TapRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Tap(tx), TapRx(rx))
}

impl Tap {
    /// A new channel body; its sender goes to the test.
    pub fn body(&self) -> ChannelBody {
        let (sender, body) = ChannelBody::new();
        let _ = self.0.send((sender, body.dropped_flag()));
        body
    }

    pub fn body_with_hint(&self, hint: SizeHint) -> ChannelBody {
        self.body().with_size_hint(hint)
    }
}

impl TapRx {
    /// The sender of the next body a handler made.
    pub async fn next(&mut self) -> BodySender {
        self.next_with_flag().await.0
    }

    pub async fn next_with_flag(&mut self) -> (BodySender, Arc<AtomicBool>) {
        within("a handler to start its body", self.0.recv())
            .await
            .expect("tap closed")
    }
}

/// Builds a response with the given status, header lines and body.
pub fn response<B>(status: StatusCode, headers: &[(&str, &str)], body: B) -> Response<B> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in headers {
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    response
}

/// Waits (bounded) until `flag` is set.
pub async fn wait_for_flag(what: &str, flag: &AtomicBool) {
    within(what, async {
        while !flag.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}
