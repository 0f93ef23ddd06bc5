"""The workflows of the replay corpus, and how record.py drives each into its histories.

Between them the histories hold every kind of journal event (test_replay.py checks that
against legato.domain.events): finished runs of every ending, and runs still in flight. Each
scenario runs on a VirtualClock from a fixed instant, with fixed ids, retries without jitter
and tracebacks left out, so a recording says nothing about the machine or the day it was
made. Changing these workflows breaks their recorded histories: that is the point. Add a new
scenario (and record it) rather than change one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import legato
from legato.testing import VirtualClock, export_history, run_to_completion
from legato.testing import next_timer as _next_timer

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z
NO_JITTER = legato.RetryPolicy(max_attempts=3, initial_interval=0.5, backoff=2.0,
                               jitter=False)
ONCE = legato.RetryPolicy(max_attempts=1)
_calls: dict[str, int] = {}  # attempts per step key (the same on every attempt)


def _attempt() -> int:
    key = legato.step_key()
    _calls[key] = _calls.get(key, 0) + 1
    return _calls[key]


# --- steps: in the step pool, never on the hub's thread, so that what concurrent branches
# record does not depend on which steps this process has learnt are quick ------------------


@legato.step(inline=False)
def audit(order_id: str) -> str:
    return f"audited {order_id}"


@legato.step(retry=NO_JITTER, inline=False)
def reserve(order_id: str) -> dict[str, Any]:
    if _attempt() == 1:
        raise ConnectionError("warehouse timed out (recorded: retried)")
    return {"order": order_id, "reserved": True}


@legato.step(inline=False)
def price(order_id: str, line: int) -> int:
    return 100 * line


@legato.step(inline=False)
def make_label(order_id: str) -> str:
    return f"LBL-{order_id}"


@legato.step(inline=False)
def notify(order_id: str, channel: str) -> str:
    return f"{channel}:{order_id}"


@legato.step(retry=ONCE, inline=False)
def refuse(order_id: str) -> str:
    raise ValueError(f"order {order_id} refused (recorded)")


@legato.step(retry=ONCE, inline=False)
def fails_once(order_id: str) -> str:
    if _attempt() == 1:
        raise ConnectionError("ledger down (recorded: redriven)")
    return f"booked {order_id}"


# --- workflows -----------------------------------------------------------------------------


@legato.workflow(name="corpus_label")
def label_child(ctx: legato.WorkflowContext, order_id: str) -> str:
    ctx.sleep(0.5)  # in memory
    return make_label(order_id)


@legato.workflow(name="corpus_everything")
def everything(ctx: legato.WorkflowContext, order_id: str) -> dict[str, Any]:
    """One of nearly every operation, in the body and in branches."""
    if ctx.patched("audit-v2"):
        audit(order_id)
    ctx.set_state("phase", "reserving")
    reserved = reserve(order_id)  # fails once, retried
    ctx.sleep(60)  # suspends
    prices = ctx.parallel([lambda: price(order_id, 1), lambda: price(order_id, 2)])
    label = ctx.child(label_child, order_id)
    paid = ctx.wait_event("paid", key=order_id)
    try:
        ctx.wait_signal("hurry", timeout=30)
        hurry = True
    except legato.WaitTimeout:
        hurry = False
    outcomes = ctx.branches([lambda: notify(order_id, "mail"), lambda: refuse(order_id)],
                            fail_fast=False, return_exceptions=True)
    ctx.set_state("phase", "done")
    return {"reserved": reserved, "prices": prices, "label": label, "paid": paid,
            "hurry": hurry, "at": ctx.now().timestamp(),
            "branches": [o if isinstance(o, str) else type(o).__name__ for o in outcomes]}


@legato.workflow(name="corpus_waits")
def waits(ctx: legato.WorkflowContext, order_id: str) -> str:
    """Waits for a signal with no time of its own: cancelled, timed out or terminated."""
    audit(order_id)
    ctx.set_state("phase", "waiting")
    ctx.wait_signal("go")
    return notify(order_id, "done")


@legato.workflow(name="corpus_failing")
def failing(ctx: legato.WorkflowContext, order_id: str) -> str:
    audit(order_id)
    return refuse(order_id)


@legato.workflow(name="corpus_redriven")
def redriven(ctx: legato.WorkflowContext, order_id: str) -> str:
    audit(order_id)
    return fails_once(order_id)


@legato.workflow(name="corpus_approval")
def approval(ctx: legato.WorkflowContext, order_id: str) -> dict[str, Any]:
    decision = ctx.human_task("approve_refund", group="finance", due=3600,
                              escalate_to="finance-managers", data={"order": order_id})
    notify(order_id, "approved")
    return {"by": decision["by"], "at": ctx.now().timestamp()}


@legato.step(inline=False)
def page_managers(task: dict[str, Any]) -> str:
    return f"paged {task['group']} about {task['id']} (due {task['due']})"


@legato.workflow(name="corpus_escalation")
def escalation(ctx: legato.WorkflowContext, order_id: str) -> dict[str, Any]:
    """A task that escalates (a hook runs once), then is decided or expires at the escalated
    task's own due."""
    try:
        decision = ctx.human_task("approve_refund", group="finance", due=3600,
                                  escalate_to="finance-managers", data={"order": order_id},
                                  on_escalate=page_managers, escalation_due=1800)
    except legato.TaskExpired:
        return {"outcome": "expired", "at": ctx.now().timestamp()}
    return {"by": decision["by"], "at": ctx.now().timestamp()}


