//! The precondition matrix of RFC 9110 §13.2.2, through a real TCP socket:
//! each header alone, and the combinations whose order of evaluation matters.

use std::future::ready;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tower_conditional::{ConditionalLayer, EntityTag, Validators};

const MODIFIED: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
const EARLIER: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
const LATER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";

/// A resource with `ETag: "a"` and `Last-Modified: MODIFIED`, set by its
/// handler; the handler counts its runs. With `lookup`, the layer knows the
/// same validators before the handler runs.
async fn serve(lookup: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let handler = move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (
                [("etag", "\"a\""), ("last-modified", MODIFIED)],
                "representation",
            )
        }
    };
    let routes = Router::new().route("/", get(handler.clone()).put(handler.clone()).post(handler));
    let router = if lookup {
        let current = Validators::new()
            .with_etag(EntityTag::strong("a").unwrap())
            .with_last_modified(httpdate::parse_http_date(MODIFIED).unwrap());
        routes.layer(ConditionalLayer::new().lookup_validators(move |_| ready(current.clone())))
    } else {
        routes.layer(ConditionalLayer::new())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, runs)
}

/// Sends a request with the given fields and waits (5 s at most) for the head.
async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Response<hyper::body::Incoming> {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    tokio::time::timeout(
        Duration::from_secs(5),
        client.request(request.body(Empty::new()).unwrap()),
    )
    .await
    .expect("in time")
    .expect("a response")
}

