"""Moved to :mod:`legato.domain.journal` (the replay cursor and the retry plan are pure
rules on recorded events, shared by the runtime and the stores); kept so that existing
imports work."""

from legato.domain.journal import Journal, plan_retry

__all__ = ["Journal", "plan_retry"]
