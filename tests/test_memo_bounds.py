"""No client can grow a worker's memory: every memo is bounded, keyed by normalised values,
and absurd request lines and headers are refused (414/431) before anything reads them."""

from __future__ import annotations

import secrets
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.memo import BoundedCache, memoize
from syndicate.text import normalize_slug
from syndicate.web import feeds as web_feeds
from syndicate.web.feeds import memos_of
from syndicate.web.limits import MAX_HEADER, MAX_TARGET

FEED = "/category/zhongguodianzibao.atom"
#: Just under the header limit: as large as a value that gets through can be.
BIG = MAX_HEADER - 200


def _memos(core: Any) -> dict[str, BoundedCache[Any, Any]]:
    """Every memo a feed, page or share request may fill."""
    memos = memos_of(core)
    return {"modified": memos.modified, "common": memos.common, "ready": memos.ready,
            "gzip": web_feeds._GZIP, "documents": core.feeds._documents,
            "rendered": core.feeds.cache.entries,
            "slugs": normalize_slug.cache, "share paths": core.shares._paths}  # type: ignore[attr-defined]


def _memo_sizes(core: Any) -> dict[str, tuple[int, int]]:
    return {name: (len(cache), cache.nbytes) for name, cache in _memos(core).items()}


# -- the helper -------------------------------------------------------------------------


def test_bounded_cache_drops_the_least_recently_used_first() -> None:
    cache: BoundedCache[str, str] = BoundedCache(max_entries=3, max_bytes=10_000)
    for key in "abc":
        cache.put(key, key.upper())
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("d", "D")
    assert "b" not in cache and [k for k in "acd" if k in cache] == ["a", "c", "d"]


def test_bounded_cache_refuses_an_item_larger_than_its_byte_bound() -> None:
    cache: BoundedCache[str, bytes] = BoundedCache(max_entries=100, max_bytes=10_000)
    cache.put("small", b"x" * 100)
    assert cache.put("huge", b"x" * 20_000) is False
    assert "huge" not in cache and cache.get("small") == b"x" * 100


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=50), st.binary(max_size=3000)), max_size=200),
       st.integers(1, 20), st.integers(500, 20_000))
def test_bounded_cache_never_passes_its_bounds(items: list[tuple[str, bytes]], entries: int,
                                               max_bytes: int) -> None:
    cache: BoundedCache[str, bytes] = BoundedCache(entries, max_bytes)
    for key, value in items:
        cache.put(key, value)
        assert len(cache) <= entries and cache.nbytes <= max_bytes
    if items and cache.put(*items[-1]):
        assert cache.get(items[-1][0]) == items[-1][1]  # the newest is always kept


def test_memoize_bounds_by_bytes_and_does_not_keep_exceptions() -> None:
    calls: list[str] = []

    @memoize(max_entries=1000, max_bytes=50_000)
    def shout(text: str) -> str:
        calls.append(text)
        if not text:
            raise ValueError("empty")
        return text.upper()

    for n in range(100):
        shout(f"{n:04d}" + "x" * 2000)
    assert shout.cache.nbytes <= 50_000 and len(shout.cache) < 20  # type: ignore[attr-defined]
    assert shout("ab") == "AB" and shout("ab") == "AB" and calls.count("ab") == 1
    for _ in range(2):
        try:
            shout("")
        except ValueError:
            pass
    assert calls.count("") == 2


# -- 1,000 hostile requests -------------------------------------------------------------


