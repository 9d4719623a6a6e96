"""Hostile input for the fuzz tests: hypothesis strategies and the properties every output keeps.

Profiles bound the work: ``ci`` (the default: 40 examples a test, derandomized) keeps the
whole suite fast, ``deep`` (1,000) searches harder when run by hand
(``HYPOTHESIS_PROFILE=deep pytest tests/test_fuzz_*.py``).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import feedparser
import lxml.etree
import lxml.html
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, print_blob=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture])
settings.register_profile(
    "deep", max_examples=1000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture])
#: The fuzz tests' settings, as a decorator (``@FUZZ`` under ``@given``): applied to these
#: tests only, so other hypothesis tests keep their own.
FUZZ = settings.get_profile("deep" if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else "ci")

# --- strategies ---------------------------------------------------------------------

#: Characters that break naive code: C0/C1 controls, NUL, lone surrogates, non-characters,
#: bidi overrides, zero-width and full-width look-alikes, CJK.
NASTY_CHARS = ("\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028",
               "\u202e", "\u200b", "\ufeff", "\ufffe", "\uffff", "\ud800", "\udfff", "\r",
               "\t", "\n", "ｊ", "：", "新", "闻", "<", ">", "&", "\"", "'", "%", "/", "\\")

NASTY_STRINGS = (
    "", " ", "..", ".", "/", "%00", "%2e%2e", "%2F", "%252e", "%ff%fe", "%u0000", "%C0%AE",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "]]>", "<![CDATA[x]]>",
    "&#0;", "&#xD800;", "&#x1F;", "&nosuch;", "{{7*7}}", "${x}", "' OR 1=1 --", "\\x00",
    "新闻（文章来源：中国电子报）", "文章来源：", "<p class=\"em_media\">（文章来源：<b>x</b>）</p>",
    "NW202601010000000001", "202601010000000001", "NW20260101000000000\n", "9" * 40, "-1",
    "0", "1e309", "NaN", "²", "١٢٣", "１２", "ⅷ",
)

#: Every kind of URL scheme and the tricks that hide one.
URLS = (
    "javascript:alert(document.domain)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
    "\x01javascript:alert(1)", "java\tscript:alert(1)", "java\nscript:alert(1)",
    "javascript&colon;alert(1)", "&#106;avascript:alert(1)", "%6Aavascript:alert(1)",
    "ｊａｖａｓｃｒｉｐｔ:alert(1)", "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "DATA:image/svg+xml,<svg/>",
    "vbscript:msgbox(1)", "file:///etc/passwd", "ftp://example.com/a", "gopher://x/",
    "mailto:a@example.com", "tel:+861012345678", "blob:https://x/1", "about:blank",
    "chrome://settings", "ws://example.com/", "jar:http://x!/", "view-source:http://x/",
    "http://", "https:", "https:evil.example.com", "//evil.example.com/x", "/relative/path",
    "relative.html", "?q=1", "#frag", "http://user:pass@example.com/", "http://[::1]/",
    "http://127.0.0.1:1/", "http://0x7f000001/", "http://例子.测试/路径?q=新闻",
    "https://example.com/%0d%0aSet-Cookie:x=1", "https://example.com/" + "a" * 3000,
    "https://news.example.com/a.html", "http://finance.eastmoney.com/a/202601060000000004.html",
    "https://wap.eastmoney.com/html_News/NewsShare.html?infoCode=NW202601010000000009",
)

#: Dates in every shape upstreams send, and the edges: years 1-9999, offsets to ±14:00, epochs.
DATE_STRINGS = (
    "Fri, 31 Dec 9999 20:00:00 GMT", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
    "0001-01-01", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2038-01-19T03:14:08Z",
    "2026-02-30 10:00:00", "2026-13-01", "0000-00-00 00:00:00", "2026-01-01T24:00:00",
    "2026-03-09 10:23:24 +0800", "2026-03-09 10:23:24 CST", "Mon, 09 Mar 2026 10:23:24 CST",
    "Mon, 09 Mar 2026 10:23:24 +1400", "Mon, 09 Mar 2026 10:23:24 -1400", "yesterday",
    "2026-03-09T10:23:24.123456789+08:00", "2026-03-09T10:23:24+99:99", "2026-W10-1",
    "99999999999999999999", "-62135596800", "253402300800", "1e20", "NaN", "", " ",
)


def _char() -> st.SearchStrategy[str]:
    # blacklist nothing: surrogates (Cs) and controls (Cc) are what we want to see.
    return st.one_of(st.sampled_from(NASTY_CHARS), st.characters(blacklist_categories=()))


def text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Hostile strings: controls, surrogates, markup, encodings, CJK, and now and then huge."""
    return st.one_of(
        st.sampled_from(NASTY_STRINGS),
        st.text(_char(), max_size=max_size),
        st.builds(lambda s, n: s * n, st.sampled_from(("<div>", "<script>", "&amp;", "新闻 ",
                                                       "<p>", "]]>", "\x00")),
                  st.integers(1, 5000)),
        st.lists(st.sampled_from(NASTY_STRINGS + NASTY_CHARS), max_size=8).map("".join),
    )


