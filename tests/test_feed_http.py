"""Feed endpoints as a feed reader sees them: every feed valid, validators and 304s."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import feedparser
import pytest
from lxml import etree

FEEDS = [
    ("/category/zhongguodianzibao.atom", "application/atom+xml"),
    ("/category/zhongguodianzibao.rss", "application/rss+xml"),
    ("/category/zhongguodianzibao.json", "application/feed+json"),
    ("/tag/%E5%B7%A5%E4%B8%9A%E4%BA%92%E8%81%94%E7%BD%91.atom", "application/atom+xml"),
    ("/tag/%E5%B7%A5%E4%B8%9A%E4%BA%92%E8%81%94%E7%BD%91.rss", "application/rss+xml"),
    ("/tag/%E5%B7%A5%E4%B8%9A%E4%BA%92%E8%81%94%E7%BD%91.json", "application/feed+json"),
    ("/feed.xml", "application/atom+xml"),
    ("/feed.rss", "application/rss+xml"),
    ("/feed.json", "application/feed+json"),
]


@pytest.mark.parametrize(("url", "media_type"), FEEDS)
def test_every_feed_is_valid(client: Any, url: str, media_type: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == media_type
    assert response.mimetype_params == {"charset": "utf-8"}
    assert "Set-Cookie" not in response.headers
    body = response.get_data()
    if media_type.endswith("json"):
        # feedparser 6.0 does not read JSON Feed: check the spec's required members instead
        data = json.loads(body)
        assert data["version"] == "https://jsonfeed.org/version/1.1"
        assert data["title"] and data["feed_url"].startswith("https://news.example.com/")
        assert data["items"] and all(i["id"] and i["content_html"] for i in data["items"])
        return
    etree.fromstring(body)  # strict: raises on any XML error
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.entries


def test_site_feed_has_every_post_newest_first_with_footers(client: Any) -> None:
    parsed = feedparser.parse(client.get("/feed.xml").get_data())
    assert [e.title for e in parsed.entries] == [
        "沪指震荡收涨 成交额放大", "央行开展逆回购操作", "工业互联网平台应用案例发布",
        "国产芯片企业加快扩产 产业链协同提速"]
    for entry in parsed.entries:
        assert '<p class="em_media">（文章来源：' in entry.content[0].value
    assert parsed.entries[-1].link == (
        "https://news.example.com/zhongguodianzibao/2026/01/05/NW202601050000000001.html")
    # relative URLs in bodies become absolute in feeds
    assert 'src="https://news.example.com/images/chip.png"' in parsed.entries[-1].content[0].value


def test_conditional_get_and_head(client: Any, core: Any) -> None:
    from werkzeug.http import http_date

    url = "/category/zhongguodianzibao.atom"
    first = client.get(url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.headers["Cache-Control"] == "public, max-age=300"
    assert "Accept-Encoding" in first.headers["Vary"]
    # The time the feed last changed (its posts were stored), not the newest pubDate, not now.
    changed = core.store.feed_state("category/zhongguodianzibao").changed
    assert modified == http_date(changed) != "Mon, 05 Jan 2026 03:00:00 GMT"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": "Sun, 04 Jan 2026 00:00:00 GMT"}).status_code == 200
    head = client.head(url)
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["ETag"] == etag


def test_a_post_in_one_category_leaves_other_feeds_alone(client: Any, core: Any) -> None:
    from .conftest import CST, make_input

    before = client.get("/category/cailianshe.rss").headers["ETag"]
    core.save([make_input("NW202601070000000009", title="新的一篇",
                                published=datetime(2026, 1, 7, 8, 0, tzinfo=CST))])
    assert client.get("/category/cailianshe.rss").headers["ETag"] == before
    parsed = feedparser.parse(client.get("/category/zhongguodianzibao.rss").get_data())
    assert parsed.entries[0].title == "新的一篇"
