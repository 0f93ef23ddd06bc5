"""Real-browser tests of the dashboard: headless Chromium (Debian's ``chromium`` package, not
a Playwright download) driven by Playwright for Python, against a real ``legato server``
process per module and store (tests/server/api_support.py's). Test modules import what they
use from here, fixtures included.

- ``browser`` (module): the browser. Without Chromium (or Playwright) the tests are skipped
  and tests/conftest.py says so in one loud line at the end; with
  ``LEGATO_REQUIRE_BROWSER=1`` (``.ci/run`` sets it) they fail instead.
  ``LEGATO_CHROMIUM`` names another binary.
- ``pages``: opens a page in a fresh context (viewport, colour scheme, ...), closed after
  the test; ``page`` is one at 1280x800. Every page is watched (``watch``): a dialog
  (``alert``, ``confirm``) is recorded, and a console CSP violation or an uncaught script
  error fails the test at teardown unless the test took it off the list. ``confirm`` dialogs
  are accepted, as a user confirming an action would.
- ``goto`` opens a dashboard page and checks its status and its Content-Security-Policy.
- ``shoot`` saves a full-page screenshot under test-artifacts/browser/ (git-ignored).

Nothing waits a fixed time: every wait is Playwright's ``expect`` on a condition (timeouts
are generous, the conditions exact).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# api_support lives beside the API tests; importing it under its own name keeps one copy of
# the module when both folders run in one pytest process
_SERVER_TESTS = str(Path(__file__).resolve().parents[1] / "server")
if _SERVER_TESTS not in sys.path:
    sys.path.insert(0, _SERVER_TESTS)
from api_support import (  # noqa: E402
    APP,
    STORES,
    ServerProcess,
    fresh_db,
    legato_cli,
    make_token,
    wait_status,
)

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # reported by the browser fixture (skip, or fail under CI)
    Browser = Page = Any  # type: ignore[misc,assignment]
    expect = sync_playwright = None  # type: ignore[assignment]

DASHBOARD_APP = str(Path(__file__).with_name("dashboard_app.py"))
MODULES = (APP, DASHBOARD_APP)
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
REQUIRE_BROWSER = os.environ.get("LEGATO_REQUIRE_BROWSER", "") not in ("", "0")
#: tests/conftest.py finds the skipped browser tests by this text (keep the two in step)
NO_BROWSER = "no Chromium for the browser tests"
TIMEOUT_MS = 20_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

if expect is not None:
    expect.set_options(timeout=TIMEOUT_MS)


def chromium_path() -> str | None:
    """Debian's chromium (or ``LEGATO_CHROMIUM``), if there is one."""
    named = os.environ.get("LEGATO_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    return shutil.which("chromium")


def _why_no_browser() -> str | None:
    if sync_playwright is None:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return ("no chromium binary (apt-get install chromium; make test and .ci/run do it"
                " when they may)")
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for a module's tests. Not for the session: a live Playwright (sync
    API) leaves its asyncio loop marked running in this thread, which would break the
    ``asyncio.run`` of other tests that the same xdist worker runs later (pytest finishes
    a module's fixtures before it starts the next module's tests)."""
    why = _why_no_browser()
    if why is not None:
        if REQUIRE_BROWSER:
            pytest.fail(f"{NO_BROWSER}: {why}; LEGATO_REQUIRE_BROWSER=1 makes this a"
                        " failure", pytrace=False)
        pytest.skip(f"{NO_BROWSER}: {why}")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Watch:
    """What the pages of one test said besides their content."""

    dialogs: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.script_errors.append(str(exc)))
        page.on("framenavigated", lambda frame: self.navigations.append(frame.url)
                if frame.parent_frame is None else None)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()

    def _console(self, msg: Any) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            self.csp_violations.append(msg.text)


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def pages(browser: Browser, watch: Watch) -> Iterator[Callable[..., Page]]:
    """``pages(**context_options)``: a page in a fresh context, watched."""
    contexts: list[Any] = []

    def open_page(**options: Any) -> Page:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        watch.attach(page)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not watch.csp_violations, f"CSP violations: {watch.csp_violations}"
    assert not watch.script_errors, f"script errors: {watch.script_errors}"


@pytest.fixture
def page(pages: Callable[..., Page]) -> Page:
    """A fresh 1280x800 page."""
    return pages()


def csp_directives(header: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def check_csp(headers: dict[str, str], where: str) -> None:
    """``script-src 'self'`` (from default-src if script-src is absent), no 'unsafe-inline'."""
    header = headers.get("content-security-policy")
    assert header, f"{where}: no Content-Security-Policy header"
    rules = csp_directives(header)
    scripts = rules.get("script-src", rules.get("default-src"))
    assert scripts is not None and "'self'" in scripts, f"{where}: {header}"
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, \
        f"{where}: {header}"


def goto(page: Page, url: str, status: int = 200) -> Any:
    """Open a dashboard page; check its status and its CSP header."""
    response = page.goto(url)
    assert response is not None, url
    assert response.status == status, f"{url}: {response.status}"
    check_csp(response.headers, url)
    return response


def store_of(proc: ServerProcess) -> str:
    return "sqlite" if proc.db_url.startswith("sqlite") else "postgresql"


def shoot(page: Page, proc: ServerProcess, name: str) -> Path:
    """A full-page screenshot: test-artifacts/browser/<store>-<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{store_of(proc)}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_reload_marker(page: Page) -> None:
    """Mark the document (:func:`still_same_document` tells whether it was ever replaced),
    once the page's stream is connected (``html[data-live]``): a change made before that is
    not one the page can be expected to see."""
    expect(page.locator("html[data-live]")).to_have_count(1)
    page.evaluate("window.__legatoNoReload = 1")


def still_same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__legatoNoReload === 1"))


def text_re(*words: str) -> re.Pattern[str]:
    """Case-insensitive match of any of ``words`` (a status may be shown in any case)."""
    return re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)


@pytest.fixture(scope="module", params=STORES)
def dashboard(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              pg_tools: Any) -> Iterator[ServerProcess]:
    """A ``legato server`` with the API tests' and the browser tests' workflows, no tokens
    (loopback admin), workers on, per module and store."""
    with fresh_db(request.param, tmp_path_factory.mktemp("ui"), pg_tools) as url:
        proc = ServerProcess(url, "--workers", modules=MODULES)
        try:
            yield proc
        finally:
            proc.stop()


__all__ = [
    "DESKTOP", "MODULES", "PHONE", "STORES", "Browser", "Page", "ServerProcess", "Watch",
    "browser", "check_csp", "dashboard", "expect", "fresh_db", "goto", "legato_cli",
    "make_token", "no_reload_marker", "page", "pages", "shoot", "still_same_document",
    "store_of", "text_re", "wait_status", "watch",
]
