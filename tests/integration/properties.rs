//! Property tests of the middleware as a whole, driven through
//! `Conditional` (made by `ConditionalLayer`) with `tower::ServiceExt::oneshot`:
//!
//! 1. for any body (up to 64 KiB) and any chunking, the `ETag` is the content
//!    hash of the body and the client receives exactly the bytes sent;
//! 2. a `304` happens iff a member of the request's `If-None-Match` list
//!    weakly matches the current entity-tag (or the list is `*` alone; RFC
//!    9110 §13.1.2, §8.8.3.2);
//! 3. a GET or HEAD never gets `412` without `If-Match` or a valid
//!    `If-Unmodified-Since` (§13.1.1, §13.1.4);
//! 4. responses the layer must not touch (POST, non-2xx, `no-store`) come
//!    out with the same status, the same headers and the same frames.
//!
//! The number of cases is modest by default; set `PROPTEST_CASES` for more.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    IF_UNMODIFIED_SINCE, LAST_MODIFIED, SET_COOKIE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::BodyExt;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use tower::{service_fn, Layer, ServiceExt};
use tower_conditional::{ConditionalLayer, EntityTag, EtagPolicy};

use crate::support::FramesBody;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// `default` cases, unless `PROPTEST_CASES` says otherwise.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Failures print their minimal input; no regression files are
        // written next to the tests.
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

/// Runs a future on a fresh current-thread runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

/// What a handler's body is made of; it can be turned into a body any
/// number of times, so the same response can be sent with and without the
/// layer.
#[derive(Clone)]
struct BodySpec {
    chunks: Vec<Bytes>,
    trailers: Option<HeaderMap>,
    /// Return `Pending` (after waking the task) before every frame and the end.
    stall: bool,
    /// Announce the exact length in the size hint.
    exact_hint: bool,
}

impl BodySpec {
    /// `bytes` cut at the given points (duplicates make empty chunks).
    fn cut(bytes: &[u8], cuts: &[Index]) -> Vec<Bytes> {
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        points
            .windows(2)
            .map(|w| Bytes::copy_from_slice(&bytes[w[0]..w[1]]))
            .collect()
    }

    fn data(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    fn body(&self) -> FramesBody {
        let mut body = FramesBody::chunks(self.chunks.iter().cloned());
        if let Some(trailers) = &self.trailers {
            body = body.with_trailers(trailers.clone());
        }
        // With trailers, the hint counts the data only, and the stream ends
        // after the trailers: it is read in place all the same.
        if self.exact_hint {
            body = body.with_exact_size();
        }
        if self.stall {
            body = body.pending_before_each();
        }
        body
    }
}

/// Chunk sizes and a digest, not kilobytes of bytes, in failure reports.
impl std::fmt::Debug for BodySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let data = self.data();
        let head = &data[..data.len().min(16)];
        f.debug_struct("BodySpec")
            .field("len", &data.len())
            .field(
                "chunk_lens",
                &self.chunks.iter().map(Bytes::len).collect::<Vec<_>>(),
            )
            .field("first_bytes", &Bytes::copy_from_slice(head))
            .field("content_tag", &EntityTag::from_content(&data))
            .field("trailers", &self.trailers)
            .field("stall", &self.stall)
            .field("exact_hint", &self.exact_hint)
            .finish()
    }
}

/// One frame as the client sees it.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Data(Bytes),
    Trailers(HeaderMap),
}

/// Everything the client gets.
#[derive(Debug)]
struct Outcome {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    /// The body's exact size hint before it was read, if it had one.
    exact_hint: Option<u64>,
    frames: Vec<Seen>,
}

