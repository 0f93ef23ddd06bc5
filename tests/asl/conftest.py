"""Prints the ASL conformance pass rate by folder at the end of a run that included it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

_outcomes: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "test_asl_conformance.py::test_case[" not in report.nodeid:
        return
    name = report.nodeid.split("test_case[", 1)[1][:-1]
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        _outcomes[name] = outcome


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _outcomes:
        return
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for name, outcome in _outcomes.items():
        folder = name.split("/", 1)[0]
        total[folder] += 1
        passed[folder] += outcome == "passed"
    write = terminalreporter.write_line
    terminalreporter.section("ASL conformance (cases recorded on AWS)")
    for folder in sorted(total):
        write(f"{folder:<22} {passed[folder]:>4}/{total[folder]:<4} "
              f"{100.0 * passed[folder] / total[folder]:6.1f}%")
    all_passed, all_total = sum(passed.values()), sum(total.values())
    write(f"{'overall':<22} {all_passed:>4}/{all_total:<4} "
          f"{100.0 * all_passed / all_total:6.1f}%")
