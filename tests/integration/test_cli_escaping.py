"""Every command's text output shows stored strings escaped and never as rich markup.

A stored value (an id, a name, a key, an error message, a task's data...) may hold control
characters (an ESC sequence that retitles the terminal, a newline that fakes a row), bidi
overrides or rich markup. The input contract refuses control characters in ids and names
now, so those are stored through the store (as an older version may have written them) or
carried where they are still allowed (error messages, JSON data); bidi overrides and
``[...]`` are still accepted in ids and names, so those go through the engine's API.

The commands run in this process (``legato.cli.main.main``); an engine launched here runs
the workflows they start.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import cli

import legato
from legato.cli.output import LogFormatter
from legato.domain.circuit import CircuitState
from legato.domain.events import WORKFLOW_STARTED, Event
from legato.domain.tasks import Task
from legato.store.base import NewWorkflow, ScheduleRow

#: everything at once: a title-setting OSC sequence ended by BEL, a newline followed by what
#: would look like a row of its own, a right-to-left override and rich markup
EVIL = "\x1b]0;pwned\x07\nFAKE ROW\u202e[red]markup[/red]"
#: EVIL as a table or a line shows it (safe())
SHOWN = "\\x1b]0;pwned\\x07\\nFAKE ROW\\u202e[red]markup[/red]"
#: EVIL in an error line (one_line(): whitespace runs made one space)
ONE_LINE = "\\x1b]0;pwned\\x07 FAKE ROW\\u202e[red]markup[/red]"
#: EVIL inside JSON text output (JSON's own escapes, and \u for the bidi override)
AS_JSON = "\\u001b]0;pwned\\u0007\\nFAKE ROW\\u202e[red]markup[/red]"

#: what the input contract still accepts in an id or a name: a bidi override, markup
NAME = "n-\u202e[red]markup[/red]"
NAME_SHOWN = "n-\\u202e[red]markup[/red]"

RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u2028")


def assert_safe(text: str, *shown: str) -> None:
    """No raw control or bidi character, no line that starts with the faked row, and each
    of ``shown`` there as it is (markup included: it was not interpreted)."""
    for c in RAW:
        assert c not in text, (c, text)
    for line in text.splitlines():
        assert not line.lstrip(" │┃|").startswith("FAKE ROW"), text
    for s in shown:
        assert s in text, (s, text)


def ok(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """stdout of ``legato ARGS``, which must succeed and print nothing on stderr."""
    rc, out, err = cli(capsys, *args)
    assert (rc, err) == (0, ""), (rc, out, err)
    return out


def one_error_line(err: str, *shown: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert_safe(err, *shown)


def until(check: Callable[[], Any], timeout: float = 20) -> Any:
    end = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)
    return value


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables wide enough that no cell wraps (a wrapped cell would add lines of its own)."""
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.fixture
def names(unique_name: Callable[[str], str]) -> dict[str, str]:
    """Workflows: fail (raises EVIL), echo (returns its input), waiter (sets state EVIL,
    waits for an event then a signal NAME), sleeper (sleeps an hour), ask (a human task
    NAME for group g, with EVIL in its data)."""
    found = {k: unique_name(f"cli_esc_{k}") for k in ("fail", "echo", "waiter", "sleeper",
                                                       "ask")}

    @legato.workflow(name=found["fail"])
    def fail(ctx: legato.WorkflowContext) -> None:
        raise ValueError(EVIL)

    @legato.workflow(name=found["echo"])
    def echo(ctx: legato.WorkflowContext, value: Any) -> dict[str, Any]:
        return {"v": value}

    @legato.workflow(name=found["waiter"])
    def waiter(ctx: legato.WorkflowContext) -> Any:
        ctx.set_state("stage", EVIL)
        got = ctx.wait_event("evt.t", key="k")
        ctx.wait_signal(NAME)
        return got

    @legato.workflow(name=found["sleeper"])
    def sleeper(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(3600)
        return "woke"

    @legato.workflow(name=found["ask"])
    def ask(ctx: legato.WorkflowContext) -> dict[str, Any]:
        return ctx.human_task(NAME, group="g", data={"note": EVIL})

    return found


@pytest.fixture
def engine(make_engine: Callable[..., legato.Engine], names: dict[str, str]
           ) -> Iterator[legato.Engine]:
    """A launched engine (the workflows of ``names`` registered) on this test's database."""
    yield make_engine().launch()


# --- workflows: list, show, start, cancel, terminate, retry ------------------------------


def test_workflow_commands(engine: legato.Engine, names: dict[str, str], db_url: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--db", db_url)
    failed = "f-\u202e[red]markup[/red]"
    failed_shown = "f-\\u202e[red]markup[/red]"
    engine.start(names["fail"], workflow_id=failed)
    until(lambda: engine.handle(failed).status == "FAILED")
    # a row of an older version: an id and a name no longer accepted (nobody runs it)
    now = engine.clock.now()
    engine.store.create(NewWorkflow(id=EVIL, name=EVIL, input="[]", now=now),
                        Event(1, WORKFLOW_STARTED, now, name="n", data={"input": []}))

    out = ok(capsys, "list", *db)
    assert_safe(out, failed_shown, SHOWN)
    assert len(out.splitlines()) == 3  # the header and two rows

    out = ok(capsys, "show", failed, *db)
    assert_safe(out, failed_shown, f"ValueError: {ONE_LINE}")

    shown = json.loads(ok(capsys, "show", failed, "--json", *db))  # JSON, escaped by JSON
    assert shown["workflow_id"] == failed and shown["error"]["message"] == EVIL

    # an existing id: start returns that run; its failure is one safe error line
    rc, out, err = cli(capsys, "start", names["fail"], "--id", failed, "--wait", *db)
    assert rc == 1 and out == f"{failed_shown}\n", out
    one_error_line(err, "f-\\u202e[red]markup[/red]", "FAILED", ONE_LINE)

    # a result holding everything: printed as JSON text, which reads back the same
    rc, out, err = cli(capsys, "start", names["echo"], "-i", json.dumps(EVIL), "--wait",
                       "--timeout", "20", *db)
    assert (rc, err) == (0, ""), (rc, out, err)
    _, result = out.splitlines()
    assert_safe(result, AS_JSON)
    assert json.loads(result) == {"v": EVIL}

    out = ok(capsys, "cancel", failed, *db)
    assert_safe(out, f"workflow '{failed_shown}' already ended FAILED")

    sleepers = ["s1-\u202e[red]markup[/red]", "s2-\u202e[red]markup[/red]"]
    for sid in sleepers:
        engine.start(names["sleeper"], workflow_id=sid)
    until(lambda: all(engine.handle(s).status == "WAITING" for s in sleepers))
    out = ok(capsys, "cancel", sleepers[0], *db)
    assert_safe(out, "cancel requested for s1-\\u202e[red]markup[/red] (was WAITING)")
    out = ok(capsys, "terminate", sleepers[1], "--reason", NAME, *db)
    assert_safe(out, f"terminated s2-\\u202e[red]markup[/red] (was WAITING): {NAME_SHOWN}")

    out = ok(capsys, "retry", failed, *db)
    assert_safe(out, f"retrying {failed_shown} from its failed step")

    # the old row cannot be retried (its id is refused now): the refusal lists it, safely
    rc, out, err = cli(capsys, "retry", "--all", "--status", "PENDING", *db)
    assert rc == 0, (out, err)
    assert_safe(out, "retried 0 workflow(s); 1 refused", f"  {SHOWN}: ")
    assert len(out.splitlines()) == 2


# --- events: publish, signal, query, circuits --------------------------------------------


def test_event_commands(engine: legato.Engine, names: dict[str, str], db_url: str,
                        capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--db", db_url)
    wid = "w-\u202e[red]markup[/red]"
    wid_shown = "w-\\u202e[red]markup[/red]"
    engine.start(names["waiter"], workflow_id=wid)
    until(lambda: engine.handle(wid).status == "WAITING")

    out = ok(capsys, "query", wid, "stage", *db)
    assert_safe(out, AS_JSON)
    assert json.loads(out) == EVIL

    out = ok(capsys, "publish", "evt.t", "--key", "k", "--data", json.dumps(EVIL), *db)
    assert_safe(out, f"delivered to 1 workflow(s): {wid_shown}")
    out = ok(capsys, "signal", wid, NAME, "--data", json.dumps(EVIL), *db)
    assert_safe(out, f"signal '{NAME_SHOWN}' sent to {wid_shown}")
    until(lambda: engine.handle(wid).status == "COMPLETED")
    assert engine.handle(wid).result(timeout=5) == EVIL

    out = ok(capsys, "publish", "[red]markup[/red]", "--id", NAME, *db)
    assert_safe(out, f"event {NAME_SHOWN} buffered")
    out = ok(capsys, "publish", "[red]markup[/red]", "--id", NAME, *db)
    assert_safe(out, f"event {NAME_SHOWN} was published before")

    now = engine.clock.now()
    assert engine.store.circuit_save(
        CircuitState(name=EVIL, state="OPEN", failures=3, opened_at=now,
                     next_probe_at=now + 60, reason=EVIL), 0, now, "CLOSED")
    out = ok(capsys, "circuits", "--history", *db)
    assert_safe(out, SHOWN, f"  {SHOWN}: CLOSED -> OPEN ({SHOWN})")
    assert sum(SHOWN in line for line in out.splitlines()) == 2  # its row and its change


# --- people: tasks and users ------------------------------------------------------------


def test_task_and_user_commands(engine: legato.Engine, names: dict[str, str], db_url: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--db", db_url)
    now = engine.clock.now()
    engine.store.add_user(EVIL, [EVIL], now)  # written before names were checked
    out = ok(capsys, "users", "list", *db)
    assert out == f"{SHOWN}: {SHOWN}\n"
    out = ok(capsys, "users", "add", NAME, "--group", "g", "--group", NAME, *db)
    assert_safe(out, f"user {NAME_SHOWN}: groups ")
    assert NAME_SHOWN in out.split("groups ", 1)[1]

    engine.start(names["ask"], workflow_id="a-1")
    engine.start(names["ask"], workflow_id="a-2")
    tasks = until(lambda: len(engine.tasks.list(group="g")) == 2 and engine.tasks.list(
        group="g"))
    engine.store.create_task(Task(id=EVIL, workflow_id=EVIL, name=EVIL, assignee=EVIL,
                                  group=EVIL, data=EVIL), now)
    out = ok(capsys, "tasks", "list", *db)
    assert_safe(out, SHOWN, NAME_SHOWN, "\\u001b]0;pwned")  # the data cell: JSON, escaped
    assert sum(NAME_SHOWN in line for line in out.splitlines()) == 2
    assert sum(SHOWN in line for line in out.splitlines()) == 1
    json_list = json.loads(ok(capsys, "tasks", "list", "--json", *db))
    assert {t["name"] for t in json_list} == {NAME, EVIL}

    first, second = (t.id for t in tasks)
    out = ok(capsys, "tasks", "claim", first, "--user", NAME, *db)
    assert_safe(out, f"task {first} CLAIMED by {NAME_SHOWN}")
    out = ok(capsys, "tasks", "complete", first, "--user", NAME, "--data", '{"ok": 1}', *db)
    assert_safe(out, f"task {first} COMPLETED")
    out = ok(capsys, "tasks", "reject", second, "--user", NAME, "--reason", NAME, *db)
    assert_safe(out, f"task {second} REJECTED")


# --- schedules and queues ---------------------------------------------------------------


def test_schedule_and_queue_commands(engine: legato.Engine, names: dict[str, str],
                                     db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--db", db_url)
    now = engine.clock.now()
    engine.store.put_schedule(ScheduleRow(name=EVIL, workflow=EVIL, cron="0 3 * * *",
                                          timezone="UTC", catch_up=EVIL, args=[],
                                          paused=True, next_tick=now + 86400), now)
    engine.schedules.create(NAME, names["echo"], "0 3 * * *", args=[1])
    for args in (("schedules",), ("schedules", "list")):
        out = ok(capsys, *args, *db)
        assert_safe(out, SHOWN, NAME_SHOWN)
        assert sum(SHOWN in line for line in out.splitlines()) == 1
        assert sum(NAME_SHOWN in line for line in out.splitlines()) == 1
    out = ok(capsys, "schedules", "pause", NAME, *db)
    assert out == f"schedule {NAME_SHOWN} paused\n"
    out = ok(capsys, "schedules", "resume", NAME, *db)
    assert_safe(out, f"schedule {NAME_SHOWN} resumed; next run ")

    engine.store.put_queue(EVIL, 2, (5, 1.0), None, now)
    engine.store.put_queue(NAME, None, None, 3, now)
    out = ok(capsys, "queues", *db)
    assert_safe(out, SHOWN, NAME_SHOWN)
    assert sum(SHOWN in line or NAME_SHOWN in line for line in out.splitlines()) == 2


# --- asl: validate, run, graph (no database) ---------------------------------------------


def _write(tmp_path: Path, name: str, machine: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(machine), encoding="utf-8")
    return str(path)


def test_asl_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = "S\x1b[2J\x07\u202e[red]markup[/red]"  # (graph labels turn ";" into ",")
    state_shown = "S\\x1b[2J\\x07\\u202e[red]markup[/red]"
    good = _write(tmp_path, "good.json", {"StartAt": state, "States": {
        state: {"Type": "Pass", "Result": {"v": EVIL}, "End": True}}})

    out = ok(capsys, "asl", "graph", good)
    assert_safe(out, state_shown)

    rc, out, err = cli(capsys, "asl", "run", good, "--history")
    assert rc == 0, (out, err)
    assert_safe(out, AS_JSON)
    assert json.loads(out) == {"v": EVIL}
    assert_safe(err, f"PassStateEntered:{state_shown}")

    bad = _write(tmp_path, "bad.json", {"StartAt": state, "States": {
        state: {"Type": "Pass", "Next": EVIL}}})
    rc, out, err = cli(capsys, "asl", "validate", good, bad)
    assert rc == 1, (out, err)
    assert_safe(out, "bad.json: 1 problem")
    assert out.splitlines()[0].endswith("good.json: ok")
    assert len(out.splitlines()) == 3, out

    failing = _write(tmp_path, "fail.json", {"StartAt": "F", "States": {
        "F": {"Type": "Fail", "Error": EVIL, "Cause": EVIL}}})
    rc, out, err = cli(capsys, "asl", "run", failing)
    assert (rc, out) == (1, ""), (out, err)
    one_error_line(err, f"execution FAILED: {ONE_LINE}: {ONE_LINE}")


# --- worker: its lines and its logs ----------------------------------------------------


def test_the_worker_log_lines_are_escaped() -> None:
    formatter = LogFormatter("%(levelname)s %(name)s: %(message)s")
    try:
        raise ValueError(EVIL)
    except ValueError:
        record = logging.LogRecord("legato", logging.ERROR, __file__, 1, "workflow %s failed",
                                   (EVIL,), sys.exc_info())
    text = formatter.format(record)
    assert_safe(text, f"ERROR legato: workflow {SHOWN} failed", "Traceback (most recent")
    assert f"ValueError: {SHOWN}" in text.splitlines()  # the traceback keeps its lines


def test_the_worker_ready_line_is_escaped(tmp_path: Path) -> None:
    (tmp_path / "flows_esc.py").write_text(textwrap.dedent(f'''
        import legato


        @legato.workflow(name={NAME!r})
        def evil(ctx: legato.WorkflowContext) -> None:
            return None
    '''), encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("LEGATO_DATABASE_URL", "LEGATO_DEBUG")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    proc = subprocess.Popen(
        [sys.executable, "-m", "legato.cli.main", "worker", "flows_esc.py", "--db",
         f"sqlite:///{tmp_path / 'w.db'}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, encoding="utf-8")
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert_safe(ready, f"registered ({NAME_SHOWN})")
    assert_safe(out + err)
