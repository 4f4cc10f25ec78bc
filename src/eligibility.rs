//! Which responses may be buffered and hashed (pure).

use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use http::{HeaderMap, HeaderValue};

/// What the layer needs to know of a response's header fields before it
/// decides whether to read the body.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResponseFields {
    /// The response must stream through untouched: `Cache-Control: no-store`
    /// (the directive, not a substring), server-sent events or gRPC.
    pub(crate) must_stream: bool,
    /// The handler set an `ETag` field (valid or not).
    pub(crate) has_etag: bool,
    /// The handler set a `Content-Length` field.
    pub(crate) has_content_length: bool,
    /// The first `Content-Length`, when it is a number.
    pub(crate) content_length: Option<u64>,
}

/// Reads the fields that matter in one walk: a response carries a handful
/// of fields, and a hashed lookup of each would cost more than the walk.
pub(crate) fn inspect(headers: &HeaderMap) -> ResponseFields {
    let mut fields = ResponseFields::default();
    let mut seen_content_type = false;
    for (name, value) in headers {
        if *name == CONTENT_TYPE {
            // Only the first line counts, as `HeaderMap::get` would see it.
            if !seen_content_type {
                seen_content_type = true;
                fields.must_stream |= is_streaming_content_type(value);
            }
        } else if *name == CACHE_CONTROL {
            fields.must_stream |= has_no_store(value);
        } else if *name == ETAG {
            fields.has_etag = true;
        } else if *name == CONTENT_LENGTH && !fields.has_content_length {
            fields.has_content_length = true;
            fields.content_length = content_length(value);
        }
    }
    fields
}

/// A `Content-Length` line's value (RFC 9110 §8.6: `1*DIGIT`, with the
/// optional whitespace around a field value ignored), or `None` when it is
/// not one such number.
pub(crate) fn content_length(value: &HeaderValue) -> Option<u64> {
    let digits = value.as_bytes().trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Only ASCII digits: the text is valid, and too many of them overflow.
    std::str::from_utf8(digits).ok()?.parse().ok()
}

pub(crate) fn has_no_store(line: &HeaderValue) -> bool {
    directive_names(line.as_bytes()).any(|name| name.eq_ignore_ascii_case(b"no-store"))
}

/// Media types whose bodies are streams of messages, each of use to the
/// client as soon as it arrives: holding them back to hash would delay every
/// message until the stream ends or outgrows the limit.
///
/// - `text/event-stream`: server-sent events;
/// - `application/grpc`, `application/grpc+proto`, `application/grpc-web…`;
/// - `application/x-ndjson`, `application/ndjson`, `application/jsonl`,
///   `application/x-jsonlines` (newline-delimited JSON) and
///   `application/json-seq` (RFC 7464 JSON text sequences);
/// - `multipart/x-mixed-replace` (camera feeds, server push of images).
fn is_streaming_content_type(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes().trim_ascii_start();
    // Most responses are none of these: look at a letter before comparing.
    match bytes.first().map(u8::to_ascii_lowercase) {
        Some(b't') => essence_is(bytes, b"text/event-stream"),
        // Most API responses are `application/…`, nearly always in lower
        // case: compared as sent first, a few word comparisons rather than a
        // loop over twelve bytes.
        Some(b'a')
            if bytes.starts_with(b"application/")
                || starts_with_ignore_case(bytes, b"application/") =>
        {
            let subtype = &bytes[b"application/".len()..];
            match subtype.first().map(u8::to_ascii_lowercase) {
                Some(b'g') => starts_with_ignore_case(subtype, b"grpc"),
                Some(b'x') => {
                    essence_is(subtype, b"x-ndjson") || essence_is(subtype, b"x-jsonlines")
                }
                Some(b'n') => essence_is(subtype, b"ndjson"),
                Some(b'j') => essence_is(subtype, b"jsonl") || essence_is(subtype, b"json-seq"),
                _ => false,
            }
        }
        Some(b'm') => essence_is(bytes, b"multipart/x-mixed-replace"),
        _ => false,
    }
}

/// Whether the media type (the part before any `;` parameters, without
/// surrounding whitespace) of a `Content-Type` is `essence`.
fn essence_is(bytes: &[u8], essence: &[u8]) -> bool {
    starts_with_ignore_case(bytes, essence)
        && bytes[essence.len()..]
            .trim_ascii_start()
            .first()
            .is_none_or(|&byte| byte == b';')
}

#[inline(always)]
fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The directive names of one `Cache-Control` line (RFC 9111 §5.2):
/// `name[=token|quoted-string]`, comma-separated. Commas inside a quoted
/// argument do not split directives.
fn directive_names(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = line;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let mut in_quotes = false;
        let mut escaped = false;
        let mut end = rest.len();
        for (index, &byte) in rest.iter().enumerate() {
            match byte {
                _ if escaped => escaped = false,
                b'\\' if in_quotes => escaped = true,
                b'"' => in_quotes = !in_quotes,
                b',' if !in_quotes => {
                    end = index;
                    break;
                }
                _ => {}
            }
        }
        let directive = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or(&[]);
        let name_end = directive
            .iter()
            .position(|&b| b == b'=')
            .unwrap_or(directive.len());
        let name = directive[..name_end].trim_ascii();
        if !name.is_empty() {
            return Some(name);
        }
    })
}

/// What the fuzz targets in `fuzz/` check, compiled only with `--cfg fuzzing`.
#[cfg(fuzzing)]
pub mod fuzzing {
    use http::{HeaderMap, HeaderValue};

