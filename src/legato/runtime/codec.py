"""Moved to :mod:`legato.domain.codec` (shared by the runtime and the stores); kept so that
existing imports work."""

from legato.domain.codec import (
    MAX_MESSAGE,
    adapt,
    dumps,
    encode_error,
    loads,
    rebuild_error,
    type_name,
)

__all__ = ["MAX_MESSAGE", "adapt", "dumps", "encode_error", "loads", "rebuild_error",
           "type_name"]
