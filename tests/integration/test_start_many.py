"""engine.start_many: bulk starts in one transaction, all or nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import legato

Make = Callable[..., legato.Engine]


def test_start_many_runs_every_input_and_keeps_their_order(make_engine: Make,
                                                            unique_name) -> None:
    @legato.step
    def double(x: int) -> int:
        return 2 * x

    @legato.workflow(name=unique_name("bulk"))
    def wf(ctx: legato.WorkflowContext, x: int, label: str) -> str:
        return f"{label}{double(x)}"

    engine = make_engine(concurrency=3).launch()  # more runs than room: the rest are claimed
    handles = engine.start_many(wf, [(i, "n") for i in range(20)])
    assert [h.result(timeout=30) for h in handles] == [f"n{2 * i}" for i in range(20)]
    assert len({h.workflow_id for h in handles}) == 20
    assert handles[0].history()[0]["type"] == "WorkflowStarted"


def test_start_many_is_idempotent_by_id_and_all_or_nothing_on_conflict(
        make_engine: Make, unique_name) -> None:
    name = unique_name("bulk_ids")

    @legato.workflow(name=name)
    def wf(ctx: legato.WorkflowContext, x: int) -> int:
        return x

    client = make_engine()  # not launched: rows stay PENDING, nothing runs meanwhile
    ids = [f"{name}-{i}" for i in range(3)]
    client.start_many(wf, [(0,), (1,), (2,)], workflow_ids=ids)
    again = client.start_many(wf, [(0,), (1,), (2,)], workflow_ids=ids)
    assert [h.workflow_id for h in again] == ids
    assert len(client.list(name=name)) == 3

    with pytest.raises(legato.WorkflowConflict, match=f"{name}-1"):
        client.start_many(wf, [(7,), (99,)], workflow_ids=[f"{name}-new", f"{name}-1"])
    assert len(client.list(name=name)) == 3  # the new one was rolled back with the batch
    with pytest.raises(legato.WorkflowNotFound):
        client.handle(f"{name}-new")

    worker = make_engine().launch()
    assert [worker.handle(i).result(timeout=30) for i in ids] == [0, 1, 2]


def test_start_many_refuses_bad_inputs_before_writing(make_engine: Make, unique_name) -> None:
    name = unique_name("bulk_bad")

    @legato.workflow(name=name)
    def wf(ctx: legato.WorkflowContext, x: object) -> None:
        return None

    client = make_engine()
    with pytest.raises(legato.InvalidInput, match=r"inputs\[1\] must be a list or tuple"):
        client.start_many(wf, [(1,), 2])  # type: ignore[list-item]
    with pytest.raises(legato.InvalidInput, match=r"inputs\[2\].*not JSON serialisable"):
        client.start_many(wf, [(1,), (2,), (object(),)])
    with pytest.raises(legato.InvalidInput, match="2 workflow_ids for 1 inputs"):
        client.start_many(wf, [(1,)], workflow_ids=["a", "b"])
    assert client.list(name=name) == []
    assert client.start_many(wf, []) == []
