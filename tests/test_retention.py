"""Pruning old posts: their pages, legacy links and share links answer 410 Gone, never 404."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .conftest import CST

NOW = datetime(2026, 1, 6, 0, 0, tzinfo=CST)
OLD = ("NW202601050000000001", "NW202601050000000002")  # published on 2026-01-05


def test_prune_deletes_old_posts_and_leaves_tombstones(core: Any, client: Any) -> None:
    old = core.post(OLD[0])
    assert core.prune(timedelta(hours=12), now=NOW) == 2
    assert core.store.count() == 2
    for path in (f"/zhongguodianzibao/2026/01/05/{OLD[0]}.html",
                 f"/html_News/NewsShare.html?infoCode={OLD[0]}",
                 "/html_News/NewsShare.html?infoCode=202601050000000001",
                 f"/s/{old.share_code}",
                 f"/zhongguodianzibao/2026/01/05/{OLD[1]}.html"):
        response = client.get(path)
        assert response.status_code == 410, path
        assert "已删除" in response.get_data(as_text=True)
    api = client.get(f"/api/posts/{OLD[0]}")
    assert api.status_code == 410 and api.json["status"] == 410
    assert client.get("/zhongguodianzibao/2026/01/05/NW209901050000000001.html").status_code == 404
    assert client.get("/s/zzzzzzzz").status_code == 404


def test_feeds_no_longer_list_pruned_posts(core: Any, client: Any) -> None:
    before = client.get("/category/zhongguodianzibao.atom")
    assert "国产芯片企业" in before.get_data(as_text=True)
    core.prune(timedelta(hours=12), now=NOW)
    after = client.get("/category/zhongguodianzibao.atom",
                       headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert "国产芯片企业" not in after.get_data(as_text=True)
    site = client.get("/feed.json").get_data(as_text=True)
    assert "沪指震荡收涨" in site and "工业互联网" not in site


def test_prune_keeps_newer_posts_and_is_repeatable(core: Any) -> None:
    assert core.prune(timedelta(days=3650), now=NOW) == 0
    assert core.prune(timedelta(hours=12), now=NOW) == 2
    assert core.prune(timedelta(hours=12), now=NOW) == 0
    assert core.post("NW202601060000000003").title.startswith("沪指震荡收涨")


def test_a_pruned_post_published_again_comes_back(core: Any, client: Any) -> None:
    from .conftest import SITE_POSTS

    core.prune(timedelta(hours=12), now=NOW)
    core.save([SITE_POSTS[0]])
    assert client.get(f"/zhongguodianzibao/2026/01/05/{OLD[0]}.html").status_code == 200
