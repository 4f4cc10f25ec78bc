//! The in-memory twin of `examples/optimistic-concurrency/` (which keeps its
//! items in PostgreSQL): the same routes and lookup, so the lookup's paths
//! are tested here without a database.
//!
//! Every item has a revision from one store-wide counter, so a deleted and
//! recreated item never reuses an entity-tag. The layer looks the revision up
//! before the handler runs; the handlers set the `ETag` of what they return
//! themselves, from the same snapshot they read, so the tag always describes
//! the body.

use std::collections::HashMap;
use std::future::ready;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use tower_conditional::{ConditionalLayer, EntityTag, LookupRequest, ResourceState, Validators};

/// An item and the store-wide revision of its last write.
#[derive(Clone)]
struct Item {
    revision: u64,
    value: Value,
}

/// The application's state: the items and a count of handler runs.
#[derive(Clone, Default)]
pub struct Store {
    inner: Arc<Mutex<Items>>,
    handler_runs: Arc<AtomicUsize>,
}

#[derive(Default)]
struct Items {
    by_id: HashMap<String, Item>,
    last_revision: u64,
}

impl Store {
    /// How many times an item handler has run.
    pub fn handler_runs(&self) -> usize {
        self.handler_runs.load(Ordering::SeqCst)
    }

    /// The current value of an item, read directly (for tests).
    pub fn value(&self, id: &str) -> Option<Value> {
        let items = self.inner.lock().unwrap();
        items.by_id.get(id).map(|item| item.value.clone())
    }

    /// The validators of `/items/{id}`, for the layer's lookup.
    fn state_of(&self, path: &str) -> ResourceState {
        let Some(id) = path.strip_prefix("/items/") else {
            return ResourceState::Unknown;
        };
        let items = self.inner.lock().unwrap();
        match items.by_id.get(id) {
            // A 304 sent before the handler must repeat the 200's caching rules.
            Some(item) => Validators::new()
                .with_etag(etag(item.revision))
                .with_not_modified_header(header::CACHE_CONTROL, caching())
                .into(),
            None => ResourceState::Missing,
        }
    }
}

/// What every answer with an item says to caches: store, but revalidate.
fn caching() -> HeaderValue {
    HeaderValue::from_static("no-cache")
}

fn etag(revision: u64) -> EntityTag {
    EntityTag::strong(&format!("r{revision}")).expect("digits are valid etagc")
}

fn with_etag(status: StatusCode, revision: u64, body: Value) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(revision).to_header_value());
    headers.insert(header::CACHE_CONTROL, caching());
    (status, headers, Json(body)).into_response()
}

async fn read_item(State(store): State<Store>, Path(id): Path<String>) -> Response {
    store.handler_runs.fetch_add(1, Ordering::SeqCst);
    let items = store.inner.lock().unwrap();
    match items.by_id.get(&id) {
        Some(item) => with_etag(StatusCode::OK, item.revision, item.value.clone()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Creates or replaces the item. The layer has already refused the request
/// with `412` if its `If-Match` or `If-None-Match: *` did not hold.
async fn write_item(
    State(store): State<Store>,
    Path(id): Path<String>,
    Json(value): Json<Value>,
) -> Response {
    store.handler_runs.fetch_add(1, Ordering::SeqCst);
    let mut items = store.inner.lock().unwrap();
    items.last_revision += 1;
    let revision = items.last_revision;
    let created = items
        .by_id
        .insert(
            id,
            Item {
                revision,
                value: value.clone(),
            },
        )
        .is_none();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    with_etag(status, revision, value)
}

async fn delete_item(State(store): State<Store>, Path(id): Path<String>) -> StatusCode {
    store.handler_runs.fetch_add(1, Ordering::SeqCst);
    match store.inner.lock().unwrap().by_id.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

/// The application: item routes behind a layer that looks revisions up first.
pub fn app(store: Store) -> Router {
    let lookup_store = store.clone();
    let lookup = move |request: LookupRequest| ready(lookup_store.state_of(request.uri.path()));
    Router::new()
        .route(
            "/items/{id}",
            get(read_item).put(write_item).delete(delete_item),
        )
        .with_state(store)
        .layer(
            ConditionalLayer::new()
                .lookup_validators(lookup)
                // The methods of the item routes: a POST gets the router's 405.
                .for_methods([Method::GET, Method::PUT, Method::DELETE]),
        )
}
