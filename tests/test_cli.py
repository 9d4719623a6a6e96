"""The syndicate command through click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import main

from .conftest import corpus_dir

POST = """---
layout: post
title: "{title}"
date: 2026-02-0{day} 10:00:00 +0800
categories: zhongguodianzibao
tags: 中国电子报新闻
---
<p>{title}。</p><p class="em_media">（文章来源：中国电子报）</p>

<http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW20260201000000000{day}>

[返回中国电子报新闻](//finews.withounder.com/category/zhongguodianzibao.html)｜[返回首页](//finews.withounder.com/)"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SYNDICATE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("SYNDICATE_BASE_URL", "https://news.example.com")
    monkeypatch.delenv("SYNDICATE_DATABASE_URL", raising=False)
    return CliRunner()


def write_posts(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for day in (1, 2):
        (folder / f"2026-02-0{day}-NW20260201000000000{day}.md").write_text(
            POST.format(title=f"第{day}条新闻", day=day), encoding="utf-8")
    (folder / "2026-02-03-broken.md").write_text("no front matter here", encoding="utf-8")
    return folder


def test_init_is_idempotent(runner: CliRunner, tmp_path: Path) -> None:
    for _ in range(2):
        result = runner.invoke(main, ["init"])
        assert result.exit_code == 0, result.output
        assert "schema revision" in result.output
    assert (tmp_path / "instance" / "syndicate.db").exists()


def test_import_reports_counts_and_failed_files(runner: CliRunner, tmp_path: Path) -> None:
    folder = write_posts(tmp_path / "_posts")
    result = runner.invoke(main, ["import", str(folder)])
    assert result.exit_code == 1
    assert "2 new, 0 updated, 0 unchanged, 0 merged, 1 failed" in result.output
    assert "2026-02-03-broken.md" in result.output

    (folder / "2026-02-03-broken.md").unlink()
    again = runner.invoke(main, ["import", str(folder)])
    assert again.exit_code == 0, again.output
    assert "0 new, 0 updated, 2 unchanged, 0 merged, 0 failed" in again.output
    assert "Nothing changed" in again.output


def test_import_a_missing_path_fails_but_keeps_the_rest(runner: CliRunner, tmp_path: Path) -> None:
    folder = write_posts(tmp_path / "_posts")
    (folder / "2026-02-03-broken.md").unlink()
    result = runner.invoke(main, ["import", str(folder), str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert "2 new" in result.output and "missing" in result.output


def test_share_prints_the_short_url(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(main, ["import", str(write_posts(tmp_path / "_posts"))])
    result = runner.invoke(main, ["share", "NW202602010000000001"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("https://news.example.com/s/")
    unknown = runner.invoke(main, ["share", "NW999999999999999999"])
    assert unknown.exit_code != 0
    assert "NW999999999999999999" in unknown.output


def test_init_demo_loads_the_demo_site(runner: CliRunner) -> None:
    result = runner.invoke(main, ["init", "--demo"])
    assert result.exit_code == 0, result.output
    assert "Demo posts:" in result.output and " 0 failed" in result.output
    assert " 0 new" not in result.output


def test_corpus_import_and_reimport(runner: CliRunner) -> None:
    corpus = corpus_dir()
    if corpus is None:
        pytest.skip("the shared corpus is not beside this checkout")
    paths = [str(corpus / "finews" / "_posts"), str(corpus / "finews" / "old_post"),
             str(corpus / "seed")]
    first = runner.invoke(main, ["import", *paths])
    assert first.exit_code == 1  # exactly the dateless file fails
    assert "-202205262391921712.md" in first.output
    # 55 readable files: NW/bare twins and _posts/old_post copies make 45 articles
    assert "56 files: 45 new, 0 updated, 0 unchanged, 10 merged, 1 failed" in first.output
    second = runner.invoke(main, ["import", *paths])
    assert second.exit_code == 1
    assert "56 files: 0 new, 0 updated, 45 unchanged, 10 merged, 1 failed" in second.output
    assert "Nothing changed" in second.output
    assert runner.invoke(main, ["share", "NW202202252289106086"]).exit_code == 0
