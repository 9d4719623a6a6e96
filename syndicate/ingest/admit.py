"""What a post from outside must satisfy before it is stored: the one gate of every ingest path.

The feed and JSON API readers, the publish API and the Jekyll import all end in
``Syndicate.save``, which passes every input through ``admit``: its original URL must be
an absolute http(s) URL (anything else is dropped), its publish date must lie in a sane
window (refused with a reason naming the field), its tags must be usable as one path
segment (``/tag/<tag>.html``, the export's ``tag/<tag>/``) and its category slug must be
a slug. Readers call ``web_url`` themselves too, so an item's link is checked before it
is used for anything else (an id, a fingerprint).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ..errors import InvalidPost
from ..model import PostInput
from ..text import web_url

#: The earliest publish date a post may have: nothing this service carries is older.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
DEFAULT_LEAD = timedelta(days=2)
#: A tag longer than this (UTF-8 bytes) cannot be a file name in a static export.
MAX_TAG_BYTES = 200
#: The longest id, category slug and media name: their columns are VARCHAR(200), and
#: PostgreSQL refuses a longer value (with the whole batch), where SQLite kept it.
MAX_ID = 200
MAX_SLUG = 100
MAX_MEDIA = 100
_SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SEPARATORS_RE = re.compile(r"[/\\]")


@dataclass(frozen=True, slots=True)
class DateWindow:
    """The publish dates a post may have: from 1990 to ``lead`` after now."""

    lead: timedelta = DEFAULT_LEAD
    earliest: datetime = EARLIEST

    def check(self, when: datetime, field: str = "published", now: datetime | None = None,
              origin: str = "") -> None:
        """Raise InvalidPost naming ``field`` when ``when`` lies outside the window."""
        # Comparisons of aware datetimes never convert them, so even 9999-12-31T23:59:59-14:00
        # (year 10000 in UTC) is compared without an OverflowError.
        if when.tzinfo is None or when.utcoffset() is None:
            raise InvalidPost(f"{field} date {when.isoformat()} has no time zone", origin=origin,
                              field=field)
        if when < self.earliest:
            raise InvalidPost(f"{field} date {when.isoformat()} is before 1990-01-01",
                              origin=origin, field=field)
        latest = (now or datetime.now(UTC)) + self.lead
        if when > latest:
            raise InvalidPost(f"{field} date {when.isoformat()} is more than {_lead(self.lead)} "
                              "in the future", origin=origin, field=field)


def _lead(lead: timedelta) -> str:
    hours = lead.total_seconds() / 3600
    if hours >= 24 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} hours" if hours >= 1 else f"{lead.total_seconds():g} seconds"


def tag_name(raw: str) -> str | None:
    """Return a tag as it is stored, or None when it cannot name a page and a folder.

    Control characters are removed, whitespace is collapsed, ``/`` and ``\\`` become ``-``
    (a tag is one path segment); a tag that is then empty, only dots (``.``, ``..``) or
    longer than MAX_TAG_BYTES is dropped.
    """
    text = " ".join(_CONTROL_RE.sub("", raw).split())
    text = _SEPARATORS_RE.sub("-", text)
    if not text.strip(".") or len(text.encode("utf-8")) > MAX_TAG_BYTES:
        return None
    return text


def admit(post: PostInput, window: DateWindow, now: datetime | None = None) -> PostInput:
    """Return the post as it may be stored; raise InvalidPost naming the field it fails on."""
    window.check(post.published, "published", now, post.origin)
    _check_lengths(post)
    if post.category_slug is not None and not _SLUG_RE.fullmatch(post.category_slug):
        raise InvalidPost(f"category {post.category_slug!r} is not a slug of lowercase letters, "
                          "digits and '-'", origin=post.origin, field="category")
    tags = tuple(dict.fromkeys(t for t in map(tag_name, post.tags) if t))
    url = web_url(post.url)
    if url == post.url and tags == post.tags:
        return post
    return replace(post, url=url, tags=tags)


def _check_lengths(post: PostInput) -> None:
    for field, value, limit in (("id", post.id, MAX_ID),
                                ("category", post.category_slug or "", MAX_SLUG),
                                ("media", post.category_name, MAX_MEDIA)):
        if len(value) > limit:
            raise InvalidPost(f"{field} is {len(value)} characters long; at most {limit}",
                              origin=post.origin, field=field)
