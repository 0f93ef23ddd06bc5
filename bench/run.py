"""legato benchmarks: ``make bench`` (or ``.venv/bin/python bench/run.py [options]``).

Prints, side by side for SQLite synchronous=NORMAL and FULL, each benchmark's medians and
its ratios against baselines measured in the same run, then a summary against the targets
of issue #2. Nothing is asserted: targets are reported, met or not. Results are also written
as JSON to bench/results/.

    bench/run.py                          # everything (takes several minutes)
    bench/run.py --quick                  # smaller and faster
    bench/run.py --only raw,throughput    # a subset (raw is added where ratios need it)
    bench/run.py --only scale             # client process + 1 and 2 worker processes
    bench/run.py --only http              # the HTTP API under 32 concurrent clients
    bench/run.py --only sleepers --sleepers 20000 --modes NORMAL
    bench/run.py --only pg [--quick]      # the PostgreSQL benchmarks (issue #3), opt-in
    bench/run.py --only pg_latency,pg_notify --pg-url postgresql://user@host/db
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` importable as a package
    sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    http_api,
    peer_dbos,
    pg_common,
    pg_latency,
    pg_raw,
    pg_throughput,
    raw,
    recovery,
    sleepers,
    sqlite_scale,
    throughput,
)
from bench.common import (  # noqa: E402
    MODES,
    Config,
    dig,
    fmt,
    fmt_ratio,
    machine,
    say,
    table,
)

BENCHMARKS: dict[str, Callable[[Config], dict[str, Any]]] = {
    "raw": raw.run,
    "throughput": throughput.run,
    "scale": sqlite_scale.run,
    "recovery": recovery.run,
    "sleepers": sleepers.run,
    "dbos": peer_dbos.run,
    "http": http_api.run,
    # PostgreSQL (issue #3): opt-in, they need a server (--pg-url)
    # (latency first: the most sensitive to other load on a shared machine)
    "pg_raw": pg_common.once_more(pg_raw.run),
    "pg_latency": pg_common.once_more(pg_latency.run),
    "pg_notify": pg_common.once_more(pg_latency.run_notify),
    "pg_throughput": pg_common.once_more(pg_throughput.run),
    "pg_scale": pg_common.once_more(pg_throughput.run_scale),
}
PG = [n for n in BENCHMARKS if n.startswith("pg_")]
GROUPS = {"pg": PG, "sqlite": [n for n in BENCHMARKS if n not in PG], "all": list(BENCHMARKS)}
# ratios need the baseline measured in the same run
NEEDS = {"throughput": ["raw"], "scale": ["raw"], "pg_throughput": ["pg_raw"],
         "pg_scale": ["pg_raw"]}


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="",
                    help=f"comma-separated subset of {','.join(BENCHMARKS)}, or a group:"
                         " pg, sqlite (the default), all")
    ap.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    ap.add_argument("--quick", action="store_true",
                    help="fewer repetitions, 10,000 sleepers, 200 DBOS workflows")
    ap.add_argument("--reps", type=int, default=0, help="repetitions (default: per benchmark)")
    ap.add_argument("--sleepers", type=int, default=0,
                    help="sleeping workflows (default 100,000; 10,000 with --quick)")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="SQLite synchronous settings to run (default NORMAL,FULL)")
    ap.add_argument("--pg-url", default="",
                    help="PostgreSQL server for the pg_* benchmarks (default"
                         " LEGATO_BENCH_PG_URL, else LEGATO_TEST_PG_URL, else"
                         f" {pg_common.DEFAULT_URL}); each run uses its own schemas")
    ap.add_argument("--verbose", action="store_true", help="tracebacks of failed benchmarks")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"),
                    help="folder for the JSON results (default bench/results)")
    return ap.parse_args(argv)


def _names(text: str) -> list[str]:
    names = []
    for n in (n.strip().lower() for n in text.split(",") if n.strip()):
        names.extend(GROUPS.get(n, [n]))
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)};"
                         f" choose from {', '.join([*BENCHMARKS, *GROUPS])}")
    return names


def selection(args: argparse.Namespace) -> list[str]:
    chosen = set(_names(args.only) or GROUPS["sqlite"])
    for name in list(chosen):
        chosen.update(NEEDS.get(name, []))
    chosen -= set(_names(args.skip))
    return [n for n in BENCHMARKS if n in chosen]


def summary(results: dict[str, Any], modes: list[str]) -> list[dict[str, Any]]:
    """Issue #2's targets, each with what this run measured (NORMAL is what counts)."""
    n_sleep = dig(results, "sleepers", "n")
    targets: list[dict[str, Any]] = [
        {"target": "steps/s >= 0.5 x raw NORMAL commits/s", "unit": "ratio",
         "path": ("throughput", "{m}", "paired_ratio"), "ok": lambda v: v >= 0.5,
         "note": "paired ratio; FULL column: to raw FULL"},
        {"target": "(info) start_many steps/s >= 0.5 x raw", "unit": "ratio",
         "path": ("throughput", "{m}", "start_many_paired_ratio"),
         "ok": lambda v: v >= 0.5, "note": "started in one transaction"},
        *({"target": f"steps/s >= 0.5 x raw, Engine(processes={n})", "unit": "ratio",
           "path": ("throughput", "{m}", f"processes_{n}_paired_ratio"),
           "ok": lambda v: v >= 0.5, "note": f"one by one; {n} worker process(es)"}
          for n in throughput.PROCESS_COUNTS),
        {"target": "(info) 8 starter threads, steps/s >= 0.5 x raw", "unit": "ratio",
         "path": ("throughput", "{m}", "threads_paired_ratio"),
         "ok": lambda v: v >= 0.5, "note": "engine.start from 8 threads at once"},
        {"target": "(info) execute-only steps/s >= 0.5 x raw", "unit": "ratio",
         "path": ("throughput", "{m}", "execute_only_paired_ratio"),
         "ok": lambda v: v >= 0.5, "note": "start path excluded"},
        {"target": "(info) client process + 1 worker process, /raw", "unit": "ratio",
         "path": ("scale", "{m}", "workers_1", "paired_ratio"), "ok": lambda v: v >= 0.5,
         "note": "started one by one"},
        {"target": "(info) client process + 2 worker processes, /raw", "unit": "ratio",
         "path": ("scale", "{m}", "workers_2", "paired_ratio"), "ok": lambda v: v >= 0.5,
         "note": "started one by one"},
        {"target": "steps/s >= 30 x DBOS", "unit": "x",
         "path": ("dbos", "{m}", "legato_steps_ratio"), "ok": lambda v: v >= 30},
        {"target": "10-step latency p50 < 3 ms", "unit": "ms",
         "path": ("throughput", "{m}", "latency_ms_p50"), "ok": lambda v: v < 3},
        {"target": "recovery <= 1 s after restart", "unit": "s",
         "path": ("recovery", "{m}", "recovery_s"), "ok": lambda v: v <= 1},
        {"target": "re-executed completed steps = 0", "unit": "",
         "path": ("recovery", "{m}", "reexecuted_completed_steps"), "ok": lambda v: v == 0},
        {"target": f"worker RSS <= 150 MB, {n_sleep or 100_000:,} sleeping", "unit": "MiB",
         "path": ("sleepers", "{m}", "worker_rss_mib"),
         "ok": lambda v: v * 1.048576 <= 150,
         "note": None if n_sleep in (None, 100_000) else "target is for 100,000"},
    ]
    rows, out = [], []
    for t in targets:
        values = {m: dig(results, *(p.format(m=m) for p in t["path"])) for m in modes}
        normal = values.get("NORMAL")
        met = None if normal is None else bool(t["ok"](normal))
        out.append({"target": t["target"], "values": values, "met": met,
                    "note": t.get("note")})
        cells = []
        for m in modes:
            v = values[m]
            if v is None:
                cells.append("n/a")
            elif t["unit"] == "x":
                cells.append(fmt_ratio(v))
            elif t["unit"] == "ratio":
                cells.append(f"{v:.2f}")
            elif t["unit"] == "":
                cells.append(str(v))
            else:
                cells.append(fmt(v, f" {t['unit']}", 2))
        verdict = "not run" if met is None else ("met" if met else "MISSED")
        if t.get("note") and met is not None:
            verdict += f" ({t['note']})"
        rows.append([t["target"], *cells, verdict])
    say()
    say("== summary against issue #2's targets (judged on NORMAL) ==")
    table(["target", *modes, "verdict (NORMAL)"], rows)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    names = selection(args)
    modes = [m.strip().upper() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in ("OFF", "NORMAL", "FULL", "EXTRA")]
    if bad or not modes:
        raise SystemExit(f"--modes: use NORMAL and/or FULL, not {','.join(bad) or 'nothing'}")
    cfg = Config(quick=args.quick, modes=modes, reps=args.reps or None,
                 sleepers=args.sleepers or None)
    pg_common.set_base_url(args.pg_url)
    on_sqlite = [n for n in names if n not in PG]
    on_pg = [n for n in names if n in PG]
    info = machine()
    started = datetime.now(UTC)
    say(f"legato benchmarks {started:%Y-%m-%d %H:%M:%SZ}"
        f"{' (quick)' if args.quick else ''}: {', '.join(names)}"
        f"{f'; synchronous={chr(44).join(modes)}' if on_sqlite else ''}")
    say(f"machine: {info['cpus']} CPUs ({info.get('cpu_model', '?')}), "
        f"{info.get('mem_gib', '?')} GiB, Python {info['python']}, SQLite {info['sqlite']},"
        f" temp fs {info['tmp_fs']}, load {info.get('load_avg')}")
    if on_pg:
        try:
            info["postgresql"] = pg_common.server_info()
        except Exception as exc:
            raise SystemExit(f"cannot reach PostgreSQL at {pg_common.safe_url()}:"
                             f" {type(exc).__name__}: {' '.join(str(exc).split())}")
        say(pg_common.describe_server(info["postgresql"]))
    say()
    failed = []
    t0 = time.perf_counter()
    for name in names:
        t = time.perf_counter()
        try:
            cfg.results[name] = BENCHMARKS[name](cfg)
        except Exception as exc:
            failed.append(name)
            cfg.results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            say(f"  [{name}] FAILED: {type(exc).__name__}: {exc}")
            if args.verbose:
                traceback.print_exc()
        cfg.results.setdefault(name, {})["elapsed_s"] = time.perf_counter() - t
        load = ""
        if name in PG:  # a shared server and machine: what else ran meanwhile shows here
            load = f", load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
            cfg.results[name]["load_avg_after"] = list(os.getloadavg())
        say(f"  ({name}: {time.perf_counter() - t:.1f} s{load})")
        say()
    targets = summary(cfg.results, modes) if on_sqlite else []
    pg_targets = pg_common.summary(cfg.results) if on_pg else []
    report = {"started": started.isoformat(), "quick": args.quick, "modes": modes,
              "benchmarks": names, "machine": info, "results": cfg.results,
              "targets": targets, "pg_targets": pg_targets,
              "elapsed_s": time.perf_counter() - t0, "failed": failed}
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    kind = "-pg" if not on_sqlite else ""
    path = out_dir / f"bench-{stamp}{kind}{'-quick' if args.quick else ''}.json"
    text = json.dumps(report, indent=2, default=str)
    path.write_text(text)
    (out_dir / "latest.json").write_text(text)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    say(f"\nresults: {shown} (and latest.json); total {report['elapsed_s']:.0f} s")
    if failed:
        say(f"benchmarks that failed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
