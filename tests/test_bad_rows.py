"""No stored row, whatever it holds, takes down a page or feed that lists it (SQLite and PostgreSQL).

Bad rows are written straight through the Store, past the ingest checks, as rows stored
before those checks existed would be.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import feedparser
import pytest
from lxml import etree

from syndicate.web.export import export_site

from .conftest import CST, SITE_POSTS, make_input

GOOD_TITLE = "沪指震荡收涨 成交额放大"
BAD_POSTS = [
    # Year 10000 in Asia/Shanghai: overflows wherever it is shown in the site time zone.
    make_input("NW999912310000000001", title="远未来的新闻",
               published=datetime(9999, 12, 31, 20, 0, tzinfo=UTC)),
    make_input("NW999912310000000002", title="远未来的新闻二",
               published=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
               tags=("中国电子报新闻", "远未来")),
    make_input("NW000101010000000003", title="公元一年的新闻",
               published=datetime(1, 1, 1, tzinfo=UTC)),
    make_input("NW202601070000000004", title="   ", published=datetime(2026, 1, 7, tzinfo=CST)),
    make_input("NW202601070000000005", title="\x01\x02\x0b", published=datetime(2026, 1, 7, tzinfo=CST)),
    make_input("NW202601070000000006", title="坏分类", category_slug="Bad Slug/..",
               category_name="坏分类", tags=("坏分类新闻",),
               published=datetime(2026, 1, 7, 1, tzinfo=CST)),
    make_input("NW202601070000000007", title="None", source=None, url=None, summary="",
               html="", tags=(), published=datetime(2026, 1, 7, 2, tzinfo=CST)),
]
BAD_TITLES = ["远未来的新闻", "远未来的新闻二", "坏分类"]


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Any:
    from syndicate import create_app

    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path, "DATABASE_URL": database_url,
                      "BASE_URL": "https://news.example.com", "ARCHIVE_SIZE": 2})
    core = app.extensions["syndicate"]
    core.init()
    core.save(SITE_POSTS)
    core.store.save_posts(BAD_POSTS)
    yield app
    core.close(wait=0)


def listing_urls() -> list[str]:
    tag = quote("中国电子报新闻")
    feeds = [f"{base}.{ext}" for base in ("/category/zhongguodianzibao", f"/tag/{tag}",
                                          f"/tag/{quote('远未来')}", "/category/cailianshe")
             for ext in ("atom", "rss", "json")]
    archives = [f"/feed/archive/{n}.{ext}" for n in (1, 2, 3, 4, 5, 6) for ext in ("atom", "rss", "json")]
    return ["/", "/category/zhongguodianzibao.html", "/category/cailianshe.html",
            f"/tag/{tag}.html", "/feed.xml", "/feed.rss", "/feed.json", *feeds, *archives,
            "/sitemap.xml", "/sitemap-pages.xml", "/sitemap-posts-1.xml", "/sitemap-news.xml",
            "/opml.xml"]


def test_every_listing_answers_200_with_the_good_entries(site: Any) -> None:
    client = site.test_client()
    for url in listing_urls():
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        if url.endswith((".atom", ".rss", ".xml")) and "sitemap" not in url and "opml" not in url:
            parsed = feedparser.parse(response.data)
            assert parsed.bozo == 0, (url, parsed.get("bozo_exception"))
            assert not any(e.title in BAD_TITLES for e in parsed.entries), url
        elif url.endswith(".json"):
            items = json.loads(text)["items"]
            assert all(item["title"].strip() for item in items), url
        elif url.endswith(".xml"):
            etree.fromstring(response.data)
    home = client.get("/").get_data(as_text=True)
    assert GOOD_TITLE in home and "远未来的新闻" not in home
    feed = feedparser.parse(client.get("/feed.xml").data)
    assert {e.title for e in feed.entries} >= {p.title for p in SITE_POSTS}


def test_the_news_sitemap_skips_the_far_future_rows(site: Any) -> None:
    client = site.test_client()
    body = client.get("/sitemap-news.xml").get_data(as_text=True)
    assert "NW9999123100000000" not in body


def test_a_bad_rows_own_page_and_links_are_404_not_500(site: Any) -> None:
    client = site.test_client()
    response = client.get("/zhongguodianzibao/9999/12/31/NW999912310000000001.html")
    assert response.status_code == 404
    code = site.extensions["syndicate"].store.get_post("NW999912310000000001").share_code
    for url in (f"/s/{code}", "/html_News/NewsShare.html?infoCode=NW999912310000000001",
                "/api/posts/NW999912310000000001"):
        assert client.get(url).status_code == 404, url


def test_the_static_export_skips_bad_rows_and_writes_the_rest(database_url: str,
                                                               tmp_path: Path,
                                                               site: Any) -> None:
    from syndicate import create_app

    app = create_app({"INSTANCE_PATH": tmp_path, "DATABASE_URL": database_url,
                      "BASE_URL": "https://news.example.com", "ARCHIVE_SIZE": 2,
                      "STATIC_EXPORT": True})
    try:
        report = export_site(app, tmp_path / "out")
    finally:
        app.extensions["syndicate"].store.dispose()
    assert report.files["posts"] >= len(SITE_POSTS)
    assert (tmp_path / "out" / "zhongguodianzibao/2026/01/05/NW202601050000000001.html").is_file()
    feed = feedparser.parse((tmp_path / "out" / "feed.xml").read_bytes())
    assert feed.bozo == 0 and len(feed.entries) >= len(SITE_POSTS)


def test_a_listing_of_only_bad_rows_is_still_served(site: Any) -> None:
    client = site.test_client()
    response = client.get(f"/tag/{quote('远未来')}.atom")
    assert response.status_code == 200
    assert feedparser.parse(response.data).entries == []
