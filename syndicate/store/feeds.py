"""Feed versions and arrival order: what conditional GET, archives and deltas read.

Every write that changes a feed's entries bumps that feed's row in ``feeds`` (version,
time of the change) inside the same transaction, and gives each post that joins a feed
the next sequence number of that feed. Rows are locked in key order, so concurrent
writers on PostgreSQL neither deadlock nor interleave sequence numbers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Engine,
    String,
    and_,
    any_,
    bindparam,
    func,
    literal,
    or_,
    select,
    text,
)

from ..model import SITE_FEED, FeedState, Outcome, Post, PostRef, article_key, feed_key
from .hot import HotLookup, feed_state_lookup
from .schema import feed_entries, feeds, post_categories, post_tags, posts

CHUNK = 500
#: Last-Modified has whole seconds: each change moves it on by at least one, so a client
#: that polled within the second of a change still sees the next one.
TICK = timedelta(seconds=1)


def feed_keys(categories: Iterable[str], tags: Iterable[str]) -> list[str]:
    """Return the keys of the feeds a post with these categories and tags appears in."""
    return [SITE_FEED, *(feed_key("category", c) for c in categories),
            *(feed_key("tag", t) for t in tags)]


def upsert_insert(conn: Connection, table: Any) -> Any:
    """The INSERT of this connection's dialect, which has ``on_conflict_do_…`` (SQLite and
    PostgreSQL)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def among(conn: Connection, column: Any, values: Sequence[str]) -> Any:
    """The condition that ``column`` is one of ``values``.

    PostgreSQL gets one array parameter (``= ANY(%s)``): an ``IN ($1…$n)`` list prepared
    again and again makes it switch to a generic plan that scans the whole table for
    every batch. SQLite has no arrays and no such plans: it gets the IN list.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(String)))
    return column.in_(list(values))


def bulk_insert(conn: Connection, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT many rows at once: COPY on PostgreSQL, one executemany on SQLite.

    psycopg runs an executemany as one statement per row on the server; COPY loads the
    rows in one stream, about ten times faster for a bulk import.
    """
    if not rows:
        return
    names = [column.name for column in table.columns]
    if conn.dialect.name == "sqlite":
        _sqlite_insert(conn, table, names, rows)
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), list(rows))
        return
    cursor = conn.connection.cursor()
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row.get(name) for name in names])
    finally:
        cursor.close()


def _sqlite_insert(conn: Connection, table: Any, names: list[str],
                   rows: Sequence[dict[str, Any]]) -> None:
    """One executemany of plain tuples: the columns' own bind processors, without building
    SQLAlchemy's parameters row by row (a third of a bulk import's writing time)."""
    dialect = conn.dialect
    converters = [_memo(column.type.dialect_impl(dialect).bind_processor(dialect))
                  for column in table.columns]
    sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "
           f"VALUES ({', '.join('?' * len(names))})")
    pairs = list(zip(names, converters, strict=True))
    conn.exec_driver_sql(sql, [tuple(convert(row.get(name)) if convert else row.get(name)
                                     for name, convert in pairs) for row in rows])


def _memo(convert: Any) -> Any:
    """``convert`` remembering its results for one statement: a batch repeats the same
    few datetimes (its time of writing, each post's date in three tables)."""
    if convert is None:
        return None
    seen: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = result = convert(value)
            return result

    return converted


def insert_ignoring_duplicates(conn: Connection, table: Any, rows: list[dict[str, Any]],
                               keys: list[str]) -> None:
    """INSERT rows, skipping those whose ``keys`` already exist."""
    conn.execute(upsert_insert(conn, table).on_conflict_do_nothing(index_elements=keys), rows)


