//! What the layer allocates per request, counted by a global allocator.
//!
//! Every test compares the same request sent to the same inner service with
//! and without the layer, so what the runtime, the request, the inner service
//! and `collect` allocate cancels out; what remains is the layer's own
//! allocations. The counters are per thread and counted only inside
//! [`count`], and every request runs on a current-thread runtime on the
//! test's own thread, so tests running in parallel do not disturb each other.
//!
//! The properties checked:
//! - a body of one chunk costs a small constant number of allocations and
//!   bytes, the same for 128 B as for 8 MiB (the body is never copied);
//! - a body of 64 chunks costs no more allocations and bytes at 8 MiB than at
//!   256 KiB, and at most 40 KiB: the chunks are held by reference, except
//!   that a body of up to 16 KiB (or the first 16 KiB of a longer one) is
//!   copied once into one buffer, sized from the body's size hint but never
//!   past 16 KiB;
//! - a 304 and the paths that are passed through cost a small constant.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;

use bytes::{Buf, Bytes};
use http::header::ETAG;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, SizeHint};
use http_body_util::{BodyExt, Full};
use tokio::runtime::Runtime;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_conditional::{ConditionalLayer, EntityTag};
use tower_conditional_test_support::{patterned, FramesBody};

// ---------------------------------------------------------------------------
// The counting allocator
// ---------------------------------------------------------------------------

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
    /// Bytes allocated and not yet freed since counting started, and the
    /// most there were at once.
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
    /// The sizes of the first allocations counted, for failure messages.
    static SIZES: [Cell<u32>; LOGGED] = const { [const { Cell::new(0) }; LOGGED] };
}

const LOGGED: usize = 32;

fn record(size: usize) {
    // `try_with`: the allocator may run while a thread's locals are torn down.
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if counting {
        let index = ALLOCATIONS.try_with(|count| {
            let index = count.get();
            count.set(index + 1);
            index as usize
        });
        if let Ok(index @ 0..LOGGED) = index {
            let _ = SIZES.try_with(|sizes| sizes[index].set(size as u32));
        }
        let _ = BYTES.try_with(|bytes| bytes.set(bytes.get() + size as u64));
        live(size as i64);
    }
}

fn live(change: i64) {
    if let Ok(now) = LIVE.try_with(|live| {
        live.set(live.get() + change);
        live.get()
    }) {
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    }
}

fn record_free(size: usize) {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        live(-(size as i64));
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are
// thread-local `Cell`s with const initialisers, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        System.alloc_zeroed(layout)
    }

    /// A reallocation counts as one allocation of the new size: a buffer that
    /// grows with the body shows up in the bytes.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        record_free(layout.size());
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record_free(layout.size());
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by the current thread.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counts {
    allocations: u64,
    bytes: u64,
    /// The most bytes live at once, of those allocated while counting.
    peak: i64,
    /// The sizes of the first allocations, in order.
    sizes: Vec<u32>,
}

/// Runs `f` and counts what the current thread allocates meanwhile.
fn count<T>(f: impl FnOnce() -> T) -> (T, Counts) {
    ALLOCATIONS.with(|c| c.set(0));
    BYTES.with(|c| c.set(0));
    LIVE.with(|c| c.set(0));
    PEAK.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    let output = f();
    COUNTING.with(|c| c.set(false));
    let allocations = ALLOCATIONS.with(Cell::get);
    let logged = (allocations as usize).min(LOGGED);
    let counts = Counts {
        allocations,
        bytes: BYTES.with(Cell::get),
        peak: PEAK.with(Cell::get),
        sizes: SIZES.with(|sizes| sizes[..logged].iter().map(Cell::get).collect()),
    };
    (output, counts)
}

// ---------------------------------------------------------------------------
// Services and bodies
// ---------------------------------------------------------------------------

type Req = Request<()>;

