#!/usr/bin/env python3
"""Ratio tables and the overhead plot from `cargo bench --bench layer`.

Reads criterion's results (<criterion dir>/<group>/<function>/new/estimates.json
and benchmark.json), prints the tables of BENCHMARKS.md as Markdown and draws
one PNG: the time the layer adds to a 200 against the body size, with the raw
blake3 time of the same bytes for reference.

    python3 perf/scripts/report.py                  # tables + perf/results/overhead.png
    python3 perf/scripts/report.py --save perf/results/run1.json
    python3 perf/scripts/report.py --runs perf/results/run*.json   # median of runs

Times are criterion's median (robust against the other work on a shared
machine); the intervals are criterion's 95 % confidence bounds of the median.
The time added by the layer is `layer - bare`, its interval `[layer_lo -
bare_hi, layer_hi - bare_lo]` (pessimistic: the two are measured one after the
other, in the same process).

Only the standard library is needed for the tables; the plot needs matplotlib
(`pip install matplotlib`) and is skipped, with a note, without it.
"""

import argparse
import json
import os
import sys
from pathlib import Path

# The workspace root: this file is perf/scripts/report.py.
REPO = Path(__file__).resolve().parents[2]

SIZES = [
    (0, "0B"),
    (128, "128B"),
    (1024, "1KiB"),
    (16 * 1024, "16KiB"),
    (1024 * 1024, "1MiB"),
    (8 * 1024 * 1024, "8MiB"),
]
CHUNKINGS = [1, 64]

# (what, group, bare function, layer function)
PATHS = [
    ("POST (passed through)", "passthrough_1KiB", "bare_post", "layer_post"),
    ("404 to a GET (passed through)", "passthrough_1KiB", "bare_404", "layer_404"),
    ("handler-set ETag, 200", "handler_etag_1KiB", "bare", "layer"),
    ("handler-set ETag, matching If-None-Match -> 304",
     "304_1KiB", "bare_handler_etag", "layer_handler_etag"),
]
CONDITIONAL = [
    ("hashed ETag, matching If-None-Match -> 304", "304_1KiB", "bare", "layer_hashed"),
    ("If-None-Match of 1 tag (match) -> 304",
     "if_none_match_1KiB", "bare_1_tag", "layer_1_tag"),
    ("If-None-Match of 100 tags (match is last) -> 304",
     "if_none_match_1KiB", "bare_100_tags", "layer_100_tags"),
    ("If-None-Match of 100 tags (no match) -> 200",
     "if_none_match_1KiB", "bare_100_tags_no_match", "layer_100_tags_no_match"),
]


def default_criterion_dir():
    target = os.environ.get("CARGO_TARGET_DIR")
    base = Path(target) if target else REPO / "target"
    return base / "criterion"


def load(criterion_dir):
    """{(group, function): {"median", "lo", "hi", "mad"}} in nanoseconds."""
    results = {}
    for bench in Path(criterion_dir).glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        median = estimates["median"]
        results[(meta["group_id"], meta["function_id"])] = {
            "median": median["point_estimate"],
            "lo": median["confidence_interval"]["lower_bound"],
            "hi": median["confidence_interval"]["upper_bound"],
            "mad": estimates["median_abs_dev"]["point_estimate"],
        }
    return results


def fmt_time(ns):
    if ns is None:
        return "-"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns >= 1e6:
        return f"{sign}{ns / 1e6:.3g} ms"
    if ns >= 1e3:
        return f"{sign}{ns / 1e3:.3g} µs"
    return f"{sign}{ns:.3g} ns"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}"


def hash_target(size):
    """The target on (layer - bare) / blake3 for a 200 of this size."""
    if size >= 16 * 1024:
        return 1.10
    if size in (128, 1024):
        return 1.5
    return None


