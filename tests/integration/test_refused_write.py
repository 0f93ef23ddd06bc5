"""A write the store will never take must not stall the worker: that run ends FAILED with
what the store said, the others carry on (SQLite and PostgreSQL, real databases)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

import psycopg

import legato

Make = Callable[..., legato.Engine]


def _refuse_journal_position(db_url: str, workflow_id: str, seq: int) -> None:
    """Make the store refuse one journal row for good, the way a broken row or a bug would
    (a trigger that raises): the run's write can then never be committed."""
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as c:
            c.execute("CREATE TRIGGER refuse_one BEFORE INSERT ON journal"
                      f" WHEN NEW.workflow_id = '{workflow_id}' AND NEW.seq = {seq}"
                      " BEGIN SELECT RAISE(ABORT, 'this row is refused'); END")
        return
    base, _, schema = db_url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"""CREATE FUNCTION "{schema}".refuse_one() RETURNS trigger AS $$
            BEGIN
              IF NEW.workflow_id = '{workflow_id}' AND NEW.seq = {seq} THEN
                RAISE EXCEPTION 'this row is refused';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        c.execute(f'CREATE TRIGGER refuse_one BEFORE INSERT ON "{schema}".journal'
                  f' FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse_one()')


def test_a_refused_write_fails_that_run_and_the_others_carry_on(
        make_engine: Make, db_url: str, unique_name) -> None:
    hold = threading.Event()
    running = threading.Event()

    @legato.step
    def first() -> int:
        return 1

    @legato.step
    def second() -> int:
        running.set()
        hold.wait(10)
        return 2

    @legato.workflow(name=unique_name("victim"))
    def victim(ctx: legato.WorkflowContext) -> int:
        return first() + second()

    @legato.workflow(name=unique_name("bystander"))
    def bystander(ctx: legato.WorkflowContext, i: int) -> int:
        return first() + i

    engine = make_engine().launch()
    h = engine.start(victim)
    assert running.wait(10)
    # journal: 1 WorkflowStarted, 2 StepCompleted(first) (committed when second began);
    # second's result is due at position 3
    assert [e["seq"] for e in h.history()] == [1, 2]
    _refuse_journal_position(db_url, h.workflow_id, 3)
    hold.set()
    try:
        h.result(timeout=30)
        raise AssertionError("the run should have failed")
    except legato.WorkflowFailed as failed:
        assert failed.status == "FAILED"
        assert "could not record" in failed.error["message"]
        assert "this row is refused" in failed.error["message"]
    assert h.describe()["detail"] == "internal error"
    # the worker is not stuck: other runs start, run and finish
    others = [engine.start(bystander, i) for i in range(5)]
    assert [o.result(timeout=30) for o in others] == [1, 2, 3, 4, 5]
