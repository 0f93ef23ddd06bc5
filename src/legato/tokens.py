"""``engine.tokens``: API tokens for the HTTP API, each for a user with a role.

A token is created once, with its secret shown to its creator only then; the store keeps
the secret's SHA-256 (docs/security.md). Creating and revoking a token are recorded in the
operator log in the same transaction.
"""

from __future__ import annotations

import builtins
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from legato.domain import inputs
from legato.domain.actor import Actor, actor_of
from legato.domain.roles import check_role
from legato.domain.tokens import (
    TokenInfo,
    hash_secret,
    looks_like_secret,
    new_secret,
    new_token_id,
)
from legato.errors import LegatoError, NotFound

if TYPE_CHECKING:
    from legato.engine import Engine

#: a token's ``last_used_at`` is written again only once it is this old (seconds), so a
#: busy API does not write on every request
USE_EVERY: Final = 60.0
_ATTEMPTS: Final = 5


class Tokens:
    """Create, list, revoke and verify API tokens.

    >>> info, secret = engine.tokens.create("alice", "operator", expires=timedelta(days=90))
    >>> engine.tokens.verify(secret).role     # what a server does with each request
    'operator'
    >>> engine.tokens.revoke(info.id, actor="root")
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, user: str, role: str, *, expires: float | timedelta | None = None,
               actor: Actor | str | None = None) -> tuple[TokenInfo, str]:
        """A new token for ``user`` (who need not be in ``engine.users``) with ``role``
        (``viewer``, ``operator`` or ``admin``), valid for ``expires`` (seconds or a
        ``timedelta``; None: until revoked). Returns its info and its secret, which is
        shown only now: legato keeps its hash alone."""
        user = inputs.text(user, "user")
        role = check_role(role)
        secs = None if expires is None else inputs.seconds(expires, "expires")
        who = actor_of(actor)
        engine = self._engine
        for _ in range(_ATTEMPTS):
            now = engine.clock.now()
            info = TokenInfo(id=new_token_id(), user=user, role=role, created_at=now,
                             expires_at=None if secs is None else now + secs)
            secret = new_secret()
            entry = engine.operator_log.entry("token.create", info.id, who, {
                "user": user, "role": role, "expires_at": info.as_dict()["expires_at"]})
            if engine.store.create_token(info, hash_secret(secret), entry):
                return info, secret
        raise LegatoError(f"could not find a free token id in {_ATTEMPTS} attempts; "
                          "try again")  # pragma: no cover - 40 random bits each

    def list(self) -> builtins.list[TokenInfo]:
        """Every token, revoked and expired ones too, oldest first (never a secret)."""
        return self._engine.store.list_tokens()

    def get(self, token_id: str) -> TokenInfo:
        """The token ``token_id``; :class:`legato.NotFound` if there is none."""
        found = self._engine.store.get_token(inputs.lookup(token_id, "token id"))
        if found is None:
            raise NotFound(f"no API token with id {token_id!r}")
        return found

    def revoke(self, token_id: str, *, actor: Actor | str | None = None) -> TokenInfo:
        """Revoke the token: it verifies no more, at once, on every server of the store.
        Revoking a revoked token changes nothing. :class:`legato.NotFound` if there is no
        such token."""
        token_id = inputs.lookup(token_id, "token id")
        entry = self._engine.operator_log.entry("token.revoke", token_id, actor)
        found = self._engine.store.revoke_token(token_id, entry.at, entry)
        if found is None:
            raise NotFound(f"no API token with id {token_id!r}")
        return found

    def verify(self, secret: str) -> TokenInfo | None:
        """The token whose secret this is, if it may be used now (at the engine clock's
        now): None for a secret that is unknown, revoked or expired (or not a string).
        Records its use (``last_used_at``) at most once every :data:`USE_EVERY` seconds."""
        if not looks_like_secret(secret):
            return None
        store = self._engine.store
        info = store.token_by_hash(hash_secret(secret))
        now = self._engine.clock.now()
        if info is None or info.state(now) != "active":
            return None
        last = info.last_used_at
        if (last is None or now - last >= USE_EVERY) \
                and store.token_used(info.id, now, now - USE_EVERY):
            info = replace(info, last_used_at=now)
        return info

    def exists(self) -> bool:
        """Whether any token that is not revoked exists (expired ones count, so expiry never
        turns authentication off): a server then requires a token on every request."""
        return self._engine.store.tokens_exist()


__all__ = ["USE_EVERY", "Tokens"]
