"""Render a feed (Atom 1.0, RSS 2.0, JSON Feed 1.1) from a FeedSpec and its entries.

The only module importing feedgen. It knows nothing of Flask or the database: the caller
supplies absolute URLs and the feed's last-change time, and gets deterministic bytes back
(the same data always gives the same bytes, so ETags stay stable).

feedgen quirks this module works around (checked against feedgen 1.0):

- ``FeedGenerator()`` and ``FeedEntry()`` default ``updated``/``lastBuildDate`` to *now*:
  every one is set explicitly.
- RSS ``<link>`` is the href of the *last* feed link set, whatever its rel: the HTML page
  link is added last.
- RSS gets only the ``rel="self"`` ``atom:link``; hubs and RFC 5005 links are added by
  ``_RssAtomLinks``, a feedgen extension.
- ``FeedEntry.description()`` without ``isSummary=True`` replaces the Atom content.
- Atom entry links lose their ``rel``/``type`` (a shadowed variable in feedgen 1.0): harmless,
  since a link without rel is ``rel="alternate"``.
- RSS dates are formatted under a temporary process-wide ``setlocale(LC_ALL, "C")``, which
  is not thread-safe: RSS rendering is serialised by ``_RSS_LOCK``.
- lxml rejects XML-illegal characters with ValueError: every text goes through ``xml_safe``.

Cleaning an entry (sanitised, absolutised HTML) costs more than writing it, and a post
sits in several feeds and formats: cleaned entries are memoised per post content.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import quote

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from .memo import memoize
from .model import FeedFormat, Post
from .text import absolutize, xml_safe

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "syndicate"

_MEDIA_TYPES = {
    FeedFormat.ATOM: "application/atom+xml",
    FeedFormat.RSS: "application/rss+xml",
    FeedFormat.JSON: "application/feed+json",
}
_ATOM_NS = "http://www.w3.org/2005/Atom"
#: RFC 5005 feed history: ``<fh:archive/>`` marks an archive document.
HISTORY_NS = "http://purl.org/syndication/history/1.0"
# Characters a tag: URI's specific part may hold unescaped (RFC 4151: pchar / "/" / "?").
_TAG_SAFE = "-._~!$&'()*+,;=:@/?"
_RSS_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """What a feed is: its identity, titles, URLs and last real change."""

    feed_id: str
    title: str
    description: str
    html_url: str
    self_urls: Mapping[FeedFormat, str]
    updated: datetime
    base_url: str
    tag_authority: str
    language: str = "zh-CN"
    author: str = "金融消息"
    hubs: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=dict)
    #: An RFC 5005 archive document (its entries never change): adds ``<fh:archive/>``.
    archive: bool = False


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """A post in a feed, with its absolute permalink computed by the caller."""

    post: Post
    url: str


@dataclass(frozen=True, slots=True)
class _Item:
    """An entry cleaned once and shared by the three writers."""

    id: str
    url: str
    title: str
    summary: str
    content_html: str
    published: datetime
    updated: datetime
    author: str
    tags: tuple[str, ...]


def media_type(fmt: FeedFormat) -> str:
    """Return the Content-Type of a feed format, with its charset."""
    return f"{_MEDIA_TYPES[fmt]}; charset=utf-8"


def entry_id(tag_authority: str, post_id: str) -> str:
    """Return the permanent tag: URI of a post (RFC 4151)."""
    return f"tag:{tag_authority}:{quote(post_id, safe=_TAG_SAFE)}"


def feed_id(tag_authority: str, kind: str, key: str) -> str:
    """Return the permanent tag: URI of a feed (``site/``, ``category/<slug>``, ``tag/<tag>``).

    Percent-encoded like entry ids, so a CJK tag gives a valid tag: URI; ASCII slugs and
    the site feed keep the ids they always had.
    """
    return f"tag:{tag_authority}:{quote(f'{kind}/{key}', safe=_TAG_SAFE)}"


def build_feed(spec: FeedSpec, entries: Sequence[FeedEntry], fmt: FeedFormat) -> bytes:
    """Render the feed in one format as UTF-8 bytes, newest entry first."""
    _require_aware(spec.updated, "FeedSpec.updated")
    items = [_cleaned(entry.post, entry.url, spec.base_url, spec.tag_authority)
             for entry in _newest_first(entries)]
    return _WRITERS[fmt](spec, items)


def _newest_first(entries: Iterable[FeedEntry]) -> list[FeedEntry]:
    # Ties on the publish time are broken by id so the order never depends on the input order.
    return sorted(entries, key=lambda e: (e.post.published, e.post.id), reverse=True)


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} is a naive datetime ({value}); feeds need timezone-aware times")


def _cleaned_size(args: tuple[Any, ...], item: object) -> int:
    """A cleaned entry holds about three copies of its post's body (stored, cleaned, text)."""
    post: Post = args[0]
    return 3 * (len(post.html) + len(post.title)) + 1024


