"""What a ``postgresql://`` URL may carry reaches the server as written."""

from __future__ import annotations

import pytest

import legato

pytestmark = pytest.mark.postgres


def test_options_with_spaces_and_encoded_values_reach_the_server(pg_db_url: str) -> None:
    url = (f"{pg_db_url}&options=-c%20statement_timeout%3D30s%20-c%20lock_timeout%3D5s"
           "&application_name=orders%20web")
    engine = legato.Engine(url)
    try:
        store = engine.store
        with store._conn() as conn:  # type: ignore[attr-defined]
            shown = [conn.execute(f"SHOW {name}").fetchone()[0]
                     for name in ("statement_timeout", "lock_timeout", "application_name")]
        assert shown == ["30s", "5s", "orders web"]
    finally:
        engine.shutdown()
