"""Feeds as feed readers see them: order, ids, dates, content and determinism.

Golden files hold the three feeds of one category. After a deliberate change to the
output, regenerate them with ``SYNDICATE_UPDATE_GOLDEN=1 pytest tests/test_feeds.py``
and review the diff.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import etree

from syndicate.feeds import FeedEntry, FeedSpec, build_feed, entry_id, media_type
from syndicate.model import Category, FeedFormat, Post
from syndicate.urls import absolute, category_path, post_path

GOLDEN = Path(__file__).parent / "golden"
SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE_URL = "https://syndicate.invalid"
AUTHORITY = "syndicate.invalid,2021"
HUB = "https://hub.example.invalid/"
CATEGORY = Category(slug="zhongguodianzibao", name="中国电子报")
FOOTER = '<p class="em_media">（文章来源：中国电子报）</p>'
XML_FORMATS = [FeedFormat.ATOM, FeedFormat.RSS]
ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
NS = {
    "a": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def make_post(post_id: str, title: str, published: datetime, html: str, **kw: object) -> Post:
    fields: dict[str, object] = dict(
        id=post_id,
        title=title,
        published=published,
        updated=published,
        category=CATEGORY,
        tags=("中国电子报新闻",),
        html=html + "\n" + FOOTER,
        summary=title + "。",
        source="中国电子报",
        url=None,
        share_code="AbCdEfGh",
        categories=(CATEGORY.slug,),
    )
    fields.update(kw)
    return Post(**fields)  # type: ignore[arg-type]


TIE = datetime(2022, 2, 25, 10, 23, 24, tzinfo=SHANGHAI)
POSTS = [
    make_post(
        "202202251122334455",
        "工信部：1月电子信息制造业增加值同比增长12.7%",
        TIE,
        '<p>工信部运行监测协调局发布最新数据，详见<a href="/zhongguodianzibao/2022/02/24/'
        '202202241000000001.html">前一日报道</a>。</p>\n'
        '<p><img src="/assets/img/chart-2022-01.png" alt="增速走势"></p>',
        updated=datetime(2022, 2, 25, 11, 5, 0, tzinfo=SHANGHAI),
        tags=("中国电子报新闻", "工信部"),
        summary="1月份规模以上电子信息制造业增加值同比增长12.7%，出口交货值增长10.1%。",
    ),
    make_post(
        "202202251122334466",
        "5G基站<200万个？三大运营商回应建设节奏",
        TIE,
        '<p>运营商表示，今年将“适度超前”建设。</p>\n'
        '<p><img src="//img.example.invalid/5g/base-station.jpg" alt="基站"></p>',
        summary="三大运营商称5G基站建设将保持“适度超前”，年内新建数量与去年相当。",
    ),
    make_post(
        "NW202202241530000001",
        "半导体设备\x0b国产化率持续提升",
        datetime(2022, 2, 24, 15, 30, 0, tzinfo=SHANGHAI),
        '<p>业内人士认为，刻蚀与薄膜沉积设备进展最快。</p>\n'
        '<p>相关阅读：<a href="/tag/%E5%8D%8A%E5%AF%BC%E4%BD%93.html">半导体</a></p>',
        source=None,
        tags=("中国电子报新闻", "半导体", "半导体"),
        summary="",
    ),
    make_post(
        "202202240200000009",
        "中芯国际 & 华虹：扩产计划更新",
        datetime(2022, 2, 24, 2, 0, 0, tzinfo=UTC),
        "<p>两家公司均上调了全年资本开支，<em>成熟制程</em>仍是重点。</p>",
        summary="两家晶圆代工厂上调资本开支 & 扩产计划。",
    ),
]
#: The feed order: newest first, the two posts published at the same time by id, descending.
ORDER = ["202202251122334466", "202202251122334455", "NW202202241530000001", "202202240200000009"]


def feed_entries(posts: list[Post]) -> list[FeedEntry]:
    return [FeedEntry(post, absolute(BASE_URL, post_path(post, SHANGHAI))) for post in posts]


def make_spec(**kw: object) -> FeedSpec:
    fields: dict[str, object] = dict(
        feed_id=f"tag:{AUTHORITY}:category/{CATEGORY.slug}",
        title="中国电子报 - 金融消息",
        description="中国电子报的最新消息",
        html_url=absolute(BASE_URL, category_path(CATEGORY.slug)),
        self_urls={f: absolute(BASE_URL, category_path(CATEGORY.slug, f)) for f in FeedFormat},
        updated=datetime(2022, 2, 25, 11, 5, 0, tzinfo=SHANGHAI),
        base_url=BASE_URL,
        tag_authority=AUTHORITY,
        hubs=(HUB,),
    )
    fields.update(kw)
    return FeedSpec(**fields)  # type: ignore[arg-type]


SPEC = make_spec()


def render(fmt: FeedFormat, posts: list[Post] = POSTS, spec: FeedSpec = SPEC) -> bytes:
    return build_feed(spec, feed_entries(posts), fmt)


def xml(fmt: FeedFormat, posts: list[Post] = POSTS, spec: FeedSpec = SPEC) -> etree._Element:
    return etree.fromstring(render(fmt, posts, spec))  # strict: no recover


def json_feed(posts: list[Post] = POSTS, spec: FeedSpec = SPEC) -> dict:
    return json.loads(render(FeedFormat.JSON, posts, spec))


def contents(fmt: FeedFormat) -> list[str]:
    """Return each entry's full HTML content, as the format carries it."""
    if fmt is FeedFormat.JSON:
        return [item["content_html"] for item in json_feed()["items"]]
    path = "a:entry/a:content" if fmt is FeedFormat.ATOM else "channel/item/content:encoded"
    return [element.text for element in xml(fmt).findall(path, NS)]


