"""`syndicate export`: no export without a public origin, and a summary of files and bytes
per kind that adds up to what is on disk (and that the README describes)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.web.export import KINDS, MANIFEST

from .test_cli import write_posts

README = Path(__file__).resolve().parents[1] / "README.md"
ORIGIN = "https://cdn.example.org"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SYNDICATE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.delenv("SYNDICATE_BASE_URL", raising=False)
    monkeypatch.delenv("SYNDICATE_DATABASE_URL", raising=False)
    runner = CliRunner()
    folder = write_posts(tmp_path / "_posts")
    (folder / "2026-02-03-broken.md").unlink()
    assert runner.invoke(main, ["import", str(folder)]).exit_code == 0
    return runner


def test_no_origin_no_export(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["export", str(tmp_path / "site")])
    assert result.exit_code == 1
    assert "no public origin is configured" in result.output
    assert "http://127.0.0.1:8000" in result.output  # what the files would have said
    assert "SYNDICATE_BASE_URL=" in result.output and "--base-url" in result.output
    assert not (tmp_path / "site").exists()


def test_base_url_option_sets_the_origin_of_every_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["export", str(tmp_path / "site"), "--base-url", ORIGIN + "/"])
    assert result.exit_code == 0, result.output
    feed = (tmp_path / "site" / "feed.xml").read_text("utf-8")
    assert f'href="{ORIGIN}/feed.xml"' in feed
    every = "".join(p.read_text("utf-8", "replace") for p in (tmp_path / "site").rglob("*")
                    if p.is_file())
    assert "127.0.0.1" not in every


def test_a_bad_base_url_option_is_named(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["export", str(tmp_path / "site"), "--base-url", "cdn.example.org"])
    assert result.exit_code == 1
    assert "--base-url 'cdn.example.org': must be an absolute http(s) URL" in result.output
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("where", ["environment", "instance file"])
def test_a_configured_origin_is_enough(runner: CliRunner, tmp_path: Path, where: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if where == "environment":
        monkeypatch.setenv("SYNDICATE_BASE_URL", ORIGIN)
    else:
        (tmp_path / "instance" / "syndicate.toml").write_text(f'base_url = "{ORIGIN}"\n')
    result = runner.invoke(main, ["export", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert ORIGIN in (tmp_path / "site" / "opml.xml").read_text("utf-8")


def kind_of(relative: str) -> str:
    """What the export calls a file, from its path alone."""
    if relative.startswith("s/") and relative.endswith(".svg"):
        return "QR codes"
    if relative in {"_redirects", "nginx-redirects.conf", "nginx-redirects-server.conf"}:
        return "redirect maps"
    if relative in {"404.html", "410.html"}:
        return "error pages"
    if relative == "index.html":
        return "home page"
    if relative == "categories.html":
        return "category index"
    if "/archive/" in relative:
        return "archive documents"
    if relative.startswith(("feed.", "category/", "tag/")) and not relative.endswith(".html"):
        return "feeds"
    if relative.startswith(("category/", "tag/")):
        return "listing pages"
    if relative.endswith(".html"):
        return "posts"
    return "discovery documents"


def test_summary_has_files_and_bytes_per_kind(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["export", str(tmp_path / "site"), "--base-url", ORIGIN])
    assert result.exit_code == 0, result.output
    files: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for path in (tmp_path / "site").rglob("*"):
        relative = path.relative_to(tmp_path / "site").as_posix()
        if path.is_file() and relative != MANIFEST:
            files[kind_of(relative)] += 1
            sizes[kind_of(relative)] += path.stat().st_size
    rows = {m.group(1): (int(m.group(2).replace(",", "")), int(m.group(3).replace(",", "")))
            for m in re.finditer(r"^  (\S.*?) +([\d,]+) +([\d,]+)$", result.output, re.MULTILINE)}
    assert rows.pop("total") == (sum(files.values()), sum(sizes.values()))
    assert rows == {kind: (files[kind], sizes[kind]) for kind in files}
    assert rows["QR codes"] == (2, sizes["QR codes"]) and sizes["QR codes"] > 0
    first = result.output.splitlines()[0]
    assert first == f"Exported {sum(files.values())} files ({sum(sizes.values()):,} bytes) " \
                    f"to {(tmp_path / 'site').resolve()}:"


def test_readme_describes_the_summary_and_the_origin_rule() -> None:
    text = README.read_text("utf-8")
    section = text[text.index("## Static export"):]
    section = section[:section.index("\n## ", 3)]
    for kind in KINDS:
        assert re.search(rf"^  {re.escape(kind)} +[\d,]+ +[\d,]+$", section, re.MULTILINE), kind
    assert "--base-url" in section and "SYNDICATE_BASE_URL" in section
