//! [`Conditional`]: the middleware service.

use std::task::{Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use http_body::Body;
use tower::Service;

use crate::body::ConditionalBody;
use crate::config::{Bypass, Config, LookupMethods};
use crate::future::{self, Passed, ResponseFuture};
use crate::layer::ConditionalLayer;
use crate::lookup::{LookupRequest, LookupValidators, NoLookup};
use crate::lookup_future::LookupFuture;
use crate::outcome::PassReason;
use crate::plan::{self, RequestFacts};
use crate::preconditions::{is_get_or_head, Preconditions};

/// Middleware that adds content-hash `ETag`s and answers conditional requests.
///
/// Made by [`ConditionalLayer`]; see the [crate documentation](crate).
///
/// ```
/// use std::convert::Infallible;
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{service_fn, ServiceExt};
/// use tower_conditional::Conditional;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = Conditional::new(service_fn(|_req: Request<()>| async {
///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
/// }));
///
/// let first = service.clone().oneshot(Request::new(())).await.unwrap();
/// let etag = first.headers()["etag"].clone();
///
/// let again = Request::builder().header("if-none-match", etag).body(()).unwrap();
/// let second = service.oneshot(again).await.unwrap();
/// assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Conditional<S, L = NoLookup> {
    inner: S,
    config: Config,
    lookup: L,
    lookup_methods: LookupMethods,
}

impl<S> Conditional<S> {
    /// Wraps `inner` with the default settings of [`ConditionalLayer::new`].
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower_conditional::Conditional;
    ///
    /// let service = Conditional::new(tower::service_fn(|_: Request<()>| async {
    ///     Ok::<_, Infallible>(Response::new(http_body_util::Full::new(bytes::Bytes::from("hi"))))
    /// }));
    /// # let _ = service;
    /// ```
    pub fn new(inner: S) -> Self {
        Self::from_parts(inner, Config::default(), NoLookup, LookupMethods::default())
    }

    /// A [`ConditionalLayer`] with the default settings.
    ///
    /// ```
    /// let layer = tower_conditional::Conditional::<()>::layer();
    /// # let _ = layer;
    /// ```
    pub fn layer() -> ConditionalLayer {
        ConditionalLayer::new()
    }
}

impl<S, L> Conditional<S, L> {
    pub(crate) fn from_parts(
        inner: S,
        config: Config,
        lookup: L,
        lookup_methods: LookupMethods,
    ) -> Self {
        Self {
            inner,
            config,
            lookup,
            lookup_methods,
        }
    }

    /// The wrapped service.
    ///
    /// ```
    /// let service = tower_conditional::Conditional::new(7);
    /// assert_eq!(*service.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    ///
    /// ```
    /// let mut service = tower_conditional::Conditional::new(7);
    /// *service.get_mut() += 1;
    /// assert_eq!(*service.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// let service = tower_conditional::Conditional::new("inner");
    /// assert_eq!(service.into_inner(), "inner");
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// What the response future of a GET or HEAD that no lookup answers for
/// must know: its precondition and range fields are read here, in one pass
/// over the header names.
#[inline(always)]
fn facts_without_lookup<ReqBody>(request: &Request<ReqBody>, config: Config) -> RequestFacts {
    let wants_range = plan::wants_range(&config, request.method());
    let conditions = plan::request_conditions(request.headers(), wants_range);
    future::request_facts(request, config, conditions)
}

/// Calls the inner service for a request whose response goes on untouched,
/// for `reason`.
#[inline]
fn pass_through<S, ReqBody, ResBody>(
    inner: &mut S,
    request: Request<ReqBody>,
    config: &Config,
    reason: PassReason,
) -> ResponseFuture<S::Future, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    ResponseFuture::passthrough(inner.call(request), Passed::because(reason, config))
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Conditional<S, NoLookup>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    ResBody::Data: Buf,
{
    type Response = Response<ConditionalBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let reason = if !is_get_or_head(request.method()) {
            PassReason::Method
        } else if request.extensions().get::<Bypass>().is_some() {
            PassReason::Bypass
        } else {
            let facts = facts_without_lookup(&request, self.config);
            // Two calls on purpose: only the HEAD asked for as a GET is made
            // mutable, which costs a copy of the request; a GET moves into
            // the inner service as it came.
            if facts.asks_for_get() {
                let mut request = request;
                future::ask_for_get(&mut request);
                return ResponseFuture::watch(self.inner.call(request), facts);
            }
            return ResponseFuture::watch(self.inner.call(request), facts);
        };
        pass_through(&mut self.inner, request, &self.config, reason)
    }
}

impl<S, L, ReqBody, ResBody> Service<Request<ReqBody>> for Conditional<S, L>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    L: LookupValidators,
    ResBody: Body,
    ResBody::Data: Buf,
{
    type Response = Response<ConditionalBody<ResBody>>;
    type Error = S::Error;
    type Future = LookupFuture<S, ReqBody, L::Future, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if request.extensions().get::<Bypass>().is_some() {
            let passed = pass_through(&mut self.inner, request, &self.config, PassReason::Bypass);
            return LookupFuture::called(passed);
        }
        let is_read = is_get_or_head(request.method());
        if !self.lookup_methods.contains(request.method()) {
            // Outside the lookup's scope: as if there were no lookup.
            if !is_read {
                let passed =
                    pass_through(&mut self.inner, request, &self.config, PassReason::Method);
                return LookupFuture::called(passed);
            }
            let facts = facts_without_lookup(&request, self.config);
            if facts.asks_for_get() {
                future::ask_for_get(&mut request);
            }
            let future = ResponseFuture::watch(self.inner.call(request), facts);
            return LookupFuture::called(future);
        }
        let preconditions = Preconditions::from_headers(request.headers());
        if !is_read && preconditions.is_empty() {
            let passed = pass_through(&mut self.inner, request, &self.config, PassReason::Method);
            return LookupFuture::called(passed);
        }
        let lookup = self.lookup.lookup(LookupRequest::from(&request));
        // The ready service answers this request once the lookup is done; a
        // clone takes its place for the next one (tower's usual hand-over).
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        LookupFuture::looking(lookup, ready, request, preconditions, self.config)
    }
}
