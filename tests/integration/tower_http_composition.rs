//! `ConditionalLayer` next to tower-http's layers and services, through real
//! TCP: `CompressionLayer` (in both orders), `ServeDir` / `ServeFile`, and
//! `TraceLayer`, `TimeoutLayer` and `SetResponseHeaderLayer` around and
//! inside it.
//!
//! In axum, a later `.layer` call wraps the earlier ones: in
//! `.layer(CompressionLayer::new()).layer(ConditionalLayer::new())` the
//! conditional layer is the outer one and sees the compressed bytes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, VARY};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tower::util::MapResponseLayer;
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_conditional::{ConditionalLayer, EtagPolicy};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::Decompression;
use tower_http::map_response_body::MapResponseBodyLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::support::*;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A text document well above the compression threshold.
fn document() -> String {
    (0..200)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
        .collect()
}

async fn document_handler() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; charset=utf-8")], document())
}

fn is_weak(tag: &str) -> bool {
    tag.starts_with("W/")
}

fn varies_on_accept_encoding(headers: &HeaderMap) -> bool {
    headers.get_all("vary").iter().any(|value| {
        value
            .to_str()
            .unwrap()
            .split(',')
            .any(|name| name.trim().eq_ignore_ascii_case("accept-encoding"))
    })
}

/// GET `path` asking for `encoding` ("identity" asks for no compression).
async fn get_encoded(addr: SocketAddr, path: &str, encoding: &str) -> Fetched {
    fetch(addr, Method::GET, path, &[("accept-encoding", encoding)]).await
}

/// GET `path` asking for `encoding`, revalidating with `tags`.
async fn revalidate_encoded(addr: SocketAddr, path: &str, encoding: &str, tags: &str) -> Fetched {
    fetch(
        addr,
        Method::GET,
        path,
        &[("accept-encoding", encoding), ("if-none-match", tags)],
    )
    .await
}

/// The body of `fetched` decoded as its `Content-Encoding` says, by
/// tower-http's client-side `Decompression`.
async fn decode(fetched: &Fetched) -> Bytes {
    let headers = fetched.headers.clone();
    let body = fetched.body.clone();
    let canned = service_fn(move |_request: Request<()>| {
        let mut response = Response::new(Full::new(body.clone()));
        *response.headers_mut() = headers.clone();
        async move { Ok::<_, Infallible>(response) }
    });
    let response = Decompression::new(canned)
        .oneshot(Request::new(()))
        .await
        .unwrap();
    assert!(
        !response.headers().contains_key("content-encoding"),
        "Decompression did not decode {:?}",
        fetched.headers
    );
    response
        .into_body()
        .collect()
        .await
        .expect("the body decodes")
        .to_bytes()
}

/// A `304` as a cache needs it: no body, no `Content-Encoding` (it describes
/// no body), and the given validator.
fn assert_not_modified(fetched: &Fetched, etag: &str) {
    assert_eq!(fetched.status, StatusCode::NOT_MODIFIED, "{fetched:?}");
    assert!(fetched.body.is_empty());
    assert!(
        !fetched.has("content-encoding"),
        "a 304 carries Content-Encoding: {:?}",
        fetched.headers
    );
    assert_eq!(fetched.etag(), etag);
}

// ---------------------------------------------------------------------------
// CompressionLayer, ConditionalLayer outside (the recommended order)
// ---------------------------------------------------------------------------

const ENCODINGS: [&str; 3] = ["gzip", "br", "identity"];

fn conditional_outside_compression() -> Router {
    Router::new()
        .route("/doc", get(document_handler))
        .layer(CompressionLayer::new())
        .layer(ConditionalLayer::new())
}

