//! Range requests (RFC 9110 §14) on a representation the layer holds whole:
//! reading the `Range` field, selecting its ranges against the selected
//! representation's length, and evaluating `If-Range` (§13.1.5). The `206`
//! content is built from the selection by
//! [`partial_content`](crate::partial_content).
//!
//! Pure, like `preconditions`: it reads bytes and returns values.
//!
//! # How the service calls it
//!
//! 1. At request time, only for GET (§14.2: "GET is the only method for
//!    which range handling is defined"): keep [`RangeSet::from_headers`]
//!    (`None` means there is no `Range` to honour) and the `If-Range` lines
//!    (cheap `HeaderValue` clones).
//! 2. When the response is a `200` whose body the layer read whole and
//!    tagged, after §13.2.2 said "proceed" (a `304` or `412` wins over a
//!    range, §13.2.2 step 5): if [`if_range_permits`] is false, send the
//!    `200`. Otherwise call [`respond`](crate::partial_content::respond) with the held chunks, the 200's
//!    `Content-Type` and a [`Boundary`](crate::partial_content::Boundary) made from the tag computed from
//!    those chunks, and send what it says:
//!    - `RangeResponse::Full`: the `200` unchanged;
//!    - `RangeResponse::NotSatisfiable`: `416` with that `Content-Range`
//!      and an empty body;
//!    - `RangeResponse::Partial`: `206` with its pieces as the body, its
//!      length as `Content-Length`, and either its `Content-Range` (one part;
//!      keep the 200's `Content-Type`) or its `multipart/byteranges`
//!      `Content-Type` (several parts; no `Content-Range` in the head,
//!      §15.3.7.2).
//!
//! # Limits
//!
//! A request picks how much work a range costs, so every cost is bounded
//! here (§14.2 and §17.15 warn of many small or overlapping ranges):
//!
//! - Parsing is one pass over the field, stopping as soon as the answer is
//!   known; it keeps at most [`MAX_RANGES`] range-specs, and a field with
//!   more is ignored (a `200`): a server MAY ignore a `Range` field (§14.2).
//! - Overlapping and adjacent ranges are coalesced (§14.2 allows it), so the
//!   parts never repeat a byte: their content totals at most the
//!   representation's length.
//! - A multipart answer longer than the whole representation is not sent:
//!   the `200` is, which is shorter and gives the client all it asked for.
//!   So no `206` is ever longer than the `200` it replaces.
//! - Building the answer is one pass over the chunk list per part (slicing,
//!   not copying), plus a generated header per part.

use std::time::SystemTime;

use http::header::{IF_RANGE, RANGE};
use http::{HeaderMap, HeaderValue};

use crate::entity_tag::{self, EntityTag};
use crate::preconditions::parse_http_date;
use crate::validators::whole_seconds;

/// The most range-specs a `Range` field may hold before the layer ignores it
/// and sends the whole representation.
///
/// Clients that resume or seek ask for one range; document viewers ask for
/// a few dozen at most. The bound keeps the parsed field small and the
/// coalescing sort trivial, whatever the field's length.
pub(crate) const MAX_RANGES: usize = 100;

/// What a GET asked for with `Range` (and `If-Range`), kept from the
/// request until its `200` is held.
///
/// Made only for a GET whose `Range` field is valid: nearly every request
/// has none, and then carries no `RangeRequest` at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeRequest {
    ranges: RangeSet,
    /// The `If-Range` field lines (usually none): cheap clones of the
    /// request's values, evaluated once the current validators are known.
    if_range: Vec<HeaderValue>,
}

impl RangeRequest {
    /// The request's range; `None` when `Range` is absent or to be ignored
    /// (§14.2).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let ranges = RangeSet::from_headers(headers)?;
        let if_range = headers.get_all(IF_RANGE).iter().cloned().collect();
        Some(Self { ranges, if_range })
    }

    /// The ranges asked for.
    pub(crate) fn ranges(&self) -> &RangeSet {
        &self.ranges
    }

    /// Whether the request carries `If-Range` (§13.1.5).
    pub(crate) fn has_if_range(&self) -> bool {
        !self.if_range.is_empty()
    }

    /// [`if_range_permits`] for this request's `If-Range` lines.
    pub(crate) fn if_range_permits(
        &self,
        etag: Option<&EntityTag>,
        last_modified: Option<SystemTime>,
        date: Option<SystemTime>,
    ) -> bool {
        if_range_permits(&self.if_range, etag, last_modified, date)
    }
}

/// One range-spec of the `bytes` unit (RFC 9110 §14.1.2), as received.
///
/// Positions too large for a `u64` are read as `u64::MAX`: no representation
/// is that long, so a first-pos that large is unsatisfiable, and a last-pos
/// or suffix-length that large reaches the end, which is what they mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeSpec {
    /// `int-range = first-pos "-" [ last-pos ]`.
    Int {
        first_pos: u64,
        last_pos: Option<u64>,
    },
    /// `suffix-range = "-" suffix-length`: the last `suffix_length` bytes.
    Suffix { suffix_length: u64 },
}

/// A valid `Range` field of the `bytes` unit: between one and
/// [`MAX_RANGES`] range-specs, in the order received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeSet {
    specs: Vec<RangeSpec>,
}

/// A satisfiable range, resolved against the representation: bytes
/// `first..=last`, with `first <= last < length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRange {
    first: u64,
    last: u64,
}

impl ByteRange {
    /// The first byte's position.
    #[inline]
    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    /// The last byte's position (inclusive, as in `Content-Range`).
    #[inline]
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// How many bytes the range holds (never zero).
    pub(crate) fn len(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// What a [`RangeSet`] selects in a representation of a given length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// Send the whole representation (`200`): the representation is empty
    /// and a suffix-range is satisfiable, yet selects no byte that a
    /// `Content-Range` could name (§14.1.2, §14.4).
    Whole,
    /// No range-spec is satisfiable: `416` (§15.5.17).
    Unsatisfiable,
    /// The satisfiable ranges, coalesced where they overlap or touch, in the
    /// order the request listed them (§15.3.7.2); never empty.
    Ranges(Vec<ByteRange>),
}

impl RangeSet {
    /// Reads the request's `Range` field. `None` when there is none, or it is
    /// to be ignored: another unit, a malformed or too long list, or more
    /// than one field line.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Self::from_lines(headers.get_all(RANGE))
    }

