//! The layer where tower layers go: `Router::layer`, around a whole `Router`,
//! in a `tower::ServiceBuilder`, around a plain service served by hyper (over
//! HTTP/1.1 and HTTP/2); and `poll_ready` is passed through to the inner
//! service (a gate whose readiness the test controls, and a
//! `ConcurrencyLimit`).

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::{mpsc, Semaphore};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_conditional::{Conditional, ConditionalLayer};

use crate::support::*;

const PLAIN: &str = "composed body";

fn router() -> Router {
    Router::new().route("/", get(|| async { PLAIN }))
}

/// A full round: GET gets the tag, a conditional GET gets a 304, another tag
/// gets a 200.
async fn assert_conditional_round(addr: SocketAddr, what: &str) {
    let tag = expected_etag(PLAIN.as_bytes());
    let first = http_get(addr, "/").await;
    assert_eq!(first.status, StatusCode::OK, "{what}");
    assert_eq!(first.body, PLAIN, "{what}");
    assert_eq!(first.etag(), tag, "{what}");
    let again = get_if_none_match(addr, "/", &tag).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{what}");
    assert!(again.body.is_empty(), "{what}");
    let other = get_if_none_match(addr, "/", "\"other\"").await;
    assert_eq!(other.status, StatusCode::OK, "{what}");
}

#[tokio::test]
async fn with_router_layer() {
    let addr = serve_router(router().layer(ConditionalLayer::new())).await;
    assert_conditional_round(addr, "Router::layer").await;
}

#[tokio::test]
async fn around_a_whole_router_with_axum_serve() {
    let service = ServiceExt::<axum::extract::Request>::map_response(
        ConditionalLayer::new().layer(router()),
        |response: Response<_>| response.map(Body::new),
    );
    let addr = serve_axum_service(service).await;
    assert_conditional_round(addr, "layer(router) + axum::serve").await;
}

#[tokio::test]
async fn around_a_whole_router_with_plain_hyper() {
    let addr = serve_h1(
        ConditionalLayer::new().layer(router()),
        H1Options::default(),
    )
    .await;
    assert_conditional_round(addr, "layer(router) + hyper").await;
}

#[tokio::test]
async fn in_a_service_builder_with_other_layers() {
    // Cache-Control is set by a layer inside this one: the 304 keeps it.
    let service = ServiceBuilder::new()
        .layer(ConditionalLayer::new())
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        ))
        .service(router());
    let addr = serve_h1(service, H1Options::default()).await;
    assert_conditional_round(addr, "ServiceBuilder").await;
    let again = get_if_none_match(addr, "/", &expected_etag(PLAIN.as_bytes())).await;
    assert_eq!(again.header("cache-control"), "max-age=60");

    // A no-store set by an inner layer makes the response stream through.
    let service = ServiceBuilder::new()
        .layer(ConditionalLayer::new())
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .service(router());
    let addr = serve_h1(service, H1Options::default()).await;
    let response = http_get(addr, "/").await;
    assert_eq!(response.body, PLAIN);
    assert!(!response.has("etag"));
}

#[tokio::test]
async fn around_a_plain_service_fn_served_by_hyper() {
    let inner = tower::service_fn(|_request: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
            PLAIN.as_bytes(),
        ))))
    });
    let addr = serve_h1(Conditional::new(inner), H1Options::default()).await;
    assert_conditional_round(addr, "Conditional::new(service_fn)").await;
    let addr = serve_h1(
        Conditional::<()>::layer().layer(inner),
        H1Options::default(),
    )
    .await;
    assert_conditional_round(addr, "Conditional::layer()").await;
}

