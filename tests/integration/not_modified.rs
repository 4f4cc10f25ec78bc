//! Conditional GETs answered with `304 Not Modified` (RFC 9110 §15.4.5):
//! If-None-Match in all its forms (§13.1.2, with the weak comparison of
//! §8.8.3.2), If-Modified-Since in the three HTTP-date formats (§13.1.3,
//! §5.6.7) and ignored when If-None-Match is present (§13.2.2), the headers a
//! 304 keeps and drops, and the 304 on the wire; and a failed If-Match on a
//! GET (§13.1.1), answered `412 Precondition Failed` (§15.5.13).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::routing::{any, get};
use axum::Router;
use http::{Method, StatusCode};
use http_body_util::Full;
use tower_conditional::{ConditionalLayer, EtagPolicy};

use crate::support::*;

const DOC: &str = "{\"document\":\"body v1\"}";
const PLAIN: &str = "plain body";
const T0: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

fn doc_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("cache-control", "max-age=60, must-revalidate"),
        ("content-location", "/doc.json"),
        ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("expires", "Sun, 06 Nov 1994 09:49:37 GMT"),
        ("vary", "accept-encoding"),
        ("vary", "accept-language"),
        ("last-modified", "Sun, 06 Nov 1994 08:00:00 GMT"),
        ("set-cookie", "a=1; Path=/"),
        ("set-cookie", "b=2; HttpOnly"),
        ("set-cookie", "c=3"),
        ("content-type", "application/json"),
        ("content-encoding", "identity"),
        ("content-language", "en"),
        ("x-custom", "stays"),
    ]
}

fn dated(last_modified: &'static str) -> axum::routing::MethodRouter {
    any(move || async move {
        response(
            StatusCode::OK,
            &[("last-modified", last_modified)],
            Body::from(PLAIN),
        )
    })
}

fn app(layer: ConditionalLayer) -> Router {
    Router::new()
        .route(
            "/doc",
            get(|| async { response(StatusCode::OK, &doc_headers(), Body::from(DOC)) }),
        )
        .route(
            // Declares chunked framing itself: only ever asked conditionally.
            "/framed",
            get(|| async {
                response(
                    StatusCode::OK,
                    &[("transfer-encoding", "chunked"), ("content-length", "10")],
                    Body::new(FramesBody::chunks([PLAIN]).pending_before_each()),
                )
            }),
        )
        .route("/plain", get(|| async { PLAIN }))
        .route("/dated", dated(T0))
        .route("/dated-9999", dated("Fri, 31 Dec 9999 23:59:59 GMT"))
        .route("/dated-1969", dated("Wed, 31 Dec 1969 23:59:59 GMT"))
        .route("/dated-garbage", dated("last tuesday"))
        .route(
            "/dated-twice",
            get(|| async {
                response(
                    StatusCode::OK,
                    &[("last-modified", T0), ("last-modified", T0)],
                    Body::from(PLAIN),
                )
            }),
        )
        .layer(layer)
}

async fn server() -> SocketAddr {
    serve_router(app(ConditionalLayer::new())).await
}

fn plain_etag() -> String {
    expected_etag(PLAIN.as_bytes())
}

fn opaque(etag: &str) -> &str {
    etag.trim_start_matches("W/").trim_matches('"')
}

fn assert_not_modified(response: &Fetched, what: &str) {
    assert_eq!(response.status, StatusCode::NOT_MODIFIED, "{what}");
    assert!(response.body.is_empty(), "{what}: a 304 has no body");
}

fn assert_full(response: &Fetched, body: &str, what: &str) {
    assert_eq!(response.status, StatusCode::OK, "{what}");
    assert_eq!(response.body, body, "{what}");
}

// --- If-None-Match --------------------------------------------------------

#[tokio::test]
async fn if_none_match_with_the_current_tag_gives_304() {
    let addr = server().await;
    let first = http_get(addr, "/plain").await;
    assert_full(&first, PLAIN, "first GET");
    let again = get_if_none_match(addr, "/plain", first.etag()).await;
    assert_not_modified(&again, "same tag");
    assert_eq!(again.etag(), first.etag());
}

