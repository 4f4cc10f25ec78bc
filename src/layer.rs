//! [`ConditionalLayer`]: the configuration of the middleware.

use std::fmt;

use tower::Layer;

use crate::config::{Config, EtagPolicy, HeadRequests};
use crate::lookup::{LookupValidators, NoLookup};
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
    /// on, whole and unchanged, without an `ETag`. Memory held per request
    /// stays within this limit (plus the chunk that crossed it).
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
    /// carries `Accept-Ranges: bytes`, and a request with `Range: bytes=…`
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
    /// - when the handler runs for a GET or HEAD and answers `200 OK`, its
    ///   response carries the looked-up `ETag` and `Last-Modified`, so the
    ///   body is not hashed. A validator the handler sets itself wins over
    ///   the looked-up one; set it from the same snapshot the handler read
    ///   when the resource can change between the lookup and the handler.
    ///
    /// Requests other than GET and HEAD are looked up only when they carry a
    /// precondition. A lookup that answers [`ResourceState::Unknown`](crate::ResourceState::Unknown)
    /// leaves the request as if no lookup were configured: answer it for the
    /// methods and paths the inner service refuses (a `405`, a `404`), which
    /// RFC 9110 §13.2.1 puts before preconditions, and which the layer cannot
    /// know before the inner service runs. The inner service must be `Clone`,
    /// as it is called after the lookup completes.
    ///
    /// ```
    /// use std::future::ready;
    /// use http::request::Parts;
    /// use tower_conditional::{ConditionalLayer, EntityTag, ResourceState, Validators};
    ///
    /// let layer = ConditionalLayer::new().lookup_validators(|request: &Parts| {
    ///     let current = request.uri.path().strip_prefix("/items/").map(|id| {
    ///         // A real application reads a version column or a cache here.
    ///         Validators::new().with_etag(EntityTag::strong(&format!("{id}-v1")).unwrap())
    ///     });
    ///     ready(current.map_or(ResourceState::Unknown, ResourceState::Current))
    /// });
    /// # let _ = layer;
    /// ```
    pub fn lookup_validators<F>(self, lookup: F) -> ConditionalLayer<F>
    where
        F: LookupValidators,
    {
        ConditionalLayer {
            config: self.config,
            lookup,
        }
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
            .field("lookup", &std::any::type_name::<L>())
            .finish()
    }
}

impl<S, L: Clone> Layer<S> for ConditionalLayer<L> {
    type Service = Conditional<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        Conditional::from_parts(inner, self.config, self.lookup.clone())
    }
}
