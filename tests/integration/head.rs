//! HEAD (RFC 9110 §9.3.2): the same `ETag` and `Content-Length` a GET gets,
//! never the hash of an empty body, no body bytes on the wire, whether the
//! layer is applied with `Router::layer` or wraps a whole `Router` as a
//! service.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, ServiceExt};
use tower_conditional::{ConditionalLayer, HeadRequests};

use crate::support::*;

const PLAIN: &str = "the body a GET gets";

fn router() -> Router {
    Router::new()
        .route("/plain", get(|| async { PLAIN }))
        .route("/big", get(|| async { patterned(5000) }))
        .route(
            "/stream",
            get(|| async {
                Body::new(FramesBody::chunks(["the body ", "a GET ", "gets"]).pending_before_each())
            }),
        )
        .route("/empty", get(|| async { "" }))
        .route(
            "/empty-stream",
            get(|| async { Body::new(FramesBody::chunks([""]).pending_before_each()) }),
        )
        .route(
            "/no-store",
            get(|| async {
                response(
                    StatusCode::OK,
                    &[("cache-control", "no-store")],
                    Body::from(PLAIN),
                )
            }),
        )
        .route(
            "/own-etag",
            get(|| async { response(StatusCode::OK, &[("etag", "\"mine\"")], Body::from(PLAIN)) }),
        )
        .route(
            "/no-store-stream",
            get(|| async {
                response(
                    StatusCode::OK,
                    &[("cache-control", "no-store")],
                    Body::new(
                        FramesBody::chunks(["the body ", "a GET ", "gets"]).pending_before_each(),
                    ),
                )
            }),
        )
        .route(
            "/trailers",
            get(|| async {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("x-sum", http::HeaderValue::from_static("1"));
                let body = FramesBody::new([
                    http_body::Frame::data(Bytes::from_static(PLAIN.as_bytes())),
                    http_body::Frame::trailers(trailers),
                ])
                .pending_before_each();
                response(StatusCode::OK, &[("trailer", "x-sum")], Body::new(body))
            }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "no such thing here") }),
        )
}

#[derive(Debug, Clone, Copy)]
enum Setup {
    /// `Router::layer(ConditionalLayer)`, served by `axum::serve`.
    RouterLayer,
    /// `ConditionalLayer::new().layer(router)`, served by `axum::serve`.
    WrappedAxumServe,
    /// `ConditionalLayer::new().layer(router)`, served by plain hyper.
    WrappedHyper,
}

const SETUPS: [Setup; 3] = [
    Setup::RouterLayer,
    Setup::WrappedAxumServe,
    Setup::WrappedHyper,
];

/// `layer.layer(router)`: the layer around the whole router, served by
/// `axum::serve`.
async fn serve_wrapped(layer: ConditionalLayer, router: Router) -> SocketAddr {
    serve_axum_service(ServiceExt::<axum::extract::Request>::map_response(
        layer.layer(router),
        |response: Response<_>| response.map(Body::new),
    ))
    .await
}

async fn serve(setup: Setup) -> SocketAddr {
    match setup {
        Setup::RouterLayer => serve_router(router().layer(ConditionalLayer::new())).await,
        Setup::WrappedAxumServe => serve_wrapped(ConditionalLayer::new(), router()).await,
        Setup::WrappedHyper => {
            serve_h1(
                ConditionalLayer::new().layer(router()),
                H1Options::default(),
            )
            .await
        }
    }
}

fn raw_head(path: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut headers = extra.to_vec();
    headers.push(("Connection", b"close"));
    raw_request("HEAD", path, &headers)
}

