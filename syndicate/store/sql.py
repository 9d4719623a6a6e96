"""The Store: posts, categories, tags and share codes in one SQL database."""

from __future__ import annotations

import errno
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..errors import StorageConflict, StorageError, StorageFull
from ..model import Category, Outcome, Post, PostInput, StoreResult, article_key
from ..share import mint_code
from .categories import DISPLAY_NAME, CategoryStoreMixin
from .feeds import FeedStoreMixin, among, bulk_insert, feed_keys
from .hot import committed_here, notify_changes
from .listings import ListingStoreMixin
from .pings import PingStoreMixin
from .schema import categories, post_categories, post_tags, posts, share_codes, tombstones
from .shares import ShareStoreMixin
from .sources import SourceStoreMixin

MIGRATIONS = Path(__file__).with_name("migrations")
#: The tables bulk imports and prunes rewrite, whose planner statistics they skew.
BULK_TABLES = ("posts", "post_categories", "post_tags", "feed_entries", "feeds", "share_codes",
               "tombstones")
# Stay well under SQLite's bound-parameter limit in IN (...) lists.
CHUNK = 500
#: Rounds of re-minting share codes that clashed with existing ones (each clash is ~2**-60).
MINT_ATTEMPTS = 8


@dataclass(slots=True)
class _Draft:
    """One article's merged state while a batch is being saved."""

    id: str
    key: str
    primary: str
    categories: list[str]
    tags: list[str]
    data: PostInput
    origins: list[str]
    #: Each category's name as the inputs filed under it give it (the first one wins).
    names: dict[str, str]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _disk_full(error: BaseException | None) -> bool:
    """Tell whether a driver error means the disk is full (SQLite, PostgreSQL, or the OS)."""
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return getattr(error, "sqlstate", None) == "53100"  # PostgreSQL disk_full


