//! `http_date`: arbitrary bytes as `If-Modified-Since` / `If-Unmodified-Since`
//! lines (and as a handler's `Last-Modified`).
//!
//! Each line is evaluated on its own against validators around the date it
//! names (if it is one); the first lines are also sent through the layer,
//! one as the handler's `Last-Modified` and one as the request's condition.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE, LAST_MODIFIED};
use http::{HeaderName, HeaderValue, Method, Request, Response};
use tower_conditional::{EntityTag, Evaluation, Preconditions, Validators};

use crate::{
    check_layer_answer, epoch_plus, field, header_lines, is_get_or_head, layer_validators, methods,
    reference_date, through_layer, whole_seconds, FramesBody, MAX_HTTP_DATE_SECS, RFC_EXAMPLE_SECS,
};

/// Entry point of the fuzz target.
pub fn check(data: &[u8]) {
    let lines = header_lines(data, 8);
    for line in &lines {
        check_one(line);
    }
    if lines.len() >= 2 {
        // A date field with more than one line is ignored (§13.1.3, §13.1.4).
        let current = around(RFC_EXAMPLE_SECS, 0);
        for name in [IF_MODIFIED_SINCE, IF_UNMODIFIED_SINCE] {
            let pre = Preconditions::from_headers(&field(name.clone(), &lines[..2]));
            assert!(pre.is_empty(), "{name}: {lines:?}");
            for method in methods() {
                assert_eq!(pre.evaluate(&method, Some(&current)), Evaluation::Proceed);
            }
        }
    }
    match lines.as_slice() {
        [] => {}
        [only] => check_layer(only, only),
        [last_modified, condition, ..] => {
            check_layer(last_modified, condition);
            check_layer(condition, last_modified);
        }
    }
}

/// Validators with a last-modified time of `secs` seconds and `nanos`.
fn around(secs: u64, nanos: u32) -> Validators {
    Validators::new()
        .with_etag(EntityTag::from_content(b"fuzz"))
        .with_last_modified(epoch_plus(secs, nanos).expect("in range"))
}

fn one(name: HeaderName, line: &HeaderValue) -> Preconditions {
    Preconditions::from_headers(&field(name, std::slice::from_ref(line)))
}

