//! What to do with a request, before the handler and after it (pure).
//!
//! The response future and the lookup future only carry out what these
//! functions decide: they read the request's facts and the response head,
//! and say whether the body is read and hashed, which validators the
//! preconditions are evaluated against, and what the evaluation gives.

use std::time::{Duration, SystemTime};

use http::header::{ETAG, LAST_MODIFIED};
use http::{response, Method, StatusCode};
use http_body::Body;

use crate::config::{Bypass, Config, LookupFailure};
use crate::eligibility;
use crate::entity_tag::{parse_tag, EntityTag};
use crate::lookup::ResourceState;
use crate::preconditions::{
    is_get_or_head, single_date, Current, Evaluation, Preconditions, Validators,
};

/// What the response future needs to know about a GET or HEAD request once
/// its response is in.
#[derive(Debug)]
pub(crate) struct RequestFacts {
    /// `None` when the request has none (nearly every request): then the
    /// future does not carry them around.
    pub(crate) preconditions: Option<Box<Preconditions>>,
    /// The request was a HEAD, whatever the inner service was asked: its
    /// answer goes out without a body.
    pub(crate) is_head: bool,
    pub(crate) config: Config,
    /// Validators a lookup found before the handler ran; boxed, because
    /// only requests under a lookup have them and every future carries the
    /// field.
    pub(crate) looked_up: Option<Box<Validators>>,
}

/// What is done with the inner service's answer to a GET or HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Left as it is: not a success, marked [`Bypass`], or a stream
    /// (`no-store`, server-sent events, gRPC). Nothing is evaluated.
    PassOn,
    /// The preconditions are evaluated against the validators the response
    /// already carries (the handler's, or the looked-up ones); the body is
    /// not read: it has a tag, is not a `200`, is too long to hold, or is an
    /// empty answer to a HEAD.
    InPlace,
    /// The body is read and hashed; it is known to be empty.
    HashEmpty {
        /// The handler set a `Content-Length` field, which must be true.
        has_content_length: bool,
    },
    /// The body is read and hashed.
    Read {
        /// The handler set a `Content-Length` field, which must be true.
        has_content_length: bool,
    },
}

/// Decides what is done with a response to a GET or HEAD, from its head and
/// what its body says of itself.
#[inline]
pub(crate) fn plan<B: Body>(parts: &response::Parts, body: &B, request: &RequestFacts) -> Plan {
    if !parts.status.is_success() || parts.extensions.get::<Bypass>().is_some() {
        return Plan::PassOn;
    }
    let fields = eligibility::inspect(&parts.headers);
    if fields.must_stream {
        return Plan::PassOn;
    }
    let is_ok = parts.status == StatusCode::OK;
    let has_etag = fields.has_etag
        || (is_ok
            && request
                .looked_up
                .as_ref()
                .is_some_and(|v| v.etag().is_some()));
    if !is_ok
        || has_etag
        || empty_head(body, request)
        || announces_more(
            fields.content_length,
            body,
            request.config.max_hashed_body_size,
        )
    {
        return Plan::InPlace;
    }
    let has_content_length = fields.has_content_length;
    if body.is_end_stream() {
        return Plan::HashEmpty { has_content_length };
    }
    Plan::Read { has_content_length }
}

/// An empty answer to a HEAD is never hashed: it may be a body stripped on
/// the way, or a `head` handler's, and the tag of an empty body would then
/// contradict the GET's.
#[inline]
fn empty_head<B: Body>(body: &B, request: &RequestFacts) -> bool {
    request.is_head && body.is_end_stream()
}

/// Whether the body announces (by its size hint or `Content-Length`) more
/// bytes than the limit.
#[inline]
fn announces_more<B: Body>(content_length: Option<u64>, body: &B, max: usize) -> bool {
    let max = max as u64;
    body.size_hint().lower() > max || content_length.is_some_and(|length| length > max)
}

