//! What to do with a request, before the handler and after it (pure).
//!
//! The response future and the lookup future only carry out what these
//! functions decide: they read the request's facts and the response head,
//! and say whether the body is read and hashed, which validators the
//! preconditions are evaluated against, and what the evaluation gives.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, DATE, ETAG, LAST_MODIFIED, RANGE,
};
use http::{response, HeaderMap, Method, StatusCode};
use http_body::Body;

use crate::config::{Bypass, Config, EtagPolicy, HeadRequests, LookupFailure};
use crate::eligibility;
use crate::entity_tag::{parse_tag, Comparison, EntityTag};
use crate::entity_tag_list::{is_exactly, is_one_quoted};
use crate::lookup::ResourceState;
use crate::outcome::PassReason;
use crate::partial_content::{self, Boundary, PartialKind, RangeResponse};
use crate::preconditions::{is_get_or_head, single_date, Current, Evaluation, Preconditions};
use crate::range::RangeRequest;
use crate::validators::Validators;

/// What the response future needs to know about a GET or HEAD request once
/// its response is in.
#[derive(Debug)]
pub(crate) struct RequestFacts {
    /// What the request asks to be evaluated, boxed together: `None` for
    /// nearly every request, and then the future does not carry them around
    /// (they take 300 bytes), nor has more than one field to drop.
    conditions: Option<Box<Conditions>>,
    /// The request was a HEAD, whatever the inner service was asked: its
    /// answer goes out without a body.
    pub(crate) is_head: bool,
    pub(crate) config: Config,
}

/// The parts of [`RequestFacts`] few requests have.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    /// Empty unless `has_preconditions`. Not an `Option`: the box is made
    /// for them nearly every time, with them written in place, and only one
    /// drop.
    preconditions: Preconditions,
    has_preconditions: bool,
    /// The range a GET asked for, when it has a valid `Range` field and the
    /// layer serves ranges.
    range: Option<RangeRequest>,
    /// Validators a lookup found before the handler ran.
    looked_up: Option<Validators>,
}

impl Conditions {
    /// Reads the fields [`fields_present`] found (the preconditions from the
    /// first of them on), into a box allocated
    /// first: the preconditions, most of its size, are then written where
    /// they stay instead of being moved there. `None` when none of the
    /// fields was valid after all.
    fn read(
        headers: &HeaderMap,
        preconditions_from: Option<usize>,
        reads_range: bool,
    ) -> Option<Box<Self>> {
        // `Box::default` writes the empty fields in place; `Box::new` would
        // build them on the stack and copy the whole struct.
        let mut conditions = Box::<Self>::default();
        // Each field is written only when read: an assignment would drop
        // the `None` it replaces, which costs a call.
        if let Some(first) = preconditions_from {
            conditions.preconditions.read_from(headers, first);
            conditions.has_preconditions = !conditions.preconditions.is_empty();
        }
        if reads_range {
            conditions.range = RangeRequest::from_headers(headers);
        }
        if !conditions.has_preconditions && conditions.range.is_none() {
            return None;
        }
        Some(conditions)
    }

    /// What there is of them, boxed; `None` when there is nothing.
    pub(crate) fn boxed(
        preconditions: Option<Preconditions>,
        range: Option<RangeRequest>,
        looked_up: Option<Validators>,
    ) -> Option<Box<Self>> {
        if preconditions.is_none() && range.is_none() && looked_up.is_none() {
            return None;
        }
        Some(Box::new(Self {
            has_preconditions: preconditions.is_some(),
            preconditions: preconditions.unwrap_or_default(),
            range,
            looked_up,
        }))
    }
}

impl RequestFacts {
    #[inline(always)]
    pub(crate) fn new(is_head: bool, config: Config, conditions: Option<Box<Conditions>>) -> Self {
        Self {
            conditions,
            is_head,
            config,
        }
    }

    /// Whether the request is a HEAD for which the inner service is asked for
    /// the GET ([`HeadRequests::AsGet`]).
    #[inline(always)]
    pub(crate) fn asks_for_get(&self) -> bool {
        self.is_head && self.config.head_requests == HeadRequests::AsGet
    }

