"""HTML listings as HTTP sees them: the home page, the category index, category and tag pages.

Like feeds, each listing has validators taken from the versions of the feeds it shows (one
state row, read before anything else), so the web layer renders it once per change and
answers 304s and repeat requests from the render cache. The data of a listing is read
only when it is rendered. No Flask here: the web layer supplies the template.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from . import urls
from .errors import CategoryNotFound
from .model import EPOCH, SITE_FEED, Category, FeedState, PostRef, feed_key
from .showable import showable
from .text import slugify_name

if TYPE_CHECKING:
    from .store import Store

#: Newest posts of the whole site on the home page.
HOME_LATEST = 30
#: Busiest categories of the last day on the home page, and posts shown for each.
HOME_ACTIVE = 12
HOME_ACTIVE_POSTS = 5
#: Bump when the listing templates change, so that every page's ETag changes with them.
LISTING_REVISION = "1"


@dataclass(frozen=True, slots=True)
class Listing:
    """Which listing: ``home``, ``categories``, or page ``page`` of a category or a tag."""

    kind: str
    key: str = ""
    page: int = 1


@dataclass(frozen=True, slots=True)
class ListingDocument:
    """A listing's validators, as the web layer's conditional answer needs them."""

    listing: Listing
    etag: str
    last_modified: datetime
    max_age: int
    media_type: str = "text/html; charset=utf-8"
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ActiveCategory:
    """A category busy in the last day: its posts there and its newest ones."""

    category: Category
    recent: int
    posts: list[PostRef] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IndexGroup:
    """Categories whose names' pinyin starts with one letter."""

    initial: str
    categories: list[Category]


class Listings:
    """Validators and data of the HTML listings over one Store."""

    def __init__(self, store: Store, *, salt: str, page_size: int, max_age: int,
                 tz: ZoneInfo) -> None:
        self.store = store
        self.tz = tz
        self.salt = salt
        self.page_size = page_size
        self.max_age = max_age

    # -- validators (cheap) ----------------------------------------------------------

    def document(self, listing: Listing, *variant: object) -> ListingDocument:
        """The listing's validators; NotFound for a category or tag that has no posts.

        ``variant`` names what else shapes the bytes (e.g. static export links)."""
        state = self._state(listing)
        extra: tuple[object, ...] = ()
        if listing.kind in ("home", "categories"):
            extra = self.store.categories_version()
        text = "|".join(map(str, (self.salt, LISTING_REVISION, listing, state.version,
                                  state.changed, *extra, *variant)))
        etag = hashlib.sha1(text.encode("utf-8")).hexdigest()[:24]
        return ListingDocument(listing, etag, state.changed, self.max_age)

    def _state(self, listing: Listing) -> FeedState:
        if listing.kind in ("home", "categories"):
            return self.store.feed_state(SITE_FEED) or FeedState(SITE_FEED, 0, EPOCH, 0)
        state = self.store.feed_state(feed_key(listing.kind, listing.key))
        if state is None:
            what = "分类" if listing.kind == "category" else "标签"
            raise CategoryNotFound(f"没有这个{what}：{listing.key}")
        return state

    # -- data (read when rendering) --------------------------------------------------

    def latest(self) -> list[tuple[PostRef, Category]]:
        """The newest posts of the whole site, each with its category."""
        found = self.store.latest_refs(HOME_LATEST)
        keep = {id(ref) for ref in showable([ref for ref, _ in found], self.tz)}
        return [(ref, category) for ref, category in found if id(ref) in keep]

    def active(self) -> list[ActiveCategory]:
        """The busiest categories of the day before the newest post, with their newest posts."""
        return [ActiveCategory(category, recent, showable(
                    self.store.category_refs(category.slug, HOME_ACTIVE_POSTS), self.tz))
                for category, recent in self.store.active_categories(HOME_ACTIVE)]

    def index(self) -> list[IndexGroup]:
        """Every category, grouped by the pinyin initial of its name (others under #), in
        pinyin order."""
        groups: dict[str, list[tuple[str, Category]]] = {}
        for category in self.store.category_index():
            reading = slugify_name(category.name) or category.slug
            first = reading[:1].upper()
            groups.setdefault(first if "A" <= first <= "Z" else "#", []).append((reading, category))
        return [IndexGroup(initial, [c for _, c in sorted(members, key=lambda m: (m[0], m[1].slug))])
                for initial, members in sorted(groups.items(), key=lambda g: (g[0] == "#", g[0]))]

    def page(self, listing: Listing) -> tuple[list[PostRef], int]:
        """Page ``listing.page`` of a category or tag, and how many pages it has; NotFound
        past the last page."""
        is_category = listing.kind == "category"
        total = (self.store.count_in(category=listing.key) if is_category
                 else self.store.count_in(tag=listing.key))
        pages = max(1, -(-total // self.page_size))
        if listing.page > pages:
            raise CategoryNotFound(f"没有这一页：第 {listing.page} 页（共 {pages} 页）")
        offset = (listing.page - 1) * self.page_size
        if is_category:
            found = self.store.category_refs(listing.key, self.page_size, offset)
        else:
            found = self.store.tag_refs(listing.key, self.page_size, offset)
        return showable(found, self.tz), pages


def ref_path(ref: PostRef, tz: ZoneInfo) -> str:
    """The canonical path of a listed post."""
    return urls.permalink(ref.category, ref.published, ref.id, tz)