#[tokio::test]
async fn if_none_match_with_another_tag_gives_200() {
    let addr = server().await;
    for condition in [
        "\"something-else\"",
        &expected_etag(b"plain bodY"),
        "W/\"x\"",
        "\"\"",
    ] {
        let response = get_if_none_match(addr, "/plain", condition).await;
        assert_full(&response, PLAIN, condition);
        assert_eq!(response.etag(), plain_etag());
    }
}

#[tokio::test]
async fn if_none_match_star_gives_304() {
    let addr = server().await;
    for condition in ["*", " * ", "*,", ", *"] {
        let response = get_if_none_match(addr, "/plain", condition).await;
        assert_not_modified(&response, condition);
        assert_eq!(response.etag(), plain_etag());
    }
}

#[tokio::test]
async fn if_none_match_lists_with_optional_whitespace() {
    let addr = server().await;
    let tag = plain_etag();
    for condition in [
        format!("\"a\", {tag}"),
        format!("\"a\",{tag},\"b\""),
        format!("{tag}, \"a\""),
        format!("\"a\" ,\t{tag}\t, \"b\""),
        format!(",, ,{tag},"),
        format!("\"a,b\", {tag}"),
        format!("W/\"a\", W/{tag}"),
    ] {
        let response = get_if_none_match(addr, "/plain", &condition).await;
        assert_not_modified(&response, &condition);
    }
    let response = get_if_none_match(addr, "/plain", "\"a\", \"b\",\t\"c\"").await;
    assert_full(&response, PLAIN, "list without the tag");
}

#[tokio::test]
async fn if_none_match_over_several_field_lines() {
    let addr = server().await;
    let tag = plain_etag();
    let response = fetch(
        addr,
        Method::GET,
        "/plain",
        &[
            ("if-none-match", "\"a\""),
            ("if-none-match", &format!("\"b\", {tag}")),
            ("if-none-match", "\"c\""),
        ],
    )
    .await;
    assert_not_modified(&response, "tag on the second line");
    let response = fetch(
        addr,
        Method::GET,
        "/plain",
        &[("if-none-match", "\"a\""), ("if-none-match", "\"b\"")],
    )
    .await;
    assert_full(&response, PLAIN, "no line has the tag");
    // `*` on one line and a tag on another is not `*` alone.
    let response = fetch(
        addr,
        Method::GET,
        "/plain",
        &[("if-none-match", "*"), ("if-none-match", "\"b\"")],
    )
    .await;
    assert_full(&response, PLAIN, "* across lines with a tag");
}

#[tokio::test]
async fn if_none_match_uses_weak_comparison() {
    let strong = server().await;
    let tag = plain_etag();
    let response = get_if_none_match(strong, "/plain", &format!("W/{tag}")).await;
    assert_not_modified(&response, "W/ form of a strong tag");

    let weak = serve_router(app(ConditionalLayer::new().etag_policy(EtagPolicy::Weak))).await;
    let first = http_get(weak, "/plain").await;
    assert_eq!(first.etag(), format!("W/{tag}"));
    for condition in [first.etag().to_owned(), tag.clone()] {
        let response = get_if_none_match(weak, "/plain", &condition).await;
        assert_not_modified(&response, &condition);
        assert_eq!(response.etag(), format!("W/{tag}"));
    }
}

#[tokio::test]
async fn if_none_match_is_case_sensitive() {
    let addr = server().await;
    let tag = plain_etag();
    let swapped: String = opaque(&tag)
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    assert_ne!(swapped, opaque(&tag), "the tag has letters");
    let response = get_if_none_match(addr, "/plain", &format!("\"{swapped}\"")).await;
    assert_full(&response, PLAIN, "case-swapped tag");
}

#[tokio::test]
async fn malformed_members_never_match() {
    let addr = server().await;
    let tag = plain_etag();
    let bare = opaque(&tag).to_owned();
    for condition in [
        bare.clone(),
        format!("w/{tag}"),
        format!("W/ {tag}"),
        format!("\"{bare}"),
        format!("{bare}\""),
        format!("{tag}junk"),
        format!("{tag} {tag}"),
        format!("'{bare}'"),
        format!("*{tag}"),
        format!("\"{bare}\t\""),
        "*, \"nope\"".to_owned(),
    ] {
        let response = get_if_none_match(addr, "/plain", &condition).await;
        assert_full(&response, PLAIN, &condition);
        assert_eq!(response.etag(), tag);
    }
    // A malformed member does not spoil a valid one after it.
    for condition in [
        format!("w/{tag}, {tag}"),
        format!("{bare}, {tag}"),
        format!("{tag}junk, {tag}"),
        format!("*, {tag}"),
    ] {
        let response = get_if_none_match(addr, "/plain", &condition).await;
        assert_not_modified(&response, &condition);
    }
}

