//! The `ETag` the layer computes (RFC 9110 §8.8.3): legal `etagc`
//! characters, and `W/` with the weak policy. What the opaque part is, is the
//! crate's choice: a hash of the exact body bytes, computed incrementally,
//! independent of chunking, deterministic, at least 128 bits.

use std::collections::HashSet;

use axum::body::Body;
use axum::extract::RawQuery;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tower_conditional::{ConditionalLayer, EtagPolicy};

use crate::support::*;

const TEXT: &str = "hello, conditional world";

/// 5000 bytes: more than one 1 KiB blake3 chunk, so chunking matters.
fn big() -> Vec<u8> {
    patterned(5000)
}

/// Splits `data` at the given (sorted, deduplicated) offsets.
fn split_at(data: &[u8], offsets: &[usize]) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let mut start = 0;
    for &offset in offsets {
        chunks.push(Bytes::copy_from_slice(&data[start..offset]));
        start = offset;
    }
    chunks.push(Bytes::copy_from_slice(&data[start..]));
    chunks
}

fn app(layer: ConditionalLayer) -> Router {
    Router::new()
        .route("/text", get(|| async { TEXT }))
        .route("/empty", get(|| async { "" }))
        .route(
            "/binary",
            get(|| async { (0u8..=255).cycle().take(1024).collect::<Vec<u8>>() }),
        )
        .route("/big/one", get(|| async { big() }))
        .route(
            "/big/bytes",
            get(|| async {
                Body::new(
                    FramesBody::chunks(big().into_iter().map(|b| vec![b])).pending_before_each(),
                )
            }),
        )
        .route(
            "/big/uneven",
            get(|| async {
                let data = big();
                Body::new(
                    FramesBody::chunks(split_at(
                        &data,
                        &[1, 2, 1025, 1030, 2048, 2049, 4096, 4999],
                    ))
                    .pending_before_each(),
                )
            }),
        )
        .route(
            "/big/with-empty-chunks",
            get(|| async {
                let data = big();
                let mut chunks = vec![Bytes::new()];
                for chunk in split_at(&data, &[700, 1400, 3000]) {
                    chunks.push(chunk);
                    chunks.push(Bytes::new());
                }
                Body::new(FramesBody::chunks(chunks).pending_before_each())
            }),
        )
        .route(
            // A handler that states a false length for its (streamed) body.
            "/big/false-length",
            get(|| async {
                let data = big();
                let body = Body::new(
                    FramesBody::chunks(split_at(&data, &[100, 2000])).pending_before_each(),
                );
                ([("content-length", "17")], body)
            }),
        )
        .route(
            // The same of a body known to be empty, which is not read.
            "/empty/false-length",
            get(|| async { ([("content-length", "17")], Body::empty()) }),
        )
        .route(
            // `?3,10,500` splits the big body at those offsets.
            "/big/split",
            get(|RawQuery(query): RawQuery| async move {
                let offsets: Vec<usize> = query
                    .unwrap_or_default()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().unwrap())
                    .collect();
                Body::new(FramesBody::chunks(split_at(&big(), &offsets)).pending_before_each())
            }),
        )
        .layer(layer)
}

async fn strong_server() -> std::net::SocketAddr {
    serve_router(app(ConditionalLayer::new())).await
}

#[tokio::test]
async fn etag_is_128_bits_of_blake3_of_the_body_in_base64url() {
    let addr = strong_server().await;
    let response = http_get(addr, "/text").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, TEXT);
    // An oracle written in this test (blake3 + base64url) and the public API agree.
    assert_eq!(response.etag(), expected_etag(TEXT.as_bytes()));
    assert_eq!(response.etag(), content_etag(TEXT.as_bytes()));
}

