"""The server process's life: ready and unready, a live stream, and a graceful stop."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from api_support import ServerProcess, fresh_db, server

import legato

__all__ = ["server"]


def test_the_stream_sends_a_runs_completion(server: ServerProcess) -> None:
    got: list[dict] = []
    opened = threading.Event()

    def listen(wid_box: list[str]) -> None:
        with httpx.Client(base_url=server.api, timeout=60) as c, \
                c.stream("GET", "/stream", params={"kinds": "runs"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            event = None
            for line in r.iter_lines():
                opened.set()
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "run":
                    change = json.loads(line[6:])
                    if wid_box and change["workflow_id"] == wid_box[0]:
                        got.append(change)
                        if change["status"] == "COMPLETED":
                            return

    box: list[str] = []
    t = threading.Thread(target=listen, args=(box,), daemon=True)
    t.start()
    assert opened.wait(30)
    with server.client() as c:
        box.append(c.post("/workflows", json={"name": "api_greet", "input": ["sse"]}
                          ).json()["workflow_id"])
    t.join(60)
    assert got and got[-1]["status"] == "COMPLETED" and got[-1]["name"] == "api_greet"


def test_the_stream_sends_task_changes(server: ServerProcess) -> None:
    got: list[dict] = []
    opened = threading.Event()
    box: list[str] = []

    def listen() -> None:
        with httpx.Client(base_url=server.api, timeout=60) as c, \
                c.stream("GET", "/stream", params={"kinds": "tasks"}) as r:
            event = None
            for line in r.iter_lines():
                opened.set()
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "task":
                    change = json.loads(line[6:])
                    if box and change["workflow_id"] == box[0]:
                        got.append(change)
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert opened.wait(30)
    with server.client() as c:
        box.append(c.post("/workflows", json={"name": "api_approval", "input": [5]}
                          ).json()["workflow_id"])
    t.join(60)
    assert got and got[0]["name"] == "approve" and got[0]["status"] == "OPEN"
    assert got[0]["group"] == "managers" and got[0]["task_id"]


def test_ready_and_healthy(server: ServerProcess) -> None:
    with server.client() as c:
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"store": "ok", "schema": "ok", "workers": "ok"}
        spec = httpx.get(f"{server.url}/openapi.json").json()
        assert "/api/v1/workflows" in spec["paths"]
        assert "/api/v1/workflows/{workflow_id}/result" in spec["paths"]
        assert c.get("/workflows/counts").status_code == 200


def test_sigterm_lets_a_long_poll_answer_and_releases_the_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'drain.db'}"
    proc = ServerProcess(url, "--grace", "20")
    answers: list[httpx.Response] = []
    try:
        with proc.client() as c:
            wid = c.post("/workflows", json={"name": "api_wait_signal"}).json()["workflow_id"]

            def poll() -> None:
                with proc.client() as c2:
                    answers.append(c2.get(f"/workflows/{wid}/result", params={"wait": 120}))

            t = threading.Thread(target=poll, daemon=True)
            t.start()
            time.sleep(0.5)  # the poll is in flight (if not yet, it still must be answered)
        began = time.monotonic()
        assert proc.stop(signal.SIGTERM) == 0
        t.join(30)
        assert time.monotonic() - began < 15
    finally:
        proc.stop(signal.SIGKILL)
    assert answers and answers[0].status_code == 202
    assert answers[0].json()["status"] in ("RUNNING", "WAITING")
    engine = legato.Engine(url)  # a client: not launched
    try:
        assert engine.store.workers() == []  # deregistered
        row = engine.store.get(wid)
        assert row is not None and row.owner is None  # released to other workers
    finally:
        engine.shutdown()


def test_cors_only_for_the_origins_configured_and_a_body_limit_of_ones_own(
        tmp_path: Path) -> None:
    proc = ServerProcess(f"sqlite:///{tmp_path / 'cors.db'}", "--cors-origin",
                         "https://ops.example", "--max-body", "2000")
    try:
        big = httpx.post(f"{proc.api}/events", json={"type": "t", "data": "x" * 3000})
        assert big.status_code == 413 and "2,000 bytes" in big.json()["detail"]
        small = httpx.post(f"{proc.api}/events", json={"type": "t", "data": "x" * 100})
        assert small.status_code == 201
        asked = {"Origin": "https://ops.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
        ok = httpx.options(f"{proc.api}/workflows", headers=asked)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://ops.example"
        other = httpx.get(f"{proc.api}/workflows/counts",
                          headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    finally:
        proc.stop()
    plain = ServerProcess(f"sqlite:///{tmp_path / 'nocors.db'}")
    try:
        with plain.client() as c:
            r = c.get("/workflows/counts", headers={"Origin": "https://ops.example"})
            assert "access-control-allow-origin" not in r.headers
    finally:
        plain.stop()


class Proxy:
    """A TCP forwarder to PostgreSQL that the test can cut."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut:
                client.close()
                return
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.cut = True
        try:  # wakes the accepting thread (a plain close would leave it listening)
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


@pytest.mark.postgres
def test_readyz_goes_unready_when_the_store_is_unreachable(tmp_path: Path,
                                                           pg_tools: object) -> None:
    parts = urlsplit(pg_tools.url)  # type: ignore[attr-defined]
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    with fresh_db("postgresql", tmp_path, pg_tools) as url:
        legato.Engine(url).shutdown()  # migrated directly, not through the proxy
        netloc = f"{parts.username + '@' if parts.username else ''}127.0.0.1:{proxy.port}"
        proxied = urlunsplit((parts.scheme, netloc, *urlsplit(url)[2:]))
        proc = ServerProcess(proxied, "--no-workers")
        try:
            assert httpx.get(f"{proc.url}/readyz").status_code == 200
            proxy.close()
            r = httpx.get(f"{proc.url}/readyz", timeout=30)
            assert r.status_code == 503
            assert r.json()["status"] == "unready" and r.json()["checks"]["store"] != "ok"
            assert httpx.get(f"{proc.url}/healthz").status_code == 200
        finally:
            proxy.close()
            proc.stop(signal.SIGKILL)
