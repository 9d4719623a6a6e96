"""Upstream sites on loopback for the polling tests: a real HTTP server and documents to serve."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from syndicate.core import Syndicate
from syndicate.ingest.poll import FetchPolicy, HttpClient, Poller
from syndicate.ingest.transport import NetworkPolicy
from syndicate.networks import parse_networks
from syndicate.settings import load_settings
from syndicate.sources import Source, parse_sources


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    """A threaded HTTP server on 127.0.0.1 (threaded: a slow answer does not block the rest)."""
    httpserver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    httpserver.start()
    yield httpserver
    httpserver.clear()
    if httpserver.is_running():
        httpserver.stop()


@pytest.fixture
def upstream(server: HTTPServer) -> Iterator[HTTPServer]:
    server.clear()
    yield server
    server.clear()


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Syndicate]:
    """A core over a fresh database (SQLite, and PostgreSQL when configured)."""
    settings = load_settings({"DATABASE_URL": database_url, "BASE_URL": "https://news.example.com"},
                             environ={}, instance_path=tmp_path)
    core = Syndicate(settings)
    core.init()
    yield core
    core.store.dispose()


def sources(*tables: dict[str, Any]) -> list[Source]:
    return parse_sources({"source": list(tables)}, "test sources")


#: What the tests call the internal network: the stubs on 127.0.0.1 stand for public sites.
TEST_INTERNAL = NetworkPolicy(parse_networks("127.0.0.2/32"))


def client(**limits: Any) -> HttpClient:
    values = {"connect_timeout": 2.0, "read_timeout": 2.0, "deadline": 5.0, "max_bytes": 200_000,
              "network": TEST_INTERNAL}
    values.update(limits)
    return HttpClient(FetchPolicy("syndicate-test/1 (+https://news.example.com)", **values))


def poller(core: Syndicate, configured: list[Source], **limits: Any) -> Poller:
    return Poller(core, configured, client=client(**limits), concurrency=4)


@dataclass
class Entry:
    guid: str
    title: str
    body: str
    date: str = "2026-03-09T10:00:00+08:00"


def rss(title: str, entries: list[Entry], encoding: str = "utf-8") -> bytes:
    items = "".join(
        f"<item><title>{e.title}</title><link>{e.guid}</link><guid>{e.guid}</guid>"
        f"<pubDate>Mon, 09 Mar 2026 10:00:00 +0800</pubDate>"
        f"<description><![CDATA[{e.body}]]></description></item>" for e in entries)
    text = (f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>https://up.example.com/</link>"
            f"<description>news</description>{items}</channel></rss>")
    return text.encode("gb18030" if encoding.lower() in ("gbk", "gb2312", "gb18030") else encoding)


def atom(title: str, entries: list[Entry]) -> bytes:
    items = "".join(
        f'<entry><id>{e.guid}</id><title>{e.title}</title><updated>{e.date}</updated>'
        f'<published>{e.date}</published><link href="{e.guid}"/>'
        f'<content type="html"><![CDATA[{e.body}]]></content></entry>' for e in entries)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>tag:up.example.com,2026:feed</id><title>{title}</title>"
            f"<updated>2026-03-09T10:00:00+08:00</updated>{items}</feed>").encode()


def json_feed(title: str, entries: list[Entry]) -> bytes:
    return json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": title,
        "items": [{"id": e.guid, "url": e.guid, "title": e.title, "content_html": e.body,
                   "date_published": e.date} for e in entries],
    }, ensure_ascii=False).encode()
