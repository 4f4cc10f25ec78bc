//! Entity-tags (RFC 9110 §8.8.3): parsing, formatting and comparison. The
//! lists of them that `If-Match` and `If-None-Match` carry are
//! [`entity_tag_list`](crate::entity_tag_list)'s.
//!
//! Everything here is pure: it reads bytes and returns values, so it can be
//! unit-tested, property-tested and fuzzed without a server.

use std::fmt;

use bytes::Bytes;
use http::HeaderValue;

use crate::config::EtagPolicy;

/// An entity-tag: an opaque validator for one representation of a resource.
///
/// It is kept in its wire form (`"xyz"` or `W/"xyz"`), so writing it into an
/// `ETag` header is a reference-count bump, not a copy.
///
/// ```
/// use tower_conditional::EntityTag;
///
/// let strong = EntityTag::strong("v42").unwrap();
/// assert_eq!(strong.to_string(), "\"v42\"");
///
/// let weak: EntityTag = "W/\"v42\"".parse().unwrap();
/// assert!(weak.is_weak());
/// assert!(strong.weak_eq(&weak));
/// assert!(!strong.strong_eq(&weak));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EntityTag {
    wire: HeaderValue,
}

/// The error returned when bytes are not a valid entity-tag; its message
/// says what is wrong and where.
///
/// An entity-tag is `"opaque"` or `W/"opaque"`, where the opaque part holds
/// printable ASCII other than `"` and space (RFC 9110 §8.8.3; this crate
/// refuses the obsolete non-ASCII `obs-text` bytes).
/// [`EntityTag::strong`] and [`EntityTag::weak`] take the opaque part alone,
/// without quotes; parsing takes the whole tag.
///
/// ```
/// use tower_conditional::EntityTag;
///
/// let error = EntityTag::strong("\"v1\"").unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "invalid entity-tag: byte 0 of the opaque part is '\"'; give the opaque part \
///      without quotes, as in EntityTag::strong(\"v1\") for the tag \"v1\""
/// );
/// assert!(EntityTag::strong("a b").unwrap_err().to_string().contains("a space"));
/// assert!("w/\"lowercase-prefix\"".parse::<EntityTag>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEntityTag {
    problem: Problem,
}

/// What is wrong with the bytes given as an entity-tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// A byte of the opaque part given alone is not allowed there.
    OpaqueByte { at: usize, byte: u8 },
    /// A whole tag was expected, and this is not one.
    NotATag(NotATag),
}

/// How bytes given as a whole entity-tag fail to be one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotATag {
    Empty,
    /// `w/"…"`: the weakness indicator is case-sensitive.
    LowercaseWeak,
    NoOpeningQuote,
    /// A byte inside the quotes that an opaque part cannot hold.
    Byte {
        at: usize,
        byte: u8,
    },
    NoClosingQuote,
    /// Bytes after the closing quote.
    Trailing {
        at: usize,
    },
}

impl InvalidEntityTag {
    fn opaque_byte(at: usize, byte: u8) -> Self {
        Self {
            problem: Problem::OpaqueByte { at, byte },
        }
    }

    /// Says why `wire` is not an entity-tag (it is known not to be one).
    fn of_wire(wire: &[u8]) -> Self {
        let not = match wire {
            [] => NotATag::Empty,
            [b'w', b'/', ..] => NotATag::LowercaseWeak,
            _ => {
                let open = if wire.starts_with(b"W/") { 2 } else { 0 };
                if wire.get(open) != Some(&b'"') {
                    NotATag::NoOpeningQuote
                } else {
                    let opaque = &wire[open + 1..];
                    match opaque.iter().position(|&b| !is_etagc(b)) {
                        None => NotATag::NoClosingQuote,
                        Some(len) if opaque[len] != b'"' => NotATag::Byte {
                            at: open + 1 + len,
                            byte: opaque[len],
                        },
                        Some(len) => NotATag::Trailing {
                            at: open + 1 + len + 1,
                        },
                    }
                }
            }
        };
        Self {
            problem: Problem::NotATag(not),
        }
    }
}

/// Names a byte that cannot stand in an opaque part.
struct ByteName(u8);

