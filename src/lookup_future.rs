//! The response future of [`Conditional`](crate::Conditional) with a
//! [validator lookup](crate::ConditionalLayer::lookup_validators): it waits
//! for the lookup, then answers before the handler or calls it.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower::Service;

use crate::body::ConditionalBody;
use crate::config::Config;
use crate::future::{self, Passed, ResponseFuture};
use crate::lookup::IntoResourceState;
use crate::outcome::{self, Action, Outcome, ValidatorSource};
use crate::plan::{self, BeforeHandler, Conditions};
use crate::preconditions::{is_get_or_head, Preconditions};
use crate::respond;
use crate::validators::Validators;

pin_project! {
    /// The response future of [`Conditional`](crate::Conditional) with a
    /// [validator lookup](crate::ConditionalLayer::lookup_validators).
    ///
    /// It first waits for the lookup; then it either answers at once (`304`,
    /// `412`, or `503` when the lookup failed) without calling the inner service, or calls it and continues as
    /// a [`ResponseFuture`]. Dropping it drops the lookup, the request and the
    /// inner service's future.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::future::ready;
    /// use http::{Request, Response, StatusCode};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_conditional::{ConditionalLayer, EntityTag, LookupRequest, Validators};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let layer = ConditionalLayer::new().lookup_validators(|_: LookupRequest| {
    ///     ready(Validators::new().with_etag(EntityTag::strong("v7").unwrap()))
    /// });
    /// let service = layer.layer(service_fn(|_req: Request<()>| async {
    ///     Ok::<_, Infallible>(Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// }));
    /// let stale_write = Request::put("/item").header("if-match", "\"v6\"").body(()).unwrap();
    /// let response = service.oneshot(stale_write).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    /// # }
    /// ```
    pub struct LookupFuture<S, ReqBody, LF, B>
    where
        S: Service<Request<ReqBody>, Response = Response<B>>,
        B: Body,
    {
        #[pin]
        state: LookupState<S, ReqBody, LF, B>,
    }
}

pin_project! {
    #[project = LookupStateProj]
    enum LookupState<S, ReqBody, LF, B>
    where
        S: Service<Request<ReqBody>, Response = Response<B>>,
        B: Body,
    {
        Looking { #[pin] lookup: LF, call: Option<DeferredCall<S, ReqBody>> },
        Called { #[pin] future: ResponseFuture<S::Future, B> },
    }
}

/// A request waiting for its lookup, with the service that will answer it.
struct DeferredCall<S, ReqBody> {
    service: S,
    request: Request<ReqBody>,
    preconditions: Preconditions,
    config: Config,
}

impl<S, ReqBody, LF, B> LookupFuture<S, ReqBody, LF, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    B: Body,
{
    pub(crate) fn called(future: ResponseFuture<S::Future, B>) -> Self {
        Self {
            state: LookupState::Called { future },
        }
    }

    pub(crate) fn looking(
        lookup: LF,
        service: S,
        request: Request<ReqBody>,
        preconditions: Preconditions,
        config: Config,
    ) -> Self {
        Self {
            state: LookupState::Looking {
                lookup,
                call: Some(DeferredCall {
                    service,
                    request,
                    preconditions,
                    config,
                }),
            },
        }
    }
}

impl<S, ReqBody, LF, B> Future for LookupFuture<S, ReqBody, LF, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    LF: Future,
    LF::Output: IntoResourceState,
    B: Body,
    B::Data: Buf,
{
    type Output = Result<Response<ConditionalBody<B>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                LookupStateProj::Looking { lookup, call } => {
                    let resource = ready!(lookup.poll(cx)).into_resource_state();
                    let DeferredCall {
                        mut service,
                        mut request,
                        preconditions,
                        config,
                    } = call.take().expect("polled after completion");
                    let looked_up = match plan::before_handler(
                        request.method(),
                        &preconditions,
                        resource,
                        config.lookup_failure,
                    ) {
                        BeforeHandler::Call(looked_up) => looked_up,
                        BeforeHandler::NotModified(current) => {
                            let response = respond::not_modified_before_handler(current.as_ref());
                            return Poll::Ready(Ok(before_handler(response, &config, &current)));
                        }
                        BeforeHandler::PreconditionFailed(current) => {
                            let response =
                                respond::precondition_failed_before_handler(current.as_ref());
                            return Poll::Ready(Ok(before_handler(response, &config, &current)));
                        }
                        BeforeHandler::Unavailable(retry_after) => {
                            let response = respond::unavailable_before_handler(retry_after);
                            return Poll::Ready(Ok(before_handler(response, &config, &None)));
                        }
                    };
                    let future = if is_get_or_head(request.method()) {
                        let wants_range = plan::wants_range(&config, request.method());
                        let range = plan::range_request(request.headers(), wants_range);
                        let conditions =
                            Conditions::boxed(preconditions.non_empty(), range, looked_up);
                        let facts = future::request_facts(&request, config, conditions);
                        if facts.asks_for_get() {
                            future::ask_for_get(&mut request);
                        }
                        ResponseFuture::watch(service.call(request), facts)
                    } else {
                        // Its preconditions held: the write goes on as it came.
                        let passed = Passed::checked(&config, looked_up.is_some());
                        ResponseFuture::passthrough(service.call(request), passed)
                    };
                    state.set(LookupState::Called { future });
                }
                LookupStateProj::Called { future } => return future.poll(cx),
            }
        }
    }
}

/// Records the outcome of an answer made before the handler ran, from the
/// looked-up validators `current` (`None` for a missing resource or a
/// failed lookup).
#[inline]
fn before_handler<B: Body>(
    response: Response<ConditionalBody<B>>,
    config: &Config,
    current: &Option<Validators>,
) -> Response<ConditionalBody<B>> {
    outcome::record(response, config.record_outcomes, |response| {
        let validators = match current {
            Some(_) => ValidatorSource::Lookup,
            None => ValidatorSource::None,
        };
        let mut outcome = Outcome::answered(response.status(), validators);
        outcome.before_handler = true;
        // A 304 or 412 is what the preconditions decided, a missing
        // resource's too; a 503 says they could not be.
        outcome.evaluated = outcome.action != Action::Unavailable;
        outcome
    })
}