def fingerprint(data: PostInput, cats: Sequence[str], tags: Sequence[str]) -> str:
    """Hash everything a reader would see change, so re-imports of the same text are no-ops."""
    payload = json.dumps(
        [data.title, data.published.astimezone(UTC).isoformat(), data.html, data.summary,
         data.source, data.url, sorted(cats), sorted(tags)],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class Store(SourceStoreMixin, FeedStoreMixin, ListingStoreMixin, PingStoreMixin, ShareStoreMixin,
            CategoryStoreMixin):
    """Posts, categories, tags and share codes in SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
        except SQLAlchemyError as error:
            raise StorageError(f"cannot open database {url!r}: {error}") from error

    # -- lifecycle -------------------------------------------------------------------

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.begin() if write else self.engine.connect() as conn:
                yield conn
                if write:
                    notify_changes(conn)
            if write:
                committed_here(self.engine)
        except SQLAlchemyError as error:
            raise self._storage_error(error, error.__dict__.get("orig")) from error
        except self.engine.dialect.loaded_dbapi.Error as error:
            # Raw driver calls (PostgreSQL's COPY) raise the driver's errors, unwrapped.
            raise self._storage_error(error, error) from error

    def _storage_error(self, error: Exception, orig: Any) -> StorageError:
        """The StorageError for a database failure: a lost race, a full disk, or other."""
        dbapi = self.engine.dialect.loaded_dbapi
        if isinstance(error, IntegrityError) or isinstance(orig, dbapi.IntegrityError):
            return StorageConflict(f"database conflict: {orig}")
        if _disk_full(orig):
            return StorageFull(f"the disk holding the database {self._where()} is full: "
                               "free some space, then run it again")
        return StorageError(f"database error: {error.__class__.__name__}: {error}")

    def _where(self) -> str:
        """The database for a message: the SQLite file, or the URL without its password."""
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite":
            return url.database or ":memory:"
        return url.render_as_string(hide_password=True)

    def upgrade(self) -> str:
        """Create or upgrade the schema to the newest migration; return the revision."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._connect(write=True) as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        return self.revision() or ""

    def revision(self) -> str | None:
        """Return the schema revision, or None for an empty database."""
        with self._connect() as conn:
            if not self.engine.dialect.has_table(conn, "alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def ping(self) -> bool:
        """Tell whether the database answers."""
        with self._connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()

    def analyze(self) -> None:
        """Refresh PostgreSQL's planner statistics of the tables bulk writes change.

        Autovacuum may be off or late after a bulk write, and stale row counts make the
        planner scan whole tables. SQLite plans by its indexes without statistics, and an
        ANALYZE there would change the plans every other query was measured with: skipped.
        """
        if self.engine.dialect.name != "postgresql":
            return
        with self._connect(write=True) as conn:
            conn.execute(text(f"ANALYZE {', '.join(BULK_TABLES)}"))

    # -- writing ---------------------------------------------------------------------

    def save_posts(self, batch: Sequence[PostInput], now: datetime | None = None, *,
                   run: datetime | None = None) -> list[StoreResult]:
        """Insert or update a batch of posts in one transaction; one result per article.

        Inputs naming the same article (NW and bare infoCode, or the same file twice) are
        merged: the first keeps its id and primary category, the last one's content wins,
        categories and tags accumulate. ``category_slug`` must be set on every input.
        ``run`` stamps the posts created (default ``now``): an article an earlier batch of
        the same run created is merged into as if it had been in this batch (MERGED).
        """
        now = now or datetime.now(UTC)
        drafts = self._merge(batch)
        with self._connect(write=True) as conn:
            existing = self._existing(conn, list(drafts))
            self._ensure_categories(conn, drafts.values(), now)
            results = [self._save_one(conn, draft, existing.get(key), now, run)
                       for key, draft in drafts.items()]
            self._write_rows(conn, results, now)
        return [result for result, _ in results]

    @staticmethod
    def _merge(batch: Iterable[PostInput]) -> dict[str, _Draft]:
        drafts: dict[str, _Draft] = {}
        for item in batch:
            if item.category_slug is None:
                raise ValueError(f"{item.origin}: category_slug must be resolved before storing")
            key = article_key(item.id)
            draft = drafts.get(key)
            if draft is None:
                drafts[key] = _Draft(item.id, key, item.category_slug, [item.category_slug],
                                     list(dict.fromkeys(item.tags)), item, [item.origin],
                                     {item.category_slug: item.category_name})
                continue
            _add_new(draft.categories, [item.category_slug])
            draft.names.setdefault(item.category_slug, item.category_name)
            _add_new(draft.tags, item.tags)
            draft.data = item
            draft.origins.append(item.origin)
        return drafts

    def _existing(self, conn: Connection, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), CHUNK):
            rows = conn.execute(
                select(posts.c.id, posts.c.key, posts.c.category, posts.c.fingerprint,
                       posts.c.share_code, posts.c.updated, posts.c.published, posts.c.created)
                .where(among(conn, posts.c.key, keys[start:start + CHUNK]))
            ).mappings()
            for row in rows:
                found[row["key"]] = {**row, "categories": [], "tags": []}
        ids = {row["id"]: row for row in found.values()}
        for table, column, field in ((post_categories, "slug", "categories"), (post_tags, "tag", "tags")):
            id_list = list(ids)
            for start in range(0, len(id_list), CHUNK):
                links = conn.execute(
                    select(table.c.post_id, table.c[column])
                    .where(among(conn, table.c.post_id, id_list[start:start + CHUNK]))
                    .order_by(table.c.post_id, table.c.position)
                )
                for post_id, value in links:
                    ids[post_id][field].append(value)
        return found

    def _ensure_categories(self, conn: Connection, drafts: Iterable[_Draft], now: datetime) -> None:
        # A new category is named by the inputs filed under it, never by another input
        # of the same article (an NW/bare pair may arrive in two categories).
        names: dict[str, str] = {}
        for draft in drafts:
            for slug, name in draft.names.items():
                names.setdefault(slug, name)
        slugs = list(names)
        known: set[str] = set()
        for start in range(0, len(slugs), CHUNK):
            known.update(conn.execute(
                select(categories.c.slug).where(among(conn, categories.c.slug, slugs[start:start + CHUNK]))
            ).scalars())
        missing = [{"slug": s, "name": names[s], "created": now} for s in slugs if s not in known]
        if missing:
            conn.execute(categories.insert(), missing)

    def _save_one(
        self, conn: Connection, draft: _Draft, old: dict[str, Any] | None, now: datetime,
        run: datetime | None = None,
    ) -> tuple[StoreResult, dict[str, Any] | None]:
        origin, merged = draft.origins[-1], tuple(draft.origins[:-1])
        # Created earlier in this run: this input joins that article as an in-batch one would.
        same_run = old is not None and run is not None and old["created"] == run
        before: tuple[list[str], list[str]] = ([], [])
        if old is not None:
            before = (list(old["categories"]), list(old["tags"]))
            _add_new(old["categories"], draft.categories)
            _add_new(old["tags"], draft.tags)
            draft.id, draft.primary = old["id"], old["category"]
            draft.categories, draft.tags = old["categories"], old["tags"]
        print_ = fingerprint(draft.data, draft.categories, draft.tags)
        if old is not None and old["fingerprint"] == print_:
            outcome = Outcome.MERGED if same_run else Outcome.UNCHANGED
            return StoreResult(outcome, draft.id, origin, merged=merged), None
        outcome = Outcome.NEW if old is None else Outcome.UPDATED
        fresh = old is None or same_run
        updated = draft.data.published if fresh else max(now, draft.data.published)
        row = {
            "id": draft.id, "key": draft.key, "title": draft.data.title,
            "published": draft.data.published, "updated": updated, "category": draft.primary,
            "source": draft.data.source, "url": draft.data.url, "html": draft.data.html,
            "summary": draft.data.summary, "fingerprint": print_, "created": run or now,
            "share_code": old["share_code"] if old else None,
            "_categories": draft.categories, "_tags": draft.tags, "_outcome": outcome,
            "_old_categories": set(before[0]), "_old_tags": set(before[1]),
            "_old_published": old["published"] if old else None,
        }
        keys = tuple(feed_keys(draft.categories, draft.tags))
        shown = Outcome.MERGED if same_run else outcome
        return StoreResult(shown, draft.id, origin, feeds=keys, merged=merged), row

    def _write_rows(self, conn: Connection, results: list[tuple[StoreResult, dict[str, Any] | None]],
                    now: datetime) -> None:
        rows = [row for _, row in results if row is not None]
        if not rows:
            return
        new = [row for row in rows if row["_outcome"] is Outcome.NEW]
        self._assign_codes(conn, new, now)
        columns = [c.name for c in posts.columns]
        bulk_insert(conn, posts, [{c: row[c] for c in columns} for row in new])
        changed = [row for row in rows if row["_outcome"] is Outcome.UPDATED]
        for row in changed:
            values = {c: row[c] for c in columns if c not in ("id", "key", "created", "share_code")}
            conn.execute(posts.update().where(posts.c.id == row["id"]).values(**values))
        # Memberships only accumulate: existing rows stay (and keep their feed sequence
        # numbers); a moved publish date is copied to them, new ones are added.
        for row in changed:
            if row["_old_published"] != row["published"]:
                for table in (post_categories, post_tags):
                    conn.execute(table.update().where(table.c.post_id == row["id"])
                                 .values(published=row["published"]))
        link_rows = [
            {"post_id": row["id"], "slug": slug, "published": row["published"], "position": i}
            for row in rows for i, slug in enumerate(row["_categories"])
            if slug not in row["_old_categories"]
        ]
        tag_rows = [
            {"post_id": row["id"], "tag": tag, "published": row["published"], "position": i}
            for row in rows for i, tag in enumerate(row["_tags"]) if tag not in row["_old_tags"]
        ]
        bulk_insert(conn, post_categories, link_rows)
        bulk_insert(conn, post_tags, tag_rows)
        self._record_feed_changes(conn, rows, now)

    def _assign_codes(self, conn: Connection, rows: list[dict[str, Any]], now: datetime) -> None:
        """Give each new post its share code: the one its article had before (a deleted
        post that comes back), else a new random code that was never minted before."""
        if not rows:
            return
        keys = [row["key"] for row in rows]
        known: dict[str, str] = {}
        for start in range(0, len(keys), CHUNK):
            rows_found = conn.execute(select(share_codes.c.key, share_codes.c.code)
                                      .where(among(conn, share_codes.c.key, keys[start:start + CHUNK])))
            known.update((key, code) for key, code in rows_found)
        fresh = {row["key"]: mint_code() for row in rows if row["key"] not in known}
        for _attempt in range(MINT_ATTEMPTS):
            codes = list(fresh.values())
            taken: set[str] = set()
            for start in range(0, len(codes), CHUNK):
                taken.update(conn.execute(
                    select(share_codes.c.code)
                    .where(among(conn, share_codes.c.code, codes[start:start + CHUNK]))).scalars())
            clashes = [key for key, code in fresh.items() if code in taken]
            # Codes minted twice within this batch clash too.
            seen: set[str] = set()
            for key, code in fresh.items():
                if code in seen:
                    clashes.append(key)
                seen.add(code)
            if not clashes:
                break
            for key in clashes:
                fresh[key] = mint_code()
        else:
            raise StorageError("could not mint a free share code: the code space is exhausted")
        bulk_insert(conn, share_codes, [{"code": code, "key": key, "minted": now}
                                        for key, code in fresh.items()])
        for row in rows:
            row["share_code"] = known.get(row["key"]) or fresh[row["key"]]

    # -- categories ------------------------------------------------------------------

    def category(self, slug: str) -> Category | None:
        with self._connect() as conn:
            row = conn.execute(select(categories.c.slug, DISPLAY_NAME.label("name"))
                               .where(categories.c.slug == slug)).first()
        return Category(row.slug, row.name) if row else None

    def category_names(self) -> dict[str, str]:
        """Return every category as name -> slug (the first slug created for a name wins)."""
        with self._connect() as conn:
            rows = conn.execute(select(categories.c.name, categories.c.slug)
                                .order_by(categories.c.created.desc(), categories.c.slug.desc()))
            return {name: slug for name, slug in rows}

    def tags(self) -> list[str]:
        """Every tag that has posts, in the database's order of the names."""
        query = select(post_tags.c.tag).distinct().order_by(post_tags.c.tag)
        with self._connect() as conn:
            return list(conn.execute(query).scalars())

    # -- links of every post (static export) -----------------------------------------

    def post_link_rows(self, batch: int = 1000) -> Iterator[tuple[str, str, datetime, str]]:
        """(id, category, published, share code) of every post in id order, ``batch`` rows
        per query, so that memory stays bounded however large the site is."""
        query = select(posts.c.id, posts.c.category, posts.c.published, posts.c.share_code)
        yield from self._keyset(query, posts.c.id, batch)

    def gone_link_rows(self, batch: int = 1000) -> Iterator[tuple[str, str, datetime, str]]:
        """The same for deleted posts (tombstones) whose article has not come back since."""
        alive = select(posts.c.key).where(posts.c.key == tombstones.c.key).exists()
        query = (select(tombstones.c.id, tombstones.c.category, tombstones.c.published,
                        tombstones.c.share_code, tombstones.c.key).where(~alive))
        for row in self._keyset(query, tombstones.c.key, batch):
            yield row[0], row[1], row[2], row[3]

    def _keyset(self, query: Any, column: Any, batch: int) -> Iterator[Any]:
        """Page through ``query`` ordered by the unique ``column``, one query per batch."""
        last: str | None = None
        while True:
            page = query.order_by(column).limit(batch)
            if last is not None:
                page = page.where(column > last)
            with self._connect() as conn:
                rows = list(conn.execute(page))
            yield from (tuple(row) for row in rows)
            if len(rows) < batch:
                return
            last = rows[-1]._mapping[column]

    # -- reading posts ---------------------------------------------------------------

    def get_post(self, post_id: str) -> Post | None:
        """Return the post with this id, in either infoCode form."""
        found = self._posts(posts.c.key == article_key(post_id))
        return found[0] if found else None

    def latest(self, limit: int, offset: int = 0) -> list[Post]:
        """The newest posts of the whole site."""
        ids = (select(posts.c.id).order_by(posts.c.published.desc(), posts.c.id.desc())
               .limit(limit).offset(offset))
        return self._ordered(ids)

    def in_category(self, slug: str, limit: int, offset: int = 0) -> list[Post]:
        table = post_categories
        ids = (select(table.c.post_id).where(table.c.slug == slug)
               .order_by(table.c.published.desc(), table.c.post_id.desc()).limit(limit).offset(offset))
        return self._ordered(ids)

    def with_tag(self, tag: str, limit: int, offset: int = 0) -> list[Post]:
        table = post_tags
        ids = (select(table.c.post_id).where(table.c.tag == tag)
               .order_by(table.c.published.desc(), table.c.post_id.desc()).limit(limit).offset(offset))
        return self._ordered(ids)

    def count(self, *, category: str | None = None, tag: str | None = None) -> int:
        if category is not None:
            query = select(func.count()).where(post_categories.c.slug == category)
        elif tag is not None:
            query = select(func.count()).where(post_tags.c.tag == tag)
        else:
            query = select(func.count()).select_from(posts)
        with self._connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def _ordered(self, id_query: Any) -> list[Post]:
        with self._connect() as conn:
            ids = list(conn.execute(id_query).scalars())
        by_id = {post.id: post for post in self._posts(posts.c.id.in_(ids))} if ids else {}
        return [by_id[i] for i in ids if i in by_id]

    def _posts(self, where: Any) -> list[Post]:
        query = (select(posts, DISPLAY_NAME.label("category_name"))
                 .join(categories, categories.c.slug == posts.c.category).where(where))
        with self._connect() as conn:
            rows = list(conn.execute(query).mappings())
            if not rows:
                return []
            ids = [row["id"] for row in rows]
            tags = _grouped(conn, post_tags, "tag", ids)
            cats = _grouped(conn, post_categories, "slug", ids)
        return [_to_post(row, tags.get(row["id"], ()), cats.get(row["id"], ())) for row in rows]


def _grouped(conn: Connection, table: Any, column: str, ids: list[str]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    query = (select(table.c.post_id, table.c[column]).where(table.c.post_id.in_(ids))
             .order_by(table.c.post_id, table.c.position))
    for post_id, value in conn.execute(query):
        grouped.setdefault(post_id, []).append(value)
    return {key: tuple(values) for key, values in grouped.items()}


def _to_post(row: Any, tags: tuple[str, ...], cats: tuple[str, ...]) -> Post:
    return Post(
        id=row["id"], title=row["title"], published=row["published"], updated=row["updated"],
        category=Category(row["category"], row["category_name"]), tags=tags, html=row["html"],
        summary=row["summary"], source=row["source"], url=row["url"],
        share_code=row["share_code"], categories=cats or (row["category"],),
    )


def _add_new(target: list[str], values: Iterable[str]) -> None:
    for value in values:
        if value not in target:
            target.append(value)
