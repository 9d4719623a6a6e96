"""The real corpus end to end: import it, then read the seed post as a reader and a feed reader would."""

from __future__ import annotations

import json
from typing import Any

import feedparser
import pytest

from syndicate import create_app

from .conftest import corpus_dir

SEED_PATH = "/zhongguodianzibao/2022/02/25/NW202202252289106086.html"
FOOTER = '<p class="em_media">（文章来源：中国电子报）</p>'


@pytest.fixture(scope="module")
def corpus_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    corpus = corpus_dir()
    if corpus is None:
        pytest.skip("the shared corpus is not beside this checkout")
    tmp = tmp_path_factory.mktemp("corpus")
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp, "BASE_URL": "https://news.example.com",
                      "DATABASE_URL": f"sqlite:///{tmp / 'corpus.db'}"})
    core = app.extensions["syndicate"]
    core.init()
    core.import_paths([corpus / "finews" / "_posts", corpus / "finews" / "old_post", corpus / "seed"])
    yield app.test_client()
    core.store.dispose()


def test_seed_post_page(corpus_client: Any) -> None:
    response = corpus_client.get(SEED_PATH)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "上海：加快培育数据要素市场 抢抓数字经济新赛道" in page
    assert FOOTER in page
    assert "2022-02-25 10:23:24" in page
    assert "返回中国电子报新闻</a> ｜ <a href=\"/\">返回首页" in page
    assert "finews.zning.xyz" not in page  # the old share-link line is gone


@pytest.mark.parametrize("url", ["/category/zhongguodianzibao.atom", "/category/zhongguodianzibao.rss",
                                 "/feed.xml", "/feed.rss"])
def test_seed_post_in_xml_feeds_with_footer(corpus_client: Any, url: str) -> None:
    parsed = feedparser.parse(corpus_client.get(url).get_data())
    assert parsed.bozo == 0
    seed = [e for e in parsed.entries if e.link.endswith(SEED_PATH)]
    assert len(seed) == 1
    assert FOOTER in seed[0].content[0].value


def test_seed_post_in_json_feed_with_footer(corpus_client: Any) -> None:
    data = json.loads(corpus_client.get("/category/zhongguodianzibao.json").get_data())
    (item,) = [i for i in data["items"] if i["url"].endswith(SEED_PATH)]
    assert item["content_html"].endswith(FOOTER)


def test_legacy_share_link_of_the_seed_post(corpus_client: Any) -> None:
    response = corpus_client.get("/html_News/NewsShare.html?infoCode=NW202202252289106086")
    assert response.status_code == 301
    assert response.location == "https://news.example.com" + SEED_PATH


def test_every_corpus_feed_parses(corpus_client: Any) -> None:
    index = corpus_client.get("/categories.html").get_data(as_text=True)
    slugs = {part.split(".html")[0] for part in index.split('href="/category/')[1:]
             if ".html" in part.split('"')[0]}
    assert {"zhongguodianzibao", "emnews", "cailianshe", "yangxingwangzhan"} <= slugs
    for slug in slugs:
        for ext in ("atom", "rss"):
            parsed = feedparser.parse(corpus_client.get(f"/category/{slug}.{ext}").get_data())
            assert parsed.bozo == 0, (slug, ext, parsed.get("bozo_exception"))
            assert parsed.entries


def test_twins_are_one_post_in_both_categories(corpus_client: Any) -> None:
    emnews = feedparser.parse(corpus_client.get("/category/emnews.atom").get_data())
    cailianshe = feedparser.parse(corpus_client.get("/category/cailianshe.atom").get_data())
    shared = {e.id for e in emnews.entries} & {e.id for e in cailianshe.entries}
    assert any("202205312398034850" in entry_id for entry_id in shared)
