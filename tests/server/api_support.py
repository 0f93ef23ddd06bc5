"""A real ``legato server`` process for the API tests, an httpx client on it, and the
``server`` fixture (one process per store for a module's tests: starting one takes a
second). Test modules import what they use from here."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

APP = str(Path(__file__).with_name("app_module.py"))
LEGATO = str(Path(sys.executable).with_name("legato"))
_READY = re.compile(r"legato server: API on (http://\S+?)/api/v1 ")


class ServerProcess:
    """``legato server APP --db URL --port 0 ...``, started and read until it listens."""

    def __init__(self, db_url: str, *args: str, modules: Sequence[str] = (APP,),
                 env: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        self.db_url = db_url
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.url = ""
        cmd = [LEGATO, "server", *modules, "--db", db_url, "--port", "0", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env={**os.environ, **(env or {})})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("legato server did not start:\n" + self.output())

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            found = _READY.search(line)
            if found and not self._ready.is_set():
                self.url = found.group(1)
                self._ready.set()

    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def client(self, token: str | None = None, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.api, headers=headers, timeout=30.0, **options)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self._reader.join(5)
        return code


def legato_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``legato ARGS --db URL`` as a user would."""
    return subprocess.run([LEGATO, *args, "--db", db_url], capture_output=True, text=True,
                          timeout=120)


def make_token(db_url: str, user: str, role: str) -> str:
    done = legato_cli(db_url, "tokens", "create", "--user", user, "--role", role)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def wait_status(client: httpx.Client, workflow_id: str, *statuses: str,
                timeout: float = 30.0) -> dict[str, Any]:
    """Poll the description until the run is in one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        d = client.get(f"/workflows/{workflow_id}").json()
        if d["status"] in statuses or time.monotonic() > deadline:
            assert d["status"] in statuses, d
            return dict(d)
        time.sleep(0.05)


_n = itertools.count()


@contextlib.contextmanager
def fresh_db(kind: str, folder: Path, pg: Any = None) -> Iterator[str]:
    """A new database: a SQLite file, or a PostgreSQL schema dropped afterwards (``pg``: the
    ``pg_tools`` fixture)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'api{next(_n)}.db'}"
        return
    schema = f"legato_t{os.getpid()}_{next(pg.counter)}"
    with pg.shared_lock():
        try:
            yield pg.schema_url(schema)
        finally:
            with pg.connect_admin() as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=STORES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           pg_tools: Any) -> Iterator[ServerProcess]:
    """A ``legato server`` running the test app's workflows (workers on, on both stores)."""
    with fresh_db(request.param, tmp_path_factory.mktemp("api"), pg_tools) as url:
        proc = ServerProcess(url, "--workers")
        try:
            yield proc
        finally:
            proc.stop()