impl Outcome {
    async fn of<B>(response: Response<B>) -> Self
    where
        B: Body<Data = Bytes>,
        B::Error: std::fmt::Debug,
    {
        let (parts, body) = response.into_parts();
        let exact_hint = body.size_hint().exact();
        let mut body = pin!(body);
        let mut frames = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("these bodies do not fail");
            match frame.into_data() {
                Ok(data) => frames.push(Seen::Data(data)),
                Err(frame) => frames.push(Seen::Trailers(
                    frame.into_trailers().expect("data or trailers"),
                )),
            }
        }
        Self {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            exact_hint,
            frames,
        }
    }

    fn data(&self) -> Vec<u8> {
        self.frames
            .iter()
            .filter_map(|frame| match frame {
                Seen::Data(data) => Some(data.to_vec()),
                Seen::Trailers(_) => None,
            })
            .collect::<Vec<_>>()
            .concat()
    }

    /// The length a server would state: `Content-Length`, else the exact
    /// size hint (hyper writes that into the header).
    fn stated_length(&self) -> Option<u64> {
        match self.headers.get(CONTENT_LENGTH) {
            Some(value) => value.to_str().ok()?.parse().ok(),
            None => self.exact_hint,
        }
    }

    fn trailers(&self) -> Option<&HeaderMap> {
        self.frames.iter().find_map(|frame| match frame {
            Seen::Trailers(trailers) => Some(trailers),
            Seen::Data(_) => None,
        })
    }
}

/// The handler's response: status, headers and body.
#[derive(Debug, Clone)]
struct ResponseSpec {
    status: StatusCode,
    headers: HeaderMap,
    body: BodySpec,
}

impl ResponseSpec {
    fn response(&self) -> Response<FramesBody> {
        let mut response = Response::new(self.body.body());
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// Sends `request` through `layer` around a handler answering `spec`.
fn through(layer: ConditionalLayer, request: Request<()>, spec: &ResponseSpec) -> Outcome {
    let mut response = Some(spec.response());
    let service = layer.layer(service_fn(move |_request: Request<()>| {
        let response = response.take().expect("called once");
        async move { Ok::<_, Infallible>(response) }
    }));
    block_on(async move {
        let response = service.oneshot(request).await.expect("infallible");
        Outcome::of(response).await
    })
}

/// What the handler's response looks like with no layer at all.
fn without_layer(spec: &ResponseSpec) -> Outcome {
    block_on(Outcome::of(spec.response()))
}

fn request(method: Method, headers: HeaderMap) -> Request<()> {
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.headers_mut() = headers;
    request
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

/// `Sun, 06 Nov 1994 08:49:37 GMT` in the three formats of RFC 9110 §5.6.7.
const T0: [&str; 3] = [
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
];
const BEFORE_T0: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
const AFTER_T0: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

fn body_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn body_spec(max: usize) -> impl Strategy<Value = BodySpec> {
    (
        body_bytes(max),
        // No cut (one chunk) is common: it is the fast path of the layer.
        prop_oneof![1 => Just(Vec::new()), 3 => vec(any::<Index>(), 0..24)],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(bytes, cuts, stall, exact_hint, trailers)| BodySpec {
            chunks: BodySpec::cut(&bytes, &cuts),
            trailers: trailers.then(|| {
                let mut map = HeaderMap::new();
                map.insert("x-checksum", HeaderValue::from(bytes.len()));
                map
            }),
            stall,
            exact_hint,
        })
}

/// Opaque-tags with every etagc byte but the comma (a comma inside a
/// malformed member would split it in two, which is a different test).
fn opaque() -> impl Strategy<Value = String> {
    r"[!#-+\-.-~]{0,16}"
}

/// How the current entity-tag comes about.
#[derive(Debug, Clone)]
enum CurrentTag {
    /// The layer hashes the body, with this policy.
    Hashed(EtagPolicy),
    /// The handler sets it.
    Handler(EntityTag),
}

fn current_tag() -> impl Strategy<Value = CurrentTag> {
    prop_oneof![
        Just(CurrentTag::Hashed(EtagPolicy::Strong)),
        Just(CurrentTag::Hashed(EtagPolicy::Weak)),
        (any::<bool>(), opaque()).prop_map(|(weak, opaque)| {
            let tag = if weak {
                EntityTag::weak(&opaque)
            } else {
                EntityTag::strong(&opaque)
            };
            CurrentTag::Handler(tag.expect("etagc only"))
        }),
    ]
}

/// One member of a generated `If-None-Match` list.
#[derive(Debug, Clone)]
enum Member {
    /// The current tag, weak or strong.
    Current(bool),
    /// Some other well-formed tag (it may hold commas).
    Other(bool, String),
    /// A well-formed tag one edit away from the current one.
    NearMiss(NearMiss, bool),
    /// Not an entity-tag, built around the current opaque part.
    Malformed(Malformed),
    Star,
    Empty,
}

#[derive(Debug, Clone, Copy)]
enum NearMiss {
    CaseFlipped,
    Truncated,
    Extended,
}

#[derive(Debug, Clone, Copy)]
enum Malformed {
    LowercaseWeak,
    Unquoted,
    JunkAfter,
    SecondTagWithoutComma,
    SpaceInside,
    TabInside,
    NonAscii,
    SpaceAfterWeak,
    StarThenTag,
    /// `"x\"y"`: a backslash is etagc, not an escape.
    Backslash,
}

fn member() -> impl Strategy<Value = Member> {
    prop_oneof![
        2 => any::<bool>().prop_map(Member::Current),
        3 => (any::<bool>(), r"[!#-~]{0,12}").prop_map(|(w, o)| Member::Other(w, o)),
        2 => (
            prop_oneof![
                Just(NearMiss::CaseFlipped),
                Just(NearMiss::Truncated),
                Just(NearMiss::Extended)
            ],
            any::<bool>()
        )
            .prop_map(|(kind, weak)| Member::NearMiss(kind, weak)),
        3 => prop_oneof![
            Just(Malformed::LowercaseWeak),
            Just(Malformed::Unquoted),
            Just(Malformed::JunkAfter),
            Just(Malformed::SecondTagWithoutComma),
            Just(Malformed::SpaceInside),
            Just(Malformed::TabInside),
            Just(Malformed::NonAscii),
            Just(Malformed::SpaceAfterWeak),
            Just(Malformed::StarThenTag),
            Just(Malformed::Backslash),
        ]
        .prop_map(Member::Malformed),
        1 => Just(Member::Star),
        1 => Just(Member::Empty),
    ]
}

/// A field line: members, the separators between them, and optionally an
/// unterminated quoted string at the end (it swallows what follows, so it
/// only ever comes last).
#[derive(Debug, Clone)]
struct Line {
    members: Vec<(Member, &'static str)>,
    unterminated: bool,
    padding: (&'static str, &'static str),
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![",", ", ", " ,", " , ", ",\t", ", ,", ",,"])
}

fn padding() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", " ", "\t", " \t"])
}

fn line() -> impl Strategy<Value = Line> {
    (
        vec((member(), separator()), 0..6),
        prop::bool::weighted(0.15),
        (padding(), padding()),
    )
        .prop_map(|(members, unterminated, padding)| Line {
            members,
            unterminated,
            padding,
        })
}

fn quoted(weak: bool, opaque: &str) -> String {
    if weak {
        format!("W/\"{opaque}\"")
    } else {
        format!("\"{opaque}\"")
    }
}

fn near_miss(kind: NearMiss, current: &str) -> String {
    let flipped: String = current
        .chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => c,
        })
        .collect();
    match kind {
        NearMiss::CaseFlipped if flipped != current => flipped,
        NearMiss::Truncated if !current.is_empty() => current[..current.len() - 1].to_owned(),
        _ => format!("{current}0"),
    }
}