impl fmt::Display for ByteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b'"' => f.write_str("'\"'"),
            b' ' => f.write_str("a space"),
            byte if byte.is_ascii_control() => write!(f, "the control byte 0x{byte:02x}"),
            byte => write!(f, "0x{byte:02x}, which is not ASCII"),
        }
    }
}

impl fmt::Display for InvalidEntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid entity-tag: ")?;
        match self.problem {
            Problem::OpaqueByte { at, byte: b'"' } => write!(
                f,
                "byte {at} of the opaque part is '\"'; give the opaque part without quotes, \
                 as in EntityTag::strong(\"v1\") for the tag \"v1\""
            ),
            Problem::OpaqueByte { at, byte } => write!(
                f,
                "byte {at} of the opaque part is {}; an opaque part holds printable ASCII \
                 other than '\"' and space",
                ByteName(byte)
            ),
            Problem::NotATag(not) => match not {
                NotATag::Empty => f.write_str("it is empty; expected \"opaque\" or W/\"opaque\""),
                NotATag::LowercaseWeak => {
                    f.write_str("the weak prefix is W/ in upper case, not w/")
                }
                NotATag::NoOpeningQuote => f.write_str(
                    "it does not start with '\"' (or W/\"); expected \"opaque\" or W/\"opaque\"",
                ),
                NotATag::Byte { at, byte } => write!(
                    f,
                    "byte {at} is {}, which an opaque part cannot hold",
                    ByteName(byte)
                ),
                NotATag::NoClosingQuote => f.write_str("the closing '\"' is missing"),
                NotATag::Trailing { at } => {
                    write!(f, "bytes follow the closing '\"', from byte {at}")
                }
            },
        }
    }
}

impl std::error::Error for InvalidEntityTag {}

/// `etagc` of RFC 9110 §8.8.3, without `obs-text`: `!` and `#`..`~`.
#[inline]
fn is_etagc(byte: u8) -> bool {
    byte == 0x21 || (0x23..=0x7e).contains(&byte)
}

/// A parsed entity-tag that borrows its opaque part from the bytes it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TagRef<'a> {
    pub(crate) weak: bool,
    /// The opaque-tag without its quotes.
    pub(crate) opaque: &'a [u8],
}

impl TagRef<'_> {
    /// Weak comparison (RFC 9110 §8.8.3.2): the opaque parts are equal.
    #[inline]
    pub(crate) fn weak_eq(&self, other: &TagRef<'_>) -> bool {
        self.opaque == other.opaque
    }

    /// Strong comparison: neither is weak and the opaque parts are equal.
    #[inline]
    pub(crate) fn strong_eq(&self, other: &TagRef<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }
}

/// The two ways of comparing entity-tags (RFC 9110 §8.8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    /// Both strong and the opaque parts equal: `If-Match`, `If-Range`.
    Strong,
    /// The opaque parts equal, weakness ignored: `If-None-Match`.
    Weak,
}

impl TagRef<'_> {
    /// Compares two tags the given way.
    #[inline]
    pub(crate) fn matches(&self, other: &TagRef<'_>, comparison: Comparison) -> bool {
        match comparison {
            Comparison::Strong => self.strong_eq(other),
            Comparison::Weak => self.weak_eq(other),
        }
    }
}

/// Parses one entity-tag that must span all of `bytes`.
pub(crate) fn parse_tag(bytes: &[u8]) -> Option<TagRef<'_>> {
    let (tag, rest) = parse_tag_prefix(bytes)?;
    rest.is_empty().then_some(tag)
}

