//! The checks behind the cargo-fuzz targets of `tower-conditional`.
//!
//! Each target in `fuzz_targets/` is a one-line call into a module here, so
//! the same checks also run as ordinary tests over the seed corpus
//! (`cargo test` inside `fuzz/`), without libFuzzer.
//!
//! The oracles are written from RFC 9110 (§8.8.3, §5.6.1, §5.6.7, §13.1,
//! §13.2.2, §14), not from the crate's code: a strict reference parser for
//! `#entity-tag` lists, a reference model of the evaluation order, and
//! invariants that must hold for any input.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_conditional::{Conditional, EntityTag, Evaluation, Validators};

/// The handler bodies of the checks through the layer: the same body the
/// crate's tests and benchmarks use.
pub use tower_conditional_test_support::FramesBody;

pub mod entity_tag_list;
pub mod http_date;
pub mod preconditions;
pub mod range;
pub mod response_fields;

/// Methods every check runs through: the two safe ones the crate answers
/// with 304, and a spread of others (including extension methods).
pub fn methods() -> Vec<Method> {
    vec![
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::from_bytes(b"PROPFIND").expect("valid method"),
        // Methods are case-sensitive: this is not GET.
        Method::from_bytes(b"get").expect("valid method"),
    ]
}

/// GET and HEAD: the only methods that may be answered with 304.
pub fn is_get_or_head(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// Splits fuzzer bytes into header lines on `\n`, keeping at most `max` of
/// the lines `HeaderValue` accepts (the others could never reach a server).
pub fn header_lines(data: &[u8], max: usize) -> Vec<HeaderValue> {
    data.split(|&b| b == b'\n')
        .filter_map(|line| HeaderValue::from_bytes(line).ok())
        .take(max)
        .collect()
}

/// A header map holding `lines` as the lines of one field.
pub fn field(name: HeaderName, lines: &[HeaderValue]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines {
        headers.append(name.clone(), line.clone());
    }
    headers
}

/// `etagc` of RFC 9110 §8.8.3 without obs-text: `!`, then `#` to `~`.
pub fn is_etagc(byte: u8) -> bool {
    byte == b'!' || (b'#'..=b'~').contains(&byte)
}

/// One member of a strictly valid `#entity-tag` list, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictMember {
    /// `*`.
    Star,
    /// An entity-tag: weakness and opaque part without quotes.
    Tag { weak: bool, opaque: Vec<u8> },
}

fn is_ows(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// Reference parser: one field line as a strictly valid list (RFC 9110
/// §5.6.1: elements separated by commas and optional whitespace, empty
/// elements allowed), each element `*` or an entity-tag. `None` when the
/// line is anything else.
///
/// It finds a tag's closing quote first and then checks the bytes between,
/// a different route from the crate's scanner.
pub fn strict_line(line: &[u8]) -> Option<Vec<StrictMember>> {
    let mut members = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && (is_ows(line[i]) || line[i] == b',') {
            i += 1;
        }
        if i == n {
            return Some(members);
        }
        if line[i] == b'*' {
            members.push(StrictMember::Star);
            i += 1;
        } else {
            let weak = line[i..].starts_with(b"W/");
            if weak {
                i += 2;
            }
            if line.get(i) != Some(&b'"') {
                return None;
            }
            let close = i + 1 + line[i + 1..].iter().position(|&b| b == b'"')?;
            let opaque = &line[i + 1..close];
            if !opaque.iter().all(|&b| is_etagc(b)) {
                return None;
            }
            members.push(StrictMember::Tag {
                weak,
                opaque: opaque.to_vec(),
            });
            i = close + 1;
        }
        while i < n && is_ows(line[i]) {
            i += 1;
        }
        if i == n {
            return Some(members);
        }
        if line[i] != b',' {
            return None;
        }
        i += 1;
    }
}

/// Reference parser for a whole value that must be exactly one entity-tag.
pub fn strict_single_tag(bytes: &[u8]) -> Option<(bool, Vec<u8>)> {
    let (weak, rest) = match bytes.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let inner = rest.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    inner
        .iter()
        .all(|&b| is_etagc(b))
        .then(|| (weak, inner.to_vec()))
}

/// What an `If-Match` or `If-None-Match` field means, per RFC 9110 §13.1.1–2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldModel {
    /// The field is `*` and nothing else.
    Any,
    /// A list of entity-tags; `(weak, opaque)` of the well-formed ones.
    /// Malformed members and a `*` among other members never match.
    Tags(Vec<(bool, Vec<u8>)>),
}

