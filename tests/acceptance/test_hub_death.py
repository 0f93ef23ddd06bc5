"""A worker whose hub dies of a defect (injected with ``LEGATO_FAULTS=hub_turn:N:raise``)
holds nothing: ``legato worker`` exits non-zero, and a worker process of
``Engine(processes=N)`` is replaced by a new one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.acceptance

LEGATO = str(Path(sys.executable).parent / "legato")

MODULE = '''
import legato

@legato.workflow(name="double")
def double(ctx: legato.WorkflowContext, n: int) -> int:
    return n * 2
'''

PROCESSES = '''
import os
import sys
import time

import legato
from app import double

if __name__ == "__main__":
    os.environ["LEGATO_FAULTS"] = "hub_turn:40:raise"  # the children's hubs die; ours is none
    with legato.Engine(sys.argv[1], processes=1) as engine:
        first = engine.worker_pids
        end = time.monotonic() + 120
        while time.monotonic() < end:
            pids = engine.worker_pids
            if pids and pids != first and all(pids):
                break
            time.sleep(0.05)
        print("replaced", first != engine.worker_pids, flush=True)
        os.environ.pop("LEGATO_FAULTS")
        print("result", engine.start(double, 21).result(timeout=120), flush=True)
'''


def test_legato_worker_exits_non_zero_when_its_hub_dies(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(MODULE)
    env = {**os.environ, "LEGATO_FAULTS": "hub_turn:20:raise"}
    done = subprocess.run([LEGATO, "worker", "app.py", "--db", f"sqlite:///{tmp_path}/w.db"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "stopped after an internal error (InjectedFault" in done.stderr
    assert "exiting 1 so that a supervisor restarts it" in done.stderr
    assert "Traceback" in done.stderr  # the defect is logged with its traceback


def test_a_worker_process_whose_hub_dies_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(MODULE)
    (tmp_path / "main.py").write_text(textwrap.dedent(PROCESSES))
    done = subprocess.run([sys.executable, "main.py", f"sqlite:///{tmp_path}/p.db"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "replaced True" in done.stdout, done.stderr
    assert "result 42" in done.stdout
