"""Share links people trust: codes, redirects by link class, tolerance, no open redirect,
QR codes, and counting without tracking."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import time
import urllib.robotparser
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.share import ALPHABET, CODE_LENGTH, is_valid_code, mint_code, normalize_code
from syndicate.sharelinks import classify

from .conftest import CST
from .test_workers import server, writer

BASE = "https://news.example.com"
POST_ID = "NW202601050000000001"
POST_URL = f"{BASE}/zhongguodianzibao/2026/01/05/{POST_ID}.html"
BARE_URL = f"{BASE}/emnews/2026/01/06/202601060000000004.html"
TWITTER = "Twitterbot/1.0"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def code_of(core: Any, post_id: str = POST_ID) -> str:
    return str(core.post(post_id).share_code)


def today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")


# -- codes ------------------------------------------------------------------------------


def test_codes_are_random_lowercase_and_free_of_look_alikes() -> None:
    codes = {mint_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(code) == CODE_LENGTH and is_valid_code(code) for code in codes)
    assert set("".join(codes)) <= set(ALPHABET)
    assert ALPHABET == ALPHABET.lower()
    assert not set("ilou") & set(ALPHABET)  # I/l vs 1, O vs 0, u vs v
    # "hopeless at a million posts": a guess finds one of 10**6 codes once in 10**12 tries
    assert len(ALPHABET) ** CODE_LENGTH / 10**6 > 10**12


@pytest.mark.parametrize("typed", [
    "{c}", "{C}", "{c}/", "{c}。", "{c}，", "{c}）", "{c})", "{c}.", " {c} ", "（{c}）", "{c}!",
])
def test_pasted_or_typed_codes_are_understood(typed: str) -> None:
    code = "0a1b2c3d4e5f"
    assert normalize_code(typed.format(c=code, C=code.upper())) == code


def test_typed_look_alikes_read_as_the_digits_they_look_like() -> None:
    assert normalize_code("OAIB2C3D4E5F") == "0a1b2c3d4e5f"
    assert normalize_code("oalb2c3d4e5f") == "0a1b2c3d4e5f"


@pytest.mark.parametrize("raw", ["", "abc", "0a1b2c3d4e5f0", "0a1b2c3d4e5u", "0a1b-2c3d4e5f",
                                 "https://evil.example", "0a1b2c3d4e5f/x", "x" * 500])
def test_malformed_codes_are_refused(raw: str) -> None:
    assert normalize_code(raw) is None


# -- redirects by link class -----------------------------------------------------------


def test_short_link_is_a_302_cached_privately_for_five_minutes(client: Any, core: Any) -> None:
    response = client.get(f"/s/{code_of(core)}")
    assert response.status_code == 302
    assert response.location == POST_URL
    assert response.headers["Cache-Control"] == "private, max-age=300"
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("info_code, target", [
    (POST_ID, POST_URL), ("202601050000000001", POST_URL),
    ("202601060000000004", BARE_URL), ("NW202601060000000004", BARE_URL),
])
def test_legacy_link_is_a_301_cached_publicly_for_a_day(client: Any, info_code: str,
                                                         target: str) -> None:
    response = client.get(f"/html_News/NewsShare.html?infoCode={info_code}")
    assert response.status_code == 301
    assert response.location == target
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    assert response.headers["X-Robots-Tag"] == "noindex"


def test_head_answers_like_get_without_a_body(client: Any, core: Any) -> None:
    for url, status in ((f"/s/{code_of(core)}", 302),
                        (f"/html_News/NewsShare.html?infoCode={POST_ID}", 301)):
        response = client.head(url)
        assert response.status_code == status
        assert response.location == POST_URL
        assert response.data == b""


@pytest.mark.parametrize("suffix", ["/", "%E3%80%82", "%EF%BC%8C", "%EF%BC%89", ")", ".",
                                    "%E2%80%A6", "%20"])
def test_short_links_tolerate_what_pasting_adds(client: Any, core: Any, suffix: str) -> None:
    for code in (code_of(core), code_of(core).upper()):
        response = client.get(f"/s/{code}{suffix}")
        assert response.status_code == 302, suffix
        assert response.location == POST_URL


def test_only_utm_parameters_are_passed_on(client: Any, core: Any) -> None:
    query = ("utm_source=wechat&utm_medium=social&utm_campaign=%E6%98%A5%E8%8A%82"
             "&next=https://evil.example/&url=//evil.example&from=timeline&isappinstalled=0")
    for url in (f"/s/{code_of(core)}?{query}",
                f"/html_News/NewsShare.html?infoCode={POST_ID}&{query}"):
        location = client.get(url).location
        assert location == (f"{POST_URL}?utm_source=wechat&utm_medium=social"
                            "&utm_campaign=%E6%98%A5%E8%8A%82")


def test_unknown_and_malformed_links_get_the_sites_404_page(client: Any) -> None:
    for url in ("/s/abcdefghjkmn", "/s/abc", "/s/", "/s/abcdefghjkmn.svg", "/s/%FF%FE",
                "/html_News/NewsShare.html?infoCode=NW999999999999999999",
                "/html_News/NewsShare.html?infoCode=hello", "/html_News/NewsShare.html"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.location is None
        page = response.get_data(as_text=True)
        assert "页面不存在" in page and 'href="/"' in page


def test_links_of_a_deleted_post_answer_410(client: Any, core: Any) -> None:
    code = code_of(core, POST_ID)
    core.prune(timedelta(hours=1), now=datetime(2026, 1, 6, 9, 0, tzinfo=CST))  # January 5th
    for url in (f"/s/{code}", f"/s/{code.upper()}。", f"/s/{code}.svg",
                f"/html_News/NewsShare.html?infoCode={POST_ID}",
                "/html_News/NewsShare.html?infoCode=202601050000000001"):
        response = client.get(url)
        assert response.status_code == 410, url
        assert response.location is None
        assert "内容已删除" in response.get_data(as_text=True)
    live = code_of(core, "NW202601060000000003")
    assert client.get(f"/s/{live}").status_code == 302  # the others live on


HOSTILE_SHORT = [
    "https://evil.example", "//evil.example", "/evil.example", "javascript:alert(1)",
    "%2F%2Fevil.example", "%252F%252Fevil.example", "..%2F..%2Fevil", "%5C%5Cevil.example",
    "{code}%0D%0ALocation:%20https://evil.example", "{code}%0ASet-Cookie:%20a=b",
    "{code}/https://evil.example", "{code}@evil.example", "{code}%00", "{code}#@evil.example",
]
HOSTILE_QUERY = [
    "next=https://evil.example", "redirect=//evil.example", "url=javascript:alert(1)",
    "utm_source=%0D%0ALocation:%20https://evil.example", "utm_source=https://evil.example/%2F..",
    "utm_=x&utm_source%0D%0A=y", "infoCode=//evil.example", "return_to=%2F%2Fevil.example",
]


def _assert_safe(response: Any, headers_ok: bool = True) -> None:
    location = response.headers.get("Location")
    if location is not None:
        parts = urlsplit(location)
        assert f"{parts.scheme}://{parts.netloc}" == BASE, location
        assert parts.path.endswith(".html") and "//" not in parts.path, location
        assert "\r" not in location and "\n" not in location
        assert all(key.startswith("utm_") for key, _ in
                   (pair.split("=", 1) for pair in parts.query.split("&") if pair)), location
    assert "evil" not in "".join(f"{k}{v}" for k, v in response.headers.items()
                                 if k not in ("Location",))


@pytest.mark.parametrize("path", HOSTILE_SHORT)
def test_no_short_link_can_redirect_off_the_site(client: Any, core: Any, path: str) -> None:
    response = client.get("/s/" + path.format(code=code_of(core)))
    assert response.status_code in (302, 404), path
    _assert_safe(response)


@pytest.mark.parametrize("query", HOSTILE_QUERY)
def test_no_query_can_redirect_off_the_site(client: Any, core: Any, query: str) -> None:
    for url in (f"/s/{code_of(core)}?{query}",
                f"/html_News/NewsShare.html?infoCode={POST_ID}&{query}",
                f"/html_News/NewsShare.html?{query}&infoCode={POST_ID}",
                f"/html_News/NewsShare.html?{query}"):
        response = client.get(url)
        assert response.status_code in (301, 302, 404), url
        _assert_safe(response)


def test_the_request_host_never_leaks_into_a_redirect(client: Any, core: Any) -> None:
    for headers in ({"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example",
                                                "X-Forwarded-Proto": "http"}):
        response = client.get(f"/s/{code_of(core)}", headers=headers)
        assert response.location == POST_URL


# -- QR codes ---------------------------------------------------------------------------


def svg_matrix(svg: bytes) -> list[list[bool]]:
    """The modules segno drew: its path is rows of horizontal runs (M/m moves, h lines)."""
    text = svg.decode()
    size = int(re.search(r'd="M0 0h(\d+)v', text).group(1))  # type: ignore[union-attr]
    path = re.search(r'class="qrline"[^>]* d="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for op, a, b in re.findall(r"([MmHh])\s*(-?[\d.]+)(?:\s+(-?[\d.]+))?", path):
        if op in "Mm":
            x, y = (float(a), float(b)) if op == "M" else (x + float(a), y + float(b))
        else:
            run = float(a) if op == "h" else float(a) - x
            for col in range(int(x), int(x + run)):
                grid[int(y)][col] = True
            x += run
    return grid


def decode_qr(svg: bytes) -> str:
    zxingcpp = pytest.importorskip("zxingcpp")
    image_module = pytest.importorskip("PIL.Image")
    grid = svg_matrix(svg)
    scale = 8
    image = image_module.new("L", (len(grid) * scale, len(grid) * scale), 255)
    pixels = image.load()
    for row, line in enumerate(grid):
        for col, dark in enumerate(line):
            if dark:
                for dy in range(scale):
                    for dx in range(scale):
                        pixels[col * scale + dx, row * scale + dy] = 0
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    return str(found[0].text)


def test_qr_code_decodes_to_the_short_url_and_is_cacheable(client: Any, core: Any) -> None:
    code = code_of(core)
    response = client.get(f"/s/{code.upper()}.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert decode_qr(response.data) == f"{BASE}/s/{code}"
    assert "public" in response.headers["Cache-Control"]
    assert int(re.search(r"max-age=(\d+)", response.headers["Cache-Control"]).group(1)) >= 86400  # type: ignore[union-attr]
    again = client.get(f"/s/{code}.svg", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


# -- counting ---------------------------------------------------------------------------


@pytest.mark.parametrize("method, headers, kind", [
    ("GET", {"HTTP_USER_AGENT": BROWSER}, "click"),
    ("GET", {}, "click"),
    ("GET", {"HTTP_USER_AGENT": "Mozilla/5.0 (compatible; Discordbot/2.0)"}, "preview"),
    ("GET", {"HTTP_USER_AGENT": "facebookexternalhit/1.1"}, "preview"),
    ("GET", {"HTTP_USER_AGENT": "Slackbot-LinkExpanding 1.0"}, "preview"),
    ("GET", {"HTTP_USER_AGENT": "TelegramBot (like TwitterBot)"}, "preview"),
    ("GET", {"HTTP_USER_AGENT": "WhatsApp/2.23.20.0"}, "preview"),
    ("GET", {"HTTP_USER_AGENT": "LinkedInBot/1.0"}, "preview"),
    ("GET", {"HTTP_USER_AGENT": "Mozilla/5.0 (compatible; Googlebot/2.1)"}, None),
    ("GET", {"HTTP_USER_AGENT": "Baiduspider"}, None),
    ("HEAD", {"HTTP_USER_AGENT": BROWSER}, None),
    ("GET", {"HTTP_USER_AGENT": BROWSER, "HTTP_DNT": "1"}, None),
    ("GET", {"HTTP_USER_AGENT": BROWSER, "HTTP_SEC_GPC": "1"}, None),
    ("GET", {"HTTP_USER_AGENT": TWITTER, "HTTP_DNT": "1"}, None),
])
def test_who_is_counted(method: str, headers: dict[str, str], kind: str | None) -> None:
    assert classify(method, headers) == kind


_READERS = itertools.count(1)


def follow(client: Any, url: str, times: int = 1, address: str | None = None,
           **headers: str) -> None:
    """Follow a link ``times`` times, each time as another reader (another address), since
    one reader counts once per window."""
    for _ in range(times):
        n = next(_READERS)
        environ = {"REMOTE_ADDR": address or f"198.18.{n // 250 % 250}.{n % 250 + 1}"}
        assert client.get(url, headers=headers, environ_base=environ).status_code in (301, 302)


def test_clicks_and_previews_are_counted_apart_per_day(client: Any, core: Any) -> None:
    code = code_of(core)
    follow(client, f"/s/{code}", 3, **{"User-Agent": BROWSER})
    follow(client, f"/html_News/NewsShare.html?infoCode={POST_ID}", 1, **{"User-Agent": BROWSER})
    follow(client, f"/s/{code}", 2, **{"User-Agent": TWITTER})
    client.head(f"/s/{code}")
    follow(client, f"/s/{code}", 1, **{"User-Agent": BROWSER, "DNT": "1"})
    follow(client, f"/s/{code}", 1, **{"User-Agent": BROWSER, "Sec-GPC": "1"})
    core.shares.counter.flush()
    stats = client.get(f"/api/posts/{POST_ID}/share").get_json()
    assert stats == {"code": code, "short_url": f"{BASE}/s/{code}",
                     "legacy_url": f"{BASE}/html_News/NewsShare.html?infoCode={POST_ID}",
                     "clicks": 4, "previews": 2,
                     "by_day": [{"day": today(), "clicks": 4, "previews": 2}]}
    # The bare infoCode is the same post, with the same numbers.
    assert client.get("/api/posts/202601050000000001/share").get_json()["clicks"] == 4


def test_counting_batches_writes_and_a_failing_write_breaks_nothing(
        client: Any, core: Any, monkeypatch: Any) -> None:
    code = code_of(core)
    writes: list[Any] = []
    real = core.store.add_share_hits

    def broken(counts: Any) -> None:
        writes.append(dict(counts))
        raise RuntimeError("database down")

    monkeypatch.setattr(core.store, "add_share_hits", broken)
    follow(client, f"/s/{code}", 50)
    assert writes == []  # no write per request
    assert core.shares.counter.flush() == 0  # failed: kept for the next try
    assert writes == [{(code, today()): (50, 0)}]
    follow(client, f"/s/{code}", 1)  # still redirects
    monkeypatch.setattr(core.store, "add_share_hits", real)
    assert core.shares.counter.flush() == 1
    assert client.get(f"/api/posts/{POST_ID}/share").get_json()["clicks"] == 51


def test_nothing_about_the_reader_is_stored(client: Any, core: Any) -> None:
    follow(client, f"/s/{code_of(core)}", 1, address="127.0.0.1", **{"User-Agent": BROWSER})
    core.shares.counter.flush()
    with core.store.engine.connect() as conn:
        tables = {row[0]: row[1] for row in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
        dump = "\n".join(str(row) for name in tables for row in conn.exec_driver_sql(
            f'SELECT * FROM "{name}"'))
    assert "share_hits" in tables
    assert re.findall(r"\b(\w+) (?:VARCHAR|INTEGER|TEXT)", tables["share_hits"]) == [
        "code", "day", "clicks", "previews"]
    assert "127.0.0.1" not in dump and "iPhone" not in dump


def test_counting_can_be_switched_off(tmp_path: Path) -> None:
    from syndicate import create_app

    from .conftest import SITE_POSTS

    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path, "SHARE_COUNTING": "off",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'off.db'}", "BASE_URL": BASE})
    core = app.extensions["syndicate"]
    core.init()
    core.save(SITE_POSTS)
    try:
        follow(app.test_client(), f"/s/{code_of(core)}", 3)
        core.shares.counter.flush()
        assert core.shares.stats(POST_ID).clicks == 0
    finally:
        core.close(wait=0)


def test_cli_prints_the_share_url_and_the_same_stats_as_the_api(
        app: Any, client: Any, core: Any, monkeypatch: Any) -> None:
    follow(client, f"/s/{code_of(core)}", 2, **{"User-Agent": BROWSER})
    follow(client, f"/s/{code_of(core)}", 1, **{"User-Agent": TWITTER})
    core.shares.counter.flush()
    settings = core.settings
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SYNDICATE_BASE_URL", BASE)
    monkeypatch.setenv("SYNDICATE_INSTANCE", str(settings.instance_path))
    runner = CliRunner()
    plain = runner.invoke(main, ["share", POST_ID])
    assert plain.exit_code == 0 and plain.output.strip() == f"{BASE}/s/{code_of(core)}"
    as_json = runner.invoke(main, ["share", POST_ID, "--stats", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == client.get(f"/api/posts/{POST_ID}/share").get_json()
    text = runner.invoke(main, ["share", POST_ID, "--stats"])
    assert text.exit_code == 0
    assert "clicks:     2" in text.output and "previews:   1" in text.output
    assert re.search(rf"{today()}\s+2\s+1", text.output)
    missing = runner.invoke(main, ["share", "NW999999999999999999", "--stats"])
    assert missing.exit_code != 0 and "NW999999999999999999" in missing.output


def test_robots_lets_preview_crawlers_fetch_posts_and_short_links(client: Any, core: Any) -> None:
    robots = urllib.robotparser.RobotFileParser()
    robots.parse(client.get("/robots.txt").get_data(as_text=True).splitlines())
    short, post = f"{BASE}/s/{code_of(core)}", POST_URL
    for agent in ("Twitterbot", "facebookexternalhit", "Slackbot", "TelegramBot", "WhatsApp",
                  "Discordbot", "LinkedInBot"):
        assert robots.can_fetch(agent, short) and robots.can_fetch(agent, post), agent
        assert not robots.can_fetch(agent, f"{BASE}/api/posts")
    assert robots.can_fetch("Googlebot", post)
    assert not robots.can_fetch("Googlebot", short)  # short links are for people


# -- the real server -------------------------------------------------------------------


def test_the_production_server_redirects_and_counts_in_every_worker(tmp_path: Path) -> None:
    from .conftest import SITE_POSTS

    database_url = f"sqlite:///{tmp_path / 'live.db'}"
    core = writer(tmp_path, database_url)
    core.save(SITE_POSTS)
    code = code_of(core)
    core.close(wait=0)
    with server(tmp_path, database_url) as base:
        # Eight readers (one address, eight browsers): each counts once.
        for n, agent in enumerate([BROWSER] * 6 + [TWITTER] * 2):
            answer = requests.get(f"{base}/s/{code}", headers={"User-Agent": f"{agent} r{n}",
                                                                "Connection": "close"},
                                  allow_redirects=False, timeout=5)
            assert answer.status_code == 302
            assert answer.headers["Location"] == f"{base}/zhongguodianzibao/2026/01/05/{POST_ID}.html"
        deadline = time.monotonic() + 20
        totals: tuple[int, int] = (0, 0)
        while time.monotonic() < deadline and totals != (6, 2):
            time.sleep(0.5)
            with sqlite3.connect(tmp_path / "live.db") as conn:
                row = conn.execute("SELECT sum(clicks), sum(previews) FROM share_hits "
                                   "WHERE code = ?", (code,)).fetchone()
            totals = (row[0] or 0, row[1] or 0)
        assert totals == (6, 2)


def test_svg_matrix_reads_a_known_pattern() -> None:
    # Guard the test's own decoder: a 3x3 frame with a hole in the middle.
    svg = (b'<svg><path fill="#fff" d="M0 0h3v3h-3z"/><path class="qrline" stroke="#000" '
           b'd="M0 0.5h3m-3 1h1m1 0h1m-3 1h3"/></svg>')
    assert svg_matrix(svg) == [[True] * 3, [True, False, True], [True] * 3]


def test_a_counting_fault_never_fails_a_redirect(client: Any, core: Any, monkeypatch: Any) -> None:
    def broken(code: str, kind: str) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(core.shares.counter, "hit", broken)
    response = client.get(f"/s/{code_of(core)}")
    assert response.status_code == 302 and response.location == POST_URL
