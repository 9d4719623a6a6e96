"""Read upstream feeds into Items: RSS 0.9x/1.0/2.0 and Atom with feedparser, JSON Feed with json.

feedparser 6 cannot read JSON Feed, so that one format is read here by hand; it is a
small, strict JSON document (https://jsonfeed.org/version/1.1).
"""

from __future__ import annotations

import calendar
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import feedparser

from ..errors import InvalidPost, UpstreamError
from ..text import joined_web_url, web_url
from .charset import decode, xml_as_utf8
from .post import Item, Page, fingerprint, parse_datetime, stable_id, text_to_html

_HTML_PAGE_RE = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
                           re.IGNORECASE | re.DOTALL)
JSON_FEED_TYPES = ("application/feed+json", "application/json")


def looks_like_html_page(data: bytes) -> bool:
    """Tell whether a body is an HTML page (an error page served with 200, a login wall)."""
    return bool(_HTML_PAGE_RE.match(data[:2048]))


def read_feed(data: bytes, *, content_type: str, charset: str | None, url: str,
              tz: ZoneInfo) -> Page:
    """Read RSS, Atom or JSON Feed; raise UpstreamError when the body is not a feed."""
    if looks_like_html_page(data):
        raise UpstreamError("the response is an HTML page, not a feed")
    if content_type in JSON_FEED_TYPES or data.lstrip()[:1] == b"{":
        return read_json_feed(data, charset=charset, url=url, tz=tz)
    return read_xml_feed(data, charset=charset, url=url, tz=tz)


# --- RSS and Atom --------------------------------------------------------------------


#: A numeric character reference; its digits are checked in code, not by the pattern.
_CHARREF_RE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_REPLACEMENT_REF = b"&#xFFFD;"


def _xml_char(code: int) -> bool:
    """Tell whether XML 1.0 allows the character ``code`` (its Char production)."""
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)


def _safe_charref(match: re.Match[bytes]) -> bytes:
    digits, base = (match.group(1), 16) if match.group(1) else (match.group(2), 10)
    if len(digits) > 8 or not _xml_char(int(digits, base)):
        return _REPLACEMENT_REF
    return match.group(0)


def read_xml_feed(data: bytes, *, charset: str | None, url: str, tz: ZoneInfo) -> Page:
    # Decoded here (GB2312 read as GB18030) and handed to feedparser as UTF-8. References to
    # what is no character (&#xD800;, &#x110000;) crash feedparser's loose parser: they
    # become U+FFFD first, as an HTML parser would read them.
    document = _CHARREF_RE.sub(_safe_charref, xml_as_utf8(data, charset))
    try:
        parsed = feedparser.parse(
            document,
            response_headers={"content-type": "application/xml; charset=utf-8",
                              "content-location": url},
            sanitize_html=False,  # nh3 sanitises every body in build_post
            resolve_relative_uris=True,
        )
    except (ValueError, ArithmeticError) as error:  # feedparser's own bugs on hostile input
        raise UpstreamError(f"the response is not a feed feedparser can read: {error}") from None
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no RSS, RDF or Atom root element"
        raise UpstreamError(f"the response is not a feed: {reason}")
    title = _text(parsed.feed.get("title"))
    items, errors = [], []
    for number, entry in enumerate(parsed.entries, start=1):
        try:
            items.append(_xml_item(entry, url, tz))
        except InvalidPost as error:
            errors.append(f"item #{number}: {error}")
    return Page(title, items, errors)


def _xml_item(entry: Any, url: str, tz: ZoneInfo) -> Item:
    # The link as sent names the item (ids never change); only an http(s) one is kept as its URL.
    link = entry.get("link") or None
    guid = entry.get("id") or None
    content = _content(entry)
    summary = entry.get("summary") or ""
    # dict.get: FeedParserDict maps a missing "updated" to "published" with a warning.
    published = _struct_time(entry.get("published_parsed") or dict.get(entry, "updated_parsed"))
    title = entry.get("title") or ""
    print_ = fingerprint(title, link, entry.get("published"), dict.get(entry, "updated"),
                         content, summary)
    return Item(
        key=guid or link or print_,
        fingerprint=print_,
        id=stable_id(None, guid, link, _scope(url)),
        title=title,
        published=published,
        media=None,
        html=content or summary,
        summary=summary if content and summary != content else "",
        url=web_url(link),
    )


def _content(entry: Any) -> str:
    contents = entry.get("content") or []
    for wanted in ("text/html", "application/xhtml+xml"):
        for part in contents:
            if part.get("type") == wanted and part.get("value"):
                return str(part["value"])
    for part in contents:
        if part.get("value"):
            return text_to_html(str(part["value"]))
    return ""


def _struct_time(value: Any) -> datetime | None:
    # feedparser gives UTC struct_time values.
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidPost("published date is out of range", field="published") from None


# --- JSON Feed -----------------------------------------------------------------------


def read_json_feed(data: bytes, *, charset: str | None, url: str, tz: ZoneInfo) -> Page:
    try:
        document = json.loads(decode(data, charset))
    except ValueError as error:
        raise UpstreamError(f"the response is not a feed: not valid JSON ({error})") from None
    except RecursionError:  # the json module recurses per level: 100,000 "[" overflow it
        raise UpstreamError("the response is not a feed: its JSON nests too deeply") from None
    if not isinstance(document, dict) or not isinstance(document.get("items"), list) \
            or not str(document.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise UpstreamError("the response is not a JSON Feed: no version or items")
    items, errors = [], []
    for number, entry in enumerate(document["items"], start=1):
        try:
            items.append(_json_item(entry, url, tz))
        except (InvalidPost, ValueError, TypeError) as error:
            errors.append(f"item #{number}: {error}")
    return Page(_text(document.get("title")), items, errors)


def _json_item(entry: Any, url: str, tz: ZoneInfo) -> Item:
    if not isinstance(entry, dict):
        raise InvalidPost("not a JSON object", field="item")
    guid = _text(entry.get("id")) or None
    link = entry.get("url") or entry.get("external_url") or None
    web_link = joined_web_url(url, link) if isinstance(link, str) else None
    link = _joined(url, str(link)) if link else None
    html = _text(entry.get("content_html"))
    if not html and entry.get("content_text"):
        html = text_to_html(_text(entry.get("content_text")))
    date = entry.get("date_published") or entry.get("date_modified")
    print_ = fingerprint(entry.get("title"), link, date, entry.get("date_modified"), html,
                         entry.get("summary"))
    return Item(
        key=guid or link or print_,
        fingerprint=print_,
        id=stable_id(None, guid, link, _scope(url)),
        title=_text(entry.get("title")),
        published=parse_datetime(date, tz) if date else None,
        media=None,
        html=html or text_to_html(_text(entry.get("summary"))),
        summary=_text(entry.get("summary")),
        url=web_link,
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _joined(base: str, link: str) -> str:
    try:
        return urljoin(base, link)
    except ValueError:  # a malformed host ("http://[::1"): the text still names the item
        return link


def _scope(url: str) -> str:
    return urlsplit(url).netloc.lower()