    /// Whether the request asks for nothing to be evaluated (nearly every
    /// request): no preconditions, no range, no looked-up validators.
    #[inline(always)]
    pub(crate) fn is_unconditional(&self) -> bool {
        self.conditions.is_none()
    }

    /// The request's preconditions, when it has any.
    #[inline(always)]
    pub(crate) fn preconditions(&self) -> Option<&Preconditions> {
        let conditions = self.conditions.as_deref()?;
        conditions
            .has_preconditions
            .then_some(&conditions.preconditions)
    }

    /// The range a GET asked for.
    #[inline(always)]
    pub(crate) fn range(&self) -> Option<&RangeRequest> {
        self.conditions.as_deref()?.range.as_ref()
    }

    /// The validators a lookup found before the handler ran.
    #[inline(always)]
    pub(crate) fn looked_up(&self) -> Option<&Validators> {
        self.conditions.as_deref()?.looked_up.as_ref()
    }
}

/// Reads the fields of a GET or HEAD that the layer evaluates: its
/// preconditions (§13.1) and, for a GET when the layer serves ranges, its
/// `Range` and `If-Range` (§14.2: GET is the only method with range
/// handling).
///
/// One walk over the field names finds out whether there is anything to
/// read; nearly every request has none of them, and then nothing is built.
#[inline]
pub(crate) fn request_conditions(
    headers: &HeaderMap,
    wants_range: bool,
) -> Option<Box<Conditions>> {
    let (preconditions_from, has_range) = fields_present(headers);
    let reads_range = has_range && wants_range;
    if preconditions_from.is_none() && !reads_range {
        return None;
    }
    Conditions::read(headers, preconditions_from, reads_range)
}

/// Where the request's first precondition field is among its field names,
/// if it has one (their reading starts there), and whether it has a `Range`.
#[inline]
fn fields_present(headers: &HeaderMap) -> (Option<usize>, bool) {
    let (mut preconditions_from, mut has_range) = (None, false);
    for (index, name) in headers.keys().enumerate() {
        if Preconditions::is_field(name) {
            preconditions_from.get_or_insert(index);
        } else if *name == RANGE {
            has_range = true;
        }
    }
    (preconditions_from, has_range)
}

/// [`request_conditions`], unboxed.
#[cfg(test)]
fn request_fields(
    headers: &HeaderMap,
    wants_range: bool,
) -> (Option<Preconditions>, Option<RangeRequest>) {
    match request_conditions(headers, wants_range) {
        Some(conditions) => (
            conditions
                .has_preconditions
                .then_some(conditions.preconditions),
            conditions.range,
        ),
        None => (None, None),
    }
}

/// Whether a request's `Range` is read: a GET's (§14.2: GET is the only
/// method with range handling), when the layer serves ranges.
#[inline(always)]
pub(crate) fn wants_range(config: &Config, method: &Method) -> bool {
    config.serve_ranges && method == Method::GET
}

/// The `Range` of a request when it `wants_range` (a GET, with ranges
/// served) and has a valid one.
#[inline]
pub(crate) fn range_request(headers: &HeaderMap, wants_range: bool) -> Option<RangeRequest> {
    if wants_range {
        RangeRequest::from_headers(headers)
    } else {
        None
    }
}

/// Whether the layer may serve ranges of a `200` whose body it read whole
/// and tagged: only under a strong tag (a weak one is "equivalent", and
/// combining parts needs a strong validator, RFC 9110 §15.3.7.3), and not
/// of a body with trailers (they describe the whole body, a `206` would
/// carry them for part of it).
#[inline(always)]
pub(crate) fn serves_ranges(config: &Config, has_trailers: bool) -> bool {
    config.serve_ranges && config.etag_policy == EtagPolicy::Strong && !has_trailers
}

