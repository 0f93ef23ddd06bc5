"""Amazon States Language: run Step Functions state machines, in memory or durably.

>>> from legato import asl
>>> machine = asl.parse({"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "End": True}}})
>>> asl.execute(machine, {"who": "world"}).output
{'who': 'world'}

``asl.load(path)`` / ``asl.parse(dict | str)`` read JSON or YAML into one immutable model and
raise :class:`DefinitionError` listing every problem with its JSON path. ``asl.execute`` runs
a machine to its end on a virtual clock and returns an :class:`ExecutionResult`.
``asl.register(name, machine, handlers=...)`` makes it a durable legato workflow, whose
``.waitForTaskToken`` Tasks ``engine.send_task_success/failure/heartbeat`` answer.
"""

from legato.asl.api import ExecutionResult, execute
from legato.asl.durable import ExecutionFailed, register, registered
from legato.asl.errors import DefinitionError, HandlerError, Problem, TaskTokenError
from legato.asl.handlers import TaskContext, TaskFailed, heartbeat, sleep
from legato.asl.model import Machine, StateMachine
from legato.asl.parser import load, parse

__all__ = [
    "DefinitionError",
    "ExecutionFailed",
    "ExecutionResult",
    "HandlerError",
    "Machine",
    "Problem",
    "StateMachine",
    "TaskContext",
    "TaskFailed",
    "TaskTokenError",
    "execute",
    "heartbeat",
    "load",
    "parse",
    "register",
    "registered",
    "sleep",
]
