"""Feed documents as HTTP sees them: validators first, bytes (rendered once) only when needed.

``FeedView.document()`` reads the feed's state row (one indexed row, or no query at all on
SQLite while nothing was committed) and returns the document's validators: an ETag from
(feed, format, version, query) and Last-Modified, the time of the feed's last real change.
Only when the client is not current does ``FeedView.render()`` fetch posts and render, once
per version, through the RenderCache.

Documents of one feed (``site``, ``category/<slug>``, ``tag/<tag>``):

- the subscription document: the newest ``FEED_SIZE`` entries by publish date, plus the
  entries that arrived since the last full archive page (so that the subscription
  document and the archives together hold every entry, even a late, back-dated one);
- RFC 5005 archive pages: page n holds the entries that arrived n-th in groups of
  ``ARCHIVE_SIZE`` (oldest first); a full page keeps its entries for ever. The page after
  the last full one is served too, as it fills up, without ``fh:archive``;
- deltas: ``?since=<RFC 3339 time or post id>`` and ``?limit=``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_plus, urlencode

from . import __version__, params, urls
from .cache import REDIS_TTL, RenderCache, Rendered
from .errors import CategoryNotFound, InvalidInput
from .feeds import FeedEntry, FeedSpec, build_feed, feed_id, media_type
from .memo import BoundedCache
from .model import EPOCH, POST_ID_RE, FeedFormat, FeedState, Post, feed_key
from .showable import showable

if TYPE_CHECKING:
    from .core import FeedRequest, Syndicate

#: Cache lifetime of a full archive page: its entries never change (an edit may).
ARCHIVE_MAX_AGE = 7 * 24 * 3600
#: The most entries one ``?limit=`` may ask for.
MAX_LIMIT = 500
#: Seconds a delta (``?since=``, ``?limit=``) stays in the shared Redis cache: each is one
#: reader's checkpoint, rarely asked for twice, so it must not take space for a day.
DELTA_TTL = 300
#: Bump when the feed output changes, so every ETag changes with it.
RENDER_REVISION = "4"


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """A delta request: entries newer than a time or a post, at most ``limit`` of them."""

    since: datetime | None = None
    after: str | None = None
    limit: int | None = None
    #: The ``since``/``limit`` parameters as the client spelled them (a valid URI query),
    #: for the self link: the W3C validator wants it to match the document's location.
    spelling: str = ""

    @classmethod
    def parse(cls, since: str | None, limit: str | None, spelling: str = "") -> FeedQuery:
        """Read ``?since=`` (RFC 3339 date-time, to the second, or post id) and ``?limit=``
        (clamped to 1..MAX_LIMIT): equivalent values give equal entries. ``spelling`` is
        the parameters as sent, for the self link only."""
        count = params.whole_number("limit", limit, 1, MAX_LIMIT, clamp=True) \
            if limit is not None else None
        since = (since or "").strip()
        if not since:
            query = cls(limit=count)
        elif _looks_like_time(since):
            query = cls(since=params.date_time("since", since), limit=count)
        elif POST_ID_RE.fullmatch(since):
            query = cls(after=since, limit=count)
        else:
            raise InvalidInput(f"since: {since[:40]!r} is neither an RFC 3339 date-time "
                               "nor a post id")
        return cls(query.since, query.after, query.limit, spelling) if not query.empty else query

    @classmethod
    def from_query_string(cls, raw: str) -> FeedQuery:
        """Read the delta parameters from a WSGI ``QUERY_STRING`` (the first of each
        counts; other parameters are ignored)."""
        found: dict[str, tuple[str, str]] = {}
        for part in raw.split("&"):
            name, _, value = part.partition("=")
            name = _query_text(name)
            if name in ("since", "limit") and name not in found:
                found[name] = (_query_text(value), _uri_query(part))
        since, limit = found.get("since"), found.get("limit")
        spelling = "&".join(spelled for _value, spelled in found.values())
        return cls.parse(since[0] if since else None, limit[0] if limit else None, spelling)

    @property
    def empty(self) -> bool:
        return self.since is None and self.after is None and self.limit is None

    @property
    def self_query(self) -> str:
        """The query of this delta's self link: as requested, else the canonical one."""
        return self.spelling or self.urlencoded()

    @property
    def canonical(self) -> bool:
        """Whether the delta was asked for as ``urlencoded()`` spells it."""
        return not self.spelling or self.spelling == self.urlencoded()

    def urlencoded(self) -> str:
        """The canonical query string of this delta ('' for the plain feed)."""
        pairs: list[tuple[str, str]] = []
        if self.since is not None:
            pairs.append(("since", self.since.astimezone(UTC).isoformat().replace("+00:00", "Z")))
        if self.after is not None:
            pairs.append(("since", self.after))
        if self.limit is not None:
            pairs.append(("limit", str(self.limit)))
        return urlencode(pairs, safe=":")  # ":" as readers and the W3C validator write it


