"""Pure rules: statuses, retry decisions, error codec, registry."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as hs

import legato
from legato.domain import status as st
from legato.domain.retry import RetryPolicy, decide
from legato.runtime import codec
from legato.runtime.registry import REGISTRY


def test_public_api_is_pinned() -> None:
    assert set(legato.__all__) >= {
        "Engine", "RetryPolicy", "WorkflowContext", "WorkflowFailed", "StepFailed",
        "NondeterminismError", "LegatoError", "step", "workflow", "step_key",
    }
    for name in legato.__all__:
        assert hasattr(legato, name), name


def test_terminal_statuses_never_change() -> None:
    for src in st.TERMINAL:
        for dst in st.ALL:
            assert not st.can_transition(src, dst)
    assert st.can_transition(st.PENDING, st.RUNNING)
    assert st.can_transition(st.RUNNING, st.WAITING)
    assert st.can_transition(st.WAITING, st.RUNNING)


def test_validate_status_names_the_choices() -> None:
    assert st.validate("failed") == "FAILED"
    with pytest.raises(ValueError, match="COMPLETED"):
        st.validate("done")


@given(attempt=hs.integers(min_value=1, max_value=50),
       initial=hs.floats(min_value=0.0, max_value=10.0),
       backoff=hs.floats(min_value=1.0, max_value=4.0),
       cap=hs.floats(min_value=0.0, max_value=100.0))
def test_delay_is_capped_and_jitter_stays_in_range(attempt: int, initial: float,
                                                   backoff: float, cap: float) -> None:
    p = RetryPolicy(max_attempts=100, initial_interval=initial, backoff=backoff,
                    max_interval=cap)
    exact = RetryPolicy(max_attempts=100, initial_interval=initial, backoff=backoff,
                        max_interval=cap, jitter=False).delay(attempt)
    assert exact <= cap + 1e-9
    d = p.delay(attempt, random.Random(attempt))
    assert exact / 2 - 1e-9 <= d <= exact + 1e-9


def test_delay_grows_exponentially_without_jitter() -> None:
    p = RetryPolicy(max_attempts=10, initial_interval=0.1, backoff=2.0, max_interval=10.0,
                    jitter=False)
    assert [p.delay(n) for n in (1, 2, 3, 4)] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert p.delay(20) == 10.0


@given(max_attempts=hs.integers(min_value=1, max_value=20),
       attempt=hs.integers(min_value=1, max_value=25))
def test_decide_retries_until_max_attempts(max_attempts: int, attempt: int) -> None:
    p = RetryPolicy(max_attempts=max_attempts, initial_interval=0.0)
    d = decide(p, attempt, RuntimeError("x"))
    assert d.retry is (attempt < max_attempts)


def test_non_retryable_errors_stop_at_once() -> None:
    p = RetryPolicy(max_attempts=5, non_retryable=(ValueError,))
    assert not decide(p, 1, ValueError("bad")).retry
    assert not decide(p, 1, None, error_type_names=("builtins.ValueError",)).retry
    assert decide(p, 1, KeyError("k")).retry


def test_retry_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(backoff=0.5)


class CustomError(Exception):
    pass


class NeedsTwoArgs(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")


def test_error_codec_rebuilds_original_types() -> None:
    err = codec.encode_error(KeyError("sku"))
    rebuilt = codec.rebuild_error(err)
    assert isinstance(rebuilt, KeyError) and rebuilt.args == ("sku",)
    rebuilt = codec.rebuild_error(codec.encode_error(CustomError("boom")))
    assert type(rebuilt) is CustomError and str(rebuilt) == "boom"
    rebuilt = codec.rebuild_error(codec.encode_error(NeedsTwoArgs(1, 2)))
    assert isinstance(rebuilt, NeedsTwoArgs)


def test_error_codec_falls_back_to_step_failed() -> None:
    rebuilt = codec.rebuild_error({"type": "nowhere.Missing", "message": "gone"})
    assert isinstance(rebuilt, legato.StepFailed)
    assert rebuilt.type_name == "nowhere.Missing" and rebuilt.message == "gone"


@dataclass
class Point:
    x: int
    y: int


def test_codec_round_trips_dataclasses() -> None:
    text = codec.dumps({"p": Point(1, 2)})
    assert codec.loads(text) == {"p": {"x": 1, "y": 2}}
    assert codec.adapt({"x": 1, "y": 2}, Point) == Point(1, 2)
    assert codec.adapt([{"x": 1, "y": 2}], list[Point]) == [Point(1, 2)]
    assert codec.adapt({"a": 1}, dict) == {"a": 1}


def test_codec_rejects_non_json_clearly() -> None:
    with pytest.raises(legato.InvalidInput, match="not JSON serialisable"):
        codec.dumps(object(), "workflow input")


def test_decorators_bare_and_called_and_default_names() -> None:
    @legato.step
    def a() -> int:
        return 1

    @legato.step(retry=RetryPolicy(max_attempts=2), timeout=3)
    def b() -> int:
        return 2

    assert a.__legato_step__.name.endswith("a")
    assert b.__legato_step__.timeout == 3.0
    assert b.__legato_step__.retry.max_attempts == 2

    @legato.workflow
    def wf_default_name(ctx: legato.WorkflowContext) -> None:
        return None

    name = wf_default_name.__legato_workflow__.name
    assert name == wf_default_name.__qualname__
    assert REGISTRY.get(name).fn is wf_default_name
    REGISTRY.remove(name)


def test_two_workflows_under_one_name_is_an_error() -> None:
    @legato.workflow(name="unit_dup_name")
    def one(ctx: legato.WorkflowContext) -> None:
        return None

    try:
        with pytest.raises(legato.RegistrationError, match="unit_dup_name"):
            @legato.workflow(name="unit_dup_name")
            def two(ctx: legato.WorkflowContext) -> None:
                return None
    finally:
        REGISTRY.remove("unit_dup_name")
