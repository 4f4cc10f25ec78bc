//! actix-web 4 with `actix_middleware_etag::Etag::default()` wrapped around
//! the whole app (`MIDDLEWARE=on`, the default) or without it (`off`), for
//! `perf/scripts/load.sh` (PARTS=peers). Routes, as `load_target`'s:
//! `/json/1k`, `/json/1m` (the same bytes, from `PAYLOADS`), `/cached/1k`
//! (the same with `Cache-Control`), `/changing` (a counter) and `/missing`
//! (a 404).

use actix_middleware_etag::Etag;
use actix_web::{web, App, HttpResponse, HttpServer};
use tower_conditional_peers::{changing, settings, Documents, CACHE_CONTROL};

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/json/1k",
        web::get().to(|d: web::Data<Documents>| async move {
            HttpResponse::Ok()
                .content_type("application/json")
                .body(d.one_k.clone())
        }),
    )
    .route(
        "/json/1m",
        web::get().to(|d: web::Data<Documents>| async move {
            HttpResponse::Ok()
                .content_type("application/json")
                .body(d.one_m.clone())
        }),
    )
    .route(
        "/cached/1k",
        web::get().to(|d: web::Data<Documents>| async move {
            HttpResponse::Ok()
                .content_type("application/json")
                .insert_header(("cache-control", CACHE_CONTROL))
                .body(d.one_k.clone())
        }),
    )
    .route(
        "/changing",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("text/plain")
                .body(changing())
        }),
    )
    .route(
        "/missing",
        web::get().to(|| async {
            HttpResponse::NotFound()
                .content_type("text/plain")
                .body("not found\n")
        }),
    );
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let s = settings();
    let documents = web::Data::new(s.documents);
    println!(
        "listening on http://{} (actix-web, actix-middleware-etag {})",
        s.addr,
        if s.middleware { "on" } else { "off" }
    );
    // Two servers rather than `middleware::Condition`, so that "off" has no
    // wrapper at all: the bare framework.
    if s.middleware {
        HttpServer::new(move || {
            App::new()
                .app_data(documents.clone())
                .configure(routes)
                .wrap(Etag::default())
        })
        .bind(s.addr)?
        .run()
        .await
    } else {
        HttpServer::new(move || App::new().app_data(documents.clone()).configure(routes))
            .bind(s.addr)?
            .run()
            .await
    }
}
