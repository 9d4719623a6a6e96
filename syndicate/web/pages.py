"""HTML pages: home, category, tag and post pages, health check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request
from werkzeug.wrappers import Response

from .. import params, preview, urls
from ..errors import PostNotFound
from ..listings import Listing, ref_path
from ..model import FeedFormat, Post, PostRef
from ..text import clean_stored, web_url
from .context import core, moved_category, redirect_to
from .feeds import conditional, memos_of

bp = Blueprint("pages", __name__)

FEED_LABELS = {FeedFormat.ATOM: "Atom", FeedFormat.RSS: "RSS", FeedFormat.JSON: "JSON Feed"}
FEED_TYPES = {FeedFormat.ATOM: "application/atom+xml", FeedFormat.RSS: "application/rss+xml",
              FeedFormat.JSON: "application/feed+json"}


def feed_links(title: str, kind: str, key: str = "") -> list[dict[str, str]]:
    """Autodiscovery links for one feed (site, category or tag) in every format."""
    return [{"title": f"{title} ({FEED_LABELS[f]})", "type": FEED_TYPES[f], "href": core().url(p)}
            for f, p in urls.feed_paths(kind, key).items()]


def site_feed_links() -> list[dict[str, str]]:
    return feed_links(core().settings.site_title, "site")


def init_app(app: Flask) -> None:
    @app.context_processor
    def helpers() -> dict[str, Any]:
        return {
            "site_title": core().settings.site_title,
            "post_path": core().post_path,
            "ref_path": listed_path,
            "category_path": urls.category_path,
            "tag_path": urls.tag_path,
            "localtime": localtime,
            "news_label": news_label,
            "site_feeds": site_feed_links,
            "page_url": page_url,
        }


def page_url(base: str, page: int) -> str:
    """Link to page ``page`` of a listing: ``base?page=n`` on the live site, a file of its
    own in a static export (STATIC_EXPORT), where no query string can be served."""
    if page <= 1:
        return base
    if current_app.config.get("STATIC_EXPORT"):
        return urls.static_page_path(base, page)
    return f"{base}?page={page}"


def news_label(name: str) -> str:
    """Label a category's news: 中国电子报 -> 中国电子报新闻, 每日经济新闻 stays as it is."""
    return name if name.endswith("新闻") else f"{name}新闻"


def listed_path(ref: PostRef) -> str:
    """The canonical path of a post in a listing."""
    return ref_path(ref, core().tz)


def localtime(value: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format a datetime in the site time zone."""
    return value.astimezone(core().tz).strftime(fmt)


def _page_number() -> int:
    """``?page=``: malformed is 400 (naming it); a page past the last is the view's 404."""
    return params.page_number(request.args.get("page"))


def serve_listing(listing: Listing, render: Callable[[], str]) -> Response:
    """Answer for a listing: 304 when the client is current, else its bytes, rendered once
    per change of the feeds it shows (and shared with the other workers through the cache)."""
    static = bool(current_app.config.get("STATIC_EXPORT"))
    doc = core().listings.document(listing, static)
    status, headers, body = conditional(
        doc, request.environ,
        lambda: core().feeds.cache.get_or_render(doc.etag, lambda: render().encode("utf-8")),
        memos_of(core()))
    return Response(body, status=status, headers=headers)


@bp.get("/")
def home() -> Response:
    listings = core().listings

    def render() -> str:
        return render_template("home.html", latest=listings.latest(), active=listings.active(),
                               feeds=site_feed_links())
    return serve_listing(Listing("home"), render)


@bp.get("/categories.html")
def category_index() -> Response:
    listings = core().listings

    def render() -> str:
        return render_template("categories.html", groups=listings.index(), feeds=site_feed_links(),
                               feed_formats=list(FEED_LABELS.items()))
    return serve_listing(Listing("categories"), render)


@bp.get("/category/<slug>.html")
def category(slug: str) -> Response:
    target = moved_category(slug)
    if target:
        return redirect_to(urls.category_path(target), 301)
    listing = Listing("category", slug, _page_number())

    def render() -> str:
        found = core().category(slug)
        posts, pages = core().listings.page(listing)
        heading = news_label(found.name)
        return render_template(
            "listing.html", heading=heading, posts=posts, page=listing.page, pages=pages,
            base=urls.category_path(slug), category=found,
            feeds=feed_links(heading, "category", slug) + site_feed_links())
    return serve_listing(listing, render)


@bp.get("/tag/<tag>.html")
def tag(tag: str) -> Response:
    listing = Listing("tag", tag, _page_number())

    def render() -> str:
        posts, pages = core().listings.page(listing)
        return render_template(
            "listing.html", heading=tag, posts=posts, page=listing.page, pages=pages,
            base=urls.tag_path(tag), feeds=feed_links(tag, "tag", tag) + site_feed_links(),
            category=None)
    return serve_listing(listing, render)


@bp.get("/<slug>/<year>/<month>/<day>/<post_id>.html")
# Jekyll split a legacy category with spaces into several path segments
# (`21shijijingjibaodao 21caijingAPP` -> /21shijijingjibaodao/21caijingapp/...): redirect those too.
@bp.get("/<path:slug>/<year>/<month>/<day>/<post_id>.html")
def post(slug: str, year: str, month: str, day: str, post_id: str) -> str | Response:
    found = core().store.get_post(post_id)
    if found is None:
        core().check_gone(post_id=post_id)
        raise PostNotFound(f"没有这篇文章：{post_id}")
    canonical = core().post_path(found)  # PostNotFound for a date no page can show
    if request.path != canonical:
        return redirect_to(canonical, 301)
    return render_post(found)


def render_post(found: Post) -> str:
    short_url = core().share_url(found)
    meta = preview.build_preview(
        found, canonical=core().post_url(found), short_url=short_url,
        site_name=core().settings.site_title, base_url=core().settings.base_url, tz=core().tz,
    )
    return render_template(
        # body and source_url: rows stored under older rules are made safe again here.
        "post.html", post=found, body=clean_stored(found.html), source_url=web_url(found.url),
        preview=meta, share_url=short_url, canonical=meta.canonical,
        qr_path=urls.share_qr_path(found.share_code), feeds=post_feed_links(found),
        weibo_url=preview.weibo_share_url(short_url, found.title),
        x_url=preview.x_share_url(short_url, found.title),
    )


def post_feed_links(found: Post) -> list[dict[str, str]]:
    """Autodiscovery for every feed the post is in: its categories, its tags, the site."""
    links: list[dict[str, str]] = []
    for slug in found.categories or (found.category.slug,):
        other = found.category if slug == found.category.slug else core().store.category(slug)
        if other is not None:
            links += feed_links(news_label(other.name), "category", slug)
    for tag in found.tags:
        links += feed_links(tag, "tag", tag)
    return links + site_feed_links()


@bp.get("/<slug>/")
def old_category_index(slug: str) -> Response:
    """The old site's per-category index (``/emnews/``) now lives at the category page."""
    return redirect_to(urls.category_path(moved_category(slug) or slug), 301)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    core().store.ping()
    return {"status": "ok"}, 200