def hashed_rows(r):
    rows = []
    variants = [(size, label, chunks, f"200_{label}_x{chunks}")
                for size, label in SIZES for chunks in CHUNKINGS]
    # One chunk, with a Content-Type on the inner response (benches/layer.rs).
    variants += [(size, label, "1, typed", f"200_{label}_typed")
                 for size, label in SIZES[:3]]
    # One chunk, other bytes every request: the memo of recent bodies misses.
    variants += [(size, label, "1, fresh", f"200_{label}_fresh")
                 for size, label in SIZES[1:4]]
    variants = [v + ("layer",) for v in variants]
    # Up to 16 KiB in 64 chunks, with the memo off: every body hashed.
    variants += [(size, label, "64, memo off", f"200_{label}_x64", "layer_no_memo")
                 for size, label in SIZES[1:4]]
    # Not the layer: the job done by hand with nothing else (collect, hash,
    # tag), the floor under any hashing middleware, against the same target.
    variants += [(size, label, "1, fresh: hand-rolled floor", f"200_{label}_fresh",
                  "hand_rolled")
                 for size, label in SIZES[1:4]]
    for size, label, chunks, group, layer_function in variants:
        bare, layer, b3 = (r.get((group, f)) for f in ("bare", layer_function, "blake3"))
        if not (bare and layer and b3):
            continue
        added = layer["median"] - bare["median"]
        added_lo = layer["lo"] - bare["hi"]
        added_hi = layer["hi"] - bare["lo"]
        ratio = added / b3["median"]
        ratio_lo = added_lo / b3["hi"]
        ratio_hi = added_hi / b3["lo"]
        no_memo = r.get((group, "layer_no_memo")) if layer_function == "layer" else None
        set_header = r.get((group, "set_header")) if layer_function == "layer" else None
        updates = r.get((group, "blake3_64_updates"))
        staged = r.get((group, "blake3_64_updates_staged"))
        target = hash_target(size)
        if target is None:
            verdict = "(no target)"
        elif ratio_hi <= target:
            verdict = "holds"
        elif ratio <= target:
            verdict = "holds (CI straddles)"
        elif ratio_lo <= target:
            verdict = "MISSED (CI straddles)"
        else:
            verdict = "MISSED"
        rows.append({
            "size": size, "label": label, "chunks": chunks,
            "bare": bare["median"], "layer": layer["median"],
            "added": added, "added_lo": added_lo, "added_hi": added_hi,
            "blake3": b3["median"], "blake3_lo": b3["lo"], "blake3_hi": b3["hi"],
            "updates": updates["median"] if updates else None,
            "no_memo_added": no_memo["median"] - bare["median"] if no_memo else None,
            "set_header_added": set_header["median"] - bare["median"] if set_header else None,
            "staged": staged["median"] if staged else None,
            "ratio": ratio, "ratio_lo": ratio_lo, "ratio_hi": ratio_hi,
            "target": target, "verdict": verdict,
        })
    return rows


def path_rows(r, paths, with_target):
    rows = []
    for what, group, bare_f, layer_f in paths:
        bare, layer = r.get((group, bare_f)), r.get((group, layer_f))
        if not (bare and layer):
            continue
        delta = layer["median"] - bare["median"]
        allowed = max(0.05 * bare["median"], 200.0)
        row = {
            "what": what, "bare": bare["median"], "layer": layer["median"],
            "delta": delta, "delta_lo": layer["lo"] - bare["hi"],
            "delta_hi": layer["hi"] - bare["lo"],
            "ratio": layer["median"] / bare["median"], "allowed": allowed,
        }
        if with_target:
            row["verdict"] = "holds" if delta <= allowed else "MISSED"
        rows.append(row)
    return rows


def analyse(r):
    b3_1k = r.get(("200_1KiB_x1", "blake3"))
    conditional = path_rows(r, CONDITIONAL, with_target=False)
    for row in conditional:
        row["per_blake3_1k"] = row["delta"] / b3_1k["median"] if b3_1k else None
    return {
        "hashed": hashed_rows(r),
        "paths": path_rows(r, PATHS, with_target=True),
        "conditional": conditional,
    }


