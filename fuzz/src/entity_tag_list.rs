//! `entity_tag_list`: arbitrary bytes as `If-None-Match` / `If-Match` lines.
//!
//! The input is split on `\n`; each line `HeaderValue` accepts is one field
//! line. The lines are evaluated as `If-None-Match`, as `If-Match`, as both,
//! and split between the two, against a few fixed validators and one taken
//! from the input itself. The whole input, and each line, also go through
//! `EntityTag`'s parsers.

use http::header::{IF_MATCH, IF_NONE_MATCH};
use http::{HeaderMap, HeaderValue, Method};
use tower_conditional::{EntityTag, Evaluation, Preconditions, Validators};

use crate::{
    field, header_lines, is_etagc, methods, model_from_members, model_matches, strict_field_model,
    strict_line, strict_single_tag, RequestModel, StrictMember, RFC_EXAMPLE_SECS,
};

/// Entry point of the fuzz target.
pub fn check(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        check_tag_text(text);
        check_constructors(text);
    }
    let lines = header_lines(data, 32);
    for line in &lines {
        check_tag_header_value(line);
    }
    for current in validators_for(&lines) {
        check_field(&lines, current.as_ref());
    }
}

/// `EntityTag::from_str` agrees with the reference grammar, and a parsed tag
/// round-trips through `Display` and every other view of it.
fn check_tag_text(text: &str) {
    let parsed = text.parse::<EntityTag>();
    let reference = strict_single_tag(text.as_bytes());
    assert_eq!(
        parsed.is_ok(),
        reference.is_some(),
        "FromStr disagrees with RFC 9110 §8.8.3 on {text:?}"
    );
    let (Ok(tag), Some((weak, opaque))) = (parsed, reference) else {
        return;
    };
    check_tag(&tag, weak, &opaque, text.as_bytes());
    let value = HeaderValue::from_str(text).expect("an entity-tag is a valid header value");
    assert_eq!(EntityTag::from_header_value(&value).unwrap(), tag);
}

/// `from_header_value` agrees with the reference grammar, and with `FromStr`.
fn check_tag_header_value(value: &HeaderValue) {
    let parsed = EntityTag::from_header_value(value);
    let reference = strict_single_tag(value.as_bytes());
    assert_eq!(parsed.is_ok(), reference.is_some(), "{value:?}");
    if let (Ok(tag), Some((weak, opaque))) = (parsed, reference) {
        check_tag(&tag, weak, &opaque, value.as_bytes());
        let text = value.to_str().expect("entity-tags are ASCII");
        assert_eq!(text.parse::<EntityTag>().unwrap(), tag);
    }
}

/// Everything that must hold of a tag read from `wire`.
fn check_tag(tag: &EntityTag, weak: bool, opaque: &[u8], wire: &[u8]) {
    assert_eq!(tag.is_weak(), weak);
    assert_eq!(tag.opaque().as_bytes(), opaque);
    assert_eq!(
        tag.to_string().as_bytes(),
        wire,
        "Display must give the wire form back"
    );
    assert_eq!(tag.to_header_value().as_bytes(), wire);
    assert_eq!(HeaderValue::from(tag.clone()).as_bytes(), wire);
    let again: EntityTag = tag.to_string().parse().expect("Display output parses");
    assert_eq!(&again, tag);
    let rebuilt = if weak {
        EntityTag::weak(tag.opaque())
    } else {
        EntityTag::strong(tag.opaque())
    }
    .expect("the opaque part of a valid tag is valid");
    assert_eq!(&rebuilt, tag);

    // Comparison functions (RFC 9110 §8.8.3.2, table in that section).
    assert!(tag.weak_eq(tag));
    assert_eq!(tag.strong_eq(tag), !weak);
    let as_weak = tag.clone().into_weak();
    assert!(as_weak.is_weak());
    assert_eq!(as_weak.opaque(), tag.opaque());
    assert!(as_weak.weak_eq(tag) && tag.weak_eq(&as_weak));
    assert!(!as_weak.strong_eq(tag) && !tag.strong_eq(&as_weak));
    let strong = EntityTag::strong(tag.opaque()).unwrap();
    assert_eq!(tag.strong_eq(&strong), !weak);

    // A field holding exactly this tag, against this tag as the current one.
    let current = Validators::new().with_etag(tag.clone());
    let line = tag.to_header_value();
    let inm = Preconditions::from_headers(&field(IF_NONE_MATCH, std::slice::from_ref(&line)));
    assert_eq!(
        inm.evaluate(&Method::GET, Some(&current)),
        Evaluation::NotModified
    );
    assert_eq!(
        inm.evaluate(&Method::PUT, Some(&current)),
        Evaluation::PreconditionFailed
    );
    let im = Preconditions::from_headers(&field(IF_MATCH, std::slice::from_ref(&line)));
    let expected = if weak {
        Evaluation::PreconditionFailed
    } else {
        Evaluation::Proceed
    };
    assert_eq!(im.evaluate(&Method::PUT, Some(&current)), expected);
}

