//! The `Outcome` in each response's extensions, read as an outer layer
//! reads it: a middleware outside the layer copies it into a response
//! header, and the test reads that header through a real socket.

use std::convert::Infallible;
use std::future::ready;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request as AxumRequest;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;
use tower::{service_fn, Layer, ServiceExt};
use tower_conditional::{
    Action, Bypass, ConditionalLayer, EntityTag, HeadRequests, LookupRequest, Outcome, PassReason,
    ResourceState, ValidatorSource, Validators,
};

use crate::support::*;

/// `action reason validators body_length not_sent evaluated before_handler`,
/// `-` for what is absent. Whether the memo spared the hash depends on what
/// ran before on the thread: `a_remembered_body_says_it_spared_the_hash`
/// checks it alone.
fn describe(outcome: &Outcome) -> String {
    let reason = match outcome.action {
        Action::PassedThrough(reason) => reason.as_str(),
        _ => "-",
    };
    let number = |n: Option<u64>| n.map_or("-".to_owned(), |n| n.to_string());
    format!(
        "{} {reason} {} {} {} {} {}",
        outcome.action.as_str(),
        outcome.validators,
        number(outcome.body_length),
        number(outcome.not_sent),
        outcome.evaluated,
        outcome.before_handler,
    )
}

/// The metrics-layer position: outside the conditional layer.
async fn copy_outcome(request: AxumRequest, next: Next) -> Response {
    let mut response = next.run(request).await;
    let described = match response.extensions().get::<Outcome>() {
        Some(outcome) => describe(outcome),
        None => "none".to_owned(),
    };
    response
        .headers_mut()
        .insert("x-outcome", HeaderValue::from_str(&described).unwrap());
    response
}

const PAGE: &str = "<p>twenty-two bytes</p>";

fn not_html(parts: &http::response::Parts) -> bool {
    parts
        .headers
        .get("content-type")
        .is_none_or(|value| value != "text/x-declined")
}