def urls() -> st.SearchStrategy[str]:
    """URLs of every scheme, and strings posing as one."""
    return st.one_of(st.sampled_from(URLS), st.builds("{}{}".format, st.sampled_from(URLS),
                                                       text(12)))


def dates() -> st.SearchStrategy[Any]:
    """Date values as upstreams send them: strings of every format and edge, and epochs."""
    iso = st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}".format,
        st.integers(1, 9999), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23),
        st.integers(0, 59), st.integers(0, 59),
        st.sampled_from(("", "Z", "+14:00", "-14:00", "+08:00", "-12:00", "+0800", " +0800")))
    epochs = st.one_of(st.integers(-(2**63), 2**63), st.floats(allow_nan=True,
                                                                allow_infinity=True))
    return st.one_of(st.sampled_from(DATE_STRINGS), iso, epochs, text(20))


def json_values(leaves: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Any]:
    """Arbitrary JSON-shaped values, including wrong types where strings are expected."""
    leaf = leaves or st.one_of(st.none(), st.booleans(), st.integers(), text(20), urls())
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(text(8), inner, max_size=3)), max_leaves=6)


def nested(depth: int) -> Any:
    """A JSON value nested ``depth`` levels deep (lists inside dicts)."""
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


def nested_json(depth: int) -> str:
    """Deeply nested JSON text, without building the structure in Python."""
    return '{"a":[' * depth + "1" + "]}" * depth


# --- properties ----------------------------------------------------------------------

_URL_ATTRIBUTES = ("href", "src", "action", "formaction", "poster", "cite", "background",
                   "data", "srcset", "xlink:href", "longdesc", "manifest", "icon")
_UNSAFE_SCHEMES = ("javascript", "data", "vbscript")
_TAB_OR_NEWLINE = re.compile("[\t\n\r]")


def scheme(url: str) -> str:
    """The scheme a browser would see: C0 and space stripped, tabs and newlines removed."""
    cleaned = _TAB_OR_NEWLINE.sub("", url.strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c"
                                                  "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"
                                                  "\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f \t\n\r"))
    head, colon, _ = cleaned.partition(":")
    return head.lower() if colon and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", head) else ""


def is_unsafe_url(url: str) -> bool:
    return scheme(url) in _UNSAFE_SCHEMES


def unsafe_urls_in_html(html: str) -> list[str]:
    """Every javascript:/data:/vbscript: URL an HTML document or fragment would act on."""
    if not html.strip():
        return []
    try:
        tree = lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return []
    found = []
    for element in tree.iter():
        for name, value in element.attrib.items():
            if name.lower() in _URL_ATTRIBUTES and _any_unsafe(value):
                found.append(f"<{element.tag} {name}={value!r}>")
    return found


