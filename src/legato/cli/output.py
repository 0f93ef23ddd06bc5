"""Rendering for the CLI: workflow tables, the description block and the history timeline.

Every human-readable line goes through this module, so that no stored value (an id, a name,
a key, an error message...) can control the terminal or be read as rich markup:

- a line of text: :func:`echo` (the whole line escaped with :func:`safe`, written as is);
- a table: :func:`table` and :func:`add_row` (every cell a rich ``Text`` of escaped text;
  ``Text`` is never parsed as markup), printed with :func:`console` (which has markup,
  emoji codes and highlighting off, in case a plain ``str`` reaches it anyway);
- JSON: :func:`print_json` and :func:`to_json` (JSON, with the characters :func:`safe`
  escapes written as ``\\uXXXX``, which JSON reads back as the same characters).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from legato.domain.redact import redact

if TYPE_CHECKING:
    from legato.engine import Engine

STATUS_STYLES = {
    "PENDING": "yellow",
    "RUNNING": "cyan",
    "WAITING": "blue",
    "COMPLETED": "green",
    "FAILED": "bold red",
    "CANCELLED": "magenta",
    "TIMED_OUT": "red",
}
_EVENT_STYLES = {
    "StepFailed": "red",
    "WorkflowFailed": "bold red",
    "WorkflowCompleted": "green",
    "WorkflowCancelled": "magenta",
    "WorkflowTerminated": "magenta",
    "WorkflowTimedOut": "red",
}
_EVENT_KEYS = frozenset({"seq", "type", "at", "name", "pos", "attempt", "lane"})


def console(file: TextIO | None = None) -> Console:
    """A console for ``file`` (stdout). When it is not a terminal (a pipe, a test), lines are
    made wide enough that ids and names are never wrapped or cut."""
    out = file or sys.stdout
    width: int | None = None
    if not out.isatty():
        try:
            width = max(int(os.environ.get("COLUMNS", "0")), 200)
        except ValueError:
            width = 200
    return Console(file=out, width=width, markup=False, emoji=False, highlight=False,
                   soft_wrap=False)


# C0 controls (ESC, newline, NUL...), DEL, C1 controls (CSI...), lone surrogates, and the
# characters that reorder or break lines on a terminal (bidi overrides, line separators)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(found: re.Match[str]) -> str:
    c = found.group()
    code = ord(c)
    return _ESCAPES.get(c) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def safe(text: object) -> str:
    """``text`` fit for a terminal: control characters (and other characters that would move
    the cursor, start an escape sequence or fake a line) shown as escapes (``\\x1b``,
    ``\\n``). For user strings in tables and text output; ``--json`` escapes by itself."""
    s = str(text)
    if s.isprintable():  # fast: nothing to escape
        return s
    return _UNSAFE.sub(_escape, s)


def echo(line: object = "", *, err: bool = False) -> None:
    """Print one line of text output on stdout (stderr with ``err``): escaped as a whole with
    :func:`safe` (a user string in it cannot add a line or reach the terminal as a control
    sequence) and written as is (never read as rich markup). The way every command prints
    its text lines."""
    stream = sys.stderr if err else sys.stdout
    stream.write(safe(line) + "\n")
    stream.flush()


class LogFormatter(logging.Formatter):
    """The worker's log lines: each message escaped with :func:`safe` (a workflow id or an
    error message in it cannot add a line or control the terminal); a traceback keeps its
    lines, each escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return safe(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return "\n".join(_traceback_lines(traceback.format_exception(*ei)))

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(safe(line) for line in stack_info.split("\n"))


def _traceback_lines(chunks: list[str]) -> Iterator[str]:
    """The lines of a formatted traceback, escaped: a frame (``File "...", line N``, its
    source line) and the headers keep their lines; anything else (an exception's message,
    a note) is one line, its newlines shown as ``\\n``."""
    for chunk in chunks:
        text = chunk.strip("\n")
        first = text.split("\n", 1)[0].lstrip(" |")
        if first.startswith('File "') or not text.strip(" |") \
                or text.lstrip(" |").startswith(_TRACEBACK_HEADERS):
            lead = len(chunk) - len(chunk.lstrip("\n"))  # a chain message's blank lines
            trail = len(chunk) - len(chunk.rstrip("\n"))
            yield from [""] * lead
            yield from (safe(line) for line in text.split("\n"))
            yield from [""] * max(trail - 1, 0)
        else:
            yield safe(chunk.removesuffix("\n"))


_TRACEBACK_HEADERS = ("Traceback (most recent call last):",
                      "The above exception was the direct cause of the following exception:",
                      "During handling of the above exception, another exception occurred:",
                      "Exception Group Traceback (most recent call last):")


def cell(value: object, style: str = "") -> Text:
    """``value`` for a rich table or block: its text escaped (:func:`safe`), as a ``Text``
    (never parsed as markup: ``[red]x[/red]`` is shown as it is)."""
    return Text(safe(value), style=style)


def table(*columns: str, title: str | None = None) -> Table:
    """A table with these column headers; fill it with :func:`add_row`."""
    found = Table(title=title)
    for name in columns:
        found.add_column(name)
    return found


def add_row(to: Table, *cells: object) -> None:
    """Add a row to ``to``: each cell that is not a ``Text`` already becomes :func:`cell`."""
    to.add_row(*(c if isinstance(c, Text) else cell(c) for c in cells))


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) turned into one space, and
    any other control character escaped (:func:`safe`)."""
    return safe(" ".join(str(text).split()))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


# What json.dumps(ensure_ascii=False) leaves as is but safe() escapes (it escapes C0 controls
# itself): DEL, C1 controls, lone surrogates, bidi controls and line separators. They can only
# be inside JSON strings, where \uXXXX means the same character.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff\u200e\u200f\u2028\u2029"
                          "\u202a-\u202e\u2066-\u2069]")


def _json_escape(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def _terminal_json(text: str) -> str:
    return _JSON_UNSAFE.sub(_json_escape, text)


def to_json(value: Any) -> str:
    """Compact, single-line JSON (non-ASCII kept, but no character :func:`safe` would
    escape: those are written ``\\uXXXX``) for printing a value."""
    return _terminal_json(json.dumps(value, ensure_ascii=False, default=str))


def print_json(value: Any) -> None:
    """Print ``value`` as the command's one JSON document on stdout (``--json``): indented,
    non-ASCII kept, control and bidi characters escaped (JSON reads them back the same)."""
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(_terminal_json(text) + "\n")
    sys.stdout.flush()


def report(as_json: bool, data: Any, line: str) -> None:
    """A command's outcome on stdout: ``data`` as JSON with ``--json``, else ``line``."""
    if as_json:
        print_json(data)
    else:
        echo(line)


