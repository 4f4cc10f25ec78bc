//! The response body of [`Conditional`](crate::Conditional).

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`Conditional`](crate::Conditional).
    ///
    /// It yields exactly the bytes and trailers of the inner service's body, in
    /// the same order, and the inner body's errors unchanged. Depending on the
    /// response it streams the inner body through, replays the frames that were
    /// held while hashing (then streams the rest, if the body outgrew the
    /// limit), or is empty (`304`, `412`, and answers to `HEAD`). Chunks that
    /// were gathered to be hashed together (up to 16 KiB in all) are replayed
    /// as one.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower_conditional::ConditionalLayer;
    ///
    /// // The body type shows up only in type signatures; axum converts it.
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "hello" }))
    ///     .layer(ConditionalLayer::new());
    /// # let _ = app;
    /// ```
    pub struct ConditionalBody<B>
    where
        B: Body,
    {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B>
    where
        B: Body,
    {
        Passthrough { #[pin] inner: B },
        Replay { held: Held, rest: Rest<B> },
        Empty,
    }
}

/// Frames of a response held while its hash is computed, in arrival order.
///
/// The first frame gets a slot of its own, so a body that arrives in one
/// chunk (the common case) is held without allocating.
#[derive(Debug, Default)]
pub(crate) struct Held {
    // Data as `Bytes` (32 bytes, where a `Frame` takes 96); the trailers,
    // which can only come last, apart.
    first: Option<Bytes>,
    // A `Vec` read from the front by index rather than a `VecDeque`: the
    // frames are all pushed before the first is taken, and each costs less.
    more: Vec<Bytes>,
    /// How many of `more` were taken (each left as an empty `Bytes`).
    taken: usize,
    trailers: Option<Box<http::HeaderMap>>,
    data_len: usize,
}

impl Held {
    #[cfg(test)]
    pub(crate) fn push(&mut self, frame: Frame<Bytes>) {
        match frame.into_data() {
            Ok(data) => self.push_data(data),
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    self.push_trailers(trailers);
                }
            }
        }
    }

    /// Holds a chunk of data (taken out of its frame by the caller, so that
    /// only the 32-byte `Bytes` moves, not the 96-byte frame).
    #[inline]
    pub(crate) fn push_data(&mut self, data: Bytes) {
        self.data_len += data.len();
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some(data);
        } else {
            self.more.push(data);
        }
    }

    /// Takes back the data of a body held as one chunk so far.
    pub(crate) fn take_only_chunk(&mut self) -> Option<Bytes> {
        if !self.more.is_empty() {
            return None;
        }
        let data = self.first.take()?;
        self.data_len -= data.len();
        Some(data)
    }

    /// Holds `pieces` to be sent in order: the content of a `206`.
    pub(crate) fn from_pieces(pieces: Vec<Bytes>) -> Self {
        let data_len = pieces.iter().map(Bytes::len).sum();
        Self {
            first: None,
            more: pieces,
            taken: 0,
            trailers: None,
            data_len,
        }
    }

    /// The data chunks held and not yet sent, in order: what a `206` slices
    /// (reference-counted views, never copies).
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &Bytes> + Clone {
        self.first.iter().chain(&self.more[self.taken..])
    }

    /// Holds the trailers, which end the body.
    pub(crate) fn push_trailers(&mut self, trailers: http::HeaderMap) {
        self.trailers = Some(Box::new(trailers));
    }

    /// Bytes of data held.
    pub(crate) fn data_len(&self) -> usize {
        self.data_len
    }

    /// The single data frame, when the body was exactly one chunk (trailers
    /// may follow it).
    pub(crate) fn only_chunk(&self) -> Option<&Bytes> {
        match (&self.first, self.more.is_empty()) {
            (Some(data), true) => Some(data),
            _ => None,
        }
    }

    pub(crate) fn has_trailers(&self) -> bool {
        self.trailers.is_some()
    }

    /// How many chunks of data are held.
    #[cfg(test)]
    pub(crate) fn chunk_count(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len() - self.taken
    }

    #[inline]
    fn pop(&mut self) -> Option<Frame<Bytes>> {
        let next = || {
            let data = self.more.get_mut(self.taken).map(std::mem::take)?;
            self.taken += 1;
            Some(data)
        };
        if let Some(data) = self.first.take().or_else(next) {
            self.data_len -= data.len();
            return Some(Frame::data(data));
        }
        self.trailers
            .take()
            .map(|trailers| Frame::trailers(*trailers))
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.taken == self.more.len() && self.trailers.is_none()
    }
}

