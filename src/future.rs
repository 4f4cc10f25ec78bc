//! The response future of [`Conditional`](crate::Conditional): waits for the
//! inner response, carries out the [plan](crate::plan), reads the body when
//! it is to be hashed, and hands the result to [`respond`](crate::respond).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

use bytes::Buf;
use http::header::{ETAG, IF_RANGE, LAST_MODIFIED, RANGE};
use http::{response, HeaderValue, Method, Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;

use crate::body::{ConditionalBody, Held, Rest};
use crate::config::{Config, SMALL_BODY};
use crate::entity_tag::EntityTag;
use crate::outcome::{self, Action, Outcome, PassReason, ValidatorSource};
use crate::partial_content::RangeResponse;
use crate::plan::{self, Conditions, Plan, RequestFacts};
use crate::preconditions::{is_get_or_head, Evaluation};
use crate::read_body::{empty_body_etag, BodyRead, Reading};
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
    /// `None`: a write whose preconditions held against looked-up
    /// validators.
    pub(crate) reason: Option<PassReason>,
    pub(crate) record_outcomes: bool,
}

impl Passed {
    pub(crate) fn because(reason: PassReason, config: &Config) -> Self {
        Self {
            reason: Some(reason),
            record_outcomes: config.record_outcomes,
        }
    }

    /// A write that goes on because its preconditions held.
    pub(crate) fn checked(config: &Config) -> Self {
        Self {
            reason: None,
            record_outcomes: config.record_outcomes,
        }
    }

