"""The dashboard with tokens, on SQLite and PostgreSQL: a page needs a session (303 to
/login), the login sets an HttpOnly, SameSite=Strict cookie naming the token (never its
secret), roles decide which forms a page shows and which POSTs succeed (a viewer's forged
POST is 403), the API accepts the session for reading, and four-eyes refusals read clearly."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_support import STORES, ServerProcess, fresh_db, legato_cli, make_token, wait_status
from dash_support import (
    api,
    assert_secure,
    browser,
    csrf_of,
    element,
    first_task,
    start,
    start_server,
)


@pytest.fixture(scope="module", params=STORES)
def secured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            pg_tools: Any) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    with fresh_db(request.param, tmp_path_factory.mktemp("dashauth"), pg_tools) as url:
        tokens = {name: make_token(url, user, role) for name, user, role in [
            ("viewer", "vera", "viewer"), ("alice", "alice", "operator"),
            ("admin", "ada", "admin")]}
        assert legato_cli(url, "users", "add", "alice", "--group", "managers").returncode == 0
        proc = start_server(url)
        try:
            yield proc, tokens
        finally:
            proc.stop()


@contextlib.contextmanager
def login(server: ServerProcess, token: str) -> Iterator[httpx.Client]:
    """A browser logged in with ``token``."""
    with browser(server) as web:
        form = web.get("/login")
        assert form.status_code == 200 and '<form id="login"' in form.text
        assert 'name="token"' in form.text
        r = web.post("/login", data={"csrf": csrf_of(form.text), "token": token})
        assert r.status_code == 303 and r.headers["location"] == "/", r.text
        yield web


def test_pages_need_a_session_and_login_sets_a_strict_httponly_cookie(secured) -> None:
    server, tokens = secured
    with browser(server) as web:
        for path in ("/", "/inbox", "/runs/x", "/definitions", "/circuits"):
            r = web.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/login", path
            assert_secure(r)
        page = web.get("/login")
        assert_secure(page)
        bad = web.post("/login", data={"csrf": csrf_of(page.text), "token": "lgt_nope"})
        assert bad.status_code == 401 and 'id="form-errors"' in bad.text
        r = web.post("/login", data={"csrf": csrf_of(page.text), "token": tokens["viewer"]})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("legato_session=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert tokens["viewer"] not in cookie  # the cookie names the token, never its secret
        assert web.get("/").status_code == 200
        assert "vera (viewer)" in web.get("/").text
        tampered = browser(server)
        value = web.cookies["legato_session"]
        tampered.cookies.set("legato_session", value[:-2] + ("AA" if value[-2:] != "AA"
                                                             else "BB"))
        assert tampered.get("/").status_code == 303
        tampered.close()
        out = web.post("/logout", data={"csrf": csrf_of(web.get("/").text)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert web.get("/").status_code == 303


def test_a_viewer_sees_no_actions_and_a_forged_post_is_403(secured) -> None:
    server, tokens = secured
    with api(server, tokens["alice"]) as client:
        failed = start(client, "dash_fail", "nope")
        waiting = start(client, "api_wait_signal")
        wait_status(client, failed, "FAILED")
        wait_status(client, waiting, "WAITING")
        task = first_task(client, start(client, "dash_task", "x"))
    with login(server, tokens["viewer"]) as web:
        runs = web.get("/").text
        assert 'id="bulk-retry"' not in runs and 'name="ids"' not in runs
        for path in (f"/runs/{failed}", f"/runs/{waiting}", f"/tasks/{task['id']}",
                     "/schedules", "/circuits"):
            page = web.get(path)
            assert page.status_code == 200, path
            assert 'class="action"' not in page.text and 'id="task-form"' not in page.text
        csrf = csrf_of(runs)  # the logout form's: a valid CSRF value of this session
        for path, data in ((f"/runs/{waiting}/cancel", {}), ("/runs/retry", {"ids": failed}),
                           (f"/runs/{failed}/retry", {}), ("/schedules/api_nightly/pause", {}),
                           (f"/tasks/{task['id']}/complete", {"approved": "true"}),
                           ("/circuits/api_gate/reset", {})):
            r = web.post(path, data={"csrf": csrf, **data})
            assert r.status_code == 403, path
            assert "needs the" in r.text
        # the session reads the API (the page's live updates), but never writes through it
        assert web.get("/api/v1/workflows/counts").status_code == 200
        with web.stream("GET", "/api/v1/stream", params={"kinds": "runs"}) as live:
            assert live.status_code == 200
            assert next(live.iter_lines()).startswith(": legato stream")
        assert web.post("/api/v1/workflows", json={"name": "api_greet",
                                                   "input": ["x"]}).status_code == 401
        assert web.post(f"/api/v1/workflows/{waiting}/cancel").status_code == 401
    with api(server, tokens["alice"]) as client:
        assert client.get(f"/workflows/{waiting}").json()["status"] == "WAITING"
        assert client.get(f"/workflows/{failed}").json()["status"] == "FAILED"


def test_an_operator_acts_and_only_an_admin_resets_circuits(secured) -> None:
    server, tokens = secured
    with api(server, tokens["alice"]) as client:
        waiting = start(client, "api_wait_signal")
        wait_status(client, waiting, "WAITING")
    with login(server, tokens["alice"]) as web:
        page = web.get(f"/runs/{waiting}")
        assert 'data-action="cancel"' in page.text
        assert 'data-action="reset"' not in web.get("/circuits").text
        r = web.post(f"/runs/{waiting}/cancel", data={"csrf": csrf_of(page.text)})
        assert r.status_code == 303
        with api(server, tokens["alice"]) as client:
            wait_status(client, waiting, "CANCELLED")
        after = web.get(f"/runs/{waiting}").text
        assert "by alice" in element(after, r'(<ol id="timeline".*?</ol>)')
        other = browser(server)  # a CSRF value of one session does not work for another
        other_page = other.get("/login")
        assert web.post(f"/runs/{waiting}/retry",
                        data={"csrf": csrf_of(other_page.text)}).status_code == 403
        other.close()


def test_four_eyes_refusal_is_a_clear_message(secured) -> None:
    server, tokens = secured
    with api(server, tokens["alice"]) as client:
        run = start(client, "dash_task", "two", True)
        task = first_task(client, run)
    with login(server, tokens["alice"]) as web:
        inbox = web.get("/inbox", params={"scope": "groups"}).text
        assert f'data-task-id="{task["id"]}"' in inbox
        page = web.get(f"/tasks/{task['id']}")
        assert 'name="user"' not in element(page.text, r'(<form id="task-form".*?</form>)')
        values = {"csrf": csrf_of(page.text), "approved": "true", "amount": "2"}
        first = web.post(f"/tasks/{task['id']}/complete", data=values)
        assert first.status_code == 303
        again = web.post(f"/tasks/{task['id']}/complete", data=values)
        assert again.status_code == 403
        message = element(again.text, r'<p id="form-errors"[^>]*>(.*?)</p>')
        assert "four-eyes" in message and "alice" in message
        forged = web.post(f"/tasks/{task['id']}/complete", data={**values, "user": "bob"})
        assert forged.status_code == 403 and "admin" in forged.text
