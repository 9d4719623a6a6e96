"""Faults during a poll, with real processes and real databases (SQLite and PostgreSQL).

`syndicate fetch` is SIGKILLed at different points of a poll of a JSON API with detail
requests (while the list is requested, while a detail request hangs, right after a batch
of posts was complete), run after run; after each kill no post is stored twice or half,
and running it once more gives exactly the upstream's posts, each once and whole. A worker killed while it holds a source's lease
blocks nobody for longer than the lease: another worker takes the source over then.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from syndicate.cli import main
from syndicate.core import Syndicate
from syndicate.settings import load_settings

from . import upstream as fixtures

server, upstream = fixtures.server, fixtures.upstream

ITEMS = 60  # two save batches
LEASE = 1


class Api:
    """A list + detail JSON API that can stop at a chosen request until released."""

    def __init__(self, server: HTTPServer, stop_at: int, hold: bool) -> None:
        self.lock = threading.Lock()
        self.list_times: list[float] = []
        self.arm(stop_at, hold)
        server.expect_request("/api/list").respond_with_handler(self.list)
        server.expect_request("/api/detail").respond_with_handler(self.detail)

    def arm(self, stop_at: int, hold: bool) -> None:
        """Stop at detail request ``stop_at`` from now on (0: the list, -1: never)."""
        self.stop_at, self.hold = stop_at, hold
        self.reached, self.release = threading.Event(), threading.Event()
        self.details = 0

    def list(self, request: Request) -> Response:
        self.list_times.append(time.time())
        self.gate(0)
        rows = [{"infoCode": code(i), "title": f"第{i}条快讯", "showTime": "2026-03-09 10:23:24",
                 "mediaName": "证券时报"} for i in range(ITEMS)]
        return Response(json.dumps({"data": {"list": rows}}), content_type="application/json")

    def detail(self, request: Request) -> Response:
        with self.lock:
            self.details += 1
            number = self.details
        self.gate(number)
        body = f"<p>正文{request.args['id']}。</p>"
        return Response(json.dumps({"data": {"content": body}}, ensure_ascii=False),
                        content_type="application/json")

    def gate(self, number: int) -> None:
        if number == self.stop_at and not self.reached.is_set():
            self.reached.set()
            if self.hold:
                self.release.wait(30)


def code(i: int) -> str:
    return f"NW2026030926{i:08d}"


def write_sources(folder: Path, server: HTTPServer) -> None:
    (folder / "sources.toml").write_text(f'''
[[source]]
name = "em"
kind = "json"
url = "{server.url_for('/api/list')}"
items = "data.list"
every = "1h"
body_url = "{server.url_for('/api/detail')}?id={{id}}"
body_field = "data.content"
fields = {{ id = "infoCode", title = "title", date = "showTime", media = "mediaName" }}
''', encoding="utf-8")


@pytest.fixture
def instance(tmp_path: Path, database_url: str) -> Iterator[dict[str, str]]:
    folder = tmp_path / "instance"
    folder.mkdir()
    env = {**os.environ, "SYNDICATE_INSTANCE": str(folder), "SYNDICATE_DATABASE_URL": database_url,
           "SYNDICATE_BASE_URL": "https://news.example.com", "SYNDICATE_FETCH_LEASE": str(LEASE),
           "SYNDICATE_FETCH_INTERNAL_NETWORKS": "127.0.0.2/32", "SYNDICATE_FETCH_TIMEOUT": "5"}
    env.pop("SYNDICATE_SOURCES", None)
    yield env


def start(env: dict[str, str], *command: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "from syndicate.cli import main; main()",
                             *command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=20)


def open_site(env: dict[str, str]) -> Syndicate:
    settings = load_settings(environ={k: v for k, v in env.items() if k.startswith("SYNDICATE_")},
                             instance_path=Path(env["SYNDICATE_INSTANCE"]))
    return Syndicate(settings)


def wait_for_the_lease(core: Syndicate) -> datetime:
    """Wait until the dead process's claim has run out; return when it did."""
    state = core.store.source_states(["em"])[0]
    assert state.claimed_by is not None  # the killed process still holds the source
    until = state.claimed_until or datetime.now(UTC)
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.2)
    return until


