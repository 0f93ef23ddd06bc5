"""``--json`` on every command that prints (one JSON document on stdout, nothing else there),
and the empty-result rule (``no <things>`` on stderr, exit 0; ``[]`` with ``--json``).

The commands run in this process (``legato.cli.main.main``); an engine launched here runs
the workflows they start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import cli

import legato


def cli_json(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> Any:
    """``legato ARGS --json``: stdout must be exactly one JSON document."""
    rc, out, err = cli(capsys, *args, "--json")
    assert rc == code, (rc, out, err)
    if code == 0:
        assert "error:" not in err, err
    return json.loads(out)  # two documents, or text around one, fail here


def one_error_line(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])


def until(check: Callable[[], Any], timeout: float = 15) -> Any:
    end = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)
    return value


@pytest.fixture
def world(tmp_path: Path, unique_name: Callable[[str], str]
          ) -> Iterator[tuple[str, dict[str, str], legato.Engine]]:
    """A SQLite database with a launched engine running four workflows: echo, fail, ask (a
    human task for group finance) and sleeper (sleeps an hour)."""
    url = f"sqlite:///{tmp_path / 'json.db'}"
    names = {k: unique_name(f"cli_json_{k}") for k in ("echo", "fail", "ask", "sleeper")}

    @legato.workflow(name=names["echo"])
    def echo(ctx: legato.WorkflowContext, value: Any) -> dict[str, Any]:
        return {"echo": value}

    @legato.workflow(name=names["fail"])
    def fail(ctx: legato.WorkflowContext) -> None:
        raise ValueError("no stock")

    @legato.workflow(name=names["ask"])
    def ask(ctx: legato.WorkflowContext) -> dict[str, Any]:
        ctx.set_state("stage", "asking")
        return ctx.human_task("approve", group="finance")

    @legato.workflow(name=names["sleeper"])
    def sleeper(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(3600)
        return "woke"

    engine = legato.Engine(url).launch()
    try:
        yield url, names, engine
    finally:
        engine.shutdown(grace=1.0)


def test_workflow_commands_print_one_json_document(
        world: tuple[str, dict[str, str], legato.Engine],
        capsys: pytest.CaptureFixture[str]) -> None:
    url, names, engine = world
    db = ("--db", url)

    d = cli_json(capsys, "start", names["echo"], "-i", '"hi"', "--id", "e-1", "--wait",
                 "--timeout", "15", *db)
    assert (d["workflow_id"], d["status"], d["result"]) == ("e-1", "COMPLETED", {"echo": "hi"})
    d = cli_json(capsys, "start", names["echo"], "-i", "2", "--id", "e-2", *db)
    assert d["workflow_id"] == "e-2" and d["input"] == [2]
    until(lambda: engine.handle("e-2").status == "COMPLETED")

    # a wait that ends badly still prints the run (its status), then one error line
    rc, out, err = cli(capsys, "start", names["fail"], "--id", "f-1", "--wait", "--timeout",
                       "15", "--json", *db)
    assert rc == 1
    d = json.loads(out)
    assert d["status"] == "FAILED" and d["error"]["message"] == "no stock"
    one_error_line(err, "f-1", "FAILED", "no stock")
    rc, out, err = cli(capsys, "start", names["sleeper"], "--id", "s-0", "--wait",
                       "--timeout", "0.1", "--json", *db)
    assert rc == 3 and json.loads(out)["workflow_id"] == "s-0"
    one_error_line(err, "still", "legato show s-0")

    rows = cli_json(capsys, "list", *db)
    assert isinstance(rows, list)
    assert {r["workflow_id"] for r in rows} == {"e-1", "e-2", "f-1", "s-0"}
    assert cli_json(capsys, "list", "--status", "failed", *db)[0]["workflow_id"] == "f-1"
    d = cli_json(capsys, "show", "e-1", *db)
    assert d["status"] == "COMPLETED" and d["history"][0]["type"] == "WorkflowStarted"

    until(lambda: engine.handle("s-0").status == "WAITING")
    d = cli_json(capsys, "signal", "s-0", "go", "--data", '{"a": 1}', *db)
    assert d == {"workflow_id": "s-0", "name": "go", "data": {"a": 1}}
    d = cli_json(capsys, "publish", "thing.happened", "--key", "k-1", "--id", "ev-1", *db)
    assert d == {"event_id": "ev-1", "delivered_to": [], "buffered": True,
                 "duplicate": False}
    assert cli_json(capsys, "publish", "thing.happened", "--key", "k-1", "--id", "ev-1",
                    *db)["duplicate"] is True

    d = cli_json(capsys, "cancel", "s-0", "--wait", "--timeout", "15", *db)
    assert (d["status"], d["previous_status"]) == ("CANCELLED", "WAITING")
    d = cli_json(capsys, "cancel", "s-0", *db)  # already ended: nothing done
    assert (d["status"], d["previous_status"]) == ("CANCELLED", "CANCELLED")
    engine.start(names["sleeper"], workflow_id="s-1")
    until(lambda: engine.handle("s-1").status == "WAITING")
    d = cli_json(capsys, "terminate", "s-1", "--reason", "duplicate", *db)
    assert (d["status"], d["previous_status"]) == ("CANCELLED", "WAITING")
    assert d["error"]["message"] == "duplicate"

    d = cli_json(capsys, "retry", "--all", "--name", names["fail"], *db)
    assert d["retried"] == 1 and d["refused"] == []
    until(lambda: engine.handle("f-1").status == "FAILED"
          and len(engine.handle("f-1").history()) > 3)
    d = cli_json(capsys, "retry", "f-1", "--wait", "--timeout", "15", *db, code=1)
    assert d["workflow_id"] == "f-1" and d["status"] == "FAILED"

    d = cli_json(capsys, "purge", "--older-than", "0", "--dry-run", *db)
    assert d == {"count": 5, "dry_run": True}  # e-1 e-2 f-1 s-0 s-1
    d = cli_json(capsys, "purge", "--older-than", "0", "--status", "COMPLETED", *db)
    assert d == {"count": 2, "dry_run": False}


def test_people_schedules_and_store_commands_print_one_json_document(
        world: tuple[str, dict[str, str], legato.Engine],
        capsys: pytest.CaptureFixture[str]) -> None:
    url, names, engine = world
    db = ("--db", url)
    assert cli_json(capsys, "users", "add", "bob", "--group", "finance", *db) == {
        "name": "bob", "groups": ["finance"]}
    assert cli_json(capsys, "users", "list", *db) == [{"name": "bob", "groups": ["finance"]}]

    engine.start(names["ask"], workflow_id="a-1")
    engine.start(names["ask"], workflow_id="a-2")
    tasks = until(lambda: len(engine.tasks.list(group="finance")) == 2
                  and engine.tasks.list(group="finance"))
    assert cli_json(capsys, "query", "a-1", "stage", *db) == {
        "workflow_id": "a-1", "key": "stage", "value": "asking"}
    listed = cli_json(capsys, "tasks", "list", "--user", "bob", *db)
    assert sorted(t["id"] for t in listed) == sorted(t.id for t in tasks)
    first, second = (t.id for t in tasks)
    d = cli_json(capsys, "tasks", "claim", first, "--user", "bob", *db)
    assert (d["id"], d["status"], d["claimed_by"]) == (first, "CLAIMED", "bob")
    d = cli_json(capsys, "tasks", "complete", first, "--user", "bob", "--data", '{"ok": 1}',
                 *db)
    assert (d["id"], d["status"]) == (first, "COMPLETED")
    d = cli_json(capsys, "tasks", "reject", second, "--user", "bob", "--reason", "no", *db)
    assert (d["id"], d["status"]) == (second, "REJECTED")

    engine.schedules.create("nightly", names["echo"], "0 3 * * *", args=[1])
    (row,) = cli_json(capsys, "schedules", "list", *db)
    assert row["name"] == "nightly" and row["paused"] is False
    # the group's default is list (ticks left out: at 03:00 one may fire between the two)
    stable = ("name", "workflow", "cron", "timezone", "paused")
    (again,) = cli_json(capsys, "schedules", *db)
    assert {k: again.get(k) for k in stable} == {k: row.get(k) for k in stable}
    assert cli_json(capsys, "schedules", "pause", "nightly", *db)["paused"] is True
    assert cli_json(capsys, "schedules", "resume", "nightly", *db)["paused"] is False

    assert cli_json(capsys, "circuits", *db) == []
    assert cli_json(capsys, "circuits", "--history", *db) == []
    assert isinstance(cli_json(capsys, "queues", *db), list)

    d = cli_json(capsys, "db", "migrate", *db)
    assert d["url"] == url and d["version"] >= 1
    info = cli_json(capsys, "db", "migrate", "--dry-run", *db)
    assert info["exists"] is True and info["pending"] == []
    assert info["version"] == info["latest"] == d["version"]


def test_schedules_json_goes_after_the_subcommand(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "schedules", "--json", "list", "--db",
                       f"sqlite:///{tmp_path / 'x.db'}")
    assert rc == 2 and out == ""
    one_error_line(err, "legato schedules list --json")


LISTS = [
    (("list",), "workflows"),
    (("circuits",), "circuit breakers"),
    (("circuits", "--history"), "circuit breakers"),
    (("queues",), "queues"),
    (("tasks", "list"), "tasks"),
    (("events", "list"), "buffered events"),
    (("users", "list"), "users"),
    (("schedules", "list"), "schedules"),
    (("schedules",), "schedules"),
    (("circuits", "list"), "circuit breakers"),
    (("tokens", "list"), "tokens"),
    (("oplog",), "operator log entries"),
]


@pytest.fixture
def empty_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A migrated database that holds nothing."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert cli(capsys, "db", "migrate", "--db", url)[0] == 0
    return url


@pytest.mark.parametrize(("command", "things"), LISTS, ids=[" ".join(c) for c, _ in LISTS])
def test_a_list_that_finds_nothing_says_so_on_stderr(
        empty_db: str, command: tuple[str, ...], things: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, *command, "--db", empty_db) == (0, "", f"no {things}\n")
    assert cli(capsys, *command, "--json", "--db", empty_db) == (0, "[]\n", "")


def test_nothing_pending_is_said_on_stderr(empty_db: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "db", "migrate", "--dry-run", "--db", empty_db)
    assert (rc, out) == (0, "")
    assert err.startswith("no pending migrations (schema version ")
