"""TLS through the checked connection: certificates are still verified for the URL's host
name (SNI included) although the socket goes to the address that was checked, and a
redirect never goes from https down to http.
"""

from __future__ import annotations

import re
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from syndicate.errors import UpstreamError
from syndicate.ingest.poll import FEED_ACCEPT, HttpClient
from syndicate.ingest.transport import NetworkPolicy, system_resolve

from . import upstream as fixtures
from .upstream import TEST_INTERNAL, client, rss

server, upstream = fixtures.server, fixtures.upstream

NAME = "feeds.tls.test"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and feeds.tls.test: (cert, key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={NAME}",
                    "-addext", f"subjectAltName=DNS:{NAME},IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:TRUE"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def tls_server(certificate: tuple[Path, Path]) -> Iterator[HTTPServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    httpserver = HTTPServer(host="127.0.0.1", port=0, threaded=True, ssl_context=context)
    httpserver.start()
    yield httpserver
    httpserver.clear()
    httpserver.stop()


@pytest.fixture
def secure(tls_server: HTTPServer) -> Iterator[HTTPServer]:
    tls_server.clear()
    yield tls_server
    tls_server.clear()


def resolver(host: str, port: int) -> list[str]:
    return ["127.0.0.1"] if host.endswith(".tls.test") else system_resolve(host, port)


def tls_client(certificate: tuple[Path, Path]) -> HttpClient:
    policy = NetworkPolicy(TEST_INTERNAL.internal, resolve=resolver)
    return client(network=policy, ca_bundle=str(certificate[0]))


def test_tls_is_verified_for_the_host_name_while_connecting_to_the_checked_address(
        secure: HTTPServer, certificate: tuple[Path, Path]) -> None:
    secure.expect_request("/feed.xml").respond_with_data(rss("财联社", []))
    fetched = tls_client(certificate).get(
        f"https://{NAME}:{secure.port}/feed.xml", accept=FEED_ACCEPT)
    assert fetched.status == 200 and b"<rss" in fetched.body
    assert secure.log[-1][0].headers["Host"] == f"{NAME}:{secure.port}"


def test_a_certificate_for_another_name_is_refused(
        secure: HTTPServer, certificate: tuple[Path, Path]) -> None:
    secure.expect_request("/feed.xml").respond_with_data(rss("财联社", []))
    with pytest.raises(UpstreamError, match="(?i)certificate"):
        tls_client(certificate).get(
            f"https://other.tls.test:{secure.port}/feed.xml", accept=FEED_ACCEPT)


def test_an_unknown_certificate_is_refused(secure: HTTPServer) -> None:
    secure.expect_request("/feed.xml").respond_with_data(rss("财联社", []))
    with pytest.raises(UpstreamError, match="(?i)certificate"):
        client().get(secure.url_for("/feed.xml"), accept=FEED_ACCEPT)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_https_never_redirects_down_to_http(
        secure: HTTPServer, upstream: HTTPServer, certificate: tuple[Path, Path],
        status: int) -> None:
    upstream.expect_request(re.compile(".*")).respond_with_data(rss("明文", []))
    secure.expect_request("/down").respond_with_data(
        "", status=status, headers={"Location": upstream.url_for("/feed.xml")})
    secure.expect_request("/up").respond_with_data(
        "", status=status, headers={"Location": f"https://{NAME}:{secure.port}/feed.xml"})
    secure.expect_request("/feed.xml").respond_with_data(rss("加密", []))
    fetcher = tls_client(certificate)
    with pytest.raises(UpstreamError, match="from https to http"):
        fetcher.get(f"https://{NAME}:{secure.port}/down", accept=FEED_ACCEPT)
    assert len(upstream.log) == 0
    same = fetcher.get(f"https://{NAME}:{secure.port}/up", accept=FEED_ACCEPT)
    assert same.status == 200 and "加密".encode() in same.body
