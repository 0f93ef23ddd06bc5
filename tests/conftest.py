"""Shared fixtures. Every test gets its own database; nothing is mocked.

``db_url`` (and so ``make_engine`` and ``engine``) runs each test twice: on a fresh SQLite
file and on a fresh schema of the local PostgreSQL server (``LEGATO_TEST_PG_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``). A fresh schema is faster than cloning a
template database (creating legato's tables takes ~10 ms, dropping a database ~0.5 s). If
the server is unreachable, every test that needs it (marked ``postgres``, or using a
``pg_*`` fixture) is skipped and one loud line at the end of the run says so; with
``LEGATO_REQUIRE_POSTGRES=1`` (``.ci/run`` sets it) they fail instead.

``--legato-clock-ahead=DAYS`` runs every test with the wall clock DAYS days ahead of the real
one, ``--legato-clock-at=ISO`` with it starting at that instant (both tick on at the real rate);
``make test`` runs the ``wallclock`` tests a second time with ``--legato-clock-ahead=400``.
The shift is time-machine's, in this process (and in each xdist worker, which configures
itself): ``time.time``, ``datetime.now`` and the like move, ``time.monotonic``,
``time.perf_counter`` and ``time.sleep`` do not. Processes a test spawns, PostgreSQL's
``now()`` and SQLite's ``CURRENT_TIMESTAMP`` keep the real clock.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
import time_machine

import legato
from legato.runtime.registry import REGISTRY
from legato.testing import VirtualClock

_counter = itertools.count()
_TRAVEL = pytest.StashKey[time_machine.travel]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("legato")
    group.addoption("--legato-clock-ahead", type=int, default=0, metavar="DAYS",
                    help="run with the wall clock DAYS days ahead of the real one "
                         "(time-machine; monotonic time untouched)")
    group.addoption("--legato-clock-at", default=None, metavar="ISO",
                    help="run with the wall clock starting at this instant, e.g. "
                         "2028-02-29T23:59:00Z (it ticks on from there)")


def real_time() -> float:
    """The real wall clock, also while the clock travels."""
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.time.time()
    return time.time()


def _destination(config: pytest.Config) -> float | None:
    """Where ``--legato-clock-ahead``/``--legato-clock-at`` send the wall clock (epoch
    seconds), or None for the real one."""
    days: int = config.getoption("--legato-clock-ahead")
    at: str | None = config.getoption("--legato-clock-at")
    if days < 0:
        raise pytest.UsageError("--legato-clock-ahead takes a number of days >= 0")
    if at is None:
        return real_time() + days * 86400.0 if days else None
    if days:
        raise pytest.UsageError("--legato-clock-ahead and --legato-clock-at exclude each other")
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise pytest.UsageError(f"--legato-clock-at: {at!r} is not an ISO 8601 instant")
    if when.tzinfo is None:
        raise pytest.UsageError(f"--legato-clock-at: {at!r} needs an offset (Z, +01:00)")
    return when.timestamp()


def pytest_configure(config: pytest.Config) -> None:
    # here, not in a fixture: what a test module computes at import time sees the shifted
    # clock too. A float destination leaves TZ alone (a datetime would set TZ to its zone)
    dest = _destination(config)
    if dest is not None:
        travel = time_machine.travel(dest, tick=True)
        travel.start()
        config.stash[_TRAVEL] = travel


def pytest_unconfigure(config: pytest.Config) -> None:
    travel = config.stash.get(_TRAVEL, None)
    if travel is not None:
        travel.stop()
        del config.stash[_TRAVEL]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    _say_postgres_skipped(terminalreporter)
    _say_browser_skipped(terminalreporter)
    if _TRAVEL not in config.stash:
        return
    days, at = config.getoption("--legato-clock-ahead"), config.getoption("--legato-clock-at")
    where = f"{days} days ahead" if days else f"from {at}"
    now = datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%d %H:%M UTC")
    terminalreporter.write_line(f"legato: the wall clock ran {where} (time-machine; now {now}),"
                                " monotonic time the real one")


PG_URL = os.environ.get("LEGATO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: schemas of this test process are named legato_t<pid>_<n>; the pid lets a later run drop
#: what a killed run left behind (and only that)
_SCHEMA_RE = re.compile(r"^legato_t(\d+)_\d+$")
#: PostgreSQL tests hold this shared; a test that restarts the server takes it exclusively
#: (see server_restart_lock), so it never pulls the server from under another test
_LOCK_DIR = Path(tempfile.gettempdir())
_GATE = _LOCK_DIR / "legato-pg-tests.gate"
_LOCK = _LOCK_DIR / "legato-pg-tests.lock"


def _flock(path: Path, mode: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, mode)
    return fd


@contextlib.contextmanager
def pg_shared_lock() -> Iterator[None]:
    """Held by every PostgreSQL test: the server stays up meanwhile."""
    os.close(_flock(_GATE, fcntl.LOCK_SH))  # waits while a restart is queued
    fd = _flock(_LOCK, fcntl.LOCK_SH)
    try:
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def server_restart_lock() -> Iterator[None]:
    """Exclusive: no other PostgreSQL test (of any test process on this host) runs."""
    gate = _flock(_GATE, fcntl.LOCK_EX)
    try:
        fd = _flock(_LOCK, fcntl.LOCK_EX)
        try:
            yield
        finally:
            os.close(fd)
    finally:
        os.close(gate)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


REQUIRE_POSTGRES = os.environ.get("LEGATO_REQUIRE_POSTGRES", "") not in ("", "0")
_PG_FIXTURES = frozenset({"pg_admin", "pg_schema", "pg_db_url", "pg_server_restart_lock"})
_NO_SERVER = "no PostgreSQL server"


def _postgres_unreachable() -> str | None:
    """Why the test server cannot be reached, or None if it can."""
    try:
        psycopg.connect(PG_URL, connect_timeout=5).close()
    except psycopg.Error as exc:
        return " ".join(str(exc).split())[:200]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a reachable server, skip what needs it (unless LEGATO_REQUIRE_POSTGRES)."""
    needs = [item for item in items if item.get_closest_marker("postgres") is not None
             or _PG_FIXTURES & set(getattr(item, "fixturenames", ()))]
    if not needs or REQUIRE_POSTGRES:
        return
    why = _postgres_unreachable()
    if why is None:
        return
    skip = pytest.mark.skip(reason=f"{_NO_SERVER} at {PG_URL}: {why}")
    for item in needs:
        item.add_marker(skip)