#[tokio::test]
async fn etag_has_at_least_128_bits_in_legal_etagc_characters() {
    let addr = strong_server().await;
    for path in ["/text", "/empty", "/binary", "/big/one"] {
        let response = http_get(addr, path).await;
        let etag = response.etag();
        let opaque = etag
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{path}: {etag} is not a quoted strong tag"));
        assert!(
            opaque
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)),
            "{path}: {etag} has characters outside etagc"
        );
        // Each base64url character carries 6 bits.
        assert!(
            opaque
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{path}: {etag} is not base64url"
        );
        assert!(
            opaque.len() * 6 >= 128,
            "{path}: {etag} has fewer than 128 bits"
        );
    }
}

#[tokio::test]
async fn etag_of_the_exact_bytes_for_binary_and_empty_bodies() {
    let addr = strong_server().await;
    let binary = http_get(addr, "/binary").await;
    let expected: Vec<u8> = (0u8..=255).cycle().take(1024).collect();
    assert_eq!(binary.body.as_ref(), expected.as_slice());
    assert_eq!(binary.etag(), expected_etag(&expected));

    let empty = http_get(addr, "/empty").await;
    assert!(empty.body.is_empty());
    assert_eq!(empty.etag(), expected_etag(b""));
    assert_eq!(empty.header("content-length"), "0");
}

#[tokio::test]
async fn same_body_in_one_or_many_chunks_gets_the_same_etag() {
    let addr = strong_server().await;
    let data = big();
    let expected = expected_etag(&data);
    for path in [
        "/big/one",
        "/big/bytes",
        "/big/uneven",
        "/big/with-empty-chunks",
    ] {
        let response = http_get(addr, path).await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert_eq!(
            response.body.as_ref(),
            data.as_slice(),
            "{path}: body bytes"
        );
        assert_eq!(response.etag(), expected, "{path}: etag");
        assert_eq!(
            response.header("content-length"),
            data.len().to_string(),
            "{path}: a hashed body has a known length"
        );
    }
}

#[tokio::test]
async fn a_false_content_length_from_the_handler_is_corrected() {
    let addr = strong_server().await;
    let data = big();
    let get = http_get(addr, "/big/false-length").await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(get.body.as_ref(), data.as_slice(), "every byte arrives");
    assert_eq!(get.header("content-length"), data.len().to_string());
    assert_eq!(get.etag(), expected_etag(&data));
    let head = send(
        &client(),
        request(http::Method::HEAD, addr, "/big/false-length")
            .body(Default::default())
            .unwrap(),
    )
    .await;
    assert_eq!(head.header("content-length"), data.len().to_string());
    assert_eq!(head.etag(), get.etag());
    let empty = http_get(addr, "/empty/false-length").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.header("content-length"), "0");
    assert!(empty.body.is_empty());
    assert_eq!(empty.etag(), expected_etag(b""));
    // hyper writes the length of a body known to be empty whatever the field
    // said; a layer outside this one (a cache, say) reads the field.
    use tower::{Layer, ServiceExt};
    let service = ConditionalLayer::new().layer(tower::service_fn(|_: http::Request<()>| async {
        let mut response = http::Response::new(http_body_util::Empty::<Bytes>::new());
        response
            .headers_mut()
            .insert("content-length", http::HeaderValue::from_static("17"));
        Ok::<_, std::convert::Infallible>(response)
    }));
    let response = service.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(response.headers()["content-length"], "0");
}

