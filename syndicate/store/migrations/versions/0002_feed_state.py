"""Feed versions, feed entries in arrival order (RFC 5005 archives) and WebSub pings.

Existing posts join their feeds in the order they were stored (then by publish date and
id), and every feed starts at version 1, last changed when its newest entry was stored or
edited.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from syndicate.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHUNK = 5000


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("changed", UTCDateTime, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "feed_entries",
        sa.Column("feed", sa.String(400), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.String(200), sa.ForeignKey("posts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("added", UTCDateTime, nullable=False),
    )
    op.create_index("ux_feed_entries_feed_post", "feed_entries", ["feed", "post_id"], unique=True)
    op.create_index("ix_feed_entries_post", "feed_entries", ["post_id"])
    op.create_table(
        "websub_pings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hub", sa.String(1000), nullable=False),
        sa.Column("topic", sa.String(1000), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("due", UTCDateTime, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ux_websub_pings_hub_topic", "websub_pings", ["hub", "topic"], unique=True)
    op.create_index("ix_websub_pings_due", "websub_pings", ["due"])
    _backfill(op.get_bind())


def _backfill(conn: Any) -> None:
    """Give every stored post its place in the site, category and tag feeds."""
    meta = sa.MetaData()
    posts = sa.Table("posts", meta, sa.Column("id"), sa.Column("created", UTCDateTime),
                     sa.Column("updated", UTCDateTime), sa.Column("published", UTCDateTime))
    links = {name: sa.Table(name, meta, sa.Column("post_id"), sa.Column(column),
                            sa.Column("position"))
             for name, column in (("post_categories", "slug"), ("post_tags", "tag"))}
    feeds = sa.Table("feeds", meta, sa.Column("key"), sa.Column("version"),
                     sa.Column("changed", UTCDateTime), sa.Column("last_seq"))
    entries = sa.Table("feed_entries", meta, sa.Column("feed"), sa.Column("seq"),
                       sa.Column("post_id"), sa.Column("added", UTCDateTime))
    members: dict[str, list[str]] = {}
    for table, prefix in ((links["post_categories"], "category/"), (links["post_tags"], "tag/")):
        rows = conn.execute(sa.select(table.c.post_id, list(table.c)[1]).order_by(
            table.c.post_id, table.c.position))
        for post_id, name in rows:
            members.setdefault(post_id, []).append(prefix + name)
    state: dict[str, dict[str, Any]] = {}
    batch: list[dict[str, Any]] = []
    query = sa.select(posts.c.id, posts.c.created, posts.c.updated).order_by(
        posts.c.created, posts.c.published, posts.c.id)
    for post_id, created, updated in conn.execute(query):
        when: datetime = max(created, updated)
        for key in ["site", *members.get(post_id, [])]:
            feed = state.setdefault(key, {"key": key, "version": 1, "changed": when, "last_seq": 0})
            feed["last_seq"] += 1
            feed["changed"] = max(feed["changed"], when)
            batch.append({"feed": key, "seq": feed["last_seq"], "post_id": post_id, "added": created})
        if len(batch) >= CHUNK:
            conn.execute(entries.insert(), batch)
            batch = []
    if batch:
        conn.execute(entries.insert(), batch)
    for chunk in _chunks(list(state.values())):
        conn.execute(feeds.insert(), chunk)


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start:start + CHUNK]


def downgrade() -> None:
    op.drop_table("websub_pings")
    op.drop_table("feed_entries")
    op.drop_table("feeds")
