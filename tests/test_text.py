"""Text helpers: slugs, attribution footers, sanitising, XML safety, summaries."""

from __future__ import annotations

import pytest

from syndicate.text import (
    absolutize,
    derive_title,
    ensure_footer,
    footer_html,
    html_to_text,
    media_from_tag,
    normalize_slug,
    parse_attribution,
    sanitize_html,
    slugify_name,
    summarize,
    xml_safe,
)

NESTED_FOOTER = (
    '<p class="em_media">（文章来源：上海<span id="bk_90.BK0473"><a href="http://quote.example.com/r/90"'
    ' class="keytip">证券</a></span><span id="bkquote_90.BK0473"></span>报）</p>'
)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("中国电子报", "zhongguodianzibao"),
        ("21世纪经济报道", "21shijijingjibaodao"),
        ("财联社", "cailianshe"),
        ("中国 电子报！", "zhongguo-dianzibao"),
        ("ＡＢＣ财经", "abccaijing"),
    ],
)
def test_slugify_name_joins_toneless_pinyin_like_the_old_site(name: str, slug: str) -> None:
    assert slugify_name(name) == slug


@pytest.mark.parametrize(
    ("legacy", "slug"),
    [
        ("TechWeb", "techweb"),
        ("anxinguojizhengquan(xianggang)", "anxinguojizhengquan-xianggang"),
        ("21shijijingjibaodao  nancailicaitong", "21shijijingjibaodao-nancailicaitong"),
        ("Career In touxingPEVC", "career-in-touxingpevc"),
        ("zhongguodianzibao", "zhongguodianzibao"),
        ("中国电子报", "zhongguodianzibao"),
    ],
)
def test_normalize_slug_turns_legacy_slugs_into_url_safe_ones(legacy: str, slug: str) -> None:
    assert normalize_slug(legacy) == slug


def test_normalize_slug_rejects_a_slug_with_nothing_to_keep() -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        normalize_slug("（）!!")


@pytest.mark.parametrize(
    ("tag", "media"),
    [
        ("中国电子报新闻", "中国电子报"),
        ("每日经济新闻新闻", "每日经济新闻"),
        ("东财滚动新闻", "东财滚动"),
        ("站长消息", None),
        ("新闻", None),
    ],
)
def test_media_from_tag_strips_one_news_suffix(tag: str, media: str | None) -> None:
    assert media_from_tag(tag) == media


def test_parse_attribution_reads_the_footer_as_text_through_nested_markup() -> None:
    assert parse_attribution("<p>正文</p>" + NESTED_FOOTER) == "上海证券报"
    inner = '<p class="em_media">（文章来源：<span id="x"><a href="#">证券</a></span><span></span>时报）</p>'
    assert parse_attribution(inner) == "证券时报"


def test_parse_attribution_accepts_ascii_punctuation_and_finds_nothing_without_footer() -> None:
    assert parse_attribution('<p class="em_media">(文章来源: 财联社)</p>') == "财联社"
    assert parse_attribution("<p>（文章来源：财联社）</p>") is None


def test_ensure_footer_keeps_a_simple_footer_byte_identical() -> None:
    body = '<p>正文。</p><p class="em_media">（文章来源：中国电子报）</p>'
    assert ensure_footer(body, "中国电子报") == body


def test_ensure_footer_cleans_a_nested_footer_and_moves_it_to_the_end() -> None:
    result = ensure_footer(NESTED_FOOTER + "<p>后记</p>", None)
    assert result == "<p>后记</p>\n" + footer_html("上海证券报")


def test_ensure_footer_adds_a_footer_only_when_the_media_is_known() -> None:
    assert ensure_footer("<p>正文</p>\n", "财联社") == (
        '<p>正文</p>\n<p class="em_media">（文章来源：财联社）</p>'
    )
    assert ensure_footer("<p>正文</p>", None) == "<p>正文</p>"


def test_footer_html_escapes_the_media_name() -> None:
    assert footer_html("A&B") == '<p class="em_media">（文章来源：A&amp;B）</p>'


