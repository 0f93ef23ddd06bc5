"""Dashboard: server time of the runs list (``GET /``) with 10,000 runs in the store.

Fills a SQLite store with ``RUNS`` completed runs of a one-step workflow (``engine.start_many``
in batches), then serves it with ``legato server`` (no workers) and times ``GET /`` (the
counts, one page of 50 runs, the filters), a filtered page and the next page, from one
client on loopback: each request's wall time, median and p95 of ``REQUESTS``. The issue's
goal is under 300 ms.

    .venv/bin/python -m bench.dashboard_runs [RUNS]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import legato
from bench import http_app  # noqa: F401  (registers bench_http_one)

RUNS = 10_000
REQUESTS = 30
BATCH = 1_000
_READY = re.compile(r"legato server: API on (http://\S+?)/api/v1 ")


def fill(url: str, runs: int) -> None:
    with legato.Engine(url) as engine:
        for start in range(0, runs, BATCH):
            engine.start_many("bench_http_one", [[i] for i in range(start, min(runs,
                                                                          start + BATCH))])
        while engine.counts()["COMPLETED"] < runs:
            time.sleep(0.2)


def timed(client: httpx.Client, path: str) -> tuple[float, float]:
    for _ in range(3):
        client.get(path).raise_for_status()
    took = []
    for _ in range(REQUESTS):
        t0 = time.perf_counter()
        client.get(path).raise_for_status()
        took.append(time.perf_counter() - t0)
    took.sort()
    return took[len(took) // 2] * 1000, took[int(len(took) * 0.95) - 1] * 1000


def main(runs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="legato-dash-bench-"))
    url = f"sqlite:///{folder / 'runs.db'}"
    t0 = time.perf_counter()
    fill(url, runs)
    print(f"filled {runs} runs in {time.perf_counter() - t0:.1f} s")
    app = str(Path(__file__).with_name("http_app.py"))
    server = subprocess.Popen([str(Path(sys.executable).with_name("legato")), "server", app,
                               "--db", url, "--port", "0", "--no-workers"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        base = ""
        for line in server.stdout:
            found = _READY.search(line)
            if found:
                base = found.group(1)
                break
        with httpx.Client(base_url=base, timeout=30) as client:
            first = client.get("/").text
            rows = len(re.findall(r"<tr data-run-id=", first))
            count = re.search(r'data-status="COMPLETED".*?<span class="count">(\d+)<', first, re.S)
            print(f"the page lists {rows} runs;"
                  f" COMPLETED counts {count.group(1) if count else None}")
            cursor = re.search(r'<a id="next" href="([^"]+)"', first)
            pages = {"/": "/", "/?status=COMPLETED&name=bench_http_one":
                     "/?status=COMPLETED&name=bench_http_one",
                     "next page": cursor.group(1).replace("&amp;", "&") if cursor else "/"}
            for label, path in pages.items():
                p50, p95 = timed(client, path)
                print(f"GET {label:40} median {p50:6.1f} ms   p95 {p95:6.1f} ms")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else RUNS)