/// Each encoding is its own representation and gets its own strong tag: the
/// hash of the bytes actually sent.
#[tokio::test]
async fn outside_compression_each_encoding_gets_its_own_strong_etag() {
    let addr = serve_router(conditional_outside_compression()).await;
    let original = document();
    let mut tags = Vec::new();
    for encoding in ENCODINGS {
        let fetched = get_encoded(addr, "/doc", encoding).await;
        assert_eq!(fetched.status, StatusCode::OK, "{encoding}");
        if encoding == "identity" {
            assert!(!fetched.has("content-encoding"));
            assert_eq!(fetched.body, original.as_bytes());
        } else {
            assert_eq!(fetched.header("content-encoding"), encoding);
            assert_ne!(fetched.body, original.as_bytes());
        }
        assert_eq!(decode(&fetched).await, original.as_bytes(), "{encoding}");
        assert!(varies_on_accept_encoding(&fetched.headers), "{encoding}");
        let etag = fetched.etag().to_owned();
        assert!(!is_weak(&etag), "{encoding}: {etag}");
        assert_eq!(
            etag,
            expected_etag(&fetched.body),
            "{encoding}: the tag is the hash of the encoded bytes"
        );
        assert_eq!(
            fetched.header("content-length"),
            fetched.body.len().to_string()
        );
        tags.push(etag);
    }
    assert_ne!(tags[0], tags[1], "gzip and br share a tag");
    assert_ne!(tags[0], tags[2], "gzip and identity share a tag");
    assert_ne!(tags[1], tags[2], "br and identity share a tag");
}

#[tokio::test]
async fn outside_compression_each_encoding_revalidates_to_304() {
    let addr = serve_router(conditional_outside_compression()).await;
    for encoding in ENCODINGS {
        let first = get_encoded(addr, "/doc", encoding).await;
        let etag = first.etag().to_owned();
        let again = revalidate_encoded(addr, "/doc", encoding, &etag).await;
        assert_not_modified(&again, &etag);
        assert!(
            varies_on_accept_encoding(&again.headers),
            "{encoding}: the 304 lost Vary: {:?}",
            again.headers
        );
        assert!(!again.has("content-length"));
    }

    // A client (or a cache) holding all three copies gets the one that fits
    // its Accept-Encoding confirmed.
    let mut all = Vec::new();
    for encoding in ENCODINGS {
        all.push(get_encoded(addr, "/doc", encoding).await.etag().to_owned());
    }
    let list = all.join(", ");
    for (encoding, etag) in ENCODINGS.iter().zip(&all) {
        let again = revalidate_encoded(addr, "/doc", encoding, &list).await;
        assert_not_modified(&again, etag);
    }
}

/// A tag of one encoding never validates another: the client gets the full
/// response in the encoding it asked for.
#[tokio::test]
async fn outside_compression_a_tag_does_not_validate_another_encoding() {
    let addr = serve_router(conditional_outside_compression()).await;
    let gzip = get_encoded(addr, "/doc", "gzip").await;
    let identity = get_encoded(addr, "/doc", "identity").await;

    let fetched = revalidate_encoded(addr, "/doc", "identity", gzip.etag()).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, document().as_bytes());
    assert_eq!(fetched.etag(), identity.etag());

    let fetched = revalidate_encoded(addr, "/doc", "gzip", identity.etag()).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.header("content-encoding"), "gzip");
    assert_eq!(fetched.etag(), gzip.etag());
    assert_eq!(decode(&fetched).await, document().as_bytes());
}

#[tokio::test]
async fn outside_compression_head_matches_get_for_each_encoding() {
    let addr = serve_router(conditional_outside_compression()).await;
    for encoding in ENCODINGS {
        let get = get_encoded(addr, "/doc", encoding).await;
        let head = fetch(addr, Method::HEAD, "/doc", &[("accept-encoding", encoding)]).await;
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.body.is_empty());
        assert_eq!(head.etag(), get.etag(), "{encoding}");
        assert_eq!(
            head.header("content-length"),
            get.body.len().to_string(),
            "{encoding}"
        );
        assert_eq!(
            head.headers.get("content-encoding"),
            get.headers.get("content-encoding"),
            "{encoding}"
        );
        assert!(varies_on_accept_encoding(&head.headers), "{encoding}");
    }
}

// ---------------------------------------------------------------------------
// CompressionLayer, ConditionalLayer inside: what happens
// ---------------------------------------------------------------------------

fn conditional_inside_compression(policy: EtagPolicy) -> Router {
    Router::new()
        .route("/doc", get(document_handler))
        .layer(ConditionalLayer::new().etag_policy(policy))
        .layer(CompressionLayer::new())
}

