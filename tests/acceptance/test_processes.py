"""``Engine(processes=N)``: workflows run in worker processes the engine spawns and watches.

The scenarios run ``proc_engine.py`` as a user's script (its workflows in ``__main__``) in a
real process, and kill its workers, or the script itself, by PID.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from acceptance_support import wait_until

import legato
from legato.runtime.registry import Registry
from legato.testing import VirtualClock

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "proc_engine.py"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is gone too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Script:
    """``proc_engine.py`` running in a child process; its JSON reports are collected."""

    def __init__(self, tmp: Path, *args: str) -> None:
        env = {**os.environ, "LEGATO_PROC_EFFECTS": str(tmp / "effects.txt")}
        self.popen = subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=tmp, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
        self.reports: list[dict[str, Any]] = []
        self.err = ""
        self._out = threading.Thread(target=self._read, daemon=True)
        self._out.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.reports.append(json.loads(line))

    def report(self, key: str, timeout: float = 60) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((r for r in self.reports if key in r), None)

        try:
            return wait_until(found, timeout, f"the script to report {key!r}")
        except AssertionError:
            raise AssertionError(f"no {key!r} report; stderr:\n{self.stderr()}") from None

    def wait(self, timeout: float = 90) -> int:
        code = self.popen.wait(timeout)
        self._out.join(5)
        return code

    def stderr(self) -> str:
        if self.popen.poll() is None:
            return "(still running)"
        assert self.popen.stderr is not None
        self.err = self.err or self.popen.stderr.read()
        return self.err


@pytest.fixture
def scripts(tmp_path: Path) -> Iterator[Callable[..., Script]]:
    started: list[Script] = []
    pids: list[int] = []

    def run(*args: str) -> Script:
        s = Script(tmp_path, *args)
        started.append(s)
        return s

    yield run
    for s in started:  # by PID only: the scripts, then any worker they left
        for r in s.reports:
            pids += r.get("workers", [])
        if s.popen.poll() is None:
            s.popen.kill()
            s.popen.wait(10)
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'procs.db'}"


def _hold(scripts: Callable[..., Script], tmp_path: Path, runs: int,
          steps_ran: int) -> tuple[Script, list[int]]:
    """The script running ``runs`` slow workflows in 2 worker processes, once ``steps_ran``
    steps have run; with the worker pids."""
    s = scripts("hold", _db(tmp_path), str(runs), "2")
    workers = s.report("started")["workers"]
    effects = tmp_path / "effects.txt"
    wait_until(lambda: effects.exists() and len(effects.read_text().split()) >= 3 * steps_ran,
               60, f"{steps_ran} steps to run")
    return s, workers


def _executions(tmp_path: Path) -> Counter[tuple[str, int]]:
    lines = (tmp_path / "effects.txt").read_text().split()
    return Counter((lines[i], int(lines[i + 1])) for i in range(0, len(lines), 3))


@pytest.mark.acceptance
@pytest.mark.timeout(120)
def test_workflows_run_in_the_worker_processes_and_they_exit_with_the_engine(
        tmp_path: Path, scripts: Callable[..., Script], db_url: str) -> None:
    s = scripts("run", db_url, "40", "2")
    report = s.report("ok")
    assert s.wait() == 0, s.stderr()
    assert report["ok"] is True
    assert report["handed"] == 40  # every result came up the pipes
    workers = report["workers"]
    assert len(workers) == 2 and report["parent"] not in workers
    # every step ran in a worker process, and the starts were dealt to both
    assert set(report["step_pids"]) == set(workers)
    for pid in workers:
        wait_until(lambda pid=pid: not _alive(pid), 10, f"worker process {pid} to exit")


@pytest.mark.acceptance
@pytest.mark.timeout(180)
def test_a_killed_worker_process_is_replaced_and_its_runs_finish(
        tmp_path: Path, scripts: Callable[..., Script]) -> None:
    s, first = _hold(scripts, tmp_path, 6, 12)
    victim = first[0]
    os.kill(victim, signal.SIGKILL)
    done = s.report("done", timeout=120)
    assert s.wait() == 0, s.stderr()
    assert done["results"] == [sum(range(10))] * 6
    assert victim not in done["workers"] and len(done["workers"]) == 2  # replaced
    runs = _executions(tmp_path)
    assert len(runs) == 6 * 10  # every step of every run executed, each once but the
    assert sum(n - 1 for n in runs.values()) <= 6  # ones the kill cut short, run again


@pytest.mark.acceptance
@pytest.mark.timeout(180)
def test_when_the_engines_process_dies_its_workers_exit_and_nothing_is_lost(
        tmp_path: Path, scripts: Callable[..., Script]) -> None:
    s, workers = _hold(scripts, tmp_path, 4, 8)
    s.popen.kill()  # kill -9 the engine's process: its workers see the pipe close
    s.wait()
    for pid in workers:
        wait_until(lambda pid=pid: not _alive(pid), 30, f"worker process {pid} to exit")
    fin = scripts("finish", _db(tmp_path))
    results = fin.report("results", timeout=120)["results"]
    assert fin.wait() == 0, fin.stderr()
    assert results == {f"hold-{i}": sum(range(10)) for i in range(4)}


@pytest.mark.acceptance
@pytest.mark.timeout(120)
def test_runs_handed_to_a_full_worker_process_are_given_back_and_run_later(
        tmp_path: Path, scripts: Callable[..., Script]) -> None:
    s = scripts("full", _db(tmp_path), "4")
    results = s.report("results")["results"]
    assert s.wait() == 0, s.stderr()
    assert results == [1] * 4  # 0 + 1: every run finished
    assert sum(_executions(tmp_path).values()) == 4 * 2  # and no step ran twice
    with sqlite3.connect(tmp_path / "procs.db") as db:  # given back, claimed again later
        assert db.execute("SELECT count(*) FROM workflows WHERE epoch > 1").fetchone()[0] >= 1


@pytest.mark.acceptance
@pytest.mark.timeout(120)
def test_cancel_from_the_engine_reaches_the_worker_process(
        tmp_path: Path, scripts: Callable[..., Script]) -> None:
    s = scripts("cancel", _db(tmp_path), "2")
    report = s.report("status")
    assert s.wait() == 0, s.stderr()
    assert report["status"] == "CANCELLED"
    assert report["seconds"] < 10  # at its next step boundary, not after 200 steps


def _launch_error(tmp_path: Path, head: str, pad: str) -> subprocess.CompletedProcess[str]:
    """Run a script made of ``head`` and an engine launch with ``processes=1`` (indented by
    ``pad``) that exits 3 with the ConfigError it gets."""
    script = tmp_path / "script.py"
    script.write_text(
        head
        + f"{pad}engine = legato.Engine({_db(tmp_path)!r}, processes=1)\n"
        + f"{pad}try:\n{pad}    engine.launch()\n"
        + f"{pad}except legato.ConfigError as exc:\n"
        + f"{pad}    print('ConfigError:', exc)\n{pad}    raise SystemExit(3)\n")
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 3, out.stderr
    return out


@pytest.mark.acceptance
@pytest.mark.timeout(60)
def test_a_script_without_a_main_guard_gets_a_clear_error(tmp_path: Path) -> None:
    head = "import legato\n@legato.workflow(name='unguarded_wf')\ndef wf(ctx):\n    return 1\n"
    assert "if __name__ == \"__main__\":" in _launch_error(tmp_path, head, "").stdout


@pytest.mark.acceptance
@pytest.mark.timeout(60)
def test_a_workflow_a_worker_process_cannot_find_fails_the_launch(tmp_path: Path) -> None:
    head = ("import legato\n"
            "if __name__ == '__main__':  # so registered in the parent only\n"
            "    @legato.workflow(name='parent_only')\n"
            "    def wf(ctx):\n"
            "        return 1\n")
    out = _launch_error(tmp_path, head, "    ")
    assert "'parent_only' are not registered" in out.stdout
    assert "Traceback" not in out.stderr


def test_processes_are_checked_before_anything_starts(
        tmp_path: Path, unique_name: Callable[[str], str]) -> None:
    url = _db(tmp_path)
    with pytest.raises(legato.ConfigError, match="processes must be"):
        legato.Engine(url, processes=-1)
    name = unique_name("nested")

    @legato.workflow(name=name)
    def nested(ctx: legato.WorkflowContext) -> int:
        return 1

    for options, error in [({"registry": Registry()}, "custom registry"),
                           ({"clock": VirtualClock(0.0)}, "system clock"),
                           ({}, f"'{name}' are defined inside a function")]:
        engine = legato.Engine(url, processes=1, **options)
        try:
            with pytest.raises(legato.ConfigError, match=error):
                engine.launch()
            assert engine.worker_pids == []
        finally:
            engine.shutdown()