#[tokio::test]
async fn head_gets_the_etag_and_length_of_get() {
    for setup in SETUPS {
        let addr = serve(setup).await;
        for path in ["/plain", "/big", "/stream"] {
            let get = http_get(addr, path).await;
            let head = fetch(addr, Method::HEAD, path, &[]).await;
            assert_eq!(get.status, StatusCode::OK, "{setup:?} {path}");
            assert_eq!(head.status, StatusCode::OK, "{setup:?} {path}");
            assert_eq!(get.etag(), expected_etag(&get.body), "{setup:?} {path}");
            assert_eq!(head.etag(), get.etag(), "{setup:?} {path}: HEAD tag");
            assert_ne!(
                head.etag(),
                expected_etag(b""),
                "{setup:?} {path}: HEAD must not get the tag of an empty body"
            );
            assert_eq!(
                head.header("content-length"),
                get.body.len().to_string(),
                "{setup:?} {path}: HEAD Content-Length"
            );
            assert_eq!(
                get.header("content-length"),
                get.body.len().to_string(),
                "{setup:?} {path}: GET Content-Length"
            );
            assert!(head.body.is_empty(), "{setup:?} {path}");
        }
    }
}

#[tokio::test]
async fn head_of_an_empty_body_gets_no_tag_rather_than_a_wrong_one() {
    // The layer cannot tell the empty body of a GET from a HEAD body dropped
    // on the way (by a router, or by a `head` handler), so an empty HEAD
    // answer is never hashed: no tag is safe, the tag of "" may be false.
    for setup in SETUPS {
        let addr = serve(setup).await;
        for path in ["/empty", "/empty-stream"] {
            let get = http_get(addr, path).await;
            assert_eq!(get.etag(), expected_etag(b""), "{setup:?} {path}");
            let head = fetch(addr, Method::HEAD, path, &[]).await;
            assert_eq!(head.status, StatusCode::OK, "{setup:?} {path}");
            assert!(!head.has("etag"), "{setup:?} {path}: {:?}", head.headers);
            let revalidated =
                fetch(addr, Method::HEAD, path, &[("if-none-match", get.etag())]).await;
            assert_eq!(revalidated.status, StatusCode::OK, "{setup:?} {path}");
        }
    }
}

#[tokio::test]
async fn head_of_passthrough_responses_keeps_get_length_and_headers() {
    for setup in SETUPS {
        let addr = serve(setup).await;
        for (path, status) in [
            ("/no-store", StatusCode::OK),
            ("/own-etag", StatusCode::OK),
            ("/missing", StatusCode::NOT_FOUND),
        ] {
            let get = http_get(addr, path).await;
            let head = fetch(addr, Method::HEAD, path, &[]).await;
            assert_eq!(get.status, status, "{setup:?} {path}");
            assert_eq!(head.status, status, "{setup:?} {path}");
            assert_eq!(
                head.headers.get("etag"),
                get.headers.get("etag"),
                "{setup:?} {path}"
            );
            assert_eq!(
                head.header("content-length"),
                get.body.len().to_string(),
                "{setup:?} {path}"
            );
            assert!(head.body.is_empty());
        }
    }
}

#[tokio::test]
async fn head_on_the_wire_has_no_body() {
    for setup in SETUPS {
        let addr = serve(setup).await;
        for path in ["/plain", "/big", "/stream", "/no-store", "/missing"] {
            let raw = raw_exchange(addr, &raw_head(path, &[])).await;
            let response = parse_response(&raw, true);
            assert!(
                response.status == 200 || response.status == 404,
                "{setup:?} {path}"
            );
            assert_eq!(
                response.raw.len(),
                raw.len(),
                "{setup:?} {path}: bytes after a HEAD response head: {:?}",
                String::from_utf8_lossy(&raw[response.raw.len()..])
            );
            assert!(response.has("content-length"), "{setup:?} {path}");
            assert!(!response.has("transfer-encoding"), "{setup:?} {path}");
        }
    }
}

#[tokio::test]
async fn head_with_a_matching_condition_gives_304() {
    for setup in SETUPS {
        let addr = serve(setup).await;
        let tag = expected_etag(PLAIN.as_bytes());
        for condition in [tag.as_str(), "*", &format!("W/{tag}")] {
            let head = fetch(
                addr,
                Method::HEAD,
                "/plain",
                &[("if-none-match", condition)],
            )
            .await;
            assert_eq!(
                head.status,
                StatusCode::NOT_MODIFIED,
                "{setup:?} {condition}"
            );
            assert_eq!(head.etag(), tag, "{setup:?}");
        }
        let head = fetch(
            addr,
            Method::HEAD,
            "/plain",
            &[("if-none-match", "\"other\"")],
        )
        .await;
        assert_eq!(head.status, StatusCode::OK, "{setup:?}");
    }
}

