"""``legato analyze`` and ``legato.analysis.analyze`` on a known workload (issue 19), on both
stores: the exact rates, durations and figures, the planted bottleneck and failure point.

Every duration is virtual: steps move the test clock themselves, and ``run_to_completion``
jumps it to each retry exactly, so nothing depends on real time.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import cli

import legato
from legato.analysis import analyze
from legato.testing import VirtualClock, next_timer, run_to_completion

RETRY = legato.RetryPolicy(max_attempts=3, initial_interval=2, backoff=1.0, jitter=False)


def _workload(engine: legato.Engine, clock: VirtualClock,
              unique_name: Callable[[str], str]) -> tuple[str, str, dict[str, str]]:
    calls: dict[str, int] = {}
    steps = {k: unique_name(k) for k in ("fetch", "score", "charge", "ship", "book", "reserve",
                                         "undo")}

    @legato.step(name=steps["fetch"], inline=False)
    def fetch(order: str) -> str:
        clock.advance(1)
        return order

    @legato.step(name=steps["score"], inline=False)
    def score(order: str) -> int:  # the planted bottleneck: 30 s a call
        clock.advance(30)
        return 1

    @legato.step(name=steps["charge"], retry=RETRY, inline=False)
    def charge(order: str, mode: str) -> None:  # the planted failure point
        calls[order] = calls.get(order, 0) + 1
        if mode == "broken" or (mode == "flaky" and calls[order] == 1):
            raise ConnectionError(f"card declined ({mode})")

    @legato.step(name=steps["ship"], inline=False)
    def ship(order: str) -> None:
        clock.advance(1)

    oname, tname = unique_name("orders"), unique_name("trip")

    @legato.workflow(name=oname)
    def orders(ctx: legato.WorkflowContext, order: str, mode: str) -> str:
        fetch(order)
        score(order)
        charge(order, mode)
        ship(order)
        return order

    @legato.step(name=steps["book"], inline=False)
    def book() -> str:
        clock.advance(1)
        return "b-1"

    @legato.step(name=steps["reserve"], retry=legato.RetryPolicy(max_attempts=1), inline=False)
    def reserve() -> None:
        raise LookupError("sold out")

    @legato.step(name=steps["undo"], inline=False)
    def undo(ref: str) -> None:
        clock.advance(3)

    @legato.workflow(name=tname)
    def trip(ctx: legato.WorkflowContext) -> None:
        with ctx.saga() as saga:
            saga.add(undo, book())
            reserve()

    modes = ["ok", "ok", "ok", "flaky", "flaky", "broken"]
    for i, mode in enumerate(modes):
        h = engine.start(orders, f"o{i}", mode)
        if mode == "broken":
            with pytest.raises(legato.WorkflowFailed):
                run_to_completion(h, clock)
        else:
            run_to_completion(h, clock)
    h = engine.start(trip)
    with pytest.raises(legato.WorkflowFailed):
        run_to_completion(h, clock)
    assert h.describe()["detail"] == "compensated"
    return oname, tname, steps


def _check(report: dict[str, Any], orders: str, trip: str, steps: dict[str, str]) -> None:
    assert report["runs"] == 7 and report["truncated"] is False
    by = {w["name"]: w for w in report["workflows"]}
    o, t = by[orders], by[trip]
    assert o["runs"] == 6 and o["outcomes"] == {"COMPLETED": 5, "FAILED": 1}
    assert o["success_rate"] == pytest.approx(5 / 6)
    assert o["failure_rate"] == pytest.approx(1 / 6)
    assert o["compensation_rate"] == 0
    # 32 s plain, 34 s with one retry (2 s backoff), 35 s failing for good
    assert o["duration"] == {"p50": 32.0, "p95": 35.0, "p99": 35.0}
    charge = o["steps"][steps["charge"]]
    assert charge["attempts"] == 10 and charge["failures"] == 5
    assert charge["failed_for_good"] == 1 and charge["retries"] == 4
    assert charge["failure_rate"] == pytest.approx(0.5)
    assert charge["retry_rate"] == pytest.approx(0.4)
    score = o["steps"][steps["score"]]
    assert score["total_seconds"] == 180.0 and score["latency"]["p99"] == 30.0
    assert o["bottleneck"] == {"step": steps["score"], "total_seconds": 180.0}
    assert o["failure_point"] == {"step": steps["charge"], "failures": 5}
    assert report["bottleneck"]["step"] == steps["score"]
    assert report["failure_point"]["step"] == steps["charge"]
    # the time along the critical paths: retries' backoffs are waiting, the rest working
    assert o["time"]["working"] == 191.0 and o["time"]["retry"] == 8.0
    slowest = o["critical_paths"][0]
    assert slowest["duration"] == 35.0
    assert [(s["kind"], s["name"], s["seconds"]) for s in slowest["path"]] == [
        ("working", steps["fetch"], 1.0), ("working", steps["score"], 30.0),
        ("retry", steps["charge"], 4.0)]
    assert o["top_errors"][0] == {"type": "builtins.ConnectionError",
                                  "message": "card declined (broken)", "count": 3}
    assert t["outcomes"] == {"FAILED": 1} and t["compensation_rate"] == 1.0
    assert t["top_errors"] == [{"type": "builtins.LookupError", "message": "sold out",
                                "count": 1}]
    f = report["figures"]
    assert f["reliability"]["value"] == pytest.approx(5 / 7)
    assert f["reliability"]["met"] is False
    # 2 retried attempts that then succeeded + 1 saga compensated, of 5 failed attempts
    # (the 3 of the broken run never recover) + 1 saga
    auto = f["automated_recovery"]
    assert (auto["recovered"], auto["failures"]) == (3, 6)
    assert auto["value"] == pytest.approx(0.5) and auto["manual"] == 0
    # a retried attempt recovers 2 s later (its backoff), the saga 3 s (its compensation)
    assert f["recovery_time"]["p50"] == 2.0 and f["recovery_time"]["p99"] == 3.0
    assert f["recovery_time"]["met"] is True


def test_analyze_reports_the_known_workload(make_engine: Callable[..., legato.Engine],
                                            clock: VirtualClock, unique_name: Any,
                                            db_url: str, capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    engine = make_engine(clock=clock).launch()
    orders, trip, steps = _workload(engine, clock, unique_name)
    _check(analyze(engine), orders, trip, steps)

    chart = tmp_path / "time.svg"
    code, out, err = cli(capsys, "analyze", "--db", db_url, "--json", "--svg", str(chart))
    assert code == 0, err
    _check(json.loads(out), orders, trip, steps)
    root = ET.parse(chart).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(orders in (t or "") for t in texts) and steps["score"] in texts

    code, out, err = cli(capsys, "analyze", "--db", db_url, "--name", orders)
    assert code == 0, err
    assert "analysed 6 run(s)" in out
    assert f"bottleneck: {steps['score']}" in " ".join(out.split())
    assert f"failure point: {steps['charge']}" in " ".join(out.split())

    # the limit: the newest run only (the saga), and the report says older ones were left
    code, out, _ = cli(capsys, "analyze", "--db", db_url, "--limit", "1", "--json")
    limited = json.loads(out)
    assert limited["runs"] == 1 and limited["truncated"] is True
    assert [w["name"] for w in limited["workflows"]] == [trip]
    for bad in (("--since", "yesterday"), ("--limit", "0")):
        code, out, err = cli(capsys, "analyze", "--db", db_url, *bad)
        assert (code, out) == (2, "") and err.startswith(f"error: {bad[0]} "), err
    exact = analyze(engine, limit=7)  # all of them: nothing was left out
    assert exact["runs"] == 7 and exact["truncated"] is False
    assert analyze(engine, name=orders, since=clock.now() + 1)["runs"] == 0


def test_waits_parallel_work_and_a_manual_retry_from_real_journals(
        make_engine: Callable[..., legato.Engine], clock: VirtualClock,
        unique_name: Any) -> None:
    engine = make_engine(clock=clock).launch()
    broken = {"on": True}
    names = {k: unique_name(k) for k in ("fast", "slow", "fix", "kid", "waits", "manual")}

    @legato.step(name=names["fast"], inline=False)
    def fast() -> None:
        clock.advance(2)

    @legato.step(name=names["slow"], inline=False)
    def slow(seconds: float) -> None:
        clock.advance(seconds)

    @legato.step(name=names["fix"], retry=legato.RetryPolicy(max_attempts=1), inline=False)
    def fix() -> None:
        if broken["on"]:
            raise RuntimeError("not yet")

    @legato.workflow(name=names["kid"])
    def kid(ctx: legato.WorkflowContext) -> None:
        ctx.sleep(40)

    @legato.workflow(name=names["waits"])
    def waits(ctx: legato.WorkflowContext) -> None:
        ctx.map(slow, [7, 0])  # 7 s: the longest (the other's result may be recorded then)
        ctx.branches([lambda: ctx.sleep(20), fast])  # 20 s: the sleep
        ctx.child(kid)  # 40 s
        ctx.wait_signal("go")  # 50 s, until the signal below

    @legato.workflow(name=names["manual"])
    def manual(ctx: legato.WorkflowContext) -> None:
        fix()

    h = engine.start(waits)
    end = time.monotonic() + 10
    while (h.describe()["waiting_for"] or {}).get("kind") != "signal":
        assert time.monotonic() < end, h.describe()
        due = next_timer(engine, clock)  # the sleeps, as run_to_completion jumps to them
        if due is not None and due > clock.now():
            clock.set(due)
        time.sleep(0.005)
    clock.advance(50)
    h.signal("go")
    run_to_completion(h, clock)

    m = engine.start(manual)
    with pytest.raises(legato.WorkflowFailed):
        run_to_completion(m, clock)
    clock.advance(100)  # a person looks into it, then retries
    broken["on"] = False
    m.retry()
    run_to_completion(m, clock)

    report = analyze(engine)
    by = {w["name"]: w for w in report["workflows"]}
    w = by[names["waits"]]
    assert w["duration"]["p50"] == 117.0
    assert [(s["kind"], s["name"], s["seconds"]) for s in w["critical_paths"][0]["path"]] == [
        ("working", names["slow"], 7.0), ("timer", "sleep", 20.0),
        ("child", names["kid"], 40.0), ("event", "signal:go", 50.0)]
    assert w["steps"][names["fast"]]["attempts"] == 1
    assert w["steps"][names["slow"]]["attempts"] == 2
    assert w["steps"][names["slow"]]["latency"]["p99"] == 7.0
    mm = by[names["manual"]]
    assert mm["outcomes"] == {"COMPLETED": 1} and mm["time"]["manual"] == 100.0
    auto = mm["figures"]["automated_recovery"]
    assert (auto["failed_attempts"], auto["recovered_attempts"], auto["manual"]) == (1, 0, 1)
    assert auto["value"] == 0.0


def test_a_saga_a_person_had_to_retry_is_not_automated(engine: legato.Engine,
                                                       unique_name: Any) -> None:
    broken = {"on": True}
    steps = {k: unique_name(k) for k in ("book", "cancel", "book_car")}

    @legato.step(name=steps["book"])
    def book(what: str) -> str:
        return what

    @legato.step(name=steps["cancel"], retry=legato.RetryPolicy(max_attempts=1))
    def cancel(what: str) -> None:
        if what == "flight" and broken["on"]:
            raise ConnectionError("airline down")

    @legato.step(name=steps["book_car"], retry=legato.RetryPolicy(max_attempts=1))
    def book_car() -> None:
        raise RuntimeError("no cars")

    @legato.workflow(name=unique_name("comp_fail"))
    def wf(ctx: legato.WorkflowContext) -> None:
        with ctx.saga() as saga:
            saga.add(cancel, book("flight"))
            saga.add(cancel, book("hotel"))
            book_car()

    h = engine.start(wf)
    with pytest.raises(legato.WorkflowFailed):
        h.result(timeout=10)
    broken["on"] = False
    h.retry()
    with pytest.raises(legato.WorkflowFailed):
        h.result(timeout=10)
    assert h.describe()["detail"] == "compensated"
    (w,) = analyze(engine)["workflows"]
    assert w["compensation_rate"] == 1.0
    auto = w["figures"]["automated_recovery"]
    # the saga and the failed compensation, both finished by the person's retry
    assert (auto["sagas"], auto["sagas_compensated"], auto["failed_attempts"],
            auto["manual"], auto["recovered"]) == (1, 0, 1, 2, 0)
    assert w["failure_point"]["failures"] == 1
