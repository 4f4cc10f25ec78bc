//! [`ConditionalLayer`]: the configuration of the middleware.

use std::fmt;
use std::future::Future;

use http::Method;
use tower::Layer;

use crate::config::{Config, EtagPolicy, HeadRequests, LookupFailure, LookupMethods};
use crate::lookup::{IntoResourceState, LookupRequest, LookupValidators, NoLookup};
use crate::service::Conditional;

/// Adds content-hash `ETag`s to responses and answers conditional requests
/// with `304 Not Modified` or `412 Precondition Failed`.
///
/// A cheap `Clone` value holding configuration only; see the
/// [crate documentation](crate) for what the service does.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_conditional::{ConditionalLayer, EtagPolicy};
///
/// let app: Router = Router::new()
///     .route("/data.json", get(|| async { r#"{"answer":42}"# }))
///     .layer(
///         ConditionalLayer::new()
///             .etag_policy(EtagPolicy::Strong)
///             .max_hashed_body_size(1024 * 1024),
///     );
/// # let _ = app;
/// ```
#[derive(Clone, Default)]
pub struct ConditionalLayer<L = NoLookup> {
    config: Config,
    lookup: L,
    lookup_methods: LookupMethods,
}

impl ConditionalLayer {
    /// A layer with strong entity-tags and a 4 MiB body limit.
    ///
    /// ```
    /// let layer = tower_conditional::ConditionalLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

impl<L> ConditionalLayer<L> {
    /// Chooses strong (the default) or weak entity-tags for hashed bodies.
    ///
    /// Entity-tags set by the inner service are never changed.
    ///
    /// ```
    /// use tower_conditional::{ConditionalLayer, EtagPolicy};
    ///
    /// let layer = ConditionalLayer::new().etag_policy(EtagPolicy::Weak);
    /// # let _ = layer;
    /// ```
    pub fn etag_policy(mut self, policy: EtagPolicy) -> Self {
        self.config.etag_policy = policy;
        self
    }

    /// The largest response body, in bytes, that is held back to be hashed;
    /// the default is [`DEFAULT_MAX_HASHED_BODY_SIZE`](crate::DEFAULT_MAX_HASHED_BODY_SIZE)
    /// (4 MiB). It limits what the layer reads of a response, not what a
    /// request may send.
    ///
    /// A body that announces more (by its size hint or `Content-Length`) is
    /// streamed at once; one that turns out longer while it is read is sent
    /// on, whole and unchanged, without an `ETag`. The one exception is a
    /// body whose size hint states its exact length, within the limit (any
    /// body in memory): it is read where it is, without boxing it. One that
    /// breaks its word and sends more than the limit cannot go on from
    /// there: it is cut after the chunk that crossed the limit and sent,
    /// without an `ETag`, as a whole response of that length, which a client
    /// cannot tell from a complete one. (Without the layer, hyper would send
    /// the length it stated and no more; a body that sends more than it
    /// stated but stays within the limit goes out whole.)
    ///
    /// What a request holds while its body is read stays within this limit,
    /// plus the chunk that crossed it, plus 16 KiB, whatever the chunk sizes:
    /// chunks under 16 KiB are copied together into buffers of 16 KiB (the
    /// copy that hashing them makes anyway), so a body in tiny chunks costs
    /// its bytes, not a `Bytes` or an allocation of the sender's per chunk.
    ///
    /// ```
    /// use tower_conditional::ConditionalLayer;
    ///
    /// let layer = ConditionalLayer::new().max_hashed_body_size(256 * 1024);
    /// # let _ = layer;
    /// ```
    ///
    /// # Panics
    ///
    /// When `bytes` is 0: only empty bodies would be hashed. To pass a
    /// response on untouched, mark it with [`Bypass`](crate::Bypass).
    ///
    /// ```should_panic
    /// let layer = tower_conditional::ConditionalLayer::new().max_hashed_body_size(0);
    /// ```
    #[track_caller]
    pub fn max_hashed_body_size(mut self, bytes: usize) -> Self {
        assert!(
            bytes > 0,
            "ConditionalLayer::max_hashed_body_size(0) would hash only empty bodies; \
             to pass a response on untouched, mark it with tower_conditional::Bypass"
        );
        self.config.max_hashed_body_size = bytes;
        self
    }