/// With the conditional layer inside, the tag is computed over the identity
/// bytes before compression, and the same strong tag goes out on the gzip
/// response: one strong tag for two different byte sequences. That is what
/// RFC 9110 §8.8.1 says a strong validator must not do, and what the
/// recommended order avoids. Revalidation still works for both.
#[tokio::test]
async fn inside_compression_one_strong_etag_describes_two_encodings() {
    let addr = serve_router(conditional_inside_compression(EtagPolicy::Strong)).await;
    let original = document();

    let identity = get_encoded(addr, "/doc", "identity").await;
    let gzip = get_encoded(addr, "/doc", "gzip").await;
    assert_eq!(identity.body, original.as_bytes());
    assert_eq!(gzip.header("content-encoding"), "gzip");
    assert_ne!(gzip.body, identity.body);
    assert_eq!(decode(&gzip).await, original.as_bytes());

    let etag = identity.etag().to_owned();
    assert!(!is_weak(&etag));
    assert_eq!(etag, expected_etag(original.as_bytes()));
    assert_eq!(gzip.etag(), etag, "the same strong tag on both encodings");
    assert_ne!(
        gzip.etag(),
        expected_etag(&gzip.body),
        "the gzip response's tag is not the hash of its bytes"
    );

    for encoding in ["identity", "gzip"] {
        let again = revalidate_encoded(addr, "/doc", encoding, &etag).await;
        assert_inside_not_modified(&again, &etag, encoding);
    }
}

/// Inside compression the `304` passes through compression, which cannot
/// know the empty body stands for a `304` and labels it like the `200` it
/// replaces: `Content-Encoding` and `Vary` for a compressing client, none
/// for identity. No body bytes are sent either way. The recommended order
/// (conditional outside) never lets a `304` carry `Content-Encoding`.
fn assert_inside_not_modified(fetched: &Fetched, etag: &str, encoding: &str) {
    assert_eq!(fetched.status, StatusCode::NOT_MODIFIED, "{fetched:?}");
    assert!(fetched.body.is_empty());
    assert_eq!(fetched.etag(), etag);
    assert!(!fetched.has("content-length"), "{:?}", fetched.headers);
    if encoding == "identity" {
        assert!(!fetched.has("content-encoding"), "{:?}", fetched.headers);
    } else {
        assert_eq!(fetched.header("content-encoding"), encoding);
        assert!(varies_on_accept_encoding(&fetched.headers), "{encoding}");
    }
}

/// Inside compression, the answer to a HEAD keeps the `Content-Length` of
/// the GET, so compression treats it as it treats the GET: the HEAD shows
/// the same `Content-Encoding`, `Vary` and tag as the GET.
#[tokio::test]
async fn inside_compression_head_shows_the_encoding_of_the_get() {
    let addr = serve_router(conditional_inside_compression(EtagPolicy::Strong)).await;
    let get = get_encoded(addr, "/doc", "gzip").await;
    assert_eq!(get.header("content-encoding"), "gzip");
    let head = fetch(addr, Method::HEAD, "/doc", &[("accept-encoding", "gzip")]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.etag(), get.etag());
    assert_eq!(head.header("content-encoding"), "gzip");
    assert!(varies_on_accept_encoding(&head.headers));
}

/// A weak tag is meant for representations that are equivalent but not
/// byte-identical: inside compression, `EtagPolicy::Weak` makes the shared
/// tag honest, and both encodings revalidate with it.
#[tokio::test]
async fn inside_compression_weak_policy_revalidates_both_encodings() {
    let addr = serve_router(conditional_inside_compression(EtagPolicy::Weak)).await;
    let original = document();

    let identity = get_encoded(addr, "/doc", "identity").await;
    let gzip = get_encoded(addr, "/doc", "gzip").await;
    assert_eq!(gzip.header("content-encoding"), "gzip");
    assert_eq!(decode(&gzip).await, original.as_bytes());

    let etag = identity.etag().to_owned();
    assert!(is_weak(&etag), "{etag}");
    assert_eq!(etag, format!("W/{}", expected_etag(original.as_bytes())));
    assert_eq!(gzip.etag(), etag);

    for encoding in ["identity", "gzip", "br"] {
        let again = revalidate_encoded(addr, "/doc", encoding, &etag).await;
        assert_inside_not_modified(&again, &etag, encoding);
    }
    // If-None-Match uses the weak comparison: the strong form matches too.
    let strong_form = etag.trim_start_matches("W/");
    let again = revalidate_encoded(addr, "/doc", "gzip", strong_form).await;
    assert_inside_not_modified(&again, &etag, "gzip");
}

