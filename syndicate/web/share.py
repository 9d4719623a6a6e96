"""Share links: short codes (302), the old site's NewsShare links (301), QR codes (SVG).

``ShareFastPath`` is WSGI middleware in front of Flask that answers every share link that
resolves to a live post: people and preview crawlers follow these all day, and skipping
Flask's request machinery triples what a worker serves. Anything else (an unknown,
malformed or deleted code, another method) goes on to the Flask views below, which raise
the same errors into the site's 404 and 410 pages.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import segno
from flask import Blueprint, request
from werkzeug.wrappers import Response

from .. import urls
from ..core import Syndicate
from ..errors import SyndicateError
from ..memo import memoize
from .context import core, wsgi_path_text

bp = Blueprint("share", __name__)

SHORT_PREFIX = "/s/"
LEGACY_PATH = "/html_News/NewsShare.html"
QR_SUFFIX = ".svg"
QR_CACHE = "public, max-age=2592000"
STATUS_LINES = {301: "301 Moved Permanently", 302: "302 Found"}
Headers = list[tuple[str, str]]


def share_answer(syndicate: Syndicate, path: str, query_string: str,
                 environ: dict[str, Any]) -> tuple[int, Headers]:
    """Status and headers of the redirect a share link answers; raises NotFound or Gone."""
    links = syndicate.shares
    if path == LEGACY_PATH:
        target = links.by_legacy(_first_arg(query_string, "infoCode"))
        return links.redirect(target, legacy=True, environ=environ)
    return links.redirect(links.by_code(path[len(SHORT_PREFIX):]), legacy=False, environ=environ)


def _first_arg(query_string: str, name: str) -> str:
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, max_num_fields=50)
    except ValueError:
        return ""
    return next((value for key, value in pairs if key == name), "")


class ShareFastPath:
    """Answer share links of live posts before Flask; hand anything else to ``app``."""

    def __init__(self, syndicate: Syndicate, app: Callable[..., Iterable[bytes]]) -> None:
        self.core = syndicate
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if ((path.startswith(SHORT_PREFIX) and not path.endswith(QR_SUFFIX)) or path == LEGACY_PATH) \
                and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            try:
                status, headers = share_answer(self.core, wsgi_path_text(path),
                                               environ.get("QUERY_STRING", ""), environ)
            except (SyndicateError, UnicodeError):
                pass  # Flask renders the 404 or 410 page (or the 503 page)
            else:
                start_response(STATUS_LINES[status], headers)
                return [b""]
        return self.app(environ, start_response)


def _redirect(path: str) -> Response:
    status, headers = share_answer(core(), path, request.query_string.decode("latin-1"),
                                   request.environ)
    return Response(status=status, headers=headers)


@bp.route("/s/<path:raw>", methods=["GET", "HEAD"])
def short(raw: str) -> Response:
    """A short link may one day point elsewhere (a correction), so it is a temporary redirect."""
    if raw.endswith(QR_SUFFIX):
        return qr_code(raw[: -len(QR_SUFFIX)])
    return _redirect(SHORT_PREFIX + raw)


@bp.route(LEGACY_PATH, methods=["GET", "HEAD"])
def legacy() -> Response:
    """The old site's share links name an article for good: a permanent redirect."""
    return _redirect(LEGACY_PATH)


def qr_code(raw: str) -> Response:
    """The QR code of a post's short link, as SVG: the same bytes for as long as the code
    lives, so it is cached for a month and revalidated by ETag."""
    target = core().shares.by_code(raw)
    svg = qr_svg(core().url(urls.share_path(target.code)))
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = QR_CACHE
    response.set_etag(hashlib.sha1(svg).hexdigest()[:20])
    return response.make_conditional(request)


@memoize(max_entries=4096, max_bytes=16 * 2**20)
def qr_svg(url: str) -> bytes:
    """A QR code of ``url`` (error correction M, 4-module quiet zone), black on white so it
    scans on a dark page too."""
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=6, border=4, dark="#000", light="#fff",
              title=f"二维码：{url}", xmldecl=True)
    return out.getvalue()
