"""Build a PostInput from an upstream item's fields, by the same rules as a Jekyll import.

The feed and JSON API readers and the publish API all end here, so a post reads the same
whichever way it arrived: the media name gives the category (resolved by the core) and the
``<media>新闻`` tag, the body is sanitised and gets its attribution footer, a blank title is
the body's first sentence, and the summary is plain text.
"""

from __future__ import annotations

import hashlib
import html as _html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import InvalidPost
from ..model import INFOCODE_RE, PostInput
from ..text import (
    derive_title,
    ensure_footer,
    html_to_text,
    parse_attribution,
    sanitize_html,
    summarize,
    xml_safe,
)

NEWS_SUFFIX = "新闻"
#: Longer than any way of writing a date (``Mon, 09 Mar 2026 10:23:24 +0800`` is 31).
MAX_DATE_CHARS = 100
#: An infoCode inside a share link or an eastmoney article URL.
_CODE_IN_URL_RE = re.compile(
    r"infoCode=((?:NW)?\d{18})\b|eastmoney\.com/(?:[a-z]+/)*(?:\d+,)?((?:NW)?\d{18})\.html",
    re.IGNORECASE,
)
#: Space before a trailing offset (``2026-03-09 10:23:24 +0800``); the lookbehind makes a
#: long run of spaces one attempt, not one per space.
_OFFSET_GAP_RE = re.compile(r"(?<=\S)\s+([+-]\d{2}:?\d{2}|Z)$")
_BLOCK_START_RE = re.compile(r"^\s*<(?:p|div|blockquote|table|ul|ol|h[1-6]|figure|center)\b",
                             re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Item:
    """One upstream item as a reader found it, before it becomes a post.

    ``key`` names the item within its source; ``fingerprint`` hashes the fields that
    matter, so an unchanged item is skipped without a detail request or a write.
    """

    key: str
    fingerprint: str
    id: str
    title: str
    published: datetime | None
    media: str | None
    html: str
    summary: str
    url: str | None
    #: The id substituted into a JSON source's body_url (None: no detail request).
    detail_id: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """What one fetch of a source held: its title (feeds) and items, bad items as errors."""

    title: str
    items: list[Item]
    errors: list[str]


def fingerprint(*values: Any) -> str:
    """Hash item fields (JSON-encoded) into a short stable fingerprint."""
    payload = json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def stable_id(code: str | None, guid: str | None, link: str | None, scope: str) -> str:
    """Return the post id: the infoCode when there is one, else derived from guid or link.

    A guid that is not a URL or URN (``"12345"``) is qualified with ``scope`` (the
    source's host), so two sites' item 12345 stay two posts.
    """
    for value in (code, guid, link):
        text = (value or "").strip()
        if INFOCODE_RE.fullmatch(text):
            return text
        match = _CODE_IN_URL_RE.search(text) if text else None
        if match:
            return match.group(1) or match.group(2)
    identity = next((v.strip() for v in (guid, code, link) if v and v.strip()), None)
    if identity is None:
        raise InvalidPost("no id: the item has no id, guid or link", field="id")
    if ":" not in identity:
        identity = f"{scope}:{identity}"
    return "u" + hashlib.sha256(identity.encode()).hexdigest()[:20]


def parse_datetime(value: Any, tz: ZoneInfo) -> datetime:
    """Read an upstream date: ISO 8601 / ``2026-03-09 10:23:24``, RFC 822, or epoch seconds or ms.

    A date without an offset is in the site time zone ``tz``.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is out of range for an epoch date") from None
    text = str(value or "").strip()
    if not text:
        raise ValueError("the date is blank")
    if len(text) > MAX_DATE_CHARS:  # the date parsers below are not all linear
        raise ValueError(f"the date is {len(text)} characters long, not a date")
    if text.isdigit():
        return parse_datetime(int(text), tz)
    try:
        parsed = datetime.fromisoformat(_OFFSET_GAP_RE.sub(r"\1", text))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"{text!r} is not a date such as 2026-03-09 10:23:24 +0800") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def text_to_html(text: str) -> str:
    """Wrap plain text (a digest) in paragraphs; HTML is passed through."""
    if _BLOCK_START_RE.match(text):
        return text
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n") if p.strip()]
    return "".join(f"<p>{_html.escape(p, quote=False)}</p>" for p in paragraphs)


def media_tag(media: str) -> str:
    return f"{media}{NEWS_SUFFIX}"


def build_post(
    *,
    post_id: str,
    title: str | None,
    published: datetime,
    media: str | None,
    html: str,
    summary: str | None = None,
    url: str | None = None,
    tags: Iterable[str] = (),
    category_slug: str | None = None,
    origin: str = "",
) -> PostInput:
    """Make a post from upstream fields by the import's rules; InvalidPost names the field."""
    clean = sanitize_html(html).strip()
    footer_media = parse_attribution(clean)
    media = xml_safe(" ".join((media or "").split())) or footer_media
    if not media:
        raise InvalidPost("no media name: the item names no source and its body has no "
                          "（文章来源：…） footer", origin=origin, field="media")
    clean = ensure_footer(clean, footer_media or media)
    title_text = xml_safe(html_to_text(title or "")) or derive_title(clean)
    if not title_text:
        raise InvalidPost("no title: the title is blank and the body has no text",
                          origin=origin, field="title")
    digest = xml_safe(html_to_text(summary or ""))
    all_tags = (media_tag(media), *(xml_safe(t.strip()) for t in tags))
    return PostInput(
        id=post_id,
        title=title_text,
        published=published,
        category_name=media,
        category_slug=category_slug,
        tags=tuple(dict.fromkeys(t for t in all_tags if t)),
        html=clean,
        summary=summarize(f"<p>{_html.escape(digest)}</p>") if digest else summarize(clean),
        source=footer_media or media,
        url=url or None,
        origin=origin,
    )


def dig(data: Any, path: str) -> Any:
    """Follow a dotted path (``data.list``, ``items.0``) into parsed JSON; None when absent."""
    node = data
    for part in (p for p in path.split(".") if p):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.lstrip("-").isdigit():
            index = int(part)
            node = node[index] if -len(node) <= index < len(node) else None
        else:
            return None
    return node