fn payload(len: usize) -> Bytes {
    Bytes::from(patterned(len))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

/// Bodies up to 8 MiB are hashed in these tests.
fn layer() -> ConditionalLayer {
    ConditionalLayer::new().max_hashed_body_size(16 * 1024 * 1024)
}

/// Sends a request and collects the body; returns the status and body length.
async fn exchange<S, B>(service: S, request: Req) -> (u16, usize)
where
    S: Service<Req, Response = Response<B>, Error = Infallible>,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let response = service.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let collected = response.into_body().collect().await.unwrap();
    // `aggregate` keeps the chunks as they are; `to_bytes` could copy them.
    let len = collected.aggregate().remaining();
    (status, len)
}

/// What one request costs through `service`: the request is built before
/// counting starts, and the service is warmed up first (the first clone of a
/// `Bytes` made from a `Vec` allocates once to share it).
fn per_request<S, B>(rt: &Runtime, service: &S, request: impl Fn() -> Req) -> (u16, Counts)
where
    S: Service<Req, Response = Response<B>, Error = Infallible> + Clone,
    B: Body,
    B::Error: std::fmt::Debug,
{
    for _ in 0..2 {
        rt.block_on(exchange(service.clone(), request()));
    }
    let mut best: Option<(u16, Counts)> = None;
    for _ in 0..3 {
        let service = service.clone();
        let request = request();
        let ((status, _), counts) = count(|| rt.block_on(exchange(service, request)));
        // The fewest of three runs: a one-off allocation of the runtime (a
        // buffer growing once) is not the layer's.
        if best
            .as_ref()
            .is_none_or(|(_, b)| counts.allocations < b.allocations)
        {
            best = Some((status, counts));
        }
    }
    best.expect("three runs")
}

/// What the layer adds to one request: with it minus without it, and the
/// sizes allocated with and without it (shown when an assertion fails).
#[derive(Clone)]
struct Added {
    allocations: i64,
    bytes: i64,
    sizes_with: Vec<u32>,
    sizes_without: Vec<u32>,
}

impl std::fmt::Display for Added {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "+{} allocations, +{} bytes (sizes with the layer: {:?}; without: {:?})",
            self.allocations, self.bytes, self.sizes_with, self.sizes_without
        )
    }
}

fn added<S, L, B, LB>(
    rt: &Runtime,
    bare: &S,
    layered: &L,
    request: impl Fn() -> Req,
    expected_status: u16,
) -> Added
where
    S: Service<Req, Response = Response<B>, Error = Infallible> + Clone,
    L: Service<Req, Response = Response<LB>, Error = Infallible> + Clone,
    B: Body,
    B::Error: std::fmt::Debug,
    LB: Body,
    LB::Error: std::fmt::Debug,
{
    let (_, without) = per_request(rt, bare, &request);
    let (status, with) = per_request(rt, layered, &request);
    assert_eq!(status, expected_status);
    Added {
        allocations: with.allocations as i64 - without.allocations as i64,
        bytes: with.bytes as i64 - without.bytes as i64,
        sizes_with: with.sizes,
        sizes_without: without.sizes,
    }
}

fn one_chunk_service(
    data: Bytes,
) -> impl Service<Req, Response = Response<Full<Bytes>>, Error = Infallible> + Clone {
    service_fn(move |_req: Req| {
        let body = Full::new(data.clone());
        async move { Ok::<_, Infallible>(Response::new(body)) }
    })
}

fn chunked_service(
    data: Bytes,
    frames: usize,
) -> impl Service<Req, Response = Response<FramesBody>, Error = Infallible> + Clone {
    service_fn(move |_req: Req| {
        let body = FramesBody::split(data.clone(), frames).with_exact_size();
        async move { Ok::<_, Infallible>(Response::new(body)) }
    })
}

/// One chunk, ready at once or only at the second poll.
fn one_chunk_waiting_service(
    data: Bytes,
    waits_first: bool,
) -> impl Service<Req, Response = Response<FramesBody>, Error = Infallible> + Clone {
    service_fn(move |_req: Req| {
        let body = FramesBody::split(data.clone(), 1).with_exact_size();
        let body = if waits_first {
            body.pending_first()
        } else {
            body
        };
        async move { Ok::<_, Infallible>(Response::new(body)) }
    })
}

