"""The input contract under arbitrary values (hypothesis): every call of the public start,
publish, signal and schedule-create APIs either succeeds with the same result on SQLite and
PostgreSQL, or raises the same ``legato.LegatoError`` on both — never another exception
type — and a refused call writes nothing.

Each example runs against both stores in the same test: a fresh SQLite file and a fresh
PostgreSQL schema per test function, both driven by client engines (never launched) on one
virtual clock, so both stores see the same calls in the same order and stay alike."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import legato
from legato.store.postgres.conninfo import parse
from legato.testing import VirtualClock

pytestmark = [
    pytest.mark.postgres,
    # the stores' own code (retry jitter, temporary names) uses ``random`` between draws
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

TABLES = ("workflows", "journal", "events", "signals", "schedules", "queues")
EXAMPLES = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

# --- strategies -------------------------------------------------------------------------

_odd_chars = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
    st.sampled_from("\x00\x1b\n\t\x7f\x9b\u202e"),
)
texts = st.one_of(
    st.text(_odd_chars, max_size=12),
    st.text(st.characters(codec="ascii"), min_size=250, max_size=260),  # around the limit
    st.sampled_from(["", "ok", "o-1", "x" * 255, "x" * 256, "a\x00b", "\ud800", "\n",
                     "esc\x1b[2J"]),
)
#: what users pass where an id, name or key belongs
ids = st.one_of(texts, st.integers(), st.none(), st.booleans(), st.floats())
numbers = st.one_of(
    st.integers(), st.floats(), st.booleans(), st.none(), st.text(max_size=3),
    st.sampled_from([2**31 - 1, -(2**31), 2**31, 2**70, math.nan, math.inf, -math.inf, 0, 1,
                     3600]),
    st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=400)),
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                     st.text(_odd_chars, max_size=8), st.binary(max_size=4))
json_ish = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(_odd_chars, max_size=6), inner, max_size=4),
        st.tuples(inner, inner),
        st.frozensets(st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
        st.sets(st.integers(), max_size=3),
    ),
    max_leaves=12,
)

# --- both stores, side by side ------------------------------------------------------


@dataclass
class Side:
    engine: legato.Engine
    count: Callable[[], dict[str, int]]


@pytest.fixture
def sides(tmp_path: Path, pg_db_url: str,
          unique_name: Callable[[str], str]) -> Iterator[tuple[Side, Side, Any, str]]:
    """A client engine on a fresh SQLite file and one on a fresh PostgreSQL schema (one
    virtual clock), a workflow registered for them, and a declared queue."""
    clock = VirtualClock(start=1_800_000_000.0)
    lite_path = tmp_path / "legato.db"
    lite = legato.Engine(f"sqlite:///{lite_path}", clock=clock)
    pg = legato.Engine(pg_db_url, clock=clock)
    settings_ = parse(pg_db_url)
    conn = psycopg.connect(settings_.conninfo, autocommit=True)

    def count_lite() -> dict[str, int]:
        with sqlite3.connect(lite_path) as c:
            return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}

    def count_pg() -> dict[str, int]:
        out = {}
        for t in TABLES:
            got = conn.execute(f"SELECT count(*) FROM {settings_.quoted_schema}.{t}").fetchone()
            out[t] = int(got[0]) if got else 0
        return out

    @legato.workflow(name=unique_name("prop"))
    def prop(ctx: legato.WorkflowContext, *args: Any) -> list[Any]:
        return list(args)

    queue = unique_name("prop_q")
    legato.Queue(queue, concurrency=5)
    try:
        yield Side(lite, count_lite), Side(pg, count_pg), prop, queue
    finally:
        conn.close()
        lite.shutdown(grace=0)
        pg.shutdown(grace=0)


def same_on_both(a: Side, b: Side, call: Callable[[legato.Engine], Any],
                 view: Callable[[Any], Any] = lambda r: r) -> None:
    """Run ``call`` on both stores: the same result (as ``view`` sees it), or the same
    LegatoError on both and nothing written."""
    outcomes = []
    for side in (a, b):
        before = side.count()
        try:
            outcomes.append(("ok", view(call(side.engine))))
        except legato.LegatoError as exc:
            assert side.count() == before, f"{exc!r} left rows behind"
            outcomes.append((type(exc).__name__, str(exc)))
        except Exception as exc:  # never a raw library error
            raise AssertionError(f"{type(exc).__name__} escaped: {exc}") from exc
    assert outcomes[0] == outcomes[1]


def _described(handle: legato.WorkflowHandle, generated: bool) -> dict[str, Any]:
    d = handle.describe()
    if generated:  # a random id, different on each store
        d.pop("workflow_id")
    return d


# --- the properties -----------------------------------------------------------------------


@EXAMPLES
@given(data=st.data())
def test_start_is_the_same_on_both_stores(sides: tuple[Side, Side, Any, str],
                                          data: st.DataObject) -> None:
    lite, pg, prop, queue = sides
    workflow = data.draw(st.one_of(st.just(prop), st.just(prop.__legato_workflow__.name),
                                   ids), "workflow")
    args = data.draw(st.lists(json_ish, max_size=3), "args")
    options = data.draw(st.fixed_dictionaries({}, optional={
        "workflow_id": ids, "deadline": numbers, "priority": numbers,
        "queue": st.one_of(st.just(queue), ids), "queue_key": ids}), "options")
    generated = options.get("workflow_id") is None
    same_on_both(lite, pg, lambda e: e.start(workflow, *args, **options),
                 lambda h: _described(h, generated))


@EXAMPLES
@given(data=st.data())
def test_start_many_is_the_same_on_both_stores(sides: tuple[Side, Side, Any, str],
                                               data: st.DataObject) -> None:
    lite, pg, prop, _ = sides
    inputs = data.draw(st.lists(st.lists(json_ish, max_size=2), max_size=3), "inputs")
    workflow_ids = data.draw(st.one_of(st.none(), st.lists(ids, min_size=len(inputs),
                                                           max_size=len(inputs))), "ids")
    given_ids = workflow_ids or [None] * len(inputs)
    same_on_both(lite, pg, lambda e: e.start_many(prop, inputs, workflow_ids=workflow_ids),
                 lambda hs: [_described(h, wid is None)
                             for h, wid in zip(hs, given_ids, strict=True)])


@EXAMPLES
@given(data=st.data())
def test_publish_is_the_same_on_both_stores(sides: tuple[Side, Side, Any, str],
                                            data: st.DataObject) -> None:
    lite, pg, _, _ = sides
    event_type = data.draw(st.one_of(st.just("paid"), ids), "event_type")
    options = data.draw(st.fixed_dictionaries({}, optional={
        "key": ids, "data": json_ish, "event_id": ids, "ttl": numbers}), "options")
    generated = options.get("event_id") is None
    same_on_both(lite, pg, lambda e: e.publish(event_type, **options),
                 lambda r: (None if generated else r.event_id, r.delivered_to, r.buffered,
                            r.duplicate))


@EXAMPLES
@given(data=st.data())
def test_signal_is_the_same_on_both_stores(sides: tuple[Side, Side, Any, str],
                                           data: st.DataObject) -> None:
    lite, pg, prop, _ = sides
    for side in (lite, pg):
        side.engine.start(prop, workflow_id="live")
        ended = side.engine.start(prop, workflow_id="ended")
        if ended.status != "CANCELLED":
            side.engine.terminate("ended", "over")
    target = data.draw(st.one_of(st.sampled_from(["live", "ended", "missing"]), ids), "to")
    name = data.draw(st.one_of(st.just("approve"), ids), "name")
    payload = data.draw(st.one_of(st.none(), json_ish), "data")
    same_on_both(lite, pg, lambda e: e.signal(target, name, payload))


@EXAMPLES
@given(data=st.data())
def test_schedule_create_is_the_same_on_both_stores(sides: tuple[Side, Side, Any, str],
                                                    data: st.DataObject) -> None:
    lite, pg, prop, _ = sides
    name = data.draw(st.one_of(st.sampled_from(["nightly", "weekly"]), ids), "name")
    workflow = data.draw(st.one_of(st.just(prop), ids), "workflow")
    cron = data.draw(st.one_of(st.sampled_from(
        ["0 9 * * *", "*/5 * * * *", "0 0 29 2 *", "0 0 31 2 *", "0 0 30 2 *", "nope", "",
         "0 9 * * MON-FRI", "0 9 * * *\n"]), ids), "cron")
    options = data.draw(st.fixed_dictionaries({}, optional={
        "timezone": st.one_of(st.sampled_from(["UTC", "Europe/Paris", "Mars/Olympus", ""]),
                              ids),
        "catch_up": st.one_of(st.sampled_from(["once", "skip", "all", "never"]), ids),
        "args": st.one_of(st.lists(json_ish, max_size=3), json_ish)}), "options")
    same_on_both(lite, pg, lambda e: e.schedules.create(name, workflow, cron, **options))
