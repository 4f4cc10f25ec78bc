//! axum 0.6 with tower-etag-cache's `EtagCacheLayer` and its
//! `ConstLruProvider` set up as the crate's README does (`MIDDLEWARE=on`, the
//! default) or without them (`off`), for `perf/scripts/load.sh`
//! (PARTS=peers). Routes as `peer_actix`'s and `load_target`'s.

use axum::error_handling::HandleErrorLayer;
use axum::http::header::{CACHE_CONTROL as CACHE_CONTROL_HEADER, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{BoxError, Router};
use bytes::Bytes;
use tower::ServiceBuilder;
use tower_conditional_peers::{changing, settings, CACHE_CONTROL};
use tower_etag_cache::const_lru_provider::ConstLruProvider;
use tower_etag_cache::EtagCacheLayer;

fn json(body: Bytes) -> Response {
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

async fn handle_etag_cache_layer_err<T: Into<BoxError>>(err: T) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, err.into().to_string())
}

#[tokio::main]
async fn main() {
    let s = settings();
    let d = s.documents;
    let (one_k, one_m, cached) = (d.one_k.clone(), d.one_m.clone(), d.one_k);
    let app = Router::new()
        .route("/json/1k", get(move || async move { json(one_k) }))
        .route("/json/1m", get(move || async move { json(one_m) }))
        .route(
            "/cached/1k",
            get(move || async move {
                (
                    [
                        (CONTENT_TYPE, "application/json"),
                        (CACHE_CONTROL_HEADER, CACHE_CONTROL),
                    ],
                    cached,
                )
            }),
        )
        .route(
            "/changing",
            get(|| async { ([(CONTENT_TYPE, "text/plain")], changing()) }),
        )
        .route(
            "/missing",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    [(CONTENT_TYPE, "text/plain")],
                    "not found\n",
                )
            }),
        );
    let app = if s.middleware {
        // The README's quickstart: 255 entries, a request channel of 5.
        app.layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(handle_etag_cache_layer_err))
                .layer(EtagCacheLayer::with_default_predicate(ConstLruProvider::<
                    _,
                    _,
                    255,
                    u8,
                >::init(
                    5
                ))),
        )
    } else {
        app
    };
    println!(
        "listening on http://{} (axum 0.6, tower-etag-cache {})",
        s.addr,
        if s.middleware { "on" } else { "off" }
    );
    axum::Server::bind(&s.addr)
        .serve(app.into_make_service())
        .await
        .unwrap();
}