# --- drivers: each runs a scenario and returns its histories by name -----------------------

Histories = dict[str, list[dict[str, Any]]]


def _until(engine: legato.Engine, clock: VirtualClock, done: Callable[[], bool],
           timeout: float = 20.0) -> None:
    """Jump the clock timer by timer until ``done()``, never past where it became true."""
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise TimeoutError("the scenario did not get there")
        due = _next_timer(engine, clock)
        # asked again once the workers are idle: it may have become true meanwhile, and
        # then nothing moves it on but a jump
        if due is not None and due > clock.now() and not done():
            clock.set(due)
        time.sleep(0.005)


def drive_everything(engine: legato.Engine, clock: VirtualClock, tag: str) -> Histories:
    _calls.clear()
    wid = f"everything-{tag}"
    engine.publish("paid", key=wid, data={"cents": 300}, event_id=f"pay-{wid}")  # early
    h = engine.start(everything, wid, workflow_id=wid)
    _until(engine, clock, lambda: any(e["type"] == "TimerStarted" for e in h.history())
           and h.status == "WAITING")
    in_flight = export_history(h)
    run_to_completion(h, clock, timeout=20)
    return {"everything-in-flight": in_flight, "everything": export_history(h)}


def drive_waits(engine: legato.Engine, clock: VirtualClock, tag: str) -> Histories:
    _calls.clear()
    out: Histories = {}
    for end in ("cancelled", "timed-out", "terminated"):
        wid = f"waits-{end}-{tag}"
        h = engine.start(waits, wid, workflow_id=wid,
                         deadline=600 if end == "timed-out" else None)
        h.wait_status("WAITING")
        if end == "cancelled":
            out["waits-in-flight"] = export_history(h)
            h.cancel()
        elif end == "terminated":
            h.terminate("recorded")
        with _raises(legato.WorkflowFailed):
            run_to_completion(h, clock, timeout=20)
        out[f"waits-{end}"] = export_history(h)
    return out


def drive_failures(engine: legato.Engine, clock: VirtualClock, tag: str) -> Histories:
    _calls.clear()
    h = engine.start(failing, f"failing-{tag}", workflow_id=f"failing-{tag}")
    with _raises(legato.WorkflowFailed):
        run_to_completion(h, clock, timeout=20)
    r = engine.start(redriven, f"redriven-{tag}", workflow_id=f"redriven-{tag}")
    with _raises(legato.WorkflowFailed):
        run_to_completion(r, clock, timeout=20)
    r.retry()
    run_to_completion(r, clock, timeout=20)
    return {"failing": export_history(h), "redriven": export_history(r)}


