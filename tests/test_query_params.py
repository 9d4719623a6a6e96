"""Query values on every public route: malformed is 400 naming the parameter (in the site's
layout, or JSON under /api/), out of range is 404, never a 500; equivalent feed queries
share one document, one ETag and one cache entry."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .feedtools import make_app, post

CAT = "/category/zhongguodianzibao"
PAGES = [f"{CAT}.html", "/tag/%E4%B8%AD%E5%9B%BD%E7%94%B5%E5%AD%90%E6%8A%A5%E6%96%B0%E9%97%BB.html"]
FEEDS = ["/feed.xml", "/feed.rss", "/feed.json", f"{CAT}.atom", f"{CAT}.rss", f"{CAT}.json",
         "/tag/%E5%B7%A5%E4%B8%9A%E4%BA%92%E8%81%94%E7%BD%91.atom"]
OTHER = ["/", "/categories.html", "/sitemap.xml", "/sitemap-news.xml", "/sitemap-pages.xml",
         "/robots.txt", "/opml.xml", "/feed/archive/1.atom", f"{CAT}/archive/1.rss",
         "/healthz", "/api/posts/NW202601050000000001", "/api/posts/NW202601050000000001/share",
         "/api/openapi.json", "/api/sources", "/s/abcdefghjkmn",
         "/html_News/NewsShare.html?infoCode=NW202601050000000001",
         "/zhongguodianzibao/2026/01/05/NW202601050000000001.html"]
BAD_NUMBERS = ["²", "٣", "x", "", "-1", "0", "1.5", " 2", "2 ", "1e3", "0x10", "+3",
               "99999999999999999999", "9" * 5000, "%00", "１"]
SERVER_ERRORS = range(500, 600)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One site for the module: these tests only read, and there are hundreds of them."""
    from .conftest import SITE_POSTS

    tmp = tmp_path_factory.mktemp("params")
    app = make_app(tmp, f"sqlite:///{tmp / 'site.db'}", PAGE_SIZE=2)
    core = app.extensions["syndicate"]
    core.save(SITE_POSTS)
    yield app
    core.close(wait=0)


@pytest.fixture
def client(site: Any) -> Any:
    return site.test_client()


def _check_400(response: Any, name: str) -> None:
    assert response.status_code == 400, (response.request.url[:120], response.status_code)
    body = response.get_data(as_text=True)
    assert name in body, body[:300]
    if response.request.path.startswith("/api/"):
        assert response.get_json()["status"] == 400
    else:  # the site's error page, in its layout, with a way home
        assert "请求有误" in body and 'href="/"' in body and "<html" in body


# -- pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", BAD_NUMBERS)
@pytest.mark.parametrize("path", PAGES)
def test_a_malformed_page_number_is_400_naming_page(client: Any, path: str, raw: str) -> None:
    _check_400(client.get(f"{path}?page={quote(raw, safe='%')}"), "page")


@pytest.mark.parametrize("path", PAGES)
def test_a_page_past_the_last_is_404(client: Any, path: str) -> None:
    assert client.get(path + "?page=2").status_code in (200, 404)
    assert client.get(path + "?page=999").status_code == 404
    assert client.get(path + "?page=1000000").status_code == 404
    assert client.get(path + "?page=0001").status_code == 200  # leading zeros: page 1


# -- feeds -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [*BAD_NUMBERS[:12], "%C2%B2", "-0", "1,2", "9" * 5000])
@pytest.mark.parametrize("path", FEEDS)
def test_a_malformed_limit_is_400_naming_limit(client: Any, path: str, raw: str) -> None:
    _check_400(client.get(f"{path}?limit={quote(raw, safe='%')}"), "limit")


@pytest.mark.parametrize("raw", [
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1989-12-31T23:59:59Z",
    "2026-13-01T00:00:00Z", "2026-01-01T25:00:00Z", "2026-01-01T00:00:00",
    "2026-01-01T00:00:00+99:00", "2026-01-01T00:00:00Zjunk", "2026-01-01 00:00:00\x00Z",
    "NW202601010000000001\n", "a/b", "x" * 101, "é", "\u0661" * 18, "0001-01-01T00:00:00Z",
])
@pytest.mark.parametrize("path", FEEDS)
def test_a_malformed_since_is_400_naming_since(client: Any, path: str, raw: str) -> None:
    _check_400(client.get(f"{path}?since={quote(raw)}"), "since")


