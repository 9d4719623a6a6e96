"""Link previews: what WeChat, Weibo, X and search crawlers read from a post page's HTML."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import html as lxml_html

from syndicate import preview

from .conftest import CST, make_input

BASE = "https://news.example.com"
WITH_IMAGE = "/zhongguodianzibao/2026/01/05/NW202601050000000001.html"
WITHOUT_IMAGE = "/cailianshe/2026/01/06/NW202601060000000003.html"
HOSTILE_TITLE = '沪指</script><script>alert("x")</script>收涨 & \'成交\''


def page(client: Any, url: str, headers: dict[str, str] | None = None) -> Any:
    response = client.get(url, headers=headers or {})
    assert response.status_code == 200, (url, response.status_code)
    return lxml_html.fromstring(response.get_data(as_text=True))


def meta(doc: Any, name: str) -> list[str]:
    """The content of every <meta property=name> or <meta name=name>."""
    return doc.xpath("//head/meta[@property=$n or @name=$n]/@content", n=name)


def one(doc: Any, name: str) -> str:
    values = meta(doc, name)
    assert len(values) == 1, (name, values)
    return str(values[0])


def json_ld(doc: Any) -> dict[str, Any]:
    scripts = doc.xpath('//script[@type="application/ld+json"]')
    assert len(scripts) == 1
    data = json.loads(scripts[0].text)
    assert isinstance(data, dict)
    return data


def test_post_page_has_canonical_shortlink_and_open_graph(client: Any, core: Any) -> None:
    doc = page(client, WITH_IMAGE)
    post = core.post("NW202601050000000001")
    canonical = BASE + WITH_IMAGE
    assert doc.xpath('//link[@rel="canonical"]/@href') == [canonical]
    assert doc.xpath('//link[@rel="shortlink"]/@href') == [f"{BASE}/s/{post.share_code}"]
    assert one(doc, "og:title") == "国产芯片企业加快扩产 产业链协同提速"
    assert one(doc, "og:description") == "多家芯片企业宣布扩产计划。"
    assert one(doc, "og:url") == canonical
    assert one(doc, "og:type") == "article"
    assert one(doc, "og:site_name") == "金融消息"
    assert one(doc, "og:image") == f"{BASE}/images/chip.png"
    assert one(doc, "article:published_time") == "2026-01-05T09:30:00+08:00"
    assert one(doc, "article:section") == "中国电子报"
    assert one(doc, "twitter:card") == "summary_large_image"
    assert one(doc, "twitter:title") == "国产芯片企业加快扩产 产业链协同提速"
    assert one(doc, "twitter:description") == "多家芯片企业宣布扩产计划。"


def test_urls_come_from_base_url_never_the_host_header(client: Any) -> None:
    doc = page(client, WITH_IMAGE, {"Host": "evil.example.org",
                                     "X-Forwarded-Host": "evil.example.org",
                                     "X-Forwarded-Proto": "http"})
    canonical = BASE + WITH_IMAGE
    assert doc.xpath('//link[@rel="canonical"]/@href') == [canonical]
    assert one(doc, "og:url") == canonical
    assert one(doc, "og:image").startswith(BASE + "/")
    assert doc.xpath('//link[@rel="shortlink"]/@href')[0].startswith(BASE + "/s/")
    assert json_ld(doc)["url"] == canonical
    assert "evil.example.org" not in lxml_html.tostring(doc, encoding="unicode")


def test_a_post_without_an_image_has_no_og_image_and_a_small_card(client: Any) -> None:
    doc = page(client, WITHOUT_IMAGE)
    assert meta(doc, "og:image") == [] and meta(doc, "twitter:image") == []
    assert one(doc, "twitter:card") == "summary"
    assert one(doc, "article:section") == "财联社"
    assert "image" not in json_ld(doc)


def test_description_is_short_plain_text_without_the_footer(client: Any, core: Any) -> None:
    sentence = "沪深两市成交额连续第十个交易日突破<strong>一万亿元</strong>，北向资金净买入超过百亿元。"
    body = "<p>" + sentence * 12 + "</p>" + '<p class="em_media">（文章来源：<a href="/x">财联社</a>）</p>'
    core.save([make_input("NW202601070000000005", title="长文", html=body,
                          published=datetime(2026, 1, 7, 8, 0, tzinfo=CST),
                          category_slug="cailianshe", category_name="财联社", source="财联社")])
    doc = page(client, "/cailianshe/2026/01/07/NW202601070000000005.html")
    for name in ("og:description", "twitter:description", "description"):
        text = one(doc, name)
        assert 20 < len(text) <= 120, (name, len(text))
        assert text.startswith("沪深两市成交额连续第十个交易日突破一万亿元，北向资金净买入超过百亿元。沪深")
        assert "文章来源" not in text and "<" not in text and ">" not in text
    assert json_ld(doc)["description"] == one(doc, "og:description")


def test_a_footer_outside_the_em_media_paragraph_is_left_out_too() -> None:
    body = "<p>央行今日开展逆回购操作。</p><p>（文章来源：<em>东财滚动</em>）</p>"
    assert preview.description(body) == "央行今日开展逆回购操作。"


def test_first_image_is_made_absolute_against_base_url() -> None:
    body = '<p>正文</p><p><img src="/a/b.png?x=1&amp;y=2"></p><p><img src="https://cdn.example/c.png"></p>'
    assert preview.first_image(body, BASE) == f"{BASE}/a/b.png?x=1&y=2"
    assert preview.first_image('<p><img src="//cdn.example/c.png"></p>', BASE) == "https://cdn.example/c.png"
    assert preview.first_image("<p>正文</p>", BASE) is None


def test_json_ld_news_article(client: Any) -> None:
    data = json_ld(page(client, WITH_IMAGE))
    canonical = BASE + WITH_IMAGE
    assert data["@context"] == "https://schema.org" and data["@type"] == "NewsArticle"
    assert data["headline"] == "国产芯片企业加快扩产 产业链协同提速"
    assert data["datePublished"] == "2026-01-05T09:30:00+08:00"
    assert datetime.fromisoformat(data["dateModified"]) >= datetime.fromisoformat(data["datePublished"])
    assert data["url"] == canonical
    assert data["mainEntityOfPage"] == {"@type": "WebPage", "@id": canonical}
    assert data["publisher"] == {"@type": "Organization", "name": "金融消息"}
    assert data["sourceOrganization"] == {"@type": "Organization", "name": "中国电子报"}
    assert data["image"] == [f"{BASE}/images/chip.png"]
    assert data["inLanguage"] == "zh-CN"


def test_a_hostile_title_cannot_break_out_of_json_ld_or_meta(client: Any, core: Any) -> None:
    core.save([make_input("NW202601070000000006", title=HOSTILE_TITLE,
                          published=datetime(2026, 1, 7, 9, 0, tzinfo=CST))])
    response = client.get("/zhongguodianzibao/2026/01/07/NW202601070000000006.html")
    source = response.get_data(as_text=True)
    assert "<script>alert" not in source
    doc = lxml_html.fromstring(source)
    scripts = doc.xpath("//script")
    assert [s.get("type") for s in scripts] == ["application/ld+json", None]  # + the copy button's
    assert "alert" not in scripts[1].text
    assert json_ld(doc)["headline"] == HOSTILE_TITLE
    assert one(doc, "og:title") == HOSTILE_TITLE and one(doc, "twitter:title") == HOSTILE_TITLE


def test_share_panel(client: Any, core: Any) -> None:
    doc = page(client, WITH_IMAGE)
    code = core.post("NW202601050000000001").share_code
    short = f"{BASE}/s/{code}"
    field = doc.get_element_by_id("share-url")
    assert field.tag == "input" and field.get("readonly") is not None and field.get("value") == short
    assert doc.get_element_by_id("share-copy").tag == "button"
    qr = doc.xpath('//section[@class="share"]//img')[0]
    assert qr.get("src") == f"/s/{code}.svg" and "二维码" in qr.get("alt")
    assert qr.get("width") and qr.get("height")
    assert "微信扫一扫" in doc.xpath('string(//section[@class="share"])')
    links = {a.text_content(): a for a in doc.xpath('//p[@class="share-actions"]/a')}
    weibo, x = links["分享到微博"], links["分享到 X"]
    assert weibo.get("href").startswith("https://service.weibo.com/share/share.php?")
    assert x.get("href").startswith("https://x.com/intent/tweet?")
    title = "国产芯片企业加快扩产 产业链协同提速"
    assert parse_qs(urlsplit(weibo.get("href")).query) == {"url": [short], "title": [title]}
    assert parse_qs(urlsplit(x.get("href")).query) == {"url": [short], "text": [title]}
    assert all("noopener" in a.get("rel") for a in links.values())
    assert not doc.xpath("//script[@src] | //link[@rel='stylesheet'] | //img[starts-with(@src, 'http')]")


def test_share_panel_keeps_the_original_link_and_back_links(client: Any) -> None:
    doc = page(client, "/emnews/2026/01/06/202601060000000004.html")
    assert "原文链接：http://finance.eastmoney.com/a/202601060000000004.html" in doc.text_content()
    assert [a.text_content() for a in doc.xpath("//nav[@class='back']/a")] == ["返回东财滚动新闻", "返回首页"]
    assert "分享链接：" not in doc.text_content()


def test_share_links_encode_the_title() -> None:
    url = preview.weibo_share_url(f"{BASE}/s/abc", "A&B #1 / 测试?")
    assert parse_qs(urlsplit(url).query) == {"url": [f"{BASE}/s/abc"], "title": ["A&B #1 / 测试?"]}
    assert " " not in preview.x_share_url(f"{BASE}/s/abc", "a b")