def _wsgi_bytes(text: str) -> bytes:
    """The bytes a WSGI server handed over as latin-1 text (other text: its UTF-8)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _query_text(raw: str) -> str:
    """Decode one form-encoded query component (``+`` is a space), as werkzeug does."""
    return unquote_plus(_wsgi_bytes(raw).decode("utf-8", "replace"))


_STRAY_PERCENT_RE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _uri_query(raw: str) -> str:
    """Return a query component as a valid URI query, spelled as sent and normalised as
    RFC 3986 (6.2.2) and the W3C validator do: reserved characters stay as sent (``:`` is
    not re-encoded, ``%3A`` not decoded), escapes of unreserved characters are decoded,
    other escapes upper-cased, and what a URI cannot hold (non-ASCII, spaces, a stray
    ``%``) is percent-encoded."""
    data = _STRAY_PERCENT_RE.sub(b"%25", _wsgi_bytes(raw))
    return _ESCAPE_RE.sub(_normal_escape, quote(data, safe="%!$&'()*+,/:;=?@-._~"))


def _normal_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _looks_like_time(raw: str) -> bool:
    """A date-time starts ``YYYY-MM-DDT``; anything else may be a post id."""
    return len(raw) >= 11 and raw[4:5] == "-" and raw[10:11] in ("T", "t", " ")


@dataclass(frozen=True, slots=True)
class FeedDocument:
    """One document of a feed, with the validators and headers HTTP needs."""

    request: FeedRequest
    state: FeedState
    query: FeedQuery = field(default_factory=FeedQuery)
    #: The archive page number, or None for the subscription document or a delta.
    page: int | None = None
    etag: str = ""
    last_modified: datetime = EPOCH
    max_age: int = 300
    #: (rel, URL) pairs for the HTTP Link header: hubs and self (WebSub discovery).
    links: tuple[tuple[str, str], ...] = ()
    #: False for a delta spelled otherwise than canonically: rendered, never cached.
    cacheable: bool = True

    @property
    def media_type(self) -> str:
        return media_type(self.request.fmt)


class FeedView:
    """Feed documents of one Syndicate core: validators, archives, deltas, rendering."""

    def __init__(self, core: Syndicate) -> None:
        self.core = core
        settings = core.settings
        self.archive_size = settings.archive_size
        self.cache = RenderCache(redis_url=settings.redis_url)
        # Subscription documents by (state, request): a new version is a new state, a new
        # key. Deltas are not memoised: their keys are the readers' checkpoints.
        self._documents: BoundedCache[tuple[FeedState, FeedRequest], FeedDocument] = \
            BoundedCache(4096, 8 * 2**20)
        # Everything besides the feed's own version that shapes its bytes.
        self.salt = "|".join(map(str, (
            RENDER_REVISION, __version__, settings.base_url, settings.site_title,
            settings.feed_size, settings.archive_size, settings.tag_authority, settings.timezone,
            ",".join(settings.websub_hubs))))

    # -- validators (cheap) ----------------------------------------------------------

    def state(self, request: FeedRequest) -> FeedState:
        """The feed's committed state; NotFound for a category or tag without entries."""
        key = feed_key(request.kind, request.key)
        state = self.core.store.feed_state(key)
        if state is not None:
            return state
        if request.kind == "site":
            return FeedState(key, 0, EPOCH, 0)
        what = "分类" if request.kind == "category" else "标签"
        raise CategoryNotFound(f"没有这个{what}：{request.key}")

    def document(self, request: FeedRequest, query: FeedQuery | None = None) -> FeedDocument:
        """The subscription document or a delta, with its validators; no rendering."""
        query = query or FeedQuery()
        state = self.state(request)
        if not query.empty:
            return self._document(request, query, state)
        found = self._documents.get((state, request))
        if found is None:
            found = self._document(request, query, state)
            self._documents.put((state, request), found)
        return found

    def _document(self, request: FeedRequest, query: FeedQuery, state: FeedState) -> FeedDocument:
        links: tuple[tuple[str, str], ...] = ()
        if query.empty and self.core.settings.websub_hubs:
            links = (*(("hub", hub) for hub in self.core.settings.websub_hubs),
                     ("self", self.core.url(urls.feed_path(request.kind, request.key, request.fmt))))
        # Equivalent deltas share one weak ETag (the same entries) whatever their spelling;
        # only the canonical spelling's bytes are cached, so that no reader can fill a cache
        # with spellings (the others differ only in the self link, which repeats the URL).
        return FeedDocument(
            request, state, query, None,
            etag=self._etag(state.key, request.fmt, state.version, state.changed,
                            query.urlencoded()),
            last_modified=state.changed, max_age=self.core.settings.feed_max_age, links=links,
            cacheable=query.canonical)

    def archive(self, request: FeedRequest, page: int) -> FeedDocument:
        """Archive page ``page`` (1 = oldest) with its validators; NotFound past the last."""
        state = self.state(request)
        full = state.last_seq // self.archive_size
        if not 1 <= page <= full + 1:
            raise CategoryNotFound(f"没有这一页归档：{page}")
        count, changed = self.core.store.feed_range_stats(state.key, *self._range(page))
        complete = page <= full
        return FeedDocument(
            request, state, FeedQuery(), page,
            etag=self._etag(state.key, request.fmt, "archive", page, count, changed, complete),
            last_modified=changed or state.changed,
            max_age=ARCHIVE_MAX_AGE if complete else self.core.settings.feed_max_age)

    def _etag(self, *parts: object) -> str:
        text = "|".join(map(str, (self.salt, *parts)))
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:24]

    def _range(self, page: int) -> tuple[int, int]:
        return (page - 1) * self.archive_size + 1, page * self.archive_size

    # -- bytes (rendered once per version) -------------------------------------------

    def render(self, doc: FeedDocument) -> Rendered:
        """The document's bytes and gzip, from the cache or rendered now."""
        if not doc.cacheable:
            return Rendered.of(self._render(doc))
        ttl = DELTA_TTL if not doc.query.empty else REDIS_TTL
        return self.cache.get_or_render(doc.etag, lambda: self._render(doc), ttl)

    def _render(self, doc: FeedDocument) -> bytes:
        request, state = doc.request, doc.state
        if doc.page is not None:
            posts = self.core.store.feed_range(state.key, *self._range(doc.page))
            return self._build(doc, posts, self._archive_links(doc), EPOCH)
        if not doc.query.empty:
            return self._build(doc, self._delta(doc), {}, state.changed)
        posts = self.core.store.feed_latest(state.key, self.core.settings.feed_size)
        full = state.last_seq // self.archive_size
        if state.last_seq > full * self.archive_size:
            # Entries not archived yet; usually the newest, so already in `posts`.
            seen = {p.id for p in posts}
            tail = self.core.store.feed_range_ids(state.key, full * self.archive_size + 1,
                                                  state.last_seq)
            posts += self.core.store.posts_by_id([i for i in tail if i not in seen])
        links = {}
        if full:
            older = self._archive_url(request, full)
            links = {"next": older} if request.fmt is FeedFormat.JSON else {"prev-archive": older}
        return self._build(doc, posts, links, state.changed)

    def _delta(self, doc: FeedDocument) -> list[Post]:
        query, key = doc.query, doc.state.key
        limit = query.limit or self.core.settings.feed_size
        if query.after is None and query.since is None:
            return self.core.store.feed_latest(key, limit)
        after_seq = None
        if query.after is not None:
            after_seq = self.core.store.feed_seq(key, query.after)
            if after_seq is None:
                raise InvalidInput(f"since: this feed has no post {query.after!r}")
        return self.core.store.feed_newer(key, after_seq=after_seq, since=query.since, limit=limit)

    def _archive_url(self, request: FeedRequest, page: int) -> str:
        return self.core.url(urls.archive_path(request.kind, request.key, page, request.fmt))

    def _archive_links(self, doc: FeedDocument) -> dict[str, str]:
        request, page = doc.request, doc.page or 1
        full = doc.state.last_seq // self.archive_size
        if request.fmt is FeedFormat.JSON:  # JSON Feed pages: next_url leads to older items
            return {"next": self._archive_url(request, page - 1)} if page > 1 else {}
        links = {"current": self.core.url(urls.feed_path(request.kind, request.key, request.fmt))}
        if page > 1:
            links["prev-archive"] = self._archive_url(request, page - 1)
        if page <= full:
            links["next-archive"] = self._archive_url(request, page + 1)
        return links

    def _build(self, doc: FeedDocument, posts: list[Post], links: dict[str, str],
               updated: datetime) -> bytes:
        request, core = doc.request, self.core
        # Read at each render (once per version): an operator may rename a category.
        title, html_path = core.feed_title(request)
        if doc.page is not None:
            self_urls = {f: core.url(urls.archive_path(request.kind, request.key, doc.page, f))
                         for f in FeedFormat}
            updated = doc.last_modified
        else:
            suffix = "?" + doc.query.self_query if not doc.query.empty else ""
            paths = urls.feed_paths(request.kind, request.key)
            self_urls = {f: core.url(p) + suffix for f, p in paths.items()}
        spec = FeedSpec(
            feed_id=feed_id(core.settings.tag_authority, request.kind, request.key),
            title=title,
            description=f"{title}：最新消息",
            html_url=core.url(html_path),
            self_urls=self_urls,
            updated=updated if doc.state.version else EPOCH,
            base_url=core.settings.base_url,
            tag_authority=core.settings.tag_authority,
            author=core.settings.site_title,
            hubs=tuple(hub for rel, hub in doc.links if rel == "hub"),
            links=links,
            archive=doc.page is not None and doc.page <= doc.state.last_seq // self.archive_size,
        )
        entries = [FeedEntry(post=p, url=core.post_url(p)) for p in showable(posts, core.tz)]
        return build_feed(spec, entries, request.fmt)
