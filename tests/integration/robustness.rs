//! Bad input never panics, the crate's own guarantee: huge If-None-Match
//! lists, control and non-ASCII bytes on a raw socket, lowercase `w/`,
//! unterminated quotes, `*` mixed with tags, dates in years 0001, 9999 and
//! before 1970. The server answers every one normally and keeps serving.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::Full;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tower::Layer;
use tower_conditional::ConditionalLayer;

use crate::support::*;

const PLAIN: &str = "plain body";

fn dated(last_modified: &'static str) -> axum::routing::MethodRouter {
    get(move || async move {
        let mut response = axum::response::Response::new(Body::from(PLAIN));
        response.headers_mut().insert(
            "last-modified",
            HeaderValue::from_bytes(last_modified.as_bytes()).unwrap(),
        );
        response
    })
}

fn router() -> Router {
    Router::new()
        .route("/plain", get(|| async { PLAIN }))
        .route("/dated-9999", dated("Fri, 31 Dec 9999 23:59:59 GMT"))
        .route("/dated-1969", dated("Wed, 31 Dec 1969 23:59:59 GMT"))
        .route("/dated-0001", dated("Mon, 01 Jan 0001 00:00:00 GMT"))
        .route("/dated-epoch", dated("Thu, 01 Jan 1970 00:00:00 GMT"))
        .route(
            "/dated-junk",
            dated("Sun, 06 Nov 99999999999999999999 08:49:37 GMT"),
        )
        .route(
            "/bad-etag",
            get(|| async {
                response(
                    StatusCode::OK,
                    &[("etag", "W/\"unterminated")],
                    Body::from(PLAIN),
                )
            }),
        )
}

async fn server() -> SocketAddr {
    serve_h1(
        ConditionalLayer::new().layer(router()),
        H1Options {
            max_buf_size: Some(1 << 20),
        },
    )
    .await
}

fn tag() -> String {
    expected_etag(PLAIN.as_bytes())
}

async fn assert_still_serving(addr: SocketAddr) {
    let response = http_get(addr, "/plain").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.etag(), tag());
}

