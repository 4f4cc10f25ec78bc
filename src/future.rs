//! The response future of [`Conditional`](crate::Conditional).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http::header::{CONTENT_LENGTH, ETAG, LAST_MODIFIED};
use http::{response, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, SizeHint};
use pin_project_lite::pin_project;
use tower::Service;

use crate::body::{into_bytes, ConditionalBody, Held, Rest};
use crate::eligibility;
use crate::entity_tag::{parse_tag, EntityTag};
use crate::layer::{Config, EtagPolicy};
use crate::lookup::ResourceState;
use crate::memo;
use crate::not_modified::{into_not_modified, not_modified_headers, precondition_failed_headers};
use crate::preconditions::{parse_http_date, Evaluation, Preconditions, Validators};
use crate::service::start;
use crate::Bypass;

pin_project! {
    /// The response future of [`Conditional`](crate::Conditional).
    ///
    /// It waits for the inner service's response and, when the response can
    /// get a content-hash entity-tag, reads its body (up to the configured
    /// limit) before resolving, so it can answer `304 Not Modified` instead.
    /// Dropping it drops the inner future or body.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_conditional::ConditionalLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = ConditionalLayer::new().layer(service_fn(|_req: Request<()>| async {
    ///     Ok::<_, Infallible>(Response::new(http_body_util::Full::new(bytes::Bytes::from("hi"))))
    /// }));
    /// // `oneshot` drives the `ResponseFuture` to completion.
    /// let response = service.oneshot(Request::new(())).await.unwrap();
    /// assert!(response.headers().contains_key("etag"));
    /// # }
    /// ```
    pub struct ResponseFuture<F, B>
    where
        B: Body,
    {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B>
    where
        B: Body,
    {
        // Not a GET or HEAD, or opted out: the response is passed on untouched.
        Passthrough { #[pin] future: F },
        // Waiting for the inner response of a GET or HEAD.
        Inner { #[pin] future: F, request: Option<RequestFacts> },
        // Reading and hashing a body that was not ready at once, with the
        // response held back meanwhile.
        Buffering { reading: Option<(Pin<Box<B>>, Box<Pending>)> },
        Done,
    }
}

/// What the future needs to know about the request once the response is in.
#[derive(Debug)]
pub(crate) struct RequestFacts {
    /// `None` when the request has none (nearly every request): then the
    /// future does not carry their 160 bytes around.
    pub(crate) preconditions: Option<Box<Preconditions>>,
    pub(crate) is_head: bool,
    pub(crate) config: Config,
    /// Validators a lookup found before the handler ran; boxed, because
    /// only requests under a lookup have them and every future carries the
    /// field.
    pub(crate) looked_up: Option<Box<Validators>>,
}

impl RequestFacts {
    fn preconditions(&self) -> &Preconditions {
        static NONE: Preconditions = Preconditions::NONE;
        self.preconditions.as_deref().unwrap_or(&NONE)
    }
}

/// The response being held back while its body is hashed.
struct Pending {
    parts: response::Parts,
    /// The handler set a `Content-Length` field.
    has_content_length: bool,
    held: Held,
    hashing: Hashing,
    request: RequestFacts,
    last_modified: Option<std::time::SystemTime>,
}

/// `blake3::hash(b"")`, which the tests check: an empty body is common
/// enough (`204`-like `200`s) not to hash it every time.
const EMPTY_BODY_HASH: blake3::Hash = blake3::Hash::from_bytes([
    0xaf, 0x13, 0x49, 0xb9, 0xf5, 0xf9, 0xa1, 0xa6, 0xa0, 0x40, 0x4d, 0xea, 0x36, 0xdc, 0xc9, 0x49,
    0x9b, 0xcb, 0x25, 0xc9, 0xad, 0xc1, 0x12, 0xb7, 0xcc, 0x9a, 0x93, 0xca, 0xe4, 0x1f, 0x32, 0x62,
]);

/// How many bytes of small chunks are gathered before they are hashed.
const STAGE: usize = 16 * 1024;

/// How the body read so far is being hashed.
///
/// blake3 is fastest given the whole input in one slice (several 1 KiB
/// chunks at once with SIMD, and none of the incremental hasher's set-up);
/// fed a few hundred bytes at a time it runs several times slower. So:
enum Hashing {
    /// At most one chunk so far, held as it came: a body of one chunk is
    /// hashed in one call at the end, without a copy.
    OneChunk,
    /// Several chunks, `STAGE` bytes or less in all, copied into one buffer
    /// and not held: at the end the buffer is hashed in one call (or found
    /// in the memo) and sent as the body, one frame instead of many. It is
    /// the only copy the response needs (the memo may keep one of its own).
    Gathered(Vec<u8>),
    /// A longer body, hashed as it arrives. Its chunks are held by
    /// reference, after the copy of its start when that was gathered.
    Incremental(Box<StagedHasher>),
}

/// An incremental hasher for bodies longer than `STAGE` that arrive in
/// several chunks.
///
/// Chunks smaller than `STAGE` are gathered in one bounded buffer before
/// they are hashed (a copy for hashing only: the frames held for the client
/// are not copied), larger ones are hashed where they are.
struct StagedHasher {
    hasher: blake3::Hasher,
    stage: Vec<u8>,
}

impl StagedHasher {
    /// Boxed: 1.9 KiB that bodies of one chunk, or gathered, never need.
    fn boxed() -> Box<Self> {
        Box::new(Self {
            hasher: blake3::Hasher::new(),
            stage: Vec::new(),
        })
    }

    fn update(&mut self, data: &[u8]) {
        if !self.stage.is_empty() && self.stage.len() + data.len() > STAGE {
            self.hasher.update(&self.stage);
            self.stage.clear();
        }
        if data.len() >= STAGE {
            self.hasher.update(data);
        } else {
            if self.stage.capacity() < STAGE {
                self.stage.reserve_exact(STAGE - self.stage.len());
            }
            self.stage.extend_from_slice(data);
        }
    }

    fn finalize(mut self) -> blake3::Hash {
        self.hasher.update(&self.stage);
        self.stage.clear();
        self.hasher.finalize()
    }
}

impl<F, B> ResponseFuture<F, B>
where
    B: Body,
{
    pub(crate) fn passthrough(future: F) -> Self {
        Self {
            state: State::Passthrough { future },
        }
    }

    pub(crate) fn conditional(future: F, request: RequestFacts) -> Self {
        Self {
            state: State::Inner {
                future,
                request: Some(request),
            },
        }
    }
}

type Output<B, E> = Result<Response<ConditionalBody<B>>, E>;

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    B::Data: Buf,
{
    type Output = Output<B, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        match state.as_mut().project() {
            StateProj::Passthrough { future } => {
                let response = ready!(future.poll(cx))?;
                state.set(State::Done);
                Poll::Ready(Ok(response.map(ConditionalBody::passthrough)))
            }
            StateProj::Inner { future, request } => {
                let response = ready!(future.poll(cx))?;
                let request = request.take().expect("polled after completion");
                let (mut body, mut pending) = match on_response(response, request) {
                    Step::Answer(response) => {
                        state.set(State::Done);
                        return Poll::Ready(Ok(response));
                    }
                    Step::Buffer(body, pending) => (body, pending),
                };
                // The inner future is finished: what it holds (a permit, a
                // span) goes before the body is read.
                state.set(State::Done);
                // Most bodies are in memory already: read them now. Only a
                // body that must be waited for puts the response in the
                // state, boxed, so that the future stays small for all.
                if let Poll::Ready(read) = read_body(cx, &mut body, &mut pending) {
                    return Poll::Ready(Ok(answer_read(pending, body, read)));
                }
                state.set(State::Buffering {
                    reading: Some((body, Box::new(pending))),
                });
                Poll::Pending
            }
            StateProj::Buffering { reading } => {
                let (body, pending) = reading.as_mut().expect("polled after completion");
                let read = ready!(read_body(cx, body, pending));
                let (body, pending) = reading.take().expect("checked above");
                state.set(State::Done);
                Poll::Ready(Ok(answer_read(*pending, body, read)))
            }
            StateProj::Done => panic!("ResponseFuture polled after completion"),
        }
    }
}

// A return value, moved once: boxing the large variant would cost an
// allocation per request to save a copy.
#[allow(clippy::large_enum_variant)]
enum Step<B: Body> {
    Answer(Response<ConditionalBody<B>>),
    Buffer(Pin<Box<B>>, Pending),
}

/// Decides what to do with the inner response to a GET or HEAD.
fn on_response<B: Body>(response: Response<B>, request: RequestFacts) -> Step<B> {
    let (mut parts, body) = response.into_parts();
    if !parts.status.is_success() || parts.extensions.get::<Bypass>().is_some() {
        return Step::Answer(pass_on(parts, body, request.is_head));
    }
    let fields = eligibility::inspect(&parts.headers);
    if fields.must_stream {
        return Step::Answer(pass_on(parts, body, request.is_head));
    }
    let mut has_etag = fields.has_etag;
    if parts.status == StatusCode::OK {
        if let Some(looked_up) = &request.looked_up {
            add_looked_up_validators(&mut parts.headers, looked_up);
            has_etag = parts.headers.contains_key(ETAG);
        }
    }
    // Without preconditions every evaluation is Proceed: neither the
    // handler's ETag nor its Last-Modified needs parsing.
    let unconditional = request.preconditions.is_none();
    // An empty answer to a HEAD is never hashed: it may be a body stripped on
    // the way, or a `head` handler's, and the tag of an empty body would then
    // contradict the GET's.
    let empty_head = request.is_head && body.is_end_stream();
    let must_not_hash = parts.status != StatusCode::OK
        || has_etag
        || empty_head
        || exceeds(fields.content_length, &body, request.config.max_body_size);
    if must_not_hash && unconditional {
        return Step::Answer(pass_on(parts, body, request.is_head));
    }
    // The handler's Last-Modified matters to the evaluation only for a date
    // precondition (a 412 reads it itself), and to tell whether a status
    // other than 200 has any validator.
    let last_modified =
        if request.preconditions().has_date_conditions() || parts.status != StatusCode::OK {
            single_date(&parts.headers)
        } else {
            None
        };
    if must_not_hash {
        // The handler's tag is compared where it lies, in the header.
        let etag = parts
            .headers
            .get(ETAG)
            .and_then(|value| parse_tag(value.as_bytes()));
        if empty_head && etag.is_none() && !head_can_be_evaluated(&request, last_modified) {
            return Step::Answer(pass_on(parts, body, request.is_head));
        }
        if parts.status != StatusCode::OK && etag.is_none() && last_modified.is_none() {
            // Nothing describes the selected representation (a 206 with no
            // validators, say): leave it to the inner service.
            return Step::Answer(pass_on(parts, body, request.is_head));
        }
        let evaluation = request.preconditions().evaluate_current(
            &http::Method::GET,
            true,
            etag.as_ref(),
            last_modified,
        );
        return Step::Answer(match evaluation {
            Evaluation::Proceed => pass_on(parts, body, request.is_head),
            Evaluation::NotModified => not_modified(parts),
            Evaluation::PreconditionFailed => {
                let etag = parts
                    .headers
                    .get(ETAG)
                    .and_then(|value| EntityTag::from_header_value(value).ok());
                let current = validators(etag, last_modified);
                precondition_failed(parts, &current)
            }
        });
    }
    if body.is_end_stream() {
        // Nothing to read: hash the empty body now.
        let etag = make_etag(&EMPTY_BODY_HASH, request.config.etag_policy);
        // Only a GET gets here: an empty HEAD answer is not hashed.
        if fields.has_content_length {
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        return Step::Answer(answer_hashed(
            parts,
            Held::default(),
            etag,
            last_modified,
            &request,
        ));
    }
    Step::Buffer(
        Box::pin(body),
        Pending {
            parts,
            has_content_length: fields.has_content_length,
            held: Held::default(),
            hashing: Hashing::OneChunk,
            request,
            last_modified,
        },
    )
}

/// Gives a 200 the validators looked up before the handler ran, unless the
/// handler set its own: what the handler says about its response wins.
fn add_looked_up_validators(headers: &mut http::HeaderMap, looked_up: &Validators) {
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

/// How the reading of a body stopped.
enum BodyRead<E> {
    /// It ended: everything was read.
    Ended,
    /// It outgrew the limit: what was read is held, the rest is unread.
    OverLimit,
    /// It failed, after what is held.
    Failed(E),
}

/// Reads the body into `pending` until it ends, fails or outgrows the limit.
fn read_body<B>(
    cx: &mut Context<'_>,
    body: &mut Pin<Box<B>>,
    pending: &mut Pending,
) -> Poll<BodyRead<B::Error>>
where
    B: Body,
    B::Data: Buf,
{
    let max = pending.request.config.max_body_size;
    // While gathering, nothing is held: the gathered bytes are all read.
    let gather_limit = STAGE.min(max);
    loop {
        let frame = match ready!(body.as_mut().poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                pending.stop_gathering();
                return Poll::Ready(BodyRead::Failed(error));
            }
            None => return Poll::Ready(BodyRead::Ended),
        };
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    pending.held.push_trailers(trailers);
                }
                continue;
            }
        };
        let len = data.remaining();
        if len == 0 {
            continue;
        }
        // The common step of a body in small chunks, first.
        if let Hashing::Gathered(gathered) = &mut pending.hashing {
            if gathered.len() + len <= gather_limit {
                gather(gathered, data);
                continue;
            }
        }
        let read = pending.read_len();
        if read.saturating_add(len) > max {
            pending.stop_gathering();
            pending.held.push_data(into_bytes(data));
            return Poll::Ready(BodyRead::OverLimit);
        }
        if read == 0 {
            // The first chunk, maybe the only one: held as it came.
            pending.held.push_data(into_bytes(data));
            continue;
        }
        take_chunk(pending, data, read, || body.size_hint());
    }
}

