//! Building the response the client gets, once the plan and the evaluation
//! are known: the `200` (or other success) as the handler made it, the
//! `304`, the `412`, the `206` and `416` of a range request, and a HEAD's
//! answer without its body.
//!
//! The one place that drops a body for a HEAD: the request may have reached
//! the inner service as a GET (see [`HeadRequests`](crate::HeadRequests)),
//! so its answer goes out with the GET's headers and no body.

use std::time::Duration;

use http::header::{
    Entry, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED,
    RETRY_AFTER,
};
use http::{response, HeaderMap, HeaderValue, Response, StatusCode};
use http_body::Body;

use crate::body::{ConditionalBody, Held, Rest};
use crate::eligibility::content_length;
use crate::entity_tag::EntityTag;
use crate::not_modified::{
    into_not_modified, not_modified_headers, precondition_failed_headers,
    precondition_failed_headers_from, remove_body_fields,
};
use crate::partial_content::{PartialContent, PartialKind};
use crate::preconditions::{single_date, Evaluation};
use crate::validators::Validators;

/// The body of a response that goes on.
pub(crate) enum Outgoing<B: Body> {
    /// The inner body, not read.
    Unread(B),
    /// What was read of it, then the rest.
    Read(Held, Rest<B>),
}

/// The response an evaluation calls for: the handler's (a HEAD's without its
/// body), a `304` or a `412`.
#[inline(always)]
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

/// Says `Accept-Ranges: bytes` (RFC 9110 §14.3) on a `200` the layer can
/// serve ranges of, and whether it may: a handler that set the field itself
/// keeps it, and one that does not list `bytes` there (`none`, §14.3) opts
/// its response out.
#[inline]
pub(crate) fn accept_ranges(headers: &mut HeaderMap) -> bool {
    match headers.entry(ACCEPT_RANGES) {
        Entry::Vacant(vacant) => {
            vacant.insert(HeaderValue::from_static("bytes"));
            true
        }
        Entry::Occupied(occupied) => occupied.iter().any(|line| {
            // `Accept-Ranges = acceptable-ranges`, a list of range units,
            // which are case-insensitive (§14.1).
            line.as_bytes()
                .split(|&b| b == b',')
                .any(|unit| unit.trim_ascii().eq_ignore_ascii_case(b"bytes"))
        }),
    }
}

/// The `206 Partial Content` (§15.3.7) in place of a `200`: the 200's head,
/// so it keeps the `ETag`, `Cache-Control`, `Vary`, `Expires`,
/// `Content-Location` and `Date` §15.3.7 requires, and the other
/// representation fields (`Content-Encoding` among them: a range is of the
/// encoded bytes). One part gets `Content-Range` and keeps the 200's
/// `Content-Type`; several get the `multipart/byteranges` type instead
/// (§15.3.7.2). `Content-Length` counts the content of this message.
pub(crate) fn partial_content<B: Body>(
    mut parts: response::Parts,
    partial: PartialContent,
) -> Response<ConditionalBody<B>> {
    parts.status = StatusCode::PARTIAL_CONTENT;
    match partial.kind {
        PartialKind::Single { content_range } => {
            parts.headers.insert(CONTENT_RANGE, content_range);
        }
        PartialKind::Multipart { content_type } => {
            parts.headers.insert(CONTENT_TYPE, content_type);
        }
    }
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(partial.length));
    let body = Held::from_pieces(partial.pieces);
    Response::from_parts(parts, ConditionalBody::replay(body, Rest::Done))
}

/// A `416 Range Not Satisfiable` (§15.5.17) in place of a `200`, with the
/// `Content-Range: bytes */<length>` that says the current length, and no
/// content: it keeps what a `304` keeps (validators, caching fields,
/// `Set-Cookie`) and drops the fields that describe content.
pub(crate) fn range_not_satisfiable<B: Body>(
    mut parts: response::Parts,
    content_range: HeaderValue,
) -> Response<ConditionalBody<B>> {
    parts.status = StatusCode::RANGE_NOT_SATISFIABLE;
    remove_body_fields(&mut parts.headers);
    parts.headers.insert(CONTENT_RANGE, content_range);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    Response::from_parts(parts, ConditionalBody::empty())
}

