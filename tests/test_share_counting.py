"""A reader counts once per share code per window, whatever they repeat; nothing about them
is kept but a keyed hash in memory, and the memory it takes is bounded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.sharelinks import COUNT_WINDOW, SeenClients, client_address

POST_ID = "NW202601050000000001"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0"
TWITTER = "Twitterbot/1.0"


def code_of(core: Any) -> str:
    return str(core.post(POST_ID).share_code)


def clicks_and_previews(client: Any, core: Any) -> tuple[int, int]:
    core.shares.counter.flush()
    stats = client.get(f"/api/posts/{POST_ID}/share").get_json()
    return stats["clicks"], stats["previews"]


def get(client: Any, path: str, address: str = "203.0.113.7", agent: str = BROWSER,
        **headers: str) -> None:
    response = client.get(path, headers={"User-Agent": agent, **headers},
                          environ_base={"REMOTE_ADDR": address})
    assert response.status_code in (301, 302)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _use_clock(core: Any, clock: Callable[[], float], max_entries: int = 100_000) -> SeenClients:
    core.shares.seen = SeenClients(clock=clock, max_entries=max_entries)
    return core.shares.seen  # type: ignore[no-any-return]


# -- through the site ----------------------------------------------------------------------


def test_twenty_five_plain_gets_count_one_click(client: Any, core: Any) -> None:
    for _ in range(25):
        get(client, f"/s/{code_of(core)}")
    assert clicks_and_previews(client, core) == (1, 0)


def test_the_short_and_the_legacy_link_of_one_post_count_a_reader_once(client: Any,
                                                                       core: Any) -> None:
    code = code_of(core)
    for path in (f"/s/{code}", f"/s/{code.upper()}/", f"/html_News/NewsShare.html?infoCode={POST_ID}",
                 f"/s/{code}?utm_source=wechat", "/html_News/NewsShare.html?infoCode=202601050000000001"):
        get(client, path)
    assert clicks_and_previews(client, core) == (1, 0)


def test_other_readers_count_each(client: Any, core: Any) -> None:
    code = code_of(core)
    get(client, f"/s/{code}", address="203.0.113.7")
    get(client, f"/s/{code}", address="203.0.113.8")
    get(client, f"/s/{code}", address="203.0.113.7", agent=BROWSER + " Edge")
    get(client, f"/s/{code}", address="203.0.113.7", agent=TWITTER)
    get(client, f"/s/{code}", address="2001:db8:1:2::5")
    get(client, f"/s/{code}", address="2001:db8:1:2:aaaa:bbbb:cccc:dddd")  # same /64: same reader
    get(client, f"/s/{code}", address="2001:db8:1:3::5")
    assert clicks_and_previews(client, core) == (5, 1)


def test_readers_behind_one_proxy_count_apart(client: Any, core: Any) -> None:
    # ProxyFix (one trusted proxy) gives the fast path the reader's own address.
    code = code_of(core)
    for reader in ("198.51.100.1", "198.51.100.2", "198.51.100.1"):
        get(client, f"/s/{code}", address="10.0.0.1", **{"X-Forwarded-For": reader})
    assert clicks_and_previews(client, core) == (2, 0)


def test_another_post_counts_apart(client: Any, core: Any) -> None:
    code = code_of(core)
    other = core.post("NW202601050000000002").share_code
    for _ in range(3):
        get(client, f"/s/{code}")
        get(client, f"/s/{other}")
    core.shares.counter.flush()
    assert client.get("/api/posts/NW202601050000000002/share").get_json()["clicks"] == 1
    assert clicks_and_previews(client, core) == (1, 0)


def test_a_reader_counts_again_in_the_next_window(client: Any, core: Any) -> None:
    clock = Clock()
    seen = _use_clock(core, clock)
    code = code_of(core)
    get(client, f"/s/{code}")
    key = seen._key
    clock.now += COUNT_WINDOW - 1  # may still be the same window: counted at most once more
    get(client, f"/s/{code}")
    clock.now += COUNT_WINDOW
    get(client, f"/s/{code}")
    get(client, f"/s/{code}")
    assert seen._key != key  # a new key each window: hashes of two windows never match
    assert clicks_and_previews(client, core)[0] in (2, 3)
    clock.now += 10 * COUNT_WINDOW
    get(client, f"/s/{code}")
    assert len(seen) == 1  # the old window's hashes are gone with its key


def test_when_the_seen_set_is_full_nobody_more_is_counted(client: Any, core: Any) -> None:
    seen = _use_clock(core, Clock(), max_entries=3)
    code = code_of(core)
    for n in range(10):
        get(client, f"/s/{code}", address=f"198.51.100.{n}")
    assert len(seen) == 3  # bounded: stopped counting rather than grown
    assert clicks_and_previews(client, core) == (3, 0)


def test_uncounted_requests_stay_uncounted_and_take_no_room(client: Any, core: Any) -> None:
    seen = _use_clock(core, Clock())
    code = code_of(core)
    get(client, f"/s/{code}", DNT="1")
    get(client, f"/s/{code}", **{"Sec-GPC": "1"})
    get(client, f"/s/{code}", agent="Googlebot/2.1 (+http://www.google.com/bot.html)")
    get(client, f"/s/{code}", agent="Mozilla/5.0 HeadlessChrome/120")
    assert client.head(f"/s/{code}").status_code == 302
    assert len(seen) == 0
    assert clicks_and_previews(client, core) == (0, 0)


def test_nothing_but_the_counts_is_written(client: Any, core: Any) -> None:
    code = code_of(core)
    get(client, f"/s/{code}", address="203.0.113.99", agent="Mozilla/5.0 Zeta-Reader/42")
    core.shares.counter.flush()
    digest = next(iter(core.shares.seen._seen))
    with core.store.engine.connect() as conn:
        tables = [row[0] for row in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [row for name in tables for row in conn.exec_driver_sql(f'SELECT * FROM "{name}"')]
    dump = "\n".join(map(str, rows))
    assert "203.0.113.99" not in dump and "Zeta-Reader" not in dump
    assert digest.hex() not in dump and str(digest) not in dump
    # In memory, too, the reader is only a hash: no address or agent is kept.
    assert all(len(item) == 16 for item in core.shares.seen._seen)


def test_counting_switched_off_keeps_no_hashes(tmp_path: Any) -> None:
    from .conftest import SITE_POSTS
    from .feedtools import make_app

    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'off.db'}", SHARE_COUNTING="off")
    core = app.extensions["syndicate"]
    core.save(SITE_POSTS)
    client = app.test_client()
    for _ in range(3):
        get(client, f"/s/{code_of(core)}")
    assert len(core.shares.seen) == 0
    core.close(wait=0)


# -- the seen-set on its own ---------------------------------------------------------------


def test_client_address_takes_an_ipv6_address_by_its_prefix() -> None:
    assert client_address("203.0.113.7") == "203.0.113.7"
    assert client_address("2001:db8:1:2:3:4:5:6") == client_address("2001:db8:1:2::9") == "2001:db8:1:2::"
    assert client_address("not an address") == "not an address"
    assert client_address("fe80::1%eth0") in ("fe80::", "fe80::1%eth0")


_READERS = st.tuples(st.sampled_from(["203.0.113.1", "203.0.113.2", "2001:db8::1", ""]),
                     st.sampled_from([BROWSER, TWITTER, "", "x" * 500, "\x00é"]),
                     st.sampled_from(["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(visits=st.lists(_READERS, max_size=60), cap=st.integers(1, 200))
def test_a_reader_is_first_once_per_code_and_the_set_stays_bounded(
        visits: list[tuple[str, str, str]], cap: int) -> None:
    seen = SeenClients(clock=Clock(), max_entries=cap)
    firsts = [seen.first(code, {"REMOTE_ADDR": address, "HTTP_USER_AGENT": agent})
              for address, agent, code in visits]
    distinct = len(set(visits))
    assert sum(firsts) == min(distinct, cap)
    assert len(seen) <= cap


@pytest.mark.parametrize("agent", ["a" * 8000, "\udcff" * 10, "😀" * 100])
def test_odd_user_agents_are_hashed_without_trouble(agent: str) -> None:
    seen = SeenClients(clock=Clock())
    environ = {"REMOTE_ADDR": "203.0.113.1", "HTTP_USER_AGENT": agent}
    assert seen.first("aaaaaaaaaaaa", environ) is True
    assert seen.first("aaaaaaaaaaaa", environ) is False