def aggregate(analyses):
    """Median over saved runs of every number; the *_lo / *_hi bounds become
    the lowest and highest value of that number over the runs."""
    from statistics import median
    out = {}
    for section in ("hashed", "paths", "conditional"):
        rows = []
        for i, first in enumerate(analyses[0][section]):
            same = [a[section][i] for a in analyses if i < len(a[section])]
            row = dict(first)
            for key, value in first.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) \
                        and key not in ("size", "chunks", "target", "allowed"):
                    values = [r[key] for r in same if r.get(key) is not None]
                    row[key] = median(values) if values else None
            for key in ("added", "ratio", "delta"):
                if key in first:
                    values = [r[key] for r in same]
                    row[key + "_lo"], row[key + "_hi"] = min(values), max(values)
            if section == "hashed" and row["target"] is not None:
                t = row["target"]
                row["verdict"] = ("holds" if row["ratio_hi"] <= t else
                                  "holds (not in every run)" if row["ratio"] <= t else
                                  "MISSED (not in every run)" if row["ratio_lo"] <= t else
                                  "MISSED")
            if section == "paths":
                ok = [r["delta"] <= r["allowed"] for r in same]
                row["verdict"] = ("holds" if all(ok) else
                                  "MISSED" if not any(ok) else
                                  f"holds in {sum(ok)} of {len(ok)} runs")
            rows.append(row)
        out[section] = rows
    out["runs"] = len(analyses)
    return out


