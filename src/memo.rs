//! A small memo of recently hashed bodies, one per thread.
//!
//! Most GETs of a resource get the same bytes as the GET before; that is why
//! conditional requests exist. Comparing a body with a copy kept from an
//! earlier response runs at memory speed (tens of GB/s), where blake3 hashes a
//! body of one blake3 chunk (1 KiB) or less at under 1 GB/s: its 64-byte
//! blocks are compressed one after another, and no SIMD width helps within a
//! chunk. So a small body that was hashed before is compared, not hashed.
//!
//! A remembered hash is used only for a body equal, byte for byte, to the copy
//! it was computed from: the result is the same as hashing, whatever the body
//! is made of. The rest is about cost:
//!
//! - Only bodies of at most [`LONGEST`] bytes are remembered, so the memo
//!   holds at most `SETS x WAYS x LONGEST` bytes (512 KiB) per thread; longer
//!   bodies are where blake3 is fast anyway.
//! - A body is copied in only when its hash, computed on a miss anyway, is
//!   one of the last two that missed in its set: the same bytes twice. A body
//!   that changes on every request, even where the fingerprint does not look,
//!   is never copied; it costs a fingerprint, at most two comparisons that
//!   fail, and the hash it needs anyway.
//! - Each set has two ways, so two bodies served in turn whose fingerprints
//!   fall in one set are both kept.
//! - The memo is per thread: no lock, no shared cache line between the
//!   threads of a runtime.
//!
//! A longer body is not compared, but a body whose one chunk is the very
//! buffer tagged shortly before (an asset or a cached page served from one
//! shared `Bytes`) is known without reading it: see [`buffer_entity_tag`].

use std::cell::RefCell;

use bytes::Bytes;

use crate::config::{EtagPolicy, SMALL_BODY};
use crate::entity_tag::EntityTag;

/// Sets per thread; a body's fingerprint picks its set.
const SETS: usize = 16;

/// Bodies kept per set.
const WAYS: usize = 2;

/// The longest body remembered, in bytes: a small body, which the layer
/// gathers into one slice.
pub(crate) const LONGEST: usize = SMALL_BODY;

#[derive(Default)]
struct Set {
    ways: [Option<Remembered>; WAYS],
    /// The way that answered or was filled last; the other is replaced next.
    recent: usize,
    /// The first 8 bytes of the hashes of the last two bodies that missed in
    /// this set (0: none yet), and where the next one goes.
    misses: [u64; 2],
    next_miss: usize,
}

struct Remembered {
    fingerprint: u64,
    content: Box<[u8]>,
    tags: Tags,
}

/// A remembered hash, and the strong and the weak tag made of it, each made
/// when first asked for: a remembered tag is handed out as a clone, without
/// encoding it again.
struct Tags {
    hash: blake3::Hash,
    made: [Option<EntityTag>; 2],
}

impl Tags {
    /// The hash, with the tag made of it for `policy`.
    fn new(hash: blake3::Hash, policy: EtagPolicy, tag: &EntityTag) -> Self {
        let mut made = [None, None];
        made[policy as usize] = Some(tag.clone());
        Self { hash, made }
    }

    fn tag(&mut self, policy: EtagPolicy) -> EntityTag {
        let hash = &self.hash;
        self.made[policy as usize]
            .get_or_insert_with(|| EntityTag::from_hash(hash, policy))
            .clone()
    }
}

thread_local! {
    static MEMO: RefCell<Vec<Set>> = const { RefCell::new(Vec::new()) };
}

/// Buffers kept per thread by [`buffer_entity_tag`].
pub(crate) const BUFFERS: usize = 4;

/// The longest buffer [`buffer_entity_tag`] keeps: with [`BUFFERS`], at most
/// 16 MiB per thread, and never longer than the bodies the layer hashes
/// (`max_hashed_body_size`).
pub(crate) const LONGEST_BUFFER: usize = 4 * 1024 * 1024;

/// A buffer tagged before, kept alive by this clone.
struct Buffer {
    bytes: Bytes,
    tags: Tags,
}

thread_local! {
    static BUFFERS_KEPT: RefCell<([Option<Buffer>; BUFFERS], usize)> =
        const { RefCell::new(([None, None, None, None], 0)) };
}

