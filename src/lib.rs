//! Conditional requests for any tower service: content-hash `ETag`s,
//! `304 Not Modified` and `412 Precondition Failed`, as RFC 9110 §13 says.
//!
//! A client that already holds a copy of a resource can ask whether it
//! changed (`If-None-Match: "…"`, `If-Modified-Since: …`). When it has not,
//! the server answers `304 Not Modified` with headers only, and the bytes of
//! the body never cross the wire again. [`ConditionalLayer`] does this for
//! every route it wraps, with no change to the handlers:
//!
//! - a `200 OK` answer to a GET or HEAD gets an `ETag` computed from its body
//!   (128 bits of blake3, hashed as the body streams in, the same on every
//!   machine), unless the handler set one itself;
//! - when the request's `If-None-Match` (or, without it, `If-Modified-Since`
//!   against the handler's `Last-Modified`) shows the client's copy is
//!   current, the answer is an empty `304` that keeps what caches need
//!   (`ETag`, `Cache-Control`, `Vary`, `Expires`, `Date`, `Content-Location`,
//!   `Last-Modified`, `Set-Cookie`);
//! - a failed `If-Match` or `If-Unmodified-Since` on a GET or HEAD gives `412`;
//! - a `Range` request for a body the layer holds gets `206 Partial Content`
//!   (or `416`), sliced from the held body, with `If-Range` honoured, so a
//!   generated download can be resumed; see
//!   [`ConditionalLayer::serve_ranges`].
//!
//! # Quick start
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use tower_conditional::ConditionalLayer;
//!
//! #[tokio::main]
//! async fn main() {
//!     let app = Router::new()
//!         .route("/data.json", get(|| async { r#"{"answer":42}"# }))
//!         .layer(ConditionalLayer::new());
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//!     axum::serve(listener, app).await.unwrap();
//! }
//! ```
//!
//! It fits wherever a tower layer does: `Router::layer`, around a whole
//! `Router` as a service, in a `tower::ServiceBuilder`, or around any
//! `Service<http::Request<_>>` served by hyper:
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower::{Layer, ServiceBuilder};
//! use tower_conditional::ConditionalLayer;
//!
//! let router: Router = Router::new().route("/", get(|| async { "hello" }));
//!
//! // Around a whole router, as one service:
//! let service = ConditionalLayer::new().layer(router.clone());
//!
//! // In a stack of layers:
//! let stacked = ServiceBuilder::new()
//!     .layer(ConditionalLayer::new())
//!     .service(router);
//! # let _ = (service, stacked);
//! ```
//!
//! # What is hashed and what streams through
//!
//! Only `200 OK` answers to GET and HEAD are read and hashed, up to
//! [`ConditionalLayer::max_hashed_body_size`] (4 MiB by default). These stream
//! through untouched, without being held back or given an `ETag`:
//!
//! - every other method and status (other 2xx answers that carry their own
//!   `ETag` or `Last-Modified` are still checked against the request's
//!   conditions, so a `304` wins over a range);
//! - bodies longer than the limit, or announced so by their size hint or
//!   `Content-Length` (these go out whole and unchanged, with no `ETag`);
//! - `Cache-Control: no-store`, and streams of messages: `text/event-stream`,
//!   `application/grpc*`, newline-delimited JSON (`application/x-ndjson`,
//!   `application/jsonl`, ...), `application/json-seq` and
//!   `multipart/x-mixed-replace`;
//! - responses whose handler set an `ETag`: that tag is kept and compared,
//!   and the body is not read;
//! - requests or responses that carry the [`Bypass`] extension, and
//!   responses that the predicate of [`ConditionalLayer::hash_when`]
//!   declines (for stream types or routes of your own).
//!
//! A body that is still arriving is held until it ends or outgrows the
//! limit, however long that takes: the layer sets no deadline on it. A tag
//! describes the whole body, so past a deadline the layer could only send
//! what it held and stream the rest untagged, and whether a response got an
//! `ETag` would then depend on how fast the handler or its upstream was
//! that time. A response that trickles out on purpose (long polling, a
//! progress stream) is a stream: give it one of the types above, decline
//! it with `hash_when`, or mark it [`Bypass`]; the client then gets each
//! byte as soon as it would without the layer.
//!
//! A small body served again need not be hashed again: it is compared with
//! copies of recent bodies, and gets the same tag; see
//! [`ConditionalLayer::remember_recent_bodies`].
//!
//! The bytes and trailers the client receives are exactly those the inner
//! service produced; an error of the inner body reaches the client as an
//! error (never as a complete response with an `ETag`). Only the chunking may
//! differ: the chunks of a body's first 16 KiB are copied together to be
//! hashed in one call (blake3 is several times slower fed a few hundred
//! bytes at a time), and that copy is sent as one chunk, followed by the
//! rest of the body (if any) in the chunks it came in.
//!
//! # HEAD
//!
//! A HEAD gets the `ETag` and `Content-Length` a GET would get, without the
//! body: by default the inner service is asked for the GET and the layer
//! drops the body itself. [`HeadRequests`] says why, and how to send HEAD on
//! unchanged to a service with `head` handlers of its own.
//!
//! # Choosing: hashing the body, or validators before the handler
//!
//! Hashing the body needs nothing from the application and is always
//! right about what was sent, but the handler still runs and produces the
//! body: a `304` saves bandwidth, not work. And a layer that only sees the
//! finished response cannot protect a write: by the time a `PUT`'s answer
//! comes back, the update has happened. The layer never turns the answer to
//! a request other than GET or HEAD into a `412` after the handler ran.
//!
//! When the application can say cheaply what the current version of a
//! resource is (a version column, a file's modification time, a cache
//! entry), give the layer a [lookup](ConditionalLayer::lookup_validators):
//!
//! - a matching conditional GET gets its `304` before the handler runs;
//! - a `PUT`, `PATCH`, `DELETE` or `POST` whose `If-Match` or
//!   `If-Unmodified-Since` fails, or whose `If-None-Match: *` finds an
//!   existing resource, gets `412` before the handler runs (lost-update
//!   protection and create-only `PUT`);
//! - a lookup that answers [`ResourceState::Unknown`] changes nothing;
//! - a lookup that fails (an `Err`, or [`ResourceState::Unavailable`]) gets
//!   such a write refused with `503` ([`LookupFailure`] says how to let it
//!   through instead), and a GET or HEAD served as without a lookup.
//!
//! ```
//! use std::future::ready;
//! use axum::http::Method;
//! use tower_conditional::{ConditionalLayer, EntityTag, ResourceState};
//!
//! fn current_version(path: &str) -> Option<u64> {
//!     // A real application asks its database or cache.
//!     path.strip_prefix("/items/").map(|_| 7)
//! }
//!
//! let layer = ConditionalLayer::new()
//!     .lookup_validators(|request| {
//!         ready(match current_version(request.uri.path()) {
//!             Some(version) => EntityTag::strong(&format!("v{version}")).unwrap().into(),
//!             None => ResourceState::Unknown,
//!         })
//!     })
//!     .for_methods([Method::GET, Method::PUT, Method::DELETE]);
//! # let _ = layer;
//! ```
//!
//! Which `ETag` a `200` carries, from strongest claim to weakest: the one the
//! handler set; else the looked-up one; else the hash of the body. A handler
//! that can change the resource between the lookup and its answer should set
//! the `ETag` of what it actually read. `examples/optimistic-concurrency/`
//! shows the whole pattern.
//!
//! # Is it working?
//!
//! With [`ConditionalLayer::record_outcomes`], every response the layer
//! handled carries an [`Outcome`] in its extensions: what the layer did
//! ([`Action`]: `sent`, `not_modified`, … or `passed_through` with a
//! [`PassReason`]), where the validators came from ([`ValidatorSource`]),
//! the body's length and, for a `304`, the bytes it did not send. A layer
//! outside reads it, to log it or count hits and bytes saved per route:
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_conditional::{Action, ConditionalLayer, Outcome, PassReason};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A body over the limit goes out untagged; the outcome says so.
//! let service = ConditionalLayer::new()
//!     .max_hashed_body_size(16)
//!     .record_outcomes(true)
//!     .layer(service_fn(|_: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(http_body_util::Full::new(bytes::Bytes::from(
//!             "a body longer than sixteen bytes",
//!         ))))
//!     }));
//! let response = service.oneshot(Request::new(())).await.unwrap();
//! let outcome = response.extensions().get::<Outcome>().unwrap();
//! assert_eq!(outcome.action, Action::PassedThrough(PassReason::AnnouncedOverLimit));
//! assert_eq!(
//!     outcome.describe(),
//!     "passed through: the body announced more than max_hashed_body_size"
//! );
//! # }
//! ```
//!
//! With the cargo feature `tracing`, the layer also logs one `DEBUG` event
//! per response under the target `tower_conditional`, with the outcome's
//! fields, so `RUST_LOG=tower_conditional=debug` explains why a route gets
//! no `ETag` or no `304`. The README's "Is it working?" section shows a
//! `TraceLayer` that logs the outcome, a metrics layer, and the usual
//! reasons for no `304`: a proxy that weakens tags, compression inside the
//! layer, `no-store`, the size limit, [`Bypass`].
//!
//! # Security
//!
//! - **Nothing a client sends is written back.** Request headers are only
//!   read: entity-tag lists and dates are parsed in linear time with no
//!   allocation proportional to anything but the header itself, malformed
//!   members never match, and no request byte is ever copied into a
//!   response header. The `ETag` and `Last-Modified` sent come from the
//!   body, the handler or the lookup.
//! - **An `ETag` tells what the body tells, and no more.** It is a hash of
//!   the bytes the same client receives with it. Anyone who sees only the
//!   tag (in a log, a cache key) can confirm a guess of a short or
//!   predictable body, so treat tags like the bodies they describe.
//! - **Mind where authorization runs when you use a lookup.** A `304` or
//!   `412` decided before the handler is decided before any check the
//!   handler makes. Put authentication and authorization layers *outside*
//!   `ConditionalLayer`, or have the lookup answer
//!   [`ResourceState::Unknown`] for requests it cannot vouch for; otherwise
//!   a client without access can learn a resource's current tag by probing.
//!   Without a lookup, only a `200` the inner service produced is ever
//!   turned into a `304` or `412`, so its checks have already run.
//! - **Shared caches.** A `304` keeps every `Set-Cookie` and the `Vary` of
//!   the response it replaces, so a cache updates exactly what it stored. A
//!   response that sets a cookie for one user and is not marked
//!   `Cache-Control: private` (or `no-store`) may be stored by a shared cache
//!   and served to others: that is the application's choice to make, and
//!   this layer does not change it. Responses that differ by request header
//!   (`Accept-Encoding`, `Accept-Language`, `Authorization`) need a `Vary`
//!   naming it, as they do without this layer.
//! - **Copies of recent bodies.** To skip hashing bodies it has seen, the
//!   layer keeps copies of a few recent small bodies per thread that runs it,
//!   until others take their place; how many and how much memory is stated
//!   on [`ConditionalLayer::remember_recent_bodies`], where it is turned off
//!   for responses whose bodies must not outlive them in memory. The tag
//!   sent is the same either way.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code, unreachable_pub, missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

