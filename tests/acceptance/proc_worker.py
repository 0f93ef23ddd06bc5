"""Run one legato worker in its own process until SIGTERM/SIGINT (used by the acceptance tests).

    python proc_worker.py sqlite:///path/to.db [--module FILE.py] [--lease S] [--grace S]
                          [--concurrency N] [--step-threads N]

Imports the workflow module (default: ``acc_workflows.py`` beside this file), launches
``legato.Engine(url, lease=...)``, prints ``ready <worker id> <pid>`` and serves until
SIGTERM/SIGINT, then shuts down gracefully (running steps get ``--grace`` seconds), prints
``stopped <seconds>`` and exits 0. Fault points are armed through ``LEGATO_FAULTS``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import time
from pathlib import Path

import legato
from legato.cli.signals import StopSignals, stacks_on_request


def _load(path: str) -> None:
    name = Path(path).stem
    sys.path.insert(0, str(Path(path).resolve().parent))  # for its sibling imports
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--module", default=str(Path(__file__).with_name("acc_workflows.py")))
    p.add_argument("--lease", type=float, default=5.0)
    p.add_argument("--grace", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--step-threads", type=int, default=32)
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr,
        format="%(asctime)s pid=%(process)d %(name)s %(levelname)s %(message)s")

    # as `legato worker` does: a stop handler that cannot deadlock, stacks on SIGUSR1 (which
    # the tests send to a worker slow to stop)
    with stacks_on_request(), StopSignals() as stop:
        _load(args.module)
        engine = legato.Engine(args.url, lease=args.lease, concurrency=args.concurrency,
                               step_threads=args.step_threads)
        engine.launch()
        print(f"ready {engine.worker_id} {os.getpid()}", flush=True)
        stop.wait(0.05)
        t0 = time.monotonic()
        engine.shutdown(grace=args.grace)
        print(f"stopped {time.monotonic() - t0:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
