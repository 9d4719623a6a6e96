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