def print_tables(a):
    runs = a.get("runs")
    interval = f"range over {runs} runs" if runs else "95% CI"
    if runs:
        print(f"Median of {runs} runs; the ranges are the lowest and highest value "
              "over the runs.\n")
    print("### 200 OK to a GET: time the layer adds, against raw blake3 of the same bytes\n")
    print(f"| body | chunks | bare | layer | added = layer - bare ({interval}) "
          f"| blake3::hash | added / blake3 ({interval}) | target | verdict "
          "| 64 x Hasher::update | same, 16 KiB staging |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for row in a["hashed"]:
        print(f"| {row['label']} | {row['chunks']} | {fmt_time(row['bare'])} "
              f"| {fmt_time(row['layer'])} | {fmt_time(row['added'])} "
              f"({fmt_time(row['added_lo'])} .. {fmt_time(row['added_hi'])}) "
              f"| {fmt_time(row['blake3'])} | **{fmt_ratio(row['ratio'])}** "
              f"({fmt_ratio(row['ratio_lo'])} .. {fmt_ratio(row['ratio_hi'])}) "
              f"| {'-' if row['target'] is None else '<= ' + format(row['target'], '.2f')} "
              f"| {row['verdict']} | {fmt_time(row['updates'])} "
              f"| {fmt_time(row.get('staged'))} |")
    print()
    fresh = [row for row in a["hashed"] if row["chunks"] == "1, fresh"]
    if fresh:
        print("### What the memo of recent bodies costs when it misses\n")
        print("| body, other bytes every request | added, memo on (misses) "
              "| added, memo off | difference "
              "| floor: tower-http SetResponseHeader, a tag built per response |")
        print("|---|---:|---:|---:|---:|")
        for row in fresh:
            off = row.get("no_memo_added")
            diff = None if off is None else row["added"] - off
            print(f"| {row['label']} | {fmt_time(row['added'])} | {fmt_time(off)} "
                  f"| {fmt_time(diff)} | {fmt_time(row.get('set_header_added'))} |")
        print()
    print("### Paths that must cost (almost) nothing: within 5 % of bare or 200 ns\n")
    print(f"| request (1 KiB body) | bare | layer | layer - bare ({interval}) "
          "| layer / bare | allowed | verdict |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in a["paths"]:
        print(f"| {row['what']} | {fmt_time(row['bare'])} | {fmt_time(row['layer'])} "
              f"| {fmt_time(row['delta'])} ({fmt_time(row['delta_lo'])} .. "
              f"{fmt_time(row['delta_hi'])}) | {fmt_ratio(row['ratio'])} "
              f"| {fmt_time(row['allowed'])} | {row['verdict']} |")
    print()
    print("### Conditional requests (1 KiB body; bare gets the same request and answers 200)\n")
    print(f"| request | bare | layer | layer - bare ({interval}) | layer / bare "
          "| (layer - bare) / blake3(1 KiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in a["conditional"]:
        print(f"| {row['what']} | {fmt_time(row['bare'])} | {fmt_time(row['layer'])} "
              f"| {fmt_time(row['delta'])} ({fmt_time(row['delta_lo'])} .. "
              f"{fmt_time(row['delta_hi'])}) | {fmt_ratio(row['ratio'])} "
              f"| {fmt_ratio(row['per_blake3_1k'])} |")
    print()


def print_runs(runs):
    """The key ratios of several saved runs side by side: the noise between runs."""
    names = [Path(p).stem for p in runs]
    analyses = [json.loads(Path(p).read_text()) for p in runs]
    for name, a in zip(names, analyses):
        meta = a.get("meta", {})
        if meta:
            print(f"- {name}: commit {meta.get('commit')}, uncommitted src/ changes: "
                  f"{meta.get('src_uncommitted_sha256') or 'none'}, saved {meta.get('saved_at')}")
    print()
    print("### Run to run: (layer - bare) / blake3 of 200s\n")
    print("| body | chunks | " + " | ".join(names) + " | spread |")
    print("|---|---:|" + "---:|" * len(names) + "---:|")
    keys = [(row["label"], row["chunks"]) for row in analyses[0]["hashed"]]
    for label, chunks in keys:
        values = []
        for a in analyses:
            match = [x for x in a["hashed"] if x["label"] == label and x["chunks"] == chunks]
            values.append(match[0]["ratio"] if match else None)
        known = [v for v in values if v is not None]
        spread = f"{min(known):.2f} .. {max(known):.2f}" if known else "-"
        print(f"| {label} | {chunks} | " + " | ".join(fmt_ratio(v) for v in values)
              + f" | {spread} |")
    print()
    print("### Run to run: layer - bare on the paths that must cost nothing\n")
    print("| request | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for i, row in enumerate(analyses[0]["paths"] + analyses[0]["conditional"]):
        values = []
        for a in analyses:
            rows = a["paths"] + a["conditional"]
            values.append(fmt_time(rows[i]["delta"]) if i < len(rows) else "-")
        print(f"| {row['what']} | " + " | ".join(values) + " |")
    print()


def plot(a, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(matplotlib not installed: {path} not drawn; pip install matplotlib)",
              file=sys.stderr)
        return
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 8.4), dpi=110, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    rows = [x for x in a["hashed"] if x["size"] > 0]
    one = [x for x in rows if x["chunks"] == 1]
    sizes = [x["size"] for x in one]
    styles = {1: ("tab:blue", "o", "body in 1 chunk, same bytes every request "
                                   "(remembered up to 16 KiB)"),
              "1, fresh": ("tab:green", "^", "body in 1 chunk, other bytes every request"),
              64: ("tab:red", "s", "body in 64 chunks, same bytes every request "
                                   "(gathered and remembered up to 16 KiB)"),
              "64, memo off": ("tab:orange", "D", "body in 64 chunks, memo off "
                                                  "(every body hashed)"),
              "1, fresh: hand-rolled floor": (
                  "tab:gray", "x", "NOT the layer: a hand-rolled middleware that collects, "
                                   "hashes, tags (1 chunk, other bytes)")}
    what = f"median of {a['runs']} runs, bars: min..max" if a.get("runs") \
        else "criterion medians, bars: 95% CI"

    top.plot(sizes, [x["blake3"] / 1e3 for x in one], "k-", lw=2,
             label="raw blake3::hash of the same bytes")
    below_zero = []
    for chunks, (color, marker, name) in styles.items():
        every = [x for x in rows if x["chunks"] == chunks]
        # A log axis has no room for the layer making a request cheaper
        # (a body of many chunks reaches the bare service's consumer as
        # one): those points are marked at the bottom instead.
        below_zero += [(x, color) for x in every if x["added"] <= 0]
        sel = [x for x in every if x["added"] > 0]
        ys = [x["added"] / 1e3 for x in sel]
        lower = [max(y - max(x["added_lo"], 1.0) / 1e3, 0) for x, y in zip(sel, ys)]
        upper = [max(max(x["added_hi"], 1.0) / 1e3 - y, 0) for x, y in zip(sel, ys)]
        top.errorbar([x["size"] for x in sel], ys, yerr=[lower, upper], color=color,
                     marker=marker, ms=5, capsize=3, lw=1.5,
                     label=name if name.startswith("NOT") else
                     f"added by the layer (layer - bare), {name}")
    if below_zero:
        floor = min(x["blake3"] for x in one) / 1e3 / 10
        for x, color in below_zero:
            top.plot([x["size"]], [floor], marker="v", color=color, ms=8, ls="none")
        top.annotate("v: below 0 (faster than without the layer)",
                     (below_zero[0][0]["size"], floor), xytext=(8, 4),
                     textcoords="offset points", fontsize=8)
    top.set_yscale("log")
    low, high = top.get_ylim()
    top.set_ylim(low, high * 300)
    top.set_ylabel("time per request, µs (log)")
    top.set_title("Time ConditionalLayer adds to a 200 OK, and raw blake3 of the same bytes\n"
                  f"({what}; bare, layer and blake3 side by side in one criterion group)",
                  fontsize=10)
    top.grid(True, which="both", alpha=0.3)
    top.legend(fontsize=7, loc="upper left")

    bottom.axhline(1.0, color="k", lw=2, label="raw blake3 = 1")
    bottom.plot([s for s in sizes if s >= 16 * 1024], [1.10] * len([s for s in sizes if s >= 16 * 1024]),
                "k:", lw=1.5, label="target 1.10 (>= 16 KiB)")
    bottom.plot([s for s in sizes if s <= 1024], [1.5] * len([s for s in sizes if s <= 1024]),
                color="grey", ls="--", lw=1.5, label="target 1.5 (128 B, 1 KiB)")
    for chunks, (color, marker, name) in styles.items():
        sel = [x for x in rows if x["chunks"] == chunks and x["ratio"] > 0]
        ys = [x["ratio"] for x in sel]
        lower = [max(y - x["ratio_lo"], 0) for x, y in zip(sel, ys)]
        upper = [max(x["ratio_hi"] - y, 0) for x, y in zip(sel, ys)]
        bottom.errorbar([x["size"] for x in sel], ys, yerr=[lower, upper], color=color,
                        marker=marker, ms=5, capsize=3, lw=1.5, label=name)
    bottom.set_yscale("log")
    # Head room above the points, for the legend.
    low, high = bottom.get_ylim()
    bottom.set_ylim(low, high * 30)
    bottom.set_ylabel("added / raw blake3 (log)")
    bottom.set_xscale("log", base=2)
    bottom.set_xticks(sizes)
    bottom.set_xticklabels([x["label"] for x in one])
    bottom.set_xlabel("body size")
    bottom.grid(True, which="both", alpha=0.3)
    bottom.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    print(f"(plot written to {path})", file=sys.stderr)


def source_state():
    """Which code was measured: the commit, and a hash of uncommitted src/ changes."""
    import hashlib
    import subprocess
    import time

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True,
                                  text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""
    diff = git("diff", "HEAD", "--", "src")
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "src_uncommitted_sha256": hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else None,
        "saved_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "note": "src/ as of the report; cargo bench built it a few minutes earlier",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--criterion-dir", default=None,
                        help="criterion's output (default: $CARGO_TARGET_DIR/criterion "
                             "or target/criterion)")
    parser.add_argument("--plot", default=str(REPO / "perf" / "results" / "overhead.png"),
                        help="where to write the PNG ('' for none)")
    parser.add_argument("--save", help="also write the analysed numbers to this JSON file")
    parser.add_argument("--runs", nargs="+",
                        help="saved runs (--save) to compare and summarise (median of the "
                             "runs) instead of reading criterion")
    args = parser.parse_args()

    if args.runs:
        print_runs(args.runs)
        a = aggregate([json.loads(Path(p).read_text()) for p in args.runs])
        print_tables(a)
        if args.plot:
            plot(a, args.plot)
        return
    criterion_dir = Path(args.criterion_dir) if args.criterion_dir else default_criterion_dir()
    results = load(criterion_dir)
    if not results:
        sys.exit(f"no criterion results under {criterion_dir}: run `cargo bench --bench layer`")
    a = analyse(results)
    print_tables(a)
    if args.save:
        a["meta"] = source_state()
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        Path(args.save).write_text(json.dumps(a, indent=1))
        print(f"(analysis saved to {args.save})", file=sys.stderr)
    if args.plot:
        plot(a, args.plot)


if __name__ == "__main__":
    main()
