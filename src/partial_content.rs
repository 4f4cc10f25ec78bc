//! The content of a `206 Partial Content` (RFC 9110 §15.3.7, §14.6) cut
//! from a representation the layer holds whole: the `Content-Range` fields,
//! the `multipart/byteranges` boundary and framing, and the slices of the
//! held chunks, with no copy of body bytes. [`range`](crate::range) reads
//! and selects the ranges; this module answers them.
//!
//! Pure, like `range`: it reads values and returns values.

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;

use crate::entity_tag::{self, EntityTag};
use crate::range::{ByteRange, RangeSet, Selection};

/// `Content-Range` of a `206` part (§14.4): `bytes first-last/complete-length`.
pub(crate) fn content_range(range: ByteRange, complete_length: u64) -> HeaderValue {
    let text = format!(
        "bytes {}-{}/{}",
        range.first(),
        range.last(),
        complete_length
    );
    HeaderValue::try_from(text).expect("digits and ASCII are a valid header value")
}

/// `Content-Range` of a `416` (§14.4, §15.5.17): `bytes */complete-length`.
pub(crate) fn content_range_unsatisfied(complete_length: u64) -> HeaderValue {
    HeaderValue::try_from(format!("bytes */{complete_length}"))
        .expect("digits and ASCII are a valid header value")
}

/// The boundary that separates the parts of a `multipart/byteranges` body
/// (§14.6, RFC 2046 §5.1.1).
///
/// The boundary must not occur in the parts (RFC 2046 §5.1.1). It is
/// derived, through blake3, from the strong or weak entity-tag the layer
/// computed from the body's own bytes: a body that held its boundary would
/// hold a hash of itself, which no one can construct. It is also the same
/// for every answer about the same body, so two `206`s of the same ranges
/// are identical. Made from any other tag (a handler's `"v7"`), it is only
/// as safe as that tag is unpredictable to whoever writes the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Boundary {
    // 22 base64url characters: all `bchars` of RFC 2046 and all `tchar`,
    // so the parameter needs no quotes (§14.6 notes that some clients
    // mishandle a quoted boundary).
    chars: [u8; entity_tag::HASH_CHARS],
}

impl Boundary {
    /// The boundary for the body whose content-hash tag is `tag`.
    pub(crate) fn for_content_tag(tag: &EntityTag) -> Self {
        let mut hasher =
            blake3::Hasher::new_derive_key("tower-conditional multipart/byteranges boundary");
        hasher.update(tag.to_header_value().as_bytes());
        let digest = hasher.finalize();
        let mut chars = [0u8; entity_tag::HASH_CHARS];
        entity_tag::base64url_128(&digest.as_bytes()[..16], &mut chars);
        Self { chars }
    }

    /// The boundary's characters.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.chars
    }

    /// The `Content-Type` of a multipart `206`:
    /// `multipart/byteranges; boundary=…` (§14.6).
    pub(crate) fn content_type(&self) -> HeaderValue {
        let mut value = BytesMut::with_capacity(32 + self.chars.len());
        value.put_slice(b"multipart/byteranges; boundary=");
        value.put_slice(&self.chars);
        HeaderValue::from_maybe_shared(value.freeze()).expect("base64url is a valid header value")
    }
}

/// What to answer a GET with a valid `Range` field, once the whole
/// representation is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RangeResponse {
    /// Send the `200` as it is: a server MAY ignore `Range` (§14.2), and does
    /// so here when the multipart answer would be longer than the whole, or
    /// when the representation is empty (see [`Selection::Whole`]).
    Full,
    /// `416 Range Not Satisfiable` with this `Content-Range` (`bytes */len`)
    /// and no content.
    NotSatisfiable {
        /// The `Content-Range` to send.
        content_range: HeaderValue,
    },
    /// `206 Partial Content`.
    Partial(PartialContent),
}

/// The head fields and content of a `206` (§15.3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartialContent {
    /// How the parts are framed.
    pub(crate) kind: PartialKind,
    /// The content: slices of the held chunks, and for several parts the
    /// generated delimiters and part headers between them.
    pub(crate) pieces: Vec<Bytes>,
    /// The sum of the pieces' lengths: the `206`'s `Content-Length`.
    pub(crate) length: u64,
}

/// One range or several (§15.3.7.1, §15.3.7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartialKind {
    /// One part: this `Content-Range` in the head, and the 200's
    /// `Content-Type` kept.
    Single {
        /// The `Content-Range` to send.
        content_range: HeaderValue,
    },
    /// Several parts: this `Content-Type` replaces the 200's, which each part
    /// carries instead; the head has no `Content-Range`.
    Multipart {
        /// The `multipart/byteranges; boundary=…` to send.
        content_type: HeaderValue,
    },
}

