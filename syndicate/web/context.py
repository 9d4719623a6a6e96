"""Access to the core from views."""

from __future__ import annotations

from flask import current_app
from werkzeug.utils import redirect as _redirect
from werkzeug.wrappers import Response

from ..core import Syndicate


def core() -> Syndicate:
    return current_app.extensions["syndicate"]  # type: ignore[no-any-return]


def redirect_to(path: str, code: int) -> Response:
    """Redirect to a path on this site, made absolute with BASE_URL (never the Host header)."""
    return _redirect(core().url(path), code=code)
