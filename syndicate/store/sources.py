"""Store methods for upstream sources: poll state, claims, item fingerprints and tombstones.

A mixin of Store (``self._connect`` and ``self.engine`` come from it). Claims are one
atomic ``UPDATE … WHERE claimed_until < now`` with a lease, so on SQLite and PostgreSQL
alike two workers, on one machine or several, never fetch the same source at once, and a
worker that dies loses its claims when the lease runs out.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, or_, select, update

from ..model import article_key
from ..redact import redact
from .feeds import among
from .schema import (
    feed_entries,
    post_categories,
    post_tags,
    posts,
    source_items,
    source_state,
    tombstones,
)

CHUNK = 500
#: Posts a prune deletes per transaction: each batch holds its locks for a moment only.
PRUNE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the database knows about one source."""

    name: str
    config_url: str
    url: str
    etag: str | None
    last_modified: str | None
    next_poll: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    failures: int
    last_poll: datetime | None
    last_status: int | None
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    posts_new: int
    posts_updated: int
    #: A permanent redirect target and the number of polls in a row that answered with it.
    moved_to: str | None = None
    moved_seen: int = 0
    #: "internal" or "public" once the first poll has resolved the configured URL.
    network: str | None = None


@dataclass(frozen=True, slots=True)
class PollRecord:
    """What one poll found, written when the claim is released."""

    url: str
    etag: str | None
    last_modified: str | None
    next_poll: datetime
    status: int | None
    failures: int
    error: str | None = None
    new: int = 0
    updated: int = 0
    moved_to: str | None = None
    moved_seen: int = 0
    #: Set on the poll that classified the source; None keeps what is stored.
    network: str | None = None


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A deleted post: enough to answer 410 at its old addresses."""

    key: str
    id: str
    share_code: str
    category: str
    published: datetime
    title: str
    deleted: datetime


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune deleted, and the feeds whose entries changed."""

    deleted: int
    feed_keys: frozenset[str]


