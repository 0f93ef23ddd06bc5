"""Helpers for the acceptance tests: worker processes, polling with deadlines, store checks.

Everything here inspects the database files directly (read-only SQL) or through the public
API of a *non-launched* ``legato.Engine``; the workers are real processes started from
``proc_worker.py`` and killed by PID only.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import acc_common as wf

import legato
from legato.runtime.registry import Registry

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "proc_worker.py"
T = TypeVar("T")


def wait_until(pred: Callable[[], T], timeout: float, what: str,
               interval: float = 0.02) -> T:
    """Poll ``pred`` until it returns something truthy; fail with ``what`` at the deadline."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# --- worker processes ------------------------------------------------------------------------


class WorkerProc:
    """One ``proc_worker.py`` child. Its stdout is read by a thread; stderr goes to a file."""

    def __init__(self, popen: subprocess.Popen[str], name: str, stderr_path: Path) -> None:
        self.popen = popen
        self.name = name
        self.stderr_path = stderr_path
        self.spawned_at = time.monotonic()
        self.ready_at: float | None = None  # monotonic
        self.ready_wall: float | None = None  # epoch seconds
        self.slow_stop: str | None = None  # its threads' stacks when it was slow to exit
        self.worker_id: str | None = None
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.stopped_line = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            line = line.strip()
            self.lines.append(line)
            if line.startswith("ready ") and not self.ready.is_set():
                self.worker_id = line.split()[1]
                self.ready_at = time.monotonic()
                self.ready_wall = time.time()
                self.ready.set()
            elif line.startswith("stopped"):
                self.stopped_line.set()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> WorkerProc:
        end = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            if not self.alive:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode} before"
                                     f" it was ready:\n{self.stderr()}")
            if time.monotonic() > end:
                raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.stderr()}")
        return self

    def signal(self, sig: int) -> None:
        if self.alive:
            os.kill(self.pid, sig)

    def sigstop_outside_write_lock(self, db_path: Path, attempts: int = 50) -> None:
        """SIGSTOP this process at a moment it holds no SQLite write lock on ``db_path``
        (a frozen lock holder would block every other process, which is not the point)."""
        for _ in range(attempts):
            self.signal(signal.SIGSTOP)
            con = sqlite3.connect(db_path, timeout=0.5, isolation_level=None)
            try:
                con.execute("BEGIN IMMEDIATE")
                con.execute("ROLLBACK")
                return
            except sqlite3.OperationalError:  # it froze inside a write: let it finish
                self.signal(signal.SIGCONT)
                time.sleep(0.01)
            finally:
                con.close()
        raise AssertionError(f"{self.name} always held the write lock when stopped")

    def kill9(self) -> float:
        """SIGKILL this process and reap it; returns the monotonic time of the kill."""
        t = time.monotonic()
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=30)
        return t

    def wait_exit(self, timeout: float, slow: float | None = None) -> int:
        """Its exit code. Still running after ``slow`` seconds (default: ``timeout``), it dumps
        every thread's stack into its log (proc_worker.py does on SIGUSR1), kept in
        ``slow_stop``; still running after ``timeout``, an AssertionError shows that log."""
        slow = timeout if slow is None else min(slow, timeout)
        try:
            return self.popen.wait(timeout=slow)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGUSR1)
            time.sleep(1.0)
            self.slow_stop = _busy_threads(self.stderr(200_000))[-20000:]
        try:
            return self.popen.wait(timeout=max(timeout - slow - 1.0, 0.1))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} (pid {self.pid}) still running {timeout}s later;"
                                 f" its threads and log:\n{self.slow_stop}") from None

    def stderr(self, limit: int = 4000) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-limit:]


def _busy_threads(dump: str) -> str:
    """A faulthandler dump without the idle step threads (waiting for work in pool.py), which
    would bury the threads that matter."""
    blocks = dump.split("\n\n")
    idle = [b for b in blocks if "Thread 0x" in b and "pool.py" in b.split("\n")[1]
            and " in _loop" in b.split("\n")[1]]
    kept = [b for b in blocks if b not in idle]
    return "\n\n".join(kept) + f"\n({len(idle)} idle step threads left out)"


