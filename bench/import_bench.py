"""Import benchmark: generate N posts in the old site's format and import them into fresh SQLite.

Usage: python bench/import_bench.py [--posts 10000]

Prints, measured side by side in one run on this machine:
- the floor: merely reading every file (bytes -> str),
- syndicate's import (parse, sanitise, store) into a fresh SQLite database,
and posts/s for each. Target: >= 2,500 posts/s for the import.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

MEDIA = [("中国电子报", "zhongguodianzibao"), ("财联社", "cailianshe"), ("证券时报", "zhengquanshibao"),
         ("21世纪经济报道", "21shijijingjibaodao"), ("上海证券报", "shanghaizhengquanbao"),
         ("中国基金报", "zhongguojijinbao"), ("每日经济新闻", "meirijingjixinwen"), ("券商中国", "quanshangzhongguo")]
SENTENCES = ["多家机构认为，相关政策落地将进一步稳定市场预期。", "数据显示，一季度行业营收同比增长12.5%。",
             "业内人士指出，产业链上下游协同仍需加强。", "公司表示，将继续加大研发投入，提升核心竞争力。",
             "分析师预计，全年出货量有望保持较快增长。", "记者从相关部门获悉，试点工作已在多个城市展开。"]
MEDIA_POST = """---
layout: post
title: "{title}"
date: {date} +0800
categories: {slug}
tags: {media}新闻
---
{body}<p class="em_media">（文章来源：{media}）</p>

<http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW{code}>

[返回{media}新闻](//finews.withounder.com/category/{slug}.html)｜[返回首页](//finews.withounder.com/)"""
EMNEWS_POST = """---
layout: post
title: "{title}"
date: {date} +0800
categories: emnews
tags: 东财滚动新闻
---
> {digest}

<p style="display:none;height:1px;overflow:hidden;"><br /></p>{body}<p class="em_media">（文章来源：{media}）</p>

<http://finance.eastmoney.com/news/1354,{code}.html>

[返回东财滚动新闻](//finews.withounder.com/emnews/)｜[返回首页](//finews.withounder.com/)"""


def generate(folder: Path, count: int, seed: int = 7) -> None:
    """Write ``count`` posts shaped like the old site's (media and emnews shapes, 1-5 KB)."""
    rng = random.Random(seed)
    start = datetime(2022, 1, 1, 8, 0, 0)
    for n in range(count):
        when = start + timedelta(minutes=7 * n)
        code = f"{when:%Y%m%d}{2200000000 + n:010d}"
        media, slug = rng.choice(MEDIA)
        paragraphs = "\n ".join(
            "<p>" + "".join(rng.choice(SENTENCES) for _ in range(rng.randint(3, 12))) + "</p>"
            for _ in range(rng.randint(2, 8)))
        title = rng.choice(SENTENCES)[:-1][:24]
        if n % 3:
            text = MEDIA_POST.format(title=title, date=f"{when:%Y-%m-%d %H:%M:%S}", slug=slug,
                                     media=media, body=paragraphs, code=code)
            name = f"{when:%Y-%m-%d}-NW{code}.md"
        else:
            text = EMNEWS_POST.format(title=title, date=f"{when:%Y-%m-%d %H:%M:%S}", media=media,
                                      digest=rng.choice(SENTENCES), body=paragraphs, code=code)
            name = f"{when:%Y-%m-%d}-{code}.md"
        (folder / name).write_text(text, encoding="utf-8")


def read_all(folder: Path) -> float:
    began = time.perf_counter()
    for path in sorted(folder.iterdir()):
        path.read_bytes().decode("utf-8")
    return time.perf_counter() - began


def import_all(folder: Path, workdir: Path) -> tuple[float, str]:
    from syndicate.core import Syndicate
    from syndicate.settings import load_settings

    settings = load_settings({"DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}"},
                             environ={}, instance_path=workdir)
    core = Syndicate(settings)
    core.init()
    began = time.perf_counter()
    report = core.import_paths([folder])
    elapsed = time.perf_counter() - began
    core.store.dispose()
    return elapsed, report.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, workdir = Path(tmp) / "_posts", Path(tmp) / "instance"
        folder.mkdir()
        workdir.mkdir()
        generate(folder, args.posts)
        size = sum(p.stat().st_size for p in folder.iterdir()) / args.posts
        read = read_all(folder)
        elapsed, summary = import_all(folder, workdir)
    print(f"posts: {args.posts} (average {size / 1024:.1f} KiB)")
    print(f"read files only : {args.posts / read:8.0f} posts/s")
    print(f"syndicate import: {args.posts / elapsed:8.0f} posts/s  ({elapsed:.2f} s; {summary})")
    print(f"import / read ratio: {read / elapsed:.2f}  target: >= 2500 posts/s")


if __name__ == "__main__":
    main()