/// The fix for the missing `Vary` when the layer has to stay inside
/// compression: set `Vary: Accept-Encoding` inside the conditional layer, so
/// the `200` carries it (compression does not add a second one) and the
/// `304` keeps it.
#[tokio::test]
async fn inside_compression_weak_policy_with_vary_set_inside() {
    let app = Router::new()
        .route("/doc", get(document_handler))
        .layer(SetResponseHeaderLayer::if_not_present(
            VARY,
            HeaderValue::from_static("accept-encoding"),
        ))
        .layer(ConditionalLayer::new().etag_policy(EtagPolicy::Weak))
        .layer(CompressionLayer::new());
    let addr = serve_router(app).await;
    for encoding in ENCODINGS {
        let fetched = get_encoded(addr, "/doc", encoding).await;
        assert_eq!(fetched.headers.get_all("vary").iter().count(), 1);
        assert!(varies_on_accept_encoding(&fetched.headers));
        let again = revalidate_encoded(addr, "/doc", encoding, fetched.etag()).await;
        assert_inside_not_modified(&again, fetched.etag(), encoding);
        assert!(varies_on_accept_encoding(&again.headers), "{encoding}");
    }
}

/// The recommended order in a `ServiceBuilder`, where the first layer is
/// the outermost: the conditional layer first, compression after it.
#[tokio::test]
async fn service_builder_order_conditional_then_compression() {
    let handler = service_fn(|_request: Request<Incoming>| async {
        let mut response = Response::new(Full::new(Bytes::from(document())));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Ok::<_, Infallible>(response)
    });
    let service = ServiceBuilder::new()
        .layer(ConditionalLayer::new())
        .layer(CompressionLayer::new())
        .service(handler);
    let addr = serve_h1(service, H1Options::default()).await;
    for encoding in ENCODINGS {
        let fetched = get_encoded(addr, "/doc", encoding).await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(fetched.etag(), expected_etag(&fetched.body), "{encoding}");
        assert_eq!(decode(&fetched).await, document().as_bytes());
        let again = revalidate_encoded(addr, "/doc", encoding, fetched.etag()).await;
        assert_not_modified(&again, fetched.etag());
        assert!(varies_on_accept_encoding(&again.headers), "{encoding}");
    }
}

// ---------------------------------------------------------------------------
// ServeDir and ServeFile
// ---------------------------------------------------------------------------

/// A directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "tower-conditional-composition-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).expect("create the temp dir");
        Self(path)
    }

    fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write a test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const FILE_NAME: &str = "notes.txt";

fn file_contents() -> Vec<u8> {
    (0..3000u32)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789\n"[(i * 7 % 37) as usize])
        .collect()
}

/// The file's Last-Modified as the file system says.
fn last_modified_of(path: &Path) -> (SystemTime, String) {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    (modified, httpdate::fmt_http_date(modified))
}

/// `/static/*` served by `ServeDir`, `/file` by `ServeFile`, both behind the
/// layer; `inner` goes between them (for instance to drop ServeDir's tag).
fn static_files<L>(dir: &Path, file: &Path, inner: L) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service:
        tower::Service<axum::extract::Request, Error = Infallible> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Response: IntoResponse + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
{
    Router::new()
        .nest_service("/static", ServeDir::new(dir))
        .route_service("/file", ServeFile::new(file))
        .layer(inner)
        .layer(ConditionalLayer::new())
}

fn no_layer() -> tower::layer::util::Identity {
    tower::layer::util::Identity::new()
}

const STATIC_PATHS: [&str; 2] = ["/static/notes.txt", "/file"];

/// tower-http 0.7's `ServeDir` and `ServeFile` set their own strong `ETag`
/// (from size and mtime) and `Last-Modified`. The layer keeps both and does
/// not read the file to hash it.
#[tokio::test]
async fn static_files_keep_their_own_validators() {
    let dir = TempDir::new();
    let contents = file_contents();
    let file = dir.write(FILE_NAME, &contents);
    let (_, last_modified) = last_modified_of(&file);
    let addr = serve_router(static_files(&dir.0, &file, no_layer())).await;

    for path in STATIC_PATHS {
        let fetched = http_get(addr, path).await;
        assert_eq!(fetched.status, StatusCode::OK, "{path}");
        assert_eq!(fetched.body, contents, "{path}");
        assert_eq!(fetched.header("last-modified"), last_modified, "{path}");
        assert_eq!(fetched.header("accept-ranges"), "bytes");
        let etag = fetched.etag();
        assert!(!is_weak(etag));
        assert_ne!(
            etag,
            expected_etag(&contents),
            "{path}: ServeDir's own tag was replaced by a hash"
        );
    }
}