class FeedStoreMixin:
    """The Store's feed state: versions, arrival order, archives, deltas, sitemap rows."""

    engine: Engine
    _state_reader: HotLookup[FeedState] | None = None

    if TYPE_CHECKING:  # provided by Store

        def _connect(self, write: bool = False) -> AbstractContextManager[Connection]: ...

        def _ordered(self, id_query: Any) -> list[Post]: ...

    # -- writing ---------------------------------------------------------------------

    def _record_feed_changes(self, conn: Connection, rows: Sequence[dict[str, Any]],
                             now: datetime) -> None:
        """Bump every feed the written rows appear in; new members get sequence numbers."""
        touched: set[str] = set()
        joined: dict[str, list[tuple[datetime, str]]] = {}
        for row in rows:
            touched.update(feed_keys(row["_categories"], row["_tags"]))
            old_cats, old_tags = row.get("_old_categories", set()), row.get("_old_tags", set())
            new = [SITE_FEED] if row["_outcome"] is Outcome.NEW else []
            new += feed_keys([c for c in row["_categories"] if c not in old_cats],
                             [t for t in row["_tags"] if t not in old_tags])[1:]
            for key in new:
                joined.setdefault(key, []).append((row["published"], row["id"]))
        self._bump_feeds(conn, touched, joined, now)

    def _bump_feeds(self, conn: Connection, touched: Collection[str],
                    joined: dict[str, list[tuple[datetime, str]]], now: datetime) -> None:
        keys = sorted(touched)
        if not keys:
            return
        _add_feeds(conn, keys, now)
        current: dict[str, Any] = {}
        for chunk in _chunks(keys):
            query = (select(feeds.c.key, feeds.c.version, feeds.c.changed, feeds.c.last_seq)
                     .where(among(conn, feeds.c.key, chunk)).order_by(feeds.c.key).with_for_update())
            current.update((row.key, row) for row in conn.execute(query))
        updates, entries = [], []
        for key in keys:
            row = current[key]
            # Within a batch, posts join in date order, so a bulk import archives by date.
            members = sorted(joined.get(key, ()))
            for seq, (_published, post_id) in enumerate(members, row.last_seq + 1):
                entries.append({"feed": key, "seq": seq, "post_id": post_id, "added": now})
            changed = now if row.version == 0 else _after(row.changed, now)
            updates.append({"k": key, "v": row.version + 1, "c": changed,
                            "s": row.last_seq + len(members)})
        _update_feeds(conn, updates)
        bulk_insert(conn, feed_entries, entries)

    def touch_feeds(self, keys: Iterable[str], when: datetime) -> None:
        """Record that these feeds' entries changed at ``when`` (e.g. after deleting posts)."""
        with self._connect(write=True) as conn:
            self._bump_feeds(conn, set(keys), {}, when)

    def feed_keys_of(self, post_ids: Sequence[str]) -> set[str]:
        """Return the keys of every feed these posts appear in (call before deleting them)."""
        found: set[str] = set()
        with self._connect() as conn:
            for chunk in _chunks(list(post_ids)):
                found.update(conn.execute(select(feed_entries.c.feed).distinct()
                                          .where(feed_entries.c.post_id.in_(chunk))).scalars())
        return found

    # -- reading state ---------------------------------------------------------------

    def feed_state(self, key: str) -> FeedState | None:
        """Return the committed state of one feed (cheap: the hot path of every feed request)."""
        if self._state_reader is None:
            self._state_reader = feed_state_lookup(self.engine)
        return self._state_reader.get(key)

    def feed_states(self, keys: Sequence[str]) -> dict[str, FeedState]:
        found: dict[str, FeedState] = {}
        with self._connect() as conn:
            for chunk in _chunks(list(keys)):
                for row in conn.execute(select(feeds).where(feeds.c.key.in_(chunk))):
                    found[row.key] = FeedState(row.key, row.version, row.changed, row.last_seq)
        return found

    # -- reading entries -------------------------------------------------------------

    def feed_range(self, key: str, first: int, last: int) -> list[Post]:
        """The posts with sequence numbers ``first``..``last`` (an archive page), oldest first."""
        ids = (select(feed_entries.c.post_id)
               .where(feed_entries.c.feed == key, feed_entries.c.seq.between(first, last))
               .order_by(feed_entries.c.seq))
        return self._ordered(ids)

    def feed_range_ids(self, key: str, first: int, last: int) -> list[str]:
        """The ids of the posts with sequence numbers ``first``..``last``, oldest first."""
        query = (select(feed_entries.c.post_id)
                 .where(feed_entries.c.feed == key, feed_entries.c.seq.between(first, last))
                 .order_by(feed_entries.c.seq))
        with self._connect() as conn:
            return list(conn.execute(query).scalars())

    def posts_by_id(self, ids: Sequence[str]) -> list[Post]:
        """The posts with these ids, in this order (missing ones skipped)."""
        return self._ordered(select(posts.c.id).where(posts.c.id.in_(list(ids)))) if ids else []

    def feed_range_stats(self, key: str, first: int, last: int) -> tuple[int, datetime | None]:
        """Count the entries of a sequence range and return its last change (added or edited)."""
        query = (select(func.count(), func.max(feed_entries.c.added), func.max(posts.c.updated))
                 .select_from(feed_entries.join(posts, posts.c.id == feed_entries.c.post_id))
                 .where(feed_entries.c.feed == key, feed_entries.c.seq.between(first, last)))
        with self._connect() as conn:
            count, added, updated = conn.execute(query).one()
        stamps = [t for t in (added, updated) if t is not None]
        return int(count or 0), max(stamps) if stamps else None

    def feed_seq(self, key: str, post_id: str) -> int | None:
        """Return the sequence number of a post (either infoCode form) in a feed."""
        query = (select(feed_entries.c.seq)
                 .select_from(feed_entries.join(posts, posts.c.id == feed_entries.c.post_id))
                 .where(feed_entries.c.feed == key, posts.c.key == article_key(post_id)))
        with self._connect() as conn:
            return conn.execute(query).scalar()

    def feed_newer(self, key: str, *, after_seq: int | None = None, since: datetime | None = None,
                   limit: int) -> list[Post]:
        """Entries that joined the feed after ``after_seq``, or joined or changed after
        ``since``; the newest ``limit`` of them by publish date."""
        conditions = []
        if after_seq is not None:
            conditions.append(feed_entries.c.seq > after_seq)
        if since is not None:
            conditions.append(or_(feed_entries.c.added > since, posts.c.updated > since))
        ids = (select(feed_entries.c.post_id)
               .select_from(feed_entries.join(posts, posts.c.id == feed_entries.c.post_id))
               .where(feed_entries.c.feed == key, and_(*conditions))
               .order_by(posts.c.published.desc(), posts.c.id.desc()).limit(limit))
        return self._ordered(ids)

    def feed_latest(self, key: str, limit: int) -> list[Post]:
        """The newest ``limit`` entries of a feed by publish date (ties by id)."""
        kind, _, name = key.partition("/")
        if kind == "category":
            table: Any = post_categories
            ids = select(table.c.post_id).where(table.c.slug == name)
        elif kind == "tag":
            table = post_tags
            ids = select(table.c.post_id).where(table.c.tag == name)
        else:
            table = posts
            ids = select(posts.c.id)
        column = table.c.id if table is posts else table.c.post_id
        return self._ordered(ids.order_by(table.c.published.desc(), column.desc()).limit(limit))

    # -- sitemaps --------------------------------------------------------------------

    def site_links(self, first: int, last: int) -> list[tuple[str, str, datetime, datetime]]:
        """(id, category, published, updated) of the posts with site sequence numbers
        ``first``..``last``, in that order: what a sitemap part lists."""
        query = (select(posts.c.id, posts.c.category, posts.c.published, posts.c.updated)
                 .select_from(feed_entries.join(posts, posts.c.id == feed_entries.c.post_id))
                 .where(feed_entries.c.feed == SITE_FEED, feed_entries.c.seq.between(first, last))
                 .order_by(feed_entries.c.seq))
        with self._connect() as conn:
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]

    def refs_published_since(self, since: datetime, limit: int) -> list[PostRef]:
        """Links to the posts published since ``since``, newest first."""
        query = (_ref_query().where(posts.c.published >= since)
                 .order_by(posts.c.published.desc(), posts.c.id.desc()).limit(limit))
        return self._refs(query)

    def _refs(self, query: Any) -> list[PostRef]:
        with self._connect() as conn:
            return [PostRef(r.id, r.category, r.title, r.published, r.updated)
                    for r in conn.execute(query)]


