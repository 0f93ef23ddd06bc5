"""What the PostgreSQL benchmarks share: the server URL, a fresh schema per measurement,
``legato worker`` processes, counting commits, and the summary against issue #3's targets.

The server comes from ``--pg-url`` (``bench/run.py``), else ``LEGATO_BENCH_PG_URL``, else
``LEGATO_TEST_PG_URL``, else ``postgresql://postgres@127.0.0.1:5432/test``. Every measurement
creates its own schema ``legato_bench_<pid>_<random>_<n>_<what>`` and drops it afterwards
(also at exit, if a benchmark failed half way); no other schema is ever touched.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import itertools
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from bench.common import PY, ROOT, Config, child_env, dig, fmt, say, table

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
WORKER_MODULE = "bench.pg_workloads"

_base_url: str | None = None
_created: set[str] = set()
_counter = itertools.count(1)
_prefix = f"legato_bench_{os.getpid()}_{secrets.token_hex(2)}"


def set_base_url(url: str | None) -> None:
    global _base_url
    _base_url = url or None


def base_url() -> str:
    return (_base_url or os.environ.get("LEGATO_BENCH_PG_URL")
            or os.environ.get("LEGATO_TEST_PG_URL") or DEFAULT_URL)


def conninfo(url: str | None = None) -> str:
    """The libpq connection string of a legato URL (legato's own options left out)."""
    from legato.store.postgres.conninfo import parse

    return parse(url or base_url()).conninfo


def safe_url(url: str | None = None) -> str:
    from legato.store.postgres.conninfo import redact

    return redact(url or base_url())


def schema_url(schema: str, url: str | None = None) -> str:
    """``url`` with ``?schema=`` set to ``schema`` (other options kept)."""
    parts = urlsplit(url or base_url())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    query.append(("schema", schema))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def connect(autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(conninfo(), autocommit=autocommit,
                           application_name="legato-bench")


def _drop(name: str) -> None:
    with connect() as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    _created.discard(name)


@atexit.register
def _drop_leftovers() -> None:
    for name in list(_created):
        with contextlib.suppress(Exception):
            _drop(name)


@contextlib.contextmanager
def fresh_schema(tag: str) -> Iterator[tuple[str, str]]:
    """Create an empty schema of our own; yield (its name, a legato URL for it); drop it."""
    name = f"{_prefix}_{next(_counter)}_{tag}"[:63]
    with connect() as c:
        c.execute(f'CREATE SCHEMA "{name}"')
    _created.add(name)
    try:
        yield name, schema_url(name)
    finally:
        _drop(name)


def once_more(run: Callable[[Config], dict[str, Any]],
              attempts: int = 3) -> Callable[[Config], dict[str, Any]]:
    """Run a benchmark again (up to ``attempts`` in all) if the server went away under it: a
    shared server may be restarted by someone else's test. Retries are noted in the result."""

    def wrapped(cfg: Config) -> dict[str, Any]:
        errors: list[str] = []
        while True:
            try:
                out = run(cfg)
                break
            except psycopg.OperationalError as exc:
                errors.append(" ".join(str(exc).split())[:200])
                if len(errors) >= attempts:
                    raise
                say(f"  the server went away ({errors[-1]}); waiting for it, then running the"
                    " benchmark again")
                _wait_for_server(120)
        if errors:
            out["retried_after"] = errors
        return out

    wrapped.__name__ = getattr(run, "__name__", "run")
    wrapped.__doc__ = run.__doc__
    return wrapped


def _wait_for_server(timeout: float, stable: float = 3.0) -> None:
    """Until the server has answered for ``stable`` seconds in a row."""
    end = time.monotonic() + timeout
    up_since: float | None = None
    while True:
        try:
            with connect() as c:
                c.execute("SELECT 1")
            up_since = up_since or time.monotonic()
            if time.monotonic() - up_since >= stable:
                return
        except psycopg.OperationalError:
            up_since = None
            if time.monotonic() > end:
                raise
        time.sleep(0.5)


# --- reading what happened ----------------------------------------------------------------


def count_terminal(conn: psycopg.Connection[Any], schema: str) -> int:
    row = conn.execute(f'SELECT count(*) FROM "{schema}".workflows WHERE status = ANY(%s)',
                       (list(TERMINAL),)).fetchone()
    return int(row[0]) if row else 0


def wait_terminal(conn: psycopg.Connection[Any], schema: str, n: int, timeout: float,
                  interval: float = 0.005) -> float:
    """Poll until ``n`` workflows have ended; return ``time.perf_counter()`` when seen."""
    end = time.perf_counter() + timeout
    while True:
        if count_terminal(conn, schema) >= n:
            return time.perf_counter()
        if time.perf_counter() > end:
            raise TimeoutError(f"only {count_terminal(conn, schema)} of {n} workflows ended"
                               f" within {timeout:g} s")
        time.sleep(interval)


def check_results(conn: psycopg.Connection[Any], schema: str, expected: dict[str, Any]) -> None:
    """Every workflow in ``expected`` (id -> value) COMPLETED with that value."""
    import json

    rows = conn.execute(f'SELECT id, status, result FROM "{schema}".workflows'
                        " WHERE id = ANY(%s)", (list(expected),)).fetchall()
    got = {r[0]: (r[1], r[2]) for r in rows}
    wrong = [wid for wid, value in expected.items()
             if got.get(wid, ("?", None))[0] != "COMPLETED"
             or json.loads(got[wid][1]) != value]
    if wrong:
        wid = wrong[0]
        raise AssertionError(f"{len(wrong)} workflows ended wrong, e.g. {wid}: {got.get(wid)}")


def journal_commits(conn: psycopg.Connection[Any], schema: str,
                    ids: Sequence[str] | None = None, *, starts: bool = True) -> int:
    """Transactions that appended journal events (distinct ``xmin`` of the journal rows, which
    are insert-only), for ``ids`` or all; ``starts=False`` leaves out the start events."""
    where, params = [], []
    if ids is not None:
        where.append("workflow_id = ANY(%s)")
        params.append(list(ids))
    if not starts:
        where.append("type <> 'WorkflowStarted'")
    sql = f'SELECT count(DISTINCT xmin::text) FROM "{schema}".journal'
    if where:
        sql += " WHERE " + " AND ".join(where)
    row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def xact_commits(conn: psycopg.Connection[Any]) -> int:
    """pg_stat_database.xact_commit of this database (every session, read-only ones too)."""
    row = conn.execute("SELECT pg_stat_get_db_xact_commit(oid) FROM pg_database"
                       " WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def clear_stat_snapshot(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT pg_stat_clear_snapshot()")


# --- the server ---------------------------------------------------------------------------


def server_info() -> dict[str, Any]:
    info: dict[str, Any] = {"url": safe_url()}
    with connect() as c:
        info["version"] = c.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        for name in ("synchronous_commit", "fsync", "wal_sync_method", "full_page_writes",
                     "shared_buffers", "max_connections", "commit_delay"):
            with contextlib.suppress(psycopg.Error):
                info[name] = c.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
        with contextlib.suppress(psycopg.Error):
            data_dir = c.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
            from bench.common import _fs_type

            host = urlsplit(base_url()).hostname or ""
            if host in ("127.0.0.1", "localhost", "::1", "") and os.path.isdir(data_dir):
                info["data_fs"] = _fs_type(data_dir)
    return info


def describe_server(info: dict[str, Any]) -> str:
    return (f"postgresql: {info.get('version', '?')} at {info.get('url')},"
            f" synchronous_commit={info.get('synchronous_commit', '?')},"
            f" fsync={info.get('fsync', '?')}, wal_sync_method={info.get('wal_sync_method', '?')},"
            f" shared_buffers={info.get('shared_buffers', '?')},"
            f" data fs {info.get('data_fs', 'unknown')}")


# --- worker processes ---------------------------------------------------------------------


def legato_cmd(*args: str) -> list[str]:
    """``legato ARGS`` with this interpreter (the venv's ``legato`` script if present)."""
    script = Path(PY).parent / "legato"
    if script.exists():
        return [str(script), *args]
    return [PY, "-c", "import sys; from legato.cli.main import main; sys.exit(main())", *args]


class Workers:
    """``n`` ``legato worker bench.pg_workloads`` processes on one schema.

    ``spawned`` is when the first was started; ``ready`` the times (perf_counter) at which
    each printed its ready line. ``stop()`` sends SIGTERM to the processes it started, by PID.
    """

    def __init__(self, url: str, n: int, concurrency: int, lease: float | None = None) -> None:
        self.url = url
        self.n = n
        self.concurrency = concurrency
        self.lease = lease
        self.procs: list[subprocess.Popen[str]] = []
        self.ready: list[float] = []
        self._errs: list[collections.deque[str]] = []
        self._lock = threading.Lock()
        self._ready_event = threading.Event()
        self.spawned = 0.0

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Workers:
        cmd = legato_cmd("worker", WORKER_MODULE, "--db", self.url,
                         "--concurrency", str(self.concurrency), "--log-level", "WARNING",
                         *(["--lease", str(self.lease)] if self.lease else []))
        self.spawned = time.perf_counter()
        for _ in range(self.n):
            err: collections.deque[str] = collections.deque(maxlen=20)
            self._errs.append(err)
            p = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            self.procs.append(p)
            threading.Thread(target=self._read, args=(p,), daemon=True).start()
            threading.Thread(target=self._read_err, args=(p, err), daemon=True).start()
        return self

    def _read(self, p: subprocess.Popen[str]) -> None:
        assert p.stdout is not None
        for line in p.stdout:
            if " ready: " in line:
                with self._lock:
                    self.ready.append(time.perf_counter())
                    if len(self.ready) >= self.n:
                        self._ready_event.set()

    @staticmethod
    def _read_err(p: subprocess.Popen[str], err: collections.deque[str]) -> None:
        assert p.stderr is not None
        for line in p.stderr:
            err.append(line.rstrip())

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Block until every worker is ready; return when the last one was."""
        end = time.perf_counter() + timeout
        while not self._ready_event.wait(0.05):
            self.check()
            if time.perf_counter() > end:
                raise TimeoutError(f"{len(self.ready)} of {self.n} workers ready after"
                                   f" {timeout:g} s")
        return max(self.ready)

    def first_ready(self) -> float | None:
        with self._lock:
            return min(self.ready) if self.ready else None

    def check(self) -> None:
        """Raise if a worker exited."""
        for p, err in zip(self.procs, self._errs, strict=True):
            code = p.poll()
            if code is not None:
                tail = list(err)[-10:]
                raise RuntimeError(f"legato worker (pid {p.pid}) exited {code}:\n  "
                                   + "\n  ".join(tail))

    def pause(self) -> None:
        """SIGSTOP every worker (by PID): they hear nothing until :meth:`resume`."""
        for p in self.procs:
            os.kill(p.pid, signal.SIGSTOP)

    def resume(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)

    def stop(self, timeout: float = 20.0) -> None:
        self.resume()  # a stopped process would not act on SIGTERM
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        # the pipes are left to the reader threads, which end at EOF (closing a pipe here
        # could block on a read in progress if a grandchild still held its other end)
        self.procs, self._errs = [], []


# --- the summary --------------------------------------------------------------------------


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #3's benchmark goals, each with what this run measured."""
    targets: list[dict[str, Any]] = [
        {"target": "3-step start-to-result p50 < 15 ms", "unit": "ms",
         "path": ("pg_latency", "latency_ms_p50"), "ok": lambda v: v < 15,
         "note": "in-process engine"},
        {"target": "at most one commit per step", "unit": "ratio",
         "path": ("pg_latency", "commits_per_step"), "ok": lambda v: v <= 1.0,
         "note": "3-step run: commits after the start / 3"},
        {"target": "group commit across workflows", "unit": "x",
         "path": ("pg_throughput", "steps_per_commit"), "ok": lambda v: v > 1.0,
         "note": "1,000 x 10: steps per commit"},
        {"target": "event-to-wake p50 < 5 ms (NOTIFY)", "unit": "ms",
         "path": ("pg_notify", "event_busy", "woke_ms_p50"), "ok": lambda v: v < 5,
         "note": "publish -> next step runs, back to back"},
        {"target": "(info) event -> next step recorded too, p50, back to back", "unit": "ms",
         "path": ("pg_notify", "event_busy", "recorded_ms_p50")},
        {"target": "(info) event -> wake, p50, idle machine", "unit": "ms",
         "path": ("pg_notify", "event", "woke_ms_p50")},
        {"target": "(info) event -> next step recorded, p50, idle machine", "unit": "ms",
         "path": ("pg_notify", "event", "recorded_ms_p50")},
        {"target": "(info) raw INSERT+COMMIT p50, idle / back to back", "unit": "ms",
         "path": ("pg_notify", "raw_commit_ms_p50"),
         "also": ("pg_notify", "raw_commit_ms_p50_busy")},
        {"target": "(info) start by a client -> worker process records step 1, p50",
         "unit": "ms", "path": ("pg_notify", "pickup", "recorded_ms_p50")},
        {"target": "(info) steps/s / raw commits/s, in-process", "unit": "ratio",
         "path": ("pg_throughput", "paired_ratio")},
        {"target": "(info) execute-only steps/s / raw commits/s", "unit": "ratio",
         "path": ("pg_throughput", "execute_only_paired_ratio")},
        {"target": "(info) 4 worker processes / 1, steps/s (released)", "unit": "x",
         "path": ("pg_scale", "scaling_4_over_1")},
    ]
    rows, out = [], []
    for t in targets:
        v = dig(results, *t["path"])
        judged = "ok" in t
        met = None if v is None or not judged else bool(t["ok"](v))
        out.append({"target": t["target"], "value": v, "met": met, "note": t.get("note")})
        if v is None:
            cell = "n/a"
        elif t["unit"] == "x":
            cell = f"{v:.2f}x"
        elif t["unit"] == "ratio":
            cell = f"{v:.2f}"
        else:
            cell = fmt(v, f" {t['unit']}", 2)
        also = dig(results, *t["also"]) if "also" in t else None
        if v is not None and also is not None:
            cell += f" / {fmt(also, ' ' + t['unit'], 2)}"
        if v is None:
            verdict = "not run"
        elif not judged:
            verdict = "info"
        else:
            verdict = "met" if met else "MISSED"
        if t.get("note") and met is not None:
            verdict += f" ({t['note']})"
        rows.append([t["target"], cell, verdict])
    say()
    say("== summary against issue #3's PostgreSQL goals ==")
    table(["target", "PostgreSQL", "verdict"], rows)
    return out
