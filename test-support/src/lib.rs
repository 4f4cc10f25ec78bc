//! Test bodies shared by the integration tests, the benchmarks and the fuzz
//! targets of `tower-conditional`, so that each of them drives the layer with
//! the same handler bodies.
//!
//! A handler's body reaches the layer in one of a few shapes that take
//! different paths through it: whole or in many frames, with or without
//! trailers, ready at once or only after waiting for I/O, with its length
//! known in advance or not (and the size hint honest or not). [`FramesBody`]
//! is one body that takes each of these shapes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

/// A handler's body: data frames (given one by one, or one buffer cut into
/// frames), then trailers if any, one frame per poll.
///
/// By default every frame is ready when polled and the body says nothing
/// about its length, as a stream whose end is found by polling; the builder
/// methods change that.
#[derive(Debug)]
pub struct FramesBody {
    /// Data still to be cut, as it is read, into `cuts_left` frames of `cut`
    /// bytes (the last one takes the rest). The frames are slices of one
    /// buffer made when polled, so a body of many frames costs the handler no
    /// allocation: the benchmarks measure this body's cost in both of the
    /// services they compare.
    data: Bytes,
    cuts_left: usize,
    cut: usize,
    /// Frames given one by one, sent after `data`.
    queued: VecDeque<Frame<Bytes>>,
    length: Length,
    pace: Pace,
    /// Whether the next poll returns `Pending` first.
    wait: bool,
}

/// What a [`FramesBody`] says about its length before it is read.
#[derive(Debug, Clone, Copy)]
enum Length {
    /// No size hint and no end of stream until polled to the end.
    Unknown,
    /// The exact number of data bytes left, and the end once reached.
    Exact,
    /// This hint whatever the data, true or not, and the end once reached.
    Hint(SizeHint),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    Ready,
    PendingFirst,
    PendingEach,
}

impl FramesBody {
    /// A body that yields these frames in order.
    pub fn new(frames: impl IntoIterator<Item = Frame<Bytes>>) -> Self {
        Self {
            data: Bytes::new(),
            cuts_left: 0,
            cut: 0,
            queued: frames.into_iter().collect(),
            length: Length::Unknown,
            pace: Pace::Ready,
            wait: false,
        }
    }