/// What a GET with a valid `Range` gets once the preconditions of §13.2.2
/// said "proceed", from the `200` whose whole body is `chunks` and whose
/// strong content-hash tag is `etag`.
///
/// §13.1.5 first: an `If-Range` that does not match gets the whole `200`.
/// Then §14.2 selects the ranges. Several parts of a body with a
/// `Content-Encoding` get the `200` too: a range is of the encoded bytes
/// (the representation data, §8.4.1), so one part keeps the field, but on a
/// `multipart/byteranges` answer it would claim the multipart body itself
/// is encoded.
pub(crate) fn range_response<'a, I>(
    request: &RangeRequest,
    parts: &response::Parts,
    chunks: I,
    etag: &EntityTag,
) -> RangeResponse
where
    I: IntoIterator<Item = &'a Bytes>,
    I::IntoIter: Clone,
{
    if request.has_if_range() {
        let last_modified = single_date(parts.headers.get_all(LAST_MODIFIED));
        // §8.8.2.2: the response's Date, or the time it is sent when it has
        // none (a server adds it on the way out).
        let date = single_date(parts.headers.get_all(DATE)).or_else(|| Some(SystemTime::now()));
        if !request.if_range_permits(Some(etag), last_modified, date) {
            return RangeResponse::Full;
        }
    }
    let content_type = parts.headers.get(CONTENT_TYPE);
    let boundary = Boundary::for_content_tag(etag);
    let response = partial_content::respond(request.ranges(), chunks, content_type, &boundary);
    match &response {
        RangeResponse::Partial(partial)
            if matches!(partial.kind, PartialKind::Multipart { .. })
                && parts.headers.contains_key(CONTENT_ENCODING) =>
        {
            RangeResponse::Full
        }
        _ => response,
    }
}

/// What is done with the inner service's answer to a GET or HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Left as it is, for this reason: not a success, marked [`Bypass`], a
    /// stream (`no-store`, server-sent events, gRPC, …), or declined by
    /// `hash_when`. Nothing is evaluated.
    PassOn(PassReason),
    /// The preconditions are evaluated against the validators the response
    /// already carries (the handler's, or the looked-up ones); the body is
    /// not read. `None` when it has a tag; else why it is not hashed: it is
    /// not a `200`, is too long to hold, or is an empty answer to a HEAD.
    InPlace(Option<PassReason>),
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
    if !parts.status.is_success() {
        return Plan::PassOn(PassReason::Status);
    }
    if parts.extensions.get::<Bypass>().is_some() {
        return Plan::PassOn(PassReason::Bypass);
    }
    let fields = eligibility::inspect(&parts.headers);
    if fields.must_stream {
        return Plan::PassOn(stream_reason(&parts.headers));
    }
    let is_ok = parts.status == StatusCode::OK;
    let has_etag =
        fields.has_etag || (is_ok && request.looked_up().is_some_and(|v| v.etag().is_some()));
    if has_etag {
        return Plan::InPlace(None);
    }
    if !is_ok {
        return Plan::InPlace(Some(PassReason::Status));
    }
    if empty_head(body, request) {
        return Plan::InPlace(Some(PassReason::EmptyHead));
    }
    if announces_more(
        fields.content_length,
        body,
        request.config.max_hashed_body_size,
    ) {
        return Plan::InPlace(Some(PassReason::AnnouncedOverLimit));
    }
    if let Some(hash_when) = request.config.hash_when {
        if !hash_when(parts) {
            return Plan::PassOn(PassReason::HashWhen);
        }
    }
    let has_content_length = fields.has_content_length;
    if body.is_end_stream() {
        return Plan::HashEmpty { has_content_length };
    }
    Plan::Read { has_content_length }
}

