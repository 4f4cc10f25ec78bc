#!/usr/bin/env bash
# End-to-end load on loopback: perf/src/bin/load_target.rs with and without
# ConditionalLayer, its hand-written SHA-256 route, and Express 5 with its
# default ETag, serving the same 1 KiB and 1 MiB JSON; then the server's memory
# under 64 concurrent 8 MiB streamed responses and one 1 GiB streamed response.
#
#   perf/scripts/load.sh                      # everything, about 4 minutes
#   DURATION=10 REPEAT=3 perf/scripts/load.sh # longer runs, more repetitions
#   PARTS=load perf/scripts/load.sh           # only the throughput part
#   PARTS=memory perf/scripts/load.sh         # only the memory part
#   PARTS=peers perf/scripts/load.sh          # the Rust peers (not in the default)
#
# PARTS=peers sets the layer beside the other Rust ETag middlewares, each
# against its own framework without it: actix-web 4 + actix-middleware-etag
# and axum 0.6 + tower-etag-cache (perf/peers/, a workspace of its own, built
# here on first use), with curl checks of what each answers before the load.
#
# Needs: wrk (apt-get install -y wrk), node and npm (Express is installed from
# perf/express/package-lock.json on first use), python3, curl; taskset for
# PARTS=peers on two CPUs or more.
#
# Every run is `wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s` against servers
# on 127.0.0.1 only. The cases are run round-robin, REPEAT times, so that the
# other work of a shared machine spreads over all of them; the tables give the
# median of the repetitions and their spread (min..max). Results (raw lines
# and the Markdown tables) go to $OUT (default target/load/ of the workspace,
# or $CARGO_TARGET_DIR/load/).
set -euo pipefail
cd "$(dirname "$0")/../.."

THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-5}
REPEAT=${REPEAT:-2}
PARTS=${PARTS:-load memory}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET/load}
BASE_PORT=${BASE_PORT:-3910}

PORT_ON=$((BASE_PORT + 1))
PORT_OFF=$((BASE_PORT + 2))
PORT_EXPRESS=$((BASE_PORT + 3))
PORT_MEM=$((BASE_PORT + 4))
PORT_ACTIX_ON=$((BASE_PORT + 5))
PORT_ACTIX_OFF=$((BASE_PORT + 6))
PORT_TEC_ON=$((BASE_PORT + 7))
PORT_TEC_OFF=$((BASE_PORT + 8))

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "load.sh: $tool is missing" >&2; exit 1; }
done

mkdir -p "$OUT"
RAW="$OUT/raw.tsv"
MEM="$OUT/memory.tsv"
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_ready() { # url
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "load.sh: $1 did not come up" >&2
  exit 1
}

etag_of() { # url
  curl -s -D - -o /dev/null "$1" | tr -d '\r' | awk 'tolower($1) == "etag:" { print $2 }'
}

status_of() { # url [if-none-match]
  if [ -n "${2:-}" ]; then
    curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $2" "$1"
  else
    curl -s -o /dev/null -w '%{http_code}' "$1"
  fi
}

start_rust() { # layer port -> pid in $STARTED
  LAYER=$1 ADDR=127.0.0.1:$2 "$TARGET/release/load_target" >"$WORK/server-$2.log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
  wait_ready "http://127.0.0.1:$2/json/1k"
}

stop() { # pid: one of ours, then forgotten so that cleanup never reuses it
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() pid
  for pid in "${PIDS[@]:-}"; do
    [ "$pid" != "$1" ] && [ -n "$pid" ] && kept+=("$pid")
  done
  PIDS=("${kept[@]:-}")
}

kib_of() { # pid field
  awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"
}

echo "== build"
cargo build --release -p tower-conditional-perf --bin load_target 2>&1 | tail -1

echo "== machine"
echo "nproc: $(nproc); $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2 }'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $REPEAT repetitions, round-robin"

