"""The ASL examples run as documented."""

from __future__ import annotations

import runpy
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from legato.runtime.registry import REGISTRY

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def _forget_registrations() -> Iterator[None]:
    before = set(REGISTRY.names())
    yield
    for name in set(REGISTRY.names()) - before:
        REGISTRY.remove(name)


@pytest.fixture
def run_example(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    """Run ``examples/<name>`` as a script in a temporary directory; return what it printed."""
    def run(name: str) -> str:
        monkeypatch.chdir(tmp_path)
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
        return capsys.readouterr().out
    return run


def test_approval_example(run_example: Callable[[str], str]) -> None:
    out = run_example("asl_approval.py")
    assert "in memory, 4000: SUCCEEDED {'id': 'e-4000', 'paid': False, 'why': " \
           "'Expense.Rejected'}" in out
    assert "durable, approved: {'id': 'e-1'" in out and "'approved_by': 'maria'" in out
    assert "durable, rejected: {'id': 'e-2', 'paid': False, 'why': 'Expense.Rejected'}" in out
    assert "durable, no answer: {'id': 'e-3', 'paid': False, 'why': 'States.Timeout'}" in out
    assert "a late answer is refused: TaskTimedOut" in out


def test_nested_example(run_example: Callable[[str], str]) -> None:
    out = run_example("asl_nested.py")
    assert "in memory: SUCCEEDED {'order': 7, 'seconds': 1200, 'ship': {'tracking': 'T-7'}," \
           " 'review': {'reviewed': True, 'by': 'ada'}}" in out
    assert "too slow:  SUCCEEDED shipment stopped after an hour | child: TIMED_OUT" in out
    assert "durable:   {'order': 9, 'seconds': 1200, 'ship': {'tracking': 'T-9'}, 'review':" \
           " {'reviewed': True, 'by': 'ada', 'order': 9}}" in out
