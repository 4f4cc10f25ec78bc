//! What `ConditionalLayer` costs per request, next to what it cannot avoid.
//!
//! Every group holds the measurements that are compared with each other, so
//! they run one after the other in the same process, on the same machine
//! state:
//!
//! - `200_<size>_x<chunks>`: a `200 OK` to a GET, from the same
//!   `tower::service_fn` with (`layer`) and without (`bare`) the layer, and
//!   `blake3::hash` of the same bytes (`blake3`). For bodies of 64 chunks,
//!   `blake3_64_updates` feeds the same bytes to one `blake3::Hasher` in 64
//!   calls (`..._staged`: through a 16 KiB staging buffer, as the layer does
//!   for longer bodies); bodies of up to 16 KiB in 64 chunks, which the layer
//!   gathers whole and so can remember, also have `layer_no_memo`.
//! - `200_<size>_fresh` (128 B, 1 KiB, 16 KiB, one chunk): every request
//!   gets other bytes (the inner service cycles through 256 bodies of the
//!   size), so the layer's memo of recent bodies never has them and every
//!   body is hashed; `layer_no_memo` is the same with the memo turned off,
//!   and `blake3` hashes the same 256 bodies in turn. `set_header` is the
//!   floor under any tagging middleware: tower-http's `SetResponseHeader`
//!   adding a tag built per response, without hashing or holding the body;
//!   `hand_rolled` is the job itself with nothing else (collect the body,
//!   hash it, insert the tag), the least any hashing middleware does.
//!   The plain `200_<size>_x1` groups serve the same bytes every time, which
//!   the memo answers after two requests for bodies of up to 16 KiB.
//! - `200_<size>_typed` (0 B, 128 B, 1 KiB, one chunk): the same, with a
//!   `Content-Type` on the inner response as every real handler sets. The
//!   plain groups answer with no header at all, so there the layer's `ETag`
//!   is the first header and allocates the header table, which a real
//!   response has already allocated.
//! - `304_1KiB`: a matching `If-None-Match`, against a hashed `ETag` and
//!   against one the handler set.
//! - `handler_etag_1KiB`: a handler that sets its own `ETag` (not hashed).
//! - `if_none_match_1KiB`: a field of 1 and of 100 entity-tags.
//! - `passthrough_1KiB`: a POST and a 404, which the layer does not touch.
//!
//! Each service is driven with `tower::ServiceExt::oneshot` and its body
//! collected with `http_body_util::BodyExt::collect`, inside a tokio
//! current-thread runtime (`Runtime::block_on` per iteration: its cost is in
//! `bare` and `layer` alike and cancels in their difference).
//!
//! `python3 perf/scripts/report.py` turns the results into the ratio tables
//! of BENCHMARKS.md and draws `perf/results/overhead.png`.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use http::header::{CONTENT_TYPE, ETAG};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tokio::runtime::Runtime;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_conditional::{ConditionalLayer, EntityTag};
use tower_conditional_test_support::FramesBody;

/// Bodies up to 8 MiB are hashed: the default limit (4 MiB) would stream the
/// largest one through unhashed.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Body sizes of the `200` groups, with their labels.
const SIZES: [(usize, &str); 6] = [
    (0, "0B"),
    (128, "128B"),
    (1024, "1KiB"),
    (16 * 1024, "16KiB"),
    (1024 * 1024, "1MiB"),
    (8 * 1024 * 1024, "8MiB"),
];

/// Number of frames of the multi-chunk bodies.
const CHUNKS: usize = 64;

/// Deterministic bytes that are not all alike (blake3's speed does not depend
/// on them, but a constant buffer could flatter a copy).
fn payload(len: usize) -> Bytes {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    Bytes::from(bytes)
}

type Req = Request<()>;

/// Sends one request through `service` and collects the whole response body.
fn drive<S, B>(rt: &Runtime, service: &S, request: Req) -> usize
where
    S: Service<Req, Response = Response<B>, Error = Infallible> + Clone,
    B: Body,
    B::Error: std::fmt::Debug,
{
    rt.block_on(async {
        let response = service.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16() as usize;
        let collected = response.into_body().collect().await.unwrap();
        // Touch the result so nothing is optimised away; `to_bytes` would
        // copy a multi-chunk body, so only look at the frame list.
        black_box(&collected);
        status
    })
}

fn get() -> Req {
    Request::new(())
}

