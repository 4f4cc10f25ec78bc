//! Reading a response body within the size limit, and hashing it into an
//! entity-tag on the way.
//!
//! No future lives here: [`Reading::poll_read`] is called by the response
//! future with the body it holds, and returns how the reading stopped, so
//! gathering and hashing can be tested with a body and a context alone.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};

use crate::body::{into_bytes, Held};
use crate::config::{Config, EtagPolicy, SMALL_BODY};
use crate::entity_tag::EntityTag;
use crate::memo;

/// `blake3::hash(b"")`, which the tests check: an empty body is common
/// enough (`204`-like `200`s) not to hash it every time.
const EMPTY_BODY_HASH: blake3::Hash = blake3::Hash::from_bytes([
    0xaf, 0x13, 0x49, 0xb9, 0xf5, 0xf9, 0xa1, 0xa6, 0xa0, 0x40, 0x4d, 0xea, 0x36, 0xdc, 0xc9, 0x49,
    0x9b, 0xcb, 0x25, 0xc9, 0xad, 0xc1, 0x12, 0xb7, 0xcc, 0x9a, 0x93, 0xca, 0xe4, 0x1f, 0x32, 0x62,
]);

/// The entity-tag of an empty body.
pub(crate) fn empty_body_etag(policy: EtagPolicy) -> EntityTag {
    EntityTag::from_hash(&EMPTY_BODY_HASH, policy)
}

/// How many frames one poll reads at most before it lets other tasks run,
/// besides those gathered into the buffer of a small body: each of those
/// adds a byte to it at least, so there are at most a small body's worth
/// ([`SMALL_BODY`]) of them in a whole body, and counting them would slow
/// the most common loop.
const FRAMES_PER_POLL: usize = 256;

/// How the reading of a body stopped.
pub(crate) enum BodyRead<E> {
    /// It ended: everything was read.
    Ended,
    /// It outgrew the limit: what was read is held, the rest is unread.
    OverLimit,
    /// It failed, after what is held.
    Failed(E),
}

/// What was read of a body so far, and how it is being hashed.
#[derive(Default)]
pub(crate) struct Reading {
    held: Held,
    hashing: Hashing,
}

/// How the body read so far is being hashed.
///
/// blake3 is fastest given the whole input in one slice (several 1 KiB
/// chunks at once with SIMD, and none of the incremental hasher's set-up);
/// fed a few hundred bytes at a time it runs several times slower. So:
#[derive(Default)]
enum Hashing {
    /// At most one chunk so far, held as it came: a body of one chunk is
    /// hashed in one call at the end, without a copy.
    #[default]
    OneChunk,
    /// Several chunks, a small body in all, copied into one buffer and not
    /// held: at the end the buffer is hashed in one call (or found in the
    /// memo) and sent as the body, one frame instead of many. It is the
    /// only copy the response needs (the memo may keep one of its own).
    Gathered(Vec<u8>),
    /// A longer body, hashed as it arrives. Its chunks are held by
    /// reference, after the copy of its start when that was gathered.
    Incremental(Box<StagedHasher>),
}

/// An incremental hasher for bodies longer than a small body that arrive in
/// several chunks.
///
/// Small chunks are copied together into one buffer, the stage, before they
/// are hashed; the stage, once full, is then held as one chunk for the
/// client. So a body in tiny chunks costs what its bytes cost, not a
/// `Bytes` (and often an allocation of the sender's) per chunk: what a
/// request holds stays within the limit plus one stage, whatever the
/// chunking. Large chunks are hashed and held where they are.
struct StagedHasher {
    hasher: blake3::Hasher,
    stage: Vec<u8>,
}

impl StagedHasher {
    /// Boxed: the hasher's state is large, and bodies of one chunk, or
    /// gathered, never need it.
    fn boxed() -> Box<Self> {
        Box::new(Self {
            hasher: blake3::Hasher::new(),
            stage: Vec::new(),
        })
    }

