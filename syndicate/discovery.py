"""Discovery documents: OPML of the category feeds, sitemaps, a news sitemap, robots.txt.

Like feeds, each document has validators that change exactly when its own content does, so
it is rendered once per change and answered with 304 otherwise: the OPML follows the
category list; a sitemap part follows the posts it lists (a new post changes the last part
only); the index, the pages part and the news sitemap follow the site feed. No Flask here:
the web layer serves these through the same conditional ``answer()``.
"""

from __future__ import annotations

import hashlib
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from . import urls
from .errors import NotFound
from .model import EPOCH, SITE_FEED, FeedFormat, FeedState, PostRef, feed_key
from .showable import showable, slug_problem
from .text import xml_safe

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .core import Syndicate

#: The sitemap protocol's limit of URLs per file; past it /sitemap.xml becomes an index.
SITEMAP_LIMIT = 50_000
#: Google News sitemaps: articles of the last two days, at most 1,000.
NEWS_WINDOW = timedelta(hours=48)
NEWS_LIMIT = 1000
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
FORMAT_LABELS = {FeedFormat.ATOM: "Atom", FeedFormat.RSS: "RSS", FeedFormat.JSON: "JSON Feed"}

ET.register_namespace("", SITEMAP_NS)
ET.register_namespace("news", NEWS_NS)


@dataclass(frozen=True, slots=True)
class Document:
    """A discovery document's validators and how to build its bytes."""

    etag: str
    last_modified: datetime
    media_type: str
    build: Callable[[], bytes]
    max_age: int = 300
    links: tuple[tuple[str, str], ...] = ()


