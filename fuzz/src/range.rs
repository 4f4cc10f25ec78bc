//! `range`: a `Range` field (RFC 9110 §14.1), a body cut into chunks, the
//! 200's `Content-Type` and an `If-Range` (§13.1.5), built from the
//! fuzzer's bytes with `arbitrary`.
//!
//! The field is mostly structured (int-ranges, suffix-ranges, empty
//! elements, whitespace, huge and zero-padded numbers, other units, junk)
//! with raw lines mixed in. The crate must agree exactly with a model built
//! another way, and the answer must keep its invariants:
//!
//! - the model reads the field with one character-at-a-time state machine,
//!   keeps numbers as decimal strings (no saturation), and selects by
//!   marking bytes of the body in a bitmap: the parts are the runs of
//!   marked bytes, each placed where the first range-spec touching it was
//!   listed (§14.2 coalescing, §15.3.7.2 order);
//! - it writes the whole expected multipart body with `format!`, and the
//!   crate's pieces must equal it byte for byte; read back by searching for
//!   the delimiter, each part is the slice of the body its `Content-Range`
//!   names;
//! - every selected range lies within the representation, the pieces add
//!   up to the stated length, and no multipart answer is longer than the
//!   body.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use http::HeaderValue;
use tower_conditional::__fuzz::partial_content::{self as crate_partial, Response};
use tower_conditional::__fuzz::range::{self as crate_range, Selected};
use tower_conditional::EntityTag;

use crate::{format_date, header_lines, strict_single_tag, RFC_EXAMPLE_SECS};

/// Entry point of the fuzz target for raw bytes.
pub fn check_bytes(data: &[u8]) {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        check(&input);
    }
    // The bytes themselves as field lines, too.
    let lines = header_lines(data, 4);
    for line in &lines {
        check_parse(line.as_bytes());
    }
}

#[derive(Arbitrary, Debug)]
pub struct Input {
    lines: Vec<FieldLine>,
    body_length: u16,
    cuts: Vec<u16>,
    content_type: Option<ContentType>,
    weak_tag: bool,
    if_range: Vec<IfRange>,
    /// Seconds from Last-Modified to the response's Date, if it has one.
    date_after: Option<i8>,
}

