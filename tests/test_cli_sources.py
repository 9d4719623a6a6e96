"""The fetch, worker, sources and prune commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from syndicate.cli import main

from . import upstream as fixtures
from .upstream import Entry, rss

server, upstream = fixtures.server, fixtures.upstream

BODY = "<p>正文。</p>"


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "instance"
    folder.mkdir()
    monkeypatch.setenv("SYNDICATE_INSTANCE", str(folder))
    monkeypatch.setenv("SYNDICATE_BASE_URL", "https://news.example.com")
    monkeypatch.delenv("SYNDICATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNDICATE_SOURCES", raising=False)
    return folder


def write_sources(folder: Path, *urls: tuple[str, str]) -> None:
    tables = [f'[[source]]\nname = "{name}"\nkind = "feed"\nurl = "{url}"\nevery = "1m"\n'
              for name, url in urls]
    (folder / "sources.toml").write_text("\n".join(tables), encoding="utf-8")


def test_fetch_prints_each_source_and_fails_if_one_failed(instance: Path, upstream: HTTPServer) -> None:
    upstream.expect_request("/good").respond_with_data(
        rss("财联社", [Entry("https://up.example.com/1", "标题一", BODY)]))
    upstream.expect_request("/bad").respond_with_data("down", status=500)
    write_sources(instance, ("good", upstream.url_for("/good")), ("bad", upstream.url_for("/bad")))
    runner = CliRunner()
    result = runner.invoke(main, ["fetch"])
    assert result.exit_code == 1, result.output
    assert "good: 1 new, 0 updated, 0 unchanged" in result.output
    assert "bad: FAILED: HTTP 500" in result.output

    only_good = runner.invoke(main, ["fetch", "good"])
    assert only_good.exit_code == 0, only_good.output
    assert "good: 0 new, 0 updated, 1 unchanged" in only_good.output

    listing = runner.invoke(main, ["sources"])
    assert listing.exit_code == 0, listing.output
    assert "good (feed, every 1m)" in listing.output and "posts: 1 new, 0 updated" in listing.output
    assert "last error:" in listing.output and "HTTP 500" in listing.output


def test_fetch_unknown_name_and_bad_file(instance: Path) -> None:
    write_sources(instance, ("good", "https://up.example.com/feed"))
    result = CliRunner().invoke(main, ["fetch", "nope"])
    assert result.exit_code != 0 and "no source named 'nope'" in result.output
    (instance / "sources.toml").write_text('[[source]]\nname = "x"\nkind = "feed"\n', "utf-8")
    bad = CliRunner().invoke(main, ["sources"])
    assert bad.exit_code != 0
    assert "source #1 'x': field 'url': is required" in bad.output


def test_prune_command(instance: Path, upstream: HTTPServer) -> None:
    upstream.expect_request("/good").respond_with_data(
        rss("财联社", [Entry("https://up.example.com/1", "旧闻", BODY)]))
    write_sources(instance, ("good", upstream.url_for("/good")))
    runner = CliRunner()
    assert runner.invoke(main, ["fetch"]).exit_code == 0
    assert "Deleted 0 posts" in runner.invoke(main, ["prune", "--older-than", "3650d"]).output
    assert "Deleted 1 posts" in runner.invoke(main, ["prune", "--older-than", "1h"]).output
    wrong = runner.invoke(main, ["prune", "--older-than", "soon"])
    assert wrong.exit_code != 0 and "--older-than" in wrong.output


def test_worker_stops_on_sigterm_after_the_request_in_flight(
        instance: Path, upstream: HTTPServer, tmp_path: Path) -> None:
    arrived, release = threading.Event(), threading.Event()

    def slow(request: Request) -> Response:
        arrived.set()
        release.wait(10)
        return Response(rss("财联社", [Entry("https://up.example.com/w", "在途请求", BODY)]))

    upstream.expect_request("/slow").respond_with_handler(slow)
    write_sources(instance, ("slow", upstream.url_for("/slow")))
    env = {**os.environ, "SYNDICATE_INSTANCE": str(instance)}
    worker = subprocess.Popen([sys.executable, "-c", "from syndicate.cli import main; main()",
                               "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        assert arrived.wait(20), "the worker did not poll"
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert worker.poll() is None  # still finishing the request in flight
        release.set()
        out, err = worker.communicate(timeout=20)
    finally:
        release.set()
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert "slow: 1 new" in out and "Worker stopped." in err
    listing = CliRunner().invoke(main, ["sources"])
    assert "posts: 1 new" in listing.output


def test_a_killed_worker_leaves_no_half_written_post_and_a_restart_resumes(
        instance: Path, upstream: HTTPServer) -> None:
    arrived = threading.Event()
    hang = threading.Event()

    def handler(request: Request) -> Response:
        arrived.set()
        if not hang.is_set():
            time.sleep(30)  # the worker is killed while it waits here
        return Response(rss("财联社", [Entry("https://up.example.com/k", "重启", BODY)]))

    upstream.expect_request("/k").respond_with_handler(handler)
    write_sources(instance, ("k", upstream.url_for("/k")))
    env = {**os.environ, "SYNDICATE_INSTANCE": str(instance)}
    worker = subprocess.Popen([sys.executable, "-c", "from syndicate.cli import main; main()",
                               "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        assert arrived.wait(20)
        worker.kill()
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    hang.set()
    runner = CliRunner()
    # The dead worker's claim blocks others until its lease runs out; `fetch` says so.
    blocked = runner.invoke(main, ["fetch"])
    assert "skipped: another worker is fetching it" in blocked.output
    from syndicate.core import Syndicate
    from syndicate.settings import load_settings

    core = Syndicate(load_settings())
    with core.store.engine.begin() as conn:  # let the lease run out
        from sqlalchemy import update

        from syndicate.store.schema import source_state
        conn.execute(update(source_state).values(claimed_until=source_state.c.last_poll))
    assert core.store.count() == 0
    resumed = runner.invoke(main, ["fetch"])
    assert "k: 1 new" in resumed.output, resumed.output
    core.store.dispose()
    _ = Any
