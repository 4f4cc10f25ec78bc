//! Validators looked up before the handler runs, through
//! a real TCP socket, with a counter that proves when the handler did not run.

use std::future::ready;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_LOCATION, CONTENT_TYPE, ETAG, EXPIRES, VARY,
};

use crate::memory_store::{app, Store};
use crate::support::serve_router;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tower_conditional::{
    ConditionalLayer, EntityTag, LookupFailure, LookupRequest, ResourceState, Validators,
};

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), client.request(request))
        .await
        .expect("response in time")
        .expect("a response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

async fn store_with_item() -> (SocketAddr, Store, String) {
    let store = Store::default();
    let addr = serve_router(app(store.clone())).await;
    let created = send(
        addr,
        Method::PUT,
        "/items/a",
        &[("if-none-match", "*")],
        r#"{"v":1}"#,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let etag = created.headers["etag"].to_str().unwrap().to_owned();
    (addr, store, etag)
}

#[tokio::test]
async fn matching_get_is_answered_304_without_running_the_handler() {
    let (addr, store, etag) = store_with_item().await;
    let before = store.handler_runs();
    let answer = send(
        addr,
        Method::GET,
        "/items/a",
        &[("if-none-match", &etag)],
        "",
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_MODIFIED);
    assert_eq!(answer.headers["etag"], etag.as_str());
    assert_eq!(
        answer.headers["cache-control"], "no-cache",
        "as the 200 says"
    );
    assert!(answer.body.is_empty());
    assert_eq!(store.handler_runs(), before, "the GET handler must not run");

    let head = send(
        addr,
        Method::HEAD,
        "/items/a",
        &[("if-none-match", &etag)],
        "",
    )
    .await;
    assert_eq!(head.status, StatusCode::NOT_MODIFIED);
    assert_eq!(store.handler_runs(), before);

    let stale = send(
        addr,
        Method::GET,
        "/items/a",
        &[("if-none-match", "\"r999\"")],
        "",
    )
    .await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.headers["etag"], etag.as_str());
    assert_eq!(store.handler_runs(), before + 1);
}

#[tokio::test]
async fn stale_if_match_gets_412_and_leaves_the_store_unchanged() {
    let (addr, store, _) = store_with_item().await;
    let before = store.handler_runs();
    let answer = send(
        addr,
        Method::PUT,
        "/items/a",
        &[("if-match", "\"r0\"")],
        r#"{"v":"lost"}"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::PRECONDITION_FAILED);
    assert!(answer.body.is_empty());
    assert_eq!(
        answer.headers["etag"], "\"r1\"",
        "the 412 tells the current tag"
    );
    assert_eq!(store.handler_runs(), before, "the PUT handler must not run");
    assert_eq!(store.value("a"), Some(json!({"v": 1})));
}

#[tokio::test]
async fn current_if_match_updates_and_returns_the_new_etag() {
    let (addr, store, etag) = store_with_item().await;
    let answer = send(
        addr,
        Method::PUT,
        "/items/a",
        &[("if-match", &etag)],
        r#"{"v":2}"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let new_etag = answer.headers["etag"].to_str().unwrap();
    assert_ne!(new_etag, etag);
    assert_eq!(store.value("a"), Some(json!({"v": 2})));
    // The old tag is now stale; the new one is current.
    let stale = send(
        addr,
        Method::PUT,
        "/items/a",
        &[("if-match", &etag)],
        r#"{"v":3}"#,
    )
    .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let fresh = send(
        addr,
        Method::PUT,
        "/items/a",
        &[("if-match", new_etag)],
        r#"{"v":3}"#,
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(store.value("a"), Some(json!({"v": 3})));
}

#[tokio::test]
async fn weak_if_match_never_matches() {
    let (addr, store, etag) = store_with_item().await;
    let weak = format!("W/{etag}");
    let answer = send(
        addr,
        Method::PUT,
        "/items/a",
        &[("if-match", &weak)],
        r#"{"v":9}"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(store.value("a"), Some(json!({"v": 1})));
}

#[tokio::test]
async fn create_only_put_with_if_none_match_star() {
    let (addr, store, _) = store_with_item().await;
    let before = store.handler_runs();
    let again = send(
        addr,
        Method::PUT,
        "/items/a",
        &[("if-none-match", "*")],
        r#"{"v":"dup"}"#,
    )
    .await;
    assert_eq!(again.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(store.handler_runs(), before);
    assert_eq!(store.value("a"), Some(json!({"v": 1})));

    let fresh = send(
        addr,
        Method::PUT,
        "/items/b",
        &[("if-none-match", "*")],
        r#"{"v":"b"}"#,
    )
    .await;
    assert_eq!(fresh.status, StatusCode::CREATED);
    assert_eq!(store.value("b"), Some(json!({"v": "b"})));
}

#[tokio::test]
async fn if_match_star_needs_an_existing_item() {
    let (addr, store, etag) = store_with_item().await;
    let missing = send(
        addr,
        Method::PUT,
        "/items/zz",
        &[("if-match", "*")],
        r#"{"v":0}"#,
    )
    .await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(store.value("zz"), None);
    let existing = send(
        addr,
        Method::PUT,
        "/items/a",
        &[("if-match", "*")],
        r#"{"v":5}"#,
    )
    .await;
    assert_eq!(existing.status, StatusCode::OK);
    let deleted = send(addr, Method::DELETE, "/items/a", &[("if-match", &etag)], "").await;
    assert_eq!(
        deleted.status,
        StatusCode::PRECONDITION_FAILED,
        "tag went stale with the PUT"
    );
    let current = existing.headers["etag"].to_str().unwrap();
    let deleted = send(
        addr,
        Method::DELETE,
        "/items/a",
        &[("if-match", current)],
        "",
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(store.value("a"), None);
}

#[tokio::test]
async fn get_of_a_missing_item_reaches_the_handler() {
    let (addr, store, _) = store_with_item().await;
    let before = store.handler_runs();
    let answer = send(
        addr,
        Method::GET,
        "/items/nope",
        &[("if-match", "\"r1\"")],
        "",
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::NOT_FOUND,
        "a 404 is not subject to preconditions"
    );
    assert_eq!(store.handler_runs(), before + 1);
}

/// An app whose lookup answers from a fixed table, with a counting handler.
fn table_app(
    handler_etag: Option<&'static str>,
    state: ResourceState,
) -> (Router, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let handler = move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut headers = HeaderMap::new();
            if let Some(tag) = handler_etag {
                headers.insert("etag", tag.parse().unwrap());
            }
            (headers, "the body")
        }
    };
    let lookup = move |_| ready(state.clone());
    let router = Router::new()
        .route("/", get(handler.clone()).put(handler))
        .layer(ConditionalLayer::new().lookup_validators(lookup));
    (router, runs)
}

#[tokio::test]
async fn unknown_behaves_as_without_a_lookup() {
    let (router, runs) = table_app(None, ResourceState::Unknown);
    let addr = serve_router(router).await;
    let answer = send(addr, Method::GET, "/", &[], "").await;
    let hashed = EntityTag::from_content(b"the body").to_string();
    assert_eq!(answer.headers["etag"], hashed.as_str());
    let again = send(addr, Method::GET, "/", &[("if-none-match", &hashed)], "").await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    // Unknown: the handler ran both times, the 304 came from the hash.
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let put = send(addr, Method::PUT, "/", &[("if-match", "\"other\"")], "").await;
    assert_eq!(
        put.status,
        StatusCode::OK,
        "without validators a write is not refused"
    );
}

#[tokio::test]
async fn looked_up_etag_is_put_on_the_200_and_the_handler_tag_wins() {
    let looked_up = Validators::new()
        .with_etag(EntityTag::strong("from-lookup").unwrap())
        .with_last_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let (router, _) = table_app(None, looked_up.clone().into());
    let addr = serve_router(router).await;
    let answer = send(addr, Method::GET, "/", &[], "").await;
    assert_eq!(answer.headers["etag"], "\"from-lookup\"");
    assert_eq!(
        answer.headers["last-modified"],
        "Tue, 14 Nov 2023 22:13:20 GMT"
    );
    assert_eq!(&answer.body[..], b"the body");

    let (router, _) = table_app(Some("\"from-handler\""), looked_up.into());
    let addr = serve_router(router).await;
    let answer = send(addr, Method::GET, "/", &[], "").await;
    assert_eq!(answer.headers["etag"], "\"from-handler\"");
}

#[tokio::test]
async fn if_unmodified_since_against_the_looked_up_date() {
    let modified = UNIX_EPOCH + Duration::from_secs(1_700_000_000); // Tue, 14 Nov 2023 22:13:20 GMT
    let (router, runs) = table_app(None, Validators::new().with_last_modified(modified).into());
    let addr = serve_router(router).await;
    let older = [("if-unmodified-since", "Tue, 14 Nov 2023 22:13:19 GMT")];
    let refused = send(addr, Method::PUT, "/", &older, "").await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        refused.headers["last-modified"],
        "Tue, 14 Nov 2023 22:13:20 GMT"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let same = [("if-unmodified-since", "Tue, 14 Nov 2023 22:13:20 GMT")];
    let accepted = send(addr, Method::PUT, "/", &same, "").await;
    assert_eq!(accepted.status, StatusCode::OK);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let since = [("if-modified-since", "Tue, 14 Nov 2023 22:13:20 GMT")];
    let not_modified = send(addr, Method::GET, "/", &since, "").await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the 304 came from the lookup"
    );
}

#[tokio::test]
async fn not_modified_wins_over_a_range() {
    let current = Validators::new().with_etag(EntityTag::strong("v1").unwrap());
    let (router, runs) = table_app(None, current.into());
    let addr = serve_router(router).await;
    let headers = [("if-none-match", "\"v1\""), ("range", "bytes=0-2")];
    let answer = send(addr, Method::GET, "/", &headers, "").await;
    assert_eq!(answer.status, StatusCode::NOT_MODIFIED);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_early_304_repeats_the_fields_a_200_would_carry() {
    let looked_up = Validators::new()
        .with_etag(EntityTag::strong("v7").unwrap())
        .with_not_modified_header(CACHE_CONTROL, HeaderValue::from_static("max-age=60"))
        .with_not_modified_header(VARY, HeaderValue::from_static("accept-language"))
        .with_not_modified_header(VARY, HeaderValue::from_static("cookie"))
        .with_not_modified_header(CONTENT_LOCATION, HeaderValue::from_static("/items/7"))
        .with_not_modified_header(
            EXPIRES,
            HeaderValue::from_static("Thu, 01 Jan 2099 00:00:00 GMT"),
        )
        // Not the lookup's validator: the looked-up one wins.
        .with_not_modified_header(ETAG, HeaderValue::from_static("\"stale\""))
        // Fields that describe a body have no place on a 304.
        .with_not_modified_header(CONTENT_TYPE, HeaderValue::from_static("text/plain"))
        .with_not_modified_header(CONTENT_LENGTH, HeaderValue::from_static("99"));
    let (router, runs) = table_app(None, looked_up.into());
    let addr = serve_router(router).await;
    let answer = send(addr, Method::GET, "/", &[("if-none-match", "\"v7\"")], "").await;
    assert_eq!(answer.status, StatusCode::NOT_MODIFIED);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "answered before the handler"
    );
    assert!(answer.body.is_empty());
    let all = |name| {
        answer
            .headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(all(ETAG), ["\"v7\""]);
    assert_eq!(all(CACHE_CONTROL), ["max-age=60"]);
    assert_eq!(all(VARY), ["accept-language", "cookie"]);
    assert_eq!(all(CONTENT_LOCATION), ["/items/7"]);
    assert_eq!(all(EXPIRES), ["Thu, 01 Jan 2099 00:00:00 GMT"]);
    assert!(!answer.headers.contains_key(CONTENT_LENGTH));
    assert!(!answer.headers.contains_key(CONTENT_TYPE));

    // A 412 is not a stand-in for the 200: it gets none of them.
    let refused = send(addr, Method::PUT, "/", &[("if-match", "\"v6\"")], "").await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(refused.headers[ETAG], "\"v7\"");
    for name in [CACHE_CONTROL, VARY, CONTENT_LOCATION, EXPIRES] {
        assert!(!refused.headers.contains_key(&name), "{name}");
    }
}

/// A lookup whose database is down: its writes, when they ask for a check,
/// are refused with `503` before the handler (RFC 9110 §15.6.4); its reads
/// are answered as without a lookup.
#[tokio::test]
async fn a_failed_lookup_refuses_checked_writes_with_503() {
    let down = ResourceState::Unavailable {
        retry_after: Some(Duration::from_millis(1500)),
    };
    let (router, runs) = table_app(None, down);
    let addr = serve_router(router).await;
    for condition in [("if-match", "\"v1\""), ("if-none-match", "*")] {
        let refused = send(addr, Method::PUT, "/", &[condition], "").await;
        assert_eq!(
            refused.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{condition:?}"
        );
        assert_eq!(refused.headers["retry-after"], "2", "rounded up");
        assert!(refused.body.is_empty());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0, "no write went through");
    // A write without a precondition is not looked up at all.
    let unchecked = send(addr, Method::PUT, "/", &[], "").await;
    assert_eq!(unchecked.status, StatusCode::OK);
    // A GET is hashed as without a lookup, and revalidates by the hash.
    let read = send(addr, Method::GET, "/", &[], "").await;
    let hashed = EntityTag::from_content(b"the body").to_string();
    assert_eq!(read.headers["etag"], hashed.as_str());
    let again = send(addr, Method::GET, "/", &[("if-none-match", &hashed)], "").await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_lookup_error_is_a_failure_and_proceed_lets_writes_through() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let handler = move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            "stored"
        }
    };
    let failing = |_| ready(Err::<ResourceState, _>(std::io::Error::other("down")));
    let refusing = Router::new()
        .route("/", get(handler.clone()).put(handler.clone()))
        .layer(ConditionalLayer::new().lookup_validators(failing));
    let addr = serve_router(refusing).await;
    let refused = send(addr, Method::PUT, "/", &[("if-match", "\"v1\"")], "").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!refused.headers.contains_key("retry-after"));
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    let proceeding = Router::new()
        .route("/", get(handler.clone()).put(handler))
        .layer(
            ConditionalLayer::new()
                .lookup_validators(failing)
                .on_lookup_failure(LookupFailure::Proceed),
        );
    let addr = serve_router(proceeding).await;
    let through = send(addr, Method::PUT, "/", &[("if-match", "\"v1\"")], "").await;
    assert_eq!(through.status, StatusCode::OK);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// RFC 9110 §13.2.1: a method the route does not serve gets the router's
/// `405`, not a `412` from the lookup.
#[tokio::test]
async fn methods_outside_the_scope_go_to_the_router() {
    let looked_up = AtomicUsize::new(0);
    let looked_up = Arc::new(looked_up);
    let count = looked_up.clone();
    let lookup = move |_: LookupRequest| {
        count.fetch_add(1, Ordering::SeqCst);
        ready(EntityTag::strong("v1").unwrap())
    };
    let router = Router::new()
        .route("/", get(|| async { "item" }).put(|| async { "stored" }))
        .layer(
            ConditionalLayer::new()
                .lookup_validators(lookup)
                .for_methods([Method::GET, Method::PUT]),
        );
    let addr = serve_router(router).await;
    let delete = send(addr, Method::DELETE, "/", &[("if-match", "\"v0\"")], "").await;
    assert_eq!(delete.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(looked_up.load(Ordering::SeqCst), 0);
    let put = send(addr, Method::PUT, "/", &[("if-match", "\"v0\"")], "").await;
    assert_eq!(put.status, StatusCode::PRECONDITION_FAILED);
    let head = send(addr, Method::HEAD, "/", &[("if-none-match", "\"v1\"")], "").await;
    assert_eq!(head.status, StatusCode::NOT_MODIFIED, "HEAD goes with GET");
    assert_eq!(looked_up.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_example_refuses_a_method_its_routes_do_not_serve() {
    let (addr, store, etag) = store_with_item().await;
    let before = store.handler_runs();
    let post = send(addr, Method::POST, "/items/a", &[("if-match", &etag)], "{}").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(store.handler_runs(), before);
}
