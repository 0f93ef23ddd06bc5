"""The browser harness itself, before any dashboard page: Debian's Chromium starts headless
under Playwright, enforces a Content-Security-Policy, and the watch sees violations and
dialogs (so the dashboard tests can assert there are none)."""

from __future__ import annotations

from typing import Any

from browser_support import Page, Watch, browser, check_csp, expect, page, pages, watch

__all__ = ["browser", "page", "pages", "watch"]

CSP = "default-src 'self'; script-src 'self'"
HTML = """<!doctype html><title>csp</title><p id=out>untouched</p>
<script>document.getElementById('out').textContent = 'inline ran'; alert('inline')</script>"""


def _serve(page: Page, **headers: str) -> None:
    def fulfil(route: Any) -> None:
        route.fulfill(status=200, body=HTML, content_type="text/html", headers=headers)

    page.route("http://legato.test/**", fulfil)


def test_chromium_enforces_a_csp_and_the_watch_sees_it(page: Page, watch: Watch) -> None:
    _serve(page, **{"Content-Security-Policy": CSP})
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        response = page.goto("http://legato.test/")
    assert response is not None
    check_csp(response.headers, "the test page")
    expect(page.locator("#out")).to_have_text("untouched")
    assert watch.dialogs == []
    assert any("inline script" in v for v in watch.csp_violations), watch.csp_violations
    watch.csp_violations.clear()  # expected here; on legato's pages there must be none


def test_without_a_csp_the_same_script_runs_and_its_dialog_is_seen(page: Page,
                                                                   watch: Watch) -> None:
    _serve(page)
    with page.expect_event("dialog"):
        page.goto("http://legato.test/")
    expect(page.locator("#out")).to_have_text("inline ran")
    assert watch.dialogs == ["alert: inline"]
