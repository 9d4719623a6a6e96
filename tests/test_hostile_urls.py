"""No URL from outside is stored or printed unless it is absolute http(s): every reader, every page.

Hypothesis generates hostile URLs (every scheme, case, whitespace and control-character
tricks, protocol-relative and percent-encoded forms) and drives each reader with them.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from syndicate import create_app
from syndicate.core import Syndicate
from syndicate.ingest.feed import read_feed
from syndicate.ingest.jekyll import parse_post
from syndicate.ingest.jsonapi import read_list
from syndicate.ingest.poll import Status
from syndicate.ingest.post import build_post, stable_id
from syndicate.text import sanitize_html, web_url

from . import upstream as fixtures
from .upstream import Entry, poller, rss, sources

server, upstream, site = fixtures.server, fixtures.upstream, fixtures.site

TZ = ZoneInfo("Asia/Shanghai")
FEED_URL = "https://up.example.com/feed.xml"
SCHEMES = ["javascript", "JaVaScRiPt", "JAVASCRIPT", "data", "DaTa", "vbscript", "VBScript",
           "file", "ftp", "mailto", "about", "blob", "filesystem", "view-source", "chrome",
           "ws", "wss", "tel", "sms", "intent", "feed", "jar", "httpx", "http+unix", "hxxp"]
PAYLOADS = ["alert(document.domain)", "//evil.example/%0aalert(1)", "text/html,<script>x</script>",
            "text/html;base64,PHNjcmlwdD4=", "msgbox(1)", "//evil.example/x", "///etc/passwd"]
# Characters a browser strips around a URL or skips inside it (tab, newline), and others.
TRICKS = ["", " ", "\t", "\n", "\r\n", "\x00", "\x01", "\x0b", "\x0c", "\x1f", "\x7f", "\x85",
          "\xa0", "\u2028", "\ufeff", "\u200b"]


@st.composite
def hostile_urls(draw: st.DrawFn) -> str:
    """A URL a browser or feed reader might run or follow off the web: never http(s)."""
    scheme = draw(st.sampled_from(SCHEMES) | st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9+.-]{0,8}\Z")
                  .filter(lambda s: s.lower() not in ("http", "https")))
    inside = draw(st.sampled_from(TRICKS))
    cut = draw(st.integers(0, len(scheme)))
    scheme = scheme[:cut] + inside + scheme[cut:]
    colon = draw(st.sampled_from([":", "%3A", "%3a", "&#58;", "&colon;"]))
    body = draw(st.sampled_from(PAYLOADS) | st.text(max_size=20))
    form = draw(st.sampled_from(["scheme", "relative", "broken-http", "encoded"]))
    if form == "relative":
        url = draw(st.sampled_from(["//evil.example/x", "/\\evil.example", "\\\\evil.example",
                                    "evil.example/x", "?q=1", "#frag", "../../x", ""]))
    elif form == "broken-http":
        url = draw(st.sampled_from(["http:evil.example", "https:/evil.example", "http//x.cn",
                                    "https://", "http://:80/", "http://[::1", "http://x:99999999/",
                                    "http:///x", "ht\ttp://x.cn/", "http://x.cn/\x00"]))
    elif form == "encoded":
        url = "".join(f"%{ord(c):02X}" for c in f"{scheme}:") + body
    else:
        url = f"{scheme}{colon}{body}"
    return draw(st.sampled_from(TRICKS)) + url + draw(st.sampled_from(TRICKS))


URL_SETTINGS = settings(max_examples=120, deadline=None,
                        suppress_health_check=[HealthCheck.function_scoped_fixture])
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_BROWSER_STRIPPED = "".join(map(chr, range(0x21)))  # C0 controls and space


def browser_scheme(url: str) -> str | None:
    """The scheme a browser would see (it strips C0 and space around, tab and newline inside)."""
    text = re.sub(r"[\t\n\r]", "", url.strip(_BROWSER_STRIPPED))
    match = _SCHEME_RE.match(text)
    return match.group(1).lower() if match else None


def assert_stored_url_is_web(url: str | None) -> None:
    assert url is None or (browser_scheme(url) in ("http", "https") and web_url(url) == url), url


def assert_page_links_are_safe(page: bytes | str) -> None:
    """Every href and src of a page is relative to the site or http(s)/mailto."""
    document = lxml.html.fromstring(page)
    for element in document.iter():
        for name in ("href", "src", "action", "formaction", "poster", "data"):
            value = element.get(name)
            if value is not None:
                assert browser_scheme(value) in (None, "http", "https", "mailto"), (name, value)


def store_one(core: Syndicate, **fields: Any) -> Any:
    values = {"post_id": "NW202603090000000001", "title": "标题", "published": _now(core),
              "media": "财联社", "html": "<p>正文。</p>", **fields}
    return core.admit(build_post(**values))


def _now(core: Syndicate) -> Any:
    from datetime import datetime

    return datetime(2026, 3, 9, 10, tzinfo=core.tz)


# --- the one check ---------------------------------------------------------------------


@URL_SETTINGS
@given(hostile_urls())
def test_web_url_refuses_every_hostile_url(url: str) -> None:
    assert web_url(url) is None or browser_scheme(url) in ("http", "https")


@pytest.mark.parametrize("url", ["https://up.example.com/a/1.html", "HTTP://UP.EXAMPLE.COM/",
                                 "http://[::1]:8080/x?y=1#z", "https://新闻.example/路径"])
def test_web_url_keeps_absolute_http_urls(url: str) -> None:
    assert web_url(url) == url


# --- each reader -----------------------------------------------------------------------


@URL_SETTINGS
@given(hostile_urls())
def test_rss_links(url: str) -> None:
    entry = Entry("x", "标题", "<p>正文。</p>")
    data = rss("财联社", [entry]).replace(b"<link>x</link>",
                                          f"<link>{html.escape(url)}</link>".encode())
    _check_feed(data, "application/rss+xml")


@URL_SETTINGS
@given(hostile_urls(), hostile_urls())
def test_atom_links_and_entities(url: str, other: str) -> None:
    entity = "".join(f"&#{ord(c)};" for c in other[:40])
    data = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>tag:up,2026:f</id><title>T</title><updated>2026-03-09T10:00:00Z</updated>"
            f"<entry><id>tag:up,2026:1</id><title>标题</title>"
            f"<updated>2026-03-09T10:00:00Z</updated><link href={quoteattr(url)}/>"
            f'<link rel="enclosure" href={quoteattr(other)}/>'
            f'<content type="html">&lt;a href="{entity}"&gt;x&lt;/a&gt;</content></entry></feed>')
    _check_feed(data.encode(), "application/atom+xml")


@URL_SETTINGS
@given(hostile_urls(), hostile_urls())
def test_json_feed_url_and_external_url(url: str, external: str) -> None:
    for item in ({"id": "1", "url": url}, {"id": "1", "external_url": external},
                 {"id": "1", "url": url, "external_url": external}):
        data = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "T",
                           "items": [{**item, "title": "标题", "content_html":
                                      f'<a href="{html.escape(url)}">x</a>'}]}).encode()
        _check_feed(data, "application/feed+json")


def _check_feed(data: bytes, content_type: str) -> None:
    page = read_feed(data, content_type=content_type, charset="utf-8", url=FEED_URL, tz=TZ)
    for item in page.items:
        assert_stored_url_is_web(item.url)
        post = build_post(post_id=item.id, title=item.title or "标题",
                          published=item.published or _fixed(), media="财联社", html=item.html,
                          url=item.url)
        assert_stored_url_is_web(post.url)
        assert_page_links_are_safe(f"<div>{post.html}</div>")


def _fixed() -> Any:
    from datetime import datetime

    return datetime(2026, 3, 9, 10, tzinfo=TZ)


@URL_SETTINGS
@given(hostile_urls())
def test_json_api_url_field(url: str) -> None:
    source = sources({"name": "em", "kind": "json", "url": "https://api.example.com/list",
                      "items": "data", "fields": {"id": "code", "title": "t", "url": "u"}})[0]
    data = json.dumps({"data": [{"code": "NW202603090000000001", "t": "标题", "u": url}]}).encode()
    page = read_list(data, charset="utf-8", source=source, tz=TZ)
    assert page.items and all(web_url(i.url) == i.url or i.url is None for i in page.items)
    for item in page.items:
        assert_stored_url_is_web(item.url)


@URL_SETTINGS
@given(hostile_urls())
def test_jekyll_original_url_lines(url: str) -> None:
    text = ("---\ntitle: 标题\ndate: 2026-03-09 10:00:00 +0800\ncategories: cailianshe\n"
            f"tags: [财联社新闻]\n---\n<p>正文。</p>\n\n<{url}>\n\n[原文]({url})\n")
    try:
        post = parse_post(text, filename="2026-03-09-NW202603090000000001.md", tz=TZ)
    except ValueError:
        return  # a refusal names its field; nothing is stored
    assert_stored_url_is_web(post.url)
    assert_page_links_are_safe(f"<div>{post.html}</div>")


@URL_SETTINGS
@given(hostile_urls())
def test_bodies_keep_no_script_urls(url: str) -> None:
    quoted = html.escape(url)
    body = (f'<a href="{quoted}">a</a><img src="{quoted}"><a href=\'{quoted}\'>b</a>'
            f"<a href={quoted.replace(' ', '')}>c</a><area href=\"{quoted}\">"
            f'<form action="{quoted}"><button formaction="{quoted}">d</button></form>')
    assert_page_links_are_safe(f"<div>{sanitize_html(body)}</div>")


# --- the publish API and the pages -----------------------------------------------------

TOKEN = "s3cret"


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp_path = tmp_path_factory.mktemp("api")
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
                      "BASE_URL": "https://news.example.com", "API_TOKENS": TOKEN})
    app.extensions["syndicate"].init()
    yield app
    app.extensions["syndicate"].store.dispose()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile_urls())
def test_publish_api_refuses_the_url_and_names_it(api_app: Any, url: str) -> None:
    client = api_app.test_client()
    response = client.post("/api/posts", headers={"Authorization": f"Bearer {TOKEN}"}, json={
        "title": "标题", "date": "2026-03-09T10:00:00+08:00", "media": "财联社",
        "html": f'<p>正文。</p><a href="{html.escape(url)}">x</a>', "url": url})
    if response.status_code == 400:
        assert "url" in response.json["fields"]
        return
    assert response.status_code in (200, 201), response.json
    post = client.get(f"/api/posts/{response.json['id']}").json
    assert_stored_url_is_web(post["source_url"])
    assert_page_links_are_safe(client.get(post["url"].removeprefix("https://news.example.com")).data)


HOSTILE_LINKS = ["javascript:alert(document.domain)", "JaVaScRiPt:alert(1)", "\tjavascript:alert(1)",
                 "java\nscript:alert(1)", "data:text/html,<script>alert(1)</script>",
                 "vbscript:msgbox(1)", "//evil.example/x", "javascript%3Aalert(1)",
                 "&#106;avascript:alert(1)", " \x01javascript:alert(1)", "file:///etc/passwd"]


def test_polled_hostile_links_never_reach_a_page_or_feed(upstream: HTTPServer,
                                                          site: Syndicate, tmp_path: Path) -> None:
    """Real HTTP on loopback, then every post page and feed the site serves."""
    entries = [Entry(f"https://up.example.com/{n}", f"第{n}条", f'<p>正文{n}。</p>'
                     f'<a href="{html.escape(link)}">x</a>') for n, link in enumerate(HOSTILE_LINKS)]
    data = rss("财联社", entries)
    for n, link in enumerate(HOSTILE_LINKS):
        data = data.replace(f"<link>https://up.example.com/{n}</link>".encode(),
                            f"<link>{html.escape(link)}</link>".encode())
    upstream.expect_request("/rss").respond_with_data(data, content_type="application/rss+xml")
    result = poller(site, sources({"name": "cls", "kind": "feed", "url": upstream.url_for("/rss"),
                                   "every": "5m"})).poll()[0]
    assert result.status is Status.OK and result.new == len(HOSTILE_LINKS), result
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path, "STORE": site.store,
                      "BASE_URL": "https://news.example.com"})
    client = app.test_client()
    for post in site.store.latest(50):
        assert_stored_url_is_web(post.url)
        assert_page_links_are_safe(client.get(site.post_path(post)).data)
    for url in ("/", "/feed.xml", "/feed.rss", "/category/cailianshe.html"):
        body = client.get(url).data
        if url.endswith(".html") or url == "/":
            assert_page_links_are_safe(body)
        assert b"javascript:" not in body.lower() and b"vbscript:" not in body.lower()


def test_an_item_named_by_a_link_keeps_its_id_when_the_link_is_dropped() -> None:
    """Ids never change: the link as sent still names an item whose URL is refused."""
    data = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
            b"<item><title>A</title><link>http://up.example.com/a b.html</link></item>"
            b"<item><title>B</title><link>javascript:alert(1)</link></item></channel></rss>")
    page = read_feed(data, content_type="application/rss+xml", charset="utf-8", url=FEED_URL,
                     tz=TZ)
    assert [item.url for item in page.items] == [None, None]
    assert [item.id for item in page.items] == [
        stable_id(None, None, "http://up.example.com/a b.html", "up.example.com"),
        stable_id(None, None, "javascript:alert(1)", "up.example.com")]
