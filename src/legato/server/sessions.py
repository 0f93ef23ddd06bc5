"""Dashboard sessions: a signed, opaque cookie that names an API token, and CSRF values.

The cookie ``legato_session`` is ``<token id>.<expiry>.<HMAC>``, signed with the server's
session key. It never holds the token's secret, and the server keeps no session table: every
request looks the token up by id (:meth:`legato.tokens.Tokens.get`), so a revoked or expired
token ends its sessions at once, and several server processes behind a load balancer accept
each other's sessions when they share ``LEGATO_SESSION_KEY`` (without it each process draws a
random key, and a restart logs everyone out). The cookie is HttpOnly and SameSite=Strict.

A CSRF value is the HMAC of the session cookie (or of a fixed label for the loopback admin and
the login form), so a form's value is bound to the session that rendered it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from typing import Any

COOKIE = "legato_session"
#: how long a dashboard session lasts (seconds)
LIFETIME = 12 * 3600
#: the environment variable that holds the session key shared by several server processes
KEY_ENV = "LEGATO_SESSION_KEY"


def new_key() -> bytes:
    """The session key: ``LEGATO_SESSION_KEY`` if set, else random for this process."""
    shared = os.environ.get(KEY_ENV)
    if shared:
        return hashlib.sha256(shared.encode()).digest()
    return secrets.token_bytes(32)


def _sign(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(key: bytes, token_id: str, now: float | None = None) -> str:
    """A session cookie's value for ``token_id``."""
    expires = int((time.time() if now is None else now) + LIFETIME)
    body = f"{token_id}.{expires}"
    return f"{body}.{_sign(key, 'session:' + body)}"


def token_of(key: bytes, cookie: str | None, now: float | None = None) -> str | None:
    """The token id a well-signed, unexpired cookie names (else None)."""
    if not cookie or len(cookie) > 512:
        return None
    parts = cookie.split(".")
    if len(parts) != 3:
        return None
    token_id, expires, sig = parts
    if not hmac.compare_digest(sig, _sign(key, f"session:{token_id}.{expires}")):
        return None
    try:
        if int(expires) <= (time.time() if now is None else now):
            return None
    except ValueError:
        return None
    return token_id


def principal(engine: Any, key: bytes, cookie: str | None) -> tuple[str, str, str] | None:
    """(user, role, token id) of the session, if its token is still active."""
    token_id = token_of(key, cookie)
    if token_id is None:
        return None
    try:
        info = engine.tokens.get(token_id)
    except Exception:  # an id the store does not know (or cannot read)
        return None
    if info.state(engine.clock.now()) != "active":
        return None
    return info.user, info.role, info.id


def csrf(key: bytes, bound_to: str) -> str:
    """The CSRF value of forms rendered for ``bound_to`` (a session cookie or a label)."""
    return _sign(key, "csrf:" + bound_to)


def csrf_ok(key: bytes, bound_to: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf(key, bound_to), given or "")


__all__ = ["COOKIE", "KEY_ENV", "LIFETIME", "csrf", "csrf_ok", "issue", "new_key",
           "principal", "token_of"]
