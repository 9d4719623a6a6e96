"""Linear-time benchmark: adversarial text shapes through every ingest path, at two sizes.

Usage: python bench/hostile_bench.py [--small 10000] [--large 100000] [--quick]

Each payload shape (unclosed and misnested tags, ``<script>`` repeated, hidden divs, long
attributes, entities, long lines, Markdown pathologies, repeated footers and share-link
lines, ...) is built at a small and a large size (10 KB and 100 KB by default) and fed
through the whole ingest, measured side by side in one run on this machine:

- ``jekyll``: a post file parsed by ``parse_post`` (front matter, chrome, Markdown, body);
- ``feed``: an RSS document read by ``read_feed``, then each item built into a post;
- ``jsonapi``: a JSON news API list read by ``read_list``, then each item built;
- ``api``: ``POST /api/posts`` to the publish API (Flask test client, SQLite);
- ``derive``: a blank title derived from the body, its summary, link preview and the
  relative URLs made absolute as a feed render does.

It prints, per shape and path, the best CPU time at each size and their ratio: about 10
(the size ratio) is linear, 100 quadratic. Exit status 1 when any ratio is above twice the
size ratio (20 by default). ``--quick`` runs 10 KB and 40 KB (limit 8) as a smoke test;
both sizes are above the length under which ingest takes a shortcut for short bodies.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from benchlib import best_cpu_time  # noqa: E402

from syndicate import create_app  # noqa: E402
from syndicate.errors import InvalidPost  # noqa: E402
from syndicate.ingest.feed import read_feed  # noqa: E402
from syndicate.ingest.jekyll import parse_post  # noqa: E402
from syndicate.ingest.jsonapi import read_list  # noqa: E402
from syndicate.ingest.post import Item, Page, build_post  # noqa: E402
from syndicate.preview import description, first_image  # noqa: E402
from syndicate.sources import Source, SourceKind  # noqa: E402
from syndicate.text import absolutize  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
#: A ratio above this many times the size ratio fails the run.
SLACK = 2.0
TOKEN = "bench-token"
SHARE = "<http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202203011234567890>\n"
BACK = "[返回中国电子报新闻](//finews.withounder.com/category/zhongguodianzibao.html)"

#: name -> the unit repeated to fill the size (a str), or a function of the size.
SHAPES: dict[str, str | Callable[[int], str]] = {
    "unclosed-div": "<div>",
    "unclosed-ul": "<ul>",
    "unclosed-center": "<center>",
    "script": "<script>",
    "style": "<style>",
    "comment": "<!--",
    "hidden-div": '<div style="display:none">x',
    "hidden-closed": '<p style="display:none;height:1px;"><br /></p>x',
    "nested-inline": "<b><i><span>",
    "misnested": "<div></span>",
    "format-reopen": "<b>x</p>",
    "format-attrs": lambda n: "".join(f'<p><b title="{i}">x</p>' for i in range(n // 24)),
    "table-cells": "<td>",
    "long-attribute": lambda n: f'<p><a href="https://example.com/{"a" * n}">x</a></p>',
    "many-attributes": lambda n: "<p " + " ".join(f"a{i}" for i in range(n // 7)) + ">x</p>",
    "unterminated-quote": lambda n: '<p title="' + "<b>x" * (n // 4),
    "lt": "<",
    "tag-open": "<a",
    "entities": "&amp;",
    "bare-ampersands": "&",
    "numeric-entities": "&#",
    "long-line": "x",
    "cjk-line": "中",
    "spaces": lambda n: "x" + " " * n + "x",
    "newlines": "\n",
    "controls": "\x01\x0b\ufffe",
    "md-brackets": "[",
    "md-stars": "*",
    "md-underscores": "_",
    "md-quotes": ">",
    "md-quote-lines": "> \n",
    "md-backticks": "`",
    "md-links": "[a](",
    "md-autolinks": "<http://",
    "md-list-nesting": lambda n: "".join("  " * i + "- x\n" for i in range(int((n / 2) ** 0.5))),
    "footers": '<p class="em_media">（文章来源：中国电子报）</p>',
    "unclosed-footers": '<p class="em_media">（文章来源：',
    "loose-attribution": "（文章来源：",
    "share-lines": SHARE,
    "back-link-lines": BACK + "｜" + BACK + "\n",
    "back-link-spaces": lambda n: BACK + " " * n + "x\n",
    "images": '<img src="/i.png">',
    "relative-ampersands": lambda n: '<p><img src="/i.png">' + "&" * n + "</p>",
}


def payload(shape: str, size: int) -> str:
    """The shape's payload of about ``size`` characters."""
    unit = SHAPES[shape]
    if callable(unit):
        return unit(size)
    return unit * max(1, size // len(unit))


# --- ingest paths --------------------------------------------------------------------

def jekyll(body: str) -> None:
    text = (f"---\ntitle: 标题\ndate: 2026-03-09 10:23:24 +0800\ncategories: zhongguodianzibao\n"
            f"tags: 中国电子报新闻\n---\n{body}\n")
    try:
        parse_post(text, filename="2026-03-09-NW202603090000000001.md", tz=TZ)
    except InvalidPost:
        pass  # a refusal is an outcome too; only the time matters here


def _build(item: Item, page: Page) -> None:
    try:
        build_post(post_id=item.id, title=item.title, published=datetime(2026, 3, 9, tzinfo=TZ),
                   media="财联社", html=item.html, summary=item.summary, url=item.url)
    except InvalidPost:
        pass


def feed(body: str) -> None:
    escaped = html.escape(body)
    data = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            f"<item><title>{escaped}</title><link>https://up.example.com/a/1</link>"
            f"<description>{escaped}</description>"
            f"<pubDate>Mon, 09 Mar 2026 10:00:00 +0800</pubDate></item></channel></rss>")
    page = read_feed(data.encode(), content_type="application/rss+xml", charset="utf-8",
                     url="https://up.example.com/rss", tz=TZ)
    for item in page.items:
        _build(item, page)


