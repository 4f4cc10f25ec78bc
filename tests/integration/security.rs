//! Nothing a client sends is reflected into a response, whatever the path
//! (200, 304, 412; hashed, handler-set, looked up), through a raw TCP socket.

use std::future::ready;
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_conditional::{ConditionalLayer, EntityTag, ResourceState, Validators};

use crate::support::serve_router;

const MARKER: &str = "zq7marker";

/// Sends raw request bytes on a fresh connection and returns the response head.
async fn raw_head(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
            if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                received.truncate(end);
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("a response head in time");
    String::from_utf8_lossy(&received).into_owned()
}

fn request(method: &str, fields: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut bytes =
        format!("{method} / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n").into_bytes();
    for (name, value) in fields {
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"connection: close\r\n\r\n");
    bytes
}

fn hostile_fields(current_tag: &str) -> Vec<Vec<(&'static str, Vec<u8>)>> {
    let marked_tag = format!("\"{MARKER}\"").into_bytes();
    let with_current = format!("\"{MARKER}\", {current_tag}").into_bytes();
    let mut obs_text = format!("\"{MARKER}").into_bytes();
    obs_text.extend_from_slice(b"\xff\xfe\"");
    vec![
        vec![("if-none-match", marked_tag.clone())],
        vec![("if-none-match", with_current.clone())],
        vec![("if-match", marked_tag.clone())],
        vec![("if-match", with_current)],
        vec![("if-none-match", obs_text)],
        vec![(
            "if-modified-since",
            format!("Sun, 06 Nov 1994 08:49:37 {MARKER}").into_bytes(),
        )],
        vec![(
            "if-unmodified-since",
            format!("{MARKER}, 06 Nov 1994").into_bytes(),
        )],
        vec![(
            "if-none-match",
            format!("W/{MARKER}, *, {MARKER}").into_bytes(),
        )],
    ]
}

async fn assert_nothing_reflected(addr: SocketAddr, current_tag: &str) {
    for method in ["GET", "HEAD", "PUT"] {
        for fields in hostile_fields(current_tag) {
            let head = raw_head(addr, &request(method, &fields)).await;
            assert!(head.starts_with("HTTP/1.1 "), "{method} {fields:?}: {head}");
            assert!(
                !head.contains(MARKER),
                "{method} {fields:?} reflected into the response:\n{head}"
            );
        }
    }
}

#[tokio::test]
async fn hashed_responses_reflect_nothing() {
    let router = Router::new()
        .route("/", get(|| async { "body" }).put(|| async { "put" }))
        .layer(ConditionalLayer::new());
    let addr = serve_router(router).await;
    let current = EntityTag::from_content(b"body").to_string();
    // The list that holds the current tag does give a 304: the marker is
    // still absent from it.
    let head = raw_head(addr, &request("GET", &hostile_fields(&current)[1])).await;
    assert!(head.starts_with("HTTP/1.1 304"), "{head}");
    assert_nothing_reflected(addr, &current).await;
}

#[tokio::test]
async fn looked_up_answers_reflect_nothing() {
    let current = Validators::new().with_etag(EntityTag::strong("v1").unwrap());
    let router = Router::new()
        .route("/", get(|| async { "body" }).put(|| async { "put" }))
        .layer(
            ConditionalLayer::new()
                .lookup_validators(move |_| ready(ResourceState::Current(current.clone()))),
        );
    let addr = serve_router(router).await;
    let head = raw_head(addr, &request("PUT", &hostile_fields("\"v1\"")[2])).await;
    assert!(head.starts_with("HTTP/1.1 412"), "{head}");
    assert_nothing_reflected(addr, "\"v1\"").await;
}
