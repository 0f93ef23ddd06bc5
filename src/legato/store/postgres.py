"""PostgreSQL store (issue #3): not built yet."""

from __future__ import annotations

from legato.errors import ConfigError


class PostgresStore:
    def __init__(self, url: str) -> None:
        raise ConfigError(f"the PostgreSQL store is not available yet ({url})")
