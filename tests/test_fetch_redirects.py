"""Permanent redirects move a source's stored URL only after several polls in a row agree.

One 301 may be a mistake or an attack; the stored URL moves to a permanent target only
when ``MOVE_AFTER`` consecutive answered polls redirected permanently (301/308 on every
hop) to that same target. A temporary hop, another target or a direct answer starts the
count again; a failed poll leaves it as it was.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from syndicate.core import Syndicate
from syndicate.ingest.poll import MOVE_AFTER, Poller

from . import upstream as fixtures
from .upstream import client, rss, sources

server, upstream, site = fixtures.server, fixtures.upstream, fixtures.site

#: What the configured URL answers on one poll: the redirect statuses on the way and the
#: feed they end at ("a" or "b"); "direct" answers the feed itself, "fail" a 500.
PLANS: dict[str, tuple[tuple[int, ...], str]] = {
    "direct": ((), ""), "fail": ((), ""), "301 to a": ((301,), "a"), "308 to a": ((308,), "a"),
    "301 to b": ((301,), "b"), "302 to a": ((302,), "a"), "301, 308 to a": ((301, 308), "a"),
    "301, 302 to a": ((301, 302), "a"), "307, 301 to a": ((307, 301), "a"),
}


def permanent_target(answer: str) -> str | None:
    hops, target = PLANS[answer]
    return target if hops and all(status in (301, 308) for status in hops) else None


class Upstream:
    """/m/<n> and /h/<n>/<hop> answer as the current plan says; /a/<n> and /b/<n> are feeds."""

    def __init__(self, server: HTTPServer) -> None:
        self.answer = "direct"
        self.feed = rss("财联社", [])
        server.expect_request(re.compile("/[mh]/.*")).respond_with_handler(self.hop)
        server.expect_request(re.compile("/[ab]/.*")).respond_with_data(self.feed)

    def hop(self, request: Request) -> Response:
        parts = request.path.split("/")
        n, hop = parts[2], int(parts[3]) if parts[1] == "h" else 0
        hops, target = PLANS[self.answer]
        if self.answer == "fail":
            return Response("down", status=500)
        if not hops:
            return Response(self.feed)
        location = f"/h/{n}/{hop + 1}" if hop + 1 < len(hops) else f"/{target}/{n}"
        return Response("", status=hops[hop], headers={"Location": location})


def expected_urls(base: str, n: int, answers: list[str]) -> list[str]:
    """The stored URL after each poll, by the rule."""
    url, moved_to, seen, urls = f"{base}/m/{n}", None, 0, []
    for answer in answers:
        if not url.endswith(f"/m/{n}") or answer == "fail":  # moved away, or nothing learned
            urls.append(url)
            continue
        target = permanent_target(answer)
        seen = seen + 1 if target is not None and target == moved_to else int(target is not None)
        moved_to = target
        if seen >= MOVE_AFTER:
            url, moved_to, seen = f"{base}/{target}/{n}", None, 0
        urls.append(url)
    return urls


COUNTER = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(answers=st.lists(st.sampled_from(sorted(PLANS)), min_size=1, max_size=7))
def test_the_stored_url_moves_only_after_consecutive_permanent_redirects(
        upstream: HTTPServer, site: Syndicate, answers: list[str]) -> None:
    api = Upstream(upstream)
    n = next(COUNTER)
    base = upstream.url_for("").rstrip("/")
    poll = Poller(site, sources({"name": f"s{n}", "kind": "feed", "url": f"{base}/m/{n}"}),
                  client=client(), concurrency=1)
    seen: list[str] = []
    for answer in answers:
        api.answer = answer
        poll.poll()
        seen.append(site.store.source_states([f"s{n}"])[0].url)
    assert seen == expected_urls(base, n, answers), answers
    upstream.clear()


def test_three_polls_in_a_row_move_it_and_an_interruption_starts_over(
        upstream: HTTPServer, site: Syndicate) -> None:
    api = Upstream(upstream)
    base = upstream.url_for("").rstrip("/")
    poll = Poller(site, sources({"name": "x", "kind": "feed", "url": f"{base}/m/x"}),
                  client=client(), concurrency=1)

    def after(*answers: str) -> Any:
        for answer in answers:
            api.answer = answer
            poll.poll()
        return site.store.source_states(["x"])[0]

    assert after("301 to a", "301 to a", "direct", "301 to a", "301 to a").url == f"{base}/m/x"
    assert after("301 to b", "308 to a", "301 to a").url == f"{base}/m/x"
    state = after("fail")  # a failure neither counts nor resets
    assert state.moved_to == f"{base}/a/x" and state.moved_seen == 2
    assert after("301 to a").url == f"{base}/a/x"


def test_upgrading_puts_a_url_moved_by_one_redirect_back(database_url: str) -> None:
    """Older versions moved the stored URL after a single 301, possibly inside: the
    upgrade sends such sources back to their configured URL; the others keep theirs."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from syndicate.store import Store
    from syndicate.store.sql import MIGRATIONS

    store = Store(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store._connect(write=True) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO source_state (name, config_url, url, etag, next_poll, failures, "
            "posts_new, posts_updated) VALUES "
            "('moved', 'https://up.example.com/f', 'http://localhost:8080/internal.json', 'e1', "
            "'2026-01-01 00:00:00', 0, 0, 0), "
            "('kept', 'https://up.example.com/g', 'https://up.example.com/g', 'e2', "
            "'2026-01-01 00:00:00', 0, 0, 0)"))
    try:
        store.upgrade()
        states = {s.name: s for s in store.source_states()}
        assert (states["moved"].url, states["moved"].etag) == ("https://up.example.com/f", None)
        assert (states["kept"].url, states["kept"].etag) == ("https://up.example.com/g", "e2")
        assert states["moved"].moved_seen == 0 and states["moved"].network is None
    finally:
        store.dispose()