def _add_feeds(conn: Connection, keys: list[str], now: datetime) -> None:
    """Add a state row for each feed that has none yet."""
    if conn.dialect.name == "postgresql":  # one statement, not one per feed
        conn.execute(text("INSERT INTO feeds (key, version, changed, last_seq) "
                          "SELECT unnest(CAST(:keys AS text[])), 0, :now, 0 "
                          "ON CONFLICT (key) DO NOTHING"), {"keys": keys, "now": now})
        return
    insert_ignoring_duplicates(
        conn, feeds, [{"key": k, "version": 0, "changed": now, "last_seq": 0} for k in keys],
        ["key"])


def _update_feeds(conn: Connection, updates: list[dict[str, Any]]) -> None:
    """Write each feed's new version, change time and last sequence number."""
    if conn.dialect.name == "postgresql":  # one statement, not one per feed
        conn.execute(text(
            "UPDATE feeds SET version = v.v, changed = v.c, last_seq = v.s "
            "FROM unnest(CAST(:k AS text[]), CAST(:v AS integer[]), CAST(:c AS timestamptz[]), "
            "CAST(:s AS integer[])) AS v(k, v, c, s) WHERE feeds.key = v.k"),
            {name: [u[name] for u in updates] for name in ("k", "v", "c", "s")})
        return
    conn.execute(feeds.update().where(feeds.c.key == bindparam("k"))
                 .values(version=bindparam("v"), changed=bindparam("c"), last_seq=bindparam("s")),
                 updates)


def _after(previous: datetime, now: datetime) -> datetime:
    """The time of a change after ``previous``: ``now``, but at least into the next second
    (keeping now's microseconds, so validators of unrelated databases rarely coincide)."""
    floor = previous.replace(microsecond=0) + TICK
    return now if now >= floor else floor.replace(microsecond=now.microsecond)


def _ref_query() -> Any:
    return select(posts.c.id, posts.c.category, posts.c.title, posts.c.published, posts.c.updated)


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]