/// RFC 9110 §8.6: a 304 may carry Content-Length only when it equals the
/// length of the 200; the layer's 304 must carry none.
async fn assert_head_304_on_the_wire(setup: Setup) {
    let addr = serve(setup).await;
    let tag = expected_etag(PLAIN.as_bytes());
    let raw = raw_exchange(
        addr,
        &raw_head("/plain", &[("If-None-Match", tag.as_bytes())]),
    )
    .await;
    let response = parse_response(&raw, true);
    assert_eq!(response.status, 304, "{setup:?}");
    assert_eq!(response.raw.len(), raw.len(), "{setup:?}: no body bytes");
    assert_eq!(response.get_str("etag"), Some(tag.as_str()), "{setup:?}");
    assert!(
        !response.has("content-length"),
        "{setup:?}: a 304 to HEAD carries content-length: {:?} (the 200 has {})",
        response.get_str("content-length"),
        PLAIN.len()
    );
}

#[tokio::test]
async fn head_304_on_the_wire_has_no_content_length_with_router_layer() {
    assert_head_304_on_the_wire(Setup::RouterLayer).await;
}

#[tokio::test]
async fn head_304_on_the_wire_has_no_content_length_around_a_router() {
    assert_head_304_on_the_wire(Setup::WrappedAxumServe).await;
    assert_head_304_on_the_wire(Setup::WrappedHyper).await;
}

#[tokio::test]
async fn keep_alive_connection_alternating_head_and_get() {
    for setup in SETUPS {
        let addr = serve(setup).await;
        let tag = expected_etag(PLAIN.as_bytes());
        let mut conn = RawConn::connect(addr).await;
        for _ in 0..2 {
            conn.send(&raw_request("HEAD", "/plain", &[])).await;
            let head = conn.read_response(true).await;
            assert_eq!(head.status, 200, "{setup:?}");
            assert_eq!(head.get_str("etag"), Some(tag.as_str()), "{setup:?}");
            assert_eq!(
                head.get_str("content-length"),
                Some(PLAIN.len().to_string().as_str()),
                "{setup:?}"
            );
            conn.assert_quiet(Duration::from_millis(50)).await;

            conn.send(&raw_request("GET", "/plain", &[])).await;
            let get = conn.read_response(false).await;
            assert_eq!(get.body, PLAIN.as_bytes(), "{setup:?}");
            assert_eq!(get.get_str("etag"), Some(tag.as_str()), "{setup:?}");

            conn.send(&raw_request(
                "HEAD",
                "/stream",
                &[("If-None-Match", tag.as_bytes())],
            ))
            .await;
            let not_modified = conn.read_response(true).await;
            assert_eq!(not_modified.status, 304, "{setup:?}");
            conn.assert_quiet(Duration::from_millis(50)).await;
        }
    }
}

/// A plain service that, like many, answers HEAD with an empty body itself.
/// The layer asks it for the GET, so HEAD still gets the GET's tag.
#[tokio::test]
async fn inner_service_sees_get_for_head() {
    let service = tower::service_fn(|request: Request<hyper::body::Incoming>| async move {
        let body = if request.method() == Method::HEAD {
            Bytes::new()
        } else {
            Bytes::from_static(PLAIN.as_bytes())
        };
        Ok::<_, Infallible>(Response::new(Full::new(body)))
    });
    let addr = serve_h1(ConditionalLayer::new().layer(service), H1Options::default()).await;
    let get = http_get(addr, "/").await;
    let head = fetch(addr, Method::HEAD, "/", &[]).await;
    assert_eq!(get.etag(), expected_etag(PLAIN.as_bytes()));
    assert_eq!(head.etag(), get.etag());
    assert_eq!(head.header("content-length"), PLAIN.len().to_string());
}