/// The model of a field whose every line is a strictly valid list; `None`
/// when some line is not (the crate then has latitude, and only invariants
/// are checked).
pub fn strict_field_model(lines: &[HeaderValue]) -> Option<FieldModel> {
    let mut members = Vec::new();
    for line in lines {
        members.extend(strict_line(line.as_bytes())?);
    }
    Some(model_from_members(&members))
}

/// The model of a field given its members across all lines.
pub fn model_from_members(members: &[StrictMember]) -> FieldModel {
    if members == [StrictMember::Star] {
        return FieldModel::Any;
    }
    FieldModel::Tags(
        members
            .iter()
            .filter_map(|member| match member {
                StrictMember::Tag { weak, opaque } => Some((*weak, opaque.clone())),
                StrictMember::Star => None,
            })
            .collect(),
    )
}

/// Whether the field matches the current representation: `strong` is the
/// comparison of `If-Match`, weak that of `If-None-Match` (RFC 9110 §8.8.3.2).
pub fn model_matches(model: &FieldModel, current: Option<&Validators>, strong: bool) -> bool {
    match model {
        FieldModel::Any => current.is_some(),
        FieldModel::Tags(tags) => {
            let Some(etag) = current.and_then(Validators::etag) else {
                return false;
            };
            tags.iter().any(|(weak, opaque)| {
                opaque.as_slice() == etag.opaque().as_bytes()
                    && (!strong || (!weak && !etag.is_weak()))
            })
        }
    }
}

/// Whole seconds since the epoch, as HTTP-dates count; `None` before it.
pub fn whole_seconds(time: SystemTime) -> Option<u64> {
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// Reference reading of a date field (RFC 9110 §13.1.3–4): exactly one
/// line, and that line a valid HTTP-date. No valid HTTP-date is longer than
/// 64 bytes. Anything else means the field is ignored.
pub fn reference_date(lines: &[HeaderValue]) -> Option<SystemTime> {
    let [line] = lines else {
        return None;
    };
    let bytes = line.as_bytes();
    if bytes.len() > 64 {
        return None;
    }
    httpdate::parse_http_date(std::str::from_utf8(bytes).ok()?).ok()
}

/// Reference model of RFC 9110 §13.2.2: the evaluation order of the four
/// preconditions, for fields already read into models.
pub struct RequestModel<'a> {
    pub if_match: Option<&'a FieldModel>,
    pub if_none_match: Option<&'a FieldModel>,
    pub if_modified_since: Option<SystemTime>,
    pub if_unmodified_since: Option<SystemTime>,
}

impl RequestModel<'_> {
    pub fn evaluate(&self, method: &Method, current: Option<&Validators>) -> Evaluation {
        let modified = current
            .and_then(Validators::last_modified)
            .and_then(whole_seconds);
        // 1. If-Match, strong comparison; else 2. If-Unmodified-Since.
        if let Some(if_match) = self.if_match {
            if !model_matches(if_match, current, true) {
                return Evaluation::PreconditionFailed;
            }
        } else if let (Some(since), Some(modified)) = (self.if_unmodified_since, modified) {
            let since = whole_seconds(since).expect("HTTP-dates are after 1970");
            if modified > since {
                return Evaluation::PreconditionFailed;
            }
        }
        // 3. If-None-Match, weak comparison; else 4. If-Modified-Since (GET/HEAD).
        if let Some(if_none_match) = self.if_none_match {
            if model_matches(if_none_match, current, false) {
                return if is_get_or_head(method) {
                    Evaluation::NotModified
                } else {
                    Evaluation::PreconditionFailed
                };
            }
        } else if is_get_or_head(method) {
            if let (Some(since), Some(modified)) = (self.if_modified_since, modified) {
                let since = whole_seconds(since).expect("HTTP-dates are after 1970");
                if modified <= since {
                    return Evaluation::NotModified;
                }
            }
        }
        Evaluation::Proceed
    }
}

/// Runs a future that never waits on I/O (everything here is in memory) to
/// completion, polling it with a no-op waker.
pub fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("an in-memory future did not complete");
}

/// What came out of the middleware: head, collected body and trailers.
#[derive(Debug)]
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: HeaderMap,
    /// The body's exact size hint before it was read: what a server writes
    /// as `Content-Length` when the header is absent.
    pub exact_hint: Option<u64>,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

/// Sends `request` through `Conditional` around a handler that answers with
/// `response`, and collects what comes out.
pub fn through_layer(request: Request<()>, response: Response<FramesBody>) -> Answer {
    let mut response = Some(response);
    let service = Conditional::new(tower::service_fn(move |_request: Request<()>| {
        let response = response.take().expect("the handler is called once");
        async move { Ok::<_, Infallible>(response) }
    }));
    run_ready(async move {
        let response = service.oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let exact_hint = body.size_hint().exact();
        let collected = body.collect().await.expect("infallible");
        let trailers = collected.trailers().cloned();
        Answer {
            status: parts.status,
            headers: parts.headers,
            exact_hint,
            body: collected.to_bytes(),
            trailers,
        }
    })
}

