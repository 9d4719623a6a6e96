"""Fuzz every public route: hostile paths, query values and headers never give a 5xx.

Routes are enumerated from the app's URL map (the fast paths for feeds and share links
answer the same URLs before Flask, so both are driven). Properties: no 5xx and no
unhandled exception; a 400 names the parameter it refused; redirects stay on the site;
every HTML page and feed answered carries no javascript:/data: URL, and every feed parses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes

import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import hostile
from .conftest import SITE_POSTS, make_input
from .feedtools import BASE, make_app

CJK_TAG_POST = make_input("NW202601070000000005", title="人工智能 新闻", tags=("中国电子报新闻", "人工智能"),
                          url="https://news.example.com/x.html")
QUERY_NAMES = ("page", "limit", "since", "q", "infoCode", "format", "callback", "utm_source")
HEADERS = ("If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range",
           "Range", "Accept-Encoding", "Accept", "Accept-Language", "User-Agent", "Referer",
           "Cookie", "Authorization", "DNT", "Sec-GPC", "X-Forwarded-For", "X-Forwarded-Proto",
           "X-Forwarded-Host", "Host", "Content-Type")
FEED_TYPES = ("application/atom+xml", "application/rss+xml", "application/feed+json")
_ARGUMENT_RE = re.compile(r"<(?:([^:<>]+)(?:\([^)]*\))?:)?([^<>]+)>")


@pytest.fixture(scope="module")
def app(module_database_url: str, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("routes")
    url = module_database_url
    app = make_app(folder, url, PAGE_SIZE=2, API_TOKENS="route-token")
    core = app.extensions["syndicate"]
    core.save([*SITE_POSTS, CJK_TAG_POST])
    yield app
    core.close(wait=0)


def rules(app: Any) -> list[str]:
    return sorted(rule.rule for rule in app.url_map.iter_rules())


#: Real values for each URL argument, so fuzzing also reaches pages that exist.
REAL_VALUES = {"slug": "zhongguodianzibao", "tag": "人工智能", "year": "2026", "month": "01",
               "day": "07", "post_id": "NW202601070000000005", "page": "1", "part": "1",
               "ext": "atom", "raw": "abc", "filename": "style.css"}


def path_value(converter: str | None, name: str) -> st.SearchStrategy[str]:
    """A value for one URL argument: real, hostile text percent-encoded, or raw tricks."""
    encoded = hostile.text(30).map(
        lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="/%:@!$&'()*+,;="))
    numbers = st.one_of(st.integers(-10, 10**30).map(str), st.sampled_from(("²", "1e3", "0x1")))
    return st.one_of(st.just(REAL_VALUES.get(name, "x")), encoded,
                     numbers if converter == "int" else encoded,
                     st.sampled_from(("..", "%2e%2e", "%2F", "a%00b", "%ff%fe", "%C0%AE", "~",
                                      "a" * 5000, "%25", "NW202601070000000005%0A")))


@st.composite
def requests(draw: st.DrawFn, all_rules: list[str]) -> dict[str, Any]:
    rule = draw(st.sampled_from(all_rules))
    path = _ARGUMENT_RE.sub(lambda m: draw(path_value(m.group(1), m.group(2))), rule)
    names = draw(st.lists(st.one_of(st.sampled_from(QUERY_NAMES), hostile.text(6)), max_size=3))
    query = "&".join(f"{_qs(n)}={_qs(draw(st.one_of(hostile.text(), hostile.dates().map(str), hostile.urls())))}"
                     for n in names)
    headers = {name: _header(draw(st.one_of(hostile.text(), hostile.dates().map(str))))
               for name in draw(st.lists(st.sampled_from(HEADERS), max_size=3, unique=True))}
    method = draw(st.sampled_from(("GET", "GET", "GET", "HEAD", "POST", "OPTIONS", "DELETE")))
    # The names as the app reads them (percent-decoded), not as drawn.
    sent = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return {"method": method, "path": path, "query_string": query, "headers": headers,
            "names": [*sent, *headers]}


#: Printable ASCII a client may send unencoded in a query ('&', '#', '+' and space excepted).
RAW_SAFE = "".join(chr(c) for c in range(0x21, 0x7f) if chr(c) not in "&#+")


def _qs(value: str) -> str:
    # Half fully encoded, half as raw as a client may send (a server passes both through).
    data = value.encode("utf-8", "surrogatepass")
    return quote(data, safe="%/:") if len(value) % 2 else quote(data, safe=RAW_SAFE)


def _header(value: str) -> str:
    # What a server hands the app: bytes on the wire read as latin-1, no CR/LF.
    raw = value.encode("utf-8", "surrogatepass").decode("latin-1")
    return raw.replace("\r", "").replace("\n", "")[:8000]


def check_answer(response: Any, names: list[str]) -> None:
    """The properties every answer keeps, whatever was asked."""
    status = response.status_code
    assert status < 500, response.get_data()[:400]
    if status in (301, 302, 303, 307, 308):
        location = response.headers["Location"]
        assert location.startswith((BASE + "/", "/")) and not location.startswith("//"), location
    # The names as the app read them; a HEAD answer has no body to name one in, and a
    # parameter without a name cannot be named.
    names = [*names, *response.request.args.keys()]
    if status == 400 and response.data and all(name.strip() for name in names):
        assert _names_a_parameter(response, names), response.get_data()[:400]
    if status != 200 or not response.data:
        return
    if response.mimetype in FEED_TYPES:
        assert hostile.feed_problems(response.data, response.mimetype) == []
    elif response.mimetype == "text/html":
        assert hostile.unsafe_urls_in_html(response.get_data(as_text=True)) == []


def _names_a_parameter(response: Any, names: list[str]) -> bool:
    if response.mimetype == "application/json":
        answer = response.get_json()
        message = " ".join([str(answer.get("error")), *map(str, answer.get("fields") or {})])
    else:
        tree = lxml.html.fromstring(response.get_data(as_text=True))
        message = " ".join(p.text_content() for p in tree.find_class("muted"))
    # A name with controls in it is named as Python writes it ('\x00').
    wanted = [*names, *(repr(name)[1:-1] for name in names), *REAL_VALUES, "path", "body",
              "header"]
    return any(re.search(rf"(?<!\w){re.escape(name)}(?!\w)", message, re.IGNORECASE)
               for name in wanted if name.strip())


def _send(client: Any, request: dict[str, Any]) -> Any:
    # PATH_INFO as a server passes it (percent-decoded bytes read as latin-1): the test
    # client would read a path such as "//../x" as a host name instead.
    raw_path = unquote_to_bytes(request["path"]).decode("latin-1")
    return client.open("/", method=request["method"], query_string=request["query_string"],
                       headers=request["headers"], environ_overrides={"PATH_INFO": raw_path})


def test_every_route_is_fuzzed(app: Any) -> None:
    """The strategy reaches every rule of the URL map, fast paths included."""
    found = rules(app)
    for path in ("/s/<path:raw>", "/html_News/NewsShare.html", "/feed.xml",
                 "/category/<slug>.<any(atom, rss, json):ext>"):
        assert path in found


@pytest.mark.parametrize("query", ["page=²", "page=99999999999999999999", "page=" + "9" * 5000,
                                   "limit=²", "since=0001-01-01T00:00:00+14:00"])
@pytest.mark.parametrize("path", ["/", "/category/zhongguodianzibao.html", "/feed.xml",
                                  "/category/zhongguodianzibao.atom", "/tag/%E4%BA%BA%E5%B7%A5%E6%99%BA%E8%83%BD.html"])
def test_bad_query_values_from_the_issue_answer_4xx(app: Any, path: str, query: str) -> None:
    response = app.test_client().get(path, query_string=query)
    assert response.status_code in (200, 400, 404)
    check_answer(response, ["page", "limit", "since"])


#: Segment values every rule is tried with, whatever the random search draws.
NASTY_SEGMENTS = ("a%00b", "%ED%A0%80", "%ff%fe", "..", "%2e%2e", "a%0Ab", "a%0D%0Ab",
                  "%E2%80%AE", "x" * 3000, "99999999999999999999", "-1", "%C0%AE", "%EF%BF%BE")


@pytest.mark.parametrize("segment", NASTY_SEGMENTS)
def test_every_rule_with_each_nasty_segment(app: Any, segment: str) -> None:
    client, problems = app.test_client(), []
    for rule in rules(app):
        path = _ARGUMENT_RE.sub(lambda m: REAL_VALUES.get(m.group(2), "x")
                                if m.group(2) == "ext" else segment, rule)
        for query in ("", f"since={segment}", f"page={segment}", f"limit={segment}",
                      f"q={segment}", f"infoCode={segment}"):
            response = client.get(path, query_string=query)
            try:
                check_answer(response, ["since", "page", "limit", "q", "infoCode"])
            except AssertionError:
                problems.append(f"{path[:60]}?{query[:40]} -> {response.status_code}")
    assert not problems, "\n".join(problems)


@given(data=st.data())
@hostile.FUZZ
def test_no_route_answers_5xx(app: Any, data: Any) -> None:
    request = data.draw(requests(rules(app)))
    check_answer(_send(app.test_client(), request), request["names"])


@given(query=st.one_of(hostile.text(), hostile.urls(), hostile.dates().map(str)),
       name=st.sampled_from(("since", "limit", "q")),
       path=st.sampled_from(("/feed.xml", "/feed.rss", "/feed.json",
                             "/category/zhongguodianzibao.atom", "/tag/%E4%BA%BA%E5%B7%A5%E6%99%BA%E8%83%BD.rss")),
       validators=st.sampled_from(("", "etag", "date")))
@hostile.FUZZ
def test_feed_queries_answer_a_feed_or_name_the_parameter(app: Any, query: str, name: str,
                                                           path: str, validators: str) -> None:
    client = app.test_client()
    headers = {}
    if validators:
        first = client.get(path)
        assert first.status_code == 200
        headers = ({"If-None-Match": first.headers["ETag"]} if validators == "etag"
                   else {"If-Modified-Since": first.headers["Last-Modified"]})
    response = client.get(path, query_string={name: query.encode("utf-8", "surrogatepass")},
                          headers=headers)
    assert response.status_code in (200, 304, 400, 404, 414), response.data[:300]
    check_answer(response, [name])


@given(code=st.one_of(hostile.text(30), st.sampled_from(("", "NW202601070000000005",
                                                         "202601070000000005", "NW202601070000000005\n"))))
@hostile.FUZZ
def test_share_links_redirect_on_site_or_404(app: Any, code: str) -> None:
    client = app.test_client()
    encoded = quote(code.encode("utf-8", "surrogatepass"), safe="")
    for response in (client.get("/s/" + encoded),
                     client.get("/html_News/NewsShare.html", query_string="infoCode=" + encoded)):
        assert response.status_code in (301, 302, 400, 404, 410, 414), response.data[:300]
        check_answer(response, ["infoCode", "code"])


def test_api_sources_without_a_sources_file_answers_200(app: Any) -> None:
    # Found by the fuzzer: a site that only imports has no sources file; this was a 500.
    response = app.test_client().get("/api/sources")
    assert response.status_code == 200
    assert response.get_json()["sources"] == []
    assert "sources" in response.get_json()["problem"]
