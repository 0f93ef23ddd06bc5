"""The dashboard's pages on a server without tokens (served as the loopback admin), on SQLite
and PostgreSQL: each page shows its data, escapes what users supplied, sends its security
headers, and its forms work without script (CSRF checked)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from api_support import STORES, ServerProcess, fresh_db, legato_cli, wait_status
from dash_support import (
    XSS,
    XSS_ESCAPED,
    api,
    assert_secure,
    browser,
    csrf_of,
    element,
    first_task,
    start,
    start_server,
    wait_until,
)

PAGES = ["/", "/inbox", "/inbox?scope=all", "/definitions", "/schedules", "/queues",
         "/circuits", "/login"]


@pytest.fixture(scope="module", params=STORES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           pg_tools: Any) -> Iterator[ServerProcess]:
    with fresh_db(request.param, tmp_path_factory.mktemp("dash"), pg_tools) as url:
        proc = start_server(url)
        try:
            yield proc
        finally:
            proc.stop()


@pytest.fixture()
def web(server: ServerProcess) -> Iterator[httpx.Client]:
    with browser(server) as c:
        yield c


@pytest.fixture()
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with api(server) as c:
        yield c


def test_every_page_renders_with_its_security_headers(web: httpx.Client,
                                                      server: ServerProcess) -> None:
    assert f"dashboard on {server.url}/;" in server.output()
    for path in PAGES:
        r = web.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"].startswith("text/html")
        assert_secure(r)
        assert '<nav aria-label="Pages">' in r.text
    script = web.get("/static/legato.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "EventSource" in script.text
    assert web.get("/static/legato.css").headers["content-type"].startswith("text/css")
    assert web.get("/static/other.js").status_code == 404
    assert web.get("/healthz").status_code == 200  # the API's paths stay as they are
    assert web.get("/openapi.json").json()["paths"]


def test_runs_list_counts_filters_and_escaped_input(web: httpx.Client,
                                                    client: httpx.Client) -> None:
    run = start(client, "api_greet", XSS, key="key-" + XSS)
    wait_status(client, run, "COMPLETED")
    r = web.get("/")
    counts = client.get("/workflows/counts").json()
    for status in counts:
        assert re.search(rf'data-status="{status}"[^>]*>.*?<span class="count">(\d+)</span>',
                         r.text, re.S), status
    completed = element(r.text, r'data-status="COMPLETED".*?<span class="count">(\d+)<')
    assert int(completed) == counts["COMPLETED"]
    row = element(r.text, rf'(<tr data-run-id="{run}">.*?</tr>)')
    assert f'<a class="run-link" href="/runs/{run}">' in row
    assert '<td class="status"><span class="badge s-completed">COMPLETED</span>' in row
    assert XSS not in r.text and XSS_ESCAPED in r.text  # the key, escaped
    for name in ("status", "name", "q", "since", "until"):
        assert f'name="{name}"' in r.text
    assert '<form id="filters" method="get"' in r.text
    by_key = web.get("/", params={"q": "key-" + XSS})
    assert f'data-run-id="{run}"' in by_key.text
    by_id = web.get("/", params={"q": run})
    assert by_id.text.count("data-run-id=") == 1
    done = web.get("/", params={"status": "FAILED", "name": "api_greet"})
    assert f'data-run-id="{run}"' not in done.text
    day = run_created(client, run)[:10]
    assert f'data-run-id="{run}"' in web.get("/", params={"since": day}).text
    assert f'data-run-id="{run}"' not in web.get("/", params={"until": day}).text
    bad = web.get("/", params={"since": "yesterday-ish"})
    assert bad.status_code == 200 and 'id="form-errors"' in bad.text


def run_created(client: httpx.Client, run: str) -> str:
    return str(client.get(f"/workflows/{run}").json()["created_at"])


def test_run_page_shows_input_result_timeline_and_diagram(web: httpx.Client,
                                                          client: httpx.Client) -> None:
    run = start(client, "api_greet", XSS)
    wait_status(client, run, "COMPLETED")
    r = web.get(f"/runs/{run}")
    assert r.status_code == 200
    assert_secure(r)
    assert element(r.text, r'<span id="status"[^>]*>(\w+)<') == "COMPLETED"
    assert XSS not in r.text
    assert XSS_ESCAPED in element(r.text, r'(<pre id="input">.*?</pre>)')
    assert "HELLO &lt;SCRIPT&gt;" in element(r.text, r'(<pre id="result">.*?</pre>)')
    timeline = element(r.text, r'(<ol id="timeline".*?</ol>)')
    assert timeline.count("<li") == 3 and "StepCompleted" in timeline and "shout" in timeline
    assert "by local-admin" in timeline  # the start's actor
    svg = element(r.text, r'<div id="diagram"[^>]*>(.*?)</div>')
    assert svg.startswith("<svg") and 'data-node="shout"' in svg and 'class="visited"' in svg
    assert web.get("/runs/no-such-run").status_code == 404


def test_failed_run_shows_its_error_escaped(web: httpx.Client, client: httpx.Client) -> None:
    run = start(client, "dash_fail", "boom " + XSS)
    wait_status(client, run, "FAILED")
    r = web.get(f"/runs/{run}")
    error = element(r.text, r'(<div id="error".*?</div>)')
    assert "builtins.RuntimeError" in error and "boom " + XSS_ESCAPED in error
    assert XSS not in r.text
    assert 'class="failed"' in element(r.text, r'<div id="diagram"[^>]*>(.*?)</div>')
    assert 'data-action="retry"' in r.text and 'data-action="cancel"' not in r.text


def test_waiting_for_in_words_and_actions(web: httpx.Client, client: httpx.Client) -> None:
    run = start(client, "api_wait_event", "claim-7")
    wait_until(lambda: (client.get(f"/workflows/{run}").json().get("waiting_for") or {})
               .get("kind") == "event")
    r = web.get(f"/runs/{run}")
    words = element(r.text, r'<dd id="waiting-for">(.*?)</dd>')
    assert re.fullmatch(r"waiting for event receipt\.uploaded key claim-7 until"
                        r" \d\d \w{3} \d\d:\d\d", words), words
    for verb in ("cancel", "terminate", "signal"):
        assert f'data-action="{verb}"' in r.text
    assert "data-confirm=" in r.text
    signal = web.post(f"/runs/{run}/signal",
                      data={"csrf": csrf_of(r.text), "name": "nudge", "data": '{"by": "me"}'})
    assert signal.status_code == 303 and signal.headers["location"] == f"/runs/{run}"
    bad = web.post(f"/runs/{run}/signal",
                   data={"csrf": csrf_of(r.text), "name": "nudge", "data": "{not json"})
    assert bad.status_code == 422
    done = web.post(f"/runs/{run}/terminate",
                    data={"csrf": csrf_of(r.text), "reason": "dup " + XSS})
    assert done.status_code == 303
    wait_until(lambda: client.get(f"/workflows/{run}").json()["status"] != "WAITING")
    after = web.get(f"/runs/{run}")
    assert 'data-action="terminate"' not in after.text
    assert XSS not in after.text and "by local-admin" in after.text


def test_a_post_without_a_valid_csrf_is_403(web: httpx.Client, client: httpx.Client) -> None:
    run = start(client, "api_wait_signal")
    for data in ({}, {"csrf": "forged"}):
        r = web.post(f"/runs/{run}/cancel", data=data)
        assert r.status_code == 403
        assert_secure(r)
    assert client.get(f"/workflows/{run}").json()["status"] not in ("CANCELLED",)
    assert web.post("/runs/retry", data={"ids": run}).status_code == 403
    assert web.post("/schedules/api_nightly/pause").status_code == 403
    assert web.post("/circuits/api_gate/reset", data={"csrf": ""}).status_code == 403
    assert web.post("/login", data={"token": "x"}).status_code == 403
    ok = web.post(f"/runs/{run}/cancel", data={"csrf": csrf_of(web.get('/').text)})
    assert ok.status_code == 303
    wait_status(client, run, "CANCELLED")


def test_bulk_retry_of_failed_runs(web: httpx.Client, client: httpx.Client,
                                   tmp_path: Path) -> None:
    marker = tmp_path / "present"
    runs = [start(client, "dash_needs_file", str(marker)) for _ in range(2)]
    for run in runs:
        wait_status(client, run, "FAILED")
    page = web.get("/", params={"status": "FAILED", "name": "dash_needs_file"})
    form = element(page.text, r'(<form id="bulk-retry".*?</form>)')
    for run in runs:
        assert f'<input type="checkbox" name="ids" value="{run}"' in form
    assert 'id="retry-selected"' in form
    marker.write_text("here")
    r = web.post("/runs/retry", data={"csrf": csrf_of(page.text), "ids": runs})
    assert r.status_code == 303
    for run in runs:
        wait_status(client, run, "COMPLETED")
    again = web.post("/runs/retry", data={"csrf": csrf_of(page.text), "ids": runs[0]})
    assert again.status_code == 409  # no longer FAILED


def test_task_form_from_its_schema_validation_then_success(
        web: httpx.Client, client: httpx.Client, server: ServerProcess) -> None:
    assert legato_cli(server.db_url, "users", "add", "maria", "--group",
                      "managers").returncode == 0
    run = start(client, "dash_task", XSS)
    task = first_task(client, run)
    inbox = web.get("/inbox", params={"scope": "all"})
    assert f'<tr data-task-id="{task["id"]}">' in inbox.text
    assert 'class="task-link"' in inbox.text
    timeline = element(web.get(f"/runs/{run}").text, r'(<ol id="timeline".*?</ol>)')
    assert f'<a class="task-link" href="/tasks/{quote(task["id"])}">' in timeline
    page = web.get(f"/tasks/{task['id']}")
    assert page.status_code == 200
    assert_secure(page)
    assert XSS not in page.text and XSS_ESCAPED in page.text
    form = element(page.text, r'(<form id="task-form".*?</form>)')
    assert re.search(r'<select id="f-approved" name="approved" required>', form)
    assert '<option value="true">true</option>' in form and '<option value="false">' in form
    assert re.search(r'<input id="f-amount" type="number" step="1" name="amount"', form)
    assert re.search(r'<input id="f-ratio" type="number" step="any" name="ratio"', form)
    assert re.search(r'<input id="f-note" type="text" name="note" value=""\s*>', form)
    assert '<select id="f-level" name="level">' in form and 'value="high"' in form
    assert 'id="approve"' in form
    assert '<form id="reject-form"' in page.text and '<form id="claim-form"' in page.text
    csrf = csrf_of(page.text)
    bad = web.post(f"/tasks/{task['id']}/complete",
                   data={"csrf": csrf, "approved": "true", "amount": "0", "note": XSS,
                         "user": "maria"})
    assert bad.status_code == 422
    errors = element(bad.text, r'<p id="form-errors"[^>]*>(.*?)</p>')
    assert "amount" in errors
    assert f'value="{XSS_ESCAPED}"' in bad.text.replace("&#34;", '"')  # the value kept
    assert '<option value="true" selected>' in bad.text
    good = web.post(f"/tasks/{task['id']}/complete",
                    data={"csrf": csrf, "approved": "true", "amount": "3", "ratio": "0.5",
                          "level": "high", "user": "maria"})
    assert good.status_code == 303, good.text
    outcome = wait_status(client, run, "COMPLETED")
    assert client.get(f"/workflows/{run}/result").json()["result"] == {
        "approved": True, "amount": 3, "ratio": 0.5, "level": "high"} or outcome
    history = web.get(f"/tasks/{task['id']}").text
    assert "completed" in element(history, r'(<ol id="task-history">.*?</ol>)')
    assert '<form id="task-form"' not in history  # closed


def test_runs_list_is_a_bounded_page_with_a_next_link(web: httpx.Client,
                                                      client: httpx.Client) -> None:
    ids = {start(client, "dash_noop", n) for n in range(55)}
    first = web.get("/", params={"name": "dash_noop"})
    rows = re.findall(r'<tr data-run-id="([^"]+)"', first.text)
    assert len(rows) == 50
    link = html.unescape(element(first.text, r'<a id="next" href="([^"]+)"'))
    second = web.get(link)
    more = re.findall(r'<tr data-run-id="([^"]+)"', second.text)
    assert set(rows) | set(more) == ids and not set(rows) & set(more)
    assert 'id="next"' not in second.text


def test_definitions_schedules_queues_circuits(web: httpx.Client,
                                               client: httpx.Client) -> None:
    d = web.get("/definitions").text
    table = element(d, r'(<table id="definitions".*?</table>)')
    assert 'data-name="api_greet"' in table and "<code>punctuation</code>" in table
    machine = element(table, r'(<tr data-name="api_machine">.*?</tr>)')
    assert "state_machine" in machine and "<svg" in machine and 'data-node="Greet"' in machine
    s = web.get("/schedules").text
    row = element(s, r'(<tr data-name="api_nightly">.*?</tr>)')
    assert "0 3 * * *" in row and 'data-action="pause"' in row
    assert web.post("/schedules/api_nightly/pause",
                    data={"csrf": csrf_of(s)}).status_code == 303
    assert 'data-action="resume"' in web.get("/schedules").text
    assert web.post("/schedules/api_nightly/resume",
                    data={"csrf": csrf_of(s)}).status_code == 303
    assert '<table id="queues"' in web.get("/queues").text
    run = start(client, "api_gated", True)
    wait_status(client, run, "FAILED")
    c = web.get("/circuits").text
    row = element(c, r'(<tr data-name="api_gate">.*?</tr>)')
    assert 'data-action="reset"' in row
    assert web.post("/circuits/api_gate/reset", data={"csrf": csrf_of(c)}).status_code == 303


def test_without_tokens_only_loopback_names_are_served(web: httpx.Client,
                                                       server: ServerProcess) -> None:
    """A page that a DNS rebinding points at the loopback admin's server is refused."""
    port = server.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]", "LOCALHOST"):
        assert web.get("/", headers={"Host": host}).status_code == 200, host
    for host in (f"evil.example:{port}", "127.0.0.1.evil.example", ""):
        r = web.get("/", headers={"Host": host})
        assert r.status_code == 403, host
        assert_secure(r)


