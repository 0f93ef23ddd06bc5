"""Human-task rules (legato.domain.tasks): permission messages, escalation, expiry, the
task as a dict (issue 17)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from legato.domain import tasks as ht
from legato.domain.tasks import PermissionDenied, Task, TaskClosed

T = Task(id="t1", workflow_id="w", name="approve", group="ops", due=1_800_000_060.0,
         escalate_to="bosses", created_at=1_800_000_000.0, updated_at=1_800_000_000.5)
OPS = frozenset({"ops"})


@pytest.mark.parametrize(("verb", "act"), [
    ("claim", lambda t, g: ht.claim(t, "eve", g)),
    ("complete", lambda t, g: ht.complete(t, "eve", g, None)),
    ("reject", lambda t, g: ht.reject(t, "eve", g, None)),
    ("reassign", lambda t, g: ht.reassign(t, "eve", g, "eve", None)),
])
def test_each_refusal_names_its_action(verb: str, act) -> None:
    with pytest.raises(PermissionDenied) as info:
        act(T, frozenset())
    assert str(info.value) == f"'eve' may not {verb} task t1: it is for group 'ops'"
    closed = replace(T, status=ht.COMPLETED)
    past = {"claim": "claimed", "complete": "completed", "reject": "rejected",
            "reassign": "reassigned"}[verb]
    with pytest.raises(TaskClosed) as info2:
        act(closed, OPS)
    assert str(info2.value) == f"task t1 is COMPLETED; it cannot be {past}"


def test_escalation_hands_over_once_then_expiry_ends_it() -> None:
    up = ht.escalate(T, 1_800_001_000.0)
    assert (up.group, up.assignee, up.status, up.escalated, up.due) == (
        "bosses", None, ht.OPEN, True, 1_800_001_000.0)
    assert ht.escalate(up, 1_900_000_000.0) is up  # asked again (a replay): nothing changes
    assert ht.escalate(replace(T, escalate_to=None), None).status == ht.EXPIRED
    assert ht.expire(up).status == ht.EXPIRED
    done = replace(up, status=ht.COMPLETED)
    assert ht.expire(done) is done and ht.escalate(done, None) is done
    claimed = ht.claim(T, "ann", OPS)
    assert ht.escalate(claimed, None).claimed_by is None


def test_a_task_as_a_dict_is_json_with_iso_times() -> None:
    d = T.as_dict()
    assert d["due"] == "2027-01-15T08:01:00+00:00"
    assert d["created_at"] == "2027-01-15T08:00:00+00:00"
    assert d["updated_at"] == "2027-01-15T08:00:00.500000+00:00"
    assert replace(T, due=None).as_dict()["due"] is None
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {"id", "workflow_id", "name", "status", "assignee", "group", "claimed_by",
                      "data", "form", "due", "escalate_to", "escalated", "four_eyes",
                      "approvals", "result", "created_at", "updated_at"}
