"""What the W3C Feed Validator checks, tested directly: feed-level ids are valid tag: URIs
(RFC 4151) and the self link of a delta is the URL as requested (compared as RFC 3986
says, the way the validator compares them)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from werkzeug.serving import make_server

from .feedtools import BASE, make_app, post

ATOM = "{http://www.w3.org/2005/Atom}"
CAT = "/category/zhongguodianzibao.atom"
CJK_TAG = "东财滚动新闻"

# RFC 4151: tag:<DNS name or email>,<date>:<specific>, specific = *( pchar / "/" / "?" ).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
TAG_URI_RE = re.compile(
    rf"^tag:(?:{_LABEL}(?:\.{_LABEL})*|[^@\s:,]+@{_LABEL}(?:\.{_LABEL})*)"
    r",\d{4}(?:-\d{2}(?:-\d{2})?)?"
    r":(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-F]{2})*$")

# RFC 3986, 6.2.2: case and percent-encoding normalisation.
_UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")


def normal_uri(url: str) -> str:
    """The RFC 3986 normal form the validator compares: scheme and host lower case, no
    default port, escapes of unreserved characters decoded, other escapes upper case."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port and parts.port != {"http": 80, "https": 443}[parts.scheme] else ""

    def escape(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    path = _ESCAPE_RE.sub(escape, quote(parts.path, safe="%/!$&'()*+,;=:@"))
    query = _ESCAPE_RE.sub(escape, parts.query)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}{port}{path}" + (
        f"?{query}" if parts.query else "")


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Any]:
    app = make_app(tmp_path, database_url)
    core = app.extensions["syndicate"]
    core.save([post(n, tags=("中国电子报新闻", CJK_TAG, "AI")) for n in range(1, 6)])
    yield app
    core.store.dispose()


def feed_id(client: Any, url: str) -> str:
    root = etree.fromstring(client.get(url).get_data())
    return str(root.findtext(f"{ATOM}id"))


def self_link(body: bytes) -> str:
    root = etree.fromstring(body)
    links = root.findall(f"{ATOM}link[@rel='self']") or root.findall(f"channel/{ATOM}link[@rel='self']")
    return str(links[0].get("href"))


# -- feed-level ids -------------------------------------------------------------------


def test_a_cjk_tag_feed_has_a_valid_tag_uri(client: Any) -> None:
    url = "/tag/" + quote(CJK_TAG) + ".atom"
    found = feed_id(client, url)
    assert found == "tag:syndicate.invalid,2021:tag/" + quote(CJK_TAG)
    assert TAG_URI_RE.match(found), found
    parsed = feedparser.parse(client.get(url).get_data())
    assert not parsed.bozo and parsed.feed.id == found


def test_every_other_feed_keeps_its_id(client: Any) -> None:
    """Readers key subscriptions on these ids: the strings the site always served."""
    expected = {
        "/feed.xml": "tag:syndicate.invalid,2021:site/",
        CAT: "tag:syndicate.invalid,2021:category/zhongguodianzibao",
        "/category/zhongguodianzibao/archive/1.atom":
            "tag:syndicate.invalid,2021:category/zhongguodianzibao",
        "/tag/AI.atom": "tag:syndicate.invalid,2021:tag/AI",
    }
    for url, feed in expected.items():
        assert feed_id(client, url) == feed
        assert TAG_URI_RE.match(feed)


def test_rss_and_json_carry_no_feed_id_but_entry_ids_stay_valid(client: Any) -> None:
    parsed = feedparser.parse(client.get("/tag/" + quote(CJK_TAG) + ".rss").get_data())
    assert parsed.entries and all(TAG_URI_RE.match(e.id) for e in parsed.entries)


# -- self links of deltas -------------------------------------------------------------


def test_since_self_link_is_the_requested_url(client: Any) -> None:
    for query in ("since=2026-01-01T00:03:00Z", "since=2026-01-01T08:03:00%2B08:00&limit=2",
                  "limit=2&since=NW202601010000000002", "since=2026-01-01t00:03:00z"):
        url = f"{CAT}?{query}"
        for ext_url in (url, url.replace(".atom?", ".rss?")):
            response = client.get(ext_url)
            assert response.status_code == 200, (ext_url, response.get_data())
            assert self_link(response.get_data()) == BASE + ext_url  # no %3A for ":"
        json_feed = client.get(url.replace(".atom?", ".json?")).json
        assert json_feed["feed_url"] == BASE + url.replace(".atom?", ".json?")


def test_since_self_link_ignores_other_parameters_and_repeats(client: Any) -> None:
    body = client.get(f"{CAT}?utm_source=x&since=2026-01-01T00:03:00Z&since=NW1").get_data()
    assert self_link(body) == f"{BASE}{CAT}?since=2026-01-01T00:03:00Z"


def test_one_delta_spelled_two_ways_names_its_own_location(client: Any) -> None:
    plain = client.get(f"{CAT}?since=2026-01-01T00:03:00Z")
    escaped = client.get(f"{CAT}?since=2026-01-01T00%3A03%3A00Z")
    assert feedparser.parse(plain.get_data()).entries == feedparser.parse(escaped.get_data()).entries
    assert self_link(escaped.get_data()) == f"{BASE}{CAT}?since=2026-01-01T00%3A03%3A00Z"
    # One weak ETag: the same entries (semantically equivalent), only the self link differs.
    assert plain.headers["ETag"] == escaped.headers["ETag"] and plain.headers["ETag"].startswith("W/")
    assert self_link(plain.get_data()) == f"{BASE}{CAT}?since=2026-01-01T00:03:00Z"