/// The bytes of a malformed member around `current` (which has no comma).
fn malformed(kind: Malformed, current: &str) -> Vec<u8> {
    // A bare opaque part must still be a member: not empty, not `*`.
    let bare = if current.is_empty() || current.starts_with('*') {
        format!("m{current}")
    } else {
        current.to_owned()
    };
    let text = match kind {
        Malformed::LowercaseWeak => format!("w/\"{current}\""),
        Malformed::Unquoted => bare,
        Malformed::JunkAfter => format!("\"{current}\"x"),
        Malformed::SecondTagWithoutComma => format!("\"zz\" \"{current}\""),
        Malformed::SpaceInside => format!("\"{current} \""),
        Malformed::TabInside => format!("\"\t{current}\""),
        Malformed::SpaceAfterWeak => format!("W/ \"{current}\""),
        Malformed::StarThenTag => format!("*\"{current}\""),
        Malformed::NonAscii => return [b"\"", current.as_bytes(), b"\xe9\""].concat(),
        Malformed::Backslash => format!("\"{current}\\\"y\""),
    };
    text.into_bytes()
}

/// Renders the lines of an `If-None-Match` field against the current opaque
/// part, and says whether the RFC makes it match: some member is the current
/// tag (weak comparison), or the field is `*` and nothing else.
fn render_if_none_match(lines: &[Line], current: &str) -> (Vec<HeaderValue>, bool) {
    let mut values = Vec::new();
    let mut members = 0;
    let mut stars = 0;
    let mut matches = false;
    for line in lines {
        let mut text = line.padding.0.as_bytes().to_vec();
        for (index, (member, separator)) in line.members.iter().enumerate() {
            if index > 0 {
                text.extend_from_slice(separator.as_bytes());
            }
            let rendered = match member {
                Member::Current(weak) => {
                    matches = true;
                    quoted(*weak, current).into_bytes()
                }
                Member::Other(weak, other) => {
                    let other = if other == current {
                        format!("{other}~")
                    } else {
                        other.clone()
                    };
                    quoted(*weak, &other).into_bytes()
                }
                Member::NearMiss(kind, weak) => {
                    quoted(*weak, &near_miss(*kind, current)).into_bytes()
                }
                Member::Malformed(kind) => malformed(*kind, current),
                Member::Star => {
                    stars += 1;
                    b"*".to_vec()
                }
                Member::Empty => Vec::new(),
            };
            if !rendered.is_empty() {
                members += 1;
            }
            text.extend(rendered);
        }
        if line.unterminated {
            text.extend_from_slice(format!(", \"{current}").as_bytes());
            members += 1;
        }
        text.extend_from_slice(line.padding.1.as_bytes());
        values.push(HeaderValue::from_bytes(&text).expect("valid field line"));
    }
    (values, matches || (members == 1 && stars == 1))
}