fn get() -> Req {
    Request::new(())
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The most the layer may allocate for a request it hashes or answers with a
/// 304, measured at the time of writing: for a one-chunk 200, 3 allocations
/// and 680 bytes: the ETag's bytes, and the header table (indices and
/// entries) of a response that had no field before the ETag. For a 304, 2
/// and 816 bytes: the request's conditions, boxed, and the header table.
/// The body itself, read where it is, costs nothing. Nothing here may depend
/// on the body.
const MAX_ADDED_ALLOCATIONS: i64 = 3;
const MAX_ADDED_BYTES_ONE_CHUNK: i64 = 1024;

/// The most the layer may allocate for a body of 64 chunks, whatever their
/// size: the chunks held in a growing `Vec` (references to the bytes, never
/// the bytes), an incremental hasher, and two bounded buffers of 16 KiB. A
/// body of at most 16 KiB in small chunks is gathered (copied) into one and
/// sent from there as one chunk; a longer one keeps the gathered start of
/// the body as its first chunk, and stages later small chunks in the other
/// for hashing. A copy of any body over 16 KiB makes the bytes grow with the
/// body.
const MAX_ADDED_BYTES_CHUNKED: i64 = 40 * 1024;

/// A body of up to 16 KiB in chunks is copied once, into the buffer it is
/// then sent from; this much more may be allocated (the header table, the
/// ETag's bytes). A second copy exceeds it.
const MAX_ADDED_BYTES_BEYOND_ONE_COPY: i64 = 4 * 1024;

/// Allowed difference in added bytes between two body sizes: the decimal
/// `Content-Length` grows by a few digits, nothing else may.
const LENGTH_DIGITS_SLACK: i64 = 16;

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// The counter is not blind: a copy of a body and a growing buffer show up.
#[test]
fn the_counter_sees_a_copy_of_the_body() {
    let data = payload(MIB);
    let (copy, counts) = count(|| Bytes::copy_from_slice(&data));
    assert_eq!(copy.len(), MIB);
    assert_eq!(counts.allocations, 1);
    assert!(counts.bytes >= MIB as u64, "{counts:?}");

    let (grown, counts) = count(|| {
        let mut buffer = Vec::new();
        for chunk in data.chunks(16 * KIB) {
            buffer.extend_from_slice(chunk);
        }
        buffer
    });
    assert_eq!(grown.len(), MIB);
    assert!(counts.bytes >= MIB as u64, "{counts:?}");

    // And it is per thread: another thread's allocations are not counted.
    let ((), counts) = count(|| {
        std::thread::scope(|scope| {
            scope.spawn(|| drop(vec![0u8; MIB]));
        })
    });
    assert!(counts.bytes < MIB as u64, "{counts:?}");
}

/// Hashing, without the memo of recent bodies (which would answer the
/// repeated small bodies here from memory: see the next test).
#[test]
fn one_chunk_bodies_cost_a_constant_independent_of_size() {
    let rt = runtime();
    let mut results = Vec::new();
    for len in [128, KIB, 16 * KIB, MIB, 8 * MIB] {
        let bare = one_chunk_service(payload(len));
        let layered = layer().remember_recent_bodies(false).layer(bare.clone());
        let response = rt.block_on(layered.clone().oneshot(get())).unwrap();
        assert!(
            response.headers().contains_key(ETAG),
            "{len} B must be hashed"
        );
        let added = added(&rt, &bare, &layered, get, 200);
        println!("one chunk, {len:>8} B: {added}");
        results.push((len, added));
    }
    let smallest = results[0].1.clone();
    for (len, added) in &results {
        assert!(
            (0..=MAX_ADDED_ALLOCATIONS).contains(&added.allocations),
            "{len} B in one chunk: the layer made {} allocations (at most \
             {MAX_ADDED_ALLOCATIONS}): {added}",
            added.allocations
        );
        assert!(
            added.bytes <= MAX_ADDED_BYTES_ONE_CHUNK,
            "{len} B in one chunk: the layer allocated {} bytes (at most {MAX_ADDED_BYTES_ONE_CHUNK})",
            added.bytes
        );
        assert_eq!(
            added.allocations, smallest.allocations,
            "{len} B in one chunk: allocations must not depend on the body's size"
        );
        assert!(
            (added.bytes - smallest.bytes).abs() <= LENGTH_DIGITS_SLACK,
            "{len} B in one chunk: {} bytes allocated against {} for 128 B: \
             bytes allocated must not grow with the body",
            added.bytes,
            smallest.bytes
        );
    }
}

/// A body served again is compared with the copy the memo kept, and its
/// remembered tag is handed out: no allocation beyond the hashing path's, and
/// none that grows with the body.
#[test]
fn remembered_bodies_cost_no_more_than_hashed_ones() {
    let rt = runtime();
    for len in [128, KIB, 16 * KIB] {
        let bare = one_chunk_service(payload(len));
        let remembering = layer().layer(bare.clone());
        let hashing = layer().remember_recent_bodies(false).layer(bare.clone());
        let remembered = added(&rt, &bare, &remembering, get, 200);
        let hashed = added(&rt, &bare, &hashing, get, 200);
        println!("one chunk, {len:>8} B, remembered: {remembered}");
        assert!(
            remembered.allocations <= hashed.allocations,
            "{len} B: remembered {remembered}; hashed {hashed}"
        );
        assert!(
            remembered.bytes <= hashed.bytes,
            "{len} B: remembered {remembered}; hashed {hashed}"
        );
    }
}

/// A body that is not ready when the response arrives makes the future keep
/// the response it holds, boxed: one allocation more than the same body
/// ready at once, of a size that does not depend on the body.
#[test]
fn a_body_that_must_be_waited_for_costs_one_allocation_more() {
    const HELD_RESPONSE_AT_MOST: i64 = 512;
    let rt = runtime();
    for len in [128, 16 * KIB, MIB] {
        let ready = one_chunk_waiting_service(payload(len), false);
        let waiting = one_chunk_waiting_service(payload(len), true);
        let layer = layer().remember_recent_bodies(false);
        let ready_added = added(&rt, &ready, &layer.clone().layer(ready.clone()), get, 200);
        let waiting_added = added(&rt, &waiting, &layer.layer(waiting.clone()), get, 200);
        println!("one chunk, {len:>8} B, ready: {ready_added}; waited for: {waiting_added}");
        assert_eq!(
            waiting_added.allocations,
            ready_added.allocations + 1,
            "{len} B: ready {ready_added}; waited for {waiting_added}"
        );
        let more = waiting_added.bytes - ready_added.bytes;
        assert!(
            (1..=HELD_RESPONSE_AT_MOST).contains(&more),
            "{len} B: waiting for the body allocated {more} bytes more"
        );
    }
}

#[test]
fn empty_body_costs_a_small_constant() {
    let rt = runtime();
    let bare = one_chunk_service(Bytes::new());
    let layered = layer().layer(bare.clone());
    let added = added(&rt, &bare, &layered, get, 200);
    println!("empty body: {added}");
    assert!(
        (0..=MAX_ADDED_ALLOCATIONS).contains(&added.allocations),
        "{added}"
    );
    assert!(added.bytes <= MAX_ADDED_BYTES_ONE_CHUNK, "{added}");
}

#[test]
fn chunked_bodies_cost_at_most_one_bounded_buffer() {
    const FRAMES: usize = 64;
    let rt = runtime();
    let mut results = Vec::new();
    for len in [KIB, 16 * KIB, 256 * KIB, MIB, 8 * MIB] {
        let bare = chunked_service(payload(len), FRAMES);
        let layered = layer().layer(bare.clone());
        let response = rt.block_on(layered.clone().oneshot(get())).unwrap();
        assert!(
            response.headers().contains_key(ETAG),
            "{len} B must be hashed"
        );
        let added = added(&rt, &bare, &layered, get, 200);
        println!("{FRAMES} chunks, {len:>8} B: {added}");
        results.push((len, added));
    }
    // Chunks of 16 KiB and more are held by reference: what those bodies
    // cost may not grow with them. Smaller chunks are copied once, into
    // buffers of 16 KiB that are then sent (so that what a request holds does
    // not grow with the number of chunks): at most one copy of the body.
    let by_reference: Vec<_> = results
        .iter()
        .filter(|(len, _)| len / FRAMES >= 16 * KIB)
        .collect();
    assert!(
        by_reference.len() >= 2,
        "{} bodies of large chunks",
        by_reference.len()
    );
    let (first_len, first) = by_reference[0];
    for (len, added) in &by_reference[1..] {
        assert!(
            added.bytes <= first.bytes + LENGTH_DIGITS_SLACK,
            "{len} B in {FRAMES} chunks: {added}, against +{} bytes for {first_len} B: \
             bytes allocated must not grow with the body",
            first.bytes
        );
        assert!(
            added.allocations <= first.allocations,
            "{len} B in {FRAMES} chunks: {added}, against +{} allocations for {first_len} B: \
             allocations must not grow with the body",
            first.allocations
        );
    }
    for (len, added) in &results {
        let copied = if len / FRAMES < 16 * KIB { *len } else { 0 };
        if *len <= 16 * KIB {
            assert!(
                added.bytes <= *len as i64 + MAX_ADDED_BYTES_BEYOND_ONE_COPY,
                "{len} B in {FRAMES} chunks: {added}: more than one copy of the body"
            );
        }
        assert!(
            added.bytes <= copied as i64 + MAX_ADDED_BYTES_CHUNKED,
            "{len} B in {FRAMES} chunks: {added} (at most {copied} copied and \
             {MAX_ADDED_BYTES_CHUNKED} more)"
        );
    }
}

/// What a request holds while its body is read stays within the limit plus
/// a small constant, whatever the chunks: a body just under the limit in
/// chunks of 1, 4 and 16 bytes, measured as the most bytes live at once.
#[test]
fn memory_held_stays_within_the_limit_whatever_the_chunks() {
    const LIMIT: usize = 256 * KIB;
    const SLACK: i64 = 64 * 1024;
    let rt = runtime();
    let layer = ConditionalLayer::new().max_hashed_body_size(LIMIT);
    for chunk in [1, 4, 16] {
        let data = payload(LIMIT - 1);
        let frames = data.len().div_ceil(chunk);
        let bare = chunked_service(data.clone(), frames);
        let layered = layer.clone().layer(bare.clone());
        let peak = |with_layer: bool| {
            let request = get();
            let ((len, tagged), counts) = if with_layer {
                count(|| rt.block_on(drain(layered.clone(), request)))
            } else {
                count(|| rt.block_on(drain(bare.clone(), request)))
            };
            assert_eq!(len, LIMIT - 1);
            assert_eq!(tagged, with_layer, "only the layer tags, and it must");
            counts.peak
        };
        let (without, with) = (peak(false), peak(true));
        println!("{chunk}-byte chunks: {without} B live at most without the layer, {with} with it");
        assert!(
            with - without <= (LIMIT as i64) + SLACK,
            "{chunk}-byte chunks: the layer held {} B at most, against a limit of {LIMIT} B",
            with - without
        );
    }
}

/// Sends a request and reads its body frame by frame, keeping none: what is
/// live at the peak is what the service held, not what the client kept.
async fn drain<S, B>(service: S, request: Req) -> (usize, bool)
where
    S: Service<Req, Response = Response<B>, Error = Infallible>,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let response = service.oneshot(request).await.unwrap();
    let tagged = response.headers().contains_key(ETAG);
    let mut body = std::pin::pin!(response.into_body());
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            len += data.remaining();
        }
    }
    (len, tagged)
}