fn check_one(line: &HeaderValue) {
    let reference = reference_date(std::slice::from_ref(line));
    let ims = one(IF_MODIFIED_SINCE, line);
    let ius = one(IF_UNMODIFIED_SINCE, line);
    assert_eq!(ims.is_empty(), reference.is_none(), "{line:?}");
    assert_eq!(ius.is_empty(), reference.is_none(), "{line:?}");

    let Some(date) = reference else {
        // Not a date: the field is ignored, whatever the current validators.
        for current in [
            None,
            Some(Validators::new()),
            Some(around(0, 0)),
            Some(around(RFC_EXAMPLE_SECS, 0)),
            Some(around(MAX_HTTP_DATE_SECS, 0)),
            Some(Validators::new().with_last_modified(UNIX_EPOCH - Duration::from_secs(1))),
        ] {
            for method in methods() {
                assert_eq!(ims.evaluate(&method, current.as_ref()), Evaluation::Proceed);
                assert_eq!(ius.evaluate(&method, current.as_ref()), Evaluation::Proceed);
            }
        }
        return;
    };
    let secs = whole_seconds(date).expect("HTTP-dates are not before 1970");

    // The date is written back as the same instant.
    if secs <= MAX_HTTP_DATE_SECS {
        let written = httpdate::fmt_http_date(date);
        assert_eq!(
            httpdate::parse_http_date(&written)
                .ok()
                .and_then(whole_seconds),
            Some(secs)
        );
    }

    for method in methods() {
        let safe = is_get_or_head(&method);
        // If-Modified-Since equal to Last-Modified: not modified (GET/HEAD).
        for nanos in [0, 1, 999_999_999] {
            let same = around(secs, nanos);
            let want = if safe {
                Evaluation::NotModified
            } else {
                Evaluation::Proceed
            };
            assert_eq!(
                ims.evaluate(&method, Some(&same)),
                want,
                "{method} {line:?}"
            );
            // If-Unmodified-Since equal to Last-Modified: proceed.
            assert_eq!(ius.evaluate(&method, Some(&same)), Evaluation::Proceed);
        }
        // Modified one second later.
        let later = around(secs + 1, 0);
        assert_eq!(ims.evaluate(&method, Some(&later)), Evaluation::Proceed);
        assert_eq!(
            ius.evaluate(&method, Some(&later)),
            Evaluation::PreconditionFailed,
            "{method} {line:?}"
        );
        // Modified one second earlier.
        if let Some(earlier) = secs.checked_sub(1) {
            let earlier = around(earlier, 500_000_000);
            let want = if safe {
                Evaluation::NotModified
            } else {
                Evaluation::Proceed
            };
            assert_eq!(ims.evaluate(&method, Some(&earlier)), want);
            assert_eq!(ius.evaluate(&method, Some(&earlier)), Evaluation::Proceed);
        }
        // No known modification date, or no representation: nothing to compare.
        let tag_only = Validators::new().with_etag(EntityTag::from_content(b"fuzz"));
        for current in [None, Some(&tag_only)] {
            assert_eq!(ims.evaluate(&method, current), Evaluation::Proceed);
            assert_eq!(ius.evaluate(&method, current), Evaluation::Proceed);
        }
        // A Last-Modified before 1970 is not one an HTTP-date can compare to.
        let ancient = Validators::new().with_last_modified(UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(ims.evaluate(&method, Some(&ancient)), Evaluation::Proceed);
        assert_eq!(ius.evaluate(&method, Some(&ancient)), Evaluation::Proceed);
    }

    // If-None-Match present: If-Modified-Since is ignored (§13.1.3).
    let mut headers = field(IF_MODIFIED_SINCE, std::slice::from_ref(line));
    headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
    let with_inm = Preconditions::from_headers(&headers);
    assert_eq!(
        with_inm.evaluate(&Method::GET, Some(&around(secs, 0))),
        Evaluation::Proceed
    );
    // If-Match present: If-Unmodified-Since is ignored (§13.1.4).
    let mut headers = field(IF_UNMODIFIED_SINCE, std::slice::from_ref(line));
    headers.insert(
        http::header::IF_MATCH,
        EntityTag::from_content(b"fuzz").to_header_value(),
    );
    let with_im = Preconditions::from_headers(&headers);
    assert_eq!(
        with_im.evaluate(&Method::PUT, Some(&around(secs + 1, 0))),
        Evaluation::Proceed
    );
}

/// Through the layer: a 200 whose `Last-Modified` is `last_modified`, to a
/// GET or HEAD whose condition field is `condition`.
fn check_layer(last_modified: &HeaderValue, condition: &HeaderValue) {
    let body: &[u8] = b"a body to hash";
    for name in [IF_MODIFIED_SINCE, IF_UNMODIFIED_SINCE] {
        for method in [Method::GET, Method::HEAD] {
            let mut request = Request::new(());
            *request.method_mut() = method.clone();
            request
                .headers_mut()
                .insert(name.clone(), condition.clone());
            let mut response = Response::new(FramesBody::chunks([body]));
            response
                .headers_mut()
                .insert(LAST_MODIFIED, last_modified.clone());
            let handler_headers = response.headers().clone();

            let validators = layer_validators(body, &handler_headers);
            let expected = Preconditions::from_headers(request.headers())
                .evaluate(&Method::GET, Some(&validators));
            // Only If-Unmodified-Since may give a 412 here, and only when it
            // is a date and Last-Modified is a later one.
            if expected == Evaluation::PreconditionFailed {
                assert_eq!(name, IF_UNMODIFIED_SINCE);
                let since = reference_date(std::slice::from_ref(condition)).unwrap();
                let modified: SystemTime = validators.last_modified().unwrap();
                assert!(whole_seconds(modified) > whole_seconds(since));
            }
            let answer = through_layer(request, response);
            check_layer_answer(
                &answer,
                expected,
                method == Method::HEAD,
                body,
                None,
                &handler_headers,
                &validators,
            );
        }
    }
}
