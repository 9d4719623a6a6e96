"""Feed endpoints: site, category and tag feeds, their RFC 5005 archives and deltas.

One function, ``answer()``, makes every feed response: it asks the core for the document's
validators (one state row), lets werkzeug's ``is_resource_modified`` decide on 304
(If-None-Match first, If-Modified-Since compared as a date) *before* anything is rendered,
and only then takes the bytes (or the gzip bytes) from the render-once cache.

Two doors lead to it. ``FeedFastPath`` is WSGI middleware in front of Flask that answers
well-formed feed requests directly: feed readers poll all day, and skipping Flask's
request machinery doubles the requests a worker serves. Anything else (a legacy slug to
redirect, an unknown feed, a bad parameter, an error) goes on to the Flask views below,
which call the same ``answer()`` and leave errors to the site's error pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from flask import Blueprint, Response, request
from werkzeug.http import http_date, is_resource_modified, parse_accept_header, quote_etag
from werkzeug.wrappers import Response as BaseResponse

from .. import metrics, urls
from ..cache import Rendered
from ..core import FeedRequest, Syndicate
from ..errors import SyndicateError
from ..feedview import FeedDocument, FeedQuery
from ..memo import BoundedCache
from ..model import FeedFormat
from .context import core, moved_category, redirect_to, wsgi_path_text

bp = Blueprint("feeds", __name__)

FORMATS = {"atom": FeedFormat.ATOM, "rss": FeedFormat.RSS, "json": FeedFormat.JSON,
           "xml": FeedFormat.ATOM}
EXT = "<any(atom, rss, json):ext>"

Headers = list[tuple[str, str]]
Answer = tuple[str, Headers, bytes]


def answer(syndicate: Syndicate, doc: FeedDocument, environ: dict[str, Any]) -> Answer:
    """Return status, headers and body for a feed document: 304 when the client is current."""
    return conditional(doc, environ, lambda: syndicate.feeds.render(doc), memos_of(syndicate))


def conditional(doc: Any, environ: dict[str, Any], render: Callable[[], Rendered],
                memos: Memos) -> Answer:
    """Answer for a document with validators (etag, last_modified, max_age, media_type,
    links); ``render`` is called only when the client is not current."""
    common = _common_headers(memos, doc.etag, doc.max_age)
    if ((environ.get("HTTP_IF_NONE_MATCH") or environ.get("HTTP_IF_MODIFIED_SINCE"))
            and not _modified(memos, environ, doc.etag, doc.last_modified)):
        return "304 Not Modified", common, b""
    gzip = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
    cacheable = getattr(doc, "cacheable", True)
    ready = memos.ready.get((doc.etag, gzip)) if cacheable else None
    if ready is not None:
        metrics.cache_lookup(hit=True)  # served stored bytes without asking the render cache
        return "200 OK", ready[0], ready[1]
    rendered = render()
    body = rendered.gzipped if gzip else rendered.body
    headers = [("Content-Type", doc.media_type), ("Content-Length", str(len(body))),
               ("Last-Modified", http_date(doc.last_modified)), *common]
    if gzip:
        headers.append(("Content-Encoding", "gzip"))
    if doc.links:
        headers.append(("Link", ", ".join(f'<{url}>; rel="{rel}"' for rel, url in doc.links)))
    if cacheable:
        memos.ready.put((doc.etag, gzip), (headers, body))
    return "200 OK", headers, body


@dataclass
class Memos:
    """Hot-path memos of one core, keyed by ETags we minted (which name a version, so
    entries never go stale) and by validators of the shape we mint; each is a
    ``BoundedCache``, so no client can make them grow. ``ready`` holds references to
    cached bytes."""

    common: BoundedCache[tuple[str, int], Headers] = field(
        default_factory=lambda: BoundedCache(4096, 4 * 2**20))
    ready: BoundedCache[tuple[str, bool], tuple[Headers, bytes]] = field(
        default_factory=lambda: BoundedCache(256, 32 * 2**20))
    modified: BoundedCache[tuple[Any, ...], bool] = field(
        default_factory=lambda: BoundedCache(4096, 2 * 2**20))


_MEMOS: WeakKeyDictionary[Syndicate, Memos] = WeakKeyDictionary()


def memos_of(syndicate: Syndicate) -> Memos:
    found = _MEMOS.get(syndicate)
    if found is None:
        found = _MEMOS[syndicate] = Memos()
    return found


def _common_headers(memos: Memos, etag: str, max_age: int) -> Headers:
    """Headers of the 200 and the 304 alike. Weak ETag: the gzip and identity bytes of
    one version are the same document."""
    found = memos.common.get((etag, max_age))
    if found is None:
        found = [("ETag", quote_etag(etag, weak=True)),
                 ("Cache-Control", f"public, max-age={max_age}"), ("Vary", "Accept-Encoding")]
        memos.common.put((etag, max_age), found)
    return found


#: One ETag as we mint them (24 hex digits, weak or strong): the only If-None-Match memoised.
_MINTED_ETAG = re.compile(r'(?:W/)?"[0-9a-f]{24}"')
#: An HTTP date is 29 characters; the obsolete forms a few more.
_MAX_DATE = 40


def _modified(memos: Memos, environ: dict[str, Any], etag: str, last_modified: Any) -> bool:
    """werkzeug decides (If-None-Match first, dates compared as dates). Readers repeat the
    same validators all day, so the answer is memoised, but only for validators of the
    shape we send: anything else (lists, huge or odd values, If-Match, Range) is decided
    afresh and not remembered."""
    validators = _validators(environ)
    if validators is None:
        return is_resource_modified(environ, etag=etag, last_modified=last_modified)
    key = (*validators, etag, last_modified)
    found = memos.modified.get(key)
    if found is None:
        found = is_resource_modified(environ, etag=etag, last_modified=last_modified)
        memos.modified.put(key, found)
    return found


def _validators(environ: dict[str, Any]) -> tuple[str | None, str | None] | None:
    """The request's If-None-Match and If-Modified-Since, when both are of our shape."""
    if environ.get("HTTP_IF_MATCH") or environ.get("HTTP_IF_UNMODIFIED_SINCE") \
            or environ.get("HTTP_RANGE"):
        return None
    none_match = environ.get("HTTP_IF_NONE_MATCH")
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if none_match is not None and not _MINTED_ETAG.fullmatch(none_match):
        return None
    if since is not None and len(since) > _MAX_DATE:
        return None
    return none_match, since