def item_hash(key: str) -> str:
    """The stored name of an upstream item key (keys may be long URLs)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class SourceStoreMixin:
    """Source state, claims, item fingerprints and tombstones (mixed into Store)."""

    if TYPE_CHECKING:  # provided by Store

        def _connect(self, write: bool = False) -> AbstractContextManager[Connection]: ...

        def _bump_feeds(self, conn: Connection, touched: Collection[str],
                        joined: dict[str, list[tuple[datetime, str]]], now: datetime) -> None: ...

    # -- source state ----------------------------------------------------------------

    def sync_sources(self, configured: Mapping[str, str], now: datetime) -> None:
        """Add a state row per configured source (name -> URL); a changed URL starts over."""
        with self._connect(write=True) as conn:
            known = dict(conn.execute(select(source_state.c.name, source_state.c.config_url)).all())
            new = [{"name": name, "config_url": url, "url": url, "next_poll": now,
                    "failures": 0, "posts_new": 0, "posts_updated": 0}
                   for name, url in configured.items() if name not in known]
            if new:
                conn.execute(source_state.insert(), new)
            for name, url in configured.items():
                if name in known and known[name] != url:
                    conn.execute(update(source_state).where(source_state.c.name == name).values(
                        config_url=url, url=url, etag=None, last_modified=None, failures=0,
                        next_poll=now, moved_to=None, moved_seen=0, network=None))

    def source_states(self, names: Iterable[str] | None = None) -> list[SourceState]:
        query = select(source_state).order_by(source_state.c.name)
        if names is not None:
            query = query.where(source_state.c.name.in_(list(names)))
        with self._connect() as conn:
            return [SourceState(**row) for row in conn.execute(query).mappings()]

    def due_sources(self, now: datetime, names: Iterable[str], limit: int) -> list[str]:
        """Names among ``names`` due for a poll and not claimed, the most overdue first."""
        wanted = list(names)
        query = (select(source_state.c.name)
                 .where(source_state.c.next_poll <= now, _unclaimed(now))
                 .order_by(source_state.c.next_poll, source_state.c.name).limit(limit))
        if len(wanted) <= CHUNK:
            query = query.where(source_state.c.name.in_(wanted))
            with self._connect() as conn:
                return list(conn.execute(query).scalars())
        allowed = set(wanted)
        with self._connect() as conn:
            due = conn.execute(query.limit(limit + len(allowed))).scalars()
            return [name for name in due if name in allowed][:limit]

    def next_poll_time(self, names: Iterable[str]) -> datetime | None:
        """The earliest time one of these sources is due."""
        query = select(func.min(source_state.c.next_poll)).where(
            source_state.c.name.in_(list(names)))
        with self._connect() as conn:
            return conn.execute(query).scalar()  # type: ignore[no-any-return]

    # -- claims ----------------------------------------------------------------------

    def claim_source(self, name: str, worker: str, now: datetime, lease: timedelta,
                     force: bool = False) -> SourceState | None:
        """Claim a source for ``lease`` if nobody holds it (and, unless forced, it is due)."""
        stmt = (update(source_state)
                .where(source_state.c.name == name, _unclaimed(now))
                .values(claimed_by=worker, claimed_until=now + lease))
        if not force:
            stmt = stmt.where(source_state.c.next_poll <= now)
        with self._connect(write=True) as conn:
            if conn.execute(stmt).rowcount != 1:
                return None
            query = select(source_state).where(source_state.c.name == name)
            row = conn.execute(query).mappings().one()
        return SourceState(**row)

    def renew_claim(self, name: str, worker: str, until: datetime) -> bool:
        """Extend a claim this worker holds; False if it was lost."""
        stmt = (update(source_state)
                .where(source_state.c.name == name, source_state.c.claimed_by == worker)
                .values(claimed_until=until))
        with self._connect(write=True) as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def release_source(self, name: str, worker: str, record: PollRecord | None,
                       now: datetime) -> bool:
        """Record a poll and release the claim; False if the claim had been lost."""
        values: dict[str, Any] = {"claimed_by": None, "claimed_until": None}
        if record is not None:
            values.update(
                url=record.url, etag=record.etag, last_modified=record.last_modified,
                next_poll=record.next_poll, failures=record.failures, last_poll=now,
                last_status=record.status,
                posts_new=source_state.c.posts_new + record.new,
                posts_updated=source_state.c.posts_updated + record.updated,
                moved_to=record.moved_to, moved_seen=record.moved_seen,
            )
            if record.network is not None:
                values["network"] = record.network
            if record.error is None:
                values["last_success"] = now
            else:
                # Shown on /status and in the API: never with the keys a URL may carry.
                values.update(last_error=redact(record.error), last_error_at=now)
        stmt = (update(source_state)
                .where(source_state.c.name == name, source_state.c.claimed_by == worker)
                .values(**values))
        with self._connect(write=True) as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    # -- item fingerprints -----------------------------------------------------------

    def item_fingerprints(self, source: str, keys: Iterable[str]) -> dict[str, str]:
        """Return the stored fingerprint of each known item key of a source."""
        by_hash = {item_hash(key): key for key in keys}
        hashes = list(by_hash)
        found: dict[str, str] = {}
        with self._connect() as conn:
            for start in range(0, len(hashes), CHUNK):
                rows = conn.execute(
                    select(source_items.c.item, source_items.c.fingerprint).where(
                        source_items.c.source == source,
                        source_items.c.item.in_(hashes[start:start + CHUNK])))
                found.update((by_hash[item], print_) for item, print_ in rows)
        return found

    def remember_items(self, source: str, items: Mapping[str, tuple[str, str]],
                       now: datetime) -> None:
        """Store item key -> (fingerprint, post id) for items just stored."""
        rows = [{"source": source, "item": item_hash(key), "fingerprint": print_,
                 "post_id": post_id, "seen": now} for key, (print_, post_id) in items.items()]
        if not rows:
            return
        hashes = [row["item"] for row in rows]
        with self._connect(write=True) as conn:
            for start in range(0, len(hashes), CHUNK):
                conn.execute(delete(source_items).where(
                    source_items.c.source == source,
                    source_items.c.item.in_(hashes[start:start + CHUNK])))
            conn.execute(source_items.insert(), rows)

    # -- pruning and tombstones ------------------------------------------------------

    def prune_posts(self, before: datetime, now: datetime,
                    batch: int = PRUNE_BATCH) -> PruneResult:
        """Delete posts published before ``before``, oldest first, leaving tombstones.

        Each ``batch`` of posts is deleted in its own short transaction, so readers and
        writers wait for one batch at most, and an interrupted prune keeps what it did.
        The feeds that lost entries are bumped as it goes (at most once a second, so their
        Last-Modified does not run ahead of the clock) and once more at the end.
        """
        changed: set[str] = set()
        unbumped: set[str] = set()
        deleted, bumped = 0, time.monotonic()
        while True:
            with self._connect(write=True) as conn:
                found, keys = self._prune_batch(conn, before, now, batch)
                deleted += found
                unbumped |= keys
                if unbumped and (found < batch or time.monotonic() - bumped >= 1):
                    self._bump_feeds(conn, unbumped, {}, now)
                    changed |= unbumped
                    unbumped, bumped = set(), time.monotonic()
            if found < batch:
                break
        with self._connect(write=True) as conn:
            conn.execute(delete(source_items).where(source_items.c.seen < before))
        return PruneResult(deleted, frozenset(changed))

    def _prune_batch(self, conn: Connection, before: datetime, now: datetime,
                     batch: int) -> tuple[int, set[str]]:
        """Delete the oldest ``batch`` posts published before ``before``; return how many
        and the keys of the feeds they were in."""
        rows = list(conn.execute(
            select(posts.c.id, posts.c.key, posts.c.share_code, posts.c.category,
                   posts.c.published, posts.c.title)
            .where(posts.c.published < before)
            .order_by(posts.c.published, posts.c.id).limit(batch)).mappings())
        if not rows:
            return 0, set()
        ids = [row["id"] for row in rows]
        feeds = {"site"}
        feeds.update(f"category/{s}" for s in conn.execute(
            select(post_categories.c.slug).distinct()
            .where(among(conn, post_categories.c.post_id, ids))).scalars())
        feeds.update(f"tag/{t}" for t in conn.execute(
            select(post_tags.c.tag).distinct().where(among(conn, post_tags.c.post_id, ids)))
            .scalars())
        keys = [row["key"] for row in rows]
        conn.execute(delete(tombstones).where(among(conn, tombstones.c.key, keys)))
        conn.execute(tombstones.insert(), [{**row, "deleted": now} for row in rows])
        for table in (feed_entries, post_categories, post_tags):
            conn.execute(delete(table).where(among(conn, table.c.post_id, ids)))
        conn.execute(delete(posts).where(among(conn, posts.c.id, ids)))
        return len(rows), feeds

    def tombstone(self, post_id: str) -> Tombstone | None:
        """Return the tombstone of a deleted post, by id (either infoCode form). Share links
        find theirs through ``share_target`` / ``legacy_target``."""
        where = tombstones.c.key == article_key(post_id)
        with self._connect() as conn:
            row = conn.execute(select(tombstones).where(where)
                               .order_by(tombstones.c.deleted.desc())).mappings().first()
        return Tombstone(**row) if row else None


def _unclaimed(now: datetime) -> Any:
    return or_(source_state.c.claimed_until.is_(None), source_state.c.claimed_until < now)


def _chunks(rows: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start:start + CHUNK]