/// The response, once its body was read as far as it will be.
#[inline]
fn answer_read<B: Body>(
    pending: Pending,
    body: Pin<Box<B>>,
    read: BodyRead<B::Error>,
) -> Response<ConditionalBody<B>> {
    match read {
        BodyRead::Ended => drop(body),
        BodyRead::OverLimit => return answer_unhashed(pending, Rest::Inner(body)),
        BodyRead::Failed(error) => {
            drop(body);
            return answer_unhashed(pending, Rest::Error(Some(error)));
        }
    }
    if pending.request.is_head && pending.read_len() == 0 {
        // As in `on_response`: an empty HEAD answer is not hashed.
        if !head_can_be_evaluated(&pending.request, pending.last_modified) {
            return Response::from_parts(pending.parts, ConditionalBody::empty());
        }
        return answer_unhashed(pending, Rest::Done);
    }
    let Pending {
        mut parts,
        has_content_length,
        mut held,
        hashing,
        request,
        last_modified,
    } = pending;
    let config = &request.config;
    let etag = match hashing {
        Hashing::Incremental(hasher) => make_etag(&hasher.finalize(), config.etag_policy),
        Hashing::Gathered(gathered) => {
            let etag = whole_body_etag(&gathered, config);
            held.push_data(Bytes::from(gathered));
            etag
        }
        Hashing::OneChunk => match held.only_chunk() {
            Some(only) => whole_body_etag(only, config),
            None => make_etag(&EMPTY_BODY_HASH, config.etag_policy),
        },
    };
    if held.has_trailers() {
        if has_content_length {
            drop_false_content_length(&mut parts.headers, held.data_len());
        }
    } else if has_content_length || request.is_head {
        set_content_length(&mut parts.headers, held.data_len());
    }
    answer_hashed(parts, held, etag, last_modified, &request)
}

