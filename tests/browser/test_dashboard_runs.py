"""The dashboard's runs in a real browser, on SQLite and PostgreSQL: a run's page follows it
to COMPLETED without a reload, the list updates live and filters, failed runs are redriven
from the failed list, script payloads render as text, every page sends its CSP (which
blocks inline script) and every form its CSRF value."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from browser_support import (
    Page,
    ServerProcess,
    Watch,
    browser,
    dashboard,
    expect,
    goto,
    no_reload_marker,
    page,
    pages,
    shoot,
    still_same_document,
    text_re,
    wait_status,
    watch,
)

__all__ = ["browser", "dashboard", "page", "pages", "watch"]

#: a payload that would show a dialog (or add an element) if it were ever parsed as HTML
#: (no double quotes: a JSON value is shown as JSON, which escapes them)
PAYLOAD = "<script>alert('legato-xss')</script><img src=x-legato-xss onerror=alert(1)>"


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _start(server: ServerProcess, name: str, *args: object, key: str | None = None,
           wid: str | None = None) -> str:
    wid = wid or _id(name.replace("_", "-"))
    with server.client() as c:
        r = c.post("/workflows", json={"name": name, "input": list(args), "workflow_id": wid,
                                       **({"key": key} if key else {})})
        assert r.status_code == 201, r.text
    return wid


def _publish(server: ServerProcess, key: str) -> None:
    with server.client() as c:
        r = c.post("/events", json={"type": "receipt.uploaded", "key": key,
                                    "data": {"file": f"{key}.pdf"}})
        assert r.status_code in (200, 201, 202), r.text


def test_a_run_reaches_completed_on_its_page_without_reloading(
        dashboard: ServerProcess, page: Page, watch: Watch) -> None:
    key = _id("claim")
    wid = _start(dashboard, "api_wait_event", key, key=key)
    with dashboard.client() as c:
        wait_status(c, wid, "WAITING")
    goto(page, f"{dashboard.url}/runs/{wid}")
    expect(page.locator("#status")).to_have_text(text_re("WAITING"))
    expect(page.locator("#waiting-for")).to_contain_text("receipt.uploaded")
    expect(page.locator("#waiting-for")).to_contain_text(key)
    shoot(page, dashboard, "run-waiting")
    no_reload_marker(page)
    navigations = len(watch.navigations)
    _publish(dashboard, key)
    expect(page.locator("#status")).to_have_text(text_re("COMPLETED"))
    assert still_same_document(page) and len(watch.navigations) == navigations
    goto(page, f"{dashboard.url}/runs/{wid}")  # the whole story once it ended
    expect(page.locator("#result")).to_contain_text(f"{key}.pdf")
    expect(page.locator("ol#timeline li").first).to_be_visible()
    assert page.locator("ol#timeline li").count() >= 3
    expect(page.locator("#diagram svg")).to_be_visible()
    shoot(page, dashboard, "run-completed")


def test_the_runs_list_counts_filters_and_follows_a_run_live(
        dashboard: ServerProcess, page: Page, watch: Watch) -> None:
    key = _id("claim")
    wid = _start(dashboard, "api_wait_event", key, key=key)
    with dashboard.client() as c:
        wait_status(c, wid, "WAITING")
        waiting = c.get("/workflows/counts").json()["WAITING"]
    goto(page, f"{dashboard.url}/")
    expect(page.locator("#counts [data-status=WAITING]")).to_contain_text(
        re.compile(rf"\b{waiting}\b"))
    row = page.locator(f"table#runs tr[data-run-id='{wid}']")
    expect(row.locator("td.status")).to_have_text(text_re("WAITING"))
    expect(row.locator("a.run-link")).to_have_attribute("href", f"/runs/{wid}")
    shoot(page, dashboard, "runs")
    no_reload_marker(page)
    navigations = len(watch.navigations)
    _publish(dashboard, key)
    expect(row.locator("td.status")).to_have_text(text_re("COMPLETED"))
    assert still_same_document(page) and len(watch.navigations) == navigations

    form = page.locator("form#filters")
    form.locator("select[name=status]").select_option("COMPLETED")
    form.locator("input[name=name]").fill("api_wait_event")
    form.locator("input[name=q]").fill(key)
    with page.expect_navigation():
        form.locator("input[name=q]").press("Enter")
    expect(page.locator("table#runs tr[data-run-id]")).to_have_count(1)
    expect(row.locator("td.status")).to_have_text(text_re("COMPLETED"))
    row.locator("a.run-link").click()
    expect(page).to_have_url(f"{dashboard.url}/runs/{wid}")
    expect(page.locator("#status")).to_have_text(text_re("COMPLETED"))


def test_a_new_run_appears_in_the_list_without_reloading(
        dashboard: ServerProcess, page: Page, watch: Watch) -> None:
    goto(page, f"{dashboard.url}/?name=api_wait_event")
    no_reload_marker(page)
    navigations = len(watch.navigations)
    key = _id("claim")
    wid = _start(dashboard, "api_wait_event", key, key=key)
    row = page.locator(f"table#runs tr[data-run-id='{wid}']")
    expect(row.locator("td.status")).to_have_text(text_re("PENDING", "RUNNING", "WAITING"))
    expect(page.locator("table#runs tr[data-run-id]").first).to_have_attribute(
        "data-run-id", wid)  # newest first
    _publish(dashboard, key)
    expect(row.locator("td.status")).to_have_text(text_re("COMPLETED"))
    assert still_same_document(page) and len(watch.navigations) == navigations


def test_failed_runs_are_redriven_from_the_failed_list(
        dashboard: ServerProcess, page: Page, watch: Watch, tmp_path: Path) -> None:
    flag = tmp_path / "receipt.pdf"
    wids = [_start(dashboard, "ui_needs_file", str(flag)) for _ in range(2)]
    with dashboard.client() as c:
        for wid in wids:
            wait_status(c, wid, "FAILED")
    goto(page, f"{dashboard.url}/")
    page.locator("form#filters select[name=status]").select_option("FAILED")
    with page.expect_navigation():
        page.locator("form#filters button[type=submit]").click()
    for wid in wids:
        row = page.locator(f"table#runs tr[data-run-id='{wid}']")
        expect(row.locator("td.status")).to_have_text(text_re("FAILED"))
        row.locator("input[type=checkbox][name=ids]").check()
    shoot(page, dashboard, "runs-failed")
    flag.write_text("found")  # the cause is fixed: a retry now gets through
    page.locator("button#retry-selected").click()
    with dashboard.client() as c:
        for wid in wids:
            wait_status(c, wid, "COMPLETED")
    assert [d for d in watch.dialogs if d.startswith("confirm")], watch.dialogs
    for wid in wids:
        goto(page, f"{dashboard.url}/runs/{wid}")
        expect(page.locator("#status")).to_have_text(text_re("COMPLETED"))
        expect(page.locator("ol#timeline")).to_contain_text(text_re("redriven", "retr"))


def _no_payload_parsed(page: Page) -> None:
    assert page.evaluate(
        "() => [...document.scripts].every(s => !s.text.includes('legato-xss'))")
    expect(page.locator("img[src='x-legato-xss']")).to_have_count(0)


def test_script_payloads_render_as_text(dashboard: ServerProcess, page: Page,
                                        watch: Watch) -> None:
    greeted = _start(dashboard, "api_greet", PAYLOAD)
    exploded = _start(dashboard, "ui_explode", PAYLOAD)
    reviewed = _start(dashboard, "ui_review", PAYLOAD)
    with dashboard.client() as c:
        wait_status(c, greeted, "COMPLETED")
        wait_status(c, exploded, "FAILED")
        wait_status(c, reviewed, "WAITING")
        tasks = c.get("/tasks", params={"workflow_id": reviewed}).json()
    assert len(tasks) == 1
    task_id = tasks[0]["id"]

    goto(page, f"{dashboard.url}/runs/{greeted}")
    expect(page.locator("body")).to_contain_text(PAYLOAD)  # the input, as text
    expect(page.locator("#result")).to_contain_text(PAYLOAD.upper()[:20])
    _no_payload_parsed(page)
    goto(page, f"{dashboard.url}/runs/{exploded}")
    expect(page.locator("#error")).to_contain_text(PAYLOAD)
    _no_payload_parsed(page)
    goto(page, f"{dashboard.url}/")
    expect(page.locator(f"table#runs tr[data-run-id='{exploded}']")).to_be_visible()
    _no_payload_parsed(page)
    goto(page, f"{dashboard.url}/inbox")
    expect(page.locator(f"table#tasks tr[data-task-id='{task_id}']")).to_be_visible()
    _no_payload_parsed(page)
    goto(page, f"{dashboard.url}/tasks/{task_id}")
    expect(page.locator("body")).to_contain_text(PAYLOAD)  # the task's data, as text
    _no_payload_parsed(page)
    shoot(page, dashboard, "task-payload")
    assert watch.dialogs == []


def test_every_page_sends_its_csp_and_every_form_its_csrf(
        dashboard: ServerProcess, page: Page, watch: Watch) -> None:
    done = _start(dashboard, "api_greet", "ada")
    machine = _start(dashboard, "api_machine", {"x": 1})
    reviewed = _start(dashboard, "ui_review", "a monitor")
    with dashboard.client() as c:
        wait_status(c, done, "COMPLETED")
        wait_status(c, machine, "COMPLETED")
        wait_status(c, reviewed, "WAITING")
        task_id = c.get("/tasks", params={"workflow_id": reviewed}).json()[0]["id"]
    visits = [("/", "table#runs"), (f"/runs/{done}", "#status"),
              (f"/runs/{machine}", "#diagram svg"), (f"/runs/{reviewed}", "#waiting-for"),
              ("/inbox", "table#tasks"), (f"/tasks/{task_id}", "form#task-form"),
              ("/definitions", "table#definitions"), ("/schedules", "table#schedules"),
              ("/queues", "table#queues"), ("/circuits", "table#circuits")]
    shots = {"/inbox": "inbox", f"/tasks/{task_id}": "task", "/definitions": "definitions",
             "/schedules": "schedules", "/queues": "queues", "/circuits": "circuits",
             f"/runs/{machine}": "run-state-machine"}
    for path, landmark in visits:
        goto(page, f"{dashboard.url}{path}")
        expect(page.locator(landmark).first).to_be_visible()
        posts = page.locator("form[method=post]")
        for i in range(posts.count()):
            expect(posts.nth(i).locator("input[name=csrf]")).to_have_count(1)
        if path in shots:
            shoot(page, dashboard, shots[path])

    # the policy is enforced: an inline script put into a legato page does not run
    goto(page, f"{dashboard.url}/")
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate("""() => { const s = document.createElement('script');
                          s.textContent = 'window.__inlineRan = 1';
                          document.body.appendChild(s); }""")
    assert page.evaluate("window.__inlineRan") is None
    assert len(watch.csp_violations) == 1, watch.csp_violations
    watch.csp_violations.clear()  # provoked on purpose; the pages themselves cause none
