//! Validators known before the handler runs.

use std::future::Future;

use http::request::Parts;

use crate::preconditions::Validators;

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
    /// The lookup cannot tell, or failed: the request is handled as if no
    /// lookup were configured (GET and HEAD responses are hashed, other
    /// methods go to the handler unconditionally).
    Unknown,
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

/// Looks up the current validators of a request's target resource before
/// the inner service runs, from something cheap: a version column, a file's
/// modification time, a cache entry.
///
/// Implemented for every `FnMut(&http::request::Parts) -> impl Future<Output
/// = ResourceState>` that is `Clone`: read what you need from the request
/// head synchronously, then look it up in the returned future. Map errors to
/// [`ResourceState::Unknown`] (after logging them, as you see fit): the
/// request then goes on as if there were no lookup.
///
/// ```
/// use std::future::{ready, Ready};
/// use http::request::Parts;
/// use tower_conditional::{ConditionalLayer, EntityTag, ResourceState, Validators};
///
/// let layer = ConditionalLayer::new().lookup_validators(|request: &Parts| {
///     let state = match request.uri.path() {
///         "/config" => Validators::new().with_etag(EntityTag::strong("rev-9").unwrap()).into(),
///         _ => ResourceState::Unknown,
///     };
///     ready(state)
/// });
/// # let _ = layer;
/// ```
pub trait LookupValidators: Clone {
    /// The future that resolves to the resource's state.
    type Future: Future<Output = ResourceState>;

    /// Starts the lookup for one request.
    fn lookup(&mut self, request: &Parts) -> Self::Future;
}

impl<F, Fut> LookupValidators for F
where
    F: FnMut(&Parts) -> Fut + Clone,
    Fut: Future<Output = ResourceState>,
{
    type Future = Fut;

    fn lookup(&mut self, request: &Parts) -> Fut {
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
