"""examples/fastapi_app.py as docs/deploy.md runs it: a web application with a client-only
engine (migrate=False) in front of a separate ``legato worker`` process."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import legato

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LEGATO = str(Path(sys.executable).parent / "legato")
ORDER = {"order_id": "o-7", "sku": "sku-42", "quantity": 2, "amount_cents": 4999}


@pytest.fixture
def app_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[object]:
    monkeypatch.setenv("LEGATO_DATABASE_URL", f"sqlite:///{tmp_path / 'orders.db'}")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    for name in ("fastapi_app", "order_fulfilment"):
        sys.modules.pop(name, None)
    yield importlib.import_module("fastapi_app")
    for name in ("fastapi_app", "order_fulfilment"):
        sys.modules.pop(name, None)


def test_the_web_app_refuses_to_start_on_a_database_never_migrated(app_module: object,
                                                                    tmp_path: Path) -> None:
    with pytest.raises(legato.SchemaError, match="legato db migrate"), \
            TestClient(app_module.app):  # type: ignore[attr-defined]
        pass
    assert not (tmp_path / "orders.db").exists()


def test_orders_are_started_by_the_app_and_run_by_a_worker_process(
        app_module: object, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    subprocess.run([LEGATO, "db", "migrate", "--db", url], check=True, capture_output=True,
                   timeout=60)
    worker = subprocess.Popen([LEGATO, "worker", str(EXAMPLES / "order_fulfilment.py"),
                               "--db", url], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        with TestClient(app_module.app) as client:  # type: ignore[attr-defined]
            first = client.post("/orders", params={"wait": 30}, json=ORDER)
            assert first.status_code == 202, first.text
            body = first.json()
            assert body["workflow_id"] == "order-o-7"
            assert body["result"]["message"] == "order o-7 shipped (TRK-o-7)"
            # a client's retry of the same request is the same run, not a second order
            again = client.post("/orders", json=ORDER)
            assert again.json() == {"workflow_id": "order-o-7"}
            conflict = client.post("/orders", json={**ORDER, "quantity": 3})
            assert conflict.status_code == 409
            described = client.get("/orders/o-7").json()
            assert described["status"] == "COMPLETED"
            assert client.get("/orders/nope").status_code == 404
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err.decode()
    with legato.Engine(url, migrate=False) as check:
        assert len(check.list(name="fulfil_order")) == 1