def drive_approval(engine: legato.Engine, clock: VirtualClock, tag: str) -> Histories:
    _calls.clear()
    engine.users.add("erin", groups=["finance"])
    engine.users.add("boss", groups=["finance-managers"])
    wid = f"approval-{tag}"
    h = engine.start(approval, wid, workflow_id=wid)
    h.wait_status("WAITING")
    in_flight = export_history(h)
    task_id = next(e["task_id"] for e in in_flight if e["type"] == "HumanTaskCreated")
    _until(engine, clock, lambda: engine.tasks.get(task_id).group == "finance-managers"
           and h.status == "WAITING")
    engine.tasks.complete(task_id, "boss", {"note": "refund ok"})
    run_to_completion(h, clock, timeout=20)
    return {"approval-in-flight": in_flight, "approval": export_history(h)}


def drive_escalation(engine: legato.Engine, clock: VirtualClock, tag: str) -> Histories:
    engine.users.add("boss", groups=["finance-managers"])
    histories: Histories = {}
    for outcome in ("decided", "expired"):
        wid = f"escalation-{outcome}-{tag}"
        h = engine.start(escalation, wid, workflow_id=wid)
        h.wait_status("WAITING")
        task_id = next(e["task_id"] for e in h.history() if e["type"] == "HumanTaskCreated")
        _until(engine, clock, lambda: h.status == "WAITING" and any(  # noqa: B023
            e["type"] == "StepCompleted" for e in h.history()))  # noqa: B023
        if outcome == "decided":
            engine.tasks.complete(task_id, "boss", {"note": "ok"})
        run_to_completion(h, clock, timeout=20)
        histories[f"escalation-{outcome}"] = export_history(h)
    return histories


def drive_actors(engine: legato.Engine, clock: VirtualClock, tag: str) -> Histories:
    """Runs started, signalled, cancelled, terminated and retried by someone named (actors
    in WorkflowStarted, WaitCompleted, WorkflowCancelled, WorkflowTerminated and
    WorkflowRedriven), and with a business key."""
    _calls.clear()
    out: Histories = {}
    for end in ("signalled", "cancelled", "terminated"):
        wid = f"actors-{end}-{tag}"
        h = engine.start(waits, wid, workflow_id=wid, key=f"order-{tag}", actor="alice")
        h.wait_status("WAITING")
        if end == "signalled":
            h.signal("go", {"ok": True}, actor=legato.Actor("bob", token_id="tok_1"))
            run_to_completion(h, clock, timeout=20)
        else:
            if end == "cancelled":
                h.cancel(actor="carol")
            else:
                h.terminate("recorded", actor=legato.Actor("dave", token_id="tok_2"))
            with _raises(legato.WorkflowFailed):
                run_to_completion(h, clock, timeout=20)
        out[f"actors-{end}"] = export_history(h)
    r = engine.start(redriven, f"actors-retried-{tag}", workflow_id=f"actors-retried-{tag}")
    with _raises(legato.WorkflowFailed):
        run_to_completion(r, clock, timeout=20)
    r.retry(actor="erin")
    run_to_completion(r, clock, timeout=20)
    out["actors-retried"] = export_history(r)
    return out


@dataclass
class _raises:
    kind: type[BaseException]

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type[BaseException] | None, *_: object) -> bool:
        if et is None or not issubclass(et, self.kind):
            raise AssertionError(f"expected {self.kind.__name__}")
        return True


DRIVERS: list[Callable[[legato.Engine, VirtualClock, str], Histories]] = [
    drive_everything, drive_waits, drive_failures, drive_approval, drive_escalation,
    drive_actors]