/// The evaluation of a response planned [`Plan::InPlace`], against the
/// `ETag` and `Last-Modified` in its header; `None` when there is nothing to
/// evaluate against and the response is left as it is.
pub(crate) fn evaluate_in_place(
    parts: &response::Parts,
    body_is_empty: bool,
    request: &RequestFacts,
) -> Option<Evaluation> {
    let preconditions = request.preconditions.as_deref()?;
    // The handler's Last-Modified matters to the evaluation only for a date
    // precondition (a 412 reads it itself), and to tell whether a status
    // other than 200 has any validator.
    let is_ok = parts.status == StatusCode::OK;
    let last_modified = if preconditions.has_date_conditions() || !is_ok {
        single_date(parts.headers.get_all(LAST_MODIFIED))
    } else {
        None
    };
    let etag = parts
        .headers
        .get(ETAG)
        .and_then(|value| parse_tag(value.as_bytes()));
    if request.is_head
        && body_is_empty
        && etag.is_none()
        && !head_can_be_evaluated(preconditions, last_modified)
    {
        return None;
    }
    if !is_ok && etag.is_none() && last_modified.is_none() {
        // Nothing describes the selected representation (a 206 with no
        // validators, say): leave it to the inner service.
        return None;
    }
    Some(preconditions.evaluate_current(
        &Method::GET,
        Some(Current {
            etag,
            last_modified,
        }),
    ))
}

/// The `Last-Modified` of a `200` whose body is read, when a date
/// precondition will be evaluated against it.
#[inline(always)]
pub(crate) fn last_modified_to_evaluate(
    parts: &response::Parts,
    request: &RequestFacts,
) -> Option<SystemTime> {
    let preconditions = request.preconditions.as_deref()?;
    if !preconditions.has_date_conditions() {
        return None;
    }
    single_date(parts.headers.get_all(LAST_MODIFIED))
}

/// The evaluation of a `200` whose body was read but not hashed (it outgrew
/// the limit, or is an empty answer to a HEAD): only its `Last-Modified` can
/// decide.
pub(crate) fn evaluate_unhashed(
    last_modified: Option<SystemTime>,
    request: &RequestFacts,
) -> Evaluation {
    match request.preconditions.as_deref() {
        None => Evaluation::Proceed,
        Some(preconditions) => preconditions.evaluate_current(
            &Method::GET,
            Some(Current {
                etag: None,
                last_modified,
            }),
        ),
    }
}

/// The evaluation of a `200` whose body was read and hashed, against the tag
/// computed from it.
pub(crate) fn evaluate_hashed(
    preconditions: &Preconditions,
    etag: &EntityTag,
    last_modified: Option<SystemTime>,
) -> Evaluation {
    let current = Current {
        etag: Some(etag.as_ref()),
        last_modified,
    };
    preconditions.evaluate_current(&Method::GET, Some(current))
}

/// Whether the preconditions of a HEAD whose answer came back empty, with no
/// `ETag` from the handler, can be decided: the GET's tag is unknown, so only
/// the handler's `Last-Modified` against date conditions can. Otherwise the
/// answer passes on unevaluated, neither a false `412` nor a false `304`.
pub(crate) fn head_can_be_evaluated(
    preconditions: &Preconditions,
    last_modified: Option<SystemTime>,
) -> bool {
    !preconditions.has_tag_conditions() && last_modified.is_some()
}

/// What the looked-up state of the target resource decides before the
/// handler runs.
#[derive(Debug)]
pub(crate) enum BeforeHandler {
    /// The handler runs; a `200` it gives a GET or HEAD carries these
    /// validators unless it sets its own.
    Call(Option<Validators>),
    /// The answer is `304 Not Modified`, with these validators, without the
    /// handler.
    NotModified(Option<Validators>),
    /// The answer is `412 Precondition Failed`, with these validators,
    /// without the handler.
    PreconditionFailed(Option<Validators>),
    /// The lookup failed and the request asked for a check that cannot be
    /// made: the answer is `503 Service Unavailable`, with this
    /// `Retry-After`, without the handler.
    Unavailable(Option<Duration>),
}

