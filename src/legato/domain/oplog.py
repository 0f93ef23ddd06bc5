"""One entry of the operator log: an operator action on no run or task, with who did it.

Actions on a run are recorded in its history and actions on a human task in its audit; the
operator log holds the rest (publishing an event, schedules, circuit resets, API tokens,
users). ``user`` is None when the caller named nobody (the action is recorded all the same).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from legato.domain.times import iso


@dataclass(frozen=True, slots=True)
class OpEntry:
    """``seq`` orders the log (0 until stored); ``data`` is JSON text or None."""

    at: float
    user: str | None
    token_id: str | None
    action: str
    target: str
    data: str | None = None
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The entry as a caller reads it: ``at`` in ISO 8601 UTC, ``actor`` in the shape of
        :meth:`legato.Actor.as_dict` (None: no actor was named), ``data`` decoded."""
        actor: dict[str, str] | None = None
        if self.user is not None:
            actor = {"user": self.user}
            if self.token_id is not None:
                actor["token_id"] = self.token_id
        return {"seq": self.seq, "at": iso(self.at),
                "actor": actor, "action": self.action, "target": self.target,
                "data": None if self.data is None else json.loads(self.data)}


__all__ = ["OpEntry"]