@memoize(max_entries=8192, max_bytes=128 * 2**20, sizeof=_cleaned_size)
def _cleaned(post: Post, url: str, base_url: str, tag_authority: str) -> _Item:
    """Clean one entry; keyed by the whole post, so any change to it is cleaned afresh."""
    return _item(base_url, tag_authority, FeedEntry(post=post, url=url))


def _item(base_url: str, tag_authority: str, entry: FeedEntry) -> _Item:
    post = entry.post
    _require_aware(post.published, f"post {post.id!r}: published")
    _require_aware(post.updated, f"post {post.id!r}: updated")
    title = xml_safe(post.title)
    return _Item(
        id=entry_id(tag_authority, post.id),
        url=entry.url,
        title=title,
        # RSS puts the content in <description> (no content:encoded) when there is no summary.
        summary=xml_safe(post.summary).strip() or title,
        content_html=xml_safe(absolutize(post.html, base_url)),
        published=post.published,
        updated=post.updated,
        author=xml_safe(post.source or post.category.name),
        tags=_terms(post),
    )


def _terms(post: Post) -> tuple[str, ...]:
    """Return the category name then the tags, cleaned, blank and repeated ones dropped."""
    terms = (xml_safe(term).strip() for term in (post.category.name, *post.tags))
    return tuple(dict.fromkeys(term for term in terms if term))


def _self_url(spec: FeedSpec, fmt: FeedFormat) -> str:
    try:
        return spec.self_urls[fmt]
    except KeyError:
        raise ValueError(f"FeedSpec.self_urls has no URL for the {fmt} format") from None


# --- Atom and RSS, through feedgen -------------------------------------------------------


class _RssAtomLinks(BaseExtension):
    """Add ``atom:link`` hub and RFC 5005 links to the RSS channel (feedgen adds only self)."""

    def __init__(self, links: Sequence[tuple[str, str]]) -> None:
        self._links = links

    def extend_rss(self, feed: Any) -> Any:
        channel = feed[0]
        for rel, href in self._links:
            xml_elem(f"{{{_ATOM_NS}}}link", channel, href=href, rel=rel)
        return feed


class _ArchiveMarker(BaseExtension):
    """Add RFC 5005's ``<fh:archive/>`` to an archive document (Atom feed or RSS channel)."""

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS}

    def extend_atom(self, feed: Any) -> Any:
        xml_elem(f"{{{HISTORY_NS}}}archive", feed)
        return feed

    def extend_rss(self, feed: Any) -> Any:
        xml_elem(f"{{{HISTORY_NS}}}archive", feed[0])
        return feed


def _extra_links(spec: FeedSpec) -> list[tuple[str, str]]:
    hubs = [("hub", hub) for hub in spec.hubs]
    return hubs + sorted(spec.links.items())


