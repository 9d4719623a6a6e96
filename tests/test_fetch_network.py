"""SSRF: a public source never reaches an internal address, through redirects or DNS.

The tests declare only ``127.0.0.2/32`` internal (as an operator would set
SYNDICATE_FETCH_INTERNAL_NETWORKS), so the stub upstream on 127.0.0.1 counts as a public
site and a second stub on 127.0.0.2 stands for the internal network it must not reach.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from syndicate.core import Syndicate
from syndicate.errors import ConfigError, UpstreamError
from syndicate.ingest.poll import FEED_ACCEPT, MOVE_AFTER, Poller, Status, redirect_target
from syndicate.ingest.transport import NetworkPolicy, system_resolve
from syndicate.networks import DEFAULT_INTERNAL_NETWORKS, is_internal, parse_networks
from syndicate.settings import load_settings

from . import upstream as fixtures
from .upstream import Entry, client, rss, sources

server, upstream, site = fixtures.server, fixtures.upstream, fixtures.site

INSIDE = parse_networks("127.0.0.2/32")
SECRET_TITLE = "内部文件"
REDIRECTS = (301, 302, 303, 307, 308)


def inside_forms(port: int) -> list[str]:
    """127.0.0.2 written every way a URL parser and the resolver accept."""
    hosts = ["127.0.0.2", "2130706434", "0x7f000002", "0x7F.2", "0x7f.0.2", "127.2", "127.0.2",
             "0177.0.0.2", "0177.0.0.02", "127.000.000.002", "[::ffff:127.0.0.2]",
             "[::ffff:7f00:2]", "[0:0:0:0:0:ffff:7f00:2]"]
    return [f"http://{host}:{port}/internal.xml" for host in hosts]


@pytest.fixture(scope="module")
def inside() -> Iterator[HTTPServer]:
    """The internal network: a server on 127.0.0.2 holding a document nobody outside may get."""
    httpserver = HTTPServer(host="127.0.0.2", port=0, threaded=True)
    httpserver.start()
    httpserver.expect_request(re.compile("/internal.*")).respond_with_data(
        rss("内部", [Entry("https://intranet.example/1", SECRET_TITLE, "<p>机密。</p>")]),
        content_type="application/rss+xml")
    yield httpserver
    httpserver.clear()
    httpserver.stop()


class Plans:
    """Redirect chains served by the public stub: /r/<plan>/<hop> answers hop by hop."""

    def __init__(self) -> None:
        self.chains: dict[str, list[tuple[int, str]]] = {}
        self.counter = itertools.count()

    def add(self, base: str, hops: Sequence[int], final: str) -> str:
        """Register a chain of redirect statuses ending in ``final``; return its first URL."""
        name = str(next(self.counter))
        urls = [f"{base}/r/{name}/{i}" for i in range(len(hops))] + [final]
        self.chains[name] = [(status, urls[i + 1]) for i, status in enumerate(hops)]
        return urls[0]

    def __call__(self, request: Request) -> Response:
        _, _, name, hop = request.path.split("/")
        status, location = self.chains[name][int(hop)]
        return Response("", status=status, headers={"Location": location})


@pytest.fixture(scope="module")
def plans(server: HTTPServer) -> Plans:
    return Plans()


@pytest.fixture
def public(upstream: HTTPServer, plans: Plans, inside: HTTPServer) -> HTTPServer:
    upstream.expect_request(re.compile("/r/.*")).respond_with_handler(plans)
    upstream.expect_request("/feed.xml").respond_with_data(
        rss("公开", [Entry("https://up.example.com/p/1", "公开新闻", "<p>正文。</p>")]),
        content_type="application/rss+xml")
    inside.clear_log()
    return upstream


def guarded(**limits: Any) -> Any:
    return client(network=NetworkPolicy(INSIDE), **limits)


def reached_inside(inside: HTTPServer) -> int:
    return len(inside.log)


# --- redirects into the internal network ---------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(hops=st.lists(st.sampled_from(REDIRECTS), min_size=1, max_size=4),
       form=st.integers(min_value=0, max_value=12))
def test_no_redirect_chain_reaches_an_internal_address(
        public: HTTPServer, inside: HTTPServer, plans: Plans, hops: list[int], form: int) -> None:
    target = inside_forms(inside.port)[form]
    start = plans.add(public.url_for("").rstrip("/"), hops, target)
    with pytest.raises(UpstreamError, match="internal address"):
        guarded().get(start, accept=FEED_ACCEPT)
    assert reached_inside(inside) == 0


@pytest.mark.parametrize("form", range(13))
def test_every_form_of_an_internal_address_is_refused_as_the_first_hop(
        public: HTTPServer, inside: HTTPServer, form: int) -> None:
    """A configured URL counts as public unless the operator's URL itself is internal;
    here the client is asked to fetch it as a public source's URL."""
    with pytest.raises(UpstreamError, match="internal address 127.0.0.2|::ffff:127.0.0.2"):
        guarded().get(inside_forms(inside.port)[form], accept=FEED_ACCEPT)
    assert reached_inside(inside) == 0