#[tokio::test]
async fn over_http2() {
    let addr = serve_h2(ConditionalLayer::new().layer(router())).await;
    let client = h2_client();
    let tag = expected_etag(PLAIN.as_bytes());
    let get = |headers: Vec<(&'static str, String)>| {
        let mut builder = request(Method::GET, addr, "/");
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        send(&client, builder.body(Full::default()).unwrap())
    };
    let first = get(vec![]).await;
    assert_eq!(first.body, PLAIN);
    assert_eq!(first.etag(), tag);
    let again = get(vec![("if-none-match", tag.clone())]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(!again.has("content-length"));
    let head = send(
        &client,
        request(Method::HEAD, addr, "/")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(head.etag(), tag);
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn nested_layers_keep_the_inner_tag() {
    // The inner layer hashes; the outer one sees a tag set below it, keeps it
    // and compares against it.
    let service = ServiceBuilder::new()
        .layer(ConditionalLayer::new())
        .layer(ConditionalLayer::new().etag_policy(tower_conditional::EtagPolicy::Weak))
        .service(router());
    let addr = serve_h1(service, H1Options::default()).await;
    let first = http_get(addr, "/").await;
    assert_eq!(
        first.etag(),
        format!("W/{}", expected_etag(PLAIN.as_bytes()))
    );
    let again = get_if_none_match(addr, "/", first.etag()).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}

// --- poll_ready -------------------------------------------------------------

/// A service that is ready only once the test opens its gate, and that
/// refuses (500) a call not preceded by a successful `poll_ready`.
#[derive(Clone)]
struct Gated {
    open: Arc<AtomicBool>,
    waiters: Arc<Mutex<Vec<Waker>>>,
    polled: Arc<AtomicUsize>,
    ready: bool,
}

impl Gated {
    fn new() -> Self {
        Self {
            open: Arc::new(AtomicBool::new(false)),
            waiters: Arc::default(),
            polled: Arc::default(),
            ready: false,
        }
    }

    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        for waker in self.waiters.lock().unwrap().drain(..) {
            waker.wake();
        }
    }
}

impl Service<Request<Incoming>> for Gated {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.polled.fetch_add(1, Ordering::SeqCst);
        if !self.open.load(Ordering::SeqCst) {
            self.waiters.lock().unwrap().push(cx.waker().clone());
            if !self.open.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<Incoming>) -> Self::Future {
        let response = if std::mem::take(&mut self.ready) {
            Response::new(Full::new(Bytes::from_static(PLAIN.as_bytes())))
        } else {
            let mut response =
                Response::new(Full::new(Bytes::from_static(b"called without poll_ready")));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        };
        ready(Ok(response))
    }
}

#[tokio::test]
async fn poll_ready_is_passed_through() {
    let gate = Gated::new();
    let addr = serve_h1(
        ConditionalLayer::new().layer(gate.clone()),
        H1Options::default(),
    )
    .await;
    let client = client();
    let request = request(Method::GET, addr, "/")
        .body(Full::default())
        .unwrap();
    let mut pending = Box::pin(client.request(request));
    assert!(
        still_pending(&mut pending, Duration::from_millis(200)).await,
        "the request must wait for the inner service to be ready"
    );
    assert!(
        gate.polled.load(Ordering::SeqCst) > 0,
        "poll_ready reached the inner service"
    );
    gate.open();
    let response = within("the response once ready", pending).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tag = response.headers()["etag"].clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, PLAIN);
    assert_eq!(tag, expected_etag(PLAIN.as_bytes()).as_str());
}

#[tokio::test]
async fn poll_ready_in_process_follows_the_inner_service() {
    let gate = Gated::new();
    let mut service = ConditionalLayer::new().layer(gate.clone());
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    assert!(service.poll_ready(&mut cx).is_pending());
    gate.open();
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
}

#[tokio::test]
async fn concurrency_limit_below_the_layer() {
    let (entered_tx, mut entered) = mpsc::unbounded_channel::<()>();
    let release = Arc::new(Semaphore::new(0));
    #[derive(Clone)]
    struct Shared {
        entered: mpsc::UnboundedSender<()>,
        release: Arc<Semaphore>,
    }
    let app = Router::new()
        .route(
            "/",
            get(|State(shared): State<Shared>| async move {
                let _ = shared.entered.send(());
                shared.release.acquire().await.unwrap().forget();
                PLAIN
            }),
        )
        .with_state(Shared {
            entered: entered_tx,
            release: release.clone(),
        });
    let service = ServiceBuilder::new()
        .layer(ConditionalLayer::new())
        .concurrency_limit(1)
        .service(app);
    let addr = serve_h1(service, H1Options::default()).await;

    let first = tokio::spawn(http_get(addr, "/"));
    within("the first request to enter", entered.recv())
        .await
        .unwrap();
    let second = tokio::spawn(http_get(addr, "/"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        entered.try_recv().is_err(),
        "the second request must wait for the limit"
    );
    release.add_permits(1);
    let first = within("the first response", first).await.unwrap();
    within("the second request to enter", entered.recv())
        .await
        .unwrap();
    release.add_permits(1);
    let second = within("the second response", second).await.unwrap();
    for response in [first, second] {
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.etag(), expected_etag(PLAIN.as_bytes()));
    }
}