class Discovery:
    """OPML, sitemaps and robots.txt of one Syndicate core."""

    def __init__(self, core: Syndicate) -> None:
        self.core = core
        # Sitemap part -> (count, last change) under one site feed version: the stats of a
        # part read 50,000 rows, so each worker reads them once per change of the site.
        self._parts_seen: tuple[FeedState, dict[int, tuple[int, datetime | None]]] | None = None

    def _site(self) -> FeedState:
        return self.core.store.feed_state(SITE_FEED) or FeedState(SITE_FEED, 0, EPOCH, 0)

    def _document(self, name: str, media_type: str, build: Callable[[], bytes],
                  *extra: object) -> Document:
        site = self._site()
        return self._versioned(name, media_type, build, site.changed, site.version, *extra)

    def _versioned(self, name: str, media_type: str, build: Callable[[], bytes],
                   changed: datetime, *version: object) -> Document:
        text = "|".join(map(str, (self.core.feeds.salt, name, SITEMAP_LIMIT, changed, *version)))
        etag = hashlib.sha1(text.encode()).hexdigest()[:24]
        return Document(etag, changed, media_type, build, self.core.settings.feed_max_age)

    def _part_stats(self, part: int) -> tuple[int, datetime | None]:
        """How many posts sitemap part ``part`` lists and when one of them last changed."""
        site = self._site()
        if self._parts_seen is None or self._parts_seen[0] != site:
            self._parts_seen = (site, {})
        known = self._parts_seen[1]
        if part not in known:
            first = (part - 1) * SITEMAP_LIMIT + 1
            known[part] = self.core.store.feed_range_stats(SITE_FEED, first,
                                                           first + SITEMAP_LIMIT - 1)
        return known[part]

    # -- OPML ------------------------------------------------------------------------

    def opml(self, fmt: FeedFormat | None = None) -> Document:
        """Every category feed: each category with its three formats, or one format flat.

        Categories are listed by slug, so the document changes only with the category list."""
        count, created, renames = self.core.store.categories_version()
        return self._versioned("opml", "text/x-opml; charset=utf-8", lambda: self._opml(fmt),
                               created or EPOCH, count, renames, fmt)

    def _opml(self, fmt: FeedFormat | None) -> bytes:
        core, site = self.core, self.core.settings.site_title
        root = ET.Element("opml", version="2.0")
        head = ET.SubElement(root, "head")
        ET.SubElement(head, "title").text = f"{site}：分类订阅"
        _, created, _ = core.store.categories_version()
        ET.SubElement(head, "dateModified").text = format_datetime(
            (created or EPOCH).astimezone(UTC), usegmt=True)
        ET.SubElement(head, "ownerName").text = site
        # No <docs>: the W3C validator knows no such head element, even with the spec's URL.
        body = ET.SubElement(root, "body")
        for category in core.store.category_index():
            name = xml_safe(category.name)
            page = core.url(urls.category_path(category.slug))
            if fmt is not None:
                ET.SubElement(body, "outline", type="rss", text=name, title=name,
                              xmlUrl=core.url(urls.category_path(category.slug, fmt)), htmlUrl=page)
                continue
            # A grouping outline carries text only (more attributes would need a type).
            group = ET.SubElement(body, "outline", text=name)
            for each in FeedFormat:
                label = f"{name}（{FORMAT_LABELS[each]}）"
                ET.SubElement(group, "outline", type="rss", text=label, title=label,
                              xmlUrl=core.url(urls.category_path(category.slug, each)),
                              htmlUrl=page)
        return _xml(root)

    # -- sitemaps --------------------------------------------------------------------

    def sitemap(self) -> Document:
        """All pages in one urlset, or past SITEMAP_LIMIT URLs a sitemap index."""
        return self._document("sitemap", "application/xml; charset=utf-8", self._sitemap)

    def _is_index(self) -> bool:
        return 1 + self.core.store.categories_version()[0] + self._site().last_seq > SITEMAP_LIMIT

    def _sitemap(self) -> bytes:
        if not self._is_index():
            return _urlset([*self._page_urls(),
                            *self._post_urls(self.core.store.site_links(1, self._site().last_seq))])
        root = ET.Element(f"{{{SITEMAP_NS}}}sitemapindex")
        site = self._site()
        parts = [(urls_sitemap_pages(), site.changed)]
        parts += [(urls_sitemap_posts(n), self._part_stats(n)[1] or site.changed)
                  for n in range(1, self._parts() + 1)]
        for path, changed in parts:
            entry = ET.SubElement(root, f"{{{SITEMAP_NS}}}sitemap")
            ET.SubElement(entry, f"{{{SITEMAP_NS}}}loc").text = self.core.url(path)
            ET.SubElement(entry, f"{{{SITEMAP_NS}}}lastmod").text = _w3c(changed)
        return _xml(root)

    def post_parts(self) -> int:
        """How many ``/sitemap-posts-<n>.xml`` parts the site serves."""
        return self._parts()

    def _parts(self) -> int:
        return max(1, -(-self._site().last_seq // SITEMAP_LIMIT))

    def sitemap_pages(self) -> Document:
        """The home page and every category page (a part of the sitemap index)."""
        def build() -> bytes:
            return _urlset(self._page_urls())
        return self._document("sitemap-pages", "application/xml; charset=utf-8", build)

    def sitemap_posts(self, part: int) -> Document:
        """Posts in arrival order, SITEMAP_LIMIT per part (a part of the sitemap index)."""
        if not 1 <= part <= self._parts():
            raise NotFound(f"没有这个站点地图：{part}")

        def build() -> bytes:
            first = (part - 1) * SITEMAP_LIMIT + 1
            return _urlset(self._post_urls(
                self.core.store.site_links(first, first + SITEMAP_LIMIT - 1)))
        count, changed = self._part_stats(part)
        return self._versioned("sitemap-posts", "application/xml; charset=utf-8", build,
                               changed or self._site().changed, part, count)

    def _page_urls(self) -> list[str]:
        store = self.core.store
        categories = store.category_index()
        states = store.feed_states([feed_key("category", c.slug) for c in categories])
        entries = [_url(self.core.url("/"), self._site().changed)]
        for category in categories:
            state = states.get(feed_key("category", category.slug))
            entries.append(_url(self.core.url(urls.category_path(category.slug)),
                                state.changed if state else None))
        return entries

    def _post_urls(self, links: list[tuple[str, str, datetime, datetime]]) -> list[str]:
        """``<url>`` entries of posts given as (id, category, published, updated); a stored
        row no URL can be made of is skipped and logged."""
        base, tz = self.core.settings.base_url.rstrip("/"), self.core.tz
        entries = []
        for post_id, category, published, updated in links:
            try:
                if (reason := slug_problem(category)) is not None:
                    raise ValueError(reason)
                entries.append(_url(base + urls.permalink(category, published, post_id, tz),
                                    updated))
            except (OverflowError, ValueError, TypeError, AttributeError) as error:
                log.warning("skipped stored post %r in a sitemap: %s", post_id, error)
        return entries

    def _post_url(self, ref: PostRef) -> str:
        return self.core.url(urls.permalink(ref.category, ref.published, ref.id, self.core.tz))

    def news_sitemap(self, now: datetime | None = None) -> Document:
        """Google News sitemap: the posts published in the last 48 hours."""
        now = now or datetime.now(UTC)
        start = now.replace(minute=0, second=0, microsecond=0) - NEWS_WINDOW
        doc = self._document("news", "application/xml; charset=utf-8",
                             lambda: self._news(start), start)
        return Document(doc.etag, max(doc.last_modified, start), doc.media_type, doc.build,
                        doc.max_age)

    def _news(self, start: datetime) -> bytes:
        root = ET.Element(f"{{{SITEMAP_NS}}}urlset")
        site = self.core.settings.site_title
        for ref in showable(self.core.store.refs_published_since(start, NEWS_LIMIT), self.core.tz):
            url = ET.SubElement(root, f"{{{SITEMAP_NS}}}url")
            ET.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = self._post_url(ref)
            news = ET.SubElement(url, f"{{{NEWS_NS}}}news")
            publication = ET.SubElement(news, f"{{{NEWS_NS}}}publication")
            ET.SubElement(publication, f"{{{NEWS_NS}}}name").text = site
            ET.SubElement(publication, f"{{{NEWS_NS}}}language").text = "zh-cn"
            ET.SubElement(news, f"{{{NEWS_NS}}}publication_date").text = _w3c(ref.published)
            ET.SubElement(news, f"{{{NEWS_NS}}}title").text = xml_safe(ref.title)
        return _xml(root)

    # -- robots.txt ------------------------------------------------------------------

    def robots(self) -> str:
        """Search engines index posts, not short links (which carry ``noindex``); the
        crawlers that build link previews may fetch posts and short links alike."""
        return "\n".join([
            *(f"User-agent: {agent}" for agent in PREVIEW_CRAWLERS),
            "Disallow: /api/",
            "Allow: /",
            "",
            "User-agent: *",
            "Disallow: /api/",
            "Disallow: /s/",
            "",
            f"Sitemap: {self.core.url(SITEMAP_PATH)}",
            f"Sitemap: {self.core.url(NEWS_SITEMAP_PATH)}",
            "",
        ])


#: Link-preview crawlers of social networks and chat apps, named in robots.txt.
PREVIEW_CRAWLERS = ("Twitterbot", "facebookexternalhit", "Facebot", "meta-externalagent",
                    "Slackbot", "TelegramBot", "WhatsApp", "Discordbot", "LinkedInBot",
                    "Pinterestbot", "redditbot", "SkypeUriPreview", "Mastodon", "Applebot")
SITEMAP_PATH = "/sitemap.xml"
NEWS_SITEMAP_PATH = "/sitemap-news.xml"


def urls_sitemap_pages() -> str:
    return "/sitemap-pages.xml"


def urls_sitemap_posts(part: int) -> str:
    return f"/sitemap-posts-{part}.xml"


def _url(loc: str, lastmod: datetime | None) -> str:
    """One ``<url>`` of a urlset (written as text: a sitemap part holds 50,000 of them)."""
    if lastmod is not None and lastmod > EPOCH:
        return f"<url><loc>{escape(loc)}</loc><lastmod>{_w3c(lastmod)}</lastmod></url>"
    return f"<url><loc>{escape(loc)}</loc></url>"


def _urlset(entries: list[str]) -> bytes:
    return "".join([f"<?xml version='1.0' encoding='utf-8'?>\n<urlset xmlns=\"{SITEMAP_NS}\">",
                    *entries, "</urlset>"]).encode("utf-8")


def _w3c(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _xml(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
