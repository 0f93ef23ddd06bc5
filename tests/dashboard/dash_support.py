"""Helpers of the dashboard tests: a server with the dashboard's test workflows, a browser-like
httpx client (cookies kept, redirects not followed), and reading values out of pages."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
from api_support import APP, ServerProcess

PAGES_APP = str(Path(__file__).with_name("pages_app.py"))
MODULES = (APP, PAGES_APP)
SECURITY = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self';"
                               " img-src 'self' data:; frame-ancestors 'none';"
                               " form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def start_server(url: str) -> ServerProcess:
    return ServerProcess(url, "--workers", modules=MODULES)


def browser(server: ServerProcess) -> httpx.Client:
    """A client on the dashboard's root, as a browser without script."""
    return httpx.Client(base_url=server.url, timeout=30.0, follow_redirects=False)


def api(server: ServerProcess, token: str | None = None) -> httpx.Client:
    return server.client(token)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF value"
    return found.group(1)


def assert_secure(response: httpx.Response) -> None:
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name))
    assert "unsafe-inline" not in response.headers["content-security-policy"]


def element(page: str, pattern: str) -> str:
    """The first match of ``pattern`` (a regex with one group), as the HTML has it."""
    found = re.search(pattern, page, re.S)
    assert found, f"{pattern!r} not in the page"
    return found.group(1)


def start(client: httpx.Client, name: str, *args: Any, **options: Any) -> str:
    r = client.post("/workflows", json={"name": name, "input": list(args), **options})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["workflow_id"])


def wait_until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, "the condition did not hold in time"
            return value
        time.sleep(0.05)


def first_task(client: httpx.Client, workflow_id: str) -> dict[str, Any]:
    return dict(wait_until(lambda: (client.get("/tasks", params={"workflow_id": workflow_id})
                                    .json() or [None])[0]))
