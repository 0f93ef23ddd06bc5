"""Small helpers shared by the benchmarks: statistics, temp databases, child processes."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PY = sys.executable
MODES = ("NORMAL", "FULL")


@dataclass
class Config:
    """What the driver asks of every benchmark."""

    quick: bool = False
    modes: Sequence[str] = MODES
    reps: int | None = None  # None: each benchmark's default for quick/full
    sleepers: int | None = None
    results: dict[str, Any] = field(default_factory=dict)  # everything measured so far

    def n_reps(self, full: int, quick: int) -> int:
        return self.reps if self.reps else (quick if self.quick else full)


# --- statistics ---------------------------------------------------------------------------


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def paired_ratio(runs: Sequence[dict[str, float]], paired: Sequence[float]) -> float:
    """Median over repetitions of steps/s divided by the raw rate measured just before."""
    return median([r["steps_per_s"] / p for r, p in zip(runs, paired, strict=True)])


def start_stats(runs: Sequence[dict[str, float]], paired: Sequence[float],
                raw: float | None) -> dict[str, Any]:
    """The medians of repetitions that start workflows and wait for them (each a dict of
    steps_per_s, workflows_per_s, starts_per_s, start_seconds, seconds), with their ratios
    to the raw commit rate: ``raw`` the raw benchmark's median, ``paired`` one rate per rep."""
    steps = median([r["steps_per_s"] for r in runs])
    return {
        "steps_per_s": steps,
        "steps_per_s_all": [r["steps_per_s"] for r in runs],
        "workflows_per_s": median([r["workflows_per_s"] for r in runs]),
        "starts_per_s": median([r["starts_per_s"] for r in runs]),
        "start_seconds": median([r["start_seconds"] for r in runs]),
        "seconds": median([r["seconds"] for r in runs]),
        "ratio_to_raw_commits": steps / raw if raw else None,
        "paired_raw_commits_per_s": list(paired),
        "paired_ratio": paired_ratio(runs, paired),
    }


def percentile(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


# --- formatting ---------------------------------------------------------------------------


def fmt(x: float | None, unit: str = "", digits: int = 0) -> str:
    if x is None:
        return "n/a"
    if digits == 0 and abs(x) >= 100:
        text = f"{x:,.0f}"
    elif abs(x) >= 100:
        text = f"{x:,.{digits}f}"
    else:
        text = f"{x:.{max(digits, 2) if abs(x) < 10 else max(digits, 1)}f}"
    return f"{text}{unit}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2f}x" if x < 100 else f"{x:.0f}x"


def say(text: str = "") -> None:
    print(text, flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = indent + "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths,
                                                                            strict=True)))
    say(line)
    say(indent + "  ".join("-" * w for w in widths))
    for r in rows:
        say(indent + "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))))


# --- databases ----------------------------------------------------------------------------


@contextlib.contextmanager
def tmpdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"legato-bench-{prefix}-") as d:
        yield Path(d)


def sqlite_url(path: Path | str, sync: str) -> str:
    """A legato URL for an absolute path: ``sqlite:////abs/file.db?synchronous=FULL``."""
    return f"sqlite:///{Path(path).resolve()}?synchronous={sync}"


def db_size(path: Path | str) -> dict[str, int]:
    """Bytes of the database file and its WAL (0 if absent)."""
    p = str(path)
    sizes = {}
    for suffix, key in (("", "db"), ("-wal", "wal"), ("-shm", "shm")):
        try:
            sizes[key] = os.path.getsize(p + suffix)
        except OSError:
            sizes[key] = 0
    sizes["total"] = sizes["db"] + sizes["wal"]
    return sizes


def count_status(path: Path | str, status: str) -> int:
    """Rows in ``workflows`` with this status, read through a fresh connection."""
    c = sqlite3.connect(str(path), timeout=30)
    try:
        return int(c.execute("SELECT COUNT(*) FROM workflows WHERE status = ?",
                             (status,)).fetchone()[0])
    finally:
        c.close()


# --- processes ----------------------------------------------------------------------------


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process, in KiB, from /proc/self/status."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LEGATO_FAULTS", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if extra:
        env.update(extra)
    return env


def module_cmd(module: str, *args: str, python: str = PY) -> list[str]:
    return [python, "-m", f"bench.{module}", *args]


def last_json(text: str) -> dict[str, Any]:
    """The last line of ``text`` that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    return value
    raise ValueError("no JSON result in the child's output")


def run_json(cmd: Sequence[str], *, timeout: float, env: dict[str, str] | None = None,
             cwd: Path = ROOT) -> dict[str, Any]:
    """Run a child that prints one JSON object as its last line; return it."""
    p = subprocess.run(list(cmd), cwd=cwd, env=env or child_env(), capture_output=True,
                       text=True, timeout=timeout, check=False)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-15:]
        raise RuntimeError(f"{' '.join(cmd[1:4])} exited {p.returncode}:\n  "
                           + "\n  ".join(tail))
    return last_json(p.stdout)


def emit(result: dict[str, Any]) -> None:
    """How a child hands its result to the driver: one JSON line on stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


# --- the machine --------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        info["mem_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    with contextlib.suppress(OSError, AttributeError):
        info["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    try:
        import legato

        info["legato"] = legato.__version__
    except Exception:  # the report still says what else it measured
        info["legato"] = "unavailable"
    info["tmp_fs"] = _fs_type(tempfile.gettempdir())
    return info


def _fs_type(path: str) -> str:
    """The filesystem type holding ``path`` (from /proc/mounts), for the record."""
    best, kind = "", "unknown"
    real = os.path.realpath(path)
    with contextlib.suppress(OSError), open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and real.startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    return kind


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0


def dig(results: dict[str, Any], *path: str) -> Any:
    """``results[path[0]][path[1]]...``, or None where a key is missing (a benchmark not run)."""
    cur: Any = results
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur
