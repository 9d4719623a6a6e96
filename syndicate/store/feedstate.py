"""Read one feed's state row on every feed request, as cheaply as the database allows.

Every request must see a change as soon as it has committed (in any process, on any
machine), so the state is read from the database each time; what varies is the cost:

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
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StorageError
from ..model import FeedState
from .schema import feeds

_QUERY = "SELECT version, changed, last_seq FROM feeds WHERE key = {}"
#: Rows kept per SQLite connection before the memo starts over.
_MEMO_LIMIT = 20_000


class FeedStateReader:
    """``get(key)`` returns the committed state of one feed, or None if it has no entries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        dialect = engine.dialect.name
        database = engine.url.database or ""
        if dialect == "sqlite" and database and database != ":memory:":
            self.get: Callable[[str], FeedState | None] = self._get_sqlite
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
            local.conn, local.pid, local.seen, local.memo = conn, os.getpid(), None, {}
        return local

    def _get_sqlite(self, key: str) -> FeedState | None:
        try:
            local = self._sqlite()
            version = local.conn.execute("PRAGMA data_version").fetchone()[0]
            if version != local.seen or len(local.memo) > _MEMO_LIMIT:
                local.memo.clear()
                local.seen = version
            memo = local.memo
            if key in memo:
                return memo[key]  # type: ignore[no-any-return]
            row = local.conn.execute(_QUERY.format("?"), (key,)).fetchone()
        except sqlite3.Error as error:
            self._local.pid = None
            raise StorageError(f"cannot read the state of feed {key!r}: {error}") from error
        state = None if row is None else FeedState(
            key, row[0], datetime.fromisoformat(row[1]).replace(tzinfo=UTC), row[2])
        memo[key] = state
        return state

    # -- PostgreSQL ------------------------------------------------------------------

    def _postgres(self) -> Any:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            import psycopg

            url = self.engine.url.set(drivername="postgresql")
            conninfo = url.render_as_string(hide_password=False)
            local.conn, local.pid = psycopg.connect(conninfo, autocommit=True), os.getpid()
        return local.conn

    def _get_postgres(self, key: str) -> FeedState | None:
        import psycopg

        for attempt in (1, 2):
            try:
                row = self._postgres().execute(_QUERY.format("%s"), (key,), prepare=True).fetchone()
                break
            except psycopg.Error as error:
                self._local.pid = None  # reconnect: the server may have restarted
                if attempt == 2 or not isinstance(error, psycopg.OperationalError):
                    raise StorageError(f"cannot read the state of feed {key!r}: {error}") from error
        if row is None:
            return None
        return FeedState(key, row[0], row[1].astimezone(UTC), row[2])

    # -- anything else ---------------------------------------------------------------

    def _get_generic(self, key: str) -> FeedState | None:
        query = select(feeds.c.version, feeds.c.changed, feeds.c.last_seq).where(feeds.c.key == key)
        try:
            with self.engine.connect() as conn:
                row = conn.execute(query).first()
        except SQLAlchemyError as error:
            raise StorageError(f"cannot read the state of feed {key!r}: {error}") from error
        return None if row is None else FeedState(key, row.version, row.changed, row.last_seq)

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.pid = None
