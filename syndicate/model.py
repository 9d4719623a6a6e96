"""The data model: frozen dataclasses and enums shared by every layer.

This module is a leaf: it imports nothing else from syndicate.
All datetimes are timezone-aware.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

#: An Eastmoney ``infoCode``: the bare 18 digits, optionally prefixed by ``NW``.
INFOCODE_RE = re.compile(r"^(?:NW)?(\d{18})$")


def article_key(post_id: str) -> str:
    """Return the identity key of a post id: ``NW`` + 18 digits and the bare digits are one article."""
    match = INFOCODE_RE.match(post_id)
    return match.group(1) if match else post_id


class FeedFormat(StrEnum):
    ATOM = "atom"
    RSS = "rss"
    JSON = "json"


class Outcome(StrEnum):
    """What storing one post did."""

    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class PostInput:
    """A post as an ingest reader produced it, before it is stored.

    ``category_slug`` is None when the reader knows only the media name; the core then
    finds the existing category of that name or slugs the name in pinyin.
    """

    id: str
    title: str
    published: datetime
    category_name: str
    category_slug: str | None
    tags: tuple[str, ...]
    html: str
    summary: str
    source: str | None = None
    url: str | None = None
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Post:
    """A stored post."""

    id: str
    title: str
    published: datetime
    updated: datetime
    category: Category
    tags: tuple[str, ...]
    html: str
    summary: str
    source: str | None
    url: str | None
    share_code: str
    #: Every category the post appears in, the primary one first.
    categories: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return article_key(self.id)


@dataclass(frozen=True, slots=True)
class StoreResult:
    """The outcome of storing one post."""

    outcome: Outcome
    post_id: str
    origin: str = ""
    error: str | None = None