/// The entity-tag of a body that is one chunk, and whether it was known
/// without hashing.
///
/// For a chunk longer than [`LONGEST`] (a small one goes to the content
/// memo, [`entity_tag`]): one that is the same buffer as one tagged before on this thread (the same
/// address and length) gets that buffer's tag. That is sound because the
/// memo holds a clone of the buffer: its memory cannot have been freed and
/// reused for other bytes, and a `Bytes` cannot be written through. Only
/// buffers someone else shares (`!is_unique()`: a static, an `Arc`-shared
/// or an owner-backed `Bytes`) are kept: cloning them allocates nothing,
/// and a body made afresh for one response, which no one will send again,
/// is not held past its response.
pub(crate) fn buffer_entity_tag(chunk: &Bytes, policy: EtagPolicy) -> (EntityTag, bool) {
    debug_assert!(chunk.len() > LONGEST);
    let hashed = |chunk: &Bytes| blake3::hash(chunk);
    if chunk.len() > LONGEST_BUFFER || chunk.is_unique() {
        return (EntityTag::from_hash(&hashed(chunk), policy), false);
    }
    BUFFERS_KEPT
        .try_with(|kept| match kept.try_borrow_mut() {
            Ok(mut kept) => {
                let (buffers, next) = &mut *kept;
                let same = |kept: &&mut Buffer| {
                    kept.bytes.as_ptr() == chunk.as_ptr() && kept.bytes.len() == chunk.len()
                };
                if let Some(buffer) = buffers.iter_mut().flatten().find(same) {
                    return (buffer.tags.tag(policy), true);
                }
                let hash = hashed(chunk);
                let tag = EntityTag::from_hash(&hash, policy);
                buffers[*next] = Some(Buffer {
                    bytes: chunk.clone(),
                    tags: Tags::new(hash, policy, &tag),
                });
                *next = (*next + 1) % BUFFERS;
                (tag, false)
            }
            Err(_) => (EntityTag::from_hash(&hashed(chunk), policy), false),
        })
        // During thread teardown the memo may already be gone.
        .unwrap_or_else(|_| (EntityTag::from_hash(&hashed(chunk), policy), false))
}

/// The content-hash entity-tag of `data` (see [`EntityTag::from_hash`]),
/// from the memo when the same bytes were remembered on this thread; and
/// whether they were (the hash was spared).
pub(crate) fn entity_tag(data: &[u8], policy: EtagPolicy) -> (EntityTag, bool) {
    let compute = || (EntityTag::from_hash(&blake3::hash(data), policy), false);
    if data.len() > LONGEST {
        return compute();
    }
    let fingerprint = fingerprint(data);
    MEMO.try_with(|memo| match memo.try_borrow_mut() {
        Ok(mut sets) => entity_tag_with(&mut sets, data, fingerprint, policy),
        Err(_) => compute(),
    })
    // During thread teardown the memo may already be gone.
    .unwrap_or_else(|_| compute())
}

fn entity_tag_with(
    sets: &mut Vec<Set>,
    data: &[u8],
    fingerprint: u64,
    policy: EtagPolicy,
) -> (EntityTag, bool) {
    if sets.is_empty() {
        make_sets(sets);
    }
    // The top bits: the final multiply of `fingerprint` mixes them best.
    let index = (fingerprint >> (64 - SETS.trailing_zeros())) as usize;
    let Some(set) = sets.get_mut(index) else {
        return (EntityTag::from_hash(&blake3::hash(data), policy), false);
    };
    for (way, slot) in set.ways.iter_mut().enumerate() {
        if let Some(remembered) = slot {
            if remembered.fingerprint == fingerprint && *remembered.content == *data {
                set.recent = way;
                return (remembered.tags.tag(policy), true);
            }
        }
    }
    let hash = blake3::hash(data);
    let tag = EntityTag::from_hash(&hash, policy);
    // Never 0, so that 0 can stand for "no miss yet".
    let key = u64::from_le_bytes(hash.as_bytes()[..8].try_into().unwrap_or_default()) | 1;
    if let Some(seen) = set.misses.iter_mut().find(|seen| **seen == key) {
        *seen = 0;
        remember(set, data, fingerprint, hash, &tag, policy);
    } else if let Some(slot) = set.misses.get_mut(set.next_miss) {
        *slot = key;
        set.next_miss = 1 - set.next_miss;
    }
    (tag, false)
}

/// Copies a body in, in place of the way used least recently. Out of line:
/// rare, and its code (a copy, an allocation, the old body's drop) would
/// otherwise sit among the instructions every request runs.
#[cold]
#[inline(never)]
fn remember(
    set: &mut Set,
    data: &[u8],
    fingerprint: u64,
    hash: blake3::Hash,
    tag: &EntityTag,
    policy: EtagPolicy,
) {
    let way = set
        .ways
        .iter()
        .position(Option::is_none)
        .unwrap_or(1 - set.recent);
    if let Some(slot) = set.ways.get_mut(way) {
        *slot = Some(Remembered {
            fingerprint,
            content: data.into(),
            tags: Tags::new(hash, policy, tag),
        });
        set.recent = way;
    }
}

/// Once per thread.
#[cold]
#[inline(never)]
fn make_sets(sets: &mut Vec<Set>) {
    sets.resize_with(SETS, Set::default);
}