def _any_unsafe(value: str) -> bool:
    # srcset holds several URLs; the rest one.
    return any(is_unsafe_url(part.strip().split(" ")[0]) for part in value.split(",")) \
        or is_unsafe_url(value)


_XML_LINK_TAGS = {"link", "guid", "uri", "url", "comments", "docs", "icon", "logo"}
_XML_HTML_TAGS = {"content", "description", "encoded", "summary", "subtitle"}


def unsafe_urls_in_feed(body: bytes, content_type: str) -> list[str]:
    """Every unsafe URL in an Atom/RSS/JSON feed: links, enclosures, and inside content."""
    if "json" in content_type:
        return _unsafe_in_json_feed(json.loads(body))
    found = []
    for element in lxml.etree.fromstring(body).iter():
        if not isinstance(element.tag, str):
            continue
        local = lxml.etree.QName(element).localname
        for name, value in element.attrib.items():
            if lxml.etree.QName(name).localname in ("href", "url", "src") and is_unsafe_url(value):
                found.append(f"<{local} {name}={value!r}>")
        if local in _XML_LINK_TAGS and element.text and is_unsafe_url(element.text):
            found.append(f"<{local}>{element.text!r}")
        if local in _XML_HTML_TAGS and element.text:
            found.extend(unsafe_urls_in_html(element.text))
    return found


def _unsafe_in_json_feed(document: dict[str, Any]) -> list[str]:
    found = []
    for entry in [document, *document.get("items", [])]:
        for key in ("url", "external_url", "image", "banner_image", "home_page_url", "feed_url"):
            value = entry.get(key)
            if isinstance(value, str) and is_unsafe_url(value):
                found.append(f"{key}={value!r}")
        found.extend(unsafe_urls_in_html(entry.get("content_html") or ""))
    return found


def feed_problems(body: bytes, content_type: str) -> list[str]:
    """What a feed reader would trip on: a parse error (bozo) or an unsafe URL."""
    problems = []
    if "json" in content_type:
        try:
            json.loads(body)
        except ValueError as error:
            return [f"JSON Feed does not parse: {error}"]
    else:
        parsed = feedparser.parse(body)
        if parsed.bozo:
            problems.append(f"feedparser bozo: {parsed.bozo_exception!r}")
            return problems
    return problems + unsafe_urls_in_feed(body, content_type)


# --- the whole site, as readers and feed readers see it -------------------------------

SITE_PATHS = ("/", "/categories.html", "/feed.xml", "/feed.rss", "/feed.json", "/sitemap.xml",
              "/sitemap-pages.xml", "/sitemap-news.xml", "/opml.xml", "/robots.txt")


def post_paths(core: Any, post_ids: Any) -> list[str]:
    """The pages and feeds that list each stored post: its page, category and tags."""
    from syndicate import urls
    from syndicate.model import FeedFormat

    paths: list[str] = []
    for post_id in post_ids:
        post = core.store.get_post(post_id)
        if post is None:
            continue
        paths.append(core.post_path(post))
        paths.append(f"/api/posts/{post.id}")
        for fmt in (None, *FeedFormat):
            paths.append(urls.category_path(post.category.slug, fmt))
            paths.extend(urls.tag_path(tag, fmt) for tag in post.tags[:2])
    return paths


def site_problems(client: Any, paths: Any) -> list[str]:
    """Fetch each path; report a 5xx, a feed that does not parse, or an unsafe URL."""
    problems = []
    for path in dict.fromkeys(paths):
        response = client.get(path)
        where = f"GET {path!r} -> {response.status_code}"
        if response.status_code >= 500:
            problems.append(where)
            continue
        kind = response.mimetype or ""
        if response.status_code != 200:
            continue
        if kind in ("application/atom+xml", "application/rss+xml", "application/feed+json"):
            problems.extend(f"{where}: {p}" for p in feed_problems(response.data, kind))
        elif kind == "text/html":
            problems.extend(f"{where}: {p}"
                            for p in unsafe_urls_in_html(response.get_data(as_text=True)))
    return problems