/// The validators the layer sees for a 200 with `body` and `headers`: the
/// handler's `ETag` when it is a valid one, otherwise the content hash; the
/// handler's `Last-Modified` when it is one valid HTTP-date.
pub fn layer_validators(body: &[u8], headers: &HeaderMap) -> Validators {
    let etag = match headers.get(http::header::ETAG) {
        Some(value) => EntityTag::from_header_value(value).ok(),
        None => Some(EntityTag::from_content(body)),
    };
    let lines: Vec<HeaderValue> = headers
        .get_all(http::header::LAST_MODIFIED)
        .iter()
        .cloned()
        .collect();
    let mut validators = Validators::new();
    if let Some(etag) = etag {
        validators = validators.with_etag(etag);
    }
    if let Some(date) = reference_date(&lines) {
        validators = validators.with_last_modified(date);
    }
    validators
}

/// Checks what the layer answered to a GET or HEAD whose handler gave a 200
/// with `body` (and `trailers`) and `handler_headers`, given the evaluation
/// it should reach. The `ETag` of a hashed body must be the hash of exactly
/// the bytes the handler sent.
pub fn check_layer_answer(
    answer: &Answer,
    expected: Evaluation,
    is_head: bool,
    body: &[u8],
    trailers: Option<&HeaderMap>,
    handler_headers: &HeaderMap,
    validators: &Validators,
) {
    let etag_header = validators.etag().map(EntityTag::to_header_value);
    match expected {
        Evaluation::Proceed => {
            assert_eq!(answer.status, http::StatusCode::OK, "{answer:?}");
            let want: &[u8] = if is_head { b"" } else { body };
            assert_eq!(answer.body, want, "{answer:?}");
            let want = if is_head { None } else { trailers };
            assert_eq!(answer.trailers.as_ref(), want, "{answer:?}");
            assert_eq!(
                answer.headers.get(http::header::ETAG),
                etag_header.as_ref(),
                "the ETag must be the hash of the body sent ({} bytes, trailers: {})",
                body.len(),
                trailers.is_some()
            );
            if !handler_headers.contains_key(http::header::ETAG) && trailers.is_none() {
                // The length a server states: the header when there is one
                // (always for a HEAD, whose body is empty), else the exact hint.
                let stated = match answer.headers.get(http::header::CONTENT_LENGTH) {
                    Some(value) => value.to_str().ok().and_then(|text| text.parse().ok()),
                    None if is_head => None,
                    None => answer.exact_hint,
                };
                assert_eq!(stated, Some(body.len() as u64), "{answer:?}");
            }
            if trailers.is_some() && !handler_headers.contains_key(http::header::ETAG) {
                // A body with trailers goes out chunked: a length may stay
                // only when it is true.
                if let Some(value) = answer.headers.get(http::header::CONTENT_LENGTH) {
                    assert_eq!(value.as_bytes(), body.len().to_string().as_bytes());
                }
            }
            // A hashed body's Content-Length is checked above (the layer
            // corrects it); a handler-tagged response passes untouched.
            let hashed = !handler_headers.contains_key(http::header::ETAG);
            for name in handler_headers
                .keys()
                .filter(|name| !hashed || *name != http::header::CONTENT_LENGTH)
            {
                assert_eq!(
                    answer.headers.get_all(name).iter().collect::<Vec<_>>(),
                    handler_headers.get_all(name).iter().collect::<Vec<_>>(),
                    "header {name} must pass through unchanged"
                );
            }
        }
        Evaluation::NotModified => {
            assert_eq!(answer.status, http::StatusCode::NOT_MODIFIED, "{answer:?}");
            assert!(answer.body.is_empty() && answer.trailers.is_none());
            assert_eq!(answer.headers.get(http::header::ETAG), etag_header.as_ref());
            assert!(!answer.headers.contains_key(http::header::CONTENT_LENGTH));
            assert!(!answer.headers.contains_key(http::header::CONTENT_TYPE));
            assert_eq!(
                answer.headers.get(http::header::LAST_MODIFIED),
                handler_headers.get(http::header::LAST_MODIFIED),
                "a 304 keeps Last-Modified as the handler wrote it"
            );
        }
        Evaluation::PreconditionFailed => {
            assert_eq!(
                answer.status,
                http::StatusCode::PRECONDITION_FAILED,
                "{answer:?}"
            );
            assert!(answer.body.is_empty() && answer.trailers.is_none());
            assert_eq!(answer.headers[http::header::CONTENT_LENGTH], "0");
            assert_eq!(answer.headers.get(http::header::ETAG), etag_header.as_ref());
            assert!(!answer.headers.contains_key(http::header::CONTENT_TYPE));
            // A Last-Modified on a 412 is the current one, re-formatted, and
            // only when it can be written as an HTTP-date.
            if let Some(value) = answer.headers.get(http::header::LAST_MODIFIED) {
                let written = reference_date(std::slice::from_ref(value))
                    .expect("a 412's Last-Modified is a valid HTTP-date");
                let current = validators
                    .last_modified()
                    .expect("Last-Modified only when one is known");
                assert_eq!(whole_seconds(written), whole_seconds(current));
            }
        }
    }
}

