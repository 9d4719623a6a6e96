"""Category names: derived from a category's own posts, or set by an operator.

``categories.name`` is the derived name (the media of the ``<媒体>新闻`` tag of the posts
filed under the category); imports look categories up by it. ``operator_name``, when set,
is the name readers see, and no import changes it. Renaming bumps every feed that shows
the name, in the same transaction, so feeds, pages and OPML change with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, select

from ..errors import InvalidInput
from ..model import CategoryInfo, feed_key
from .schema import categories, feed_entries, feeds, post_categories, posts

#: The state row bumped by every rename: the category index and the OPML follow it.
CATEGORY_INDEX = "index/categories"
#: The name readers see: the operator's, else the derived one.
DISPLAY_NAME = func.coalesce(categories.c.operator_name, categories.c.name)


@dataclass(frozen=True, slots=True)
class Renamed:
    """What a rename did: the name shown before and after, the feeds given a new version."""

    slug: str
    before: str
    after: str
    feeds: tuple[str, ...]


class CategoryStoreMixin:
    """The Store's category names: listing and renaming."""

    if TYPE_CHECKING:  # provided by Store and FeedStoreMixin

        def _connect(self, write: bool = False) -> AbstractContextManager[Connection]: ...

        def _bump_feeds(self, conn: Connection, touched: Any, joined: Any,
                        now: datetime) -> None: ...

    def category_infos(self) -> list[CategoryInfo]:
        """Every category with its names and post count, by slug."""
        count = (select(post_categories.c.slug, func.count().label("posts"))
                 .group_by(post_categories.c.slug).subquery())
        query = (select(categories.c.slug, categories.c.name, categories.c.operator_name,
                        func.coalesce(count.c.posts, 0))
                 .outerjoin(count, count.c.slug == categories.c.slug)
                 .order_by(categories.c.slug))
        with self._connect() as conn:
            return [CategoryInfo(slug, operator or name, name, int(total), operator is not None)
                    for slug, name, operator, total in conn.execute(query)]

    def rename_category(self, slug: str, name: str | None, now: datetime) -> Renamed | None:
        """Show ``name`` for the category (None: its derived name again); None if there is
        no such category. InvalidInput if another category already shows that name."""
        with self._connect(write=True) as conn:
            row = conn.execute(select(categories.c.name, categories.c.operator_name)
                               .where(categories.c.slug == slug).with_for_update()).first()
            if row is None:
                return None
            before, after = row.operator_name or row.name, name or row.name
            _require_unique(conn, slug, after)
            conn.execute(categories.update().where(categories.c.slug == slug)
                         .values(operator_name=name))
            keys = tuple(sorted(set(_feeds_showing(conn, slug)))) if after != before else ()
            self._bump_feeds(conn, (*keys, CATEGORY_INDEX) if after != before else (), {}, now)
        return Renamed(slug, before, after, keys)


def _require_unique(conn: Connection, slug: str, name: str) -> None:
    other = conn.execute(select(categories.c.slug)
                         .where(and_(DISPLAY_NAME == name, categories.c.slug != slug))).scalar()
    if other is not None:
        raise InvalidInput(f"category {other!r} is already named {name!r}: two categories "
                           "with one name cannot be told apart")


def _feeds_showing(conn: Connection, slug: str) -> Iterator[str]:
    """The feeds that show the category's name: its own (the title) and every feed with a
    post filed primarily under it (the entry's category)."""
    own = feed_key("category", slug)
    if conn.execute(select(feeds.c.key).where(feeds.c.key == own)).first() is not None:
        yield own
    query = (select(feed_entries.c.feed).distinct()
             .select_from(feed_entries.join(posts, posts.c.id == feed_entries.c.post_id))
             .where(posts.c.category == slug))
    yield from conn.execute(query).scalars()
