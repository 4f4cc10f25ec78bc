//! Range requests (RFC 9110 §14) on the bodies the layer holds: `206` with
//! one part or `multipart/byteranges` (§14.6, §15.3.7), `416` (§15.5.17),
//! `If-Range` (§13.1.5), the order of §13.2.2 (a `304` or `412` wins over a
//! range), and what is never ranged: HEAD, an inner `206`, a body over the
//! limit, a weak tag, the setting off.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::{Extension, Router};
use http::{Method, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use tower_conditional::{Bypass, ConditionalLayer, EtagPolicy};

use crate::support::*;

/// The generated export: long enough for several chunks and ranges.
const EXPORT_LEN: usize = 20_000;

fn export() -> Vec<u8> {
    patterned(EXPORT_LEN)
}

/// A generated body in several chunks, as a streaming handler makes it.
fn export_body() -> Body {
    Body::new(FramesBody::split(export().into(), 7).pending_before_each())
}

fn routes() -> Router {
    Router::new()
        .route(
            "/export.csv",
            get(|| async {
                response(
                    StatusCode::OK,
                    &[
                        ("content-type", "text/csv"),
                        ("cache-control", "max-age=60"),
                        ("vary", "accept-encoding"),
                        ("content-location", "/export.csv"),
                        ("expires", "Thu, 01 Jan 2037 00:00:00 GMT"),
                    ],
                    export_body(),
                )
            }),
        )
        .route(
            "/dated",
            get(|| async {
                response(
                    StatusCode::OK,
                    &[("last-modified", MODIFIED)],
                    Body::from(export()),
                )
            }),
        )
        .route("/small", get(|| async { "0123456789" }))
        .route(
            "/own-206",
            get(|| async {
                response(
                    StatusCode::PARTIAL_CONTENT,
                    &[("content-range", "bytes 0-4/100")],
                    Body::from("01234"),
                )
            }),
        )
        .route(
            "/gzip",
            get(|| async {
                response(
                    StatusCode::OK,
                    &[("content-encoding", "gzip")],
                    Body::from(export()),
                )
            }),
        )
        .route(
            "/no-ranges",
            get(|| async {
                response(
                    StatusCode::OK,
                    &[("accept-ranges", "none")],
                    Body::from(export()),
                )
            }),
        )
        .route(
            "/bypass",
            get(|| async { (Extension(Bypass), Body::from(export())) }),
        )
        .route("/empty", get(|| async { "" }))
        .route(
            "/gen/{len}/{chunks}",
            get(|Path((len, chunks)): Path<(usize, usize)>| async move {
                Body::new(FramesBody::split(patterned(len).into(), chunks.max(1)))
            }),
        )
}

const MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

async fn serve(layer: ConditionalLayer) -> SocketAddr {
    serve_router(routes().layer(layer)).await
}

async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Fetched {
    fetch(addr, Method::GET, path, headers).await
}

fn assert_single_part(fetched: &Fetched, first: usize, last: usize, body: &[u8]) {
    assert_eq!(fetched.status, StatusCode::PARTIAL_CONTENT, "{fetched:?}");
    assert_eq!(
        fetched.header("content-range"),
        format!("bytes {first}-{last}/{}", body.len())
    );
    assert_eq!(
        fetched.header("content-length"),
        (last - first + 1).to_string()
    );
    assert_eq!(&fetched.body[..], &body[first..=last]);
}

/// One part of a `multipart/byteranges` body: its `Content-Type`, its
/// `Content-Range` and its bytes.
#[derive(Debug)]
struct Part {
    content_type: Option<String>,
    content_range: String,
    bytes: Vec<u8>,
}

/// Reads a `multipart/byteranges` body (§14.6, RFC 2046 §5.1.1) back, each
/// part's length taken from its `Content-Range`, so part bytes that happen
/// to look like a delimiter cannot confuse it.
fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {content_type}"));
    let delimiter = format!("--{boundary}");
    let mut rest = body
        .strip_prefix(delimiter.as_bytes())
        .expect("opens with the boundary");
    let mut parts = Vec::new();
    loop {
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part header end");
        let head = std::str::from_utf8(&rest[..end]).unwrap();
        rest = &rest[end + 4..];
        let mut content_type = None;
        let mut content_range = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(": ").expect("a field line");
            match name.to_ascii_lowercase().as_str() {
                "content-type" => content_type = Some(value.to_owned()),
                "content-range" => content_range = Some(value.to_owned()),
                other => panic!("unexpected part field {other}"),
            }
        }
        let content_range = content_range.expect("each part has a Content-Range");
        let (first, last) = positions(&content_range);
        let len = last - first + 1;
        parts.push(Part {
            content_type,
            content_range,
            bytes: rest[..len].to_vec(),
        });
        rest = rest[len..]
            .strip_prefix(b"\r\n")
            .and_then(|r| r.strip_prefix(delimiter.as_bytes()))
            .expect("a delimiter after the part");
        if let Some(after) = rest.strip_prefix(b"--") {
            assert_eq!(after, b"\r\n", "nothing after the close delimiter");
            return parts;
        }
    }
}

