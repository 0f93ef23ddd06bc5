"""Who did something: the actor recorded with every operator action.

An action taken over the HTTP API carries the token's user and the token's id; one taken in
Python or with the CLI carries the user the caller names (``actor="alice"``). Recorded in the
run's history (``"actor"`` in the event's data), in a human task's audit, or in the store's
operator log for actions on no run or task, always in the same shape: ``{"user": ...}`` plus
``"token_id"`` when a token was used.
"""

from __future__ import annotations

from dataclasses import dataclass

from legato.domain import inputs
from legato.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Actor:
    """A user, and the API token they acted through (if any)."""

    user: str
    token_id: str | None = None

    def as_dict(self) -> dict[str, str]:
        d = {"user": self.user}
        if self.token_id is not None:
            d["token_id"] = self.token_id
        return d


def actor_of(value: Actor | str | None, what: str = "actor") -> Actor | None:
    """``value`` as an :class:`Actor` (a plain string names the user); None stays None.
    Raises :class:`legato.InvalidInput` for anything else, or a user name outside the input
    contract."""
    if value is None:
        return None
    if isinstance(value, Actor):
        inputs.text(value.user, f"{what}.user")
        if value.token_id is not None:
            inputs.text(value.token_id, f"{what}.token_id")
        return value
    if isinstance(value, str):
        return Actor(inputs.text(value, what))
    raise InvalidInput(f"{what} must be a user name or a legato.Actor, not "
                       f"{type(value).__name__}")


__all__ = ["Actor", "actor_of"]