    /// A body that yields one data frame per chunk, empty chunks included.
    pub fn chunks<I, C>(chunks: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<Bytes>,
    {
        Self::new(chunks.into_iter().map(|chunk| Frame::data(chunk.into())))
    }

    /// A body that yields `data` as `frames` data frames of (nearly) equal
    /// size, each a slice of `data` (not a copy). Empty data yields empty
    /// frames.
    ///
    /// # Panics
    ///
    /// If `frames` is 0.
    pub fn split(data: Bytes, frames: usize) -> Self {
        assert!(frames > 0, "a body of data is at least one frame");
        let cut = data.len().div_ceil(frames);
        Self {
            data,
            cuts_left: frames,
            cut,
            ..Self::new([])
        }
    }

    /// Trailers after the data.
    pub fn with_trailers(mut self, trailers: HeaderMap) -> Self {
        self.queued.push_back(Frame::trailers(trailers));
        self
    }

    /// An exact size hint of the data left, and the end of the stream once
    /// reached: a body whose length is known in advance.
    pub fn with_exact_size(mut self) -> Self {
        self.length = Length::Exact;
        self
    }

    /// This size hint, true or not, whatever has been read, and the end of the
    /// stream once reached.
    pub fn with_size_hint(mut self, hint: SizeHint) -> Self {
        self.length = Length::Hint(hint);
        self
    }

    /// `Pending` (after waking the task) at the first poll, as a body fed by
    /// I/O that is not ready yet.
    pub fn pending_first(mut self) -> Self {
        self.pace = Pace::PendingFirst;
        self.wait = true;
        self
    }

    /// `Pending` (after waking the task) before every frame and before the
    /// end, so that each frame arrives in a poll of its own, as from a slow
    /// producer.
    pub fn pending_before_each(mut self) -> Self {
        self.pace = Pace::PendingEach;
        self.wait = true;
        self
    }

    #[inline]
    fn next_frame(&mut self) -> Option<Frame<Bytes>> {
        if self.cuts_left > 0 {
            self.cuts_left -= 1;
            let take = if self.cuts_left == 0 {
                self.data.len()
            } else {
                self.cut.min(self.data.len())
            };
            return Some(Frame::data(self.data.split_to(take)));
        }
        self.queued.pop_front()
    }

    #[inline]
    fn is_drained(&self) -> bool {
        self.cuts_left == 0 && self.queued.is_empty()
    }
}

impl Body for FramesBody {
    type Data = Bytes;
    type Error = Infallible;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.wait {
            this.wait = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.wait = this.pace == Pace::PendingEach;
        Poll::Ready(this.next_frame().map(Ok))
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match self.length {
            Length::Unknown => false,
            Length::Exact | Length::Hint(_) => self.is_drained(),
        }
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        match self.length {
            Length::Unknown => SizeHint::default(),
            Length::Exact => {
                let queued: usize = self
                    .queued
                    .iter()
                    .filter_map(Frame::data_ref)
                    .map(Bytes::len)
                    .sum();
                SizeHint::with_exact((self.data.len() + queued) as u64)
            }
            Length::Hint(hint) => hint,
        }
    }
}

/// `len` bytes that are not all one repeated byte, the same in every run: a
/// body whose tag a test can compute, and in which a misplaced byte shows.
pub fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Unpadded base64url, written here independently of the crate under test
/// (the tests' oracle for the tags it computes).
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    let mut bits = 0u32;
    let mut nbits = 0;
    for &byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(ALPHABET[((bits >> nbits) & 0x3f) as usize] as char);
        }
    }
    if nbits > 0 {
        out.push(ALPHABET[((bits << (6 - nbits)) & 0x3f) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    /// Polls `body` to its end, counting the `Pending`s.
    fn drain(mut body: FramesBody) -> (Vec<Frame<Bytes>>, usize) {
        let mut cx = Context::from_waker(Waker::noop());
        let (mut frames, mut pending) = (Vec::new(), 0);
        loop {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Pending => pending += 1,
                Poll::Ready(None) => return (frames, pending),
                Poll::Ready(Some(frame)) => frames.push(frame.unwrap()),
            }
        }
    }

    fn data(frames: &[Frame<Bytes>]) -> Vec<Bytes> {
        frames.iter().filter_map(Frame::data_ref).cloned().collect()
    }

    #[test]
    fn split_cuts_nearly_equal_slices_and_the_last_takes_the_rest() {
        let (frames, _) = drain(FramesBody::split(Bytes::from_static(b"abcdefghij"), 3));
        assert_eq!(data(&frames), ["abcd", "efgh", "ij"]);
        let (frames, _) = drain(FramesBody::split(Bytes::new(), 2));
        assert_eq!(data(&frames), ["", ""]);
    }

    #[test]
    fn exact_size_counts_down_and_tells_the_end() {
        let mut body = FramesBody::chunks(["ab", "cde"])
            .with_trailers(HeaderMap::new())
            .with_exact_size();
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(body.size_hint().exact(), Some(5));
        let _ = Pin::new(&mut body).poll_frame(&mut cx);
        assert_eq!(body.size_hint().exact(), Some(3));
        let _ = Pin::new(&mut body).poll_frame(&mut cx);
        assert_eq!(body.size_hint().exact(), Some(0));
        assert!(!body.is_end_stream(), "the trailers are left");
        let _ = Pin::new(&mut body).poll_frame(&mut cx);
        assert!(body.is_end_stream());
    }

    #[test]
    fn unknown_length_never_tells_the_end() {
        let body = FramesBody::new([]);
        assert!(!body.is_end_stream());
        assert_eq!(body.size_hint().exact(), None);
    }

    #[test]
    fn pending_before_each_frame_and_the_end() {
        let (frames, pending) = drain(FramesBody::chunks(["a", "b"]).pending_before_each());
        assert_eq!(frames.len(), 2);
        assert_eq!(pending, 3);
        let (_, pending) = drain(FramesBody::chunks(["a", "b"]).pending_first());
        assert_eq!(pending, 1);
    }
}