impl Pending {
    /// Bytes of body data read so far.
    fn read_len(&self) -> usize {
        match &self.hashing {
            Hashing::Gathered(gathered) => self.held.data_len() + gathered.len(),
            _ => self.held.data_len(),
        }
    }

    /// The body will not be hashed whole in one call after all (it outgrew
    /// the limit, or failed): what was gathered is held, as one chunk.
    fn stop_gathering(&mut self) {
        if let Hashing::Gathered(gathered) = &mut self.hashing {
            let gathered = std::mem::take(gathered);
            self.held.push_data(Bytes::from(gathered));
            self.hashing = Hashing::OneChunk;
        }
    }
}

/// Takes a chunk of `len` bytes, `read` (not 0) having been read before it,
/// into the hashing: gathered (copied) while the body fits in `STAGE`, else
/// held and hashed as it comes. `remaining` gives the body's size hint for
/// what follows the chunk, from which a gathering buffer is sized.
///
/// The first chunk, and one that still fits a gathering buffer, never get
/// here: the caller handles them first.
#[inline]
fn take_chunk<D: Buf>(
    pending: &mut Pending,
    data: D,
    read: usize,
    remaining: impl FnOnce() -> SizeHint,
) {
    let len = data.remaining();
    match &mut pending.hashing {
        Hashing::Gathered(gathered) => {
            // Too long to hash in one call: what was gathered is held as one
            // chunk, and hashed in one slice (the fast way).
            let start = Bytes::from(std::mem::take(gathered));
            hash_from_here_on(pending, start, data);
        }
        Hashing::Incremental(hasher) => {
            let data = into_bytes(data);
            hasher.update(&data);
            pending.held.push_data(data);
        }
        Hashing::OneChunk => match pending.held.take_only_chunk() {
            None => pending.held.push_data(into_bytes(data)),
            Some(first) if read + len <= STAGE => {
                let capacity = gathering_capacity(read + len, remaining());
                let mut gathered = Vec::with_capacity(capacity);
                gathered.extend_from_slice(&first);
                drop(first);
                gather(&mut gathered, data);
                pending.hashing = Hashing::Gathered(gathered);
            }
            Some(first) => hash_from_here_on(pending, first, data),
        },
    }
}

