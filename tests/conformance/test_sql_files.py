"""The stores' SQL lives in named blocks of ``sql/<dialect>/queries.sql``: a file that does
not match the code fails at import, loudly, naming the file and the block."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path, PurePosixPath

import pytest

from legato.store import sqlfile
from legato.store.sql_store import CommonQueries
from legato.store.sqlfile import SQLFileError, parse, resolve, statements
from legato.store.sqlite.queries import QUERIES, SQLiteQueries


def test_a_block_runs_from_its_name_to_the_next_and_comments_are_not_sent() -> None:
    text = ("-- a header\n\n-- name: one\n-- what it does, 100% of it\nSELECT 1\n"
            "FROM t;\n\n-- name: two\nSELECT 2\n")
    assert parse(text, "f.sql") == {"one": "SELECT 1\nFROM t", "two": "SELECT 2"}


@pytest.mark.parametrize(("text", "says"), [
    ("-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n", "f.sql:3: the name 'a' is given twice"),
    ("SELECT 1\n-- name: a\nSELECT 2\n", "f.sql:1: SQL before the first '-- name:' line"),
    ("-- name: a\n-- only a comment\n", "the block 'a' holds no SQL"),
    ("-- name: A-b\nSELECT 1\n", "f.sql:1: 'A-b' is not a statement name"),
])
def test_a_malformed_file_is_refused(text: str, says: str) -> None:
    with pytest.raises(SQLFileError, match=re.escape(says)):
        parse(text, "f.sql")


def test_fragments_and_column_lists_are_filled_in_and_holes_are_left() -> None:
    blocks = {"_cols": "a, b", "get": "SELECT {_cols}, {event_columns} FROM {schema}.t{where}"}
    got = resolve(blocks, ["get"], {"schema", "where"}, "f.sql")
    assert got == {"get": "SELECT a, b, seq, type, at, name, pos, attempt, data"
                          " FROM {schema}.t{where}"}


@pytest.mark.parametrize(("blocks", "names", "says"), [
    ({"a": "SELECT 1"}, ["a", "b"], "f.sql: no block named 'b'"),
    ({"a": "SELECT 1", "b": "SELECT 2"}, ["a"], "nothing runs the block(s) 'b'"),
    ({"a": "SELECT {nope}"}, ["a"], "the block 'a' names {nope}, which is no block"),
    ({"a": "SELECT {b}", "b": "{a}"}, ["a"], "the block 'a' includes itself"),
])
def test_a_file_that_does_not_match_the_code_is_refused(
        blocks: dict[str, str], names: list[str], says: str) -> None:
    with pytest.raises(SQLFileError, match=re.escape(says)):
        resolve(blocks, names, (), "f.sql")


def test_a_missing_file_is_refused() -> None:
    with pytest.raises(SQLFileError, match=r"sql/nosuch/queries.sql is missing"):
        sqlfile.load("nosuch", ["a"])


def test_a_class_naming_a_statement_its_file_lacks_fails_when_defined() -> None:
    with pytest.raises(SQLFileError, match="no block named 'no_such_statement'"):
        class Broken(SQLiteQueries, dialect="sqlite"):
            no_such_statement: str


def test_both_dialects_load_at_import_with_every_shared_name() -> None:
    from legato.store.postgres.queries import PostgresQueries

    shared = [n for n in CommonQueries.__annotations__ if n.islower()]
    pg = PostgresQueries('"some_schema"')
    for name in shared:
        assert getattr(QUERIES, name) and getattr(pg, name)
    assert '"some_schema".workflows' in pg.get_workflow
    # SQLite's take ? and :name, PostgreSQL's %s and %(name)s; nothing is left to fill but
    # the holes each fills per call ({schema} is filled once per store)
    for q, holes in ((QUERIES, SQLiteQueries.HOLES), (pg, PostgresQueries.HOLES - {"schema"})):
        for name, sql in vars(q).items():
            assert set(re.findall(r"\{(\w+)\}", sql)) <= holes, name
    assert not any("%s" in v or "%(" in v for v in vars(QUERIES).values())
    assert not any(re.search(r"\?|[^:]:[a-z]", v) for v in vars(pg).values())


def test_a_block_of_several_statements_splits_at_line_ends() -> None:
    assert statements("DELETE FROM a;\nDELETE FROM b WHERE x = ';'\n  ;\nDELETE FROM c") == [
        "DELETE FROM a", "DELETE FROM b WHERE x = ';'", "DELETE FROM c"]
    assert len(statements(QUERIES.purge)) == 8


def test_the_wheel_takes_the_files() -> None:
    """pyproject's package-data names them (tests/acceptance/test_wheel.py installs one)."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    patterns = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"][
        "legato"]
    for dialect in ("sqlite", "postgres"):
        path = PurePosixPath(f"store/sql/{dialect}/queries.sql")
        assert any(path.match(p) for p in patterns), patterns