async fn status(addr: SocketAddr, method: Method, headers: &[(&str, &str)]) -> (StatusCode, Bytes) {
    let response = send(addr, method, "/", headers).await;
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

type Case = (&'static [(&'static str, &'static str)], StatusCode);

const OK: StatusCode = StatusCode::OK;
const NOT_MODIFIED: StatusCode = StatusCode::NOT_MODIFIED;
const FAILED: StatusCode = StatusCode::PRECONDITION_FAILED;

/// GET and HEAD, evaluated on the handler's response.
const SAFE_CASES: &[Case] = &[
    (&[], OK),
    // Step 1: If-Match, strong comparison.
    (&[("if-match", "\"a\"")], OK),
    (&[("if-match", "\"b\"")], FAILED),
    (&[("if-match", "\"b\", \"a\"")], OK),
    (&[("if-match", "*")], OK),
    (&[("if-match", "W/\"a\"")], FAILED),
    // Step 2: If-Unmodified-Since, only without If-Match.
    (&[("if-unmodified-since", MODIFIED)], OK),
    (&[("if-unmodified-since", EARLIER)], FAILED),
    (&[("if-unmodified-since", "not a date")], OK),
    (
        &[("if-unmodified-since", EARLIER), ("if-match", "\"a\"")],
        OK,
    ),
    // Step 3: If-None-Match, weak comparison.
    (&[("if-none-match", "\"a\"")], NOT_MODIFIED),
    (&[("if-none-match", "W/\"a\"")], NOT_MODIFIED),
    (&[("if-none-match", "\"b\"")], OK),
    (&[("if-none-match", "*")], NOT_MODIFIED),
    // Step 4: If-Modified-Since, only without If-None-Match.
    (&[("if-modified-since", MODIFIED)], NOT_MODIFIED),
    (&[("if-modified-since", LATER)], NOT_MODIFIED),
    (&[("if-modified-since", EARLIER)], OK),
    (
        &[("if-modified-since", MODIFIED), ("if-none-match", "\"b\"")],
        OK,
    ),
    (
        &[("if-modified-since", EARLIER), ("if-none-match", "\"a\"")],
        NOT_MODIFIED,
    ),
    // Order: step 1 and 2 come before step 3 and 4.
    (&[("if-match", "\"b\""), ("if-none-match", "\"a\"")], FAILED),
    (
        &[("if-match", "\"a\""), ("if-none-match", "\"a\"")],
        NOT_MODIFIED,
    ),
    (
        &[("if-unmodified-since", EARLIER), ("if-none-match", "\"a\"")],
        FAILED,
    ),
    (
        &[("if-match", "\"a\""), ("if-modified-since", MODIFIED)],
        NOT_MODIFIED,
    ),
    (
        &[("if-match", "\"b\""), ("if-modified-since", MODIFIED)],
        FAILED,
    ),
];

/// Unsafe methods, evaluated before the handler against looked-up validators.
const UNSAFE_CASES: &[Case] = &[
    (&[], OK),
    (&[("if-match", "\"a\"")], OK),
    (&[("if-match", "\"b\"")], FAILED),
    (&[("if-match", "*")], OK),
    (&[("if-unmodified-since", EARLIER)], FAILED),
    (&[("if-unmodified-since", MODIFIED)], OK),
    (&[("if-none-match", "\"a\"")], FAILED),
    (&[("if-none-match", "W/\"a\"")], FAILED),
    (&[("if-none-match", "*")], FAILED),
    (&[("if-none-match", "\"b\"")], OK),
    // If-Modified-Since applies to GET and HEAD only.
    (&[("if-modified-since", MODIFIED)], OK),
    (&[("if-match", "\"a\""), ("if-none-match", "\"a\"")], FAILED),
    (&[("if-match", "\"b\""), ("if-none-match", "\"b\"")], FAILED),
];

#[tokio::test]
async fn get_and_head_after_the_handler() {
    let (addr, _) = serve(false).await;
    for method in [Method::GET, Method::HEAD] {
        for (headers, expected) in SAFE_CASES {
            let (got, body) = status(addr, method.clone(), headers).await;
            assert_eq!(got, *expected, "{method} {headers:?}");
            if got != OK || method == Method::HEAD {
                assert!(body.is_empty(), "{method} {headers:?} has no body");
            }
        }
    }
}

#[tokio::test]
async fn get_and_head_before_the_handler_agree_with_after() {
    let (addr, runs) = serve(true).await;
    for method in [Method::GET, Method::HEAD] {
        for (headers, expected) in SAFE_CASES {
            let before = runs.load(Ordering::SeqCst);
            let (got, _) = status(addr, method.clone(), headers).await;
            assert_eq!(got, *expected, "{method} {headers:?}");
            let ran = runs.load(Ordering::SeqCst) - before;
            assert_eq!(
                ran,
                usize::from(got == OK),
                "{method} {headers:?}: handler runs"
            );
        }
    }
}

#[tokio::test]
async fn unsafe_methods_before_the_handler() {
    let (addr, runs) = serve(true).await;
    for method in [Method::PUT, Method::POST] {
        for (headers, expected) in UNSAFE_CASES {
            let before = runs.load(Ordering::SeqCst);
            let (got, _) = status(addr, method.clone(), headers).await;
            assert_eq!(got, *expected, "{method} {headers:?}");
            let ran = runs.load(Ordering::SeqCst) - before;
            assert_eq!(
                ran,
                usize::from(got == OK),
                "{method} {headers:?}: handler runs"
            );
        }
    }
}

#[tokio::test]
async fn unsafe_methods_without_lookup_are_never_turned_into_412() {
    // The change has happened by the time the response is seen: the layer
    // must pass the handler's answer on, whatever the preconditions say.
    let (addr, runs) = serve(false).await;
    for method in [Method::PUT, Method::POST] {
        for (headers, _) in UNSAFE_CASES {
            let before = runs.load(Ordering::SeqCst);
            let (got, body) = status(addr, method.clone(), headers).await;
            assert_eq!(got, OK, "{method} {headers:?}");
            assert_eq!(&body[..], b"representation");
            assert_eq!(runs.load(Ordering::SeqCst), before + 1);
        }
    }
}

/// The head of a response to a GET with the given fields.
async fn head_of(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> http::response::Parts {
    send(addr, Method::GET, path, headers).await.into_parts().0
}

#[tokio::test]
async fn a_412_after_the_handler_states_the_current_validators() {
    // One route with the handler's own ETag, one whose ETag is the hash;
    // both set Last-Modified. Neither If-Match needs the date to fail, and
    // the 412 must still carry it.
    let router = Router::new()
        .route(
            "/tagged",
            get(|| async { ([("etag", "\"a\""), ("last-modified", MODIFIED)], "tagged") }),
        )
        .route(
            "/hashed",
            get(|| async { ([("last-modified", MODIFIED)], "hashed") }),
        )
        .layer(ConditionalLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let hashed_tag = EntityTag::from_content(b"hashed").to_string();
    for (path, current_tag) in [("/tagged", "\"a\""), ("/hashed", hashed_tag.as_str())] {
        for failing in [
            vec![("if-match", "\"b\"")],
            vec![("if-unmodified-since", EARLIER)],
        ] {
            let head = head_of(addr, path, &failing).await;
            assert_eq!(head.status, FAILED, "{path} {failing:?}");
            assert_eq!(head.headers["etag"], current_tag, "{path} {failing:?}");
            assert_eq!(
                head.headers["last-modified"], MODIFIED,
                "{path} {failing:?}"
            );
            assert!(
                !head.headers.contains_key("content-type"),
                "{path} {failing:?}"
            );
        }
        let head = head_of(addr, path, &[("if-none-match", current_tag)]).await;
        assert_eq!(head.status, NOT_MODIFIED, "{path}");
        assert_eq!(head.headers["last-modified"], MODIFIED, "{path}");
    }
}
