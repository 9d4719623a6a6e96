"""Generate a large news site in the old finews site's Jekyll format, deterministic from a seed.

Usage: python bench/scale_gen.py DIR [--posts 100000] [--categories 2000] [--seed 7]

Writes ``DIR/_posts`` and ``DIR/old_post`` as the old site's repository held them:

- media posts (``YYYY-MM-DD-NW<code>.md``, ``categories: <pinyin>``, ``tags: <媒体>新闻``, an HTML
  body, the ``em_media`` footer, the share link and the back-links),
- emnews posts (``YYYY-MM-DD-<code>.md``, ``categories: emnews``, a ``> `` digest line, the
  eastmoney link), some of them the bare twin of a media post's NW code (one article),
- a few files copied into ``old_post/`` with the later back-link domain (the same article twice),

over ``--categories`` media names whose sizes follow a Zipf law (a few big, a long tail), with
publish dates spread over three years. ``generate`` is imported by the other benchmarks.
"""

from __future__ import annotations

import argparse
import itertools
import random
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

#: Place names and outlet words the media names are made of: (hanzi, pinyin).
PLACES = [("中国", "zhongguo"), ("上海", "shanghai"), ("北京", "beijing"), ("深圳", "shenzhen"),
          ("广州", "guangzhou"), ("江苏", "jiangsu"), ("浙江", "zhejiang"), ("四川", "sichuan"),
          ("湖北", "hubei"), ("湖南", "hunan"), ("山东", "shandong"), ("河南", "henan"),
          ("福建", "fujian"), ("安徽", "anhui"), ("天津", "tianjin"), ("重庆", "chongqing"),
          ("辽宁", "liaoning"), ("吉林", "jilin"), ("陕西", "shanxi"), ("云南", "yunnan"),
          ("贵州", "guizhou"), ("广西", "guangxi"), ("海南", "hainan"), ("江西", "jiangxi"),
          ("河北", "hebei"), ("甘肃", "gansu"), ("宁夏", "ningxia"), ("青海", "qinghai"),
          ("西藏", "xizang"), ("香港", "xianggang"), ("澳门", "aomen"), ("台湾", "taiwan")]
SUBJECTS = [("证券", "zhengquan"), ("财经", "caijing"), ("经济", "jingji"), ("金融", "jinrong"),
            ("商业", "shangye"), ("科技", "keji"), ("能源", "nengyuan"), ("汽车", "qiche"),
            ("地产", "dichan"), ("基金", "jijin"), ("保险", "baoxian"), ("银行", "yinhang"),
            ("产业", "chanye"), ("工业", "gongye"), ("农业", "nongye"), ("消费", "xiaofei"),
            ("医药", "yiyao"), ("电子", "dianzi"), ("通信", "tongxin"), ("交通", "jiaotong"),
            ("环球", "huanqiu"), ("投资", "touzi"), ("期货", "qihuo"), ("外汇", "waihui")]
OUTLETS = [("报", "bao"), ("日报", "ribao"), ("时报", "shibao"), ("晚报", "wanbao"), ("网", "wang"),
           ("周刊", "zhoukan"), ("观察", "guancha")]
OPENINGS = ["记者从相关部门获悉，", "数据显示，", "业内人士指出，", "公司公告称，", "分析人士认为，",
            "据了解，", "市场人士表示，", "最新统计表明，", "从调研情况看，", "受多重因素影响，"]
SUBJECTS_TEXT = ["一季度行业营收", "今年以来新能源汽车销量", "多家上市公司净利润", "区域产业集群",
                 "主要城市新房成交量", "跨境资金流动", "重点项目投资", "中小企业融资成本",
                 "光伏组件出货量", "消费市场整体", "大宗商品价格", "居民储蓄存款"]
PREDICATES = ["同比增长12.5%", "保持平稳运行", "较上月明显回升", "延续回暖态势", "有望进一步改善",
              "出现结构性分化", "创下年内新高", "小幅回落", "稳中有进", "好于市场预期"]
CLOSINGS = ["。", "，相关政策效果正在逐步显现。", "，后续走势仍需观察。", "，产业链上下游协同仍需加强。",
            "，机构普遍看好全年表现。", "，监管部门将持续跟踪评估。"]
TITLE_TAILS = ["释放积极信号", "迎来新进展", "出炉", "引发关注", "再度升温", "稳步推进", "持续走强"]

MEDIA_POST = """---
layout: post
title: "{title}"
date: {date} +0800
categories: {slug}
tags: {media}新闻
---
{body}<p class="em_media">（文章来源：{media}）</p>

<http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW{code}>

[返回{media}新闻](//finews.withounder.com/category/{slug}.html)｜[返回首页]({home})"""
EMNEWS_POST = """---
layout: post
title: "{title}"
date: {date} +0800
categories: emnews
tags: 东财滚动新闻
---
> {digest}

<p style="display:none;height:1px;overflow:hidden;"><br /></p>{body}\
<p class="em_media">（文章来源：{media}）</p>

<http://finance.eastmoney.com/news/1354,{code}.html>

[返回东财滚动新闻](//finews.withounder.com/emnews/)｜[返回首页]({home})"""
HOMES = ("//finews.withounder.com/", "//finews.zning.me/")
SPAN = timedelta(days=3 * 365)
START = datetime(2021, 12, 1, 8, 0, 0)


@dataclass(frozen=True)
class Media:
    name: str
    slug: str