/// What follows the held frames.
pub(crate) enum Rest<B: Body> {
    /// The held frames were the whole body.
    Done,
    /// The body outgrew the limit: the rest streams from the inner body.
    Inner(Pin<Box<B>>),
    /// The inner body failed: the error comes after the held frames.
    Error(Option<B::Error>),
}

impl<B: Body> ConditionalBody<B> {
    pub(crate) fn passthrough(inner: B) -> Self {
        Self {
            kind: Kind::Passthrough { inner },
        }
    }

    pub(crate) fn replay(held: Held, rest: Rest<B>) -> Self {
        Self {
            kind: Kind::Replay { held, rest },
        }
    }

    pub(crate) fn empty() -> Self {
        Self { kind: Kind::Empty }
    }
}

/// An empty body, as middleware that answers early (tower-http's `Timeout`,
/// say) needs from the body type of the service it wraps.
///
/// ```
/// use http_body::Body;
/// use http_body_util::Full;
/// use tower_conditional::ConditionalBody;
///
/// let body = ConditionalBody::<Full<bytes::Bytes>>::default();
/// assert!(body.is_end_stream());
/// ```
impl<B: Body> Default for ConditionalBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

/// Moves a frame's data into `Bytes`; free when it already is `Bytes`.
#[inline]
pub(crate) fn into_bytes<D: Buf>(mut data: D) -> Bytes {
    data.copy_to_bytes(data.remaining())
}

/// [`into_bytes`] for the data of a frame.
#[inline]
fn into_bytes_frame<D: Buf>(frame: Frame<D>) -> Frame<Bytes> {
    frame.map_data(into_bytes)
}

impl<B> Body for ConditionalBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = Bytes;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Passthrough { inner } => {
                let frame = ready!(inner.poll_frame(cx));
                Poll::Ready(frame.map(|result| result.map(into_bytes_frame)))
            }
            KindProj::Replay { held, rest } => {
                if let Some(frame) = held.pop() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                match rest {
                    Rest::Done => Poll::Ready(None),
                    Rest::Inner(inner) => {
                        let frame = ready!(inner.as_mut().poll_frame(cx));
                        Poll::Ready(frame.map(|result| result.map(into_bytes_frame)))
                    }
                    Rest::Error(error) => Poll::Ready(error.take().map(Err)),
                }
            }
            KindProj::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Passthrough { inner } => inner.is_end_stream(),
            Kind::Replay { held, rest } => {
                held.is_empty()
                    && match rest {
                        Rest::Done => true,
                        Rest::Inner(inner) => inner.is_end_stream(),
                        Rest::Error(error) => error.is_none(),
                    }
            }
            Kind::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Passthrough { inner } => inner.size_hint(),
            Kind::Replay { held, rest } => {
                let held_len = held.data_len() as u64;
                match rest {
                    // With trailers, an exact hint would make HTTP/1.1 servers
                    // send Content-Length and lose the trailers.
                    Rest::Done if !held.has_trailers() => SizeHint::with_exact(held_len),
                    Rest::Done | Rest::Error(_) => {
                        let mut hint = SizeHint::new();
                        hint.set_lower(held_len);
                        hint
                    }
                    Rest::Inner(inner) => {
                        let inner = inner.size_hint();
                        let mut hint = SizeHint::new();
                        hint.set_lower(held_len.saturating_add(inner.lower()));
                        if let Some(upper) = inner.upper() {
                            hint.set_upper(held_len.saturating_add(upper));
                        }
                        hint
                    }
                }
            }
            // Not an exact 0: the empty body stands for a 304 or a HEAD
            // answer, where a server that turns an exact hint into
            // `Content-Length` (axum's router does) would state a false length.
            Kind::Empty => SizeHint::default(),
        }
    }
}

