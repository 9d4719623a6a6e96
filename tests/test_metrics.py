"""/metrics: Prometheus text, off by default, counted over every worker of a real server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from syndicate import create_app
from syndicate.web.observe import ROUTE_CLASS, combined_line

from . import upstream as fixtures
from .feedtools import post
from .test_cli_sources import write_sources
from .test_serve import CLF, serving, share_paths, sqlite_url
from .test_workers import free_port, fresh_get, writer
from .upstream import Entry, rss

server, upstream = fixtures.server, fixtures.upstream
FEED = "/category/zhongguodianzibao.atom"
OK = ("syndicate_polls_total", (("outcome", "ok"), ("source", "news")))
FAILED = ("syndicate_polls_total", (("outcome", "failed"), ("source", "broken")))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def requests_of(found: dict[Any, float], route: str) -> float:
    return sum(value for (name, labels), value in found.items()
               if name == "syndicate_http_requests_total" and ("route", route) in labels)


def test_metrics_are_off_the_site_by_default(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path,
                      "DATABASE_URL": sqlite_url(tmp_path)})
    app.extensions["syndicate"].init()
    assert app.test_client().get("/metrics").status_code == 404


def test_every_route_has_a_route_class(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path, "METRICS": "on",
                      "DATABASE_URL": sqlite_url(tmp_path)})
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints <= set(ROUTE_CLASS), endpoints - set(ROUTE_CLASS)


def test_requests_are_counted_by_route_class_never_by_path(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path, "METRICS": "on",
                      "DATABASE_URL": sqlite_url(tmp_path), "BASE_URL": "http://127.0.0.1"})
    core = app.extensions["syndicate"]
    core.init()
    links = share_paths(core, 2)
    client = app.test_client()
    client.open = partial(client.open, buffered=True)  # type: ignore[method-assign]
    before = samples(client.get("/metrics").text)
    etag = client.get(FEED).headers["ETag"]
    assert client.get(FEED, headers={"If-None-Match": etag}).status_code == 304
    client.get("/")
    client.get("/category/zhongguodianzibao.html?page=1")
    client.get(links[0][1], headers={"User-Agent": "Mozilla/5.0"})
    client.get("/html_News/NewsShare.html?infoCode=" + links[1][0])
    client.get("/sitemap.xml")
    client.get("/api/posts/" + links[0][0])
    client.get("/wp-login.php")
    client.get(f"/zhongguodianzibao/2026/01/01/{links[0][0]}.html")
    response = client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Cache-Control"] == "no-store"
    after = samples(response.text)
    grew = {route: requests_of(after, route) - requests_of(before, route)
            for route in ("feed", "feed_304", "page", "post", "share", "legacy", "sitemap", "api")}
    assert grew == {"feed": 1, "feed_304": 1, "page": 2, "post": 1, "share": 1, "legacy": 1,
                    "sitemap": 1, "api": 1}
    assert "wp-login" not in response.text  # an unknown path is "other", never a label
    assert ("syndicate_websub_queue_depth", ()) in after
    core.store.dispose()


@settings(max_examples=200, deadline=None)
@given(path=st.text(), agent=st.text(), referer=st.text(), query=st.text())
def test_an_access_log_line_is_one_line_whatever_the_client_sends(
        path: str, agent: str, referer: str, query: str) -> None:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path.encode("utf-8", "surrogatepass")
               .decode("latin-1"), "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "192.0.2.1", "HTTP_USER_AGENT": agent, "HTTP_REFERER": referer}
    from datetime import UTC, datetime

    line = combined_line(environ, 200, 10, datetime(2026, 12, 1, tzinfo=UTC))
    assert "\n" not in line and "\r" not in line
    match = CLF.match(line)
    assert match is not None
    assert json.loads(f'"{match.group(7)}"') == agent
    assert json.loads(f'"{match.group(6)}"') == referer


def test_a_two_worker_server_counts_every_worker(tmp_path: Path) -> None:
    database_url = sqlite_url(tmp_path)
    core = writer(tmp_path, database_url)
    core.save([post(n) for n in range(1, 4)])
    runs = tmp_path / "tmp"
    runs.mkdir()
    with serving(tmp_path, database_url, "--workers", "2", SYNDICATE_METRICS="on",
                 TMPDIR=str(runs)) as served:
        served.wait_for_workers(2)
        etag = fresh_get(served.base + FEED).headers["ETag"]
        for _ in range(19):
            assert fresh_get(served.base + FEED).status_code == 200
        for _ in range(7):
            assert fresh_get(served.base + FEED, **{"If-None-Match": etag}).status_code == 304
        for _ in range(4):
            assert fresh_get(served.base + "/").status_code == 200
        folders = list(runs.glob("syndicate-metrics-*"))
        assert len(folders) == 1  # a fresh folder for this run
        writers = {re.sub(r"\D", "", path.stem) for path in folders[0].glob("counter_*.db")}
        assert len(writers) == 2, "both workers served and counted"
        for _ in range(4):  # any worker answers the scrape, with every worker's counts
            found = samples(fresh_get(served.base + "/metrics").text)
            assert requests_of(found, "feed") == 20
            assert requests_of(found, "feed_304") == 7
            assert requests_of(found, "page") == 4
            hist = [v for (name, labels), v in found.items()
                    if name == "syndicate_http_request_duration_seconds_count"
                    and ("route", "feed") in labels]
            assert hist == [20]
            lookups = {dict(labels)["result"]: v for (name, labels), v in found.items()
                       if name == "syndicate_render_cache_total"}
            assert lookups["miss"] >= 1 and lookups["hit"] + lookups["miss"] >= 20
            assert found[("syndicate_websub_queue_depth", ())] == 0
            assert ("syndicate_share_flush_lag_seconds", ()) in found
    assert not list(runs.glob("syndicate-metrics-*"))  # removed when the server stopped
    core.store.dispose()


def test_the_worker_serves_poll_outcomes_per_source(
        tmp_path: Path, upstream: HTTPServer) -> None:
    folder = tmp_path / "instance"
    folder.mkdir()
    upstream.expect_request("/news.xml").respond_with_data(
        rss("财联社", [Entry("https://up.example.com/1", "第一条", "<p>正文。</p>")]),
        content_type="application/rss+xml")
    upstream.expect_request("/broken.xml").respond_with_data("down", status=503)
    write_sources(folder, ("news", upstream.url_for("/news.xml")),
                  ("broken", upstream.url_for("/broken.xml")))
    port = free_port()
    env = {**os.environ, "SYNDICATE_INSTANCE": str(folder),
           "SYNDICATE_DATABASE_URL": sqlite_url(tmp_path)}
    worker = subprocess.Popen([sys.executable, "-c", "from syndicate.cli import main; main()",
                               "worker", "--metrics-port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, found = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            try:
                found = samples(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=3).text)
            except requests.RequestException:  # not listening yet
                pass
            if {OK, FAILED} <= found.keys():
                break
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=20)
    assert found.get(OK) == 1, output
    assert found.get(FAILED) == 1, output


def test_the_websub_queue_depth_is_what_waits_in_the_database(tmp_path: Path) -> None:
    hub = f"http://127.0.0.1:{free_port()}/hub"  # nothing listens: every ping stays queued
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path, "METRICS": "on",
                      "DATABASE_URL": sqlite_url(tmp_path), "WEBSUB_HUBS": hub})
    core = app.extensions["syndicate"]
    core.init()
    client = app.test_client()
    assert samples(client.get("/metrics").text)[("syndicate_websub_queue_depth", ())] == 0
    core.save([post(1)])
    depth = samples(client.get("/metrics").text)[("syndicate_websub_queue_depth", ())]
    assert depth == core.store.pending_pings() > 0
    core.close(wait=0)


class FlakyStore:
    """A share-count store that refuses writes until told otherwise (a database outage)."""

    def __init__(self) -> None:
        self.down = True
        self.written: list[dict[Any, Any]] = []

    def add_share_hits(self, hits: dict[Any, Any]) -> None:
        if self.down:
            raise OSError("database unavailable")
        self.written.append(hits)


def test_share_flush_lag_grows_while_counts_cannot_be_written() -> None:
    from zoneinfo import ZoneInfo

    from syndicate import metrics
    from syndicate.sharelinks import ShareCounter

    metrics.prepare()
    store = FlakyStore()
    counter = ShareCounter(store, ZoneInfo("Asia/Shanghai"), interval=0.05)
    lag = ("syndicate_share_flush_lag_seconds", ())
    try:
        counter.hit("abc123", "click")
        time.sleep(0.6)
        assert samples(metrics.exposition()[0].decode())[lag] >= 0.4
        store.down = False
        time.sleep(0.3)
        assert samples(metrics.exposition()[0].decode())[lag] == 0
        assert store.written  # the kept count went in once the database was back
    finally:
        counter.stop()
