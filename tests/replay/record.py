"""Record the histories replayed by test_replay.py (run by hand when adding one)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import order_fulfilment

import legato


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, legato.Engine(f"sqlite:///{tmp}/r.db") as e:
        order = order_fulfilment.Order("o-rec", "sku-1", 1, 100)
        h = e.start(order_fulfilment.fulfil_order, order, workflow_id="order-o-rec")
        h.result(timeout=30)
        out = Path(__file__).parent / "histories" / "order_fulfilment_v1.json"
        history = h.history()
        for event in history:  # tracebacks name files of the recording machine
            if isinstance(event.get("error"), dict):
                event["error"].pop("traceback", None)
        out.write_text(json.dumps(history, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