/// The buffer that gathers a small body's chunks is sized from the body's
/// size hint: exactly, when the hint is exact; by doubling, when it says
/// nothing; and never past 16 KiB, whatever it says.
#[test]
fn the_gathering_buffer_follows_the_size_hint_within_bounds() {
    const FRAMES: usize = 64;
    let rt = runtime();
    let layer = layer().remember_recent_bodies(false);
    let hint = |lower: u64, upper: u64| {
        let mut hint = SizeHint::new();
        hint.set_upper(upper);
        hint.set_lower(lower);
        hint
    };
    for len in [1000, 5000, 16 * KIB] {
        for (what, hint, largest_allowed) in [
            ("exact", None, len),
            ("silent", Some(SizeHint::new()), (2 * len).min(16 * KIB)),
            (
                "upper bound at u64::MAX",
                Some(hint(0, u64::MAX)),
                (2 * len).min(16 * KIB),
            ),
            // (A lower bound over the limit is not read at all.)
            (
                "lower bound of 1 MiB",
                Some(hint(1 << 20, u64::MAX)),
                16 * KIB,
            ),
            (
                "too low",
                Some(SizeHint::with_exact(1)),
                (2 * len).min(16 * KIB),
            ),
        ] {
            let data = payload(len);
            let service = service_fn(move |_req: Req| {
                let body = FramesBody::split(data.clone(), FRAMES);
                let body = match hint {
                    Some(hint) => body.with_size_hint(hint),
                    None => body.with_exact_size(),
                };
                async move { Ok::<_, Infallible>(Response::new(body)) }
            });
            let layered = layer.clone().layer(service.clone());
            let response = rt.block_on(layered.clone().oneshot(get())).unwrap();
            assert!(response.headers().contains_key(ETAG), "{len} B, {what}");
            let added = added(&rt, &service, &layered, get, 200);
            println!("{FRAMES} chunks, {len:>5} B, hint {what}: {added}");
            let largest = *added.sizes_with.iter().max().unwrap() as usize;
            assert!(
                largest <= largest_allowed,
                "{len} B, hint {what}: an allocation of {largest} B (at most {largest_allowed}): {added}"
            );
            if what == "exact" {
                assert!(
                    added.sizes_with.contains(&(len as u32)),
                    "{len} B, exact hint: no buffer of exactly the body's size: {added}"
                );
            }
        }
    }
}

