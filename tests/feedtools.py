"""Helpers for the feed tests: an app over any test database, posts, and a hub stand-in."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from .conftest import CST, make_input

BASE = "https://news.example.com"


def make_app(tmp_path: Path, database_url: str, **config: Any) -> Any:
    from syndicate import create_app

    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path, "DATABASE_URL": database_url,
                      "BASE_URL": BASE, **config})
    app.extensions["syndicate"].init()
    return app


def post(n: int, slug: str = "zhongguodianzibao", name: str = "中国电子报", tags: tuple[str, ...] = (),
         day: int = 1, **changes: Any) -> Any:
    """The n-th test post (ids and publish times increase with n)."""
    values: dict[str, Any] = {
        "title": f"第{n}条新闻", "category_slug": slug, "category_name": name, "source": name,
        "published": datetime(2026, 1, day, 8, 0, tzinfo=CST) + timedelta(minutes=n),
        "tags": tags or (f"{name}新闻",), **changes}
    return make_input(f"NW2026010100000{n:05d}", **values)


class Hub:
    """A WebSub hub stand-in on loopback: records publish pings; can refuse the first few."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.pings: list[dict[str, str]] = []
        self.fail_first = fail_first
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hub"

    @Request.application  # type: ignore[arg-type]
    def _app(self, request: Request) -> Response:
        time.sleep(self.delay)
        with self._lock:
            self.calls += 1
            if self.calls <= self.fail_first:
                return Response("busy", status=503)
            self.pings.append(dict(request.form))
        return Response("", status=204)

    def topics(self) -> set[str]:
        return {ping["hub.url"] for ping in self.pings}

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.pings) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    @contextmanager
    def running(self) -> Iterator[Hub]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            thread.join()
