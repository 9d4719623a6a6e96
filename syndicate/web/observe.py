"""Watching requests: the access log and the request metrics, as WSGI middleware.

Both sit outside the app's own fast paths, so they see every request, and both record a
request when its body has been sent (or the client went away), so the time and the byte
count are those of the whole answer.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Flask, Response
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from .. import metrics
from .context import core

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: Called once per request: (environ, status code, body bytes sent, seconds taken).
Done = Callable[[dict[str, Any], int, int, float], None]

access_log = logging.getLogger("syndicate.access")


class _Observed:
    """Wrap a WSGI app so that ``done`` is called when each answer has been sent."""

    def __init__(self, app: WSGIApp, done: Done) -> None:
        self.app = app
        self.done = done

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        status = [500]

        def observe_start(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            status[0] = int(status_line[:3])
            return start_response(status_line, headers, exc_info)

        body = self.app(environ, observe_start)
        if isinstance(body, (list, tuple)):
            # The whole answer is ready (as for every cached feed): record it now and hand the
            # server the list itself, which it writes without iterating in Python.
            self.done(environ, status[0], sum(map(len, body)), time.perf_counter() - started)
            return body
        return _Body(body, lambda sent: self.done(environ, status[0], sent,
                                                  time.perf_counter() - started))


class _Body:
    """The response body, counted as it is sent; reports once when the server closes it."""

    def __init__(self, body: Iterable[bytes], report: Callable[[int], None]) -> None:
        self.body = body
        self.report = report
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.report(self.sent)


# -- the access log -----------------------------------------------------------------------


class AccessLog(_Observed):
    """Log one line per request in the Combined Log Format (as nginx and Apache write)."""

    def __init__(self, app: WSGIApp, stream: Any = None) -> None:
        super().__init__(app, self.write)
        if not access_log.handlers:
            handler = logging.StreamHandler(stream or sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            access_log.addHandler(handler)
            access_log.setLevel(logging.INFO)
            access_log.propagate = False

    @staticmethod
    def write(environ: dict[str, Any], status: int, sent: int, _seconds: float) -> None:
        access_log.info(combined_line(environ, status, sent, datetime.now().astimezone()))


def combined_line(environ: dict[str, Any], status: int, sent: int, when: datetime) -> str:
    """Return the Combined Log Format line of one request."""
    request = f"{environ.get('REQUEST_METHOD', '-')} {_target(environ)} " \
              f"{environ.get('SERVER_PROTOCOL', 'HTTP/1.1')}"
    return (f"{environ.get('REMOTE_ADDR') or '-'} - - [{when:%d/%b/%Y:%H:%M:%S %z}] "
            f'"{_escape(request)}" {status} {sent or "-"} '
            f'"{_escape(environ.get("HTTP_REFERER", "-"))}" '
            f'"{_escape(environ.get("HTTP_USER_AGENT", "-"))}"')


def _target(environ: dict[str, Any]) -> str:
    """The request target as the client sent it (percent-encoded path and query)."""
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
                 safe="/;:@&=+$,!~*'()%", encoding="latin-1")
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


def _escape(value: str) -> str:
    """Escape quotes, backslashes and control characters, so a client cannot forge lines."""
    return json.dumps(value)[1:-1]


# -- request metrics ----------------------------------------------------------------------

#: Route class of each endpoint; a test checks that every endpoint of the app is here.
ROUTE_CLASS = {
    "pages.home": "page", "pages.category_index": "page", "pages.category": "page",
    "pages.tag": "page",
    "pages.old_category_index": "page", "pages.post": "post", "pages.healthz": "other",
    "feeds.category_feed": "feed", "feeds.tag_feed": "feed", "feeds.site_feed": "feed",
    "feeds.category_archive": "feed", "feeds.tag_archive": "feed", "feeds.site_archive": "feed",
    "share.short": "share", "share.legacy": "legacy",
    "api.publish": "api", "api.get_post": "api", "api.share_stats": "api",
    "api.openapi_json": "api", "api.sources_json": "api", "api.status_page": "page",
    "discovery.opml": "feed", "discovery.sitemap": "sitemap", "discovery.sitemap_pages": "sitemap",
    "discovery.sitemap_posts": "sitemap", "discovery.news_sitemap": "sitemap",
    "discovery.robots": "sitemap", "static": "other", "metrics": "other",
}

#: Endpoints whose rule matches almost any path (the old site's `/<slug>/` category index).
CATCH_ALL = frozenset({"pages.old_category_index"})


class RequestMetrics(_Observed):
    """Count requests and their latency per route class (derived from the URL map)."""

    def __init__(self, app: WSGIApp, flask_app: Flask) -> None:
        super().__init__(app, self.record)
        self.urls = flask_app.url_map.bind("localhost")

    def route_class(self, environ: dict[str, Any], status: int) -> str:
        """The class of the route this request matched ("other" if none)."""
        try:
            path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
            endpoint, _ = self.urls.match(path, method=environ.get("REQUEST_METHOD", "GET"))
        except (UnicodeError, HTTPException, RequestRedirect):
            return "other"
        if endpoint in CATCH_ALL and status == 404:
            return "other"  # any one-segment path matches it: a miss is no page of ours
        route = ROUTE_CLASS.get(str(endpoint), "other")
        return "feed_304" if route == "feed" and status == 304 else route

    def record(self, environ: dict[str, Any], status: int, _sent: int, seconds: float) -> None:
        metrics.observe_request(self.route_class(environ, status), status, seconds)


def init_app(app: Flask) -> None:
    """Serve ``/metrics`` and count requests (only when the METRICS setting is on)."""
    metrics.prepare()
    app.add_url_rule("/metrics", "metrics", metrics_view)
    app.wsgi_app = RequestMetrics(app.wsgi_app, app)  # type: ignore[method-assign]


def metrics_view() -> Response:
    """Every worker's metrics, with the WebSub queue read from the database now."""
    body, media_type = metrics.exposition(_websub_queue)
    response = Response(body, content_type=media_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def _websub_queue() -> Iterator[Any]:
    yield metrics.gauge("syndicate_websub_queue_depth",
                        "WebSub pings waiting for delivery (all processes).",
                        core().store.pending_pings())
