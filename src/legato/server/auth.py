"""Who is calling, and what their role lets them do.

Bearer tokens (``legato tokens create``): once any token exists in the store, every request
needs one (401 without it or with a bad, expired or revoked one; 403 when the token's role
may not do what is asked). While none exists, only loopback requests are served, as an admin
named :data:`LOCAL_USER`; a server bound elsewhere refuses to start unless told
``--insecure`` (see :mod:`legato.server.run`). Roles: ``viewer`` reads, ``operator`` also
starts, stops, retries, signals, publishes, acts on schedules and human tasks, ``admin``
also resets circuits and manages tokens and users (:mod:`legato.domain.roles`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from legato.domain import roles
from legato.domain.actor import Actor
from legato.domain.tasks import PermissionDenied
from legato.server import sessions

#: the user a loopback request is served as while no token exists
LOCAL_USER = "local-admin"

_bearer = HTTPBearer(auto_error=False, description="a token from `legato tokens create`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """The caller: a token's user and role, or the loopback admin."""

    user: str
    role: str
    token_id: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.user, self.token_id)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers=_CHALLENGE)


def authenticate(request: Request,
                 credentials: HTTPAuthorizationCredentials | None) -> Principal:
    tokens = request.app.state.engine.tokens
    if request.headers.get("authorization") is not None:
        if credentials is None or not credentials.credentials.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <token>'")
        info = tokens.verify(credentials.credentials.strip())
        if info is None:
            raise _unauthorized("the token is unknown, expired or revoked")
        return Principal(info.user, info.role, info.id)
    cookie = request.cookies.get(sessions.COOKIE)
    if cookie and request.method in ("GET", "HEAD"):  # the dashboard's script reads with it
        found = sessions.principal(request.app.state.engine, request.app.state.session_key,
                                   cookie)
        if found is not None:
            return Principal(*found)
    if tokens.exists():
        raise _unauthorized("this server needs a token: send 'Authorization: Bearer <token>'"
                            " (legato tokens create)")
    client = request.client
    if is_loopback(client.host if client else None) or request.app.state.settings.insecure:
        return Principal(LOCAL_USER, "admin")
    raise _unauthorized("this server has no API token yet, so it serves loopback requests"
                        " only: create one with legato tokens create")


def allowed(request: Request, credentials: HTTPAuthorizationCredentials | None,
            role: str) -> Principal:
    """The caller, if their role allows ``role``'s actions (else 403)."""
    who = authenticate(request, credentials)
    if not roles.allows(who.role, role):
        raise HTTPException(403, f"{who.user} ({who.role}) may not do this: it needs the"
                                 f" {role} role")
    return who


def acting_as(user: str, role: str, named: str | None) -> str:
    """The user a human-task action runs as: the caller's own, or ``named`` when the caller
    is an admin (the loopback admin acting for a manager, say); anyone else naming another
    user is refused (:class:`legato.PermissionDenied`, a 403)."""
    if named is None or named == user:
        return user
    if not roles.allows(role, "admin"):
        raise PermissionDenied(f"{user} ({role}) may act only as themselves; acting for"
                               " another user needs the admin role")
    return named


def needs(role: str) -> Callable[..., Principal]:
    """A FastAPI dependency: the caller, if their role allows ``role``'s actions (else 403).
    (FastAPI runs it in a worker thread of its own; :func:`as_caller` saves that hop on the
    busiest endpoints.)"""

    def check(request: Request, credentials: Credentials) -> Principal:
        return allowed(request, credentials, role)

    check.__name__ = f"needs_{role}"
    return check


async def as_caller(request: Request, credentials: HTTPAuthorizationCredentials | None,
                    role: str, work: Callable[[Principal], T]) -> T:
    """Check the caller and do ``work`` as them in one worker thread: one hop off the event
    loop instead of two (a dependency, then the endpoint)."""
    return await anyio.to_thread.run_sync(
        lambda: work(allowed(request, credentials, role)),
        limiter=request.app.state.waiters)


__all__ = ["LOCAL_USER", "Credentials", "Principal", "acting_as", "allowed", "as_caller",
           "authenticate", "is_loopback", "needs"]