/// Switches to hashing as the body arrives: `start`, all that was read
/// before `data`, is hashed and held, then `data`.
fn hash_from_here_on<D: Buf>(pending: &mut Pending, start: Bytes, data: D) {
    let mut hasher = StagedHasher::boxed();
    hasher.hasher.update(&start);
    pending.held.push_data(start);
    let data = into_bytes(data);
    hasher.update(&data);
    pending.held.push_data(data);
    pending.hashing = Hashing::Incremental(hasher);
}

/// Copies a chunk to the end of the gathered bytes, which the caller keeps
/// within `STAGE`.
#[inline]
fn gather<D: Buf>(gathered: &mut Vec<u8>, mut data: D) {
    let len = data.remaining();
    if gathered.capacity() - gathered.len() < len {
        make_room(gathered, len);
    }
    let piece = data.chunk();
    if piece.len() == len {
        // Contiguous, as `Bytes` always is.
        gathered.extend_from_slice(piece);
        return;
    }
    while data.has_remaining() {
        let piece = data.chunk();
        let n = piece.len();
        gathered.extend_from_slice(piece);
        data.advance(n);
    }
}

/// Grows a gathering buffer geometrically, but not past `STAGE` unless `len`
/// more bytes need it.
#[cold]
fn make_room(gathered: &mut Vec<u8>, len: usize) {
    let wanted = gathered.len() + len;
    let capacity = (2 * gathered.capacity()).clamp(wanted, STAGE.max(wanted));
    gathered.reserve_exact(capacity - gathered.len());
}