async fn server(layer: ConditionalLayer) -> SocketAddr {
    let router = Router::new()
        .route("/page", get(|| async { PAGE }))
        .route(
            "/tagged",
            get(|| async { ([("etag", "\"v1\"")], "the handler's own") }),
        )
        .route("/write", post(|| async { "written" }))
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "no such page") }),
        )
        .route(
            "/bypassed",
            get(|| async { (Extension(Bypass), "live value") }),
        )
        .route(
            "/private",
            get(|| async { ([("cache-control", "no-store")], "secret") }),
        )
        .route(
            "/events",
            get(|| async { ([("content-type", "text/event-stream")], "data: 1\n\n") }),
        )
        .route(
            "/declined",
            get(|| async { ([("content-type", "text/x-declined")], "not hashed") }),
        )
        .route("/large", get(|| async { "x".repeat(100) }))
        .route(
            "/large-streamed",
            get(|| async {
                let chunks = (0..10).map(|_| Ok::<_, Infallible>(Bytes::from_static(&[b'y'; 10])));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .layer(layer.max_hashed_body_size(64).hash_when(not_html))
        .layer(middleware::from_fn(copy_outcome));
    serve_router(router).await
}

async fn outcome_of(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (Fetched, String) {
    let fetched = fetch(addr, method, path, headers).await;
    let outcome = fetched.header("x-outcome").to_owned();
    (fetched, outcome)
}

#[tokio::test]
async fn every_decision_is_said_in_the_outcome() {
    let addr = server(ConditionalLayer::new().record_outcomes(true)).await;
    let len = PAGE.len();

    let (first, outcome) = outcome_of(addr, Method::GET, "/page", &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(outcome, format!("sent - body {len} - false false"));
    let etag = first.etag().to_owned();

    let (again, outcome) =
        outcome_of(addr, Method::GET, "/page", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(
        outcome,
        format!("not_modified - body 0 {len} true false"),
        "a 304 says the bytes it did not send"
    );

    let (changed, outcome) =
        outcome_of(addr, Method::GET, "/page", &[("if-none-match", "\"old\"")]).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(outcome, format!("sent - body {len} - true false"));

    let (failed, outcome) =
        outcome_of(addr, Method::GET, "/page", &[("if-match", "\"old\"")]).await;
    assert_eq!(failed.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(outcome, "precondition_failed - body 0 - true false");

    let (head, outcome) = outcome_of(addr, Method::HEAD, "/page", &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(
        outcome, "sent - body 0 - false false",
        "a HEAD sends no body"
    );

    let (part, outcome) = outcome_of(addr, Method::GET, "/page", &[("range", "bytes=0-3")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(outcome, "partial_content - body 4 - false false");

    let (beyond, outcome) =
        outcome_of(addr, Method::GET, "/page", &[("range", "bytes=500-")]).await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(outcome, "range_not_satisfiable - body 0 - false false");

    let (_, outcome) = outcome_of(addr, Method::GET, "/tagged", &[]).await;
    assert_eq!(outcome, "sent - handler 17 - false false");
    let (kept, outcome) =
        outcome_of(addr, Method::GET, "/tagged", &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(kept.status, StatusCode::NOT_MODIFIED);
    assert_eq!(outcome, "not_modified - handler 0 17 true false");
}

#[tokio::test]
async fn every_pass_through_says_why() {
    let addr = server(ConditionalLayer::new().record_outcomes(true)).await;
    let cases = [
        (Method::POST, "/write", "method"),
        (Method::GET, "/missing", "status"),
        (Method::GET, "/bypassed", "bypass"),
        (Method::GET, "/private", "no_store"),
        (Method::GET, "/events", "streaming"),
        (Method::GET, "/declined", "hash_when"),
        (Method::GET, "/large", "announced_over_limit"),
        (Method::GET, "/large-streamed", "over_limit"),
    ];
    for (method, path, reason) in cases {
        let (fetched, outcome) = outcome_of(addr, method.clone(), path, &[]).await;
        assert!(
            !fetched.has("etag"),
            "{method} {path}: {:?}",
            fetched.headers
        );
        let words: Vec<&str> = outcome.split(' ').collect();
        assert_eq!(
            &words[..3],
            &["passed_through", reason, "none"],
            "{method} {path}: {outcome}"
        );
    }
    // A body that failed while it was read: the client sees the error, the
    // outcome says it (the connection breaks, so read it in process).
    let service = ConditionalLayer::new()
        .record_outcomes(true)
        .layer(service_fn(|_: Request<()>| async {
            let (sender, body) = ChannelBody::new();
            sender.data("half");
            sender.error("upstream went away");
            Ok::<_, Infallible>(http::Response::new(body))
        }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    let outcome = response.extensions().get::<Outcome>().unwrap();
    assert_eq!(outcome.action, Action::PassedThrough(PassReason::BodyError));
}

/// A body the layer did not hash, and no validator from the handler: its
/// preconditions are still decided, a tag matching nothing and `*` only
/// whether there is a representation (RFC 9110 §13.1.1, §13.1.2), and the
/// outcome says which requests were evaluated and why the body was not
/// tagged.
#[tokio::test]
async fn preconditions_on_an_untagged_body_are_said_to_be_evaluated() {
    let addr = server(ConditionalLayer::new().record_outcomes(true)).await;
    let cases = [
        (
            &[][..],
            StatusCode::OK,
            "passed_through over_limit none - - false false",
        ),
        (
            &[("if-none-match", "\"old\"")][..],
            StatusCode::OK,
            "passed_through over_limit none - - true false",
        ),
        (
            &[("if-none-match", "*")][..],
            StatusCode::NOT_MODIFIED,
            "not_modified - none 0 - true false",
        ),
        (
            &[("if-match", "*")][..],
            StatusCode::OK,
            "passed_through over_limit none - - true false",
        ),
        (
            &[("if-match", "\"old\"")][..],
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed - none 0 - true false",
        ),
    ];
    for (headers, status, expected) in cases {
        let (fetched, outcome) = outcome_of(addr, Method::GET, "/large-streamed", headers).await;
        assert_eq!(fetched.status, status, "{headers:?}");
        assert!(!fetched.has("etag"), "{headers:?}: {:?}", fetched.headers);
        assert_eq!(outcome, expected, "{headers:?}");
    }
    // A response passed on as it came is not judged at all.
    let (fetched, outcome) =
        outcome_of(addr, Method::GET, "/private", &[("if-match", "\"old\"")]).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(outcome, "passed_through no_store none 6 - false false");
}

#[tokio::test]
async fn an_empty_head_answer_is_said_to_be_one() {
    let service = ConditionalLayer::new()
        .record_outcomes(true)
        .head_requests(HeadRequests::Unchanged)
        .layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
        }));
    let head = Request::head("/").body(()).unwrap();
    let response = service.oneshot(head).await.unwrap();
    let outcome = response.extensions().get::<Outcome>().unwrap();
    assert_eq!(outcome.action, Action::PassedThrough(PassReason::EmptyHead));
}

#[tokio::test]
async fn nothing_is_recorded_unless_asked() {
    let addr = server(ConditionalLayer::new()).await;
    for path in ["/page", "/private", "/missing"] {
        let (_, outcome) = outcome_of(addr, Method::GET, path, &[]).await;
        assert_eq!(outcome, "none", "{path}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_remembered_body_says_it_spared_the_hash() {
    let service = ConditionalLayer::new()
        .record_outcomes(true)
        .layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                b"the same bytes every time, on one thread",
            ))))
        }));
    let mut remembered = Vec::new();
    let mut etag = None;
    for _ in 0..4 {
        let response = service.clone().oneshot(Request::new(())).await.unwrap();
        remembered.push(response.extensions().get::<Outcome>().unwrap().remembered);
        etag = response.headers().get("etag").cloned();
    }
    // The memo copies a body on its second sighting and answers from the
    // third (unless another test on this thread filled the same set).
    assert!(!remembered[0], "{remembered:?}");
    assert!(remembered[3], "{remembered:?}");
    // A conditional request's answer, 304 or 200, says it too.
    let etag = etag.expect("tagged");
    for (if_none_match, status) in [
        (etag, StatusCode::NOT_MODIFIED),
        (HeaderValue::from_static("\"other\""), StatusCode::OK),
    ] {
        let request = Request::get("/")
            .header("if-none-match", if_none_match)
            .body(())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
        let outcome = response.extensions().get::<Outcome>().unwrap();
        assert!(
            outcome.remembered && outcome.evaluated,
            "{status}: {outcome:?}"
        );
    }
}

/// The lookup's answers: before the handler, or through it.
#[tokio::test]
async fn answers_from_a_lookup_say_so() {
    let current = EntityTag::strong("v7").unwrap();
    let lookup = move |request: LookupRequest| {
        let current = current.clone();
        ready(match request.uri.path() {
            "/down" => ResourceState::Unavailable {
                retry_after: Some(Duration::from_secs(3)),
            },
            "/gone" => ResourceState::Missing,
            _ => ResourceState::Current(Validators::new().with_etag(current)),
        })
    };
    let service = ConditionalLayer::new()
        .record_outcomes(true)
        .lookup_validators(lookup)
        .layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"item"))))
        }));
    let call = |method: Method, path: &str, field: (&str, &str)| {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(field.0, field.1)
            .body(())
            .unwrap();
        let service = service.clone();
        async move {
            let response = service.oneshot(request).await.unwrap();
            let outcome = *response.extensions().get::<Outcome>().unwrap();
            (response.status(), describe(&outcome))
        }
    };
    assert_eq!(
        call(Method::GET, "/item", ("if-none-match", "\"v7\"")).await,
        (
            StatusCode::NOT_MODIFIED,
            "not_modified - lookup 0 - true true".to_owned()
        )
    );
    assert_eq!(
        call(Method::PUT, "/item", ("if-match", "\"v6\"")).await,
        (
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed - lookup 0 - true true".to_owned()
        )
    );
    assert_eq!(
        call(Method::PUT, "/item", ("if-match", "\"v7\"")).await,
        (StatusCode::OK, "sent - lookup 4 - true false".to_owned())
    );
    assert_eq!(
        call(Method::PUT, "/down", ("if-match", "\"v7\"")).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable - none 0 - false true".to_owned()
        )
    );
    // A missing resource: its preconditions are decided all the same
    // (RFC 9110 §13.1.1, §13.1.2), with no validator to show for it.
    assert_eq!(
        call(Method::PUT, "/gone", ("if-match", "\"v7\"")).await,
        (
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed - none 0 - true true".to_owned()
        )
    );
    assert_eq!(
        call(Method::PUT, "/gone", ("if-none-match", "*")).await,
        (StatusCode::OK, "sent - none 4 - true false".to_owned())
    );
    // The handler ran, and its 200 carries the looked-up tag.
    assert_eq!(
        call(Method::GET, "/item", ("if-none-match", "\"v6\"")).await,
        (StatusCode::OK, "sent - lookup 4 - true false".to_owned())
    );
}