/// `ServeDir` answers ranges itself: its `206` passes through untouched.
/// A HEAD's `Range` is ignored (RFC 9110 §14.2), so the GET the layer asks
/// for in its place carries none, and the HEAD gets the `200`'s head.
#[tokio::test]
async fn static_files_answer_their_own_ranges_and_head_ignores_them() {
    let dir = TempDir::new();
    let contents = file_contents();
    let file = dir.write(FILE_NAME, &contents);
    let addr = serve_router(static_files(&dir.0, &file, no_layer())).await;
    for path in STATIC_PATHS {
        let own_etag = http_get(addr, path).await.etag().to_owned();
        let range = [("range", "bytes=10-19")];
        let partial = fetch(addr, Method::GET, path, &range).await;
        assert_eq!(partial.status, StatusCode::PARTIAL_CONTENT, "{path}");
        assert_eq!(partial.header("content-range"), "bytes 10-19/3000");
        assert_eq!(&partial.body[..], &contents[10..20]);
        assert_eq!(partial.etag(), own_etag);
        let head = fetch(addr, Method::HEAD, path, &range).await;
        assert_eq!(head.status, StatusCode::OK, "{path}");
        assert!(!head.has("content-range"), "{path}");
        assert_eq!(head.header("content-length"), "3000");
    }
}

#[tokio::test]
async fn static_files_revalidate_with_if_none_match_and_if_modified_since() {
    let dir = TempDir::new();
    let file = dir.write(FILE_NAME, &file_contents());
    let (modified, last_modified) = last_modified_of(&file);
    let addr = serve_router(static_files(&dir.0, &file, no_layer())).await;

    for path in STATIC_PATHS {
        let etag = http_get(addr, path).await.etag().to_owned();

        let again = get_if_none_match(addr, path, &etag).await;
        assert_not_modified(&again, &etag);
        assert_eq!(again.header("last-modified"), last_modified);

        let again = fetch(
            addr,
            Method::GET,
            path,
            &[("if-modified-since", &last_modified)],
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());

        let earlier = httpdate::fmt_http_date(modified - Duration::from_secs(86_400));
        let fetched = fetch(addr, Method::GET, path, &[("if-modified-since", &earlier)]).await;
        assert_eq!(fetched.status, StatusCode::OK, "{path}");
        assert_eq!(fetched.body, file_contents());

        let fetched = get_if_none_match(addr, path, "\"some-other-version\"").await;
        assert_eq!(fetched.status, StatusCode::OK, "{path}");
        assert_eq!(fetched.etag(), etag);
    }
}

#[tokio::test]
async fn static_files_range_requests_pass_through() {
    let dir = TempDir::new();
    let contents = file_contents();
    let file = dir.write(FILE_NAME, &contents);
    let (_, last_modified) = last_modified_of(&file);
    let addr = serve_router(static_files(&dir.0, &file, no_layer())).await;

    for path in STATIC_PATHS {
        let etag = http_get(addr, path).await.etag().to_owned();

        let part = fetch(addr, Method::GET, path, &[("range", "bytes=100-199")]).await;
        assert_eq!(part.status, StatusCode::PARTIAL_CONTENT, "{path}");
        assert_eq!(
            part.header("content-range"),
            format!("bytes 100-199/{}", contents.len())
        );
        assert_eq!(part.body, contents[100..200], "{path}");
        assert_eq!(part.header("content-length"), "100");
        assert_eq!(part.etag(), etag);
        assert_eq!(part.header("last-modified"), last_modified);

        let tail = fetch(addr, Method::GET, path, &[("range", "bytes=-10")]).await;
        assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(tail.body, contents[contents.len() - 10..]);

        // A matching If-None-Match wins over the range (RFC 9110 §13.2.2).
        let again = fetch(
            addr,
            Method::GET,
            path,
            &[("range", "bytes=100-199"), ("if-none-match", &etag)],
        )
        .await;
        assert_not_modified(&again, &etag);
    }
}

