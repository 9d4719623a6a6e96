"""Pages, redirects and 404s through the test client."""

from __future__ import annotations

from typing import Any

from lxml import html as lxml_html


def page(client: Any, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert response.mimetype == "text/html"
    return lxml_html.fromstring(response.get_data(as_text=True))


def alternates(doc: Any) -> set[str]:
    return {link.get("href") for link in doc.xpath('//link[@rel="alternate"]')}


def test_home_lists_latest_news_then_active_categories_with_feeds(client: Any) -> None:
    doc = page(client, "/")
    latest = doc.xpath("//section[@class='latest']//li")
    assert [li.xpath("a")[0].text for li in latest] == [
        "沪指震荡收涨 成交额放大", "央行开展逆回购操作", "工业互联网平台应用案例发布",
        "国产芯片企业加快扩产 产业链协同提速"]
    assert [li.xpath("a[@class='source']/text()")[0] for li in latest] == [
        "财联社", "东财滚动", "中国电子报", "中国电子报"]
    # Active in the day before the newest post (2026-01-06 15:05): not 中国电子报's 01-05 posts.
    active = [h.xpath("a")[0].text for h in doc.xpath("//section[@class='active']/h3")]
    assert active == ["财联社新闻", "东财滚动新闻"]
    assert doc.xpath("//a[@href='/categories.html']")
    assert doc.xpath("/html/@lang") == ["zh-CN"]
    assert "https://news.example.com/feed.xml" in alternates(doc)
    assert not doc.xpath("//script[@src] | //link[@rel='stylesheet']")  # nothing external


def test_post_page_shows_body_footer_date_and_back_links(client: Any) -> None:
    doc = page(client, "/zhongguodianzibao/2026/01/05/NW202601050000000001.html")
    assert doc.xpath("//h1/text()") == ["国产芯片企业加快扩产 产业链协同提速"]
    assert doc.xpath('//article//p[@class="em_media"]/text()') == ["（文章来源：中国电子报）"]
    assert doc.xpath("//time/text()") == ["2026-01-05 09:30:00"]
    back = [a.text_content() for a in doc.xpath("//nav[@class='back']/a")]
    assert back == ["返回中国电子报新闻", "返回首页"]
    assert "https://news.example.com/category/zhongguodianzibao.atom" in alternates(doc)
    assert doc.xpath('//link[@rel="canonical"]/@href') == [
        "https://news.example.com/zhongguodianzibao/2026/01/05/NW202601050000000001.html"]


def test_post_at_another_form_of_its_id_redirects(client: Any) -> None:
    response = client.get("/zhongguodianzibao/2026/01/05/202601050000000001.html")
    assert response.status_code == 301
    assert response.location == ("https://news.example.com/zhongguodianzibao/2026/01/05/"
                                 "NW202601050000000001.html")


def test_category_page_paginates(client: Any) -> None:
    doc = page(client, "/category/zhongguodianzibao.html")
    assert [a.text for a in doc.xpath("//ul[@class='posts']//a")] == [
        "工业互联网平台应用案例发布", "国产芯片企业加快扩产 产业链协同提速"]
    assert "https://news.example.com/category/zhongguodianzibao.rss" in alternates(doc)
    assert client.get("/category/zhongguodianzibao.html?page=9").status_code == 404
    malformed = client.get("/category/zhongguodianzibao.html?page=x")
    assert malformed.status_code == 400 and "page" in malformed.get_data(as_text=True)


def test_tag_page_with_cjk_tag(client: Any) -> None:
    doc = page(client, "/tag/%E5%B7%A5%E4%B8%9A%E4%BA%92%E8%81%94%E7%BD%91.html")
    assert [a.text for a in doc.xpath("//ul[@class='posts']//a")] == ["工业互联网平台应用案例发布"]
    assert any("/tag/%E5%B7%A5" in href for href in alternates(doc))


def test_legacy_category_slug_redirects(client: Any) -> None:
    response = client.get("/category/ZhongGuoDianZiBao.html")
    assert response.status_code == 301
    assert response.location == "https://news.example.com/category/zhongguodianzibao.html"
    assert client.get("/category/ZhongGuoDianZiBao.atom").status_code == 301
    old_index = client.get("/emnews/")
    assert old_index.status_code == 301
    assert old_index.location == "https://news.example.com/category/emnews.html"


def test_unknown_things_get_the_404_page(client: Any) -> None:
    for url in ("/category/nope.html", "/tag/nope.html", "/nope/2026/01/01/NW999999999999999999.html",
                "/no/such/page", "/category/nope.atom"):
        response = client.get(url)
        assert response.status_code == 404, url
        doc = lxml_html.fromstring(response.get_data(as_text=True))
        assert doc.xpath("//a[@href='/']/text()") == ["金融消息", "返回首页"]
        assert "https://news.example.com/feed.xml" in alternates(doc)


def test_redirects_ignore_the_host_header(client: Any) -> None:
    response = client.get("/category/ZhongGuoDianZiBao.html", headers={"Host": "evil.example"})
    assert response.location.startswith("https://news.example.com/")


def test_healthz(client: Any) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_media_names_ending_in_news_are_not_doubled(client: Any, core: Any) -> None:
    from .conftest import make_input

    core.save([make_input("NW202601080000000001", category_slug="meirijingjixinwen",
                          category_name="每日经济新闻", tags=("每日经济新闻新闻",))])
    doc = page(client, "/category/meirijingjixinwen.html")
    assert doc.xpath("//h1/text()") == ["每日经济新闻"]
    post = page(client, "/meirijingjixinwen/2026/01/01/NW202601080000000001.html")
    assert [a.text for a in post.xpath("//nav[@class='back']/a")] == ["返回每日经济新闻", "返回首页"]


def test_old_multi_segment_category_permalinks_redirect(client: Any) -> None:
    response = client.get("/zhong guo/dianzibao/2026/01/05/NW202601050000000001.html")
    assert response.status_code == 301
    assert response.location == ("https://news.example.com/zhongguodianzibao/2026/01/05/"
                                 "NW202601050000000001.html")
    assert client.get("/a/b/2026/01/05/NW999999999999999999.html").status_code == 404
