"""Buffered events: published, and consumed by no wait yet. The record the stores list, and
the warning an event gets when it expires unconsumed. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from legato.domain import codec
from legato.domain.times import iso, span


@dataclass(frozen=True, slots=True)
class BufferedEvent:
    """An event waiting in the buffer for the first matching wait. ``key`` is ``""`` for an
    event published without one; ``data`` its JSON text (None: no data)."""

    event_id: str
    type: str
    key: str
    data: str | None
    published_at: float
    expires_at: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC strings, ``key`` None when published without
        one, ``expires_at`` None when kept until consumed."""
        return {"event_id": self.event_id, "type": self.type, "key": self.key or None,
                "data": codec.loads(self.data), "published_at": iso(self.published_at),
                "expires_at": iso(self.expires_at)}


def expiry_warning(event_id: str, type_: str, key: str, published_at: float,
                   now: float) -> str:
    """The log line of an event dropped unconsumed at ``now``."""
    return (f"legato: buffered event {event_id!r} (type {type_!r}, key {key or None!r}) "
            f"expired unconsumed after waiting {span(now - published_at)}: no wait took it")
