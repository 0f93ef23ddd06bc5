"""The PostgreSQL store (many worker processes on many hosts sharing one database)."""

from legato.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
