"""Discovery: OPML, sitemaps (an index past the URL limit), the news sitemap, robots.txt, <link>s."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import listparser
import pytest
from lxml import etree

from syndicate import discovery

from .feedtools import BASE, make_app, post

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
CATEGORIES = {"zhongguodianzibao": "中国电子报", "cailianshe": "财联社", "zhengquanshibao": "证券时报"}


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Any:
    app = make_app(tmp_path, database_url)
    core = app.extensions["syndicate"]
    core.save([post(n, slug, name) for n, (slug, name) in enumerate(CATEGORIES.items(), 1)]
              + [post(10, tags=("芯片",))])
    yield app
    core.store.dispose()



def test_opml_lists_every_category_with_its_three_feeds(client: Any) -> None:
    response = client.get("/opml.xml")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/x-opml; charset=utf-8"
    etree.fromstring(response.get_data())
    parsed = listparser.parse(response.get_data())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "opml2"
    urls = {feed.url for feed in parsed.feeds}
    for slug, name in CATEGORIES.items():
        for ext in ("atom", "rss", "json"):
            assert f"{BASE}/category/{slug}.{ext}" in urls
        assert [name] in [c for feed in parsed.feeds for c in feed.categories]
        assert any(feed.title.startswith(name) for feed in parsed.feeds)
    again = client.get("/opml.xml", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_opml_in_one_format_is_flat_for_importing(client: Any) -> None:
    parsed = listparser.parse(client.get("/opml.xml?format=rss").get_data())
    assert {feed.title for feed in parsed.feeds} == set(CATEGORIES.values())
    assert all(feed.url.endswith(".rss") for feed in parsed.feeds)
    assert client.get("/opml.xml?format=pdf").status_code == 400


def locs(body: bytes, tag: str = "url") -> list[str]:
    return [el.text for el in etree.fromstring(body).iter(f"{SM}loc")
            if el.getparent().tag == f"{SM}{tag}"]


def test_sitemap_lists_home_categories_and_posts(client: Any) -> None:
    body = client.get("/sitemap.xml").get_data()
    assert etree.fromstring(body).tag == f"{SM}urlset"
    found = locs(body)
    assert f"{BASE}/" in found
    assert f"{BASE}/category/cailianshe.html" in found
    assert f"{BASE}/zhongguodianzibao/2026/01/01/NW202601010000000010.html" in found
    assert len(found) == 1 + 3 + 4


def test_sitemap_becomes_an_index_past_the_limit(client: Any, core: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "SITEMAP_LIMIT", 3)
    core.save([post(n) for n in range(20, 26)])  # 10 posts
    index = client.get("/sitemap.xml").get_data()
    assert etree.fromstring(index).tag == f"{SM}sitemapindex"
    parts = locs(index, "sitemap")
    assert parts[0] == f"{BASE}/sitemap-pages.xml"
    assert len(parts) == 1 + 4  # ceil(10 / 3) post parts
    every: list[str] = []
    for part in parts:
        response = client.get(part.removeprefix(BASE))
        assert response.status_code == 200
        every += locs(response.get_data())
    assert len([u for u in every if u.endswith("0.html") or re.search(r"\d{5}\.html$", u)]) == 10
    assert len(set(every)) == len(every) == 1 + 3 + 10
    assert client.get("/sitemap-posts-5.xml").status_code == 404


def test_a_new_post_changes_only_the_sitemap_part_that_lists_it(
        client: Any, core: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "SITEMAP_LIMIT", 3)
    core.save([post(n) for n in range(20, 25)])  # 9 posts: three full parts
    tags = {n: client.get(f"/sitemap-posts-{n}.xml").headers["ETag"] for n in (1, 2, 3)}
    opml = client.get("/opml.xml").headers["ETag"]
    core.save([post(30)])  # joins a fourth part, in a category the OPML already lists
    for n in (1, 2, 3):
        again = client.get(f"/sitemap-posts-{n}.xml", headers={"If-None-Match": tags[n]})
        assert again.status_code == 304, n
    assert client.get("/sitemap-posts-4.xml").status_code == 200
    assert client.get("/opml.xml", headers={"If-None-Match": opml}).status_code == 304
    # An edit to a listed post changes its part (its lastmod), and only that part.
    core.save([post(20, title="第20条新闻（更正）")])
    changed = [n for n in (1, 2, 3)
               if client.get(f"/sitemap-posts-{n}.xml",
                             headers={"If-None-Match": tags[n]}).status_code == 200]
    assert len(changed) == 1
    # A new category changes the OPML.
    core.save([post(31, "xinhuashe", "新华社")])
    response = client.get("/opml.xml", headers={"If-None-Match": opml})
    assert response.status_code == 200
    assert "新华社" in response.get_data(as_text=True)


def test_news_sitemap_holds_the_last_48_hours(client: Any, core: Any) -> None:
    now = datetime.now(UTC)
    core.save([post(30, title="刚刚发布", published=now - timedelta(hours=1)),
               post(31, title="三天前", published=now - timedelta(hours=72))])
    body = client.get("/sitemap-news.xml").get_data()
    root = etree.fromstring(body)
    titles = [el.text for el in root.iter(f"{NEWS}title")]
    assert titles == ["刚刚发布"]
    assert [el.text for el in root.iter(f"{NEWS}name")] == ["金融消息"]
    assert [el.text for el in root.iter(f"{NEWS}language")] == ["zh-cn"]


def test_robots_points_to_the_sitemaps(client: Any) -> None:
    text = client.get("/robots.txt").get_data(as_text=True)
    assert f"Sitemap: {BASE}/sitemap.xml" in text
    assert f"Sitemap: {BASE}/sitemap-news.xml" in text


def alternates(client: Any, path: str) -> set[str]:
    html = client.get(path).get_data(as_text=True)
    return set(re.findall(r'<link rel="alternate" type="[^"]+" title="[^"]*" href="([^"]+)"', html))


def test_every_page_advertises_the_feeds_it_belongs_to(client: Any) -> None:
    site = {f"{BASE}/feed.xml", f"{BASE}/feed.rss", f"{BASE}/feed.json"}
    assert alternates(client, "/") == site
    category = {f"{BASE}/category/cailianshe.{e}" for e in ("atom", "rss", "json")}
    assert alternates(client, "/category/cailianshe.html") == category | site
    chip = {f"{BASE}/tag/%E8%8A%AF%E7%89%87.{e}" for e in ("atom", "rss", "json")}
    assert alternates(client, "/tag/%E8%8A%AF%E7%89%87.html") == chip | site
    page = alternates(client, "/zhongguodianzibao/2026/01/01/NW202601010000000010.html")
    assert chip <= page and site <= page
    assert {f"{BASE}/category/zhongguodianzibao.{e}" for e in ("atom", "rss", "json")} <= page
    assert site <= alternates(client, "/category/nosuch.html")
