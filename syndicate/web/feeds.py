"""Feed endpoints: per category, per tag and site-wide, in Atom, RSS and JSON Feed."""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, request

from .. import urls
from ..core import FeedRequest
from ..errors import CategoryNotFound
from ..feeds import media_type
from ..model import FeedFormat
from .context import core, redirect_to

bp = Blueprint("feeds", __name__)

FORMATS = {"atom": FeedFormat.ATOM, "rss": FeedFormat.RSS, "json": FeedFormat.JSON}


def feed_response(feed: FeedRequest) -> Response:
    """Render a feed and answer with validators, caching headers and 304 when current."""
    body, updated = core().render_feed(feed)
    response = Response(body, mimetype=None, content_type=media_type(feed.fmt))
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.last_modified = updated
    response.cache_control.public = True
    response.cache_control.max_age = core().settings.feed_max_age
    response.vary.add("Accept-Encoding")
    return response.make_conditional(request)


@bp.get("/category/<slug>.<any(atom, rss, json):ext>")
def category_feed(slug: str, ext: str) -> Response:
    if core().store.category(slug) is None:
        target = core().canonical_slug(slug)
        if target:
            return redirect_to(urls.category_path(target, FORMATS[ext]), 301)
        raise CategoryNotFound(f"没有这个分类：{slug}")
    return feed_response(FeedRequest("category", slug, FORMATS[ext]))


@bp.get("/tag/<tag>.<any(atom, rss, json):ext>")
def tag_feed(tag: str, ext: str) -> Response:
    return feed_response(FeedRequest("tag", tag, FORMATS[ext]))


@bp.get("/feed.xml", defaults={"ext": "atom"})
@bp.get("/feed.<any(rss, json):ext>")
def site_feed(ext: str) -> Response:
    return feed_response(FeedRequest("site", "", FORMATS[ext]))
