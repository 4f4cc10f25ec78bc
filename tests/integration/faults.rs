//! Faults through a real server: a body that fails after outgrowing the limit,
//! an inner service that errors, a slow producer, and a handler that panics
//! under tower-http's `CatchPanicLayer`.

use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tower::{service_fn, ServiceBuilder};
use tower_conditional::{ConditionalLayer, EntityTag};
use tower_http::catch_panic::CatchPanicLayer;

use crate::support::*;

const LIMIT: usize = 64;

/// Streams from the tap's channel body, behind a layer with a small limit.
async fn tapped_server() -> (std::net::SocketAddr, TapRx) {
    let (tap, taps) = tap();
    let router = Router::new()
        .route(
            "/",
            get(move || {
                let tap = tap.clone();
                async move { Body::new(tap.body()) }
            }),
        )
        .layer(ConditionalLayer::new().max_hashed_body_size(LIMIT));
    (serve_router(router).await, taps)
}

#[tokio::test]
async fn body_error_after_the_limit_reaches_the_client_without_an_etag() {
    let (addr, mut taps) = tapped_server().await;
    let client = client();
    let request = request(Method::GET, addr, "/")
        .body(Full::default())
        .unwrap();
    let pending = tokio::spawn(async move { client.request(request).await });
    let sender = taps.next().await;
    sender.data(vec![b'a'; LIMIT]);
    sender.data(vec![b'b'; LIMIT]); // crosses the limit: the answer starts
    let response = within("response head", pending).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key("etag"));
    sender.error("disk gone");
    let body = within("body end", response.into_body().collect()).await;
    assert!(
        body.is_err(),
        "the client must see the failure, not a short body"
    );
}

#[tokio::test]
async fn slow_producer_is_hashed_whole_when_it_finishes() {
    let (addr, mut taps) = tapped_server().await;
    let client = client();
    let request = request(Method::GET, addr, "/")
        .body(Full::default())
        .unwrap();
    let mut pending = tokio::spawn(async move { client.request(request).await });
    let sender = taps.next().await;
    let mut sent = Vec::new();
    for piece in [&b"slow "[..], b"and ", b"steady"] {
        sender.data(Bytes::copy_from_slice(piece));
        sent.extend_from_slice(piece);
        // Under the limit the answer waits for the whole body.
        assert!(still_pending(&mut pending, Duration::from_millis(100)).await);
    }
    drop(sender);
    let response = within("response head", pending).await.unwrap().unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body = within("body", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], &sent[..]);
    assert_eq!(etag, EntityTag::from_content(&sent).to_string());
}

#[tokio::test]
async fn inner_service_error_is_passed_on_unchanged() {
    // hyper answers a service error by closing the connection: the layer
    // must neither swallow the error nor answer for the inner service.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let inner = service_fn(move |_request: Request<Incoming>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Err::<Response<Full<Bytes>>, _>(io::Error::other("backend down")) }
    });
    let service = ServiceBuilder::new()
        .layer(ConditionalLayer::new())
        .service(inner);
    let addr = serve_h1(service, H1Options::default()).await;
    let request = request(Method::GET, addr, "/")
        .header("if-none-match", "*")
        .body(Full::default())
        .unwrap();
    let outcome = within(
        "an answer or a closed connection",
        client().request(request),
    )
    .await;
    assert!(outcome.is_err(), "no response may be made up: {outcome:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn panicking_handler_under_catch_panic_gets_a_500_without_an_etag() {
    let router = Router::new()
        .route(
            "/panics",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "never"
            }),
        )
        .route("/fine", get(|| async { "fine" }))
        .layer(ConditionalLayer::new())
        .layer(CatchPanicLayer::new());
    let addr = serve_router(router).await;
    let failed = fetch(addr, Method::GET, "/panics", &[("if-none-match", "*")]).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!failed.has("etag"));
    // The server keeps serving, and conditional requests still work.
    let fine = http_get(addr, "/fine").await;
    assert_eq!(fine.etag(), EntityTag::from_content(b"fine").to_string());
    let again = get_if_none_match(addr, "/fine", fine.etag()).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn panic_inside_the_layer_stack_is_caught_outside_it() {
    // CatchPanicLayer outside ConditionalLayer also catches a panic raised
    // while the layer polls the handler's future.
    let inner = service_fn(|_request: Request<Incoming>| async {
        if true {
            panic!("in the future");
        }
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let service = ServiceBuilder::new()
        .layer(CatchPanicLayer::new())
        .layer(ConditionalLayer::new())
        .service(inner);
    let addr = serve_h1(service, H1Options::default()).await;
    let answer = http_get(addr, "/").await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
}
