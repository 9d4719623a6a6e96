"""Tag names are path segments: slugged or dropped at ingest, and the export writes only inside."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.cli import main
from syndicate.ingest.admit import tag_name
from syndicate.ingest.jekyll import parse_post
from syndicate.web.export import export_site

from .conftest import CST, SITE_POSTS, make_input

BASE = "https://news.example.com"
HOSTILE_TAGS = ["..", ".", "...", "../..", "..\\..", "a\\b", "a/b", "x\x00y", "\x01", " . ",
                "%2e%2e", "\u202e..", "a" * 250, "\t..\n"]


@pytest.mark.parametrize(("raw", "stored"), [
    ("..", None), (".", None), ("...", None), ("  ", None), ("\x01\x02", None), ("a" * 201, None),
    ("a/b", "a-b"), ("A\\B股", "A-B股"), ("../..", "..-.."), ("x\x00y", "xy"),
    ("  半导体   芯片 ", "半导体 芯片"), ("中国电子报新闻", "中国电子报新闻"), ("%2e%2e", "%2e%2e"),
])
def test_tag_names(raw: str, stored: str | None) -> None:
    assert tag_name(raw) == stored


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_a_stored_tag_is_always_one_usable_path_segment(raw: str) -> None:
    name = tag_name(raw)
    if name is not None:
        assert name.strip(".") and "/" not in name and "\\" not in name
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in name)
        assert len(name.encode("utf-8", "surrogatepass")) <= 200


def test_an_import_slugs_or_drops_such_tags(app: Any) -> None:
    core = app.extensions["syndicate"]
    text = ('---\ntitle: 标题\ndate: 2026-03-09 10:00:00 +0800\ncategories: cailianshe\n'
            'tags: [财联社新闻, "..", "A/B股", ".", "\\t"]\n---\n<p>正文。</p>\n')
    post = core.admit(parse_post(text, filename="2026-03-09-NW202603090000000009.md",
                                 tz=ZoneInfo("Asia/Shanghai")))
    assert post.tags == ("财联社新闻", "A-B股")


def test_the_api_refuses_a_dot_tag_naming_the_field(tmp_path: Path) -> None:
    from syndicate import create_app

    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path, "API_TOKENS": "t",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"})
    app.extensions["syndicate"].init()
    response = app.test_client().post("/api/posts", headers={"Authorization": "Bearer t"}, json={
        "title": "标题", "date": "2026-03-09T10:00:00+08:00", "media": "财联社",
        "html": "<p>正文。</p>", "tags": ["好", ".."]})
    assert response.status_code == 400
    assert set(response.json["fields"]) == {"tags"} and "'..'" in response.json["fields"]["tags"]
    app.extensions["syndicate"].store.dispose()


# --- the export ----------------------------------------------------------------------------


def config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"INSTANCE_PATH": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path / 'site.db'}",
            "BASE_URL": BASE, "ARCHIVE_SIZE": 2, **extra}


@pytest.fixture
def hostile_site(tmp_path: Path) -> Any:
    """A site whose store holds hostile tags written before ingest checked them."""
    from syndicate import create_app

    app = create_app(config(tmp_path, TESTING=True))
    core = app.extensions["syndicate"]
    core.init()
    core.save(SITE_POSTS)
    core.store.save_posts([make_input(f"NW2026010800000000{n:02d}", tags=("中国电子报新闻", tag),
                                      published=datetime(2026, 1, 8, 9, n, tzinfo=CST))
                           for n, tag in enumerate(HOSTILE_TAGS)])
    yield tmp_path
    core.store.dispose()


def files_under(folder: Path) -> set[Path]:
    return {Path(root, name) for root, _, names in os.walk(folder) for name in names}


def test_the_export_writes_nothing_outside_each_kinds_folder(hostile_site: Path) -> None:
    from syndicate import create_app

    outer = hostile_site / "outer"
    out = outer / "out"
    app = create_app(config(hostile_site, STATIC_EXPORT=True))
    report = export_site(app, out)
    app.extensions["syndicate"].store.dispose()
    assert files_under(outer) == files_under(out)  # nothing beside the export folder
    # A tag's archive for ".." would have been out/archive/1.atom: the site feed's archive
    # lives under feed/archive/, so no top-level archive folder may exist.
    assert not (out / "archive").exists() and not (out / "tag" / "archive").exists()
    refused = dict(report.refused)
    assert "/tag/../archive/1.atom" in {p for p in refused}
    assert all("segment" in reason or "backslash" in reason for reason in refused.values())
    for path in files_under(out):
        relative = path.relative_to(out).as_posix()
        assert ".." not in relative.split("/") and "\\" not in relative
    # The rest of the export went on: the site and the good tags are there.
    assert (out / "feed.xml").is_file() and (out / "tag" / "中国电子报新闻.atom").is_file()
    assert "Refused /tag/../archive/1.atom" in report.summary()


def test_the_export_command_names_refused_paths_and_exits_1(hostile_site: Path) -> None:
    env = {"SYNDICATE_INSTANCE": str(hostile_site),
           "SYNDICATE_DATABASE_URL": f"sqlite:///{hostile_site / 'site.db'}",
           "SYNDICATE_BASE_URL": BASE, "SYNDICATE_ARCHIVE_SIZE": "2"}
    result = CliRunner().invoke(main, ["export", str(hostile_site / "out")], env=env)
    assert result.exit_code == 1, result.output
    assert "Refused /tag/../archive/1.atom" in result.output
    assert (hostile_site / "out" / "feed.xml").is_file()