#[tokio::test]
async fn static_files_head_matches_get() {
    let dir = TempDir::new();
    let contents = file_contents();
    let file = dir.write(FILE_NAME, &contents);
    let addr = serve_router(static_files(&dir.0, &file, no_layer())).await;

    for path in STATIC_PATHS {
        let get = http_get(addr, path).await;
        let head = fetch(addr, Method::HEAD, path, &[]).await;
        assert_eq!(head.status, StatusCode::OK, "{path}");
        assert!(head.body.is_empty());
        assert_eq!(head.etag(), get.etag());
        assert_eq!(head.header("last-modified"), get.header("last-modified"));
        assert_eq!(head.header("content-length"), contents.len().to_string());

        let again = fetch(addr, Method::HEAD, path, &[("if-none-match", get.etag())]).await;
        assert_not_modified(&again, get.etag());
    }
}

/// Removes the `ETag` a file service set (as an older `ServeDir` would
/// answer: `Last-Modified` only).
fn drop_etag(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().remove(ETAG);
    response
}

/// Without a tag of the file service, the layer hashes the file: the tag is
/// the content hash, `If-None-Match` with it gives `304` (the layer's; the
/// file service does not know this tag), `If-Modified-Since` still gives the
/// file service's own `304`, ranges and HEAD work.
#[tokio::test]
async fn static_files_without_their_own_etag_get_the_content_hash() {
    let dir = TempDir::new();
    let contents = file_contents();
    let file = dir.write(FILE_NAME, &contents);
    let (_, last_modified) = last_modified_of(&file);
    let addr = serve_router(static_files(
        &dir.0,
        &file,
        MapResponseLayer::new(drop_etag),
    ))
    .await;
    let etag = expected_etag(&contents);

    for path in STATIC_PATHS {
        let fetched = http_get(addr, path).await;
        assert_eq!(fetched.status, StatusCode::OK, "{path}");
        assert_eq!(fetched.body, contents);
        assert_eq!(fetched.etag(), etag, "{path}");
        assert_eq!(fetched.header("last-modified"), last_modified);

        let again = get_if_none_match(addr, path, &etag).await;
        assert_not_modified(&again, &etag);
        assert_eq!(again.header("last-modified"), last_modified);
        assert!(!again.has("content-type"));

        let again = fetch(
            addr,
            Method::GET,
            path,
            &[("if-modified-since", &last_modified)],
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");

        let head = fetch(addr, Method::HEAD, path, &[]).await;
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.etag(), etag);
        assert_eq!(head.header("content-length"), contents.len().to_string());
        assert!(head.body.is_empty());

        let part = fetch(addr, Method::GET, path, &[("range", "bytes=0-9")]).await;
        assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(part.body, contents[..10]);
        assert_eq!(
            part.header("content-range"),
            format!("bytes 0-9/{}", contents.len())
        );
    }
}

// ---------------------------------------------------------------------------
// TraceLayer, TimeoutLayer, SetResponseHeaderLayer
// ---------------------------------------------------------------------------

const TIMEOUT: Duration = Duration::from_millis(300);

/// Answers long after the timeout.
async fn slow_handler() -> &'static str {
    tokio::time::sleep(Duration::from_secs(10)).await;
    "too late"
}

/// Answers at once, but its body takes longer than the timeout to arrive.
async fn slow_body_handler() -> impl IntoResponse {
    let chunks = futures_util::stream::unfold(0u8, |sent| async move {
        if sent == 4 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some((
            Ok::<_, Infallible>(Bytes::from(format!("chunk {sent}\n"))),
            sent + 1,
        ))
    });
    ([(CONTENT_TYPE, "text/plain")], Body::from_stream(chunks))
}

