"""Events, human tasks, schedules, queues, circuits and definitions over HTTP."""

from __future__ import annotations

import time
import uuid

from api_support import ServerProcess, legato_cli, server, wait_status

__all__ = ["server"]


def _task_of(c, wid: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = c.get("/tasks", params={"workflow_id": wid}).json()
        if found:
            return dict(found[0])
        time.sleep(0.05)
    raise AssertionError(f"no task for {wid}")


def test_publish_delivers_or_buffers(server: ServerProcess) -> None:
    key = f"claim-{uuid.uuid4().hex[:8]}"
    with server.client() as c:
        early = c.post("/events", json={"type": "receipt.uploaded", "key": key,
                                        "data": {"file": "r.pdf"}, "event_id": f"e-{key}",
                                        "ttl": 600})
        assert early.status_code == 201 and early.json()["buffered"] is True
        dup = c.post("/events", json={"type": "receipt.uploaded", "key": key,
                                      "event_id": f"e-{key}"})
        assert dup.status_code == 200 and dup.json()["duplicate"] is True
        listed = c.get("/events", params={"type": "receipt.uploaded", "key": key}).json()
        assert [e["event_id"] for e in listed] == [f"e-{key}"]
        assert listed[0]["expires_at"] is not None
        wid = c.post("/workflows", json={"name": "api_wait_event", "input": [key]}
                     ).json()["workflow_id"]
        done = c.get(f"/workflows/{wid}/result", params={"wait": 30}).json()
        assert done["status"] == "COMPLETED" and done["result"] == {"file": "r.pdf"}
        assert c.get("/events", params={"key": key}).json() == []
        bad = c.post("/events", json={"type": "", "key": key})
        assert bad.status_code == 422


def test_task_inbox_actions(server: ServerProcess) -> None:
    """The loopback admin acts for the users it names (a manager, then the new assignee)."""
    added = legato_cli(server.db_url, "users", "add", "mia", "--group", "managers")
    assert added.returncode == 0, added.stderr
    with server.client() as c:
        wid = c.post("/workflows", json={"name": "api_approval", "input": [120]}
                     ).json()["workflow_id"]
        task = _task_of(c, wid)
        assert task["status"] == "OPEN" and task["group"] == "managers"
        d = wait_status(c, wid, "WAITING")
        assert d["waiting_for"]["kind"] == "task"
        assert d["waiting_for"]["task_id"] == task["id"]
        tid = task["id"]
        refused = c.post(f"/tasks/{tid}/reassign", json={"to_user": "carol"})
        assert refused.status_code == 403  # local-admin is no manager
        moved = c.post(f"/tasks/{tid}/reassign", json={"to_user": "carol", "user": "mia"})
        assert moved.status_code == 200 and moved.json()["assignee"] == "carol"
        assert c.post(f"/tasks/{tid}/reassign", json={}).status_code == 422
        claimed = c.post(f"/tasks/{tid}/claim", json={"user": "carol"})
        assert claimed.status_code == 200 and claimed.json()["status"] == "CLAIMED"
        mine = c.get("/tasks", params={"assignee": "carol", "status": "OPEN,CLAIMED"}).json()
        assert tid in [t["id"] for t in mine]
        rejected = c.post(f"/tasks/{tid}/reject", json={"reason": "too much",
                                                        "user": "carol"})
        assert rejected.status_code == 200 and rejected.json()["status"] == "REJECTED"
        again = c.post(f"/tasks/{tid}/complete", json={"data": {"approved": True},
                                                      "user": "carol"})
        assert again.status_code == 409
        full = c.get(f"/tasks/{tid}").json()
        assert [e["action"] for e in full["history"]][:1] == ["created"]
        assert c.get(f"/tasks/{tid}", params={}).status_code == 200
        assert c.get("/tasks/no-such-task").status_code == 404
        assert tid not in [t["id"] for t in c.get("/tasks").json()]  # open ones by default
        result = c.get(f"/workflows/{wid}/result", params={"wait": 30}).json()
        assert result["status"] == "COMPLETED" and result["result"]["outcome"] == "rejected"


def test_definitions_queues_circuits_and_schedules(server: ServerProcess) -> None:
    with server.client() as c:
        defs = {d["name"]: d for d in c.get("/definitions").json()}
        greet = defs["api_greet"]
        assert greet["kind"] == "workflow"
        assert [p["name"] for p in greet["parameters"]] == ["name", "punctuation"]
        assert greet["parameters"][1]["default"] == "!"
        assert greet["description"] == "Greet someone: one step."
        machine = defs["api_machine"]
        assert machine["kind"] == "state_machine" and machine["start_at"] == "Greet"
        assert machine["states"] == ["Greet"] and machine["comment"] == "one Pass state"
        ran = c.post("/workflows", json={"name": "api_machine", "input": [{"x": 1}]}).json()
        assert c.get(f"/workflows/{ran['workflow_id']}/result", params={"wait": 30}).json() == {
            "status": "COMPLETED", "result": {"hello": "world"}}
        assert c.get("/queues").status_code == 200
        assert c.get("/circuits").status_code == 200
        assert c.post("/schedules/nope/pause").status_code == 404
        assert c.post("/schedules/nope/trigger").status_code == 404


def test_schedule_and_circuit_actions(server: ServerProcess) -> None:
    with server.client() as c:
        (nightly,) = [s for s in c.get("/schedules").json() if s["workflow"] == "api_nightly"]
        name = nightly["name"]
        paused = c.post(f"/schedules/{name}/pause")
        assert paused.status_code == 200 and paused.json()["paused"] is True
        resumed = c.post(f"/schedules/{name}/resume")
        assert resumed.status_code == 200 and resumed.json()["paused"] is False
        run = c.post(f"/schedules/{name}/trigger")
        assert run.status_code == 201 and run.json()["name"] == "api_nightly"
        done = c.get(f"/workflows/{run.json()['workflow_id']}/result", params={"wait": 30})
        assert done.json() == {"status": "COMPLETED", "result": "done"}
        assert c.get(f"/schedules/{name}/nothing").status_code in (404, 405)

        failed = c.post("/workflows", json={"name": "api_gated", "input": [True]}).json()
        assert c.get(f"/workflows/{failed['workflow_id']}/result",
                     params={"wait": 30}).json()["status"] == "FAILED"
        (gate,) = [g for g in c.get("/circuits").json() if g["name"] == "api_gate"]
        assert gate["state"] == "OPEN"
        shut = c.post("/circuits/api_gate/reset")
        assert shut.status_code == 200 and shut.json()["state"] == "CLOSED"
        ok = c.post("/workflows", json={"name": "api_gated", "input": [False]}).json()
        assert c.get(f"/workflows/{ok['workflow_id']}/result", params={"wait": 30}).json() == {
            "status": "COMPLETED", "result": "through"}
