"""``engine.operator_log``: operator actions on no run or task, with who did them.

Actions on a run are recorded in its history and actions on a human task in its audit. The
operator log holds the others, once they took effect: publishing an event
(``event.publish``), creating, changing, pausing, resuming, triggering and deleting a
schedule (``schedule.create``, ``schedule.update``, ``schedule.pause``,
``schedule.resume``, ``schedule.trigger``, ``schedule.delete``), resetting a circuit
breaker (``circuit.reset``), creating and revoking an API token (``token.create``,
``token.revoke``) and adding a user or groups (``user.add``). An action that changes nothing
(a duplicate publish, pausing a paused schedule) is not recorded.

Each entry names its actor in the shape of :meth:`legato.Actor.as_dict`; an action whose
caller named nobody (``actor=None``) is recorded all the same, with ``"actor": null``,
rather than with a name legato would have to guess (docs/security.md).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import TYPE_CHECKING, Any

from legato.domain import inputs
from legato.domain.actor import Actor, actor_of
from legato.domain.oplog import OpEntry
from legato.domain.times import instant
from legato.runtime import codec

if TYPE_CHECKING:
    from legato.engine import Engine


class OperatorLog:
    """The operator log of the engine's store.

    >>> engine.operator_log.list(action="token.create", limit=10)
    [{'seq': 7, 'at': '2027-01-04T09:00:01+00:00', 'actor': {'user': 'alice'},
      'action': 'token.create', 'target': 'tok_3f9a1c2b7e', 'data': {...}}]
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def entry(self, action: str, target: str, actor: Actor | str | None,
              data: Any = None) -> OpEntry:
        """The entry recording ``action`` on ``target`` now (checked, not stored): for a
        write that stores its entry in its own transaction (tokens do)."""
        who = actor_of(actor)
        raw = None if data is None else codec.dumps(
            data, f"the operator log's data of {action}", limit=self._engine.max_payload,
            max_depth=inputs.MAX_DEPTH)
        return OpEntry(at=self._engine.clock.now(), user=None if who is None else who.user,
                       token_id=None if who is None else who.token_id,
                       action=inputs.text(action, "action"),
                       target=inputs.text(target, "target"), data=raw)

    def record(self, action: str, target: str, *, actor: Actor | str | None,
               data: Any = None) -> None:
        """Record that ``actor`` did ``action`` (``"schedule.pause"``) on ``target`` (the
        schedule's name), with ``data`` (JSON) saying how; at the engine clock's now."""
        self._engine.store.oplog_append(self.entry(action, target, actor, data))

    def list(self, *, since: float | datetime | str | None = None, action: str | None = None,
             limit: int = 100) -> builtins.list[dict[str, Any]]:
        """Entries newest first: those at ``since`` or later (epoch seconds, an aware
        ``datetime`` or an ISO 8601 string with its offset) and of ``action``."""
        at = instant(since, "since")
        action = None if action is None else inputs.text(action, "action")
        limit = inputs.count(limit, "limit")
        return [e.as_dict() for e in self._engine.store.oplog_list(at, action, limit)]


__all__ = ["OperatorLog"]