/// Why a response that must stream is passed on: `no-store`, or else its
/// content type.
#[cold]
fn stream_reason(headers: &HeaderMap) -> PassReason {
    if headers
        .get_all(CACHE_CONTROL)
        .iter()
        .any(eligibility::has_no_store)
    {
        PassReason::NoStore
    } else {
        PassReason::Streaming
    }
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
#[inline]
pub(crate) fn evaluate_in_place(
    parts: &response::Parts,
    body_is_empty: bool,
    request: &RequestFacts,
) -> Option<Evaluation> {
    let preconditions = request.preconditions()?;
    evaluate_preconditions_in_place(parts, body_is_empty, request.is_head, preconditions)
}

/// [`evaluate_in_place`] for a request with preconditions.
fn evaluate_preconditions_in_place(
    parts: &response::Parts,
    body_is_empty: bool,
    is_head: bool,
    preconditions: &Preconditions,
) -> Option<Evaluation> {
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
    if is_head
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
    Some(evaluate_get(
        preconditions,
        Current {
            etag,
            last_modified,
        },
    ))
}

/// The `Last-Modified` of a `200` whose body is read, when a date
/// precondition will be evaluated against it.
#[inline(always)]
pub(crate) fn last_modified_to_evaluate(
    parts: &response::Parts,
    request: &RequestFacts,
) -> Option<SystemTime> {
    let preconditions = request.preconditions()?;
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
    match request.preconditions() {
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
    evaluate_get(preconditions, current)
}

/// The evaluation of a GET against the current validators. The common
/// revalidation (one tag alone: as issued, or its `W/` form, or an older
/// one) is decided without the general evaluation, with the answer it would
/// give: `If-None-Match` is all there is to evaluate (`If-Modified-Since`
/// is ignored beside it), and it matches or not. A line that is one quoted
/// string but no valid tag (`"a b"`) does not match, the same way.
#[inline(always)]
fn evaluate_get(preconditions: &Preconditions, current: Current<'_>) -> Evaluation {
    if let (Some(line), Some(tag)) = (preconditions.sole_if_none_match(), &current.etag) {
        if is_exactly(line, tag, Comparison::Weak) {
            return Evaluation::NotModified;
        }
        if is_one_quoted(line) {
            return Evaluation::Proceed;
        }
    }
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
        let (preconditions, range) = request_fields(&headers, !is_head);
        let conditions = Conditions::boxed(preconditions, range, None);
        RequestFacts::new(is_head, Config::default(), conditions)
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
        assert_eq!(
            plan(&head(404, &[]), &full("x"), &get),
            Plan::PassOn(PassReason::Status)
        );
        assert_eq!(
            plan(&head(304, &[]), &full("x"), &get),
            Plan::PassOn(PassReason::Status)
        );
        assert_eq!(
            plan(&head(206, &[]), &full("x"), &get),
            Plan::InPlace(Some(PassReason::Status))
        );
        assert_eq!(
            plan(&head(200, &[("etag", "\"a\"")]), &full("x"), &get),
            Plan::InPlace(None)
        );
        let streams = [
            (("cache-control", "no-store"), PassReason::NoStore),
            (("content-type", "text/event-stream"), PassReason::Streaming),
            (
                ("content-type", "application/x-ndjson"),
                PassReason::Streaming,
            ),
        ];
        for (field, reason) in streams {
            assert_eq!(
                plan(&head(200, &[field]), &full("x"), &get),
                Plan::PassOn(reason),
                "{field:?}"
            );
        }
        let both = head(
            200,
            &[
                ("content-type", "text/event-stream"),
                ("cache-control", "no-store"),
            ],
        );
        assert_eq!(
            plan(&both, &full("x"), &get),
            Plan::PassOn(PassReason::NoStore)
        );
        let mut bypassed = head(200, &[]);
        bypassed.extensions.insert(Bypass);
        assert_eq!(
            plan(&bypassed, &full("x"), &get),
            Plan::PassOn(PassReason::Bypass)
        );
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
            Plan::InPlace(Some(PassReason::AnnouncedOverLimit))
        );
        let stated = head(200, &[("content-length", "4")]);
        let unannounced = http_body_util::StreamBody::new(futures_util::stream::empty::<
            Result<http_body::Frame<Bytes>, std::convert::Infallible>,
        >());
        assert_eq!(
            plan(&stated, &unannounced, &request),
            Plan::InPlace(Some(PassReason::AnnouncedOverLimit))
        );
    }

    #[test]
    fn hash_when_is_asked_only_about_what_would_be_hashed() {
        fn only_html(parts: &response::Parts) -> bool {
            parts
                .headers
                .get(CONTENT_TYPE)
                .is_some_and(|value| value == "text/html")
        }
        let mut request = facts(false, &[]);
        request.config.hash_when = Some(only_html);
        let html = head(200, &[("content-type", "text/html")]);
        assert!(matches!(
            plan(&html, &full("x"), &request),
            Plan::Read { .. }
        ));
        assert!(matches!(
            plan(&html, &Empty::<Bytes>::new(), &request),
            Plan::HashEmpty { .. }
        ));
        let text = head(200, &[("content-type", "text/plain")]);
        assert_eq!(
            plan(&text, &full("x"), &request),
            Plan::PassOn(PassReason::HashWhen)
        );
        // The layer's own rules come first: the predicate is not asked.
        let tagged = head(200, &[("content-type", "text/plain"), ("etag", "\"a\"")]);
        assert_eq!(plan(&tagged, &full("x"), &request), Plan::InPlace(None));
        assert_eq!(
            plan(&head(404, &[]), &full("x"), &request),
            Plan::PassOn(PassReason::Status)
        );
    }

    #[test]
    fn an_empty_head_answer_is_not_hashed() {
        let head_request = facts(true, &[]);
        assert_eq!(
            plan(&head(200, &[]), &Empty::<Bytes>::new(), &head_request),
            Plan::InPlace(Some(PassReason::EmptyHead))
        );
        assert!(matches!(
            plan(&head(200, &[]), &full("x"), &head_request),
            Plan::Read { .. }
        ));
    }

    #[test]
    fn a_looked_up_tag_counts_as_the_responses_own() {
        let looked_up = Validators::new().with_etag(EntityTag::strong("v1").unwrap());
        let conditions = Conditions::boxed(None, None, Some(looked_up));
        let mut request = RequestFacts::new(false, Config::default(), conditions);
        assert_eq!(
            plan(&head(200, &[]), &full("x"), &request),
            Plan::InPlace(None)
        );
        assert_eq!(
            plan(&head(203, &[]), &full("x"), &request),
            Plan::InPlace(Some(PassReason::Status))
        );
        let conditions = Conditions::boxed(None, None, Some(Validators::new()));
        request = RequestFacts::new(false, Config::default(), conditions);
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

    fn request_headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    /// The shortcut for the common revalidation gives the answer of the
    /// general evaluation, for every mix of fields around it: the one tag
    /// or its `W/` form, other tags, lists, `*`, dates, `If-Match` first.
    #[test]
    fn the_revalidation_shortcut_agrees_with_the_evaluation() {
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        let date = "Sun, 09 Sep 2001 01:46:40 GMT";
        let early = "Sat, 08 Sep 2001 01:46:40 GMT";
        let inm = [
            None,
            Some("\"abc\""),
            Some("W/\"abc\""),
            Some("\"abd\""),
            Some("\"abc\", \"x\""),
            Some("*"),
            Some(" \"abc\""),
            Some("\"ab\""),
            Some("W/\"abd\""),
            Some("\"abc\","),
            Some("*, \"abc\""),
            Some("\"x ,*, y\""),
            Some("\"x ,\"abc\""),
            // Longer than the lines kept short: never the shortcut.
            Some("\"abc_abc_abc_abc_abc_abc_abc_abc_abc_abc_abc_abc\""),
        ];
        let others: [&[(&'static str, &'static str)]; 6] = [
            &[],
            &[("if-match", "\"zzz\"")],
            &[("if-match", "\"abc\"")],
            &[("if-unmodified-since", early)],
            &[("if-modified-since", date)],
            &[("if-none-match", "\"q\"")],
        ];
        for tag in [
            "\"abc\"",
            "W/\"abc\"",
            "\"abd\"",
            "\"abc_abc_abc_abc_abc_abc_abc_abc_abc_abc_abc_abc\"",
        ] {
            let etag: EntityTag = tag.parse().unwrap();
            for line in inm {
                for more in others {
                    let mut headers = HeaderMap::new();
                    if let Some(line) = line {
                        headers.append("if-none-match", HeaderValue::from_static(line));
                    }
                    for (name, value) in more {
                        headers.append(*name, HeaderValue::from_static(value));
                    }
                    let preconditions = Preconditions::from_headers(&headers);
                    // The shortcut is taken exactly where it may be.
                    let lines: Vec<&str> = line
                        .into_iter()
                        .chain(
                            more.iter()
                                .filter(|(n, _)| *n == "if-none-match")
                                .map(|(_, v)| *v),
                        )
                        .collect();
                    let first = more
                        .iter()
                        .any(|(n, _)| *n == "if-match" || *n == "if-unmodified-since");
                    let expected = match lines[..] {
                        [only] if !first && only.len() <= 46 => Some(only.as_bytes()),
                        _ => None,
                    };
                    assert_eq!(
                        preconditions.sole_if_none_match(),
                        expected,
                        "{line:?} and {more:?}"
                    );
                    let current = || Current {
                        etag: Some(etag.as_ref()),
                        last_modified: Some(t0),
                    };
                    assert_eq!(
                        evaluate_get(&preconditions, current()),
                        preconditions.evaluate_current(&Method::GET, Some(current())),
                        "{tag} against {line:?} and {more:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn preconditions_are_read_from_the_first_of_them_whatever_comes_before() {
        // Names with several lines before the first precondition: the
        // reading starts at that name, not at that line.
        let fields = [
            ("accept", "*/*"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("cookie", "c=3"),
            ("if-match", "\"m\""),
            ("accept-language", "en"),
            ("if-none-match", "\"a\""),
            ("if-none-match", "W/\"b\""),
            ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("range", "bytes=0-9"),
        ];
        let headers = request_headers(&fields);
        let (preconditions, range) = request_fields(&headers, true);
        let preconditions = preconditions.expect("preconditions read");
        assert_eq!(
            format!("{preconditions:?}"),
            format!("{:?}", Preconditions::from_headers(&headers))
        );
        assert!(!preconditions.is_empty() && range.is_some());
        let debug = format!("{preconditions:?}");
        for line in ["\\\"m\\\"", "\\\"a\\\"", "W/\\\"b\\\""] {
            assert!(debug.contains(line), "{line} in {debug}");
        }
        // The first field a precondition, or the last.
        for fields in [
            &fields[4..],
            &[("accept", "*/*"), ("if-none-match", "\"a\"")][..],
        ] {
            let headers = request_headers(fields);
            let (read, _) = request_fields(&headers, true);
            assert_eq!(
                format!("{read:?}"),
                format!("{:?}", Some(Preconditions::from_headers(&headers)))
            );
        }
    }

    #[test]
    fn range_fields_are_read_only_when_present_and_wanted() {
        let plain = request_headers(&[("accept", "*/*"), ("host", "example.com")]);
        let (preconditions, range) = request_fields(&plain, true);
        assert!(preconditions.is_none() && range.is_none());
        let ranged = request_headers(&[("range", "bytes=0-9"), ("if-range", "\"a\"")]);
        let (preconditions, range) = request_fields(&ranged, true);
        assert!(preconditions.is_none());
        let range = range.expect("a valid Range is kept");
        assert!(range.has_if_range());
        // A HEAD, or ranges turned off: not read at all.
        assert!(request_fields(&ranged, false).1.is_none());
        // Malformed or another unit: ignored (§14.2), as if absent.
        for value in ["bytes=9-0", "items=0-9", "bytes=", "0-9"] {
            let headers = request_headers(&[("range", value)]);
            assert!(request_fields(&headers, true).1.is_none(), "{value}");
        }
        // If-Range without Range is ignored (§13.1.5).
        let if_range_only = request_headers(&[("if-range", "\"a\"")]);
        assert_eq!(
            format!("{:?}", request_fields(&if_range_only, true)),
            "(None, None)"
        );
        let both = request_headers(&[("if-none-match", "\"a\""), ("range", "bytes=-5")]);
        let (preconditions, range) = request_fields(&both, true);
        assert!(preconditions.is_some() && range.is_some());
    }

    #[test]
    fn ranges_only_under_a_strong_tag_and_without_trailers() {
        let mut config = Config::default();
        assert!(serves_ranges(&config, false));
        assert!(!serves_ranges(&config, true));
        config.etag_policy = EtagPolicy::Weak;
        assert!(!serves_ranges(&config, false));
        config.etag_policy = EtagPolicy::Strong;
        config.serve_ranges = false;
        assert!(!serves_ranges(&config, false));
    }

    fn range_of(fields: &[(&'static str, &'static str)]) -> RangeRequest {
        RangeRequest::from_headers(&request_headers(fields)).expect("a valid Range")
    }

    fn decide(
        fields: &[(&'static str, &'static str)],
        response_fields: &[(&'static str, &'static str)],
        body: &'static [u8],
    ) -> RangeResponse {
        let chunks = [
            Bytes::from_static(&body[..body.len() / 2]),
            Bytes::from_static(&body[body.len() / 2..]),
        ];
        let etag = EntityTag::from_content(body);
        range_response(
            &range_of(fields),
            &head(200, response_fields),
            &chunks,
            &etag,
        )
    }

    fn content_range(response: &RangeResponse) -> Option<&str> {
        match response {
            RangeResponse::Partial(partial) => match &partial.kind {
                PartialKind::Single { content_range } => content_range.to_str().ok(),
                PartialKind::Multipart { .. } => Some("multipart"),
            },
            RangeResponse::NotSatisfiable { content_range } => content_range.to_str().ok(),
            RangeResponse::Full => None,
        }
    }

    #[test]
    fn if_range_then_the_range() {
        const BODY: &[u8] = b"0123456789abcdefghij";
        let current = EntityTag::from_content(BODY).to_header_value();
        let current: &'static str = current.to_str().unwrap().to_owned().leak();
        let weak: &'static str = format!("W/{current}").leak();
        let range = ("range", "bytes=5-9");
        assert_eq!(
            content_range(&decide(&[range], &[], BODY)),
            Some("bytes 5-9/20")
        );
        // §13.1.5: the current strong tag lets the range through.
        let fresh = decide(&[range, ("if-range", current)], &[], BODY);
        assert_eq!(content_range(&fresh), Some("bytes 5-9/20"));
        // Another tag, the weak form of the current one, junk: the whole 200.
        for stale in ["\"old\"", weak, "soon"] {
            assert_eq!(
                decide(&[range, ("if-range", stale)], &[], BODY),
                RangeResponse::Full,
                "{stale}"
            );
        }
        // A date: only one equal to a strong Last-Modified (the Date at least
        // a second later, §8.8.2.2).
        let modified = "Sun, 06 Nov 1994 08:49:37 GMT";
        let by_date = [range, ("if-range", modified)];
        let later = ("date", "Sun, 06 Nov 1994 08:49:39 GMT");
        let strong = decide(&by_date, &[("last-modified", modified), later], BODY);
        assert_eq!(content_range(&strong), Some("bytes 5-9/20"));
        let same_second = ("date", modified);
        assert_eq!(
            decide(&by_date, &[("last-modified", modified), same_second], BODY),
            RangeResponse::Full
        );
        assert_eq!(decide(&by_date, &[later], BODY), RangeResponse::Full);
        let other = ("last-modified", "Sun, 06 Nov 1994 08:49:36 GMT");
        assert_eq!(decide(&by_date, &[other, later], BODY), RangeResponse::Full);
        // Unsatisfiable: a 416 with the current length.
        let beyond = decide(&[("range", "bytes=20-")], &[], BODY);
        assert_eq!(content_range(&beyond), Some("bytes */20"));
    }

    #[test]
    fn several_parts_of_an_encoded_body_get_the_whole() {
        const BODY: &[u8] = &[7; 2000];
        let several = [("range", "bytes=0-9,100-109")];
        assert_eq!(
            content_range(&decide(&several, &[], BODY)),
            Some("multipart")
        );
        let gzip = [("content-encoding", "gzip")];
        assert_eq!(decide(&several, &gzip, BODY), RangeResponse::Full);
        // One part is a range of the encoded bytes (§8.4.1): served.
        let one = decide(&[("range", "bytes=0-9")], &gzip, BODY);
        assert_eq!(content_range(&one), Some("bytes 0-9/2000"));
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