/// Room for the whole body when its size hint promises it fits in `STAGE`
/// (the buffer then becomes the body sent, with no slack); otherwise room
/// for what the hint says is left, or to double, and for 1 KiB at least (so
/// that tiny chunks do not regrow it five times), within `STAGE`.
fn gathering_capacity(seen: usize, remaining: SizeHint) -> usize {
    const SMALLEST: usize = 1024;
    let promised = remaining
        .upper()
        .and_then(|upper| usize::try_from(upper).ok())
        .and_then(|upper| upper.checked_add(seen));
    match promised {
        Some(total) if total <= STAGE => total,
        _ => {
            let lower = usize::try_from(remaining.lower()).unwrap_or(usize::MAX);
            seen.saturating_add(lower.max(seen)).clamp(SMALLEST, STAGE)
        }
    }
}

/// The entity-tag of a body held in one slice: remembered, or hashed in one
/// call.
fn whole_body_etag(body: &[u8], config: &Config) -> EntityTag {
    let weak = config.etag_policy == EtagPolicy::Weak;
    if config.remember_recent_bodies {
        memo::entity_tag(body, weak)
    } else {
        EntityTag::from_hash(&blake3::hash(body), weak)
    }
}

/// Makes `Content-Length` state the exact length read.
///
/// Called only where the field matters: a HEAD goes out with an empty body,
/// so its length must be in the header; for a GET the replayed body has an
/// exact size hint, from which the server writes the field itself, so only a
/// field the handler stated (possibly wrong) is looked at.
fn set_content_length(headers: &mut http::HeaderMap, length: usize) {
    let stated = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<usize>().ok());
    if stated != Some(length) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
}

/// A body with trailers goes out chunked, where no length need be stated:
/// a handler's `Content-Length` stays only when it is true.
fn drop_false_content_length(headers: &mut http::HeaderMap, length: usize) {
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let true_length = values
        .next()
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<usize>().ok())
        == Some(length);
    if !true_length || values.next().is_some() {
        headers.remove(CONTENT_LENGTH);
    }
}

fn make_etag(hash: &blake3::Hash, policy: EtagPolicy) -> EntityTag {
    EntityTag::from_hash(hash, policy == EtagPolicy::Weak)
}

