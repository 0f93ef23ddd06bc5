"""Every conformance case (recorded on real AWS) through ``asl.execute``.

Parametrised by case name. A case we cannot pass yet is xfail with its reason, never
deleted; the pass rate by folder is printed at the end of the run (see conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from asl_conformance_support import case_input, case_start, load_cases, verdict
from asl_lambdas import handlers_for

from legato import asl

#: their subject is calendar time: make test runs them again with the wall clock ahead
pytestmark = pytest.mark.wallclock

#: case name -> why it cannot pass yet
XFAIL: dict[str, str] = {}

#: case name -> why its recorded event trace cannot match yet
XFAIL_TRACE: dict[str, str] = {
    "scenarios/test_base_scenarios.py::TestBaseScenarios::test_parallel_state_nested"
    "::get_execution_history": "the recorded AWS history omits the inner Parallel state's "
                               "ParallelStateExited event, which legato records",
}

CASES = load_cases()


def _params() -> list[Any]:
    out = []
    for case in CASES:
        marks = []
        if case["name"] in XFAIL:
            marks.append(pytest.mark.xfail(reason=XFAIL[case["name"]], strict=True))
        out.append(pytest.param(case, id=case["name"], marks=marks))
    return out


def _run(case: dict[str, Any]) -> asl.ExecutionResult:
    return asl.execute(case["definition"], case_input(case),
                       handlers=handlers_for(case.get("lambda_functions")), seed=7,
                       start_time=case_start(case))


@pytest.mark.parametrize("case", _params())
def test_case(case: dict[str, Any]) -> None:
    result = _run(case)
    why = verdict(case, result.status, result.output, result.error)
    assert why is None, f"{why}\n  cause: {result.cause}"


def _trace_params() -> list[Any]:
    out = []
    for case in CASES:
        if not case.get("expected_events"):
            continue
        marks = []
        if case["name"] in XFAIL_TRACE:
            marks.append(pytest.mark.xfail(reason=XFAIL_TRACE[case["name"]], strict=True))
        out.append(pytest.param(case, id=case["name"], marks=marks))
    return out


@pytest.mark.parametrize("case", _trace_params())
def test_history_trace(case: dict[str, Any]) -> None:
    """The history names the same events, for the same states, as AWS recorded."""
    assert _run(case).trace() == case["expected_events"]
