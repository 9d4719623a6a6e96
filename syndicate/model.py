"""The data model: frozen dataclasses and enums shared by every layer.

This module is a leaf: it imports nothing else from syndicate.
All datetimes are timezone-aware.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

#: "Never": the time given to things that have not changed yet.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

#: An Eastmoney ``infoCode``: the bare 18 digits, optionally prefixed by ``NW``.
#: Match it (and every pattern that validates an identifier) with ``fullmatch``: ``$``
#: accepts a trailing newline, and ``\\d`` any script's digits.
INFOCODE_RE = re.compile(r"(?:NW)?([0-9]{18})")
#: A post id as the API and ``?since=`` accept it (infoCodes, derived ``u…`` ids, others).
POST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def article_key(post_id: str) -> str:
    """Return the identity key of a post id: ``NW`` + 18 digits and the bare digits are one article."""
    match = INFOCODE_RE.fullmatch(post_id)
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
    #: The file named an article another file of the same import already stored (an NW/bare
    #: twin, the same post in ``_posts/`` and ``old_post/``): merged into it.
    MERGED = "merged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """A category as an operator lists it: the name shown, the name its posts give it,
    how many posts it holds, and whether an operator set the name shown."""

    slug: str
    name: str
    derived_name: str
    posts: int
    named_by_operator: bool


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
    #: Keys of the feeds this write changed (see ``feed_key``); empty when nothing changed.
    feeds: tuple[str, ...] = ()
    #: Origins of the other inputs of the same batch merged into this article.
    merged: tuple[str, ...] = ()


#: The key of the site-wide feed; categories and tags are ``category/<slug>``, ``tag/<tag>``.
SITE_FEED = "site"


def feed_key(kind: str, name: str = "") -> str:
    """Return the key of a feed: ``site``, ``category/<slug>`` or ``tag/<tag>``."""
    if kind == SITE_FEED:
        return SITE_FEED
    if kind not in ("category", "tag") or not name:
        raise ValueError(f"no feed of kind {kind!r} named {name!r}")
    return f"{kind}/{name}"


@dataclass(frozen=True, slots=True)
class PostRef:
    """A post's identity, title and dates without its body: enough to link to it."""

    id: str
    category: str
    title: str
    published: datetime
    updated: datetime


@dataclass(frozen=True, slots=True)
class PostLink:
    """Where a post lives and how it is shared: what a static redirect map needs."""

    id: str
    path: str
    share_code: str


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed's change counter: bumped in the transaction that changes its entries."""

    key: str
    version: int
    #: The time of the last real change (an entry added, edited or removed).
    changed: datetime
    #: The sequence number of the last entry that joined the feed (arrival order).
    last_seq: int
