"""Category names: each category is named by its own posts, never by one merged article's
other half, and an operator can list and rename categories (`syndicate categories`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser
import listparser
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from syndicate.cli import main
from syndicate.errors import InvalidInput
from syndicate.model import Outcome, feed_key
from syndicate.store import Store

from .conftest import CST, corpus_dir, make_input
from .feedtools import make_app

# One article arriving twice: bare in the rolling 东财滚动 category, NW in 环球财经's.
BARE = make_input("202601070000000001", title="环球财经：全球市场综述",
                  published=datetime(2026, 1, 7, 9, 0, tzinfo=CST), category_slug="emnews",
                  category_name="东财滚动", tags=("东财滚动新闻",), source="环球财经",
                  html='<p>综述。</p><p class="em_media">（文章来源：环球财经）</p>')
NW = make_input("NW202601070000000001", title="环球财经：全球市场综述",
                published=datetime(2026, 1, 7, 9, 0, tzinfo=CST), category_slug="huanqiucaijing",
                category_name="环球财经", tags=("环球财经新闻",), source="环球财经",
                html='<p>综述。</p><p class="em_media">（文章来源：环球财经）</p>')
ROLLING = make_input("202601070000000002", title="午间快讯",
                     published=datetime(2026, 1, 7, 12, 0, tzinfo=CST), category_slug="emnews",
                     category_name="东财滚动", tags=("东财滚动新闻",), source="中国证券报",
                     html='<p>快讯。</p><p class="em_media">（文章来源：中国证券报）</p>')
# The pair in the real corpus: emnews (东财滚动) and zhongguozhengquanbao (中国证券报).
PAIR = ["_posts/2022-05-30-202205302396671645.md", "_posts/2022-05-30-NW202205302396671645.md"]


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Any]:
    app = make_app(tmp_path, database_url)
    yield app
    app.extensions["syndicate"].close(wait=0)


def shown_names(client: Any, slug: str) -> dict[str, str]:
    """The name of category ``slug`` where readers see it: the category index, its page,
    feed, OPML."""
    index = client.get("/categories.html").get_data(as_text=True)
    link = re.search(rf'<li><a href="/category/{slug}\.html">([^<]+)</a>', index)
    page = client.get(f"/category/{slug}.html").get_data(as_text=True)
    feed = feedparser.parse(client.get(f"/category/{slug}.atom").get_data())
    opml = etree.fromstring(client.get("/opml.xml").get_data())
    group = [o.get("text") for o in opml.iter("outline")
             if len(o) and any(f"/category/{slug}." in (c.get("xmlUrl") or "") for c in o)]
    heading = re.search(r"<h1>([^<]+)</h1>", page)
    return {"index": link.group(1) if link else "", "page": heading.group(1) if heading else "",
            "feed": feed.feed.title.split(" - ")[0], "opml": group[0] if group else ""}


def test_a_merged_pair_leaves_each_category_its_own_name(app: Any) -> None:
    core = app.extensions["syndicate"]
    core.save([BARE, NW])  # one batch: the NW half's content wins the article
    assert core.category("emnews").name == "东财滚动"
    assert core.category("huanqiucaijing").name == "环球财经"
    client = app.test_client()
    assert shown_names(client, "emnews") == {"index": "东财滚动新闻", "page": "东财滚动新闻",
                                             "feed": "东财滚动", "opml": "东财滚动"}
    assert shown_names(client, "huanqiucaijing")["opml"] == "环球财经"


def test_the_other_half_arriving_first_names_nothing_else(app: Any) -> None:
    core = app.extensions["syndicate"]
    core.save([NW])
    core.save([BARE, ROLLING])  # emnews is created now, by its own inputs
    assert core.category("emnews").name == "东财滚动"
    assert core.category("huanqiucaijing").name == "环球财经"


def test_the_real_corpus_pair_keeps_emnews_named(tmp_path: Path) -> None:
    corpus = corpus_dir()
    if corpus is None:
        pytest.skip("the shared corpus is not beside this checkout")
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'corpus.db'}")
    core = app.extensions["syndicate"]
    # The pair first (as a newest-first import or a poll would bring it), then the rest.
    report = core.import_paths([corpus / "finews" / p for p in PAIR])
    assert report.counts[Outcome.NEW] == 1  # one article
    core.import_paths([corpus / "finews" / "_posts", corpus / "finews" / "old_post"])
    client = app.test_client()
    assert shown_names(client, "emnews") == {"index": "东财滚动新闻", "page": "东财滚动新闻",
                                             "feed": "东财滚动", "opml": "东财滚动"}
    assert shown_names(client, "zhongguozhengquanbao")["opml"] == "中国证券报"
    names = [o.get("text") for o in etree.fromstring(client.get("/opml.xml").get_data())
             .iter("outline") if len(o)]
    assert len(names) == len(set(names))  # no two categories with one name
    core.close(wait=0)


# -- operators: listing and renaming -------------------------------------------------------


@pytest.fixture
def runner(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SYNDICATE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("SYNDICATE_BASE_URL", "https://news.example.com")
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", database_url)
    return CliRunner()


def test_categories_lists_slug_posts_who_named_it_and_name(app: Any, runner: CliRunner) -> None:
    app.extensions["syndicate"].save([BARE, NW, ROLLING])
    result = runner.invoke(main, ["categories"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "slug             posts  named by  name",
        "emnews               2  posts     东财滚动",
        "huanqiucaijing       1  posts     环球财经",
    ]


def test_rename_shows_the_name_everywhere_at_once(app: Any, runner: CliRunner) -> None:
    core = app.extensions["syndicate"]
    core.save([BARE, NW, ROLLING])
    client = app.test_client()
    before = {url: client.get(url) for url in ("/category/emnews.atom", "/feed.xml",
                                                "/tag/%E4%B8%9C%E8%B4%A2%E6%BB%9A%E5%8A%A8%E6%96%B0%E9%97%BB.rss",
                                                "/category/huanqiucaijing.atom", "/opml.xml")}
    result = runner.invoke(main, ["categories", "rename", "emnews", "东方财富 滚动"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("emnews: named 东方财富 滚动 (was 东财滚动); ")
    for url, old in before.items():  # every feed showing the name has a new version
        again = client.get(url, headers={"If-None-Match": old.headers["ETag"],
                                         "If-Modified-Since": old.headers["Last-Modified"]})
        assert again.status_code == 200, url
    assert shown_names(client, "emnews") == {"index": "东方财富 滚动新闻", "page": "东方财富 滚动新闻",
                                             "feed": "东方财富 滚动", "opml": "东方财富 滚动"}
    entry = feedparser.parse(client.get("/feed.xml").get_data()).entries
    assert any(t.term == "东方财富 滚动" for e in entry for t in e.tags)
    assert listparser.parse(client.get("/opml.xml").get_data()).feeds
    listed = runner.invoke(main, ["categories"]).output
    assert "emnews               2  operator  东方财富 滚动 (from posts: 东财滚动)" in listed


def test_an_operator_name_survives_imports_and_new_posts_still_find_the_category(
        app: Any, runner: CliRunner) -> None:
    core = app.extensions["syndicate"]
    core.save([BARE, NW])
    assert runner.invoke(main, ["categories", "rename", "emnews", "滚动新闻"]).exit_code == 0
    core.save([ROLLING, make_input("202601080000000003", category_slug=None,
                                   category_name="东财滚动", tags=("东财滚动新闻",))])
    assert core.category("emnews").name == "滚动新闻"
    assert [c.slug for c in core.store.category_index()] == ["emnews", "huanqiucaijing"]
    assert core.store.count(category="emnews") == 3  # the media name still leads here
    result = runner.invoke(main, ["categories", "rename", "emnews", "--derived"])
    assert result.output.startswith("emnews: named 东财滚动 (was 滚动新闻)")
    assert core.category("emnews").name == "东财滚动"


def test_rename_refuses_what_would_confuse_readers(app: Any, runner: CliRunner) -> None:
    app.extensions["syndicate"].save([BARE, NW])
    cases = {("nope", "新名字"): "no category 'nope'",
             ("emnews", "环球财经"): "category 'huanqiucaijing' is already named '环球财经'",
             ("emnews", "  \x00 "): "name: a category name cannot be blank",
             ("emnews", "名" * 101): "name: at most 100 characters, not 101"}
    for (slug, name), message in cases.items():
        result = runner.invoke(main, ["categories", "rename", slug, name])
        assert result.exit_code == 1 and message in result.output, result.output
    assert runner.invoke(main, ["categories", "rename", "emnews"]).exit_code == 1
    assert app.extensions["syndicate"].category("emnews").name == "东财滚动"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=120))
def test_any_name_is_refused_or_shown_safely(app: Any, name: str) -> None:
    core = app.extensions["syndicate"]
    if core.store.category("emnews") is None:
        core.save([BARE, NW])
    try:
        renamed = core.rename_category("emnews", name)
    except InvalidInput as error:
        assert str(error).startswith(("name:", "category 'huanqiucaijing'"))
        return
    client = app.test_client()
    parsed = feedparser.parse(client.get("/category/emnews.atom").get_data())
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.feed.title == f"{renamed.after} - 金融消息"
    assert etree.fromstring(client.get("/opml.xml").get_data()) is not None


# -- the migration repairs names the old import got wrong --------------------------------


def test_migration_repairs_a_name_taken_from_the_other_half(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from syndicate.store.sql import MIGRATIONS

    store = Store(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
    store.save_posts([BARE, NW, ROLLING, make_input()])
    with store.engine.begin() as conn:  # what the old import stored
        conn.exec_driver_sql("UPDATE categories SET name = '环球财经' WHERE slug = 'emnews'")
    keys = [feed_key("site"), feed_key("category", "emnews"),
            feed_key("category", "huanqiucaijing"), feed_key("category", "zhongguodianzibao")]
    before = {key: state.version for key, state in store.feed_states(keys).items()}
    assert store.upgrade() >= "0005"
    assert store.category("emnews").name == "东财滚动"  # the tag its posts carry
    assert store.category("huanqiucaijing").name == "环球财经"  # one post, a tie: kept
    after = {key: state.version for key, state in store.feed_states(keys).items()}
    # New versions for the feeds showing emnews's name: its own, the site's, and
    # huanqiucaijing's (its one entry is filed under emnews); none for the others.
    assert {key for key in keys if after[key] != before[key]} == set(keys[:3])
    store.dispose()


def test_store_lists_category_infos(store: Any) -> None:
    store.save_posts([BARE, NW, ROLLING])
    infos = {info.slug: info for info in store.category_infos()}
    assert infos["emnews"].posts == 2 and not infos["emnews"].named_by_operator
    assert infos["huanqiucaijing"].posts == 1
