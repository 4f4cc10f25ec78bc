//! Evaluation of request preconditions (RFC 9110 §13.1 and §13.2.2).
//!
//! Pure: it reads request headers and the current validators of the target
//! resource and says what the response must be. No I/O, no allocation beyond
//! keeping the condition fields, linear in their length.

use std::fmt;
use std::time::SystemTime;

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::entity_tag::{Comparison, EntityTag, TagRef};
use crate::entity_tag_list;
use crate::validators::{whole_seconds, Validators};

/// The decision a precondition evaluation reaches.
///
/// ```
/// use http::{HeaderMap, HeaderValue, Method};
/// use tower_conditional::{EntityTag, Evaluation, Preconditions, Validators};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("if-match", HeaderValue::from_static("\"v1\""));
/// let current = Validators::new().with_etag(EntityTag::strong("v2").unwrap());
/// let decision = Preconditions::from_headers(&headers).evaluate(&Method::PUT, Some(&current));
/// assert_eq!(decision, Evaluation::PreconditionFailed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// No precondition stops the request: perform it and answer as usual.
    Proceed,
    /// Answer `304 Not Modified` (only ever for GET and HEAD).
    NotModified,
    /// Answer `412 Precondition Failed`.
    PreconditionFailed,
}

/// The precondition fields of one request, read once from its headers.
///
/// Entity-tag lists are kept as received (a cheap clone of each line) and
/// parsed only when compared; dates are parsed at once. A date field that is
/// not a valid HTTP-date, or that has more than one line, is ignored, as
/// RFC 9110 §13.1.3 and §13.1.4 require.
///
/// ```
/// use http::{HeaderMap, Method};
/// use tower_conditional::{Evaluation, EntityTag, Preconditions, Validators};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("if-none-match", "\"a\", W/\"b\"".parse().unwrap());
/// let preconditions = Preconditions::from_headers(&headers);
///
/// let current = Validators::new().with_etag(EntityTag::strong("b").unwrap());
/// assert_eq!(preconditions.evaluate(&Method::GET, Some(&current)), Evaluation::NotModified);
/// assert_eq!(preconditions.evaluate(&Method::PUT, Some(&current)), Evaluation::PreconditionFailed);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    if_match: FieldLines,
    if_none_match: FieldLines,
    if_modified_since: Option<SystemTime>,
    if_unmodified_since: Option<SystemTime>,
}

/// The lines of one list-valued field, in order.
///
/// Nearly every request sends such a field on one short line: the one tag a
/// client was given, or its `W/` form. That line is copied in, so no
/// `HeaderValue` is cloned or dropped for it (a shared count changed twice,
/// or for a value made from a string an allocation and a free); a longer
/// first line, and every line after the first, are cloned.
#[derive(Clone, Default)]
struct FieldLines {
    short: Option<ShortLine>,
    lines: Vec<HeaderValue>,
}

/// The lines as text, as a `HeaderValue` shows itself, however each is kept.
impl fmt::Debug for FieldLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// The longest line [`FieldLines`] copies: the tags of this crate (at most
/// 26 bytes) fit, as does a quoted SHA-1 in hex with `W/` (44).
const SHORT_LINE: usize = 46;

/// A short first line, copied.
#[derive(Clone)]
struct ShortLine {
    len: u8,
    bytes: [u8; SHORT_LINE],
}

impl ShortLine {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl FieldLines {
    fn push(&mut self, value: &HeaderValue) {
        let line = value.as_bytes();
        if self.is_empty() && line.len() <= SHORT_LINE {
            let short = self.short.insert(ShortLine {
                len: line.len() as u8,
                bytes: [0; SHORT_LINE],
            });
            short.bytes[..line.len()].copy_from_slice(line);
        } else {
            self.lines.push(value.clone());
        }
    }

    fn is_empty(&self) -> bool {
        self.short.is_none() && self.lines.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.short
            .iter()
            .map(ShortLine::as_bytes)
            .chain(self.lines.iter().map(HeaderValue::as_bytes))
    }
}

/// A date field: valid only as a single line.
#[derive(Default)]
enum DateLine<'a> {
    #[default]
    Absent,
    One(&'a HeaderValue),
    Repeated,
}

impl<'a> DateLine<'a> {
    fn push(&mut self, value: &'a HeaderValue) {
        *self = match self {
            DateLine::Absent => DateLine::One(value),
            _ => DateLine::Repeated,
        };
    }

