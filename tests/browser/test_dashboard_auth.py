"""Logging in and roles in a real browser, on SQLite and PostgreSQL (a server of its own:
once a token exists every page needs a session): the login form sets an HttpOnly,
SameSite=Strict cookie; an operator sees the actions, a viewer none; a POST forged from the
page without the form's CSRF value is refused, whoever sends it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from browser_support import (
    MODULES,
    STORES,
    Page,
    ServerProcess,
    Watch,
    browser,
    expect,
    fresh_db,
    goto,
    make_token,
    pages,
    shoot,
    text_re,
    wait_status,
    watch,
)

__all__ = ["browser", "pages", "watch"]


@pytest.fixture(scope="module", params=STORES)
def secured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            pg_tools: Any) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A server whose store has a viewer's, an operator's and an admin's token."""
    with fresh_db(request.param, tmp_path_factory.mktemp("ui-auth"), pg_tools) as url:
        tokens = {role: make_token(url, user, role) for user, role in
                  [("vera", "viewer"), ("otto", "operator"), ("ada", "admin")]}
        proc = ServerProcess(url, "--workers", modules=MODULES)
        try:
            yield proc, tokens
        finally:
            proc.stop()


def _log_in(page: Page, server: ServerProcess, token: str) -> None:
    goto(page, f"{server.url}/login")
    page.locator("form#login input[name=token]").fill(token)
    with page.expect_navigation():
        page.locator("form#login button[type=submit]").click()
    expect(page.locator("form#login")).to_have_count(0)


def _waiting_run(server: ServerProcess, token: str) -> str:
    wid = f"wait-{uuid.uuid4().hex[:10]}"
    with server.client(token) as c:
        r = c.post("/workflows", json={"name": "api_wait_signal", "input": [],
                                       "workflow_id": wid})
        assert r.status_code == 201, r.text
        wait_status(c, wid, "WAITING")
    return wid


_FORGE = """async ([url, fields]) => {
    const body = new URLSearchParams(fields);
    const r = await fetch(url, {method: 'POST', body, credentials: 'same-origin'});
    return r.status;
}"""


def test_login_sets_a_strict_httponly_session_cookie(
        secured: tuple[ServerProcess, dict[str, str]], pages: Callable[..., Page],
        watch: Watch) -> None:
    server, tokens = secured
    page = pages()
    goto(page, f"{server.url}/")  # no session: the login form
    expect(page.locator("form#login input[name=token]")).to_be_visible()
    shoot(page, server, "login")
    page.locator("form#login input[name=token]").fill("lgt_not-a-real-token")
    page.locator("form#login button[type=submit]").click()
    expect(page.locator("form#login")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "legato_session"]

    _log_in(page, server, tokens["operator"])
    cookies = [c for c in page.context.cookies() if c["name"] == "legato_session"]
    assert len(cookies) == 1, page.context.cookies()
    assert cookies[0]["httpOnly"] is True and cookies[0]["sameSite"] == "Strict", cookies
    assert page.evaluate("document.cookie").find("legato_session") < 0  # script cannot read it
    goto(page, f"{server.url}/")
    expect(page.locator("table#runs")).to_be_visible()


def test_a_viewer_sees_no_actions_and_forged_posts_are_refused(
        secured: tuple[ServerProcess, dict[str, str]], pages: Callable[..., Page],
        watch: Watch) -> None:
    server, tokens = secured
    wid = _waiting_run(server, tokens["operator"])

    operator = pages()
    _log_in(operator, server, tokens["operator"])
    goto(operator, f"{server.url}/runs/{wid}")
    cancel = operator.locator("form.action[data-action=cancel]")
    expect(cancel).to_have_count(1)
    expect(operator.locator("form.action[data-action=terminate]")).to_have_count(1)
    expect(operator.locator("form.action[data-action=signal]")).to_have_count(1)
    cancel_url = cancel.evaluate("f => f.action")
    goto(operator, f"{server.url}/")
    expect(operator.locator("form#bulk-retry")).to_have_count(1)
    goto(operator, f"{server.url}/runs/{wid}")
    # the operator's own session, the form's URL, everything but the CSRF value: refused
    assert operator.evaluate(_FORGE, [cancel_url, {}]) == 403
    assert operator.evaluate(_FORGE, [cancel_url, {"csrf": "forged"}]) == 403

    viewer = pages()
    _log_in(viewer, server, tokens["viewer"])
    goto(viewer, f"{server.url}/runs/{wid}")
    expect(viewer.locator("#status")).to_have_text(text_re("WAITING"))
    expect(viewer.locator("form.action")).to_have_count(0)
    expect(viewer.locator("button", has_text=text_re("cancel", "terminate", "retry",
                                                     "signal"))).to_have_count(0)
    shoot(viewer, server, "run-viewer")
    goto(viewer, f"{server.url}/")
    expect(viewer.locator(f"table#runs tr[data-run-id='{wid}']")).to_be_visible()
    expect(viewer.locator("form#bulk-retry")).to_have_count(0)
    expect(viewer.locator("button#retry-selected")).to_have_count(0)
    expect(viewer.locator("table#runs input[type=checkbox]")).to_have_count(0)
    assert viewer.evaluate(_FORGE, [cancel_url, {}]) == 403

    with server.client(tokens["viewer"]) as c:
        assert c.get(f"/workflows/{wid}").json()["status"] == "WAITING"
    # and the real form does what the forged posts could not
    goto(operator, f"{server.url}/runs/{wid}")
    with operator.expect_navigation():
        operator.locator("form.action[data-action=cancel] button[type=submit]").click()
    assert any(d.startswith("confirm") for d in watch.dialogs), watch.dialogs
    with server.client(tokens["viewer"]) as c:
        wait_status(c, wid, "CANCELLED")