/// Parses an entity-tag at the start of `bytes`, returning it and what follows.
pub(crate) fn parse_tag_prefix(bytes: &[u8]) -> Option<(TagRef<'_>, &[u8])> {
    let (weak, quoted) = match bytes {
        [b'W', b'/', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let after_quote = quoted.strip_prefix(b"\"")?;
    let len = after_quote.iter().position(|&b| !is_etagc(b))?;
    if after_quote[len] != b'"' {
        return None;
    }
    Some((
        TagRef {
            weak,
            opaque: &after_quote[..len],
        },
        &after_quote[len + 1..],
    ))
}

impl EntityTag {
    /// A strong entity-tag with the given opaque part (without quotes).
    ///
    /// Fails when `opaque` holds anything but printable ASCII other than `"`.
    ///
    /// ```
    /// use tower_conditional::EntityTag;
    ///
    /// let tag = EntityTag::strong("item-7-rev-3").unwrap();
    /// assert_eq!(tag.opaque(), "item-7-rev-3");
    /// assert!(!tag.is_weak());
    /// ```
    pub fn strong(opaque: &str) -> Result<Self, InvalidEntityTag> {
        Self::build(false, opaque.as_bytes())
    }

    /// A weak entity-tag (`W/"…"`) with the given opaque part (without quotes).
    ///
    /// ```
    /// use tower_conditional::EntityTag;
    ///
    /// let tag = EntityTag::weak("page-12").unwrap();
    /// assert_eq!(tag.to_string(), "W/\"page-12\"");
    /// ```
    pub fn weak(opaque: &str) -> Result<Self, InvalidEntityTag> {
        Self::build(true, opaque.as_bytes())
    }

    fn build(weak: bool, opaque: &[u8]) -> Result<Self, InvalidEntityTag> {
        if let Some(at) = opaque.iter().position(|&b| !is_etagc(b)) {
            return Err(InvalidEntityTag::opaque_byte(at, opaque[at]));
        }
        let mut wire = Vec::with_capacity(opaque.len() + 4);
        if weak {
            wire.extend_from_slice(b"W/");
        }
        wire.push(b'"');
        wire.extend_from_slice(opaque);
        wire.push(b'"');
        Ok(Self::from_valid_wire(Bytes::from(wire)))
    }

    /// Reads an entity-tag in its wire form, as found in an `ETag` header.
    ///
    /// ```
    /// use http::HeaderValue;
    /// use tower_conditional::EntityTag;
    ///
    /// let tag = EntityTag::from_header_value(&HeaderValue::from_static("W/\"a1\"")).unwrap();
    /// assert!(tag.is_weak());
    /// assert!(EntityTag::from_header_value(&HeaderValue::from_static("a1")).is_err());
    /// ```
    pub fn from_header_value(value: &HeaderValue) -> Result<Self, InvalidEntityTag> {
        match parse_tag(value.as_bytes()) {
            Some(_) => Ok(Self {
                wire: value.clone(),
            }),
            None => Err(InvalidEntityTag::of_wire(value.as_bytes())),
        }
    }

    /// Builds the tag from bytes already known to be a valid wire form.
    pub(crate) fn from_valid_wire(wire: Bytes) -> Self {
        debug_assert!(parse_tag(&wire).is_some());
        let wire = HeaderValue::from_maybe_shared(wire)
            .expect("a valid entity-tag is a valid header value");
        Self { wire }
    }

    pub(crate) fn as_ref(&self) -> TagRef<'_> {
        // The wire form was validated when the tag was made: `W/`, if any,
        // then the opaque part between two quotes.
        let wire = self.wire.as_bytes();
        let weak = wire.starts_with(b"W/");
        let open = if weak { 3 } else { 1 };
        let tag = TagRef {
            weak,
            opaque: &wire[open..wire.len() - 1],
        };
        debug_assert_eq!(Some(tag), parse_tag(wire));
        tag
    }

    /// Whether this is a weak entity-tag (`W/"…"`).
    ///
    /// ```
    /// use tower_conditional::EntityTag;
    ///
    /// assert!(EntityTag::weak("v1").unwrap().is_weak());
    /// assert!(!EntityTag::strong("v1").unwrap().is_weak());
    /// ```
    pub fn is_weak(&self) -> bool {
        self.wire.as_bytes().starts_with(b"W/")
    }

    /// The opaque part, without the quotes and the weakness indicator.
    ///
    /// ```
    /// use http::HeaderValue;
    /// use tower_conditional::EntityTag;
    ///
    /// let tag = EntityTag::from_header_value(&HeaderValue::from_static("W/\"v1\"")).unwrap();
    /// assert_eq!(tag.opaque(), "v1");
    /// ```
    pub fn opaque(&self) -> &str {
        let opaque = self.as_ref().opaque;
        std::str::from_utf8(opaque).expect("opaque-tags are ASCII")
    }

    /// Strong comparison (RFC 9110 §8.8.3.2): both strong, opaque parts equal.
    ///
    /// This is the comparison `If-Match` uses.
    ///
    /// ```
    /// use tower_conditional::EntityTag;
    ///
    /// let a = EntityTag::strong("1").unwrap();
    /// assert!(a.strong_eq(&EntityTag::strong("1").unwrap()));
    /// assert!(!a.strong_eq(&EntityTag::weak("1").unwrap()));
    /// ```
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        self.as_ref().strong_eq(&other.as_ref())
    }

    /// Weak comparison (RFC 9110 §8.8.3.2): opaque parts equal, weakness ignored.
    ///
    /// This is the comparison `If-None-Match` uses.
    ///
    /// ```
    /// use tower_conditional::EntityTag;
    ///
    /// let a = EntityTag::weak("1").unwrap();
    /// assert!(a.weak_eq(&EntityTag::strong("1").unwrap()));
    /// assert!(!a.weak_eq(&EntityTag::weak("2").unwrap()));
    /// ```
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.as_ref().weak_eq(&other.as_ref())
    }

    /// The same opaque part, marked weak.
    ///
    /// ```
    /// use tower_conditional::EntityTag;
    ///
    /// let weak = EntityTag::strong("x").unwrap().into_weak();
    /// assert_eq!(weak.to_string(), "W/\"x\"");
    /// ```
    pub fn into_weak(self) -> Self {
        if self.is_weak() {
            return self;
        }
        let mut wire = Vec::with_capacity(self.wire.len() + 2);
        wire.extend_from_slice(b"W/");
        wire.extend_from_slice(self.wire.as_bytes());
        Self::from_valid_wire(Bytes::from(wire))
    }

    /// The tag as an `ETag` header value (a cheap clone).
    ///
    /// ```
    /// use tower_conditional::EntityTag;
    ///
    /// let value = EntityTag::weak("v1").unwrap().to_header_value();
    /// assert_eq!(value, "W/\"v1\"");
    /// ```
    pub fn to_header_value(&self) -> HeaderValue {
        self.wire.clone()
    }

    /// The entity-tag this crate computes for a body: 128 bits of its blake3
    /// hash, base64url-encoded (22 characters) inside quotes.
    ///
    /// The same bytes give the same tag in every process and on every machine,
    /// so replicas behind a load balancer agree.
    ///
    /// ```
    /// use tower_conditional::EntityTag;
    ///
    /// let tag = EntityTag::from_content(b"hello");
    /// assert_eq!(tag.opaque().len(), 22);
    /// assert_eq!(tag, EntityTag::from_content(b"hello"));
    /// ```
    pub fn from_content(content: &[u8]) -> Self {
        Self::from_hash(&blake3::hash(content), EtagPolicy::Strong)
    }

    pub(crate) fn from_hash(hash: &blake3::Hash, policy: EtagPolicy) -> Self {
        let digest: &[u8; 32] = hash.as_bytes();
        let mut wire = [0u8; 2 + 1 + HASH_CHARS + 1];
        let start = match policy {
            EtagPolicy::Weak => {
                wire[0] = b'W';
                wire[1] = b'/';
                0
            }
            EtagPolicy::Strong => 2,
        };
        wire[2] = b'"';
        base64url_128(&digest[..16], &mut wire[3..3 + HASH_CHARS]);
        wire[3 + HASH_CHARS] = b'"';
        Self::from_valid_wire(Bytes::copy_from_slice(&wire[start..]))
    }
}

