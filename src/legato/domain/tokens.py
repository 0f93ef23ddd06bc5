"""API tokens: what is kept of one (never its secret), and how secrets are made and hashed.

A token has a short public id (``tok_`` and 10 random hex digits: shown in lists and
recorded in the operator log) and a secret (``lgt_`` and 43 random URL-safe characters,
256 bits) shown once, when it is created. The store keeps the SHA-256 of the secret: a
secret this random needs no slow hash, and a request is checked by looking its hash up.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from legato.domain.times import iso

#: what every secret starts with (so a leaked one is recognisable, e.g. by secret scanners)
SECRET_PREFIX: Final = "lgt_"
#: what every token id starts with
ID_PREFIX: Final = "tok_"
#: the longest text :func:`looks_like_secret` accepts (a secret is 47 characters)
_SECRET_MAX: Final = 128


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_token_id() -> str:
    return ID_PREFIX + secrets.token_hex(5)


def hash_secret(secret: str) -> str:
    """The SHA-256 of the secret (hex): all the store keeps of it."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_secret(value: object) -> bool:
    """Whether ``value`` could be a secret at all (worth looking up)."""
    return isinstance(value, str) and value.startswith(SECRET_PREFIX) \
        and len(SECRET_PREFIX) < len(value) <= _SECRET_MAX


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as listed: who it is for and what it may do, never its secret.

    Times are epoch seconds of the engine's clock (None: never / not yet);
    :meth:`as_dict` gives them as ISO 8601 UTC strings.
    """

    id: str
    user: str
    role: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None

    def state(self, now: float) -> str:
        """``revoked``, ``expired`` (at ``now``) or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def as_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "user": self.user, "role": self.role,
                "created_at": iso(self.created_at), "expires_at": iso(self.expires_at),
                "revoked_at": iso(self.revoked_at), "last_used_at": iso(self.last_used_at)}


__all__ = ["ID_PREFIX", "SECRET_PREFIX", "TokenInfo", "hash_secret", "looks_like_secret",
           "new_secret", "new_token_id"]
