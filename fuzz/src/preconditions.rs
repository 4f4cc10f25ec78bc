//! `preconditions`: a method, any of the four condition fields and the
//! current validators, built from the fuzzer's bytes with `arbitrary`.
//!
//! Field values are mostly structured (lists of well-formed, weak, `*`,
//! empty and malformed members; dates in the three formats near the current
//! modification time) so matches and ties are frequent, with raw lines mixed
//! in. Where every line is structured, the crate must agree exactly with a
//! model of RFC 9110 §13.2.2; always, it must keep the invariants:
//!
//! - GET and HEAD are never 412 without `If-Match` or a valid
//!   `If-Unmodified-Since`;
//! - other methods are never 304;
//! - GET and HEAD agree, and the other methods agree with GET once a 304 is
//!   read as 412 (from `If-None-Match`) or as proceed (from
//!   `If-Modified-Since`).

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use http::header::{
    ETAG, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE, LAST_MODIFIED,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use tower_conditional::{EntityTag, Evaluation, Preconditions, Validators};

use crate::{
    check_layer_answer, epoch_plus, format_date, is_etagc, is_get_or_head, layer_validators,
    model_from_members, reference_date, through_layer, whole_seconds, Answer, FramesBody,
    RequestModel, StrictMember, MAX_HTTP_DATE_SECS, RFC_EXAMPLE_SECS,
};

/// Entry point of the fuzz target for raw bytes.
pub fn check_bytes(data: &[u8]) {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        check(&input);
    }
}

#[derive(Arbitrary, Debug)]
pub struct Input {
    method: MethodChoice,
    if_match: Vec<TagLine>,
    if_none_match: Vec<TagLine>,
    if_modified_since: Vec<DateLine>,
    if_unmodified_since: Vec<DateLine>,
    current: Option<Current>,
    body: BodyShape,
}

/// The handler's body: bytes cut into chunks at the given points, and
/// optionally followed by trailers.
#[derive(Arbitrary, Debug)]
struct BodyShape {
    data: Vec<u8>,
    cuts: Vec<u16>,
    trailers: bool,
    // Last, so that inputs written before it decode as they did.
    stated_length: Option<u16>,
}

impl BodyShape {
    fn data(&self) -> &[u8] {
        &self.data[..self.data.len().min(4096)]
    }

    fn chunks(&self) -> Vec<Bytes> {
        let data = self.data();
        let mut points: Vec<usize> = self
            .cuts
            .iter()
            .take(16)
            .map(|&cut| usize::from(cut) % (data.len() + 1))
            .chain([0, data.len()])
            .collect();
        points.sort_unstable();
        points
            .windows(2)
            .map(|w| Bytes::copy_from_slice(&data[w[0]..w[1]]))
            .collect()
    }

    /// The `Content-Length` the handler states, if any: the true length
    /// for even numbers, a likely false one for odd ones.
    fn stated_length(&self) -> Option<usize> {
        self.stated_length.map(|n| {
            if n % 2 == 0 {
                self.data().len()
            } else {
                usize::from(n / 2)
            }
        })
    }

    fn trailers(&self) -> Option<HeaderMap> {
        self.trailers.then(|| {
            let mut trailers = HeaderMap::new();
            trailers.insert("x-checksum", HeaderValue::from(self.data().len()));
            trailers
        })
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum MethodChoice {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Connect,
    Trace,
    Extension,
}

impl MethodChoice {
    fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Head => Method::HEAD,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Delete => Method::DELETE,
            Self::Patch => Method::PATCH,
            Self::Options => Method::OPTIONS,
            Self::Connect => Method::CONNECT,
            Self::Trace => Method::TRACE,
            Self::Extension => Method::from_bytes(b"PROPPATCH").unwrap(),
        }
    }
}

/// The current representation: absent, or with an optional tag and date.
#[derive(Arbitrary, Debug)]
struct Current {
    etag: Option<(bool, Opaque)>,
    last_modified: Option<Modified>,
}

#[derive(Arbitrary, Debug)]
enum Modified {
    /// Seconds around the RFC's example instant, and sub-second nanos.
    NearExample(i16, u32),
    /// Any 32-bit count of seconds since 1970.
    Seconds(u32, u32),
    /// Anywhere `SystemTime` reaches (far past year 9999 too).
    Far(u64),
    /// Before 1970: not expressible as an HTTP-date.
    BeforeEpoch(u32),
}

