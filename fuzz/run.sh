#!/usr/bin/env bash
# Runs every cargo-fuzz target of tower-conditional for a fixed time each.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     # default: 30 s, all targets
#
# Installs cargo-fuzz from crates.io when it is missing. Works with the
# stable toolchain:
#   FUZZ_SANITIZER=none     (default) libFuzzer with coverage instrumentation
#                           only; needs no unstable flag.
#   FUZZ_SANITIZER=address  AddressSanitizer too; it needs -Zsanitizer, which
#                           stable rustc accepts with RUSTC_BOOTSTRAP=1 (set
#                           here unless the toolchain is a nightly).
# Other setting: FUZZ_MAX_LEN (libFuzzer -max_len, default libFuzzer's own).
#
# New corpus entries go to fuzz/corpus/<target>/ (ignored by git, except the
# seed-* files); crashes go to fuzz/artifacts/<target>/. Exits non-zero when
# any target crashed, after running all of them.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
seconds="${1:-30}"
if [ "$#" -gt 0 ]; then shift; fi
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(entity_tag_list http_date preconditions range response_fields)
fi
case "$seconds" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --version '^0.13' --locked
fi

sanitizer="${FUZZ_SANITIZER:-none}"
if [ "$sanitizer" != none ] && ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

cd "$root"
echo "== building (sanitizer: $sanitizer)"
for target in "${targets[@]}"; do
    cargo fuzz build --sanitizer "$sanitizer" "$target"
done

logs="$here/target/run-logs"
mkdir -p "$logs"
failed=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    log="$logs/$target.log"
    echo "== $target: ${seconds}s"
    extra=()
    if [ -n "${FUZZ_MAX_LEN:-}" ]; then extra+=("-max_len=$FUZZ_MAX_LEN"); fi
    if cargo fuzz run --sanitizer "$sanitizer" "$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 "${extra[@]}" \
        >"$log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
        echo "   corpus: $(find "fuzz/corpus/$target" -type f | wc -l) files"
    else
        failed+=("$target")
        echo "!! $target FAILED; last lines of $log:"
        tail -n 60 "$log"
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "== crashed: ${failed[*]} (reproducers in fuzz/artifacts/)"
    exit 1
fi
echo "== all targets ran ${seconds}s without a crash"
