"""HTTP API: starts of a 1-step workflow and long polls of their results over HTTP.

A ``legato server`` process (SQLite, workers in-process) is driven by ``CLIENTS`` concurrent
async httpx clients, spread over ``PROCESSES`` client processes (one Python process of
httpx tops out near 400 requests/s here: in one, the client would be what is measured), for
a fixed time, in two phases measured in the same run:

- **bare**: ``GET /healthz`` — the same server stack (uvicorn, FastAPI, the middleware)
  with no legato work: the ceiling of requests/s this client and server reach here;
- **start + result**: each client loops ``POST /api/v1/workflows`` then
  ``GET /api/v1/workflows/{id}/result?wait=30`` (a long poll).

Reported: requests/s of each, starts/s, latency p50/p99 of a start and of start-to-result,
errors, and the ratio of the API's requests/s to the bare endpoint's (goal >= 0.5x).
The clients compete with the server for the machine's CPUs, in both phases alike.

    python -m bench.http_api --client URL api|bare SECONDS N   # one client process
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_DIR,
    PY,
    Config,
    child_env,
    fmt,
    fmt_ratio,
    median,
    percentile,
    say,
    table,
    tmpdir,
)

CLIENTS = 32
PROCESSES = 4
_READY = re.compile(r"API on (http://\S+?)/api/v1 ")


def _serve(db: str) -> tuple[subprocess.Popen[str], str]:
    legato = str(Path(PY).with_name("legato"))
    proc = subprocess.Popen([legato, "server", str(BENCH_DIR / "http_app.py"), "--db", db,
                             "--port", "0", "--log-level", "WARNING"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=child_env())
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        found = _READY.search(line)
        if found:
            return proc, found.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError("legato server did not start")


async def _phase(url: str, seconds: float, api: bool, clients: int) -> dict[str, Any]:
    import httpx

    starts: list[float] = []
    ends: list[float] = []
    requests = 0
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def loop(n: int) -> None:
            nonlocal requests
            i = 0
            while time.perf_counter() < stop_at:
                i += 1
                if not api:
                    r = await client.get("/healthz")
                    requests += 1
                    if r.status_code != 200:
                        errors.append(str(r.status_code))
                    continue
                t0 = time.perf_counter()
                r = await client.post("/api/v1/workflows",
                                      json={"name": "bench_http_one", "input": [i]})
                t1 = time.perf_counter()
                requests += 1
                if r.status_code != 201:
                    errors.append(f"start {r.status_code}")
                    continue
                wid = r.json()["workflow_id"]
                r = await client.get(f"/api/v1/workflows/{wid}/result", params={"wait": 30})
                requests += 1
                if r.status_code != 200 or r.json().get("result") != i + 1:
                    errors.append(f"result {r.status_code}")
                    continue
                starts.append(t1 - t0)
                ends.append(time.perf_counter() - t0)

        began = time.perf_counter()
        await asyncio.gather(*(loop(n) for n in range(clients)))
        took = time.perf_counter() - began
    return {"seconds": took, "requests": requests, "errors": errors, "starts": starts,
            "ends": ends}


def _clients(url: str, seconds: float, api: bool) -> dict[str, Any]:
    """One phase: PROCESSES client processes at once, their counts summed, latencies
    pooled."""
    each = CLIENTS // PROCESSES
    procs = [subprocess.Popen([PY, "-m", "bench.http_api", "--client", url,
                               "api" if api else "bare", str(seconds), str(each)],
                              stdout=subprocess.PIPE, text=True, env=child_env())
             for _ in range(PROCESSES)]
    parts = []
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 120)
        parts.append(json.loads(out.strip().splitlines()[-1]))
    took = max(x["seconds"] for x in parts)
    starts = [v for x in parts for v in x["starts"]]
    ends = [v for x in parts for v in x["ends"]]
    res: dict[str, Any] = {"requests_per_s": sum(x["requests"] for x in parts) / took,
                           "errors": sum(len(x["errors"]) for x in parts),
                           "error_kinds": sorted({e for x in parts for e in x["errors"]})[:5]}
    if api:
        res.update({"starts_per_s": len(starts) / took,
                    "start_ms_p50": median(starts) * 1000,
                    "start_ms_p99": percentile(starts, 99) * 1000,
                    "result_ms_p50": median(ends) * 1000,
                    "result_ms_p99": percentile(ends, 99) * 1000})
    return res


def run(cfg: Config) -> dict[str, Any]:
    seconds = 3.0 if cfg.quick else 8.0
    reps = cfg.n_reps(3, 2)
    say(f"[http] legato server on SQLite (workers in-process), {CLIENTS} concurrent clients"
        f" in {PROCESSES} processes,"
        f" {seconds:g} s per phase, {reps} reps: bare GET /healthz, then POST /workflows +"
        " GET .../result?wait=30 (1-step workflow)")
    bare: list[dict[str, Any]] = []
    api: list[dict[str, Any]] = []
    with tmpdir("http") as d:
        proc, url = _serve(f"sqlite:///{d / 'http.db'}")
        try:
            _clients(url, 1.0, True)  # warm up
            for _ in range(reps):  # alternating, so drifting load hits both alike
                bare.append(_clients(url, seconds, False))
                api.append(_clients(url, seconds, True))
        finally:
            proc.terminate()
            proc.wait(30)

    def med(rows: list[dict[str, Any]], k: str) -> float:
        return median([r[k] for r in rows])

    res = {"clients": CLIENTS, "seconds": seconds, "reps": reps,
           "bare_requests_per_s": med(bare, "requests_per_s"),
           "api_requests_per_s": med(api, "requests_per_s"),
           "starts_per_s": med(api, "starts_per_s"),
           "start_ms_p50": med(api, "start_ms_p50"), "start_ms_p99": med(api, "start_ms_p99"),
           "result_ms_p50": med(api, "result_ms_p50"),
           "result_ms_p99": med(api, "result_ms_p99"),
           "errors": sum(r["errors"] for r in bare + api),
           "error_kinds": sorted({k for r in bare + api for k in r["error_kinds"]})}
    res["ratio_to_bare"] = res["api_requests_per_s"] / res["bare_requests_per_s"]
    table(["", "req/s", "starts/s", "start p50", "start p99", "result p50", "result p99",
           "errors"],
          [["bare GET /healthz", fmt(res["bare_requests_per_s"]), "", "", "", "", "",
            str(sum(r["errors"] for r in bare))],
           ["start + long poll", fmt(res["api_requests_per_s"]), fmt(res["starts_per_s"]),
            fmt(res["start_ms_p50"], " ms", 1), fmt(res["start_ms_p99"], " ms", 1),
            fmt(res["result_ms_p50"], " ms", 1), fmt(res["result_ms_p99"], " ms", 1),
            str(sum(r["errors"] for r in api))]])
    say(f"  API req/s / bare req/s = {fmt_ratio(res['ratio_to_bare'])} (goal >= 0.5x);"
        f" starts/s {fmt(res['starts_per_s'])} (goal >= 1,000 where the machine allows)")
    return res


if __name__ == "__main__":  # a client process: python -m bench.http_api --client ...
    if len(sys.argv) == 6 and sys.argv[1] == "--client":
        _url, _mode, _secs, _n = sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(asyncio.run(_phase(_url, _secs, _mode == "api", _n))))
    else:
        raise SystemExit(__doc__)
