"""Execution history events, shaped like AWS's ``GetExecutionHistory`` entries.

Each event is a dict: ``id``, ``previousEventId``, ``timestamp`` (ISO-8601), ``type`` and, for
most types, one details object named as AWS names it (``stateEnteredEventDetails`` ...).
:func:`trace` reduces a history to ``Type[:StateName]`` strings for quick comparisons.
"""

from __future__ import annotations

import threading
from typing import Any

from legato.asl.errors import MAX_HISTORY_EVENTS, HistoryLimitExceeded
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


#: the events that end an execution: one of them may be its last allowed event
TERMINAL_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut",
                             "ExecutionAborted"})


class EventBudget:
    """How many history events one execution has recorded, against AWS's quota of 25,000.

    Shared by the execution and everything AWS records in its history: Parallel branches and
    inline Map iterations. A distributed Map's iterations and ``startExecution`` children are
    executions of their own, each with its own budget.

    As on AWS, once 24,999 events are recorded the next one must end the execution: any other
    event fails it instead with ``States.Runtime`` (:class:`HistoryLimitExceeded`), so the
    ``ExecutionFailed`` event is the 25,000th. From then on every event but the terminal one
    fails again, so that no branch of the execution goes on.
    """

    __slots__ = ("exceeded", "limit", "used")

    def __init__(self, limit: int = MAX_HISTORY_EVENTS) -> None:
        self.limit = limit
        self.used = 0
        self.exceeded = False

    def spend(self, event_type: str) -> None:
        if event_type not in TERMINAL_EVENTS and (self.exceeded or self.used >= self.limit - 1):
            self.exceeded = True
            raise HistoryLimitExceeded(self.limit)
        self.used += 1


#: characters of payloads (inputs, outputs, parameters) a kept history holds in all; past this,
#: each event keeps the first :data:`CUT_TO` characters of each, marked ``truncated``
KEPT_CHARS = 64 * 1024 * 1024
CUT_TO = 1024


class History:
    """An append-only event list shared by a run and its inline branches.

    ``budget``: the execution's :class:`EventBudget`, when this list is a part of it (a durable
    branch numbers its events on its own but counts them against its execution's quota).
    ``keep=False`` numbers and counts events without keeping them: a durable run journals its
    events as markers and needs only their ids, so its memory does not grow with its history
    (25,000 events of 256 KiB payloads would be gigabytes). A kept history holds at most
    :data:`KEPT_CHARS` characters of payloads; later events keep their beginnings only, with
    ``inputDetails``/``outputDetails`` saying ``truncated``, as AWS's events can.
    """

    def __init__(self, budget: EventBudget | None = None, *, keep: bool = True) -> None:
        self.events: list[dict[str, Any]] = []
        self.budget = budget if budget is not None else EventBudget()
        self.keep = keep
        self._count = 0
        self._chars = 0  # payload characters kept
        self._lock = threading.Lock()

    def add(self, event_type: str, at: float, details: dict[str, Any] | None = None) -> int:
        with self._lock:
            self.budget.spend(event_type)
            self._count += 1
            event_id = self._count
            if self.keep:
                event: dict[str, Any] = {"id": event_id, "previousEventId": event_id - 1,
                                         "timestamp": iso(at), "type": event_type}
                key = details_key(event_type)
                if key is not None:
                    event[key] = self._kept(details or {})
                self.events.append(event)
            return event_id

    @property
    def next_id(self) -> int:
        return self._count + 1

    def _kept(self, details: dict[str, Any]) -> dict[str, Any]:
        out = dict(details)
        for name, value in details.items():
            if not isinstance(value, str) or len(value) <= CUT_TO:
                continue
            if self._chars + len(value) <= KEPT_CHARS:
                self._chars += len(value)
                continue
            out[name] = value[:CUT_TO]
            if f"{name}Details" in out:
                out[f"{name}Details"] = {"truncated": True}
        return out


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
