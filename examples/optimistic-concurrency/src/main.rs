//! Optimistic concurrency on PostgreSQL: `If-Match` against a `version`
//! column, create-only `PUT` with `If-None-Match: *`, `304`s answered without
//! running the handler, and `503` for checked writes while the database is
//! down.
//!
//! ```text
//! DATABASE_URL='host=127.0.0.1 port=5432 user=postgres dbname=postgres' \
//!     cargo run -p example-optimistic-concurrency   # listens on 127.0.0.1:3001 (ADDR overrides)
//!
//! curl -i -X PUT -H 'If-None-Match: *' -d '{"title":"draft"}' http://127.0.0.1:3001/items/a
//!     # 201 Created, ETag: "v1"
//! curl -i -X PUT -H 'If-Match: "v0"' -d '{"title":"lost"}' http://127.0.0.1:3001/items/a
//!     # 412 Precondition Failed, ETag: "v1": someone else's change is not overwritten
//! curl -i -X PUT -H 'If-Match: "v1"' -d '{"title":"final"}' http://127.0.0.1:3001/items/a
//!     # 200 OK, ETag: "v2"
//! curl -i -H 'If-None-Match: "v2"' http://127.0.0.1:3001/items/a
//!     # 304 Not Modified, and the GET handler did not run
//! curl http://127.0.0.1:3001/stats
//!     # {"handler_runs":3}
//! ```
//!
//! The client is tokio-postgres with deadpool-postgres as its pool: no
//! macros and no database at build time (sqlx's checked queries need one),
//! and a pool that drops connections that died with the server, so the
//! application recovers by itself when PostgreSQL comes back.
//!
//! Every version comes from one sequence, so a deleted and recreated item
//! never reuses an entity-tag. The layer looks the version up before the
//! handler runs, and refuses stale writes with `412`. A writer may still get
//! in between the lookup and the handler: the handler's `UPDATE ... WHERE id
//! = $1 AND version = ANY($2)` decides, in one transaction, and answers `412`
//! with the current tag itself when no row matched.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use serde_json::{json, Value};
use tower_conditional::{Bypass, ConditionalLayer, EntityTag, LookupRequest, ResourceState};

const SCHEMA: &str = "
    CREATE SEQUENCE IF NOT EXISTS item_versions;
    CREATE TABLE IF NOT EXISTS items (
        id text PRIMARY KEY,
        version bigint NOT NULL,
        value text NOT NULL
    );";

/// The application's shared state: the pool and a count of handler runs.
struct AppState {
    pool: Pool,
    handler_runs: AtomicUsize,
}

type Shared = Arc<AppState>;

/// Any failure of the database: the handlers answer `503`, the lookup's
/// `Err` makes the layer refuse checked writes with `503`.
#[derive(Debug)]
enum DbError {
    Pool(deadpool_postgres::PoolError),
    Query(tokio_postgres::Error),
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        DbError::Pool(error)
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(error: tokio_postgres::Error) -> Self {
        DbError::Query(error)
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Pool(error) => write!(f, "no connection: {error}"),
            DbError::Query(error) => write!(f, "query failed: {error}"),
        }
    }
}

impl IntoResponse for DbError {
    fn into_response(self) -> Response {
        eprintln!("database: {self}");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
        )
            .into_response()
    }
}

fn etag(version: i64) -> EntityTag {
    EntityTag::strong(&format!("v{version}")).expect("digits are valid etagc")
}

/// The versions an `If-Match` names (`"v7", "v9"`); `None` for `*`. Tags
/// that are not ours, or weak, match nothing.
fn if_match_versions(headers: &HeaderMap) -> Option<Vec<i64>> {
    let mut versions = Vec::new();
    for value in headers.get_all(header::IF_MATCH) {
        for member in value.to_str().unwrap_or("").split(',') {
            let member = member.trim();
            if member == "*" {
                return None;
            }
            let version = member
                .strip_prefix("\"v")
                .and_then(|rest| rest.strip_suffix('"'))
                .and_then(|digits| digits.parse::<i64>().ok());
            versions.extend(version);
        }
    }
    Some(versions)
}

/// The layer's lookup: the item's version, before any handler runs.
async fn lookup(state: Shared, request: LookupRequest) -> Result<ResourceState, DbError> {
    let Some(id) = request.uri.path().strip_prefix("/items/") else {
        return Ok(ResourceState::Unknown);
    };
    let client = state.pool.get().await?;
    let row = client
        .query_opt("SELECT version FROM items WHERE id = $1", &[&id])
        .await
        .inspect_err(|error| eprintln!("lookup: {error}"))?;
    Ok(match row {
        Some(row) => etag(row.get(0)).into(),
        None => ResourceState::Missing,
    })
}

fn with_etag(status: StatusCode, version: i64, body: Value) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(version).to_header_value());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    (status, headers, Json(body)).into_response()
}