def test_a_public_source_redirected_inside_publishes_nothing_and_keeps_its_url(
        public: HTTPServer, inside: HTTPServer, plans: Plans, site: Syndicate) -> None:
    start = plans.add(public.url_for("").rstrip("/"), [301], inside.url_for("/internal.json"))
    configured = sources({"name": "pub", "kind": "feed", "url": start})
    poll = Poller(site, configured, client=guarded(), concurrency=2)
    for _ in range(MOVE_AFTER + 1):
        result = poll.poll()[0]
        assert result.status is Status.FAILED and "internal address" in (result.error or "")
    state = site.store.source_states(["pub"])[0]
    assert state.url == start and state.network == "public"
    assert "internal address" in (state.last_error or "")
    assert site.store.count() == 0 and reached_inside(inside) == 0


def test_a_source_configured_inside_may_stay_inside(
        public: HTTPServer, inside: HTTPServer, plans: Plans, site: Syndicate) -> None:
    inside_base = inside.url_for("").rstrip("/")
    configured = sources({"name": "intranet", "kind": "feed",
                          "url": inside_base + "/internal.xml"})
    result = Poller(site, configured, client=guarded(), concurrency=2).poll()[0]
    assert result.status is Status.OK and result.new == 1, result
    assert site.store.latest(1)[0].title == SECRET_TITLE
    assert site.store.source_states(["intranet"])[0].network == "internal"


def test_an_internal_source_may_redirect_to_a_public_site(
        public: HTTPServer, inside: HTTPServer, site: Syndicate) -> None:
    inside.expect_request("/moved").respond_with_data(
        "", status=302, headers={"Location": public.url_for("/feed.xml")})
    configured = sources({"name": "intranet", "kind": "feed", "url": inside.url_for("/moved")})
    result = Poller(site, configured, client=guarded(), concurrency=2).poll()[0]
    assert result.status is Status.OK and result.new == 1, result


def test_redirect_limits(public: HTTPServer, inside: HTTPServer, plans: Plans) -> None:
    base = public.url_for("").rstrip("/")
    five = plans.add(base, [302] * 5, public.url_for("/feed.xml"))
    assert guarded().get(five, accept=FEED_ACCEPT).status == 200
    six = plans.add(base, [302] * 6, public.url_for("/feed.xml"))
    with pytest.raises(UpstreamError, match="more than 5 redirects"):
        guarded().get(six, accept=FEED_ACCEPT)


@pytest.mark.parametrize("location", [
    "file:///etc/passwd", "ftp://127.0.0.1/feed", "gopher://127.0.0.1:70/_x", "javascript:alert(1)",
    "data:text/xml,<rss/>", "dict://127.0.0.1:11211/stats", "https://:443/x", "ws://127.0.0.1/",
])
def test_redirects_to_other_schemes_are_refused(public: HTTPServer, plans: Plans, location: str) -> None:
    start = plans.add(public.url_for("").rstrip("/"), [301], location)
    with pytest.raises(UpstreamError, match="refused a redirect"):
        guarded().get(start, accept=FEED_ACCEPT)


@settings(max_examples=60, deadline=None)
@given(host=st.from_regex(r"[a-z0-9]{1,12}(\.[a-z]{2,5}){0,2}", fullmatch=True),
       path=st.from_regex(r"(/[a-zA-Z0-9._~%-]{0,10}){0,3}", fullmatch=True),
       absolute=st.booleans())
def test_https_never_downgrades_to_http(host: str, path: str, absolute: bool) -> None:
    location = f"http://{host}{path}"
    with pytest.raises(UpstreamError, match="from https to http"):
        redirect_target(f"https://{host}/feed", location)
    kept = f"https://{host}{path}" if absolute else (path or "/")
    assert redirect_target(f"https://{host}/feed", kept).startswith("https://")


# --- DNS -------------------------------------------------------------------------------


class Rebinder:
    """A resolver for *.rebind.test whose answers the test changes; the rest is the system's."""

    def __init__(self, answers: Iterator[str]) -> None:
        self.answers = answers
        self.lock = threading.Lock()
        self.asked = 0

    def __call__(self, host: str, port: int) -> list[str]:
        if not host.endswith(".rebind.test"):
            return system_resolve(host, port)
        with self.lock:
            self.asked += 1
            return [next(self.answers)]


@pytest.fixture
def twin(inside: HTTPServer) -> Iterator[HTTPServer]:
    """A public server on 127.0.0.1 at the internal server's port: a rebinding target pair."""
    httpserver = HTTPServer(host="127.0.0.1", port=inside.port, threaded=True)
    httpserver.start()
    httpserver.expect_request(re.compile("/internal.*")).respond_with_data(
        rss("公开", [Entry("https://up.example.com/t/1", "公开新闻", "<p>正文。</p>")]),
        content_type="application/rss+xml")
    inside.clear_log()
    yield httpserver
    httpserver.clear()
    httpserver.stop()