#[test]
fn not_modified_costs_a_small_constant() {
    let rt = runtime();
    for len in [KIB, MIB] {
        let data = payload(len);
        let tag = EntityTag::from_content(&data).to_header_value();
        let bare = one_chunk_service(data);
        let layered = layer().layer(bare.clone());
        let request = || {
            Request::builder()
                .header("if-none-match", tag.clone())
                .body(())
                .unwrap()
        };
        let added = added(&rt, &bare, &layered, request, 304);
        println!("304 for {len} B: {added}");
        assert!(added.allocations <= MAX_ADDED_ALLOCATIONS, "{added}");
        assert!(added.bytes <= MAX_ADDED_BYTES_ONE_CHUNK, "{added}");
    }
}

#[test]
fn passed_through_requests_cost_a_small_constant() {
    let rt = runtime();
    let data = payload(16 * KIB);

    // A POST is not looked at.
    let bare = one_chunk_service(data.clone());
    let layered = layer().layer(bare.clone());
    let post = || Request::builder().method(Method::POST).body(()).unwrap();
    let added_post = added(&rt, &bare, &layered, post, 200);
    println!("POST: {added_post}");

    // A 404 to a GET is passed on.
    let not_found = service_fn(move |_req: Req| {
        let mut response = Response::new(Full::new(data.clone()));
        *response.status_mut() = StatusCode::NOT_FOUND;
        async move { Ok::<_, Infallible>(response) }
    });
    let layered = layer().layer(not_found.clone());
    let added_404 = added(&rt, &not_found, &layered, get, 404);
    println!("404: {added_404}");

    // A handler-set ETag: kept, compared, the body not read.
    let tagged_data = payload(16 * KIB);
    let tagged = service_fn(move |_req: Req| {
        let mut response = Response::new(Full::new(tagged_data.clone()));
        response
            .headers_mut()
            .insert(ETAG, HeaderValue::from_static("\"v1\""));
        async move { Ok::<_, Infallible>(response) }
    });
    let layered = layer().layer(tagged.clone());
    let added_tagged = added(&rt, &tagged, &layered, get, 200);
    println!("handler ETag: {added_tagged}");

    for (what, added) in [
        ("POST", added_post),
        ("404", added_404),
        ("handler ETag", added_tagged),
    ] {
        assert!(
            added.allocations <= 2,
            "{what}: a passed-through request must cost (almost) no allocation: {added}"
        );
        assert!(added.bytes <= 256, "{what}: {added}");
    }
}