def test_the_self_link_is_normalised_as_the_validator_compares(client: Any) -> None:
    """Escapes of unreserved characters decoded, others upper case; reserved ones kept."""
    body = client.get(f"{CAT}?since=%4EW2026010100000000%30%32&%6Cimit=2").get_data()
    assert self_link(body) == f"{BASE}{CAT}?since=NW202601010000000002&limit=2"
    body = client.get(f"{CAT}?since=2026-01-01T08%3a03%3a00%2b08%3A00").get_data()
    assert self_link(body) == f"{BASE}{CAT}?since=2026-01-01T08%3A03%3A00%2B08%3A00"


def test_the_plain_feed_self_link_is_unchanged(client: Any) -> None:
    assert self_link(client.get(CAT).get_data()) == BASE + CAT


def test_normal_uri_follows_rfc_3986() -> None:
    assert normal_uri("HTTPS://News.Example.com:443/tag/%e4%b8%9c.atom?since=a%3ab%7e") == \
        "https://news.example.com/tag/%E4%B8%9C.atom?since=a%3Ab~"
    assert normal_uri("https://news.example.com/tag/东.atom") == \
        "https://news.example.com/tag/%E4%B8%9C.atom"
    assert normal_uri("http://h/a?x=1:2") != normal_uri("http://h/a?x=1%3A2")  # reserved


@st.composite
def spelled_since(draw: st.DrawFn) -> str:
    """A valid since value (time or post id), each character spelled literally or escaped."""
    if draw(st.booleans()):
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 9)))
        offset = timezone(timedelta(minutes=15 * draw(st.integers(-48, 56))))
        text = when.astimezone(offset).isoformat()
        if text.endswith("+00:00") and draw(st.booleans()):
            text = text[:-6] + draw(st.sampled_from("Zz"))
    else:
        text = f"NW2026010100000{draw(st.integers(1, 5)):05d}"
    return "".join(f"%{ord(c):02{draw(st.sampled_from('Xx'))}}"
                   if c == "+" or draw(st.booleans()) else c for c in text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(since=spelled_since(), limit=st.none() | st.integers(1, 9),
       ext=st.sampled_from(["atom", "rss"]), junk=st.text(max_size=8))
def test_self_link_matches_the_location_however_it_is_spelled(
        client: Any, since: str, limit: int | None, ext: str, junk: str) -> None:
    query = f"since={since}" + (f"&limit={limit}" if limit else "")
    query += "&x=" + quote(junk)  # other parameters do not change the document
    url = f"/category/zhongguodianzibao.{ext}?{query}"
    response = client.get(url)
    assert response.status_code == 200, response.get_data()
    wanted = f"{BASE}/category/zhongguodianzibao.{ext}?" + query.rpartition("&x=")[0]
    assert normal_uri(self_link(response.get_data())) == normal_uri(wanted)


@st.composite
def hostile_query(draw: st.DrawFn) -> str:
    return "since=" + draw(st.text(max_size=30)) + "&limit=" + draw(st.text(max_size=4))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=hostile_query())
def test_hostile_queries_get_an_answer_and_a_valid_self_link(client: Any, raw: str) -> None:
    """Raw bytes as a client may send them: a 400 naming the parameter, or a feed whose
    self link is a valid URI (ASCII, escapes well-formed)."""
    response = client.get(CAT, query_string=raw.encode("utf-8", "surrogatepass").decode("latin-1"))
    if response.status_code == 400:
        body = response.get_data(as_text=True)
        assert "since" in body or "limit" in body
        return
    assert response.status_code == 200
    link = self_link(response.get_data())
    assert link.isascii() and " " not in link
    assert re.fullmatch(r"(?:[^%]|%[0-9A-Fa-f]{2})*", link), link


# -- OPML ------------------------------------------------------------------------------

# The head elements OPML 2.0 defines (the validator flags any other, `docs` included).
OPML_HEAD = {"title", "dateCreated", "dateModified", "ownerName", "ownerEmail", "ownerId",
             "expansionState", "vertScrollState", "windowTop", "windowLeft", "windowBottom",
             "windowRight"}
FEED_OUTLINE = {"type", "text", "title", "xmlUrl", "htmlUrl"}


@pytest.mark.parametrize("query", ["", "?format=atom"])
def test_opml_follows_the_validator_rules(client: Any, query: str) -> None:
    body = client.get("/opml.xml" + query).get_data()
    root = etree.fromstring(body)
    assert {child.tag for child in root.find("head")} <= OPML_HEAD
    outlines = list(root.iter("outline"))
    assert outlines
    for outline in outlines:
        attributes = set(outline.attrib)
        if len(outline):  # a grouping outline
            assert attributes == {"text"}, attributes
        else:
            assert attributes == FEED_OUTLINE, attributes
            assert outline.get("type") == "rss"


def test_listparser_still_reads_the_opml(client: Any) -> None:
    import listparser

    parsed = listparser.parse(client.get("/opml.xml").get_data())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert len(parsed.feeds) == 3
    assert all(feed.categories == [["中国电子报"]] for feed in parsed.feeds)
    assert {feed.title for feed in parsed.feeds} == {
        "中国电子报（Atom）", "中国电子报（RSS）", "中国电子报（JSON Feed）"}


# -- real clients over HTTP ------------------------------------------------------------


@contextmanager
def serving(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def test_reader_reads_the_cjk_tag_feed(app: Any, tmp_path: Path) -> None:
    from reader import make_reader

    with serving(app) as base:
        rd = make_reader(str(tmp_path / "reader.sqlite"))
        url = f"{base}/tag/{quote(CJK_TAG)}.atom"
        rd.add_feed(url)
        results = [result for result in rd.update_feeds_iter(scheduled=False)]
        assert not isinstance(results[0].value, Exception), results[0].value
        assert rd.get_feed(url).title.startswith(CJK_TAG)
        assert len(list(rd.get_entries())) == 5
        rd.close()
