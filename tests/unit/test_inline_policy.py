"""The rules that move a step between the step pool and the hub's thread (worker/inline.py)."""

from __future__ import annotations

import gc

import legato
from legato.runtime.registry import StepDef
from legato.worker.inline import COLLECTIONS, FIRST_STREAK, MAX_STREAK, QUICK, InlinePolicy

FAST, SLOW = QUICK / 10, QUICK * 10


def _sdef(**options: object) -> StepDef:
    def f() -> None: ...

    return legato.step(**options)(f).__legato_step__  # type: ignore[call-overload, no-any-return]


def _promote(policy: InlinePolicy, sdef: StepDef, runs: int) -> None:
    for _ in range(runs):
        policy.ran_in_pool(sdef, FAST)


def test_promoted_after_a_streak_of_quick_pool_runs() -> None:
    policy, sdef = InlinePolicy(), _sdef()
    _promote(policy, sdef, FIRST_STREAK - 1)
    assert not policy.runs_inline(sdef)
    policy.ran_in_pool(sdef, SLOW)  # a slow run breaks the streak
    _promote(policy, sdef, FIRST_STREAK - 1)
    assert not policy.runs_inline(sdef)
    _promote(policy, sdef, 1)
    assert policy.runs_inline(sdef)


def test_a_slow_inline_run_demotes_and_doubles_the_streak_needed() -> None:
    policy, sdef = InlinePolicy(), _sdef()
    _promote(policy, sdef, FIRST_STREAK)
    policy.ran_inline(sdef, FAST, COLLECTIONS.runs)
    assert policy.runs_inline(sdef)
    policy.ran_inline(sdef, SLOW, COLLECTIONS.runs)
    assert not policy.runs_inline(sdef)
    _promote(policy, sdef, 2 * FIRST_STREAK - 1)
    assert not policy.runs_inline(sdef)
    _promote(policy, sdef, 1)
    assert policy.runs_inline(sdef)
    for _ in range(40):  # demoted again and again: the streak needed stops growing
        policy.ran_inline(sdef, SLOW, COLLECTIONS.runs)
        sdef.promoted = True
    assert sdef.quick_needed == MAX_STREAK


def test_a_run_slowed_by_a_garbage_collection_is_not_held_against_the_step() -> None:
    policy, sdef = InlinePolicy(), _sdef()
    _promote(policy, sdef, FIRST_STREAK)
    before = COLLECTIONS.runs
    gc.collect()
    assert COLLECTIONS.runs > before  # the policy counts collections
    policy.ran_inline(sdef, SLOW, before)
    assert policy.runs_inline(sdef)


def test_declared_steps_refusals_and_a_disabled_policy() -> None:
    policy = InlinePolicy()
    always, never = _sdef(inline=True), _sdef(inline=False)
    assert policy.runs_inline(always) and not policy.runs_inline(never)
    policy.ran_inline(always, SLOW, COLLECTIONS.runs)  # declared: never demoted
    _promote(policy, never, 100)
    assert policy.runs_inline(always) and not policy.runs_inline(never)
    assert not InlinePolicy(enabled=False).runs_inline(always)
    policy.refused(always)  # it waited on legato on the hub's thread: the pool from now on
    assert not policy.runs_inline(always)
    adaptive = _sdef()
    _promote(policy, adaptive, FIRST_STREAK)
    policy.refused(adaptive)
    _promote(policy, adaptive, 100)
    assert not policy.runs_inline(adaptive)


def test_watched_steps_are_marked() -> None:
    assert _sdef(timeout=1.0).watched and _sdef(heartbeat_timeout=1.0).watched
    assert not _sdef().watched