/// 10,000 short tags, about 68 KiB on one line.
fn ten_thousand_tags() -> String {
    (0..10_000)
        .map(|i| format!("\"{i:04}\""))
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test]
async fn ten_thousand_tags_are_answered_quickly() {
    let addr = server().await;
    let list = ten_thousand_tags();
    assert!(list.len() > 64 * 1024);
    let started = Instant::now();
    let response = get_if_none_match(addr, "/plain", &list).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, PLAIN);
    let response = get_if_none_match(addr, "/plain", &format!("{list}, {}", tag())).await;
    assert_eq!(
        response.status,
        StatusCode::NOT_MODIFIED,
        "the last tag matches"
    );
    let response = get_if_none_match(addr, "/plain", &format!("{}, {list}", tag())).await;
    assert_eq!(
        response.status,
        StatusCode::NOT_MODIFIED,
        "the first tag matches"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn ten_thousand_tags_through_axum_serve() {
    let addr = serve_router(router().layer(ConditionalLayer::new())).await;
    let list = ten_thousand_tags();
    let response = get_if_none_match(addr, "/plain", &list).await;
    assert_eq!(response.status, StatusCode::OK);
    let response = get_if_none_match(addr, "/plain", &format!("{list},{}", tag())).await;
    assert_eq!(response.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn many_field_lines_and_a_huge_single_tag() {
    let addr = server().await;
    let mut headers: Vec<(&str, String)> = (0..90)
        .map(|line| {
            let tags: Vec<String> = (0..100).map(|i| format!("W/\"{line}-{i}\"")).collect();
            ("if-none-match", tags.join(", "))
        })
        .collect();
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let response = fetch(addr, Method::GET, "/plain", &pairs).await;
    assert_eq!(response.status, StatusCode::OK);
    headers.push(("if-none-match", tag()));
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let response = fetch(addr, Method::GET, "/plain", &pairs).await;
    assert_eq!(response.status, StatusCode::NOT_MODIFIED);

    let huge = format!("\"{}\"", "x".repeat(60_000));
    let response = get_if_none_match(addr, "/plain", &huge).await;
    assert_eq!(response.status, StatusCode::OK);
    let unterminated = format!("\"{}", "x".repeat(60_000));
    let response = get_if_none_match(addr, "/plain", &unterminated).await;
    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_lists_are_answered_normally() {
    let addr = server().await;
    let tag = tag();
    let bare = tag.trim_matches('"').to_owned();
    let cases: Vec<(String, StatusCode)> = vec![
        (format!("w/{tag}"), StatusCode::OK),
        (format!("w/\"{bare}\", w/\"x\""), StatusCode::OK),
        ("\"".to_owned(), StatusCode::OK),
        ("W/\"".to_owned(), StatusCode::OK),
        ("W/".to_owned(), StatusCode::OK),
        ("W".to_owned(), StatusCode::OK),
        ("\"abc".to_owned(), StatusCode::OK),
        // The unterminated member ends at the comma (a space is not etagc);
        // the valid tag after it still counts.
        (format!("W/\"abc, {tag}"), StatusCode::NOT_MODIFIED),
        (format!("W/\"abc {tag}"), StatusCode::OK),
        (format!("\"{bare}"), StatusCode::OK),
        ("\"*\"".to_owned(), StatusCode::OK),
        ("**".to_owned(), StatusCode::OK),
        ("W/*".to_owned(), StatusCode::OK),
        ("*\"x\"".to_owned(), StatusCode::OK),
        ("*, \"x\"".to_owned(), StatusCode::OK),
        ("\"x\", *".to_owned(), StatusCode::OK),
        (format!("*, {tag}"), StatusCode::NOT_MODIFIED),
        (",,,,".to_owned(), StatusCode::OK),
        ("\"\"\"\"".to_owned(), StatusCode::OK),
        ("\\\"x\\\"".to_owned(), StatusCode::OK),
    ];
    for (condition, expected) in cases {
        let response = get_if_none_match(addr, "/plain", &condition).await;
        assert_eq!(response.status, expected, "If-None-Match: {condition}");
        if expected == StatusCode::OK {
            assert_eq!(response.body, PLAIN, "{condition}");
        }
        let response = fetch(addr, Method::GET, "/plain", &[("if-match", &condition)]).await;
        assert!(
            response.status == StatusCode::OK || response.status == StatusCode::PRECONDITION_FAILED,
            "If-Match: {condition}: {}",
            response.status
        );
    }
    // A malformed tag set by the handler does not break anything either.
    for condition in ["W/\"unterminated", "*", "\"x\""] {
        let response = get_if_none_match(addr, "/bad-etag", condition).await;
        assert!(
            response.status == StatusCode::OK || response.status == StatusCode::NOT_MODIFIED,
            "{condition}"
        );
        assert_eq!(
            response.etag(),
            "W/\"unterminated",
            "kept as the handler set it"
        );
    }
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn non_ascii_bytes_on_a_raw_socket() {
    let addr = server().await;
    let tag = tag();
    let bare = tag.trim_matches('"');
    let values: Vec<Vec<u8>> = vec![
        b"\xff\xfe\xfd".to_vec(),
        b"\"caf\xc3\xa9\"".to_vec(),
        b"W/\"\x80\"".to_vec(),
        [b"\"", bare.as_bytes(), b"\xc3\xa9\""].concat(),
        [b"\xc3\xa9", tag.as_bytes()].concat(),
        [tag.as_bytes(), b"\xff"].concat(),
        [b"\"", bare.as_bytes(), b"\t\""].concat(),
        b"\t\"x\"\t,\t\t".to_vec(),
    ];
    for value in values {
        let raw = raw_exchange(
            addr,
            &raw_request(
                "GET",
                "/plain",
                &[("If-None-Match", &value), ("Connection", b"close")],
            ),
        )
        .await;
        let response = parse_response(&raw, false);
        assert_eq!(
            response.status,
            200,
            "{:?} must not match",
            String::from_utf8_lossy(&value)
        );
        assert_eq!(response.body, PLAIN.as_bytes());
    }
    // Dates with non-ASCII bytes are invalid, hence ignored.
    let raw = raw_exchange(
        addr,
        &raw_request(
            "GET",
            "/dated-epoch",
            &[
                ("If-Modified-Since", b"Sun, 06 Nov 1994 08:49:37 GMT\xff"),
                ("Connection", b"close"),
            ],
        ),
    )
    .await;
    assert_eq!(parse_response(&raw, false).status, 200);
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn control_bytes_on_a_raw_socket() {
    let addr = server().await;
    let tag = tag();
    for control in [0x00u8, 0x01, 0x08, 0x0b, 0x1b, 0x7f] {
        let value = [tag.as_bytes(), &[control], b"\"x\""].concat();
        let raw = raw_exchange(
            addr,
            &raw_request(
                "GET",
                "/plain",
                &[("If-None-Match", &value), ("Connection", b"close")],
            ),
        )
        .await;
        // hyper refuses these bytes in a field value before the layer runs,
        // or the layer sees a member that can never match.
        let (status, _, _) = parse_head(&raw).expect("an answer");
        assert!(
            status == 400 || status == 200,
            "byte {control:#04x}: status {status}"
        );
        assert_still_serving(addr).await;
    }
}

#[tokio::test]
async fn extreme_and_invalid_dates_are_answered_normally() {
    let addr = server().await;
    let dates = [
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Sat, 01 Jan 0000 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Sat, 01 Jan 10000 00:00:00 GMT",
        "Wed, 31 Dec 1969 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
        "Sunday, 06-Nov-00 08:49:37 GMT",
        "Sun Nov  6 08:49:37 0001",
        "Sun Nov 99 99:99:99 9999",
        "",
        ",",
    ];
    let paths = [
        "/plain",
        "/dated-9999",
        "/dated-1969",
        "/dated-0001",
        "/dated-epoch",
        "/dated-junk",
    ];
    let client = client();
    for date in dates {
        for path in paths {
            for field in ["if-modified-since", "if-unmodified-since"] {
                let request = request(Method::GET, addr, path)
                    .header(field, date)
                    .body(Full::default())
                    .unwrap();
                let response = send(&client, request).await;
                assert!(
                    [
                        StatusCode::OK,
                        StatusCode::NOT_MODIFIED,
                        StatusCode::PRECONDITION_FAILED
                    ]
                    .contains(&response.status),
                    "{path} {field}: {date}: {}",
                    response.status
                );
            }
        }
    }
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn extreme_dates_give_the_right_answers() {
    let addr = server().await;
    let late = "Fri, 31 Dec 9999 23:59:59 GMT";
    let expect = [
        // Last-Modified 9999-12-31 23:59:59 against the same second.
        (
            "/dated-9999",
            "if-modified-since",
            late,
            StatusCode::NOT_MODIFIED,
        ),
        // Modified in 9999, asked about 1994.
        (
            "/dated-9999",
            "if-modified-since",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            StatusCode::OK,
        ),
        // Last-Modified in 9999 is later than the client's date: 412 (the
        // 412 cannot write a year-9999 Last-Modified, and must not panic).
        (
            "/dated-9999",
            "if-unmodified-since",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            StatusCode::PRECONDITION_FAILED,
        ),
        // Unusable Last-Modified values are no Last-Modified at all.
        ("/dated-1969", "if-modified-since", late, StatusCode::OK),
        ("/dated-0001", "if-modified-since", late, StatusCode::OK),
        ("/dated-junk", "if-modified-since", late, StatusCode::OK),
        // The epoch itself is a valid date.
        (
            "/dated-epoch",
            "if-modified-since",
            late,
            StatusCode::NOT_MODIFIED,
        ),
        (
            "/dated-epoch",
            "if-modified-since",
            "Mon, 01 Jan 0001 00:00:00 GMT",
            StatusCode::OK,
        ),
    ];
    for (path, field, date, status) in expect {
        let response = fetch(addr, Method::GET, path, &[(field, date)]).await;
        assert_eq!(response.status, status, "{path} {field}: {date}");
    }
}

#[test]
fn random_if_none_match_values_never_break_the_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(server());
    let tag = tag();
    let fragments: Vec<Vec<u8>> = vec![
        b"\"".to_vec(),
        b"W/".to_vec(),
        b"w/".to_vec(),
        b"*".to_vec(),
        b",".to_vec(),
        b" ".to_vec(),
        b"\t".to_vec(),
        b"abc".to_vec(),
        b"\\".to_vec(),
        b"\xc3\xa9".to_vec(),
        b"\xff".to_vec(),
        tag.as_bytes().to_vec(),
        tag.trim_matches('"').as_bytes().to_vec(),
    ];
    let strategy = proptest::collection::vec(proptest::sample::select(fragments), 1..24)
        .prop_map(|parts| parts.concat());
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let client = client();
    runner
        .run(&strategy, |value| {
            let Ok(header) = HeaderValue::from_bytes(&value) else {
                return Ok(());
            };
            let request = request(Method::GET, addr, "/plain")
                .header("if-none-match", header)
                .body(Full::default())
                .unwrap();
            let response = runtime.block_on(send(&client, request));
            match response.status {
                StatusCode::OK => prop_assert_eq!(response.body.as_ref(), PLAIN.as_bytes()),
                StatusCode::NOT_MODIFIED => {
                    // Only `*` or the tag itself can have matched.
                    let text = String::from_utf8_lossy(&value);
                    prop_assert!(
                        text.contains('*') || text.contains(tag.trim_matches('"')),
                        "304 for {text:?}"
                    );
                }
                other => prop_assert!(false, "status {other} for {value:?}"),
            }
            Ok(())
        })
        .unwrap();
}
