"""The ``legato`` command line, run as real processes on a SQLite file per test."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import legato as legato_api

CLI = [sys.executable, "-m", "legato.cli.main"]

FLOWS = textwrap.dedent('''
    """Workflows for the CLI tests; side effects are written next to this file."""
    import time
    from pathlib import Path

    import legato

    HERE = Path(__file__).parent


    def note(what: str) -> None:
        with open(HERE / "calls.log", "a") as f:
            f.write(what + "\\n")


    @legato.step(retry=legato.RetryPolicy(max_attempts=3, initial_interval=0.02))
    def flaky(order: str) -> dict:
        note("flaky")
        marker = HERE / f"flaky-{order}.seen"
        if not marker.exists():
            marker.write_text("1")
            raise ConnectionError("warehouse busy [try again]")
        return {"order": order, "key": legato.step_key()}


    @legato.step(retry=legato.RetryPolicy(max_attempts=1))
    def boom(why: str) -> None:
        raise ValueError(why)


    @legato.step
    def slow_step() -> str:
        (HERE / "slow.started").write_text("1")
        time.sleep(0.6)  # SIGTERM arrives meanwhile; the grace lets it finish
        note("slow_step")
        return "slow done"


    @legato.step
    def after() -> str:
        note("after")
        return "after done"


    @legato.workflow(name="order")
    def order(ctx: legato.WorkflowContext, order_id: str, qty: int = 1) -> dict:
        stock = flaky(order_id)
        ctx.sleep(0.05)
        return {"stock": stock, "qty": qty}


    @legato.workflow(name="failing")
    def failing(ctx: legato.WorkflowContext, why: str) -> None:
        boom(why)


    @legato.workflow(name="sleeper")
    def sleeper(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(3600)
        return "woke"


    @legato.workflow(name="slow")
    def slow(ctx: legato.WorkflowContext) -> list:
        first = slow_step()
        ctx.sleep(0.1)
        return [first, after()]


    @legato.step
    def held_step() -> str:
        (HERE / "held.started").write_text("1")
        end = time.monotonic() + 60
        while not (HERE / "held.release").exists() and time.monotonic() < end:
            time.sleep(0.02)
        note("held_step")
        return "released"


    @legato.workflow(name="held")
    def held(ctx: legato.WorkflowContext) -> str:
        return held_step()
''')


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LEGATO_DATABASE_URL", "LEGATO_DEBUG")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def legato(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``legato ARGS`` to completion."""
    return subprocess.run([*CLI, *args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


class WorkerProcess:
    """A ``legato worker`` subprocess whose output goes to files in the test's folder."""

    def __init__(self, folder: Path, db: str, *modules: str, tag: str = "worker",
                 options: tuple[str, ...] = ()) -> None:
        self.out = folder / f"{tag}.out"
        self.err = folder / f"{tag}.err"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen([*CLI, "worker", *modules, "--db", db, "--grace", "10",
                                          *options],
                                         cwd=folder, env=_env(), stdout=out, stderr=err,
                                         text=True)

    def wait_ready(self, timeout: float = 15) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = self.out.read_text()
            if " ready: " in text:
                return text
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"worker not ready (exit {self.proc.poll()}):\n"
                             f"{self.out.read_text()}\n{self.err.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "flows.py").write_text(FLOWS)
    return tmp_path


@pytest.fixture
def db(folder: Path) -> str:
    return f"sqlite:///{folder / 'cli.db'}"


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Workers started by :func:`start_worker`; any still running are killed at the end."""
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.kill()


def start_worker(workers: list[WorkerProcess], folder: Path, db: str, module: str = "flows",
                 tag: str = "worker", options: tuple[str, ...] = ()) -> WorkerProcess:
    w = WorkerProcess(folder, db, module, tag=tag, options=options)
    workers.append(w)
    w.wait_ready()
    return w


def wait_for_file(path: Path, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path.name} never appeared"
        time.sleep(0.02)


def state(db: str, wid: str) -> dict[str, Any]:
    """The workflow's description plus ``history``, read in this process (no CLI start-up)."""
    engine = legato_api.Engine(db)
    try:
        handle = engine.handle(wid)
        return {**handle.describe(), "history": handle.history()}
    finally:
        engine.shutdown()


def wait_for_status(db: str, wid: str, *statuses: str, timeout: float = 10) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        d = state(db, wid)
        if d["status"] in statuses:
            return d
        assert time.monotonic() < end, f"{wid} is {d['status']}, not {statuses}"
        time.sleep(0.02)


def assert_one_error_line(r: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: "), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# --- happy path ----------------------------------------------------------------------------


def test_worker_start_wait_list_and_show(folder: Path, db: str, workers: list[WorkerProcess]
                                         ) -> None:
    w = start_worker(workers, folder, db)
    ready = w.out.read_text()
    assert "5 workflows registered" in ready and "order" in ready and db in ready

    r = legato("start", "order", "--input", '"o-1"', "--input", "3", "--id", "o-1", "--wait",
               "--timeout", "15", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "o-1"
    assert json.loads(lines[-1]) == {"stock": {"order": "o-1", "key": "o-1:2"}, "qty": 3}
    assert (folder / "calls.log").read_text().split() == ["flaky", "flaky"]  # failed once

    # starting the same id again returns the same run (idempotent), without running it again
    r = legato("start", "order", "-i", '"o-1"', "-i", "3", "--id", "o-1", "--wait", "--db", db,
               cwd=folder)
    assert r.returncode == 0 and r.stdout.split()[0] == "o-1", r.stderr
    # ... but a different input under that id is a conflict
    r = legato("start", "order", "-i", '"o-2"', "--id", "o-1", "--db", db, cwd=folder)
    assert_one_error_line(r, 2, "o-1")

    # a failing workflow: status and error on one line, exit 1
    r = legato("start", "failing", "--input", '"no stock"', "--id", "f-1", "--wait", "--db", db,
               cwd=folder)
    assert r.stdout.strip() == "f-1"
    assert_one_error_line(r, 1, "f-1", "FAILED", "ValueError", "no stock")

    # list: newest first, as a table and as one JSON array, with filters
    r = legato("list", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.strip().splitlines()]
    assert rows[0][:3] == ["ID", "NAME", "STATUS"]
    assert [row[:3] for row in rows[1:]] == [["f-1", "failing", "FAILED"],
                                             ["o-1", "order", "COMPLETED"]]
    r = legato("list", "--json", "--status", "completed", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    assert [(d["workflow_id"], d["status"]) for d in items] == [("o-1", "COMPLETED")]
    r = legato("--db", db, "list", "--name", "failing", "--json", cwd=folder)  # --db up front
    assert [d["workflow_id"] for d in json.loads(r.stdout)] == ["f-1"]
    r = legato("list", "--json", "--limit", "1", "--db", db, cwd=folder)
    assert [d["workflow_id"] for d in json.loads(r.stdout)] == ["f-1"]

    # show: description plus a readable timeline with the failed and the retried attempt
    r = legato("show", "o-1", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for text in ("o-1", "order", "COMPLETED", '["o-1", 3]', '"qty": 3', "WorkflowStarted",
                 "TimerStarted", "TimerFired", "WorkflowCompleted",
                 "ConnectionError: warehouse busy [try again]"):
        assert text in out, (text, out)
    timeline = [line.split() for line in out.splitlines() if " Step" in line]
    assert [(t[0], t[3], t[4], t[5]) for t in timeline] == [
        ("2", "StepFailed", "flaky", "1"), ("3", "StepCompleted", "flaky", "2")]
    r = legato("show", "o-1", "--json", "--db", db, cwd=folder)
    d = json.loads(r.stdout)
    assert d["status"] == "COMPLETED" and d["input"] == ["o-1", 3]
    assert [e["type"] for e in d["history"]] == [
        "WorkflowStarted", "StepFailed", "StepCompleted", "TimerStarted", "TimerFired",
        "WorkflowCompleted"]
    d = state(db, "f-1")
    assert d["status"] == "FAILED" and d["error"]["message"] == "no stock"

    assert w.stop(signal.SIGINT) == 0
    assert "Traceback" not in w.err.read_text()


def test_cancel_and_terminate_sleeping_workflows(folder: Path, db: str,
                                                 workers: list[WorkerProcess]) -> None:
    w = start_worker(workers, folder, db, module="flows.py")  # a path works as well
    r = legato("start", "sleeper", "--id", "s-1", "--db", db, cwd=folder)
    assert r.returncode == 0 and r.stdout.strip() == "s-1", r.stderr
    r = legato("start", "sleeper", "--id", "s-2", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    wait_for_status(db, "s-1", "WAITING")
    wait_for_status(db, "s-2", "WAITING")

    r = legato("cancel", "s-1", "--wait", "--timeout", "10", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    assert "cancel requested for s-1" in r.stdout and "s-1 CANCELLED" in r.stdout
    d = state(db, "s-1")
    assert d["status"] == "CANCELLED"
    assert d["history"][-1]["type"] == "WorkflowCancelled"
    r = legato("show", "s-1", "--db", db, cwd=folder)
    assert "CANCELLED" in r.stdout and "WorkflowCancelled" in r.stdout

    r = legato("terminate", "s-2", "--reason", "duplicate order", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    d = state(db, "s-2")
    assert d["status"] == "CANCELLED" and d["error"]["message"] == "duplicate order"
    assert d["history"][-1]["type"] == "WorkflowTerminated"

    # cancelling what has ended changes nothing and says so
    r = legato("cancel", "s-2", "--db", db, cwd=folder)
    assert r.returncode == 0 and "already ended CANCELLED" in r.stdout
    assert w.stop() == 0

    # both ended: a purge of what ended before now deletes them (a dry run only counts)
    r = legato("purge", "--older-than", "0", "--dry-run", "--db", db, cwd=folder)
    assert r.returncode == 0 and r.stdout.strip() == "2 runs would be deleted", r.stderr
    r = legato("purge", "--older-than", "0s", "--status", "cancelled", "--db", db, cwd=folder)
    assert r.returncode == 0 and r.stdout.strip() == "2 runs deleted", r.stderr
    r = legato("show", "s-1", "--db", db, cwd=folder)
    assert r.returncode == 2


def test_a_worker_with_retention_purges_what_ended(folder: Path, db: str,
                                                   workers: list[WorkerProcess]) -> None:
    # seconds for `start --wait` to read the result before the run goes
    w = WorkerProcess(folder, db, "flows", "--retention", "3s", "--lease", "0.3")
    workers.append(w)
    w.wait_ready()
    r = legato("start", "order", "--input", '"o-9"', "--id", "o-9", "--wait", "--db", db,
               cwd=folder)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and legato("show", "o-9", "--db", db,
                                                 cwd=folder).returncode == 0:
        time.sleep(0.1)
    assert legato("show", "o-9", "--db", db, cwd=folder).returncode == 2  # purged
    assert w.stop() == 0


def test_sigterm_stops_gracefully_and_next_worker_finishes(folder: Path, db: str,
                                                           workers: list[WorkerProcess]
                                                           ) -> None:
    first = start_worker(workers, folder, db, tag="first")
    r = legato("start", "slow", "--id", "slow-1", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    wait_for_file(folder / "slow.started")  # the step is running

    assert first.stop(signal.SIGTERM) == 0  # the running step finishes within the grace
    assert "Traceback" not in first.err.read_text()
    assert "SIGTERM" in first.err.read_text()
    d = state(db, "slow-1")
    assert d["status"] in ("PENDING", "WAITING"), d["status"]
    assert [e["type"] for e in d["history"]][:2] == ["WorkflowStarted", "StepCompleted"]

    start_worker(workers, folder, db, tag="second")
    r = legato("start", "slow", "--id", "slow-1", "--wait", "--timeout", "15", "--db", db,
               cwd=folder)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == ["slow done", "after done"]
    assert (folder / "calls.log").read_text().split() == ["slow_step", "after"]  # ran once


def test_a_worker_with_processes_runs_workflows_in_them_and_stops_them(
        folder: Path, db: str, workers: list[WorkerProcess]) -> None:
    w = start_worker(workers, folder, db, options=("--processes", "2"))
    ready = w.wait_ready()
    pids = [int(p) for p in re.findall(r"worker processes ([\d, ]+)\)", ready)[0].split(", ")]
    assert len(pids) == 2 and w.proc.pid not in pids
    r = legato("start", "slow", "--id", "in-a-process", "--wait", "--timeout", "15",
               "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == ["slow done", "after done"]
    assert w.stop(signal.SIGTERM) == 0
    assert "Traceback" not in w.err.read_text()
    for pid in pids:  # the worker processes stopped with it
        end = time.monotonic() + 10
        while time.monotonic() < end and Path(f"/proc/{pid}").exists():
            time.sleep(0.02)
        assert not Path(f"/proc/{pid}").exists(), f"worker process {pid} still runs"


WHERE = textwrap.dedent('''
    import threading

    import legato

    @legato.step(inline=True)
    def where_step() -> str:
        return threading.current_thread().name

    @legato.workflow(name="where")
    def where(ctx: legato.WorkflowContext) -> str:
        return where_step()
''')


@pytest.mark.parametrize(("options", "thread"), [((), "legato-hub"),
                                                 (("--no-inline-steps",), "legato-step")])
def test_worker_inline_steps_option(folder: Path, db: str, workers: list[WorkerProcess],
                                    options: tuple[str, ...], thread: str) -> None:
    (folder / "where.py").write_text(WHERE)
    start_worker(workers, folder, db, module="where", options=options)
    r = legato("start", "where", "--wait", "--timeout", "15", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == thread


def test_second_signal_exits_at_once_and_loses_nothing(folder: Path, db: str,
                                                       workers: list[WorkerProcess]) -> None:
    first = start_worker(workers, folder, db, tag="first")
    r = legato("start", "held", "--id", "held-1", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    wait_for_file(folder / "held.started")  # the step is running

    first.proc.send_signal(signal.SIGTERM)  # waits up to --grace 10 for the held step
    end = time.monotonic() + 10
    while "SIGTERM received" not in first.err.read_text():
        assert time.monotonic() < end and first.proc.poll() is None, first.err.read_text()
        time.sleep(0.02)
    t0 = time.monotonic()
    assert first.stop(signal.SIGINT, timeout=5) == 130
    assert time.monotonic() - t0 < 5
    err = first.err.read_text()
    assert "second signal, exiting now" in err and "Traceback" not in err, err

    # the run it left is taken over at once (its owner is provably dead) and finishes
    (folder / "held.release").write_text("1")
    start_worker(workers, folder, db, tag="second")
    r = legato("start", "held", "--id", "held-1", "--wait", "--timeout", "15", "--db", db,
               cwd=folder)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == "released"
    assert (folder / "calls.log").read_text().split() == ["held_step"]  # cut short once, then run


def test_sigusr1_prints_every_threads_stack_and_the_worker_carries_on(
        folder: Path, db: str, workers: list[WorkerProcess]) -> None:
    w = start_worker(workers, folder, db)
    r = legato("start", "held", "--id", "held-2", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    wait_for_file(folder / "held.started")  # the step is running
    w.proc.send_signal(signal.SIGUSR1)
    end = time.monotonic() + 10
    while "held_step" not in w.err.read_text():  # the step thread, inside the step
        assert time.monotonic() < end and w.proc.poll() is None, w.err.read_text()
        time.sleep(0.02)
    dump = w.err.read_text()
    assert "most recent call first" in dump and "hub.py" in dump, dump
    (folder / "held.release").write_text("1")
    r = legato("start", "held", "--id", "held-2", "--wait", "--timeout", "15", "--db", db,
               cwd=folder)
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[-1]) == "released", r.stderr
    assert w.stop(signal.SIGTERM) == 0


# --- other commands ------------------------------------------------------------------------


def test_version_and_db_migrate(folder: Path, db: str) -> None:
    r = legato("--version", cwd=folder)
    assert r.returncode == 0 and r.stdout.startswith("legato ")
    r = legato("db", "migrate", "--db", db, cwd=folder)
    assert r.returncode == 0, r.stderr
    assert re.search(r"schema version [1-9][0-9]*", r.stdout)
    r = legato("list", "--db", db, cwd=folder)
    assert r.returncode == 0 and r.stdout == ""


def test_database_url_from_environment(folder: Path, db: str) -> None:
    env = {**_env(), "LEGATO_DATABASE_URL": db}
    r = subprocess.run([*CLI, "db", "migrate"], cwd=folder, env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and db in r.stdout, r.stderr


# --- bad input -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder and database on which a worker once registered the flows (then stopped)."""
    folder = tmp_path_factory.mktemp("known")
    (folder / "flows.py").write_text(FLOWS)
    db = f"sqlite:///{folder / 'cli.db'}"
    w = WorkerProcess(folder, db, "flows")
    try:
        w.wait_ready()
        assert w.stop() == 0
    finally:
        w.kill()
    return folder, db


@pytest.mark.parametrize(("args", "words"), [
    (["start", "nope"], ["unknown workflow 'nope'", "order"]),
    (["start", "order", "--input", '"ok"', "--input", "{oops"], ["--input #2", "not JSON"]),
    (["start", "order", "--input", "o-1"], ["--input #1", "not JSON", "o-1"]),
    (["show", "ghost"], ["ghost"]),
    (["cancel", "ghost"], ["ghost"]),
    (["terminate", "ghost"], ["ghost"]),
    (["list", "--status", "DONE"], ["'DONE'", "COMPLETED"]),
    (["purge", "--older-than", "soon"], ["--older-than", "'soon'", "30d"]),
    (["purge", "--older-than", "1d", "--status", "RUNNING"], ["only ended runs", "RUNNING"]),
])
def test_bad_input_is_one_line_and_exit_2(known: tuple[Path, str], args: list[str],
                                          words: list[str]) -> None:
    folder, db = known
    r = legato(*args, "--db", db, cwd=folder)
    assert_one_error_line(r, 2, *words)


MISSING_DIR = "sqlite:///{folder}/missing/dir/x.db"


@pytest.mark.parametrize(("command", "url", "words"), [
    (["list"], MISSING_DIR, ["missing"]),
    (["show", "x"], MISSING_DIR, ["missing"]),
    (["start", "order"], MISSING_DIR, ["missing"]),
    (["cancel", "x"], MISSING_DIR, ["missing"]),
    (["db", "migrate"], MISSING_DIR, ["missing"]),
    (["list"], "mysql://root@localhost/x", ["unsupported database URL"]),
    (["start", "order"], "postgresql://legato:secret@127.0.0.1:1/nope", []),  # nothing listens
])
def test_unusable_database_is_one_line_and_exit_2(folder: Path, command: list[str], url: str,
                                                  words: list[str]) -> None:
    r = legato(*command, "--db", url.format(folder=folder), cwd=folder)
    line = assert_one_error_line(r, 2, *words)
    assert "secret" not in line  # passwords are never printed


def test_unusable_database_for_worker(folder: Path) -> None:
    r = legato("worker", "flows", "--db", f"sqlite:///{folder}/missing/x.db", cwd=folder)
    assert_one_error_line(r, 2, "missing")


@pytest.mark.parametrize(("module", "source", "words"), [
    ("no_such_module", None, ["'no_such_module'", "ModuleNotFoundError"]),
    ("broken", "import legato\nraise RuntimeError('half written')\n",
     ["'broken'", "RuntimeError", "half written"]),
    ("syntax.py", "def oops(:\n", ["'syntax.py'", "SyntaxError"]),
    ("missing.py", None, ["'missing.py'", "no such file"]),
])
def test_worker_module_that_fails_to_import(folder: Path, db: str, module: str,
                                            source: str | None, words: list[str]) -> None:
    if source is not None:
        (folder / (module if module.endswith(".py") else module + ".py")).write_text(source)
    r = legato("worker", "flows", module, "--db", db, cwd=folder)
    assert_one_error_line(r, 2, "cannot import module", *words)
    assert "ready" not in r.stdout


def test_usage_errors_exit_2(folder: Path, db: str) -> None:
    r = legato("start", "--db", db, cwd=folder)  # NAME missing: Typer's own usage message
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = legato("frobnicate", cwd=folder)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_wait_that_times_out_exits_3(known: tuple[Path, str]) -> None:
    folder, db = known  # no worker runs here: the workflow stays PENDING
    r = legato("start", "sleeper", "--id", "never-picked-up", "--wait", "--timeout", "0.2",
               "--db", db, cwd=folder)
    assert r.stdout.strip() == "never-picked-up"
    assert_one_error_line(r, 3, "still PENDING", "legato show never-picked-up")


def test_retry_single_and_all(tmp_path: Path) -> None:
    """`legato retry ID` and `legato retry --all` redrive FAILED workflows."""
    legato = legato_api

    url = f"sqlite:///{tmp_path / 'retry.db'}"
    flag = tmp_path / "broken"
    flag.write_text("yes")

    @legato.step(retry=legato.RetryPolicy(max_attempts=1))
    def cli_retry_step(path: str) -> str:
        if Path(path).exists():
            raise ConnectionError("still broken")
        return "ok"

    @legato.workflow(name="cli_retry_wf")
    def cli_retry_wf(ctx: legato.WorkflowContext, path: str) -> str:
        return cli_retry_step(path)

    try:
        with legato.Engine(url) as engine:
            hs = [engine.start(cli_retry_wf, str(flag)) for _ in range(3)]
            for h in hs:
                with pytest.raises(legato.WorkflowFailed):
                    h.result(timeout=10)
            flag.unlink()
            one = subprocess.run([sys.executable, "-m", "legato.cli.main", "retry",
                                  hs[0].workflow_id, "--db", url],
                                 capture_output=True, text=True, timeout=60)
            assert one.returncode == 0, one.stderr
            assert hs[0].result(timeout=10) == "ok"
            bulk = subprocess.run([sys.executable, "-m", "legato.cli.main", "retry", "--all",
                                   "--name", "cli_retry_wf", "--status", "FAILED",
                                   "--db", url], capture_output=True, text=True, timeout=60)
            assert bulk.returncode == 0, bulk.stderr
            assert "retried 2 workflow(s)" in bulk.stdout
            assert [h.result(timeout=10) for h in hs] == ["ok", "ok", "ok"]
            bad = subprocess.run([sys.executable, "-m", "legato.cli.main", "retry",
                                  hs[0].workflow_id, "--db", url],
                                 capture_output=True, text=True, timeout=60)
            assert bad.returncode == 2
            assert bad.stderr.startswith("error:") and "only FAILED" in bad.stderr
            assert "Traceback" not in bad.stderr
    finally:
        legato.runtime.registry.REGISTRY.remove("cli_retry_wf")


def test_tasks_and_users_from_the_shell(tmp_path: Path) -> None:
    """`legato users add`, `legato tasks list|claim|complete|reject`."""
    legato = legato_api
    url = f"sqlite:///{tmp_path / 'tasks.db'}"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "legato.cli.main", *args, "--db", url],
                              capture_output=True, text=True, timeout=60)

    @legato.workflow(name="cli_task_wf")
    def cli_task_wf(ctx: legato.WorkflowContext) -> dict[str, Any]:
        return ctx.human_task("approve", group="finance",
                              form={"type": "object", "required": ["ok"]})

    try:
        with legato.Engine(url) as engine:
            assert cli("users", "add", "bob", "--group", "finance").returncode == 0
            assert cli("users", "add", "eve").returncode == 0
            h = engine.start(cli_task_wf)
            deadline = time.monotonic() + 10
            while not engine.tasks.list(group="finance") and time.monotonic() < deadline:
                time.sleep(0.02)
            listed = cli("tasks", "list", "--user", "bob", "--json")
            assert listed.returncode == 0, listed.stderr
            (task,) = json.loads(listed.stdout)
            denied = cli("tasks", "claim", task["id"], "--user", "eve")
            assert denied.returncode == 2 and denied.stderr.startswith("error:")
            assert "may not" in denied.stderr and "Traceback" not in denied.stderr
            bad = cli("tasks", "complete", task["id"], "--user", "bob", "--data", "{}")
            assert bad.returncode == 2 and "form" in bad.stderr
            ok = cli("tasks", "complete", task["id"], "--user", "bob", "--data", '{"ok": 1}')
            assert ok.returncode == 0, ok.stderr
            assert h.result(timeout=10)["by"] == ["bob"]
    finally:
        legato.runtime.registry.REGISTRY.remove("cli_task_wf")


def test_the_cli_and_the_library_load_only_what_they_use() -> None:
    """A user's report: every `legato` command took half a second before doing anything,
    most of it importing libraries it did not use (ASL, JSON Schema, cron, pydantic)."""
    probe = ("import sys, legato, legato.cli.main; "
             "print(sorted(m for m in ('legato.asl', 'jsonschema', 'croniter', 'pydantic')"
             " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
    # ... and each is there when it is needed
    used = ("import sys, legato.domain.schedule as s; s.validate('0 9 * * *', 'UTC', 'once'); "
            "print(sorted(m for m in ('croniter',) if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", used], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "['croniter']"


def test_the_timeline_shows_the_branch_each_event_was_recorded_in() -> None:
    from rich.console import Console

    from legato.cli.output import timeline

    history = [{"seq": 1, "type": "WorkflowStarted", "at": 0.0, "name": "wf", "input": []},
               {"seq": 2, "type": "BranchesStarted", "at": 0.0, "name": "branches",
                "count": 2},
               {"seq": 3, "type": "StepCompleted", "at": 0.1, "name": "pay", "attempt": 1,
                "result": 1, "lane": "2.1"}]
    console = Console(width=200, record=True)
    console.print(timeline(history))
    text = console.export_text()
    assert "LANE" in text.splitlines()[0]
    row = next(line for line in text.splitlines() if "pay" in line)
    assert "2.1" in row and '"lane"' not in row
    console = Console(width=200, record=True)
    console.print(timeline(history[:2]))
    assert "LANE" not in console.export_text()  # no branches, no column
