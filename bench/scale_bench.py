"""Scale benchmark: is every route flat from 10k to 1M posts?

Usage: python bench/scale_bench.py [--sizes 10000,100000] [--database-url URL] [--samples 30]

For each size, a fresh database is filled with generated posts over 2,000 media categories
(Zipf: a few big ones, a long tail; dates over three years; a media tag and topic tags per
post), then every route of the issue is asked through the app in-process:

- cold: the first request after a restart (a new app: empty in-process caches, no Redis),
- warm: the median of ``--samples`` repeats,

and printed side by side per size, with each size's ratio to the first size (target: within
2x) and the resident memory of the process after the whole route mix. Posts are written
through the Store in batches (what an import or the poller does after parsing), so filling
a million posts takes a while: start with 10k and 100k.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

CATEGORIES = 2000
TOPICS = ["芯片", "新能源", "降准", "宁德时代", "房地产", "人工智能", "消费", "医药", "银行", "券商",
          "光伏", "汽车", "出口", "黄金", "原油", "基金", "债券", "港股", "美股", "数字经济"]
SENTENCES = ["多家机构认为，相关政策落地将进一步稳定市场预期。", "数据显示，一季度行业营收同比增长12.5%。",
             "业内人士指出，产业链上下游协同仍需加强。", "公司表示，将继续加大研发投入，提升核心竞争力。",
             "分析师预计，全年出货量有望保持较快增长。", "记者从相关部门获悉，试点工作已在多个城市展开。"]
CST = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")


@dataclass
class Site:
    """What the routes need to know about a generated site."""

    biggest: str
    small: str
    tag: str
    post_path: str
    share_code: str
    legacy_id: str
    category_posts: int


def zipf_weights(n: int) -> list[float]:
    return [1 / rank for rank in range(1, n + 1)]


def generate(core: Any, posts: int, seed: int = 7) -> Site:
    """Fill the database with ``posts`` generated posts; return the facts routes need."""
    from syndicate.model import PostInput

    rng = random.Random(seed)
    slugs = [f"meiti{n:04d}" for n in range(CATEGORIES)]
    names = [f"媒体{n:04d}" for n in range(CATEGORIES)]
    weights = zipf_weights(CATEGORIES)
    start = datetime(2023, 12, 1, tzinfo=CST)
    span = 3 * 365 * 24 * 3600
    batch: list[PostInput] = []
    for n in range(posts):
        c = rng.choices(range(CATEGORIES), weights)[0]
        body = "".join(rng.choice(SENTENCES) for _ in range(8))
        media = names[c]
        batch.append(PostInput(
            id=f"NW{202300000000000000 + n:018d}", title=f"{media}：{body[:24]}",
            published=start + timedelta(seconds=rng.randrange(span)),
            category_name=media, category_slug=slugs[c],
            tags=(f"{media}新闻", rng.choice(TOPICS)),
            html=f"<p>{body}</p><p class=\"em_media\">（文章来源：{media}）</p>",
            summary=body[:160], source=media, url=None, origin=f"gen-{n}"))
        if len(batch) == 1000:
            core.save(batch)
            batch = []
    if batch:
        core.save(batch)
    store = core.store
    biggest, small = slugs[0], slugs[-1]
    if store.feed_state(f"category/{small}") is None:
        small = next(s for s in reversed(slugs) if store.feed_state(f"category/{s}") is not None)
    post = store.latest(1)[0]
    return Site(biggest, small, "芯片", core.post_path(post), post.share_code,
                post.id, store.count_in(category=biggest))


def routes(site: Site, page_size: int) -> dict[str, tuple[str, dict[str, str]]]:
    """Route label -> (URL, headers); 304s carry the ETag the warm-up saw (filled later)."""
    last = max(1, -(-site.category_posts // page_size))
    tag = quote(site.tag)
    table = {
        "feed big .atom": f"/category/{site.biggest}.atom",
        "feed big .rss": f"/category/{site.biggest}.rss",
        "feed big .json": f"/category/{site.biggest}.json",
        "feed small .atom": f"/category/{site.small}.atom",
        "feed small .rss": f"/category/{site.small}.rss",
        "feed small .json": f"/category/{site.small}.json",
        "/feed.xml": "/feed.xml",
        "home /": "/",
        "/categories.html": "/categories.html",
        "category p1": f"/category/{site.biggest}.html",
        "category middle": f"/category/{site.biggest}.html?page={max(1, last // 2)}",
        "category last": f"/category/{site.biggest}.html?page={last}",
        "tag page": f"/tag/{tag}.html",
        "post page": site.post_path,
        "short link": f"/s/{site.share_code}",
        "legacy link": f"/html_News/NewsShare.html?infoCode={site.legacy_id}",
        "/sitemap.xml": "/sitemap.xml",
        "sitemap-posts-1": "/sitemap-posts-1.xml",
        "/sitemap-news.xml": "/sitemap-news.xml",
        "/opml.xml": "/opml.xml",
        "/status": "/status",
    }
    found = {label: (url, {}) for label, url in table.items()}
    for label in ("feed big .atom", "feed small .atom", "/feed.xml"):
        found[f"{label} 304"] = (table[label], {"If-None-Match": "?"})
    return found


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = call()
    return (time.perf_counter() - began) * 1000, result


def measure(url: str, database_url: str, site: Site, samples: int) -> dict[str, tuple[float, float]]:
    """Cold and warm milliseconds per route, on a fresh app over the filled database."""
    from syndicate import create_app

    app = create_app({"DATABASE_URL": database_url, "BASE_URL": url, "REDIS_URL": ""})
    client = app.test_client()
    results: dict[str, tuple[float, float]] = {}
    table = routes(site, app.extensions["syndicate"].settings.page_size)
    etags: dict[str, str] = {}
    for label, (path, headers) in table.items():
        if headers.get("If-None-Match") == "?":
            headers = {"If-None-Match": etags[path]}
        cold, response = timed(lambda p=path, h=headers: client.get(p, headers=h))
        if response.status_code not in (200, 301, 302, 304):
            raise SystemExit(f"{label}: GET {path} answered {response.status_code}")
        etags.setdefault(path, response.headers.get("ETag", ""))
        warm = statistics.median(timed(lambda p=path, h=headers: client.get(p, headers=h))[0]
                                 for _ in range(samples))
        results[label] = (cold, warm)
    return results


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--database-url", default="",
                        help="PostgreSQL URL to use instead of a SQLite file (emptied first)")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    from syndicate.core import Syndicate
    from syndicate.settings import load_settings

    table: dict[int, dict[str, tuple[float, float]]] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            database_url = args.database_url or f"sqlite:///{Path(tmp) / 'scale.db'}"
            if args.database_url:
                from tests.conftest import reset_database

                reset_database(database_url)
            base = "https://news.example.com"
            core = Syndicate(load_settings({"DATABASE_URL": database_url, "BASE_URL": base},
                                           instance_path=Path(tmp), environ={}))
            core.init()
            began = time.perf_counter()
            site = generate(core, size)
            core.close(wait=0)
            print(f"{size:,} posts generated in {time.perf_counter() - began:.0f} s "
                  f"(biggest category: {site.category_posts:,} posts)", flush=True)
            table[size] = measure(base, database_url, site, args.samples)
            print(f"  resident memory after the route mix: {rss_mb():.0f} MB (peak of this process)",
                  flush=True)
    report(table, sizes)


def report(table: dict[int, dict[str, tuple[float, float]]], sizes: list[int]) -> None:
    first = sizes[0]
    head = "".join(f" | {s:>9,} cold | warm" for s in sizes)
    print(f"\n{'route':<20}{head} | x{first:,} (cold, warm)")
    worst = 0.0
    for label in table[first]:
        cells = "".join(f" | {table[s][label][0]:>11.1f} | {table[s][label][1]:>5.1f}"
                        for s in sizes)
        base_cold, base_warm = table[first][label]
        top_cold, top_warm = table[sizes[-1]][label]
        ratio = (top_cold / max(base_cold, 0.05), top_warm / max(base_warm, 0.05))
        worst = max(worst, *ratio)
        print(f"{label:<20}{cells} | {ratio[0]:.2f}, {ratio[1]:.2f}")
    print(f"\nmilliseconds; worst ratio {worst:.2f} (target: 2.0); "
          f"slowest cold request at {sizes[-1]:,}: "
          f"{max(c for c, _ in table[sizes[-1]].values()):.0f} ms (target: 500)")


if __name__ == "__main__":
    main()
