"""The real server, two worker processes, outside feed readers: what aggregators see.

`syndicate serve` runs as a subprocess (granian, 2 workers) on a free loopback port over
the test database; the test process writes posts as an importer or the poller would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import feedparser
import pytest
import requests

from syndicate.core import Syndicate
from syndicate.settings import load_settings

from .feedtools import post

REDIS_URL = os.environ.get("SYNDICATE_TEST_REDIS_URL")
FEED = "/category/zhongguodianzibao.atom"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(tmp_path: Path, database_url: str, **env: str) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {**os.environ, "SYNDICATE_DATABASE_URL": database_url, "SYNDICATE_BASE_URL": base,
               "SYNDICATE_INSTANCE": str(tmp_path), **env}
    command = [sys.executable, "-c", "from syndicate.cli import main; main()", "serve",
               "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("syndicate serve did not start")
            time.sleep(0.1)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def writer(tmp_path: Path, database_url: str, base: str = "http://127.0.0.1") -> Syndicate:
    settings = load_settings({"DATABASE_URL": database_url, "BASE_URL": base},
                             instance_path=tmp_path, environ={})
    core = Syndicate(settings)
    core.init()
    return core


def fresh_get(url: str, **headers: str) -> requests.Response:
    """A request on a new connection, so that the workers take turns."""
    return requests.get(url, headers={"Connection": "close", **headers}, timeout=5)


def test_two_workers_never_serve_an_old_version(tmp_path: Path, database_url: str) -> None:
    core = writer(tmp_path, database_url)
    core.save([post(n) for n in range(1, 4)])
    with server(tmp_path, database_url) as base:
        etags = {fresh_get(base + FEED).headers["ETag"] for _ in range(20)}  # both workers warm
        assert len(etags) == 1
        core.save([post(4, title="刚刚入库")])
        # Every worker serves the new version within a second of the commit (on PostgreSQL
        # its notification takes milliseconds to arrive; SQLite sees it at once).
        deadline = time.monotonic() + 1.0
        while True:
            responses = [fresh_get(base + FEED) for _ in range(20)]
            if all(r.headers["ETag"] not in etags and "刚刚入库" in r.text for r in responses):
                break
            assert time.monotonic() < deadline, "a worker still served the old version"
        # and a 304 from any worker for the new version
        etag = fresh_get(base + FEED).headers["ETag"]
        assert all(fresh_get(base + FEED, **{"If-None-Match": etag}).status_code == 304
                   for _ in range(10))
        head = requests.head(base + FEED, timeout=5)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["ETag"] == etag
    core.store.dispose()


def test_outside_feed_readers_poll_conditionally(tmp_path: Path, database_url: str) -> None:
    from reader import make_reader

    core = writer(tmp_path, database_url)
    core.save([post(n) for n in range(1, 4)])
    with server(tmp_path, database_url) as base:
        # feedparser: conditional GET with the ETag, and with the date
        first = feedparser.parse(base + FEED)
        assert first.status == 200 and first.bozo == 0 and len(first.entries) == 3
        assert feedparser.parse(base + FEED, etag=first.etag).status == 304
        assert feedparser.parse(base + FEED, modified=first.modified).status == 304
        # reader: subscribe, update twice (the second is a 304), then one new post
        rd = make_reader(str(tmp_path / "reader.sqlite"))
        rd.add_feed(base + FEED)
        updates = [result.value for result in rd.update_feeds_iter(scheduled=False)]
        assert updates[0].new == 3
        assert [result.value for result in rd.update_feeds_iter(scheduled=False)] == [None]  # not modified
        assert len(list(rd.get_entries())) == 3
        core.save([post(9, title="新的一条")])
        updates = [result.value for result in rd.update_feeds_iter(scheduled=False)]
        assert updates[0].new == 1 and updates[0].modified == 0
        assert "新的一条" in {entry.title for entry in rd.get_entries()}
        rd.close()
    core.store.dispose()


@pytest.mark.skipif(not REDIS_URL, reason="SYNDICATE_TEST_REDIS_URL is not set (Redis tests run in CI)")
def test_workers_share_rendered_feeds_through_redis(tmp_path: Path) -> None:
    import redis

    client: Any = redis.Redis.from_url(REDIS_URL or "")
    client.flushdb()
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    core = writer(tmp_path, database_url)
    core.save([post(n) for n in range(1, 4)])
    with server(tmp_path, database_url, SYNDICATE_REDIS_URL=REDIS_URL or "") as base:
        bodies = {fresh_get(base + FEED).content for _ in range(10)}
        assert len(bodies) == 1
        keys = client.keys("syndicate:doc:*")
        assert len(keys) == 1  # rendered once, shared by both workers
        core.save([post(4, title="共享缓存")])
        assert "共享缓存" in fresh_get(base + FEED).text
        assert len(client.keys("syndicate:doc:*")) == 2
    client.flushdb()
    core.store.dispose()


def test_a_dead_redis_does_not_break_serving(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'noredis.db'}"
    core = writer(tmp_path, database_url)
    core.save([post(1)])
    with server(tmp_path, database_url, SYNDICATE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as base:
        assert fresh_get(base + FEED).status_code == 200
    core.store.dispose()