    /// Reads a `Range` field given as its field lines.
    ///
    /// `Range` is not a list-based field (its value is one
    /// `ranges-specifier`), so a sender must not split it over several
    /// lines (§5.3); a request that does is malformed, and its `Range` is
    /// ignored rather than guessed at.
    pub(crate) fn from_lines<'a>(lines: impl IntoIterator<Item = &'a HeaderValue>) -> Option<Self> {
        let mut lines = lines.into_iter();
        let only = lines.next()?;
        if lines.next().is_some() {
            return None;
        }
        Self::parse(only.as_bytes())
    }

    /// Parses one `Range` field value (§14.1.1): `bytes=` (the unit is
    /// case-insensitive, §14.1) and a list of range-specs.
    ///
    /// Any invalid range-spec makes the whole field invalid (§14.1.1), and an
    /// invalid field is ignored (§14.2). List elements may be empty and
    /// surrounded by optional whitespace (§5.6.1); whitespace right after
    /// `=` is accepted too, as other servers do, since it changes nothing.
    pub(crate) fn parse(value: &[u8]) -> Option<Self> {
        let equals = value.iter().position(|&b| b == b'=')?;
        if !value[..equals].eq_ignore_ascii_case(b"bytes") {
            return None;
        }
        let mut specs = Vec::new();
        for element in value[equals + 1..].split(|&b| b == b',') {
            let element = trim_ows(element);
            if element.is_empty() {
                continue;
            }
            if specs.len() == MAX_RANGES {
                return None;
            }
            specs.push(parse_spec(element)?);
        }
        // `range-set = 1#range-spec`: at least one.
        if specs.is_empty() {
            return None;
        }
        Some(Self { specs })
    }

    /// The range-specs, in the order received.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn specs(&self) -> &[RangeSpec] {
        &self.specs
    }

    /// Selects the ranges in a representation of `length` bytes (§14.1.2):
    /// a last-pos past the end stops at the end, a suffix longer than the
    /// representation is all of it, a first-pos at or past the end is
    /// unsatisfiable and dropped, and what remains is coalesced.
    pub(crate) fn select(&self, length: u64) -> Selection {
        if length == 0 {
            let suffix = self.specs.iter().any(
                |spec| matches!(spec, RangeSpec::Suffix { suffix_length } if *suffix_length > 0),
            );
            return if suffix {
                Selection::Whole
            } else {
                Selection::Unsatisfiable
            };
        }
        let resolved: Vec<ByteRange> = self
            .specs
            .iter()
            .filter_map(|spec| spec.resolve(length))
            .collect();
        if resolved.is_empty() {
            return Selection::Unsatisfiable;
        }
        Selection::Ranges(coalesce(resolved))
    }
}

impl RangeSpec {
    /// The bytes this range-spec selects in a non-empty representation, or
    /// `None` when it is unsatisfiable there (§14.1.2).
    fn resolve(&self, length: u64) -> Option<ByteRange> {
        debug_assert!(length > 0);
        let last_byte = length - 1;
        match *self {
            RangeSpec::Int {
                first_pos,
                last_pos,
            } => (first_pos < length).then(|| ByteRange {
                first: first_pos,
                last: last_pos.map_or(last_byte, |last| last.min(last_byte)),
            }),
            RangeSpec::Suffix { suffix_length } => (suffix_length > 0).then(|| ByteRange {
                first: length - suffix_length.min(length),
                last: last_byte,
            }),
        }
    }
}

/// Merges ranges that overlap or touch (§14.2: a server MAY coalesce them),
/// keeping the parts in the order of the first range-spec that reached each
/// (§15.3.7.2: "in the same order that the corresponding range-spec
/// appeared", less those "coalesced into other ranges").
fn coalesce(mut ranges: Vec<ByteRange>) -> Vec<ByteRange> {
    if ranges.len() == 1 {
        return ranges;
    }
    // (range, index of its earliest range-spec), by position.
    let mut by_position: Vec<(ByteRange, usize)> = ranges.drain(..).zip(0..).collect();
    by_position.sort_unstable_by_key(|(range, index)| (range.first, *index));
    let mut merged: Vec<(ByteRange, usize)> = Vec::with_capacity(by_position.len());
    for (range, index) in by_position {
        match merged.last_mut() {
            // `last < length <= u64::MAX`, so `last + 1` cannot overflow.
            Some((open, earliest)) if range.first <= open.last + 1 => {
                open.last = open.last.max(range.last);
                *earliest = (*earliest).min(index);
            }
            _ => merged.push((range, index)),
        }
    }
    merged.sort_unstable_by_key(|(_, earliest)| *earliest);
    ranges.extend(merged.into_iter().map(|(range, _)| range));
    ranges
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn is_digits(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit)
}

/// The value of `1*DIGIT`, saturating at `u64::MAX` (see [`RangeSpec`]).
fn saturating_number(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })
}

/// Whether decimal `a` is less than decimal `b`, exactly, at any length: the
/// validity of an int-range must not depend on where `u64` saturates.
fn digits_less(a: &[u8], b: &[u8]) -> bool {
    fn strip(digits: &[u8]) -> &[u8] {
        let zeros = digits.iter().take_while(|&&d| d == b'0').count();
        &digits[zeros..]
    }
    let (a, b) = (strip(a), strip(b));
    (a.len(), a) < (b.len(), b)
}

