"""Roles of API tokens, and which role each operator action needs: pure rules.

The roles are ordered; each allows what the ones below it allow::

    viewer     read: runs, histories, tasks, schedules, queues, breakers, the operator log
    operator   + start, cancel, terminate, retry, signal, publish, pause/resume/trigger a
               schedule, act on human tasks
    admin      + tokens, users, schedules' definitions, circuit resets, purge

>>> allows("operator", needed("schedule.trigger"))
True
>>> allows("viewer", "operator")
False
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from legato.errors import InvalidInput

#: the roles, from the least to the most allowed
ROLES: Final = ("viewer", "operator", "admin")
_RANK: Final = {role: i for i, role in enumerate(ROLES)}

#: the least role each action needs, by the action's name (the operator log's names, and
#: the run and task actions recorded in histories and task audits)
NEEDED: Final[Mapping[str, str]] = MappingProxyType({
    "read": "viewer",
    # runs
    "start": "operator", "cancel": "operator", "terminate": "operator", "retry": "operator",
    "signal": "operator",
    # events and schedules
    "event.publish": "operator",
    "schedule.pause": "operator", "schedule.resume": "operator",
    "schedule.trigger": "operator",
    "schedule.create": "admin", "schedule.update": "admin", "schedule.delete": "admin",
    # human tasks
    "task.claim": "operator", "task.complete": "operator", "task.reject": "operator",
    "task.reassign": "operator",
    # administration
    "token.create": "admin", "token.revoke": "admin", "token.list": "admin",
    "user.add": "admin", "circuit.reset": "admin", "purge": "admin",
})


def check_role(value: Any, what: str = "role") -> str:
    """``value`` as one of :data:`ROLES` (any case); else :class:`legato.InvalidInput` naming
    the choices."""
    if isinstance(value, str) and value.lower() in _RANK:
        return value.lower()
    shown = repr(value) if isinstance(value, str) else type(value).__name__
    raise InvalidInput(f"{what} must be one of {', '.join(ROLES)}, not {shown}")


def allows(role: str, needed_role: str) -> bool:
    """Whether ``role`` may do what needs ``needed_role`` (the same role or one below it)."""
    return _RANK[check_role(role)] >= _RANK[check_role(needed_role, "needed role")]


def needed(action: str) -> str:
    """The least role ``action`` needs (see :data:`NEEDED`)."""
    role = NEEDED.get(action) if isinstance(action, str) else None
    if role is None:
        raise InvalidInput(f"unknown action {action!r}; known: {', '.join(sorted(NEEDED))}")
    return role


__all__ = ["NEEDED", "ROLES", "allows", "check_role", "needed"]
