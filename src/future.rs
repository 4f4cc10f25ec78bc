//! The response future of [`Conditional`](crate::Conditional).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http::header::{CONTENT_LENGTH, ETAG, LAST_MODIFIED};
use http::{response, HeaderValue, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;

use crate::body::{into_bytes_frame, ConditionalBody, Held, Rest};
use crate::eligibility;
use crate::entity_tag::EntityTag;
use crate::layer::{Config, EtagPolicy};
use crate::not_modified::{into_not_modified, precondition_failed_headers};
use crate::preconditions::{parse_http_date, Evaluation, Preconditions, Validators};
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
        // Reading and hashing the body before answering.
        Buffering { body: Option<Pin<Box<B>>>, pending: Option<Pending> },
        Done,
    }
}

/// What the future needs to know about the request once the response is in.
#[derive(Debug)]
pub(crate) struct RequestFacts {
    pub(crate) preconditions: Preconditions,
    pub(crate) is_head: bool,
    pub(crate) config: Config,
}

/// The response being held back while its body is hashed.
struct Pending {
    parts: response::Parts,
    held: Held,
    hasher: Option<Box<blake3::Hasher>>,
    request: RequestFacts,
    last_modified: Option<std::time::SystemTime>,
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
        loop {
            match state.as_mut().project() {
                StateProj::Passthrough { future } => {
                    let response = ready!(future.poll(cx))?;
                    state.set(State::Done);
                    return Poll::Ready(Ok(response.map(ConditionalBody::passthrough)));
                }
                StateProj::Inner { future, request } => {
                    let response = ready!(future.poll(cx))?;
                    let request = request.take().expect("polled after completion");
                    match on_response(response, request) {
                        Step::Answer(response) => {
                            state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                        Step::Buffer(body, pending) => state.set(State::Buffering {
                            body: Some(body),
                            pending: Some(pending),
                        }),
                    }
                }
                StateProj::Buffering { body, pending } => {
                    let response = ready!(poll_buffering(cx, body, pending));
                    state.set(State::Done);
                    return Poll::Ready(Ok(response));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

enum Step<B: Body> {
    Answer(Response<ConditionalBody<B>>),
    Buffer(Pin<Box<B>>, Pending),
}

/// Decides what to do with the inner response to a GET or HEAD.
fn on_response<B: Body>(response: Response<B>, request: RequestFacts) -> Step<B> {
    let (mut parts, body) = response.into_parts();
    if !parts.status.is_success()
        || parts.extensions.get::<Bypass>().is_some()
        || eligibility::must_stream(&parts.headers)
    {
        return Step::Answer(pass_on(parts, body, request.is_head));
    }
    let last_modified = single_date(&parts.headers);
    let handler_etag = parts.headers.get(ETAG);
    let must_not_hash = parts.status != StatusCode::OK
        || handler_etag.is_some()
        || exceeds(&parts.headers, &body, request.config.max_body_size);
    if must_not_hash {
        let etag = handler_etag.and_then(|value| EntityTag::from_header_value(value).ok());
        if parts.status != StatusCode::OK && etag.is_none() && last_modified.is_none() {
            // Nothing describes the selected representation (a 206 with no
            // validators, say): leave it to the inner service.
            return Step::Answer(pass_on(parts, body, request.is_head));
        }
        let validators = validators(etag, last_modified);
        return Step::Answer(
            match request
                .preconditions
                .evaluate(&http::Method::GET, Some(&validators))
            {
                Evaluation::Proceed => pass_on(parts, body, request.is_head),
                Evaluation::NotModified => not_modified(parts),
                Evaluation::PreconditionFailed => precondition_failed(parts, &validators),
            },
        );
    }
    if body.is_end_stream() {
        // Nothing to read: hash the empty body now.
        let etag = make_etag(&blake3::hash(b""), request.config.etag_policy);
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
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
            held: Held::default(),
            hasher: None,
            request,
            last_modified,
        },
    )
}

/// Reads the body until it ends, fails or outgrows the limit.
fn poll_buffering<B>(
    cx: &mut Context<'_>,
    body_slot: &mut Option<Pin<Box<B>>>,
    pending_slot: &mut Option<Pending>,
) -> Poll<Response<ConditionalBody<B>>>
where
    B: Body,
    B::Data: Buf,
{
    let body = body_slot.as_mut().expect("polled after completion");
    let pending = pending_slot.as_mut().expect("polled after completion");
    let max = pending.request.config.max_body_size;
    loop {
        match ready!(body.as_mut().poll_frame(cx)) {
            Some(Ok(frame)) => {
                let frame = into_bytes_frame(frame);
                if let Some(data) = frame.data_ref() {
                    if data.is_empty() {
                        continue;
                    }
                    if pending.held.data_len().saturating_add(data.len()) > max {
                        pending.held.push(frame);
                        let body = body_slot.take().expect("checked above");
                        let pending = pending_slot.take().expect("checked above");
                        return Poll::Ready(answer_unhashed(pending, Rest::Inner(body)));
                    }
                    hash_chunk(pending, data);
                }
                pending.held.push(frame);
            }
            Some(Err(error)) => {
                body_slot.take();
                let pending = pending_slot.take().expect("checked above");
                return Poll::Ready(answer_unhashed(pending, Rest::Error(Some(error))));
            }
            None => {
                body_slot.take();
                let Pending {
                    mut parts,
                    held,
                    hasher,
                    request,
                    last_modified,
                } = pending_slot.take().expect("checked above");
                let hash = match (hasher, held.only_chunk()) {
                    (Some(hasher), _) => hasher.finalize(),
                    (None, Some(only)) => blake3::hash(only),
                    (None, None) => blake3::hash(b""),
                };
                if !held.has_trailers() {
                    parts
                        .headers
                        .insert(CONTENT_LENGTH, HeaderValue::from(held.data_len()));
                }
                let etag = make_etag(&hash, request.config.etag_policy);
                return Poll::Ready(answer_hashed(parts, held, etag, last_modified, &request));
            }
        }
    }
}

/// Hashes a chunk as it arrives. A body of one chunk is hashed in one call
/// at the end (the fastest way to drive blake3 for small inputs), so the
/// incremental hasher is only set up once a second chunk shows up.
fn hash_chunk(pending: &mut Pending, data: &Bytes) {
    match (&mut pending.hasher, pending.held.only_chunk()) {
        (Some(hasher), _) => {
            hasher.update(data);
        }
        (None, first) => {
            let mut hasher = Box::new(blake3::Hasher::new());
            if let Some(first) = first {
                hasher.update(first);
            } else {
                // Nothing held yet: this chunk may be the only one.
                return;
            }
            hasher.update(data);
            pending.hasher = Some(hasher);
        }
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
    parts.headers.insert(ETAG, etag.to_header_value());
    let validators = validators(Some(etag), last_modified);
    match request
        .preconditions
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
        .preconditions
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

/// Passes a response on without reading its body; a HEAD gets no body.
fn pass_on<B: Body>(
    mut parts: response::Parts,
    body: B,
    is_head: bool,
) -> Response<ConditionalBody<B>> {
    if !is_head {
        return Response::from_parts(parts, ConditionalBody::passthrough(body));
    }
    // The request reached the inner service as a GET: describe that body's
    // length, as the GET would have, and drop it unread.
    if !parts.headers.contains_key(CONTENT_LENGTH) {
        if let Some(length) = body.size_hint().exact() {
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

fn precondition_failed<B: Body>(
    mut parts: response::Parts,
    current: &Validators,
) -> Response<ConditionalBody<B>> {
    parts.status = StatusCode::PRECONDITION_FAILED;
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
fn exceeds<B: Body>(headers: &http::HeaderMap, body: &B, max: usize) -> bool {
    let max = max as u64;
    if body.size_hint().lower() > max {
        return true;
    }
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .is_some_and(|length| length > max)
}
