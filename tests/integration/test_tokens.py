"""API tokens (issue 17), on SQLite and PostgreSQL: a token is created with a role and shown
once, verified by its hash until it expires (engine time) or is revoked, never stored or
listed in the clear, and its use is written at most about once a minute."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

import legato
from legato.store.postgres.conninfo import parse
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]


@contextlib.contextmanager
def raw(url: str) -> Iterator[Any]:
    """A plain connection to the test's database (search path on legato's schema)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split(":///", 1)[1])
        try:
            yield conn
        finally:
            conn.close()
        return
    settings = parse(url)
    with psycopg.connect(settings.conninfo, autocommit=True) as pg:
        pg.execute(f'SET search_path TO "{settings.schema}"')
        yield pg


def test_a_token_is_shown_once_and_verified_until_revoked(make_engine: Make, db_url: str,
                                                          clock: VirtualClock) -> None:
    engine = make_engine(clock=clock)
    assert not engine.tokens.exists()
    assert engine.tokens.list() == []
    info, secret = engine.tokens.create("alice", "operator", actor="root")
    assert secret.startswith("lgt_") and len(secret) >= 40
    assert info.id.startswith("tok_") and info.id[4:] not in secret
    assert (info.user, info.role, info.created_at, info.expires_at, info.revoked_at,
            info.last_used_at) == ("alice", "operator", clock.now(), None, None, None)
    assert engine.tokens.exists()

    got = engine.tokens.verify(secret)
    assert got is not None and (got.id, got.user, got.role) == (info.id, "alice", "operator")
    assert got.last_used_at == clock.now()
    for wrong in (secret + "x", secret[:-1], "lgt_", "", "Bearer " + secret, None, 42):
        assert engine.tokens.verify(wrong) is None, wrong  # type: ignore[arg-type]

    # only its SHA-256 is stored; the secret is in no column
    with raw(db_url) as c:
        rows = c.execute("SELECT * FROM api_tokens").fetchall()
    assert len(rows) == 1
    assert secret not in repr(rows)
    assert hashlib.sha256(secret.encode()).hexdigest() in repr(rows)

    (listed,) = engine.tokens.list()
    assert listed.id == info.id and not hasattr(listed, "secret")
    assert secret not in repr(listed) and secret not in repr(listed.as_dict())

    clock.advance(10)
    revoked = engine.tokens.revoke(info.id, actor="root")
    assert revoked.revoked_at == clock.now()
    assert engine.tokens.verify(secret) is None
    assert not engine.tokens.exists()
    (listed,) = engine.tokens.list()
    assert listed.revoked_at == clock.now()
    engine.tokens.revoke(info.id)  # again: nothing changes, no error
    with pytest.raises(legato.NotFound, match="tok_nope"):
        engine.tokens.revoke("tok_nope")


def test_a_token_expires_at_engine_time(make_engine: Make, clock: VirtualClock) -> None:
    engine = make_engine(clock=clock)
    start = clock.now()
    hour, secret = engine.tokens.create("bob", "viewer", expires=3600)
    week, secret_week = engine.tokens.create("carol", "admin", expires=timedelta(days=7))
    assert hour.expires_at == start + 3600 and week.expires_at == start + 7 * 86400
    clock.advance(3599)
    assert engine.tokens.verify(secret) is not None
    clock.advance(1)
    assert engine.tokens.verify(secret) is None  # at its expiry: expired
    assert engine.tokens.verify(secret_week) is not None
    clock.advance(7 * 86400)
    assert engine.tokens.verify(secret_week) is None
    # expired tokens still count: expiry never turns authentication off
    assert engine.tokens.exists()
    assert hour.as_dict()["expires_at"] == "2027-01-15T09:00:00+00:00"


def test_as_dict_is_iso_8601_utc(make_engine: Make) -> None:
    clock = VirtualClock(start=1_800_000_000.0)  # 2027-01-15T08:00:00Z
    engine = make_engine(clock=clock)
    info, _ = engine.tokens.create("alice", "admin", expires=60)
    assert info.as_dict() == {
        "id": info.id, "user": "alice", "role": "admin",
        "created_at": "2027-01-15T08:00:00+00:00", "expires_at": "2027-01-15T08:01:00+00:00",
        "revoked_at": None, "last_used_at": None}


def test_use_is_written_at_most_about_once_a_minute(make_engine: Make,
                                                    clock: VirtualClock) -> None:
    engine = make_engine(clock=clock)
    _, secret = engine.tokens.create("alice", "viewer")
    first = clock.now()
    assert engine.tokens.verify(secret).last_used_at == first  # type: ignore[union-attr]
    clock.advance(30)
    assert engine.tokens.verify(secret).last_used_at == first  # type: ignore[union-attr]
    (listed,) = engine.tokens.list()
    assert listed.last_used_at == first  # not written again within the minute
    clock.advance(31)
    assert engine.tokens.verify(secret).last_used_at == first + 61  # type: ignore[union-attr]
    (listed,) = engine.tokens.list()
    assert listed.last_used_at == first + 61


def test_another_engine_on_the_store_verifies_and_sees_a_revocation(make_engine: Make,
                                                                    clock: VirtualClock) -> None:
    admin = make_engine(clock=clock)
    server = make_engine(clock=clock)
    info, secret = admin.tokens.create("alice", "operator")
    assert server.tokens.exists()
    assert server.tokens.verify(secret).id == info.id  # type: ignore[union-attr]
    admin.tokens.revoke(info.id)
    assert server.tokens.verify(secret) is None


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("alice", "root"), {}, "viewer, operator, admin"),
    (("alice", ""), {}, "viewer, operator, admin"),
    (("", "viewer"), {}, "user"),
    (("a\nb", "viewer"), {}, "user"),
    ((None, "viewer"), {}, "user"),
    (("alice", "viewer"), {"expires": 0}, "expires"),
    (("alice", "viewer"), {"expires": -5}, "expires"),
    (("alice", "viewer"), {"expires": float("nan")}, "expires"),
    (("alice", "viewer"), {"expires": "90d"}, "expires"),
    (("alice", "viewer"), {"actor": 7}, "actor"),
    (("alice", "viewer"), {"actor": ""}, "actor"),
])
def test_bad_input_is_refused_and_nothing_is_written(make_engine: Make, args: tuple[Any, ...],
                                                     kwargs: dict[str, Any],
                                                     message: str) -> None:
    engine = make_engine()
    with pytest.raises(legato.InvalidInput, match=message):
        engine.tokens.create(*args, **kwargs)
    assert engine.tokens.list() == []
    assert engine.operator_log.list() == []


def test_a_user_need_not_be_in_the_directory(make_engine: Make) -> None:
    engine = make_engine()
    info, _ = engine.tokens.create("ci-bot", "operator")
    assert info.user == "ci-bot" and engine.users.list() == []