/// A cheap summary of `data`: its length and four words spread over it.
/// Equal bodies have equal fingerprints; unequal ones usually differ (the
/// memo compares the bytes either way).
fn fingerprint(data: &[u8]) -> u64 {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |state: u64, word: u64| (state ^ word).wrapping_mul(MULTIPLIER).rotate_left(31);
    let len = data.len();
    let mut state = mix(0, len as u64);
    if len >= 8 {
        let step = (len - 8) / 3;
        for start in [0, step, 2 * step, len - 8] {
            state = mix(state, word_at(data, start));
        }
    } else {
        let mut word = [0u8; 8];
        word[..len].copy_from_slice(data);
        state = mix(state, u64::from_le_bytes(word));
    }
    (state ^ (state >> 29)).wrapping_mul(MULTIPLIER)
}

/// The eight bytes of `data` from `start`, as a number (0 past the end).
#[inline]
fn word_at(data: &[u8], start: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(bytes) = data.get(start..start + 8) {
        word.copy_from_slice(bytes);
    }
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tag only; [`super::entity_tag`] also says whether it was
    /// remembered.
    fn entity_tag(data: &[u8], policy: EtagPolicy) -> EntityTag {
        super::entity_tag(data, policy).0
    }

    fn hashed(data: &[u8]) -> EntityTag {
        EntityTag::from_hash(&blake3::hash(data), EtagPolicy::Strong)
    }

    fn remembered() -> Vec<usize> {
        MEMO.with(|memo| {
            memo.borrow()
                .iter()
                .flat_map(|set| set.ways.iter().flatten())
                .map(|remembered| remembered.content.len())
                .collect()
        })
    }

    fn remembered_count() -> usize {
        remembered().len()
    }

    fn clear() {
        MEMO.with(|memo| memo.borrow_mut().clear());
    }

    #[test]
    fn a_body_is_remembered_on_its_second_miss_and_hit_on_the_third() {
        clear();
        let body = vec![7u8; 1000];
        assert_eq!(entity_tag(&body, EtagPolicy::Strong), hashed(&body));
        assert_eq!(remembered_count(), 0, "one sighting copies nothing");
        assert_eq!(
            super::entity_tag(&body, EtagPolicy::Strong),
            (hashed(&body), false),
            "the second sighting copies it, but hashed it"
        );
        assert_eq!(remembered_count(), 1);
        assert_eq!(
            super::entity_tag(&body, EtagPolicy::Strong),
            (hashed(&body), true),
            "the third sighting is remembered"
        );
    }

    #[test]
    fn a_changed_byte_the_fingerprint_does_not_see_is_still_a_miss() {
        clear();
        let mut body: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        entity_tag(&body, EtagPolicy::Strong);
        entity_tag(&body, EtagPolicy::Strong);
        assert_eq!(remembered_count(), 1);
        // Byte 100 is not among the sampled words of a 4 KiB body.
        let before = fingerprint(&body);
        body[100] ^= 0xff;
        assert_eq!(fingerprint(&body), before, "the test must hit a blind spot");
        assert_eq!(entity_tag(&body, EtagPolicy::Strong), hashed(&body));
    }

    #[test]
    fn content_that_changes_every_time_is_never_copied() {
        clear();
        for i in 0..200u32 {
            let body = format!("{{\"tick\":{i}}}");
            assert_eq!(
                entity_tag(body.as_bytes(), EtagPolicy::Strong),
                hashed(body.as_bytes())
            );
        }
        // The same length and fingerprint every time: a token in a blind spot.
        let mut page: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        let fingerprint_of_page = fingerprint(&page);
        for token in 0..200u64 {
            page[100..108].copy_from_slice(&token.to_le_bytes());
            assert_eq!(fingerprint(&page), fingerprint_of_page);
            assert_eq!(entity_tag(&page, EtagPolicy::Strong), hashed(&page));
        }
        assert_eq!(remembered_count(), 0);
    }

    #[test]
    fn two_bodies_served_in_turn_in_one_set_are_both_kept() {
        clear();
        let first: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        let mut second = first.clone();
        second[100] ^= 0xff;
        assert_eq!(fingerprint(&first), fingerprint(&second), "one set");
        for _ in 0..2 {
            assert_eq!(entity_tag(&first, EtagPolicy::Strong), hashed(&first));
            assert_eq!(entity_tag(&second, EtagPolicy::Strong), hashed(&second));
        }
        assert_eq!(remembered_count(), 2);
        for _ in 0..3 {
            assert_eq!(entity_tag(&first, EtagPolicy::Strong), hashed(&first));
            assert_eq!(entity_tag(&second, EtagPolicy::Strong), hashed(&second));
        }
        assert_eq!(remembered_count(), 2);
    }

    #[test]
    fn long_and_short_bodies_hash_right() {
        clear();
        for len in [0, 1, 7, 8, 9, 63, 64, 1024, LONGEST, LONGEST + 1] {
            let body: Vec<u8> = (0..len).map(|i| (i * 31 % 256) as u8).collect();
            for _ in 0..3 {
                assert_eq!(
                    entity_tag(&body, EtagPolicy::Strong),
                    hashed(&body),
                    "{len} bytes"
                );
            }
        }
        let kept = remembered();
        assert!(kept.len() <= SETS * WAYS);
        assert!(kept.iter().all(|&len| len <= LONGEST), "{kept:?}");
        assert!(kept.contains(&LONGEST) && !kept.contains(&(LONGEST + 1)));
    }

    #[test]
    fn strong_and_weak_tags_of_one_remembered_body_differ_only_by_the_prefix() {
        clear();
        let body = b"{\"id\":1}".repeat(20);
        for _ in 0..3 {
            assert_eq!(entity_tag(&body, EtagPolicy::Strong), hashed(&body));
            assert_eq!(
                entity_tag(&body, EtagPolicy::Weak),
                EntityTag::from_hash(&blake3::hash(&body), EtagPolicy::Weak)
            );
        }
        assert_eq!(remembered_count(), 1);
    }

    fn kept_buffers() -> usize {
        BUFFERS_KEPT.with(|kept| kept.borrow().0.iter().flatten().count())
    }

    fn clear_buffers() {
        BUFFERS_KEPT.with(|kept| *kept.borrow_mut() = Default::default());
    }

    #[test]
    fn the_same_shared_buffer_is_tagged_once() {
        clear_buffers();
        static ASSET: [u8; 64 * 1024] = [b'a'; 64 * 1024];
        let asset = Bytes::from_static(&ASSET);
        let first = buffer_entity_tag(&asset, EtagPolicy::Strong);
        assert_eq!(first, (hashed(&ASSET), false));
        assert_eq!(
            buffer_entity_tag(&asset.clone(), EtagPolicy::Strong),
            (hashed(&ASSET), true)
        );
        let weak = EntityTag::from_hash(&blake3::hash(&ASSET), EtagPolicy::Weak);
        assert_eq!(buffer_entity_tag(&asset, EtagPolicy::Weak), (weak, true));
        // Part of the buffer is other bytes: its own hash.
        let part = asset.slice(1..);
        assert_eq!(
            buffer_entity_tag(&part, EtagPolicy::Strong),
            (hashed(&ASSET[1..]), false)
        );
    }

    #[test]
    fn a_buffer_only_this_response_holds_is_not_kept() {
        clear_buffers();
        let fresh = Bytes::from(vec![b'f'; 32 * 1024]);
        assert!(fresh.is_unique());
        for _ in 0..3 {
            assert_eq!(
                buffer_entity_tag(&fresh, EtagPolicy::Strong),
                (hashed(&fresh), false)
            );
        }
        assert_eq!(kept_buffers(), 0);
        // Shared with a cache of the application's: kept, then known.
        let cache = fresh.clone();
        assert!(!fresh.is_unique());
        assert!(!buffer_entity_tag(&fresh, EtagPolicy::Strong).1);
        assert!(buffer_entity_tag(&cache, EtagPolicy::Strong).1);
        // Equal bytes in another buffer are hashed: only the buffer is known.
        let copy = Bytes::from(fresh.to_vec());
        let _also_shared = copy.clone();
        assert_eq!(
            buffer_entity_tag(&copy, EtagPolicy::Strong),
            (hashed(&fresh), false)
        );
    }

    #[test]
    fn kept_buffers_are_bounded_in_count_and_length() {
        clear_buffers();
        let buffers: Vec<Bytes> = (0..BUFFERS as u8 + 1)
            .map(|i| Bytes::from(vec![i; LONGEST + 1]))
            .collect();
        let shares: Vec<Bytes> = buffers.to_vec();
        for buffer in &buffers {
            assert!(!buffer_entity_tag(buffer, EtagPolicy::Strong).1);
        }
        assert_eq!(kept_buffers(), BUFFERS);
        // The first was replaced by the last.
        assert!(!buffer_entity_tag(&buffers[0], EtagPolicy::Strong).1);
        assert!(buffer_entity_tag(&buffers[BUFFERS], EtagPolicy::Strong).1);
        let huge = Bytes::from(vec![0; LONGEST_BUFFER + 1]);
        let _share = huge.clone();
        buffer_entity_tag(&huge, EtagPolicy::Strong);
        assert!(
            !buffer_entity_tag(&huge, EtagPolicy::Strong).1,
            "too long to keep"
        );
        drop(shares);
    }
}
