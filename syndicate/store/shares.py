"""Share links: which post a short code or an old NewsShare link names, and their counts.

Both lookups run on every share link request, so they go through ``HotLookup`` (no query
at all on SQLite until something commits). A deleted post's tombstone keeps its code and
id, so its links answer 410 instead of 404; an article that came back wins over its
tombstone.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, select

from ..model import article_key
from .feeds import upsert_insert
from .hot import HotLookup, as_utc
from .schema import share_hits

_TARGET = """
SELECT id, category, published, share_code, 0 AS gone FROM posts WHERE {column} = {{key}}
UNION ALL
SELECT id, category, published, share_code, 1 AS gone FROM tombstones WHERE {column} = {{key}}
ORDER BY 5 LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class ShareTarget:
    """The post a share link names: enough to build its URL, or to say it was deleted."""

    post_id: str
    category: str
    published: datetime
    code: str
    gone: bool


@dataclass(frozen=True, slots=True)
class ShareDay:
    """One day's use of a share code (the day in the site time zone, ``YYYY-MM-DD``)."""

    day: str
    clicks: int
    previews: int


def _target(_key: str, row: tuple[Any, ...]) -> ShareTarget:
    return ShareTarget(row[0], row[1], as_utc(row[2]), row[3], bool(row[4]))


class ShareStoreMixin:
    """The Store's share links: code and id lookups on the hot path, per-day counts."""

    engine: Engine
    _by_code: HotLookup[ShareTarget] | None = None
    _by_key: HotLookup[ShareTarget] | None = None

    if TYPE_CHECKING:  # provided by Store

        def _connect(self, write: bool = False) -> AbstractContextManager[Connection]: ...

    def share_target(self, code: str) -> ShareTarget | None:
        """The post (or deleted post) with this exact, normalised share code."""
        if self._by_code is None:
            self._by_code = HotLookup(self.engine, _TARGET.format(column="share_code"), _target,
                                      "the post of share code")
        return self._by_code.get(code)

    def legacy_target(self, post_id: str) -> ShareTarget | None:
        """The post (or deleted post) with this id, in either infoCode form."""
        if self._by_key is None:
            self._by_key = HotLookup(self.engine, _TARGET.format(column="key"), _target,
                                     "the post of id")
        return self._by_key.get(article_key(post_id))

    def add_share_hits(self, counts: Mapping[tuple[str, str], tuple[int, int]]) -> None:
        """Add (clicks, previews) per (code, day) to the stored counts, in one transaction.
        Additive, so any number of processes may flush their counts concurrently."""
        rows = [{"code": code, "day": day, "clicks": clicks, "previews": previews}
                for (code, day), (clicks, previews) in sorted(counts.items())
                if clicks or previews]
        if not rows:
            return
        with self._connect(write=True) as conn:
            statement = upsert_insert(conn, share_hits)
            conn.execute(statement.on_conflict_do_update(
                index_elements=["code", "day"],
                set_={"clicks": share_hits.c.clicks + statement.excluded.clicks,
                      "previews": share_hits.c.previews + statement.excluded.previews}), rows)

    def share_days(self, code: str) -> list[ShareDay]:
        """Every day this code was used, oldest first."""
        query = (select(share_hits.c.day, share_hits.c.clicks, share_hits.c.previews)
                 .where(share_hits.c.code == code).order_by(share_hits.c.day))
        with self._connect() as conn:
            return [ShareDay(*row) for row in conn.execute(query)]
