"""The workflow endpoints of a real ``legato server`` process, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
from api_support import ServerProcess, server, wait_status

__all__ = ["server"]


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_start_describe_and_result(server: ServerProcess) -> None:
    with server.client() as c:
        wid = _id("greet")
        r = c.post("/workflows", json={"name": "api_greet", "input": ["ada"],
                                       "workflow_id": wid, "key": "customer-7"})
        assert r.status_code == 201, r.text
        d = r.json()
        assert d["workflow_id"] == wid and d["name"] == "api_greet" and d["key"] == "customer-7"
        done = c.get(f"/workflows/{wid}/result", params={"wait": 30})
        assert done.status_code == 200
        assert done.json() == {"status": "COMPLETED", "result": "HELLO ADA!"}
        again = c.post("/workflows", json={"name": "api_greet", "input": ["ada"],
                                           "workflow_id": wid})
        assert again.status_code == 200 and again.json()["status"] == "COMPLETED"
        clash = c.post("/workflows", json={"name": "api_greet", "input": ["bob"],
                                           "workflow_id": wid})
        assert clash.status_code == 409
        assert clash.headers["content-type"].startswith("application/problem+json")
        assert wid in clash.json()["detail"]
        history = c.get(f"/workflows/{wid}/history").json()
        types = [e["type"] for e in history]
        assert types[0] == "WorkflowStarted" and types[-1] == "WorkflowCompleted"
        assert history[0]["actor"]["user"] == "local-admin"
        d = c.get(f"/workflows/{wid}").json()
        assert d["status"] == "COMPLETED" and d["result"] == "HELLO ADA!"
        assert d["created_at"].endswith("+00:00")


def test_listing_pages_filters_and_counts(server: ServerProcess) -> None:
    key = _id("batch")
    with server.client() as c:
        ids = []
        for i in range(5):
            r = c.post("/workflows", json={"name": "api_greet", "input": [f"n{i}"],
                                           "key": key})
            assert r.status_code == 201
            ids.append(r.json()["workflow_id"])
        for wid in ids:
            assert c.get(f"/workflows/{wid}/result", params={"wait": 30}).status_code == 200
        seen: list[str] = []
        cursor = None
        while True:
            params = {"key": key, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = c.get("/workflows", params=params).json()
            seen += [d["workflow_id"] for d in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(ids))  # newest first, each once
        done = c.get("/workflows", params={"key": key, "status": "COMPLETED,FAILED"}).json()
        assert len(done["items"]) == 5
        assert c.get("/workflows", params={"key": key, "status": "RUNNING"}).json()[
            "items"] == []
        counts = c.get("/workflows/counts", params={"name": "api_greet"}).json()
        assert counts["COMPLETED"] >= 5 and counts["FAILED"] == 0
        bad = c.get("/workflows", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
        bad = c.get("/workflows", params={"status": "SLEEPY"})
        assert bad.status_code == 422
        bad = c.get("/workflows", params={"limit": 0})
        assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == "limit"


def test_long_poll_answers_202_with_the_description_until_the_end(
        server: ServerProcess) -> None:
    with server.client() as c:
        wid = c.post("/workflows", json={"name": "api_wait_signal"}).json()["workflow_id"]
        wait_status(c, wid, "WAITING")
        r = c.get(f"/workflows/{wid}/result", params={"wait": 0.2})
        assert r.status_code == 202
        assert r.json()["status"] == "WAITING"
        assert r.json()["waiting_for"]["kind"] == "signal"
        assert c.post(f"/workflows/{wid}/signal",
                      json={"name": "go", "data": {"n": 1}}).status_code == 202
        r = c.get(f"/workflows/{wid}/result", params={"wait": 30})
        assert r.json() == {"status": "COMPLETED", "result": {"n": 1}}


def test_cancel_terminate_retry_and_state(server: ServerProcess) -> None:
    with server.client() as c:
        key = _id("claim")
        wid = c.post("/workflows", json={"name": "api_wait_event", "input": [key]}
                     ).json()["workflow_id"]
        wait_status(c, wid, "WAITING")
        state = c.get(f"/workflows/{wid}/state/phase").json()
        assert state == {"workflow_id": wid, "key": "phase", "value": "waiting"}
        assert c.get(f"/workflows/{wid}/state/nothing").json()["value"] is None
        assert c.post(f"/workflows/{wid}/cancel").status_code == 200
        assert wait_status(c, wid, "CANCELLED")["status"] == "CANCELLED"
        r = c.get(f"/workflows/{wid}/result").json()
        assert r["status"] == "CANCELLED" and "error" in r

        wid = c.post("/workflows", json={"name": "api_wait_signal"}).json()["workflow_id"]
        wait_status(c, wid, "WAITING")
        r = c.post(f"/workflows/{wid}/terminate", json={"reason": "duplicate claim"})
        assert r.status_code == 200
        d = wait_status(c, wid, "CANCELLED", "FAILED", "TIMED_OUT")
        history = c.get(f"/workflows/{wid}/history").json()
        assert history[-1]["type"] == "WorkflowTerminated"
        assert history[-1]["actor"]["user"] == "local-admin"
        assert d["workflow_id"] == wid

        failed = c.post("/workflows", json={"name": "api_fails"}).json()["workflow_id"]
        assert c.get(f"/workflows/{failed}/result", params={"wait": 30}).json()[
            "status"] == "FAILED"
        refused = c.post(f"/workflows/{wid}/retry")
        assert refused.status_code == 409 and "FAILED" in refused.json()["detail"]
        assert c.post(f"/workflows/{failed}/retry").status_code == 200
        assert c.get(f"/workflows/{failed}/result", params={"wait": 30}).json()[
            "status"] == "FAILED"
        retried = [e for e in c.get(f"/workflows/{failed}/history").json()
                   if e["type"] == "WorkflowRedriven"]
        assert retried and retried[0]["actor"]["user"] == "local-admin"


def test_what_a_caller_gets_wrong_is_a_4xx_problem(server: ServerProcess) -> None:
    with server.client() as c:
        missing = c.get("/workflows/no-such-run")
        assert missing.status_code == 404
        body = missing.json()
        assert body["status"] == 404 and "no-such-run" in body["detail"]
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert c.get("/workflows/no-such-run/history").status_code == 404
        assert c.post("/workflows/no-such-run/cancel").status_code == 404
        assert c.post("/workflows/no-such-run/signal", json={"name": "x"}).status_code == 404
        unknown = c.post("/workflows", json={"name": "no_such_workflow"})
        assert unknown.status_code == 404 and "no_such_workflow" in unknown.json()["detail"]
        typed = c.post("/workflows", json={"name": "api_greet", "input": "ada"})
        assert typed.status_code == 422 and typed.json()["errors"][0]["loc"] == "input"
        extra = c.post("/workflows", json={"name": "api_greet", "inptu": ["x"]})
        assert extra.status_code == 422 and "inptu" in extra.json()["detail"]
        not_json = c.post("/workflows", content=b"{name: api_greet",
                          headers={"content-type": "application/json"})
        assert not_json.status_code == 400 and "JSON" in not_json.json()["detail"]
        bad_id = c.post("/workflows", json={"name": "api_greet", "workflow_id": "a\x00b"})
        assert bad_id.status_code == 422 and "workflow_id" in bad_id.json()["detail"]
        huge = c.post("/workflows", content=b"[" + b"1," * 600_000 + b"1]",
                      headers={"content-type": "application/json"})
        assert huge.status_code == 413
        assert "1,048,576" in huge.json()["detail"]
        assert c.get("/nowhere").status_code == 404
        assert c.delete("/workflows").status_code == 405


def test_a_chunked_body_over_the_limit_is_refused_after_the_limit(
        server: ServerProcess) -> None:
    def chunks() -> object:
        for _ in range(40):
            yield b"x" * 65536

    with httpx.Client(base_url=server.api, timeout=30) as c:
        r = c.post("/events", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