class Procs:
    """Starts worker processes on one database and kills (by PID) whatever is left at the end."""

    def __init__(self, tmp_path: Path, url: str | None = None) -> None:
        self.tmp_path = tmp_path
        self.db_path = tmp_path / "legato.db"
        self.url = url or f"sqlite:///{self.db_path}"
        self.effects_path = tmp_path / "effects.db"
        self.broken_path = tmp_path / "dependency-broken"  # exists: the dependency fails
        self.all: list[WorkerProc] = []
        con = sqlite3.connect(self.effects_path, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute(wf.EFFECTS_SCHEMA)
        con.close()

    def spawn(self, *, lease: float, faults: str | None = None, grace: float = 10.0,
              concurrency: int = 500, step_threads: int = 32,
              inline: bool = False) -> WorkerProc:
        name = f"worker{len(self.all) + 1}"
        env = dict(os.environ)
        env[wf.EFFECTS_ENV] = str(self.effects_path)
        env[wf.BROKEN_ENV] = str(self.broken_path)
        env.pop("LEGATO_FAULTS", None)
        env[wf.INLINE_ENV] = "1" if inline else "0"
        env.pop("LEGATO_DATABASE_URL", None)
        if faults:
            env["LEGATO_FAULTS"] = faults
        cmd = [sys.executable, str(RUNNER), self.url, "--lease", str(lease), "--grace",
               str(grace), "--concurrency", str(concurrency), "--step-threads",
               str(step_threads)]
        stderr_path = self.tmp_path / f"{name}.stderr"
        with open(stderr_path, "w") as err:
            popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env,
                                     text=True, cwd=self.tmp_path)
        proc = WorkerProc(popen, name, stderr_path)
        self.all.append(proc)
        return proc

    def cleanup(self) -> None:
        for p in self.all:
            if p.alive:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - nothing more we can do
                pass
            if p.popen.stdout is not None:
                p.popen.stdout.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid}, rc {p.popen.returncode}):\n{p.stderr()}"
                         for p in self.all)

    def client(self) -> legato.Engine:
        """A non-launched engine (private registry) to start and inspect workflows by name."""
        return legato.Engine(self.url, registry=Registry())


# --- reading the stores ----------------------------------------------------------------------


