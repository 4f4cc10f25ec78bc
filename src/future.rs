//! The response future of [`Conditional`](crate::Conditional): waits for the
//! inner response, carries out the [plan](crate::plan), and reads the body
//! when it is to be hashed; the [answer](crate::answer) is made from what
//! it found.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http::header::{IF_RANGE, RANGE};
use http::{response, Method, Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;

use crate::answer::{self, HeadFacts};
use crate::body::ConditionalBody;
use crate::config::Config;
use crate::outcome::{self, Outcome, PassReason, ValidatorSource};
use crate::plan::{self, Conditions, Plan, RequestFacts};
use crate::preconditions::is_get_or_head;
use crate::read_body::{BodyRead, Reading};
use crate::respond::{self, Outgoing};

pin_project! {
    /// The response future of [`Conditional`](crate::Conditional).
    ///
    /// It waits for the inner service's response and, when the response can
    /// get a content-hash entity-tag, reads its body (up to the configured
    /// limit) before resolving, so it can answer `304 Not Modified` instead.
    /// Dropping it drops the inner future or body.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_conditional::ConditionalLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = ConditionalLayer::new().layer(service_fn(|_req: Request<()>| async {
    ///     Ok::<_, Infallible>(Response::new(http_body_util::Full::new(bytes::Bytes::from("hi"))))
    /// }));
    /// // `oneshot` drives the `ResponseFuture` to completion.
    /// let response = service.oneshot(Request::new(())).await.unwrap();
    /// assert!(response.headers().contains_key("etag"));
    /// # }
    /// ```
    pub struct ResponseFuture<F, B>
    where
        B: Body,
    {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B>
    where
        B: Body,
    {
        // Not a GET or HEAD, or opted out: the response is passed on untouched.
        Passthrough { #[pin] future: F, passed: Passed },
        // Waiting for the inner response of a GET or HEAD.
        Inner { #[pin] future: F, request: Option<RequestFacts> },
        // Reading and hashing, where it is, a body that stated its exact
        // length within the limit (one in memory, as most are): it is read
        // to its end (or cut, should it break its word), never left to
        // stream on, so it need not move (or be boxed). The response is
        // boxed here only while the body is waited for.
        ReadingInPlace {
            #[pin]
            body: B,
            pending: Option<Box<Pending>>,
        },
        // Reading and hashing another body that was not ready at once, with
        // the response held back meanwhile. It is boxed so that, should it
        // outgrow the limit, it can go out with the response.
        Reading { reading: Option<(Pin<Box<B>>, Box<Pending>)> },
        Done,
    }
}

/// Why a request's response is passed on untouched, for its outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Passed {
    why: Why,
    pub(crate) record_outcomes: bool,
}

#[derive(Debug, Clone, Copy)]
enum Why {
    /// The layer left it alone, for this reason.
    Untouched(PassReason),
    /// A write whose preconditions held, against the looked-up validators
    /// (`Lookup`) or a missing resource (`None`).
    Checked(ValidatorSource),
}

impl Passed {
    pub(crate) fn because(reason: PassReason, config: &Config) -> Self {
        Self {
            why: Why::Untouched(reason),
            record_outcomes: config.record_outcomes,
        }
    }

    /// A write that goes on because its preconditions held, against the
    /// looked-up validators or (`found` false) a missing resource.
    pub(crate) fn checked(config: &Config, found: bool) -> Self {
        let validators = if found {
            ValidatorSource::Lookup
        } else {
            ValidatorSource::None
        };
        Self {
            why: Why::Checked(validators),
            record_outcomes: config.record_outcomes,
        }
    }

    fn outcome(self) -> Outcome {
        match self.why {
            Why::Untouched(reason) => Outcome::passed(reason),
            Why::Checked(validators) => Outcome {
                evaluated: true,
                ..Outcome::answered(http::StatusCode::OK, validators)
            },
        }
    }
}

/// The response being held back while its body is read.
struct Pending {
    parts: response::Parts,
    reading: Reading,
    request: RequestFacts,
    head: HeadFacts,
}

impl Pending {
    /// The response, once the body waited for was read as far as it will be.
    fn respond<B: Body>(
        self: Box<Self>,
        body: Option<Pin<Box<B>>>,
        read: BodyRead<B::Error>,
    ) -> Response<ConditionalBody<B>> {
        let Pending {
            parts,
            reading,
            request,
            head,
        } = *self;
        answer::read(parts, reading, &request, head, body, read)
    }
}

impl<F, B> ResponseFuture<F, B>
where
    B: Body,
{
    pub(crate) fn passthrough(future: F, passed: Passed) -> Self {
        Self {
            state: State::Passthrough { future, passed },
        }
    }

    /// Watches the inner response to a GET or HEAD.
    #[inline]
    pub(crate) fn watch(future: F, request: RequestFacts) -> Self {
        Self {
            state: State::Inner {
                future,
                request: Some(request),
            },
        }
    }
}

/// What the response future of a GET or HEAD must know of it.
/// `conditions` are what it asks to be evaluated, and the validators a
/// lookup found ([`plan::request_conditions`]).
///
/// The request is only borrowed, and a GET goes to the inner service as it
/// came: it moves once, into the inner service, as a request through no
/// middleware does. Only a HEAD asked for as a GET is changed first
/// ([`ask_for_get`]).
#[inline(always)]
pub(crate) fn request_facts<ReqBody>(
    request: &Request<ReqBody>,
    config: Config,
    conditions: Option<Box<Conditions>>,
) -> RequestFacts {
    debug_assert!(is_get_or_head(request.method()));
    RequestFacts::new(request.method() == Method::HEAD, config, conditions)
}

/// Turns a HEAD into the GET its response future asks the inner service for
/// ([`RequestFacts::asks_for_get`]).
#[inline(never)]
pub(crate) fn ask_for_get<ReqBody>(request: &mut Request<ReqBody>) {
    // The entity-tag must describe the body a GET would get, and a router
    // below may strip the body of a HEAD response before we see it. Ask for
    // the GET and drop its body ourselves.
    *request.method_mut() = Method::GET;
    // A HEAD's `Range` is ignored (§14.2: range handling is defined for GET
    // only); the GET asked for in its place must not carry it, or a service
    // that serves ranges would answer a `206`.
    let headers = request.headers_mut();
    if headers.contains_key(RANGE) {
        headers.remove(RANGE);
        headers.remove(IF_RANGE);
    }
}

type Output<B, E> = Result<Response<ConditionalBody<B>>, E>;

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    B::Data: Buf,
{
    type Output = Output<B, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        match state.as_mut().project() {
            StateProj::Passthrough { future, passed } => {
                let response = ready!(future.poll(cx))?;
                let passed = *passed;
                state.set(State::Done);
                if !outcome::observed(passed.record_outcomes) {
                    // Nearly every response. Returned from here, not through
                    // `outcome::record`, which would cost a copy of it.
                    return Poll::Ready(Ok(response.map(ConditionalBody::passthrough)));
                }
                let response = response.map(ConditionalBody::passthrough);
                Poll::Ready(Ok(outcome::record(
                    response,
                    passed.record_outcomes,
                    |_| passed.outcome(),
                )))
            }
            StateProj::Inner { future, request } => {
                let response = ready!(future.poll(cx))?;
                let request = request.take().expect("polled after completion");
                on_response(state, response, request, cx).map(Ok)
            }
            StateProj::ReadingInPlace { body, pending } => {
                let waiting = pending.as_mut().expect("polled after completion");
                let max = waiting.request.config.max_hashed_body_size;
                let read = ready!(waiting.reading.poll_read(cx, body, max));
                let waited = pending.take().expect("checked above");
                state.set(State::Done);
                Poll::Ready(Ok(waited.respond(None, read)))
            }
            StateProj::Reading { reading } => {
                let (body, pending) = reading.as_mut().expect("polled after completion");
                let max = pending.request.config.max_hashed_body_size;
                let read = ready!(pending.reading.poll_read(cx, body.as_mut(), max));
                let (body, waited) = reading.take().expect("checked above");
                state.set(State::Done);
                Poll::Ready(Ok(waited.respond(Some(body), read)))
            }
            StateProj::Done => panic!("ResponseFuture polled after completion"),
        }
    }
}

/// Carries out the plan for the inner response to a GET or HEAD, reading its
/// body at once when it is in memory already, as most are. `state` is the
/// finished `Inner`: it becomes `Done`, or holds the body and the response
/// while the body is waited for.
#[inline(always)]
fn on_response<F, B>(
    mut state: Pin<&mut State<F, B>>,
    response: Response<B>,
    request: RequestFacts,
    cx: &mut Context<'_>,
) -> Poll<Response<ConditionalBody<B>>>
where
    B: Body,
    B::Data: Buf,
{
    let (mut parts, body) = response.into_parts();
    let plan = plan::plan(&parts, &body, &request);
    let in_place = matches!(plan, Plan::Read { .. }) && body.size_hint().exact().is_some();
    if !in_place {
        // What the finished inner future holds (a permit, a span) goes
        // before the body is read; a body read in place takes its state.
        state.set(State::Done);
    }
    let record_outcomes = request.config.record_outcomes;
    if let Plan::PassOn(reason) = plan {
        let response = respond::send(parts, Outgoing::Unread(body), request.is_head);
        return Poll::Ready(outcome::record(response, record_outcomes, |_| {
            Outcome::passed(reason)
        }));
    }
    let mut looked_up_added = false;
    if let Some(looked_up) = request.looked_up() {
        if parts.status == http::StatusCode::OK {
            looked_up_added = respond::add_looked_up_validators(&mut parts.headers, looked_up);
        }
    }
    match plan {
        // Passed on above, before any validator was added.
        Plan::PassOn(_) | Plan::InPlace(_) => {
            let unhashed = match plan {
                Plan::InPlace(unhashed) => unhashed,
                _ => None,
            };
            Poll::Ready(answer::unread(
                parts,
                body,
                unhashed,
                looked_up_added,
                &request,
            ))
        }
        Plan::HashEmpty { has_content_length } => {
            Poll::Ready(answer::empty(parts, has_content_length, &request))
        }
        Plan::Read { has_content_length } => {
            let head = HeadFacts {
                has_content_length,
                looked_up_added,
                last_modified: plan::last_modified_to_evaluate(&parts, &request),
            };
            let mut reading = Reading::default();
            let max = request.config.max_hashed_body_size;
            // A body that states its exact length (one in memory, as most
            // are) is read where it will stay: the plan reads none that
            // states more than the limit, so it is read whole, or cut should
            // it break its word (see `answer::read`).
            if in_place {
                state.set(State::ReadingInPlace {
                    body,
                    pending: None,
                });
                let StateProj::ReadingInPlace { body, pending, .. } = state.as_mut().project()
                else {
                    unreachable!("the state was set just above");
                };
                return match reading.poll_read(cx, body, max) {
                    Poll::Ready(read) => {
                        // Read to its end or cut, the body is not part of
                        // the answer: it goes first, and the answer is built
                        // where it is returned.
                        state.set(State::Done);
                        Poll::Ready(answer::read(parts, reading, &request, head, None, read))
                    }
                    Poll::Pending => {
                        *pending = Some(Box::new(Pending {
                            parts,
                            reading,
                            request,
                            head,
                        }));
                        Poll::Pending
                    }
                };
            }
            let mut body = Box::pin(body);
            match reading.poll_read(cx, body.as_mut(), max) {
                Poll::Ready(read) => Poll::Ready(answer::read(
                    parts,
                    reading,
                    &request,
                    head,
                    Some(body),
                    read,
                )),
                Poll::Pending => {
                    let pending = Box::new(Pending {
                        parts,
                        reading,
                        request,
                        head,
                    });
                    state.set(State::Reading {
                        reading: Some((body, pending)),
                    });
                    Poll::Pending
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::header::ETAG;
    use std::sync::{Arc, Mutex};

    type Events = Arc<Mutex<Vec<&'static str>>>;

    /// Records when the inner service's future is dropped.
    struct Guard(Events);

    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.lock().unwrap().push("inner future dropped");
        }
    }

    /// An inner future that holds a guard until it is dropped, as one
    /// holding a concurrency permit or a span does.
    struct Answering {
        response: Option<Response<Recording>>,
        _guard: Guard,
    }

    impl Future for Answering {
        type Output = Result<Response<Recording>, std::convert::Infallible>;

        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Ready(Ok(self.response.take().expect("polled once")))
        }
    }

    /// A one-chunk body that records when it is read, and states its length
    /// when `exact` (so it is read in place) or not (so it is boxed).
    struct Recording {
        data: Option<Bytes>,
        exact: bool,
        events: Events,
    }

    impl Body for Recording {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            self.events.lock().unwrap().push("body read");
            Poll::Ready(
                self.data
                    .take()
                    .map(|data| Ok(http_body::Frame::data(data))),
            )
        }

        fn size_hint(&self) -> http_body::SizeHint {
            let length = self.data.as_ref().map_or(0, |data| data.len() as u64);
            match self.exact {
                true => http_body::SizeHint::with_exact(length),
                false => http_body::SizeHint::default(),
            }
        }
    }

    /// Both when the body is read in place (it states its length) and when
    /// it is boxed.
    #[tokio::test]
    async fn the_inner_future_is_dropped_before_the_body_is_read() {
        use tower::{Layer, ServiceExt};
        for exact in [true, false] {
            let events = Events::default();
            let recorded = events.clone();
            let inner = tower::service_fn(move |_: Request<()>| Answering {
                response: Some(Response::new(Recording {
                    data: Some(Bytes::from_static(b"hello")),
                    exact,
                    events: recorded.clone(),
                })),
                _guard: Guard(recorded.clone()),
            });
            let response = crate::ConditionalLayer::new()
                .layer(inner)
                .oneshot(Request::new(()))
                .await
                .unwrap();
            assert!(response.headers().contains_key(ETAG), "exact: {exact}");
            let events = events.lock().unwrap().clone();
            assert_eq!(
                events.first(),
                Some(&"inner future dropped"),
                "exact: {exact}, {events:?}"
            );
            assert!(events.contains(&"body read"), "exact: {exact}, {events:?}");
        }
    }

    /// Every request moves the future a few times (into the task, the
    /// router's box, each layer's state): it carries what it needs to know
    /// about the request, and no more. The response whose body must be
    /// waited for is boxed, and the rare request with preconditions keeps
    /// them boxed too.
    #[test]
    fn the_future_adds_little_to_the_inner_future() {
        type Body = http_body_util::Full<Bytes>;
        type Inner = std::future::Ready<Result<Response<Body>, std::convert::Infallible>>;
        let inner = std::mem::size_of::<Inner>();
        let ours = std::mem::size_of::<ResponseFuture<Inner, Body>>();
        assert!(
            ours <= inner + 48,
            "ResponseFuture is {ours} bytes around a {inner}-byte future"
        );
    }
}