    fn parse(self) -> Option<SystemTime> {
        match self {
            DateLine::One(value) => parse_http_date(value.as_bytes()),
            _ => None,
        }
    }
}

/// The value of a date field that must be one valid HTTP-date: a repeated
/// field is invalid (RFC 9110 §5.3), and so ignored.
pub(crate) fn single_date<'a>(
    values: impl IntoIterator<Item = &'a HeaderValue>,
) -> Option<SystemTime> {
    let mut line = DateLine::Absent;
    for value in values {
        line.push(value);
        if let DateLine::Repeated = line {
            break;
        }
    }
    line.parse()
}

/// Whether a method is one of the two whose answer can be `304 Not
/// Modified`, and whose preconditions are evaluated against the answer the
/// handler made (RFC 9110 §13.2.2, steps 3 and 4).
#[inline]
pub(crate) fn is_get_or_head(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// What is known of the selected representation that a request's
/// preconditions are evaluated against (RFC 9110 §13.2.2).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Current<'a> {
    pub(crate) etag: Option<TagRef<'a>>,
    pub(crate) last_modified: Option<SystemTime>,
}

/// Parses any of the three HTTP-date formats (RFC 9110 §5.6.7).
pub(crate) fn parse_http_date(bytes: &[u8]) -> Option<SystemTime> {
    // Longest valid form is an rfc850-date with "Wednesday": 37 bytes.
    if bytes.len() > 64 {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    httpdate::parse_http_date(text).ok()
}

impl Preconditions {
    /// Reads the precondition fields (`If-Match`, `If-None-Match`,
    /// `If-Modified-Since`, `If-Unmodified-Since`) of a request.
    ///
    /// Hostile input is fine: malformed lists and dates never match, and the
    /// work is linear in the length of the fields.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use tower_conditional::Preconditions;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("if-none-match", HeaderValue::from_static("\"a\", W/\"b\""));
    /// assert!(!Preconditions::from_headers(&headers).is_empty());
    /// ```
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut preconditions = Self::default();
        preconditions.read(headers);
        preconditions
    }

    /// [`Preconditions::from_headers`] into empty preconditions, where they
    /// are to stay.
    pub(crate) fn read(&mut self, headers: &HeaderMap) {
        self.read_from(headers, 0);
    }

    /// [`Preconditions::read`] of the fields from the `first`-th name on,
    /// those before it being known to be others: a browser sends a dozen
    /// fields, the precondition among the last.
    pub(crate) fn read_from(&mut self, headers: &HeaderMap, first: usize) {
        debug_assert!(self.is_empty());
        // One walk over the fields instead of four hashed lookups: requests
        // carry a handful of fields, and this runs for every GET.
        let mut if_modified_since = DateLine::Absent;
        let mut if_unmodified_since = DateLine::Absent;
        // `first` counts names, and `iter` gives each line of each name in
        // turn: skipping that many lines never goes past the `first`-th name.
        for (name, value) in headers.iter().skip(first) {
            if *name == IF_NONE_MATCH {
                self.if_none_match.push(value);
            } else if *name == IF_MODIFIED_SINCE {
                if_modified_since.push(value);
            } else if *name == IF_MATCH {
                self.if_match.push(value);
            } else if *name == IF_UNMODIFIED_SINCE {
                if_unmodified_since.push(value);
            }
        }
        self.if_modified_since = if_modified_since.parse();
        self.if_unmodified_since = if_unmodified_since.parse();
    }

    /// Whether a request field is one of those [`Preconditions::from_headers`]
    /// reads: a request with none of them needs nothing built, moved or
    /// dropped.
    #[inline(always)]
    pub(crate) fn is_field(name: &HeaderName) -> bool {
        *name == IF_NONE_MATCH
            || *name == IF_MODIFIED_SINCE
            || *name == IF_MATCH
            || *name == IF_UNMODIFIED_SINCE
    }

    /// These preconditions, or `None` when empty.
    pub(crate) fn non_empty(self) -> Option<Self> {
        (!self.is_empty()).then_some(self)
    }

    /// Whether the request carries no precondition this crate evaluates.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use tower_conditional::Preconditions;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("accept", HeaderValue::from_static("*/*"));
    /// assert!(Preconditions::from_headers(&headers).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.if_match.is_empty()
            && self.if_none_match.is_empty()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }

    /// Whether the request carries `If-Match` or `If-None-Match`.
    pub(crate) fn has_tag_conditions(&self) -> bool {
        !self.if_match.is_empty() || !self.if_none_match.is_empty()
    }

    /// Whether the request carries a precondition that a method other than
    /// GET or HEAD is subject to: `If-Modified-Since` is not one (RFC 9110
    /// §13.1.3).
    pub(crate) fn has_write_conditions(&self) -> bool {
        self.has_tag_conditions() || self.if_unmodified_since.is_some()
    }

    /// Whether the request carries `If-Modified-Since` or
    /// `If-Unmodified-Since` (valid ones: invalid dates are ignored).
    pub(crate) fn has_date_conditions(&self) -> bool {
        self.if_modified_since.is_some() || self.if_unmodified_since.is_some()
    }

    /// Evaluates the preconditions in the order of RFC 9110 §13.2.2.
    ///
    /// `current` is the selected representation's validators, or `None` when
    /// the target resource has no current representation. Call this only where
    /// the response without preconditions would have been a 2xx (§13.2.1).
    /// Range and `If-Range` are left to the caller: a 304 takes precedence.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, Method};
    /// use tower_conditional::{EntityTag, Evaluation, Preconditions, Validators};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("if-none-match", HeaderValue::from_static("W/\"v2\""));
    /// let preconditions = Preconditions::from_headers(&headers);
    /// let current = Validators::new().with_etag(EntityTag::strong("v2").unwrap());
    /// // Weak comparison: the client's copy is current.
    /// assert_eq!(preconditions.evaluate(&Method::GET, Some(&current)), Evaluation::NotModified);
    /// // No current representation: nothing matches.
    /// assert_eq!(preconditions.evaluate(&Method::GET, None), Evaluation::Proceed);
    /// ```
    pub fn evaluate(&self, method: &Method, current: Option<&Validators>) -> Evaluation {
        let current = current.map(|validators| Current {
            etag: validators.etag().map(EntityTag::as_ref),
            last_modified: validators.last_modified(),
        });
        self.evaluate_current(method, current)
    }

    /// The `If-None-Match` line, when it is the request's one line of it, a
    /// short one, and no `If-Match` or `If-Unmodified-Since` comes first in
    /// the evaluation (§13.2.2; `If-Modified-Since` is ignored beside it):
    /// a browser's or a cache's revalidation, which a match decides at once.
    #[inline(always)]
    pub(crate) fn sole_if_none_match(&self) -> Option<&[u8]> {
        if !self.if_match.is_empty()
            || self.if_unmodified_since.is_some()
            || !self.if_none_match.lines.is_empty()
        {
            return None;
        }
        self.if_none_match.short.as_ref().map(ShortLine::as_bytes)
    }

    /// [`evaluate`](Self::evaluate) with the current validators borrowed, as
    /// read from a response's header; `None` when there is no current
    /// representation.
    pub(crate) fn evaluate_current(
        &self,
        method: &Method,
        current: Option<Current<'_>>,
    ) -> Evaluation {
        let exists = current.is_some();
        let (etag, last_modified) = match &current {
            Some(current) => (current.etag.as_ref(), current.last_modified),
            None => (None, None),
        };
        let last_modified = last_modified.and_then(whole_seconds);

        // Step 1: If-Match, strong comparison.
        if !self.if_match.is_empty() {
            if !entity_tag_list::field_matches(
                self.if_match.iter(),
                exists,
                etag,
                Comparison::Strong,
            ) {
                return Evaluation::PreconditionFailed;
            }
        } else if let (Some(since), Some(modified)) = (self.if_unmodified_since, last_modified) {
            // Step 2: If-Unmodified-Since, only without If-Match and with a known date.
            match whole_seconds(since) {
                Some(since) if modified <= since => {}
                _ => return Evaluation::PreconditionFailed,
            }
        }

        let safe = is_get_or_head(method);
        // Step 3: If-None-Match, weak comparison.
        if !self.if_none_match.is_empty() {
            if entity_tag_list::field_matches(
                self.if_none_match.iter(),
                exists,
                etag,
                Comparison::Weak,
            ) {
                return if safe {
                    Evaluation::NotModified
                } else {
                    Evaluation::PreconditionFailed
                };
            }
        } else if safe {
            // Step 4: If-Modified-Since, GET and HEAD only, without If-None-Match.
            if let (Some(since), Some(modified)) = (self.if_modified_since, last_modified) {
                if whole_seconds(since).is_some_and(|since| modified <= since) {
                    return Evaluation::NotModified;
                }
            }
        }
        Evaluation::Proceed
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use Evaluation::*;

    const T0: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const T0_RFC850: &str = "Sunday, 06-Nov-94 08:49:37 GMT";
    const T0_ASCTIME: &str = "Sun Nov  6 08:49:37 1994";
    const BEFORE_T0: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const AFTER_T0: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    /// The quick check never misses a field `from_headers` reads: a request
    /// it finds nothing in has nothing to evaluate.
    #[test]
    fn the_quick_check_sees_every_precondition_field() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("accept", "*/*"), ("host", "example.com")],
            &[("if-none-match", "\"a\"")],
            &[("if-match", "*")],
            &[("if-modified-since", T0)],
            &[("if-unmodified-since", T0)],
            &[("if-modified-since", "yesterday")],
            &[("if-unmodified-since", T0), ("if-unmodified-since", T0)],
            &[("accept", "*/*"), ("if-none-match", "W/\"b\"")],
        ];
        for fields in cases {
            let mut headers = HeaderMap::new();
            for (name, value) in *fields {
                headers.append(
                    http::header::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            let full = Preconditions::from_headers(&headers);
            let named = headers.keys().any(Preconditions::is_field);
            assert!(named || full.is_empty(), "{fields:?}");
        }
        assert!(Preconditions::is_field(&IF_NONE_MATCH));
        assert!(!Preconditions::is_field(&http::header::RANGE));
        assert!(!Preconditions::is_field(&http::header::IF_RANGE));
    }

    fn t0() -> SystemTime {
        httpdate::parse_http_date(T0).unwrap()
    }

    fn request(fields: &[(&'static str, &str)]) -> Preconditions {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(*name, HeaderValue::from_bytes(value.as_bytes()).unwrap());
        }
        Preconditions::from_headers(&headers)
    }

    fn current(tag: &str) -> Validators {
        Validators::new()
            .with_etag(tag.parse().unwrap())
            .with_last_modified(t0())
    }

    #[test]
    fn no_preconditions_proceed() {
        let pre = request(&[]);
        assert!(pre.is_empty());
        assert_eq!(pre.evaluate(&Method::GET, Some(&current("\"a\""))), Proceed);
        assert_eq!(pre.evaluate(&Method::PUT, None), Proceed);
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let pre = request(&[("if-none-match", "W/\"a\"")]);
        assert_eq!(
            pre.evaluate(&Method::GET, Some(&current("\"a\""))),
            NotModified
        );
        assert_eq!(
            pre.evaluate(&Method::HEAD, Some(&current("W/\"a\""))),
            NotModified
        );
        assert_eq!(pre.evaluate(&Method::GET, Some(&current("\"b\""))), Proceed);
        assert_eq!(
            pre.evaluate(&Method::POST, Some(&current("\"a\""))),
            PreconditionFailed
        );
    }

    #[test]
    fn if_none_match_over_several_lines() {
        let pre = request(&[
            ("if-none-match", "\"x\""),
            ("if-none-match", "\"y\", \"a\""),
        ]);
        assert_eq!(
            pre.evaluate(&Method::GET, Some(&current("\"a\""))),
            NotModified
        );
    }

    /// The lines show as text, however they are kept.
    #[test]
    fn preconditions_debug_shows_the_lines() {
        let long = format!("\"{}\"", "b".repeat(60));
        let pre = request(&[("if-none-match", "\"abc\""), ("if-none-match", &long)]);
        let shown = format!("{pre:?}");
        assert!(
            shown.contains(&format!(
                "if_none_match: [\"\\\"abc\\\"\", \"\\\"{}\\\"\"]",
                "b".repeat(60)
            )),
            "{shown}"
        );
        assert!(shown.contains("if_match: []"), "{shown}");
    }

    /// A line is copied when it is short and the first; any other is kept
    /// as a clone. Every line counts, whichever way it is kept, around the
    /// length where one turns into the other.
    #[test]
    fn field_lines_short_long_and_repeated() {
        let tag = |len: usize| format!("\"{}\"", "a".repeat(len - 2));
        for len in [SHORT_LINE - 1, SHORT_LINE, SHORT_LINE + 1, 200] {
            let matching = tag(len);
            let other = format!("\"{}\"", "b".repeat(len - 2));
            let current = current(&matching);
            let alone = request(&[("if-none-match", &matching)]);
            assert_eq!(alone.if_none_match.short.is_some(), len <= SHORT_LINE);
            assert_eq!(alone.evaluate(&Method::GET, Some(&current)), NotModified);
            let second = request(&[("if-none-match", &other), ("if-none-match", &matching)]);
            assert_eq!(second.evaluate(&Method::GET, Some(&current)), NotModified);
            let neither = request(&[("if-none-match", &other), ("if-none-match", "\"c\"")]);
            assert_eq!(neither.evaluate(&Method::GET, Some(&current)), Proceed);
            let lines: Vec<_> = second.if_none_match.iter().collect();
            assert_eq!(lines, [other.as_bytes(), matching.as_bytes()]);
        }
        // A short line after a long one is the second line, kept in order.
        let long = tag(SHORT_LINE + 10);
        let after = request(&[("if-match", &long), ("if-match", "\"z\"")]);
        let lines: Vec<_> = after.if_match.iter().collect();
        assert_eq!(lines, [long.as_bytes(), b"\"z\"".as_slice()]);
        assert!(after.if_match.short.is_none());
        assert_eq!(
            after.evaluate(&Method::PUT, Some(&current("\"z\""))),
            Proceed
        );
    }

    #[test]
    fn if_none_match_star() {
        let pre = request(&[("if-none-match", "*")]);
        assert_eq!(
            pre.evaluate(&Method::GET, Some(&current("\"a\""))),
            NotModified
        );
        assert_eq!(
            pre.evaluate(&Method::PUT, Some(&current("\"a\""))),
            PreconditionFailed
        );
        assert_eq!(pre.evaluate(&Method::PUT, None), Proceed);
        let mixed = request(&[("if-none-match", "*, \"b\"")]);
        assert_eq!(
            mixed.evaluate(&Method::GET, Some(&current("\"a\""))),
            Proceed
        );
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        let pre = request(&[("if-match", "\"a\"")]);
        assert_eq!(pre.evaluate(&Method::PUT, Some(&current("\"a\""))), Proceed);
        assert_eq!(
            pre.evaluate(&Method::PUT, Some(&current("W/\"a\""))),
            PreconditionFailed
        );
        assert_eq!(
            pre.evaluate(&Method::PUT, Some(&current("\"b\""))),
            PreconditionFailed
        );
        assert_eq!(
            pre.evaluate(&Method::GET, Some(&current("\"b\""))),
            PreconditionFailed
        );
        let weak_request = request(&[("if-match", "W/\"a\"")]);
        assert_eq!(
            weak_request.evaluate(&Method::PUT, Some(&current("\"a\""))),
            PreconditionFailed
        );
    }

    #[test]
    fn if_match_star_needs_a_current_representation() {
        let pre = request(&[("if-match", "*")]);
        assert_eq!(
            pre.evaluate(&Method::PUT, Some(&Validators::new())),
            Proceed
        );
        assert_eq!(pre.evaluate(&Method::PUT, None), PreconditionFailed);
    }

    #[test]
    fn if_match_without_current_etag_fails() {
        let pre = request(&[("if-match", "\"a\"")]);
        assert_eq!(
            pre.evaluate(&Method::PUT, Some(&Validators::new())),
            PreconditionFailed
        );
        assert_eq!(pre.evaluate(&Method::PUT, None), PreconditionFailed);
    }

    #[test]
    fn if_modified_since_in_all_three_formats() {
        for date in [T0, T0_RFC850, T0_ASCTIME, AFTER_T0] {
            let pre = request(&[("if-modified-since", date)]);
            assert_eq!(
                pre.evaluate(&Method::GET, Some(&current("\"a\""))),
                NotModified,
                "{date}"
            );
        }
        let older = request(&[("if-modified-since", BEFORE_T0)]);
        assert_eq!(
            older.evaluate(&Method::GET, Some(&current("\"a\""))),
            Proceed
        );
    }

    #[test]
    fn if_modified_since_is_ignored_when_it_must_be() {
        let with_inm = request(&[("if-modified-since", T0), ("if-none-match", "\"b\"")]);
        assert_eq!(
            with_inm.evaluate(&Method::GET, Some(&current("\"a\""))),
            Proceed
        );
        let post = request(&[("if-modified-since", T0)]);
        assert_eq!(
            post.evaluate(&Method::POST, Some(&current("\"a\""))),
            Proceed
        );
        let no_date = request(&[("if-modified-since", T0)]);
        let tag_only = Validators::new().with_etag("\"a\"".parse().unwrap());
        assert_eq!(no_date.evaluate(&Method::GET, Some(&tag_only)), Proceed);
        for invalid in [
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "",
            "Sun, 06 Nov 1969 08:49:37 GMT",
        ] {
            let pre = request(&[("if-modified-since", invalid)]);
            assert_eq!(
                pre.evaluate(&Method::GET, Some(&current("\"a\""))),
                Proceed,
                "{invalid}"
            );
        }
        let two_lines = request(&[("if-modified-since", T0), ("if-modified-since", T0)]);
        assert_eq!(
            two_lines.evaluate(&Method::GET, Some(&current("\"a\""))),
            Proceed
        );
    }

    #[test]
    fn sub_second_modification_times_compare_by_whole_seconds() {
        let pre = request(&[("if-modified-since", T0)]);
        let late_in_second =
            Validators::new().with_last_modified(t0() + Duration::from_millis(900));
        assert_eq!(
            pre.evaluate(&Method::GET, Some(&late_in_second)),
            NotModified
        );
    }

    #[test]
    fn if_unmodified_since() {
        let pre = request(&[("if-unmodified-since", T0)]);
        assert_eq!(pre.evaluate(&Method::PUT, Some(&current("\"a\""))), Proceed);
        let older = request(&[("if-unmodified-since", BEFORE_T0)]);
        assert_eq!(
            older.evaluate(&Method::PUT, Some(&current("\"a\""))),
            PreconditionFailed
        );
        // Ignored when If-Match is present, when no date is known, when invalid.
        let with_if_match = request(&[("if-unmodified-since", BEFORE_T0), ("if-match", "\"a\"")]);
        assert_eq!(
            with_if_match.evaluate(&Method::PUT, Some(&current("\"a\""))),
            Proceed
        );
        let tag_only = Validators::new().with_etag("\"a\"".parse().unwrap());
        assert_eq!(older.evaluate(&Method::PUT, Some(&tag_only)), Proceed);
        let invalid = request(&[("if-unmodified-since", "not a date")]);
        assert_eq!(
            invalid.evaluate(&Method::PUT, Some(&current("\"a\""))),
            Proceed
        );
    }

    #[test]
    fn order_if_match_before_if_none_match() {
        // If-Match fails first: 412 even though If-None-Match would give 304.
        let pre = request(&[("if-match", "\"b\""), ("if-none-match", "\"a\"")]);
        assert_eq!(
            pre.evaluate(&Method::GET, Some(&current("\"a\""))),
            PreconditionFailed
        );
        // If-Match passes, then If-None-Match decides.
        let pre = request(&[("if-match", "\"a\""), ("if-none-match", "\"a\"")]);
        assert_eq!(
            pre.evaluate(&Method::GET, Some(&current("\"a\""))),
            NotModified
        );
    }

    #[test]
    fn order_if_unmodified_since_before_if_none_match() {
        let pre = request(&[
            ("if-unmodified-since", BEFORE_T0),
            ("if-none-match", "\"a\""),
        ]);
        assert_eq!(
            pre.evaluate(&Method::GET, Some(&current("\"a\""))),
            PreconditionFailed
        );
    }

    #[test]
    fn hostile_dates_never_panic() {
        for date in [
            "Mon, 01 Jan 0001 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "\u{0}\u{1}",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}",
        ] {
            let _ = parse_http_date(date.as_bytes());
        }
        assert!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT\xff").is_none());
    }
}
