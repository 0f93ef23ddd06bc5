"""Errors of the ASL package.

::

    LegatoError
    ├── DefinitionError      an invalid state machine definition: every problem, each with its
    │                        JSON path (``States.Check.Next: state 'Shipp' does not exist``)
    ├── HandlerError         a Task resource with no handler, or a handler that cannot be imported
    └── TaskTokenError       send_task_success/failure/heartbeat with a token that is not open

Inside a running machine, failures are data: :class:`StatesFailure` carries an AWS error name and
cause and is caught by the interpreter (Retry/Catch), never by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from legato.errors import LegatoError

# AWS's predefined error names
ALL = "States.ALL"
BRANCH_FAILED = "States.BranchFailed"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
ITEM_READER_FAILED = "States.ItemReaderFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
PERMISSIONS = "States.Permissions"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
RUNTIME = "States.Runtime"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"

PREDEFINED = frozenset({
    ALL, BRANCH_FAILED, DATA_LIMIT_EXCEEDED, EXCEED_TOLERATED_FAILURE_THRESHOLD,
    HEARTBEAT_TIMEOUT, INTRINSIC_FAILURE, ITEM_READER_FAILED, NO_CHOICE_MATCHED,
    PARAMETER_PATH_FAILURE, PERMISSIONS, QUERY_EVALUATION_ERROR, RESULT_PATH_MATCH_FAILURE,
    RESULT_WRITER_FAILED, RUNTIME, TASK_FAILED, TIMEOUT,
})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, and where (a dotted JSON path)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DefinitionError(LegatoError):
    """The definition is not a valid state machine; ``problems`` lists every issue found."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], source: str | None = None
                 ) -> None:
        self.problems = tuple(problems)
        self.source = source
        where = f" in {source}" if source else ""
        count = len(self.problems)
        head = f"invalid state machine definition{where} ({count} problem{'s' * (count != 1)})"
        super().__init__(head + "".join(f"\n  {p}" for p in self.problems))


class HandlerError(LegatoError):
    """A Task resource has no handler, or its ``python:`` handler cannot be imported."""


class TaskTokenError(LegatoError):
    """``engine.send_task_success/failure/heartbeat`` refused a task token.

    ``code`` is the error AWS's API returns: ``InvalidToken`` (not a token legato issued),
    ``TaskDoesNotExist`` (its execution is unknown), ``TaskTimedOut`` (the task is over:
    answered, timed out, or its execution ended) or ``InvalidOutput`` (not JSON, or over
    256 KiB).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class StatesFailure(Exception):
    """A failure inside a running state machine: an AWS error name and cause.

    ``event`` names the history event that reports it (``EvaluationFailed``) when one is
    due; ``details`` is that event's payload.
    """

    def __init__(self, error: str | None, cause: str | None = None, *,
                 event: str | None = None, details: dict[str, Any] | None = None,
                 locate: bool = False) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause
        self.event = event
        self.details = details
        #: the cause still needs "An error occurred while executing the state ..." in front
        self.locate = locate
        #: ``MapStateFailed`` / ``ParallelStateFailed``, recorded if no retry follows
        self.state_failed: str | None = None

    def output(self) -> dict[str, Any]:
        """The error output a Catch hands on: ``{"Error": ..., "Cause": ...}``."""
        # AWS binds an empty string for a missing error name or cause
        return {"Error": self.error or "", "Cause": self.cause or ""}


#: AWS's hard quota of events in one execution's history
MAX_HISTORY_EVENTS = 25_000


class HistoryLimitExceeded(StatesFailure):
    """The execution's history reached :data:`MAX_HISTORY_EVENTS`: it fails (``States.Runtime``,
    which no Retry or Catch takes), as on AWS."""

    def __init__(self, limit: int = MAX_HISTORY_EVENTS) -> None:
        super().__init__(RUNTIME, f"The execution reached the maximum number of history events "
                                  f"({limit}).")