/// `EntityTag::strong` / `weak` accept exactly the opaque parts made of etagc.
fn check_constructors(text: &str) {
    let valid = text.bytes().all(is_etagc);
    for weak in [false, true] {
        let built = if weak {
            EntityTag::weak(text)
        } else {
            EntityTag::strong(text)
        };
        assert_eq!(built.is_ok(), valid, "{text:?}");
        if let Ok(tag) = built {
            let wire = if weak {
                format!("W/\"{text}\"")
            } else {
                format!("\"{text}\"")
            };
            check_tag(&tag, weak, text.as_bytes(), wire.as_bytes());
        }
    }
}

/// The fixed validators, plus the first well-formed tag of the input (so the
/// matching paths are reached without the fuzzer guessing a fixed tag).
fn validators_for(lines: &[HeaderValue]) -> Vec<Option<Validators>> {
    let t0 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(RFC_EXAMPLE_SECS);
    let tag = |s: &str| s.parse::<EntityTag>().expect("fixed tags are valid");
    let mut all = vec![
        None,
        Some(Validators::new()),
        Some(Validators::new().with_etag(tag("\"xyzzy\""))),
        Some(Validators::new().with_etag(tag("W/\"xyzzy\""))),
        Some(
            Validators::new()
                .with_etag(tag("\"r2d2xxxx\""))
                .with_last_modified(t0),
        ),
        Some(Validators::new().with_etag(tag("\"\""))),
        Some(Validators::new().with_etag(EntityTag::from_content(b"hello"))),
    ];
    let first_tag = lines
        .iter()
        .filter_map(|line| strict_line(line.as_bytes()))
        .flatten()
        .find_map(|member| match member {
            StrictMember::Tag { opaque, .. } => Some(opaque),
            StrictMember::Star => None,
        });
    if let Some(opaque) = first_tag {
        let opaque = std::str::from_utf8(&opaque).expect("etagc is ASCII");
        all.push(Some(
            Validators::new().with_etag(EntityTag::strong(opaque).unwrap()),
        ));
        all.push(Some(
            Validators::new().with_etag(EntityTag::weak(opaque).unwrap()),
        ));
    }
    all
}

fn evaluate(headers: &HeaderMap, method: &Method, current: Option<&Validators>) -> Evaluation {
    Preconditions::from_headers(headers).evaluate(method, current)
}

