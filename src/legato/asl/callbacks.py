"""Callbacks: task tokens, and ``engine.send_task_success/failure/heartbeat``.

A ``.waitForTaskToken`` Task of a durable machine (``asl.register``) calls its handler with
the token in its input (wherever the definition puts ``$$.Task.Token``), then waits durably
for an answer. Answers travel on legato's event mechanism, correlated by the token:

- ``send_task_success`` / ``send_task_failure`` publish one ``asl.task.result`` event (one
  type, so that of two answers the first one published is the one taken);
- ``send_task_heartbeat`` publishes an ``asl.task.heartbeat`` event.

The store buffers an event that arrives before the workflow waits (a handler that answers
at once, from inside its own step) and delivers it exactly once. A token names its workflow
and the Task attempt (``<event id>.<retry>``, prefixed inside distributed Map iterations), so
it is unique per attempt and the engine can tell a token that is not open any more. When the
Task ends, the workflow records ``asl:token:<attempt>`` as workflow state: later answers are
refused with ``TaskTimedOut``, as AWS refuses them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from legato.asl.errors import TaskTokenError
from legato.asl.evaluate import MAX_PAYLOAD
from legato.domain import status as st
from legato.errors import WorkflowNotFound

if TYPE_CHECKING:
    from legato.engine import Engine

RESULT = "asl.task.result"
HEARTBEAT = "asl.task.heartbeat"
_KEY_MAX = 255 - len(RESULT) - 1
#: how long an answer waits for its Task to start waiting (AWS lets a Task wait a year)
RESULT_TTL = timedelta(days=366)
HEARTBEAT_TTL = timedelta(days=1)
_PREFIX = "lgt1"
_GONE = "Task Timed Out: 'Provided task does not exist anymore'"


def make_token(workflow_id: str, attempt: str) -> str:
    """An opaque token for one attempt of a callback Task of workflow ``workflow_id``."""
    raw = json.dumps([workflow_id, attempt], separators=(",", ":")).encode()
    return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_token(token: Any) -> tuple[str, str]:
    """``(workflow id, attempt)``; :class:`TaskTokenError` ``InvalidToken`` if not a token."""
    if isinstance(token, str) and token.startswith(_PREFIX):
        body = token[len(_PREFIX):]
        try:
            value = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (binascii.Error, ValueError):
            value = None
        if (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, str) for v in value)):
            return value[0], value[1]
    shown = token if isinstance(token, str) else repr(token)
    raise TaskTokenError("InvalidToken", f"Invalid token: {shown[:80]!r}")


def event_key(token: str) -> str:
    """The key (and event id suffix) an answer to ``token`` travels under: the token itself,
    or its SHA-256 when it is too long for a key (a workflow id of some 180 characters and
    more); the event id ``asl.task.result:<key>`` stays within 255 characters too."""
    if len(token) <= _KEY_MAX:
        return token
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def closed_key(attempt: str) -> str:
    """The workflow-state key that marks a callback attempt as over."""
    return f"asl:token:{attempt}"


def _check_open(engine: Engine, token: str) -> None:
    workflow_id, attempt = parse_token(token)
    try:
        handle = engine.handle(workflow_id)
    except WorkflowNotFound:
        raise TaskTokenError("TaskDoesNotExist",
                             f"Task does not exist anymore: execution {workflow_id!r} is "
                             "unknown") from None
    if handle.status in st.TERMINAL or engine.query(workflow_id, closed_key(attempt)):
        raise TaskTokenError("TaskTimedOut", _GONE)


def send_task_success(engine: Engine, token: str, output: Any) -> None:
    """Answer a waiting Task with ``output`` (a JSON value); see :func:`send_task_failure`."""
    _check_open(engine, token)
    try:
        text = json.dumps(output, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TaskTokenError("InvalidOutput", f"the output is not JSON: {exc}") from None
    if len(text.encode()) > MAX_PAYLOAD:
        raise TaskTokenError("InvalidOutput",
                             f"the output is {len(text.encode())} bytes; at most "
                             f"{MAX_PAYLOAD} are allowed")
    _answer(engine, token, {"ok": True, "output": output})


def send_task_failure(engine: Engine, token: str, error: str | None = None,
                      cause: str | None = None) -> None:
    """Fail a waiting Task with ``error`` and ``cause`` (its Retry and Catch apply)."""
    _check_open(engine, token)
    for name, value in (("error", error), ("cause", cause)):
        if value is not None and not isinstance(value, str):
            raise TaskTokenError("InvalidOutput", f"{name} must be a string, not {value!r}")
    _answer(engine, token, {"ok": False, "error": error, "cause": cause})


def send_task_heartbeat(engine: Engine, token: str) -> None:
    """Tell a waiting Task with ``HeartbeatSeconds`` that the work goes on."""
    _check_open(engine, token)
    engine.publish(HEARTBEAT, key=event_key(token), ttl=HEARTBEAT_TTL)


def _answer(engine: Engine, token: str, data: dict[str, Any]) -> None:
    # one answer per token: a second one (success or failure) is a duplicate event
    key = event_key(token)
    result = engine.publish(RESULT, key=key, data=data, event_id=f"{RESULT}:{key}",
                            ttl=RESULT_TTL)
    if result.duplicate:
        raise TaskTokenError("TaskTimedOut", _GONE)
