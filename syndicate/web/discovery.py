"""Discovery: /opml.xml, /sitemap.xml (an index past 50,000 URLs), the news sitemap, robots.txt."""

from __future__ import annotations

from flask import Blueprint, Response, request

from .. import params
from ..discovery import Discovery, Document
from ..model import FeedFormat
from .context import core
from .feeds import conditional, memos_of

bp = Blueprint("discovery", __name__)


def _discovery() -> Discovery:
    return core().discovery


def _serve(doc: Document) -> Response:
    status, headers, body = conditional(
        doc, request.environ, lambda: core().feeds.cache.get_or_render(doc.etag, doc.build),
        memos_of(core()))
    return Response(body, status=status, headers=headers)


@bp.get("/opml.xml")
def opml() -> Response:
    """Every category with its Atom, RSS and JSON Feed; ``?format=`` gives one format, flat."""
    raw = request.args.get("format")
    fmt = params.choice("format", raw, tuple(FeedFormat)) if raw is not None else None
    return _serve(_discovery().opml(FeedFormat(fmt) if fmt else None))


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    return _serve(_discovery().sitemap())


@bp.get("/sitemap-pages.xml")
def sitemap_pages() -> Response:
    return _serve(_discovery().sitemap_pages())


@bp.get("/sitemap-posts-<int:part>.xml")
def sitemap_posts(part: int) -> Response:
    return _serve(_discovery().sitemap_posts(part))


@bp.get("/sitemap-news.xml")
def news_sitemap() -> Response:
    return _serve(_discovery().news_sitemap())


@bp.get("/robots.txt")
def robots() -> Response:
    response = Response(_discovery().robots(), content_type="text/plain; charset=utf-8")
    response.cache_control.public = True
    response.cache_control.max_age = core().settings.feed_max_age
    return response
