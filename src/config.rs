//! What the layer's settings are: the policies a user chooses, the limits
//! they share, and the [`Bypass`] marker.
//!
//! The bottom of the crate: every other module may use it, and it uses none.

use std::sync::Arc;

use http::{response, Method};

/// How the entity-tags this crate computes are marked (RFC 9110 §8.8.3).
///
/// ```
/// use tower_conditional::{ConditionalLayer, EtagPolicy};
///
/// let layer = ConditionalLayer::new().etag_policy(EtagPolicy::Weak);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum EtagPolicy {
    /// `"…"`: the tag changes whenever a byte of the body changes. Right for
    /// a hash of the exact bytes sent, and needed by `If-Match` and by range
    /// requests with `If-Range`, which only accept strong tags.
    #[default]
    Strong,
    /// `W/"…"`: for representations that are equivalent rather than
    /// identical across responses. Still a hash of the bytes; caches can
    /// revalidate with it, but `If-Match` never matches a weak tag.
    ///
    /// The layer serves no ranges of a body under a weak tag (no
    /// `Accept-Ranges`, and a `Range` gets the whole `200`): a client may
    /// combine the parts of two responses only when they share a strong
    /// validator (RFC 9110 §15.3.7.3), and cannot send a weak tag in
    /// `If-Range` (§13.1.5), so a range of a body that is only equivalent to
    /// the one it holds could splice two versions together.
    Weak,
}

/// What the inner service is asked when a `HEAD` request comes in.
///
/// A `HEAD` answer must carry the `ETag` of the body a `GET` would get, but
/// a router below the layer may drop the body of a `HEAD` answer before the
/// layer sees it (axum does where a request enters a `Router`). By default
/// the layer therefore asks the inner service for the `GET` and drops its
/// body itself.
///
/// Whatever the setting, a `HEAD` answer that comes back with an empty body
/// is never hashed: the layer cannot tell a `GET`'s empty body from one
/// dropped on the way, and the tag of an empty body would contradict the
/// `GET`'s. Such an answer keeps the handler's own validators; without an
/// `ETag` from the handler only date conditions (`If-Modified-Since`,
/// `If-Unmodified-Since` against its `Last-Modified`) are evaluated, and
/// any other precondition leaves the answer as it is.
///
/// ```
/// use axum::http::header::CONTENT_LENGTH;
/// use axum::{routing::get, Router};
/// use tower_conditional::{ConditionalLayer, HeadRequests};
///
/// // This router answers HEAD with a handler of its own, which must see it.
/// let app: Router = Router::new()
///     .route(
///         "/download",
///         get(|| async { "the whole file" }).head(|| async { [(CONTENT_LENGTH, "14")] }),
///     )
///     .layer(ConditionalLayer::new().head_requests(HeadRequests::Unchanged));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum HeadRequests {
    /// The inner service gets a `GET`; its body is hashed, then dropped, so
    /// `HEAD` and `GET` get the same `ETag` and `Content-Length` even when a
    /// router below strips `HEAD` bodies. A `head` handler of the inner
    /// service is not reached when the layer wraps the whole router (a route
    /// with only a `head` handler then answers `405`), and sees the method as
    /// `GET` when the layer is added with `Router::layer`.
    #[default]
    AsGet,
    /// The inner service gets the `HEAD` as it came, for services with `head`
    /// handlers of their own. A body that still reaches the layer (axum's
    /// `Router::layer` hands it the `GET` handler's) is hashed as usual.
    Unchanged,
}

/// What happens to a request that carries a precondition when its lookup is
/// [unavailable](crate::ResourceState::Unavailable) (or returned `Err`); set
/// with [`ConditionalLayer::on_lookup_failure`](crate::ConditionalLayer::on_lookup_failure).
///
/// Only requests other than GET and HEAD are concerned: a GET or HEAD whose
/// lookup failed always goes to the handler as if there were no lookup (its
/// body is hashed), because answering it cannot change anything.
///
/// ```
/// use std::convert::Infallible;
/// use std::future::ready;
/// use std::time::Duration;
/// use http::{Request, Response, StatusCode};
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_conditional::{ConditionalLayer, LookupFailure, LookupRequest, ResourceState};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // The database behind the lookup is down.
/// let lookup = |_: LookupRequest| {
///     ready(ResourceState::Unavailable { retry_after: Some(Duration::from_secs(5)) })
/// };
/// let handler = service_fn(|_: Request<()>| async {
///     Ok::<_, Infallible>(Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// });
/// let write = || Request::put("/item").header("if-match", "\"v6\"").body(()).unwrap();
///
/// // By default, a write that asked for a check is refused.
/// let refusing = ConditionalLayer::new().lookup_validators(lookup).layer(handler.clone());
/// let response = refusing.oneshot(write()).await.unwrap();
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()["retry-after"], "5");
///
/// // `Proceed` lets it through unchecked, as if there were no lookup.
/// let proceeding = ConditionalLayer::new()
///     .lookup_validators(lookup)
///     .on_lookup_failure(LookupFailure::Proceed)
///     .layer(handler);
/// let response = proceeding.oneshot(write()).await.unwrap();
/// assert_eq!(response.status(), StatusCode::OK);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LookupFailure {
    /// The request is answered `503 Service Unavailable` (with the lookup's
    /// `Retry-After`, if it gave one) and the handler does not run: a write
    /// whose client asked for a check is never applied unchecked.
    #[default]
    Refuse,
    /// The request goes to the handler as if there were no lookup: its
    /// preconditions are not checked. Only for handlers that check them
    /// again themselves (in the same transaction as the write).
    Proceed,
}

