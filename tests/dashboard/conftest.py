"""The dashboard tests reuse the API tests' server process helpers (tests/server)."""

from __future__ import annotations

import sys
from pathlib import Path

_SERVER = str(Path(__file__).resolve().parents[1] / "server")
if _SERVER not in sys.path:
    sys.path.insert(0, _SERVER)