    /// Chooses whether the inner service sees a `HEAD` as a `GET` (the
    /// default) or unchanged; see [`HeadRequests`].
    ///
    /// ```
    /// use tower_conditional::{ConditionalLayer, HeadRequests};
    ///
    /// let layer = ConditionalLayer::new().head_requests(HeadRequests::Unchanged);
    /// # let _ = layer;
    /// ```
    pub fn head_requests(mut self, head_requests: HeadRequests) -> Self {
        self.config.head_requests = head_requests;
        self
    }

    /// Chooses whether a small body that this thread hashed before is
    /// compared with a kept copy instead of being hashed again (the default:
    /// yes).
    ///
    /// Most GETs of a resource get the same bytes as the one before. For a
    /// body of 16 KiB or less (in one chunk or several), the layer keeps a
    /// copy of recent bodies and their tags, per thread (at most 32 bodies,
    /// 512 KiB), and a body equal to a kept copy, byte for byte, gets the
    /// remembered tag: comparing runs at memory speed, where blake3 hashes
    /// bodies of a few hundred bytes at under 1 GB/s. The `ETag` is the same
    /// either way. A body is copied in only when the same bytes (known by the
    /// hash computed for them anyway) were hashed shortly before, so content
    /// that changes on every request is never copied.
    ///
    /// The memory is per thread that runs the service: with a runtime of
    /// eight worker threads, up to 4 MiB. Turn it off where copies of recent
    /// response bodies must not stay in memory after their responses are gone
    /// (a copy is freed only when another body takes its place or the thread
    /// ends), or where the service runs on many short-lived or blocking
    /// threads.
    ///
    /// A longer body is not copied, but when it comes in one chunk that is
    /// the very `Bytes` buffer tagged shortly before on this thread (the same
    /// address and length: an asset or a cached page served from one shared
    /// `Bytes`), its tag is reused without hashing it: a 1 MiB asset then
    /// costs about what a 1 KiB one does. The layer keeps a clone of each
    /// such buffer (at most 4 per thread, each at most 4 MiB and within
    /// [`max_hashed_body_size`](Self::max_hashed_body_size): 16 MiB per
    /// thread at most), so its memory cannot be freed and reused for other
    /// bytes while the tag stands for it. Only buffers that something else
    /// holds too are kept (a static, an `Arc`-shared or an owner-backed
    /// `Bytes`; cloning those allocates nothing), never a body made for one
    /// response. The one case it cannot see is memory that changes under a
    /// live `Bytes`, which only `unsafe` code can make (a `Bytes` over a
    /// memory-mapped file that is written to, say): serve such bodies with
    /// this turned off, or copy them into a buffer of their own.
    ///
    /// ```
    /// use tower_conditional::ConditionalLayer;
    ///
    /// let layer = ConditionalLayer::new().remember_recent_bodies(false);
    /// # let _ = layer;
    /// ```
    pub fn remember_recent_bodies(mut self, remember: bool) -> Self {
        self.config.remember_recent_bodies = remember;
        self
    }

