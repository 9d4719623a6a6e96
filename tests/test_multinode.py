"""Several machines: two `syndicate serve` nodes and two `syndicate worker`s on one PostgreSQL
and one Redis, behind nginx as the load balancer, as docs/deploy.md describes.

Runs where PostgreSQL, Redis and nginx are there (CI has all three)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser
import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from syndicate.core import Syndicate
from syndicate.settings import load_settings

from .conftest import PG_URL, reset_database
from .procs import free_port, nginx_balancer, stop, syndicate, wait_for
from .upstream import Entry, rss

REDIS_URL = os.environ.get("SYNDICATE_TEST_REDIS_URL")
TOKEN = "multinode-test-token"
FEED = "/category/cailianshe.atom"

pytestmark = pytest.mark.skipif(
    not (PG_URL and REDIS_URL and shutil.which("nginx")),
    reason="needs SYNDICATE_TEST_DATABASE_URL, SYNDICATE_TEST_REDIS_URL and nginx")


@dataclass
class Cluster:
    public: str  # nginx
    nodes: list[str]  # each serve node directly
    processes: list[Any]
    upstream_hits: list[float]


@pytest.fixture
def cluster(tmp_path: Path, httpserver: HTTPServer) -> Iterator[Cluster]:
    assert PG_URL and REDIS_URL
    reset_database(PG_URL)
    hits: list[float] = []

    def upstream(request: Request) -> Response:
        hits.append(time.monotonic())
        entries = [Entry("https://up.example.com/a/1", "上游快讯", "<p>上游正文。</p>")]
        return Response(rss("财联社", entries), content_type="application/rss+xml")

    httpserver.expect_request("/cls.xml").respond_with_handler(upstream)
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[source]]\nname = "cls"\nkind = "feed"\n'
                       f'url = "{httpserver.url_for("/cls.xml")}"\nmedia = "财联社"\n'
                       f'every = "10s"\n', "utf-8")
    ports = [free_port(), free_port()]
    public_port = free_port()
    public = f"http://127.0.0.1:{public_port}"
    env = {"SYNDICATE_DATABASE_URL": PG_URL, "SYNDICATE_REDIS_URL": REDIS_URL,
           "SYNDICATE_BASE_URL": public, "SYNDICATE_API_TOKENS": TOKEN,
           "SYNDICATE_SOURCES": str(sources), "SYNDICATE_INSTANCE": str(tmp_path)}
    settings = load_settings({"DATABASE_URL": PG_URL, "BASE_URL": public},
                             instance_path=tmp_path, environ={})
    Syndicate(settings).init()
    with (syndicate("serve", "--port", str(ports[0]), "--workers", "2", env=env,
                    log=tmp_path / "node-a.log") as node_a,
          syndicate("serve", "--port", str(ports[1]), "--workers", "2", env=env,
                    log=tmp_path / "node-b.log") as node_b):
        nodes = [f"http://127.0.0.1:{port}" for port in ports]
        wait_for(nodes[0] + "/healthz", node_a, "node A")
        wait_for(nodes[1] + "/healthz", node_b, "node B")
        with (syndicate("worker", "--quiet", env=env, log=tmp_path / "worker-1.log") as w1,
              syndicate("worker", "--quiet", env=env, log=tmp_path / "worker-2.log") as w2,
              nginx_balancer(tmp_path, public_port, ports) as balancer):
            assert balancer == public
            yield Cluster(public, nodes, [node_a, node_b, w1, w2], hits)


def publish(node: str, n: int, title: str) -> dict[str, Any]:
    response = requests.post(node + "/api/posts", headers={"Authorization": f"Bearer {TOKEN}"},
                             json={"id": f"NW2026120100000{n:05d}", "title": title,
                                   "date": "2026-12-01T09:00:00+08:00", "media": "财联社",
                                   "html": f"<p>{title}。</p>"}, timeout=10)
    assert response.status_code == 201, response.text
    return dict(response.json())


def titles_at(url: str) -> set[str]:
    response = requests.get(url + FEED, headers={"Connection": "close"}, timeout=10)
    assert response.status_code == 200
    return {entry.title for entry in feedparser.parse(response.content).entries}


def eventually(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_two_nodes_two_workers_one_database_behind_nginx(cluster: Cluster) -> None:
    # A post published through either node is in every node's feed at once (within the
    # second the documented staleness allows).
    for n, (via, title) in enumerate([(0, "甲节点发布"), (1, "乙节点发布")], 1):
        publish(cluster.nodes[via], n, title)
        for url in [*cluster.nodes, cluster.public]:
            eventually(lambda url=url, title=title: title in titles_at(url), 1.5,
                       f"{title} is not in the feed at {url}")

    # Share clicks counted on both nodes add up (distinct readers, one click each).
    post = requests.get(cluster.public + "/api/posts/NW202612010000000001", timeout=10).json()
    short = post["short_url"].removeprefix(cluster.public)
    for i in range(6):
        node = cluster.nodes[i % 2]
        response = requests.get(node + short, allow_redirects=False, timeout=10, headers={
            "User-Agent": f"Mozilla/5.0 (reader {i})", "X-Forwarded-For": f"203.0.113.{i + 1}"})
        assert response.status_code == 302
    stats_url = cluster.public + "/api/posts/NW202612010000000001/share"
    eventually(lambda: requests.get(stats_url, timeout=10).json()["clicks"] == 6, 20,
               "the clicks of both nodes did not add up to 6")

    # The two workers poll the one source once per interval between them.
    eventually(lambda: len(cluster.upstream_hits) >= 2, 30, "the source was not polled twice")
    span = cluster.upstream_hits[-1] - cluster.upstream_hits[0]
    assert len(cluster.upstream_hits) <= span // 10 + 1, cluster.upstream_hits
    assert "上游快讯" in titles_at(cluster.public)

    # Stopping one node under load loses no request that nginx can retry.
    failures: list[str] = []
    answered: list[int] = []
    done = threading.Event()

    def load() -> None:
        with requests.Session() as session:
            while not done.is_set():
                try:
                    status = session.get(cluster.public + FEED, timeout=10).status_code
                    answered.append(status)
                    if status != 200:
                        failures.append(str(status))
                except requests.RequestException as error:
                    failures.append(repr(error))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    eventually(lambda: len(answered) >= 100, 30, "the load did not get going")
    stop(cluster.processes[0])
    assert cluster.processes[0].returncode is not None
    after = len(answered)
    eventually(lambda: len(answered) >= after + 100, 30, "the load stalled after node A stopped")
    done.set()
    for thread in threads:
        thread.join(15)
    assert failures == []
    assert "乙节点发布" in titles_at(cluster.public)
