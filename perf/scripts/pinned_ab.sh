#!/usr/bin/env bash
# Server CPU per request, layer off / on / hand-written SHA-256, with the
# server and the load generator on separate cores so they do not compete:
# perf/src/bin/load_target.rs pinned to CPU 1 (tokio then starts one worker),
# `wrk -t1 -c16` pinned to CPU 0, on 127.0.0.1 only. The server's CPU time
# (utime + stime from /proc/PID/stat) over the run, divided by the requests
# wrk completed, is the cost of one request, kernel included.
#
#   perf/scripts/pinned_ab.sh                 # /json/1k, 3 rounds of 5 s
#   DOC=1m ROUNDS=5 perf/scripts/pinned_ab.sh
#   ROUTE=fresh MODES="off on" perf/scripts/pinned_ab.sh   # /fresh/1k: new bytes every request
#   MODES="on on-304" perf/scripts/pinned_ab.sh             # 200s against 304s, layer on
#   ROUTE=fresh MODES="off in-handler hand-rolled on" perf/scripts/pinned_ab.sh  # against the floors
#
# Modes: off, on, no-memo (the layer without its memo of recent bodies),
# hand-rolled (no layer: the least axum middleware that hashes and tags),
# manual (the hand-written SHA-256 route, no layer), in-handler (blake3 in the
# handler, nothing else, no layer: the floor of tagging with a content hash;
# ROUTE json or fresh, DOC 1k), on-304 (layer on, every request revalidates
# with the ETag of a first GET, so every answer is a 304), on-stale (the same
# request with a tag of the same length that does not match: a 200 to the very
# request bytes of on-304), off-empty (no layer, /json/0: the fields of
# /json/1k but Content-Length, and no body, so off minus off-empty is about
# what sending the body costs).
#
# Needs wrk, curl, taskset, python3 and two CPUs.
set -euo pipefail
cd "$(dirname "$0")/../.."

DOC=${DOC:-1k}
ROUTE=${ROUTE:-json}
MODES=${MODES:-off on manual}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
PORT=${PORT:-3950}
TICKS=$(getconf CLK_TCK)

# revalidating_tag() and the check that off-empty has a counterpart.
source perf/scripts/revalidation.sh

TARGET=${CARGO_TARGET_DIR:-target}
cargo build --quiet --release -p tower-conditional-perf --bin load_target
for round in $(seq "$ROUNDS"); do
  for mode in $MODES; do
    layer=$mode path=/$ROUTE/$DOC
    headers=()
    if [ "$mode" = manual ]; then layer=off path=/manual/$DOC; fi
    if [ "$mode" = in-handler ]; then layer=off path=/in-handler/$ROUTE/$DOC; fi
    if [ "$mode" = on-304 ] || [ "$mode" = on-stale ]; then layer=on; fi
    if [ "$mode" = off-empty ]; then layer=off path=/json/0; fi
    LAYER=$layer ADDR=127.0.0.1:$PORT taskset -c 1 "$TARGET/release/load_target" \
      >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do
      curl -s -o /dev/null "http://127.0.0.1:$PORT$path" && break
      sleep 0.1
    done
    etag=$(revalidating_tag "$mode" "http://127.0.0.1:$PORT$path")
    if [ -n "$etag" ]; then headers=(-H "If-None-Match: $etag"); fi
    # What is measured is what the mode says: a 304 for on-304, a 200 otherwise.
    expected=200
    if [ "$mode" = on-304 ]; then expected=304; fi
    status=$(curl -s -o /dev/null -w '%{http_code}' "${headers[@]}" "http://127.0.0.1:$PORT$path")
    if [ "$status" != "$expected" ]; then
      echo "$mode: $path answered $status, not $expected" >&2
      kill "$pid"
      exit 1
    fi
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$(taskset -c 0 wrk -t1 -c16 -d"${DURATION}s" "${headers[@]}" "http://127.0.0.1:$PORT$path")
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu=$(python3 -c "print(round(($after - $before) / $TICKS * 1e6 / $requests, 2))")
    echo "round $round $mode: $rps req/s, server CPU $cpu us/request"
  done
done