/// Gives a 200 the validators looked up before the handler ran, unless the
/// handler set its own: what the handler says about its response wins.
/// Whether any was added.
pub(crate) fn add_looked_up_validators(headers: &mut HeaderMap, looked_up: &Validators) -> bool {
    let mut added = false;
    if !headers.contains_key(ETAG) {
        if let Some(etag) = looked_up.etag() {
            headers.insert(ETAG, etag.to_header_value());
            added = true;
        }
    }
    if !headers.contains_key(LAST_MODIFIED) {
        if let Some(date) = looked_up.last_modified_header() {
            headers.insert(LAST_MODIFIED, date);
            added = true;
        }
    }
    added
}

/// A `304` in place of the response (RFC 9110 §15.4.5).
pub(crate) fn not_modified<B: Body>(mut parts: response::Parts) -> Response<ConditionalBody<B>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    fn head(fields: &[(&'static str, &'static str)]) -> response::Parts {
        let mut response = Response::new(());
        for (name, value) in fields {
            response
                .headers_mut()
                .append(*name, HeaderValue::from_static(value));
        }
        response.into_parts().0
    }

    #[test]
    fn accept_ranges_is_added_unless_the_handler_said_otherwise() {
        let mut headers = HeaderMap::new();
        assert!(accept_ranges(&mut headers));
        assert_eq!(headers[ACCEPT_RANGES], "bytes");
        for (value, serves) in [
            ("bytes", true),
            ("Bytes", true),
            ("none", false),
            ("items, bytes", true),
            ("bytesx", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT_RANGES, HeaderValue::from_static(value));
            assert_eq!(accept_ranges(&mut headers), serves, "{value}");
            assert_eq!(headers[ACCEPT_RANGES], value, "the handler's field stays");
        }
    }

    #[tokio::test]
    async fn a_206_keeps_the_head_of_the_200() {
        let parts = head(&[
            ("etag", "\"a\""),
            ("cache-control", "max-age=60"),
            ("vary", "accept"),
            ("content-type", "text/csv"),
            ("content-length", "100"),
        ]);
        let partial = PartialContent {
            kind: PartialKind::Single {
                content_range: HeaderValue::from_static("bytes 2-4/100"),
            },
            pieces: vec![Bytes::from_static(b"cd"), Bytes::from_static(b"e")],
            length: 3,
        };
        let response: Response<ConditionalBody<Full<Bytes>>> = partial_content(parts, partial);
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_RANGE], "bytes 2-4/100");
        assert_eq!(headers[CONTENT_LENGTH], "3");
        assert_eq!(headers[CONTENT_TYPE], "text/csv");
        assert_eq!(headers[ETAG], "\"a\"");
        assert_eq!(headers["cache-control"], "max-age=60");
        assert_eq!(headers["vary"], "accept");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "cde");
    }

    #[test]
    fn a_416_states_the_length_and_describes_no_content() {
        let parts = head(&[
            ("etag", "\"a\""),
            ("content-type", "text/csv"),
            ("content-length", "100"),
            ("set-cookie", "a=1"),
        ]);
        let response: Response<ConditionalBody<Full<Bytes>>> =
            range_not_satisfiable(parts, HeaderValue::from_static("bytes */100"));
        assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_RANGE], "bytes */100");
        assert_eq!(headers[CONTENT_LENGTH], "0");
        assert!(!headers.contains_key(CONTENT_TYPE));
        assert_eq!(headers[ETAG], "\"a\"");
        assert_eq!(headers["set-cookie"], "a=1");
        assert!(response.body().is_end_stream());
    }
}
