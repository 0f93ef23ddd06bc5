"""Loading and judging the conformance cases (README.md beside cases.jsonl)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).parent / "conformance" / "cases.jsonl"

#: scalars recorded with an environment value replaced by a placeholder word
PLACEHOLDER_WORDS = frozenset({
    "date", "timestamp", "RandomNumberGenerated", "x-amzn-RequestId", "X-Amzn-Trace-Id",
    "RequestId", "snf_role_arn", "111111111111",
})
_TOKEN = re.compile(r"<[A-Za-z_][^<>]*>|111111111111")


@cache
def load_cases() -> list[dict[str, Any]]:
    with CASES_FILE.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def folder(name: str) -> str:
    return name.split("/", 1)[0]


def case_input(case: dict[str, Any]) -> Any:
    text = case.get("input_json")
    return {} if text is None else json.loads(text)


def case_start(case: dict[str, Any]) -> datetime | None:
    """The instant the case's execution starts (its ``start_time``), else None: now."""
    text = case.get("start_time")
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _scalar_wildcard(expected: str, actual: Any) -> bool | None:
    """True/False when ``expected`` holds placeholders; None when it is a plain string."""
    if expected in PLACEHOLDER_WORDS:
        return True
    if not _TOKEN.search(expected):
        return None
    if not isinstance(actual, str):
        return False
    parts = _TOKEN.split(expected)
    pattern = ".*?".join(re.escape(p) for p in parts)
    return re.fullmatch(pattern, actual, flags=re.S) is not None


def json_match(expected: Any, actual: Any, *, exact: bool) -> bool:
    """Deep JSON equality (numbers by value, booleans never numbers); with ``exact=False``
    each placeholder in ``expected`` is a wildcard."""
    if not exact and isinstance(expected, str):
        verdict = _scalar_wildcard(expected, actual)
        if verdict is not None:
            return verdict
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return bool(expected == actual)
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and expected.keys() == actual.keys()
                and all(json_match(v, actual[k], exact=exact) for k, v in expected.items()))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(json_match(e, a, exact=exact)
                        for e, a in zip(expected, actual, strict=True)))
    return type(expected) is type(actual) and bool(expected == actual)


def verdict(case: dict[str, Any], status: str, output: Any, error: str | None) -> str | None:
    """``None`` when the run passes the case, else why not."""
    exact = bool(case.get("exact", True))
    if "expected_output" in case:
        if status != "SUCCEEDED":
            return f"expected SUCCEEDED, got {status} ({error})"
        if not json_match(case["expected_output"], output, exact=exact):
            return (f"output differs:\n  expected {json.dumps(case['expected_output'])[:600]}"
                    f"\n  actual   {json.dumps(output)[:600]}")
        return None
    expected = case["expected_error"]
    if status != "FAILED":
        return f"expected FAILED with {expected.get('error')}, got {status}"
    if expected.get("error") != error:
        return f"expected error {expected.get('error')!r}, got {error!r}"
    return None