    /// Chooses whether the layer answers range requests (RFC 9110 §14) from
    /// the bodies it holds (the default: yes).
    ///
    /// A `200` to a GET whose body the layer read whole and tagged with a
    /// strong content hash (within [`max_hashed_body_size`](Self::max_hashed_body_size))
    /// carries `Accept-Ranges: bytes` when it is longer than 16 KiB (the
    /// field is optional, RFC 9110 §14.3, and costs every response; ranges of
    /// smaller bodies are served all the same), and a request with `Range: bytes=…`
    /// gets `206 Partial Content` with the bytes it asked for, sliced from the
    /// held body without a copy, or `416 Range Not Satisfiable` with
    /// `Content-Range: bytes */<length>`. So a generated export can be
    /// resumed after a dropped connection, and a media player can seek in a
    /// generated file.
    ///
    /// - The preconditions of §13.2.2 come first: a `412` or `304` wins over
    ///   a range. Then `If-Range` (§13.1.5): only the current strong `ETag`,
    ///   or a date equal to a strong `Last-Modified`, lets the range through;
    ///   anything else gets the whole `200`.
    /// - Ranges of another unit, malformed or with more than 100 range-specs
    ///   are ignored (a `200`, as §14.2 allows). Overlapping and adjacent
    ///   ranges are merged; several ranges that remain are sent as
    ///   `multipart/byteranges`, unless that would be longer than the whole
    ///   body, which is then sent instead. No `206` is longer than its `200`.
    /// - Not served: HEAD and other methods (§14.2); bodies the layer did not
    ///   hold whole (over the limit, a handler's or a looked-up `ETag`,
    ///   streams); a weak tag ([`EtagPolicy::Weak`]); bodies with trailers;
    ///   several ranges of a body with a `Content-Encoding`; a response whose
    ///   handler set an `Accept-Ranges` that does not list `bytes` (such as
    ///   `Accept-Ranges: none`); a response marked [`Bypass`](crate::Bypass).
    ///   A `206` the inner service made itself passes on untouched.
    ///
    /// Turn it off where clients must always get whole responses:
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response, StatusCode};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_conditional::ConditionalLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let export = service_fn(|_: Request<()>| async {
    ///     let body = bytes::Bytes::from("id,name\n1,Ada\n2,Grace\n");
    ///     Ok::<_, Infallible>(Response::new(http_body_util::Full::new(body)))
    /// });
    /// let first_line = || Request::get("/export.csv").header("range", "bytes=0-7").body(());
    ///
    /// let on = ConditionalLayer::new().layer(export);
    /// let partial = on.oneshot(first_line().unwrap()).await.unwrap();
    /// assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
    /// assert_eq!(partial.headers()["content-range"], "bytes 0-7/22");
    ///
    /// let off = ConditionalLayer::new().serve_ranges(false).layer(export);
    /// let whole = off.oneshot(first_line().unwrap()).await.unwrap();
    /// assert_eq!(whole.status(), StatusCode::OK);
    /// assert!(!whole.headers().contains_key("accept-ranges"));
    /// # }
    /// ```
    pub fn serve_ranges(mut self, serve: bool) -> Self {
        self.config.serve_ranges = serve;
        self
    }

    /// Chooses whether every response the layer handled carries an
    /// [`Outcome`](crate::Outcome) in its extensions: what the layer did
    /// (tagged the body, kept the handler's tag, answered `304` or `412`,
    /// passed the response through and why), the body's length and, for a
    /// `304`, the bytes it did not send. Off by default.
    ///
    /// It is off by default because it costs: most responses have no
    /// extensions, and the first one inserted allocates the map and the
    /// value (three allocations and about 400 instructions a request,
    /// against about 5,000 for the whole of a small tagged `200`). The
    /// `tracing` feature logs the same outcome without it.
    ///
    /// ```
    /// use axum::{body::Body, http::Request, middleware::{self, Next}, routing::get, Router};
    /// use tower_conditional::{Action, ConditionalLayer, Outcome};
    ///
    /// // An outer middleware reads what the layer did.
    /// async fn count(request: Request<Body>, next: Next) -> axum::response::Response {
    ///     let response = next.run(request).await;
    ///     if let Some(outcome) = response.extensions().get::<Outcome>() {
    ///         if outcome.action == Action::NotModified {
    ///             // hits += 1; saved += outcome.not_sent.unwrap_or(0);
    ///         }
    ///     }
    ///     response
    /// }
    ///
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "hello" }))
    ///     .layer(ConditionalLayer::new().record_outcomes(true))
    ///     .layer(middleware::from_fn(count));
    /// # let _ = app;
    /// ```
    pub fn record_outcomes(mut self, record: bool) -> Self {
        self.config.record_outcomes = record;
        self
    }

    /// Hashes a response only when `predicate` says so, in the spirit of
    /// tower-http's `compress_when`: for content types or responses of your
    /// own that stream, or that must never be held back.
    ///
    /// The layer's own rules come first (a `200` to a GET or HEAD, not
    /// [`Bypass`](crate::Bypass), not `no-store`, not a known stream, within
    /// the size limit); `predicate` is asked only about the responses they
    /// would hash, and those it declines go on untouched, as they came (no
    /// `ETag`, no evaluation), reported as
    /// [`PassReason::HashWhen`](crate::PassReason::HashWhen). It is a plain
    /// function, so it costs a call per response and no allocation; to mark
    /// one route instead, return [`Bypass`](crate::Bypass) from its handler.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{header::CONTENT_TYPE, response, Request, Response};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_conditional::ConditionalLayer;
    ///
    /// /// Our ticker streams `application/x-prices` forever.
    /// fn not_the_ticker(response: &response::Parts) -> bool {
    ///     response.headers.get(CONTENT_TYPE).is_none_or(|t| t != "application/x-prices")
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let ticker = service_fn(|_: Request<()>| async {
    ///     let response = Response::builder()
    ///         .header(CONTENT_TYPE, "application/x-prices")
    ///         .body(http_body_util::Full::new(bytes::Bytes::from("ACME 12.5\n")))
    ///         .unwrap();
    ///     Ok::<_, Infallible>(response)
    /// });
    /// let service = ConditionalLayer::new().hash_when(not_the_ticker).layer(ticker);
    /// let response = service.oneshot(Request::new(())).await.unwrap();
    /// assert!(!response.headers().contains_key("etag"));
    /// # }
    /// ```
    pub fn hash_when(mut self, predicate: fn(&http::response::Parts) -> bool) -> Self {
        self.config.hash_when = Some(predicate);
        self
    }

    /// Looks up the target resource's current validators before the inner
    /// service runs, so that a request whose preconditions decide the answer
    /// never reaches the handler.
    ///
    /// With a lookup configured:
    /// - a GET or HEAD whose `If-None-Match` (or `If-Modified-Since`) matches
    ///   the looked-up validators gets its `304` without the handler running;
    ///   it carries them and the fields a `200` would have that a `304` must
    ///   repeat, which the lookup gives with
    ///   [`Validators::with_not_modified_header`](crate::Validators::with_not_modified_header)
    ///   (`Cache-Control`, `Content-Location`, `Expires`, `Vary`);
    /// - any request whose `If-Match` or `If-Unmodified-Since` fails, or a
    ///   non-GET/HEAD whose `If-None-Match: *` finds an existing resource,
    ///   gets `412 Precondition Failed` without the handler running: lost
    ///   updates are refused and a create-only `PUT` does not overwrite;
    /// - a request other than GET or HEAD that carries a precondition, when
    ///   the lookup fails (`Err`, or [`ResourceState::Unavailable`](crate::ResourceState::Unavailable)),
    ///   gets `503 Service Unavailable` without the handler running; see
    ///   [`on_lookup_failure`](Self::on_lookup_failure);
    /// - when the handler runs for a GET or HEAD and answers `200 OK`, its
    ///   response carries the looked-up `ETag` and `Last-Modified`, so the
    ///   body is not hashed. A validator the handler sets itself wins over
    ///   the looked-up one; set it from the same snapshot the handler read
    ///   when the resource can change between the lookup and the handler.
    ///
    /// Requests other than GET and HEAD are looked up only when they carry a
    /// precondition. Say which methods the routes serve with
    /// [`for_methods`](Self::for_methods), and answer
    /// [`ResourceState::Unknown`](crate::ResourceState::Unknown) for paths
    /// the inner service does not serve: its `405` and `404` come before
    /// preconditions (RFC 9110 §13.2.1), and the layer cannot know them
    /// before the inner service runs. The inner service must be `Clone`, as
    /// it is called after the lookup completes.
    ///
    /// The lookup is a `Clone` closure given an owned [`LookupRequest`]; its
    /// future may resolve to a [`ResourceState`](crate::ResourceState), a
    /// [`Validators`](crate::Validators), or a `Result` of either with any
    /// error type ([`IntoResourceState`]). Each of these forms compiles as
    /// written. An `async fn` that takes the request:
    ///
    /// ```
    /// use axum::http::Method;
    /// use tower_conditional::{ConditionalLayer, EntityTag, LookupRequest, ResourceState};
    ///
    /// #[derive(Debug)]
    /// struct DbError;
    ///
    /// async fn version_of(id: &str) -> Result<Option<u64>, DbError> {
    ///     Ok(id.parse().ok()) // A real application asks its database.
    /// }
    ///
    /// async fn lookup(request: LookupRequest) -> Result<ResourceState, DbError> {
    ///     let Some(id) = request.uri.path().strip_prefix("/items/") else {
    ///         return Ok(ResourceState::Unknown);
    ///     };
    ///     Ok(match version_of(id).await? {
    ///         Some(v) => EntityTag::strong(&format!("v{v}")).unwrap().into(),
    ///         None => ResourceState::Missing,
    ///     })
    /// }
    ///
    /// let layer = ConditionalLayer::new()
    ///     .lookup_validators(lookup)
    ///     .for_methods([Method::GET, Method::PUT]);
    /// # let _ = layer;
    /// ```
    ///
    /// A closure over shared application state (a connection pool, a cache),
    /// which clones what its future needs and moves it in:
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::{Arc, RwLock};
    /// use axum::http::Method;
    /// use tower_conditional::{ConditionalLayer, EntityTag, ResourceState};
    ///
    /// struct AppState {
    ///     versions: RwLock<HashMap<String, u64>>,
    /// }
    ///
    /// let state = Arc::new(AppState { versions: RwLock::new(HashMap::new()) });
    /// let layer = ConditionalLayer::new()
    ///     .lookup_validators(move |request| {
    ///         let state = Arc::clone(&state);
    ///         async move {
    ///             let Some(id) = request.uri.path().strip_prefix("/items/") else {
    ///                 return ResourceState::Unknown;
    ///             };
    ///             match state.versions.read().unwrap().get(id) {
    ///                 Some(v) => EntityTag::strong(&format!("v{v}")).unwrap().into(),
    ///                 None => ResourceState::Missing,
    ///             }
    ///         }
    ///     })
    ///     .for_methods([Method::GET, Method::PUT, Method::DELETE]);
    /// # let _ = layer;
    /// ```
    ///
    /// And the synchronous case, with [`std::future::ready`]:
    ///
    /// ```
    /// use std::future::ready;
    /// use tower_conditional::{ConditionalLayer, EntityTag, ResourceState, Validators};
    ///
    /// let layer = ConditionalLayer::new().lookup_validators(|request| {
    ///     ready(match request.uri.path() {
    ///         "/config" => Validators::new().with_etag(EntityTag::strong("rev-9").unwrap()).into(),
    ///         _ => ResourceState::Unknown,
    ///     })
    /// });
    /// # let _ = layer;
    /// ```
    pub fn lookup_validators<F, Fut>(self, lookup: F) -> ConditionalLayer<F>
    where
        F: FnMut(LookupRequest) -> Fut + Clone,
        Fut: Future,
        Fut::Output: IntoResourceState,
    {
        ConditionalLayer {
            config: self.config,
            lookup,
            lookup_methods: self.lookup_methods,
        }
    }
}

impl<L: LookupValidators> ConditionalLayer<L> {
    /// The methods the lookup answers for; `HEAD` goes with `GET`. A request
    /// with another method is handled as if there were no lookup: it goes to
    /// the inner service, whose router answers `405` for a method its route
    /// does not serve (RFC 9110 §13.2.1 puts that before preconditions). The
    /// default is every method.
    ///
    /// ```
    /// use std::future::ready;
    /// use axum::http::Method;
    /// use axum::{routing::get, Router};
    /// use tower_conditional::{ConditionalLayer, EntityTag};
    ///
    /// let app: Router = Router::new()
    ///     .route("/items/{id}", get(|| async { "item" }).put(|| async { "stored" }))
    ///     .layer(
    ///         ConditionalLayer::new()
    ///             .lookup_validators(|_| ready(EntityTag::strong("v1").unwrap()))
    ///             // A DELETE gets the router's 405, not a 412.
    ///             .for_methods([Method::GET, Method::PUT]),
    ///     );
    /// # let _ = app;
    /// ```
    pub fn for_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.lookup_methods = LookupMethods::only(methods);
        self
    }

    /// What a request with a precondition gets when its lookup fails:
    /// `503 Service Unavailable` ([`LookupFailure::Refuse`], the default) or
    /// the handler ([`LookupFailure::Proceed`]). A GET or HEAD goes to the
    /// handler either way; see [`LookupFailure`].
    ///
    /// ```
    /// use std::future::ready;
    /// use tower_conditional::{ConditionalLayer, LookupFailure, ResourceState};
    ///
    /// let layer = ConditionalLayer::new()
    ///     .lookup_validators(|_| ready(Err::<ResourceState, _>("database down")))
    ///     .on_lookup_failure(LookupFailure::Proceed);
    /// # let _ = layer;
    /// ```
    pub fn on_lookup_failure(mut self, failure: LookupFailure) -> Self {
        self.config.lookup_failure = failure;
        self
    }
}

impl<L> fmt::Debug for ConditionalLayer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionalLayer")
            .field("etag_policy", &self.config.etag_policy)
            .field("max_hashed_body_size", &self.config.max_hashed_body_size)
            .field("head_requests", &self.config.head_requests)
            .field(
                "remember_recent_bodies",
                &self.config.remember_recent_bodies,
            )
            .field("serve_ranges", &self.config.serve_ranges)
            .field("record_outcomes", &self.config.record_outcomes)
            .field("hash_when", &self.config.hash_when.is_some())
            .field("lookup", &std::any::type_name::<L>())
            .field("lookup_methods", &self.lookup_methods)
            .field("lookup_failure", &self.config.lookup_failure)
            .finish()
    }
}

impl<S, L: Clone> Layer<S> for ConditionalLayer<L> {
    type Service = Conditional<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        Conditional::from_parts(
            inner,
            self.config,
            self.lookup.clone(),
            self.lookup_methods.clone(),
        )
    }
}
