"""The public URL map as plain functions: paths users, feeds and share links rely on.

Every absolute URL is built from the BASE_URL setting, never from a request.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from .model import FeedFormat, Post

EXTENSIONS = {FeedFormat.ATOM: "atom", FeedFormat.RSS: "rss", FeedFormat.JSON: "json"}
SITE_FEED_PATHS = {FeedFormat.ATOM: "/feed.xml", FeedFormat.RSS: "/feed.rss", FeedFormat.JSON: "/feed.json"}


def post_path(post: Post, tz: ZoneInfo) -> str:
    """Return the canonical post path, the old site's Jekyll permalink."""
    return permalink(post.category.slug, post.published, post.id, tz)


def permalink(slug: str, published: datetime, post_id: str, tz: ZoneInfo) -> str:
    """Return the canonical path of the post ``post_id`` published in category ``slug``."""
    local = published.astimezone(tz)
    return f"/{slug}/{local:%Y/%m/%d}/{quote(post_id, safe='')}.html"


def category_path(slug: str, fmt: FeedFormat | None = None) -> str:
    ext = EXTENSIONS[fmt] if fmt else "html"
    return f"/category/{quote(slug, safe='')}.{ext}"


def tag_path(tag: str, fmt: FeedFormat | None = None) -> str:
    ext = EXTENSIONS[fmt] if fmt else "html"
    return f"/tag/{quote(tag, safe='')}.{ext}"


def static_page_path(base: str, page: int) -> str:
    """Return where page ``page`` of a listing lives in a static export (no query strings there)."""
    return f"{base.removesuffix('.html')}/page/{page}.html"


def site_feed_path(fmt: FeedFormat) -> str:
    return SITE_FEED_PATHS[fmt]


def feed_path(kind: str, key: str, fmt: FeedFormat) -> str:
    """Return the path of the site, category or tag feed in one format."""
    if kind == "category":
        return category_path(key, fmt)
    if kind == "tag":
        return tag_path(key, fmt)
    return site_feed_path(fmt)


def feed_paths(kind: str, key: str) -> dict[FeedFormat, str]:
    """Return the paths of a site, category or tag feed in every format."""
    return {fmt: feed_path(kind, key, fmt) for fmt in FeedFormat}


def archive_path(kind: str, key: str, page: int, fmt: FeedFormat) -> str:
    """Return the path of an RFC 5005 archive document (page 1 holds the oldest entries)."""
    base = "/feed" if kind == "site" else f"/{kind}/{quote(key, safe='')}"
    return f"{base}/archive/{page}.{EXTENSIONS[fmt]}"


def share_path(code: str) -> str:
    """The short share link of a post."""
    return f"/s/{code}"


def share_qr_path(code: str) -> str:
    """The QR code (SVG) of a post's short share link."""
    return f"/s/{code}.svg"


def legacy_share_path(post_id: str) -> str:
    """The old site's share link of a post."""
    return f"/html_News/NewsShare.html?{urlencode({'infoCode': post_id})}"


def absolute(base_url: str, path: str) -> str:
    """Join the configured public origin and a site path."""
    return base_url.rstrip("/") + path
