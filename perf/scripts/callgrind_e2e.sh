#!/usr/bin/env bash
# The server's instructions per request over a real socket, counted by
# callgrind: the noise-free companion of perf/scripts/pinned_ab.sh, which
# measures CPU time (kernel included) on a machine whose speed drifts.
#
# perf/src/bin/load_target.rs runs under callgrind; after a warm-up, its
# counters are zeroed, a client sends REQUESTS requests one after another on
# one keep-alive connection to 127.0.0.1, and the counters are dumped. What
# the server ran (hyper, axum, tokio, the layer; not the kernel) divided by
# the requests is the cost of one.
#
#   perf/scripts/callgrind_e2e.sh                      # off, on, on-304 on /json/1k
#   MODES="on on-304" REQUESTS=5000 perf/scripts/callgrind_e2e.sh
#   SERVER=peer_actix perf/scripts/callgrind_e2e.sh    # a Rust peer of perf/peers/
#
# SERVER=peer_actix or peer_axum_etag_cache counts a peer instead, with its
# middleware off or on (modes off, on, on-304), serving load_target's bytes.
#
# Modes: off, on, no-memo, hand-rolled, on-304, on-stale and off-empty as in
# pinned_ab.sh (on-304: layer on, every request revalidates with the ETag of a
# first GET, so every answer is a 304; on-stale: the same request with a tag
# that does not match, so a 200; off-empty: no layer, /json/0, the fields of
# /json/1k but Content-Length, without a body), and identity (a layer that does nothing: what any layer
# costs in axum). pinned_ab.sh's manual and in-handler are routes, not modes
# here: ROUTE=manual, ROUTE=in-handler/json.
# Needs valgrind (callgrind_control), curl and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

DOC=${DOC:-1k}
ROUTE=${ROUTE:-json}
MODES=${MODES:-off on on-304}
SERVER=${SERVER:-load_target}
REQUESTS=${REQUESTS:-3000}
WARMUP=${WARMUP:-300}
PORT=${PORT:-3960}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"

TARGET=${CARGO_TARGET_DIR:-target}
cargo build --quiet --release -p tower-conditional-perf --bin load_target
case $SERVER in
  load_target) known="off on no-memo hand-rolled identity on-304 on-stale off-empty" ;;
  peer_actix | peer_axum_etag_cache) known="off on on-304" ;;
  *) echo "unknown SERVER $SERVER" >&2; exit 2 ;;
esac
for mode in $MODES; do
  [[ " $known " == *" $mode "* ]] || { echo "$SERVER has no mode $mode" >&2; exit 2; }
done

pid=
# The server under callgrind goes when the script does, however it ends.
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; true' EXIT

if [ "$SERVER" != load_target ]; then
  # perf/peers is a workspace of its own; the peers serve load_target's bytes.
  cargo build --quiet --release --manifest-path perf/peers/Cargo.toml --target-dir "$TARGET" --bins
  mkdir -p "$OUT/payloads"
  LAYER=off ADDR=127.0.0.1:$PORT "$TARGET/release/load_target" >"$OUT/payloads.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -s -o "$OUT/payloads/1k.json" "http://127.0.0.1:$PORT/json/1k" && break
    sleep 0.1
  done
  curl -s -o "$OUT/payloads/1m.json" "http://127.0.0.1:$PORT/json/1m"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
fi

# Sends `count` GETs of `path` on one connection, each read to its end.
send() {
  python3 - "$PORT" "$path" "$1" "${2:-}" <<'EOF'
import http.client, sys
port, path, count, etag = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
headers = {"If-None-Match": etag} if etag else {}
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
statuses = set()
for _ in range(count):
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    statuses.add(response.status)
connection.close()
print(" ".join(str(status) for status in sorted(statuses)))
EOF
}

# revalidating_tag() and the check that off-empty has a counterpart.
source perf/scripts/revalidation.sh

for mode in $MODES; do
  layer=$mode path=/$ROUTE/$DOC
  if [ "$mode" = on-304 ] || [ "$mode" = on-stale ]; then layer=on; fi
  if [ "$mode" = off-empty ]; then layer=off path=/json/0; fi
  LAYER=$layer MIDDLEWARE=$layer PAYLOADS=$OUT/payloads ADDR=127.0.0.1:$PORT \
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$mode.%p.out" \
    "$TARGET/release/$SERVER" >"$OUT/$mode.log" 2>&1 &
  pid=$!
  # Ours, not another server on the port: it says so once it listens.
  for _ in $(seq 300); do
    grep -q '^listening on' "$OUT/$mode.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! grep -q '^listening on' "$OUT/$mode.log" || ! kill -0 "$pid" 2>/dev/null; then
    echo "$SERVER ($mode) did not start on 127.0.0.1:$PORT; its log:" >&2
    cat "$OUT/$mode.log" >&2
    exit 1
  fi
  etag=$(revalidating_tag "$mode" "http://127.0.0.1:$PORT$path")
  send "$WARMUP" "$etag" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  statuses=$(send "$REQUESTS" "$etag")
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  # The one dump asked for is part 1; the file without a part number holds
  # what ran after it, until the server stopped.
  dump=$OUT/$mode.$pid.out.1
  pid=
  total=$(awk '/^summary:/ {print $2}' "$dump")
  python3 -c "print('%s %-8s %s: %.0f Ir/request (%s requests, statuses %s)' % ('$SERVER', '$mode', '$path', $total / $REQUESTS, $REQUESTS, '$statuses'))"
done
echo "profiles in $OUT"