    /// What the layer reads of a response head: whether it must stream,
    /// whether it has an `ETag`, and its `Content-Length`.
    pub fn inspect(headers: &HeaderMap) -> (bool, bool, Option<u64>) {
        let fields = super::inspect(headers);
        (fields.must_stream, fields.has_etag, fields.content_length)
    }

    /// The one `Content-Length` parser.
    pub fn content_length(value: &HeaderValue) -> Option<u64> {
        super::content_length(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn must_stream(headers: &HeaderMap) -> bool {
        inspect(headers).must_stream
    }

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn no_store_is_a_directive_not_a_substring() {
        assert!(must_stream(&headers(&[("cache-control", "no-store")])));
        assert!(must_stream(&headers(&[(
            "cache-control",
            "private, NO-STORE"
        )])));
        assert!(must_stream(&headers(&[
            ("cache-control", "max-age=0"),
            ("cache-control", " no-store ")
        ])));
        assert!(!must_stream(&headers(&[(
            "cache-control",
            "no-storex, max-age=5"
        )])));
        assert!(!must_stream(&headers(&[(
            "cache-control",
            "private=\"no-store, x\""
        )])));
        assert!(!must_stream(&headers(&[("cache-control", "x-no-store")])));
    }

    /// A directive's argument may be a quoted-string (RFC 9111 §5.2), commas
    /// and all, in which `\"` is a quoted-pair that does not end it (RFC 9110
    /// §5.6.4); a backslash outside one is a byte like any other.
    #[test]
    fn no_store_inside_a_quoted_argument_is_not_a_directive() {
        let cases = [
            (r#"private="x, no-store, y""#, false),
            (r#"private="a\", no-store, b""#, false),
            (r#"private="a\", b", no-store"#, true),
            (r#"no-cache="x", no-store"#, true),
            (r#"x=a\"b, no-store, c=""#, false),
            (r#"x=a\, no-store"#, true),
        ];
        for (line, no_store) in cases {
            assert_eq!(
                must_stream(&headers(&[("cache-control", line)])),
                no_store,
                "{line}"
            );
        }
    }

    #[test]
    fn streaming_content_types() {
        assert!(must_stream(&headers(&[(
            "content-type",
            "text/event-stream"
        )])));
        assert!(must_stream(&headers(&[(
            "content-type",
            "Text/Event-Stream; charset=utf-8"
        )])));
        assert!(must_stream(&headers(&[(
            "content-type",
            "application/grpc"
        )])));
        assert!(must_stream(&headers(&[(
            "content-type",
            "application/grpc+proto"
        )])));
        assert!(must_stream(&headers(&[(
            "content-type",
            "application/grpc-web-text"
        )])));
        assert!(must_stream(&headers(&[(
            "content-type",
            "text/event-stream ;charset=utf-8"
        )])));
        assert!(!must_stream(&headers(&[(
            "content-type",
            "text/event-streams"
        )])));
        assert!(!must_stream(&headers(&[(
            "content-type",
            "text/event-stream x"
        )])));
        assert!(!must_stream(&headers(&[("content-type", "text/html")])));
        for streamed in [
            "application/x-ndjson",
            "Application/NDJSON; charset=utf-8",
            "application/jsonl",
            "application/x-jsonlines",
            "application/json-seq",
            "multipart/x-mixed-replace; boundary=frame",
        ] {
            assert!(
                must_stream(&headers(&[("content-type", streamed)])),
                "{streamed}"
            );
        }
        for whole in [
            "application/json",
            "application/jsonld",
            "application/json-patch+json",
            "application/xml",
            "application/x-www-form-urlencoded",
            "application/ndjsonx",
            "application/",
            "application",
            "multipart/form-data; boundary=x",
            "multipart/byteranges; boundary=x",
        ] {
            assert!(
                !must_stream(&headers(&[("content-type", whole)])),
                "{whole}"
            );
        }
        assert!(!must_stream(&headers(&[(
            "content-type",
            "application/json"
        )])));
        assert!(!must_stream(&HeaderMap::new()));
    }

    #[test]
    fn only_the_first_content_type_counts() {
        assert!(must_stream(&headers(&[
            ("content-type", "text/event-stream"),
            ("content-type", "text/html")
        ])));
        assert!(!must_stream(&headers(&[
            ("content-type", "text/html"),
            ("content-type", "text/event-stream")
        ])));
    }

    #[test]
    fn etag_and_content_length_are_noted() {
        let none = inspect(&HeaderMap::new());
        assert_eq!(none, ResponseFields::default());
        let fields = inspect(&headers(&[
            ("etag", "not even valid"),
            ("content-length", " 42 "),
            ("content-length", "7"),
        ]));
        assert!(fields.has_etag && fields.has_content_length);
        assert_eq!(fields.content_length, Some(42));
        for invalid in ["4x", "+4", "-4", "", " ", "4 4", "99999999999999999999999"] {
            assert_eq!(
                content_length(&HeaderValue::from_static(invalid)),
                None,
                "{invalid:?}"
            );
        }
        assert_eq!(
            content_length(&HeaderValue::from_static("\t0012\t")),
            Some(12)
        );
        let fields = inspect(&headers(&[("content-length", "4x")]));
        assert!(fields.has_content_length && !fields.has_etag);
        assert_eq!(fields.content_length, None);
    }
}
