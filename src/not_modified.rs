//! Building `304 Not Modified` and `412 Precondition Failed` responses (pure).

use http::header::{self, HeaderMap, HeaderName};
use http::{response, StatusCode};

use crate::validators::Validators;

/// How many header names a 304 drops.
const DROPPED: usize = 8;

// `remove_body_fields` keeps one bit per name in a `u8`.
const _: () = assert!(DROPPED <= u8::BITS as usize);

/// Representation metadata and framing that describe a body a 304 does not
/// have (RFC 9110 §15.4.5): dropped. Everything else, in particular ETag,
/// Cache-Control, Content-Location, Date, Expires, Vary, Last-Modified and
/// every Set-Cookie line, stays so that caches can update their stored headers.
// A static, not a const: a const array of names would be copied into every call.
static NOT_FOR_304: [HeaderName; DROPPED] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_RANGE,
    header::TRANSFER_ENCODING,
    header::TRAILER,
    HeaderName::from_static("content-digest"),
];

/// Turns the head of a 2xx response into the head of its `304 Not Modified`.
pub(crate) fn into_not_modified(parts: &mut response::Parts) {
    parts.status = StatusCode::NOT_MODIFIED;
    remove_body_fields(&mut parts.headers);
}

/// Removes the fields in `NOT_FOR_304`: those that describe content a
/// response without any (a `304`, a `416`) does not have.
pub(crate) fn remove_body_fields(headers: &mut HeaderMap) {
    // A response holds a few of these at most: look for the ones present
    // (cheap comparisons) rather than remove all eight (eight lookups).
    let mut present = 0u8;
    for name in headers.keys() {
        if let Some(index) = dropped_index(name.as_str()) {
            present |= 1 << index;
        }
    }
    while present != 0 {
        let index = present.trailing_zeros() as usize;
        headers.remove(&NOT_FOR_304[index]);
        present &= present - 1;
    }
}

/// The position of a (lowercase) field name in `NOT_FOR_304`. Matching the
/// text is cheaper than comparing `HeaderName`s one by one, and its first
/// letter rules out most names (`etag`, `date`, `vary`, `cache-control`…)
/// before any comparison of the whole.
fn dropped_index(name: &str) -> Option<usize> {
    let index = match name.as_bytes().first()? {
        b'c' => match name {
            "content-type" => 0,
            "content-length" => 1,
            "content-encoding" => 2,
            "content-language" => 3,
            "content-range" => 4,
            "content-digest" => 7,
            _ => return None,
        },
        b't' => match name {
            "transfer-encoding" => 5,
            "trailer" => 6,
            _ => return None,
        },
        _ => return None,
    };
    debug_assert_eq!(NOT_FOR_304[index], name);
    Some(index)
}

/// The headers of a `304 Not Modified` sent before the handler ran: the
/// looked-up validators, and the fields the lookup says a 200 would carry.
pub(crate) fn not_modified_headers(current: Option<&Validators>) -> HeaderMap {
    let mut headers = current
        .and_then(Validators::not_modified_headers)
        .cloned()
        .unwrap_or_default();
    // The validators are the lookup's, whatever the extra fields say, and a
    // 304 describes no body, as when it is made from the handler's answer.
    headers.remove(header::ETAG);
    headers.remove(header::LAST_MODIFIED);
    remove_body_fields(&mut headers);
    add_validators(&mut headers, current);
    headers
}

fn add_validators(headers: &mut HeaderMap, current: Option<&Validators>) {
    if let Some(current) = current {
        if let Some(etag) = current.etag() {
            headers.insert(header::ETAG, etag.to_header_value());
        }
        if let Some(date) = current.last_modified_header() {
            headers.insert(header::LAST_MODIFIED, date);
        }
    }
}

/// The headers of a `412 Precondition Failed`: the current validators, when
/// known, and an empty body. Nothing is copied from a 2xx the request did not
/// get: in particular no Cache-Control, so no cache stores the 412 in its place.
pub(crate) fn precondition_failed_headers(current: Option<&Validators>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    add_validators(&mut headers, current);
    headers.insert(header::CONTENT_LENGTH, http::HeaderValue::from_static("0"));
    headers
}

