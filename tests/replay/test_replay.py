"""Recorded histories replayed against today's code: a breaking change fails here.

histories/ holds runs recorded by record.py on both stores (the scenarios of
replay_corpus.py) — between them every kind of journal event, runs of every ending and runs
still in flight — and the example's order run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import legato
from legato.domain import events as ev
from legato.runtime.registry import REGISTRY
from legato.testing import VirtualClock, replay

HERE = Path(__file__).parent
HISTORIES = HERE / "histories"
sys.path.insert(0, str(HERE.parents[1] / "examples"))

import order_fulfilment  # noqa: E402
import replay_corpus  # noqa: E402  (registers the corpus workflows)

FILES = sorted(p.name for p in HISTORIES.glob("*.json"))
STORES = ("sqlite", "postgresql")
#: the status each way of ending gives the run
ENDS = {ev.WORKFLOW_COMPLETED: "COMPLETED", ev.WORKFLOW_FAILED: "FAILED",
        ev.WORKFLOW_CANCELLED: "CANCELLED", ev.WORKFLOW_TIMED_OUT: "TIMED_OUT",
        ev.WORKFLOW_TERMINATED: "CANCELLED"}
#: event types legato defines but never records, and why (a test below keeps this honest)
NEVER_RECORDED = {
    ev.CANCEL_REQUESTED: "a cancel sets a flag on the run's row (and who asked); the run "
                         "records WorkflowCancelled, with them, when it stops: the journal "
                         "is its owner's alone to append to while it runs",
}


def load(name: str) -> list[dict]:
    return json.loads((HISTORIES / name).read_text())


def event_types() -> set[str]:
    """Every journal event type legato.domain.events defines (its CamelCase constants)."""
    return {v for k, v in vars(ev).items()
            if k.isupper() and isinstance(v, str) and re.fullmatch(r"[A-Z][A-Za-z]+", v)}


@pytest.mark.parametrize("name", FILES)
def test_recorded_history_replays(name: str) -> None:
    history = load(name)
    wdef = REGISTRY.find(history[0]["name"])
    assert wdef is not None, f"{name}: no workflow {history[0]['name']!r}"
    out = replay(wdef.fn, history)
    last = history[-1]
    if last["type"] in ENDS:
        assert out.complete and out.status == ENDS[last["type"]]
        if last["type"] == ev.WORKFLOW_COMPLETED:
            assert out.result == last["result"]
    else:  # in flight when recorded: replays up to its end
        assert not out.complete
        assert out.replayed_events == len(history)
    if "workflow_id" in history[0]:
        assert out.workflow_id == history[0]["workflow_id"]


def test_every_event_type_has_a_recorded_history() -> None:
    """A new event type needs a scenario in replay_corpus.py, recorded on both stores."""
    for store in STORES:
        recorded = {e["type"] for name in FILES if name.endswith(f".{store}.json")
                    for e in load(name)}
        missing = event_types() - recorded - set(NEVER_RECORDED)
        assert not missing, f"no history recorded on {store} holds {sorted(missing)}:" \
            " add a scenario to tests/replay/replay_corpus.py and run tests/replay/record.py"


def test_every_scenario_is_recorded_on_both_stores() -> None:
    scenarios = {name.split(".")[0] for name in FILES if name.count(".") == 2}
    assert scenarios
    for scenario in scenarios:
        for store in STORES:
            assert f"{scenario}.{store}.json" in FILES


def _canonical(history: list[dict]) -> list[str]:
    """A history as a set of events: concurrent steps and branches may record in either
    order (and so take each other's seq)."""
    return sorted(json.dumps({k: v for k, v in e.items() if k != "seq"}, sort_keys=True)
                  for e in history)


def test_todays_code_records_the_same_histories(db_url: str) -> None:
    """Running the scenarios again (as record.py does) records what histories/ holds."""
    store = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    for drive in replay_corpus.DRIVERS:
        clock = VirtualClock(start=replay_corpus.START)
        with legato.Engine(db_url, clock=clock) as engine:
            for name, history in drive(engine, clock, store).items():
                assert _canonical(history) == _canonical(load(f"{name}.{store}.json")), name


def test_the_types_never_recorded_are_not() -> None:
    """What NEVER_RECORDED exempts is referred to nowhere but where it is defined (and the
    CLI, which would show it): once something records it, it needs a history."""
    src = HERE.parents[1] / "src" / "legato"
    for kind in NEVER_RECORDED:
        constant = next(k for k, v in vars(ev).items() if v == kind)
        for path in src.rglob("*.py"):
            if (path.name, path.parent.name) == ("events.py", "domain") \
                    or path.parent.name == "cli":
                continue
            text = path.read_text()
            assert constant not in text and f'"{kind}"' not in text, \
                f"{path.relative_to(src)} refers to {kind}: record a history with it"


def test_order_history_replays_to_the_same_result() -> None:
    history = load("order_fulfilment_v1.json")
    out = replay(order_fulfilment.fulfil_order, history)
    assert out.complete and out.status == "COMPLETED"
    assert out.result == history[-1]["result"]


@pytest.mark.wallclock
def test_partial_history_replays_up_to_its_end() -> None:
    history = load("order_fulfilment_v1.json")[:5]  # stopped during the durable sleep
    out = replay(order_fulfilment.fulfil_order, history)
    assert not out.complete
    assert out.replayed_events == 5


def test_changed_code_is_reported_as_nondeterministic(unique_name) -> None:
    @legato.workflow(name=unique_name("changed"))
    def changed(ctx: legato.WorkflowContext, order: order_fulfilment.Order) -> dict:
        order_fulfilment.charge_payment(order)  # the recorded run reserved stock first
        return {}

    with pytest.raises(legato.NondeterminismError, match="reserve_stock"):
        replay(changed, load("order_fulfilment_v1.json"))