// The service, its futures, and the body and reading they share.
mod answer;
mod body;
mod future;
mod layer;
mod lookup;
mod lookup_future;
mod memo;
mod outcome;
mod read_body;
mod respond;
mod service;
// Pure: what is decided, from headers and values alone.
mod config;
mod eligibility;
mod entity_tag;
mod entity_tag_list;
mod not_modified;
mod partial_content;
mod plan;
mod preconditions;
mod range;
mod validators;

pub use crate::body::ConditionalBody;
pub use crate::config::{
    Bypass, EtagPolicy, HeadRequests, LookupFailure, DEFAULT_MAX_HASHED_BODY_SIZE,
};
pub use crate::entity_tag::{EntityTag, InvalidEntityTag};
pub use crate::future::ResponseFuture;
pub use crate::layer::ConditionalLayer;
pub use crate::lookup::{
    IntoResourceState, LookupRequest, LookupValidators, NoLookup, ResourceState,
};
pub use crate::lookup_future::LookupFuture;
pub use crate::outcome::{Action, Outcome, PassReason, ValidatorSource};
pub use crate::preconditions::{Evaluation, Preconditions};
pub use crate::service::Conditional;
pub use crate::validators::Validators;

// Every Rust snippet of the README compiles (and, unless marked `no_run`,
// runs) as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Internals the fuzz targets in `fuzz/` check, compiled only with
/// `--cfg fuzzing` (as `cargo fuzz` builds): not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::eligibility::fuzzing as response_fields;
    pub use crate::partial_content::fuzzing as partial_content;
    pub use crate::range::fuzzing as range;
}