// ---------------------------------------------------------------------------
// 1. The ETag is the content hash; the bytes are the bytes.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn etag_is_the_content_hash_whatever_the_chunking(
        body in body_spec(64 * 1024),
        weak in any::<bool>(),
        head in any::<bool>(),
    ) {
        let data = body.data();
        let policy = if weak { EtagPolicy::Weak } else { EtagPolicy::Strong };
        let spec = ResponseSpec { status: StatusCode::OK, headers: HeaderMap::new(), body: body.clone() };
        let method = if head { Method::HEAD } else { Method::GET };
        let got = through(
            ConditionalLayer::new().etag_policy(policy),
            request(method, HeaderMap::new()),
            &spec,
        );

        prop_assert_eq!(got.status, StatusCode::OK);
        if head && data.is_empty() {
            // An empty HEAD answer may be a stripped one: never hashed, and
            // no length of 0 made up for it.
            prop_assert!(!got.headers.contains_key(ETAG));
            prop_assert!(!got.headers.contains_key(CONTENT_LENGTH));
            prop_assert!(got.frames.is_empty());
            return Ok(());
        }
        let mut expected = EntityTag::from_content(&data);
        if weak {
            expected = expected.into_weak();
        }
        prop_assert_eq!(got.headers.get(ETAG), Some(&expected.to_header_value()));
        // A length only when it cannot cost the trailers; a HEAD states it
        // in the header, since its body is empty.
        let length = data.len() as u64;
        prop_assert_eq!(got.stated_length(), body.trailers.is_none().then_some(length));
        if head {
            let header = body.trailers.is_none().then(|| HeaderValue::from(length));
            prop_assert_eq!(got.headers.get(CONTENT_LENGTH), header.as_ref());
        }
        if head {
            prop_assert!(got.frames.is_empty(), "a HEAD answer has no body");
        } else {
            prop_assert_eq!(got.data(), data);
            prop_assert_eq!(got.trailers(), body.trailers.as_ref());
            prop_assert!(
                !got.frames.iter().any(|f| matches!(f, Seen::Data(d) if d.is_empty())),
                "no empty data frames"
            );
        }
    }

    /// With a body limit, a body within it is hashed as above; one over it
    /// goes out whole and unchanged, with no `ETag`.
    #[test]
    fn bodies_over_the_limit_stream_through_unhashed(
        body in body_spec(4 * 1024),
        // 0 is refused when the layer is built (a test of its own).
        limit in 1usize..=5 * 1024,
    ) {
        let data = body.data();
        let spec = ResponseSpec { status: StatusCode::OK, headers: HeaderMap::new(), body: body.clone() };
        let got = through(
            ConditionalLayer::new().max_hashed_body_size(limit),
            request(Method::GET, HeaderMap::new()),
            &spec,
        );
        prop_assert_eq!(got.status, StatusCode::OK);
        prop_assert_eq!(got.data(), data.as_slice());
        prop_assert_eq!(got.trailers(), body.trailers.as_ref());
        if data.len() <= limit {
            prop_assert_eq!(
                got.headers.get(ETAG),
                Some(&EntityTag::from_content(&data).to_header_value())
            );
        } else {
            prop_assert!(!got.headers.contains_key(ETAG), "{:?}", got.headers);
            prop_assert!(!got.headers.contains_key(CONTENT_LENGTH));
        }
    }
}

