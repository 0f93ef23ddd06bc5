"""Quick steps run on the worker's own thread (legato.worker.inline): when, and when not.
(kills at fault points around inline steps: tests/acceptance/test_kill9_fault_points.py)

Where a step ran is seen from inside it: the hub's thread is named ``legato-hub``, the step
pool's threads ``legato-step``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import legato
from legato.worker.inline import FIRST_STREAK

Make = Callable[..., legato.Engine]
HUB, POOL = "legato-hub", "legato-step"
#: what counts as quick in these tests: far above what a trivial step takes on a loaded
#: machine (0.1 ms by default), far below the slow step's sleep
QUICK = 0.05
SLOW = 0.25


@pytest.fixture(autouse=True)
def _wide_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    import legato.worker.inline

    monkeypatch.setattr(legato.worker.inline, "QUICK", QUICK)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Callable[..., legato.Engine]:
    engines: list[legato.Engine] = []

    def make(**kwargs: object) -> legato.Engine:
        e = legato.Engine(f"sqlite:///{tmp_path / 'inline.db'}", **kwargs)  # type: ignore[arg-type]
        engines.append(e.launch())
        return e

    yield make  # type: ignore[misc]
    for e in engines:
        e.shutdown(grace=1.0)


def _where_steps_ran(engine: legato.Engine, unique_name: Callable[[str], str], steps: int,
                     slow_at: int | None = None, **step_options: object) -> list[str]:
    """Runs one workflow of ``steps`` steps (one by one); the thread names they ran on."""
    threads: list[str] = []

    @legato.step(**step_options)  # type: ignore[call-overload]
    def note(i: int) -> int:
        threads.append(threading.current_thread().name)
        if i == slow_at:
            time.sleep(SLOW)  # blocks: not quick
        return i

    @legato.workflow(name=unique_name("where"))
    def where(ctx: legato.WorkflowContext) -> int:
        return sum(note(i) for i in range(steps))

    assert engine.start(where).result(timeout=20) == sum(range(steps))
    return threads


def test_a_quick_step_moves_to_the_hub_after_a_streak(sqlite_engine: Make,
                                                       unique_name) -> None:
    threads = _where_steps_ran(sqlite_engine(), unique_name, FIRST_STREAK + 6)
    assert threads[:FIRST_STREAK] == [POOL] * FIRST_STREAK
    assert threads[FIRST_STREAK:] == [HUB] * 6


def test_a_slow_inline_run_sends_the_step_back_to_the_pool(sqlite_engine: Make,
                                                           unique_name) -> None:
    slow = FIRST_STREAK + 2
    threads = _where_steps_ran(sqlite_engine(), unique_name, slow + 2 * FIRST_STREAK + 4,
                               slow_at=slow)
    assert threads[FIRST_STREAK:slow + 1] == [HUB] * 3  # the slow run itself was inline
    # back in the pool; twice the streak is needed to come back
    back = slow + 1 + 2 * FIRST_STREAK
    assert threads[slow + 1:back] == [POOL] * (2 * FIRST_STREAK)
    assert threads[back:] == [HUB] * 3


def test_inline_false_never_and_inline_true_always(sqlite_engine: Make, unique_name) -> None:
    engine = sqlite_engine()
    assert set(_where_steps_ran(engine, unique_name, 20, inline=False)) == {POOL}
    assert set(_where_steps_ran(engine, unique_name, 5, inline=True)) == {HUB}


def test_an_engine_can_turn_inline_steps_off(sqlite_engine: Make, unique_name) -> None:
    engine = sqlite_engine(inline_steps=False)
    assert set(_where_steps_ran(engine, unique_name, 20)) == {POOL}
    assert set(_where_steps_ran(engine, unique_name, 5, inline=True)) == {POOL}


def test_sync_steps_of_an_async_workflow_run_in_the_pool(sqlite_engine: Make,
                                                        unique_name) -> None:
    threads: list[str] = []

    @legato.step(inline=True)
    def note() -> None:
        threads.append(threading.current_thread().name)

    @legato.workflow(name=unique_name("async_where"))
    async def where(ctx: legato.WorkflowContext) -> None:
        for _ in range(3):
            await note()

    sqlite_engine().start(where).result(timeout=20)
    assert threads == [POOL] * 3


def test_watched_steps_never_run_on_the_hub(sqlite_engine: Make, unique_name) -> None:
    engine = sqlite_engine()
    assert set(_where_steps_ran(engine, unique_name, 20, timeout=5.0)) == {POOL}
    assert set(_where_steps_ran(engine, unique_name, 20, heartbeat_timeout=5.0)) == {POOL}


def test_inline_true_with_a_timeout_is_refused_at_registration() -> None:
    def f() -> None: ...

    with pytest.raises(legato.RegistrationError, match="inline=True"):
        legato.step(inline=True, timeout=1.0)(f)
    with pytest.raises(legato.RegistrationError, match="inline=True"):
        legato.step(inline=True)(_async_step)
    with pytest.raises(legato.RegistrationError, match="True, False or None"):
        legato.step(inline="yes")(f)  # type: ignore[call-overload]


async def _async_step() -> None: ...


def test_an_inline_step_that_waits_for_another_run_is_moved_to_the_pool(
        make_engine: Make, unique_name) -> None:
    """Waiting on the hub's own thread for a run that the same hub must execute would never
    end: the attempt is abandoned at the wait and runs again in the pool."""
    engine = make_engine().launch()
    attempts: list[str] = []

    @legato.workflow(name=unique_name("child"))
    def child(ctx: legato.WorkflowContext, n: int) -> int:
        return n * 2

    @legato.step(inline=True)
    def start_and_wait(n: int) -> int:
        attempts.append(threading.current_thread().name)
        return engine.start(child, n, workflow_id=f"{legato.step_key()}-child").result(
            timeout=20)

    @legato.workflow(name=unique_name("parent"))
    def parent(ctx: legato.WorkflowContext, n: int) -> int:
        return start_and_wait(n) + start_and_wait(n + 1)

    assert engine.start(parent, 5).result(timeout=30) == 22
    # the first attempt began on the hub and was moved; the step then stays in the pool
    assert attempts == [HUB, POOL, POOL]
    assert start_and_wait.__legato_step__.never_inline



def test_a_step_blocking_the_hub_is_reported(sqlite_engine: Make, unique_name,
                                             caplog: pytest.LogCaptureFixture) -> None:
    engine = sqlite_engine(lease=0.6)  # heartbeats every 0.2 s
    with caplog.at_level("WARNING", logger="legato.worker"):
        @legato.step(inline=True)
        def stuck() -> str:
            time.sleep(1.5)
            return threading.current_thread().name

        @legato.workflow(name=unique_name("stuck"))
        def wf(ctx: legato.WorkflowContext) -> str:
            return stuck()

        assert engine.start(wf).result(timeout=20) == HUB
    warnings = [r.getMessage() for r in caplog.records if "own thread" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "'" + stuck.__legato_step__.name + "'" in warnings[0]
    assert "inline=False" in warnings[0]