def test_a_thousand_distinct_huge_validators_leave_the_memos_bounded(client: Any,
                                                                     core: Any) -> None:
    etag = client.get(FEED).headers["ETag"]
    assert client.get(FEED, headers={"If-None-Match": etag}).status_code == 304
    before = _memo_sizes(core)
    for n in range(1000):
        noise = f"{n:06d}" + secrets.token_hex(BIG // 2)[: BIG - 6]
        headers = {"If-None-Match": f'"{noise}"', "Accept-Encoding": f"gzip;q=0.{n % 9}, {noise}",
                   "If-Modified-Since": noise[:200]}
        assert client.get(FEED, headers=headers).status_code == 200
    after = _memo_sizes(core)
    # Values of a shape we never mint are answered, not remembered.
    assert after["modified"] == before["modified"]
    assert after["gzip"] == before["gzip"]
    for name, (entries, nbytes) in after.items():
        assert nbytes < 2 * 2**20 or name == "rendered", (name, entries, nbytes)
    # The one real validator is still remembered and answered 304.
    assert client.get(FEED, headers={"If-None-Match": etag}).status_code == 304


def test_a_thousand_distinct_huge_paths_leave_the_memos_bounded(client: Any, core: Any) -> None:
    before = _memo_sizes(core)
    for n in range(1000):
        name = f"{n:06d}" + "x" * (MAX_TARGET - 100)
        for path in (f"/tag/{name}.atom", f"/category/{name}.html", f"/s/{name[:40]}"):
            assert client.get(path).status_code == 404
    after = _memo_sizes(core)
    assert after["documents"] == before["documents"]  # no document memoised for a miss
    assert after["slugs"] == before["slugs"]  # long segments are no legacy slug to normalise
    for lookup in _hot_lookups(core):
        assert len(lookup._local.memo) <= 2  # misses are not kept (only the site feed's row)


def _hot_lookups(core: Any) -> list[Any]:
    """The store's per-thread SQLite lookups (feed states, share codes) this thread used."""
    found = [core.store._state_reader, core.store._by_code]
    return [lookup for lookup in found if lookup is not None and hasattr(lookup._local, "memo")]


def test_share_and_feed_lookups_keep_no_misses(client: Any, core: Any) -> None:
    assert client.get(FEED).status_code == 200
    assert client.get("/s/0000000000zz").status_code == 404
    assert len(_hot_lookups(core)) == 2
    for n in range(300):
        assert client.get(f"/tag/unknown-{n}.atom").status_code == 404
        assert client.get(f"/s/{n:012d}").status_code == 404
    for lookup in _hot_lookups(core):
        assert len(lookup._local.memo) <= 1  # the one feed that exists, no misses


def test_the_memos_of_feed_deltas_stay_empty(client: Any, core: Any) -> None:
    before = _memo_sizes(core)
    for n in range(200):
        assert client.get(f"{FEED}?since=2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z").status_code == 200
    assert _memo_sizes(core)["documents"] == before["documents"]


# -- 414 and 431 before anything else ---------------------------------------------------


def test_absurd_paths_are_refused_with_414_on_every_door(client: Any) -> None:
    long = "a" * (MAX_TARGET + 1)
    for path in (f"/tag/{long}.atom", f"/s/{long}", f"/category/{long}.html", f"/{long}",
                 f"/html_News/NewsShare.html?infoCode={long}", f"/feed.xml?since={long}"):
        response = client.get(path)
        assert response.status_code == 414, path
        assert "请求地址过长" in response.get_data(as_text=True)


def test_absurd_headers_are_refused_with_431_naming_the_header(client: Any) -> None:
    huge = "W/\"" + "f" * 400_000 + "\""
    for path in (FEED, "/", "/s/abcdefghjkmn", "/api/posts/NW202601050000000001"):
        response = client.get(path, headers={"If-None-Match": huge})
        assert response.status_code == 431, path
        assert "If-None-Match" in response.get_data(as_text=True)
    many = {f"X-Filler-{n}": "v" * (MAX_HEADER - 100) for n in range(5)}
    response = client.get(FEED, headers=many)
    assert response.status_code == 431 and "请求头总计过大" in response.get_data(as_text=True)
    # Ordinary requests still pass: the limits are far above what clients send.
    assert client.get(FEED, headers={"User-Agent": "Mozilla/5.0 " * 40}).status_code == 200


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.sampled_from(["If-None-Match", "Accept-Encoding", "If-Modified-Since", "Range",
                               "If-Match", "User-Agent", "Referer"]),
       value=st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=300)
       | st.integers(0, 60_000).map(lambda n: "W/\"" + "a" * n + "\""))
def test_any_header_value_is_answered_within_the_bounds(client: Any, core: Any, header: str,
                                                        value: str) -> None:
    response = client.get(FEED, headers={header: value})
    too_big = len("HTTP_" + header) + len(value) > MAX_HEADER
    assert response.status_code in ((431,) if too_big else (200, 206, 304, 412, 416)), value[:80]
    for name, cache in _memos(core).items():
        assert len(cache) <= cache.max_entries and cache.nbytes <= cache.max_bytes, name


def test_the_real_server_refuses_oversized_requests_before_the_app(tmp_path: Any) -> None:
    import requests

    from .conftest import SITE_POSTS
    from .test_workers import server, writer

    database_url = f"sqlite:///{tmp_path / 'live.db'}"
    site = writer(tmp_path, database_url)
    site.save(SITE_POSTS)
    site.close(wait=0)
    with server(tmp_path, database_url) as base:
        for size in (MAX_HEADER + 1, 400_000):
            answer = requests.get(base + FEED, headers={"If-None-Match": "a" * size}, timeout=10)
            assert answer.status_code == 431 and "If-None-Match" in answer.text
        answer = requests.get(f"{base}/tag/{'x' * 60_000}.atom", timeout=10)
        assert answer.status_code == 414
        assert requests.get(base + FEED, timeout=10).status_code == 200
