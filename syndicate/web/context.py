"""Access to the core from views."""

from __future__ import annotations

from flask import current_app
from werkzeug.utils import redirect as _redirect
from werkzeug.wrappers import Response

from ..core import Syndicate
from ..errors import CategoryNotFound

#: The longest legacy category slug looked up for a redirect (the old site's were under 60).
MAX_LEGACY_SLUG = 120


def core() -> Syndicate:
    return current_app.extensions["syndicate"]  # type: ignore[no-any-return]


def wsgi_path_text(segment: str) -> str:
    """WSGI hands the path over as latin-1 text; the URL's bytes are UTF-8. Raises
    UnicodeError for bytes that are not UTF-8 (the Flask views then answer)."""
    return segment.encode("latin-1").decode("utf-8")


def redirect_to(path: str, code: int) -> Response:
    """Redirect to a path on this site, made absolute with BASE_URL (never the Host header)."""
    return _redirect(core().url(path), code=code)


def moved_category(slug: str) -> str | None:
    """Return None for a known category, the slug a legacy one now lives at, else 404."""
    if core().store.category(slug) is not None:
        return None
    # Legacy slugs are short: a longer path segment is no category, and is not worth a
    # slug memo entry (the memo's keys must not be whatever a client makes up).
    target = core().canonical_slug(slug) if len(slug) <= MAX_LEGACY_SLUG else None
    if target is None:
        raise CategoryNotFound(f"没有这个分类：{slug}")
    return target
