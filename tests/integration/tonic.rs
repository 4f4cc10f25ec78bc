//! gRPC through `ConditionalLayer`: the server of `examples/tonic.rs` (tonic
//! with the standard health service), on a real socket.
//!
//! gRPC calls are `POST`s, which the layer passes on without looking at
//! them; these tests check that the layer in tonic's stack changes nothing
//! (unary answers, server streams, `grpc-status` in trailers, no `ETag`).
//! tonic routes by path only, so the same calls also work as `GET`s sent by a
//! raw HTTP/2 client: those reach the part of the layer that reads responses,
//! and show that an `application/grpc` answer to a `GET` is streamed, not
//! buffered or hashed, even with `If-None-Match: *` on the request.

#[path = "../../examples/tonic/src/main.rs"]
#[allow(dead_code)] // the example's `main` is not used here
mod example;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus as Wire;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::support::{h2_client, within, HttpClient};

const CHECK: &str = "/grpc.health.v1.Health/Check";
const WATCH: &str = "/grpc.health.v1.Health/Watch";
const UNKNOWN_SERVICE: &str = "no.such.Service";

/// Starts the example's server on 127.0.0.1:0.
async fn start() -> (SocketAddr, HealthReporter) {
    let (reporter, health) = tonic_health::server::health_reporter();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        example::serve(listener, health)
            .await
            .expect("tonic server");
    });
    (addr, reporter)
}

async fn grpc_client(addr: SocketAddr) -> HealthClient<Channel> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}")).expect("endpoint");
    let channel = within("connect", endpoint.connect())
        .await
        .expect("connect to the tonic server");
    HealthClient::new(channel)
}

fn check_request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// With tonic's own client
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unary_check_is_unchanged_and_gets_no_etag() {
    let (addr, _reporter) = start().await;
    let mut client = grpc_client(addr).await;

    let response = within("Check", client.check(check_request("")))
        .await
        .expect("Check of the whole server");
    assert!(
        response.metadata().get("etag").is_none(),
        "a gRPC answer got an ETag: {:?}",
        response.metadata()
    );
    assert_eq!(
        response.metadata().get("content-type").unwrap(),
        "application/grpc"
    );
    assert_eq!(response.get_ref().status(), Wire::Serving);

    // The error travels in grpc-status / grpc-message and reaches tonic's
    // client as the same Status.
    let status = within(
        "Check of an unknown service",
        client.check(check_request(UNKNOWN_SERVICE)),
    )
    .await
    .expect_err("an unknown service must be an error");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(status.message(), "service not registered");
    assert!(status.metadata().get("etag").is_none());
}

#[tokio::test]
async fn watch_streams_every_change_while_the_stream_is_open() {
    let (addr, reporter) = start().await;
    let mut client = grpc_client(addr).await;

    let response = within("Watch", client.watch(check_request("")))
        .await
        .expect("Watch of the whole server");
    assert!(
        response.metadata().get("etag").is_none(),
        "a gRPC stream got an ETag: {:?}",
        response.metadata()
    );
    let mut stream = response.into_inner();

    // The stream never ends by itself: a layer that held the body back would
    // never deliver this first message.
    let first = within("the first Watch message", stream.message())
        .await
        .expect("first message")
        .expect("the stream ended early");
    assert_eq!(first.status(), Wire::Serving);

    // Nothing more until the status changes, and the stream is still open.
    let mut next = Box::pin(stream.message());
    assert!(
        crate::support::still_pending(&mut next, Duration::from_millis(200)).await,
        "a second message (or the end of the stream) came without a change"
    );
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let second = within("the second Watch message", next)
        .await
        .expect("second message")
        .expect("the stream ended early");
    assert_eq!(second.status(), Wire::NotServing);

    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let third = within("the third Watch message", stream.message())
        .await
        .expect("third message")
        .expect("the stream ended early");
    assert_eq!(third.status(), Wire::Serving);
}

#[tokio::test]
async fn watch_of_an_unknown_service_fails_with_not_found() {
    let (addr, _reporter) = start().await;
    let mut client = grpc_client(addr).await;
    let status = within("Watch", client.watch(check_request(UNKNOWN_SERVICE)))
        .await
        .expect_err("an unknown service must be an error");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}

// ---------------------------------------------------------------------------
// With a raw HTTP/2 client: the frames as they are on the wire
// ---------------------------------------------------------------------------

/// One gRPC message frame: uncompressed flag, big-endian length, message.
fn grpc_frame(message: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.extend_from_slice(&[0]);
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(message);
    frame.freeze()
}

/// `HealthCheckRequest { service }` in protobuf, encoded by hand.
fn encoded_request(service: &str) -> Vec<u8> {
    if service.is_empty() {
        return Vec::new(); // proto3 leaves out empty fields
    }
    let mut message = vec![0x0a, u8::try_from(service.len()).expect("short name")];
    message.extend_from_slice(service.as_bytes());
    message
}

/// `HealthCheckResponse { status }` in protobuf, encoded by hand.
fn encoded_response(status: Wire) -> Vec<u8> {
    vec![0x08, status as u8]
}

fn grpc_request(
    method: Method,
    addr: SocketAddr,
    path: &str,
    service: &str,
    extra: &[(&str, &str)],
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(grpc_frame(&encoded_request(service))))
        .unwrap()
}

async fn send_h2(client: &HttpClient, request: Request<Full<Bytes>>) -> http::Response<Incoming> {
    within("response head", client.request(request))
        .await
        .expect("HTTP/2 request")
}

