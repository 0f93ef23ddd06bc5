"""Errors raised by legato.

Everything a user may catch derives from :class:`LegatoError`::

    LegatoError
    ├── ConfigError              bad URL, unreachable database, bad option
    │   └── SchemaError          database missing, not migrated, or migrated by a newer
    │                            legato that this one cannot run beside
    ├── NotFound
    │   ├── WorkflowNotFound     no workflow with that id in the store
    │   ├── UnknownWorkflow      no workflow registered under that name
    │   └── TaskNotFound         no human task with that id (legato.inbox)
    ├── RegistrationError        two workflows under one name, bad decorator use
    ├── WorkflowConflict         start() with an existing id but different name/input
    ├── RetryRefused             retry() of a run that is not FAILED or was compensated
    │                            (also importable under its earlier name RedriveRefused)
    ├── InvalidInput             an id, name, number or value outside the input contract
    │   │                        (docs/inputs.md), or data that does not match a form
    │   ├── InvalidValue         ... in a declaration (Queue, Schedule): also a ValueError
    │   └── WorkflowEnded        a signal to a run that has ended
    ├── StepFailed               a step failed for good and its exception can't be rebuilt
    ├── StepTimeout              a step attempt overran its timeout
    │   └── HeartbeatTimeout     ... or stopped sending heartbeats
    ├── CircuitOpen              a fail-fast circuit breaker is open
    ├── SiblingFailed            a ctx.parallel branch not run because a sibling failed
    ├── PermissionDenied         a human-task action the user may not take (four-eyes, ...)
    ├── TaskClosed               ... on a task already completed or rejected
    ├── TaskExpired              ... on a task past its due time
    ├── WaitTimeout              a wait for an event or signal timed out
    ├── NondeterminismError      the code asked for a different step than the journal holds
    ├── WorkerStopped            the engine's own worker died of an internal error
    ├── HistoryLimitExceeded     a run recorded more events than Engine(history_limit=)
    ├── WorkflowBlocked          a workflow body ran past the watchdog without parking
    ├── WorkflowFailed           handle.result() of a FAILED / CANCELLED / TIMED_OUT workflow
    └── (legato.asl)             DefinitionError (an invalid state machine, with its path),
                                 HandlerError (a Task resource without a handler),
                                 TaskTokenError (a callback answer refused),
                                 ExecutionFailed (a durable state machine ended FAILED)

Each is exported from ``legato`` (the ASL ones from ``legato.asl``); the human-task ones are
defined beside the task rules (``legato.domain.tasks``, ``legato.inbox``) and
``SiblingFailed`` beside ``ctx.parallel`` (``legato.runtime.parallel``).

Internal control flow (suspension, cancellation, lost leases) uses ``BaseException``
subclasses defined in ``legato.runtime.control`` so that a user's ``except Exception:`` cannot
swallow it.
"""

from __future__ import annotations

from typing import Any


class LegatoError(Exception):
    """Base class of every error legato raises on purpose."""


class ConfigError(LegatoError):
    """A configuration problem: bad database URL, unreachable database, bad option."""


class SchemaError(ConfigError):
    """The database's legato schema does not suit this code: missing, not migrated (run
    ``legato db migrate``), or migrated by a newer release that this one cannot run on."""


class WorkerStopped(LegatoError):
    """This engine's worker stopped after an internal error (a bug in legato, logged with
    its traceback): its runs were released for other workers; ``handle.result()`` waits
    that relied on it raise this instead of waiting for ever."""


class HistoryLimitExceeded(LegatoError):
    """A run's history reached ``Engine(history_limit=...)`` events (default 50,000): the run
    fails, as one that loops for ever would otherwise grow without end. Split long work
    into child workflows, or continue it in a new run."""


class WorkflowBlocked(LegatoError):
    """A workflow body ran longer than ``Engine(watchdog=...)`` seconds (default 1) without
    parking at a step, a wait or another legato operation: it held its worker's thread, so
    the worker's other runs were handed to other workers and this run fails. Move long
    computations into steps."""


class NotFound(LegatoError):
    """Something looked up by name or id does not exist."""


class WorkflowNotFound(NotFound):
    """No workflow with this id exists in the store."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"no workflow with id {workflow_id!r}")
        self.workflow_id = workflow_id


class UnknownWorkflow(NotFound):
    """No workflow is registered under this name."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        hint = ""
        if known:
            hint = f" (registered: {', '.join(sorted(known)[:10])})"
        super().__init__(f"no workflow registered under the name {name!r}{hint}")
        self.name = name


class RegistrationError(LegatoError):
    """A workflow or step could not be registered."""


class RetryRefused(LegatoError):
    """``retry()`` of a workflow that cannot be resumed (not FAILED, or fully compensated)."""


#: the earlier name of :class:`RetryRefused` (Step Functions calls a retry from the failed
#: state a *redrive*); the same class, so either name catches it
RedriveRefused = RetryRefused


class WorkflowConflict(LegatoError):
    """A workflow with this id exists already, with a different name or input."""


class InvalidInput(LegatoError):
    """A value that must be JSON (or match an annotation) is not."""


class InvalidValue(InvalidInput, ValueError):
    """A declaration (``legato.Queue``, ``legato.Schedule``) with a value outside the input
    contract; also a ``ValueError``, which these declarations raised before."""


class WorkflowEnded(InvalidInput):
    """A signal sent to a run that has ended: nothing would ever read it.

    ``status`` is how the run ended (``COMPLETED``, ``FAILED``, ``CANCELLED``,
    ``TIMED_OUT``).
    """

    def __init__(self, workflow_id: str, status: str, what: str = "a signal") -> None:
        super().__init__(f"workflow {workflow_id!r} has ended ({status}): {what} sent to it"
                         " would never be read")
        self.workflow_id = workflow_id
        self.status = status


class StepFailed(LegatoError):
    """A step failed for good and its original exception type cannot be rebuilt.

    ``type_name`` is the qualified name of the original exception type, ``message`` its text.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


class StepTimeout(LegatoError):
    """A step attempt ran longer than its ``timeout``."""


class HeartbeatTimeout(StepTimeout):
    """A step with ``heartbeat_timeout`` stopped calling ``legato.heartbeat()``."""


class CircuitOpen(LegatoError):
    """A step's circuit breaker is open and was declared ``fail_fast=True``.

    ``circuit`` names the breaker, ``until`` is when it will let a probe through.
    """

    def __init__(self, circuit: str, until: float | None = None) -> None:
        super().__init__(f"circuit {circuit!r} is open" +
                         ("" if until is None else f"; next probe at {until:.3f}"))
        self.circuit = circuit
        self.until = until


class WaitTimeout(LegatoError):
    """``ctx.wait_event`` / ``ctx.wait_signal`` reached its timeout without a delivery."""


class NondeterminismError(LegatoError):
    """The workflow code no longer matches its journal.

    Raised when, at a recorded position, the code asks for a different step (or timer, or
    marker) than the journal holds. The workflow is failed with this error; it is never
    silently corrupted.
    """


class WorkflowFailed(LegatoError):
    """The workflow ended without a result: status FAILED, CANCELLED or TIMED_OUT.

    ``status`` is the final status, ``error`` the recorded error (a dict with ``type`` and
    ``message``) or ``None``.
    """

    def __init__(self, workflow_id: str, status: str, error: dict[str, Any] | None) -> None:
        what = ""
        if error:
            what = f": {error.get('type', 'Error')}: {error.get('message', '')}"
        super().__init__(f"workflow {workflow_id!r} ended {status}{what}")
        self.workflow_id = workflow_id
        self.status = status
        self.error = error
