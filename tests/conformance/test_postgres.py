"""What only the PostgreSQL store promises: notifications, provable liveness, surviving lost
connections, schemas, migrations and clear start-up errors."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from conformance_helpers import T0, lease_base, new, started, step_event

from legato.errors import ConfigError
from legato.store import NewWorkflow, WorkerInfo, Write
from legato.store.base import HOST
from legato.store.postgres import PostgresStore
from legato.store.postgres import schema as pg_schema_mod

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("LEGATO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_url(schema: str) -> str:
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"

Admin = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def app(pg_schema: str) -> str:
    """The application_name of this test's stores (so a test kills only its own sessions)."""
    return f"lt{pg_schema}"


@pytest.fixture
def stores(pg_schema: str, app: str) -> Iterator[Callable[..., PostgresStore]]:
    opened: list[PostgresStore] = []

    def make(application_name_suffix: str = "", **kwargs: Any) -> PostgresStore:
        name = app + application_name_suffix
        s = PostgresStore(pg_url(pg_schema) + f"&application_name={name}", **kwargs)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


def backends(admin: Admin, app: str) -> list[int]:
    return [r[0] for r in admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        " AND datname = current_database()",
        (app,)).fetchall()]


def kill_backends(admin: Admin, pids: list[int]) -> None:
    for pid in pids:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def wait_for(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


class Pokes:
    def __init__(self) -> None:
        self.count = 0
        self.event = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()

    def expect(self, action: Callable[[], object], timeout: float = 2.0) -> float:
        """Seconds from ``action`` until a notification arrived."""
        self.event.clear()
        t = time.perf_counter()
        action()
        assert self.event.wait(timeout), "no notification arrived"
        return time.perf_counter() - t


# --- LISTEN / NOTIFY -----------------------------------------------------------------------


def test_subscribers_hear_whatever_makes_work_runnable(
        stores: Callable[..., PostgresStore]) -> None:
    listener, other = stores(), stores()
    pokes = Pokes()
    unsubscribe = listener.subscribe(pokes)
    assert wait_for(lambda: listener.listening)
    token = listener.change_token()
    latencies = [pokes.expect(lambda i=i: new(other, f"s{i}")) for i in range(20)]
    assert listener.change_token() != token
    pokes.expect(lambda: other.request_cancel("s0", T0))
    [c] = other.claim("w1", ["wf"], T0, 1)
    pokes.expect(lambda: other.commit([Write(c.row.id, c.row.epoch, [], status="WAITING",
                                             wake_at=T0 + 60, release=True)], T0))
    other.register_worker(WorkerInfo("w2", HOST, 1, T0, T0 + 60))
    other.claim("w2", ["wf"], T0, 1)
    pokes.expect(lambda: other.remove_worker("w2", T0))
    print(f"\nNOTIFY pick-up latency over 20 creates: p50 "
          f"{statistics.median(latencies) * 1000:.2f} ms, max {max(latencies) * 1000:.2f} ms")
    assert statistics.median(latencies) < 0.05
    unsubscribe()
    before = pokes.count
    new(other, "after")
    time.sleep(0.1)
    assert pokes.count == before  # unsubscribed


def test_owned_starts_and_plain_steps_do_not_notify(stores: Callable[..., PostgresStore]) -> None:
    listener, other = stores(), stores()
    pokes = Pokes()
    listener.subscribe(pokes)
    assert wait_for(lambda: listener.listening)
    time.sleep(0.05)
    before = pokes.count
    other.register_worker(WorkerInfo("w1", HOST, 1, T0, T0 + 60))
    other.create(NewWorkflow("a", "wf", "[]", T0, owner="w1"), started("wf"))
    other.commit([Write("a", 1, [step_event(2)])], T0)
    other.commit([Write("a", 1, [], status="COMPLETED", result="1", release=True)], T0)
    time.sleep(0.2)
    assert pokes.count == before


def test_listener_survives_connection_loss(stores: Callable[..., PostgresStore],
                                           pg_admin: Admin, app: str) -> None:
    listener, other = stores(), stores()
    pokes = Pokes()
    listener.subscribe(pokes)
    assert wait_for(lambda: listener.listening)
    pids = backends(pg_admin, f"{app} listen")
    assert pids
    t = time.perf_counter()
    pokes.event.clear()
    kill_backends(pg_admin, pids)
    # the callback runs after reconnecting, so the worker re-polls what it may have missed
    assert pokes.event.wait(5)
    assert wait_for(lambda: listener.listening)
    print(f"\nlistener reconnected in {(time.perf_counter() - t) * 1000:.0f} ms")
    pokes.expect(lambda: new(other, "after-reconnect"))


# --- liveness ------------------------------------------------------------------------------


def test_liveness_lock_proves_death_and_survives_a_lost_session(
        stores: Callable[..., PostgresStore], pg_admin: Admin, app: str) -> None:
    me, other = stores(), stores(application_name_suffix="other")
    me.register_worker(WorkerInfo("me", HOST, 1, T0, T0 + 60))
    info = WorkerInfo("other", HOST, 2, T0, T0 + 3600)
    other.register_worker(info)
    assert me.is_alive(info) is True
    # the other worker's session is cut (not the process): it is dead to everyone...
    kill_backends(pg_admin, backends(pg_admin, f"{app}other worker"))
    assert wait_for(lambda: me.is_alive(info) is False)  # the server ends it asynchronously
    # ...until it renews: its store reconnects and takes its lock again, here before anyone
    # reaped it; had it been reaped, renew says so and the worker registers again
    assert other.renew_worker("other", T0 + 3600)
    assert me.renew_worker("me", T0 + 60)
    assert me.is_alive(info) is True
    assert me.reap("me", T0) == 0


def test_liveness_is_unknown_for_a_lock_older_than_the_server(
        stores: Callable[..., PostgresStore], pg_admin: Admin, pg_schema: str) -> None:
    """After a server restart nobody's lock proves anything until it is taken again; a lease
    that ran out meanwhile counts only once the worker had a whole lease to renew."""
    t = lease_base("postgresql")  # the server's now: the server's start is judged against it
    me = stores()
    me.register_worker(WorkerInfo("me", HOST, 1, t, t + 60))
    pg_admin.execute(
        f'INSERT INTO "{pg_schema}".workers VALUES'
        " ('ghost', 'h', 1, %s, %s, %s, pg_postmaster_start_time() - interval '1 second')",
        (t, t + 10, 1e9))
    ghost = WorkerInfo("ghost", "h", 1, t, t + 10)
    assert me.is_alive(ghost) is None
    reaped: list[str] = []

    def reap(now: float) -> None:
        me.reap("me", now, on_reaped=lambda w: reaped.append(w.id))

    reap(t + 5)
    reap(t + 20)  # the lease ran out, but the server has not been up a whole lease
    assert reaped == []
    pg_admin.execute(f'UPDATE "{pg_schema}".workers SET lease_s = 1 WHERE id = %s', ("ghost",))
    reap(t + 20)
    assert reaped == ["ghost"] and [w.id for w in me.workers()] == ["me"]


# --- connection loss -----------------------------------------------------------------------


def test_a_lost_connection_raises_then_the_pool_recovers(
        stores: Callable[..., PostgresStore], pg_admin: Admin, app: str) -> None:
    store = stores(pool_size=3)
    new(store, "a")
    kill_backends(pg_admin, backends(pg_admin, app))
    failures = 0
    for _ in range(10):
        try:
            row = store.get("a")
            break
        except psycopg.OperationalError:
            failures += 1
    assert row is not None and failures <= 1


def test_a_commit_sent_again_after_a_lost_reply_is_harmless(
        stores: Callable[..., PostgresStore]) -> None:
    store = stores()
    new(store, "a")
    [c] = store.claim("w1", ["wf"], T0, 1)
    writes = [Write("a", c.row.epoch, [step_event(2)], status="WAITING", wake_at=T0 + 5,
                    release=True)]
    store.commit(writes, T0)
    assert store.commit(writes, T0).fenced == set()  # the retry: nothing new, no error
    assert [e.seq for e in store.journal("a")] == [1, 2]
    assert len(store.claim("w2", ["wf"], T0 + 5, 1)) == 1
    assert store.commit(writes, T0).fenced == {"a"}  # once someone else owns it: fenced


def test_a_claim_whose_reply_was_lost_is_handed_out_again(
        stores: Callable[..., PostgresStore]) -> None:
    store = stores()
    new(store, "a")
    new(store, "b")

    def lose_reply(point: str) -> None:
        store.fault = None
        raise psycopg.OperationalError(f"simulated: reply lost at {point}")

    store.fault = lose_reply
    with pytest.raises(psycopg.OperationalError):
        store.claim("w1", ["wf"], T0, 1)
    got = store.claim("w1", ["wf"], T0, 1)  # the lost one again, plus one new
    assert sorted(c.row.id for c in got) == ["a", "b"]
    assert all(c.journal for c in got)
    assert store.claim("w1", ["wf"], T0, 1) == []


# --- schemas, URLs, start-up errors ---------------------------------------------------------


def test_schemas_keep_deployments_apart(pg_admin: Admin) -> None:
    names = [f"legato_t{os.getpid()}_{time.monotonic_ns()}{i}" for i in range(2)]
    a = PostgresStore(pg_url(names[0]))
    b = PostgresStore(pg_url("ignored").split("?")[0] + f"?options=-csearch_path%3D{names[1]}")
    try:
        assert (a.schema, b.schema) == (names[0], names[1])
        new(a, "x")
        assert b.get("x") is None and a.get("x") is not None
        assert a.channel != b.channel
    finally:
        a.close()
        b.close()
        for n in names:
            pg_admin.execute(f'DROP SCHEMA IF EXISTS "{n}" CASCADE')


def test_unreachable_database_is_one_clear_error() -> None:
    url = "postgresql://legato:s3cret@127.0.0.1:1/nowhere?connect_timeout=2"
    with pytest.raises(ConfigError) as info:
        PostgresStore(url)
    msg = str(info.value)
    assert "postgresql://legato:***@127.0.0.1:1/nowhere" in msg
    assert "s3cret" not in msg and "refused" in msg.lower()


@pytest.mark.parametrize(("query", "what"), [
    ("schema=bad-name", "schema 'bad-name'"),
    ("pool_size=0", "pool_size='0'"),
    ("no_such_param=1", "invalid"),
])
def test_bad_url_options_are_config_errors(query: str, what: str) -> None:
    with pytest.raises(ConfigError, match=what):
        PostgresStore(f"postgresql://postgres@127.0.0.1/test?{query}")


def test_missing_database_names_the_url() -> None:
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1/no_such_db_legato.*does not exist"):
        PostgresStore("postgresql://postgres:pw@127.0.0.1/no_such_db_legato")


# --- migrations ----------------------------------------------------------------------------


def dump(admin: Admin, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything about a schema's tables that a migration can get wrong."""
    q = {
        "columns": "SELECT table_name, column_name, ordinal_position, data_type, is_nullable,"
                   " column_default, is_identity, identity_generation FROM"
                   " information_schema.columns WHERE table_schema = %s ORDER BY 1, 3",
        "indexes": "SELECT tablename, indexname, replace(indexdef, %s, 'S') FROM pg_indexes"
                   " WHERE schemaname = %s ORDER BY 1, 2",
        "constraints": "SELECT c.conrelid::regclass::text, c.conname, c.contype,"
                       " pg_get_constraintdef(c.oid) FROM pg_constraint c"
                       " JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %s"
                       " ORDER BY 2",
        "tables": "SELECT table_name, table_type FROM information_schema.tables"
                  " WHERE table_schema = %s ORDER BY 1",
    }
    out: dict[str, list[tuple[Any, ...]]] = {}
    for key, sql in q.items():
        params: tuple[str, ...] = (f'"{schema}".', schema) if key == "indexes" else (schema,)
        rows = admin.execute(sql, params).fetchall()
        out[key] = [tuple(str(v).replace(schema, "S") if isinstance(v, str) else v for v in r)
                    for r in rows]
    return out


def test_fresh_schema_equals_every_migration_applied_in_turn(pg_admin: Admin,
                                                             pg_schema: str) -> None:
    fresh, stepped = pg_schema, pg_schema + "_m"
    try:
        with psycopg.connect(pg_url(fresh).split("?")[0], autocommit=True) as conn:
            v1 = pg_schema_mod.migrate(conn, fresh, "t:" + fresh)
            steps = [n for n, _ in pg_schema_mod.migrations()]
            for n in steps:  # one release at a time, as an upgraded deployment lived it
                got = pg_schema_mod.migrate(conn, stepped, "t:" + stepped, target=n,
                                            use_fresh=False)
                assert got == n
        assert v1 == steps[-1] == pg_schema_mod.fresh_schema()[0]
        a, b = dump(pg_admin, fresh), dump(pg_admin, stepped)
        assert a["tables"] and a["indexes"] and a["constraints"]
        assert a == b
    finally:
        pg_admin.execute(f'DROP SCHEMA IF EXISTS "{stepped}" CASCADE')


def test_many_processes_migrating_at_once_agree(pg_schema: str, pg_admin: Admin) -> None:
    results: list[object] = []
    barrier = threading.Barrier(5)

    def start() -> None:
        barrier.wait()
        try:
            s = PostgresStore(pg_url(pg_schema))
            results.append(s.migrate())
            s.close()
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    latest = pg_schema_mod.latest_version()
    assert results == [latest] * 5
    assert pg_admin.execute(f'SELECT value FROM "{pg_schema}".legato_meta'
                            " WHERE key = 'schema_version'").fetchall() == [(str(latest),)]


def test_a_due_row_skipped_while_locked_is_offered_again(
        stores: Callable[..., PostgresStore], pg_admin: Admin, pg_schema: str) -> None:
    """Claiming skips rows another transaction holds (a delivery, say); SQLite would have
    waited. The store pokes its subscribers shortly after, so nothing waits for a clock."""
    store = stores()
    pokes = Pokes()
    store.subscribe(pokes)
    assert wait_for(lambda: store.listening)
    new(store, "a")
    time.sleep(0.05)
    with pg_admin.transaction():
        pg_admin.execute(f'SELECT 1 FROM "{pg_schema}".workflows WHERE id = %s FOR UPDATE',
                         ("a",))
        pokes.event.clear()
        assert store.claim("w1", ["wf"], T0, 5) == []
    assert pokes.event.wait(2), "no second look was asked for"
    assert [c.row.id for c in store.claim("w1", ["wf"], T0, 5)] == ["a"]