# --- golden files --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FeedFormat))
def test_category_feed_matches_golden_file(fmt: FeedFormat) -> None:
    data = render(fmt)
    path = GOLDEN / f"category.{fmt.value}"
    if os.environ.get("SYNDICATE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    assert path.exists(), f"{path} is missing: run with SYNDICATE_UPDATE_GOLDEN=1 to create it"
    assert data == path.read_bytes(), f"{path.name} changed: review, then SYNDICATE_UPDATE_GOLDEN=1"


# --- determinism ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FeedFormat))
def test_same_data_gives_same_bytes_whatever_the_input_order(fmt: FeedFormat) -> None:
    shuffled = POSTS[:]
    random.Random(4).shuffle(shuffled)
    assert render(fmt) == render(fmt, shuffled) == render(fmt)


@pytest.mark.parametrize("fmt", list(FeedFormat))
def test_no_time_of_rendering_leaks_into_the_feed(fmt: FeedFormat) -> None:
    data = render(fmt).decode()
    now = datetime.now(UTC)
    for stamp in (now.strftime("%Y-%m-%d"), now.strftime("%d %b %Y"), str(now.year)):
        assert stamp not in data


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize("posts", [POSTS, []], ids=["posts", "empty"])
@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_xml_feeds_parse_strictly_with_declaration(fmt: FeedFormat, posts: list[Post]) -> None:
    data = render(fmt, posts)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(data)
    assert root.tag == (f"{{{NS['a']}}}feed" if fmt is FeedFormat.ATOM else "rss")


@pytest.mark.parametrize("posts", [POSTS, []], ids=["posts", "empty"])
@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_feedparser_reads_entries_newest_first_with_tag_ids(
    fmt: FeedFormat, posts: list[Post]
) -> None:
    parsed = feedparser.parse(render(fmt, posts))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    expected = [entry_id(AUTHORITY, post_id) for post_id in ORDER] if posts else []
    assert [entry.id for entry in parsed.entries] == expected
    assert parsed.feed.title == SPEC.title


# feedparser 6.0 reads no JSON Feed: the JSON one is checked against the spec's fields.
@pytest.mark.parametrize("posts", [POSTS, []], ids=["posts", "empty"])
def test_json_feed_items_newest_first_with_tag_ids(posts: list[Post]) -> None:
    feed = json_feed(posts)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == SPEC.title
    expected = [entry_id(AUTHORITY, post_id) for post_id in ORDER] if posts else []
    assert [item["id"] for item in feed["items"]] == expected
    required = {"id", "url", "title", "content_html", "summary", "date_published"}
    assert all(required <= set(item) for item in feed["items"])


def test_entry_ids_are_tag_uris() -> None:
    assert entry_id(AUTHORITY, "NW202202241530000001") == (
        "tag:syndicate.invalid,2021:NW202202241530000001"
    )
    assert entry_id(AUTHORITY, "a b") == "tag:syndicate.invalid,2021:a%20b"


def test_rss_guid_is_the_tag_uri_and_not_a_permalink() -> None:
    guids = xml(FeedFormat.RSS).findall("channel/item/guid")
    assert [guid.text for guid in guids] == [entry_id(AUTHORITY, post_id) for post_id in ORDER]
    assert {guid.get("isPermaLink") for guid in guids} == {"false"}
    assert all(not e.guidislink for e in feedparser.parse(render(FeedFormat.RSS)).entries)


def test_every_entry_links_to_its_permalink() -> None:
    by_id = {post.id: post for post in POSTS}
    permalinks = [absolute(BASE_URL, post_path(by_id[i], SHANGHAI)) for i in ORDER]
    for fmt in XML_FORMATS:
        assert [e.link for e in feedparser.parse(render(fmt)).entries] == permalinks
    assert [item["url"] for item in json_feed()["items"]] == permalinks
    assert [e.text for e in xml(FeedFormat.RSS).findall("channel/item/link")] == permalinks


# --- content -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FeedFormat))
def test_attribution_footer_ends_every_entry_verbatim(fmt: FeedFormat) -> None:
    found = contents(fmt)
    assert len(found) == len(POSTS)
    assert all(content.rstrip().endswith(FOOTER) for content in found)


@pytest.mark.parametrize("fmt", list(FeedFormat))
def test_relative_urls_are_made_absolute(fmt: FeedFormat) -> None:
    html = "".join(contents(fmt))
    assert f'href="{BASE_URL}/zhongguodianzibao/2022/02/24/202202241000000001.html"' in html
    assert f'src="{BASE_URL}/assets/img/chart-2022-01.png"' in html
    assert 'src="https://img.example.invalid/5g/base-station.jpg"' in html
    assert not re.search(r'(?:href|src)="/', html)


def test_atom_content_is_escaped_html_and_summary_text() -> None:
    data = render(FeedFormat.ATOM)
    assert b"CDATA" not in data
    assert b"&lt;p&gt;" in data
    root = etree.fromstring(data)
    assert {c.get("type") for c in root.findall("a:entry/a:content", NS)} == {"html"}
    summaries = root.findall("a:entry/a:summary", NS)
    assert {s.get("type") for s in summaries} == {"text"}
    assert summaries[3].text == "两家晶圆代工厂上调资本开支 & 扩产计划。"


def test_rss_has_summary_description_and_full_content_encoded() -> None:
    items = xml(FeedFormat.RSS).findall("channel/item")
    assert b"CDATA" not in render(FeedFormat.RSS)
    assert items[0].findtext("description") == POSTS[1].summary
    # A post without a summary still gets content:encoded, with its title as the summary.
    assert items[2].findtext("description") == "半导体设备国产化率持续提升"
    for item in items:
        assert item.findtext("content:encoded", namespaces=NS).rstrip().endswith(FOOTER)


def test_titles_are_plain_text_without_illegal_characters() -> None:
    titles = {
        FeedFormat.ATOM: [t.text for t in xml(FeedFormat.ATOM).findall("a:entry/a:title", NS)],
        FeedFormat.RSS: [t.text for t in xml(FeedFormat.RSS).findall("channel/item/title")],
        FeedFormat.JSON: [item["title"] for item in json_feed()["items"]],
    }
    for found in titles.values():
        assert found[0] == "5G基站<200万个？三大运营商回应建设节奏"
        assert found[2] == "半导体设备国产化率持续提升"
    atom_titles = xml(FeedFormat.ATOM).iter(f"{{{NS['a']}}}title")
    assert all(title.get("type") in (None, "text") for title in atom_titles)


@pytest.mark.parametrize("fmt", list(FeedFormat))
def test_no_xml_illegal_character_survives(fmt: FeedFormat) -> None:
    text = render(fmt).decode("utf-8")
    if fmt is FeedFormat.JSON:
        text = json.dumps(json.loads(text), ensure_ascii=False)
    assert not ILLEGAL_XML.search(text)
    assert "\\u000b" not in text


def test_authors_categories_and_tags() -> None:
    atom = xml(FeedFormat.ATOM)
    assert [e.findtext("a:author/a:name", namespaces=NS) for e in atom.findall("a:entry", NS)] == [
        "中国电子报"
    ] * 4
    assert [c.get("term") for c in atom.findall("a:entry", NS)[1].findall("a:category", NS)] == [
        "中国电子报",
        "中国电子报新闻",
        "工信部",
    ]
    rss_items = xml(FeedFormat.RSS).findall("channel/item")
    assert [c.text for c in rss_items[2].findall("category")] == ["中国电子报", "中国电子报新闻", "半导体"]
    assert rss_items[0].findtext("dc:creator", namespaces=NS) == "中国电子报"
    item = json_feed()["items"][1]
    assert item["tags"] == ["中国电子报", "中国电子报新闻", "工信部"]
    assert item["authors"] == [{"name": "中国电子报"}]


# --- dates ---------------------------------------------------------------------------------

RFC822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
                    r"|Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}$")