_JSON_SOURCE = Source(
    name="bench", kind=SourceKind.JSON, url="https://up.example.com/list", every=timedelta(60),
    items="data.list",
    fields=(("id", "code"), ("title", "title"), ("date", "showTime"), ("media", "mediaName"),
            ("summary", "digest"), ("html", "content"), ("url", "url")),
)


def jsonapi(body: str) -> None:
    record = {"code": "NW202603090000000001", "title": body, "showTime": "2026-03-09 10:00:00",
              "mediaName": "财联社", "digest": body, "content": body,
              "url": "https://up.example.com/a/1"}
    data = json.dumps({"data": {"list": [record]}}, ensure_ascii=False).encode()
    page = read_list(data, charset="utf-8", source=_JSON_SOURCE, tz=TZ)
    for item in page.items:
        _build(item, page)


def derive(body: str) -> None:
    try:
        post = build_post(post_id="NW202603090000000001", title="", media="财联社", html=body,
                          published=datetime(2026, 3, 9, tzinfo=TZ))
    except InvalidPost:
        return
    description(post.html)
    first_image(post.html, "https://news.example.com")
    absolutize(post.html, "https://news.example.com")  # what every feed render does


class Publisher:
    """The publish API on a throwaway SQLite database, through Flask's test client."""

    def __init__(self, folder: Path) -> None:
        app = create_app({
            "TESTING": True, "INSTANCE_PATH": folder,
            "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "BASE_URL": "https://news.example.com", "API_TOKENS": TOKEN,
            "API_MAX_BYTES": 8_000_000, "SOURCES": str(folder / "sources.toml"),
        })
        self.core = app.extensions["syndicate"]
        self.core.init()
        self.client = app.test_client()
        self.count = 0

    def __call__(self, body: str) -> None:
        self.count += 1
        post = {"id": f"NW2026030900{self.count:08d}", "title": "标题", "media": "财联社",
                "date": "2026-03-09T10:23:24+08:00", "html": body or "x"}
        answer = self.client.post("/api/posts", json=post,
                                  headers={"Authorization": f"Bearer {TOKEN}"})
        if answer.status_code >= 500:
            raise SystemExit(f"the publish API answered {answer.status_code}")

    def close(self) -> None:
        self.core.store.dispose()


# --- measuring -----------------------------------------------------------------------

def measure(paths: dict[str, Callable[[str], Any]], small: int, large: int,
            shapes: list[str], repeat: int = 5) -> list[tuple[str, str, float, float]]:
    """Time every shape through every path at both sizes; print a row as each is done."""
    limit = SLACK * large / small
    rows = []
    print(f"{'shape':20} {'path':8} {small // 1000:>6} KB {large // 1000:>6} KB  ratio")
    for shape in shapes:
        low, high = payload(shape, small), payload(shape, large)
        for name, run in paths.items():
            run(low)  # warm caches and imports
            t_low, t_high = best_cpu_time(run, low, repeat), best_cpu_time(run, high, 2)
            ratio = t_high / t_low
            flag = "  <-- above limit" if ratio > limit else ""
            print(f"{shape:20} {name:8} {t_low * 1000:8.2f}ms {t_high * 1000:8.2f}ms "
                  f"{ratio:6.1f}{flag}", flush=True)
            rows.append((shape, name, t_low, t_high))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="small payload size (chars)")
    parser.add_argument("--large", type=int, default=100_000, help="large payload size (chars)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 10 KB and 40 KB")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES),
                        help="only this shape (repeatable)")
    args = parser.parse_args(argv)
    small, large = (10_000, 40_000) if args.quick else (args.small, args.large)
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as tmp:
        publisher = Publisher(Path(tmp))
        paths = {"jekyll": jekyll, "feed": feed, "jsonapi": jsonapi, "api": publisher,
                 "derive": derive}
        try:
            rows = measure(paths, small, large, args.shape or list(SHAPES), 3 if args.quick else 5)
        finally:
            publisher.close()
    worst = max(rows, key=lambda row: row[3] / row[2])
    ratio, limit = worst[3] / worst[2], SLACK * large / small
    print(f"worst: {worst[0]} via {worst[1]}, ratio {ratio:.1f} (limit {limit:.0f}, "
          f"size ratio {large / small:.0f})")
    return 1 if ratio > limit else 0


if __name__ == "__main__":
    sys.exit(main())
