//! [`Conditional`]: the middleware service.

use std::task::{Context, Poll};

use bytes::Buf;
use http::{Method, Request, Response};
use http_body::Body;
use tower::Service;

use crate::body::ConditionalBody;
use crate::future::{RequestFacts, ResponseFuture};
use crate::layer::{ConditionalLayer, Config};
use crate::preconditions::Preconditions;
use crate::Bypass;

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
pub struct Conditional<S> {
    inner: S,
    config: Config,
}

impl<S> Conditional<S> {
    /// Wraps `inner` with the default settings of [`ConditionalLayer::new`].
    pub fn new(inner: S) -> Self {
        Self::from_config(inner, Config::default())
    }

    pub(crate) fn from_config(inner: S, config: Config) -> Self {
        Self { inner, config }
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

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Conditional<S>
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

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let is_head = request.method() == Method::HEAD;
        if !(is_head || request.method() == Method::GET)
            || request.extensions().get::<Bypass>().is_some()
        {
            return ResponseFuture::passthrough(self.inner.call(request));
        }
        if is_head {
            // The entity-tag must describe the body a GET would get, and a
            // router below may strip the body of a HEAD response before we
            // see it. Ask for the GET and drop its body ourselves.
            *request.method_mut() = Method::GET;
        }
        let facts = RequestFacts {
            preconditions: Preconditions::from_headers(request.headers()),
            is_head,
            config: self.config,
        };
        ResponseFuture::conditional(self.inner.call(request), facts)
    }
}
