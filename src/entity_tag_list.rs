//! The `#entity-tag` lists of `If-Match` and `If-None-Match` (RFC 9110
//! §13.1.1, §13.1.2): their members, found in one pass over each line, and
//! whether a field is satisfied by the current representation.
//!
//! Pure, as [`entity_tag`](crate::entity_tag) is: fuzzed through the
//! preconditions (`fuzz/`, `entity_tag_list`).

use crate::entity_tag::{parse_tag_prefix, Comparison, TagRef};

/// Whether a list-valued precondition field (`If-Match`, `If-None-Match`),
/// given as one or more lines, is satisfied by the current representation.
///
/// `*` counts only as the sole member of the whole field and then means
/// "a current representation exists"; `*` mixed with tags is a malformed
/// member. Otherwise some member must match `current` under the given
/// comparison; malformed members never match. One pass, stopping at the first
/// match: linear in the length of the field.
pub(crate) fn field_matches<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
    exists: bool,
    current: Option<&TagRef<'_>>,
    comparison: Comparison,
) -> bool {
    let mut lines = lines;
    let Some(first_line) = lines.next() else {
        return false;
    };
    // The common form, from a browser or a cache: the one tag it was given
    // (or a proxy's `W/` form of it). A field whose first line is exactly a
    // matching tag matches whatever follows, so no list need be parsed.
    if current.is_some_and(|current| is_exactly(first_line, current, comparison)) {
        return true;
    }
    let matches = |member: &Member<'_>| match (member, current) {
        (Member::Tag(tag), Some(current)) => tag.matches(current, comparison),
        _ => false,
    };
    let mut members = std::iter::once(first_line)
        .chain(lines)
        .flat_map(ListMembers::new);
    let Some(first) = members.next() else {
        return false;
    };
    let Some(second) = members.next() else {
        return match first {
            Member::Star => exists,
            tag => matches(&tag),
        };
    };
    // Two members or more: a list of tags, where `*` is malformed.
    if current.is_none() {
        return false;
    }
    matches(&first) || matches(&second) || members.any(|member| matches(&member))
}