def _say_postgres_skipped(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", ())
               if _NO_SERVER in str(getattr(r, "longrepr", ""))]
    if skipped:
        terminalreporter.write_sep(
            "!", f"{len(skipped)} PostgreSQL tests SKIPPED: {_NO_SERVER} at {PG_URL}. Start"
            " one (trust auth, database test) or set LEGATO_TEST_PG_URL;"
            " LEGATO_REQUIRE_POSTGRES=1 makes this a failure (.ci/run sets it)",
            red=True, bold=True)


#: tests/browser/browser_support.py skips with this text (keep the two in step)
_NO_BROWSER = "no Chromium for the browser tests"


def _say_browser_skipped(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", ())
               if _NO_BROWSER in str(getattr(r, "longrepr", ""))]
    if skipped:
        terminalreporter.write_sep(
            "!", f"{len(skipped)} browser tests SKIPPED: {_NO_BROWSER} (apt-get install"
            " chromium, or LEGATO_CHROMIUM=path); LEGATO_REQUIRE_BROWSER=1 makes this a"
            " failure (.ci/run sets it)", red=True, bold=True)


def _connect_admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable ({exc}); start it (.ci/run does)"
                    " or set LEGATO_TEST_PG_URL", pytrace=False)


@pytest.fixture(scope="session")
def _pg_leftovers() -> None:
    """Drop the schemas that killed test runs left behind (only those: their pid is gone)."""
    with _connect_admin() as conn:
        for (name,) in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'legato_t%'").fetchall():
            found = _SCHEMA_RE.match(str(name))
            if found and int(found.group(1)) != os.getpid() and not _alive(int(found.group(1))):
                with contextlib.suppress(psycopg.Error):
                    conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_admin(_pg_leftovers: None) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the test server (fails the test if it is unreachable)."""
    with pg_shared_lock(), _connect_admin() as conn:
        yield conn


@pytest.fixture
def pg_schema(_pg_leftovers: None) -> Iterator[str]:
    """A schema name unique to this test, dropped afterwards (legato creates it)."""
    name = f"legato_t{os.getpid()}_{next(_counter)}"
    with pg_shared_lock():
        yield name
        with _connect_admin() as conn:
            conn.execute("SET lock_timeout = '20s'")
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def pg_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}schema={schema}"


@pytest.fixture
def pg_db_url(pg_schema: str) -> str:
    """A PostgreSQL URL on this test's own fresh schema."""
    return pg_url(pg_schema)


@pytest.fixture(scope="session")
def pg_server_restart_lock() -> Callable[[], contextlib.AbstractContextManager[None]]:
    """For a test that restarts the PostgreSQL server: ``with pg_server_restart_lock():``
    waits until no other PostgreSQL test runs (and holds new ones back) while it is held.
    Such a test must not use ``pg_schema``/``db_url`` (they hold the lock shared)."""
    return server_restart_lock


@pytest.fixture(scope="session")
def pg_tools() -> SimpleNamespace:
    """The PostgreSQL helpers, for fixtures of other scopes and for support modules (which
    cannot import this conftest by name: tests/asl has a conftest of its own)."""
    return SimpleNamespace(url=PG_URL, schema_url=pg_url, connect_admin=_connect_admin,
                           shared_lock=pg_shared_lock, counter=_counter)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'legato.db'}"
    return pg_url(request.getfixturevalue("pg_schema"))


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1_800_000_000.0)


@pytest.fixture
def make_engine(db_url: str) -> Iterator[Callable[..., legato.Engine]]:
    """Build engines on this test's database; all are shut down at the end."""
    engines: list[legato.Engine] = []

    def make(**kwargs: object) -> legato.Engine:
        url = kwargs.pop("url", db_url)
        e = legato.Engine(str(url), **kwargs)  # type: ignore[arg-type]
        engines.append(e)
        return e

    yield make
    for e in engines:
        e.shutdown(grace=1.0)


@pytest.fixture
def engine(make_engine: Callable[..., legato.Engine]) -> legato.Engine:
    """A launched engine on a fresh database (SQLite file or PostgreSQL schema)."""
    return make_engine().launch()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Workflow names unique per test, so tests can register freely."""
    names: list[str] = []

    def make(base: str) -> str:
        n = f"{base}_{next(_counter)}"
        names.append(n)
        return n

    yield make  # type: ignore[misc]
    for n in names:
        REGISTRY.remove(n)