/// A GET whose length is not known in advance goes out chunked, without
/// Content-Length; the HEAD must not claim a length either (least of all 0).
#[tokio::test]
async fn head_of_bodies_of_unknown_length_claims_no_length() {
    let mut wrong = Vec::new();
    for setup in SETUPS {
        let addr = serve(setup).await;
        for path in ["/no-store-stream", "/trailers"] {
            let get = fetch(addr, Method::GET, path, &[("te", "trailers")]).await;
            assert_eq!(get.body, PLAIN, "{setup:?} {path}");
            assert!(
                !get.has("content-length"),
                "{setup:?} {path}: the GET is chunked"
            );
            let raw = raw_exchange(addr, &raw_head(path, &[])).await;
            let head = parse_response(&raw, true);
            assert_eq!(head.status, 200, "{setup:?} {path}");
            assert_eq!(
                head.get_str("etag"),
                get.headers.get("etag").map(|v| v.to_str().unwrap()),
                "{setup:?} {path}"
            );
            if let Some(length) = head.get_str("content-length") {
                wrong.push(format!(
                    "{setup:?} {path}: HEAD has content-length: {length}, the GET is {} bytes, chunked",
                    get.body.len()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ---------------------------------------------------------------------------
// Routes with a `head` handler of their own
// ---------------------------------------------------------------------------

/// What a `head` handler answers: the GET's length, stated, and no body.
fn head_handler_response() -> Response<Body> {
    let length = PLAIN.len().to_string();
    response(
        StatusCode::OK,
        &[("x-head-handler", "yes"), ("content-length", &length)],
        Body::empty(),
    )
}

fn router_with_head_handlers() -> Router {
    Router::new()
        .route("/plain", get(|| async { PLAIN }))
        .route(
            "/both",
            get(|| async { PLAIN }).head(|| async { head_handler_response() }),
        )
        .route(
            "/head-only",
            axum::routing::head(|| async { head_handler_response() }),
        )
        .route(
            "/bare-head",
            get(|| async { PLAIN }).head(|| async { StatusCode::OK }),
        )
        .route(
            "/dated",
            get(|| async { ([("last-modified", DATED)], PLAIN) }),
        )
}

/// The `Last-Modified` of `/dated`, and a later date.
const DATED: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
const LATER: &str = "Wed, 15 Nov 2023 00:00:00 GMT";

/// A HEAD answer's tag is either the GET's or absent: never another one.
fn assert_head_tag_is_gets_or_absent(head: &Fetched, get: &Fetched, context: &str) {
    if head.has("etag") {
        assert_eq!(head.etag(), get.etag(), "{context}");
    }
    assert!(head.body.is_empty(), "{context}");
}

#[tokio::test]
async fn a_head_handler_never_gets_the_hash_of_its_empty_body() {
    // The default asks the inner service for a GET, but `Router::layer`
    // wraps each method's handler: the `head` handler answers, empty, with
    // the GET's length (`/both`) or none (`/bare-head`, where axum states
    // none inside the layer either).
    let addr = serve_router(router_with_head_handlers().layer(ConditionalLayer::new())).await;
    let empty = expected_etag(b"");
    for (path, handler_length) in [
        ("/both", Some(PLAIN.len().to_string())),
        ("/bare-head", None),
    ] {
        let get = http_get(addr, path).await;
        assert_eq!(get.etag(), expected_etag(PLAIN.as_bytes()), "{path}");
        let head = fetch(addr, Method::HEAD, path, &[]).await;
        assert_eq!(head.status, StatusCode::OK, "{path}");
        assert!(!head.has("etag"), "{path}: {:?}", head.headers);
        let length = head
            .headers
            .get("content-length")
            .map(|value| value.to_str().unwrap());
        assert_eq!(
            length,
            handler_length.as_deref(),
            "{path}: no made-up length"
        );
        let revalidated = fetch(addr, Method::HEAD, path, &[("if-none-match", &empty)]).await;
        assert_eq!(
            revalidated.status,
            StatusCode::OK,
            "{path}: {:?}",
            revalidated.headers
        );
    }
}

#[tokio::test]
async fn an_unhashed_head_is_neither_refused_nor_revalidated_by_tags() {
    // The GET's tag is unknown to the layer when the HEAD answer came back
    // empty: a true If-Match must not give 412, and no tag gives 304. A date
    // condition against the handler's Last-Modified is still decided.
    // Around the whole router, which strips HEAD bodies before the layer.
    let layer = ConditionalLayer::new().head_requests(HeadRequests::Unchanged);
    let addr = serve_wrapped(layer, router_with_head_handlers()).await;
    let get = http_get(addr, "/plain").await;
    let tag = get.etag().to_owned();
    for (field, value) in [("if-match", tag.as_str()), ("if-none-match", tag.as_str())] {
        let head = fetch(addr, Method::HEAD, "/plain", &[(field, value)]).await;
        assert_eq!(head.status, StatusCode::OK, "{field}: {:?}", head.headers);
    }
    let fresh = fetch(
        addr,
        Method::HEAD,
        "/dated",
        &[("if-modified-since", LATER)],
    )
    .await;
    assert_eq!(fresh.status, StatusCode::NOT_MODIFIED);
    assert_eq!(fresh.header("last-modified"), DATED);
    let stale = fetch(
        addr,
        Method::HEAD,
        "/dated",
        &[("if-unmodified-since", "Mon, 13 Nov 2023 00:00:00 GMT")],
    )
    .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn unchanged_head_requests_reach_the_head_handlers() {
    let layer = ConditionalLayer::new().head_requests(HeadRequests::Unchanged);
    let router_layer = serve_router(router_with_head_handlers().layer(layer.clone())).await;
    let wrapped = serve_wrapped(layer, router_with_head_handlers()).await;
    for (setup, addr) in [("Router::layer", router_layer), ("wrapped", wrapped)] {
        for path in ["/both", "/head-only"] {
            let head = fetch(addr, Method::HEAD, path, &[]).await;
            let context = format!("{setup} {path}: {:?}", head.headers);
            assert_eq!(head.status, StatusCode::OK, "{context}");
            assert_eq!(head.header("x-head-handler"), "yes", "{context}");
            assert_eq!(
                head.header("content-length"),
                PLAIN.len().to_string(),
                "{context}"
            );
            assert!(!head.has("etag"), "{context}");
        }
        // A GET-only route: axum strips the body of its HEAD answer before
        // the layer sees it, so the HEAD gets no tag rather than a wrong one.
        let get = http_get(addr, "/plain").await;
        assert_eq!(get.etag(), expected_etag(PLAIN.as_bytes()), "{setup}");
        let head = fetch(addr, Method::HEAD, "/plain", &[]).await;
        assert_eq!(head.status, StatusCode::OK, "{setup}");
        assert_head_tag_is_gets_or_absent(&head, &get, setup);
    }
}

#[tokio::test]
async fn unchanged_head_requests_are_tagged_when_the_body_reaches_the_layer() {
    // A service that answers HEAD with the GET's body (hyper drops it on the
    // wire): the layer hashes it, and HEAD and GET agree.
    let service = tower::service_fn(|request: Request<hyper::body::Incoming>| async move {
        let body = if request.uri().path() == "/empty" {
            ""
        } else {
            PLAIN
        };
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
    });
    let layer = ConditionalLayer::new().head_requests(HeadRequests::Unchanged);
    let addr = serve_h1(layer.layer(service), H1Options::default()).await;
    let get = http_get(addr, "/plain").await;
    let head = fetch(addr, Method::HEAD, "/plain", &[]).await;
    assert_eq!(get.etag(), expected_etag(PLAIN.as_bytes()));
    assert_eq!(head.etag(), get.etag());
    assert_eq!(head.header("content-length"), PLAIN.len().to_string());
    let not_modified = fetch(
        addr,
        Method::HEAD,
        "/plain",
        &[("if-none-match", get.etag())],
    )
    .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    // An empty HEAD answer may be a stripped one: no tag, no length of 0.
    let head = fetch(addr, Method::HEAD, "/empty", &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(!head.has("etag"), "{:?}", head.headers);
    assert!(!head.has("content-length"), "{:?}", head.headers);
}

/// A HEAD answer that turns out empty only once read (a stream, not known to
/// be empty when it came): it is not hashed, its date conditions are decided
/// by the handler's `Last-Modified`, and a tag condition leaves it as it is.
#[tokio::test]
async fn a_head_answer_found_empty_is_judged_by_its_date_alone() {
    use tower_conditional::{Action, Outcome, ValidatorSource};
    let router = Router::new()
        .route(
            "/dated-stream",
            axum::routing::head(|| async {
                let body = FramesBody::chunks([""]).pending_before_each();
                response(StatusCode::OK, &[("last-modified", DATED)], Body::new(body))
            }),
        )
        .layer(
            ConditionalLayer::new()
                .head_requests(HeadRequests::Unchanged)
                .record_outcomes(true),
        );
    // Its `Last-Modified` is a validator: what is not judged is sent as
    // the handler made it, not passed through for want of one.
    let cases = [
        (None, StatusCode::OK, Action::Sent, false),
        (
            Some(("if-modified-since", LATER)),
            StatusCode::NOT_MODIFIED,
            Action::NotModified,
            true,
        ),
        (
            Some(("if-modified-since", "Mon, 13 Nov 2023 00:00:00 GMT")),
            StatusCode::OK,
            Action::Sent,
            true,
        ),
        (
            Some(("if-unmodified-since", "Mon, 13 Nov 2023 00:00:00 GMT")),
            StatusCode::PRECONDITION_FAILED,
            Action::PreconditionFailed,
            true,
        ),
        (
            Some(("if-none-match", "\"any\"")),
            StatusCode::OK,
            Action::Sent,
            false,
        ),
    ];
    for (field, status, action, evaluated) in cases {
        let mut request = Request::head("/dated-stream");
        if let Some((name, value)) = field {
            request = request.header(name, value);
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{field:?}");
        assert!(!response.headers().contains_key("etag"), "{field:?}");
        let outcome = *response.extensions().get::<Outcome>().expect("recorded");
        assert_eq!(outcome.action, action, "{field:?}");
        assert_eq!(outcome.evaluated, evaluated, "{field:?}");
        assert_eq!(outcome.validators, ValidatorSource::Handler, "{field:?}");
        if action == Action::NotModified {
            assert_eq!(outcome.not_sent, Some(0), "a HEAD sends no body");
        }
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert!(body.is_empty(), "{field:?}");
    }
}

/// A HEAD whose GET body outgrows the limit: the layer reads part of it
/// before it knows, and none of it may go out as the HEAD's body, whoever
/// serves the response (hyper drops a HEAD body; not every server does).
#[tokio::test]
async fn a_head_over_the_limit_sends_none_of_the_body_read() {
    use tower_conditional::{Action, Outcome, PassReason};
    // A service of its own, not a `Router`: axum strips HEAD bodies itself.
    let service = ConditionalLayer::new()
        .max_hashed_body_size(250)
        .record_outcomes(true)
        .layer(tower::service_fn(|_: Request<()>| async {
            let chunks: Vec<Vec<u8>> = (0..8).map(|_| vec![b'b'; 100]).collect();
            Ok::<_, Infallible>(Response::new(
                FramesBody::chunks(chunks).pending_before_each(),
            ))
        }));
    for method in [Method::GET, Method::HEAD] {
        for field in [None, Some(("if-modified-since", LATER))] {
            let mut request = Request::builder().method(method.clone()).uri("/big-stream");
            if let Some((name, value)) = field {
                request = request.header(name, value);
            }
            let response = service
                .clone()
                .oneshot(request.body(()).unwrap())
                .await
                .unwrap();
            let context = format!("{method} {field:?}");
            assert_eq!(response.status(), StatusCode::OK, "{context}");
            assert!(!response.headers().contains_key("etag"), "{context}");
            let outcome = *response.extensions().get::<Outcome>().expect("recorded");
            assert_eq!(
                outcome.action,
                Action::PassedThrough(PassReason::OverLimit),
                "{context}"
            );
            // Judged, by a `Last-Modified` it lacks: it goes on.
            assert_eq!(outcome.evaluated, field.is_some(), "{context}");
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            let expected = if method == Method::HEAD { 0 } else { 800 };
            assert_eq!(body.len(), expected, "{context}");
        }
    }
}
