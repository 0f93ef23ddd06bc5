"""The human-task inbox as a new user met it (issue 17): list filters (status, workflow),
open tasks by default, the audit and reassignment from the shell, permission messages that
read correctly, and times as ISO 8601 strings in every dict the inbox returns."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from cli_support import cli

import legato

Make = Callable[..., legato.Engine]
ISO_UTC = "+00:00"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def until(check: Callable[[], object], timeout: float = 10) -> object:
    end = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)
    return value


@pytest.fixture
def inbox(make_engine: Make, unique_name: Callable[[str], str]
          ) -> tuple[legato.Engine, list[legato.WorkflowHandle], list[legato.Task]]:
    """Four runs, each waiting on one task for group ``ops``: the first claimed by ann, the
    second completed, the third rejected, the fourth open. On the real clock, as the CLI's
    engines are (the audit is in time order)."""
    engine = make_engine().launch()
    engine.users.add("ann", groups=["ops"])

    @legato.workflow(name=unique_name("inbox_wf"))
    def ask(ctx: legato.WorkflowContext, n: int) -> object:
        return ctx.human_task("check", group="ops", data={"n": n}, due=3600)

    handles = [engine.start(ask, n, workflow_id=f"run-{n}") for n in range(4)]
    for h in handles:
        h.wait_status("WAITING")
    tasks = sorted(until(lambda: len(found := engine.tasks.list(group="ops")) == 4 and found),
                   key=lambda t: t.workflow_id)  # type: ignore[arg-type]
    engine.tasks.claim(tasks[0].id, "ann")
    engine.tasks.complete(tasks[1].id, "ann")
    engine.tasks.reject(tasks[2].id, "ann", reason="no")
    return engine, handles, tasks


def _ids(found: list[legato.Task]) -> list[str]:
    return sorted(t.workflow_id for t in found)


def test_list_shows_open_tasks_unless_asked_for_others(inbox) -> None:
    engine, _, _ = inbox
    # None means the open ones: OPEN and CLAIMED
    assert _ids(engine.tasks.list(group="ops")) == ["run-0", "run-3"]
    assert _ids(engine.tasks.list(user="ann")) == ["run-0", "run-3"]
    assert _ids(engine.tasks.list(status="OPEN")) == ["run-3"]
    assert _ids(engine.tasks.list(status="claimed")) == ["run-0"]
    assert _ids(engine.tasks.list(status="COMPLETED,REJECTED")) == ["run-1", "run-2"]
    assert _ids(engine.tasks.list(status=" open , claimed ")) == ["run-0", "run-3"]
    assert _ids(engine.tasks.list(status=["REJECTED", "OPEN"])) == ["run-2", "run-3"]
    assert _ids(engine.tasks.list(status="all")) == ["run-0", "run-1", "run-2", "run-3"]
    every = ["OPEN", "CLAIMED", "COMPLETED", "REJECTED", "EXPIRED", "CANCELLED"]
    assert _ids(engine.tasks.list(status=every)) == ["run-0", "run-1", "run-2", "run-3"]
    assert _ids(engine.tasks.list(status="ALL", limit=2)) == ["run-0", "run-1"]


def test_list_by_workflow(inbox) -> None:
    engine, _, _ = inbox
    assert _ids(engine.tasks.list(workflow_id="run-3")) == ["run-3"]
    assert engine.tasks.list(workflow_id="run-1") == []  # completed: not open
    assert _ids(engine.tasks.list(workflow_id="run-1", status="all")) == ["run-1"]
    assert _ids(engine.tasks.list(workflow_id="run-0", user="ann")) == ["run-0"]
    assert engine.tasks.list(workflow_id="nope", status="all") == []


@pytest.mark.parametrize(("status", "words"), [
    ("DONE", "'DONE'"),
    ("OPEN,,CLAIMED", "empty"),
    ("", "empty"),
    ([], "at least one"),
    (["OPEN", 3], "3"),
    (7, "7"),
])
def test_a_bad_status_is_one_clear_error(engine: legato.Engine, status: object,
                                         words: str) -> None:
    with pytest.raises(legato.InvalidInput, match=words) as info:
        engine.tasks.list(status=status)  # type: ignore[arg-type]
    assert "OPEN" in str(info.value)  # says what is expected


def test_a_task_as_a_dict_has_iso_times(inbox) -> None:
    engine, _, tasks = inbox
    d = engine.tasks.get(tasks[3].id).as_dict()
    assert d["id"] == tasks[3].id and d["workflow_id"] == "run-3"
    assert (d["status"], d["group"], d["data"]) == ("OPEN", "ops", {"n": 3})
    assert d["created_at"] == iso(tasks[3].created_at)
    assert tasks[3].due is not None and d["due"] == iso(tasks[3].due)
    for k in ("created_at", "updated_at", "due"):
        assert d[k].endswith(ISO_UTC), (k, d[k])
    json.dumps(d)  # plain JSON throughout
    history = engine.tasks.history(tasks[2].id)
    assert [(h["user"], h["action"]) for h in history] == [(None, "created"),
                                                           ("ann", "rejected")]
    for h in history:
        assert isinstance(h["at"], str) and h["at"].endswith(ISO_UTC), h


def test_permission_messages_read_correctly(engine: legato.Engine,
                                            unique_name: Callable[[str], str]) -> None:
    engine.users.add("ann", groups=["ops"])
    engine.users.add("eve", groups=["sales"])

    @legato.workflow(name=unique_name("perm_wf"))
    def ask(ctx: legato.WorkflowContext) -> object:
        return ctx.human_task("check", group="ops")

    engine.start(ask).wait_status("WAITING")
    (task,) = until(lambda: engine.tasks.list(group="ops"))  # type: ignore[misc]
    actions: list[tuple[str, Callable[[], object]]] = [
        ("claim", lambda: engine.tasks.claim(task.id, "eve")),
        ("complete", lambda: engine.tasks.complete(task.id, "eve")),
        ("reject", lambda: engine.tasks.reject(task.id, "eve")),
        ("reassign", lambda: engine.tasks.reassign(task.id, "eve", to_user="eve")),
    ]
    for verb, act in actions:
        with pytest.raises(legato.PermissionDenied) as info:
            act()
        assert str(info.value) == (f"'eve' may not {verb} task {task.id}: it is for "
                                   "group 'ops'"), str(info.value)
    engine.tasks.claim(task.id, "ann")
    engine.users.add("bob", groups=["ops"])
    with pytest.raises(legato.PermissionDenied, match=f"'bob' may not complete task {task.id}:"
                       " it is for 'ann', who claimed it"):
        engine.tasks.complete(task.id, "bob")
    engine.tasks.complete(task.id, "ann")
    with pytest.raises(legato.TaskClosed, match="it cannot be completed"):
        engine.tasks.complete(task.id, "ann")
    with pytest.raises(legato.TaskClosed, match="it cannot be reassigned"):
        engine.tasks.reassign(task.id, "ann", to_group="ops")


def test_cli_list_history_and_reassign(inbox, db_url: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    engine, handles, tasks = inbox
    db = ("--db", db_url)
    engine.users.add("cat", groups=["audit"])

    rc, out, err = cli(capsys, "tasks", "list", "--json", *db)
    assert rc == 0, err
    assert sorted(t["workflow_id"] for t in json.loads(out)) == ["run-0", "run-3"]
    assert all(t["created_at"].endswith(ISO_UTC) for t in json.loads(out))
    rc, out, err = cli(capsys, "tasks", "list", "--status", "COMPLETED,REJECTED", "--json",
                       *db)
    assert sorted(t["workflow_id"] for t in json.loads(out)) == ["run-1", "run-2"]
    rc, out, err = cli(capsys, "tasks", "list", "--workflow-id", "run-1", "--status", "all",
                       "--json", *db)
    assert [t["status"] for t in json.loads(out)] == ["COMPLETED"]
    rc, out, err = cli(capsys, "tasks", "list", "--workflow-id", "run-3", *db)
    assert rc == 0 and tasks[3].id in out and tasks[0].id not in out
    rc, out, err = cli(capsys, "tasks", "list", "--status", "LATE", *db)
    assert rc == 2 and out == "" and "'LATE'" in err and "Traceback" not in err

    rc, out, err = cli(capsys, "tasks", "reassign", tasks[3].id, "--user", "ann",
                       "--to-group", "audit", "--json", *db)
    assert rc == 0, err
    d = json.loads(out)
    assert (d["group"], d["assignee"], d["status"]) == ("audit", None, "OPEN")
    rc, out, err = cli(capsys, "tasks", "reassign", tasks[3].id, "--user", "cat",
                       "--to-user", "ann", *db)
    assert rc == 0 and f"task {tasks[3].id} reassigned to user ann" in out, (out, err)
    for bad in (("--to-user", "x", "--to-group", "y"), ()):
        rc, out, err = cli(capsys, "tasks", "reassign", tasks[3].id, "--user", "ann", *bad,
                           *db)
        assert rc == 2 and out == "", (bad, out, err)
        (line,) = err.strip().splitlines()
        assert "--to-user" in line and "--to-group" in line
    rc, out, err = cli(capsys, "tasks", "reassign", tasks[3].id, "--user", "eve",
                       "--to-user", "eve", *db)
    assert rc == 2 and "'eve' may not reassign task" in err

    rc, out, err = cli(capsys, "tasks", "history", tasks[3].id, "--json", *db)
    assert rc == 0, err
    trail = json.loads(out)
    assert [(h["user"], h["action"]) for h in trail] == [
        (None, "created"), ("ann", "reassigned"), ("cat", "reassigned")]
    assert trail[1]["detail"] == {"to_user": None, "to_group": "audit"}
    assert all(h["at"].endswith(ISO_UTC) for h in trail)
    rc, out, err = cli(capsys, "tasks", "history", tasks[3].id, *db)
    assert rc == 0
    lines = out.strip().splitlines()
    assert len(lines) == 3 and "created" in lines[0] and "ann" in lines[1]
    assert "reassigned" in lines[2] and "cat" in lines[2]
    rc, out, err = cli(capsys, "tasks", "history", "no-such-task", *db)
    assert rc == 2 and "no-such-task" in err and "Traceback" not in err
    assert handles[3].status == "WAITING"  # reassigning never wakes the run
