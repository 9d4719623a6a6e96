"""Reading the old site's Jekyll post files into PostInput."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from syndicate.errors import InvalidPost
from syndicate.ingest import jekyll
from syndicate.ingest.jekyll import iter_post_files, parse_post, read_post_file
from syndicate.model import INFOCODE_RE, PostInput, article_key
from syndicate.text import footer_html

TZ = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))

FIXTURES = Path(__file__).parent / "fixtures" / "posts"
DEMO = Path(__file__).resolve().parents[1] / "syndicate" / "demo"
CORPUS = Path(
    os.environ.get("SYNDICATE_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus"
)
CORPUS_FOLDERS = ("finews/_posts", "finews/old_post", "seed")
CHROME = ("返回首页", "NewsShare", "<>", "&lt;&gt;", "finews.withounder.com", "finews.zning")


def fixture(name: str) -> PostInput:
    return read_post_file(FIXTURES / name, tz=TZ)


def post(front_matter: str, body: str = "<p>正文。</p>", name: str = "2026-03-01-x.md") -> PostInput:
    return parse_post(f"---\n{front_matter}\n---\n{body}", filename=name, tz=TZ)


def assert_no_chrome(html: str) -> None:
    for text in CHROME:
        assert text not in html


# --- the fixture posts, one quirk each --------------------------------------------


def test_media_post_keeps_its_footer_and_loses_the_site_chrome() -> None:
    p = fixture("2026-03-02-NW202603020000000001.md")
    assert p.id == "NW202603020000000001"
    assert p.published == datetime(2026, 3, 2, 9, 30, tzinfo=CST)
    assert (p.category_slug, p.category_name, p.source) == ("zhongguodianzibao", "中国电子报", "中国电子报")
    assert p.tags == ("中国电子报新闻",)
    assert p.html.endswith('增长。</p><p class="em_media">（文章来源：中国电子报）</p>')
    assert p.url is None
    assert_no_chrome(p.html)
    assert p.summary.startswith("记者从行业协会获悉") and "文章来源" not in p.summary


def test_bare_twin_is_the_same_article_with_its_source_from_a_nested_footer() -> None:
    twin = fixture("2026-03-02-202603020000000001.md")
    assert twin.id == "202603020000000001"
    assert article_key(twin.id) == article_key(fixture("2026-03-02-NW202603020000000001.md").id)
    assert twin.source == "中国电子报"
    assert twin.category_name == "东财滚动"
    assert twin.html.endswith("</p>" + footer_html("中国电子报"))
    assert twin.html.count("em_media") == 1
    assert twin.url == "http://finance.eastmoney.com/news/1354,202603020000000001.html"


def test_digest_line_becomes_a_blockquote_and_hidden_paragraphs_go() -> None:
    html = fixture("2026-03-02-202603020000000001.md").html
    assert html.startswith("<blockquote>\n<p>记者从行业协会获悉")
    assert "隐藏的统计代码" not in html and "display" not in html
    assert "keytip" not in html and "<!--" not in html


def test_date_without_offset_is_in_the_site_timezone() -> None:
    p = fixture("2026-03-03-202603030000000002.md")
    assert p.published == datetime(2026, 3, 3, 13, 5, 12, tzinfo=TZ)
    assert p.published.utcoffset() == timedelta(hours=8)
    assert p.html == "<p>北向资金午后净流入超20亿元，其中沪股通净流入12.4亿元。</p>\n" + footer_html("东财滚动")
    assert p.url == "http://finance.eastmoney.com/news/1533,202603030000000002.html"


def test_blank_date_falls_back_to_the_file_name_and_blank_title_to_the_body() -> None:
    p = fixture("2026-03-03-202603030000000003.md")
    assert p.published == datetime(2026, 3, 3, tzinfo=CST)
    assert p.title == "多家券商上调消费电子行业评级！"
    assert p.url is None
    assert_no_chrome(p.html)


def test_post_with_no_date_anywhere_is_rejected_naming_the_file() -> None:
    with pytest.raises(InvalidPost) as caught:
        fixture("-202603040000000004.md")
    assert caught.value.field == "date"
    message = str(caught.value)
    assert "-202603040000000004.md" in message
    assert "no date" in message and "YYYY-MM-DD" in message


def test_crlf_and_byte_order_mark_are_read_cleanly() -> None:
    p = fixture("2026-03-04-NW202603040000000005.md")
    assert p.title == "两部门发布数据中心能效新规"
    assert p.published == datetime(2026, 3, 4, 16, 20, 5, tzinfo=CST)
    assert "\r" not in p.html and "\r" not in p.summary
    assert p.html.endswith(footer_html("中国电子报"))


def test_leading_blank_line_and_markdown_links_in_the_body() -> None:
    p = fixture("2026-03-04-202603040000000006.md")
    assert p.title == "光伏组件价格连续三周企稳"
    assert '<a href="http://example.com/weekly/12">行业周报</a>' in p.html
    assert '<a href="http://example.com/data">http://example.com/data</a>' in p.html
    assert p.url == "http://finance.eastmoney.com/news/1611,202603040000000006.html"


def test_scripts_and_handlers_are_removed_and_a_known_source_gets_a_footer() -> None:
    p = fixture("2026-03-05-NW202603050000000007.md")
    for gone in ("script", "onclick", "steal", "javascript", "iframe", "广告", "color:red"):
        assert gone not in p.html
    assert p.title == "港股通标的调整 & 南向资金动向"
    assert p.category_slug == "anxinguojizhengquan-xianggang"
    assert p.html.endswith(footer_html("安信国际证券(香港)"))
    assert_no_chrome(p.html)


def test_legacy_slug_list_tags_and_missing_date_key() -> None:
    p = fixture("2026-03-05-NW202603050000000008.md")
    assert p.category_slug == "career-in-touxingpevc"
    assert p.category_name == "21新健康"
    assert p.tags == ("21新健康新闻", "医药")
    assert p.published == datetime(2026, 3, 5, tzinfo=TZ)
    assert_no_chrome(p.html)


def test_id_comes_from_the_share_link_when_the_file_name_has_none() -> None:
    p = fixture("2026-03-06-closing-bell.md")
    assert p.id == "NW202603060000000009"
    assert p.category_slug == "21shijijingjibaodao-nancailicaitong"
    assert p.source == "21世纪经济报道"
    assert p.origin.endswith("2026-03-06-closing-bell.md")


# --- front matter values ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-02-25 10:23:24 +0800", datetime(2022, 2, 25, 10, 23, 24, tzinfo=CST)),
        ("2022-02-25T10:23:24+08:00", datetime(2022, 2, 25, 10, 23, 24, tzinfo=CST)),
        ("2022-02-25 10:23:24 -0500", datetime(2022, 2, 25, 23, 23, 24, tzinfo=CST)),
        ("2022-02-25 10:23", datetime(2022, 2, 25, 10, 23, tzinfo=TZ)),
        ("2022-02-25", datetime(2022, 2, 25, tzinfo=TZ)),
        ('"2022-02-25 10:23:24.5Z"', datetime(2022, 2, 25, 10, 23, 24, 500000, tzinfo=UTC)),
    ],
)
def test_date_forms(value: str, expected: datetime) -> None:
    published = post(f"title: t\ndate: {value}\ncategories: x").published
    assert published == expected and published.tzinfo is not None


@pytest.mark.parametrize("value", ["2022-02-30 10:00:00", "yesterday", "[2022-02-25]"])
def test_a_date_that_is_not_a_date_is_rejected(value: str) -> None:
    with pytest.raises(InvalidPost) as caught:
        post(f"title: t\ndate: {value}\ncategories: x")
    assert caught.value.field == "date"


def test_first_category_of_a_list_is_the_primary_one_and_a_tag_string_is_one_tag() -> None:
    p = post("title: t\ndate: 2026-01-02\ncategories: [TechWeb, other]\ntags: 站长 消息")
    assert p.category_slug == "techweb"
    assert p.tags == ("站长 消息",)
    assert p.category_name == "站长 消息" and p.source is None


def test_values_yaml_must_parse_itself_read_the_same() -> None:
    p = post('title: "引号\\"与转义"\ndate: 2026-01-02 # comment\ncategories: C#\ntags:\n  - 财联社新闻')
    assert p.title == '引号"与转义'
    assert p.published == datetime(2026, 1, 2, tzinfo=TZ)
    assert p.category_slug == "c" and p.category_name == "财联社"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no front matter here", "no front matter: the file does not start with ---"),
        ("---\ntitle: t\n", "front matter is not closed"),
        ("---\ntitle: [unclosed\n---\nbody", "front matter is not valid YAML"),
        ("---\ntitle: t\ndate: 2026-01-01\n---\n", "no category"),
    ],
)
def test_broken_files_are_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidPost, match=reason) as caught:
        parse_post(text, filename="2026-01-01-a.md", tz=TZ, origin="posts/2026-01-01-a.md")
    assert str(caught.value).startswith("posts/2026-01-01-a.md: ")


def test_a_file_that_is_not_utf8_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "2026-01-01-gbk.md"
    path.write_bytes("---\ntitle: 标题\n---\n正文".encode("gbk"))
    with pytest.raises(InvalidPost, match="not UTF-8 text") as caught:
        read_post_file(path, tz=TZ)
    assert caught.value.origin == str(path)


def test_html_files_are_not_read_as_markdown() -> None:
    body = "<div>\n\n    <p>四个空格缩进</p>\n</div>"
    assert "<pre>" not in parse_post(
        f"---\ntitle: t\ndate: 2026-01-01\ncategories: x\n---\n{body}", filename="a.html", tz=TZ
    ).html
    assert "<pre>" in post("date: 2026-01-01\ncategories: x", body, name="a.md").html


# --- finding files ----------------------------------------------------------------


def test_iter_post_files_walks_folders_in_order_and_skips_hidden_ones(tmp_path: Path) -> None:
    for name in ("b/2.md", "a/1.markdown", "a/.draft.md", ".git/x.md", "a/notes.txt", "c.HTML"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    given = tmp_path / "a" / "notes.txt"
    found = [p.relative_to(tmp_path).as_posix() for p in iter_post_files([tmp_path, given])]
    assert found == ["a/1.markdown", "b/2.md", "c.HTML", "a/notes.txt"]


def test_iter_post_files_names_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InvalidPost, match="no such file or folder") as caught:
        list(iter_post_files([missing]))
    assert caught.value.origin == str(missing)


# --- shortcuts give what the libraries give ----------------------------------------


def corpus_folders() -> list[Path]:
    return [CORPUS / folder for folder in CORPUS_FOLDERS if (CORPUS / folder).is_dir()]


def _sample_files() -> list[Path]:
    return list(iter_post_files([FIXTURES, DEMO, *corpus_folders()]))


def test_front_matter_shortcut_reads_what_yaml_reads() -> None:
    for path in _sample_files():
        text = jekyll._normalize_newlines(path.read_text(encoding="utf-8"))
        front, _ = jekyll._split_front_matter(text)
        simple = jekyll._simple_front_matter(front)
        if simple is not None:
            assert simple == (yaml.load(front, Loader=yaml.BaseLoader) or {}), path


TRICKY_BODIES = [
    "> 摘要\n\n<p>a</p>\n <p>b</p>\n\n<p>c</p>",
    "- 列表\n\n<p>html</p>",
    "- 列表\n\n  <p>属于列表项</p>",
    "```\ncode\n\n<p>x</p>",
    "<pre>\n\n<p>x</p>\n</pre>",
    "<!-- c --><p>a</p>\n<p>b</p>\n\n> q",
    "<!-- c -->\n文字\n\n<p>z</p>",
    "    缩进代码\n\n<p>x</p>",
    "<div>\n\n*强调*\n\n</div>",
]


def _sample_bodies() -> list[str]:
    bodies = []
    for path in _sample_files():
        text = jekyll._normalize_newlines(path.read_text(encoding="utf-8"))
        bodies.append(jekyll._strip_chrome(jekyll._split_front_matter(text)[1])[0])
    return bodies + TRICKY_BODIES


def test_html_block_shortcut_renders_what_markdown_it_renders() -> None:
    for body in _sample_bodies():
        assert jekyll._render_markdown(body).strip() == jekyll._MARKDOWN.render(body).strip(), body


# --- the demo posts shipped in the wheel ------------------------------------------


def test_demo_posts_all_parse_across_several_categories() -> None:
    posts = [read_post_file(path, tz=TZ) for path in iter_post_files([DEMO])]
    assert 12 <= len(posts) <= 16
    assert len({p.category_slug for p in posts}) >= 4
    assert len({p.published.date() for p in posts}) >= 3
    for p in posts:
        assert p.id.startswith("NW") and INFOCODE_RE.match(p.id)
        assert p.published.year == 2026
        assert p.html.endswith(footer_html(p.category_name))
        assert_no_chrome(p.html)


# --- the real corpus --------------------------------------------------------------

REJECTED = "finews/_posts/-202205262391921712.md"


@pytest.fixture(scope="module")
def corpus() -> dict[str, PostInput | InvalidPost]:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus folder {CORPUS} not found (set SYNDICATE_CORPUS)")
    results: dict[str, PostInput | InvalidPost] = {}
    for path in iter_post_files(corpus_folders()):
        try:
            results[path.relative_to(CORPUS).as_posix()] = read_post_file(path, tz=TZ)
        except InvalidPost as error:
            results[path.relative_to(CORPUS).as_posix()] = error
    return results


def parsed(corpus: dict[str, PostInput | InvalidPost]) -> dict[str, PostInput]:
    return {name: p for name, p in corpus.items() if isinstance(p, PostInput)}


def test_corpus_every_file_parses_except_the_one_without_a_date(corpus) -> None:
    rejected = {name: error for name, error in corpus.items() if isinstance(error, InvalidPost)}
    assert list(rejected) == [REJECTED]
    assert "no date" in str(rejected[REJECTED])
    assert len(corpus) >= 56


def test_corpus_bodies_carry_no_site_chrome(corpus) -> None:
    for name, p in parsed(corpus).items():
        assert "\r" not in p.html, name
        for text in CHROME:
            assert text not in p.html, (name, text)


def test_corpus_footers_stay_last(corpus) -> None:
    for name, p in parsed(corpus).items():
        if 'class="em_media"' in (CORPUS / name).read_text(encoding="utf-8"):
            assert p.source and p.html.endswith(footer_html(p.source)), name
            assert p.html.count("em_media") == 1, name


def test_corpus_seed_post(corpus) -> None:
    p = corpus["seed/2022-02-25-NW202202252289106086.md"]
    assert isinstance(p, PostInput)
    assert p.id == "NW202202252289106086"
    assert (p.category_slug, p.category_name, p.source) == ("zhongguodianzibao", "中国电子报", "中国电子报")
    assert p.published == datetime(2022, 2, 25, 10, 23, 24, tzinfo=CST)
    assert p.html.endswith('<p class="em_media">（文章来源：中国电子报）</p>')


def test_corpus_twin_of_the_dateless_file_has_its_nested_footer_source(corpus) -> None:
    p = corpus["finews/_posts/2022-05-26-202205262391921712.md"]
    assert isinstance(p, PostInput)
    assert p.source == "上海证券报"
    assert p.html.endswith(footer_html("上海证券报"))


def test_corpus_emnews_posts_carry_their_eastmoney_url(corpus) -> None:
    emnews = {n: p for n, p in parsed(corpus).items() if p.category_slug == "emnews"}
    assert len(emnews) >= 40
    for name, p in emnews.items():
        assert p.url and p.url.startswith("http://") and ".eastmoney.com/" in p.url, name
        assert article_key(p.id) in p.url, name
