"""Link previews of a post: what WeChat, Weibo, X and search crawlers read from its page.

Open Graph, Twitter card and JSON-LD ``NewsArticle`` values, computed from the stored post
without Flask; the post template only prints them. Absolute URLs come from the caller
(built on BASE_URL), never from a request.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urljoin
from zoneinfo import ZoneInfo

from .model import Post
from .text import summarize

#: Longest og:description: WeChat and Weibo cut previews around here.
DESCRIPTION_LIMIT = 120
LANGUAGE = "zh-CN"

#: An attribution line that is not in the ``em_media`` footer form (``summarize`` drops
#: that one), so it cannot end up in a preview either; it may span inline markup.
#: Its text stops at the next such line, so each candidate scans its own stretch only.
_LOOSE_ATTRIBUTION_RE = re.compile(r"[（(]\s*文章来源\s*[：:](?:[^）)（(]|[（(](?!\s*文章来源))*[）)]")
#: The first image's src; bodies are nh3 output, so attribute values are double-quoted.
_IMG_SRC_RE = re.compile(r'<img\b[^>]*?\ssrc="([^"]+)"', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Preview:
    """Everything a post page says about itself to link-preview crawlers."""

    title: str
    description: str
    canonical: str
    short_url: str
    site_name: str
    section: str
    published: str
    modified: str
    image: str | None
    tags: tuple[str, ...]

    @property
    def card(self) -> str:
        """The Twitter card type: a large image when there is one to show."""
        return "summary_large_image" if self.image else "summary"

    def json_ld(self) -> dict[str, Any]:
        """The schema.org ``NewsArticle`` of the post, for ``application/ld+json``."""
        data: dict[str, Any] = {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": self.title,
            "description": self.description,
            "datePublished": self.published,
            "dateModified": self.modified,
            "url": self.canonical,
            "mainEntityOfPage": {"@type": "WebPage", "@id": self.canonical},
            "articleSection": self.section,
            "publisher": {"@type": "Organization", "name": self.site_name},
            "sourceOrganization": {"@type": "Organization", "name": self.section},
            "inLanguage": LANGUAGE,
        }
        if self.tags:
            data["keywords"] = list(self.tags)
        if self.image:
            data["image"] = [self.image]
        return data


def build_preview(post: Post, *, canonical: str, short_url: str, site_name: str,
                  base_url: str, tz: ZoneInfo) -> Preview:
    """Return the preview of ``post``; URLs are absolute, dates in the site time zone."""
    return Preview(
        title=post.title,
        # A body of only an image or a table has no text to summarise: the title stands in.
        description=description(post.html) or description(f"<p>{_html.escape(post.title)}</p>"),
        canonical=canonical,
        short_url=short_url,
        site_name=site_name,
        section=post.source or post.category.name,
        published=_isoformat(post.published, tz),
        modified=_isoformat(max(post.updated, post.published), tz),
        image=first_image(post.html, base_url),
        tags=post.tags,
    )


def description(body_html: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """Return the plain-text summary of a body, at most ``limit`` characters, footer left out."""
    return summarize(_LOOSE_ATTRIBUTION_RE.sub("", body_html), limit)


def first_image(body_html: str, base_url: str) -> str | None:
    """Return the absolute URL of the body's first image, or None when it has none."""
    match = _IMG_SRC_RE.search(body_html) if "<img" in body_html else None
    if match is None:
        return None
    # One URL to resolve: no need to re-clean the whole body as absolutize() would.
    src = urljoin(base_url + "/", _html.unescape(match.group(1)).strip())
    return src if src.startswith(("https://", "http://")) else None


def _isoformat(value: datetime, tz: ZoneInfo) -> str:
    return value.astimezone(tz).isoformat()


def weibo_share_url(short_url: str, title: str) -> str:
    """Return the Weibo share dialog for a link."""
    query = urlencode({"url": short_url, "title": title}, quote_via=quote)
    return f"https://service.weibo.com/share/share.php?{query}"


def x_share_url(short_url: str, title: str) -> str:
    """Return the X (Twitter) post dialog for a link."""
    query = urlencode({"url": short_url, "text": title}, quote_via=quote)
    return f"https://x.com/intent/tweet?{query}"
