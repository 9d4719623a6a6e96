"""WebSub: feeds advertise hub and self; changes ping the hubs for exactly the affected feeds."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from .feedtools import BASE, Hub, make_app, post

ATOM = "http://www.w3.org/2005/Atom"


@pytest.fixture
def hub() -> Iterator[Hub]:
    with Hub().running() as running:
        yield running


def app_with(tmp_path: Path, database_url: str, *hubs: str) -> Any:
    app = make_app(tmp_path, database_url, WEBSUB_HUBS=",".join(hubs))
    app.extensions["syndicate"].websub.backoff = 0.05
    return app


@pytest.fixture
def app(tmp_path: Path, database_url: str, hub: Hub) -> Iterator[Any]:
    app = app_with(tmp_path, database_url, hub.url)
    yield app
    core = app.extensions["syndicate"]
    core.websub.stop()
    core.store.dispose()


def feed_urls(key: str) -> set[str]:
    kind, _, name = key.partition("/")
    if kind == "site":
        return {f"{BASE}/feed.xml", f"{BASE}/feed.rss", f"{BASE}/feed.json"}
    from urllib.parse import quote
    return {f"{BASE}/{kind}/{quote(name)}.{ext}" for ext in ("atom", "rss", "json")}


def test_feeds_advertise_hub_and_self(client: Any, app: Any, hub: Hub) -> None:
    app.extensions["syndicate"].save([post(1)])
    atom = client.get("/category/zhongguodianzibao.atom")
    root = etree.fromstring(atom.get_data())
    rel = {link.get("rel"): link.get("href") for link in root.findall(f"{{{ATOM}}}link")}
    assert rel["hub"] == hub.url
    assert rel["self"] == f"{BASE}/category/zhongguodianzibao.atom"
    assert atom.headers["Link"] == (f'<{hub.url}>; rel="hub", '
                                    f'<{BASE}/category/zhongguodianzibao.atom>; rel="self"')
    rss = etree.fromstring(client.get("/category/zhongguodianzibao.rss").get_data())
    rss_rel = {link.get("rel"): link.get("href") for link in rss.findall(f"channel/{{{ATOM}}}link")}
    assert rss_rel["hub"] == hub.url and rss_rel["self"].endswith("/zhongguodianzibao.rss")
    data = json.loads(client.get("/feed.json").get_data())
    assert data["hubs"] == [{"type": "WebSub", "url": hub.url}]
    assert client.get("/feed.json").headers["Link"].endswith(f'<{BASE}/feed.json>; rel="self"')


def test_a_change_pings_exactly_the_affected_feeds(app: Any, hub: Hub) -> None:
    core = app.extensions["syndicate"]
    core.save([post(1), post(2, "cailianshe", "财联社")])
    hub.wait_for(12)
    time.sleep(0.2)
    hub.pings.clear()
    core.save([post(3, tags=("芯片",))])
    expected = feed_urls("site") | feed_urls("category/zhongguodianzibao") | feed_urls("tag/芯片")
    hub.wait_for(len(expected))
    time.sleep(0.2)
    assert hub.topics() == expected
    assert len(hub.pings) == len(expected)
    assert all(ping["hub.mode"] == "publish" for ping in hub.pings)
    assert core.store.pending_pings() == 0


def test_saving_never_waits_on_a_hub(tmp_path: Path, database_url: str) -> None:
    with Hub(delay=1.5).running() as slow:
        app = app_with(tmp_path, database_url, slow.url)
        core = app.extensions["syndicate"]
        began = time.monotonic()
        core.save([post(1)])
        assert time.monotonic() - began < 1.0
        core.websub.stop()
        core.store.dispose()


def test_refused_pings_are_retried_with_backoff_and_logged(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="syndicate.websub")
    with Hub(fail_first=4).running() as flaky:
        app = app_with(tmp_path, database_url, flaky.url)
        core = app.extensions["syndicate"]
        core.save([post(1)])
        flaky.wait_for(9)
        time.sleep(0.2)
        assert len(flaky.topics()) == 9  # site, category, tag: three formats each
        assert flaky.calls == 13
        core.websub.stop()
        core.store.dispose()
    assert "retry in" in caplog.text and "HTTP 503" in caplog.text
    assert "accepted" in caplog.text


def test_a_hub_that_never_answers_is_given_up(tmp_path: Path, database_url: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    app = app_with(tmp_path, database_url, "http://127.0.0.1:9/hub")  # discard port: refused
    core = app.extensions["syndicate"]
    core.websub.max_attempts = 2
    core.websub.stop()
    core.websub.start = lambda: None  # deliver by hand below
    core.save([post(1)])
    assert core.store.pending_pings() == 9
    assert core.websub.flush(5.0) == 0
    assert "giving up" in caplog.text
    core.store.dispose()


def test_pings_queued_by_a_finished_process_are_sent_by_the_next(
        tmp_path: Path, database_url: str, hub: Hub) -> None:
    """A one-shot import persists its pings; any later process delivers them."""
    first = app_with(tmp_path, database_url, hub.url).extensions["syndicate"]
    first.websub.start = lambda: None  # as if the process exited before its thread ran
    first.save([post(1)])
    assert first.store.pending_pings() == 9 and not hub.pings
    first.store.dispose()
    second = app_with(tmp_path, database_url, hub.url).extensions["syndicate"]
    second.websub.start()
    hub.wait_for(9)
    assert len(hub.topics()) == 9
    second.websub.stop()
    second.store.dispose()


def test_cli_import_delivers_its_pings_before_exiting(tmp_path: Path, hub: Hub,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from syndicate.cli import main

    folder = Path(__file__).parent / "fixtures" / "posts"
    monkeypatch.setenv("SYNDICATE_INSTANCE", str(tmp_path))
    monkeypatch.setenv("SYNDICATE_WEBSUB_HUBS", hub.url)
    monkeypatch.setenv("SYNDICATE_BASE_URL", BASE)
    result = CliRunner().invoke(main, ["import", str(folder)])
    assert "new" in result.output
    assert f"{BASE}/feed.xml" in hub.topics()
    assert any("/category/" in topic for topic in hub.topics())