@pytest.mark.parametrize("path", ["/opml.xml"])
@pytest.mark.parametrize("raw", ["", "xml", "ATOM", "atom\n", "²"])
def test_a_malformed_format_is_400_naming_format(client: Any, path: str, raw: str) -> None:
    _check_400(client.get(f"{path}?format={quote(raw)}"), "format")


def test_equivalent_deltas_share_one_etag(client: Any) -> None:
    def etag(query: str) -> str:
        response = client.get(f"{CAT}.atom?{query}")
        assert response.status_code == 200, query
        return str(response.headers["ETag"])

    same_instant = ["since=2026-01-05T01:30:00Z", "since=2026-01-05T01:30:00.999999Z",
                    "since=2026-01-05T09:30:00%2B08:00", "since=2026-01-05T09:30:00.5%2B08:00",
                    "since=2026-01-04T21:30:00-04:00", "since=2026-01-05t01:30:00z",
                    "since=2026-01-05T09:30:00+08:00"]  # an unencoded "+" arrives as a space
    assert len({etag(q) for q in same_instant}) == 1
    assert len({etag(q) for q in ["limit=5", "limit=05", "limit=0005"]}) == 1
    assert len({etag(q) for q in ["limit=500", "limit=501", "limit=100000",
                                  "limit=" + "9" * 60]}) == 1
    _check_400(client.get(f"{CAT}.atom?limit={'9' * 5000}"), "limit")  # not a count at all
    assert etag("since=2026-01-05T01:30:01Z") != etag("since=2026-01-05T01:30:00Z")


def test_a_since_within_a_second_still_includes_what_changed_in_it(client: Any) -> None:
    # Read to the second, a since may repeat entries of that second (readers dedupe by
    # id), and never drops one.
    import feedparser

    after = client.get(f"{CAT}.atom?since=2099-01-01T00:00:00.999Z")
    assert feedparser.parse(after.get_data()).entries == []
    everything = client.get(f"{CAT}.atom?since=2000-01-01T00:00:00.999Z")
    assert len(feedparser.parse(everything.get_data()).entries) == 2


# -- hypothesis: any value on any route ------------------------------------------------

_VALUES = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.integers().map(str),
    st.sampled_from(BAD_NUMBERS + ["1", "2", "50", "atom", "rss", "json",
                                   "2026-01-05T01:30:00Z", "NW202601050000000001"]),
    st.builds(lambda y, tz: f"{y:04d}-01-01T00:00:00{tz}", st.integers(1, 9999),
              st.sampled_from(["Z", "+14:00", "-14:00", "+23:59", "", "+08:00"])),
)
_NAMES = st.sampled_from(["page", "limit", "since", "format", "q", "infoCode", "utm_source", "x"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PAGES + FEEDS + OTHER),
       pairs=st.lists(st.tuples(_NAMES, _VALUES), min_size=1, max_size=3))
def test_no_query_value_gives_a_server_error(client: Any, path: str,
                                             pairs: list[tuple[str, str]]) -> None:
    joined = "&".join(f"{quote(n)}={quote(v.encode('utf-8', 'surrogatepass'))}"
                      for n, v in pairs)
    url = f"{path}{'&' if '?' in path else '?'}{joined}"
    response = client.get(url)
    assert response.status_code not in SERVER_ERRORS, url
    if response.status_code == 400:
        body = response.get_data(as_text=True)
        assert any(f"{name}:" in body for name, _ in pairs), (url, body[:300])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=30))
def test_raw_query_bytes_never_give_a_server_error(client: Any, raw: bytes) -> None:
    for path in (f"{CAT}.html", f"{CAT}.atom", "/opml.xml"):
        response = client.get(path, environ_overrides={"QUERY_STRING": raw.decode("latin-1")})
        assert response.status_code in (200, 400, 404), (path, raw)


# -- the shared cache keeps deltas briefly ---------------------------------------------