/// Characters needed for 128 bits in unpadded base64url.
pub(crate) const HASH_CHARS: usize = 22;

/// Unpadded base64url (RFC 4648 §5) of 16 bytes into 22 characters.
pub(crate) fn base64url_128(input: &[u8], out: &mut [u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    debug_assert_eq!(input.len(), 16);
    debug_assert_eq!(out.len(), HASH_CHARS);
    for (group, chars) in input[..15].chunks_exact(3).zip(out.chunks_exact_mut(4)) {
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        chars[0] = ALPHABET[(n >> 18) as usize & 0x3f];
        chars[1] = ALPHABET[(n >> 12) as usize & 0x3f];
        chars[2] = ALPHABET[(n >> 6) as usize & 0x3f];
        chars[3] = ALPHABET[n as usize & 0x3f];
    }
    let last = input[15];
    out[20] = ALPHABET[usize::from(last >> 2)];
    out[21] = ALPHABET[usize::from(last & 0x03) << 4];
}

impl fmt::Debug for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EntityTag")
            .field(&String::from_utf8_lossy(self.wire.as_bytes()))
            .finish()
    }
}

impl fmt::Display for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire.to_str().expect("entity-tags are ASCII"))
    }
}

impl std::str::FromStr for EntityTag {
    type Err = InvalidEntityTag;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_tag(s.as_bytes()) {
            Some(_) => Ok(Self::from_valid_wire(Bytes::copy_from_slice(s.as_bytes()))),
            None => Err(InvalidEntityTag::of_wire(s.as_bytes())),
        }
    }
}