/// Whether `line` is exactly one entity-tag, with nothing around it, that
/// matches `current` the given way.
#[inline]
pub(crate) fn is_exactly(line: &[u8], current: &TagRef<'_>, comparison: Comparison) -> bool {
    let (weak, quoted) = match line {
        [b'W', b'/', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let comparable = comparison == Comparison::Weak || (!weak && !current.weak);
    comparable
        && quoted.len() == current.opaque.len() + 2
        && quoted
            .strip_prefix(b"\"")
            .and_then(|rest| rest.strip_suffix(b"\""))
            .is_some_and(|opaque| opaque == current.opaque)
}

/// Whether `line` is `"…"` or `W/"…"` with no other `"` in it.
///
/// Such a line is one tag, when every byte between the quotes is an
/// `etagc`, or begins with a malformed member. Whatever follows a malformed
/// member holds no tag (it would need a `"` to open one), and a `*` in it is
/// not alone in the field. So a field of this one line matches only if the
/// whole line is a tag that matches, as [`is_exactly`] tells, and needs no
/// list parsed to tell that it does not. (A current tag holds only `etagc`
/// bytes, as [`EntityTag`](crate::EntityTag) checks, so a line with other
/// bytes between its quotes is not it either way.)
#[inline]
pub(crate) fn is_one_quoted(line: &[u8]) -> bool {
    let quoted = line.strip_prefix(b"W/").unwrap_or(line);
    match quoted {
        [b'"', inner @ .., b'"'] => !inner.contains(&b'"'),
        _ => false,
    }
}

/// One member of a `#entity-tag` list, or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Member<'a> {
    Tag(TagRef<'a>),
    Star,
    Malformed,
}

/// Iterates the members of one field line of `1#entity-tag` (RFC 9110 §5.6.1):
/// comma-separated, optional whitespace, empty members skipped.
///
/// A quoted opaque-tag may itself hold commas, so members are found by parsing,
/// not by splitting. A malformed member is reported once and the scan resumes
/// after the next comma; every byte is looked at a bounded number of times.
#[derive(Debug, Clone)]
pub(crate) struct ListMembers<'a> {
    rest: &'a [u8],
}

impl<'a> ListMembers<'a> {
    pub(crate) fn new(line: &'a [u8]) -> Self {
        Self { rest: line }
    }
}

fn trim_ows_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

impl<'a> Iterator for ListMembers<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        loop {
            let rest = trim_ows_start(self.rest);
            if rest.is_empty() {
                self.rest = rest;
                return None;
            }
            if let Some(after_comma) = rest.strip_prefix(b",") {
                self.rest = after_comma;
                continue;
            }
            let (member, after) = match rest {
                [b'*', after @ ..] => (Member::Star, after),
                _ => match parse_tag_prefix(rest) {
                    Some((tag, after)) => (Member::Tag(tag), after),
                    None => (Member::Malformed, rest),
                },
            };
            // The member must end at a comma or the end of the line.
            let after = trim_ows_start(after);
            match after {
                [] => self.rest = after,
                [b',', next @ ..] => self.rest = next,
                _ => {
                    // Junk follows: the whole member is malformed. Resume after
                    // the next comma (an unterminated quote swallows the line).
                    self.rest = match after.iter().position(|&b| b == b',') {
                        Some(comma) => &after[comma + 1..],
                        None => &[],
                    };
                    return Some(Member::Malformed);
                }
            }
            return Some(member);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_tag_a_browser_sends_back_matches_as_the_list_would() {
        let strong = TagRef {
            weak: false,
            opaque: b"abc",
        };
        let weak = TagRef {
            weak: true,
            opaque: b"abc",
        };
        let field = |line: &'static [u8], current: &TagRef<'_>, comparison| {
            let fast = field_matches([line].into_iter(), true, Some(current), comparison);
            // The list parser alone, on the same line with a member before it
            // that matches nothing, must agree.
            let mut listed = b"\"zz\", ".to_vec();
            listed.extend_from_slice(line);
            let slow = field_matches([&listed[..]].into_iter(), true, Some(current), comparison);
            assert_eq!(fast, slow, "{:?}", String::from_utf8_lossy(line));
            fast
        };
        assert!(field(b"\"abc\"", &strong, Comparison::Strong));
        assert!(field(b"\"abc\"", &strong, Comparison::Weak));
        assert!(field(b"W/\"abc\"", &strong, Comparison::Weak));
        assert!(!field(b"W/\"abc\"", &strong, Comparison::Strong));
        assert!(!field(b"\"abc\"", &weak, Comparison::Strong));
        assert!(field(b"\"abc\"", &weak, Comparison::Weak));
        for other in [
            &b"\"abcd\""[..],
            b"\"ab\"",
            b"\"abd\"",
            b"abc",
            b"\"abc",
            b"\"abc\"x",
            b"w/\"abc\"",
        ] {
            assert!(!field(other, &strong, Comparison::Weak));
        }
        // A first line that is the tag matches whatever lines follow.
        let lines = [&b"\"abc\""[..], b"*"];
        assert!(field_matches(
            lines.into_iter(),
            true,
            Some(&strong),
            Comparison::Weak
        ));
    }

    /// What a field means, by its members alone (§13.1.1, §13.1.2): `*`
    /// alone means "exists", otherwise some tag must match.
    fn by_the_list(
        lines: &[&[u8]],
        exists: bool,
        current: Option<&TagRef<'_>>,
        comparison: Comparison,
    ) -> bool {
        let members: Vec<_> = lines
            .iter()
            .flat_map(|line| ListMembers::new(line))
            .collect();
        match (&members[..], current) {
            ([Member::Star], _) => exists,
            (_, Some(current)) => members.iter().any(|member| match member {
                Member::Tag(tag) => tag.matches(current, comparison),
                _ => false,
            }),
            (_, None) => false,
        }
    }

    #[test]
    fn every_shortcut_agrees_with_the_members() {
        let lines: [&[u8]; 22] = [
            b"\"abc\"",
            b"\"x ,*, y\"",
            b"\"x ,*,\"",
            b"\"x ,\"abc\"",
            b"W/\"x ,*, W/\"",
            b"W/\"abc\"",
            b"\"abd\"",
            b"W/\"abd\"",
            b"\"abc\" ",
            b" \"abc\"",
            b"\"abc\",",
            b"\"abd\", \"abc\"",
            b"\"a,b\"",
            b"\"ab c\"",
            b"\"abc",
            b"\"\"",
            b"*",
            b" * ",
            b"*, \"abc\"",
            b"",
            b"abc",
            b"w/\"abc\"",
        ];
        let currents = [
            TagRef {
                weak: false,
                opaque: b"abc",
            },
            TagRef {
                weak: true,
                opaque: b"abc",
            },
            TagRef {
                weak: false,
                opaque: b"a,b",
            },
            TagRef {
                weak: false,
                opaque: b"",
            },
        ];
        for comparison in [Comparison::Strong, Comparison::Weak] {
            for first in lines {
                for second in std::iter::once(None).chain(lines.map(Some)) {
                    let field: Vec<&[u8]> = std::iter::once(first).chain(second).collect();
                    let currents = currents.iter().map(Some).chain([None]);
                    for current in currents {
                        for exists in [true, false] {
                            let exists = exists || current.is_some();
                            let listed = by_the_list(&field, exists, current, comparison);
                            assert_eq!(
                                field_matches(field.iter().copied(), exists, current, comparison),
                                listed,
                                "{field:?} against {current:?}, {comparison:?}",
                            );
                            // A field of one quoted line matches only as that line.
                            if let ([line], Some(current)) = (&field[..], current) {
                                if is_one_quoted(line) {
                                    assert_eq!(
                                        listed,
                                        is_exactly(line, current, comparison),
                                        "{line:?}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_weak_form_of_one_tag_needs_no_list_either() {
        assert!(is_one_quoted(b"\"abd\""));
        assert!(is_one_quoted(b"W/\"abd\""));
        assert!(is_one_quoted(b"\"a,b\""));
        assert!(!is_one_quoted(b"W/abd\""));
        assert!(!is_one_quoted(b"\"a\", \"b\""));
    }

    fn members(line: &str) -> Vec<Member<'_>> {
        ListMembers::new(line.as_bytes()).collect()
    }

    fn tag(weak: bool, opaque: &str) -> Member<'_> {
        Member::Tag(TagRef {
            weak,
            opaque: opaque.as_bytes(),
        })
    }

    #[test]
    fn parses_rfc_examples() {
        assert_eq!(members("\"xyzzy\""), vec![tag(false, "xyzzy")]);
        assert_eq!(
            members("\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\""),
            vec![
                tag(false, "xyzzy"),
                tag(false, "r2d2xxxx"),
                tag(false, "c3piozzzz")
            ]
        );
        assert_eq!(members("W/\"xyzzy\""), vec![tag(true, "xyzzy")]);
        assert_eq!(members("\"\""), vec![tag(false, "")]);
        assert_eq!(members("*"), vec![Member::Star]);
    }

    #[test]
    fn commas_inside_quotes_belong_to_the_tag() {
        assert_eq!(
            members("\"a,b\", \"c\""),
            vec![tag(false, "a,b"), tag(false, "c")]
        );
    }

    #[test]
    fn empty_members_and_whitespace_are_skipped() {
        assert_eq!(
            members(" ,\t\"a\" ,, W/\"b\"\t, "),
            vec![tag(false, "a"), tag(true, "b")]
        );
        assert!(members("").is_empty());
        assert!(members(" , ,").is_empty());
    }

    #[test]
    fn malformed_members_are_reported_and_skipped() {
        assert_eq!(
            members("abc, \"ok\""),
            vec![Member::Malformed, tag(false, "ok")]
        );
        assert_eq!(
            members("w/\"x\", \"y\""),
            vec![Member::Malformed, tag(false, "y")]
        );
        assert_eq!(
            members("\"x\"junk, \"y\""),
            vec![Member::Malformed, tag(false, "y")]
        );
        assert_eq!(members("\"unterminated"), vec![Member::Malformed]);
        assert_eq!(members("\"a\" \"b\""), vec![Member::Malformed]);
        assert_eq!(members("W/ \"a\""), vec![Member::Malformed]);
        assert_eq!(
            members("*x, \"a\""),
            vec![Member::Malformed, tag(false, "a")]
        );
    }

    #[test]
    fn non_ascii_and_control_bytes_are_malformed() {
        let line = b"\"caf\xc3\xa9\", \"a\x01b\", \"ok\"";
        let got: Vec<_> = ListMembers::new(line).collect();
        assert_eq!(
            got,
            vec![Member::Malformed, Member::Malformed, tag(false, "ok")]
        );
    }

    #[test]
    fn star_counts_only_alone() {
        let tag_a = TagRef {
            weak: false,
            opaque: b"a",
        };
        let one = |s: &'static str, exists: bool| {
            field_matches(
                std::iter::once(s.as_bytes()),
                exists,
                Some(&tag_a),
                Comparison::Weak,
            )
        };
        assert!(one("*", true));
        assert!(one(" * ", true));
        assert!(!one("*", false));
        // Mixed with tags, `*` is a malformed member: only the tags count.
        assert!(!one("*, \"b\"", true));
        assert!(one("*, \"a\"", false));
        let two = [b"*".as_slice(), b"\"b\"".as_slice()];
        assert!(!field_matches(
            two.iter().copied(),
            true,
            Some(&tag_a),
            Comparison::Weak
        ));
        // No current tag: only a lone `*` with an existing representation passes.
        let none = |s: &'static str| {
            field_matches(std::iter::once(s.as_bytes()), true, None, Comparison::Weak)
        };
        assert!(none("*"));
        assert!(!none("\"a\""));
        assert!(!none("\"a\", *"));
        assert!(!none(""));
    }

    #[test]
    fn comparison_functions() {
        let strong_a = TagRef {
            weak: false,
            opaque: b"a",
        };
        let weak_a = TagRef {
            weak: true,
            opaque: b"a",
        };
        assert!(strong_a.weak_eq(&weak_a));
        assert!(!strong_a.strong_eq(&weak_a));
        assert!(!weak_a.strong_eq(&weak_a));
        assert!(strong_a.strong_eq(&strong_a));

        let lines = [b"W/\"a\"".as_slice()];
        assert!(field_matches(
            lines.iter().copied(),
            true,
            Some(&strong_a),
            Comparison::Weak
        ));
        assert!(!field_matches(
            lines.iter().copied(),
            true,
            Some(&strong_a),
            Comparison::Strong
        ));
        let many = [b"\"x\", \"y\"".as_slice(), b"W/\"a\"".as_slice()];
        assert!(field_matches(
            many.iter().copied(),
            true,
            Some(&strong_a),
            Comparison::Weak
        ));
        assert!(!field_matches(
            many.iter().copied(),
            true,
            Some(&strong_a),
            Comparison::Strong
        ));
    }

    #[test]
    fn matching_is_case_sensitive() {
        let current = TagRef {
            weak: false,
            opaque: b"Abc",
        };
        assert!(!field_matches(
            std::iter::once(b"\"abc\"".as_slice()),
            true,
            Some(&current),
            Comparison::Weak
        ));
    }
}
