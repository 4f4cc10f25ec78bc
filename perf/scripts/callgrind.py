#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: a noise-free companion to
the criterion timings of benches/layer.rs on a shared, busy machine.

For each benchmark it runs the bench binary under
`valgrind --tool=callgrind` with criterion's `--profile-time` (iterations
without analysis), then divides the inclusive instruction count (Ir) of one
function by the number of times it was called:

- `tokio::runtime::context::runtime::enter_runtime` (under
  `Runtime::block_on`, which is sometimes inlined) for the `bare` and `layer`
  benchmarks: one call per request, including the runtime, the service,
  `oneshot` and `collect`;
- `blake3::hash` for the `blake3` benchmarks.

`layer - bare` is then the layer's instructions per request, and dividing it
by blake3's gives the instruction-count version of the criterion ratio.
Instructions are not time (blake3's SIMD code does more per instruction than
the layer's bookkeeping), so these ratios are a cross-check and a profile,
not the targets.

    python3 perf/scripts/callgrind.py                    # the default set below
    python3 perf/scripts/callgrind.py '200_1KiB_x1'      # groups to profile
    python3 perf/scripts/callgrind.py --keep /tmp/cg     # keep the profiles to read
                                                         # with callgrind_annotate

Needs valgrind; the bench is built with
`cargo bench -p tower-conditional --bench layer --no-run` unless --binary names one.
"""

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# The workspace root: this file is perf/scripts/callgrind.py.
REPO = Path(__file__).resolve().parents[2]

DEFAULT_GROUPS = [
    "200_0B_x1", "200_128B_x1", "200_1KiB_x1", "200_16KiB_x1",
    "200_128B_x64", "200_1KiB_x64", "200_16KiB_x64",
    "304_1KiB", "handler_etag_1KiB", "if_none_match_1KiB", "passthrough_1KiB",
]

# Bodies of up to 16 KiB in 64 chunks: gathered whole, so the memo answers
# them; `layer_no_memo` hashes every one.
GATHERED = ["200_128B_x64", "200_1KiB_x64", "200_16KiB_x64"]

FUNCTIONS = {
    "200": ["bare", "layer", "blake3"],
    "304_1KiB": ["bare", "layer_hashed", "bare_handler_etag", "layer_handler_etag"],
    "handler_etag_1KiB": ["bare", "layer"],
    "if_none_match_1KiB": ["bare_1_tag", "layer_1_tag", "bare_1_tag_no_match",
                           "layer_1_tag_no_match", "bare_100_tags", "layer_100_tags",
                           "bare_100_tags_no_match", "layer_100_tags_no_match"],
    "browser_1KiB": ["bare_200", "layer_200", "bare_304", "layer_304"],
    "passthrough_1KiB": ["bare_post", "layer_post", "bare_404", "layer_404"],
}


def bench_binary():
    out = subprocess.run(
        ["cargo", "bench", "-p", "tower-conditional", "--bench", "layer", "--no-run",
         "--message-format=json"],
        cwd=REPO, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        match = re.search(r'"executable":"([^"]+/layer-[0-9a-f]+)"', line)
        if match:
            return match.group(1)
    sys.exit("could not find the bench binary")


def per_call(profile, function):
    """Inclusive Ir per call of `function` in a callgrind profile."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--tree=caller", "--threshold=100", profile],
        check=True, capture_output=True, text=True).stdout
    lines = text.splitlines()
    target = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+\*\s+\S*:" + re.escape(function) + r" \[")
    for i, line in enumerate(lines):
        match = target.match(line)
        if not match:
            continue
        inclusive = int(match.group(1).replace(",", ""))
        calls = 0
        j = i - 1
        while j >= 0 and "<" in lines[j]:
            count = re.search(r"\(([\d,]+)x\)", lines[j])
            if count:
                calls += int(count.group(1).replace(",", ""))
            j -= 1
        return inclusive / calls if calls else None
    return None


def profile(binary, group, function, keep):
    out = Path(keep or tempfile.mkdtemp()) / f"callgrind.{group}.{function}"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         # Count only inside criterion's measurement loop: the set-up of the
         # other groups (payloads, checks) runs too, and must not be counted.
         "--collect-atstart=no", "--toggle-collect=criterion::bencher::Bencher*::iter*",
         binary,
         "--bench", "--profile-time", "1", f"^{group}/{function}$"],
        check=True, capture_output=True, cwd="/tmp")
    if function == "blake3":
        return per_call(str(out), "blake3::hash")
    # One call per request; the compiler inlines `Runtime::block_on` into
    # some call sites, never `enter_runtime` under it.
    return per_call(str(out), "tokio::runtime::context::runtime::enter_runtime")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", default=DEFAULT_GROUPS)
    parser.add_argument("--keep", help="directory to keep the callgrind profiles in")
    parser.add_argument("--binary", help="a bench binary to profile (default: build "
                                         "benches/layer.rs of this checkout)")
    args = parser.parse_args()
    binary = args.binary or bench_binary()
    results = {}
    for group in args.groups:
        functions = FUNCTIONS.get(group, FUNCTIONS["200"] if group.startswith("200_") else [])
        if group.endswith("_fresh") or group in GATHERED:
            functions = functions + ["layer_no_memo"]
        if group.endswith("_fresh"):
            functions = functions + ["set_header", "hand_rolled"]
        for function in functions:
            results[(group, function)] = profile(binary, group, function, args.keep)
            print(f"  {group}/{function}: {results[(group, function)]:,.0f} Ir",
                  file=sys.stderr)

    print("### Instructions per request (callgrind; enter_runtime inclusive / calls)\n")
    print("| group | bare | layer | layer - bare | blake3::hash | (layer - bare) / blake3 |")
    print("|---|---:|---:|---:|---:|---:|")
    for group in args.groups:
        if not group.startswith("200_"):
            continue
        bare, layer, b3 = (results.get((group, f)) for f in ("bare", "layer", "blake3"))
        if bare is None or layer is None or b3 is None:
            continue
        print(f"| {group} | {bare:,.0f} | {layer:,.0f} | {layer - bare:,.0f} | {b3:,.0f} "
              f"| {(layer - bare) / b3:.2f} |")
    print()
    gathered = [g for g in args.groups if g in GATHERED and (g, "layer_no_memo") in results]
    if gathered:
        print("| group (same bytes every request) | layer - bare, memo off (hashed) "
              "| blake3::hash | (layer - bare) / blake3, memo off |")
        print("|---|---:|---:|---:|")
        for group in gathered:
            bare, off, b3 = (results.get((group, f)) for f in ("bare", "layer_no_memo", "blake3"))
            if bare is not None and b3 is not None:
                print(f"| {group} | {off - bare:,.0f} | {b3:,.0f} | {(off - bare) / b3:.2f} |")
        print()
    fresh = [g for g in args.groups if g.endswith("_fresh") and (g, "layer_no_memo") in results]
    if fresh:
        print("| group (other bytes every request) | layer, memo on (misses) "
              "| layer, memo off | what a miss costs "
              "| tower-http SetResponseHeader, a tag built per response: set_header - bare "
              "| hand-rolled hashing middleware: hand_rolled - bare "
              "| layer - bare, memo off |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for group in fresh:
            on, off = results.get((group, "layer")), results[(group, "layer_no_memo")]
            bare = results.get((group, "bare"))

            def added(function):
                value = results.get((group, function))
                return "-" if value is None or bare is None else f"{value - bare:,.0f}"

            if on is not None:
                print(f"| {group} | {on:,.0f} | {off:,.0f} | {on - off:,.0f} "
                      f"| {added('set_header')} | {added('hand_rolled')} "
                      f"| {added('layer_no_memo')} |")
        print()
    print("| group | bare | layer | Ir | layer - bare |")
    print("|---|---|---|---:|---:|")
    for group in args.groups:
        if group.startswith("200_"):
            continue
        functions = FUNCTIONS.get(group, [])
        for bare_f, layer_f in zip(functions[0::2], functions[1::2]):
            bare, layer = results.get((group, bare_f)), results.get((group, layer_f))
            if bare is None or layer is None:
                continue
            print(f"| {group} | {bare_f} | {layer_f} | {bare:,.0f} -> {layer:,.0f} "
                  f"| {layer - bare:,.0f} |")
    print()


if __name__ == "__main__":
    main()