/// The same validators with the current tag's weakness flipped.
fn flip_weakness(current: &Validators, tag: &EntityTag) -> Validators {
    let flipped = if tag.is_weak() {
        EntityTag::strong(tag.opaque()).unwrap()
    } else {
        tag.clone().into_weak()
    };
    let mut validators = Validators::new().with_etag(flipped);
    if let Some(date) = current.last_modified() {
        validators = validators.with_last_modified(date);
    }
    validators
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn check_field(lines: &[HeaderValue], current: Option<&Validators>) {
    let inm_headers = field(IF_NONE_MATCH, lines);
    let im_headers = field(IF_MATCH, lines);
    let inm = Preconditions::from_headers(&inm_headers);
    let im = Preconditions::from_headers(&im_headers);
    assert_eq!(inm.is_empty(), lines.is_empty());
    assert_eq!(im.is_empty(), lines.is_empty());

    let inm_get = inm.evaluate(&Method::GET, current);
    let im_put = im.evaluate(&Method::PUT, current);
    for method in methods() {
        let by_inm = inm.evaluate(&method, current);
        let by_im = im.evaluate(&method, current);
        if crate::is_get_or_head(&method) {
            // An If-None-Match list alone never makes a GET or HEAD fail.
            assert_ne!(by_inm, Evaluation::PreconditionFailed, "{lines:?}");
            assert_eq!(by_inm, inm_get);
        } else {
            assert_ne!(by_inm, Evaluation::NotModified, "{method} {lines:?}");
            // A match means 304 for GET and 412 for the others.
            assert_eq!(
                by_inm == Evaluation::PreconditionFailed,
                inm_get == Evaluation::NotModified,
                "{method} {lines:?}"
            );
        }
        // If-Match alone never gives 304, and does not depend on the method.
        assert_eq!(by_im, im_put, "{method} {lines:?}");
    }
    assert_ne!(im_put, Evaluation::NotModified);
    let inm_matched = inm_get == Evaluation::NotModified;
    let im_passed = im_put == Evaluation::Proceed;

    if lines.is_empty() {
        assert_eq!(inm_get, Evaluation::Proceed);
        assert!(im_passed);
        return;
    }

    // Exact answer where every line is a strictly valid list.
    if let Some(model) = strict_field_model(lines) {
        assert_eq!(
            inm_matched,
            model_matches(&model, current, false),
            "If-None-Match {lines:?} against {current:?}"
        );
        assert_eq!(
            im_passed,
            model_matches(&model, current, true),
            "If-Match {lines:?} against {current:?}"
        );
    }

    // A strong match is also a weak match.
    if im_passed {
        assert!(
            inm_matched,
            "If-Match passed but If-None-Match did not match: {lines:?}"
        );
    }
    // Both fields with the same lines: If-Match decides first (§13.2.2).
    let mut both = inm_headers.clone();
    for line in lines {
        both.append(IF_MATCH, line.clone());
    }
    let expected = if im_passed {
        Evaluation::NotModified
    } else {
        Evaluation::PreconditionFailed
    };
    assert_eq!(
        evaluate(&both, &Method::GET, current),
        expected,
        "{lines:?}"
    );

    // Lines split between the two fields.
    let (first, second) = lines.split_at(lines.len() / 2);
    check_split(first, second, current);

    let joined: Vec<u8> = lines.iter().flat_map(|l| l.as_bytes().to_vec()).collect();
    let has_star = joined.contains(&b'*');
    let Some(current) = current else {
        // No current representation: nothing matches, not even `*`.
        assert!(!inm_matched && !im_passed, "{lines:?}");
        return;
    };
    let Some(tag) = current.etag() else {
        // No entity-tag: only `*` can match.
        assert!(!inm_matched || has_star, "{lines:?}");
        assert!(!im_passed || has_star, "{lines:?}");
        return;
    };
    // Weak comparison ignores weakness on both sides.
    let flipped = flip_weakness(current, tag);
    assert_eq!(
        inm.evaluate(&Method::GET, Some(&flipped)),
        inm_get,
        "{lines:?}"
    );
    // Soundness: a match needs the quoted opaque part in the field, or `*`.
    let quoted = format!("\"{}\"", tag.opaque());
    let quoted_present = contains(&joined, quoted.as_bytes());
    assert!(
        !inm_matched || quoted_present || has_star,
        "{lines:?} vs {tag}"
    );
    assert!(
        !im_passed || quoted_present || has_star,
        "{lines:?} vs {tag}"
    );
    if tag.is_weak() {
        // A weak current tag never passes If-Match, except through `*`.
        assert!(!im_passed || has_star, "{lines:?} vs {tag}");
    }
    // Completeness: a line holding exactly the current tag always matches,
    // whatever the other lines hold (lines are parsed independently).
    let mut more = lines.to_vec();
    more.push(tag.to_header_value());
    assert_eq!(
        evaluate(&field(IF_NONE_MATCH, &more), &Method::GET, Some(current)),
        Evaluation::NotModified,
        "{more:?}"
    );
    let expected = if tag.is_weak() {
        Evaluation::PreconditionFailed
    } else {
        Evaluation::Proceed
    };
    assert_eq!(
        evaluate(&field(IF_MATCH, &more), &Method::PUT, Some(current)),
        expected,
        "{more:?}"
    );
}

/// If-Match from some lines and If-None-Match from the others: when both are
/// strictly valid, the answer follows the model of §13.2.2 exactly.
fn check_split(
    if_match: &[HeaderValue],
    if_none_match: &[HeaderValue],
    current: Option<&Validators>,
) {
    let mut headers = field(IF_MATCH, if_match);
    for line in if_none_match {
        headers.append(IF_NONE_MATCH, line.clone());
    }
    let pre = Preconditions::from_headers(&headers);
    let models = (
        if_match
            .iter()
            .map(|line| strict_line(line.as_bytes()))
            .collect::<Option<Vec<_>>>(),
        if_none_match
            .iter()
            .map(|line| strict_line(line.as_bytes()))
            .collect::<Option<Vec<_>>>(),
    );
    let (Some(im_members), Some(inm_members)) = models else {
        return;
    };
    let im_model = model_from_members(&im_members.concat());
    let inm_model = model_from_members(&inm_members.concat());
    let model = RequestModel {
        if_match: (!if_match.is_empty()).then_some(&im_model),
        if_none_match: (!if_none_match.is_empty()).then_some(&inm_model),
        if_modified_since: None,
        if_unmodified_since: None,
    };
    for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
        assert_eq!(
            pre.evaluate(&method, current),
            model.evaluate(&method, current),
            "{method} If-Match {if_match:?} If-None-Match {if_none_match:?} against {current:?}"
        );
    }
}
