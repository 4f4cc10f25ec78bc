//! Building the response the client gets, once the plan and the evaluation
//! are known: the `200` (or other success) as the handler made it, the
//! `304`, the `412`, and a HEAD's answer without its body.
//!
//! The one place that drops a body for a HEAD: the request may have reached
//! the inner service as a GET (see [`HeadRequests`](crate::HeadRequests)),
//! so its answer goes out with the GET's headers and no body.

use std::time::Duration;

use http::header::RETRY_AFTER;
use http::header::{CONTENT_LENGTH, ETAG, LAST_MODIFIED};
use http::{response, HeaderMap, HeaderValue, Response, StatusCode};
use http_body::Body;

use crate::body::{ConditionalBody, Held, Rest};
use crate::eligibility::content_length;
use crate::entity_tag::EntityTag;
use crate::not_modified::{
    into_not_modified, not_modified_headers, precondition_failed_headers,
    precondition_failed_headers_from,
};
use crate::preconditions::{single_date, Evaluation, Validators};

/// The body of a response that goes on.
pub(crate) enum Outgoing<B: Body> {
    /// The inner body, not read.
    Unread(B),
    /// What was read of it, then the rest.
    Read(Held, Rest<B>),
}

/// The response an evaluation calls for: the handler's (a HEAD's without its
/// body), a `304` or a `412`.
#[inline]
pub(crate) fn respond<B: Body>(
    parts: response::Parts,
    evaluation: Evaluation,
    body: Outgoing<B>,
    is_head: bool,
) -> Response<ConditionalBody<B>> {
    match evaluation {
        Evaluation::Proceed => send(parts, body, is_head),
        Evaluation::NotModified => not_modified(parts),
        Evaluation::PreconditionFailed => precondition_failed(parts),
    }
}

/// The response as the handler made it; a HEAD's without its body.
#[inline(always)]
pub(crate) fn send<B: Body>(
    mut parts: response::Parts,
    body: Outgoing<B>,
    is_head: bool,
) -> Response<ConditionalBody<B>> {
    let body = match body {
        Outgoing::Unread(body) if is_head => {
            // Describe the body's length, as the GET would have, and drop it
            // unread; unless it is empty and may have been stripped on the way.
            if !parts.headers.contains_key(CONTENT_LENGTH) {
                if let Some(length) = body.size_hint().exact().filter(|&length| length > 0) {
                    parts
                        .headers
                        .insert(CONTENT_LENGTH, HeaderValue::from(length));
                }
            }
            ConditionalBody::empty()
        }
        Outgoing::Unread(body) => ConditionalBody::passthrough(body),
        Outgoing::Read(..) if is_head => ConditionalBody::empty(),
        Outgoing::Read(held, rest) => ConditionalBody::replay(held, rest),
    };
    Response::from_parts(parts, body)
}

/// A body that failed while it was read: the client gets what was read and
/// then the error, never a `304` or `412` (nor, for a HEAD, an answer that
/// looks complete).
pub(crate) fn failed<B: Body>(
    parts: response::Parts,
    held: Held,
    error: B::Error,
) -> Response<ConditionalBody<B>> {
    Response::from_parts(
        parts,
        ConditionalBody::replay(held, Rest::Error(Some(error))),
    )
}

/// Makes `Content-Length` true of a body that was read whole.
///
/// Only where the field matters: a HEAD goes out with an empty body, so its
/// length must be in the header; for a GET the replayed body has an exact
/// size hint, from which the server writes the field itself, so only a field
/// the handler stated (possibly wrong) is looked at. A body with trailers
/// goes out chunked, where no length need be stated: a handler's field stays
/// only when it is true.
#[inline(always)]
pub(crate) fn state_length(
    headers: &mut HeaderMap,
    held: &Held,
    has_content_length: bool,
    is_head: bool,
) {
    let length = held.data_len();
    if held.has_trailers() {
        if has_content_length {
            let mut values = headers.get_all(CONTENT_LENGTH).iter();
            let true_length = values.next().and_then(content_length) == Some(length as u64);
            if !true_length || values.next().is_some() {
                headers.remove(CONTENT_LENGTH);
            }
        }
    } else if has_content_length || is_head {
        let stated = headers.get(CONTENT_LENGTH).and_then(content_length);
        if stated != Some(length as u64) {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
}

/// Gives a 200 the validators looked up before the handler ran, unless the
/// handler set its own: what the handler says about its response wins.
pub(crate) fn add_looked_up_validators(headers: &mut HeaderMap, looked_up: &Validators) {
    if !headers.contains_key(ETAG) {
        if let Some(etag) = looked_up.etag() {
            headers.insert(ETAG, etag.to_header_value());
        }
    }
    if !headers.contains_key(LAST_MODIFIED) {
        if let Some(date) = looked_up.last_modified_header() {
            headers.insert(LAST_MODIFIED, date);
        }
    }
}

/// A `304` in place of the response (RFC 9110 §15.4.5).
fn not_modified<B: Body>(mut parts: response::Parts) -> Response<ConditionalBody<B>> {
    into_not_modified(&mut parts);
    Response::from_parts(parts, ConditionalBody::empty())
}

/// A `412` in place of the response (RFC 9110 §15.5.13): the current
/// validators, as the response's header states them, and the fields that
/// describe the exchange (see `precondition_failed_headers_from`).
fn precondition_failed<B: Body>(mut parts: response::Parts) -> Response<ConditionalBody<B>> {
    let mut current = Validators::new();
    if let Some(etag) = parts.headers.get(ETAG) {
        if let Ok(etag) = EntityTag::from_header_value(etag) {
            current = current.with_etag(etag);
        }
    }
    if let Some(date) = single_date(parts.headers.get_all(LAST_MODIFIED)) {
        current = current.with_last_modified(date);
    }
    parts.status = StatusCode::PRECONDITION_FAILED;
    parts.headers = precondition_failed_headers_from(&parts.headers, Some(&current));
    Response::from_parts(parts, ConditionalBody::empty())
}

/// A `304` decided before the handler ran, from the looked-up validators.
pub(crate) fn not_modified_before_handler<B: Body>(
    current: Option<&Validators>,
) -> Response<ConditionalBody<B>> {
    empty(StatusCode::NOT_MODIFIED, not_modified_headers(current))
}

/// A `412` decided before the handler ran, from the looked-up validators.
pub(crate) fn precondition_failed_before_handler<B: Body>(
    current: Option<&Validators>,
) -> Response<ConditionalBody<B>> {
    empty(
        StatusCode::PRECONDITION_FAILED,
        precondition_failed_headers(current),
    )
}

/// A `503` decided before the handler ran, because the lookup failed and
/// the request's preconditions cannot be evaluated (RFC 9110 §15.6.4); the
/// delay goes out as `Retry-After` in whole seconds, rounded up (§10.2.3).
pub(crate) fn unavailable_before_handler<B: Body>(
    retry_after: Option<Duration>,
) -> Response<ConditionalBody<B>> {
    let mut headers = HeaderMap::new();
    if let Some(delay) = retry_after {
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    empty(StatusCode::SERVICE_UNAVAILABLE, headers)
}

fn empty<B: Body>(status: StatusCode, headers: HeaderMap) -> Response<ConditionalBody<B>> {
    let mut response = Response::new(ConditionalBody::empty());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
