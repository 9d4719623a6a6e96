"""Run one fixed, indexed lookup on every request, as cheaply as the database allows.

Feed requests read their feed's state row, share links read the post a code names; each
request must see a change as soon as it has committed (in any process, on any machine),
so the row is read from the database each time. What varies is the cost:

- SQLite: a per-thread connection keeps the rows it read, and trusts them only while
  ``PRAGMA data_version`` says no other connection has committed since: a read of
  shared memory, no query.
- PostgreSQL: every write transaction sends ``NOTIFY syndicate_changes`` (see
  ``notify_changes``); each process listens on one connection and keeps the rows it read
  while no notification has arrived since. Checking is a non-blocking read of that
  connection's socket, no round trip; a row not known yet costs one prepared, indexed query
  on a per-thread autocommit connection. A lost listening connection is replaced, and
  everything read before is dropped. So another process's commit is seen within
  milliseconds (the time the notification takes), this process's own at once, and a row
  is never trusted for more than ``PG_MAX_STALE`` seconds even if notifications were lost.
- Anything else: one SQLAlchemy query.

The connections are opened lazily in the process and thread that use them (so a fork
after start-up is safe) and bypass the SQLAlchemy pool on purpose: this is the hot path.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StorageError
from ..memo import BoundedCache
from ..model import FeedState

T = TypeVar("T")
#: Rows (and bytes) kept per SQLite connection or PostgreSQL process, least recently used
#: dropped first.
_MEMO_LIMIT = 20_000
_MEMO_BYTES = 16 * 2**20
#: The PostgreSQL channel every write transaction notifies.
CHANNEL = "syndicate_changes"
#: The longest a PostgreSQL row is trusted without reading it again (the bound on staleness
#: should a notification be lost).
PG_MAX_STALE = 1.0


def notify_changes(conn: Any) -> None:
    """Tell every listening process that this transaction changed what hot lookups read
    (PostgreSQL delivers it at commit, and not at all on rollback)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"NOTIFY {CHANNEL}"))


def committed_here(engine: Engine) -> None:
    """After a commit by this process: its own lookups must not wait for the notification
    (which arrives a moment later) to see it."""
    changes = _CHANGES.get(engine)
    if changes is not None:
        changes.bump()


class _Changes:
    """This process's view of commits on a PostgreSQL database: a generation number that
    moves on whenever a notification arrives (or the listening connection is replaced)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.generation = 0
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid: int | None = None

    def current(self) -> int | None:
        """The generation now, or None when changes cannot be followed (then trust nothing)."""
        with self._lock:
            try:
                pgconn = self._listening().pgconn
                pgconn.consume_input()
                moved = False
                while pgconn.notifies() is not None:
                    moved = True
                if moved:
                    self.generation += 1
                return self.generation
            except Exception:  # noqa: BLE001 - any failure: reconnect next time, trust nothing now
                self._drop()
                return None

    def bump(self) -> None:
        with self._lock:
            self.generation += 1

    def _listening(self) -> Any:
        if self._conn is None or self._pid != os.getpid():
            import psycopg

            conn = psycopg.connect(self.conninfo, autocommit=True)
            conn.execute(f"LISTEN {CHANNEL}")
            # Whatever was read before may have changed while nobody listened.
            self._conn, self._pid = conn, os.getpid()
            self.generation += 1
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self.generation += 1
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is gone either way
                pass


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
            self._changes = _changes_of(engine, self._conninfo())
            self._memo: BoundedCache[str, tuple[int, float, T]] = BoundedCache(
                _MEMO_LIMIT, _MEMO_BYTES)
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

    def _conninfo(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _postgres(self) -> Any:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            import psycopg

            local.conn, local.pid = psycopg.connect(self._conninfo(), autocommit=True), os.getpid()
        return local.conn

    def _get_postgres(self, key: str) -> T | None:
        generation = self._changes.current()
        now = time.monotonic()
        known = self._memo.get(key)
        if known is not None and known[0] == generation and now - known[1] < PG_MAX_STALE:
            return known[2]
        found = self._query_postgres(key)
        if generation is not None and found is not None:
            # Misses are not kept: their keys come from clients and have no bound.
            self._memo.put(key, (generation, now, found))
        return found

    def _query_postgres(self, key: str) -> T | None:
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


#: One listening connection per engine and process, shared by all its lookups.
_CHANGES: WeakKeyDictionary[Engine, _Changes] = WeakKeyDictionary()


def _changes_of(engine: Engine, conninfo: str) -> _Changes:
    found = _CHANGES.get(engine)
    if found is None:
        found = _CHANGES[engine] = _Changes(conninfo)
    return found


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