def test_rss_dates_are_rfc822_with_numeric_offsets() -> None:
    channel = xml(FeedFormat.RSS).find("channel")
    pub_dates = [item.findtext("pubDate") for item in channel.findall("item")]
    assert pub_dates[1] == "Fri, 25 Feb 2022 10:23:24 +0800"
    assert pub_dates[3] == "Thu, 24 Feb 2022 02:00:00 +0000"
    for date in [*pub_dates, channel.findtext("lastBuildDate")]:
        assert RFC822.match(date), date


def test_atom_and_json_dates_are_rfc3339() -> None:
    atom = xml(FeedFormat.ATOM)
    entry = atom.findall("a:entry", NS)[1]
    assert entry.findtext("a:published", namespaces=NS) == "2022-02-25T10:23:24+08:00"
    assert entry.findtext("a:updated", namespaces=NS) == "2022-02-25T11:05:00+08:00"
    item = json_feed()["items"][3]
    assert item["date_published"] == item["date_modified"] == "2022-02-24T02:00:00+00:00"


@pytest.mark.parametrize("posts", [POSTS, []], ids=["posts", "empty"])
def test_feed_updated_is_the_spec_updated_time(posts: list[Post]) -> None:
    atom = xml(FeedFormat.ATOM, posts)
    assert atom.findtext("a:updated", namespaces=NS) == "2022-02-25T11:05:00+08:00"
    last_build = xml(FeedFormat.RSS, posts).findtext("channel/lastBuildDate")
    assert parsedate_to_datetime(last_build) == SPEC.updated


