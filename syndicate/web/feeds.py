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
from urllib.parse import parse_qs
from weakref import WeakKeyDictionary

from flask import Blueprint, Response, request
from werkzeug.http import http_date, is_resource_modified, parse_accept_header, quote_etag
from werkzeug.wrappers import Response as BaseResponse

from .. import metrics, urls
from ..cache import Rendered
from ..core import FeedRequest, Syndicate
from ..errors import SyndicateError
from ..feedview import FeedDocument, FeedQuery
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
    ready = memos.ready.get((doc.etag, gzip))
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
    _remember(memos.ready, (doc.etag, gzip), (headers, body), 256)
    return "200 OK", headers, body


@dataclass
class Memos:
    """Hot-path memos of one core, keyed by ETags (which name a version, so entries never
    go stale) and bounded by starting over. They hold references to cached bytes."""

    common: dict[tuple[str, int], Headers] = field(default_factory=dict)
    ready: dict[tuple[str, bool], tuple[Headers, bytes]] = field(default_factory=dict)
    modified: dict[tuple[Any, ...], bool] = field(default_factory=dict)


_MEMOS: WeakKeyDictionary[Syndicate, Memos] = WeakKeyDictionary()


def memos_of(syndicate: Syndicate) -> Memos:
    found = _MEMOS.get(syndicate)
    if found is None:
        found = _MEMOS[syndicate] = Memos()
    return found


def _remember(memo: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value


def _common_headers(memos: Memos, etag: str, max_age: int) -> Headers:
    """Headers of the 200 and the 304 alike. Weak ETag: the gzip and identity bytes of
    one version are the same document."""
    found = memos.common.get((etag, max_age))
    if found is None:
        found = [("ETag", quote_etag(etag, weak=True)),
                 ("Cache-Control", f"public, max-age={max_age}"), ("Vary", "Accept-Encoding")]
        _remember(memos.common, (etag, max_age), found, 4096)
    return found


def _modified(memos: Memos, environ: dict[str, Any], etag: str, last_modified: Any) -> bool:
    """werkzeug decides (If-None-Match first, dates compared as dates); readers repeat the
    same validators all day, so the answer is memoised per header values."""
    key = (environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE"),
           environ.get("HTTP_IF_MATCH"), environ.get("HTTP_IF_UNMODIFIED_SINCE"),
           environ.get("HTTP_RANGE"), etag, last_modified)
    found = memos.modified.get(key)
    if found is None:
        found = is_resource_modified(environ, etag=etag, last_modified=last_modified)
        _remember(memos.modified, key, found, 4096)
    return found


_GZIP: dict[str | None, bool] = {}


def accepts_gzip(header: str | None) -> bool:
    """Tell whether an Accept-Encoding header allows gzip (q=0 refuses; * counts)."""
    found = _GZIP.get(header)
    if found is None:
        found = bool(header) and parse_accept_header(header)["gzip"] > 0
        if len(_GZIP) < 1000:
            _GZIP[header] = found
    return found


def _flask_response(doc: FeedDocument) -> Response:
    status, headers, body = answer(core(), doc, request.environ)
    return Response(body, status=status, headers=headers)


def _query() -> FeedQuery:
    return FeedQuery.parse(request.args.get("since"), request.args.get("limit"))


# -- Flask views (every feed URL; errors and redirects happen here) -------------------


@bp.get(f"/category/<slug>.{EXT}")
def category_feed(slug: str, ext: str) -> BaseResponse:
    target = moved_category(slug)
    if target:
        return redirect_to(urls.category_path(target, FORMATS[ext]), 301)
    feed = FeedRequest("category", slug, FORMATS[ext])
    return _flask_response(core().feeds.document(feed, _query()))


@bp.get(f"/tag/<tag>.{EXT}")
def tag_feed(tag: str, ext: str) -> Response:
    feed = FeedRequest("tag", tag, FORMATS[ext])
    return _flask_response(core().feeds.document(feed, _query()))


@bp.get("/feed.xml", defaults={"ext": "atom"})
@bp.get("/feed.<any(rss, json):ext>")
def site_feed(ext: str) -> Response:
    feed = FeedRequest("site", "", FORMATS[ext])
    return _flask_response(core().feeds.document(feed, _query()))


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

_FEED_RE = re.compile(r"^/(?:feed\.(xml|rss|json)|(category|tag)/([^/]+)\.(atom|rss|json))$")
_ARCHIVE_RE = re.compile(
    r"^/(?:feed|(category|tag)/([^/]+))/archive/([1-9][0-9]{0,8})\.(atom|rss|json)$")


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
        match = _FEED_RE.match(path)
        if match is not None:
            site_ext, kind, name, ext = match.groups()
            feed = (FeedRequest("site", "", FORMATS[site_ext]) if site_ext
                    else FeedRequest(kind, wsgi_path_text(name), FORMATS[ext]))
            doc = self.syndicate.feeds.document(feed, _fast_query(environ))
            return answer(self.syndicate, doc, environ)
        match = _ARCHIVE_RE.match(path)
        if match is not None:
            kind, name, page, ext = match.groups()
            feed = FeedRequest(kind or "site", wsgi_path_text(name) if kind else "", FORMATS[ext])
            return answer(self.syndicate, self.syndicate.feeds.archive(feed, int(page)), environ)
        return None


def _fast_query(environ: dict[str, Any]) -> FeedQuery | None:
    raw = environ.get("QUERY_STRING")
    if not raw:
        return None
    args = parse_qs(raw, keep_blank_values=True)
    since, limit = args.get("since"), args.get("limit")
    return FeedQuery.parse(since[0] if since else None, limit[0] if limit else None)