/// The smallest case property 1 found: one data frame followed by trailers.
/// (The layer hashed nothing and gave every such body the `ETag` of the
/// empty body, so any two of them compared equal.)
#[test]
fn one_chunk_then_trailers_is_hashed() {
    for data in [&b"L"[..], b"hello", b"world"] {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", HeaderValue::from_static("1"));
        let spec = ResponseSpec {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: BodySpec {
                chunks: vec![Bytes::copy_from_slice(data)],
                trailers: Some(trailers),
                stall: false,
                exact_hint: false,
            },
        };
        let got = through(
            ConditionalLayer::new(),
            request(Method::GET, HeaderMap::new()),
            &spec,
        );
        assert_eq!(got.data(), data);
        assert_eq!(
            got.headers.get(ETAG),
            Some(&EntityTag::from_content(data).to_header_value()),
            "body {data:?} then trailers"
        );
    }
}

// ---------------------------------------------------------------------------
// 2. 304 iff some If-None-Match member weakly matches the current tag.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn not_modified_iff_a_member_weakly_matches(
        body in body_bytes(512),
        current in current_tag(),
        lines in vec(line(), 1..4),
        head in any::<bool>(),
        if_modified_since in any::<bool>(),
    ) {
        let mut headers = HeaderMap::new();
        let (layer, tag) = match &current {
            CurrentTag::Hashed(policy) => {
                let tag = EntityTag::from_content(&body);
                let tag = if *policy == EtagPolicy::Weak { tag.into_weak() } else { tag };
                (ConditionalLayer::new().etag_policy(*policy), tag)
            }
            CurrentTag::Handler(tag) => {
                headers.insert(ETAG, tag.to_header_value());
                (ConditionalLayer::new(), tag.clone())
            }
        };
        // If-Modified-Since alone would give a 304 here; with If-None-Match
        // present it must be ignored (RFC 9110 §13.1.3).
        let mut request_headers = HeaderMap::new();
        if if_modified_since {
            headers.insert(LAST_MODIFIED, HeaderValue::from_static(T0[0]));
            request_headers.insert(IF_MODIFIED_SINCE, HeaderValue::from_static(T0[0]));
        }
        let (values, matches) = render_if_none_match(&lines, tag.opaque());
        for value in &values {
            request_headers.append(IF_NONE_MATCH, value.clone());
        }
        let spec = ResponseSpec {
            status: StatusCode::OK,
            headers,
            body: BodySpec { chunks: vec![Bytes::from(body.clone())], trailers: None, stall: false, exact_hint: true },
        };
        let method = if head { Method::HEAD } else { Method::GET };
        let got = through(layer, request(method, request_headers), &spec);

        if head && body.is_empty() && matches!(current, CurrentTag::Hashed(_)) {
            // An empty HEAD answer is never hashed (it may have been
            // stripped): no tag, so no member can match it.
            prop_assert_eq!(got.status, StatusCode::OK, "{:?}", values);
            prop_assert!(!got.headers.contains_key(ETAG));
            return Ok(());
        }
        if matches {
            prop_assert_eq!(got.status, StatusCode::NOT_MODIFIED, "{:?} vs {}", values, tag);
            prop_assert!(got.frames.is_empty());
            prop_assert!(!got.headers.contains_key(CONTENT_LENGTH));
        } else {
            prop_assert_eq!(got.status, StatusCode::OK, "{:?} vs {}", values, tag);
            let want: &[u8] = if head { b"" } else { &body };
            prop_assert_eq!(got.data(), want);
        }
        prop_assert_eq!(got.headers.get(ETAG), Some(&tag.to_header_value()));
    }
}

// ---------------------------------------------------------------------------
// 3. No 412 for GET/HEAD without If-Match or a valid If-Unmodified-Since.
// ---------------------------------------------------------------------------