/// Evaluates a request's preconditions against the looked-up state of its
/// target resource (RFC 9110 §13.2.2); when the lookup failed, `failure`
/// says whether a write that asked for a check is refused.
pub(crate) fn before_handler(
    method: &Method,
    preconditions: &Preconditions,
    resource: ResourceState,
    failure: LookupFailure,
) -> BeforeHandler {
    let current = match resource {
        ResourceState::Unknown => return BeforeHandler::Call(None),
        // A GET or HEAD is answered as without a lookup: the handler runs
        // and its body is hashed, so nothing is lost by not knowing.
        ResourceState::Unavailable { retry_after } => {
            return match failure {
                LookupFailure::Refuse
                    if !is_get_or_head(method) && preconditions.has_write_conditions() =>
                {
                    BeforeHandler::Unavailable(retry_after)
                }
                _ => BeforeHandler::Call(None),
            }
        }
        // A GET of a missing resource is the handler's to answer (a 404 is
        // not subject to preconditions).
        ResourceState::Missing if is_get_or_head(method) => return BeforeHandler::Call(None),
        ResourceState::Missing => None,
        ResourceState::Current(validators) => Some(validators),
    };
    match preconditions.evaluate(method, current.as_ref()) {
        Evaluation::Proceed => BeforeHandler::Call(current),
        Evaluation::NotModified => BeforeHandler::NotModified(current),
        Evaluation::PreconditionFailed => BeforeHandler::PreconditionFailed(current),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, Response};
    use http_body_util::{Empty, Full};

    fn facts(is_head: bool, conditions: &[(&'static str, &'static str)]) -> RequestFacts {
        let mut headers = HeaderMap::new();
        for (name, value) in conditions {
            headers.append(*name, HeaderValue::from_static(value));
        }
        RequestFacts {
            preconditions: Preconditions::boxed_from_headers(&headers),
            is_head,
            config: Config::default(),
            looked_up: None,
        }
    }

    fn head(status: u16, fields: &[(&'static str, &'static str)]) -> response::Parts {
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        for (name, value) in fields {
            response
                .headers_mut()
                .append(*name, HeaderValue::from_static(value));
        }
        response.into_parts().0
    }

    fn full(body: &'static str) -> Full<Bytes> {
        Full::new(Bytes::from_static(body.as_bytes()))
    }

    #[test]
    fn only_a_plain_200_is_read() {
        let get = facts(false, &[]);
        let read = Plan::Read {
            has_content_length: false,
        };
        assert_eq!(plan(&head(200, &[]), &full("x"), &get), read);
        let stated = head(200, &[("content-length", "1")]);
        assert_eq!(
            plan(&stated, &full("x"), &get),
            Plan::Read {
                has_content_length: true
            }
        );
        assert_eq!(
            plan(&head(200, &[]), &Empty::<Bytes>::new(), &get),
            Plan::HashEmpty {
                has_content_length: false
            }
        );
        assert_eq!(plan(&head(404, &[]), &full("x"), &get), Plan::PassOn);
        assert_eq!(plan(&head(304, &[]), &full("x"), &get), Plan::PassOn);
        assert_eq!(plan(&head(206, &[]), &full("x"), &get), Plan::InPlace);
        assert_eq!(
            plan(&head(200, &[("etag", "\"a\"")]), &full("x"), &get),
            Plan::InPlace
        );
        let streams = [
            ("cache-control", "no-store"),
            ("content-type", "text/event-stream"),
        ];
        for field in streams {
            assert_eq!(
                plan(&head(200, &[field]), &full("x"), &get),
                Plan::PassOn,
                "{field:?}"
            );
        }
        let mut bypassed = head(200, &[]);
        bypassed.extensions.insert(Bypass);
        assert_eq!(plan(&bypassed, &full("x"), &get), Plan::PassOn);
    }

    #[test]
    fn a_body_announced_over_the_limit_is_not_read() {
        let mut request = facts(false, &[]);
        request.config.max_hashed_body_size = 3;
        assert!(matches!(
            plan(&head(200, &[]), &full("abc"), &request),
            Plan::Read { .. }
        ));
        assert_eq!(
            plan(&head(200, &[]), &full("abcd"), &request),
            Plan::InPlace
        );
        let stated = head(200, &[("content-length", "4")]);
        let unannounced = http_body_util::StreamBody::new(futures_util::stream::empty::<
            Result<http_body::Frame<Bytes>, std::convert::Infallible>,
        >());
        assert_eq!(plan(&stated, &unannounced, &request), Plan::InPlace);
    }

    #[test]
    fn an_empty_head_answer_is_not_hashed() {
        let head_request = facts(true, &[]);
        assert_eq!(
            plan(&head(200, &[]), &Empty::<Bytes>::new(), &head_request),
            Plan::InPlace
        );
        assert!(matches!(
            plan(&head(200, &[]), &full("x"), &head_request),
            Plan::Read { .. }
        ));
    }

    #[test]
    fn a_looked_up_tag_counts_as_the_responses_own() {
        let mut request = facts(false, &[]);
        request.looked_up = Some(Box::new(
            Validators::new().with_etag(EntityTag::strong("v1").unwrap()),
        ));
        assert_eq!(plan(&head(200, &[]), &full("x"), &request), Plan::InPlace);
        assert_eq!(plan(&head(203, &[]), &full("x"), &request), Plan::InPlace);
        request.looked_up = Some(Box::new(Validators::new()));
        assert!(matches!(
            plan(&head(200, &[]), &full("x"), &request),
            Plan::Read { .. }
        ));
    }

    #[test]
    fn in_place_evaluation() {
        let tagged = head(200, &[("etag", "\"a\"")]);
        let none_match = facts(false, &[("if-none-match", "\"a\"")]);
        assert_eq!(
            evaluate_in_place(&tagged, false, &none_match),
            Some(Evaluation::NotModified)
        );
        assert_eq!(evaluate_in_place(&tagged, false, &facts(false, &[])), None);
        let if_match = facts(false, &[("if-match", "\"b\"")]);
        assert_eq!(
            evaluate_in_place(&tagged, false, &if_match),
            Some(Evaluation::PreconditionFailed)
        );
        // A 206 without validators is left to the inner service.
        assert_eq!(evaluate_in_place(&head(206, &[]), false, &if_match), None);
        // An empty HEAD answer without a tag: only dates decide.
        let untagged = head(200, &[("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        let head_none_match = facts(true, &[("if-none-match", "\"a\"")]);
        assert_eq!(evaluate_in_place(&untagged, true, &head_none_match), None);
        let head_since = facts(
            true,
            &[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")],
        );
        assert_eq!(
            evaluate_in_place(&untagged, true, &head_since),
            Some(Evaluation::NotModified)
        );
        assert_eq!(evaluate_in_place(&head(200, &[]), true, &head_since), None);
    }

    #[test]
    fn before_the_handler() {
        let current = || {
            ResourceState::Current(Validators::new().with_etag(EntityTag::strong("v2").unwrap()))
        };
        let stale = Preconditions::from_headers(&{
            let mut headers = HeaderMap::new();
            headers.insert("if-match", HeaderValue::from_static("\"v1\""));
            headers
        });
        assert!(matches!(
            before_handler(&Method::PUT, &stale, current(), LookupFailure::Refuse),
            BeforeHandler::PreconditionFailed(Some(_))
        ));
        assert!(matches!(
            before_handler(
                &Method::PUT,
                &stale,
                ResourceState::Unknown,
                LookupFailure::Refuse
            ),
            BeforeHandler::Call(None)
        ));
        // If-Match on a missing resource fails for a write, but a GET of it is the handler's.
        assert!(matches!(
            before_handler(
                &Method::PUT,
                &stale,
                ResourceState::Missing,
                LookupFailure::Refuse
            ),
            BeforeHandler::PreconditionFailed(None)
        ));
        assert!(matches!(
            before_handler(
                &Method::GET,
                &stale,
                ResourceState::Missing,
                LookupFailure::Refuse
            ),
            BeforeHandler::Call(None)
        ));
        let fresh = Preconditions::from_headers(&{
            let mut headers = HeaderMap::new();
            headers.insert("if-match", HeaderValue::from_static("\"v2\""));
            headers
        });
        assert!(matches!(
            before_handler(&Method::PUT, &fresh, current(), LookupFailure::Refuse),
            BeforeHandler::Call(Some(_))
        ));
    }

    #[test]
    fn a_failed_lookup_refuses_only_a_checked_write() {
        let headers = |name: &'static str, value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            Preconditions::from_headers(&headers)
        };
        let down = || ResourceState::Unavailable {
            retry_after: Some(Duration::from_secs(3)),
        };
        let refuse = LookupFailure::Refuse;
        for (name, value) in [
            ("if-match", "\"v1\""),
            ("if-none-match", "*"),
            ("if-unmodified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ] {
            assert!(
                matches!(
                    before_handler(&Method::PUT, &headers(name, value), down(), refuse),
                    BeforeHandler::Unavailable(Some(_))
                ),
                "{name}"
            );
            assert!(matches!(
                before_handler(&Method::GET, &headers(name, value), down(), refuse),
                BeforeHandler::Call(None)
            ));
            assert!(matches!(
                before_handler(
                    &Method::DELETE,
                    &headers(name, value),
                    down(),
                    LookupFailure::Proceed
                ),
                BeforeHandler::Call(None)
            ));
        }
        // If-Modified-Since does not apply to a PUT (RFC 9110 §13.1.3).
        let since = headers("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(matches!(
            before_handler(&Method::PUT, &since, down(), refuse),
            BeforeHandler::Call(None)
        ));
    }
}