/// An opaque-tag: one of a few fixed ones, the current one, or any bytes
/// (non-etagc bytes are dropped).
#[derive(Arbitrary, Debug, Clone)]
enum Opaque {
    Pool(u8),
    Current,
    Bytes(Vec<u8>),
}

const POOL: [&str; 6] = ["xyzzy", "r2d2xxxx", "c3piozzzz", "", "a,b", "W/x"];

#[derive(Arbitrary, Debug)]
enum TagLine {
    Members {
        leading: Ws,
        members: Vec<(Member, Sep)>,
        /// An unterminated quote, which swallows the rest of its line: only
        /// ever last.
        unterminated: Option<Opaque>,
        trailing: Ws,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Member {
    Tag(bool, Opaque),
    Star,
    Empty,
    Malformed(Malformed, Opaque),
}

/// Members that are not entity-tags and, as rendered, hold no comma: each
/// must never match and must not disturb its neighbours.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Malformed {
    /// `w/"x"`
    LowercaseWeak,
    /// `x`
    Unquoted,
    /// `"x"junk`
    Junk,
    /// `"x" "x"`
    TwoTags,
    /// `"x y"`
    SpaceInside,
    /// `"x\ty"`
    TabInside,
    /// `"x\u{e9}"` as raw obs-text bytes
    NonAscii,
    /// `W/ "x"`
    WeakSpace,
    /// `*"x"`
    StarJunk,
    /// `"x\"` then more: a backslash is etagc, not an escape.
    Backslash,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Sep {
    Comma,
    CommaSpace,
    SpaceComma,
    SpaceCommaSpace,
    CommaTab,
    EmptyElement,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ws {
    None,
    Space,
    Tab,
    Mixed,
}

#[derive(Arbitrary, Debug)]
enum DateLine {
    /// Format (0..3 = IMF-fixdate, rfc850, asctime) and seconds relative to
    /// the current modification time (or the RFC example).
    NearCurrent(u8, i8),
    /// Format and any seconds up to 9999-12-31.
    Anywhere(u8, u64),
    Raw(Vec<u8>),
}

impl Sep {
    fn text(self) -> &'static str {
        match self {
            Self::Comma => ",",
            Self::CommaSpace => ", ",
            Self::SpaceComma => " ,",
            Self::SpaceCommaSpace => " , ",
            Self::CommaTab => ",\t",
            Self::EmptyElement => ", ,",
        }
    }
}

impl Ws {
    fn text(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Space => " ",
            Self::Tab => "\t",
            Self::Mixed => " \t ",
        }
    }
}

/// Everything known once the input is laid out.
struct Built {
    method: Method,
    headers: HeaderMap,
    current: Option<Validators>,
    /// Per tag field: `None` when absent, `Some(None)` when present but not
    /// modelled (raw lines), `Some(Some(model))` otherwise.
    if_match: Option<Option<crate::FieldModel>>,
    if_none_match: Option<Option<crate::FieldModel>>,
}

fn opaque_bytes(opaque: &Opaque, current: &[u8]) -> Vec<u8> {
    match opaque {
        Opaque::Pool(i) => POOL[usize::from(*i) % POOL.len()].as_bytes().to_vec(),
        Opaque::Current => current.to_vec(),
        Opaque::Bytes(bytes) => bytes.iter().copied().filter(|&b| is_etagc(b)).collect(),
    }
}

/// An opaque part for a malformed member: no comma (a comma inside a
/// malformed member would split it), never empty, never just `*`.
fn malformed_opaque(opaque: &Opaque, current: &[u8]) -> Vec<u8> {
    let mut bytes: Vec<u8> = opaque_bytes(opaque, current)
        .into_iter()
        .filter(|&b| b != b',')
        .collect();
    if bytes.is_empty() || bytes == b"*" {
        bytes = b"m".to_vec();
    }
    bytes
}

fn render_malformed(kind: Malformed, x: &[u8]) -> Vec<u8> {
    let x = x.to_vec();
    let quoted = |inner: &[u8]| [b"\"".as_slice(), inner, b"\""].concat();
    match kind {
        Malformed::LowercaseWeak => [b"w/".to_vec(), quoted(&x)].concat(),
        Malformed::Unquoted => x,
        Malformed::Junk => [quoted(&x), b"junk".to_vec()].concat(),
        Malformed::TwoTags => [quoted(&x), b" ".to_vec(), quoted(&x)].concat(),
        Malformed::SpaceInside => quoted(&[x.as_slice(), b" y"].concat()),
        Malformed::TabInside => quoted(&[x.as_slice(), b"\ty"].concat()),
        Malformed::NonAscii => quoted(&[x.as_slice(), b"\xc3\xa9"].concat()),
        Malformed::WeakSpace => [b"W/ ".to_vec(), quoted(&x)].concat(),
        Malformed::StarJunk => [b"*".to_vec(), quoted(&x)].concat(),
        Malformed::Backslash => [quoted(&[x.as_slice(), b"\\"].concat()), b"x\"".to_vec()].concat(),
    }
}

/// What the crate should see in a member, for the model: `Some(member)` for
/// `*` and tags, `None` for malformed members (they never match, but they
/// still count as members, so `*` next to one is not "`*` alone").
enum Seen {
    Nothing,
    Member(StrictMember),
    Malformed,
}

/// Renders the lines of one tag field; returns them with the model.
fn render_tag_field(
    lines: &[TagLine],
    current_opaque: &[u8],
) -> (Vec<HeaderValue>, Option<crate::FieldModel>) {
    let mut values = Vec::new();
    let mut seen = Vec::new();
    let mut modelled = true;
    for line in lines.iter().take(6) {
        match line {
            TagLine::Raw(bytes) => {
                if let Ok(value) = HeaderValue::from_bytes(bytes) {
                    values.push(value);
                    modelled = false;
                }
            }
            TagLine::Members {
                leading,
                members,
                unterminated,
                trailing,
            } => {
                let mut text = leading.text().as_bytes().to_vec();
                for (index, (member, sep)) in members.iter().take(12).enumerate() {
                    if index > 0 {
                        text.extend_from_slice(sep.text().as_bytes());
                    }
                    match member {
                        Member::Tag(weak, opaque) => {
                            let opaque = opaque_bytes(opaque, current_opaque);
                            if *weak {
                                text.extend_from_slice(b"W/");
                            }
                            text.push(b'"');
                            text.extend_from_slice(&opaque);
                            text.push(b'"');
                            seen.push(Seen::Member(StrictMember::Tag {
                                weak: *weak,
                                opaque,
                            }));
                        }
                        Member::Star => {
                            text.push(b'*');
                            seen.push(Seen::Member(StrictMember::Star));
                        }
                        Member::Empty => seen.push(Seen::Nothing),
                        Member::Malformed(kind, opaque) => {
                            let opaque = malformed_opaque(opaque, current_opaque);
                            text.extend(render_malformed(*kind, &opaque));
                            seen.push(Seen::Malformed);
                        }
                    }
                }
                if let Some(opaque) = unterminated {
                    text.extend_from_slice(b", \"");
                    text.extend(opaque_bytes(opaque, current_opaque));
                    seen.push(Seen::Malformed);
                }
                text.extend_from_slice(trailing.text().as_bytes());
                values.push(HeaderValue::from_bytes(&text).expect("rendered lines are valid"));
            }
        }
    }
    if !modelled {
        return (values, None);
    }
    let members: Vec<StrictMember> = seen
        .iter()
        .filter_map(|seen| match seen {
            Seen::Member(member) => Some(member.clone()),
            // A placeholder that is neither `*` nor a tag that can match.
            Seen::Malformed => Some(StrictMember::Tag {
                weak: true,
                opaque: b"\"".to_vec(),
            }),
            Seen::Nothing => None,
        })
        .collect();
    (values, Some(model_from_members(&members)))
}

fn render_dates(lines: &[DateLine], near: u64) -> Vec<HeaderValue> {
    lines
        .iter()
        .take(3)
        .filter_map(|line| match line {
            DateLine::NearCurrent(format, offset) => {
                let secs = near.checked_add_signed(i64::from(*offset))?;
                (secs <= MAX_HTTP_DATE_SECS)
                    .then(|| HeaderValue::from_str(&format_date(secs, *format)).unwrap())
            }
            DateLine::Anywhere(format, secs) => {
                let secs = secs % (MAX_HTTP_DATE_SECS + 1);
                Some(HeaderValue::from_str(&format_date(secs, *format)).unwrap())
            }
            DateLine::Raw(bytes) => HeaderValue::from_bytes(bytes).ok(),
        })
        .collect()
}

fn build(input: &Input) -> Option<Built> {
    let current = match &input.current {
        None => None,
        Some(current) => {
            let mut validators = Validators::new();
            if let Some((weak, opaque)) = &current.etag {
                let opaque = opaque_bytes(opaque, b"xyzzy");
                let opaque = std::str::from_utf8(&opaque).expect("etagc is ASCII");
                let tag = if *weak {
                    EntityTag::weak(opaque)
                } else {
                    EntityTag::strong(opaque)
                };
                validators = validators.with_etag(tag.expect("etagc only"));
            }
            if let Some(modified) = &current.last_modified {
                let time = match *modified {
                    Modified::NearExample(offset, nanos) => epoch_plus(
                        RFC_EXAMPLE_SECS.checked_add_signed(i64::from(offset))?,
                        nanos,
                    ),
                    Modified::Seconds(secs, nanos) => epoch_plus(u64::from(secs), nanos),
                    Modified::Far(secs) => epoch_plus(secs, 0),
                    Modified::BeforeEpoch(secs) => std::time::UNIX_EPOCH
                        .checked_sub(std::time::Duration::from_secs(u64::from(secs) + 1)),
                }?;
                validators = validators.with_last_modified(time);
            }
            Some(validators)
        }
    };
    let current_opaque = current
        .as_ref()
        .and_then(Validators::etag)
        .map(|tag| tag.opaque().as_bytes().to_vec())
        .unwrap_or_else(|| b"xyzzy".to_vec());
    let near = current
        .as_ref()
        .and_then(Validators::last_modified)
        .and_then(whole_seconds)
        .filter(|&secs| secs <= MAX_HTTP_DATE_SECS)
        .unwrap_or(RFC_EXAMPLE_SECS);

    let mut headers = HeaderMap::new();
    let mut add = |name: HeaderName, values: &[HeaderValue]| {
        for value in values {
            headers.append(name.clone(), value.clone());
        }
    };
    let (im_lines, im_model) = render_tag_field(&input.if_match, &current_opaque);
    let (inm_lines, inm_model) = render_tag_field(&input.if_none_match, &current_opaque);
    add(IF_MATCH, &im_lines);
    add(IF_NONE_MATCH, &inm_lines);
    add(
        IF_MODIFIED_SINCE,
        &render_dates(&input.if_modified_since, near),
    );
    add(
        IF_UNMODIFIED_SINCE,
        &render_dates(&input.if_unmodified_since, near),
    );

    Some(Built {
        method: input.method.method(),
        headers,
        current,
        if_match: (!im_lines.is_empty()).then_some(im_model),
        if_none_match: (!inm_lines.is_empty()).then_some(inm_model),
    })
}

fn date_lines(headers: &HeaderMap, name: HeaderName) -> Vec<HeaderValue> {
    headers.get_all(name).iter().cloned().collect()
}

/// Checks one structured input.
pub fn check(input: &Input) {
    let Some(built) = build(input) else {
        return;
    };
    let Built {
        method,
        headers,
        current,
        if_match,
        if_none_match,
    } = built;
    let pre = Preconditions::from_headers(&headers);
    let ims = reference_date(&date_lines(&headers, IF_MODIFIED_SINCE));
    let ius = reference_date(&date_lines(&headers, IF_UNMODIFIED_SINCE));
    assert_eq!(
        pre.is_empty(),
        if_match.is_none() && if_none_match.is_none() && ims.is_none() && ius.is_none()
    );

    for current in [current.as_ref(), Some(&Validators::new()), None] {
        let got = pre.evaluate(&method, current);
        check_invariants(
            &pre,
            &method,
            current,
            got,
            Presence {
                if_match: if_match.is_some(),
                valid_if_unmodified_since: ius.is_some(),
                if_none_match: if_none_match.is_some(),
            },
        );
        // Exact answer where both tag fields are absent or structured.
        if let (Some(im), Some(inm)) = (modelled(&if_match), modelled(&if_none_match)) {
            let model = RequestModel {
                if_match: im,
                if_none_match: inm,
                if_modified_since: ims,
                if_unmodified_since: ius,
            };
            for method in [method.clone(), Method::GET, Method::PUT] {
                assert_eq!(
                    pre.evaluate(&method, current),
                    model.evaluate(&method, current),
                    "{method} {headers:?} against {current:?}"
                );
            }
        }
    }
    check_through_layer(&method, &headers, current.as_ref(), &input.body);
}

/// `Some(None)` for an absent field, `Some(Some(model))` for a structured
/// one, `None` for a field with raw lines (no exact model).
fn modelled(field: &Option<Option<crate::FieldModel>>) -> Option<Option<&crate::FieldModel>> {
    match field {
        None => Some(None),
        Some(None) => None,
        Some(Some(model)) => Some(Some(model)),
    }
}

/// Which condition fields the request has, as the invariants need it.
#[derive(Debug, Clone, Copy)]
struct Presence {
    if_match: bool,
    valid_if_unmodified_since: bool,
    if_none_match: bool,
}

/// The invariants that hold for every input, modelled or not.
fn check_invariants(
    pre: &Preconditions,
    method: &Method,
    current: Option<&Validators>,
    got: Evaluation,
    presence: Presence,
) {
    if is_get_or_head(method) {
        if got == Evaluation::PreconditionFailed {
            assert!(
                presence.if_match || presence.valid_if_unmodified_since,
                "412 for {method} without If-Match or a valid If-Unmodified-Since: {pre:?}"
            );
        }
    } else {
        assert_ne!(got, Evaluation::NotModified, "304 for {method}: {pre:?}");
    }
    let get = pre.evaluate(&Method::GET, current);
    let head = pre.evaluate(&Method::HEAD, current);
    assert_eq!(get, head, "{pre:?}");
    let unsafe_expected = match get {
        Evaluation::NotModified if presence.if_none_match => Evaluation::PreconditionFailed,
        Evaluation::NotModified => Evaluation::Proceed,
        other => other,
    };
    for other in [Method::POST, Method::PUT, Method::DELETE] {
        assert_eq!(
            pre.evaluate(&other, current),
            unsafe_expected,
            "{other} {pre:?}"
        );
    }
}

/// A GET or HEAD through the layer, the handler answering 200 with the
/// current tag (if any) and modification date (if it can be written), must
/// get what `evaluate` says; any other method passes through untouched.
fn check_through_layer(
    method: &Method,
    request_headers: &HeaderMap,
    current: Option<&Validators>,
    shape: &BodyShape,
) {
    let body = shape.data();
    let trailers = shape.trailers();
    let mut handler_body =
        FramesBody::chunks(shape.chunks().into_iter().filter(|chunk| !chunk.is_empty()));
    if let Some(trailers) = &trailers {
        handler_body = handler_body.with_trailers(trailers.clone());
    }
    let mut response = Response::new(handler_body);
    if let Some(current) = current {
        if let Some(tag) = current.etag() {
            response.headers_mut().insert(ETAG, tag.to_header_value());
        }
        if let Some(secs) = current
            .last_modified()
            .and_then(whole_seconds)
            .filter(|&secs| secs <= MAX_HTTP_DATE_SECS)
        {
            let date = format_date(secs, 0);
            response
                .headers_mut()
                .insert(LAST_MODIFIED, HeaderValue::from_str(&date).unwrap());
        }
    }
    if let Some(length) = shape.stated_length() {
        response
            .headers_mut()
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let handler_headers = response.headers().clone();
    let mut request = Request::new(());
    *request.method_mut() = method.clone();
    *request.headers_mut() = request_headers.clone();
    let answer = through_layer(request, response);
    if !is_get_or_head(method) {
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.headers, handler_headers);
        assert_eq!(answer.body, body);
        assert_eq!(answer.trailers, trailers);
        return;
    }
    let mut validators = layer_validators(body, &handler_headers);
    // An empty HEAD answer may be a body dropped on the way (by a router, by
    // a `head` handler): it is never hashed. Without a tag of the handler's,
    // only a date condition against its Last-Modified can be decided; any
    // other precondition leaves the answer untouched.
    let unhashed_head =
        *method == Method::HEAD && body.is_empty() && !handler_headers.contains_key(ETAG);
    if unhashed_head {
        let has_tag_conditions = request_headers.contains_key(http::header::IF_MATCH)
            || request_headers.contains_key(http::header::IF_NONE_MATCH);
        validators = match validators.last_modified() {
            Some(date) if !has_tag_conditions => Validators::new().with_last_modified(date),
            _ => {
                return assert_untouched_head(&answer, &handler_headers);
            }
        };
    }
    let expected =
        Preconditions::from_headers(request_headers).evaluate(&Method::GET, Some(&validators));
    if unhashed_head && expected == Evaluation::Proceed {
        return assert_untouched_head(&answer, &handler_headers);
    }
    check_layer_answer(
        &answer,
        expected,
        *method == Method::HEAD,
        body,
        trailers.as_ref(),
        &handler_headers,
        &validators,
    );
}

/// An empty HEAD answer the layer did not decide on: the handler's, as it was.
fn assert_untouched_head(answer: &Answer, handler_headers: &HeaderMap) {
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(
        &answer.headers, handler_headers,
        "an empty HEAD answer passes untouched"
    );
    assert!(answer.body.is_empty() && answer.trailers.is_none());
}
