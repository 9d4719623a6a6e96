"""Table definitions (SQLAlchemy Core). Alembic migrations create and evolve them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC; always give back aware UTC datetimes (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

categories = Table(
    "categories",
    metadata,
    Column("slug", String(200), primary_key=True),
    # Derived from the category's own posts (the media of their <媒体>新闻 tag); imports
    # find a category by it.
    Column("name", Text, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    # Set by an operator (`syndicate categories rename`): shown instead of `name`.
    Column("operator_name", Text),
    Index("ix_categories_name", "name"),
)

posts = Table(
    "posts",
    metadata,
    Column("id", String(200), primary_key=True),
    # The article identity: NW + digits and the bare digits share one key.
    Column("key", String(200), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("published", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("category", String(200), ForeignKey("categories.slug"), nullable=False),
    Column("source", Text),
    Column("url", Text),
    Column("html", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("share_code", String(32), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Index("ix_posts_published", "published", "id"),
)

# Every category a post appears in (the primary one included); `published` is copied so
# that a category's newest posts come straight from this index.
post_categories = Table(
    "post_categories",
    metadata,
    Column("post_id", String(200), ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("slug", String(200), ForeignKey("categories.slug"), primary_key=True),
    Column("published", UTCDateTime, nullable=False),
    Column("position", Integer, nullable=False, default=0),
    Index("ix_post_categories_slug_published", "slug", "published", "post_id"),
)

post_tags = Table(
    "post_tags",
    metadata,
    Column("post_id", String(200), ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(200), primary_key=True),
    Column("published", UTCDateTime, nullable=False),
    Column("position", Integer, nullable=False, default=0),
    Index("ix_post_tags_tag_published", "tag", "published", "post_id"),
)

# -- feed versions, archives and WebSub (issue 3) -------------------------------------

# One row per feed (`site`, `category/<slug>`, `tag/<tag>`), bumped in the transaction that
# changes the feed's entries: requests read this one row to answer 304 before any rendering.
feeds = Table(
    "feeds",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("version", Integer, nullable=False, default=0),
    # The last real change: an entry added, edited or removed (Last-Modified).
    Column("changed", UTCDateTime, nullable=False),
    # The sequence number of the last entry that joined the feed.
    Column("last_seq", Integer, nullable=False, default=0),
)

# Every feed's entries in arrival order: RFC 5005 archive page n holds the entries with
# sequence numbers (n-1)*size+1 .. n*size, so a full page never changes membership.
feed_entries = Table(
    "feed_entries",
    metadata,
    Column("feed", String(400), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("post_id", String(200), ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("added", UTCDateTime, nullable=False),
    Index("ux_feed_entries_feed_post", "feed", "post_id", unique=True),
    Index("ix_feed_entries_post", "post_id"),
)

# WebSub publish pings waiting for delivery (one per hub and topic; a later change re-arms
# a pending row by bumping `generation`, so a delivery in flight does not swallow it).
websub_pings = Table(
    "websub_pings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hub", String(1000), nullable=False),
    Column("topic", String(1000), nullable=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due", UTCDateTime, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Index("ux_websub_pings_hub_topic", "hub", "topic", unique=True),
    Index("ix_websub_pings_due", "due"),
)

# -- upstream sources (issue 4) -------------------------------------------------------

# One row per configured source: where to fetch, the validators to send back, when to poll
# next, who holds the claim on it now, and what the last polls did.
source_state = Table(
    "source_state",
    metadata,
    Column("name", String(100), primary_key=True),
    # The URL in the sources file; when it changes, url and validators start over.
    Column("config_url", Text, nullable=False),
    # Where to fetch now: a permanent redirect moves it.
    Column("url", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("next_poll", UTCDateTime, nullable=False),
    Column("claimed_by", String(200)),
    Column("claimed_until", UTCDateTime),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_poll", UTCDateTime),
    Column("last_status", Integer),
    Column("last_success", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    Column("posts_new", Integer, nullable=False, default=0),
    Column("posts_updated", Integer, nullable=False, default=0),
    # A permanent redirect seen on consecutive polls: `url` moves to it after a few.
    Column("moved_to", Text),
    Column("moved_seen", Integer, nullable=False, default=0),
    # "internal" or "public", fixed at the first poll of config_url: a public source
    # never becomes internal because its DNS changed.
    Column("network", String(10)),
    Index("ix_source_state_next_poll", "next_poll"),
)

# What each source's items looked like when last stored: an item whose fingerprint is
# unchanged needs no detail request and no write. `item` is a hash of the item's key.
source_items = Table(
    "source_items",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("item", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("post_id", String(200), nullable=False),
    Column("seen", UTCDateTime, nullable=False),
    Index("ix_source_items_seen", "seen"),
)

# Deleted (pruned) posts: their page, legacy link and share link answer 410 Gone.
tombstones = Table(
    "tombstones",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("id", String(200), nullable=False),
    Column("share_code", String(32), nullable=False),
    Column("category", String(200), nullable=False),
    Column("published", UTCDateTime, nullable=False),
    Column("title", Text, nullable=False),
    Column("deleted", UTCDateTime, nullable=False),
    Index("ix_tombstones_share_code", "share_code"),
    Index("ix_tombstones_id", "id"),
)

# Every share code ever minted and the article it names (by key, so NW and bare infoCode
# agree). A code is never minted twice, and never for another article, even after its
# post is deleted; an article that comes back gets its code back.
share_codes = Table(
    "share_codes",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("minted", UTCDateTime, nullable=False),
)

# Share link use per code and day (in the site time zone): human clicks and link-preview
# fetches by known crawlers, counted apart. Nothing about the reader is stored.
share_hits = Table(
    "share_hits",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("clicks", Integer, nullable=False, default=0),
    Column("previews", Integer, nullable=False, default=0),
)
