"""The changes feed's rules (legato.domain.changes), on rows as a store reads them: what a
reader is told, and that a change committed late is not missed, whatever order commits come
in (hypothesis plays readers against random commit orders)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import legato
from legato.domain import changes as feed
from legato.domain.changes import Change, Position

T = 1_800_000_000.0


class Table:
    """Runs as the store holds them: id -> (name, status, key, updated_at)."""

    def __init__(self) -> None:
        self.rows: dict[str, Change] = {}

    def write(self, wid: str, status: str, at: float) -> None:
        self.rows[wid] = (wid, "wf", status, None, at)

    def from_floor(self, floor: tuple[float, str] | None, limit: int) -> list[Change]:
        rows = sorted(self.rows.values(), key=lambda c: (c[4], c[0]))
        if floor is not None:
            rows = [c for c in rows if (c[4], c[0]) >= floor]
        return rows[:limit]

    def latest(self, limit: int) -> list[Change]:
        return sorted(self.rows.values(), key=lambda c: (c[4], c[0]), reverse=True)[:limit]


def read(table: Table, pos: Position, limit: int = 100) -> tuple[list[Change], Position]:
    size = feed.read_size(pos, limit)
    found, nxt = feed.advance(pos, table.from_floor(pos.floor, size), limit, size)
    return found, Position.decode(nxt.encode())  # as a reader passes it back


def test_from_now_reports_nothing_before_then_each_change_once() -> None:
    table = Table()
    table.write("old", "PENDING", T)
    pos = feed.start(table.latest(feed.KEPT))
    assert read(table, pos)[0] == []
    table.write("a", "PENDING", T + 1)
    table.write("old", "RUNNING", T + 2)
    found, pos = read(table, pos)
    assert [(c[0], c[2]) for c in found] == [("a", "PENDING"), ("old", "RUNNING")]
    assert read(table, pos)[0] == []


def test_a_late_commit_inside_the_window_is_reported_one_outside_is_not() -> None:
    table = Table()
    pos = feed.start([])
    table.write("now", "PENDING", T + 10)
    found, pos = read(table, pos)
    assert [c[0] for c in found] == ["now"]
    table.write("late", "PENDING", T + 10 - feed.OVERLAP + 0.5)  # its clock was behind
    table.write("too-late", "PENDING", T + 10 - feed.OVERLAP - 0.5)
    found, pos = read(table, pos)
    assert [c[0] for c in found] == ["late"]


def test_a_status_change_at_the_same_instant_is_a_change() -> None:
    table = Table()
    pos = feed.start([])
    table.write("a", "RUNNING", T)
    found, pos = read(table, pos)
    table.write("a", "WAITING", T)  # a frozen clock: same time, new status
    found, pos = read(table, pos)
    assert [(c[0], c[2]) for c in found] == [("a", "WAITING")]
    assert read(table, pos)[0] == []


def test_many_changes_at_one_instant_come_in_pages_each_once() -> None:
    table = Table()
    pos = feed.start([])
    for i in range(3 * feed.KEPT + 7):
        table.write(f"w{i:04}", "PENDING", T)
    got: list[str] = []
    for _ in range(100):
        found, pos = read(table, pos, limit=37)
        if not found:
            break
        got += [c[0] for c in found]
    assert got == sorted(got) and len(got) == len(set(got)) == 3 * feed.KEPT + 7
    assert len(pos.encode()) < 2000  # fits a URL


@settings(max_examples=200, deadline=None)
@given(hs.lists(hs.tuples(hs.integers(0, 30), hs.sampled_from(["PENDING", "RUNNING", "DONE"]),
                          hs.floats(0, feed.OVERLAP * 0.9), hs.integers(1, 4)),
                min_size=1, max_size=60),
       hs.integers(1, 9))
def test_no_change_is_missed_whatever_the_commit_order(writes: list, limit: int) -> None:
    """Each write commits at a time of its own but is stamped up to 90% of the window
    earlier (a slow clock, a commit that waited); a reader polls between commits. Every
    (run, status, time) left in the table is reported at some point."""
    table = Table()
    pos = feed.start([])
    clock = T
    reported: set[tuple[str, str, float]] = set()
    for wid, status, behind, polls in writes:
        clock += 1.0
        table.write(f"r{wid}", status, clock - behind)
        for _ in range(polls):
            found, pos = read(table, pos, limit)
            reported |= {(c[0], c[2], c[4]) for c in found}
    for _ in range(200):
        found, pos = read(table, pos, limit)
        if not found:
            break
        reported |= {(c[0], c[2], c[4]) for c in found}
    final = {(c[0], c[2], c[4]) for c in table.rows.values()}
    assert final <= reported


@pytest.mark.parametrize("bad", ["", "nope", "!!!!", "e30", 7, None, "A" * 5000])
def test_a_bad_position_is_invalid_input(bad: object) -> None:
    with pytest.raises(legato.InvalidInput, match="after"):
        Position.decode(bad)


@settings(max_examples=200, deadline=None)
@given(hs.lists(hs.tuples(hs.integers(0, 30), hs.sampled_from(["PENDING", "RUNNING", "DONE"]),
                          hs.sampled_from([1e-6, 0.001, 0.5]), hs.integers(0, 3)),
                min_size=1, max_size=80),
       hs.integers(1, 5), hs.integers(1, 6))
def test_a_small_memory_still_reports_every_change_made_in_order(
        writes: list, limit: int, kept: int) -> None:
    """With room for only a few remembered changes (the window then starts at the oldest
    one remembered, exactly), a reader still gets every change committed in time order,
    and makes progress. (At one frozen instant, a change of a run whose id sorts before
    the window's start is what such a small memory cannot see: docs/runs.md.)"""
    old = feed.KEPT
    feed.KEPT = kept
    try:
        table = Table()
        pos = feed.start([])
        clock = T
        reported: set[tuple[str, str, float]] = set()
        for wid, status, step, polls in writes:
            clock += step
            table.write(f"r{wid}", status, clock)
            for _ in range(polls):
                found, pos = read(table, pos, limit)
                reported |= {(c[0], c[2], c[4]) for c in found}
        for _ in range(500):
            found, pos = read(table, pos, limit)
            if not found:
                break
            reported |= {(c[0], c[2], c[4]) for c in found}
        else:
            raise AssertionError("the reader never caught up")
        assert {(c[0], c[2], c[4]) for c in table.rows.values()} <= reported
    finally:
        feed.KEPT = old
