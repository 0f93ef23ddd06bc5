"""Recorded histories replayed against today's code: a breaking change fails here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import legato
from legato.testing import replay

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1] / "examples"))

import order_fulfilment  # noqa: E402


def load(name: str) -> list[dict]:
    return json.loads((HERE / "histories" / name).read_text())


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