/// An `If-Unmodified-Since` (or `If-Modified-Since`) field that is not one
/// valid HTTP-date: garbage, a date in a zone other than GMT, or several
/// lines (RFC 9110 §13.1.4: the field is then ignored).
fn invalid_date_field() -> impl Strategy<Value = Vec<HeaderValue>> {
    prop_oneof![
        Just(vec![]),
        "[ -~]{0,40}".prop_map(|s| vec![HeaderValue::from_str(&s).unwrap()]),
        Just(vec![HeaderValue::from_static(
            "Sun, 06 Nov 1994 08:49:37 PST"
        )]),
        Just(vec![HeaderValue::from_static(
            "Wed, 31 Dec 1969 23:59:59 GMT"
        )]),
        Just(vec![HeaderValue::from_static("")]),
        (0usize..3, 0usize..3).prop_map(|(a, b)| vec![
            HeaderValue::from_static(T0[a]),
            HeaderValue::from_static(T0[b]),
        ]),
        Just(vec![
            HeaderValue::from_static(BEFORE_T0),
            HeaderValue::from_static(BEFORE_T0),
        ]),
    ]
}

fn any_date_field() -> impl Strategy<Value = Vec<HeaderValue>> {
    prop_oneof![
        invalid_date_field(),
        prop::sample::select(vec![T0[0], T0[1], T0[2], BEFORE_T0, AFTER_T0])
            .prop_map(|date| vec![HeaderValue::from_static(date)]),
    ]
}

fn status() -> impl Strategy<Value = StatusCode> {
    prop::sample::select(vec![
        200u16, 200, 200, 201, 203, 204, 206, 301, 304, 404, 500,
    ])
    .prop_map(|code| StatusCode::from_u16(code).unwrap())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn no_412_for_get_or_head_without_if_match_or_valid_if_unmodified_since(
        status in status(),
        body in body_spec(256),
        handler_tag in proptest::option::of((any::<bool>(), opaque())),
        last_modified in proptest::option::of(prop::sample::select(vec![
            T0[0], BEFORE_T0, AFTER_T0, "Fri, 31 Dec 9999 23:59:59 GMT", "not a date",
        ])),
        inm in proptest::option::of(vec(line(), 1..3)),
        ims in any_date_field(),
        ius in invalid_date_field(),
        head in any::<bool>(),
        weak_policy in any::<bool>(),
    ) {
        let mut headers = HeaderMap::new();
        if let Some((weak, opaque)) = &handler_tag {
            let tag = if *weak { EntityTag::weak(opaque) } else { EntityTag::strong(opaque) };
            headers.insert(ETAG, tag.unwrap().to_header_value());
        }
        if let Some(date) = last_modified {
            headers.insert(LAST_MODIFIED, HeaderValue::from_static(date));
        }
        let mut request_headers = HeaderMap::new();
        if let Some(lines) = &inm {
            let current = handler_tag.as_ref().map_or("xyzzy", |(_, o)| o.as_str());
            for value in render_if_none_match(lines, current).0 {
                request_headers.append(IF_NONE_MATCH, value);
            }
        }
        for value in ims {
            request_headers.append(IF_MODIFIED_SINCE, value);
        }
        for value in ius {
            request_headers.append(IF_UNMODIFIED_SINCE, value);
        }
        let spec = ResponseSpec { status, headers, body };
        let method = if head { Method::HEAD } else { Method::GET };
        let policy = if weak_policy { EtagPolicy::Weak } else { EtagPolicy::Strong };
        let got = through(
            ConditionalLayer::new().etag_policy(policy),
            request(method, request_headers.clone()),
            &spec,
        );
        prop_assert_ne!(got.status, StatusCode::PRECONDITION_FAILED, "{:?}", request_headers);
    }
}

// ---------------------------------------------------------------------------
// 4. What the layer must not touch comes out identical.
// ---------------------------------------------------------------------------