/// A hostile `If-None-Match` leaves no trace in the outcome: it is made of
/// the layer's decisions only.
#[tokio::test]
async fn the_outcome_holds_nothing_the_client_sent() {
    let service = ConditionalLayer::new()
        .record_outcomes(true)
        .layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"x"))))
        }));
    let hostile = HeaderValue::from_bytes(b"\"\xffEVIL\xfe\", W/\"\x80\t\"").unwrap();
    let request = Request::builder()
        .header("if-none-match", hostile)
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let outcome = response.extensions().get::<Outcome>().unwrap();
    let shown = format!("{outcome:?} {} {}", outcome.describe(), outcome.action);
    assert!(shown.is_ascii() && !shown.contains("EVIL"), "{shown}");
    assert_eq!(outcome.action, Action::Sent);
    assert_eq!(outcome.validators, ValidatorSource::Body);
}

/// A large body served from one shared buffer is tagged once: the next
/// response of the same buffer reuses the tag, and says so.
#[tokio::test(flavor = "current_thread")]
async fn the_same_large_buffer_is_not_hashed_again() {
    static ASSET: [u8; 1 << 20] = [b'z'; 1 << 20];
    let service = ConditionalLayer::new()
        .record_outcomes(true)
        .layer(service_fn(|_: Request<()>| async {
            let asset = Bytes::from_static(&ASSET);
            Ok::<_, Infallible>(http::Response::new(Full::new(asset)))
        }));
    let mut seen = Vec::new();
    for _ in 0..2 {
        let response = service.clone().oneshot(Request::new(())).await.unwrap();
        let outcome = *response.extensions().get::<Outcome>().unwrap();
        seen.push((response.headers()["etag"].clone(), outcome.remembered));
    }
    assert_eq!(seen[0].0, content_etag(&ASSET));
    assert_eq!(seen[1].0, seen[0].0);
    assert!(!seen[0].1 && seen[1].1, "{seen:?}");
}