fn get_with(name: &'static str, value: &HeaderValue) -> Req {
    Request::builder()
        .method(Method::GET)
        .header(name, value.clone())
        .body(())
        .unwrap()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

fn layer() -> ConditionalLayer {
    ConditionalLayer::new().max_hashed_body_size(MAX_BODY)
}

fn tune<M: criterion::measurement::Measurement>(group: &mut BenchmarkGroup<'_, M>, len: usize) {
    if len >= 1024 * 1024 {
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(4));
    } else {
        group.sample_size(60);
        group.measurement_time(Duration::from_secs(2));
    }
    group.warm_up_time(Duration::from_millis(500));
}

/// `bare`, `layer` and `blake3` (and for chunked bodies `blake3_64_updates`)
/// for one body, in one group.
fn bench_200(c: &mut Criterion, rt: &Runtime, len: usize, label: &str, chunks: usize) {
    let data = payload(len);
    let mut group = c.benchmark_group(format!("200_{label}_x{chunks}"));
    group.throughput(Throughput::Bytes(len as u64));
    tune(&mut group, len);

    if chunks == 1 {
        let data_for_inner = data.clone();
        let bare = service_fn(move |_req: Req| {
            let body = Full::new(data_for_inner.clone());
            async move { Ok::<_, Infallible>(Response::new(body)) }
        });
        let with_layer = layer().layer(bare.clone());
        assert_eq!(drive(rt, &with_layer, get()), 200);
        group.bench_function("bare", |b| b.iter(|| drive(rt, &bare, get())));
        group.bench_function("layer", |b| b.iter(|| drive(rt, &with_layer, get())));
    } else {
        let data_for_inner = data.clone();
        let bare = service_fn(move |_req: Req| {
            let body = FramesBody::split(data_for_inner.clone(), chunks).with_exact_size();
            async move { Ok::<_, Infallible>(Response::new(body)) }
        });
        let with_layer = layer().layer(bare.clone());
        let response = rt.block_on(with_layer.clone().oneshot(get())).unwrap();
        assert!(
            response.headers().contains_key(ETAG),
            "{label} x{chunks} must be hashed"
        );
        group.bench_function("bare", |b| b.iter(|| drive(rt, &bare, get())));
        group.bench_function("layer", |b| b.iter(|| drive(rt, &with_layer, get())));
        if len <= 16 * 1024 {
            // These bodies are gathered whole and remembered: without the
            // memo, every one is hashed.
            let without_memo = layer().remember_recent_bodies(false).layer(bare.clone());
            group.bench_function("layer_no_memo", |b| {
                b.iter(|| drive(rt, &without_memo, get()))
            });
        }
    }
    group.bench_function("blake3", |b| b.iter(|| blake3::hash(black_box(&data[..]))));
    if chunks > 1 {
        let step = len.div_ceil(chunks).max(1);
        group.bench_function("blake3_64_updates", |b| {
            b.iter(|| {
                let mut hasher = blake3::Hasher::new();
                for piece in black_box(&data[..]).chunks(step) {
                    hasher.update(piece);
                }
                hasher.finalize()
            })
        });
        // What a bounded staging buffer would give: pieces smaller than
        // STAGE are copied into it and hashed STAGE bytes at a time, so
        // blake3 can hash 1 KiB chunks in parallel (a copy of at most STAGE
        // bytes at a time, not of the body).
        group.bench_function("blake3_64_updates_staged", |b| {
            b.iter(|| staged_hash(black_box(&data[..]).chunks(step)))
        });
    }
    group.finish();
}

/// The staging size of `blake3_64_updates_staged`: 16 blake3 chunks, enough
/// for its widest SIMD batch on this machine (AVX2: 8 chunks at a time).
const STAGE: usize = 16 * 1024;

/// Hashes pieces through a staging buffer of `STAGE` bytes (allocated per
/// call, as it would be per response): pieces of at least `STAGE` bytes go to
/// the hasher directly, smaller ones are gathered first.
fn staged_hash<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    let mut stage: Vec<u8> = Vec::with_capacity(STAGE);
    for piece in pieces {
        if stage.len() + piece.len() > STAGE && !stage.is_empty() {
            hasher.update(&stage);
            stage.clear();
        }
        if piece.len() >= STAGE {
            hasher.update(piece);
        } else {
            stage.extend_from_slice(piece);
        }
    }
    hasher.update(&stage);
    hasher.finalize()
}

/// Distinct bodies each service cycles through in the `fresh` groups: more
/// than the memo's 32 slots, so no body comes back before it is forgotten.
const FRESH_BODIES: usize = 256;