/// The whole body was read and hashed: evaluate and answer.
fn answer_hashed<B: Body>(
    mut parts: response::Parts,
    held: Held,
    etag: EntityTag,
    last_modified: Option<std::time::SystemTime>,
    request: &RequestFacts,
) -> Response<ConditionalBody<B>> {
    if request.preconditions.is_none() {
        // Nothing to evaluate; the tag moves into the header (cloning a
        // fresh `Bytes` would allocate).
        parts.headers.insert(ETAG, HeaderValue::from(etag));
        let body = if request.is_head {
            ConditionalBody::empty()
        } else {
            ConditionalBody::replay(held, Rest::Done)
        };
        return Response::from_parts(parts, body);
    }
    parts.headers.insert(ETAG, etag.to_header_value());
    let validators = validators(Some(etag), last_modified);
    match request
        .preconditions()
        .evaluate(&http::Method::GET, Some(&validators))
    {
        Evaluation::Proceed if request.is_head => {
            Response::from_parts(parts, ConditionalBody::empty())
        }
        Evaluation::Proceed => {
            Response::from_parts(parts, ConditionalBody::replay(held, Rest::Done))
        }
        Evaluation::NotModified => not_modified(parts),
        Evaluation::PreconditionFailed => precondition_failed(parts, &validators),
    }
}

/// The body outgrew the limit or failed before it was hashed: it goes out
/// without an entity-tag, after the frames already read. Only the handler's
/// `Last-Modified` can still make it a 304 or 412.
fn answer_unhashed<B: Body>(pending: Pending, rest: Rest<B>) -> Response<ConditionalBody<B>> {
    let Pending {
        parts,
        held,
        request,
        last_modified,
        ..
    } = pending;
    if let Rest::Error(_) = rest {
        // A failed body never becomes a 304 or 412: the client must see the error.
        return Response::from_parts(parts, ConditionalBody::replay(held, rest));
    }
    let validators = validators(None, last_modified);
    match request
        .preconditions()
        .evaluate(&http::Method::GET, Some(&validators))
    {
        Evaluation::Proceed if request.is_head => {
            Response::from_parts(parts, ConditionalBody::empty())
        }
        Evaluation::Proceed => Response::from_parts(parts, ConditionalBody::replay(held, rest)),
        Evaluation::NotModified => not_modified(parts),
        Evaluation::PreconditionFailed => precondition_failed(parts, &validators),
    }
}

/// Whether the preconditions of a HEAD whose answer came back empty, with no
/// `ETag` from the handler, can be decided: the GET's tag is unknown, so only
/// the handler's `Last-Modified` against date conditions can. Otherwise the
/// answer passes on unevaluated, neither a false `412` nor a false `304`.
fn head_can_be_evaluated(
    request: &RequestFacts,
    last_modified: Option<std::time::SystemTime>,
) -> bool {
    !request.preconditions().has_tag_conditions() && last_modified.is_some()
}