def _generator(spec: FeedSpec, fmt: FeedFormat) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(spec.feed_id)
    fg.title(xml_safe(spec.title))
    fg.description(xml_safe(spec.description).strip() or xml_safe(spec.title))
    fg.language(spec.language)
    fg.author(name=xml_safe(spec.author))
    fg.generator(GENERATOR)
    fg.updated(spec.updated)
    _add_feed_links(fg, spec, fmt)
    # Entry extensions only attach to entries added after they are loaded.
    fg.load_extension("dc", atom=False, rss=True)
    if fmt is FeedFormat.RSS:
        feed_ext = partial(_RssAtomLinks, _extra_links(spec))
        fg.register_extension("syndicate_links", feed_ext, None, atom=False, rss=True)
    if spec.archive:
        fg.register_extension("syndicate_archive", _ArchiveMarker, None, atom=True, rss=True)
    return fg


def _add_feed_links(fg: FeedGenerator, spec: FeedSpec, fmt: FeedFormat) -> None:
    fg.link(href=_self_url(spec, fmt), rel="self", type=_MEDIA_TYPES[fmt])
    for rel, href in _extra_links(spec):
        fg.link(href=href, rel=rel)
    # Last on purpose: feedgen takes the RSS channel <link> from the last link set.
    fg.link(href=spec.html_url, rel="alternate", type="text/html")


def _add_entry(fg: FeedGenerator, item: _Item) -> None:
    fe = fg.add_entry(order="append")
    fe.id(item.id)  # also the RSS guid, with isPermaLink="false"
    fe.title(item.title)
    # feedgen 1.0 drops the rel/type of entry links in Atom (a variable is shadowed);
    # fine, since an Atom link without rel is rel="alternate".
    fe.link(href=item.url, rel="alternate")
    fe.author(name=item.author)
    fe.dc.dc_creator(item.author)
    fe.content(item.content_html, type="html")
    # isSummary: without it description() would replace the Atom content with the summary.
    fe.description(item.summary, isSummary=True)
    fe.summary(item.summary, type="text")
    fe.published(item.published)
    fe.updated(item.updated)
    if item.tags:
        # One call: feedgen rebuilds the RSS category list on every call.
        fe.category([{"term": term} for term in item.tags])


def _filled(spec: FeedSpec, items: Sequence[_Item], fmt: FeedFormat) -> FeedGenerator:
    fg = _generator(spec, fmt)
    for item in items:
        _add_entry(fg, item)
    return fg


def _atom(spec: FeedSpec, items: Sequence[_Item]) -> bytes:
    data: bytes = _filled(spec, items, FeedFormat.ATOM).atom_str(pretty=False, encoding="UTF-8")
    return data


def _rss(spec: FeedSpec, items: Sequence[_Item]) -> bytes:
    fg = _filled(spec, items, FeedFormat.RSS)
    with _RSS_LOCK:
        data: bytes = fg.rss_str(pretty=False, encoding="UTF-8")
    return data


# --- JSON Feed 1.1 -----------------------------------------------------------------------
# Written by hand: feedgen has no JSON Feed writer, and the format is a plain JSON object.


def _json(spec: FeedSpec, items: Sequence[_Item]) -> bytes:
    doc: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": xml_safe(spec.title),
        "home_page_url": spec.html_url,
        "feed_url": _self_url(spec, FeedFormat.JSON),
        "description": xml_safe(spec.description),
        "language": spec.language,
        "authors": [{"name": xml_safe(spec.author)}],
    }
    if spec.hubs:
        doc["hubs"] = [{"type": "WebSub", "url": hub} for hub in spec.hubs]
    if "next" in spec.links:
        doc["next_url"] = spec.links["next"]
    doc["items"] = [_json_item(item) for item in items]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json_item(item: _Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "url": item.url,
        "title": item.title,
        "content_html": item.content_html,
        "summary": item.summary,
        "date_published": item.published.isoformat(),
        "date_modified": item.updated.isoformat(),
        "tags": list(item.tags),
        "authors": [{"name": item.author}],
    }


_WRITERS: dict[FeedFormat, Callable[[FeedSpec, Sequence[_Item]], bytes]] = {
    FeedFormat.ATOM: _atom,
    FeedFormat.RSS: _rss,
    FeedFormat.JSON: _json,
}
