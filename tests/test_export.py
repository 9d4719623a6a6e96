"""`syndicate export`: the site as static files and redirect maps, checked against the live app."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import feedparser
import pytest
import requests
from click.testing import CliRunner
from lxml import etree

from syndicate.cli import main
from syndicate.errors import ExportError
from syndicate.web.export import export_site

from .conftest import CST, SITE_POSTS, make_input
from .test_cli import write_posts

BASE = "https://news.example.com"
FIRST = "NW202601050000000001"  # 国产芯片企业…, zhongguodianzibao, 2026-01-05
FIRST_PATH = f"/zhongguodianzibao/2026/01/05/{FIRST}.html"
CJK_TAG = "中国电子报新闻"


def more_posts() -> list[Any]:
    """Three more 中国电子报 posts: 5 in the category and the tag, 3 listing pages of 2."""
    return [make_input(f"NW20260107000000001{n}", title=f"第{n}条电子报新闻",
                       published=datetime(2026, 1, 7, 8 + n, 0, tzinfo=CST)) for n in range(3)]


def config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"INSTANCE_PATH": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path / 'site.db'}",
            "BASE_URL": BASE, "PAGE_SIZE": 2, "ARCHIVE_SIZE": 2, **extra}


@pytest.fixture
def live(tmp_path: Path) -> Any:
    """The live app over a small site: 7 posts, listings and feeds with several pages."""
    from syndicate import create_app

    app = create_app(config(tmp_path, TESTING=True))
    core = app.extensions["syndicate"]
    core.init()
    core.save([*SITE_POSTS, *more_posts()])
    yield app
    core.store.dispose()


@pytest.fixture
def export_app(live: Any, tmp_path: Path) -> Any:
    """The same site, created for a static export (not TESTING: errors become 500 pages)."""
    from syndicate import create_app

    app = create_app(config(tmp_path, STATIC_EXPORT=True))
    yield app
    app.extensions["syndicate"].store.dispose()


@pytest.fixture
def out(export_app: Any, tmp_path: Path) -> Path:
    export_site(export_app, tmp_path / "out")
    return tmp_path / "out"


def file_of(out: Path, url: str) -> Path:
    path = url.removeprefix(BASE).partition("?")[0]
    return out / ("index.html" if path == "/" else unquote(path).lstrip("/"))


def live_urls(core: Any) -> list[str]:
    """URLs whose bytes the export must hold unchanged (pagers aside: see below)."""
    found = ["/feed.xml", "/feed.rss", "/feed.json", "/opml.xml", "/sitemap.xml",
             "/sitemap-pages.xml", "/sitemap-posts-1.xml", "/sitemap-news.xml", "/robots.txt",
             "/feed/archive/1.atom", "/feed/archive/4.json",
             "/category/cailianshe.rss", "/category/zhongguodianzibao/archive/3.rss",
             f"/tag/{CJK_TAG}.atom", f"/tag/{CJK_TAG}/archive/2.json", "/tag/工业互联网.json"]
    return found + [url for link in core.post_links()
                    for url in (link.path, f"/s/{link.share_code}.svg")]


def test_every_document_is_at_its_live_path_with_the_live_bytes(live: Any, out: Path) -> None:
    client, core = live.test_client(), live.extensions["syndicate"]
    for url in live_urls(core):
        response = client.get(url)
        assert response.status_code == 200, url
        assert file_of(out, url).read_bytes() == response.get_data(), url
    assert (out / "tag" / f"{CJK_TAG}.html").is_file()  # UTF-8 file names, not %E4…
    not_found = (out / "404.html").read_text("utf-8")
    assert "404 页面不存在" in not_found and 'href="/"' in not_found
    assert "410 内容已删除" in (out / "410.html").read_text("utf-8")


def test_every_archive_page_the_live_site_serves_is_exported(live: Any, out: Path) -> None:
    client = live.test_client()
    # 7 posts, 2 per archive page: 3 full pages and the one filling up.
    for page in range(1, 5):
        for ext in ("atom", "rss", "json"):
            assert (out / "feed" / "archive" / f"{page}.{ext}").is_file()
    assert client.get("/feed/archive/5.atom").status_code == 404
    assert not (out / "feed" / "archive" / "5.atom").exists()


def test_pagers_link_to_static_pages_in_the_export_and_to_query_urls_live(
        live: Any, out: Path) -> None:
    client = live.test_client()
    live_page = client.get("/category/zhongguodianzibao.html").get_data(as_text=True)
    assert 'href="/category/zhongguodianzibao.html?page=2"' in live_page
    first = (out / "category" / "zhongguodianzibao.html").read_text("utf-8")
    assert 'rel="next" href="/category/zhongguodianzibao/page/2.html"' in first
    second = (out / "category" / "zhongguodianzibao" / "page" / "2.html").read_text("utf-8")
    assert 'rel="prev" href="/category/zhongguodianzibao.html"' in second
    assert 'rel="next" href="/category/zhongguodianzibao/page/3.html"' in second
    assert (out / "category" / "zhongguodianzibao" / "page" / "3.html").is_file()
    assert not (out / "category" / "zhongguodianzibao" / "page" / "4.html").exists()
    assert (out / "tag" / CJK_TAG / "page" / "3.html").is_file()
    # Apart from the pager links, every listing page is what the live site serves.
    for base in ("/category/zhongguodianzibao.html", f"/tag/{CJK_TAG}.html"):
        for page in (1, 2, 3):
            live_bytes = client.get(base + (f"?page={page}" if page > 1 else "")).get_data()
            name = base if page == 1 else base.removesuffix(".html") + f"/page/{page}.html"
            exported = file_of(out, name).read_bytes()
            assert re.sub(rb"/page/(\d+)\.html", rb".html?page=\1", exported) == live_bytes


def test_every_link_in_the_exported_pages_resolves_in_the_export(out: Path) -> None:
    rules = (out / "_redirects").read_text("utf-8")
    checked = 0
    for page in out.rglob("*.html"):
        for href in re.findall(r'href="([^"]+)"', page.read_text("utf-8")):
            if href.startswith(f"{BASE}/s/"):
                assert f"{href.removeprefix(BASE)} " in rules, (page, href)
            elif href.startswith(("/", BASE)):
                assert file_of(out, href).is_file(), (page, href)
            checked += 1
    assert checked > 100


def redirect_rules(out: Path) -> list[tuple[str, str | None, str, int]]:
    """(path, infoCode or None, target, status) of each _redirects line."""
    rules = []
    for line in (out / "_redirects").read_text("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        query = parts[1].removeprefix("infoCode=") if len(parts) == 4 else None
        rules.append((parts[0], query, parts[-2], int(parts[-1])))
    return rules


def test_redirect_maps_hold_share_legacy_and_category_links(live: Any, out: Path) -> None:
    post = live.extensions["syndicate"].post(FIRST)
    rules = (out / "_redirects").read_text("utf-8").splitlines()
    assert f"/s/{post.share_code} {FIRST_PATH} 302" in rules
    assert f"/html_News/NewsShare.html infoCode={FIRST} {FIRST_PATH} 301" in rules
    assert f"/html_News/NewsShare.html infoCode={FIRST[2:]} {FIRST_PATH} 301" in rules
    assert "/zhongguodianzibao/ /category/zhongguodianzibao.html 301" in rules
    assert f"/zhongguodianzibao/2026/01/05/{FIRST[2:]}.html {FIRST_PATH} 301" in rules
    nginx = (out / "nginx-redirects.conf").read_text("utf-8")
    short = nginx.partition("map $uri $syndicate_302 {")[2].partition("}")[0]
    assert f'"/s/{post.share_code}" "{FIRST_PATH}";' in short
    legacy = nginx.partition("map $arg_infoCode $syndicate_legacy_301 {")[2].partition("}")[0]
    assert f'"{FIRST}" "{FIRST_PATH}";' in legacy and f'"{FIRST[2:]}" "{FIRST_PATH}";' in legacy
    assert "include nginx-redirects.conf" not in nginx  # the server part is its own file
    assert "location = /html_News/NewsShare.html" in (
        out / "nginx-redirects-server.conf").read_text("utf-8")


def assert_rules_agree_with_the_live_site(live: Any, out: Path) -> int:
    client = live.test_client()
    rules = redirect_rules(out)
    for path, code, target, status in rules:
        url = path + (f"?infoCode={code}" if code else "")
        response = client.get(url)
        assert response.status_code == status, url
        if status in (301, 302):
            assert response.headers["Location"] == BASE + target, url
    return len(rules)


def test_every_redirect_rule_answers_as_the_live_site_does(live: Any, out: Path) -> None:
    # 7 posts: a short link, two legacy links and another id form each; 3 category indexes
    assert assert_rules_agree_with_the_live_site(live, out) == 7 * 4 + 3


def test_deleted_posts_are_410_in_the_maps_and_their_old_pages_are_removed(
        live: Any, export_app: Any, out: Path) -> None:
    core = live.extensions["syndicate"]
    code = core.post(FIRST).share_code
    assert file_of(out, FIRST_PATH).is_file()
    # Prune the one post published before 10:00 on 2026-01-05, then export again.
    assert core.prune(timedelta(hours=1), now=datetime(2026, 1, 5, 11, 0, tzinfo=CST)) == 1
    report = export_site(export_app, out)
    # Gone: the post's page and QR code, and the third listing page of its category and tag.
    assert not file_of(out, FIRST_PATH).exists()
    assert not file_of(out, f"/s/{code}.svg").exists()
    assert not (out / "category" / "zhongguodianzibao" / "page" / "3.html").exists()
    assert not (out / "tag" / CJK_TAG / "page" / "3.html").exists()
    assert report.removed == 4 and report.rules["deleted posts"] == 5
    rules = (out / "_redirects").read_text("utf-8").splitlines()
    for line in (f"{FIRST_PATH} /410.html 410", f"/s/{code} /410.html 410",
                 f"/html_News/NewsShare.html infoCode={FIRST} /410.html 410",
                 f"/html_News/NewsShare.html infoCode={FIRST[2:]} /410.html 410"):
        assert line in rules
    gone = (out / "nginx-redirects.conf").read_text("utf-8").partition(
        "map $uri $syndicate_410 {")[2].partition("}")[0]
    assert f'"{FIRST_PATH}" 1;' in gone and f'"/s/{code}" 1;' in gone
    assert_rules_agree_with_the_live_site(live, out)


def test_the_feeds_in_the_export_parse_strictly(out: Path) -> None:
    strict = etree.XMLParser(recover=False, resolve_entities=False)
    feeds = [*out.rglob("*.atom"), *out.rglob("*.rss"), out / "feed.xml"]
    assert len(feeds) > 20
    for path in feeds:
        body = path.read_bytes()
        etree.fromstring(body, strict)
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
        assert parsed.entries or "/archive/" in str(path), path
    for path in out.rglob("*.json"):
        feed = json.loads(path.read_bytes())
        assert feed["version"] == "https://jsonfeed.org/version/1.1", path
    for name in ("opml.xml", "sitemap.xml", "sitemap-news.xml", "sitemap-posts-1.xml"):
        etree.fromstring((out / name).read_bytes(), strict)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_exporting_twice_gives_the_same_bytes_and_overwrites(
        export_app: Any, out: Path, tmp_path: Path) -> None:
    first = tree(out)
    again = export_site(export_app, tmp_path / "again")
    assert tree(tmp_path / "again") == first
    assert again.total == len(first) - 1  # the manifest is not counted
    (out / "CNAME").write_text("news.example.com\n")  # the operator's own file stays
    (out / "index.html").write_text("stale")
    export_site(export_app, out)
    assert tree(out) == {**first, "CNAME": b"news.example.com\n"}


def test_the_report_counts_files_per_kind(export_app: Any, tmp_path: Path) -> None:
    report = export_site(export_app, tmp_path / "out")
    # 3 categories, 4 tags; 中国电子报 and its tag have 3 pages each, 3 archive pages + 1
    assert report.files["home page"] == 1 and report.files["posts"] == 7
    assert report.files["QR codes"] == 7  # the share panel's image on each post page
    assert report.files["listing pages"] == 3 + 4 + 2 * 2
    assert report.files["feeds"] == 3 * (1 + 3 + 4)
    assert report.files["error pages"] == 2 and report.files["redirect maps"] == 3
    assert report.total == len([p for p in (tmp_path / "out").rglob("*") if p.is_file()]) - 1
    assert report.bytes == sum(len(b) for b in tree(tmp_path / "out").values()) - len(
        (tmp_path / "out" / ".syndicate-export").read_bytes())
    assert "Exported" in report.summary()
    assert re.search(r"^  posts +7 +[\d,]+$", report.summary(), re.MULTILINE)


def test_an_unexpected_answer_stops_the_export_naming_the_url(
        export_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from syndicate.web import pages

    def broken(_post: Any) -> str:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(pages, "render_post", broken)
    with pytest.raises(ExportError, match=r"GET /\S+\.html answered 500"):
        export_site(export_app, tmp_path / "out")


def test_the_app_must_be_created_for_an_export(live: Any, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="STATIC_EXPORT"):
        export_site(live, tmp_path / "out")


def test_a_tag_the_live_site_cannot_route_is_reported_not_silently_dropped(
        live: Any, export_app: Any, tmp_path: Path) -> None:
    core = live.extensions["syndicate"]
    # Straight into the store: ingest now slugs such a tag ("A-B股"); older rows may hold one.
    core.store.save_posts([make_input("NW202601080000000001", tags=("中国电子报新闻", "A/B股"),
                                      published=datetime(2026, 1, 8, 9, 0, tzinfo=CST))])
    assert live.test_client().get("/tag/A%2FB%E8%82%A1.html").status_code == 404
    report = export_site(export_app, tmp_path / "out")
    assert report.skipped == [("/tag/A%2FB%E8%82%A1.html",
                               "a tag containing '/' has no page or feeds on the live site either")]
    assert "Skipped /tag/A%2FB%E8%82%A1.html" in report.summary()


def test_the_store_lists_links_in_batches_and_tags(store: Any) -> None:
    store.save_posts(list(SITE_POSTS))
    rows = list(store.post_link_rows(batch=3))  # two batches: 3 + 1
    assert [row[0] for row in rows] == sorted(p.id for p in SITE_POSTS)
    assert all(len(code) >= 8 for *_rest, code in rows)
    assert set(store.tags()) == {"中国电子报新闻", "工业互联网", "财联社新闻", "东财滚动新闻"}
    assert list(store.gone_link_rows()) == []
    store.prune_posts(datetime(2026, 1, 6, tzinfo=CST), datetime(2026, 1, 7, tzinfo=CST))
    gone = list(store.gone_link_rows(batch=1))
    assert [row[0] for row in gone] == ["NW202601050000000001", "NW202601050000000002"]
    store.save_posts([SITE_POSTS[0]])  # published again: no longer gone
    assert [row[0] for row in store.gone_link_rows(batch=1)] == ["NW202601050000000002"]


# -- the command -------------------------------------------------------------------------


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SYNDICATE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("SYNDICATE_BASE_URL", BASE)
    monkeypatch.delenv("SYNDICATE_DATABASE_URL", raising=False)
    return CliRunner()


def test_the_export_command_writes_the_site_and_prints_a_summary(
        runner: CliRunner, tmp_path: Path) -> None:
    folder = write_posts(tmp_path / "_posts")
    (folder / "2026-02-03-broken.md").unlink()
    assert runner.invoke(main, ["import", str(folder)]).exit_code == 0
    result = runner.invoke(main, ["export", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert re.search(r"Exported \d+ files \([\d,]+ bytes\) to .*site:\n  kind +files +bytes\n"
                     r"  home page +1 +[\d,]+\n", result.output)
    assert re.search(r"^  posts +2 +[\d,]+$", result.output, re.MULTILINE)
    assert "2 short links" in result.output
    assert (tmp_path / "site" / "zhongguodianzibao/2026/02/01/NW202602010000000001.html").is_file()
    assert (tmp_path / "site" / "feed.xml").is_file()
    again = runner.invoke(main, ["export", str(tmp_path / "site")])  # not empty now: overwrites
    assert again.exit_code == 0, again.output


def test_the_export_command_refuses_a_file_as_directory(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "site.txt"
    target.write_text("not a folder")
    result = runner.invoke(main, ["export", str(target)])
    assert result.exit_code == 1
    assert f"cannot export to {target}: it is a file, not a directory" in result.output
    assert target.read_text() == "not a folder"


# -- nginx, when installed: the maps as an operator would use them --------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    types {{ text/html html; application/atom+xml atom; application/rss+xml rss; }}
    include {out}/nginx-redirects.conf;
    server {{
        listen 127.0.0.1:{port};
        root {out};
        include {out}/nginx-redirects-server.conf;
    }}
}}
"""


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_serves_the_export_with_its_redirect_maps(
        live: Any, export_app: Any, tmp_path: Path) -> None:
    core = live.extensions["syndicate"]
    first_code = core.post(FIRST).share_code
    core.prune(timedelta(hours=1), now=datetime(2026, 1, 5, 12, 0, tzinfo=CST))  # FIRST, 2nd
    out, port = tmp_path / "out", free_port()
    export_site(export_app, out)
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp_path, out=out, port=port))
    nginx = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
                             stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(base, timeout=1)
                break
            except requests.ConnectionError:
                assert nginx.poll() is None, nginx.stderr.read() if nginx.stderr else ""
                time.sleep(0.05)
        client = live.test_client()
        for path, code, target, status in redirect_rules(out):
            url = path + (f"?infoCode={code}&from=timeline" if code else "")
            answer = requests.get(base + url, allow_redirects=False, timeout=5)
            assert answer.status_code == status == client.get(url).status_code, url
            if status != 410:
                assert answer.headers["Location"].endswith(target), url
        # Codes typed in capitals resolve on the static host as they do on the service.
        for post_id in ("NW202601060000000003", "NW202601070000000010"):
            post = core.post(post_id)
            answer = requests.get(f"{base}/s/{post.share_code.upper()}", allow_redirects=False,
                                  timeout=5)
            assert answer.status_code == 302, post_id
            assert answer.headers["Location"].endswith(core.post_path(post))
        assert requests.get(f"{base}/s/{first_code.upper()}", timeout=5).status_code == 410
        assert requests.get(f"{base}/s/abcdefghjkmn", timeout=5).status_code == 404
        moved = core.post("NW202601060000000003")
        for page in ("/", f"/tag/{CJK_TAG}.html", "/category/zhongguodianzibao/page/2.html",
                     "/feed.xml", core.post_path(moved)):
            answer = requests.get(base + page, timeout=5)
            assert answer.status_code == 200 and answer.content == file_of(out, page).read_bytes()
        missing = requests.get(f"{base}/no/such/page.html", timeout=5)
        assert missing.status_code == 404 and "页面不存在" in missing.content.decode()
        gone = requests.get(base + FIRST_PATH, timeout=5)
        assert gone.status_code == 410 and "已被删除" in gone.content.decode()
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