class Inspector:
    """Read-only SQL on the legato database and the side-effect database."""

    def __init__(self, procs: Procs) -> None:
        self.db = sqlite3.connect(procs.db_path, timeout=30, isolation_level=None)
        self.fx = sqlite3.connect(procs.effects_path, timeout=30, isolation_level=None)

    def close(self) -> None:
        self.db.close()
        self.fx.close()

    def row(self, wid: str) -> tuple[str, str | None, int, float | None]:
        """(status, owner, epoch, wake_at) of one workflow."""
        r = self.db.execute("SELECT status, owner, epoch, wake_at FROM workflows WHERE id = ?",
                            (wid,)).fetchall()
        assert r, f"workflow {wid} not found"
        return r[0][0], r[0][1], int(r[0][2]), r[0][3]

    def owners(self, wids: Iterable[str] | None = None) -> dict[str, tuple[str, str | None]]:
        rows = self.db.execute("SELECT id, status, owner FROM workflows").fetchall()
        want = None if wids is None else set(wids)
        return {r[0]: (r[1], r[2]) for r in rows if want is None or r[0] in want}

    def journal_len(self, wid: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM journal WHERE workflow_id = ?",
                                   (wid,)).fetchall()[0][0])

    def completed_steps(self, wid: str) -> set[int]:
        """Step numbers (1-based, in call order) whose StepCompleted is committed."""
        rows = self.db.execute(
            "SELECT pos FROM journal WHERE workflow_id = ? AND type = 'StepCompleted'",
            (wid,)).fetchall()
        return set(self.step_numbers(wid, [int(r[0]) for r in rows]))

    def step_numbers(self, wid: str, positions: list[int]) -> list[int]:
        """Map journal positions of steps to step numbers using the effects' idempotency keys."""
        keys = {int(k.rsplit(":", 1)[1]): s for k, s in self.fx.execute(
            "SELECT key, step FROM effects WHERE wid = ?", (wid,)).fetchall()}
        return [keys[p] for p in positions]

    def workers(self) -> list[tuple[str, int, float]]:
        return [(r[0], int(r[1]), float(r[2])) for r in self.db.execute(
            "SELECT id, pid, lease_until FROM workers").fetchall()]

    def executions(self, wid: str | None = None,
                   phase: str = "done") -> dict[tuple[str, int], list[int]]:
        """(workflow id, step) -> pids that finished (``done``) or began (``start``) the
        step's code, in order."""
        sql = "SELECT wid, step, pid FROM effects WHERE phase = ?"
        params: tuple[Any, ...] = (phase,)
        if wid is not None:
            sql += " AND wid = ?"
            params = (phase, wid)
        out: dict[tuple[str, int], list[int]] = defaultdict(list)
        for w, s, pid in self.fx.execute(sql + " ORDER BY id", params).fetchall():
            out[(w, int(s))].append(int(pid))
        return out

    def started(self, wid: str, step: int, pid: int) -> bool:
        return bool(self.fx.execute(
            "SELECT 1 FROM effects WHERE wid = ? AND step = ? AND pid = ? AND phase = 'start'",
            (wid, step, pid)).fetchall())

    def finished(self, wid: str, step: int, pid: int) -> bool:
        return bool(self.fx.execute(
            "SELECT 1 FROM effects WHERE wid = ? AND step = ? AND pid = ? AND phase = 'done'",
            (wid, step, pid)).fetchall())


@dataclass
class ChainCheck:
    result: dict[str, Any]
    recorded_pids: list[int]  # per step, the pid whose result the journal holds


def check_chain(client: legato.Engine, wid: str, n_steps: int) -> ChainCheck:
    """Assert the run COMPLETED with the right result and a gap-free, duplicate-free journal
    holding exactly one StepCompleted per step; return what was recorded."""
    h = client.handle(wid)
    assert h.status == "COMPLETED", f"{wid}: {h.describe()}"
    result = h.result(timeout=1)
    assert result["sum"] == wf.expected_sum(n_steps), f"{wid}: wrong result {result}"
    hist = h.history()
    seqs = [e["seq"] for e in hist]
    assert seqs == list(range(1, len(hist) + 1)), f"{wid}: journal seqs {seqs}"
    assert hist[0]["type"] == "WorkflowStarted", f"{wid}: {hist[0]}"
    assert hist[-1]["type"] == "WorkflowCompleted", f"{wid}: {hist[-1]}"
    assert sum(e["type"] == "WorkflowCompleted" for e in hist) == 1
    done = [e for e in hist if e["type"] == "StepCompleted"]
    assert len(done) == n_steps, f"{wid}: {len(done)} StepCompleted, want {n_steps}: {hist}"
    positions = [e["pos"] for e in done]
    assert len(set(positions)) == n_steps, f"{wid}: duplicate step positions {positions}"
    assert all(e["name"] == wf.STEP for e in done)
    values = [e["result"]["v"] for e in done]
    assert values == [wf.step_value(i) for i in range(1, n_steps + 1)], f"{wid}: {values}"
    pids = [e["result"]["pid"] for e in done]
    assert result["pids"] == pids, f"{wid}: result {result} vs journal pids {pids}"
    return ChainCheck(result, pids)


def start_chain(client: legato.Engine, wid: str, delays: list[float], sleep_after: int = 0,
                sleep_secs: float = 0.0) -> None:
    client.start(wf.WORKFLOW, delays, sleep_after, sleep_secs, workflow_id=wid)
