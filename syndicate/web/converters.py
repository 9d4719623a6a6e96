"""URL converters: a malformed share code never reaches a view."""

from __future__ import annotations

from werkzeug.routing import BaseConverter

from ..share import url_regex


class ShareCodeConverter(BaseConverter):
    regex = url_regex()