impl From<EntityTag> for HeaderValue {
    fn from(tag: EntityTag) -> Self {
        tag.wire
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tags_are_22_base64url_chars() {
        let tag = EntityTag::from_content(b"");
        assert_eq!(tag.opaque().len(), 22);
        assert!(tag
            .opaque()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(EntityTag::from_content(b"a"), EntityTag::from_content(b"b"));
        let weak = EntityTag::from_hash(&blake3::hash(b"a"), EtagPolicy::Weak);
        assert!(weak.is_weak());
        assert_eq!(weak.opaque(), EntityTag::from_content(b"a").opaque());
    }

    #[test]
    fn base64url_matches_reference_encoding() {
        // All-ones and a known pattern, checked against RFC 4648 by hand:
        // 0xff.. -> "_" x 21 then the last 2 bits (11) padded: "w".
        let mut out = [0u8; HASH_CHARS];
        base64url_128(&[0xff; 16], &mut out);
        assert_eq!(&out, b"_____________________w");
        base64url_128(&[0; 16], &mut out);
        assert_eq!(&out, b"AAAAAAAAAAAAAAAAAAAAAA");
        // "Hello, World!!!!" in standard base64 is SGVsbG8sIFdvcmxkISEhIQ==
        base64url_128(b"Hello, World!!!!", &mut out);
        assert_eq!(&out, b"SGVsbG8sIFdvcmxkISEhIQ");
    }

    #[test]
    fn errors_say_what_is_wrong_and_where() {
        let message = |result: Result<EntityTag, InvalidEntityTag>| result.unwrap_err().to_string();
        assert!(message(EntityTag::strong("\"v1\"")).contains("without quotes"));
        assert!(message(EntityTag::strong("a b")).contains("byte 1 of the opaque part is a space"));
        assert!(message(EntityTag::weak("ab\n"))
            .contains("byte 2 of the opaque part is the control byte 0x0a"));
        assert!(message(EntityTag::strong("x\u{7f}")).contains("the control byte 0x7f"));
        assert!(message(EntityTag::strong("é"))
            .contains("byte 0 of the opaque part is 0xc3, which is not ASCII"));
        let parsed = |text: &str| message(text.parse());
        assert!(parsed("").contains("it is empty"));
        assert!(parsed("w/\"x\"").contains("W/ in upper case"));
        assert!(parsed("abc").contains("does not start with '\"'"));
        assert!(parsed("W/abc").contains("does not start with '\"'"));
        assert!(parsed("\"a b\"").contains("byte 2 is a space"));
        assert!(parsed("W/\"ab").contains("closing '\"' is missing"));
        assert!(parsed("\"x\" ").contains("from byte 3"));
        let value = HeaderValue::from_static("\"x\"y");
        let error = EntityTag::from_header_value(&value).unwrap_err();
        assert!(error.to_string().contains("from byte 3"), "{error}");
        assert!(format!("{error:?}").contains("Trailing"), "{error:?}");
    }

    #[test]
    fn entity_tag_constructors_validate() {
        assert!(EntityTag::strong("ok").is_ok());
        assert!(EntityTag::strong("bad\"").is_err());
        assert!(EntityTag::strong("sp ace").is_err());
        assert!(EntityTag::weak("é").is_err());
        assert!("\"x\" ".parse::<EntityTag>().is_err());
        assert_eq!(
            "W/\"x\"".parse::<EntityTag>().unwrap(),
            EntityTag::weak("x").unwrap()
        );
    }
}
