"""Execution history events, shaped like AWS's ``GetExecutionHistory`` entries.

Each event is a dict: ``id``, ``previousEventId``, ``timestamp`` (ISO-8601), ``type`` and, for
most types, one details object named as AWS names it (``stateEnteredEventDetails`` ...).
:func:`trace` reduces a history to ``Type[:StateName]`` strings for quick comparisons.
"""

from __future__ import annotations

import threading
from typing import Any

from legato.asl.timeutil import iso

_DETAILS = {
    "ExecutionStarted": "executionStartedEventDetails",
    "ExecutionSucceeded": "executionSucceededEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "EvaluationFailed": "evaluationFailedEventDetails",
    "MapStateStarted": "mapStateStartedEventDetails",
    "MapRunStarted": "mapRunStartedEventDetails",
    "MapRunFailed": "mapRunFailedEventDetails",
    "LambdaFunctionScheduled": "lambdaFunctionScheduledEventDetails",
    "LambdaFunctionSucceeded": "lambdaFunctionSucceededEventDetails",
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails",
    "TaskScheduled": "taskScheduledEventDetails",
    "TaskStarted": "taskStartedEventDetails",
    "TaskSucceeded": "taskSucceededEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "TaskSubmitted": "taskSubmittedEventDetails",
}


def details_key(event_type: str) -> str | None:
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    if event_type.startswith("MapIteration"):
        return event_type[0].lower() + event_type[1:] + "EventDetails"
    return _DETAILS.get(event_type)


class History:
    """An append-only event list shared by a run and its inline branches."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, event_type: str, at: float, details: dict[str, Any] | None = None) -> int:
        with self._lock:
            event_id = len(self.events) + 1
            event: dict[str, Any] = {"id": event_id, "previousEventId": event_id - 1,
                                     "timestamp": iso(at), "type": event_type}
            key = details_key(event_type)
            if key is not None:
                event[key] = dict(details or {})
            self.events.append(event)
            return event_id

    @property
    def next_id(self) -> int:
        return len(self.events) + 1


def state_name(event: dict[str, Any]) -> str | None:
    """The state an event belongs to, where the event names one."""
    for key in ("stateEnteredEventDetails", "stateExitedEventDetails"):
        if key in event:
            name = event[key].get("name")
            return name if isinstance(name, str) else None
    if event.get("type", "").startswith("MapIteration"):
        key = details_key(event["type"]) or ""
        name = event.get(key, {}).get("name")
        return name if isinstance(name, str) else None
    return None


def trace(history: list[dict[str, Any]]) -> list[str]:
    """``["ExecutionStarted", "PassStateEntered:Init", ...]``."""
    out = []
    for e in history:
        name = state_name(e)
        out.append(f"{e['type']}:{name}" if name else str(e["type"]))
    return out