/// `(first, last)` of `bytes first-last/length`.
fn positions(content_range: &str) -> (usize, usize) {
    let spec = content_range
        .strip_prefix("bytes ")
        .and_then(|r| r.split_once('/'))
        .map(|(range, _)| range)
        .unwrap_or_else(|| panic!("Content-Range {content_range}"));
    let (first, last) = spec.split_once('-').unwrap();
    (first.parse().unwrap(), last.parse().unwrap())
}

/// `Accept-Ranges` is a MAY (RFC 9110 §14.3): it is said past a small body,
/// where resuming or seeking is worth a header on every response; a small
/// body's range is served all the same.
#[tokio::test]
async fn a_small_body_does_not_advertise_ranges_but_serves_them() {
    let addr = serve(ConditionalLayer::new()).await;
    let whole = http_get(addr, "/small").await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(!whole.has("accept-ranges"), "{:?}", whole.headers);
    let fetched = get_with(addr, "/small", &[("range", "bytes=2-4")]).await;
    assert_eq!(fetched.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&fetched.body[..], b"234");
    assert_eq!(fetched.header("content-range"), "bytes 2-4/10");
    assert_eq!(fetched.header("accept-ranges"), "bytes");
}

/// "Longer than 16 KiB", as documented: the boundary itself, for a plain
/// GET and for one whose preconditions let it through.
#[tokio::test]
async fn accept_ranges_starts_past_16_kib() {
    use axum::routing::get;
    let router = axum::Router::new()
        .route("/at", get(|| async { vec![b'a'; 16 * 1024] }))
        .route("/past", get(|| async { vec![b'p'; 16 * 1024 + 1] }))
        .layer(ConditionalLayer::new());
    let addr = serve_router(router).await;
    for (path, advertised) in [("/at", false), ("/past", true)] {
        for headers in [&[][..], &[("if-none-match", "\"other\"")][..]] {
            let fetched = get_with(addr, path, headers).await;
            assert_eq!(fetched.status, StatusCode::OK, "{path} {headers:?}");
            assert_eq!(
                fetched.headers.get("accept-ranges").map(|v| v.as_bytes()),
                advertised.then_some(&b"bytes"[..]),
                "{path} {headers:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_single_range_is_a_206_with_the_200s_fields() {
    let addr = serve(ConditionalLayer::new()).await;
    let whole = http_get(addr, "/export.csv").await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.header("accept-ranges"), "bytes");
    let body = export();
    assert_eq!(&whole.body[..], &body[..]);

    // A range across the handler's chunks.
    let fetched = get_with(addr, "/export.csv", &[("range", "bytes=2000-9999")]).await;
    assert_single_part(&fetched, 2000, 9999, &body);
    // §15.3.7: the fields a 200 would carry that a 206 must repeat, and the
    // 200's Content-Type for one part.
    for name in [
        "etag",
        "cache-control",
        "vary",
        "content-location",
        "expires",
        "content-type",
        "accept-ranges",
    ] {
        assert_eq!(fetched.header(name), whole.header(name), "{name}");
    }
    assert!(fetched.has("date"));
    assert_eq!(fetched.etag(), expected_etag(&body), "the tag of the whole");

    // Open-ended, and a last-pos past the end (§14.1.2).
    let open = get_with(addr, "/export.csv", &[("range", "bytes=19990-")]).await;
    assert_single_part(&open, 19_990, EXPORT_LEN - 1, &body);
    let past = get_with(addr, "/export.csv", &[("range", "bytes=0-99999")]).await;
    assert_single_part(&past, 0, EXPORT_LEN - 1, &body);
}

#[tokio::test]
async fn a_suffix_range_is_the_end_of_the_body() {
    let addr = serve(ConditionalLayer::new()).await;
    let body = export();
    let fetched = get_with(addr, "/export.csv", &[("range", "bytes=-500")]).await;
    assert_single_part(&fetched, EXPORT_LEN - 500, EXPORT_LEN - 1, &body);
    // A suffix longer than the body is all of it (§14.1.2).
    let longer = get_with(addr, "/export.csv", &[("range", "bytes=-999999")]).await;
    assert_single_part(&longer, 0, EXPORT_LEN - 1, &body);
}

#[tokio::test]
async fn several_ranges_are_multipart_byteranges() {
    let addr = serve(ConditionalLayer::new()).await;
    let body = export();
    let fetched = get_with(
        addr,
        "/export.csv",
        &[("range", "bytes=0-9, 15000-15099, -10")],
    )
    .await;
    assert_eq!(fetched.status, StatusCode::PARTIAL_CONTENT);
    // §15.3.7.2: no Content-Range in the head of a multipart 206.
    assert!(!fetched.has("content-range"));
    assert_eq!(
        fetched.header("content-length"),
        fetched.body.len().to_string()
    );
    let parts = parse_multipart(fetched.header("content-type"), &fetched.body);
    let expected = [(0, 9), (15_000, 15_099), (EXPORT_LEN - 10, EXPORT_LEN - 1)];
    assert_eq!(parts.len(), expected.len(), "{parts:?}");
    for (part, (first, last)) in parts.iter().zip(expected) {
        assert_eq!(part.content_type.as_deref(), Some("text/csv"));
        assert_eq!(
            part.content_range,
            format!("bytes {first}-{last}/{EXPORT_LEN}")
        );
        assert_eq!(part.bytes, &body[first..=last]);
    }
    // The same request gets the same bytes: the boundary follows the body.
    let again = get_with(
        addr,
        "/export.csv",
        &[("range", "bytes=0-9, 15000-15099, -10")],
    )
    .await;
    assert_eq!(again.body, fetched.body);

    // Overlapping and adjacent ranges are one part (§14.2 allows it).
    let merged = get_with(addr, "/export.csv", &[("range", "bytes=0-9,5-19,20-29")]).await;
    assert_single_part(&merged, 0, 29, &body);
}

#[tokio::test]
async fn an_unsatisfiable_range_is_a_416_with_the_length() {
    let addr = serve(ConditionalLayer::new()).await;
    for range in ["bytes=20000-", "bytes=20000-20010, 30000-"] {
        let fetched = get_with(addr, "/export.csv", &[("range", range)]).await;
        assert_eq!(fetched.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(fetched.header("content-range"), "bytes */20000");
        assert!(fetched.body.is_empty());
        assert!(!fetched.has("content-type"));
        assert_eq!(fetched.etag(), expected_etag(&export()));
    }
    // An empty body has no byte to range over (§14.1.2).
    let empty = get_with(addr, "/empty", &[("range", "bytes=0-")]).await;
    assert_eq!(empty.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(empty.header("content-range"), "bytes */0");
    // A suffix of it is satisfiable but selects nothing: the whole 200.
    let suffix = get_with(addr, "/empty", &[("range", "bytes=-5")]).await;
    assert_eq!(suffix.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_ranges_and_other_units_are_ignored() {
    let addr = serve(ConditionalLayer::new()).await;
    let body = export();
    for range in [
        "bytes=9-0",
        "bytes=a-b",
        "bytes=",
        "bytes 0-9",
        "items=0-9",
        "bytes=0-9;x",
        "bytes=--1",
    ] {
        let fetched = get_with(addr, "/export.csv", &[("range", range)]).await;
        assert_eq!(fetched.status, StatusCode::OK, "{range}");
        assert_eq!(&fetched.body[..], &body[..], "{range}");
        assert_eq!(fetched.header("accept-ranges"), "bytes");
    }
    // Range is not a list: two field lines are malformed (§5.3).
    let twice = get_with(
        addr,
        "/export.csv",
        &[("range", "bytes=0-9"), ("range", "bytes=10-19")],
    )
    .await;
    assert_eq!(twice.status, StatusCode::OK);
}

#[tokio::test]
async fn if_range_lets_only_the_current_strong_validator_through() {
    let addr = serve(ConditionalLayer::new()).await;
    let body = export();
    let etag = http_get(addr, "/export.csv").await.etag().to_owned();
    let range = ("range", "bytes=100-199");

    let current = get_with(addr, "/export.csv", &[range, ("if-range", &etag)]).await;
    assert_single_part(&current, 100, 199, &body);

    let weak = format!("W/{etag}");
    let stale = [
        "\"an-old-version\"",
        weak.as_str(),
        MODIFIED,
        "not a validator",
    ];
    for if_range in stale {
        let fetched = get_with(addr, "/export.csv", &[range, ("if-range", if_range)]).await;
        assert_eq!(fetched.status, StatusCode::OK, "{if_range}");
        assert_eq!(&fetched.body[..], &body[..], "{if_range}");
        assert_eq!(fetched.etag(), etag);
    }

    // A date equal to a Last-Modified that the Date shows to be strong
    // (§8.8.2.2: a second or more earlier): the range.
    let dated = get_with(addr, "/dated", &[range, ("if-range", MODIFIED)]).await;
    assert_single_part(&dated, 100, 199, &body);
    let earlier = get_with(
        addr,
        "/dated",
        &[range, ("if-range", "Sun, 06 Nov 1994 08:49:36 GMT")],
    )
    .await;
    assert_eq!(earlier.status, StatusCode::OK);
}

#[tokio::test]
async fn preconditions_come_before_the_range() {
    let addr = serve(ConditionalLayer::new()).await;
    let etag = http_get(addr, "/export.csv").await.etag().to_owned();
    let range = ("range", "bytes=0-9");
    // §13.2.2 step 5: a 304 wins over a range.
    let not_modified = get_with(addr, "/export.csv", &[range, ("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(!not_modified.has("content-range"));
    assert!(not_modified.body.is_empty());
    // A failed If-Match is a 412, range or not.
    let failed = get_with(addr, "/export.csv", &[range, ("if-match", "\"other\"")]).await;
    assert_eq!(failed.status, StatusCode::PRECONDITION_FAILED);
    // A precondition that holds lets the range through.
    let holds = get_with(addr, "/export.csv", &[range, ("if-match", &etag)]).await;
    assert_single_part(&holds, 0, 9, &export());
    let changed = get_with(addr, "/export.csv", &[range, ("if-none-match", "\"old\"")]).await;
    assert_single_part(&changed, 0, 9, &export());
}

#[tokio::test]
async fn head_ignores_range() {
    for layer in [
        ConditionalLayer::new(),
        ConditionalLayer::new().head_requests(tower_conditional::HeadRequests::Unchanged),
    ] {
        let addr = serve(layer).await;
        // With a precondition too, which makes the layer read the request's
        // fields: the Range is still not among them.
        for fields in [
            &[("range", "bytes=0-9")][..],
            &[("range", "bytes=0-9"), ("if-none-match", "\"old\"")],
        ] {
            let fetched = fetch(addr, Method::HEAD, "/export.csv", fields).await;
            assert_eq!(fetched.status, StatusCode::OK, "{fields:?}");
            assert!(!fetched.has("content-range"));
            assert_eq!(fetched.header("content-length"), EXPORT_LEN.to_string());
            assert_eq!(fetched.header("accept-ranges"), "bytes");
            assert!(fetched.body.is_empty());
        }
    }
}

#[tokio::test]
async fn an_inner_206_passes_untouched() {
    let addr = serve(ConditionalLayer::new()).await;
    let fetched = get_with(addr, "/own-206", &[("range", "bytes=0-1")]).await;
    assert_eq!(fetched.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(fetched.header("content-range"), "bytes 0-4/100");
    assert_eq!(&fetched.body[..], b"01234");
    assert!(!fetched.has("etag"));
    assert!(!fetched.has("accept-ranges"));
}

#[tokio::test]
async fn a_body_over_the_limit_is_never_ranged() {
    let addr = serve(ConditionalLayer::new().max_hashed_body_size(4096)).await;
    let fetched = get_with(addr, "/export.csv", &[("range", "bytes=0-9")]).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(&fetched.body[..], &export()[..]);
    assert!(!fetched.has("accept-ranges"));
    assert!(!fetched.has("etag"));
}

#[tokio::test]
async fn no_ranges_when_turned_off_weak_bypassed_or_refused() {
    let range = ("range", "bytes=0-9");
    let off = serve(ConditionalLayer::new().serve_ranges(false)).await;
    let weak = serve(ConditionalLayer::new().etag_policy(EtagPolicy::Weak)).await;
    for addr in [off, weak] {
        let fetched = get_with(addr, "/export.csv", &[range]).await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(&fetched.body[..], &export()[..]);
        assert!(!fetched.has("accept-ranges"));
        assert!(fetched.has("etag"));
    }
    let on = serve(ConditionalLayer::new()).await;
    let bypassed = get_with(on, "/bypass", &[range]).await;
    assert_eq!(bypassed.status, StatusCode::OK);
    assert!(!bypassed.has("accept-ranges") && !bypassed.has("etag"));
    // The handler's `Accept-Ranges: none` stays, and is honoured (§14.3).
    let refused = get_with(on, "/no-ranges", &[range]).await;
    assert_eq!(refused.status, StatusCode::OK);
    assert_eq!(refused.header("accept-ranges"), "none");
    assert_eq!(refused.body.len(), EXPORT_LEN);
}

#[tokio::test]
async fn an_encoded_body_gets_one_range_of_its_encoded_bytes() {
    let addr = serve(ConditionalLayer::new()).await;
    let body = export();
    let one = get_with(addr, "/gzip", &[("range", "bytes=10-19")]).await;
    assert_single_part(&one, 10, 19, &body);
    assert_eq!(one.header("content-encoding"), "gzip");
    // Several: the whole 200, not a multipart body that would claim to be
    // gzip-encoded itself.
    let several = get_with(addr, "/gzip", &[("range", "bytes=0-9,100-109")]).await;
    assert_eq!(several.status, StatusCode::OK);
    assert_eq!(several.body.len(), EXPORT_LEN);
}

/// §14.2 and §17.15: hostile lists cost no more than the whole body.
#[tokio::test]
async fn hostile_range_lists_are_bounded() {
    let addr = serve(ConditionalLayer::new()).await;
    let body = export();
    // More than 100 range-specs: ignored.
    let many: Vec<String> = (0..101).map(|i| format!("{}-{}", i * 10, i * 10)).collect();
    let many = format!("bytes={}", many.join(","));
    let fetched = get_with(addr, "/export.csv", &[("range", &many)]).await;
    assert_eq!(fetched.status, StatusCode::OK);
    // A hundred copies of the whole body: coalesced into one part.
    let overlapping = format!("bytes={}", vec!["0-"; 100].join(","));
    let fetched = get_with(addr, "/export.csv", &[("range", &overlapping)]).await;
    assert_single_part(&fetched, 0, EXPORT_LEN - 1, &body);
    // Many one-byte ranges of a short body: the multipart answer would be
    // longer than the body, which is sent instead.
    let tiny: Vec<String> = (0..100).map(|i| format!("{}-{}", i * 3, i * 3)).collect();
    let tiny = format!("bytes={}", tiny.join(","));
    let fetched = get_with(addr, "/gen/300/3", &[("range", &tiny)]).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body.len(), 300);
}

/// Whatever the body, its chunking and the range-specs asked for, every
/// `206` holds exactly the bytes of the `200` that its `Content-Range`s
/// name, and they are the bytes the range-specs name (§14.1.2).
#[test]
fn every_206_is_the_slice_of_the_200() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = runtime.block_on(serve(ConditionalLayer::new()));
    let spec = prop_oneof![
        (0usize..1200, 0usize..1200).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (0usize..1200).prop_map(|a| format!("{a}-")),
        (1usize..1200).prop_map(|n| format!("-{n}")),
    ];
    let strategy = (
        0usize..1000,
        1usize..6,
        proptest::collection::vec(spec, 1..6),
    );
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&strategy, |(len, chunks, specs)| {
            let path = format!("/gen/{len}/{chunks}");
            let field = format!("bytes={}", specs.join(","));
            let (whole, ranged) = runtime.block_on(async {
                (
                    http_get(addr, &path).await,
                    get_with(addr, &path, &[("range", &field)]).await,
                )
            });
            let body = &whole.body[..];
            prop_assert_eq!(body, &patterned(len)[..]);
            // The bytes the range-specs name, as a model apart from the
            // layer's code.
            let mut named = vec![false; len];
            for spec in &specs {
                let (first, last) = match spec.split_once('-').unwrap() {
                    ("", n) => (len.saturating_sub(n.parse().unwrap()), len),
                    (a, "") => (a.parse().unwrap(), len),
                    (a, b) => (
                        a.parse().unwrap(),
                        (b.parse::<usize>().unwrap() + 1).min(len),
                    ),
                };
                for byte in named.iter_mut().take(last).skip(first) {
                    *byte = true;
                }
            }
            let parts: Vec<(String, Vec<u8>)> = match ranged.status {
                StatusCode::PARTIAL_CONTENT if ranged.has("content-range") => vec![(
                    ranged.header("content-range").to_owned(),
                    ranged.body.to_vec(),
                )],
                StatusCode::PARTIAL_CONTENT => {
                    parse_multipart(ranged.header("content-type"), &ranged.body)
                        .into_iter()
                        .map(|part| (part.content_range, part.bytes))
                        .collect()
                }
                StatusCode::RANGE_NOT_SATISFIABLE => {
                    prop_assert!(!named.contains(&true));
                    prop_assert_eq!(ranged.header("content-range"), format!("bytes */{len}"));
                    return Ok(());
                }
                StatusCode::OK => {
                    // The whole, when the parts would be longer (or the
                    // body is empty).
                    prop_assert_eq!(&ranged.body[..], body);
                    return Ok(());
                }
                other => panic!("{other}"),
            };
            prop_assert_eq!(ranged.etag(), whole.etag());
            let mut covered = vec![false; len];
            for (content_range, bytes) in &parts {
                let suffix = format!("/{len}");
                prop_assert!(content_range.ends_with(&suffix), "{}", content_range);
                let (first, last) = positions(content_range);
                prop_assert_eq!(&bytes[..], &body[first..=last]);
                for byte in &mut covered[first..=last] {
                    prop_assert!(!*byte, "parts overlap");
                    *byte = true;
                }
            }
            prop_assert_eq!(covered, named);
            Ok(())
        })
        .unwrap();
}