#: Accept-Encoding values seen often enough to remember (by value, when short).
_GZIP: BoundedCache[str, bool] = BoundedCache(256, 64 * 1024)
_MAX_MEMO_ENCODING = 100


def accepts_gzip(header: str | None) -> bool:
    """Tell whether an Accept-Encoding header allows gzip (q=0 refuses; * counts)."""
    if not header:
        return False
    found = _GZIP.get(header)
    if found is None:
        found = parse_accept_header(header)["gzip"] > 0
        if len(header) <= _MAX_MEMO_ENCODING:  # a few browsers' values, not every client's
            _GZIP.put(header, found)
    return found


def _flask_response(doc: FeedDocument) -> Response:
    status, headers, body = answer(core(), doc, request.environ)
    return Response(body, status=status, headers=headers)


def _query() -> FeedQuery:
    return FeedQuery.from_query_string(request.query_string.decode("latin-1"))


def _feed(feed: FeedRequest) -> BaseResponse:
    return _flask_response(core().feeds.document(feed, _query()))


# -- Flask views (every feed URL; errors and redirects happen here) -------------------


@bp.get(f"/category/<slug>.{EXT}")
def category_feed(slug: str, ext: str) -> BaseResponse:
    target = moved_category(slug)
    if target:
        return redirect_to(urls.category_path(target, FORMATS[ext]), 301)
    return _feed(FeedRequest("category", slug, FORMATS[ext]))


@bp.get(f"/tag/<tag>.{EXT}")
def tag_feed(tag: str, ext: str) -> BaseResponse:
    return _feed(FeedRequest("tag", tag, FORMATS[ext]))


@bp.get("/feed.xml", defaults={"ext": "atom"})
@bp.get("/feed.<any(rss, json):ext>")
def site_feed(ext: str) -> BaseResponse:
    return _feed(FeedRequest("site", "", FORMATS[ext]))


@bp.get(f"/category/<slug>/archive/<int:page>.{EXT}")
def category_archive(slug: str, page: int, ext: str) -> BaseResponse:
    target = moved_category(slug)
    if target:
        return redirect_to(urls.archive_path("category", target, page, FORMATS[ext]), 301)
    return _flask_response(core().feeds.archive(FeedRequest("category", slug, FORMATS[ext]), page))


@bp.get(f"/tag/<tag>/archive/<int:page>.{EXT}")
def tag_archive(tag: str, page: int, ext: str) -> Response:
    return _flask_response(core().feeds.archive(FeedRequest("tag", tag, FORMATS[ext]), page))


@bp.get(f"/feed/archive/<int:page>.{EXT}")
def site_archive(page: int, ext: str) -> Response:
    return _flask_response(core().feeds.archive(FeedRequest("site", "", FORMATS[ext]), page))


# -- the fast path ---------------------------------------------------------------------

# Matched with fullmatch: "$" would take "/feed.xml\n" for "/feed.xml".
_FEED_RE = re.compile(r"/(?:feed\.(xml|rss|json)|(category|tag)/([^/]+)\.(atom|rss|json))")
_ARCHIVE_RE = re.compile(
    r"/(?:feed|(category|tag)/([^/]+))/archive/([1-9][0-9]{0,8})\.(atom|rss|json)")


class FeedFastPath:
    """WSGI middleware: answer well-formed feed GET/HEAD requests without Flask."""

    def __init__(self, syndicate: Syndicate, app: Any) -> None:
        self.syndicate = syndicate
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method == "GET" or method == "HEAD":
            try:
                found = self._answer(environ)
            except (SyndicateError, UnicodeError):
                found = None  # the Flask views answer with the right error or redirect
            if found is not None:
                status, headers, body = found
                start_response(status, headers)
                return [b""] if method == "HEAD" else [body]
        return self.app(environ, start_response)  # type: ignore[no-any-return]

    def _answer(self, environ: dict[str, Any]) -> Answer | None:
        path = environ.get("PATH_INFO", "")
        match = _FEED_RE.fullmatch(path)
        if match is not None:
            site_ext, kind, name, ext = match.groups()
            feed = (FeedRequest("site", "", FORMATS[site_ext]) if site_ext
                    else FeedRequest(kind, wsgi_path_text(name), FORMATS[ext]))
            doc = self.syndicate.feeds.document(feed, _fast_query(environ))
            return answer(self.syndicate, doc, environ)
        match = _ARCHIVE_RE.fullmatch(path)
        if match is not None:
            kind, name, page, ext = match.groups()
            feed = FeedRequest(kind or "site", wsgi_path_text(name) if kind else "", FORMATS[ext])
            return answer(self.syndicate, self.syndicate.feeds.archive(feed, int(page)), environ)
        return None


def _fast_query(environ: dict[str, Any]) -> FeedQuery | None:
    raw = environ.get("QUERY_STRING")
    return FeedQuery.from_query_string(raw) if raw else None
