//! The fields of a response head the layer reads before it decides to hash:
//! `Cache-Control: no-store` (RFC 9111 §5.2.2.5), the media types that
//! stream, `ETag`, and `Content-Length` (RFC 9110 §8.6).
//!
//! The model here reads each field on its own terms, from the RFC's
//! grammar: a `Cache-Control` line is cut into directives by a small state
//! machine over quoted strings (§5.6.4), a media type is compared by its
//! lower-cased essence, and a length is checked digit by digit in 128 bits.

use http::{HeaderMap, HeaderName, HeaderValue};
use tower_conditional::__fuzz::response_fields;

/// The names a fuzz input picks from, by its first byte of each line.
const NAMES: [&str; 5] = [
    "content-type",
    "cache-control",
    "etag",
    "content-length",
    "x-other",
];

/// Media types (essence, lower case) whose bodies stream.
const STREAMED: [&str; 7] = [
    "text/event-stream",
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/json-seq",
    "multipart/x-mixed-replace",
];

/// Builds a response head from `data`: one field line per `\n`-separated
/// piece, its first byte choosing the name, the rest its value (lines that
/// are not valid field values are left out).
pub fn headers(data: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n').take(64) {
        let Some((&pick, value)) = line.split_first() else {
            continue;
        };
        let name = HeaderName::from_static(NAMES[usize::from(pick) % NAMES.len()]);
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    headers
}

/// Checks the layer's reading of `data` as a response head against the model.
pub fn check_bytes(data: &[u8]) {
    let headers = headers(data);
    let (must_stream, has_etag, content_length) = response_fields::inspect(&headers);
    assert_eq!(has_etag, headers.contains_key("etag"), "{headers:?}");
    let expected_length = headers.get("content-length").and_then(model_length);
    assert_eq!(content_length, expected_length, "{headers:?}");
    for value in headers.get_all("content-length") {
        assert_eq!(
            response_fields::content_length(value),
            model_length(value),
            "{value:?}"
        );
    }
    let no_store = headers.get_all("cache-control").iter().any(model_no_store);
    let streamed_type = headers.get("content-type").is_some_and(model_streamed_type);
    assert_eq!(must_stream, no_store || streamed_type, "{headers:?}");
}

fn is_ows(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes {
        if !is_ows(*first) {
            break;
        }
        bytes = rest;
    }
    while let [rest @ .., last] = bytes {
        if !is_ows(*last) {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// `1*DIGIT` after the OWS around a field value, within 64 bits.
fn model_length(value: &HeaderValue) -> Option<u64> {
    let digits = trim_ows(value.as_bytes());
    if digits.is_empty() {
        return None;
    }
    let mut number: u128 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        number = number * 10 + u128::from(byte - b'0');
        if number > u128::from(u64::MAX) {
            return None;
        }
    }
    u64::try_from(number).ok()
}

/// Whether a `Cache-Control` line holds a `no-store` directive: directives
/// are separated by commas outside quoted strings, a backslash escapes the
/// next byte inside one, and a directive's name ends at its first `=`.
fn model_no_store(line: &HeaderValue) -> bool {
    let mut directives: Vec<Vec<u8>> = vec![Vec::new()];
    let (mut quoted, mut escaped) = (false, false);
    for &byte in line.as_bytes() {
        let current = directives.last_mut().expect("one at least");
        if escaped {
            escaped = false;
            current.push(byte);
        } else if quoted && byte == b'\\' {
            escaped = true;
            current.push(byte);
        } else if byte == b'"' {
            quoted = !quoted;
            current.push(byte);
        } else if byte == b',' && !quoted {
            directives.push(Vec::new());
        } else {
            current.push(byte);
        }
    }
    directives.iter().any(|directive| {
        let name = directive.split(|&b| b == b'=').next().unwrap_or(&[]);
        trim_ows(name).eq_ignore_ascii_case(b"no-store")
    })
}

/// Whether a `Content-Type` names a stream: its essence (before any `;`,
/// without OWS) is one of [`STREAMED`], or it is a gRPC type.
fn model_streamed_type(value: &HeaderValue) -> bool {
    let lower = value.as_bytes().to_ascii_lowercase();
    let trimmed = trim_ows(&lower);
    if trimmed.starts_with(b"application/grpc") {
        return true;
    }
    let essence = trim_ows(trimmed.split(|&b| b == b';').next().unwrap_or(&[]));
    STREAMED
        .iter()
        .any(|streamed| essence == streamed.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_agrees_on_known_heads() {
        for data in [
            &b"\x01no-store"[..],
            b"\x01private=\"no-store, x\"",
            b"\x00text/event-stream; charset=utf-8",
            b"\x00application/x-ndjson",
            b"\x00application/jsonld",
            b"\x00application/grpc-web",
            b"\x03 42 \n\x03 7",
            b"\x0399999999999999999999",
            b"\x02\"a\"\n\x04x",
        ] {
            check_bytes(data);
        }
    }
}