def test_sanitize_removes_scripts_handlers_and_javascript_urls() -> None:
    dirty = (
        '<p onclick="steal()">新闻<script>alert(1)</script></p>'
        '<a href="javascript:alert(1)">链接</a><iframe src="http://ads.example.com">广告</iframe>'
        "<style>p{}</style><!-- EM_StockImg_Start -->"
    )
    clean = sanitize_html(dirty)
    for gone in ("onclick", "script", "alert", "javascript", "iframe", "广告", "style", "<!--"):
        assert gone not in clean
    assert "新闻" in clean and "链接" in clean


def test_sanitize_keeps_article_markup_and_the_footer_class() -> None:
    html = (
        '<center><img src="https://img.example.com/a.jpg" alt="图" width="552" border="0"></center>'
        '<p class="em_media keytip">（文章来源：财联社）</p><p class="keytip"><strong>要点</strong></p>'
    )
    clean = sanitize_html(html)
    assert ('<div class="align-center"><img src="https://img.example.com/a.jpg" alt="图" width="552"'
            ' loading="lazy" referrerpolicy="no-referrer"></div>') in clean
    assert '<p class="em_media">（文章来源：财联社）</p>' in clean
    assert "<p><strong>要点</strong></p>" in clean


def test_sanitize_drops_elements_hidden_with_display_none() -> None:
    html = (
        '<p style="display:none;height:1px;overflow:hidden;"><br /></p>'
        "<p style='DISPLAY: none'>隐藏</p>"
        '<img style="display:none" src="http://t.example.com/px">'
        '<p style="color:red">可见</p>'
    )
    assert sanitize_html(html) == "<p>可见</p>"


def test_xml_safe_removes_only_characters_xml_forbids() -> None:
    assert xml_safe("a\x00b\x0bc\x1fd\ufffe\uffff\ud800e\tf\ng\rh中") == "abcde\tf\ng\rh中"


def test_absolutize_resolves_relative_and_protocol_relative_urls() -> None:
    html = '<a href="../emnews/">返回</a><img src="//img.example.com/k.png"><a href="/x">x</a>'
    result = absolutize(html + footer_html("中国电子报"), "https://news.example.com/cat/a.html")
    assert '<a href="https://news.example.com/emnews/">' in result
    assert '<img src="https://img.example.com/k.png">' in result
    assert '<a href="https://news.example.com/x">' in result
    assert result.endswith(footer_html("中国电子报"))


def test_html_to_text_unescapes_and_collapses_whitespace() -> None:
    assert html_to_text("<p>A&amp;B</p>\n <p>第二段&lt;1&gt;</p>") == "A&B 第二段<1>"


def test_derive_title_takes_the_first_sentence() -> None:
    html = "<blockquote><p>据某机构消息，今日市场上涨！（某报）</p></blockquote><p>后文。</p>"
    assert derive_title(html) == "据某机构消息，今日市场上涨！"


def test_derive_title_trims_a_long_first_line() -> None:
    title = derive_title("<p>" + "长" * 100 + "</p>", limit=20)
    assert title == "长" * 19 + "…"


def test_summarize_leaves_out_the_footer_and_cuts_at_a_sentence() -> None:
    html = "<p>" + "第一句话内容。" * 30 + "</p>" + footer_html("财联社")
    summary = summarize(html, limit=50)
    assert "文章来源" not in summary
    assert len(summary) <= 50
    assert summary.endswith("。…")


def test_summarize_returns_short_text_whole_and_cuts_latin_at_a_word() -> None:
    assert summarize("<p>短讯。</p>") == "短讯。"
    summary = summarize("<p>" + "market " * 40 + "</p>", limit=30)
    assert summary.endswith("market…") and len(summary) <= 30


def test_absolutize_leaves_absolute_only_html_untouched_and_rewrites_the_rest() -> None:
    from syndicate.text import absolutize, sanitize_html

    absolute = sanitize_html('<p><a href="https://a.example/x">x</a><img src="http://b.example/i.png"></p>')
    assert absolutize(absolute, "https://news.example.com") is absolute
    mixed = sanitize_html('<p><a href="https://a.example/x">x</a><img src="/i.png"><a href="//c.example/y">y</a></p>')
    out = absolutize(mixed, "https://news.example.com")
    assert 'src="https://news.example.com/i.png"' in out
    assert 'href="https://c.example/y"' in out
    assert 'href="https://a.example/x"' in out