/// `bare`, `layer`, `layer_no_memo` and `blake3` for one-chunk bodies of
/// `len` bytes that differ from one request to the next.
fn bench_200_fresh(c: &mut Criterion, rt: &Runtime, len: usize, label: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    // The same generator, started further along for each body.
    let all = payload(len * FRESH_BODIES);
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..FRESH_BODIES)
            .map(|i| all.slice(i * len..(i + 1) * len))
            .collect(),
    );
    let reference = bodies.clone();
    let next = Arc::new(AtomicUsize::new(0));
    let mut group = c.benchmark_group(format!("200_{label}_fresh"));
    group.throughput(Throughput::Bytes(len as u64));
    tune(&mut group, len);
    let bare = service_fn(move |_req: Req| {
        let i = next.fetch_add(1, Ordering::Relaxed) % FRESH_BODIES;
        let body = Full::new(bodies[i].clone());
        async move { Ok::<_, Infallible>(Response::new(body)) }
    });
    let with_layer = layer().layer(bare.clone());
    let without_memo = layer().remember_recent_bodies(false).layer(bare.clone());
    assert_eq!(drive(rt, &with_layer, get()), 200);
    group.bench_function("bare", |b| b.iter(|| drive(rt, &bare, get())));
    group.bench_function("layer", |b| b.iter(|| drive(rt, &with_layer, get())));
    group.bench_function("layer_no_memo", |b| {
        b.iter(|| drive(rt, &without_memo, get()))
    });
    // The floor under any middleware that tags responses: tower-http's
    // `SetResponseHeader` putting a made-up tag of the same length on each
    // response (a value built per response, as a content hash's must be),
    // with no hashing and no body held.
    let set_header = tower_http::set_header::SetResponseHeaderLayer::overriding(
        ETAG,
        |_: &Response<Full<Bytes>>| HeaderValue::from_bytes(b"\"0123456789abcdefghijkl\"").ok(),
    )
    .layer(bare.clone());
    group.bench_function("set_header", |b| b.iter(|| drive(rt, &set_header, get())));
    // The job itself, written with nothing else: await the response, read
    // its whole body, hash it, tag it. No limit, no streaming, no
    // preconditions, no memo; the body is read inside the future, so it is
    // neither boxed nor held apart from the response.
    let hand_rolled = hash_then_tag(bare.clone());
    assert_eq!(drive(rt, &hand_rolled, get()), 200);
    group.bench_function("hand_rolled", |b| b.iter(|| drive(rt, &hand_rolled, get())));
    // The same bodies in turn, so the reference reads them from the same
    // level of the cache as the layer does (256 x 16 KiB is past L2).
    let mut turn = 0;
    group.bench_function("blake3", |b| {
        b.iter(|| {
            turn = (turn + 1) % FRESH_BODIES;
            blake3::hash(black_box(&reference[turn][..]))
        })
    });
    group.finish();
}

/// The least a middleware that tags responses with a hash of their body can
/// do: wait for the inner response, collect its body, hash it, put the tag
/// in a header and send the collected bytes on. A reference for what the
/// job costs in tower, not a usable middleware (it reads any body whole).
fn hash_then_tag<S>(
    inner: S,
) -> impl Service<Req, Response = Response<Full<Bytes>>, Error = Infallible> + Clone
where
    S: Service<Req, Response = Response<Full<Bytes>>, Error = Infallible> + Clone,
{
    service_fn(move |request: Req| {
        // A `service_fn` is always ready, as a middleware's `poll_ready`
        // would have made sure of.
        let response = inner.clone().call(request);
        async move {
            let (mut parts, body) = response.await?.into_parts();
            // Frame by frame rather than `collect`, which allocates a list
            // even for one frame.
            let mut body = std::pin::pin!(body);
            let mut bytes = Bytes::new();
            let mut joined = Vec::new();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    if bytes.is_empty() && joined.is_empty() {
                        bytes = data;
                    } else {
                        if joined.is_empty() {
                            joined.extend_from_slice(&bytes);
                        }
                        joined.extend_from_slice(&data);
                    }
                }
            }
            if !joined.is_empty() {
                bytes = joined.into();
            }
            let hex = blake3::hash(&bytes).to_hex();
            // 128 bits in hex, quoted: as long as the layer's tag, give or
            // take, and as cheap to encode as any.
            let mut tag = [b'"'; 34];
            tag[1..33].copy_from_slice(&hex.as_bytes()[..32]);
            let tag = HeaderValue::from_bytes(&tag).expect("hex is a valid header value");
            parts.headers.insert(ETAG, tag);
            Ok(Response::from_parts(parts, Full::new(bytes)))
        }
    })
}

