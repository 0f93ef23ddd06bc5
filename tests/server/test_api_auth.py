"""Tokens and roles over HTTP: 401 without or with a bad token once any exists, 403 for a
role that may not, the loopback admin while none exists, and the refusal to serve a
non-loopback address without tokens."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_support import STORES, ServerProcess, fresh_db, legato_cli, make_token


@pytest.fixture(scope="module", params=STORES)
def secured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            pg_tools: object):
    """A server whose store has tokens for a viewer, an operator, two managers and an
    admin (a module of its own: once tokens exist, every request needs one)."""
    with fresh_db(request.param, tmp_path_factory.mktemp("auth"), pg_tools) as url:
        tokens = {name: make_token(url, user, role) for name, user, role in [
            ("viewer", "vera", "viewer"), ("operator", "otto", "operator"),
            ("alice", "alice", "operator"), ("bob", "bob", "operator"),
            ("admin", "ada", "admin")]}
        assert legato_cli(url, "users", "add", "alice", "--group", "managers").returncode == 0
        assert legato_cli(url, "users", "add", "bob", "--group", "managers").returncode == 0
        proc = ServerProcess(url, "--workers")
        try:
            yield proc, tokens
        finally:
            proc.stop()


def test_every_request_needs_a_token_once_one_exists(secured) -> None:
    server, tokens = secured
    with server.client() as c:
        r = c.get("/workflows")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "token" in r.json()["detail"]
    with server.client("lgt_not-a-real-token") as c:
        assert c.get("/workflows").status_code == 401
    with server.client(tokens["viewer"]) as c:
        assert c.get("/workflows").status_code == 200
    with server.client() as c:
        assert c.get("/workflows", headers={"Authorization": "Basic abc"}).status_code == 401
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # probes need no token


def test_each_role_may_do_its_share_and_no_more(secured) -> None:
    server, tokens = secured
    with server.client(tokens["viewer"]) as viewer, server.client(tokens["operator"]) as op, \
            server.client(tokens["admin"]) as admin:
        refused = viewer.post("/workflows", json={"name": "api_greet", "input": ["x"]})
        assert refused.status_code == 403 and "operator" in refused.json()["detail"]
        started = op.post("/workflows", json={"name": "api_greet", "input": ["x"]})
        assert started.status_code == 201
        wid = started.json()["workflow_id"]
        history = viewer.get(f"/workflows/{wid}/history").json()
        assert history[0]["actor"]["user"] == "otto"
        assert history[0]["actor"]["token_id"].startswith("tok_")
        assert viewer.post("/events", json={"type": "t", "key": "k"}).status_code == 403
        assert op.post("/events", json={"type": "t", "key": "k"}).status_code == 201
        assert op.post("/circuits/payments/reset").status_code == 403
        assert admin.post("/circuits/nothing-here/reset").status_code == 404


def test_four_eyes_through_the_api(secured) -> None:
    server, tokens = secured
    with server.client(tokens["alice"]) as alice, server.client(tokens["bob"]) as bob, \
            server.client(tokens["operator"]) as otto:
        wid = alice.post("/workflows", json={"name": "api_approval", "input": [900, True]}
                         ).json()["workflow_id"]
        task = _open_task(alice, wid)
        bad = alice.post(f"/tasks/{task}/complete", json={"data": {"approved": "yes"}})
        assert bad.status_code == 422 and "approved" in bad.json()["detail"]
        assert otto.post(f"/tasks/{task}/complete",
                         json={"data": {"approved": True}}).status_code == 403
        first = alice.post(f"/tasks/{task}/complete", json={"data": {"approved": True}})
        assert first.status_code == 200, first.text
        again = alice.post(f"/tasks/{task}/complete", json={"data": {"approved": True}})
        assert again.status_code == 403 and "alice" in again.json()["detail"]
        impersonate = alice.post(f"/tasks/{task}/complete",
                                 json={"data": {"approved": True}, "user": "bob"})
        assert impersonate.status_code == 403
        assert bob.post(f"/tasks/{task}/complete",
                        json={"data": {"approved": True}}).status_code == 200
        done = alice.get(f"/workflows/{wid}/result", params={"wait": 30}).json()
        assert done["status"] == "COMPLETED" and sorted(done["result"]["by"]) == [
            "alice", "bob"]
        audit = alice.get(f"/tasks/{task}").json()["history"]
        assert {e.get("user") for e in audit} >= {"alice", "bob"}


def _open_task(c, wid: str) -> str:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = c.get("/tasks", params={"workflow_id": wid}).json()
        if found:
            return str(found[0]["id"])
        time.sleep(0.05)
    raise AssertionError(f"no task for {wid}")


def test_without_tokens_only_loopback_is_served_and_other_addresses_are_refused(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'open.db'}"
    proc = ServerProcess(url)
    try:
        with proc.client() as c:
            assert c.get("/workflows").status_code == 200  # loopback: admin
    finally:
        assert proc.stop() == 0
    refused = legato_cli(url, "server", "--host", "0.0.0.0", "--port", "0",
                         str(Path(__file__).with_name("app_module.py")))
    assert refused.returncode == 2
    assert "--insecure" in refused.stderr and "Traceback" not in refused.stderr