#[tokio::test]
async fn non_ascii_members_never_match() {
    let addr = server().await;
    let tag = plain_etag();
    let bare = opaque(&tag);
    let client = client();
    let cases: Vec<(Vec<u8>, StatusCode)> = vec![
        (format!("\"{bare}\u{e9}\"").into_bytes(), StatusCode::OK),
        (
            [b"\"".as_slice(), bare.as_bytes(), b"\xff\""].concat(),
            StatusCode::OK,
        ),
        (
            [b"\"caf\xc3\xa9\", ".as_slice(), tag.as_bytes()].concat(),
            StatusCode::NOT_MODIFIED,
        ),
        (
            [b"\x80\x81, ".as_slice(), tag.as_bytes()].concat(),
            StatusCode::NOT_MODIFIED,
        ),
    ];
    for (value, expected) in cases {
        let request = request(Method::GET, addr, "/plain")
            .header(
                "if-none-match",
                http::HeaderValue::from_bytes(&value).unwrap(),
            )
            .body(Full::default())
            .unwrap();
        let response = send(&client, request).await;
        assert_eq!(
            response.status,
            expected,
            "{}",
            String::from_utf8_lossy(&value)
        );
    }
}

// --- If-Modified-Since ----------------------------------------------------

#[tokio::test]
async fn if_modified_since_in_all_three_date_formats() {
    let addr = server().await;
    for date in [
        T0,
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun, 06 Nov 1994 08:49:38 GMT",
        "Mon, 07 Nov 1994 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let response = fetch(addr, Method::GET, "/dated", &[("if-modified-since", date)]).await;
        assert_not_modified(&response, date);
        assert_eq!(response.header("last-modified"), T0);
        assert_eq!(
            response.etag(),
            plain_etag(),
            "{date}: the 304 keeps the ETag"
        );
    }
}

#[tokio::test]
async fn if_modified_since_before_last_modified_gives_200() {
    let addr = server().await;
    for date in [
        "Sun, 06 Nov 1994 08:49:36 GMT",
        "Sunday, 06-Nov-94 08:49:36 GMT",
        "Sun Nov  6 08:49:36 1994",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        let response = fetch(addr, Method::GET, "/dated", &[("if-modified-since", date)]).await;
        assert_full(&response, PLAIN, date);
    }
}

#[tokio::test]
async fn invalid_if_modified_since_is_ignored() {
    let addr = server().await;
    for date in [
        "yesterday",
        "",
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Mon, 06 Nov 1994 08:49:37 GMT", // wrong weekday
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "1994-11-06T08:49:37Z",
        "784111777",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Wed, 31 Dec 1969 23:59:59 GMT",
        "Fri, 01 Jan 10000 00:00:00 GMT",
    ] {
        assert!(
            httpdate::parse_http_date(date).is_err(),
            "{date} is meant to be invalid"
        );
        let response = fetch(addr, Method::GET, "/dated", &[("if-modified-since", date)]).await;
        assert_full(&response, PLAIN, date);
    }
    // Two lines are not one date, even when both would match.
    let response = fetch(
        addr,
        Method::GET,
        "/dated",
        &[("if-modified-since", T0), ("if-modified-since", T0)],
    )
    .await;
    assert_full(&response, PLAIN, "two If-Modified-Since lines");
}