/// Why a response is not the layer's business.
#[derive(Debug, Clone)]
enum Ineligible {
    /// A method other than GET and HEAD, with any status.
    Method(Method, StatusCode),
    /// A GET answered with something other than 2xx.
    Status(StatusCode),
    /// A 200 to a GET marked `no-store` (in one of several spellings).
    NoStore(Vec<&'static str>),
    /// A 200 to a GET that is a stream: server-sent events or gRPC.
    Streaming(&'static str),
}

fn ineligible() -> impl Strategy<Value = Ineligible> {
    let any_status = prop::sample::select(vec![200u16, 201, 204, 206, 304, 404, 412, 500])
        .prop_map(|code| StatusCode::from_u16(code).unwrap());
    let method = prop::sample::select(vec![
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::from_bytes(b"PURGE").unwrap(),
    ]);
    prop_oneof![
        (method, any_status).prop_map(|(m, s)| Ineligible::Method(m, s)),
        prop::sample::select(vec![301u16, 302, 304, 400, 403, 404, 410, 500, 503])
            .prop_map(|code| Ineligible::Status(StatusCode::from_u16(code).unwrap())),
        prop::sample::subsequence(
            vec![
                "no-store",
                "private, no-store",
                "NO-STORE",
                "max-age=0,no-store",
                "no-cache"
            ],
            1..3
        )
        .prop_filter("needs a no-store", |lines| lines
            .iter()
            .any(|l| l.to_ascii_lowercase().contains("no-store")))
        .prop_map(Ineligible::NoStore),
        prop::sample::select(vec![
            "text/event-stream",
            "Text/Event-Stream; charset=utf-8",
            "application/grpc",
            "application/grpc+proto",
        ])
        .prop_map(Ineligible::Streaming),
    ]
}

/// Request conditions, many of which would change an eligible response.
fn conditions() -> impl Strategy<Value = HeaderMap> {
    let field = prop::sample::select(vec![
        (IF_NONE_MATCH, "*"),
        (IF_NONE_MATCH, "\"v1\""),
        (IF_NONE_MATCH, "W/\"v1\", \"other\""),
        (http::header::IF_MATCH, "\"nope\""),
        (http::header::IF_MATCH, "*"),
        (IF_MODIFIED_SINCE, T0[0]),
        (IF_MODIFIED_SINCE, AFTER_T0),
        (IF_UNMODIFIED_SINCE, BEFORE_T0),
    ]);
    vec(field, 0..4).prop_map(|fields| {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(name, HeaderValue::from_static(value));
        }
        headers
    })
}

fn handler_headers() -> impl Strategy<Value = HeaderMap> {
    (
        proptest::option::of(prop::sample::select(vec!["application/json", "text/html"])),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        any::<bool>(),
    )
        .prop_map(|(content_type, etag, last_modified, cookies, custom)| {
            let mut headers = HeaderMap::new();
            if let Some(content_type) = content_type {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            }
            if etag {
                headers.insert(ETAG, HeaderValue::from_static("\"v1\""));
            }
            if last_modified {
                headers.insert(LAST_MODIFIED, HeaderValue::from_static(T0[0]));
            }
            for i in 0..cookies {
                headers.append(SET_COOKIE, HeaderValue::from(i));
            }
            if custom {
                headers.insert(
                    HeaderName::from_static("x-trace"),
                    HeaderValue::from_static("abc"),
                );
            }
            headers
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn ineligible_responses_are_untouched(
        why in ineligible(),
        mut headers in handler_headers(),
        body in body_spec(2048),
        conditions in conditions(),
    ) {
        let (method, status) = match &why {
            Ineligible::Method(method, status) => (method.clone(), *status),
            Ineligible::Status(status) => (Method::GET, *status),
            Ineligible::NoStore(lines) => {
                for line in lines {
                    headers.append(CACHE_CONTROL, HeaderValue::from_static(line));
                }
                (Method::GET, StatusCode::OK)
            }
            Ineligible::Streaming(content_type) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                (Method::GET, StatusCode::OK)
            }
        };
        let spec = ResponseSpec { status, headers, body };
        let expected = without_layer(&spec);
        let got = through(ConditionalLayer::new(), request(method, conditions), &spec);
        prop_assert_eq!(got.status, expected.status);
        prop_assert_eq!(got.version, expected.version);
        // Same names, same values, in the same order.
        let lines = |map: &HeaderMap| {
            map.iter().map(|(n, v)| (n.clone(), v.clone())).collect::<Vec<_>>()
        };
        prop_assert_eq!(lines(&got.headers), lines(&expected.headers));
        prop_assert_eq!(got.frames, expected.frames);
    }
}
