"""Refuse request values no stored row can hold, before any view asks the database.

PostgreSQL refuses NUL in text, so ``/tag/a%00b.html`` made the lookup itself fail (503).
No id, slug, tag or code contains NUL (ingest removes it), so such a path names nothing
(404), and such a query value is a bad parameter (400, named).
"""

from __future__ import annotations

from flask import Flask, abort, request

from ..errors import InvalidInput


def refuse_nul() -> None:
    """Answer 404 for a path argument, 400 for a query parameter, holding a NUL character."""
    if any(isinstance(value, str) and "\x00" in value
           for value in (request.view_args or {}).values()):
        abort(404)
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            shown = (name if name.isprintable() else repr(name)[1:-1]) or "(no name)"
            raise InvalidInput(f"{shown}: a query parameter may not hold a NUL character (%00)")


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul)
