//! The answer to a GET or HEAD once what the [plan](crate::plan) needs of
//! its body is known: the preconditions are evaluated against the
//! validators the response has (or the tag of the body read), the answer is
//! built through [`respond`](crate::respond), and its outcome is recorded.
//! The [response future](crate::future) waits for the response and reads
//! the body; it answers only what it passes on as it came.

use std::pin::Pin;
use std::time::SystemTime;

use http::header::{ETAG, LAST_MODIFIED};
use http::{response, HeaderValue, Response};
use http_body::Body;

use crate::body::{ConditionalBody, Held, Rest};
use crate::config::SMALL_BODY;
use crate::entity_tag::EntityTag;
use crate::outcome::{self, Action, Outcome, PassReason, ValidatorSource};
use crate::partial_content::RangeResponse;
use crate::plan::{self, RequestFacts};
use crate::preconditions::Evaluation;
use crate::read_body::{empty_body_etag, BodyRead, Reading};
use crate::respond::{self, Outgoing};

/// The answer to a response whose body is not read, judged by the
/// validators it has (`unhashed`: why it was not hashed, when it had
/// none of its own to be judged by).
#[inline(always)]
pub(crate) fn unread<B: Body>(
    parts: response::Parts,
    body: B,
    unhashed: Option<PassReason>,
    looked_up_added: bool,
    request: &RequestFacts,
) -> Response<ConditionalBody<B>> {
    let record_outcomes = request.config.record_outcomes;
    let evaluation = plan::evaluate_in_place(&parts, body.is_end_stream(), request);
    // What only the outcome needs, read before the head and body go.
    let described = outcome::observed(record_outcomes).then(|| {
        let validators = validator_source(&parts.headers, looked_up_added);
        (unhashed, validators, body.size_hint().exact())
    });
    let body = Outgoing::Unread(body);
    let response = match evaluation {
        Some(evaluation) => respond::respond(parts, evaluation, body, request.is_head),
        None => respond::send(parts, body, request.is_head),
    };
    outcome::record(response, record_outcomes, |response| {
        let (unhashed, validators, length) =
            described.unwrap_or((None, ValidatorSource::None, None));
        unhashed_outcome(response, evaluation, unhashed, validators, length)
    })
}

/// The answer to a GET whose body is known to be empty without reading it:
/// tagged as the empty representation.
#[inline(always)]
pub(crate) fn empty<B: Body>(
    mut parts: response::Parts,
    has_content_length: bool,
    request: &RequestFacts,
) -> Response<ConditionalBody<B>> {
    let last_modified = plan::last_modified_to_evaluate(&parts, request);
    let held = Held::default();
    // Only a GET gets here: an empty HEAD answer is not hashed.
    respond::state_length(&mut parts.headers, &held, has_content_length, false);
    let etag = empty_body_etag(request.config.etag_policy);
    hashed(parts, held, (etag, false), last_modified, request)
}

/// What the plan learnt of the response's head, for after the body is read.
#[derive(Clone, Copy)]
pub(crate) struct HeadFacts {
    /// The handler set a `Content-Length` field.
    pub(crate) has_content_length: bool,
    /// Looked-up validators were added to the head.
    pub(crate) looked_up_added: bool,
    /// The handler's `Last-Modified`, when a date precondition needs it.
    pub(crate) last_modified: Option<SystemTime>,
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

/// The answer, once the body was read as far as it will be (`body`: the
/// boxed body, when it was boxed to be read).
#[inline(always)]
pub(crate) fn read<B: Body>(
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
    hashed(parts, held, (etag, remembered), last_modified, request)
}

/// The whole body was read and hashed (`tagged`: its tag, and whether it
/// was remembered): evaluate and respond.
#[inline(always)]
fn hashed<B: Body>(
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
            // recording branch borrows it, it would be copied.
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
