"""``legato tokens``, ``legato oplog``, ``legato schedules trigger`` and ``legato circuits
reset`` (issue 17), on SQLite and PostgreSQL: the secret is printed once, alone on the last
line; a listing never shows it; mistakes are one error line with exit code 2."""

from __future__ import annotations

import getpass
import json
from typing import Any

import pytest
from cli_support import cli

import legato
from legato.domain.circuit import CircuitState


def ok(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    rc, out, err = cli(capsys, *args)
    assert (rc, err) == (0, ""), (rc, out, err)
    return out


def as_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    return json.loads(ok(capsys, *args, "--json"))  # exactly one document


def one_error_line(rc: int, out: str, err: str, *words: str) -> None:
    assert rc == 2 and out == "", (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_create_prints_the_secret_alone_on_its_last_line(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "tokens", "create", "--user", "alice", "--role", "operator",
             "--expires", "90d", "--actor", "root", "--db", db_url)
    lines = out.rstrip("\n").splitlines()
    secret = lines[-1]
    assert secret.startswith("lgt_") and " " not in secret
    assert len(lines) >= 2 and "alice" in out and "operator" in out
    assert all(secret not in line for line in lines[:-1])
    engine = legato.Engine(db_url)
    try:
        info = engine.tokens.verify(secret)
        assert info is not None and (info.user, info.role) == ("alice", "operator")
        assert info.expires_at is not None
        assert info.expires_at - info.created_at == pytest.approx(90 * 86400)
        assert info.id in lines[0]
        (entry,) = engine.operator_log.list(action="token.create")
        assert entry["actor"] == {"user": "root"} and entry["target"] == info.id
    finally:
        engine.shutdown()


def test_create_json_holds_the_info_and_the_token(db_url: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    d = as_json(capsys, "tokens", "create", "--user", "bob", "--role", "viewer", "--db", db_url)
    assert d["token"].startswith("lgt_") and d["user"] == "bob" and d["role"] == "viewer"
    assert d["id"].startswith("tok_") and d["expires_at"] is None
    listed = as_json(capsys, "tokens", "list", "--db", db_url)
    assert [t["id"] for t in listed] == [d["id"]] and listed[0]["state"] == "active"
    assert "token" not in listed[0] and d["token"] not in json.dumps(listed)


def test_list_never_shows_secrets_and_revoke_revokes(db_url: str,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    secrets = []
    for user in ("alice", "bob"):
        out = ok(capsys, "tokens", "create", "--user", user, "--role", "admin", "--db", db_url)
        secrets.append(out.rstrip("\n").splitlines()[-1])
    listed = ok(capsys, "tokens", "list", "--db", db_url)
    assert "alice" in listed and "bob" in listed
    assert not any(s in listed or s[4:12] in listed for s in secrets)
    ids = [t["id"] for t in as_json(capsys, "tokens", "list", "--db", db_url)]
    out = ok(capsys, "tokens", "revoke", ids[0], "--actor", "root", "--db", db_url)
    assert ids[0] in out and "revoked" in out
    states = {t["id"]: t["state"] for t in as_json(capsys, "tokens", "list", "--db", db_url)}
    assert states == {ids[0]: "revoked", ids[1]: "active"}
    one_error_line(*cli(capsys, "tokens", "revoke", "tok_nope", "--db", db_url), "tok_nope")


@pytest.mark.parametrize(("args", "words"), [
    (("--user", "alice", "--role", "root"), ("root", "viewer, operator, admin")),
    (("--user", "alice", "--role", "viewer", "--expires", "soon"), ("--expires", "soon")),
    (("--user", "alice", "--role", "viewer", "--expires", "0"), ("expires",)),
    (("--user", "", "--role", "viewer"), ("user",)),
])
def test_bad_role_or_expiry_is_one_error_line(db_url: str, capsys: pytest.CaptureFixture[str],
                                              args: tuple[str, ...],
                                              words: tuple[str, ...]) -> None:
    ok(capsys, "db", "migrate", "--db", db_url)
    one_error_line(*cli(capsys, "tokens", "create", *args, "--db", db_url), *words)
    assert as_json(capsys, "tokens", "list", "--db", db_url) == []


def test_oplog_lists_actions_newest_first(db_url: str, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_ACTOR", "ops-on-call")
    ok(capsys, "users", "add", "dave", "--group", "finance", "--db", db_url)
    ok(capsys, "publish", "order.paid", "--key", "o-1", "--actor", "erin", "--db", db_url)
    entries = as_json(capsys, "oplog", "--db", db_url)
    assert [(e["action"], e["target"], e["actor"]) for e in entries] == [
        ("event.publish", "order.paid", {"user": "erin"}),
        ("user.add", "dave", {"user": "ops-on-call"})]
    assert as_json(capsys, "oplog", "--action", "user.add", "--db", db_url) == entries[1:]
    assert as_json(capsys, "oplog", "--since", "1h", "--db", db_url) == entries
    assert as_json(capsys, "oplog", "--since", "2999-01-01T00:00:00Z", "--db", db_url) == []
    text = ok(capsys, "oplog", "--db", db_url)
    assert "event.publish" in text and "ops-on-call" in text
    one_error_line(*cli(capsys, "oplog", "--since", "last tuesday", "--db", db_url),
                   "--since")


def test_schedules_trigger_starts_a_run(db_url: str, capsys: pytest.CaptureFixture[str],
                                        unique_name) -> None:
    name = unique_name("nightly")

    @legato.workflow(name=name)
    def nightly(ctx: legato.WorkflowContext, n: int) -> int:
        return n

    engine = legato.Engine(db_url)
    try:
        engine.schedules.create(name, nightly, "0 3 * * *", args=[5])
    finally:
        engine.shutdown()
    d = as_json(capsys, "schedules", "trigger", name, "--actor", "alice", "--db", db_url)
    assert d["schedule"] == name and d["workflow_id"].startswith(f"{name}@")
    show = as_json(capsys, "show", d["workflow_id"], "--db", db_url)
    assert show["name"] == name
    out = ok(capsys, "schedules", "trigger", name, "--db", db_url)
    assert name in out and "triggered" in out
    one_error_line(*cli(capsys, "schedules", "trigger", "nope", "--db", db_url), "nope")


def test_circuits_reset_closes_a_breaker(db_url: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    engine = legato.Engine(db_url)
    try:
        now = engine.clock.now()
        assert engine.store.circuit_save(CircuitState("payments", "OPEN", failures=3,
                                                      opened_at=now, next_probe_at=now + 600,
                                                      reason="3 consecutive failures"),
                                         0, now, "CLOSED")
    finally:
        engine.shutdown()
    (before,) = as_json(capsys, "circuits", "--db", db_url)
    assert before["state"] == "OPEN"
    d = as_json(capsys, "circuits", "reset", "payments", "--actor", "alice", "--db", db_url)
    assert (d["name"], d["state"], d["failures"]) == ("payments", "CLOSED", 0)
    (after,) = as_json(capsys, "circuits", "--db", db_url)
    assert after["state"] == "CLOSED"
    assert "payments" in ok(capsys, "circuits", "reset", "payments", "--db", db_url)
    history = as_json(capsys, "circuits", "--history", "--db", db_url)
    assert history[0]["history"][0]["target"] == "CLOSED"
    one_error_line(*cli(capsys, "circuits", "reset", "nope", "--db", db_url), "nope")
    entries = as_json(capsys, "oplog", "--action", "circuit.reset", "--db", db_url)
    assert [e["actor"] for e in entries] == [{"user": "alice"}]


def test_without_actor_the_login_name_acts(db_url: str, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEGATO_ACTOR", raising=False)
    ok(capsys, "users", "add", "gina", "--db", db_url)
    (entry,) = as_json(capsys, "oplog", "--db", db_url)
    assert entry["actor"] == {"user": getpass.getuser()}
    one_error_line(*cli(capsys, "users", "add", "hal", "--actor", "", "--db", db_url),
                   "actor")


def test_circuits_options_go_after_the_subcommand(db_url: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    one_error_line(*cli(capsys, "circuits", "--json", "reset", "x", "--db", db_url),
                   "legato circuits reset --json")
