"""The public surface is deliberate: ``legato.__all__`` is exactly this list (a name added or
removed is a decision, made here and in the CHANGELOG), every name resolves, and every
exception a user can meet derives from ``legato.LegatoError``."""

from __future__ import annotations

import legato

PUBLIC = [
    "Actor", "CircuitBreaker", "CircuitOpen", "Clock", "ConfigError", "Engine", "HeartbeatTimeout",
    "HistoryLimitExceeded", "InvalidInput", "InvalidValue", "LegatoError",
    "NondeterminismError", "NotFound", "PermissionDenied", "Queue", "RedriveRefused",
    "RegistrationError", "RetryPolicy", "RetryRefused", "RunPage", "Schedule", "SchemaError",
    "SchemaInfo",
    "SiblingFailed", "StepFailed", "StepTimeout", "SystemClock", "Task", "TaskClosed",
    "TaskExpired", "TaskNotFound", "TokenInfo", "UnknownWorkflow", "WaitTimeout",
    "WorkerSettings",
    "WorkerStopped", "WorkflowBlocked", "WorkflowConflict", "WorkflowContext",
    "WorkflowEnded", "WorkflowFailed", "WorkflowHandle", "WorkflowNotFound", "__version__",
    "heartbeat", "heartbeat_details", "inspect_schema", "step", "step_key", "workflow",
]


def test_all_is_exactly_the_public_list() -> None:
    assert legato.__all__ == PUBLIC


def test_every_public_name_resolves_and_every_exception_is_a_legato_error() -> None:
    for name in PUBLIC:
        value = getattr(legato, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, legato.LegatoError), name
            assert value.__name__ in (legato.errors.__doc__ or ""), \
                f"{name} is missing from the tree in errors.py"
