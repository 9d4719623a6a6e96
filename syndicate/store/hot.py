"""Run one fixed, indexed lookup on every request, as cheaply as the database allows.

Feed requests read their feed's state row, share links read the post a code names; each
request must see a change as soon as it has committed (in any process, on any machine),
so the row is read from the database each time. What varies is the cost:

- SQLite: a per-thread connection keeps the rows it read, and trusts them only while
  ``PRAGMA data_version`` says no other connection has committed since: a read of
  shared memory, no query.
- PostgreSQL: a per-thread autocommit connection runs one prepared, indexed query.
- Anything else: one SQLAlchemy query.

The connections are opened lazily in the process and thread that use them (so a fork
after start-up is safe) and bypass the SQLAlchemy pool on purpose: this is the hot path.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StorageError
from ..memo import BoundedCache
from ..model import FeedState

T = TypeVar("T")
#: Rows (and bytes) kept per SQLite connection, least recently used dropped first.
_MEMO_LIMIT = 20_000
_MEMO_BYTES = 16 * 2**20


class HotLookup(Generic[T]):
    """``get(key)`` runs ``sql`` (with ``{key}`` where the key goes) and returns
    ``convert(row)`` of the first row, or None when there is none."""

    def __init__(self, engine: Engine, sql: str, convert: Callable[[str, tuple[Any, ...]], T],
                 what: str) -> None:
        self.engine = engine
        self.convert = convert
        self.what = what
        self._local = threading.local()
        dialect = engine.dialect.name
        database = engine.url.database or ""
        self._sql_named = sql.format(key=":key")  # sqlite3 and SQLAlchemy text()
        self._sql_pyformat = sql.format(key="%(key)s")  # psycopg
        if dialect == "sqlite" and database and database != ":memory:":
            self.get: Callable[[str], T | None] = self._get_sqlite
        elif dialect == "postgresql":
            self.get = self._get_postgres
        else:
            self.get = self._get_generic

    # -- SQLite ----------------------------------------------------------------------

    def _sqlite(self) -> Any:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.engine.url.database or "", check_same_thread=False,
                                   isolation_level=None)
            conn.execute("PRAGMA query_only=1")
            conn.execute("PRAGMA busy_timeout=10000")
            local.conn, local.pid, local.seen = conn, os.getpid(), None
            local.memo = BoundedCache(_MEMO_LIMIT, _MEMO_BYTES)
        return local

    def _get_sqlite(self, key: str) -> T | None:
        try:
            local = self._sqlite()
            version = local.conn.execute("PRAGMA data_version").fetchone()[0]
            if version != local.seen:
                local.memo.clear()
                local.seen = version
            memo = local.memo
            found = memo.get(key)
            if found is not None:
                return found  # type: ignore[no-any-return]
            row = local.conn.execute(self._sql_named, {"key": key}).fetchone()
        except sqlite3.Error as error:
            self._local.pid = None
            raise StorageError(f"cannot read {self.what} {key!r}: {error}") from error
        if row is None:
            return None  # misses are not kept: their keys are whatever clients ask for
        found = self.convert(key, row)
        memo.put(key, found)
        return found

    # -- PostgreSQL ------------------------------------------------------------------

    def _postgres(self) -> Any:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            import psycopg

            url = self.engine.url.set(drivername="postgresql")
            conninfo = url.render_as_string(hide_password=False)
            local.conn, local.pid = psycopg.connect(conninfo, autocommit=True), os.getpid()
        return local.conn

    def _get_postgres(self, key: str) -> T | None:
        import psycopg

        for attempt in (1, 2):
            try:
                row = self._postgres().execute(self._sql_pyformat, {"key": key},
                                               prepare=True).fetchone()
                break
            except psycopg.Error as error:
                self._local.pid = None  # reconnect: the server may have restarted
                if attempt == 2 or not isinstance(error, psycopg.OperationalError):
                    raise StorageError(f"cannot read {self.what} {key!r}: {error}") from error
        return None if row is None else self.convert(key, tuple(row))

    # -- anything else ---------------------------------------------------------------

    def _get_generic(self, key: str) -> T | None:
        try:
            with self.engine.connect() as conn:
                row = conn.execute(text(self._sql_named), {"key": key}).first()
        except SQLAlchemyError as error:
            raise StorageError(f"cannot read {self.what} {key!r}: {error}") from error
        return None if row is None else self.convert(key, tuple(row))

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.pid = None


def as_utc(value: Any) -> datetime:
    """A timestamp column as read without SQLAlchemy's types: SQLite gives text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def feed_state_lookup(engine: Engine) -> HotLookup[FeedState]:
    """The state row of one feed, by key."""
    return HotLookup(engine, "SELECT version, changed, last_seq FROM feeds WHERE key = {key}",
                     lambda key, row: FeedState(key, row[0], as_utc(row[1]), row[2]),
                     "the state of feed")
