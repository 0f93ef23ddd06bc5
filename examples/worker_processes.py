"""Workflows run in worker processes: CPU-bound steps on every core, past the GIL.

``legato.Engine(url, processes=2)`` runs its workers in two child processes instead of threads
of this one. This script's steps hash a thumbnail's bytes many times over (pure Python, so
threads would take turns on one interpreter lock); each step reports the process it ran in.
The same batch then runs on an engine with in-process workers, for comparison.

    python examples/worker_processes.py

Worker processes import this file again to find its workflows, as ``multiprocessing`` does:
the code that starts the engine sits under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections import Counter

import legato


@legato.step
def thumbnail(image: str, size: int) -> dict[str, object]:
    digest = f"{image}:{size}".encode()
    for _ in range(50_000):  # stands in for real image work: pure-Python CPU time
        digest = hashlib.sha256(digest).digest()
    return {"image": image, "size": size, "etag": digest.hex()[:12], "pid": os.getpid()}


@legato.workflow(name="render_thumbnails")
def render_thumbnails(ctx: legato.WorkflowContext, image: str) -> list[dict[str, object]]:
    return [thumbnail(image, size) for size in (64, 128, 256)]


def render_all(url: str, processes: int) -> tuple[list[list[dict[str, object]]], float]:
    with legato.Engine(url, processes=processes) as engine:
        if processes:
            print(f"engine in process {os.getpid()}, worker processes {engine.worker_pids}")
        t0 = time.perf_counter()
        handles = [engine.start(render_thumbnails, f"photo-{i}.jpg") for i in range(12)]
        results = [h.result(timeout=120) for h in handles]
        return results, time.perf_counter() - t0


def main() -> None:
    folder = tempfile.mkdtemp(prefix="legato-processes-")
    results, took = render_all(f"sqlite:///{folder}/thumbnails.db", processes=2)
    where = Counter(r["pid"] for run in results for r in run)
    print(f"{len(results)} workflows, {sum(where.values())} steps in {took:.2f}s;"
          " steps per process:")
    for pid, n in sorted(where.items()):
        print(f"  process {pid}: {n} steps")
    print("first result:", results[0][0])
    _, threads = render_all(f"sqlite:///{folder}/threads.db", processes=0)
    print(f"the same on in-process worker threads: {threads:.2f}s"
          f" ({os.cpu_count()} CPUs here)")


if __name__ == "__main__":
    main()