def rebinding_poller(core: Syndicate, port: int, answers: Iterator[str]) -> tuple[Poller, Rebinder]:
    resolver = Rebinder(answers)
    configured = sources({"name": "rebind", "kind": "feed",
                          "url": f"http://news.rebind.test:{port}/internal.xml"})
    policy = NetworkPolicy(INSIDE, resolve=resolver)
    return Poller(core, configured, client=client(network=policy), concurrency=2), resolver


def test_a_public_name_that_later_resolves_inside_is_refused(
        twin: HTTPServer, inside: HTTPServer, site: Syndicate) -> None:
    answers = itertools.chain(["127.0.0.1"] * 2, itertools.repeat("127.0.0.2"))
    poll, _ = rebinding_poller(site, inside.port, answers)
    assert poll.poll()[0].status is Status.OK  # public at first: the source is public
    for _ in range(3):
        result = poll.poll()[0]
        assert result.status is Status.FAILED and "internal address" in (result.error or "")
    assert reached_inside(inside) == 0
    assert [p.title for p in site.store.latest(10)] == ["公开新闻"]


def test_rebinding_between_check_and_connect_is_impossible(
        twin: HTTPServer, inside: HTTPServer, site: Syndicate) -> None:
    """Every lookup alternates public and internal answers: each connection uses the
    address it checked, so no request ever arrives inside."""
    poll, resolver = rebinding_poller(site, inside.port,
                                      itertools.cycle(["127.0.0.1", "127.0.0.2"]))
    statuses = [poll.poll()[0].status for _ in range(6)]
    assert reached_inside(inside) == 0
    assert Status.OK in statuses or Status.NOT_MODIFIED in statuses
    assert resolver.asked >= 6


def test_a_name_with_any_internal_address_is_refused_for_a_public_source(
        twin: HTTPServer, inside: HTTPServer) -> None:
    policy = NetworkPolicy(INSIDE, resolve=lambda host, port: ["127.0.0.1", "127.0.0.2"])
    with pytest.raises(UpstreamError, match="internal address 127.0.0.2"):
        client(network=policy).get(f"http://mixed.rebind.test:{inside.port}/internal.xml",
                                   accept=FEED_ACCEPT)
    assert reached_inside(inside) == 0


# --- the networks ------------------------------------------------------------------------


DEFAULT = parse_networks(DEFAULT_INTERNAL_NETWORKS)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_address_in_a_default_range_is_internal_in_every_form(data: st.DataObject) -> None:
    network = data.draw(st.sampled_from(DEFAULT))
    offset = data.draw(st.integers(min_value=0, max_value=network.num_addresses - 1))
    address = network.network_address + offset
    assert is_internal(str(address), DEFAULT)
    if address.version == 4:
        assert is_internal(f"::ffff:{address}", DEFAULT)
        assert is_internal(str(ipaddress.IPv6Address(f"64:ff9b::{address}")), DEFAULT)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "223.5.5.5", "114.114.114.114",
                                     "2606:4700:4700::1111", "2400:3200::1", "100.128.0.1"])
def test_public_addresses_are_not_internal(address: str) -> None:
    assert not is_internal(address, DEFAULT)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1",
                                     "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1",
                                     "fd00::1", "fe80::1%eth0", "::ffff:10.0.0.1",
                                     "::ffff:169.254.169.254", "2002:7f00:1::1", "224.0.0.1"])
def test_the_usual_internal_addresses_are_internal(address: str) -> None:
    assert is_internal(address, DEFAULT)


def test_the_setting_replaces_the_default(tmp_path: Path) -> None:
    settings_ = load_settings(environ={"SYNDICATE_FETCH_INTERNAL_NETWORKS": "127.0.0.2/32, fd00::/8"},
                              instance_path=tmp_path)
    assert [str(n) for n in settings_.fetch_internal_networks] == ["127.0.0.2/32", "fd00::/8"]
    assert not is_internal("127.0.0.1", settings_.fetch_internal_networks)
    assert is_internal("::ffff:127.0.0.2", settings_.fetch_internal_networks)
    default = load_settings(environ={}, instance_path=tmp_path).fetch_internal_networks
    assert is_internal("169.254.169.254", default) and is_internal("::1", default)


def test_a_bad_network_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SYNDICATE_FETCH_INTERNAL_NETWORKS.*'10.0.0.300/8'"):
        load_settings(environ={"SYNDICATE_FETCH_INTERNAL_NETWORKS": "10.0.0.0/8,10.0.0.300/8"},
                      instance_path=tmp_path)


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.1", "0x7f000001", "127.1",
                                  "0177.1", "017700000001", "localhost", "[::ffff:127.0.0.1]",
                                  "[::ffff:7f00:1]", "[::1]", "0.0.0.0", "0"])
def test_with_the_default_networks_no_form_of_loopback_is_reached(
        upstream: HTTPServer, host: str) -> None:
    upstream.expect_request("/feed.xml").respond_with_data(rss("本机", []))
    default = client(network=NetworkPolicy())
    with pytest.raises(UpstreamError, match="internal address"):
        default.get(f"http://{host}:{upstream.port}/feed.xml", accept=FEED_ACCEPT)
    assert len(upstream.log) == 0