#[test]
fn etag_is_independent_of_any_chunking_property() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(strong_server());
    let data = big();
    let expected = expected_etag(&data);
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let offsets = proptest::collection::btree_set(1..data.len(), 0..40);
    runner
        .run(&offsets, |offsets| {
            let query: Vec<String> = offsets.iter().map(|o| o.to_string()).collect();
            let path = format!("/big/split?{}", query.join(","));
            let response = runtime.block_on(http_get(addr, &path));
            prop_assert_eq!(response.body.as_ref(), data.as_slice());
            prop_assert_eq!(response.etag(), expected.as_str());
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn etag_is_deterministic_across_requests_and_servers() {
    let first = strong_server().await;
    let second = strong_server().await;
    let a = http_get(first, "/big/uneven").await;
    let b = http_get(first, "/big/uneven").await;
    let c = http_get(second, "/big/one").await;
    assert_eq!(a.etag(), b.etag());
    assert_eq!(a.etag(), c.etag());
}

#[tokio::test]
async fn one_changed_byte_changes_the_etag() {
    let bodies: Vec<Vec<u8>> = (0..32u8)
        .map(|i| {
            let mut body = big();
            body[usize::from(i) * 100] ^= 1;
            body
        })
        .collect();
    let app = Router::new()
        .route(
            "/{i}",
            get(move |axum::extract::Path(i): axum::extract::Path<usize>| {
                let body = bodies[i].clone();
                async move { body }
            }),
        )
        .layer(ConditionalLayer::new());
    let addr = serve_router(app).await;
    let mut seen = HashSet::new();
    seen.insert(expected_etag(&big()));
    for i in 0..32 {
        let response = http_get(addr, &format!("/{i}")).await;
        assert_eq!(response.etag(), expected_etag(&response.body));
        assert!(
            seen.insert(response.etag().to_owned()),
            "body {i} got a tag already seen"
        );
    }
}

#[tokio::test]
async fn weak_policy_writes_w_slash_and_the_same_hash() {
    let addr = serve_router(app(ConditionalLayer::new().etag_policy(EtagPolicy::Weak))).await;
    for (path, body) in [
        ("/text", TEXT.as_bytes().to_vec()),
        ("/big/uneven", big()),
        ("/empty", Vec::new()),
    ] {
        let response = http_get(addr, path).await;
        assert_eq!(response.body.as_ref(), body.as_slice(), "{path}");
        assert_eq!(
            response.etag(),
            format!("W/{}", expected_etag(&body)),
            "{path}"
        );
    }
}

#[tokio::test]
async fn strong_policy_is_the_default_and_explicit() {
    let addr = serve_router(app(ConditionalLayer::new().etag_policy(EtagPolicy::Strong))).await;
    let response = http_get(addr, "/text").await;
    assert_eq!(response.etag(), expected_etag(TEXT.as_bytes()));
    assert!(!response.etag().starts_with("W/"));
}

/// The layer remembers recent small bodies (per thread) and compares instead
/// of hashing them again: a body served again must keep its tag, a body that
/// changed must get a new one, even when the change is in bytes its
/// fingerprint does not look at, and one remembered body must give strong and
/// weak layers their own tags.
#[tokio::test]
async fn remembered_bodies_keep_their_tags_and_changed_ones_get_new_tags() {
    use std::sync::{Arc, Mutex};

    let original = Bytes::from(patterned(4096));
    let mut changed = original.to_vec();
    // Byte 100: a byte the memo's fingerprint of a 4 KiB body does not read.
    changed[100] ^= 0x20;
    let changed = Bytes::from(changed);
    let current = Arc::new(Mutex::new(original.clone()));
    let served = current.clone();
    let document = move || {
        let body = served.lock().unwrap().clone();
        async move { body }
    };
    let app = Router::new()
        .route("/strong", get(document.clone()))
        .layer(ConditionalLayer::new())
        .merge(
            Router::new()
                .route("/weak", get(document))
                .layer(ConditionalLayer::new().etag_policy(EtagPolicy::Weak)),
        );
    let addr = serve_router(app).await;

    for body in [&original, &changed, &original] {
        *current.lock().unwrap() = body.clone();
        for _ in 0..4 {
            let strong = http_get(addr, "/strong").await;
            assert_eq!(strong.body, *body);
            assert_eq!(strong.etag(), expected_etag(body));
            let weak = http_get(addr, "/weak").await;
            assert_eq!(weak.etag(), format!("W/{}", expected_etag(body)));
        }
        let revalidated = get_if_none_match(addr, "/strong", &expected_etag(body)).await;
        assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    }
    let stale = get_if_none_match(addr, "/strong", &expected_etag(&changed)).await;
    assert_eq!(stale.status, StatusCode::OK, "the body changed back");
}
