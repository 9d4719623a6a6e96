"""Share links: short codes (302) and the old site's NewsShare links (301)."""

from __future__ import annotations

from flask import Blueprint, request
from werkzeug.wrappers import Response

from ..errors import PostNotFound
from ..model import INFOCODE_RE
from .context import core, redirect_to

bp = Blueprint("share", __name__)


@bp.get("/s/<code:code>")
def short(code: str) -> Response:
    """A short link may one day point elsewhere (a correction), so it is a temporary redirect."""
    return redirect_to(core().post_path(core().post_by_code(code)), 302)


@bp.get("/html_News/NewsShare.html")
def legacy(code: str | None = None) -> Response:
    info_code = request.args.get("infoCode", "").strip()
    if not INFOCODE_RE.match(info_code):
        raise PostNotFound(f"无效的文章编号：{info_code or '（空）'}")
    return redirect_to(core().post_path(core().post(info_code)), 301)