/// One range-spec of the `bytes` unit; `None` when it is anything else
/// (`other-range` is not defined for bytes, so it is invalid, §14.1.1).
fn parse_spec(element: &[u8]) -> Option<RangeSpec> {
    let dash = element.iter().position(|&b| b == b'-')?;
    let (first, last) = (&element[..dash], &element[dash + 1..]);
    if first.is_empty() {
        return is_digits(last).then(|| RangeSpec::Suffix {
            suffix_length: saturating_number(last),
        });
    }
    if !is_digits(first) {
        return None;
    }
    let last_pos = if last.is_empty() {
        None
    } else {
        // §14.1.2: "invalid if the last-pos value is present and less than
        // the first-pos".
        if !is_digits(last) || digits_less(last, first) {
            return None;
        }
        Some(saturating_number(last))
    };
    Some(RangeSpec::Int {
        first_pos: saturating_number(first),
        last_pos,
    })
}

/// Whether an `If-Range` field (§13.1.5) lets the range through: `true`
/// when there is no `If-Range`, or its validator matches the current one.
///
/// - An entity-tag matches only when it is strong and equal to the current
///   tag, which must be strong too (strong comparison, §8.8.3.2).
/// - An HTTP-date matches only when it equals `last_modified` and that date
///   is a strong validator (§13.1.5 step 1). The server cannot know whether
///   the representation changed twice within that second, so it uses the
///   test §8.8.2.2 gives: `date` (the response's `Date`, or the time it is
///   sent when it has none) is at least one second later. With no `date`,
///   a date never matches.
/// - Several lines, or a value that is neither, never match (the field's
///   value is one validator).
///
/// When it does not match, the server MUST ignore `Range` and send the
/// whole representation (§13.1.5). The caller evaluates `If-Range` only
/// when the request has a `Range` field (§13.1.5: a server MUST ignore
/// `If-Range` without one).
pub(crate) fn if_range_permits<'a>(
    lines: impl IntoIterator<Item = &'a HeaderValue>,
    etag: Option<&EntityTag>,
    last_modified: Option<SystemTime>,
    date: Option<SystemTime>,
) -> bool {
    let mut lines = lines.into_iter();
    let Some(line) = lines.next() else {
        return true;
    };
    if lines.next().is_some() {
        return false;
    }
    let value = trim_ows(line.as_bytes());
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        let (Some(sent), Some(current)) = (entity_tag::parse_tag(value), etag) else {
            return false;
        };
        return sent.strong_eq(&current.as_ref());
    }
    let (Some(sent), Some(modified), Some(date)) = (
        parse_http_date(value).and_then(whole_seconds),
        last_modified.and_then(whole_seconds),
        date.and_then(whole_seconds),
    ) else {
        return false;
    };
    sent == modified && date > modified
}

/// The parser and the builder for the fuzz targets in `fuzz/`, which see
/// only the public API: plain types over this module's, compiled only with
/// `--cfg fuzzing` (as `cargo fuzz` builds), never part of the crate's API.
#[cfg(fuzzing)]
pub mod fuzzing {
    use std::time::SystemTime;

    use http::HeaderValue;

    use crate::EntityTag;

    /// See `range::MAX_RANGES`.
    pub const MAX_RANGES: usize = super::MAX_RANGES;

