"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), app, client, runner."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from syndicate.model import PostInput
from syndicate.store import Store
from syndicate.store.schema import metadata

CST = timezone(timedelta(hours=8))
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
PG_URL = os.environ.get("SYNDICATE_TEST_DATABASE_URL")


def corpus_dir() -> Path | None:
    """The shared real-world corpus, when this checkout has it beside it."""
    configured = os.environ.get("SYNDICATE_CORPUS")
    path = Path(configured) if configured else HERE.parents[1] / "shared" / "corpus"
    return path if path.is_dir() else None


def reset_database(url: str) -> None:
    """Drop every table so a test starts from an empty PostgreSQL database."""
    store = Store(url)
    with store.engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    if not PG_URL:
        pytest.skip("SYNDICATE_TEST_DATABASE_URL is not set (PostgreSQL tests run in CI)")
    reset_database(PG_URL)
    return PG_URL


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> str:
    """Like ``database_url``, once per module: for property tests that share one app."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('module') / 'site.db'}"
    if not PG_URL:
        pytest.skip("SYNDICATE_TEST_DATABASE_URL is not set (PostgreSQL tests run in CI)")
    reset_database(PG_URL)
    return PG_URL


@pytest.fixture
def store(database_url: str) -> Any:
    store = Store(database_url)
    store.upgrade()
    yield store
    store.dispose()


def make_input(post_id: str = "NW202601010000000001", **changes: Any) -> PostInput:
    """A post as a reader would produce it, with sensible defaults."""
    values: dict[str, Any] = {
        "id": post_id,
        "title": "测试新闻标题",
        "published": datetime(2026, 1, 1, 10, 0, tzinfo=CST),
        "category_name": "中国电子报",
        "category_slug": "zhongguodianzibao",
        "tags": ("中国电子报新闻",),
        "html": '<p>正文。</p><p class="em_media">（文章来源：中国电子报）</p>',
        "summary": "正文。",
        "source": "中国电子报",
        "url": None,
        "origin": f"{post_id}.md",
    }
    values.update(changes)
    return PostInput(**values)


SITE_POSTS = [
    make_input("NW202601050000000001", title="国产芯片企业加快扩产 产业链协同提速",
               published=datetime(2026, 1, 5, 9, 30, tzinfo=CST),
               html='<p>多家芯片企业宣布扩产计划。</p><p><img src="/images/chip.png" alt="芯片"></p>'
                    '<p class="em_media">（文章来源：中国电子报）</p>',
               summary="多家芯片企业宣布扩产计划。"),
    make_input("NW202601050000000002", title="工业互联网平台应用案例发布",
               published=datetime(2026, 1, 5, 11, 0, tzinfo=CST), tags=("中国电子报新闻", "工业互联网"),
               html='<p>平台案例覆盖多个行业。</p><p class="em_media">（文章来源：中国电子报）</p>',
               summary="平台案例覆盖多个行业。"),
    make_input("NW202601060000000003", title="沪指震荡收涨 成交额放大",
               published=datetime(2026, 1, 6, 15, 5, tzinfo=CST),
               category_slug="cailianshe", category_name="财联社", tags=("财联社新闻",),
               source="财联社",
               html='<p>两市成交额较上一交易日放大。</p><p class="em_media">（文章来源：财联社）</p>',
               summary="两市成交额较上一交易日放大。"),
    make_input("202601060000000004", title="央行开展逆回购操作",
               published=datetime(2026, 1, 6, 9, 20, tzinfo=CST),
               category_slug="emnews", category_name="东财滚动", tags=("东财滚动新闻",),
               source="东财滚动", url="http://finance.eastmoney.com/a/202601060000000004.html",
               html='<blockquote><p>央行今日开展逆回购操作。</p></blockquote>'
                    '<p class="em_media">（文章来源：东财滚动）</p>',
               summary="央行今日开展逆回购操作。"),
]


@pytest.fixture
def app(tmp_path: Path) -> Any:
    from syndicate import create_app

    app = create_app({
        "TESTING": True,
        "INSTANCE_PATH": tmp_path,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.db'}",
        "BASE_URL": "https://news.example.com",
        "PAGE_SIZE": 2,
    })
    core = app.extensions["syndicate"]
    core.init()
    core.save(SITE_POSTS)
    yield app
    core.close(wait=0)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def core(app: Any) -> Any:
    return app.extensions["syndicate"]