    /// Takes a chunk: copied to the stage when small, else hashed and held.
    fn take<D: Buf>(&mut self, held: &mut Held, data: D) {
        let len = data.remaining();
        if len >= SMALL_BODY {
            self.flush(held);
            let data = into_bytes(data);
            self.hasher.update(&data);
            held.push_data(data);
            return;
        }
        if self.stage.len() + len > SMALL_BODY {
            self.flush(held);
        }
        if self.stage.capacity() == 0 {
            self.stage.reserve_exact(SMALL_BODY);
        }
        gather(&mut self.stage, data);
    }

    /// Hashes the stage and holds it as one chunk, after what is held.
    fn flush(&mut self, held: &mut Held) {
        if !self.stage.is_empty() {
            self.hasher.update(&self.stage);
            held.push_data(Bytes::from(std::mem::take(&mut self.stage)));
        }
    }

    /// The bytes staged: read, but neither hashed nor held yet.
    fn staged(&self) -> usize {
        self.stage.len()
    }
}

impl Reading {
    /// Reads `body` until it ends, fails or outgrows `max` bytes of data.
    #[inline]
    pub(crate) fn poll_read<B>(
        &mut self,
        cx: &mut Context<'_>,
        mut body: Pin<&mut B>,
        max: usize,
    ) -> Poll<BodyRead<B::Error>>
    where
        B: Body,
        B::Data: Buf,
    {
        // While gathering, nothing is held: the gathered bytes are all read.
        let gather_limit = SMALL_BODY.min(max);
        let mut frames = 0;
        // A frame the gathering loop below polled but could not take.
        let mut carried = None;
        loop {
            let polled = match carried.take() {
                Some(frame) => Some(frame),
                None => ready!(body.as_mut().poll_frame(cx)),
            };
            let frame = match polled {
                Some(Ok(frame)) => frame,
                Some(Err(error)) => {
                    self.hold_all_read();
                    return Poll::Ready(BodyRead::Failed(error));
                }
                None => return Poll::Ready(BodyRead::Ended),
            };
            match frame.into_data() {
                Ok(data) => {
                    let len = data.remaining();
                    // The common step of a body in small chunks, first, in a
                    // loop of its own that keeps the buffer at hand. It is not
                    // counted below: each such frame adds at least a byte to
                    // a buffer of at most a small body, so a poll takes few
                    // of them.
                    if let Hashing::Gathered(gathered) = &mut self.hashing {
                        if takes(gathered, len, gather_limit) {
                            gather(gathered, data);
                            match ready!(gather_following(
                                gathered,
                                body.as_mut(),
                                cx,
                                gather_limit
                            )) {
                                Some(frame) => carried = Some(frame),
                                None => return Poll::Ready(BodyRead::Ended),
                            }
                            continue;
                        }
                    }
                    if len != 0 {
                        let read = self.read_len();
                        if read.saturating_add(len) > max {
                            self.hold_all_read();
                            self.held.push_data(into_bytes(data));
                            return Poll::Ready(BodyRead::OverLimit);
                        }
                        if read == 0 {
                            // The first chunk, maybe the only one: held as it came.
                            self.held.push_data(into_bytes(data));
                            if body.is_end_stream() {
                                // A body in memory says so after its one
                                // chunk: no poll for the end it announced.
                                return Poll::Ready(BodyRead::Ended);
                            }
                        } else {
                            self.take_chunk(data, read, || body.size_hint());
                        }
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        // Trailers end a body (RFC 9110 §6.5): nothing after
                        // them is read, as hyper sends nothing after them.
                        self.held.push_trailers(trailers);
                        return Poll::Ready(BodyRead::Ended);
                    }
                }
            }
            frames += 1;
            if frames == FRAMES_PER_POLL {
                // A body of endless ready frames (empty ones cost no data,
                // so the limit never stops them) must not hold the thread.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Bytes of body data read so far.
    pub(crate) fn read_len(&self) -> usize {
        match &self.hashing {
            Hashing::Gathered(gathered) => self.held.data_len() + gathered.len(),
            Hashing::Incremental(hasher) => self.held.data_len() + hasher.staged(),
            Hashing::OneChunk => self.held.data_len(),
        }
    }

    /// The body read whole: what is held for the client, its entity-tag,
    /// and whether the tag was remembered rather than hashed.
    #[inline(always)]
    pub(crate) fn finish(self, config: &Config) -> (Held, EntityTag, bool) {
        let Self { mut held, hashing } = self;
        let (etag, remembered) = match hashing {
            Hashing::Incremental(mut hasher) => {
                hasher.flush(&mut held);
                let hash = hasher.hasher.finalize();
                (EntityTag::from_hash(&hash, config.etag_policy), false)
            }
            Hashing::Gathered(gathered) => {
                let tagged = whole_body_etag(&gathered, config);
                held.push_data(Bytes::from(gathered));
                tagged
            }
            Hashing::OneChunk => match held.only_chunk() {
                Some(only) if config.remember_recent_bodies && only.len() > memo::LONGEST => {
                    memo::buffer_entity_tag(only, config.etag_policy)
                }
                Some(only) => whole_body_etag(only, config),
                None => (empty_body_etag(config.etag_policy), false),
            },
        };
        (held, etag, remembered)
    }

    /// What was read of a body that will not be hashed (it outgrew the
    /// limit, or failed): all of it is held, in order.
    pub(crate) fn into_held(mut self) -> Held {
        self.hold_all_read();
        self.held
    }

    /// The body will not be hashed after all (it outgrew the limit, or
    /// failed): what was gathered or staged is held, as one chunk.
    fn hold_all_read(&mut self) {
        match &mut self.hashing {
            Hashing::Gathered(gathered) => {
                let gathered = std::mem::take(gathered);
                self.held.push_data(Bytes::from(gathered));
                self.hashing = Hashing::OneChunk;
            }
            Hashing::Incremental(hasher) => {
                if hasher.staged() > 0 {
                    let stage = std::mem::take(&mut hasher.stage);
                    self.held.push_data(Bytes::from(stage));
                }
            }
            Hashing::OneChunk => {}
        }
    }

    /// Takes a chunk of `len` bytes, `read` (not 0) having been read before
    /// it, into the hashing: gathered (copied) while the body is small, else
    /// held and hashed as it comes. `remaining` gives the body's size hint
    /// for what follows the chunk, from which a gathering buffer is sized.
    ///
    /// The first chunk, and one that still fits a gathering buffer, never get
    /// here: the caller handles them first.
    #[inline]
    fn take_chunk<D: Buf>(&mut self, data: D, read: usize, remaining: impl FnOnce() -> SizeHint) {
        let len = data.remaining();
        match &mut self.hashing {
            Hashing::Gathered(gathered) => {
                // Too long to hash in one call: what was gathered is held as
                // one chunk, and hashed in one slice (the fast way).
                let start = Bytes::from(std::mem::take(gathered));
                self.hash_from_here_on(start, data);
            }
            Hashing::Incremental(hasher) => hasher.take(&mut self.held, data),
            Hashing::OneChunk => match self.held.take_only_chunk() {
                None => self.held.push_data(into_bytes(data)),
                Some(first) if read + len <= SMALL_BODY => {
                    let capacity = gathering_capacity(read + len, remaining());
                    let mut gathered = Vec::with_capacity(capacity);
                    gathered.extend_from_slice(&first);
                    drop(first);
                    gather(&mut gathered, data);
                    self.hashing = Hashing::Gathered(gathered);
                }
                Some(first) => self.hash_from_here_on(first, data),
            },
        }
    }

    /// Switches to hashing as the body arrives: `start`, all that was read
    /// before `data`, is hashed and held, then `data`.
    fn hash_from_here_on<D: Buf>(&mut self, start: Bytes, data: D) {
        let mut hasher = StagedHasher::boxed();
        hasher.hasher.update(&start);
        self.held.push_data(start);
        hasher.take(&mut self.held, data);
        self.hashing = Hashing::Incremental(hasher);
    }
}

/// A frame as a body yields it.
type Polled<B> = Result<Frame<<B as Body>::Data>, <B as Body>::Error>;

/// Whether a gathering buffer takes a chunk of `len` bytes: it must bring
/// data (an empty frame counts against the poll's budget instead) and keep
/// the buffer within `limit`, a small body at most.
#[inline(always)]
fn takes(gathered: &[u8], len: usize, limit: usize) -> bool {
    len != 0 && gathered.len() + len <= limit
}

/// Gathers the frames that follow while the buffer takes them: the loop of
/// a body in small chunks, with the buffer at hand. Ready with the first
/// frame it could not take, or `None` at the end of the body.
#[inline]
fn gather_following<B>(
    gathered: &mut Vec<u8>,
    mut body: Pin<&mut B>,
    cx: &mut Context<'_>,
    limit: usize,
) -> Poll<Option<Polled<B>>>
where
    B: Body,
    B::Data: Buf,
{
    loop {
        let frame = match ready!(body.as_mut().poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            other => return Poll::Ready(other),
        };
        match frame.into_data() {
            Ok(data) if takes(gathered, data.remaining(), limit) => gather(gathered, data),
            Ok(data) => return Poll::Ready(Some(Ok(Frame::data(data)))),
            Err(frame) => return Poll::Ready(Some(Ok(frame))),
        }
    }
}

/// Copies a chunk to the end of the gathered bytes, which the caller keeps
/// within a small body.
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

/// Grows a gathering buffer geometrically, but not past a small body unless
/// `len` more bytes need it.
#[cold]
fn make_room(gathered: &mut Vec<u8>, len: usize) {
    let wanted = gathered.len() + len;
    let capacity = (2 * gathered.capacity()).clamp(wanted, SMALL_BODY.max(wanted));
    gathered.reserve_exact(capacity - gathered.len());
}

/// Room for the whole body when its size hint promises a small body (the
/// buffer then becomes the body sent, with no slack); otherwise room for
/// what the hint says is left, or to double, and for 1 KiB at least (so
/// that tiny chunks do not regrow it five times), within a small body.
fn gathering_capacity(seen: usize, remaining: SizeHint) -> usize {
    const SMALLEST: usize = 1024;
    let promised = remaining
        .upper()
        .and_then(|upper| usize::try_from(upper).ok())
        .and_then(|upper| upper.checked_add(seen));
    match promised {
        Some(total) if total <= SMALL_BODY => total,
        _ => {
            let lower = usize::try_from(remaining.lower()).unwrap_or(usize::MAX);
            seen.saturating_add(lower.max(seen))
                .clamp(SMALLEST, SMALL_BODY)
        }
    }
}

/// The entity-tag of a body held in one slice: remembered (then `true`),
/// or hashed in one call.
fn whole_body_etag(body: &[u8], config: &Config) -> (EntityTag, bool) {
    if config.remember_recent_bodies {
        memo::entity_tag(body, config.etag_policy)
    } else {
        let hash = blake3::hash(body);
        (EntityTag::from_hash(&hash, config.etag_policy), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Frame;
    use http_body_util::{BodyExt, StreamBody};

    fn config(max_hashed_body_size: usize) -> Config {
        Config {
            max_hashed_body_size,
            ..Config::default()
        }
    }

    /// A body of the given chunks, each ready at once.
    fn chunked(
        chunks: &[&[u8]],
    ) -> Pin<Box<impl Body<Data = Bytes, Error = std::convert::Infallible>>> {
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = chunks
            .iter()
            .map(|chunk| Ok(Frame::data(Bytes::copy_from_slice(chunk))))
            .collect();
        Box::pin(StreamBody::new(futures_util::stream::iter(frames)))
    }

    /// Reads a ready body to its end in one poll.
    fn read_all<B>(body: &mut Pin<Box<B>>, max: usize) -> (Reading, BodyRead<B::Error>)
    where
        B: Body,
        B::Data: Buf,
    {
        let mut reading = Reading::default();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match reading.poll_read(&mut cx, body.as_mut(), max) {
            Poll::Ready(read) => (reading, read),
            Poll::Pending => panic!("a ready body was not read in one poll"),
        }
    }

    /// Reads a ready body to its end, however many polls that takes (a
    /// poll yields after a bounded number of frames).
    fn read_polling<B>(body: &mut Pin<Box<B>>, max: usize) -> (Reading, BodyRead<B::Error>)
    where
        B: Body,
        B::Data: Buf,
    {
        let mut reading = Reading::default();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(read) = reading.poll_read(&mut cx, body.as_mut(), max) {
                return (reading, read);
            }
        }
    }

    async fn replayed(held: Held) -> Vec<u8> {
        let body: crate::ConditionalBody<http_body_util::Empty<Bytes>> =
            crate::ConditionalBody::replay(held, crate::body::Rest::Done);
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[test]
    fn the_empty_body_hash_is_blake3_of_no_bytes() {
        assert_eq!(EMPTY_BODY_HASH, blake3::hash(b""));
        assert_eq!(
            empty_body_etag(EtagPolicy::Strong),
            EntityTag::from_content(b"")
        );
    }

    #[tokio::test]
    async fn every_way_of_chunking_gets_the_tag_of_the_whole_body() {
        let whole: Vec<u8> = (0..3 * SMALL_BODY).map(|i| (i * 7 % 251) as u8).collect();
        for sizes in [
            vec![whole.len()],
            vec![1; 40],
            vec![100, 200, 300],
            vec![SMALL_BODY - 1, 2],
            vec![SMALL_BODY, SMALL_BODY],
            vec![10, SMALL_BODY + 10, 5],
            vec![3000; 20],
        ] {
            let mut chunks = Vec::new();
            let mut at = 0;
            for size in sizes.iter().copied() {
                let end = (at + size).min(whole.len());
                chunks.push(&whole[at..end]);
                at = end;
            }
            let expected = &whole[..at];
            for remember in [true, false] {
                let config = Config {
                    remember_recent_bodies: remember,
                    ..config(usize::MAX)
                };
                let mut body = chunked(&chunks);
                let (reading, read) = read_all(&mut body, config.max_hashed_body_size);
                assert!(matches!(read, BodyRead::Ended));
                assert_eq!(reading.read_len(), expected.len(), "{sizes:?}");
                let (held, etag, _) = reading.finish(&config);
                assert_eq!(etag, EntityTag::from_content(expected), "{sizes:?}");
                assert_eq!(replayed(held).await, expected, "{sizes:?}");
            }
        }
    }

    #[tokio::test]
    async fn small_chunks_are_gathered_into_one_frame() {
        let mut body = chunked(&[b"ab", b"cd", b"ef"]);
        let (reading, _) = read_all(&mut body, usize::MAX);
        let (held, _, _) = reading.finish(&config(usize::MAX));
        assert_eq!(held.only_chunk().map(|b| &b[..]), Some(&b"abcdef"[..]));
    }

    /// Small chunks up to a small body in all go out as one frame; past it,
    /// no held chunk is longer than a small body: the gathering buffer never
    /// grows past it.
    #[tokio::test]
    async fn gathering_stops_at_a_small_body() {
        for (len, piece) in [
            (SMALL_BODY, 256),
            (SMALL_BODY, 3),
            // A full buffer, then one byte more.
            (SMALL_BODY + 1, 2),
            (90_000, 3000),
            (40_000, 7),
        ] {
            let whole: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let pieces: Vec<&[u8]> = whole.chunks(piece).collect();
            let mut body = chunked(&pieces);
            let (reading, read) = read_polling(&mut body, usize::MAX);
            assert!(matches!(read, BodyRead::Ended));
            let (held, etag, _) = reading.finish(&config(usize::MAX));
            assert_eq!(etag, EntityTag::from_content(&whole), "{len}/{piece}");
            if len <= SMALL_BODY {
                assert_eq!(held.chunk_count(), 1, "{len}/{piece}");
            }
            for chunk in held.chunks() {
                assert!(
                    chunk.len() <= SMALL_BODY,
                    "{len}/{piece}: a chunk of {}",
                    chunk.len()
                );
            }
            assert_eq!(replayed(held).await, whole, "{len}/{piece}");
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_stops_with_what_was_read_held() {
        for max in [0, 1, 5, 6, SMALL_BODY] {
            let mut body = chunked(&[b"abc", b"def", b"ghi"]);
            let (reading, read) = read_all(&mut body, max);
            if max >= 9 {
                assert!(matches!(read, BodyRead::Ended), "{max}");
                continue;
            }
            assert!(matches!(read, BodyRead::OverLimit), "{max}");
            // The chunk that crossed the limit is held too, whole.
            let held_len = (max / 3 + 1) * 3;
            assert_eq!(reading.read_len(), held_len, "{max}");
            let held = reading.into_held();
            let mut rest = Vec::new();
            while let Some(frame) = body.frame().await {
                rest.extend_from_slice(&frame.unwrap().into_data().unwrap());
            }
            let mut all = replayed(held).await;
            all.extend_from_slice(&rest);
            assert_eq!(all, b"abcdefghi", "{max}");
        }
    }

    #[tokio::test]
    async fn tiny_chunks_are_held_as_a_few_large_ones() {
        // Past the first small body, every chunk in one-byte pieces: held as
        // they came, each would be an entry (and often an allocation) of its own.
        let whole = vec![b'z'; 4 * SMALL_BODY + 3];
        let pieces: Vec<&[u8]> = whole.chunks(1).collect();
        let mut body = chunked(&pieces);
        let (reading, read) = read_polling(&mut body, usize::MAX);
        assert!(matches!(read, BodyRead::Ended));
        let (held, etag, _) = reading.finish(&config(usize::MAX));
        assert_eq!(etag, EntityTag::from_content(&whole));
        assert!(
            held.chunk_count() <= 6,
            "{} chunks held",
            held.chunk_count()
        );
        assert_eq!(replayed(held).await, whole);
    }

    #[tokio::test]
    async fn what_outgrew_the_limit_is_held_in_order_with_the_stage() {
        let whole: Vec<u8> = (0..3 * SMALL_BODY).map(|i| (i % 253) as u8).collect();
        let pieces: Vec<&[u8]> = whole.chunks(100).collect();
        let max = 2 * SMALL_BODY + 50;
        let mut body = chunked(&pieces);
        let (reading, read) = read_polling(&mut body, max);
        assert!(matches!(read, BodyRead::OverLimit));
        let read_len = reading.read_len();
        assert!(read_len > max && read_len <= max + 100, "{read_len}");
        let mut all = replayed(reading.into_held()).await;
        assert_eq!(all.len(), read_len);
        while let Some(frame) = body.frame().await {
            all.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        assert_eq!(all, whole);
    }

    /// A body that is never done: the same data frame, ready, every time.
    struct Endless(&'static [u8]);

    impl Body for Endless {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(self.0)))))
        }
    }

    #[test]
    fn a_poll_reads_a_bounded_number_of_frames_then_yields() {
        let woken = std::sync::Arc::new(Woken::default());
        let waker = std::task::Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut body = Box::pin(Endless(b""));
        let mut reading = Reading::default();
        for _ in 0..3 {
            assert!(reading
                .poll_read(&mut cx, body.as_mut(), usize::MAX)
                .is_pending());
        }
        // Each time it yields it asks to be polled again: it is not waiting.
        assert_eq!(woken.0.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    /// Endless one-byte frames: gathered (uncounted) up to a small body,
    /// then counted, so each poll still ends, having read a bounded amount.
    #[test]
    fn a_poll_of_endless_small_chunks_reads_a_bounded_amount_then_yields() {
        let woken = std::sync::Arc::new(Woken::default());
        let waker = std::task::Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut body = Box::pin(Endless(b"z"));
        let mut reading = Reading::default();
        let mut before = 0;
        for poll in 1..=4 {
            assert!(reading
                .poll_read(&mut cx, body.as_mut(), usize::MAX)
                .is_pending());
            let read = reading.read_len();
            assert!(read > before, "poll {poll} read nothing");
            assert!(
                read - before <= SMALL_BODY + FRAMES_PER_POLL,
                "poll {poll} read {} bytes",
                read - before
            );
            before = read;
        }
        assert_eq!(woken.0.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    /// Three small chunks (the third is taken in the gathering loop), then
    /// endless empty frames.
    struct GatheredThenEmpty(usize);

    impl Body for GatheredThenEmpty {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0 += 1;
            let data = if self.0 <= 3 {
                Bytes::from_static(b"ab")
            } else {
                Bytes::new()
            };
            Poll::Ready(Some(Ok(Frame::data(data))))
        }
    }

    /// Empty frames count against the budget in the gathering loop too.
    #[test]
    fn empty_frames_while_gathering_still_yield() {
        let woken = std::sync::Arc::new(Woken::default());
        let waker = std::task::Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut body = Box::pin(GatheredThenEmpty(0));
        let mut reading = Reading::default();
        for _ in 0..3 {
            assert!(reading
                .poll_read(&mut cx, body.as_mut(), usize::MAX)
                .is_pending());
        }
        assert_eq!(reading.read_len(), 6);
        assert!(matches!(reading.hashing, Hashing::Gathered(_)));
        assert!(body.0 <= 3 + 3 * (FRAMES_PER_POLL + 1), "{} frames", body.0);
        assert_eq!(woken.0.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[derive(Default)]
    struct Woken(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Woken {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn the_first_trailers_end_the_body() {
        let mut first = http::HeaderMap::new();
        first.insert("x-first", http::HeaderValue::from_static("1"));
        let mut second = http::HeaderMap::new();
        second.insert("x-second", http::HeaderValue::from_static("2"));
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(b"data"))),
            Ok(Frame::trailers(first.clone())),
            Ok(Frame::data(Bytes::from_static(b"after"))),
            Ok(Frame::trailers(second)),
        ];
        let mut body = Box::pin(StreamBody::new(futures_util::stream::iter(frames)));
        let (reading, read) = read_all(&mut body, usize::MAX);
        assert!(matches!(read, BodyRead::Ended));
        let (held, etag, _) = reading.finish(&config(usize::MAX));
        assert_eq!(etag, EntityTag::from_content(b"data"));
        let body: crate::ConditionalBody<http_body_util::Empty<Bytes>> =
            crate::ConditionalBody::replay(held, crate::body::Rest::Done);
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers(), Some(&first));
        assert_eq!(collected.to_bytes(), "data");
    }

    #[test]
    fn gathering_capacity_fits_a_promised_small_body_exactly() {
        assert_eq!(gathering_capacity(10, SizeHint::with_exact(90)), 100);
        assert_eq!(gathering_capacity(10, SizeHint::with_exact(0)), 10);
        assert_eq!(
            gathering_capacity(10, SizeHint::with_exact(SMALL_BODY as u64)),
            SMALL_BODY
        );
        assert_eq!(gathering_capacity(10, SizeHint::new()), 1024);
        assert_eq!(gathering_capacity(4000, SizeHint::new()), 8000);
        assert_eq!(gathering_capacity(9000, SizeHint::new()), SMALL_BODY);
        let mut hint = SizeHint::new();
        hint.set_lower(3000);
        assert_eq!(gathering_capacity(100, hint), 3100);
    }
}
