"""Listing pages scale and cache like feeds: the home page, the category index, category and
tag pages are rendered once per change and answered with validators, gzip and 304s."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from typing import Any

from lxml import html as lxml_html

from .conftest import CST, make_input


def doc_of(response: Any) -> Any:
    assert response.status_code == 200
    return lxml_html.fromstring(response.get_data(as_text=True))


def test_category_index_groups_every_category_by_pinyin_initial(client: Any) -> None:
    doc = doc_of(client.get("/categories.html"))
    groups = {h.text: [a.text for a in h.xpath("following-sibling::ul[1]/li/a[1]")]
              for h in doc.xpath("//section[@class='index']/h2")}
    assert groups == {"C": ["财联社新闻"], "D": ["东财滚动新闻"], "Z": ["中国电子报新闻"]}
    feeds = doc.xpath("(//ul[@class='categories']/li)[1]/span[@class='feeds']/a/@href")
    assert feeds == ["/category/cailianshe.atom", "/category/cailianshe.rss",
                     "/category/cailianshe.json"]
    assert doc.xpath("//nav[@class='initials']/a/@href") == [
        "#initial-C", "#initial-D", "#initial-Z"]


def test_home_shows_a_bounded_number_of_categories_however_many_there_are(core: Any,
                                                                         client: Any) -> None:
    start = datetime(2026, 2, 1, 8, 0, tzinfo=CST)
    core.save([make_input(f"NW2026020100000{n:05d}", title=f"媒体{n}的新闻",
                          published=start + timedelta(minutes=n), category_slug=f"meiti{n:03d}",
                          category_name=f"媒体{n}", tags=(f"媒体{n}新闻",), source=f"媒体{n}")
               for n in range(60)])
    doc = doc_of(client.get("/"))
    assert len(doc.xpath("//section[@class='latest']//li")) == 30
    assert len(doc.xpath("//section[@class='active']")) == 12
    assert len(doc_of(client.get("/categories.html")).xpath("//ul[@class='categories']/li")) == 63


def test_a_listing_answers_304_and_gzip_until_its_own_feed_changes(core: Any, client: Any) -> None:
    first = client.get("/category/cailianshe.html")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    assert "Accept-Encoding" in first.headers["Vary"]
    again = client.get("/category/cailianshe.html", headers={"If-None-Match": etag})
    assert again.status_code == 304
    zipped = client.get("/category/cailianshe.html", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == first.data
    # A post elsewhere changes the home page but not this category's page.
    home = client.get("/").headers["ETag"]
    core.save([make_input("NW202601070000000009", title="另一家媒体的新闻",
                          published=datetime(2026, 1, 7, 9, 0, tzinfo=CST))])
    assert client.get("/category/cailianshe.html",
                      headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/", headers={"If-None-Match": home}).status_code == 200
    # A post in it changes it, and the new post is listed at once.
    core.save([make_input("NW202601070000000010", title="财联社最新快讯",
                          published=datetime(2026, 1, 7, 10, 0, tzinfo=CST),
                          category_slug="cailianshe", category_name="财联社",
                          tags=("财联社新闻",), source="财联社")])
    changed = client.get("/category/cailianshe.html", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert "财联社最新快讯" in changed.get_data(as_text=True)


def test_a_new_category_changes_the_index(core: Any, client: Any) -> None:
    etag = client.get("/categories.html").headers["ETag"]
    core.save([make_input("NW202601070000000011", category_slug="xinhuashe",
                          category_name="新华社", tags=("新华社新闻",), source="新华社")])
    response = client.get("/categories.html", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert "新华社新闻" in response.get_data(as_text=True)


def test_pages_past_the_last_and_unknown_listings_are_404(client: Any) -> None:
    assert client.get("/category/cailianshe.html?page=2").status_code == 404
    assert client.get("/category/nosuchmedia.html").status_code == 404
    assert client.get("/tag/%E6%97%A0.html").status_code == 404
    # A 404 is never cached as the page: the real page still answers.
    assert client.get("/category/cailianshe.html").status_code == 200
