"""Runs and journal events in words, for the run page (pure: no I/O)."""

from __future__ import annotations

from typing import Any

from legato.dashboard.web import templates

_when = templates.filters["when"]


def waiting_for(what: dict[str, Any] | None) -> str:
    """``waiting_for`` as a sentence: "waiting for event receipt.uploaded key claim-7 until
    14 Dec 10:00"."""
    if not what:
        return ""
    kind = what.get("kind")
    if kind == "event":
        text = f"waiting for event {what.get('type')}"
        if what.get("key"):
            text += f" key {what['key']}"
    elif kind == "signal":
        text = f"waiting for signal {what.get('name')}"
    elif kind == "task":
        who = what.get("claimed_by") or what.get("assignee") or (
            f"group {what['group']}" if what.get("group") else None)
        text = f"waiting for human task {what.get('name')}"
        if who:
            text += f" ({who})"
        if what.get("due"):
            text += f" due {_when(what['due'])}"
    elif kind == "timer":
        text = "sleeping"
    elif kind == "step":
        text = f"running step {what.get('name')} (attempt {what.get('attempt', 1)})"
    elif kind == "retry":
        text = f"waiting to retry step {what.get('name')} (attempt {what.get('attempt')})"
    elif kind == "child":
        text = f"waiting for child run {what.get('name') or ''} {what.get('workflow_id')}"
    elif kind == "queue":
        text = f"waiting for a slot in queue {what.get('queue')}"
    elif kind == "circuit":
        text = f"waiting for circuit {what.get('name')} to close"
    elif kind == "start":
        text = "waiting to start"
    elif kind == "resume":
        text = "waiting for a worker to resume it"
    else:
        text = f"waiting for {kind}"
    if what.get("until"):
        text += f" until {_when(what['until'])}"
    elif what.get("since"):
        text += f" since {_when(what['since'])}"
    return " ".join(text.split())


#: journal event types in words (the type itself is shown beside them)
EVENTS = {
    "WorkflowStarted": "started", "WorkflowCompleted": "completed",
    "WorkflowFailed": "failed", "WorkflowCancelled": "cancelled",
    "WorkflowTerminated": "terminated", "WorkflowTimedOut": "timed out",
    "WorkflowRedriven": "redriven: retried from the failed step",
    "StepScheduled": "step scheduled",
    "StepCompleted": "step completed", "StepFailed": "step failed",
    "TimerStarted": "timer started", "TimerFired": "timer fired",
    "WaitStarted": "waiting", "WaitCompleted": "wait over", "WaitTimedOut": "wait timed out",
    "ChildWorkflowStarted": "child run started", "ChildWorkflowEnded": "child run ended",
    "HumanTaskCreated": "human task created", "HumanTaskEscalated": "human task escalated",
    "BranchesStarted": "branches started", "BranchFailed": "branch failed",
    "StateUpdated": "state set", "PatchMarker": "marker",
}


def event_words(e: dict[str, Any]) -> str:
    """What a journal event says, in words."""
    kind = str(e.get("type", ""))
    text = EVENTS.get(kind, kind)
    if kind == "StepFailed":
        text += "" if e.get("final", True) else ", will be retried"
    elif kind == "PatchMarker" and str(e.get("name", "")).startswith("asl:"):
        text = "state machine: " + str(e["name"]).split(":", 2)[-1].replace(":", " ")
    return text


def timeline(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal as timeline entries: type, name, attempt, time, duration, error, actor.
    A step's duration is the time since the event before it (the journal records when an
    attempt ended, not when it began)."""
    out: list[dict[str, Any]] = []
    before: float | None = None
    for e in events:
        at = e.get("at")
        kind = str(e.get("type", ""))
        duration = None
        if kind.startswith("Step") and isinstance(at, int | float) and before is not None:
            duration = max(0.0, at - before)
        if isinstance(at, int | float):
            before = at
        error = e.get("error") if isinstance(e.get("error"), dict) else None
        actor = e.get("actor")
        if isinstance(actor, dict):
            actor = actor.get("user")
        out.append({"seq": e.get("seq"), "type": kind, "words": event_words(e),
                    "name": e.get("name"),
                    "attempt": e.get("attempt"), "at": at, "duration": duration,
                    "error": error, "actor": actor,
                    "detail": e.get("reason") or e.get("detail"),
                    "child": e.get("child_id") if kind == "ChildWorkflowStarted" else None,
                    "task": e.get("task_id") if kind == "HumanTaskCreated" else None})
    return out


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s"


__all__ = ["EVENTS", "duration_text", "event_words", "timeline", "waiting_for"]
