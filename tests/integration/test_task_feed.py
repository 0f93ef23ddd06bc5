"""The changes feed of human tasks (``engine.tasks.changes``, what the HTTP API's stream
reads) and the API token recorded beside the user in a task's audit."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import legato


def _task(engine: legato.Engine, wid: str) -> legato.Task:
    end = time.monotonic() + 10
    while not (found := engine.tasks.list(workflow_id=wid)):
        assert time.monotonic() < end, "no task"
        time.sleep(0.01)
    return found[0]


def test_the_feed_reports_each_task_change_once_in_order(
        make_engine: Callable[..., legato.Engine], unique_name: Callable[[str], str]) -> None:
    engine = make_engine().launch()
    engine.users.add("ann", groups=["ops"])

    @legato.workflow(name=unique_name("feed"))
    def ask(ctx: legato.WorkflowContext) -> object:
        return ctx.human_task("check", group="ops")

    items, pos = engine.tasks.changes()
    assert items == []  # from now on
    h = engine.start(ask)
    t = _task(engine, h.id)
    engine.tasks.reassign(t.id, "ann", to_user="bob")
    engine.tasks.complete(t.id, "bob", token_id="tok_0123456789")
    h.result(timeout=10)
    seen: list[dict[str, object]] = []
    for _ in range(5):
        got, pos = engine.tasks.changes(pos, limit=1)
        seen += got
    assert [c["task_id"] for c in seen] == [t.id]  # one row: its latest state, once
    assert seen[0]["status"] == "COMPLETED" and seen[0]["workflow_id"] == h.id
    assert seen[0]["assignee"] == "bob"  # reassigned to him (from group ops)
    assert str(seen[0]["updated_at"]).endswith("+00:00")
    again, _ = engine.tasks.changes(pos)
    assert again == []
    audit = engine.tasks.history(t.id)
    assert [(a["action"], a["user"], a["token_id"]) for a in audit] == [
        ("created", None, None), ("reassigned", "ann", None),
        ("completed", "bob", "tok_0123456789")]


def test_a_position_that_is_not_one_is_refused(
        make_engine: Callable[..., legato.Engine]) -> None:
    engine = make_engine()
    with pytest.raises(legato.InvalidInput, match="position"):
        engine.tasks.changes("nonsense")
    with pytest.raises(legato.InvalidInput, match="limit"):
        engine.tasks.changes(None, limit=0)