@pytest.mark.parametrize("fmt", list(FeedFormat))
def test_naive_datetimes_are_rejected(fmt: FeedFormat) -> None:
    naive = datetime(2022, 2, 25, 10, 23, 24)
    with pytest.raises(ValueError, match="naive"):
        render(fmt, spec=make_spec(updated=naive))
    with pytest.raises(ValueError, match="202202251122334455"):
        render(fmt, [replace(POSTS[0], published=naive)])


# --- feed-level links ----------------------------------------------------------------------


def test_atom_links_self_first_html_last_and_hubs() -> None:
    spec = make_spec(links={"next": f"{BASE_URL}/archive/2.atom"})
    found = xml(FeedFormat.ATOM, spec=spec).findall("a:link", NS)
    links = [(ln.get("rel"), ln.get("href")) for ln in found]
    assert links == [
        ("self", SPEC.self_urls[FeedFormat.ATOM]),
        ("hub", HUB),
        ("next", f"{BASE_URL}/archive/2.atom"),
        ("alternate", SPEC.html_url),
    ]


def test_rss_channel_link_is_the_html_page_and_atom_links_carry_the_rest() -> None:
    spec = make_spec(links={"prev-archive": f"{BASE_URL}/archive/1.rss"})
    channel = xml(FeedFormat.RSS, spec=spec).find("channel")
    assert channel.findtext("link") == SPEC.html_url
    links = [(ln.get("rel"), ln.get("href")) for ln in channel.findall("a:link", NS)]
    assert links == [
        ("self", SPEC.self_urls[FeedFormat.RSS]),
        ("hub", HUB),
        ("prev-archive", f"{BASE_URL}/archive/1.rss"),
    ]


def test_json_feed_top_level_fields() -> None:
    feed = json_feed(spec=make_spec(links={"next": f"{BASE_URL}/archive/2.json"}))
    assert list(feed)[:7] == [
        "version", "title", "home_page_url", "feed_url", "description", "language", "authors",
    ]
    assert feed["feed_url"] == SPEC.self_urls[FeedFormat.JSON]
    assert feed["home_page_url"] == SPEC.html_url
    assert feed["hubs"] == [{"type": "WebSub", "url": HUB}]
    assert feed["next_url"] == f"{BASE_URL}/archive/2.json"
    assert "hubs" not in json_feed(spec=make_spec(hubs=()))


def test_media_types() -> None:
    assert media_type(FeedFormat.ATOM) == "application/atom+xml; charset=utf-8"
    assert media_type(FeedFormat.RSS) == "application/rss+xml; charset=utf-8"
    assert media_type(FeedFormat.JSON) == "application/feed+json; charset=utf-8"