def say_none(things: str) -> None:
    """What a list command that found nothing says: ``no <things>`` on stderr."""
    print(f"no {things}", file=sys.stderr, flush=True)


def short_json(value: Any, limit: int = 80) -> str:
    """``value`` as one line of JSON for a table cell, escaped (:func:`safe`) and clipped."""
    return clip(safe(to_json(value)), limit)


def redact_passwords(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (the one rule:
    :func:`legato.domain.redact.redact`)."""
    return redact(text)


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to print)."""
    return redact_passwords(url)


def parse_ts(value: str | float | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def fmt_ts(value: str | float | None, *, millis: bool = False) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) for an ISO string or epoch seconds; ``-`` for none."""
    dt = parse_ts(value)
    if dt is None:
        return "-" if value is None else str(value)
    dt = dt.astimezone(UTC)
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    if millis:
        text += f".{dt.microsecond // 1000:03d}"
    return text


def error_text(err: Any) -> str:
    """``Type: message`` for a recorded error dict (``builtins.`` dropped from the type)."""
    if not isinstance(err, Mapping):
        return one_line(str(err))
    kind = one_line(str(err.get("type") or "Error"))
    kind = kind.removeprefix("builtins.")
    message = one_line(str(err.get("message") or ""))
    if kind == message or not message:
        return kind
    return f"{kind}: {message}"


def styled_status(status: str) -> Text:
    return Text(safe(status), style=STATUS_STYLES.get(status, ""))


def workflows_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    """One row per workflow: id, name, status, created, updated (UTC), and the business key
    when any of them has one."""
    rows = list(rows)
    keyed = any(d.get("key") is not None for d in rows)
    found = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("ID", "NAME", *(("KEY",) if keyed else ()), "STATUS", "CREATED (UTC)",
                 "UPDATED (UTC)"):
        found.add_column(name, no_wrap=True)
    for d in rows:
        key = (d.get("key") or "-",) if keyed else ()
        add_row(found, d["workflow_id"], d["name"], *key, styled_status(str(d["status"])),
                fmt_ts(d.get("created_at")), fmt_ts(d.get("updated_at")))
    return found


def waiting_text(w: Mapping[str, Any] | None) -> str:
    """What a run waits on (its ``waiting_for``) in one line, e.g. ``event payment.settled
    (key o-1) until 2027-01-15 09:00:00 UTC``; the others follow after ``; also``."""
    if not w:
        return "-"
    text = _waiting_one(w)
    for other in w.get("also") or ():
        text += f"; also {_waiting_one(other)}"
    return text


def _at(w: Mapping[str, Any], key: str = "until", word: str = "until") -> str:
    return f" {word} {fmt_ts(w[key])} UTC" if w.get(key) else ""


def _waiting_one(w: Mapping[str, Any]) -> str:
    kind = w.get("kind")
    if kind == "step":
        t = w.get("timeout")
        return (f"step {w.get('name')} (attempt {w.get('attempt')}){_at(w, 'since', 'since')}"
                + (f", timeout {t:g}s" if t else ""))
    if kind == "retry":
        return f"retry of step {w.get('name')} (attempt {w.get('attempt')}){_at(w)}"
    if kind == "event":
        key = f" (key {w.get('key')})" if w.get("key") else ""
        return f"event {w.get('type')}{key}{_at(w)}"
    if kind == "signal":
        return f"signal {w.get('name')}{_at(w)}"
    if kind == "task":
        who = w.get("claimed_by") or w.get("assignee") or (
            f"group {w.get('group')}" if w.get("group") else None)
        return (f"human task {w.get('name')} ({w.get('task_id')})"
                + (f" for {who}" if who else "") + _at(w, "due", "due"))
    if kind == "child":
        return f"child workflow {w.get('workflow_id')} ({w.get('name')})"
    if kind == "queue":
        return f"queue {w.get('queue')}{_at(w, 'since', 'since')}"
    if kind == "circuit":
        return f"circuit breaker {w.get('name')}{_at(w)}"
    if kind == "start":
        return f"a worker to start it{_at(w, 'until', 'due')}"
    if kind == "resume":
        return f"a worker to carry on{_at(w, 'until', 'due')}"
    return f"{kind}{_at(w)}"



def description(d: Mapping[str, Any]) -> Table:
    """The key/value block of ``legato show``."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()

    def add(key: str, value: object) -> None:
        add_row(grid, key, value)

    add("workflow", d["workflow_id"])
    add("name", d["name"])
    if d.get("key") is not None:
        add("key", d["key"])
    add("status", styled_status(str(d["status"])))
    if d.get("waiting_for"):
        add("waiting for", clip(safe(waiting_text(d["waiting_for"])), 2000))
    if d.get("detail"):
        add("detail", one_line(str(d["detail"])))
    add("input", clip(safe(to_json(d.get("input"))), 2000))
    if "result" in d:
        add("result", clip(safe(to_json(d["result"])), 2000))
    if d.get("error"):
        add("error", Text(clip(error_text(d["error"]), 2000), style="red"))
    add("created", fmt_ts(d.get("created_at"), millis=True) + " UTC")
    add("updated", fmt_ts(d.get("updated_at"), millis=True) + " UTC")
    if d.get("completed_at"):
        add("completed", fmt_ts(d.get("completed_at"), millis=True) + " UTC")
    if d.get("wake_at"):
        add("wakes at", fmt_ts(d.get("wake_at"), millis=True) + " UTC")
    if d.get("deadline"):
        add("deadline", fmt_ts(d.get("deadline"), millis=True) + " UTC")
    if d.get("queue"):
        add("queue", d["queue"])
    if d.get("priority"):
        add("priority", str(d["priority"]))
    if d.get("cancel_requested") and d.get("status") in ("PENDING", "RUNNING", "WAITING"):
        add("cancel", "requested (stops at the next step boundary)")
    return grid


def event_detail(e: Mapping[str, Any], start: float) -> str:
    """A short, one-line summary of what a journal event carries."""
    kind = e.get("type")
    if kind == "WorkflowStarted":
        text = f"input {short_json(e.get('input', []))}"
        if e.get("deadline") is not None:
            text += f", deadline +{_secs(float(e['deadline']) - start)}"
        return text
    if kind in ("StepCompleted", "WorkflowCompleted"):
        return f"result {short_json(e.get('result'))}"
    if kind == "StepFailed":
        text = clip(error_text(e.get("error")), 100)
        if e.get("final"):
            return f"{text}; gave up"
        if e.get("retry_at") is not None:
            return f"{text}; retry in {_secs(float(e['retry_at']) - float(e['at']))}"
        return text
    if kind == "WorkflowFailed":
        return clip(error_text(e.get("error")), 120)
    if kind == "TimerStarted":
        text = ""
        if e.get("duration") is not None:
            text = f"for {_secs(float(e['duration']))}"
        if e.get("fire_at") is not None:
            text += f" until {fmt_ts(float(e['fire_at']), millis=True)}"
        return text.strip()
    if kind in ("WorkflowCancelled", "WorkflowTimedOut", "WorkflowTerminated", "CancelRequested"):
        return one_line(str(e.get("reason") or ""))
    extra = {k: v for k, v in e.items() if k not in _EVENT_KEYS}
    return short_json(extra) if extra else ""


def _secs(s: float) -> str:
    if abs(s) >= 100:
        return f"{s:.0f}s"
    if abs(s) >= 1:
        return f"{s:.2f}s"
    return f"{s * 1000:.0f}ms"


def timeline(history: list[dict[str, Any]]) -> Table:
    """The journal as a table: seq, time (UTC), elapsed, event type, name, the ctx.branches
    branch (lane) it was recorded in if any, attempt, detail."""
    found = Table(box=None, header_style="bold", pad_edge=False)
    found.add_column("SEQ", justify="right", no_wrap=True)
    found.add_column("TIME (UTC)", no_wrap=True)
    found.add_column("+ELAPSED", justify="right", no_wrap=True)
    found.add_column("EVENT", no_wrap=True)
    found.add_column("NAME", no_wrap=True)
    lanes = any(e.get("lane") for e in history)
    if lanes:
        found.add_column("LANE", no_wrap=True)
    found.add_column("ATTEMPT", justify="right", no_wrap=True)
    found.add_column("DETAIL")
    start = float(history[0]["at"]) if history else 0.0
    for e in history:
        at = float(e["at"])
        dt = datetime.fromtimestamp(at, UTC)
        cells: list[object] = [
            e["seq"],
            dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 1000:03d}",
            _secs(at - start),
            cell(e["type"], style=_EVENT_STYLES.get(str(e["type"]), "")),
            e.get("name") or "",
        ]
        if lanes:
            cells.append(e.get("lane") or "")
        cells += [e["attempt"] if e.get("attempt") is not None else "", event_detail(e, start)]
        add_row(found, *cells)
    return found


