//! Which responses may be buffered and hashed (pure).

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::HeaderMap;

/// Whether a response must stream through untouched: `Cache-Control: no-store`
/// (the directive, not a substring), server-sent events and gRPC.
pub(crate) fn must_stream(headers: &HeaderMap) -> bool {
    has_no_store(headers) || is_streaming_content_type(headers)
}

fn has_no_store(headers: &HeaderMap) -> bool {
    headers.get_all(CACHE_CONTROL).iter().any(|line| {
        directive_names(line.as_bytes()).any(|name| name.eq_ignore_ascii_case(b"no-store"))
    })
}

fn is_streaming_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    let bytes = value.as_bytes();
    let essence_end = bytes.iter().position(|&b| b == b';').unwrap_or(bytes.len());
    let essence = bytes[..essence_end].trim_ascii();
    essence.eq_ignore_ascii_case(b"text/event-stream")
        || starts_with_ignore_case(essence, b"application/grpc")
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!must_stream(&headers(&[("content-type", "text/html")])));
        assert!(!must_stream(&headers(&[(
            "content-type",
            "application/json"
        )])));
        assert!(!must_stream(&HeaderMap::new()));
    }
}