    fn outcome(self) -> Outcome {
        match self.reason {
            Some(reason) => Outcome::passed(reason),
            None => Outcome {
                evaluated: true,
                ..Outcome::answered(http::StatusCode::OK, ValidatorSource::Lookup)
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
        respond_read(parts, reading, &request, head, body, read)
    }
}

/// What the plan learnt of the response's head, for after the body is read.
#[derive(Clone, Copy)]
struct HeadFacts {
    /// The handler set a `Content-Length` field.
    has_content_length: bool,
    /// Looked-up validators were added to the head.
    looked_up_added: bool,
    /// The handler's `Last-Modified`, when a date precondition needs it.
    last_modified: Option<SystemTime>,
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
            let evaluation = plan::evaluate_in_place(&parts, body.is_end_stream(), &request);
            // What only the outcome needs, read before the head and body go.
            let described = outcome::observed(record_outcomes).then(|| {
                let unhashed = match plan {
                    Plan::InPlace(unhashed) => unhashed,
                    _ => None,
                };
                let validators = validator_source(&parts.headers, looked_up_added);
                (unhashed, validators, body.size_hint().exact())
            });
            let body = Outgoing::Unread(body);
            let response = match evaluation {
                Some(evaluation) => respond::respond(parts, evaluation, body, request.is_head),
                None => respond::send(parts, body, request.is_head),
            };
            Poll::Ready(outcome::record(response, record_outcomes, |response| {
                let (unhashed, validators, length) =
                    described.unwrap_or((None, ValidatorSource::None, None));
                unhashed_outcome(response, evaluation, unhashed, validators, length)
            }))
        }
        Plan::HashEmpty { has_content_length } => {
            let last_modified = plan::last_modified_to_evaluate(&parts, &request);
            let held = Held::default();
            // Only a GET gets here: an empty HEAD answer is not hashed.
            respond::state_length(&mut parts.headers, &held, has_content_length, false);
            let etag = empty_body_etag(request.config.etag_policy);
            Poll::Ready(respond_hashed(
                parts,
                held,
                (etag, false),
                last_modified,
                &request,
            ))
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
            // it break its word (see `respond_read`).
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
                        Poll::Ready(respond_read(parts, reading, &request, head, None, read))
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
                Poll::Ready(read) => Poll::Ready(respond_read(
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

/// Where the validators of a response the layer did not tag come from.
fn validator_source(headers: &http::HeaderMap, looked_up_added: bool) -> ValidatorSource {
    if looked_up_added {
        ValidatorSource::Lookup
    } else if headers.contains_key(ETAG) || headers.contains_key(LAST_MODIFIED) {
        ValidatorSource::Handler
    } else {
        ValidatorSource::None
    }
}

/// The outcome of a response the layer did not tag: judged by the
/// validators it had, or passed through for the reason it was not hashed.
fn unhashed_outcome<B>(
    response: &Response<B>,
    evaluation: Option<Evaluation>,
    unhashed: Option<PassReason>,
    validators: ValidatorSource,
    length: Option<u64>,
) -> Outcome {
    let evaluated = evaluation.is_some();
    if evaluation.is_none_or(|evaluation| evaluation == Evaluation::Proceed) {
        if let (ValidatorSource::None, Some(reason)) = (validators, unhashed) {
            return Outcome {
                evaluated,
                ..Outcome::passed(reason)
            };
        }
    }
    let mut outcome = Outcome::answered(response.status(), validators);
    outcome.evaluated = evaluated;
    if outcome.action == Action::NotModified {
        outcome.not_sent = length;
    }
    outcome
}

/// The response, once its body was read as far as it will be.
#[inline(always)]
fn respond_read<B: Body>(
    mut parts: response::Parts,
    reading: Reading,
    request: &RequestFacts,
    head: HeadFacts,
    body: Option<Pin<Box<B>>>,
    read: BodyRead<B::Error>,
) -> Response<ConditionalBody<B>> {
    let HeadFacts {
        has_content_length,
        looked_up_added,
        last_modified,
    } = head;
    let is_head = request.is_head;
    let record_outcomes = request.config.record_outcomes;
    let over_limit = matches!(read, BodyRead::OverLimit);
    let rest = match read {
        BodyRead::Ended => {
            drop(body);
            Rest::Done
        }
        // The rest goes out unread, from a boxed body. One read in place
        // stated a length within the limit and broke its word: it cannot go
        // on from where it is, so it is cut, untagged (without the layer,
        // hyper would send the length it stated and no more).
        BodyRead::OverLimit => body.map_or(Rest::Done, Rest::Inner),
        BodyRead::Failed(error) => {
            drop(body);
            let response = respond::failed(parts, reading.into_held(), error);
            return outcome::record(response, record_outcomes, |_| {
                Outcome::passed(PassReason::BodyError)
            });
        }
    };
    let empty_head = is_head && reading.read_len() == 0;
    if over_limit || empty_head {
        // Not hashed: the body outgrew the limit (it goes out without an
        // entity-tag, after what was read), or it is an answer to a HEAD
        // known to be empty (as planned). Only the handler's `Last-Modified`
        // can still decide; for the empty HEAD, only without a tag condition.
        let unhashed = Some(if empty_head {
            PassReason::EmptyHead
        } else {
            PassReason::OverLimit
        });
        let validators = if outcome::observed(record_outcomes) {
            validator_source(&parts.headers, looked_up_added)
        } else {
            ValidatorSource::None
        };
        let evaluable = !empty_head
            || request.preconditions().is_some_and(|preconditions| {
                plan::head_can_be_evaluated(preconditions, last_modified)
            });
        if !evaluable {
            let response = Response::from_parts(parts, ConditionalBody::empty());
            return outcome::record(response, record_outcomes, |response| {
                unhashed_outcome(response, None, unhashed, validators, None)
            });
        }
        let evaluation = plan::evaluate_unhashed(last_modified, request);
        // Over the limit, the length is not known (the rest is unread).
        let length = empty_head.then_some(0);
        let body = Outgoing::Read(reading.into_held(), rest);
        let response = respond::respond(parts, evaluation, body, is_head);
        let evaluation = request.preconditions().is_some().then_some(evaluation);
        return outcome::record(response, record_outcomes, |response| {
            unhashed_outcome(response, evaluation, unhashed, validators, length)
        });
    }
    let (held, etag, remembered) = reading.finish(&request.config);
    respond::state_length(&mut parts.headers, &held, has_content_length, is_head);
    respond_hashed(parts, held, (etag, remembered), last_modified, request)
}

/// The whole body was read and hashed (`tagged`: its tag, and whether it
/// was remembered): evaluate and respond.
#[inline(always)]
fn respond_hashed<B: Body>(
    mut parts: response::Parts,
    held: Held,
    tagged: (EntityTag, bool),
    last_modified: Option<SystemTime>,
    request: &RequestFacts,
) -> Response<ConditionalBody<B>> {
    let (etag, remembered) = tagged;
    let record_outcomes = request.config.record_outcomes;
    if request.is_unconditional() {
        // Nearly every request: nothing to evaluate, no range to slice.
        if held.data_len() > SMALL_BODY && plan::serves_ranges(&request.config, held.has_trailers())
        {
            respond::accept_ranges(&mut parts.headers);
        }
        parts.headers.insert(ETAG, HeaderValue::from(etag));
        let body = Outgoing::Read(held, Rest::Done);
        if !outcome::observed(record_outcomes) {
            // Built where it is returned: through `outcome::record`, whose
            // recording branch borrows it, it would be copied (some 200
            // bytes).
            return respond::send(parts, body, request.is_head);
        }
        let response = respond::send(parts, body, request.is_head);
        return outcome::record(response, record_outcomes, |_| Outcome {
            remembered,
            ..Outcome::answered(http::StatusCode::OK, ValidatorSource::Body)
        });
    }
    let outcome = |action: Action| Outcome {
        action,
        remembered,
        evaluated: request.preconditions().is_some(),
        ..Outcome::answered(http::StatusCode::OK, ValidatorSource::Body)
    };
    // Nearly every request has no preconditions: nothing to evaluate.
    let evaluation = request
        .preconditions()
        .map(|preconditions| plan::evaluate_hashed(preconditions, &etag, last_modified));
    if evaluation == Some(Evaluation::NotModified) {
        // The common answer to a conditional GET, made at once: it wins over
        // a range (§13.2.2), and the body read is dropped, not replayed.
        let length = held.data_len() as u64;
        drop(held);
        parts.headers.insert(ETAG, HeaderValue::from(etag));
        let response = respond::not_modified(parts);
        return outcome::record(response, record_outcomes, |_| Outcome {
            not_sent: Some(length),
            ..outcome(Action::NotModified)
        });
    }
    // §13.2.2: a 412 wins over a range, as a 304 did above; only a 200 that
    // goes out says it accepts ranges, and only a GET's with a `Range` is
    // sliced.
    let proceeds = evaluation.is_none_or(|evaluation| evaluation == Evaluation::Proceed);
    let range = if proceeds && plan::serves_ranges(&request.config, held.has_trailers()) {
        match request.range() {
            // Nearly every request. `Accept-Ranges` is a MAY (§14.3), and a
            // header costs every response: it is said where resuming or
            // seeking is worth it, past a small body.
            None => {
                if held.data_len() > SMALL_BODY {
                    respond::accept_ranges(&mut parts.headers);
                }
                None
            }
            Some(range) if respond::accept_ranges(&mut parts.headers) => {
                Some(plan::range_response(range, &parts, held.chunks(), &etag))
            }
            Some(_) => None,
        }
    } else {
        None
    };
    // The tag moves into the header: cloning a fresh `Bytes` would allocate.
    parts.headers.insert(ETAG, HeaderValue::from(etag));
    match range {
        None | Some(RangeResponse::Full) => {}
        Some(RangeResponse::Partial(partial)) => {
            let response = respond::partial_content(parts, partial);
            return outcome::record(response, record_outcomes, |_| {
                outcome(Action::PartialContent)
            });
        }
        Some(RangeResponse::NotSatisfiable { content_range }) => {
            let response = respond::range_not_satisfiable(parts, content_range);
            return outcome::record(response, record_outcomes, |_| {
                outcome(Action::RangeNotSatisfiable)
            });
        }
    }
    let body = Outgoing::Read(held, Rest::Done);
    let response = match evaluation {
        None => respond::send(parts, body, request.is_head),
        Some(evaluation) => respond::respond(parts, evaluation, body, request.is_head),
    };
    outcome::record(response, record_outcomes, |response| {
        outcome(Outcome::answered(response.status(), ValidatorSource::Body).action)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
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

    /// A one-chunk body that records when it is read.
    struct Recording {
        data: Option<Bytes>,
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
    }

    #[tokio::test]
    async fn the_inner_future_is_dropped_before_the_body_is_read() {
        use tower::{Layer, ServiceExt};
        let events = Events::default();
        let recorded = events.clone();
        let inner = tower::service_fn(move |_: Request<()>| Answering {
            response: Some(Response::new(Recording {
                data: Some(Bytes::from_static(b"hello")),
                events: recorded.clone(),
            })),
            _guard: Guard(recorded.clone()),
        });
        let response = crate::ConditionalLayer::new()
            .layer(inner)
            .oneshot(Request::new(()))
            .await
            .unwrap();
        assert!(response.headers().contains_key(ETAG));
        let events = events.lock().unwrap().clone();
        assert_eq!(events.first(), Some(&"inner future dropped"), "{events:?}");
        assert!(events.contains(&"body read"), "{events:?}");
    }

    /// Every request moves the future a few times (into the task, the
    /// router's box, each layer's state): it carries what it needs to know
    /// about the request, and no more. The response whose body must be
    /// waited for is boxed, and the rare request with preconditions keeps
    /// them boxed too (with a range and looked-up validators, 296 bytes).
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