if [[ " $PARTS " == *" load "* ]]; then
  command -v node >/dev/null || { echo "load.sh: node is missing" >&2; exit 1; }
  if [ ! -d perf/express/node_modules/express ]; then
    (cd perf/express && npm ci --no-audit --no-fund >/dev/null)
  fi

  echo "== servers"
  start_rust on "$PORT_ON"
  start_rust off "$PORT_OFF"
  mkdir -p "$WORK/payloads"
  curl -s -o "$WORK/payloads/1k.json" "http://127.0.0.1:$PORT_OFF/json/1k"
  curl -s -o "$WORK/payloads/1m.json" "http://127.0.0.1:$PORT_OFF/json/1m"
  PORT=$PORT_EXPRESS PAYLOADS="$WORK/payloads" node perf/express/server.js >"$WORK/express.log" 2>&1 &
  PIDS+=("$!")
  wait_ready "http://127.0.0.1:$PORT_EXPRESS/json/1k"
  head -1 "$WORK/express.log"

  # name | server | url | If-None-Match
  : >"$WORK/cases"
  for size in 1k 1m; do
    on="http://127.0.0.1:$PORT_ON/json/$size"
    off="http://127.0.0.1:$PORT_OFF/json/$size"
    manual="http://127.0.0.1:$PORT_OFF/manual/$size"
    express="http://127.0.0.1:$PORT_EXPRESS/json/$size"
    tag_on=$(etag_of "$on")
    tag_manual=$(etag_of "$manual")
    tag_express=$(etag_of "$express")
    [ -z "$(etag_of "$off")" ] || { echo "load.sh: LAYER=off sent an ETag" >&2; exit 1; }
    for check in "$on|$tag_on" "$manual|$tag_manual" "$express|$tag_express"; do
      url=${check%%|*}
      tag=${check#*|}
      [ "$(status_of "$url")" = 200 ] || { echo "load.sh: $url is not 200" >&2; exit 1; }
      [ "$(status_of "$url" "$tag")" = 304 ] || { echo "load.sh: $url with $tag is not 304" >&2; exit 1; }
    done
    {
      echo "$size|200|layer off|$off|"
      echo "$size|200|layer on|$on|"
      echo "$size|200|manual SHA-256|$manual|"
      echo "$size|200|Express 5|$express|"
      echo "$size|304|layer on|$on|$tag_on"
      echo "$size|304|manual SHA-256|$manual|$tag_manual"
      echo "$size|304|Express 5|$express|$tag_express"
    } >>"$WORK/cases"
  done
  # Other bytes on every request (the memo of recent bodies never has them).
  fresh_on="http://127.0.0.1:$PORT_ON/fresh/1k"
  fresh_off="http://127.0.0.1:$PORT_OFF/fresh/1k"
  [ "$(status_of "$fresh_on")" = 200 ] || { echo "load.sh: $fresh_on is not 200" >&2; exit 1; }
  [ "$(etag_of "$fresh_on")" != "$(etag_of "$fresh_on")" ] \
    || { echo "load.sh: $fresh_on served the same bytes twice" >&2; exit 1; }
  {
    echo "1k|200|layer off, new bytes|$fresh_off|"
    echo "1k|200|layer on, new bytes|$fresh_on|"
  } >>"$WORK/cases"

  echo "== load"
  printf 'rep\tsize\tstatus\tserver\trps\tp50_us\tp90_us\tp99_us\tmax_us\tbytes_per_response\trequests\terrors\tbad_status\n' >"$RAW"
  for rep in $(seq 1 "$REPEAT"); do
    while IFS='|' read -r size status server url tag; do
      line=$(INM="$tag" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
        -s perf/scripts/wrk_report.lua "$url" | grep '^RESULT')
      fields=$(echo "$line" | sed 's/^RESULT //' | tr ' ' '\n' | cut -d= -f2 | paste -sd '\t')
      printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$size" "$status" "$server" "$fields" >>"$RAW"
      printf '  rep %s  %-3s %s %-15s %s\n' "$rep" "$size" "$status" "$server" "${line#RESULT }"
    done <"$WORK/cases"
  done

  python3 - "$RAW" <<'PY' | tee "$OUT/load.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
groups = {}
for r in rows:
    groups.setdefault((r["size"], r["status"], r["server"]), []).append(r)
def med(key, rs):
    return statistics.median(float(r[key]) for r in rs)
def spread(key, rs):
    vals = [float(r[key]) for r in rs]
    return f"{min(vals):,.0f}..{max(vals):,.0f}"
print("### Throughput and latency (median of repetitions; spread = min..max)\n")
print("| size | status | server | req/s | spread | p50 µs | p90 µs | p99 µs | bytes/response | errors |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for (size, status, server), rs in groups.items():
    errors = sum(int(r["errors"]) + int(r["bad_status"]) for r in rs)
    print(f"| {size} | {status} | {server} | {med('rps', rs):,.0f} | {spread('rps', rs)} "
          f"| {med('p50_us', rs):,.0f} | {med('p90_us', rs):,.0f} | {med('p99_us', rs):,.0f} "
          f"| {med('bytes_per_response', rs):,.1f} | {errors} |")
print()
def rps(size, status, server):
    rs = groups.get((size, status, server))
    return med("rps", rs) if rs else None
def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"
print("### Ratios (req/s; each against ours, median of repetitions)\n")
print("| comparison | 1 KiB | 1 MiB | target |")
print("|---|---:|---:|---|")
lines = [
    ("200s: layer on / layer off", lambda s: ratio(rps(s, "200", "layer on"), rps(s, "200", "layer off")), ">= 0.9 (1 KiB)"),
    ("200s, other bytes every request: layer on / layer off", lambda s: ratio(rps(s, "200", "layer on, new bytes"), rps(s, "200", "layer off, new bytes")), ">= 0.9 (1 KiB)"),
    ("304s with the layer / 200s with the layer (unconditioned)", lambda s: ratio(rps(s, "304", "layer on"), rps(s, "200", "layer on")), ">= 1"),
    ("304s with the layer / 200s without the layer", lambda s: ratio(rps(s, "304", "layer on"), rps(s, "200", "layer off")), ">= 1"),
    ("200s: manual SHA-256 / layer on", lambda s: ratio(rps(s, "200", "manual SHA-256"), rps(s, "200", "layer on")), ""),
    ("304s: manual SHA-256 / layer on", lambda s: ratio(rps(s, "304", "manual SHA-256"), rps(s, "304", "layer on")), ""),
    ("200s: Express 5 / layer on", lambda s: ratio(rps(s, "200", "Express 5"), rps(s, "200", "layer on")), ""),
    ("304s: Express 5 / layer on", lambda s: ratio(rps(s, "304", "Express 5"), rps(s, "304", "layer on")), ""),
]
for name, f, target in lines:
    print(f"| {name} | {f('1k')} | {f('1m')} | {target} |")
print()
wire = [(k, med("bytes_per_response", rs)) for k, rs in groups.items() if k[1] == "304"]
print("### A 304 on the wire (status line + headers, no body; target <= 300 bytes)\n")
print("| size | server | bytes |")
print("|---|---|---:|")
for (size, _, server), b in wire:
    print(f"| {size} | {server} | {b:.0f} |")
print()
PY
  for pid in "${PIDS[@]}"; do stop "$pid"; done
fi

if [[ " $PARTS " == *" memory "* ]]; then
  echo "== memory (RSS of the server process, /proc/PID/status)"
  printf 'layer\tcase\tbaseline_rss_kib\tpeak_hwm_kib\tgrowth_kib\tbound_kib\n' >"$MEM"
  CAP_KIB=$((4 * 1024)) # ConditionalLayer::new(): DEFAULT_MAX_HASHED_BODY_SIZE
  measure() { # layer case bound_kib command...
    local layer=$1 case=$2 bound=$3 pid base peak
    shift 3
    start_rust "$layer" "$PORT_MEM"
    pid=$STARTED
    curl -s -o /dev/null "http://127.0.0.1:$PORT_MEM/json/1k" # warm up
    base=$(kib_of "$pid" VmRSS)
    "$@"
    peak=$(kib_of "$pid" VmHWM)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$layer" "$case" "$base" "$peak" $((peak - base)) "$bound" >>"$MEM"
    stop "$pid"
  }
  fast_clients() { # wrk keeps 64 connections busy, reading as fast as it can
    wrk -t"$THREADS" -c64 -d"${DURATION}s" -s perf/scripts/wrk_report.lua \
      "http://127.0.0.1:$PORT_MEM/stream/8m" | grep '^RESULT' | sed 's/^RESULT/  64 x 8 MiB, wrk:/'
  }
  paced_clients() { # the same, but the 64 responses are read (and held) side by side
    wrk -t"$THREADS" -c64 -d"${DURATION}s" -s perf/scripts/wrk_report.lua \
      "http://127.0.0.1:$PORT_MEM/paced/8m" | grep '^RESULT' | sed 's/^RESULT/  64 x 8 MiB paced, wrk:/'
  }
  one_gib() {
    curl -s -o /dev/null -w '  1 GiB: %{http_code} %{size_download} bytes in %{time_total} s\n' \
      "http://127.0.0.1:$PORT_MEM/stream/1g"
  }
  for layer in on off; do
    measure "$layer" "64 concurrent 8 MiB streams" $((CAP_KIB * 64)) fast_clients
    measure "$layer" "64 concurrent 8 MiB paced streams" $((CAP_KIB * 64)) paced_clients
    measure "$layer" "one 1 GiB stream" "$CAP_KIB" one_gib
  done
  python3 - "$MEM" <<'PY' | tee "$OUT/memory.md"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("### Memory of the server (KiB; peak = VmHWM after the run, baseline = VmRSS before it)\n")
print("| layer | case | baseline RSS | peak RSS | growth | cap x concurrency | growth - cap x concurrency |")
print("|---|---|---:|---:|---:|---:|---:|")
for r in rows:
    growth, bound = int(r["growth_kib"]), int(r["bound_kib"])
    print(f"| {r['layer']} | {r['case']} | {int(r['baseline_rss_kib']):,} | {int(r['peak_hwm_kib']):,} "
          f"| {growth:,} | {bound:,} | {growth - bound:+,} |")
print()
PY
fi

if [[ " $PARTS " == *" peers "* ]]; then
  echo "== peers: build (perf/peers, its own workspace and Cargo.lock)"
  # Into the same target directory as load_target, where `serve` finds them
  # (perf/peers is a workspace of its own, which would build into its own).
  cargo build --release --manifest-path perf/peers/Cargo.toml --target-dir "$TARGET" --bins 2>&1 | tail -1
  PEERS_RAW="$OUT/peers-raw.tsv"

  # With two CPUs or more, every server runs on CPU 1 (one worker thread: tokio
  # and actix both size their pools from the CPUs they may use) and wrk, one
  # thread, on CPU 0, so that load and server do not take each other's time.
  # Only one server is under load at a time; the others idle on CPU 1.
  PIN_SERVER=()
  PIN_LOAD=()
  PEER_THREADS=${PEER_THREADS:-$THREADS}
  if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    PIN_SERVER=(taskset -c "${SERVER_CPU:-1}")
    PIN_LOAD=(taskset -c "${LOAD_CPU:-0}")
    PEER_THREADS=${PEER_THREADS_PINNED:-1}
    echo "servers pinned to CPU ${SERVER_CPU:-1}, wrk -t$PEER_THREADS to CPU ${LOAD_CPU:-0}"
  else
    echo "not pinned (one CPU or no taskset): servers and wrk share the CPUs"
  fi

  declare -A SERVER_PID # port -> pid (taskset and env exec the server: one pid)
  serve() { # port binary env-assignment...
    local port=$1 binary=$2
    shift 2
    "${PIN_SERVER[@]}" env ADDR="127.0.0.1:$port" "$@" "$TARGET/release/$binary" \
      >"$WORK/server-$port.log" 2>&1 &
    PIDS+=("$!")
    SERVER_PID[$port]=$!
    wait_ready "http://127.0.0.1:$port/json/1k"
    head -1 "$WORK/server-$port.log"
  }
  # The peers serve the bytes load_target serves: the files are its own.
  serve "$PORT_OFF" load_target LAYER=off
  mkdir -p "$WORK/payloads"
  curl -s -o "$WORK/payloads/1k.json" "http://127.0.0.1:$PORT_OFF/json/1k"
  curl -s -o "$WORK/payloads/1m.json" "http://127.0.0.1:$PORT_OFF/json/1m"
  serve "$PORT_ON" load_target LAYER=on
  serve "$PORT_ACTIX_ON" peer_actix MIDDLEWARE=on PAYLOADS="$WORK/payloads"
  serve "$PORT_ACTIX_OFF" peer_actix MIDDLEWARE=off PAYLOADS="$WORK/payloads"
  serve "$PORT_TEC_ON" peer_axum_etag_cache MIDDLEWARE=on PAYLOADS="$WORK/payloads"
  serve "$PORT_TEC_OFF" peer_axum_etag_cache MIDDLEWARE=off PAYLOADS="$WORK/payloads"
  for port in "$PORT_ACTIX_OFF" "$PORT_TEC_OFF"; do
    for size in 1k 1m; do
      cmp -s "$WORK/payloads/$size.json" <(curl -s "http://127.0.0.1:$port/json/$size") \
        || { echo "load.sh: port $port does not serve load_target's /json/$size" >&2; exit 1; }
    done
  done

  # middleware | framework | port with | port without
  MIDDLEWARES=(
    "tower-conditional|axum 0.8|$PORT_ON|$PORT_OFF"
    "actix-middleware-etag 0.5|actix-web 4|$PORT_ACTIX_ON|$PORT_ACTIX_OFF"
    "tower-etag-cache 0.1|axum 0.6|$PORT_TEC_ON|$PORT_TEC_OFF"
  )

  echo "== peers: what each middleware answers (curl)"
  header_of() { # url header [if-none-match]
    local inm=()
    [ -n "${3:-}" ] && inm=(-H "If-None-Match: $3")
    curl -s -D - -o /dev/null "${inm[@]}" "$1" | tr -d '\r' \
      | awk -v name="$(echo "$2" | tr 'A-Z' 'a-z'):" 'tolower($1) == name { $1 = ""; sub(/^ /, ""); print; exit }'
  }
  yes_no() { [ -n "$1" ] && echo yes || echo no; }
  {
    echo "### What each middleware answers (curl, before the load)"
    echo
    echo "| middleware | ETag of /json/1k | quoted (RFC 9110 §8.8.3) | 304 repeats ETag (§15.4.5) | 304 repeats Cache-Control (§15.4.5) | old tag after a change: 200 (a 304 is stale) | \`If-None-Match: *\` on a 404: 404 | \`If-None-Match: *\` on a 200: 304 (§13.1.2) | the tag second in a list: 304 |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for entry in "${MIDDLEWARES[@]}"; do
      IFS='|' read -r name _ port _ <<<"$entry"
      base="http://127.0.0.1:$port"
      tag=$(etag_of "$base/json/1k")
      quoted=no
      [[ "$tag" =~ ^(W/)?\"[^\"]*\"$ ]] && quoted=yes
      cached_tag=$(etag_of "$base/cached/1k")
      [ -n "$(header_of "$base/cached/1k" Cache-Control)" ] \
        || { echo "load.sh: $base/cached/1k has no Cache-Control" >&2; exit 1; }
      not_modified=$(status_of "$base/cached/1k" "$cached_tag")
      etag_304=$(yes_no "$(header_of "$base/cached/1k" ETag "$cached_tag")")
      cc_304=$(yes_no "$(header_of "$base/cached/1k" Cache-Control "$cached_tag")")
      old=$(etag_of "$base/changing")
      after_change=$(status_of "$base/changing" "$old")
      star_404=$(status_of "$base/missing" '*')
      star_200=$(status_of "$base/json/1k" '*')
      listed=$(status_of "$base/json/1k" "\"other\", $tag")
      echo "| $name | \`$tag\` | $quoted | $etag_304 ($not_modified) | $cc_304 ($not_modified) | $after_change | $star_404 | $star_200 | $listed |"
    done
    echo
  } | tee "$OUT/peers-checks.md"

  # size | status | middleware | with or without | url | If-None-Match
  : >"$WORK/peer-cases"
  for size in 1k 1m; do
    for entry in "${MIDDLEWARES[@]}"; do
      IFS='|' read -r name _ port_on port_off <<<"$entry"
      on="http://127.0.0.1:$port_on/json/$size"
      off="http://127.0.0.1:$port_off/json/$size"
      tag=$(etag_of "$on")
      [ -n "$tag" ] || { echo "load.sh: $on sent no ETag" >&2; exit 1; }
      [ -z "$(etag_of "$off")" ] || { echo "load.sh: $off (no middleware) sent an ETag" >&2; exit 1; }
      [ "$(status_of "$on" "$tag")" = 304 ] || { echo "load.sh: $on with $tag is not 304" >&2; exit 1; }
      {
        echo "$size|200|$name|without|$off|"
        echo "$size|200|$name|with|$on|"
        echo "$size|304|$name|with|$on|$tag"
      } >>"$WORK/peer-cases"
    done
  done

  # Besides req/s, the server's CPU time (utime + stime, /proc/PID/stat) per
  # request, as pinned_ab.sh measures it: on a shared machine the time the
  # server gets varies from run to run, what it spends per request much less.
  echo "== peers: load"
  TICKS=$(getconf CLK_TCK)
  cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
  printf 'rep\tsize\tstatus\tmiddleware\tvariant\trps\tp50_us\tp90_us\tp99_us\tmax_us\tbytes_per_response\trequests\terrors\tbad_status\tcpu_us_per_request\n' >"$PEERS_RAW"
  for rep in $(seq 1 "$REPEAT"); do
    while IFS='|' read -r size status name variant url tag; do
      port=${url#http://127.0.0.1:}
      pid=${SERVER_PID[${port%%/*}]}
      before=$(cpu_ticks "$pid")
      line=$(INM="$tag" "${PIN_LOAD[@]}" wrk -t"$PEER_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
        -s perf/scripts/wrk_report.lua "$url" | grep '^RESULT')
      after=$(cpu_ticks "$pid")
      requests=$(echo "$line" | tr ' ' '\n' | awk -F= '$1 == "requests" { print $2 }')
      cpu=$(python3 -c "print(round(($after - $before) / $TICKS * 1e6 / max($requests, 1), 2))")
      fields=$(echo "$line" | sed 's/^RESULT //' | tr ' ' '\n' | cut -d= -f2 | paste -sd '\t')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$size" "$status" "$name" "$variant" "$fields" "$cpu" >>"$PEERS_RAW"
      printf '  rep %s  %-3s %s %-26s %-7s %s cpu_us=%s\n' "$rep" "$size" "$status" "$name" "$variant" "${line#RESULT }" "$cpu"
    done <"$WORK/peer-cases"
  done

  python3 - "$PEERS_RAW" <<'PY' | tee "$OUT/peers.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
groups, by_rep = {}, {}
for r in rows:
    key = (r["size"], r["status"], r["middleware"], r["variant"])
    groups.setdefault(key, []).append(r)
    by_rep[key + (r["rep"],)] = r
def med(key, rs):
    return statistics.median(float(r[key]) for r in rs)
def spread(key, rs):
    vals = [float(r[key]) for r in rs]
    return f"{min(vals):,.0f}..{max(vals):,.0f}" if key == "rps" else f"{min(vals):.1f}..{max(vals):.1f}"
frameworks = {"tower-conditional": "axum 0.8", "actix-middleware-etag 0.5": "actix-web 4",
              "tower-etag-cache 0.1": "axum 0.6"}
print("### Every case (median of repetitions; spread = min..max)\n")
print("| size | status | framework | middleware | req/s | spread | server CPU µs/request | spread | p50 µs | p99 µs | bytes/response | errors |")
print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for (size, status, name, variant), rs in groups.items():
    errors = sum(int(r["errors"]) + int(r["bad_status"]) for r in rs)
    print(f"| {size} | {status} | {frameworks[name]} | {name if variant == 'with' else 'none'} "
          f"| {med('rps', rs):,.0f} | {spread('rps', rs)} "
          f"| {med('cpu_us_per_request', rs):.1f} | {spread('cpu_us_per_request', rs)} "
          f"| {med('p50_us', rs):,.0f} | {med('p99_us', rs):,.0f} "
          f"| {med('bytes_per_response', rs):,.1f} | {errors} |")
print()
def ratios(size, status, name, key):
    """Per repetition: the case with the middleware over the same
    framework's bare 200 of the same round, run just before it."""
    out = []
    for r in groups.get((size, status, name, "with"), []):
        bare = by_rep.get((size, "200", name, "without", r["rep"]))
        if bare and float(bare[key]) > 0:
            out.append(float(r[key]) / float(bare[key]))
    return out
def cell(size, status, name, key):
    rs = ratios(size, status, name, key)
    return statistics.median(rs), f"{min(rs):.2f}..{max(rs):.2f}"
peers = ["actix-middleware-etag 0.5", "tower-etag-cache 0.1"]
for key, title, better, verdict in [
    ("rps", "req/s", "higher is better", "ours >= peer"),
    ("cpu_us_per_request", "server CPU per request", "lower is better", "ours <= peer"),
]:
    print(f"### Each middleware against its own framework without it: {title}\n")
    print(f"ratio = {title} with the middleware / {title} of the same framework and routes without "
          "it answering 200s (a 304 is set against the bare 200 it saves), taken in each "
          f"repetition and then the median (spread = min..max over repetitions); {better}. "
          f"The {title} columns are medians.\n")
    print(f"| size | status | ours (axum 0.8 + tower-conditional) {title} | ratio | spread |"
          + "".join(f" {frameworks[p]} + {p} {title} | ratio | spread | {verdict} |" for p in peers))
    print("|---|---|---:|---:|---:|" + "---:|---:|---:|---|" * len(peers))
    fmt = (lambda v: f"{v:,.0f}") if key == "rps" else (lambda v: f"{v:.1f}")
    for size in ("1k", "1m"):
        for status in ("200", "304"):
            ours = med(key, groups[(size, status, "tower-conditional", "with")])
            ours_ratio, ours_spread = cell(size, status, "tower-conditional", key)
            line = f"| {size} | {status} | {fmt(ours)} | {ours_ratio:.2f} | {ours_spread} |"
            for p in peers:
                value = med(key, groups[(size, status, p, "with")])
                r, sp = cell(size, status, p, key)
                ok = ours_ratio >= r if key == "rps" else ours_ratio <= r
                line += f" {fmt(value)} | {r:.2f} | {sp} | {'yes' if ok else 'no'} ({ours_ratio - r:+.2f}) |"
            print(line)
    print()
PY
  for pid in "${PIDS[@]}"; do stop "$pid"; done
fi
