"""Every Python example in examples/ runs to the end as its docstring says (real processes,
each on its own temporary SQLite file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = ["order_fulfilment", "document_approval", "travel_booking", "refund_approval",
           "payment_webhook", "nightly_batch", "onboarding", "worker_processes"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs(name: str) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip(), "the example printed nothing"
    assert "Traceback" not in done.stderr


def test_the_nightly_batch_is_idempotent() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / "nightly_batch.py")],
                          capture_output=True, text=True, timeout=120)
    assert "runs recorded: 2000" in done.stdout
