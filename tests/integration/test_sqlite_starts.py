"""How a start is written on SQLite: alone, one statement (``workflow_starts``); an id that
exists writes nothing; a database made by an older legato is upgraded to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import legato
from legato.store import sqlite as sqlite_store


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "starts.db")


def _statements_of(engine: legato.Engine, action) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    conn = engine.store._conn()  # type: ignore[attr-defined]
    conn.set_trace_callback(seen.append)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    return seen


def test_a_start_alone_is_one_statement_and_an_existing_id_writes_nothing(
        db: str, unique_name) -> None:
    @legato.workflow(name=unique_name("one_statement"))
    def wf(ctx: legato.WorkflowContext, n: int) -> int:
        return n

    engine = legato.Engine(f"sqlite:///{db}")  # a client: nothing else writes meanwhile
    try:
        sql = _statements_of(engine, lambda: engine.start(wf, 1, workflow_id="w-1"))
        # (SQLite reports the statements of the trigger under the statement that fired it)
        assert len(set(sql)) == 1 and sql[0].startswith("INSERT INTO workflow_starts"), sql
        handle = engine.handle("w-1")
        assert handle.status == "PENDING"
        assert [e["type"] for e in handle.history()] == ["WorkflowStarted"]
        assert handle.describe()["input"] == [1]

        again = engine.start(wf, 1, workflow_id="w-1")  # idempotent: the same run
        assert again.workflow_id == "w-1"
        assert [e["type"] for e in handle.history()] == ["WorkflowStarted"]
        with pytest.raises(legato.WorkflowConflict):
            engine.start(wf, 2, workflow_id="w-1")
        rows = sqlite3.connect(db).execute(
            "SELECT COUNT(*) FROM journal WHERE workflow_id = 'w-1'").fetchone()
        assert rows == (1,)
    finally:
        engine.shutdown()
    with legato.Engine(f"sqlite:///{db}") as worker:  # and it runs
        assert worker.handle("w-1").result(timeout=10) == 1


def test_a_database_of_schema_version_8_is_upgraded(db: str, unique_name) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE legato_meta (key TEXT PRIMARY KEY, value TEXT)")
    for number, script in sqlite_store._migrations():
        if number <= 8:
            for stmt in sqlite_store._statements(script):
                conn.execute(stmt)
    conn.execute("INSERT INTO legato_meta VALUES ('schema_version', '8')")
    conn.execute("INSERT INTO workflows (id, name, status, input, created_at, updated_at, epoch)"
                 " VALUES ('old-1', 'old', 'COMPLETED', '[]', 1.0, 2.0, 1)")
    conn.close()

    @legato.workflow(name=unique_name("after_upgrade"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return "ok"

    with legato.Engine(f"sqlite:///{db}") as engine:
        assert engine.store.migrate() >= 9
        assert engine.handle("old-1").status == "COMPLETED"
        assert engine.start(wf).result(timeout=10) == "ok"


def test_migration_scripts_split_into_statements_triggers_whole() -> None:
    script = """-- a comment
CREATE TABLE t (a);
CREATE TRIGGER tr AFTER INSERT ON t BEGIN
    INSERT INTO t VALUES (1);
    DELETE FROM t WHERE a = 2;
END;
CREATE INDEX i ON t (a);
"""
    stmts = sqlite_store._statements(script)
    assert len(stmts) == 3
    assert stmts[1].startswith("CREATE TRIGGER") and stmts[1].endswith("END;")