/// `bare`, `layer` and `blake3` for a one-chunk body whose response carries
/// a `Content-Type`, as axum's `Json`, `String` and `Html` responses do.
fn bench_200_typed(c: &mut Criterion, rt: &Runtime, len: usize, label: &str) {
    let data = payload(len);
    let mut group = c.benchmark_group(format!("200_{label}_typed"));
    group.throughput(Throughput::Bytes(len as u64));
    tune(&mut group, len);
    let data_for_inner = data.clone();
    let bare = service_fn(move |_req: Req| {
        let mut response = Response::new(Full::new(data_for_inner.clone()));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        async move { Ok::<_, Infallible>(response) }
    });
    let with_layer = layer().layer(bare.clone());
    assert_eq!(drive(rt, &with_layer, get()), 200);
    group.bench_function("bare", |b| b.iter(|| drive(rt, &bare, get())));
    group.bench_function("layer", |b| b.iter(|| drive(rt, &with_layer, get())));
    group.bench_function("blake3", |b| b.iter(|| blake3::hash(black_box(&data[..]))));
    group.finish();
}

fn hashed_200s(c: &mut Criterion) {
    let data = payload(100_000);
    for step in [1, 7, 256, 5000, STAGE, 40_000] {
        assert_eq!(staged_hash(data.chunks(step)), blake3::hash(&data));
    }
    let rt = runtime();
    for (len, label) in SIZES {
        bench_200(c, &rt, len, label, 1);
        bench_200(c, &rt, len, label, CHUNKS);
    }
    for (len, label) in &SIZES[..3] {
        bench_200_typed(c, &rt, *len, label);
    }
    for (len, label) in &SIZES[1..4] {
        bench_200_fresh(c, &rt, *len, label);
    }
}

/// A 1 KiB JSON-ish body served by a handler that may set its own `ETag`.
fn kib_service(
    handler_etag: Option<HeaderValue>,
    status: StatusCode,
) -> impl Service<Req, Response = Response<Full<Bytes>>, Error = Infallible> + Clone {
    let data = payload(1024);
    service_fn(move |_req: Req| {
        let mut response = Response::new(Full::new(data.clone()));
        *response.status_mut() = status;
        if let Some(etag) = &handler_etag {
            response.headers_mut().insert(ETAG, etag.clone());
        }
        async move { Ok::<_, Infallible>(response) }
    })
}