/// `time` plus `secs` and `nanos`, or `None` where `SystemTime` cannot go.
pub fn epoch_plus(secs: u64, nanos: u32) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos % 1_000_000_000))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`: the example instant of RFC 9110 §5.6.7.
pub const RFC_EXAMPLE_SECS: u64 = 784_111_777;

/// The last second `httpdate` can write: 9999-12-31T23:59:59Z.
pub const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// The three HTTP-date formats of RFC 9110 §5.6.7 for a time in range.
pub fn format_date(secs: u64, format: u8) -> String {
    let imf = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let (wkday, day, month, year, time) = (
        &imf[0..3],
        &imf[5..7],
        &imf[8..11],
        &imf[12..16],
        &imf[17..25],
    );
    match format % 3 {
        0 => imf,
        1 => {
            let weekday = match wkday {
                "Mon" => "Monday",
                "Tue" => "Tuesday",
                "Wed" => "Wednesday",
                "Thu" => "Thursday",
                "Fri" => "Friday",
                "Sat" => "Saturday",
                _ => "Sunday",
            };
            format!("{weekday}, {day}-{month}-{} {time} GMT", &year[2..])
        }
        _ => {
            let day = day.trim_start_matches('0');
            format!("{wkday} {month} {day:>2} {time} {year}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_line_reference() {
        assert_eq!(
            strict_line(b"\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\"")
                .unwrap()
                .len(),
            3
        );
        assert_eq!(strict_line(b" , ,").unwrap(), vec![]);
        assert_eq!(
            strict_line(b"W/\"a,b\"").unwrap(),
            vec![StrictMember::Tag {
                weak: true,
                opaque: b"a,b".to_vec()
            }]
        );
        assert!(strict_line(b"w/\"x\"").is_none());
        assert!(strict_line(b"\"x").is_none());
        assert!(strict_line(b"\"a\" \"b\"").is_none());
        assert_eq!(strict_single_tag(b"W/\"\""), Some((true, vec![])));
        assert_eq!(strict_single_tag(b"\""), None);
    }

    #[test]
    fn date_formats_parse_to_the_same_instant() {
        for format in 0..3 {
            let text = format_date(RFC_EXAMPLE_SECS, format);
            let parsed = httpdate::parse_http_date(&text).unwrap();
            assert_eq!(whole_seconds(parsed), Some(RFC_EXAMPLE_SECS), "{text}");
        }
        assert_eq!(format_date(RFC_EXAMPLE_SECS, 2), "Sun Nov  6 08:49:37 1994");
        assert_eq!(
            format_date(RFC_EXAMPLE_SECS, 1),
            "Sunday, 06-Nov-94 08:49:37 GMT"
        );
    }

    /// Every seed of the committed corpus goes through every check.
    #[test]
    fn seed_corpus_passes_all_checks() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let mut seen = 0;
        for (target, check) in [
            ("entity_tag_list", entity_tag_list::check as fn(&[u8])),
            ("http_date", http_date::check),
            ("preconditions", preconditions::check_bytes),
            ("range", range::check_bytes),
            ("response_fields", response_fields::check_bytes),
        ] {
            let Ok(entries) = std::fs::read_dir(root.join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if !name.starts_with("seed-") {
                    continue;
                }
                check(&std::fs::read(&path).unwrap());
                seen += 1;
            }
        }
        assert!(seen > 0, "no seed corpus found");
    }

    /// Reproducers of bugs found by fuzzing, fixed since, replayed so they
    /// stay fixed. (Each is also a seed of its target's corpus.)
    #[test]
    fn regression_single_chunk_then_trailers() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
        let data = std::fs::read(root.join("preconditions-single-chunk-then-trailers")).unwrap();
        preconditions::check_bytes(&data);
    }

    /// Not found by fuzzing but written by it, against a layer that hashed
    /// the empty answer of a `head` handler stating the GET's length.
    #[test]
    fn regression_empty_head_stating_a_length() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
        let data = std::fs::read(root.join("preconditions-empty-head-stating-a-length")).unwrap();
        preconditions::check_bytes(&data);
    }
}
