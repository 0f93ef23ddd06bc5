"""The ASL examples run as documented."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
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


def test_approval_example(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLES / "asl_approval.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "in memory, 4000: SUCCEEDED {'id': 'e-4000', 'paid': False, 'why': " \
           "'Expense.Rejected'}" in out
    assert "durable, approved: {'id': 'e-1'" in out and "'approved_by': 'maria'" in out
    assert "durable, rejected: {'id': 'e-2', 'paid': False, 'why': 'Expense.Rejected'}" in out
    assert "durable, no answer: {'id': 'e-3', 'paid': False, 'why': 'States.Timeout'}" in out
    assert "a late answer is refused: TaskTimedOut" in out


def test_nested_example(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLES / "asl_nested.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "in memory: SUCCEEDED {'order': 7, 'seconds': 1200, 'ship': {'tracking': 'T-7'}," \
           " 'review': {'reviewed': True, 'by': 'ada'}}" in out
    assert "too slow:  SUCCEEDED shipment stopped after an hour | child: TIMED_OUT" in out
    assert "durable:   {'order': 9, 'seconds': 1200, 'ship': {'tracking': 'T-9'}, 'review':" \
           " {'reviewed': True, 'by': 'ada', 'order': 9}}" in out
