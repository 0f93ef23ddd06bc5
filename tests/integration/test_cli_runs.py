"""``legato start --key``, ``legato list --key``, ``--actor`` on run operations, and what
``legato show`` says a run waits on (SQLite and PostgreSQL, in this process)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from cli_support import cli

import legato

Make = Callable[..., legato.Engine]


@pytest.fixture
def names(unique_name) -> dict[str, str]:
    waiting = unique_name("cli_waits")

    @legato.workflow(name=waiting)
    def waits(ctx: legato.WorkflowContext, order: str) -> object:
        return ctx.wait_event("payment.settled", key=order, timeout=600)

    return {"waits": waiting}


def test_start_and_list_by_business_key(make_engine: Make, db_url: str, names: dict,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    make_engine()  # the schema (a client: the runs stay PENDING)
    db = ("--db", db_url)
    rc, out, err = cli(capsys, "start", names["waits"], "-i", '"o-1"', "--id", "a",
                       "--key", "claim-7", "--actor", "alice", *db)
    assert (rc, out.strip()) == (0, "a"), err
    cli(capsys, "start", names["waits"], "-i", '"o-2"', "--id", "b", "--key", "claim-8", *db)
    rc, out, _ = cli(capsys, "list", "--key", "claim-7", "--json", *db)
    rows = json.loads(out)
    assert [r["workflow_id"] for r in rows] == ["a"]
    assert rows[0]["key"] == "claim-7"
    assert rows[0]["waiting_for"]["kind"] == "start"
    rc, out, _ = cli(capsys, "list", *db)
    assert "KEY" in out and "claim-8" in out
    rc, out, err = cli(capsys, "list", "--key", "nobody", *db)
    assert rc == 0 and out == "" and "no workflows" in err
    rc, out, err = cli(capsys, "start", names["waits"], "--key", "", *db)
    assert rc == 2 and err.strip().startswith("error:") and "key" in err
    assert len(err.strip().splitlines()) == 1
    rc, out, _ = cli(capsys, "show", "a", "--json", *db)
    started = json.loads(out)["history"][0]
    assert started["actor"] == {"user": "alice"} and started["key"] == "claim-7"


def test_show_says_what_a_run_waits_for(make_engine: Make, db_url: str, names: dict,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine().launch()
    h = engine.start(names["waits"], "o-9", workflow_id="w-1", key="o-9")
    h.wait_status("WAITING")
    rc, out, err = cli(capsys, "show", "w-1", "--db", db_url)
    assert rc == 0, err
    line = next(x for x in out.splitlines() if x.startswith("waiting for"))
    assert "event payment.settled (key o-9) until" in line
    assert any(x.startswith("key") and "o-9" in x for x in out.splitlines())
    rc, out, err = cli(capsys, "cancel", "w-1", "--actor", "bob", "--wait", "--timeout", "20",
                       "--db", db_url)
    assert rc == 0, err
    cancelled = next(e for e in h.history() if e["type"] == "WorkflowCancelled")
    assert cancelled["actor"] == {"user": "bob"}


def test_signal_records_who_sent_it(make_engine: Make, db_url: str, unique_name,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    @legato.workflow(name=unique_name("cli_signalled"))
    def wf(ctx: legato.WorkflowContext) -> object:
        return ctx.wait_signal("go", timeout=600)

    engine = make_engine().launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    rc, _, err = cli(capsys, "signal", h.id, "go", "--data", '{"n": 1}', "--actor", "ops",
                       "--db", db_url)
    assert rc == 0, err
    assert h.result(timeout=10) == {"n": 1}
    (done,) = [e for e in h.history() if e["type"] == "WaitCompleted"]
    assert done["actor"] == {"user": "ops"}
