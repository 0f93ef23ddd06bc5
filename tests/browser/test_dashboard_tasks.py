"""Human tasks in a real browser, on SQLite and PostgreSQL: a task opened from the inbox, its
form refused with an invalid value and approved with a valid one, the run going on; a task
approved with the keyboard alone; the runs list and a task form at a phone's width in the
dark and the light scheme."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from browser_support import (
    PHONE,
    Page,
    ServerProcess,
    Watch,
    browser,
    dashboard,
    expect,
    goto,
    page,
    pages,
    shoot,
    text_re,
    wait_status,
    watch,
)

__all__ = ["browser", "dashboard", "page", "pages", "watch"]


def _review(server: ServerProcess, title: str) -> tuple[str, str]:
    """Start a ``ui_review`` run; (its id, its task's id) once it waits for the task."""
    wid = f"review-{uuid.uuid4().hex[:10]}"
    with server.client() as c:
        r = c.post("/workflows", json={"name": "ui_review", "input": [title],
                                       "workflow_id": wid})
        assert r.status_code == 201, r.text
        wait_status(c, wid, "WAITING")
        tasks = c.get("/tasks", params={"workflow_id": wid}).json()
    assert len(tasks) == 1, tasks
    return wid, str(tasks[0]["id"])


def _task(server: ServerProcess, task_id: str) -> dict[str, Any]:
    with server.client() as c:
        return dict(c.get(f"/tasks/{task_id}").json())


def test_a_task_from_the_inbox_refused_then_approved_and_the_run_goes_on(
        dashboard: ServerProcess, page: Page, watch: Watch) -> None:
    wid, task_id = _review(dashboard, "a laptop for Ada")
    goto(page, f"{dashboard.url}/inbox")
    row = page.locator(f"table#tasks tr[data-task-id='{task_id}']")
    expect(row).to_be_visible()
    row.locator("a.task-link").click()
    expect(page).to_have_url(f"{dashboard.url}/tasks/{quote(task_id, safe='')}")
    form = page.locator("form#task-form")
    expect(form).to_be_visible()
    expect(page.locator("body")).to_contain_text("a laptop for Ada")

    form.locator("[name=approved]").select_option("true")
    form.locator("[name=amount]").fill("5000")  # over the form's maximum of 1000
    form.locator("button#approve").click()
    # refused by the browser (if the page states the bound) or by the server (#form-errors)
    page.wait_for_function("""() => {
        const errors = document.querySelector('#form-errors');
        const amount = document.querySelector('#task-form [name=amount]');
        return (errors && errors.textContent.trim() !== '') || (amount && !amount.validity.valid);
    }""")
    if page.locator("#form-errors").count() == 0:  # the server's own message, past the browser
        page.evaluate("document.querySelector('#task-form').noValidate = true")
        form.locator("button#approve").click()
    expect(page.locator("#form-errors")).to_contain_text("amount")
    expect(page.locator("#form-errors")).to_be_visible()
    shoot(page, dashboard, "task-form-errors")
    assert _task(dashboard, task_id)["status"] in ("OPEN", "CLAIMED")

    form = page.locator("form#task-form")
    form.locator("[name=approved]").select_option("true")
    form.locator("[name=amount]").fill("250")
    form.locator("[name=note]").fill("within budget")
    form.locator("button#approve").click()
    with dashboard.client() as c:
        done = wait_status(c, wid, "COMPLETED")
    assert done["status"] == "COMPLETED"
    assert _task(dashboard, task_id)["status"] == "COMPLETED"
    goto(page, f"{dashboard.url}/runs/{wid}")
    expect(page.locator("#status")).to_have_text(text_re("COMPLETED"))
    expect(page.locator("#result")).to_contain_text("a laptop for Ada: approved")
    expect(page.locator("ol#timeline")).to_contain_text("file_review")


def _tab_to(page: Page, selector: str, presses: int = 60) -> None:
    """Press Tab until the element ``selector`` has the focus."""
    for _ in range(presses):
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_a_task_is_approved_with_the_keyboard_alone(
        dashboard: ServerProcess, page: Page, watch: Watch) -> None:
    wid, task_id = _review(dashboard, "a keyboard for Bea")
    goto(page, f"{dashboard.url}/inbox")
    _tab_to(page, f"tr[data-task-id='{task_id}'] a.task-link")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(f"{dashboard.url}/tasks/{quote(task_id, safe='')}")
    _tab_to(page, "#task-form [name=approved]")
    page.keyboard.type("t")  # a focused select picks the option its typed letters start
    expect(page.locator("#task-form [name=approved]")).to_have_value("true")
    _tab_to(page, "#task-form [name=amount]")
    page.keyboard.type("40")
    _tab_to(page, "#task-form button#approve")
    page.keyboard.press("Enter")  # the confirmation (if any) is accepted like a user would
    with dashboard.client() as c:
        wait_status(c, wid, "COMPLETED")
    task = _task(dashboard, task_id)
    assert task["status"] == "COMPLETED"
    assert task["result"]["outcome"] == "completed", task
    assert task["result"]["data"] == {"approved": True, "amount": 40}, task


def _no_page_overflow(page: Page) -> None:
    """Nothing wider than the viewport but what scrolls inside its own wrapper."""
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"the page is {width}px wide in a {inner}px viewport"


def _within_width(page: Page, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5, (selector, box)


def _luminance(page: Page, prop: str) -> float:
    """Relative luminance (0 black .. 1 white) of the body's computed ``prop``, over the
    page background when it is transparent."""
    rgb = page.evaluate("""prop => {
        for (const el of [document.body, document.documentElement]) {
            const c = getComputedStyle(el)[prop];
            const m = c.match(/[\\d.]+/g).map(Number);
            if (m.length < 4 || m[3] > 0) return m.slice(0, 3);
        }
        return [255, 255, 255];
    }""", prop)
    r, g, b = (x / 255 for x in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _check_scheme(page: Page, scheme: str) -> None:
    background, text = _luminance(page, "backgroundColor"), _luminance(page, "color")
    if scheme == "dark":
        assert background < 0.3 < text, (background, text)
    else:
        assert text < 0.3 < background, (background, text)


def test_a_phone_width_in_dark_and_light_renders_the_runs_and_a_task_form(
        dashboard: ServerProcess, pages: Callable[..., Page], watch: Watch) -> None:
    wid, task_id = _review(dashboard, "a phone for Cy")
    for scheme in ("dark", "light"):
        page = pages(viewport=PHONE, color_scheme=scheme, is_mobile=True, has_touch=True)
        goto(page, f"{dashboard.url}/")
        for selector in ("#counts", "form#filters", "form#filters select[name=status]",
                         "form#filters input[name=q]"):
            expect(page.locator(selector)).to_be_visible()
            _within_width(page, selector)
        link = page.locator(f"tr[data-run-id='{wid}'] a.run-link")
        expect(link).to_be_visible()
        _no_page_overflow(page)
        _check_scheme(page, scheme)
        shoot(page, dashboard, f"runs-phone-{scheme}")

        goto(page, f"{dashboard.url}/tasks/{quote(task_id, safe='')}")
        for selector in ("#task-form [name=approved]", "#task-form [name=amount]",
                         "#task-form [name=note]", "button#approve"):
            expect(page.locator(selector)).to_be_visible()
            _within_width(page, selector)
        _no_page_overflow(page)
        _check_scheme(page, scheme)
        shoot(page, dashboard, f"task-phone-{scheme}")
    # usable, not only visible: the task is approved at that width
    page.locator("#task-form [name=approved]").select_option("false")
    page.locator("#task-form [name=amount]").fill("1")
    page.locator("button#approve").tap()
    with dashboard.client() as c:
        wait_status(c, wid, "COMPLETED")
