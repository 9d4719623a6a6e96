"""RFC 5005 archives: full pages never change, and subscription + archives hold every entry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree

from .feedtools import BASE, make_app, post

FH = "http://purl.org/syndication/history/1.0"
ATOM = "http://www.w3.org/2005/Atom"


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Any:
    app = make_app(tmp_path, database_url, FEED_SIZE=4, ARCHIVE_SIZE=3)
    core = app.extensions["syndicate"]
    core.save([post(n) for n in range(1, 9)])  # 8 entries: pages 1-2 full, page 3 filling
    yield app
    core.store.dispose()



def links(body: bytes) -> dict[str, str]:
    root = etree.fromstring(body)
    found = root.findall(f"{{{ATOM}}}link") or root.findall(f"channel/{{{ATOM}}}link")
    return {link.get("rel"): link.get("href") for link in found}


def is_archive(body: bytes) -> bool:
    return etree.fromstring(body).find(f".//{{{FH}}}archive") is not None


def local(url: str) -> str:
    return url.removeprefix(BASE)


def test_subscription_document_points_to_the_newest_full_page(client: Any) -> None:
    for ext in ("atom", "rss"):
        body = client.get(f"/category/zhongguodianzibao.{ext}").get_data()
        assert links(body)["prev-archive"] == f"{BASE}/category/zhongguodianzibao/archive/2.{ext}"
        assert not is_archive(body)
    data = json.loads(client.get("/category/zhongguodianzibao.json").get_data())
    assert data["next_url"] == f"{BASE}/category/zhongguodianzibao/archive/2.json"


def test_archive_pages_link_to_each_other_and_are_marked(client: Any) -> None:
    page1 = client.get("/category/zhongguodianzibao/archive/1.atom")
    assert page1.status_code == 200 and is_archive(page1.get_data())
    assert page1.headers["Cache-Control"] == "public, max-age=604800"
    rel = links(page1.get_data())
    assert rel["current"] == f"{BASE}/category/zhongguodianzibao.atom"
    assert rel["next-archive"] == f"{BASE}/category/zhongguodianzibao/archive/2.atom"
    assert "prev-archive" not in rel
    rel2 = links(client.get("/category/zhongguodianzibao/archive/2.rss").get_data())
    assert rel2["prev-archive"].endswith("/archive/1.rss")
    assert rel2["next-archive"].endswith("/archive/3.rss")
    filling = client.get("/category/zhongguodianzibao/archive/3.atom")
    assert filling.status_code == 200 and not is_archive(filling.get_data())
    assert filling.headers["Cache-Control"] == "public, max-age=300"
    assert client.get("/category/zhongguodianzibao/archive/4.atom").status_code == 404
    assert client.get("/category/zhongguodianzibao/archive/0.atom").status_code == 404
    titles = [e.title for e in feedparser.parse(page1.get_data()).entries]
    assert sorted(titles) == ["第1条新闻", "第2条新闻", "第3条新闻"]


def test_a_full_page_never_changes(client: Any, core: Any) -> None:
    url = "/category/zhongguodianzibao/archive/1.atom"
    before = client.get(url)
    core.save([post(n) for n in range(9, 15)])
    core.save([post(30, published=datetime(2019, 1, 1, tzinfo=UTC))])  # back-dated
    after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 304
    assert client.get(url).get_data() == before.get_data()


def test_an_edit_inside_a_page_changes_its_etag_not_its_membership(client: Any, core: Any) -> None:
    url = "/category/zhongguodianzibao/archive/1.atom"
    before = client.get(url)
    seq = core.store.feed_seq("category/zhongguodianzibao", "NW202601010000000002")
    core.save([post(2, title="更正：第2条新闻")])
    after = client.get(url)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert "更正：第2条新闻" in [e.title for e in feedparser.parse(after.get_data()).entries]
    assert core.store.feed_seq("category/zhongguodianzibao", "NW202601010000000002") == seq


def test_a_late_back_dated_post_is_in_the_subscription_document(client: Any, core: Any) -> None:
    core.save([post(9)])  # page 3 full
    core.save([post(40, published=datetime(2019, 1, 1, tzinfo=UTC))])
    titles = [e.title for e in feedparser.parse(client.get("/category/zhongguodianzibao.atom")
                                                .get_data()).entries]
    assert "第40条新闻" in titles  # older than the newest four, but not archived yet


def recover(client: Any, url: str) -> set[str]:
    """Read a feed as RFC 5005 says: the subscription document, then prev-archive links."""
    seen: set[str] = set()
    while url:
        body = client.get(local(url)).get_data()
        if url.endswith(".json"):
            data = json.loads(body)
            seen.update(item["id"] for item in data["items"])
            url = data.get("next_url", "")
            continue
        parsed = feedparser.parse(body)
        seen.update(entry.id for entry in parsed.entries)
        url = links(body).get("prev-archive", "")
    return seen


@pytest.mark.parametrize("ext", ["atom", "rss", "json"])
def test_a_reader_offline_for_a_week_recovers_every_entry(client: Any, core: Any, ext: str) -> None:
    core.save([post(n) for n in range(9, 30)])
    core.save([post(50, published=datetime(2019, 1, 1, tzinfo=UTC))])
    expected = {f"tag:syndicate.invalid,2021:NW2026010100000{n:05d}" for n in [*range(1, 30), 50]}
    assert recover(client, f"{BASE}/category/zhongguodianzibao.{ext}") == expected


def test_every_document_is_strict_xml_and_parses_cleanly(client: Any, core: Any) -> None:
    core.save([post(60, tags=("工业互联网",))])
    urls = [f"/{base}.{ext}" for base in ("category/zhongguodianzibao", "tag/中国电子报新闻",
                                          "feed", "category/zhongguodianzibao/archive/1",
                                          "category/zhongguodianzibao/archive/2",
                                          "category/zhongguodianzibao/archive/3",
                                          "tag/中国电子报新闻/archive/1", "feed/archive/1",
                                          "feed/archive/3")
            for ext in ("atom", "rss")]
    urls = [u.replace("/feed.atom", "/feed.xml") for u in urls]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        etree.fromstring(response.get_data())
        parsed = feedparser.parse(response.get_data())
        assert parsed.bozo == 0, (url, parsed.get("bozo_exception"))
    for url in ("/feed/archive/1.json", "/tag/工业互联网.json"):
        assert json.loads(client.get(url).get_data())["items"]


def test_site_archives(client: Any) -> None:
    body = client.get("/feed.xml").get_data()
    assert links(body)["prev-archive"] == f"{BASE}/feed/archive/2.atom"


def test_memberships_survive_updates(core: Any) -> None:
    store = core.store
    seq = store.feed_seq("site", "NW202601010000000003")
    core.save([post(3, tags=("中国电子报新闻", "芯片"))])
    assert store.feed_seq("site", "NW202601010000000003") == seq
    assert store.feed_seq("tag/芯片", "NW202601010000000003") == 1
    assert store.get_post("NW202601010000000003").tags == ("中国电子报新闻", "芯片")


def test_migration_backfills_feeds_of_existing_posts(tmp_path: Path, database_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from syndicate.store import Store
    from syndicate.store.sql import MIGRATIONS

    store = Store(database_url)
    store.upgrade()
    store.save_posts([post(n) for n in range(1, 6)] + [post(9, "cailianshe", "财联社")])
    before = {key: store.feed_state(key) for key in ("site", "category/zhongguodianzibao")}
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    with store.engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM posts")).scalar() == 6
    store.upgrade()
    fresh = Store(database_url)
    assert fresh.feed_state("site").last_seq == 6
    assert fresh.feed_state("category/zhongguodianzibao").last_seq == 5
    assert fresh.feed_state("category/cailianshe").last_seq == 1
    assert fresh.feed_state("tag/财联社新闻").last_seq == 1
    assert fresh.feed_seq("site", "NW202601010000000001") == 1
    assert fresh.feed_state("site").version >= 1
    assert before["site"] is not None
    fresh.dispose()
    store.dispose()
