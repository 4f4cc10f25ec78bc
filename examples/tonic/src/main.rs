//! A tonic gRPC server behind `ConditionalLayer`.
//!
//! ```text
//! cargo run -p example-tonic             # listens on 127.0.0.1:50051
//! ADDR=127.0.0.1:6000 cargo run -p example-tonic
//! ```
//!
//! It serves the standard gRPC health service (`grpc.health.v1.Health`), with
//! the server as a whole (the empty service name) reported `SERVING`:
//!
//! ```text
//! grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Check
//! grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Watch
//! ```
//!
//! The layer can sit in front of a gRPC server (or of a router that serves
//! gRPC next to plain HTTP routes) without changing anything about gRPC:
//! calls are `POST`s, which the layer never buffers, and any response with
//! `Content-Type: application/grpc*` streams through untouched, without an
//! `ETag`, whatever the method. Unary answers, server streams and the
//! `grpc-status` trailers reach the client exactly as tonic sent them.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::ServingStatus;
use tower_conditional::ConditionalLayer;

/// Serves `health` on `listener`, with every request going through
/// `ConditionalLayer`. Runs until the listener fails.
pub async fn serve<H: Health>(
    listener: TcpListener,
    health: HealthServer<H>,
) -> Result<(), tonic::transport::Error> {
    Server::builder()
        .layer(ConditionalLayer::new())
        .add_service(health)
        .serve_with_incoming(TcpIncoming::from(listener))
        .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:50051".to_owned())
        .parse()
        .expect("ADDR must be an address like 127.0.0.1:50051");

    let (reporter, health) = tonic_health::server::health_reporter();
    // The empty service name stands for the whole server (gRPC health
    // checking protocol). A new reporter already says SERVING; saying it
    // explicitly keeps the example honest if that default ever changes.
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;

    let listener = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|error| panic!("cannot listen on {addr}: {error}"));
    println!("gRPC listening on http://{}", listener.local_addr()?);
    serve(listener, health).await?;
    Ok(())
}
