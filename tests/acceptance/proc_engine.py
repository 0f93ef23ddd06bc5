"""A user's script with ``Engine(processes=N)``: its workflows live in ``__main__``, so the
worker processes get them by importing this file again (under ``__mp_main__``).

    python proc_engine.py MODE DB_URL [ARGS...]

Modes (each prints one JSON line per report to stdout):

* ``run N P``   start N three-step workflows one by one on an engine with P processes; report
  the parent's pid, the worker pids, and the pid every step ran in.
* ``hold N P``  start N slow workflows (10 steps of 0.15 s; every execution appended to the
  file ``$LEGATO_PROC_EFFECTS`` as ``<wid> <step> <pid>``), report ``started`` with the
  worker pids, then wait for all and report the results and the worker pids at the end.
* ``cancel P``  start a long workflow, cancel it once two steps ran; report its status.
* ``full N``    N slow two-step workflows on one worker process that runs one at a time
  (``concurrency=1``): each one handed over while it is busy is given back, and claimed
  when it has room again; report the results.
* ``finish``    launch an in-process engine on the file and wait for every workflow.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import legato

STEPS = 10


def say(**report: Any) -> None:
    print(json.dumps(report), flush=True)


@legato.step(name="proc_where")
def where(i: int) -> dict[str, int]:
    return {"i": i + 1, "pid": os.getpid()}


@legato.workflow(name="proc_three")
def three(ctx: legato.WorkflowContext, n: int) -> dict[str, Any]:
    pids = []
    for i in range(3):
        out = where(i)
        pids.append(out["pid"])
    return {"n": n, "pids": pids}


@legato.step(name="proc_slow")
def slow(wid: str, i: int) -> int:
    with open(os.environ["LEGATO_PROC_EFFECTS"], "a") as f:
        f.write(f"{wid} {i} {os.getpid()}\n")
    time.sleep(0.15)
    return i


@legato.workflow(name="proc_slow_chain")
def slow_chain(ctx: legato.WorkflowContext, steps: int) -> int:
    total = 0
    for i in range(steps):
        total += slow(ctx.workflow_id, i)
    return total


def main() -> None:
    mode, url, *rest = sys.argv[1:]
    if mode == "run":
        n, p = int(rest[0]), int(rest[1])
        with legato.Engine(url, processes=p) as engine:
            handles = [engine.start(three, i) for i in range(n)]
            results = [h.result(timeout=60) for h in handles]
            # each run's result comes up its worker process's pipe just after its commit: a
            # result() may read it from the store first; all of them arrive soon after
            end = time.monotonic() + 10
            while time.monotonic() < end and any(h._result is None for h in handles):
                time.sleep(0.01)
            say(parent=os.getpid(), workers=engine.worker_pids,
                ok=all(r["n"] == i for i, r in enumerate(results)),
                # results the worker processes handed over with the end of the run
                handed=sum(h._result is not None for h in handles),
                step_pids=sorted({pid for r in results for pid in r["pids"]}))
    elif mode == "hold":
        n, p = int(rest[0]), int(rest[1])
        with legato.Engine(url, processes=p) as engine:
            handles = [engine.start(slow_chain, STEPS, workflow_id=f"hold-{i}")
                       for i in range(n)]
            say(started=True, parent=os.getpid(), workers=engine.worker_pids)
            results = [h.result(timeout=120) for h in handles]
            say(done=True, results=results, workers=engine.worker_pids)
    elif mode == "cancel":
        p = int(rest[0])
        with legato.Engine(url, processes=p) as engine:
            h = engine.start(slow_chain, 200, workflow_id="to-cancel")
            while sum(1 for e in h.history() if e["type"] == "StepCompleted") < 2:
                time.sleep(0.02)
            t0 = time.monotonic()
            h.cancel()
            try:
                h.result(timeout=30)
                say(status=h.status)
            except legato.WorkflowFailed as exc:
                say(status=exc.status, seconds=time.monotonic() - t0)
    elif mode == "full":
        n = int(rest[0])
        with legato.Engine(url, processes=1, concurrency=1) as engine:
            handles = [engine.start(slow_chain, 2, workflow_id=f"full-{i}") for i in range(n)]
            say(results=[h.result(timeout=60) for h in handles])
    elif mode == "finish":
        with legato.Engine(url) as engine:
            handles = engine.list(limit=1000)
            say(results={h.workflow_id: h.result(timeout=120) for h in handles})
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