#[derive(Arbitrary, Debug)]
enum FieldLine {
    Raw(Vec<u8>),
    Structured {
        unit: Unit,
        after_equals: Ows,
        elements: Vec<(Ows, Element, Ows)>,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Unit {
    Bytes,
    Upper,
    Mixed,
    Other,
    Missing,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ows {
    None,
    Space,
    Tab,
    Two,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Element {
    Int(u16, u16),
    From(u16),
    Suffix(u16),
    Empty,
    /// A number of 20 to 40 digits in a chosen slot.
    Huge(u8, u8),
    /// Leading zeros before both numbers.
    Padded(u8, u16, u16),
    Junk(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ContentType {
    Pdf,
    TextWithParameters,
}

#[derive(Arbitrary, Debug, Clone)]
enum IfRange {
    Raw(Vec<u8>),
    /// The current tag, or another, strong or weak.
    Tag {
        weak: bool,
        current: bool,
    },
    /// Last-Modified plus some seconds, in one of the three formats.
    Date {
        format: u8,
        offset: i8,
    },
}

fn ows(ows: Ows) -> &'static str {
    match ows {
        Ows::None => "",
        Ows::Space => " ",
        Ows::Tab => "\t",
        Ows::Two => " \t",
    }
}

fn huge(slot: u8) -> String {
    let digits = 20 + usize::from(slot % 21);
    let lead = char::from(b'1' + slot % 9);
    format!("{lead}{}", "0".repeat(digits - 1))
}

impl FieldLine {
    fn bytes(&self) -> Vec<u8> {
        match self {
            FieldLine::Raw(bytes) => bytes.clone(),
            FieldLine::Structured {
                unit,
                after_equals,
                elements,
            } => {
                let mut text = String::from(match unit {
                    Unit::Bytes => "bytes=",
                    Unit::Upper => "BYTES=",
                    Unit::Mixed => "ByTeS=",
                    Unit::Other => "items=",
                    Unit::Missing => "",
                });
                text.push_str(ows(*after_equals));
                let rendered: Vec<String> = elements
                    .iter()
                    .take(120)
                    .map(|(before, element, after)| {
                        let element = match *element {
                            Element::Int(a, b) => format!("{a}-{b}"),
                            Element::From(a) => format!("{a}-"),
                            Element::Suffix(n) => format!("-{n}"),
                            Element::Empty => String::new(),
                            Element::Huge(slot, which) => match which % 4 {
                                0 => format!("{}-", huge(slot)),
                                1 => format!("{}-{}", which, huge(slot)),
                                2 => format!("-{}", huge(slot)),
                                _ => format!("{}-{}", huge(slot), huge(slot.wrapping_add(which))),
                            },
                            Element::Padded(zeros, a, b) => {
                                let pad = "0".repeat(usize::from(zeros % 25));
                                format!("{pad}{a}-{pad}{b}")
                            }
                            Element::Junk(byte) => {
                                let junk = [
                                    b"x".as_slice(),
                                    b" ",
                                    b"-",
                                    b"--",
                                    b"1-2-3",
                                    b";",
                                    b"+1-2",
                                    b"=",
                                    b"1 -2",
                                ];
                                String::from_utf8_lossy(junk[usize::from(byte) % junk.len()])
                                    .into_owned()
                            }
                        };
                        format!("{}{element}{}", ows(*before), ows(*after))
                    })
                    .collect();
                text.push_str(&rendered.join(","));
                text.into_bytes()
            }
        }
    }
}

// The model's reading of a field -------------------------------------------

/// A decimal number as written, without leading zeros ("" for zero).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal(String);

impl Decimal {
    fn new(digits: &str) -> Self {
        Decimal(digits.trim_start_matches('0').to_owned())
    }

    fn less_than(&self, other: &Decimal) -> bool {
        (self.0.len(), &self.0) < (other.0.len(), &other.0)
    }

    fn of(n: u64) -> Self {
        Decimal::new(&n.to_string())
    }

    /// The value when it fits in a u64.
    fn value(&self) -> Option<u64> {
        if self.0.is_empty() {
            return Some(0);
        }
        self.0.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ModelSpec {
    Int(Decimal, Option<Decimal>),
    Suffix(Decimal),
}

/// Reads one field line with a state machine over its characters.
fn model_parse(value: &[u8]) -> Option<Vec<ModelSpec>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        /// Between elements: whitespace, commas, or the start of one.
        Between,
        First,
        Dash,
        Last,
        SuffixDigits,
        /// Whitespace after an element, before a comma or the end.
        After,
    }
    let equals = value.iter().position(|&b| b == b'=')?;
    let unit = std::str::from_utf8(&value[..equals]).ok()?;
    if unit.to_ascii_lowercase() != "bytes" {
        return None;
    }
    let mut specs = Vec::new();
    let mut state = State::Between;
    let mut first = String::new();
    let mut second = String::new();
    let finish =
        |state: State, first: &str, second: &str, specs: &mut Vec<ModelSpec>| -> Option<()> {
            match state {
                State::Dash => specs.push(ModelSpec::Int(Decimal::new(first), None)),
                State::Last => {
                    let (a, b) = (Decimal::new(first), Decimal::new(second));
                    if b.less_than(&a) {
                        return None;
                    }
                    specs.push(ModelSpec::Int(a, Some(b)));
                }
                State::SuffixDigits => specs.push(ModelSpec::Suffix(Decimal::new(second))),
                State::Between | State::After => {}
                State::First => return None,
            }
            Some(())
        };
    for &byte in &value[equals + 1..] {
        let ws = byte == b' ' || byte == b'\t';
        state = match (state, byte) {
            (State::Between, _) if ws || byte == b',' => State::Between,
            (State::Between, b'0'..=b'9') => {
                first.clear();
                second.clear();
                first.push(char::from(byte));
                State::First
            }
            (State::Between, b'-') => {
                first.clear();
                second.clear();
                State::Dash
            }
            (State::First, b'0'..=b'9') => {
                first.push(char::from(byte));
                State::First
            }
            (State::First, b'-') => State::Dash,
            (State::Dash, b'0'..=b'9') if first.is_empty() => {
                second.push(char::from(byte));
                State::SuffixDigits
            }
            (State::Dash, b'0'..=b'9') | (State::Last, b'0'..=b'9') => {
                second.push(char::from(byte));
                State::Last
            }
            (State::SuffixDigits, b'0'..=b'9') => {
                second.push(char::from(byte));
                State::SuffixDigits
            }
            (State::Dash | State::Last | State::SuffixDigits, _) if ws || byte == b',' => {
                // "-" alone (no first, no suffix digits) is no range-spec.
                if state == State::Dash && first.is_empty() {
                    return None;
                }
                finish(state, &first, &second, &mut specs)?;
                if byte == b',' {
                    State::Between
                } else {
                    State::After
                }
            }
            (State::After, _) if ws => State::After,
            (State::After, b',') => State::Between,
            _ => return None,
        };
    }
    if state == State::Dash && first.is_empty() {
        return None;
    }
    finish(state, &first, &second, &mut specs)?;
    if specs.is_empty() || specs.len() > crate_range::MAX_RANGES {
        return None;
    }
    Some(specs)
}

/// What the model's specs mean for the crate's saturated ones.
fn saturated(spec: &ModelSpec) -> crate_range::Spec {
    let sat = |d: &Decimal| d.value().unwrap_or(u64::MAX);
    match spec {
        ModelSpec::Int(first, last) => crate_range::Spec::Int(sat(first), last.as_ref().map(sat)),
        ModelSpec::Suffix(n) => crate_range::Spec::Suffix(sat(n)),
    }
}

/// The model's selection in a body of `length` bytes (small enough for a
/// bitmap).
fn model_select(specs: &[ModelSpec], length: usize) -> Selected {
    let len = Decimal::of(length as u64);
    let zero = Decimal::new("");
    if length == 0 {
        let suffix = specs
            .iter()
            .any(|spec| matches!(spec, ModelSpec::Suffix(n) if *n != zero));
        return if suffix {
            Selected::Whole
        } else {
            Selected::Unsatisfiable
        };
    }
    // For each byte, the first range-spec that names it.
    let mut named: Vec<Option<usize>> = vec![None; length];
    for (index, spec) in specs.iter().enumerate() {
        let (from, to) = match spec {
            ModelSpec::Int(first, last) => {
                if !first.less_than(&len) {
                    continue;
                }
                let from = first.value().expect("below a usize length") as usize;
                let to = match last {
                    Some(last) if last.less_than(&len) => last.value().unwrap() as usize,
                    _ => length - 1,
                };
                (from, to)
            }
            ModelSpec::Suffix(n) => {
                if *n == zero {
                    continue;
                }
                let n = if n.less_than(&len) {
                    n.value().unwrap() as usize
                } else {
                    length
                };
                (length - n, length - 1)
            }
        };
        for slot in &mut named[from..=to] {
            slot.get_or_insert(index);
        }
    }
    let mut runs: Vec<(usize, (u64, u64))> = Vec::new();
    let mut i = 0;
    while i < length {
        let Some(mut earliest) = named[i] else {
            i += 1;
            continue;
        };
        let start = i;
        while i < length {
            match named[i] {
                Some(index) => earliest = earliest.min(index),
                None => break,
            }
            i += 1;
        }
        runs.push((earliest, (start as u64, i as u64 - 1)));
    }
    if runs.is_empty() {
        return Selected::Unsatisfiable;
    }
    runs.sort_by_key(|(earliest, _)| *earliest);
    Selected::Ranges(runs.into_iter().map(|(_, range)| range).collect())
}

/// The whole multipart body the model expects.
fn model_multipart(
    data: &[u8],
    ranges: &[(u64, u64)],
    content_type: Option<&HeaderValue>,
    boundary: &str,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &(first, last)) in ranges.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        if let Some(content_type) = content_type {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(content_type.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(
            format!("Content-Range: bytes {first}-{last}/{}\r\n\r\n", data.len()).as_bytes(),
        );
        out.extend_from_slice(&data[first as usize..=last as usize]);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// Reads a multipart body back as a client does, by searching for the
/// delimiter; the content of each part with its Content-Range numbers.
fn read_back(body: &[u8], boundary: &str) -> Vec<((u64, u64, u64), Vec<u8>)> {
    let delimiter = format!("\r\n--{boundary}");
    let mut text = b"\r\n".to_vec();
    text.extend_from_slice(body);
    let mut parts = Vec::new();
    let mut at = 0;
    loop {
        let rest = &text[at..];
        assert!(rest.starts_with(delimiter.as_bytes()), "a delimiter");
        let rest = &rest[delimiter.len()..];
        if rest == b"--\r\n" {
            return parts;
        }
        let rest = rest.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let end = rest
            .windows(delimiter.len())
            .position(|w| w == delimiter.as_bytes())
            .expect("every part ends at a delimiter");
        let part = &rest[..end];
        let head_end = part
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a head");
        let head = std::str::from_utf8(&part[..head_end]).expect("ASCII head");
        let range = head
            .split("\r\n")
            .find_map(|line| line.strip_prefix("Content-Range: bytes "))
            .expect("a Content-Range in every part");
        let (span, complete) = range.split_once('/').unwrap();
        let (first, last) = span.split_once('-').unwrap();
        parts.push((
            (
                first.parse().unwrap(),
                last.parse().unwrap(),
                complete.parse().unwrap(),
            ),
            part[head_end + 4..].to_vec(),
        ));
        at = text.len() - rest.len() + end;
    }
}

fn total(pieces: &[Bytes]) -> Vec<u8> {
    pieces.iter().flat_map(|p| p.iter().copied()).collect()
}

/// The parser alone on one raw line: against the model, and every length.
pub fn check_parse(line: &[u8]) {
    let parsed = crate_range::parse(line);
    let model = model_parse(line);
    assert_eq!(
        parsed,
        model
            .as_ref()
            .map(|specs| specs.iter().map(saturated).collect()),
        "{:?}",
        String::from_utf8_lossy(line)
    );
    let Ok(value) = HeaderValue::from_bytes(line) else {
        return;
    };
    for length in [0, 1, 2, 500, 1 << 40, u64::MAX - 1, u64::MAX] {
        let Some(selected) = crate_range::select(std::slice::from_ref(&value), length) else {
            assert!(parsed.is_none());
            continue;
        };
        if let Selected::Ranges(ranges) = selected {
            assert!(!ranges.is_empty() && ranges.len() <= crate_range::MAX_RANGES);
            let mut sorted = ranges.clone();
            sorted.sort_unstable();
            for &(first, last) in &ranges {
                assert!(first <= last && last < length, "{first}-{last}/{length}");
            }
            for pair in sorted.windows(2) {
                assert!(pair[0].1 + 1 < pair[1].0, "coalesced: {sorted:?}");
            }
        }
    }
}

pub fn check(input: &Input) {
    let lines: Vec<Vec<u8>> = input.lines.iter().take(3).map(FieldLine::bytes).collect();
    for line in &lines {
        check_parse(line);
    }
    let values: Vec<HeaderValue> = lines
        .iter()
        .filter_map(|line| HeaderValue::from_bytes(line).ok())
        .collect();

    let length = usize::from(input.body_length % 3000);
    let data: Vec<u8> = (0..length).map(|i| (i * 31 % 253) as u8).collect();
    let mut points: Vec<usize> = input
        .cuts
        .iter()
        .take(12)
        .map(|&cut| usize::from(cut) % (length + 1))
        .chain([0, length])
        .collect();
    points.sort_unstable();
    let chunks: Vec<Bytes> = points
        .windows(2)
        .map(|w| Bytes::copy_from_slice(&data[w[0]..w[1]]))
        .collect();
    let content_type = input.content_type.map(|choice| match choice {
        ContentType::Pdf => HeaderValue::from_static("application/pdf"),
        ContentType::TextWithParameters => {
            HeaderValue::from_static("text/plain; charset=\"utf-8\"")
        }
    });
    let tag = EntityTag::from_content(&data);
    let tag = if input.weak_tag { tag.into_weak() } else { tag };

    let response = crate_partial::respond(&values, &chunks, content_type.as_ref(), &tag);
    // The model: a field is one line, or it is ignored.
    let model = match values.as_slice() {
        [only] => model_parse(only.as_bytes()),
        _ => None,
    };
    let Some(specs) = model else {
        assert_eq!(response, None, "{values:?}");
        check_if_range(input, &tag);
        return;
    };
    let response = response.expect("the model accepts the field");
    match (model_select(&specs, length), response) {
        (Selected::Whole, Response::Full) => assert_eq!(length, 0),
        (Selected::Unsatisfiable, Response::NotSatisfiable(content_range)) => {
            assert_eq!(content_range, format!("bytes */{length}").as_str());
        }
        (Selected::Ranges(ranges), Response::Single(content_range, pieces, stated)) => {
            let [(first, last)] = ranges[..] else {
                panic!("one part for {ranges:?}");
            };
            assert_eq!(
                content_range,
                format!("bytes {first}-{last}/{length}").as_str()
            );
            let bytes = total(&pieces);
            assert_eq!(bytes.len() as u64, stated);
            assert_eq!(bytes, &data[first as usize..=last as usize]);
        }
        (Selected::Ranges(ranges), response) => {
            assert!(ranges.len() > 1, "{ranges:?} {response:?}");
            // The boundary is the crate's choice; the rest is the model's.
            let boundary = match &response {
                Response::Multipart(content_type, _, _) => content_type
                    .to_str()
                    .unwrap()
                    .strip_prefix("multipart/byteranges; boundary=")
                    .expect("the multipart media type")
                    .to_owned(),
                _ => "0123456789abcdefghijkl".to_owned(),
            };
            assert!(boundary.len() <= 70 && !boundary.is_empty());
            let expected = model_multipart(&data, &ranges, content_type.as_ref(), &boundary);
            if expected.len() > length {
                assert_eq!(response, Response::Full, "longer than the body");
            } else {
                let Response::Multipart(_, pieces, stated) = response else {
                    panic!("multipart for {ranges:?}: {response:?}");
                };
                let bytes = total(&pieces);
                assert_eq!(bytes.len() as u64, stated);
                assert!(bytes == expected, "multipart bytes differ from the model's");
                let parts = read_back(&bytes, &boundary);
                assert_eq!(parts.len(), ranges.len());
                for (((first, last, complete), content), &(a, b)) in parts.iter().zip(&ranges) {
                    assert_eq!((*first, *last, *complete), (a, b, length as u64));
                    assert_eq!(content, &data[a as usize..=b as usize]);
                }
            }
        }
        (selected, response) => panic!("model {selected:?}, crate {response:?}"),
    }
    check_if_range(input, &tag);
}

/// `If-Range` against a model of §13.1.5 (one line; a strong tag equal to
/// a strong current tag; or a date equal to Last-Modified, with a Date at
/// least a second later).
fn check_if_range(input: &Input, tag: &EntityTag) {
    let modified = UNIX_EPOCH + Duration::from_secs(RFC_EXAMPLE_SECS);
    let date = input.date_after.map(|after| {
        UNIX_EPOCH + Duration::from_secs(RFC_EXAMPLE_SECS.saturating_add_signed(i64::from(after)))
    });
    let lines: Vec<HeaderValue> = input
        .if_range
        .iter()
        .take(3)
        .filter_map(|choice| {
            let text = match choice {
                IfRange::Raw(bytes) => bytes.clone(),
                IfRange::Tag { weak, current } => {
                    let opaque = if *current { tag.opaque() } else { "other" };
                    let prefix = if *weak { "W/" } else { "" };
                    format!("{prefix}\"{opaque}\"").into_bytes()
                }
                IfRange::Date { format, offset } => {
                    let secs = RFC_EXAMPLE_SECS.saturating_add_signed(i64::from(*offset % 3));
                    format_date(secs, *format).into_bytes()
                }
            };
            HeaderValue::from_bytes(&text).ok()
        })
        .collect();
    for last_modified in [
        Some(modified),
        Some(modified + Duration::from_millis(700)),
        None,
    ] {
        let got = crate_range::if_range_permits(&lines, Some(tag), last_modified, date);
        let expected = match lines.as_slice() {
            [] => true,
            [line] => {
                let value = std::str::from_utf8(line.as_bytes())
                    .map(|text| text.trim_matches(|c| c == ' ' || c == '\t'))
                    .unwrap_or("");
                if let Some((weak, opaque)) = strict_single_tag(value.as_bytes()) {
                    !weak && !tag.is_weak() && opaque == tag.opaque().as_bytes()
                } else {
                    let seconds = |time: SystemTime| {
                        time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
                    };
                    let sent = (value.len() <= 64)
                        .then(|| httpdate::parse_http_date(value).ok())
                        .flatten()
                        .and_then(seconds);
                    match (
                        sent,
                        last_modified.and_then(seconds),
                        date.and_then(seconds),
                    ) {
                        (Some(sent), Some(modified), Some(date)) => {
                            sent == modified && date >= modified + 1
                        }
                        _ => false,
                    }
                }
            }
            _ => false,
        };
        assert_eq!(got, expected, "{lines:?} {last_modified:?} {date:?}");
    }
    // Without validators nothing matches; without the field anything goes.
    assert_eq!(
        crate_range::if_range_permits(&lines, None, None, date),
        lines.is_empty()
    );
}