/// Passes a response on without reading its body; a HEAD gets no body.
fn pass_on<B: Body>(
    mut parts: response::Parts,
    body: B,
    is_head: bool,
) -> Response<ConditionalBody<B>> {
    if !is_head {
        return Response::from_parts(parts, ConditionalBody::passthrough(body));
    }
    // Describe the body's length, as the GET would have, and drop it
    // unread; unless it is empty and may have been stripped on the way.
    if !parts.headers.contains_key(CONTENT_LENGTH) {
        if let Some(length) = body.size_hint().exact().filter(|&length| length > 0) {
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    Response::from_parts(parts, ConditionalBody::empty())
}

fn not_modified<B: Body>(mut parts: response::Parts) -> Response<ConditionalBody<B>> {
    into_not_modified(&mut parts);
    Response::from_parts(parts, ConditionalBody::empty())
}

/// The 412 keeps only the current validators: the given ones, and the
/// handler's `Last-Modified` when it was not read for the evaluation.
fn precondition_failed<B: Body>(
    mut parts: response::Parts,
    current: &Validators,
) -> Response<ConditionalBody<B>> {
    parts.status = StatusCode::PRECONDITION_FAILED;
    let dated;
    let current = match single_date(&parts.headers) {
        Some(date) if current.last_modified().is_none() => {
            dated = current.clone().with_last_modified(date);
            &dated
        }
        _ => current,
    };
    parts.headers = precondition_failed_headers(Some(current));
    Response::from_parts(parts, ConditionalBody::empty())
}

fn validators(etag: Option<EntityTag>, last_modified: Option<std::time::SystemTime>) -> Validators {
    let mut validators = Validators::new();
    if let Some(etag) = etag {
        validators = validators.with_etag(etag);
    }
    if let Some(last_modified) = last_modified {
        validators = validators.with_last_modified(last_modified);
    }
    validators
}

/// The response's `Last-Modified`, when it is one valid HTTP-date.
fn single_date(headers: &http::HeaderMap) -> Option<std::time::SystemTime> {
    let mut values = headers.get_all(LAST_MODIFIED).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    parse_http_date(value.as_bytes())
}

/// Whether the body announces (by its size hint or Content-Length) more bytes than the limit.
fn exceeds<B: Body>(content_length: Option<u64>, body: &B, max: usize) -> bool {
    let max = max as u64;
    body.size_hint().lower() > max || content_length.is_some_and(|length| length > max)
}

pin_project! {
    /// The response future of [`Conditional`](crate::Conditional) with a
    /// [validator lookup](crate::ConditionalLayer::lookup_validators).
    ///
    /// It first waits for the lookup; then it either answers at once (`304`,
    /// `412`) without calling the inner service, or calls it and continues as
    /// a [`ResponseFuture`]. Dropping it drops the lookup, the request and the
    /// inner service's future.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::future::ready;
    /// use http::{request::Parts, Request, Response, StatusCode};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_conditional::{ConditionalLayer, EntityTag, Validators};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let layer = ConditionalLayer::new().lookup_validators(|_: &Parts| {
    ///     ready(Validators::new().with_etag(EntityTag::strong("v7").unwrap()).into())
    /// });
    /// let service = layer.layer(service_fn(|_req: Request<()>| async {
    ///     Ok::<_, Infallible>(Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// }));
    /// let stale_write = Request::put("/item").header("if-match", "\"v6\"").body(()).unwrap();
    /// let response = service.oneshot(stale_write).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    /// # }
    /// ```
    pub struct LookupFuture<S, ReqBody, LF, B>
    where
        S: Service<Request<ReqBody>, Response = Response<B>>,
        B: Body,
    {
        #[pin]
        state: LookupState<S, ReqBody, LF, B>,
    }
}

pin_project! {
    #[project = LookupStateProj]
    enum LookupState<S, ReqBody, LF, B>
    where
        S: Service<Request<ReqBody>, Response = Response<B>>,
        B: Body,
    {
        Looking { #[pin] lookup: LF, call: Option<DeferredCall<S, ReqBody>> },
        Called { #[pin] future: ResponseFuture<S::Future, B> },
    }
}

/// A request waiting for its lookup, with the service that will answer it.
struct DeferredCall<S, ReqBody> {
    service: S,
    request: Request<ReqBody>,
    preconditions: Preconditions,
    config: Config,
}

impl<S, ReqBody, LF, B> LookupFuture<S, ReqBody, LF, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    B: Body,
{
    pub(crate) fn called(future: ResponseFuture<S::Future, B>) -> Self {
        Self {
            state: LookupState::Called { future },
        }
    }

    pub(crate) fn looking(
        lookup: LF,
        service: S,
        request: Request<ReqBody>,
        preconditions: Preconditions,
        config: Config,
    ) -> Self {
        Self {
            state: LookupState::Looking {
                lookup,
                call: Some(DeferredCall {
                    service,
                    request,
                    preconditions,
                    config,
                }),
            },
        }
    }
}

impl<S, ReqBody, LF, B> Future for LookupFuture<S, ReqBody, LF, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    LF: Future<Output = ResourceState>,
    B: Body,
    B::Data: Buf,
{
    type Output = Output<B, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                LookupStateProj::Looking { lookup, call } => {
                    let resource = ready!(lookup.poll(cx));
                    let call = call.take().expect("polled after completion");
                    match decide_before_handler(call, resource) {
                        BeforeHandler::Call(future) => state.set(LookupState::Called { future }),
                        BeforeHandler::Answer(early) => return Poll::Ready(Ok(early)),
                    }
                }
                LookupStateProj::Called { future } => return future.poll(cx),
            }
        }
    }
}

/// What the looked-up state decides: call the inner service, or answer now.
// A return value, moved once (see `Step`).
#[allow(clippy::large_enum_variant)]
enum BeforeHandler<F, B: Body> {
    Call(ResponseFuture<F, B>),
    Answer(Response<ConditionalBody<B>>),
}

/// Evaluates the preconditions against the looked-up state: either an early
/// answer, or the inner service's future.
fn decide_before_handler<S, ReqBody, B>(
    call: DeferredCall<S, ReqBody>,
    resource: ResourceState,
) -> BeforeHandler<S::Future, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    B: Body,
{
    let DeferredCall {
        mut service,
        request,
        preconditions,
        config,
    } = call;
    let safe = request.method() == http::Method::GET || request.method() == http::Method::HEAD;
    let current = match resource {
        ResourceState::Unknown => None,
        // A GET of a missing resource is the handler's to answer (a 404 is
        // not subject to preconditions).
        ResourceState::Missing if safe => None,
        ResourceState::Missing => Some(None),
        ResourceState::Current(validators) => Some(Some(validators)),
    };
    let Some(current) = current else {
        return BeforeHandler::Call(start(
            &mut service,
            request,
            config,
            preconditions.boxed(),
            None,
        ));
    };
    match preconditions.evaluate(request.method(), current.as_ref()) {
        Evaluation::Proceed => BeforeHandler::Call(start(
            &mut service,
            request,
            config,
            preconditions.boxed(),
            current,
        )),
        Evaluation::NotModified => BeforeHandler::Answer(early_answer(
            StatusCode::NOT_MODIFIED,
            not_modified_headers(current.as_ref()),
        )),
        Evaluation::PreconditionFailed => BeforeHandler::Answer(early_answer(
            StatusCode::PRECONDITION_FAILED,
            precondition_failed_headers(current.as_ref()),
        )),
    }
}

fn early_answer<B: Body>(
    status: StatusCode,
    headers: http::HeaderMap,
) -> Response<ConditionalBody<B>> {
    let mut response = Response::new(ConditionalBody::empty());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    type Events = Arc<Mutex<Vec<&'static str>>>;

    /// Records when the inner service's future is dropped.
    struct Guard(Events);

    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.lock().unwrap().push("inner future dropped");
        }
    }

    /// An inner future that holds a guard until it is dropped, as one
    /// holding a concurrency permit or a span does.
    struct Answering {
        response: Option<Response<Recording>>,
        _guard: Guard,
    }

    impl Future for Answering {
        type Output = Result<Response<Recording>, std::convert::Infallible>;

        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Ready(Ok(self.response.take().expect("polled once")))
        }
    }

    /// A one-chunk body that records when it is read.
    struct Recording {
        data: Option<Bytes>,
        events: Events,
    }

    impl Body for Recording {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            self.events.lock().unwrap().push("body read");
            Poll::Ready(
                self.data
                    .take()
                    .map(|data| Ok(http_body::Frame::data(data))),
            )
        }
    }

    #[tokio::test]
    async fn the_inner_future_is_dropped_before_the_body_is_read() {
        use tower::{Layer, ServiceExt};
        let events = Events::default();
        let recorded = events.clone();
        let inner = tower::service_fn(move |_: Request<()>| Answering {
            response: Some(Response::new(Recording {
                data: Some(Bytes::from_static(b"hello")),
                events: recorded.clone(),
            })),
            _guard: Guard(recorded.clone()),
        });
        let response = crate::ConditionalLayer::new()
            .layer(inner)
            .oneshot(Request::new(()))
            .await
            .unwrap();
        assert!(response.headers().contains_key(ETAG));
        let events = events.lock().unwrap().clone();
        assert_eq!(events.first(), Some(&"inner future dropped"), "{events:?}");
        assert!(events.contains(&"body read"), "{events:?}");
    }

    #[test]
    fn the_empty_body_hash_is_blake3_of_no_bytes() {
        assert_eq!(EMPTY_BODY_HASH, blake3::hash(b""));
    }

    /// Every request moves the future a few times (into the task, the
    /// router's box, each layer's state): it carries what it needs to know
    /// about the request, and no more. The response whose body must be
    /// waited for is boxed, and the rare request with preconditions keeps
    /// them boxed too (they took 160 bytes).
    #[test]
    fn the_future_adds_little_to_the_inner_future() {
        type Body = http_body_util::Full<Bytes>;
        type Inner = std::future::Ready<Result<Response<Body>, std::convert::Infallible>>;
        let inner = std::mem::size_of::<Inner>();
        let ours = std::mem::size_of::<ResponseFuture<Inner, Body>>();
        assert!(
            ours <= inner + 48,
            "ResponseFuture is {ours} bytes around a {inner}-byte future"
        );
    }
}