/// The default for [`ConditionalLayer::max_hashed_body_size`](crate::ConditionalLayer::max_hashed_body_size): 4 MiB.
///
/// ```
/// use tower_conditional::{ConditionalLayer, DEFAULT_MAX_HASHED_BODY_SIZE};
///
/// // Twice the default, for a service of larger documents.
/// let layer = ConditionalLayer::new().max_hashed_body_size(2 * DEFAULT_MAX_HASHED_BODY_SIZE);
/// # let _ = layer;
/// ```
pub const DEFAULT_MAX_HASHED_BODY_SIZE: usize = 4 * 1024 * 1024;

/// What counts as a small body: one whose chunks are gathered into one
/// buffer to be hashed in one call, and which the memo of recent bodies may
/// keep. One constant, because the memo can only answer for bodies that were
/// gathered whole.
pub(crate) const SMALL_BODY: usize = 16 * 1024;

/// A predicate on a response head: [`ConditionalLayer::hash_when`](crate::ConditionalLayer::hash_when).
pub(crate) type HashWhen = fn(&response::Parts) -> bool;

/// Settings shared by the layer, its services and their futures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) etag_policy: EtagPolicy,
    pub(crate) max_hashed_body_size: usize,
    pub(crate) head_requests: HeadRequests,
    pub(crate) remember_recent_bodies: bool,
    pub(crate) lookup_failure: LookupFailure,
    pub(crate) serve_ranges: bool,
    /// Put an [`Outcome`](crate::Outcome) in every response's extensions.
    pub(crate) record_outcomes: bool,
    /// A response the layer would hash is hashed only when this says so.
    pub(crate) hash_when: Option<HashWhen>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            etag_policy: EtagPolicy::Strong,
            max_hashed_body_size: DEFAULT_MAX_HASHED_BODY_SIZE,
            head_requests: HeadRequests::AsGet,
            remember_recent_bodies: true,
            lookup_failure: LookupFailure::Refuse,
            serve_ranges: true,
            record_outcomes: false,
            hash_when: None,
        }
    }
}

/// Marks a request or a response to be passed through untouched: no body is
/// held back, no `ETag` is added, no condition is evaluated.
///
/// Put it in the response's extensions from a handler (axum's `Extension`
/// does this when returned as part of a response), or in the request's
/// extensions from a layer outside this one.
///
/// ```
/// use axum::{routing::get, Extension, Router};
/// use tower_conditional::{Bypass, ConditionalLayer};
///
/// async fn live_counter() -> (Extension<Bypass>, String) {
///     (Extension(Bypass), format!("{}", 42))
/// }
///
/// let app: Router = Router::new()
///     .route("/counter", get(live_counter))
///     .layer(ConditionalLayer::new());
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bypass;

/// The methods a lookup answers for ([`ConditionalLayer::for_methods`](crate::ConditionalLayer::for_methods)):
/// all of them unless told otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LookupMethods {
    /// One bit per method of [`STANDARD`], in its order.
    standard: u16,
    /// Methods outside [`STANDARD`] (WebDAV's, say); `None` for none.
    extension: Option<Arc<[Method]>>,
    all: bool,
}

/// The methods of RFC 9110 §9 and RFC 5789 (`PATCH`), each a bit of
/// [`LookupMethods::standard`].
const STANDARD: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

impl Default for LookupMethods {
    fn default() -> Self {
        Self {
            standard: 0,
            extension: None,
            all: true,
        }
    }
}

impl LookupMethods {
    /// Exactly these methods, and `HEAD` with `GET` (a `HEAD` is answered as
    /// the `GET` would be, RFC 9110 §9.3.2).
    pub(crate) fn only(methods: impl IntoIterator<Item = Method>) -> Self {
        let mut standard = 0;
        let mut extension = Vec::new();
        for method in methods {
            match STANDARD.iter().position(|known| *known == method) {
                Some(bit) => standard |= 1 << bit,
                None if !extension.contains(&method) => extension.push(method),
                None => {}
            }
        }
        if standard & 1 != 0 {
            standard |= 1 << 1;
        }
        Self {
            standard,
            extension: (!extension.is_empty()).then(|| extension.into()),
            all: false,
        }
    }

    #[inline]
    pub(crate) fn contains(&self, method: &Method) -> bool {
        if self.all {
            return true;
        }
        match STANDARD.iter().position(|known| known == method) {
            Some(bit) => self.standard & (1 << bit) != 0,
            None => self
                .extension
                .as_deref()
                .is_some_and(|extension| extension.contains(method)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_methods() {
        assert!(LookupMethods::default().contains(&Method::DELETE));
        let scope = LookupMethods::only([Method::GET, Method::PUT]);
        assert!(scope.contains(&Method::GET));
        assert!(scope.contains(&Method::HEAD), "HEAD goes with GET");
        assert!(scope.contains(&Method::PUT));
        assert!(!scope.contains(&Method::DELETE));
        assert!(!scope.contains(&Method::POST));
        let lock = Method::from_bytes(b"LOCK").unwrap();
        assert!(!scope.contains(&lock));
        let webdav = LookupMethods::only([lock.clone(), Method::PATCH]);
        assert!(webdav.contains(&lock));
        assert!(webdav.contains(&Method::PATCH));
        assert!(!webdav.contains(&Method::GET));
        assert!(!webdav.contains(&Method::HEAD), "HEAD only with GET");
        assert!(!LookupMethods::only([]).contains(&Method::GET));
    }
}