fn conditional_paths(c: &mut Criterion) {
    let rt = runtime();
    let data = payload(1024);
    let hashed_tag = EntityTag::from_content(&data).to_header_value();
    let handler_tag = HeaderValue::from_static("\"v1-handler-set\"");

    let plain = kib_service(None, StatusCode::OK);
    let plain_layer = layer().layer(plain.clone());
    let tagged = kib_service(Some(handler_tag.clone()), StatusCode::OK);
    let tagged_layer = layer().layer(tagged.clone());

    // The 304 path: a hashed ETag and a handler-set one. `bare` gets the same
    // request and answers its usual 200.
    assert_eq!(
        drive(&rt, &plain_layer, get_with("if-none-match", &hashed_tag)),
        304
    );
    assert_eq!(
        drive(&rt, &tagged_layer, get_with("if-none-match", &handler_tag)),
        304
    );
    {
        let mut group = c.benchmark_group("304_1KiB");
        tune(&mut group, 1024);
        group.bench_function("bare", |b| {
            b.iter(|| drive(&rt, &plain, get_with("if-none-match", &hashed_tag)))
        });
        group.bench_function("layer_hashed", |b| {
            b.iter(|| drive(&rt, &plain_layer, get_with("if-none-match", &hashed_tag)))
        });
        group.bench_function("bare_handler_etag", |b| {
            b.iter(|| drive(&rt, &tagged, get_with("if-none-match", &handler_tag)))
        });
        group.bench_function("layer_handler_etag", |b| {
            b.iter(|| drive(&rt, &tagged_layer, get_with("if-none-match", &handler_tag)))
        });
        group.finish();
    }

    // A handler-set ETag on an unconditional GET: the layer must not hash.
    {
        let mut group = c.benchmark_group("handler_etag_1KiB");
        tune(&mut group, 1024);
        group.bench_function("bare", |b| b.iter(|| drive(&rt, &tagged, get())));
        group.bench_function("layer", |b| b.iter(|| drive(&rt, &tagged_layer, get())));
        group.finish();
    }

    // If-None-Match of 1 and of 100 tags; with 100 the match is the last one
    // (the whole field is scanned), and a field of 1 and of 100 that does not
    // match.
    {
        let others: Vec<String> = (0..99)
            .map(|i| format!("\"stale-version-{i:04}\""))
            .collect();
        let hundred_hit = HeaderValue::from_str(&format!(
            "{}, {}",
            others.join(", "),
            hashed_tag.to_str().unwrap()
        ))
        .unwrap();
        let hundred_miss =
            HeaderValue::from_str(&format!("{}, \"stale-version-9999\"", others.join(", ")))
                .unwrap();
        assert_eq!(
            drive(&rt, &plain_layer, get_with("if-none-match", &hundred_hit)),
            304
        );
        assert_eq!(
            drive(&rt, &plain_layer, get_with("if-none-match", &hundred_miss)),
            200
        );
        // The one tag of a copy that has since changed, as long as the current.
        let stale_tag = {
            let mut stale = hashed_tag.as_bytes().to_vec();
            let last = stale.len() - 2;
            stale[last] = if stale[last] == b'A' { b'B' } else { b'A' };
            HeaderValue::from_bytes(&stale).unwrap()
        };
        assert_eq!(
            drive(&rt, &plain_layer, get_with("if-none-match", &stale_tag)),
            200
        );
        let mut group = c.benchmark_group("if_none_match_1KiB");
        tune(&mut group, 1024);
        for (name, value) in [
            ("1_tag", &hashed_tag),
            ("1_tag_no_match", &stale_tag),
            ("100_tags", &hundred_hit),
            ("100_tags_no_match", &hundred_miss),
        ] {
            group.bench_function(format!("bare_{name}"), |b| {
                b.iter(|| drive(&rt, &plain, get_with("if-none-match", value)))
            });
            group.bench_function(format!("layer_{name}"), |b| {
                b.iter(|| drive(&rt, &plain_layer, get_with("if-none-match", value)))
            });
        }
        group.finish();
    }

    // What a browser sends for a subresource, its fields in Chromium's
    // order: every GET's fields are looked at for preconditions and a range.
    // `bare` gets the same requests and answers its usual 200.
    {
        let browser = |revalidate: Option<&HeaderValue>| {
            let mut request = Request::builder()
                .method(Method::GET)
                .uri("/app/data.json")
                .header("host", "127.0.0.1:3000")
                .header("connection", "keep-alive")
                .header(
                    "sec-ch-ua",
                    "\"Chromium\";v=\"156\", \"Not A(Brand\";v=\"24\"",
                )
                .header("sec-ch-ua-mobile", "?0")
                .header(
                    "user-agent",
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                     Chrome/156.0.0.0 Safari/537.36",
                )
                .header("sec-ch-ua-platform", "\"Linux\"")
                .header("accept", "*/*")
                .header("sec-fetch-site", "same-origin")
                .header("sec-fetch-mode", "cors")
                .header("sec-fetch-dest", "empty")
                .header("referer", "http://127.0.0.1:3000/app/")
                .header("accept-encoding", "gzip, deflate, br, zstd")
                .header("accept-language", "en-GB,en;q=0.9")
                .header("cookie", "session=0123456789abcdef; theme=dark");
            if let Some(tag) = revalidate {
                request = request.header("if-none-match", tag.clone());
            }
            request.body(()).unwrap()
        };
        assert_eq!(drive(&rt, &plain_layer, browser(None)), 200);
        assert_eq!(drive(&rt, &plain_layer, browser(Some(&hashed_tag))), 304);
        let mut group = c.benchmark_group("browser_1KiB");
        tune(&mut group, 1024);
        group.bench_function("bare_200", |b| b.iter(|| drive(&rt, &plain, browser(None))));
        group.bench_function("layer_200", |b| {
            b.iter(|| drive(&rt, &plain_layer, browser(None)))
        });
        group.bench_function("bare_304", |b| {
            b.iter(|| drive(&rt, &plain, browser(Some(&hashed_tag))))
        });
        group.bench_function("layer_304", |b| {
            b.iter(|| drive(&rt, &plain_layer, browser(Some(&hashed_tag))))
        });
        group.finish();
    }

    // Requests the layer passes through: a POST, and a 404 to a GET.
    {
        let not_found = kib_service(None, StatusCode::NOT_FOUND);
        let not_found_layer = layer().layer(not_found.clone());
        let post = || Request::builder().method(Method::POST).body(()).unwrap();
        let mut group = c.benchmark_group("passthrough_1KiB");
        tune(&mut group, 1024);
        group.bench_function("bare_post", |b| b.iter(|| drive(&rt, &plain, post())));
        group.bench_function("layer_post", |b| {
            b.iter(|| drive(&rt, &plain_layer, post()))
        });
        group.bench_function("bare_404", |b| b.iter(|| drive(&rt, &not_found, get())));
        group.bench_function("layer_404", |b| {
            b.iter(|| drive(&rt, &not_found_layer, get()))
        });
        group.finish();
    }
}

criterion_group!(benches, hashed_200s, conditional_paths);
criterion_main!(benches);
