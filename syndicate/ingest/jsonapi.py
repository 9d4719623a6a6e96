"""Read JSON news APIs: a list endpoint whose items are mapped per source, and detail bodies.

The list gives each item's id, title, date, media, digest and URL (paths from the source's
``fields``); when the list carries no full text, ``body_url`` names a detail request per
item and ``body_field`` the text in its answer. Detail requests are made by the poller,
and only for new or changed items.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from ..errors import InvalidPost, UpstreamError
from ..sources import Source
from ..text import joined_web_url
from .charset import decode
from .feed import looks_like_html_page
from .post import Item, Page, dig, fingerprint, parse_datetime, stable_id, text_to_html

#: A JSONP wrapper ``callback({...});`` some news APIs answer with.
_JSONP_RE = re.compile(r"^\s*[A-Za-z_$][\w$.]*\s*\((.*)\)\s*(?:;\s*)?$", re.DOTALL)


def load_json(data: bytes, charset: str | None) -> Any:
    """Parse a JSON (or JSONP) body; raise UpstreamError saying what it was instead."""
    if looks_like_html_page(data):
        raise UpstreamError("the response is an HTML page, not JSON")
    text = decode(data, charset)
    wrapped = _JSONP_RE.match(text) if not text.lstrip().startswith(("{", "[")) else None
    try:
        return json.loads(wrapped.group(1) if wrapped else text)
    except ValueError as error:
        raise UpstreamError(f"the response is not valid JSON: {error}") from None
    except RecursionError:  # the json module recurses per level: 100,000 "[" overflow it
        raise UpstreamError("the response is not usable JSON: it nests too deeply") from None


def read_list(data: bytes, *, charset: str | None, source: Source, tz: ZoneInfo) -> Page:
    """Read a list response into Items; a bad item is an error, the others go on."""
    document = load_json(data, charset)
    records = dig(document, source.items) if source.items else document
    if not isinstance(records, list):
        where = f"at {source.items!r}" if source.items else "at the top of the response"
        raise UpstreamError(f"no list of items {where}")
    scope = urlsplit(source.url).netloc.lower()
    items, errors = [], []
    for number, record in enumerate(records, start=1):
        try:
            items.append(_item(record, source, scope, tz))
        except (InvalidPost, ValueError) as error:
            errors.append(f"item #{number}: {error}")
    return Page("", items, errors)


def _item(record: Any, source: Source, scope: str, tz: ZoneInfo) -> Item:
    if not isinstance(record, dict):
        raise InvalidPost("not a JSON object", field="item")
    values = {name: dig(record, path) for name, path in source.fields}
    code = _text(values.get("id"))
    if not code:
        raise InvalidPost(f"no id at {source.field_map['id']!r}", field="id")
    date = values.get("date")
    summary = _text(values.get("summary"))
    link = _text(values.get("url"))
    url = joined_web_url(source.url, link) if link else None
    return Item(
        key=code,
        fingerprint=fingerprint(sorted((k, _text(v)) for k, v in values.items())),
        id=stable_id(code, _text(values.get("guid")) or None, link or None, scope),
        title=_text(values.get("title")),
        published=parse_datetime(date, tz) if date not in (None, "") else None,
        media=_text(values.get("media")) or None,
        html=_text(values.get("html")) or text_to_html(summary),
        summary=summary,
        url=url,
        detail_id=code if source.body_url else None,
    )


def detail_url(source: Source, detail_id: str) -> str:
    """The URL of one item's full text."""
    assert source.body_url is not None
    return source.body_url.replace("{id}", quote(detail_id, safe=""))


def read_detail(data: bytes, *, charset: str | None, source: Source) -> str:
    """Return the full text from a detail response."""
    assert source.body_field is not None
    body = dig(load_json(data, charset), source.body_field)
    if not isinstance(body, str) or not body.strip():
        raise UpstreamError(f"the detail response has no text at {source.body_field!r}")
    return text_to_html(body)


def _text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()
