"""The public URL map as plain functions: paths users, feeds and share links rely on.

Every absolute URL is built from the BASE_URL setting, never from a request.
"""

from __future__ import annotations

from urllib.parse import quote
from zoneinfo import ZoneInfo

from .model import FeedFormat, Post

EXTENSIONS = {FeedFormat.ATOM: "atom", FeedFormat.RSS: "rss", FeedFormat.JSON: "json"}
SITE_FEED_PATHS = {FeedFormat.ATOM: "/feed.xml", FeedFormat.RSS: "/feed.rss", FeedFormat.JSON: "/feed.json"}


def post_path(post: Post, tz: ZoneInfo) -> str:
    """Return the canonical post path, the old site's Jekyll permalink."""
    local = post.published.astimezone(tz)
    return f"/{post.category.slug}/{local:%Y/%m/%d}/{quote(post.id, safe='')}.html"


def category_path(slug: str, fmt: FeedFormat | None = None) -> str:
    ext = EXTENSIONS[fmt] if fmt else "html"
    return f"/category/{quote(slug, safe='')}.{ext}"


def tag_path(tag: str, fmt: FeedFormat | None = None) -> str:
    ext = EXTENSIONS[fmt] if fmt else "html"
    return f"/tag/{quote(tag, safe='')}.{ext}"


def site_feed_path(fmt: FeedFormat) -> str:
    return SITE_FEED_PATHS[fmt]


def share_path(code: str) -> str:
    return f"/s/{code}"


def absolute(base_url: str, path: str) -> str:
    """Join the configured public origin and a site path."""
    return base_url.rstrip("/") + path