    /// A range-spec as parsed.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Spec {
        /// `first-pos "-" [ last-pos ]`, saturated at `u64::MAX`.
        Int(u64, Option<u64>),
        /// `"-" suffix-length`, saturated at `u64::MAX`.
        Suffix(u64),
    }

    /// What a valid field selects.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Selected {
        /// The whole representation (a `200`).
        Whole,
        /// A `416`.
        Unsatisfiable,
        /// Inclusive `(first, last)` pairs, in the order sent.
        Ranges(Vec<(u64, u64)>),
    }

    /// Parses one `Range` field line; `None` when it is to be ignored.
    pub fn parse(value: &[u8]) -> Option<Vec<Spec>> {
        let set = super::RangeSet::parse(value)?;
        Some(
            set.specs()
                .iter()
                .map(|spec| match *spec {
                    super::RangeSpec::Int {
                        first_pos,
                        last_pos,
                    } => Spec::Int(first_pos, last_pos),
                    super::RangeSpec::Suffix { suffix_length } => Spec::Suffix(suffix_length),
                })
                .collect(),
        )
    }

    /// Parses the field lines and selects against `length`.
    pub fn select(lines: &[HeaderValue], length: u64) -> Option<Selected> {
        let set = super::RangeSet::from_lines(lines)?;
        Some(match set.select(length) {
            super::Selection::Whole => Selected::Whole,
            super::Selection::Unsatisfiable => Selected::Unsatisfiable,
            super::Selection::Ranges(ranges) => {
                Selected::Ranges(ranges.iter().map(|r| (r.first(), r.last())).collect())
            }
        })
    }

    /// See `range::if_range_permits`.
    pub fn if_range_permits(
        lines: &[HeaderValue],
        etag: Option<&EntityTag>,
        last_modified: Option<SystemTime>,
        date: Option<SystemTime>,
    ) -> bool {
        super::if_range_permits(lines, etag, last_modified, date)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    // The request side and the answer side are tested together: every
    // answer is checked against the ranges it was parsed from.
    use crate::partial_content::*;

    fn parse(value: &str) -> Option<RangeSet> {
        RangeSet::parse(value.as_bytes())
    }

    fn select(value: &str, length: u64) -> Selection {
        parse(value).expect("a valid Range").select(length)
    }

    fn ranges(pairs: &[(u64, u64)]) -> Selection {
        Selection::Ranges(
            pairs
                .iter()
                .map(|&(first, last)| ByteRange { first, last })
                .collect(),
        )
    }

    fn int(first_pos: u64, last_pos: Option<u64>) -> RangeSpec {
        RangeSpec::Int {
            first_pos,
            last_pos,
        }
    }

    fn body(length: usize) -> Vec<u8> {
        (0..length).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Cuts `data` into chunks at the given points.
    fn chunked(data: &[u8], cuts: &[usize]) -> Vec<Bytes> {
        let mut points: Vec<usize> = cuts.iter().map(|&c| c % (data.len() + 1)).collect();
        points.extend([0, data.len()]);
        points.sort_unstable();
        points
            .windows(2)
            .map(|w| Bytes::copy_from_slice(&data[w[0]..w[1]]))
            .collect()
    }

    fn concat(pieces: &[Bytes]) -> Vec<u8> {
        pieces.iter().flat_map(|p| p.iter().copied()).collect()
    }

    fn boundary() -> Boundary {
        Boundary::for_content_tag(&EntityTag::from_content(b"test"))
    }

    /// Reads a multipart/byteranges body as a client does: by searching for
    /// the delimiter, then reading each part's header section.
    /// Returns (Content-Type, Content-Range, content) of each part.
    fn parse_multipart(body: &[u8], boundary: &[u8]) -> Vec<(Option<String>, String, Vec<u8>)> {
        let dash_boundary = [b"--".as_slice(), boundary].concat();
        let delimiter = [b"\r\n".as_slice(), &dash_boundary].concat();
        let rest = body
            .strip_prefix(dash_boundary.as_slice())
            .expect("starts with the dash-boundary");
        let mut rest = rest.strip_prefix(b"\r\n").expect("CRLF after it");
        let mut parts = Vec::new();
        loop {
            let at = rest
                .windows(delimiter.len())
                .position(|w| w == delimiter.as_slice())
                .expect("a delimiter ends every part");
            let part = &rest[..at];
            let head_end = part
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("a header section");
            let head = std::str::from_utf8(&part[..head_end]).unwrap();
            let mut content_type = None;
            let mut content_range = None;
            for line in head.split("\r\n") {
                let (name, value) = line.split_once(": ").unwrap();
                match name {
                    "Content-Type" => content_type = Some(value.to_owned()),
                    "Content-Range" => content_range = Some(value.to_owned()),
                    other => panic!("unexpected part field {other}"),
                }
            }
            parts.push((
                content_type,
                content_range.expect("every part has a Content-Range"),
                part[head_end + 4..].to_vec(),
            ));
            let after = &rest[at + delimiter.len()..];
            if let Some(end) = after.strip_prefix(b"--") {
                assert_eq!(end, b"\r\n", "nothing after the close-delimiter");
                return parts;
            }
            rest = after.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        }
    }

    #[test]
    fn rfc_examples_for_a_10000_byte_representation() {
        // §14.1.2.
        assert_eq!(select("bytes=0-499", 10000), ranges(&[(0, 499)]));
        assert_eq!(select("bytes=500-999", 10000), ranges(&[(500, 999)]));
        assert_eq!(select("bytes=-500", 10000), ranges(&[(9500, 9999)]));
        assert_eq!(select("bytes=9500-", 10000), ranges(&[(9500, 9999)]));
        assert_eq!(
            select("bytes=0-0,-1", 10000),
            ranges(&[(0, 0), (9999, 9999)])
        );
        // Adjacent and overlapping ranges are coalesced (§14.2).
        assert_eq!(
            select("bytes=500-600,601-999", 10000),
            ranges(&[(500, 999)])
        );
        assert_eq!(
            select("bytes=500-700,601-999", 10000),
            ranges(&[(500, 999)])
        );
    }

    #[test]
    fn rfc_content_range_examples() {
        // §14.4.
        let range = ByteRange {
            first: 42,
            last: 1233,
        };
        assert_eq!(content_range(range, 1234), "bytes 42-1233/1234");
        assert_eq!((range.first(), range.last(), range.len()), (42, 1233, 1192));
        assert_eq!(content_range_unsatisfied(1234), "bytes */1234");
        // §15.3.7.1.
        let range = ByteRange {
            first: 21010,
            last: 47021,
        };
        assert_eq!(content_range(range, 47022), "bytes 21010-47021/47022");
    }

    #[test]
    fn rfc_multipart_example_shape() {
        // §14.6: two ranges of an 8000-byte PDF.
        let data = body(8000);
        let chunks = chunked(&data, &[300, 4000, 7500]);
        let pdf = HeaderValue::from_static("application/pdf");
        let boundary = boundary();
        let set = parse("bytes=500-999,7000-7999").unwrap();
        let RangeResponse::Partial(partial) = respond(&set, &chunks, Some(&pdf), &boundary) else {
            panic!("a 206");
        };
        let PartialKind::Multipart { content_type } = &partial.kind else {
            panic!("multipart");
        };
        let b = std::str::from_utf8(boundary.as_bytes()).unwrap();
        assert_eq!(content_type, &format!("multipart/byteranges; boundary={b}"));
        let mut expected = Vec::new();
        expected.extend_from_slice(
            format!("--{b}\r\nContent-Type: application/pdf\r\nContent-Range: bytes 500-999/8000\r\n\r\n").as_bytes(),
        );
        expected.extend_from_slice(&data[500..1000]);
        expected.extend_from_slice(
            format!("\r\n--{b}\r\nContent-Type: application/pdf\r\nContent-Range: bytes 7000-7999/8000\r\n\r\n").as_bytes(),
        );
        expected.extend_from_slice(&data[7000..8000]);
        expected.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        assert_eq!(concat(&partial.pieces), expected);
        assert_eq!(partial.length, expected.len() as u64);
        let parts = parse_multipart(&expected, boundary.as_bytes());
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].2, &data[7000..8000]);
    }

    #[test]
    fn the_unit_is_case_insensitive_and_must_be_bytes() {
        assert!(parse("Bytes=0-1").is_some());
        assert!(parse("BYTES=0-1").is_some());
        for other in [
            "items=0-1",
            "byte=0-1",
            "bytess=0-1",
            "=0-1",
            "bytes 0-1",
            "bytes =0-1",
            "0-1",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    #[test]
    fn lists_take_ows_and_empty_elements() {
        let expected = [int(0, Some(1)), RangeSpec::Suffix { suffix_length: 5 }];
        for value in [
            "bytes=0-1,-5",
            "bytes=0-1, -5",
            "bytes=0-1 ,\t-5",
            "bytes=,0-1,,-5,",
            "bytes= 0-1,-5 ",
            "bytes=, ,0-1, , -5",
        ] {
            assert_eq!(parse(value).unwrap().specs(), expected, "{value:?}");
        }
        assert_eq!(parse("bytes=0000-0001").unwrap().specs(), [int(0, Some(1))]);
        assert_eq!(parse("bytes=7-").unwrap().specs(), [int(7, None)]);
    }

    #[test]
    fn malformed_fields_are_ignored() {
        for value in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes= , ",
            "bytes=-",
            "bytes=--1",
            "bytes=1-0",
            "bytes=abc",
            "bytes=1-2-3",
            "bytes=1 -2",
            "bytes=1- 2",
            "bytes=0-1;q=1",
            "bytes=+1-2",
            "bytes=0x1-2",
            "bytes=1-2,junk",
            "bytes=0-1 2-3",
            "bytes=-1-2",
            "bytes=0-1,bytes=2-3",
            "bytes=\u{661}-2",
            "bytes=0-1,\u{e9}",
        ] {
            assert_eq!(parse(value), None, "{value:?}");
        }
        assert_eq!(RangeSet::parse(b"bytes=0-1\xff"), None);
        assert_eq!(RangeSet::parse(b"bytes=\x000-1"), None);
    }

    #[test]
    fn several_field_lines_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.append(RANGE, HeaderValue::from_static("bytes=0-1"));
        assert!(RangeSet::from_headers(&headers).is_some());
        headers.append(RANGE, HeaderValue::from_static("bytes=2-3"));
        assert_eq!(RangeSet::from_headers(&headers), None);
        assert_eq!(RangeSet::from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn numbers_too_large_for_u64() {
        let huge = "99999999999999999999999";
        // A first-pos past any length: valid, never satisfiable.
        let set = parse(&format!("bytes={huge}-")).unwrap();
        assert_eq!(set.specs(), [int(u64::MAX, None)]);
        assert_eq!(set.select(10), Selection::Unsatisfiable);
        assert_eq!(set.select(u64::MAX), Selection::Unsatisfiable);
        // A last-pos or suffix-length past any length reaches the end.
        assert_eq!(select(&format!("bytes=3-{huge}"), 10), ranges(&[(3, 9)]));
        assert_eq!(select(&format!("bytes=-{huge}"), 10), ranges(&[(0, 9)]));
        // Validity compares the numbers exactly, past where u64 saturates.
        assert_eq!(parse(&format!("bytes={huge}9-{huge}")), None);
        assert_eq!(
            parse("bytes=18446744073709551617-18446744073709551616"),
            None
        );
        assert!(parse("bytes=18446744073709551616-18446744073709551617").is_some());
        assert!(parse(&format!("bytes=00{huge}-{huge}")).is_some());
        assert_eq!(
            parse(&format!("bytes={huge}-00{huge}0"))
                .unwrap()
                .specs()
                .len(),
            1
        );
        assert_eq!(parse("bytes=10-09"), None);
        assert!(parse("bytes=09-10").is_some());
        assert!(parse("bytes=5-5").is_some());
        assert_eq!(
            parse("bytes=18446744073709551615-18446744073709551614"),
            None
        );
    }

    #[test]
    fn selection_clamps_and_drops() {
        assert_eq!(select("bytes=5-100", 10), ranges(&[(5, 9)]));
        assert_eq!(select("bytes=9-9", 10), ranges(&[(9, 9)]));
        assert_eq!(select("bytes=10-", 10), Selection::Unsatisfiable);
        assert_eq!(select("bytes=10-20,-0", 10), Selection::Unsatisfiable);
        assert_eq!(select("bytes=-0", 10), Selection::Unsatisfiable);
        assert_eq!(select("bytes=-10", 10), ranges(&[(0, 9)]));
        assert_eq!(select("bytes=-11", 10), ranges(&[(0, 9)]));
        assert_eq!(select("bytes=-1", 1), ranges(&[(0, 0)]));
        // An unsatisfiable range-spec among satisfiable ones is dropped.
        assert_eq!(select("bytes=50-60,2-3", 10), ranges(&[(2, 3)]));
    }

    #[test]
    fn an_empty_representation() {
        // §14.1.2: only a suffix-range with a non-zero suffix-length is
        // satisfiable, and it selects nothing a Content-Range can name.
        assert_eq!(select("bytes=-5", 0), Selection::Whole);
        assert_eq!(select("bytes=0-5,-1", 0), Selection::Whole);
        assert_eq!(select("bytes=0-5", 0), Selection::Unsatisfiable);
        assert_eq!(select("bytes=0-", 0), Selection::Unsatisfiable);
        assert_eq!(select("bytes=-0", 0), Selection::Unsatisfiable);
        let set = parse("bytes=-5").unwrap();
        assert_eq!(respond(&set, &[], None, &boundary()), RangeResponse::Full);
        let set = parse("bytes=0-").unwrap();
        assert_eq!(
            respond(&set, &[Bytes::new()], None, &boundary()),
            RangeResponse::NotSatisfiable {
                content_range: HeaderValue::from_static("bytes */0")
            }
        );
    }

    #[test]
    fn coalesced_parts_keep_the_order_of_the_request() {
        assert_eq!(
            select("bytes=500-599,0-99", 1000),
            ranges(&[(500, 599), (0, 99)])
        );
        // 50-60 and 55-100 merge, 0-10 and 5-20 merge; each group sits where
        // its first range-spec was.
        assert_eq!(
            select("bytes=50-60,0-10,55-100,5-20", 1000),
            ranges(&[(50, 100), (0, 20)])
        );
        assert_eq!(
            select("bytes=0-10,50-60,5-20,55-100", 1000),
            ranges(&[(0, 20), (50, 100)])
        );
        // A group sits where its earliest range-spec was, even when that one
        // is not the group's lowest: 95-99 (third) and 100-110 (first) merge.
        assert_eq!(
            select("bytes=100-110,0-10,95-99,20-30", 1000),
            ranges(&[(95, 110), (0, 10), (20, 30)])
        );
        // Touching: 0-9 and 10-19 are one range; 0-9 and 11-19 are two.
        assert_eq!(select("bytes=10-19,0-9", 100), ranges(&[(0, 19)]));
        assert_eq!(select("bytes=11-19,0-9", 100), ranges(&[(11, 19), (0, 9)]));
        // A range inside another.
        assert_eq!(select("bytes=20-30,0-99,40-50", 100), ranges(&[(0, 99)]));
        assert_eq!(select("bytes=0-0,0-0,0-0", 100), ranges(&[(0, 0)]));
        // Suffixes merge like the others.
        assert_eq!(select("bytes=-10,85-89", 100), ranges(&[(85, 99)]));
    }

    #[test]
    fn at_most_max_ranges() {
        let field = |count: usize| {
            let specs: Vec<String> = (0..count).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
            format!("bytes={}", specs.join(","))
        };
        assert_eq!(parse(&field(MAX_RANGES)).unwrap().specs().len(), MAX_RANGES);
        assert_eq!(parse(&field(MAX_RANGES + 1)), None);
        // Empty elements do not count.
        let padded = format!("{},,,,", field(MAX_RANGES));
        assert!(parse(&padded).is_some());
    }

    #[test]
    fn hostile_fields() {
        // 10^5 ranges: ignored, after reading only the first MAX_RANGES + 1.
        let many: Vec<String> = (0..100_000).map(|i| format!("{i}-{i}")).collect();
        assert_eq!(parse(&format!("bytes={}", many.join(","))), None);
        // A megabyte of separators, of one number, of whitespace.
        let commas = format!("bytes={}0-1", ",".repeat(1 << 20));
        assert!(parse(&commas).is_some());
        let digits = format!("bytes={}-", "9".repeat(1 << 20));
        assert_eq!(parse(&digits).unwrap().specs(), [int(u64::MAX, None)]);
        let spaces = format!("bytes={}", " \t".repeat(1 << 19));
        assert_eq!(parse(&spaces), None);
        // A megabyte of "=" and of "-".
        assert_eq!(parse(&"=".repeat(1 << 20)), None);
        assert_eq!(parse(&format!("bytes={}", "-".repeat(1 << 20))), None);
    }

    #[test]
    fn overlapping_ranges_cost_no_more_than_one() {
        // §14.2 names "more than two overlapping ranges" as a likely attack;
        // coalesced, they are one range of the body.
        let data = body(10_000);
        let chunks = chunked(&data, &[1234, 5678]);
        let field = format!("bytes={}", vec!["0-"; MAX_RANGES].join(","));
        let set = parse(&field).unwrap();
        let RangeResponse::Partial(partial) = respond(&set, &chunks, None, &boundary()) else {
            panic!("a 206");
        };
        assert!(matches!(partial.kind, PartialKind::Single { .. }));
        assert_eq!(concat(&partial.pieces), data);
        // Descending, overlapping, growing ranges: still one.
        let specs: Vec<String> = (0..MAX_RANGES)
            .rev()
            .map(|i| format!("{i}-{}", i * 50))
            .collect();
        let set = parse(&format!("bytes={}", specs.join(","))).unwrap();
        assert_eq!(set.select(10_000), ranges(&[(0, 4950)]));
    }

    #[test]
    fn many_small_ranges_get_the_whole_representation() {
        // One-byte ranges with gaps, descending: each part costs a header of
        // some 80 bytes, so the multipart answer would outgrow the body.
        let data = body(1000);
        let chunks = chunked(&data, &[10, 500]);
        let specs: Vec<String> = (0..MAX_RANGES)
            .rev()
            .map(|i| format!("{0}-{0}", i * 3))
            .collect();
        let set = parse(&format!("bytes={}", specs.join(","))).unwrap();
        assert_eq!(set.select(1000).clone(), {
            let pairs: Vec<(u64, u64)> = (0..MAX_RANGES as u64)
                .rev()
                .map(|i| (i * 3, i * 3))
                .collect();
            ranges(&pairs)
        });
        assert_eq!(
            respond(&set, &chunks, None, &boundary()),
            RangeResponse::Full
        );
        // The same field on a larger body fits, and is sent.
        let data = body(100_000);
        let chunks = chunked(&data, &[10, 500, 99_999]);
        let RangeResponse::Partial(partial) = respond(&set, &chunks, None, &boundary()) else {
            panic!("a 206");
        };
        assert!(partial.length <= data.len() as u64);
        let parts = parse_multipart(&concat(&partial.pieces), boundary().as_bytes());
        assert_eq!(parts.len(), MAX_RANGES);
        assert_eq!(
            parts[0].1,
            format!("bytes {0}-{0}/100000", (MAX_RANGES - 1) * 3)
        );
    }

    #[test]
    fn the_multipart_limit_is_the_whole_length() {
        let data = body(1000);
        let chunks = [Bytes::from(data.clone())];
        let boundary = boundary();
        // Find, by growing the second range, where the multipart answer
        // reaches the length of the whole: up to it a 206, past it the 200.
        let mut sizes = Vec::new();
        for last in 100..999 {
            let set = parse(&format!("bytes=0-9,20-{last}")).unwrap();
            match respond(&set, &chunks, None, &boundary) {
                RangeResponse::Partial(partial) => {
                    assert!(partial.length <= 1000);
                    sizes.push(partial.length);
                }
                RangeResponse::Full => {
                    // Each step adds one byte: the last 206 is exactly as
                    // long as the whole, the next would be longer.
                    assert_eq!(sizes.last(), Some(&1000));
                    return;
                }
                other => panic!("{other:?}"),
            }
        }
        panic!("the limit was never reached");
    }

    #[test]
    fn single_range_slices_across_chunks_without_copying() {
        let data = body(100);
        let chunks = chunked(&data, &[10, 20, 20, 55]);
        let set = parse("bytes=5-60").unwrap();
        let RangeResponse::Partial(partial) = respond(&set, &chunks, None, &boundary()) else {
            panic!("a 206");
        };
        assert_eq!(
            partial.kind,
            PartialKind::Single {
                content_range: HeaderValue::from_static("bytes 5-60/100")
            }
        );
        assert_eq!(partial.length, 56);
        assert_eq!(concat(&partial.pieces), &data[5..61]);
        // Four slices, 5..10, 10..20, 20..55 and 55..61, each a view into
        // its chunk; the empty chunk at 20 gives none.
        assert_eq!(chunks.len(), 5);
        assert_eq!(partial.pieces.len(), 4);
        let held = chunks[4].as_ptr() as usize;
        assert_eq!(partial.pieces[3].as_ptr() as usize, held);
        assert_eq!(
            partial.pieces[0].as_ptr() as usize,
            chunks[0].as_ptr() as usize + 5
        );
    }

    #[test]
    fn unsatisfiable_is_a_416() {
        let chunks = [Bytes::from_static(b"0123456789")];
        let set = parse("bytes=10-,20-30").unwrap();
        assert_eq!(
            respond(&set, &chunks, None, &boundary()),
            RangeResponse::NotSatisfiable {
                content_range: HeaderValue::from_static("bytes */10")
            }
        );
    }

    #[test]
    fn parts_carry_the_content_type_only_when_the_200_had_one() {
        let data = body(5000);
        let chunks = [Bytes::from(data.clone())];
        let set = parse("bytes=0-999,-1000").unwrap();
        let text = HeaderValue::from_static("text/csv; charset=utf-8");
        for content_type in [None, Some(&text)] {
            let RangeResponse::Partial(partial) = respond(&set, &chunks, content_type, &boundary())
            else {
                panic!("a 206");
            };
            let parts = parse_multipart(&concat(&partial.pieces), boundary().as_bytes());
            assert_eq!(parts.len(), 2);
            for (part_type, _, _) in &parts {
                assert_eq!(
                    part_type.as_deref(),
                    content_type.map(|v| v.to_str().unwrap())
                );
            }
            assert_eq!(parts[0].1, "bytes 0-999/5000");
            assert_eq!(parts[1].1, "bytes 4000-4999/5000");
            assert_eq!(parts[1].2, &data[4000..]);
        }
    }

    #[test]
    fn the_boundary_follows_the_tag() {
        let a = Boundary::for_content_tag(&EntityTag::from_content(b"a"));
        let b = Boundary::for_content_tag(&EntityTag::from_content(b"b"));
        assert_ne!(a, b);
        assert_eq!(a, Boundary::for_content_tag(&EntityTag::from_content(b"a")));
        // The weak form of the same tag is another tag, so another boundary.
        let weak = Boundary::for_content_tag(&EntityTag::from_content(b"a").into_weak());
        assert_ne!(a, weak);
        assert_eq!(a.as_bytes().len(), 22);
        assert!(a
            .as_bytes()
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        // Not the tag itself: a tag seen elsewhere does not give it away
        // as an obvious string.
        let tag = EntityTag::from_content(b"a");
        assert_ne!(a.as_bytes(), tag.opaque().as_bytes());
        let content_type = a.content_type();
        assert!(content_type
            .to_str()
            .unwrap()
            .starts_with("multipart/byteranges; boundary="));
    }

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn permits(
        lines: &[&'static str],
        etag: Option<&EntityTag>,
        modified: Option<SystemTime>,
        date: Option<SystemTime>,
    ) -> bool {
        let values: Vec<HeaderValue> = lines.iter().map(|l| HeaderValue::from_static(l)).collect();
        if_range_permits(&values, etag, modified, date)
    }

    #[test]
    fn if_range_with_entity_tags() {
        let strong = EntityTag::strong("xyzzy").unwrap();
        let weak = EntityTag::weak("xyzzy").unwrap();
        let now = Some(t(1_000_000));
        assert!(permits(&[], Some(&strong), None, now));
        assert!(permits(&[], None, None, None));
        assert!(permits(&["\"xyzzy\""], Some(&strong), None, now));
        assert!(permits(&[" \"xyzzy\" "], Some(&strong), None, now));
        // Never a range against a weak tag, on either side (§13.1.5).
        assert!(!permits(&["W/\"xyzzy\""], Some(&strong), None, now));
        assert!(!permits(&["\"xyzzy\""], Some(&weak), None, now));
        assert!(!permits(&["W/\"xyzzy\""], Some(&weak), None, now));
        assert!(!permits(&["\"other\""], Some(&strong), None, now));
        assert!(!permits(&["\"xyzzy\""], None, None, now));
        assert!(!permits(&["\"XYZZY\""], Some(&strong), None, now));
        // One validator only: a list, several lines, junk.
        assert!(!permits(
            &["\"xyzzy\", \"xyzzy\""],
            Some(&strong),
            None,
            now
        ));
        assert!(!permits(
            &["\"xyzzy\"", "\"xyzzy\""],
            Some(&strong),
            None,
            now
        ));
        assert!(!permits(&["\"xyzzy"], Some(&strong), None, now));
        assert!(!permits(&["xyzzy"], Some(&strong), None, now));
        assert!(!permits(&["*"], Some(&strong), None, now));
        assert!(!permits(&[""], Some(&strong), None, now));
    }

    #[test]
    fn if_range_with_dates() {
        // Sun, 06 Nov 1994 08:49:37 GMT (§5.6.7).
        let modified = t(784_111_777);
        let tag = EntityTag::from_content(b"x");
        let imf = "Sun, 06 Nov 1994 08:49:37 GMT";
        let later = Some(t(784_111_778));
        for form in [
            imf,
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert!(
                permits(&[form], Some(&tag), Some(modified), later),
                "{form}"
            );
        }
        // Strong only when the Date is at least a second later (§8.8.2.2).
        assert!(!permits(&[imf], Some(&tag), Some(modified), Some(modified)));
        assert!(!permits(
            &[imf],
            Some(&tag),
            Some(modified),
            Some(modified + Duration::from_millis(999))
        ));
        assert!(!permits(
            &[imf],
            Some(&tag),
            Some(modified),
            Some(t(784_111_776))
        ));
        assert!(!permits(&[imf], Some(&tag), Some(modified), None));
        // Sub-second parts of the modification time do not count.
        let fraction = modified + Duration::from_millis(500);
        assert!(permits(&[imf], Some(&tag), Some(fraction), later));
        // Only an equal date, never an earlier or later one.
        assert!(!permits(
            &[imf],
            Some(&tag),
            Some(modified + Duration::from_secs(1)),
            Some(t(784_200_000))
        ));
        assert!(!permits(
            &[imf],
            Some(&tag),
            Some(modified - Duration::from_secs(1)),
            later
        ));
        assert!(!permits(&[imf], Some(&tag), None, later));
        assert!(!permits(&[imf, imf], Some(&tag), Some(modified), later));
        assert!(!permits(
            &["Sun, 06 Nov 1994 08:49:37 PST"],
            Some(&tag),
            Some(modified),
            later
        ));
        // Dates before the epoch never match.
        assert!(!permits(
            &[imf],
            Some(&tag),
            Some(UNIX_EPOCH - Duration::from_secs(5)),
            later
        ));
    }

    fn arb_spec() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u64..2100, 0u64..2100).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
            (0u64..2100).prop_map(|a| format!("{a}-")),
            (0u64..2100).prop_map(|n| format!("-{n}")),
            Just(String::new()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The bytes of every 206 are the slices of the whole body the
        /// ranges name, however the body is chunked.
        #[test]
        fn partial_content_is_the_slices_of_the_body(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
            specs in proptest::collection::vec(arb_spec(), 1..12),
            typed in any::<bool>(),
        ) {
            let chunks = chunked(&data, &cuts);
            let field = format!("bytes={}", specs.join(", "));
            let Some(set) = parse(&field) else {
                // Only a list of empty elements is invalid here.
                prop_assert!(specs.iter().all(String::is_empty));
                return Ok(());
            };
            let length = data.len() as u64;
            let content_type = HeaderValue::from_static("application/octet-stream");
            let content_type = typed.then_some(&content_type);
            let boundary = Boundary::for_content_tag(&EntityTag::from_content(&data));
            let selection = set.select(length);
            // Reference: the bytes any satisfiable range-spec names.
            let mut named = vec![false; data.len()];
            for spec in set.specs() {
                if let (Some(range), true) = (spec.resolve(length.max(1)), length > 0) {
                    for i in range.first..=range.last {
                        named[i as usize] = true;
                    }
                }
            }
            match (&selection, respond(&set, &chunks, content_type, &boundary)) {
                (Selection::Whole, RangeResponse::Full) => prop_assert_eq!(length, 0),
                (Selection::Unsatisfiable, RangeResponse::NotSatisfiable { content_range }) => {
                    prop_assert!(!named.contains(&true));
                    prop_assert_eq!(content_range, format!("bytes */{length}"));
                }
                (Selection::Ranges(selected), response) => {
                    // The selected ranges cover exactly the named bytes, do
                    // not touch each other, and lie within the body.
                    let mut covered = vec![false; data.len()];
                    for range in selected {
                        prop_assert!(range.first <= range.last && range.last < length);
                        for i in range.first..=range.last {
                            prop_assert!(!covered[i as usize]);
                            covered[i as usize] = true;
                        }
                    }
                    prop_assert_eq!(&covered, &named);
                    let mut sorted = selected.clone();
                    sorted.sort_by_key(|r| r.first);
                    for pair in sorted.windows(2) {
                        prop_assert!(pair[0].last + 1 < pair[1].first);
                    }
                    match response {
                        RangeResponse::Partial(partial) => {
                            let bytes = concat(&partial.pieces);
                            prop_assert_eq!(bytes.len() as u64, partial.length);
                            match &partial.kind {
                                PartialKind::Single { content_range } => {
                                    let [only] = selected[..] else { panic!("one range") };
                                    prop_assert_eq!(
                                        content_range,
                                        &format!("bytes {}-{}/{length}", only.first, only.last)
                                    );
                                    prop_assert_eq!(
                                        &bytes[..],
                                        &data[only.first as usize..=only.last as usize]
                                    );
                                }
                                PartialKind::Multipart { content_type: multipart } => {
                                    prop_assert!(selected.len() > 1);
                                    prop_assert_eq!(multipart, &boundary.content_type());
                                    prop_assert!(partial.length <= length);
                                    let parts = parse_multipart(&bytes, boundary.as_bytes());
                                    prop_assert_eq!(parts.len(), selected.len());
                                    for (part, range) in parts.iter().zip(selected) {
                                        prop_assert_eq!(
                                            part.0.as_deref(),
                                            typed.then_some("application/octet-stream")
                                        );
                                        prop_assert_eq!(
                                            &part.1,
                                            &format!("bytes {}-{}/{length}", range.first, range.last)
                                        );
                                        prop_assert_eq!(
                                            &part.2[..],
                                            &data[range.first as usize..=range.last as usize]
                                        );
                                    }
                                }
                            }
                        }
                        RangeResponse::Full => prop_assert!(selected.len() > 1),
                        other => prop_assert!(false, "{other:?}"),
                    }
                }
                (selection, response) => prop_assert!(false, "{selection:?} {response:?}"),
            }
        }

        /// No bytes make the parser panic, and what it accepts is bounded.
        #[test]
        fn any_bytes_parse_or_are_ignored(value in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut with_unit = b"bytes=".to_vec();
            with_unit.extend_from_slice(&value);
            for field in [&value, &with_unit] {
                if let Some(set) = RangeSet::parse(field) {
                    prop_assert!((1..=MAX_RANGES).contains(&set.specs().len()));
                    for length in [0, 1, 10, u64::MAX] {
                        let _ = set.select(length);
                    }
                }
            }
        }
    }
}
