"""API tokens and the operator log on an SQL store, the same code for both dialects.

:class:`AuthQueries` declares the statements (every dialect's ``queries.sql`` has them;
:class:`legato.store.sql_store.CommonQueries` includes them) and :class:`AuthSQL` runs
them: a mixin of :class:`legato.store.sql_store.SQLStore`, whose dialects supply the
connections. A token's creation and its revocation are written with their operator-log
entry in one transaction.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from legato.domain.oplog import OpEntry
from legato.domain.tokens import TokenInfo
from legato.store.sqlfile import Statements

if TYPE_CHECKING:
    from legato.store.sql_store import Conn


class AuthQueries(Statements):
    """The statements of :class:`AuthSQL`."""

    token_insert: str
    token: str
    token_by_hash: str
    tokens: str
    token_revoke: str
    token_used: str
    tokens_exist: str
    oplog_insert: str
    oplog: str  # {where}: oplog_since, oplog_action
    oplog_since: str
    oplog_action: str


def _token(r: Sequence[Any]) -> TokenInfo:
    return TokenInfo(id=r[0], user=r[1], role=r[2], created_at=float(r[3]),
                     expires_at=None if r[4] is None else float(r[4]),
                     revoked_at=None if r[5] is None else float(r[5]),
                     last_used_at=None if r[6] is None else float(r[6]))


def _entry_params(e: OpEntry) -> dict[str, Any]:
    return {"at": e.at, "user": e.user, "token_id": e.token_id, "action": e.action,
            "target": e.target, "data": e.data}


class AuthSQL(abc.ABC):
    """Tokens and the operator log (see the module's doc)."""

    q: AuthQueries

    @abc.abstractmethod
    def _reader(self) -> AbstractContextManager[Conn]: ...

    @abc.abstractmethod
    def _writer(self, single: bool = False) -> AbstractContextManager[Conn]: ...

    @abc.abstractmethod
    def _read_one(self, sql: str, params: Any = ()) -> Any: ...

    @abc.abstractmethod
    def _read_all(self, sql: str, params: Any = ()) -> Sequence[Any]: ...

    # --- tokens ---------------------------------------------------------------------------

    def create_token(self, info: TokenInfo, secret_hash: str, entry: OpEntry) -> bool:
        with self._writer() as c:
            if c.execute(self.q.token_insert, {
                    "id": info.id, "user": info.user, "role": info.role, "hash": secret_hash,
                    "created_at": info.created_at,
                    "expires_at": info.expires_at}).rowcount != 1:
                return False  # the id (or the hash) is taken: nothing written
            c.execute(self.q.oplog_insert, _entry_params(entry))
        return True

    def get_token(self, token_id: str) -> TokenInfo | None:
        r = self._read_one(self.q.token, {"id": token_id})
        return None if r is None else _token(r)

    def token_by_hash(self, secret_hash: str) -> TokenInfo | None:
        r = self._read_one(self.q.token_by_hash, {"hash": secret_hash})
        return None if r is None else _token(r)

    def list_tokens(self) -> list[TokenInfo]:
        return [_token(r) for r in self._read_all(self.q.tokens)]

    def revoke_token(self, token_id: str, now: float, entry: OpEntry) -> TokenInfo | None:
        with self._writer() as c:
            if c.execute(self.q.token_revoke, {"id": token_id, "now": now}).rowcount == 1:
                c.execute(self.q.oplog_insert, _entry_params(entry))
            r = c.execute(self.q.token, {"id": token_id}).fetchone()
        return None if r is None else _token(r)

    def token_used(self, token_id: str, now: float, before: float) -> bool:
        with self._writer(single=True) as c:
            return c.execute(self.q.token_used, {"id": token_id, "now": now,
                                                 "before": before}).rowcount == 1

    def tokens_exist(self) -> bool:
        return self._read_one(self.q.tokens_exist) is not None

    # --- the operator log -----------------------------------------------------------------

    def oplog_append(self, entry: OpEntry) -> None:
        with self._writer(single=True) as c:
            c.execute(self.q.oplog_insert, _entry_params(entry))

    def oplog_list(self, since: float | None, action: str | None,
                   limit: int) -> list[OpEntry]:
        q = self.q
        where = [cond for cond, given in ((q.oplog_since, since is not None),
                                          (q.oplog_action, action is not None)) if given]
        sql = q.oplog.replace("{where}", " WHERE " + " AND ".join(where) if where else "")
        rows = self._read_all(sql, {"since": since, "action": action, "limit": limit})
        return [OpEntry(at=float(r[0]), user=r[1], token_id=r[2], action=r[3], target=r[4],
                        data=r[5], seq=int(r[6])) for r in rows]
