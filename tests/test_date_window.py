"""Publish dates outside 1990 .. FUTURE_LEAD ahead are refused per item on every ingest path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from syndicate import create_app
from syndicate.core import Syndicate
from syndicate.errors import InvalidPost
from syndicate.ingest.admit import DateWindow
from syndicate.ingest.poll import Status
from syndicate.ingest.post import parse_datetime
from syndicate.settings import load_settings

from . import upstream as fixtures
from .upstream import Entry, json_feed, poller, rss, sources

server, upstream, site = fixtures.server, fixtures.upstream, fixtures.site

TZ = ZoneInfo("Asia/Shanghai")
FAR_DATES = ["9999-12-31T23:59:59-14:00", "9999-12-31 23:59:59", "9999-12-31T20:00:00Z",
             "Fri, 31 Dec 9999 20:00:00 GMT", "1989-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00",
             "1900-01-01 00:00:00"]
HUGE_EPOCHS = [10**20, 2**63, -(10**15), 253402300800, 253402300800000, 1e308]


def soon(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


# --- the window ------------------------------------------------------------------------


@pytest.mark.parametrize("text", FAR_DATES)
def test_far_dates_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidPost, match=r"published date .* (before 1990-01-01|in the future)") as caught:
        DateWindow().check(parse_datetime(text, TZ))
    assert caught.value.field == "published"


def test_the_lead_is_the_setting(tmp_path: Path) -> None:
    lead = load_settings({"FUTURE_LEAD": "1h"}, environ={}, instance_path=tmp_path).future_lead
    assert lead == timedelta(hours=1)
    assert load_settings({}, environ={}, instance_path=tmp_path).future_lead == timedelta(days=2)
    env = load_settings({}, environ={"SYNDICATE_FUTURE_LEAD": "6h"}, instance_path=tmp_path)
    assert env.future_lead == timedelta(hours=6)
    DateWindow(timedelta(days=2)).check(parse_datetime(soon(30), TZ))
    with pytest.raises(InvalidPost, match="more than 1 hours in the future"):
        DateWindow(lead).check(parse_datetime(soon(3), TZ))


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=True),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.tuples(st.integers(1, 9999), st.integers(-23, 23), st.integers(0, 59)).map(
        lambda t: f"{t[0]:04d}-12-31T23:59:59{t[1]:+03d}:{t[2]:02d}"),
    st.text(max_size=40)))
def test_any_date_value_is_read_or_refused_never_overflows(value: Any) -> None:
    try:
        when = parse_datetime(value, TZ)
    except ValueError:
        return
    try:
        DateWindow().check(when)
    except InvalidPost as error:
        assert error.field == "published"


# --- Jekyll import -----------------------------------------------------------------------


def post_file(folder: Path, name: str, date: str) -> Path:
    path = folder / name
    path.write_text(f"---\ntitle: 标题{name}\ndate: {date}\ncategories: cailianshe\n"
                    f"tags: [财联社新闻]\n---\n<p>正文。</p>\n", "utf-8")
    return path


def test_an_import_fails_the_file_with_its_reason_and_keeps_the_rest(site: Syndicate,
                                                                      tmp_path: Path) -> None:
    post_file(tmp_path, "2026-03-09-NW202603090000000001.md", "2026-03-09 10:00:00 +0800")
    post_file(tmp_path, "2026-03-09-NW202603090000000002.md", "9999-12-31 23:59:59 -14:00")
    post_file(tmp_path, "1900-01-01-NW190001010000000003.md", " +0800")
    report = site.import_paths([tmp_path])
    assert report.summary() == "1 new, 0 updated, 0 unchanged, 0 merged, 2 failed"
    reasons = dict(report.failures)
    assert "published date 9999-12-31T23:59:59-14:00 is more than 2 days in the future" in \
        reasons[str(tmp_path / "2026-03-09-NW202603090000000002.md")]
    assert "before 1990-01-01" in reasons[str(tmp_path / "1900-01-01-NW190001010000000003.md")]
    assert [p.id for p in site.store.latest(10)] == ["NW202603090000000001"]


# --- polled feeds and JSON APIs --------------------------------------------------------


def test_a_far_future_rss_item_is_skipped_and_the_batch_saved(upstream: HTTPServer,
                                                               site: Syndicate,
                                                               tmp_path: Path) -> None:
    data = rss("财联社", [Entry("https://up.example.com/1", "好新闻", "<p>正文。</p>"),
                          Entry("https://up.example.com/2", "远未来", "<p>正文。</p>")])
    # The second item is dated in year 9999 (year 10000 in the site time zone).
    head, _, tail = data.rpartition(b"<pubDate>Mon, 09 Mar 2026 10:00:00 +0800</pubDate>")
    data = head + b"<pubDate>Fri, 31 Dec 9999 20:00:00 GMT</pubDate>" + tail
    upstream.expect_request("/rss").respond_with_data(data, content_type="application/rss+xml")
    result = poller(site, sources({"name": "cls", "kind": "feed", "url": upstream.url_for("/rss"),
                                   "every": "5m"})).poll()[0]
    assert result.status is Status.OK and result.new == 1, result
    assert len(result.item_errors) == 1 and "published date" in result.item_errors[0]
    assert "1 bad items" in result.line()
    client = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path, "STORE": site.store,
                         "BASE_URL": "https://news.example.com"}).test_client()
    for url in ("/", "/feed.xml", "/category/cailianshe.html", "/sitemap-news.xml"):
        assert client.get(url).status_code == 200, url
    assert [e.title for e in feedparser.parse(client.get("/feed.xml").data).entries] == ["好新闻"]


def test_json_feed_offsets_at_the_end_of_time_do_not_fail_the_batch(upstream: HTTPServer,
                                                                     site: Syndicate) -> None:
    entries = [Entry(f"https://up.example.com/{n}", f"新闻{n}", "<p>正文。</p>", date)
               for n, date in enumerate(["2026-03-09T10:00:00+08:00", *FAR_DATES])]
    upstream.expect_request("/feed.json").respond_with_data(
        json_feed("财联社", entries), content_type="application/feed+json")
    result = poller(site, sources({"name": "cls", "kind": "feed",
                                   "url": upstream.url_for("/feed.json"), "every": "5m"})).poll()[0]
    assert result.status is Status.OK and result.new == 1, result
    assert len(result.item_errors) == len(FAR_DATES)
    assert all("published date" in error for error in result.item_errors), result.item_errors


def test_json_api_huge_epochs_are_skipped_items(upstream: HTTPServer, site: Syndicate) -> None:
    records = [{"code": "NW202603090000000001", "t": "好新闻", "d": 1773021600, "m": "财联社"}]
    records += [{"code": f"NW20260309000000010{n}", "t": f"坏{n}", "d": epoch, "m": "财联社"}
                for n, epoch in enumerate(HUGE_EPOCHS)]
    upstream.expect_request("/list").respond_with_data(json.dumps({"data": records}),
                                                       content_type="application/json")
    result = poller(site, sources({"name": "em", "kind": "json", "url": upstream.url_for("/list"),
                                   "every": "5m", "items": "data",
                                   "fields": {"id": "code", "title": "t", "date": "d",
                                              "media": "m"}})).poll()[0]
    assert result.status is Status.OK and result.new == 1, result
    assert len(result.item_errors) == len(HUGE_EPOCHS), result.item_errors
    assert [p.title for p in site.store.latest(10)] == ["好新闻"]


# --- the publish API -------------------------------------------------------------------

TOKEN = "s3cret"


@pytest.fixture
def api(tmp_path: Path) -> Any:
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
                      "BASE_URL": "https://news.example.com", "API_TOKENS": TOKEN})
    app.extensions["syndicate"].init()
    yield app
    app.extensions["syndicate"].store.dispose()


@pytest.mark.parametrize("date", [*FAR_DATES, "100000000000000000000", "99999999999999",
                                  "253402300800"])
def test_the_api_answers_400_naming_the_date_before_saving(api: Any, date: str) -> None:
    client = api.test_client()
    response = client.post("/api/posts", headers={"Authorization": f"Bearer {TOKEN}"}, json={
        "id": "NW202603090000000001", "title": "标题", "date": date, "media": "财联社",
        "html": "<p>正文。</p>"})
    assert response.status_code == 400, response.json
    assert set(response.json["fields"]) == {"date"}
    assert client.get("/api/posts/NW202603090000000001").status_code == 404
    assert api.extensions["syndicate"].store.latest(5) == []


@pytest.mark.parametrize("date", ["2026-01-01 10:00:00 +9999", " +2400", "2026-01-01 10:00 -24:00",
                                  "2026-01-01 10:00:00 +0860"])
def test_an_impossible_offset_fails_its_file_not_the_import(site: Syndicate, tmp_path: Path,
                                                            date: str) -> None:
    post_file(tmp_path, "2026-03-09-NW202603090000000001.md", "2026-03-09 10:00:00 +0800")
    post_file(tmp_path, "2026-03-09-NW202603090000000002.md", date)
    report = site.import_paths([tmp_path])
    assert report.summary() == "1 new, 0 updated, 0 unchanged, 0 merged, 1 failed"
    assert "is not a UTC offset" in report.failures[0][1]


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.builds("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:00 {}{:02d}{}{:02d}".format,
              st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
              st.integers(0, 60), st.sampled_from("+-"), st.integers(0, 99),
              st.sampled_from(["", ":"]), st.integers(0, 99)),
    st.text(alphabet="0123456789-+: TZ", max_size=30)))
def test_any_front_matter_date_is_read_or_refused_naming_the_date(date: str) -> None:
    from syndicate.ingest.jekyll import parse_post

    text = f"---\ntitle: 标题\ndate: '{date}'\ncategories: cailianshe\n---\n<p>正文。</p>\n"
    try:
        post = parse_post(text, filename="2026-03-09-NW202603090000000001.md", tz=TZ)
        DateWindow().check(post.published)
    except InvalidPost as error:
        assert error.field in ("date", "published", "front matter"), error