def show(d: Mapping[str, Any], history: list[dict[str, Any]]) -> RenderableType:
    """Everything ``legato show`` prints for one workflow."""
    title = Text(f"\nhistory ({len(history)} event{'s' if len(history) != 1 else ''})",
                 style="bold")
    return Group(description(d), title, timeline(history))


def retry_all(engine: Engine, ids: list[str],
              actor: str | None = None) -> tuple[int, list[tuple[str, str]]]:
    """Retry each workflow with a progress bar (on stderr: stdout is the command's output);
    returns (retried, [(id, why refused)]). ``actor`` is recorded in each run's history."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from legato.errors import LegatoError

    done = 0
    refused: list[tuple[str, str]] = []
    columns = (TextColumn("retrying"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console(sys.stderr), transient=True) as progress:
        bar = progress.add_task("retry", total=len(ids))
        for wid in ids:
            try:
                engine.retry(wid, actor=actor)
                done += 1
            except LegatoError as exc:
                refused.append((wid, str(exc)))
            progress.advance(bar)
    return done, refused


def circuits_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    found = table("name", "state", "failures", "next probe", title="circuit breakers")
    for r in rows:
        add_row(found, r["name"], styled_status(str(r["state"])), r["failures"],
                fmt_ts(r.get("next_probe_at")) if r.get("next_probe_at") else "-")
    return found
