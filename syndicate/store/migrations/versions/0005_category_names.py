"""Category names: an operator may name a category; derived names are repaired.

``categories.name`` stays the name derived from the category's own posts (the media of
its ``<媒体>新闻`` tag); imports find a category by it. ``categories.operator_name`` is
the name an operator set with ``syndicate categories rename``; when set, it is what
readers see, and imports never touch it.

Before this revision a category created by an article that arrived in two categories at
once (an NW/bare pair, ``emnews`` and ``huanqiucaijing``) took the name of the other
category's media. Each category's derived name is repaired here: the media named by the
``<媒体>新闻`` tag that most of its posts carry, when one tag clearly leads; otherwise the
name is kept. The feeds showing a repaired name get a new version.

Revision ID: 0005
Revises: 0004
"""

from collections import Counter
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from syndicate.store.schema import UTCDateTime
from syndicate.text import media_from_tag

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The tables as this revision knows them (later revisions may change the live schema).
categories = sa.table("categories", sa.column("slug", sa.String), sa.column("name", sa.Text))
post_categories = sa.table("post_categories", sa.column("post_id", sa.String),
                           sa.column("slug", sa.String))
post_tags = sa.table("post_tags", sa.column("post_id", sa.String), sa.column("tag", sa.String))
posts = sa.table("posts", sa.column("id", sa.String), sa.column("category", sa.String))
feeds = sa.table("feeds", sa.column("key", sa.String), sa.column("version", sa.Integer),
                 sa.column("changed", UTCDateTime))
feed_entries = sa.table("feed_entries", sa.column("feed", sa.String),
                        sa.column("post_id", sa.String))


def upgrade() -> None:
    op.add_column("categories", sa.Column("operator_name", sa.Text, nullable=True))
    conn = op.get_bind()
    repaired = derived_names(conn)
    for slug, name in repaired.items():
        conn.execute(categories.update().where(categories.c.slug == slug).values(name=name))
    if repaired:
        bump(conn, showing(conn, list(repaired)))


def downgrade() -> None:
    op.drop_column("categories", "operator_name")


def derived_names(conn: sa.Connection) -> dict[str, str]:
    """The categories whose stored name is not the media their posts' tags clearly name."""
    votes: dict[str, Counter[str]] = {}
    query = (sa.select(post_categories.c.slug, post_tags.c.tag, sa.func.count())
             .select_from(post_categories.join(
                 post_tags, post_tags.c.post_id == post_categories.c.post_id))
             .group_by(post_categories.c.slug, post_tags.c.tag))
    for slug, tag, count in conn.execute(query):
        media = media_from_tag(tag)
        if media:
            votes.setdefault(slug, Counter())[media] += count
    current = dict(conn.execute(sa.select(categories.c.slug, categories.c.name)).all())
    found = {}
    for slug, counts in votes.items():
        ranked = counts.most_common()
        best = ranked[0][1]
        leaders = {media for media, count in ranked if count == best}
        if len(leaders) == 1 and current.get(slug) not in leaders:
            found[slug] = ranked[0][0]
    return found


def showing(conn: sa.Connection, slugs: list[str]) -> set[str]:
    """Keys of the feeds that show these categories' names: their own feeds, and every
    feed holding a post filed primarily under one of them."""
    keys = {f"category/{slug}" for slug in slugs}
    query = (sa.select(feed_entries.c.feed).distinct()
             .select_from(feed_entries.join(posts, posts.c.id == feed_entries.c.post_id))
             .where(posts.c.category.in_(slugs)))
    keys.update(conn.execute(query).scalars())
    return keys


def bump(conn: sa.Connection, keys: set[str]) -> None:
    """New feed versions, changed now: conditional GETs see the new names."""
    now = datetime.now(UTC)
    for key in sorted(keys):
        conn.execute(feeds.update().where(feeds.c.key == key)
                     .values(version=feeds.c.version + 1, changed=now))