def test_a_task_is_reassigned_from_its_page(web: httpx.Client, client: httpx.Client,
                                            server: ServerProcess) -> None:
    assert legato_cli(server.db_url, "users", "add", "rita", "--group",
                      "managers").returncode == 0
    run = start(client, "dash_task", "hand over")
    task = first_task(client, run)
    page = web.get(f"/tasks/{task['id']}")
    form = element(page.text, r'(<form id="reassign-form".*?</form>)')
    assert 'name="to_user"' in form and 'name="to_group"' in form
    both = web.post(f"/tasks/{task['id']}/reassign",
                    data={"csrf": csrf_of(page.text), "to_user": "x", "to_group": "y"})
    assert both.status_code == 422 and 'id="form-errors"' in both.text
    r = web.post(f"/tasks/{task['id']}/reassign",
                 data={"csrf": csrf_of(page.text), "to_user": "quinn"})
    assert r.status_code == 403  # the loopback admin is not a manager
    assert "managers" in element(r.text, r'<p id="form-errors"[^>]*>(.*?)</p>')
    r = web.post(f"/tasks/{task['id']}/reassign",
                 data={"csrf": csrf_of(page.text), "to_user": "quinn", "user": "rita"})
    assert r.status_code == 303
    assert client.get(f"/tasks/{task['id']}").json()["assignee"] == "quinn"
    assert f'data-task-id="{task["id"]}"' in web.get("/inbox").text  # the admin: every task


def test_a_state_machine_run_and_unknown_pages(web: httpx.Client, client: httpx.Client) -> None:
    run = start(client, "api_machine", {"who": XSS})
    wait_status(client, run, "COMPLETED")
    page = web.get(f"/runs/{run}")
    svg = element(page.text, r'<div id="diagram"[^>]*>(.*?)</div>')
    assert '<g class="visited" data-node="Greet">' in svg
    assert "state machine" in element(page.text, r'(<ol id="timeline".*?</ol>)')
    assert XSS not in page.text
    for path in ("/tasks/no-such-task", "/runs/no-such-run"):
        r = web.get(path)
        assert r.status_code == 404 and 'id="error-message"' in r.text
        assert_secure(r)