fn slow_body_text() -> String {
    (0..4).map(|i| format!("chunk {i}\n")).collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Placement {
    /// Trace, Timeout and SetResponseHeader wrap the conditional layer.
    AroundConditional,
    /// The conditional layer wraps them.
    InsideConditional,
}

fn with_tower_http_layers(placement: Placement) -> Router {
    let routes = Router::new()
        .route("/doc", get(document_handler))
        .route("/slow", get(slow_handler))
        .route("/slow-body", get(slow_body_handler));
    let cache_control =
        SetResponseHeaderLayer::if_not_present(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let timeout = TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, TIMEOUT);
    match placement {
        Placement::AroundConditional => routes
            .layer(ConditionalLayer::new())
            .layer(cache_control)
            .layer(timeout)
            .layer(TraceLayer::new_for_http()),
        Placement::InsideConditional => routes
            .layer(TraceLayer::new_for_http())
            .layer(timeout)
            .layer(cache_control)
            .layer(ConditionalLayer::new()),
    }
}

const PLACEMENTS: [Placement; 2] = [Placement::AroundConditional, Placement::InsideConditional];

#[tokio::test]
async fn etag_304_and_cache_control_with_trace_timeout_and_set_header() {
    for placement in PLACEMENTS {
        let addr = serve_router(with_tower_http_layers(placement)).await;
        let fetched = http_get(addr, "/doc").await;
        assert_eq!(fetched.status, StatusCode::OK, "{placement:?}");
        assert_eq!(fetched.body, document().as_bytes());
        assert_eq!(fetched.etag(), expected_etag(document().as_bytes()));
        assert_eq!(fetched.header("cache-control"), "no-cache", "{placement:?}");

        let again = get_if_none_match(addr, "/doc", fetched.etag()).await;
        assert_not_modified(&again, fetched.etag());
        assert_eq!(
            again.header("cache-control"),
            "no-cache",
            "{placement:?}: the 304 must carry Cache-Control"
        );

        let head = fetch(addr, Method::HEAD, "/doc", &[]).await;
        assert_eq!(head.etag(), fetched.etag());
        assert_eq!(head.header("cache-control"), "no-cache");
    }
}

#[tokio::test]
async fn timeout_still_fires_for_a_slow_handler() {
    for placement in PLACEMENTS {
        let addr = serve_router(with_tower_http_layers(placement)).await;
        for method in [Method::GET, Method::HEAD] {
            let started = Instant::now();
            let fetched = fetch(addr, method.clone(), "/slow", &[("if-none-match", "*")]).await;
            assert_eq!(
                fetched.status,
                StatusCode::REQUEST_TIMEOUT,
                "{placement:?} {method}"
            );
            assert!(started.elapsed() < Duration::from_secs(2));
            assert!(fetched.body.is_empty());
            assert!(!fetched.has("etag"), "{placement:?}: a timeout got an ETag");
        }
    }
}

/// The layer reads a `200`'s body before it answers, inside its response
/// future. A `TimeoutLayer` around it therefore also bounds that read: a
/// handler that answers at once but streams its body slower than the timeout
/// gets the timeout status. With the timeout inside, only the handler's head
/// is timed, and the slow body arrives whole, with its tag.
#[tokio::test]
async fn timeout_around_the_layer_also_bounds_reading_the_body() {
    let addr = serve_router(with_tower_http_layers(Placement::AroundConditional)).await;
    let fetched = http_get(addr, "/slow-body").await;
    assert_eq!(fetched.status, StatusCode::REQUEST_TIMEOUT);

    let addr = serve_router(with_tower_http_layers(Placement::InsideConditional)).await;
    let fetched = http_get(addr, "/slow-body").await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, slow_body_text().as_bytes());
    assert_eq!(fetched.etag(), expected_etag(slow_body_text().as_bytes()));
}

/// The whole stack that docs-layer-order.md recommends.
#[tokio::test]
async fn the_recommended_stack() {
    let app = Router::new()
        .route("/doc", get(document_handler))
        .route("/slow", get(slow_handler))
        .layer(SetResponseHeaderLayer::if_not_present(
            CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(CompressionLayer::new())
        .layer(ConditionalLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http());
    let addr = serve_router(app).await;
    let mut tags = Vec::new();
    for encoding in ENCODINGS {
        let fetched = get_encoded(addr, "/doc", encoding).await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(fetched.etag(), expected_etag(&fetched.body), "{encoding}");
        assert_eq!(decode(&fetched).await, document().as_bytes());
        assert_eq!(fetched.header("cache-control"), "no-cache");
        let again = revalidate_encoded(addr, "/doc", encoding, fetched.etag()).await;
        assert_not_modified(&again, fetched.etag());
        assert_eq!(again.header("cache-control"), "no-cache");
        assert!(varies_on_accept_encoding(&again.headers), "{encoding}");
        tags.push(fetched.etag().to_owned());
    }
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), ENCODINGS.len());
    assert_eq!(
        http_get(addr, "/slow").await.status,
        StatusCode::REQUEST_TIMEOUT
    );
}