/// The headers of a `412` made in place of a response the handler gave: as
/// [`precondition_failed_headers`], plus the fields of the response that
/// describe the exchange rather than the representation the client did not
/// get.
///
/// - `Access-Control-*`: without them a cross-origin client cannot read the
///   `412` at all (an opaque network error instead of a status);
/// - `Date` (RFC 9110 §6.6.1) and `Vary` (§12.5.5: what the answer depended on);
/// - `Set-Cookie`: the handler ran, and its cookie is kept, as a `304` keeps it.
///
/// Dropped with the body: `Cache-Control` and `Expires` (they would let a
/// cache store the `412` for as long as the `200`), `Content-*` and
/// `Last-Modified` or `ETag` other than the current validators.
pub(crate) fn precondition_failed_headers_from(
    response: &HeaderMap,
    current: Option<&Validators>,
) -> HeaderMap {
    let mut headers = precondition_failed_headers(current);
    for (name, value) in response {
        if is_kept_on_412(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

fn is_kept_on_412(name: &HeaderName) -> bool {
    *name == header::DATE
        || *name == header::VARY
        || *name == header::SET_COOKIE
        || name.as_str().starts_with("access-control-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Response;

    #[test]
    fn dropped_index_agrees_with_the_table() {
        for (index, name) in NOT_FOR_304.iter().enumerate() {
            assert_eq!(dropped_index(name.as_str()), Some(index));
        }
        for kept in [
            "etag",
            "content-location",
            "cache-control",
            "vary",
            "trailers",
            "te",
        ] {
            assert_eq!(dropped_index(kept), None);
        }
    }

    #[test]
    fn keeps_cache_headers_and_drops_body_metadata() {
        let response = Response::builder()
            .header("etag", "\"a\"")
            .header("cache-control", "max-age=60")
            .header("content-location", "/a.json")
            .header("date", "Sun, 06 Nov 1994 08:49:37 GMT")
            .header("expires", "Sun, 06 Nov 1994 08:50:37 GMT")
            .header("vary", "accept-encoding")
            .header("last-modified", "Sun, 06 Nov 1994 08:00:00 GMT")
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .header("content-type", "application/json")
            .header("content-length", "12")
            .header("content-encoding", "gzip")
            .header("content-language", "en")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap();
        let (mut parts, ()) = response.into_parts();
        into_not_modified(&mut parts);
        assert_eq!(parts.status, StatusCode::NOT_MODIFIED);
        for kept in [
            "etag",
            "cache-control",
            "content-location",
            "date",
            "expires",
            "vary",
            "last-modified",
        ] {
            assert!(parts.headers.contains_key(kept), "{kept} must stay");
        }
        assert_eq!(parts.headers.get_all("set-cookie").iter().count(), 2);
        for dropped in [
            "content-type",
            "content-length",
            "content-encoding",
            "content-language",
            "transfer-encoding",
        ] {
            assert!(!parts.headers.contains_key(dropped), "{dropped} must go");
        }
    }

    /// Every name of the table goes, with all its lines, whichever others
    /// (sharing its first letter or not) stay around it.
    #[test]
    fn removes_every_body_field_and_all_its_lines() {
        let mut headers = HeaderMap::new();
        let kept = [
            "cache-control",
            "content-location",
            "te",
            "timing-allow-origin",
            "etag",
        ];
        for name in kept {
            headers.append(name, "1".parse().unwrap());
        }
        for name in NOT_FOR_304.iter().rev() {
            headers.append(name, "1".parse().unwrap());
            headers.append(name, "2".parse().unwrap());
        }
        remove_body_fields(&mut headers);
        for name in &NOT_FOR_304 {
            assert!(!headers.contains_key(name), "{name} must go");
        }
        assert_eq!(headers.len(), kept.len());
        for name in kept {
            assert!(headers.contains_key(name), "{name} must stay");
        }
        // Nothing to remove: nothing changes.
        let before = headers.clone();
        remove_body_fields(&mut headers);
        assert_eq!(headers, before);
    }

    #[test]
    fn precondition_failed_carries_validators_only() {
        let current = Validators::new().with_etag("\"v2\"".parse().unwrap());
        let headers = precondition_failed_headers(Some(&current));
        assert_eq!(headers["etag"], "\"v2\"");
        assert_eq!(headers["content-length"], "0");
        assert_eq!(headers.len(), 2);
        assert_eq!(precondition_failed_headers(None).len(), 1);
    }

    #[test]
    fn a_412_from_a_response_keeps_what_the_exchange_needs() {
        let mut response = HeaderMap::new();
        for (name, value) in [
            ("access-control-allow-origin", "https://app.example"),
            ("access-control-expose-headers", "etag"),
            ("vary", "origin"),
            ("vary", "accept-encoding"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("cache-control", "public, max-age=3600"),
            ("expires", "Sun, 06 Nov 1994 09:49:37 GMT"),
            ("content-type", "application/json"),
            ("content-location", "/items/1"),
            ("etag", "\"old\""),
            ("x-request-id", "7"),
        ] {
            response.append(name, value.parse().unwrap());
        }
        let current = Validators::new().with_etag("\"v2\"".parse().unwrap());
        let headers = precondition_failed_headers_from(&response, Some(&current));
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://app.example"
        );
        assert_eq!(headers["access-control-expose-headers"], "etag");
        assert_eq!(headers.get_all("vary").iter().count(), 2);
        assert_eq!(headers.get_all("set-cookie").iter().count(), 2);
        assert_eq!(headers["date"], "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            headers.get_all("etag").iter().collect::<Vec<_>>(),
            ["\"v2\""]
        );
        assert_eq!(headers["content-length"], "0");
        for dropped in [
            "cache-control",
            "expires",
            "content-type",
            "content-location",
            "x-request-id",
        ] {
            assert!(!headers.contains_key(dropped), "{dropped}");
        }
    }
}