REDIS_URL = os.environ.get("SYNDICATE_TEST_REDIS_URL")


@pytest.mark.skipif(not REDIS_URL, reason="SYNDICATE_TEST_REDIS_URL is not set (runs in CI)")
def test_deltas_live_briefly_in_redis_and_the_feed_for_a_day(tmp_path: Path) -> None:
    import redis

    from syndicate.cache import REDIS_PREFIX
    from syndicate.feedview import DELTA_TTL

    connection = redis.Redis.from_url(REDIS_URL or "")
    connection.flushdb()
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", REDIS_URL=REDIS_URL)
    core = app.extensions["syndicate"]
    core.save([post(n) for n in range(1, 4)])
    client = app.test_client()
    plain = client.get(f"{CAT}.atom").headers["ETag"].strip('W/"')
    delta = client.get(f"{CAT}.atom?since=2026-01-01T00:00:00Z&limit=2").headers["ETag"].strip('W/"')
    for n in range(20):  # readers' checkpoints: a key per second, none kept long
        for fraction in (".1", ".999999", ""):
            client.get(f"{CAT}.atom?since=2026-01-01T00:00:{n:02d}{fraction}Z")
    assert connection.ttl(REDIS_PREFIX + plain) > 3600
    assert 0 < connection.ttl(REDIS_PREFIX + delta) <= DELTA_TTL
    keys = connection.keys(REDIS_PREFIX + "*")
    assert len(keys) == 1 + 1 + 20  # microseconds do not make new keys: 20 distinct seconds
    assert all(connection.ttl(key) <= DELTA_TTL for key in keys
               if key != (REDIS_PREFIX + plain).encode())
    core.close(wait=0)
    connection.flushdb()


# -- hostile paths ---------------------------------------------------------------------

_PREFIXES = ["/", "/category/", "/tag/", "/s/", "/feed/archive/", "/category/zhongguodianzibao/archive/",
             "/zhongguodianzibao/2026/01/05/", "/sitemap-posts-", "/api/posts/", "/html_News/"]
_SUFFIXES = ["", ".html", ".atom", ".rss", ".json", ".xml", ".svg", "/share", "/"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(_PREFIXES), middle=st.binary(max_size=40) | st.text(max_size=20).map(
    lambda t: t.encode("utf-8", "surrogatepass")), suffix=st.sampled_from(_SUFFIXES),
    method=st.sampled_from(["GET", "HEAD"]))
def test_no_path_gives_a_server_error(client: Any, prefix: str, middle: bytes, suffix: str,
                                      method: str) -> None:
    # WSGI servers hand the undecoded path over as latin-1 text: any byte may arrive.
    raw = (prefix.encode() + middle + suffix.encode()).decode("latin-1")
    response = client.open("/", method=method, environ_overrides={"PATH_INFO": raw})
    assert response.status_code not in SERVER_ERRORS, (raw, response.status_code)


# -- hostile headers on every route --------------------------------------------------------

_HEADERS = st.sampled_from(["If-None-Match", "If-Modified-Since", "Accept-Encoding", "Range",
                            "If-Match", "If-Range", "If-Unmodified-Since", "User-Agent", "DNT",
                            "X-Forwarded-For", "X-Forwarded-Proto", "Accept", "Authorization",
                            "Content-Type"])
_HEADER_VALUES = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"),
            max_size=60),
    st.sampled_from(['W/"0123456789abcdef01234567"', '"x", W/"y", *', "*", "gzip;q=0, *;q=1",
                     "bytes=0-0,1-1", "bytes=-5", "Fri, 31 Dec 9999 23:59:59 GMT",
                     "Mon, 01 Jan 0001 00:00:00 GMT", "Bearer ", "1, 1, 1", "::1, 300.1.1.1"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PAGES + FEEDS + OTHER),
       headers=st.dictionaries(_HEADERS, _HEADER_VALUES, min_size=1, max_size=4),
       method=st.sampled_from(["GET", "HEAD"]))
def test_no_header_value_gives_a_server_error(client: Any, path: str, headers: dict[str, str],
                                              method: str) -> None:
    response = client.open(path, method=method, headers=headers)
    assert response.status_code not in SERVER_ERRORS, (path, headers)
