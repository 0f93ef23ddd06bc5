"""Compare benchmark runs before and after a change: medians of each key figure.

    bench/compare.py --before DIR_OR_JSON... --after DIR_OR_JSON...

Each side is one or more result files of ``bench/run.py`` (or folders of them: use
``--out`` to keep each side's files apart). Alternate the two sides' runs on one machine so
that drifting load hits both alike; the spread column shows how far the runs of a side
disagree, the noise a difference must exceed to mean something.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import dig, fmt, median, say, table  # noqa: E402

#: (label, path in the results, unit, True if higher is better)
FIGURES: list[tuple[str, tuple[str, ...], str, bool]] = [
    ("raw SQLite commits/s (NORMAL)", ("raw", "NORMAL", "commits_per_s"), "/s", True),
    ("steps/s, paired ratio to raw (NORMAL)", ("throughput", "NORMAL", "paired_ratio"), "x",
     True),
    ("start_many steps/s, paired ratio", ("throughput", "NORMAL", "start_many_paired_ratio"),
     "x", True),
    ("8 threads steps/s, paired ratio", ("throughput", "NORMAL", "threads_paired_ratio"), "x",
     True),
    ("execute-only steps/s, paired ratio",
     ("throughput", "NORMAL", "execute_only_paired_ratio"), "x", True),
    ("processes=1 steps/s, paired ratio",
     ("throughput", "NORMAL", "processes_1_paired_ratio"), "x", True),
    ("10-step latency p50 (NORMAL)", ("throughput", "NORMAL", "latency_ms_p50"), " ms",
     False),
    ("step overhead, one workflow alone", ("throughput", "NORMAL", "sequential_step_us"),
     " us", False),
    ("step overhead, 1,000 workflows", ("throughput", "NORMAL", "amortized_step_us"), " us",
     False),
    ("steps/s, paired ratio (FULL)", ("throughput", "FULL", "paired_ratio"), "x", True),
    ("2 worker processes, paired ratio", ("scale", "NORMAL", "workers_2", "paired_ratio"),
     "x", True),
    ("recovery after kill -9", ("recovery", "NORMAL", "recovery_s"), " s", False),
    ("sleepers: wakes/s", ("sleepers", "NORMAL", "wakes_per_s"), "/s", True),
    ("sleepers: worker RSS", ("sleepers", "NORMAL", "worker_rss_mib"), " MiB", False),
    ("PostgreSQL raw commits/s", ("pg_raw", "commits_per_s"), "/s", True),
    ("PostgreSQL 3-step latency p50", ("pg_latency", "latency_ms_p50"), " ms", False),
    ("PostgreSQL event -> recorded p50", ("pg_notify", "event", "recorded_ms_p50"), " ms",
     False),
    ("PostgreSQL steps/s, paired ratio", ("pg_throughput", "paired_ratio"), "x", True),
    ("PostgreSQL 2 workers released, paired", ("pg_scale", "2", "released_paired_ratio"),
     "x", True),
    ("HTTP starts/s (32 clients)", ("http", "starts_per_s"), "/s", True),
]


def _files(items: list[str]) -> list[Path]:
    out: list[Path] = []
    for item in items:
        p = Path(item)
        out += sorted(p.glob("bench-*.json")) if p.is_dir() else [p]
    return out


def _values(files: list[Path], path: tuple[str, ...]) -> list[float]:
    found = []
    for f in files:
        v = dig(json.loads(f.read_text())["results"], *path)
        if isinstance(v, int | float):
            found.append(float(v))
    return found


def _spread(xs: list[float]) -> str:
    if len(xs) < 2 or not median(xs):
        return ""
    return f"±{(max(xs) - min(xs)) / 2 / median(xs) * 100:.0f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", nargs="+", required=True)
    ap.add_argument("--after", nargs="+", required=True)
    args = ap.parse_args(argv)
    before, after = _files(args.before), _files(args.after)
    say(f"before: {len(before)} runs, after: {len(after)} runs (medians; spread = half the"
        " range over the median)")
    rows = []
    for label, path, unit, higher in FIGURES:
        b, a = _values(before, path), _values(after, path)
        if not b or not a:
            continue
        mb, ma = median(b), median(a)
        change = (ma - mb) / mb * 100 if mb else 0.0
        better = (change >= 0) == higher
        digits = 2 if unit in ("x", " ms", " s") else 1
        rows.append([label, fmt(mb, unit if unit != "x" else "", digits), _spread(b),
                     fmt(ma, unit if unit != "x" else "", digits), _spread(a),
                     f"{change:+.0f}% ({'better' if better else 'worse'})"])
    table(["figure", "before", "spread", "after", "spread", "change"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