#[tokio::test]
async fn if_modified_since_is_ignored_when_if_none_match_is_present() {
    let addr = server().await;
    let late = "Fri, 31 Dec 9999 23:59:59 GMT";
    for inm in ["\"other\"", "w/\"malformed\"", "\"a\", \"b\""] {
        let response = fetch(
            addr,
            Method::GET,
            "/dated",
            &[("if-none-match", inm), ("if-modified-since", late)],
        )
        .await;
        assert_full(&response, PLAIN, inm);
    }
    // And a matching If-None-Match wins over an older If-Modified-Since.
    let response = fetch(
        addr,
        Method::GET,
        "/dated",
        &[
            ("if-none-match", &plain_etag()),
            ("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ],
    )
    .await;
    assert_not_modified(&response, "matching If-None-Match");
}

#[tokio::test]
async fn if_modified_since_only_for_get_and_head() {
    let addr = server().await;
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let response = fetch(addr, method.clone(), "/dated", &[("if-modified-since", T0)]).await;
        assert_full(&response, PLAIN, method.as_str());
        assert!(!response.has("etag"), "{method}");
    }
    let response = fetch(addr, Method::HEAD, "/dated", &[("if-modified-since", T0)]).await;
    assert_eq!(response.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn if_modified_since_needs_a_last_modified_from_the_handler() {
    let addr = server().await;
    let late = "Fri, 31 Dec 9999 23:59:59 GMT";
    for path in ["/plain", "/dated-1969", "/dated-garbage", "/dated-twice"] {
        let response = fetch(addr, Method::GET, path, &[("if-modified-since", late)]).await;
        assert_full(&response, PLAIN, path);
        assert_eq!(response.etag(), plain_etag(), "{path}");
    }
    let plain = http_get(addr, "/plain").await;
    assert!(
        !plain.has("last-modified"),
        "the layer does not invent a Last-Modified"
    );
}

#[tokio::test]
async fn if_modified_since_with_extreme_years() {
    let addr = server().await;
    let last = "Fri, 31 Dec 9999 23:59:59 GMT";
    let response = fetch(
        addr,
        Method::GET,
        "/dated-9999",
        &[("if-modified-since", last)],
    )
    .await;
    assert_not_modified(&response, "year 9999, same second");
    assert_eq!(response.header("last-modified"), last);
    let response = fetch(
        addr,
        Method::GET,
        "/dated-9999",
        &[("if-modified-since", T0)],
    )
    .await;
    assert_full(&response, PLAIN, "modified in 9999, asked about 1994");
}

// --- The 304 itself -------------------------------------------------------

#[tokio::test]
async fn not_modified_keeps_cache_headers_and_drops_body_headers() {
    let addr = server().await;
    let first = http_get(addr, "/doc").await;
    assert_full(&first, DOC, "first GET");
    let response = get_if_none_match(addr, "/doc", first.etag()).await;
    assert_not_modified(&response, "/doc");
    assert_eq!(response.etag(), expected_etag(DOC.as_bytes()));
    for (name, _) in doc_headers() {
        let expected: Vec<_> = doc_headers()
            .into_iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .collect();
        let got: Vec<_> = response
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        if ["content-type", "content-encoding", "content-language"].contains(&name) {
            assert!(got.is_empty(), "{name} must be dropped from a 304: {got:?}");
        } else {
            assert_eq!(got, expected, "{name} must be kept, every line");
        }
    }
    assert!(!response.has("content-length"));
    assert!(!response.has("transfer-encoding"));
}

#[tokio::test]
async fn not_modified_drops_framing_headers_set_by_the_handler() {
    let addr = server().await;
    let raw = raw_exchange(
        addr,
        &raw_request(
            "GET",
            "/framed",
            &[
                ("If-None-Match", plain_etag().as_bytes()),
                ("Connection", b"close"),
            ],
        ),
    )
    .await;
    let response = parse_response(&raw, false);
    assert_eq!(response.status, 304);
    assert!(!response.has("content-length"), "{response:?}");
    assert!(!response.has("transfer-encoding"), "{response:?}");
    assert_eq!(response.raw.len(), raw.len(), "nothing after the 304 head");
}

#[tokio::test]
async fn not_modified_on_the_wire_has_no_body_and_no_content_length() {
    let addr = server().await;
    let etag = expected_etag(DOC.as_bytes());
    let raw = raw_exchange(
        addr,
        &raw_request(
            "GET",
            "/doc",
            &[("If-None-Match", etag.as_bytes()), ("Connection", b"close")],
        ),
    )
    .await;
    let response = parse_response(&raw, false);
    assert_eq!(response.status, 304);
    assert_eq!(response.raw.len(), raw.len(), "no byte after the head");
    assert!(raw.ends_with(b"\r\n\r\n"));
    assert!(!response.has("content-length"), "{response:?}");
    assert!(!response.has("transfer-encoding"), "{response:?}");
    assert!(!response.has("content-type"), "{response:?}");
    assert_eq!(response.get_str("etag"), Some(etag.as_str()));
    assert_eq!(response.all("set-cookie").len(), 3);
    assert_eq!(
        response.get_str("date"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT"),
        "the handler's Date is kept"
    );
}

#[tokio::test]
async fn keep_alive_connection_works_after_a_304() {
    let addr = server().await;
    let etag = expected_etag(DOC.as_bytes());
    let mut conn = RawConn::connect(addr).await;
    for round in 0..3 {
        conn.send(&raw_request(
            "GET",
            "/doc",
            &[("If-None-Match", etag.as_bytes())],
        ))
        .await;
        let not_modified = conn.read_response(false).await;
        assert_eq!(not_modified.status, 304, "round {round}");
        assert!(!not_modified.has("content-length"), "round {round}");
        conn.assert_quiet(Duration::from_millis(100)).await;

        conn.send(&raw_request("GET", "/doc", &[])).await;
        let full = conn.read_response(false).await;
        assert_eq!(full.status, 200, "round {round}");
        assert_eq!(full.body, DOC.as_bytes(), "round {round}");
        assert_eq!(full.get_str("etag"), Some(etag.as_str()));
        assert_eq!(
            full.get_str("content-length"),
            Some(DOC.len().to_string().as_str())
        );
        conn.assert_quiet(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn pipelined_requests_after_a_304() {
    let addr = server().await;
    let etag = plain_etag();
    let mut conn = RawConn::connect(addr).await;
    let mut batch = raw_request("GET", "/plain", &[("If-None-Match", etag.as_bytes())]);
    batch.extend(raw_request("GET", "/plain", &[]));
    batch.extend(raw_request("GET", "/plain", &[("If-None-Match", b"*")]));
    batch.extend(raw_request("GET", "/plain", &[]));
    conn.send(&batch).await;
    for expected in [304, 200, 304, 200] {
        let response = conn.read_response(false).await;
        assert_eq!(response.status, expected);
        if expected == 200 {
            assert_eq!(response.body, PLAIN.as_bytes());
        }
    }
    conn.assert_quiet(Duration::from_millis(100)).await;
}

// --- If-Match (412), evaluated by the same layer --------------------------

#[tokio::test]
async fn failed_if_match_on_get_gives_412_with_the_current_tag() {
    let addr = server().await;
    let response = fetch(addr, Method::GET, "/plain", &[("if-match", "\"other\"")]).await;
    assert_eq!(response.status, StatusCode::PRECONDITION_FAILED);
    assert!(response.body.is_empty());
    assert_eq!(response.etag(), plain_etag());
    let response = fetch(addr, Method::GET, "/plain", &[("if-match", &plain_etag())]).await;
    assert_full(&response, PLAIN, "matching If-Match");
}

/// Over HTTP/2 nothing below the application strips a 304's headers, so what
/// the layer leaves is exactly what the client gets.
#[tokio::test]
async fn not_modified_over_http2_keeps_and_drops_the_right_headers() {
    let addr = serve_h2(app(ConditionalLayer::new())).await;
    let client = h2_client();
    let etag = expected_etag(DOC.as_bytes());
    let conditional = request(Method::GET, addr, "/doc")
        .header("if-none-match", &etag)
        .body(Full::default())
        .unwrap();
    let response = send(&client, conditional).await;
    assert_not_modified(&response, "HTTP/2");
    assert_eq!(response.etag(), etag);
    assert_eq!(response.headers.get_all("set-cookie").iter().count(), 3);
    assert_eq!(
        response.header("cache-control"),
        "max-age=60, must-revalidate"
    );
    for dropped in [
        "content-type",
        "content-encoding",
        "content-language",
        "transfer-encoding",
    ] {
        assert!(!response.has(dropped), "{dropped}: {:?}", response.headers);
    }
    assert!(
        !response.has("content-length"),
        "a 304 to a GET carries content-length: {:?} (the 200 has {})",
        response.headers.get("content-length"),
        DOC.len()
    );
}