/// The layer decides on what it sees: `Cache-Control: no-store` set by a
/// `SetResponseHeaderLayer` inside it makes the response stream through with
/// no `ETag`; set outside it, the layer never saw it and tagged the body.
#[tokio::test]
async fn no_store_must_be_set_inside_the_layer_to_count() {
    let no_store =
        || SetResponseHeaderLayer::overriding(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let inside = Router::new()
        .route("/doc", get(document_handler))
        .layer(no_store())
        .layer(ConditionalLayer::new());
    let addr = serve_router(inside).await;
    let fetched = fetch(addr, Method::GET, "/doc", &[("if-none-match", "*")]).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.header("cache-control"), "no-store");
    assert!(!fetched.has("etag"));
    assert_eq!(fetched.body, document().as_bytes());

    let outside = Router::new()
        .route("/doc", get(document_handler))
        .layer(ConditionalLayer::new())
        .layer(no_store());
    let addr = serve_router(outside).await;
    let fetched = http_get(addr, "/doc").await;
    assert_eq!(fetched.header("cache-control"), "no-store");
    assert_eq!(fetched.etag(), expected_etag(document().as_bytes()));
}

/// Outside axum (a `ServiceBuilder` served by hyper), `TimeoutLayer` needs a
/// response body with `Default`, which `ConditionalBody` is not: box the body
/// between them and the stack works, timeout, `ETag` and `304` alike.
#[tokio::test]
async fn timeout_in_a_plain_service_builder_with_a_boxed_body() {
    let handler = service_fn(|request: Request<Incoming>| async move {
        if request.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(document()))))
    });
    let service = ServiceBuilder::new()
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            TIMEOUT,
        ))
        .layer(MapResponseBodyLayer::new(BodyExt::boxed_unsync))
        .layer(ConditionalLayer::new())
        .service(handler);
    let addr = serve_h1(service, H1Options::default()).await;

    let fetched = http_get(addr, "/doc").await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.etag(), expected_etag(document().as_bytes()));
    let again = get_if_none_match(addr, "/doc", fetched.etag()).await;
    assert_not_modified(&again, fetched.etag());

    let slow = http_get(addr, "/slow").await;
    assert_eq!(slow.status, StatusCode::REQUEST_TIMEOUT);
    assert!(!slow.has("etag"));
}

// ---------------------------------------------------------------------------
// CorsLayer
// ---------------------------------------------------------------------------

/// A cross-origin client can read a `304` or a `412` only when it carries
/// `Access-Control-Allow-Origin`. With `CorsLayer` inside the conditional
/// layer, both are made from the handler's answer, which has it: the `304`
/// keeps it, and so does the `412` (which otherwise keeps only validators).
#[tokio::test]
async fn cross_origin_304_and_412_keep_the_cors_headers() {
    use tower_http::cors::CorsLayer;

    const ORIGIN: &str = "https://app.example";
    let app = Router::new()
        .route("/data.json", get(document_handler))
        // A list of origins: the answer depends on the request's, and says
        // so with `Vary`.
        .layer(CorsLayer::new().allow_origin([HeaderValue::from_static(ORIGIN)]))
        .layer(ConditionalLayer::new());
    let addr = serve_router(app).await;
    let client = client();
    let cross_origin = |conditions: &[(&str, &str)]| {
        let mut builder = request(Method::GET, addr, "/data.json").header("origin", ORIGIN);
        for (name, value) in conditions {
            builder = builder.header(*name, *value);
        }
        builder.body(Full::default()).unwrap()
    };
    let first = send(&client, cross_origin(&[])).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("access-control-allow-origin"), ORIGIN);
    assert!(
        first.has("vary"),
        "CorsLayer says the answer varies by origin"
    );
    let etag = first.etag().to_owned();

    let not_modified = send(&client, cross_origin(&[("if-none-match", &etag)])).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.header("access-control-allow-origin"), ORIGIN);
    assert!(not_modified.has("vary"), "CorsLayer's Vary: origin is kept");

    let failed = send(&client, cross_origin(&[("if-match", "\"other\"")])).await;
    assert_eq!(failed.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(failed.header("access-control-allow-origin"), ORIGIN);
    assert!(failed.has("vary"), "CorsLayer's Vary: origin is kept");
    assert_eq!(failed.etag(), etag, "the 412 states the current tag");
    assert!(
        !failed.has("content-type"),
        "no representation metadata on a 412"
    );
}