impl<B> fmt::Debug for ConditionalBody<B>
where
    B: Body,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Passthrough { .. } => "Passthrough",
            Kind::Replay { .. } => "Replay",
            Kind::Empty => "Empty",
        };
        f.debug_struct("ConditionalBody")
            .field("kind", &kind)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn replay_yields_held_frames_then_trailers_in_order() {
        let mut held = Held::default();
        held.push(Frame::data(Bytes::from_static(b"ab")));
        held.push(Frame::data(Bytes::from_static(b"cd")));
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-check", "1".parse().unwrap());
        held.push(Frame::trailers(trailers.clone()));
        let body: ConditionalBody<Full<Bytes>> = ConditionalBody::replay(held, Rest::Done);
        assert!(
            body.size_hint().exact().is_none(),
            "trailers must not get a Content-Length"
        );
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers(), Some(&trailers));
        assert_eq!(collected.to_bytes(), "abcd");
    }

    #[tokio::test]
    async fn replay_then_inner_continues_the_stream() {
        let mut held = Held::default();
        held.push(Frame::data(Bytes::from_static(b"first-")));
        let rest = Full::new(Bytes::from_static(b"rest"));
        let body = ConditionalBody::replay(held, Rest::Inner(Box::pin(rest)));
        assert_eq!(body.size_hint().exact(), Some(10));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "first-rest");
    }

    /// A body type whose error is `io::Error`; its frames are never polled here.
    struct IoBody;

    impl Body for IoBody {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(None)
        }
    }

    #[tokio::test]
    async fn replay_then_error_reports_the_error() {
        let mut held = Held::default();
        held.push(Frame::data(Bytes::from_static(b"partial")));
        let body: ConditionalBody<IoBody> =
            ConditionalBody::replay(held, Rest::Error(Some(std::io::Error::other("boom"))));
        let mut body = std::pin::pin!(body);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "partial");
        assert!(body.frame().await.unwrap().is_err());
        assert!(body.frame().await.is_none());
    }

    #[test]
    fn only_chunk_ignores_trailers_but_not_a_second_chunk() {
        let mut held = Held::default();
        held.push(Frame::data(Bytes::from_static(b"one")));
        held.push(Frame::trailers(http::HeaderMap::new()));
        assert_eq!(held.only_chunk().map(|b| &b[..]), Some(&b"one"[..]));
        let mut two = Held::default();
        two.push(Frame::data(Bytes::from_static(b"one")));
        two.push(Frame::data(Bytes::from_static(b"two")));
        assert!(two.only_chunk().is_none());
    }

    #[tokio::test]
    async fn pieces_replay_in_order_with_their_length() {
        let mut held = Held::default();
        held.push(Frame::data(Bytes::from_static(b"ab")));
        held.push(Frame::data(Bytes::from_static(b"cd")));
        let chunks: Vec<&Bytes> = held.chunks().collect();
        assert_eq!(
            chunks,
            [&Bytes::from_static(b"ab"), &Bytes::from_static(b"cd")]
        );
        let pieces = vec![
            Bytes::from_static(b"xy"),
            Bytes::new(),
            Bytes::from_static(b"z"),
        ];
        let body: ConditionalBody<Full<Bytes>> =
            ConditionalBody::replay(Held::from_pieces(pieces), Rest::Done);
        assert_eq!(body.size_hint().exact(), Some(3));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "xyz");
    }

    #[test]
    fn exact_size_hint_for_complete_replay() {
        let mut held = Held::default();
        held.push(Frame::data(Bytes::from_static(b"12345")));
        let body: ConditionalBody<Full<Bytes>> = ConditionalBody::replay(held, Rest::Done);
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
        let empty: ConditionalBody<Full<Bytes>> = ConditionalBody::empty();
        assert!(empty.is_end_stream());
        assert_eq!(
            empty.size_hint().exact(),
            None,
            "no Content-Length: 0 on a 304 or HEAD"
        );
    }
}