/// The whole body, split into gRPC messages, and the trailers.
async fn read_all(response: http::Response<Incoming>) -> (Vec<Vec<u8>>, Option<HeaderMap>) {
    let collected = within("the whole body", response.into_body().collect())
        .await
        .expect("read the body");
    let trailers = collected.trailers().cloned();
    let mut bytes = collected.to_bytes();
    let mut messages = Vec::new();
    while !bytes.is_empty() {
        messages.push(take_message(&mut bytes).expect("a complete gRPC message"));
    }
    (messages, trailers)
}

/// Takes one complete message off the front of `buffer`, if there is one.
fn take_message(buffer: &mut impl Buf) -> Option<Vec<u8>> {
    let chunk = buffer.chunk();
    if buffer.remaining() < 5 || chunk.len() < 5 {
        return None;
    }
    assert_eq!(chunk[0], 0, "compressed gRPC message");
    let length = u32::from_be_bytes(chunk[1..5].try_into().unwrap()) as usize;
    if buffer.remaining() < 5 + length {
        return None;
    }
    buffer.advance(5);
    Some(buffer.copy_to_bytes(length).to_vec())
}

/// Reads data frames until one whole message is there.
async fn next_message(body: &mut Incoming, buffer: &mut BytesMut) -> Vec<u8> {
    loop {
        if let Some(message) = take_message(buffer) {
            return message;
        }
        let frame = within("a data frame of the stream", body.frame())
            .await
            .expect("the stream ended early")
            .expect("stream error");
        match frame.into_data() {
            Ok(data) => buffer.extend_from_slice(&data),
            Err(frame) => panic!("trailers in the middle of a stream: {frame:?}"),
        }
    }
}

fn assert_untouched_grpc_head(response: &http::Response<Incoming>) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.headers()["content-type"], "application/grpc");
    assert!(
        !response.headers().contains_key("etag"),
        "a gRPC answer got an ETag: {:?}",
        response.headers()
    );
}

#[tokio::test]
async fn grpc_status_trailers_arrive_intact() {
    let (addr, _reporter) = start().await;
    let client = h2_client();

    let response = send_h2(&client, grpc_request(Method::POST, addr, CHECK, "", &[])).await;
    assert_untouched_grpc_head(&response);
    assert!(!response.headers().contains_key("grpc-status"));
    let (messages, trailers) = read_all(response).await;
    assert_eq!(messages, vec![encoded_response(Wire::Serving)]);
    let trailers = trailers.expect("a successful call ends with trailers");
    assert_eq!(trailers["grpc-status"], "0", "{trailers:?}");

    // tonic answers an error as "trailers-only": one HEADERS frame that ends
    // the stream, with grpc-status in it and no data. It comes through whole.
    let response = send_h2(
        &client,
        grpc_request(Method::POST, addr, CHECK, UNKNOWN_SERVICE, &[]),
    )
    .await;
    assert_untouched_grpc_head(&response);
    let in_head = response.headers().get("grpc-status").cloned();
    let message = response.headers().get("grpc-message").cloned();
    let (messages, trailers) = read_all(response).await;
    assert!(messages.is_empty());
    let status = in_head
        .or_else(|| {
            trailers
                .as_ref()
                .and_then(|t| t.get("grpc-status").cloned())
        })
        .expect("grpc-status in the trailers-only head or in trailers");
    assert_eq!(status, "5", "NOT_FOUND");
    let message = message
        .or_else(|| {
            trailers
                .as_ref()
                .and_then(|t| t.get("grpc-message").cloned())
        })
        .expect("grpc-message");
    assert_eq!(message, "service%20not%20registered");
}

/// A `GET` reaches the part of the layer that reads responses. A `200` to a
/// `GET` with `If-None-Match: *` would be a `304` for any hashed body; an
/// `application/grpc` one must stream through as it is.
#[tokio::test]
async fn grpc_answer_to_a_get_is_not_hashed_or_revalidated() {
    let (addr, _reporter) = start().await;
    let client = h2_client();

    let request = grpc_request(Method::GET, addr, CHECK, "", &[("if-none-match", "*")]);
    let response = send_h2(&client, request).await;
    assert_untouched_grpc_head(&response);
    let (messages, trailers) = read_all(response).await;
    assert_eq!(messages, vec![encoded_response(Wire::Serving)]);
    assert_eq!(trailers.expect("trailers")["grpc-status"], "0");

    let request = grpc_request(
        Method::GET,
        addr,
        CHECK,
        UNKNOWN_SERVICE,
        &[("if-none-match", "*")],
    );
    let response = send_h2(&client, request).await;
    assert_untouched_grpc_head(&response);
    let in_head = response.headers().get("grpc-status").cloned();
    let (_, trailers) = read_all(response).await;
    let status = in_head
        .or_else(|| trailers.and_then(|t| t.get("grpc-status").cloned()))
        .expect("grpc-status");
    assert_eq!(status, "5");
}

/// A server stream answered to a `GET`: each message reaches the client
/// while the stream stays open (the layer does not wait for the end).
#[tokio::test]
async fn grpc_stream_answered_to_a_get_is_not_buffered() {
    let (addr, reporter) = start().await;
    let client = h2_client();

    let request = grpc_request(Method::GET, addr, WATCH, "", &[("if-none-match", "*")]);
    let response = send_h2(&client, request).await;
    assert_untouched_grpc_head(&response);
    let mut body = response.into_body();
    let mut buffer = BytesMut::new();

    let first = next_message(&mut body, &mut buffer).await;
    assert_eq!(first, encoded_response(Wire::Serving));

    let mut next = Box::pin(body.frame());
    assert!(
        crate::support::still_pending(&mut next, Duration::from_millis(200)).await,
        "more came on the stream without a change"
    );
    drop(next);

    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let second = next_message(&mut body, &mut buffer).await;
    assert_eq!(second, encoded_response(Wire::NotServing));
    assert!(!http_body::Body::is_end_stream(&body));
}