/// Answers a valid `Range` field from the held representation: `chunks` in
/// order (a range may span several), the 200's `Content-Type` if it had one,
/// and the boundary for several parts.
pub(crate) fn respond<'a, I>(
    ranges: &RangeSet,
    chunks: I,
    content_type: Option<&HeaderValue>,
    boundary: &Boundary,
) -> RangeResponse
where
    I: IntoIterator<Item = &'a Bytes>,
    I::IntoIter: Clone,
{
    let chunks = chunks.into_iter();
    let length = chunks.clone().map(|chunk| chunk.len() as u64).sum::<u64>();
    let selected = match ranges.select(length) {
        Selection::Whole => return RangeResponse::Full,
        Selection::Unsatisfiable => {
            return RangeResponse::NotSatisfiable {
                content_range: content_range_unsatisfied(length),
            }
        }
        Selection::Ranges(selected) => selected,
    };
    if let [only] = selected[..] {
        let mut pieces = Vec::new();
        push_slices(chunks, only, &mut pieces);
        return RangeResponse::Partial(PartialContent {
            kind: PartialKind::Single {
                content_range: content_range(only, length),
            },
            pieces,
            length: only.len(),
        });
    }
    let headers: Vec<Bytes> = selected
        .iter()
        .enumerate()
        .map(|(i, range)| part_header(i == 0, boundary, content_type, *range, length))
        .collect();
    let close = close_delimiter(boundary);
    let multipart_length = selected.iter().map(ByteRange::len).sum::<u64>()
        + headers.iter().map(|h| h.len() as u64).sum::<u64>()
        + close.len() as u64;
    if multipart_length > length {
        return RangeResponse::Full;
    }
    let mut pieces = Vec::with_capacity(selected.len() * 3 + 1);
    for (header, range) in headers.into_iter().zip(&selected) {
        pieces.push(header);
        push_slices(chunks.clone(), *range, &mut pieces);
    }
    pieces.push(close);
    RangeResponse::Partial(PartialContent {
        kind: PartialKind::Multipart {
            content_type: boundary.content_type(),
        },
        pieces,
        length: multipart_length,
    })
}

/// The delimiter and header section before a part (RFC 2046 §5.1.1; §14.6).
/// The first part needs no CRLF before its dash-boundary; each later
/// delimiter's CRLF ends the part before it.
fn part_header(
    first: bool,
    boundary: &Boundary,
    content_type: Option<&HeaderValue>,
    range: ByteRange,
    complete_length: u64,
) -> Bytes {
    let content_range = content_range(range, complete_length);
    // Room for the delimiter and a Content-Range of two 20-digit positions
    // and a length; a long Content-Type grows it once.
    let mut header = BytesMut::with_capacity(128);
    if !first {
        header.put_slice(b"\r\n");
    }
    header.put_slice(b"--");
    header.put_slice(boundary.as_bytes());
    header.put_slice(b"\r\n");
    // §15.3.7.2: each part carries the Content-Type the 200 would have had.
    if let Some(content_type) = content_type {
        header.put_slice(b"Content-Type: ");
        header.put_slice(content_type.as_bytes());
        header.put_slice(b"\r\n");
    }
    header.put_slice(b"Content-Range: ");
    header.put_slice(content_range.as_bytes());
    header.put_slice(b"\r\n\r\n");
    header.freeze()
}

/// `CRLF "--" boundary "--"` (RFC 2046 §5.1.1), then a CRLF to end the line.
fn close_delimiter(boundary: &Boundary) -> Bytes {
    let mut close = BytesMut::with_capacity(32);
    close.put_slice(b"\r\n--");
    close.put_slice(boundary.as_bytes());
    close.put_slice(b"--\r\n");
    close.freeze()
}

/// Appends the slices of `chunks` that hold `range`: reference-counted views
/// of the held bytes, never copies.
fn push_slices<'a>(
    chunks: impl Iterator<Item = &'a Bytes>,
    range: ByteRange,
    out: &mut Vec<Bytes>,
) {
    // Positions fit in usize: they lie within bytes held in memory.
    let (start, end) = (range.first() as usize, range.last() as usize + 1);
    let mut offset = 0usize;
    for chunk in chunks {
        let chunk_end = offset + chunk.len();
        let from = start.max(offset);
        let to = end.min(chunk_end);
        if from < to {
            out.push(chunk.slice(from - offset..to - offset));
        }
        if chunk_end >= end {
            break;
        }
        offset = chunk_end;
    }
}

/// The builder for the fuzz targets in `fuzz/`, which see only the public
/// API: plain types over this module's, compiled only with `--cfg fuzzing`
/// (as `cargo fuzz` builds), never part of the crate's API.
#[cfg(fuzzing)]
pub mod fuzzing {
    use bytes::Bytes;
    use http::HeaderValue;

    use crate::EntityTag;

    /// The answer [`respond`] builds.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Response {
        /// The `200` unchanged.
        Full,
        /// A `416` with this `Content-Range`.
        NotSatisfiable(HeaderValue),
        /// A one-part `206`: `Content-Range`, pieces, `Content-Length`.
        Single(HeaderValue, Vec<Bytes>, u64),
        /// A multipart `206`: `Content-Type`, pieces, `Content-Length`.
        Multipart(HeaderValue, Vec<Bytes>, u64),
    }

    /// Parses the field lines and answers from `chunks`, with the boundary
    /// made from `tag`; `None` when the field is to be ignored.
    pub fn respond(
        lines: &[HeaderValue],
        chunks: &[Bytes],
        content_type: Option<&HeaderValue>,
        tag: &EntityTag,
    ) -> Option<Response> {
        let set = crate::range::RangeSet::from_lines(lines)?;
        let boundary = super::Boundary::for_content_tag(tag);
        Some(
            match super::respond(&set, chunks, content_type, &boundary) {
                super::RangeResponse::Full => Response::Full,
                super::RangeResponse::NotSatisfiable { content_range } => {
                    Response::NotSatisfiable(content_range)
                }
                super::RangeResponse::Partial(partial) => match partial.kind {
                    super::PartialKind::Single { content_range } => {
                        Response::Single(content_range, partial.pieces, partial.length)
                    }
                    super::PartialKind::Multipart { content_type } => {
                        Response::Multipart(content_type, partial.pieces, partial.length)
                    }
                },
            },
        )
    }
}