def assert_no_post_twice_and_each_whole(core: Syndicate) -> None:
    posts = core.store.latest(ITEMS * 2)
    assert len({p.id for p in posts}) == len(posts) == core.store.count() <= ITEMS
    assert {p.id for p in posts} <= {code(i) for i in range(ITEMS)}
    for post in posts:
        number = int(post.id[-8:])
        assert post.title == f"第{number}条快讯"
        assert f"正文{post.id}。" in post.html and "（文章来源：证券时报）" in post.html


#: Where each run in turn is killed: (detail request number, 0 for the list; hold the
#: request open until the kill, or answer it and kill at once).
KILLS = {
    "while the list is requested": (0, True),
    "while a detail request hangs": (20, True),
    "right after the first batch is complete": (50, False),
    "a few requests into the next run": (5, False),
}


def test_fetches_killed_during_polls_give_every_post_once_when_run_again(
        instance: dict[str, str], upstream: HTTPServer) -> None:
    api = Api(upstream, -1, False)
    write_sources(Path(instance["SYNDICATE_INSTANCE"]), upstream)
    core = open_site(instance)
    try:
        for point, (stop_at, hold) in KILLS.items():
            api.arm(stop_at, hold)
            fetch = start(instance, "fetch")
            try:
                assert api.reached.wait(60), f"the fetch never got {point}"
            finally:
                kill(fetch)
                api.release.set()
            assert fetch.returncode == -signal.SIGKILL, point
            assert_no_post_twice_and_each_whole(core)
            wait_for_the_lease(core)
        api.arm(-1, False)
        again = CliRunner().invoke(main, ["fetch"], env=instance)
        assert again.exit_code == 0, again.output
        assert sorted(p.id for p in core.store.latest(ITEMS * 2)) == sorted(map(code, range(ITEMS)))
        assert_no_post_twice_and_each_whole(core)
        state = core.store.source_states(["em"])[0]
        assert state.claimed_by is None and state.failures == 0
    finally:
        api.release.set()
        core.store.dispose()


def test_a_killed_worker_loses_its_lease_and_another_worker_takes_over(
        instance: dict[str, str], upstream: HTTPServer) -> None:
    api = Api(upstream, 40, True)
    write_sources(Path(instance["SYNDICATE_INSTANCE"]), upstream)
    first = start(instance, "worker")
    core = open_site(instance)
    second: subprocess.Popen[str] | None = None
    try:
        assert api.reached.wait(60), "the first worker never polled"
        kill(first)
        api.release.set()
        # A second worker starts at once, but the dead one's lease still holds the source.
        second = start(instance, "worker")
        lease_end = wait_for_the_lease(core).timestamp()
        deadline = time.monotonic() + 60
        while core.store.count() < ITEMS or core.store.source_states(["em"])[0].claimed_by:
            assert time.monotonic() < deadline, "the second worker did not take over"
            assert second.poll() is None, second.communicate()
            time.sleep(0.2)
        assert len(api.list_times) == 2, api.list_times
        # Not before the lease ran out (0.05 s for the two clocks' rounding), but after it.
        assert api.list_times[1] >= lease_end - 0.05
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=30)
        assert second.returncode == 0, err
        assert "em: " in out and "Worker stopped." in err
        assert core.store.count() == ITEMS
        assert_no_post_twice_and_each_whole(core)
        state = core.store.source_states(["em"])[0]
        assert state.claimed_by is None and state.last_success is not None
    finally:
        api.release.set()
        kill(first)
        if second is not None:
            kill(second)
        core.store.dispose()


def test_the_lease_comes_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(environ={"SYNDICATE_FETCH_LEASE": "7"}, instance_path=tmp_path)
    assert settings.fetch_lease == 7
    from syndicate.ingest.poll import make_poller

    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                              "FETCH_LEASE": 7}, environ={}, instance_path=tmp_path)
    core = Syndicate(settings)
    core.init()
    assert make_poller(core, []).lease.total_seconds() == 7
    core.store.dispose()
    _ = Any
