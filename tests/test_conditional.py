"""Conditional GET per feed: validators from each feed's own version, checked before rendering."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.http import http_date

from .feedtools import make_app, post

CAT = "/category/zhongguodianzibao.atom"
FEEDS = [CAT, "/category/zhongguodianzibao.rss", "/category/zhongguodianzibao.json",
         "/category/cailianshe.atom", "/category/cailianshe.rss", "/category/cailianshe.json",
         "/tag/%E8%B4%A2%E8%81%94%E7%A4%BE%E6%96%B0%E9%97%BB.rss", "/feed.xml", "/feed.rss",
         "/feed.json"]


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Any:
    app = make_app(tmp_path, database_url)
    core = app.extensions["syndicate"]
    core.save([post(1), post(2), post(3, "cailianshe", "财联社")])
    yield app
    core.store.dispose()



def etags(client: Any) -> dict[str, str]:
    return {url: client.get(url).headers["ETag"] for url in FEEDS}


def test_a_post_changes_exactly_the_feeds_it_appears_in(client: Any, core: Any) -> None:
    before = etags(client)
    core.save([post(4, "cailianshe", "财联社")])
    after = etags(client)
    changed = {url for url in FEEDS if before[url] != after[url]}
    assert changed == {u for u in FEEDS if "cailianshe" in u or "%E8%B4%A2" in u or "/feed." in u}
    # a re-import of the same text changes nothing
    core.save([post(4, "cailianshe", "财联社")])
    assert etags(client) == after


def test_validators_and_headers_of_a_200_and_its_304(client: Any, core: Any) -> None:
    first = client.get(CAT)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    state = core.store.feed_state("category/zhongguodianzibao")
    assert first.headers["Last-Modified"] == http_date(state.changed)
    assert first.headers["Cache-Control"] == "public, max-age=300"
    assert first.headers["Vary"] == "Accept-Encoding"
    assert first.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert "Set-Cookie" not in first.headers
    again = client.get(CAT, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    for name in ("ETag", "Cache-Control", "Vary"):
        assert again.headers[name] == first.headers[name]
    assert "Set-Cookie" not in again.headers


def test_if_none_match_wins_over_if_modified_since(client: Any) -> None:
    first = client.get(CAT)
    modified = first.headers["Last-Modified"]
    stale = client.get(CAT, headers={"If-None-Match": 'W/"old"', "If-Modified-Since": modified})
    assert stale.status_code == 200
    both = client.get(CAT, headers={"If-None-Match": first.headers["ETag"],
                                    "If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
    assert both.status_code == 304
    listed = client.get(CAT, headers={"If-None-Match": f'"x", {first.headers["ETag"]}'})
    assert listed.status_code == 304


def test_if_modified_since_is_compared_as_a_date(client: Any, core: Any) -> None:
    changed = core.store.feed_state("category/zhongguodianzibao").changed.replace(microsecond=0)
    for header in (http_date(changed),
                   changed.strftime("%A, %d-%b-%y %H:%M:%S GMT"),  # RFC 850
                   changed.strftime("%a %b %d %H:%M:%S %Y"),  # asctime
                   http_date(changed + timedelta(hours=1))):
        assert client.get(CAT, headers={"If-Modified-Since": header}).status_code == 304, header
    earlier = http_date(changed - timedelta(seconds=1))
    assert client.get(CAT, headers={"If-Modified-Since": earlier}).status_code == 200


def test_last_modified_is_the_last_change_not_the_newest_pubdate(client: Any, core: Any) -> None:
    """A back-dated post still moves Last-Modified forward, so If-Modified-Since sees it."""
    modified = client.get(CAT).headers["Last-Modified"]
    core.save([post(9, day=1, published=datetime(2020, 1, 1, tzinfo=UTC))])
    response = client.get(CAT, headers={"If-Modified-Since": modified})
    assert response.status_code == 200
    assert response.headers["Last-Modified"] != modified
    assert "2020" not in response.headers["Last-Modified"]


def test_changes_within_one_second_still_move_last_modified(core: Any) -> None:
    when = datetime(2026, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    seen = []
    for n in range(3):
        core.store.save_posts([post(20 + n)], now=when)
        seen.append(http_date(core.store.feed_state("category/zhongguodianzibao").changed))
    assert len(set(seen)) == 3


def test_head_is_get_without_a_body(client: Any) -> None:
    get, head = client.get(CAT), client.head(CAT)
    assert head.status_code == 200 and head.get_data() == b""
    for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Cache-Control", "Vary"):
        assert head.headers[name] == get.headers[name]
    assert client.head(CAT, headers={"If-None-Match": get.headers["ETag"]}).status_code == 304


def test_gzip_once_per_version_with_one_etag(client: Any, core: Any) -> None:
    plain = client.get(CAT)
    zipped = client.get(CAT, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    assert zipped.headers["ETag"] == plain.headers["ETag"]
    assert int(zipped.headers["Content-Length"]) == len(zipped.get_data())
    refused = client.get(CAT, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    assert client.get(CAT, headers={"If-None-Match": zipped.headers["ETag"]}).status_code == 304
    assert client.get(CAT, headers={"Accept-Encoding": "*"}).headers["Content-Encoding"] == "gzip"


def test_rendered_once_per_version_and_never_for_a_304(client: Any, core: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cache = core.feeds.cache
    etag = client.get(CAT).headers["ETag"]
    renders = cache.renders
    for _ in range(3):
        client.get(CAT)
        client.get(CAT, headers={"Accept-Encoding": "gzip"})
    assert cache.renders == renders

    def no_queries(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a 304 must not query posts")

    cache.clear()
    monkeypatch.setattr(core.store, "feed_latest", no_queries)
    monkeypatch.setattr(core.store, "category", no_queries)
    assert client.get(CAT, headers={"If-None-Match": etag}).status_code == 304
    assert cache.renders == renders


def test_errors_are_real_status_codes(client: Any) -> None:
    assert client.get("/category/nosuchcategory.atom").status_code == 404
    assert client.get("/tag/nosuchtag.rss").status_code == 404
    assert client.get(CAT + "?limit=0").status_code == 400
    # Past the most a delta gives, a limit is clamped: one document, one ETag.
    assert client.get(CAT + "?limit=100000").headers["ETag"] == \
        client.get(CAT + "?limit=500").headers["ETag"]
    assert client.get(CAT + "?since=2026-01-01T00:00:00").status_code == 400  # no offset
    assert client.get(CAT + "?since=NW209901010000000000").status_code == 400
    assert client.post(CAT).status_code == 405


def test_legacy_slug_feed_redirects(client: Any, core: Any) -> None:
    core.save([post(5, "techweb", "TechWeb")])
    response = client.get("/category/TechWeb.rss")
    assert response.status_code == 301
    assert response.headers["Location"] == "https://news.example.com/category/techweb.rss"


def test_delta_polling_with_since_and_limit(client: Any, core: Any) -> None:
    import feedparser

    def titles(url: str) -> list[str]:
        response = client.get(url)
        assert response.status_code == 200, url
        return [e.title for e in feedparser.parse(response.get_data()).entries]

    assert titles(CAT) == ["第2条新闻", "第1条新闻"]
    assert titles(CAT + "?limit=1") == ["第2条新闻"]
    first_id = "NW202601010000000001"
    assert titles(f"{CAT}?since={first_id}") == ["第2条新闻"]
    assert titles(f"{CAT}?since=202601010000000001") == ["第2条新闻"]  # either infoCode form
    # A since is read to the second (so that readers' checkpoints share cache entries),
    # which may include entries from within that second: start the checkpoint on the next.
    checkpoint = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(max(0.0, (checkpoint - datetime.now(UTC)).total_seconds()))
    assert titles(CAT + "?since=" + checkpoint.isoformat().replace("+00:00", "Z")) == []
    core.save([post(6)])
    since = checkpoint.isoformat()
    assert titles(CAT + "?since=" + since.replace("+", "%2B")) == ["第6条新闻"]
    assert client.get(CAT + "?since=" + since.replace("+", "%2B")).headers["ETag"] != \
        client.get(CAT).headers["ETag"]


def test_a_pruned_entry_changes_its_feeds(client: Any, core: Any) -> None:
    from .conftest import CST

    before = client.get(CAT)
    other = client.get("/category/cailianshe.atom").headers["ETag"]
    deleted = core.prune(timedelta(days=1), now=datetime(2026, 1, 2, 8, 1, 30, tzinfo=CST))
    assert deleted == 1
    after = client.get(CAT, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert "第1条新闻" not in after.get_data(as_text=True)
    assert client.get("/category/cailianshe.atom").headers["ETag"] == other
