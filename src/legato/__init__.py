"""legato: durable workflow orchestration for Python.

>>> import legato
>>> @legato.step
... def charge(order_id: str) -> dict: ...
>>> @legato.workflow
... def order(ctx: legato.WorkflowContext, order_id: str) -> dict:
...     return charge(order_id)
>>> with legato.Engine("sqlite:///orders.db") as engine:
...     engine.start(order, "o-1").result(timeout=10)
"""

from legato._version import version as _version
from legato.clock import Clock, SystemClock
from legato.domain.actor import Actor
from legato.domain.circuit import CircuitBreaker
from legato.domain.queue import Queue
from legato.domain.retry import RetryPolicy
from legato.domain.schedule import Schedule
from legato.domain.tasks import PermissionDenied, Task, TaskClosed, TaskExpired
from legato.domain.tokens import TokenInfo
from legato.engine import Engine
from legato.errors import (
    CircuitOpen,
    ConfigError,
    HeartbeatTimeout,
    HistoryLimitExceeded,
    InvalidInput,
    InvalidValue,
    LegatoError,
    NondeterminismError,
    NotFound,
    RedriveRefused,
    RegistrationError,
    RetryRefused,
    SchemaError,
    StepFailed,
    StepTimeout,
    UnknownWorkflow,
    WaitTimeout,
    WorkerStopped,
    WorkflowBlocked,
    WorkflowConflict,
    WorkflowEnded,
    WorkflowFailed,
    WorkflowNotFound,
)
from legato.handle import WorkflowHandle
from legato.inbox import TaskNotFound
from legato.runs import RunPage
from legato.runtime.attempt import heartbeat, heartbeat_details, step_key
from legato.runtime.context import WorkflowContext
from legato.runtime.parallel import SiblingFailed
from legato.runtime.registry import step, workflow
from legato.store.migrations import SchemaInfo
from legato.store.url import inspect_schema
from legato.worker.settings import WorkerSettings


def __getattr__(name: str) -> str:
    if name == "__version__":  # the package's metadata (pyproject.toml), read on first use
        return _version()
    raise AttributeError(f"module 'legato' has no attribute {name!r}")


__all__ = [
    "Actor",
    "CircuitBreaker",
    "CircuitOpen",
    "Clock",
    "ConfigError",
    "Engine",
    "HeartbeatTimeout",
    "HistoryLimitExceeded",
    "InvalidInput",
    "InvalidValue",
    "LegatoError",
    "NondeterminismError",
    "NotFound",
    "PermissionDenied",
    "Queue",
    "RedriveRefused",
    "RegistrationError",
    "RetryPolicy",
    "RetryRefused",
    "RunPage",
    "Schedule",
    "SchemaError",
    "SchemaInfo",
    "SiblingFailed",
    "StepFailed",
    "StepTimeout",
    "SystemClock",
    "Task",
    "TaskClosed",
    "TaskExpired",
    "TaskNotFound",
    "TokenInfo",
    "UnknownWorkflow",
    "WaitTimeout",
    "WorkerSettings",
    "WorkerStopped",
    "WorkflowBlocked",
    "WorkflowConflict",
    "WorkflowContext",
    "WorkflowEnded",
    "WorkflowFailed",
    "WorkflowHandle",
    "WorkflowNotFound",
    "__version__",
    "heartbeat",
    "heartbeat_details",
    "inspect_schema",
    "step",
    "step_key",
    "workflow",
]
