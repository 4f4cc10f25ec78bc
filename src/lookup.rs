//! Validators known before the handler runs: what a lookup is given, what it
//! answers, and the closures that are lookups.

use std::future::Future;
use std::time::Duration;

use http::{HeaderMap, Method, Uri};

use crate::entity_tag::EntityTag;
use crate::validators::Validators;

/// What a lookup knows about the target resource of a request.
///
/// ```
/// use tower_conditional::{EntityTag, ResourceState, Validators};
///
/// fn state(version: Option<u64>) -> ResourceState {
///     match version {
///         Some(v) => ResourceState::Current(
///             Validators::new().with_etag(EntityTag::strong(&format!("v{v}")).unwrap()),
///         ),
///         None => ResourceState::Missing,
///     }
/// }
/// assert!(matches!(state(None), ResourceState::Missing));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceState {
    /// The lookup does not answer for this resource (a path it does not
    /// know): the request is handled as if no lookup were configured (GET and
    /// HEAD responses are hashed, other methods go to the handler).
    Unknown,
    /// The lookup could not find out (its database is down, it timed out).
    /// A GET or HEAD is handled as if no lookup were configured. Another
    /// request that carries a precondition is refused with `503 Service
    /// Unavailable`, with this `Retry-After` when given, and its handler does
    /// not run: see [`LookupFailure`](crate::LookupFailure), which can let it
    /// through instead.
    ///
    /// A lookup that returns `Err(_)` means this, without a `Retry-After`.
    Unavailable {
        /// When to try again, sent as `Retry-After` in whole seconds
        /// (rounded up).
        retry_after: Option<Duration>,
    },
    /// The resource has no current representation. `If-Match: *` fails with
    /// `412`; `If-None-Match: *` passes, so a create-only `PUT` goes ahead.
    /// A GET or HEAD still reaches the handler, which answers as it sees fit
    /// (typically `404`).
    Missing,
    /// The resource exists and these are its current validators.
    Current(Validators),
}

impl From<Validators> for ResourceState {
    fn from(validators: Validators) -> Self {
        ResourceState::Current(validators)
    }
}

impl From<EntityTag> for ResourceState {
    /// The resource exists and this is its current entity-tag.
    fn from(etag: EntityTag) -> Self {
        ResourceState::Current(Validators::new().with_etag(etag))
    }
}

/// What a lookup's future may resolve to: a [`ResourceState`], a
/// [`Validators`], an [`EntityTag`], or a `Result` of one with any error type (an `Err` is
/// [`ResourceState::Unavailable`] without a `Retry-After`).
///
/// So a lookup can use `?` on its database client's errors (`sqlx::Error`,
/// `tokio_postgres::Error`, your own) without mapping them. The error itself
/// is dropped: log it in the lookup (`.inspect_err(..)`) if you want it.
///
/// ```
/// use tower_conditional::{IntoResourceState, ResourceState};
///
/// let failed: Result<ResourceState, std::io::Error> = Err(std::io::ErrorKind::TimedOut.into());
/// assert_eq!(
///     failed.into_resource_state(),
///     ResourceState::Unavailable { retry_after: None }
/// );
/// ```
pub trait IntoResourceState {
    /// The state this answer stands for.
    fn into_resource_state(self) -> ResourceState;
}

impl IntoResourceState for ResourceState {
    #[inline]
    fn into_resource_state(self) -> ResourceState {
        self
    }
}

impl IntoResourceState for Validators {
    #[inline]
    fn into_resource_state(self) -> ResourceState {
        ResourceState::Current(self)
    }
}

impl IntoResourceState for EntityTag {
    #[inline]
    fn into_resource_state(self) -> ResourceState {
        self.into()
    }
}

impl<T: IntoResourceState, E> IntoResourceState for Result<T, E> {
    #[inline]
    fn into_resource_state(self) -> ResourceState {
        match self {
            Ok(answer) => answer.into_resource_state(),
            Err(_) => ResourceState::Unavailable { retry_after: None },
        }
    }
}

/// What a lookup is given: an owned copy of the request head, which its
/// future may keep as long as it needs without borrowing the request.
///
/// The method and URI are cheap to copy (the URI shares its bytes with the
/// request's); the header map is one copy per looked-up request, which a
/// lookup that does any I/O does not notice.
///
/// ```
/// use http::{Method, Request};
/// use tower_conditional::LookupRequest;
///
/// let request = Request::put("/items/7?dry-run").body(()).unwrap();
/// let view = LookupRequest::from(&request);
/// assert_eq!(view.method, Method::PUT);
/// assert_eq!(view.uri.path(), "/items/7");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LookupRequest {
    /// The request method.
    pub method: Method,
    /// The request target.
    pub uri: Uri,
    /// The request's header fields.
    pub headers: HeaderMap,
}

impl<B> From<&http::Request<B>> for LookupRequest {
    fn from(request: &http::Request<B>) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A lookup of the current validators of a request's target resource, run
/// before the inner service: every `FnMut(LookupRequest) -> impl Future` that
/// is `Clone` and whose future resolves to an [`IntoResourceState`].
///
/// It is given to [`ConditionalLayer::lookup_validators`](crate::ConditionalLayer::lookup_validators),
/// which shows each form a lookup takes; this trait only names them.
///
/// ```
/// use std::future::ready;
/// use tower_conditional::{LookupRequest, LookupValidators, ResourceState};
///
/// fn assert_lookup(_: impl LookupValidators) {}
/// assert_lookup(|_request: LookupRequest| ready(ResourceState::Unknown));
/// ```
pub trait LookupValidators: sealed::Sealed + Clone {
    /// What the lookup's future resolves to.
    type Answer: IntoResourceState;
    /// The future that resolves to the resource's state.
    type Future: Future<Output = Self::Answer>;

    /// Starts the lookup for one request.
    fn lookup(&mut self, request: LookupRequest) -> Self::Future;
}

impl<F, Fut> sealed::Sealed for F
where
    F: FnMut(LookupRequest) -> Fut + Clone,
    Fut: Future,
    Fut::Output: IntoResourceState,
{
}

impl<F, Fut> LookupValidators for F
where
    F: FnMut(LookupRequest) -> Fut + Clone,
    Fut: Future,
    Fut::Output: IntoResourceState,
{
    type Answer = Fut::Output;
    type Future = Fut;

    #[inline]
    fn lookup(&mut self, request: LookupRequest) -> Fut {
        self(request)
    }
}

/// The absence of a validator lookup: the default of [`ConditionalLayer`](crate::ConditionalLayer).
///
/// ```
/// use tower_conditional::{ConditionalLayer, NoLookup};
///
/// let layer: ConditionalLayer<NoLookup> = ConditionalLayer::new();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoLookup;
