//! Failures, the crate's own behaviour: an error of the inner body while it
//! is buffered reaches the client as an error, never as a complete 200 with
//! an `ETag`; dropping the response future (a client gone, a timeout) drops
//! the inner body.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::io::AsyncWriteExt;
use tower::{Layer, ServiceBuilder};
use tower_conditional::ConditionalLayer;

use crate::support::*;

fn router(tap: Tap) -> Router {
    Router::new()
        .route(
            "/channel",
            get(|State(tap): State<Tap>| async move { Body::new(tap.body()) }),
        )
        .route(
            "/channel-with-length",
            get(|State(tap): State<Tap>| async move {
                response(
                    StatusCode::OK,
                    &[("content-length", "20")],
                    Body::new(tap.body()),
                )
            }),
        )
        .with_state(tap)
}

#[derive(Debug, Clone, Copy)]
enum Setup {
    RouterLayer,
    WrappedHyper,
}

async fn serve(setup: Setup) -> (SocketAddr, TapRx) {
    let (tap, rx) = tap();
    let addr = match setup {
        Setup::RouterLayer => serve_router(router(tap).layer(ConditionalLayer::new())).await,
        Setup::WrappedHyper => {
            serve_h1(
                ConditionalLayer::new().layer(router(tap)),
                H1Options::default(),
            )
            .await
        }
    };
    (addr, rx)
}

const SETUPS: [Setup; 2] = [Setup::RouterLayer, Setup::WrappedHyper];

/// Sends `method path`, lets the handler's body send `chunks` and then fail,
/// and asserts the client sees an error, not a complete response with a tag.
async fn assert_error_reaches_client(setup: Setup, method: Method, path: &str, chunks: &[&str]) {
    let (addr, mut taps) = serve(setup).await;
    let client = client();
    let request = request(method.clone(), addr, path)
        .body(Full::default())
        .unwrap();
    let mut pending = Box::pin(client.request(request));
    let sender = tokio::select! {
        sender = taps.next() => sender,
        _ = &mut pending => panic!("answered before the body started"),
    };
    for chunk in chunks {
        sender.data(chunk.to_string());
    }
    sender.error("the database went away");
    let what = format!("{setup:?} {method} {path} after {chunks:?}");
    match within("the response", pending).await {
        Err(_) => {} // the head never came: an error too
        Ok(response) => {
            assert!(
                !response.headers().contains_key("etag"),
                "{what}: a failed body must not get an ETag"
            );
            let body = within("the body", response.into_body().collect()).await;
            assert!(
                body.is_err(),
                "{what}: the client read a complete body: {:?}",
                body.map(|b| b.to_bytes())
            );
        }
    }
}

#[tokio::test]
async fn body_error_while_buffering_reaches_the_client() {
    for setup in SETUPS {
        assert_error_reaches_client(setup, Method::GET, "/channel", &["partial", " data"]).await;
    }
}

#[tokio::test]
async fn body_error_before_any_data_reaches_the_client() {
    for setup in SETUPS {
        assert_error_reaches_client(setup, Method::GET, "/channel", &[]).await;
    }
}

#[tokio::test]
async fn body_error_with_a_declared_length_reaches_the_client() {
    for setup in SETUPS {
        assert_error_reaches_client(setup, Method::GET, "/channel-with-length", &["12345"]).await;
    }
}

#[tokio::test]
async fn body_error_on_the_wire_is_an_incomplete_message() {
    for setup in SETUPS {
        let (addr, mut taps) = serve(setup).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(&raw_request("GET", "/channel", &[("Connection", b"close")]))
            .await
            .unwrap();
        let sender = taps.next().await;
        sender.data("partial");
        sender.error("boom");
        let mut raw = Vec::new();
        use tokio::io::AsyncReadExt;
        // The server must end the connection (it cannot finish the message).
        let _ = within("the server to close", stream.read_to_end(&mut raw)).await;
        let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
        assert!(!text.contains("etag:"), "{setup:?}: {text}");
        if let Some((status, headers, head_len)) = parse_head(&raw) {
            assert_eq!(status, 200, "{setup:?}");
            let chunked = headers
                .iter()
                .any(|(n, v)| n == "transfer-encoding" && v == b"chunked");
            assert!(chunked, "{setup:?}: no length may be promised: {text}");
            assert!(
                decode_chunked(&raw[head_len..]).is_none(),
                "{setup:?}: the chunked body must not be terminated: {text}"
            );
        }
    }
}

#[tokio::test]
async fn head_with_a_failing_body_gets_no_etag() {
    for setup in SETUPS {
        let (addr, mut taps) = serve(setup).await;
        let client = client();
        let request = request(Method::HEAD, addr, "/channel")
            .body(Full::default())
            .unwrap();
        let mut pending = Box::pin(client.request(request));
        let sender = tokio::select! {
            sender = taps.next() => sender,
            _ = &mut pending => panic!("answered before the body started"),
        };
        sender.data("partial");
        sender.error("boom");
        if let Ok(response) = within("the response", pending).await {
            assert!(
                !response.headers().contains_key("etag"),
                "{setup:?}: HEAD of a failed body got an ETag"
            );
        }
    }
}

#[tokio::test]
async fn client_disconnect_while_buffering_drops_the_inner_body() {
    for setup in SETUPS {
        let (addr, mut taps) = serve(setup).await;
        let mut conn = RawConn::connect(addr).await;
        conn.send(&raw_request("GET", "/channel", &[])).await;
        let (sender, dropped) = taps.next_with_flag().await;
        sender.data("never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !dropped.load(Ordering::SeqCst),
            "{setup:?}: the body is alive while the client waits"
        );
        drop(conn.into_stream());
        wait_for_flag(
            "the inner body to be dropped after the disconnect",
            &dropped,
        )
        .await;
        assert!(sender.is_closed());
    }
}

#[tokio::test]
async fn timeout_outside_the_layer_drops_the_inner_body() {
    let (tap, mut taps) = tap();
    let service = ServiceBuilder::new()
        .timeout(Duration::from_millis(300))
        .layer(ConditionalLayer::new())
        .service(router(tap));
    let addr = serve_h1(service, H1Options::default()).await;
    let client = client();
    let request = request(Method::GET, addr, "/channel")
        .body(Full::default())
        .unwrap();
    let pending = tokio::spawn(client.request(request));
    let (sender, dropped) = taps.next_with_flag().await;
    sender.data("never finished");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !dropped.load(Ordering::SeqCst),
        "the body is alive before the timeout"
    );
    wait_for_flag("the inner body to be dropped by the timeout", &dropped).await;
    // The request failed; it did not get a response built from a partial body.
    let result = within("the client", pending).await.unwrap();
    assert!(result.is_err(), "{result:?}");
}
