"""What listing pages read: post links (no bodies), the category index, recent activity.

Every query here is bounded by a LIMIT on an index, or by the number of categories: none
reads the posts table in full, so the home page and listings cost the same at 10,000 and
at a million posts.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from ..model import Category, PostRef
from .categories import CATEGORY_INDEX, DISPLAY_NAME
from .schema import categories, feeds, post_categories, post_tags, posts

#: The window of "recent activity" on the home page, counted back from the newest post.
ACTIVE_WINDOW = timedelta(hours=24)


class ListingStoreMixin:
    """The Store's reads for HTML listings: the home page, category and tag pages, the index."""

    if TYPE_CHECKING:  # provided by Store

        def _connect(self, write: bool = False) -> AbstractContextManager[Connection]: ...

    def latest_refs(self, limit: int) -> list[tuple[PostRef, Category]]:
        """The newest posts of the whole site, newest first, each with its category."""
        query = (_refs().add_columns(DISPLAY_NAME.label("name"))
                 .join(categories, categories.c.slug == posts.c.category)
                 .order_by(posts.c.published.desc(), posts.c.id.desc()).limit(limit))
        with self._connect() as conn:
            return [(PostRef(r.id, r.category, r.title, r.published, r.updated),
                     Category(r.category, r.name)) for r in conn.execute(query)]

    def category_refs(self, slug: str, limit: int, offset: int = 0) -> list[PostRef]:
        """Posts in a category (primary or not), newest first."""
        return self._member_refs(post_categories, post_categories.c.slug == slug, limit, offset)

    def tag_refs(self, tag: str, limit: int, offset: int = 0) -> list[PostRef]:
        """Posts with a tag, newest first."""
        return self._member_refs(post_tags, post_tags.c.tag == tag, limit, offset)

    def _member_refs(self, table: Any, where: Any, limit: int, offset: int) -> list[PostRef]:
        ids = (select(table.c.post_id, table.c.published).where(where)
               .order_by(table.c.published.desc(), table.c.post_id.desc())
               .limit(limit).offset(offset).subquery())
        query = (_refs().join(ids, ids.c.post_id == posts.c.id)
                 .order_by(ids.c.published.desc(), ids.c.post_id.desc()))
        return self._read_refs(query)

    def active_categories(self, limit: int, window: timedelta = ACTIVE_WINDOW
                          ) -> list[tuple[Category, int]]:
        """The categories with the most posts in the ``window`` before the newest post,
        busiest first, with their post counts in it."""
        with self._connect() as conn:
            newest = conn.execute(select(func.max(posts.c.published))).scalar()
            if newest is None:
                return []
            since: datetime = newest - window
            counted = func.count().label("posts")
            name = DISPLAY_NAME.label("name")
            query = (select(posts.c.category, name, counted)
                     .join(categories, categories.c.slug == posts.c.category)
                     .where(posts.c.published > since)
                     .group_by(posts.c.category, name)
                     .order_by(counted.desc(), posts.c.category).limit(limit))
            return [(Category(row.category, row.name), int(row.posts)) for row in conn.execute(query)]

    def category_index(self) -> list[Category]:
        """Every category, by slug (pinyin order)."""
        query = select(categories.c.slug, DISPLAY_NAME.label("name")).order_by(categories.c.slug)
        with self._connect() as conn:
            return [Category(row.slug, row.name) for row in conn.execute(query)]

    def categories_version(self) -> tuple[int, datetime | None, int]:
        """How many categories there are, when the last one was created and how many times
        one was renamed: changes exactly when the category index does."""
        with self._connect() as conn:
            row = conn.execute(select(func.count(), func.max(categories.c.created))).one()
            renames = conn.execute(select(feeds.c.version)
                                   .where(feeds.c.key == CATEGORY_INDEX)).scalar()
        return int(row[0] or 0), row[1], int(renames or 0)

    def count_in(self, *, category: str | None = None, tag: str | None = None) -> int:
        """How many posts a category or a tag lists."""
        if category is not None:
            query = select(func.count()).where(post_categories.c.slug == category)
        else:
            query = select(func.count()).where(post_tags.c.tag == tag)
        with self._connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def _read_refs(self, query: Any) -> list[PostRef]:
        with self._connect() as conn:
            return [PostRef(r.id, r.category, r.title, r.published, r.updated)
                    for r in conn.execute(query)]


def _refs() -> Any:
    return select(posts.c.id, posts.c.category, posts.c.title, posts.c.published, posts.c.updated)
