"""Which stored rows can be shown: no row, whatever it holds, may take a page or feed down.

Ingest refuses bad dates, URLs and names, but rows stored before those checks (or written
by hand) may still hold a year-9999 date that overflows in the site time zone, a blank
title a feed cannot carry, or a category slug no URL can hold. Listings (pages, feeds,
sitemaps, exports) pass their rows through here: a row that cannot be shown is skipped
and logged, and the rest is served.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from . import urls
from .model import Post, PostRef
from .text import normalize_slug, xml_safe

log = logging.getLogger(__name__)

T = TypeVar("T", Post, PostRef)


def _date_problem(name: str, when: object, tz: ZoneInfo) -> str | None:
    if not isinstance(when, datetime) or when.utcoffset() is None:
        return f"{name} is not a time-zone-aware date"
    try:
        when.astimezone(tz)
        when.astimezone(UTC)
    except (OverflowError, ValueError):
        return f"{name} {when.isoformat()} cannot be shown in {tz.key} (out of range)"
    return None


def slug_problem(slug: object) -> str | None:
    """Say why a stored category slug cannot be part of a URL, or None when it can."""
    try:
        good = isinstance(slug, str) and normalize_slug(slug) == slug
    except ValueError:
        good = False
    return None if good else f"category slug {slug!r} is not a slug"


def problem(row: Post | PostRef, tz: ZoneInfo) -> str | None:
    """Say why a stored post cannot be listed, or None when it can."""
    slug = row.category.slug if isinstance(row, Post) else row.category
    found = (_date_problem("published", row.published, tz)
             or _date_problem("updated", row.updated, tz) or slug_problem(slug))
    if found:
        return found
    if not isinstance(row.id, str) or not row.id.strip():
        return "the id is blank"
    if not isinstance(row.title, str) or not xml_safe(row.title).strip():
        return "the title is blank"
    if isinstance(row, Post) and not isinstance(row.html, str):
        return "the body is not text"
    try:
        urls.permalink(slug, row.published, row.id, tz)
    except (OverflowError, ValueError, TypeError) as error:
        return f"no permalink: {error}"
    return None


def showable(rows: Iterable[T], tz: ZoneInfo) -> list[T]:
    """Return the rows that can be listed, in order; log each one skipped and why."""
    kept = []
    for row in rows:
        reason = problem(row, tz)
        if reason is None:
            kept.append(row)
        else:
            log.warning("skipped stored post %r in a listing: %s", getattr(row, "id", row), reason)
    return kept
