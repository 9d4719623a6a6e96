"""The web layer: the only package that imports Flask."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import click
from flask import Flask
from flask.cli import run_command
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from ..core import Syndicate
from ..settings import Settings, base_url_hint, load_settings, served_origin
from . import api, discovery, errors, feeds, guard, headers, limits, observe, pages, share

_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class UTF8JSONProvider(DefaultJSONProvider):
    """JSON answers in UTF-8 as it is: Chinese text stays readable (and a third of the
    bytes) instead of ``\\u4e2d``-style escapes; the media type says so."""

    ensure_ascii = False
    mimetype = "application/json; charset=utf-8"

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        text = super().dumps(obj, **kwargs)
        # A lone surrogate (a client's "\ud800" echoed in an error) has no UTF-8 form:
        # such an answer is written with JSON's \u escapes instead of failing with a 500.
        if _SURROGATE_RE.search(text):
            return super().dumps(obj, **{**kwargs, "ensure_ascii": True})
        return text


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app over a Syndicate core configured from settings."""
    app = Flask("syndicate", instance_relative_config=False)
    app.json = UTF8JSONProvider(app)
    overrides = dict(test_config or {})
    instance = overrides.pop("INSTANCE_PATH", None)
    store = overrides.pop("STORE", None)
    # STATIC_EXPORT: pages link to what `syndicate export` writes (see web/export.py).
    static_export = bool(overrides.pop("STATIC_EXPORT", False))
    settings = _under_flask_run(load_settings(overrides, instance_path=instance))
    app.config.update(TESTING=bool(overrides.get("TESTING")), SETTINGS=settings,
                      STATIC_EXPORT=static_export)
    app.extensions["syndicate"] = core = Syndicate(settings, store=store)
    # werkzeug's own redirects (merging "//", adding a trailing "/") are built on the
    # request's Host header; every redirect here must be built on BASE_URL instead.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    # Fast paths answer share links and well-formed feed requests before Flask (see
    # web/share.py, web/feeds.py). ProxyFix sits between them: counting a share link once
    # per reader needs the client's address; feeds do not, and skip its cost.
    app.wsgi_app = share.ShareFastPath(core, app.wsgi_app)  # type: ignore[method-assign]
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    app.wsgi_app = feeds.FeedFastPath(core, app.wsgi_app)  # type: ignore[method-assign]
    # Oversized request lines and headers never reach a parser or a memo.
    app.wsgi_app = limits.RequestLimits(app.wsgi_app)  # type: ignore[method-assign]
    # Outermost, so that every answer (the fast paths' and 414/431 too) carries them.
    policy = headers.content_security_policy()
    app.wsgi_app = headers.SecurityHeaders(app.wsgi_app, policy)  # type: ignore[method-assign]
    pages.init_app(app)
    guard.init_app(app)
    for blueprint in (pages.bp, feeds.bp, share.bp, api.bp, discovery.bp):
        app.register_blueprint(blueprint)
    errors.init_app(app)
    if settings.metrics:
        observe.init_app(app)  # outermost: counts what the fast paths answer too
    if settings.websub_hubs and not (app.config["TESTING"] or static_export):
        core.websub.start()  # also delivers pings other processes left queued
    return app


def _under_flask_run(settings: Settings) -> Settings:
    """Under ``flask run`` with BASE_URL unset: use the address it serves, and say so (as
    ``syndicate serve`` does), instead of links to http://127.0.0.1:8000."""
    context = click.get_current_context(silent=True)
    if context is None or context.command is not run_command:
        return settings
    origin = served_origin(settings, context.params.get("host") or "127.0.0.1",
                           context.params.get("port") or 5000)
    if origin is None:
        return settings
    click.echo(base_url_hint(origin), err=True)
    return replace(settings, base_url=origin)