@dataclass
class Generated:
    """What was written: files, distinct articles, NW/bare twins and old_post copies."""

    files: int = 0
    articles: int = 0
    twins: int = 0
    copies: int = 0

    @property
    def merged(self) -> int:
        """Files an import merges into another file's article."""
        return self.twins + self.copies


def media_names(count: int) -> list[Media]:
    """``count`` distinct media names with their pinyin slugs, the big outlets first."""
    combos = itertools.product(OUTLETS, SUBJECTS, PLACES)
    names = [Media(p[0] + s[0] + o[0], p[1] + s[1] + o[1]) for o, s, p in combos]
    if count > len(names):
        raise ValueError(f"--categories: at most {len(names)} media names can be made")
    return names[:count]


def zipf_weights(count: int, exponent: float = 1.1) -> list[float]:
    """Cumulative Zipf weights: rank r has weight 1 / r**exponent."""
    return list(itertools.accumulate(1 / rank**exponent for rank in range(1, count + 1)))


class _Writer:
    """Writes one site; every choice comes from one seeded random generator."""

    def __init__(self, root: Path, seed: int, categories: int) -> None:
        self.rng = random.Random(seed)
        self.media = media_names(categories)
        self.weights = zipf_weights(categories)
        self.posts, self.old = root / "_posts", root / "old_post"
        self.posts.mkdir(parents=True, exist_ok=True)
        self.old.mkdir(parents=True, exist_ok=True)
        self.stats = Generated()

    def pick_media(self) -> Media:
        point = self.rng.random() * self.weights[-1]
        return self.media[min(bisect_left(self.weights, point), len(self.media) - 1)]

    def sentence(self) -> str:
        r = self.rng
        subject = r.choice(SUBJECTS_TEXT)
        if r.random() < 0.15:
            # Eastmoney links company names to their quote pages.
            number = r.randint(600000, 603999)
            subject = (f'<span id="stock_1.{number}"><a href="http://quote.eastmoney.com/unify/r/'
                       f'1.{number}" class="keytip" data-code="{number},1">{subject}</a></span>')
        return r.choice(OPENINGS) + subject + r.choice(PREDICATES) + r.choice(CLOSINGS)

    def body(self) -> str:
        r = self.rng
        paragraphs = ["<p>" + "".join(self.sentence() for _ in range(r.randint(3, 10))) + "</p>"
                      for _ in range(r.randint(2, 9))]
        if r.random() < 0.3:
            number = r.randint(600000, 603999)
            paragraphs.insert(0, f'<!-- EM_StockImg_Start --><p style="text-align:center;"><a '
                                 f'href="http://quote.eastmoney.com/unify/r/1.{number}" '
                                 f'target="_blank"><img src="http://webquotepic.eastmoney.com/'
                                 f'GetPic.aspx?nid=1.{number}&imageType=k" border="0"></a></p>'
                                 f'<!-- EM_StockImg_End -->')
        if r.random() < 0.2:
            paragraphs.append(f"<p><strong>{self.sentence()}</strong></p>")
        return "".join(paragraphs)

    def title(self, media: Media) -> str:
        return f"{media.name}：{self.rng.choice(SUBJECTS_TEXT)}{self.rng.choice(TITLE_TAILS)}"

    def write(self, folder: Path, name: str, text: str) -> None:
        (folder / name).write_text(text, encoding="utf-8")
        self.stats.files += 1

    def article(self, n: int, when: datetime, budget: int) -> None:
        """Write article ``n``: a media or emnews post, sometimes twinned or copied."""
        r, media = self.rng, self.pick_media()
        code = f"{when:%Y%m%d}{2200000000 + n:010d}"
        fields = {"title": self.title(media), "date": f"{when:%Y-%m-%d %H:%M:%S}", "slug": media.slug,
                  "media": media.name, "body": self.body(), "code": code, "home": HOMES[0],
                  "digest": self.sentence()}
        emnews = r.random() < 0.3
        name = f"{when:%Y-%m-%d}-{code}.md" if emnews else f"{when:%Y-%m-%d}-NW{code}.md"
        template = EMNEWS_POST if emnews else MEDIA_POST
        self.write(self.posts, name, template.format(**fields))
        self.stats.articles += 1
        roll = r.random()
        if budget > 1 and not emnews and roll < 0.04:
            # The same article as an emnews post under the bare code: an NW/bare twin.
            self.write(self.posts, f"{when:%Y-%m-%d}-{code}.md", EMNEWS_POST.format(**fields))
            self.stats.twins += 1
        elif budget > 1 and roll < 0.06:
            # Archived into old_post/ later, with the back-link domain of that time.
            self.write(self.old, name, template.format(**{**fields, "home": HOMES[1]}))
            self.stats.copies += 1


def generate(root: Path, count: int, seed: int = 7, categories: int = 2000) -> Generated:
    """Write ``count`` post files under ``root/_posts`` and ``root/old_post``."""
    writer = _Writer(root, seed, categories)
    step = SPAN / max(count, 1)
    n = 0
    while writer.stats.files < count:
        jitter = timedelta(seconds=writer.rng.randint(0, 59))
        writer.article(n, START + step * n + jitter, count - writer.stats.files)
        n += 1
    return writer.stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--posts", type=int, default=100_000, help="post files to write")
    parser.add_argument("--categories", type=int, default=2000, help="media categories")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    stats = generate(args.directory, args.posts, args.seed, args.categories)
    print(f"{stats.files} files: {stats.articles} articles, {stats.twins} NW/bare twins, "
          f"{stats.copies} old_post copies, in {args.directory}")


if __name__ == "__main__":
    main()
