"""Record the histories replayed by test_replay.py (run by hand when adding a scenario).

    .venv/bin/python tests/replay/record.py            # SQLite and PostgreSQL
    .venv/bin/python tests/replay/record.py sqlite     # one store

Each scenario of replay_corpus.py runs on a fresh database of each store (PostgreSQL: a
fresh schema on LEGATO_TEST_PG_URL, default the local test server, dropped afterwards) and
its histories are written to histories/<name>.<store>.json, as legato.testing.export_history
saves them (the run's id on the first event, no tracebacks). order_fulfilment_v1.json, the
example's run, is recorded again (on SQLite, a plain handle.history()) only with --order.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "examples"))
sys.path.insert(0, str(HERE))

import order_fulfilment  # noqa: E402
import replay_corpus  # noqa: E402

import legato  # noqa: E402
from legato.testing import VirtualClock  # noqa: E402

OUT = HERE / "histories"
PG_URL = os.environ.get("LEGATO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def write(name: str, history: list[dict[str, object]]) -> None:
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(history, indent=1) + "\n")
    print(f"wrote {path.relative_to(HERE.parents[1])}")


def record_corpus(url: str, store: str) -> None:
    for drive in replay_corpus.DRIVERS:
        clock = VirtualClock(start=replay_corpus.START)
        with legato.Engine(url, clock=clock) as engine:
            for name, history in drive(engine, clock, store).items():
                write(f"{name}.{store}", history)


def record_order(url: str) -> None:
    with legato.Engine(url) as e:
        order = order_fulfilment.Order("o-rec", "sku-1", 1, 100)
        h = e.start(order_fulfilment.fulfil_order, order, workflow_id="order-o-rec")
        h.result(timeout=30)
        history = h.history()
        for event in history:  # tracebacks name files of the recording machine
            if isinstance(event.get("error"), dict):
                event["error"].pop("traceback", None)
        write("order_fulfilment_v1", history)


def main(stores: list[str]) -> None:
    if "sqlite" in stores:
        with tempfile.TemporaryDirectory() as tmp:
            record_corpus(f"sqlite:///{tmp}/corpus.db", "sqlite")
        if "--order" in sys.argv:
            with tempfile.TemporaryDirectory() as tmp:
                record_order(f"sqlite:///{tmp}/r.db")
    if "postgresql" in stores:
        import psycopg

        schema = f"legato_record_{os.getpid()}"
        sep = "&" if "?" in PG_URL else "?"
        try:
            record_corpus(f"{PG_URL}{sep}schema={schema}", "postgresql")
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    chosen = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(chosen or ["sqlite", "postgresql"])