/// A `412` the handler makes when a writer got in after the lookup: it
/// carries the current tag, as the layer's own `412` does.
fn precondition_failed(current: Option<i64>) -> Response {
    let mut response = StatusCode::PRECONDITION_FAILED.into_response();
    if let Some(version) = current {
        let value = etag(version).to_header_value();
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

async fn read_item(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, DbError> {
    state.handler_runs.fetch_add(1, Ordering::SeqCst);
    let client = state.pool.get().await?;
    let row = client
        .query_opt("SELECT version, value FROM items WHERE id = $1", &[&id])
        .await?;
    Ok(match row {
        Some(row) => {
            let value: String = row.get(1);
            let value = serde_json::from_str(&value).unwrap_or(Value::Null);
            with_etag(StatusCode::OK, row.get(0), value)
        }
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

/// Creates or replaces the item, in one transaction: `If-None-Match: *`
/// inserts only, `If-Match` updates only the versions it names.
async fn write_item(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(value): Json<Value>,
) -> Result<Response, DbError> {
    state.handler_runs.fetch_add(1, Ordering::SeqCst);
    let text = value.to_string();
    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    let create_only = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|value| value == "*");
    let written = if create_only {
        transaction
            .query_opt(
                "INSERT INTO items (id, version, value) VALUES ($1, nextval('item_versions'), $2)
                 ON CONFLICT (id) DO NOTHING RETURNING version, true",
                &[&id, &text],
            )
            .await?
    } else if headers.contains_key(header::IF_MATCH) {
        let versions = if_match_versions(&headers);
        transaction
            .query_opt(
                "UPDATE items SET version = nextval('item_versions'), value = $3
                 WHERE id = $1 AND ($2::bigint[] IS NULL OR version = ANY($2))
                 RETURNING version, false",
                &[&id, &versions, &text],
            )
            .await?
    } else {
        transaction
            .query_opt(
                "INSERT INTO items (id, version, value) VALUES ($1, nextval('item_versions'), $2)
                 ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, value = EXCLUDED.value
                 RETURNING version, (xmax = 0)",
                &[&id, &text],
            )
            .await?
    };
    let Some(row) = written else {
        let current = transaction
            .query_opt("SELECT version FROM items WHERE id = $1", &[&id])
            .await?;
        return Ok(precondition_failed(current.map(|row| row.get(0))));
    };
    transaction.commit().await?;
    let created: bool = row.get(1);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_etag(status, row.get(0), value))
}

async fn delete_item(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, DbError> {
    state.handler_runs.fetch_add(1, Ordering::SeqCst);
    let versions = if_match_versions(&headers);
    let client = state.pool.get().await?;
    let deleted = client
        .execute(
            "DELETE FROM items WHERE id = $1 AND ($2::bigint[] IS NULL OR version = ANY($2))",
            &[&id, &versions],
        )
        .await?;
    Ok(match deleted {
        0 if headers.contains_key(header::IF_MATCH) => {
            let current = client
                .query_opt("SELECT version FROM items WHERE id = $1", &[&id])
                .await?;
            precondition_failed(current.map(|row| row.get(0)))
        }
        0 => StatusCode::NOT_FOUND.into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    })
}

/// How many times an item handler ran in this process, never cached.
async fn stats(State(state): State<Shared>) -> (Extension<Bypass>, Json<Value>) {
    let runs = state.handler_runs.load(Ordering::SeqCst);
    (Extension(Bypass), Json(json!({ "handler_runs": runs })))
}

/// The application: item routes behind a layer that looks versions up first.
fn app(state: Shared) -> Router {
    let lookup_state = state.clone();
    let layer = ConditionalLayer::new()
        .lookup_validators(move |request| lookup(lookup_state.clone(), request))
        // The methods of the item routes: a POST gets the router's 405.
        .for_methods([Method::GET, Method::PUT, Method::DELETE]);
    Router::new()
        .route(
            "/items/{id}",
            get(read_item).put(write_item).delete(delete_item),
        )
        .route("/stats", get(stats))
        .with_state(state)
        .layer(layer)
}

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3001".to_owned())
        .parse()
        .expect("ADDR must be an address like 127.0.0.1:3001");
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=postgres".to_owned());
    let mut config: tokio_postgres::Config = url.parse().expect("DATABASE_URL");
    config.connect_timeout(Duration::from_secs(2));
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    // A request waits at most a second for a connection, then answers 503.
    let timeouts = Timeouts {
        wait: Some(Duration::from_secs(1)),
        create: Some(Duration::from_secs(2)),
        recycle: Some(Duration::from_secs(1)),
    };
    let pool = Pool::builder(manager)
        .max_size(8)
        .timeouts(timeouts)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .expect("a pool");
    pool.get()
        .await
        .expect("cannot connect to DATABASE_URL")
        .batch_execute(SCHEMA)
        .await
        .expect("create the schema");
    let state = Arc::new(AppState {
        pool,
        handler_runs: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|error| panic!("cannot listen on {addr}: {error}"));
    println!("listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app(state)).await.unwrap();
}
