"""Secrets in upstream URLs never reach a page, an API answer, the CLI or the database.

Source URLs carry keys in their query (``?apikey=…``) or userinfo (``user:pass@``); the
errors of requests and urllib3 quote them, and so do redirect targets. Whatever the
failure, /status, /api/sources, ``syndicate fetch``, ``syndicate sources`` and the stored
``last_error`` show the parameter names without their values.
"""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from syndicate import create_app
from syndicate.cli import main
from syndicate.ingest.poll import make_poller
from syndicate.redact import redact

from . import upstream as fixtures

server, upstream = fixtures.server, fixtures.upstream


def dead_port() -> int:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the helper --------------------------------------------------------------------------

SECRET = st.from_regex(r"Z[A-Za-y0-9_.~%+-]{5,30}", fullmatch=True)
#: Surrounding text of any kind, but without the letter that starts every secret.
TEXT = st.text(st.characters(blacklist_characters="Z", blacklist_categories=("Cs",)), max_size=40)
KEY = st.from_regex(r"[a-z_]{1,10}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(before=TEXT, after=TEXT, key=KEY, secret=SECRET, host=st.sampled_from(
    ["127.0.0.1:9", "up.example.com", "[::1]:8080", "新闻.example"]),
    shape=st.sampled_from(["query", "second", "userinfo", "password", "bare path", "repr"]))
def test_redact_removes_every_secret_from_any_text(before: str, after: str, key: str, secret: str,
                                                  host: str, shape: str) -> None:
    url = {
        "query": f"https://{host}/feed.xml?{key}={secret}",
        "second": f"http://{host}/api/list?page=1&{key}={secret}&size=20",
        "userinfo": f"http://{secret}@{host}/feed",
        "password": f"https://reader:{secret}@{host}/feed?x=1",
        "bare path": f"Max retries exceeded with url: /feed?{key}={secret} (Caused by X)",
        "repr": f"HTTPConnectionPool(host='{host}'): url='/list?{key}={secret}'",
    }[shape]
    cleaned = redact(before + " " + url + " " + after)
    assert secret not in cleaned
    if shape in ("query", "second", "bare path", "repr"):
        assert f"{key}=***" in cleaned  # which parameter it was stays visible


@pytest.mark.parametrize(("text", "expected"), [
    ("cannot fetch: http://u:p@h.example/f?apikey=S&lang=zh",
     "cannot fetch: http://***@h.example/f?apikey=***&lang=***"),
    ("refused a redirect to 'ftp://a:b@c/?token=T'", "refused a redirect to 'ftp://***@c/?token=***'"),
    ("HTTP 500 INTERNAL SERVER ERROR", "HTTP 500 INTERNAL SERVER ERROR"),
    ("https://user:p@ss@host/x", "https://***@host/x"),
    ("沪指收涨；下次 5m", "沪指收涨；下次 5m"),
])
def test_redact_keeps_what_helps(text: str, expected: str) -> None:
    assert redact(text) == expected


# --- everywhere a source's error is shown -----------------------------------------------


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Any]:
    app = create_app({
        "TESTING": True, "INSTANCE_PATH": tmp_path, "DATABASE_URL": database_url,
        "BASE_URL": "https://news.example.com", "SOURCES": str(tmp_path / "sources.toml"),
        "FETCH_INTERNAL_NETWORKS": "127.0.0.2/32", "FETCH_TIMEOUT": 2,
    })
    app.extensions["syndicate"].init()
    yield app
    app.extensions["syndicate"].store.dispose()


def leaky_sources(upstream: HTTPServer) -> dict[str, tuple[str, str]]:
    """name -> (URL, the secret it carries), one per way a secret reaches an error."""
    dead = dead_port()
    upstream.expect_request("/to-ftp").respond_with_data(
        "", status=301, headers={"Location": "ftp://ftpuser:Zftppass1@files.example/?token=Zftptok1"})
    upstream.expect_request("/to-inside").respond_with_data(
        "", status=302, headers={"Location": "http://127.0.0.2:9/x?token=Zinside1"})
    upstream.expect_request("/to-bad").respond_with_data(
        "", status=302, headers={"Location": "http://[broken?token=Zbroken1"})
    upstream.expect_request("/down").respond_with_data("x", status=503)
    return {
        "refused": (f"http://127.0.0.1:{dead}/feed.xml?apikey=Zrefused1&lang=zh", "Zrefused1"),
        "userinfo": (f"http://reader:Zpassword1@127.0.0.1:{dead}/feed.xml", "Zpassword1"),
        "badport": ("http://reader:Zbadport1@127.0.0.1:99999/feed.xml?apikey=Zbadport1",
                    "Zbadport1"),
        "toftp": (upstream.url_for("/to-ftp") + "?apikey=Zftp0", "Zftp"),
        "toinside": (upstream.url_for("/to-inside") + "?apikey=Zinside0", "Zinside"),
        "tobad": (upstream.url_for("/to-bad") + "?apikey=Zbroken0", "Zbroken"),
        "http503": (upstream.url_for("/down") + "?apikey=Zdown0", "Zdown"),
        "nodns": ("http://nonexistent.invalid/feed?apikey=Zdns0", "Zdns"),
    }


def write_sources(path: Path, configured: dict[str, tuple[str, str]]) -> None:
    tables = [f'[[source]]\nname = "{name}"\nkind = "feed"\nurl = "{url}"\n'
              for name, (url, _) in configured.items()]
    path.write_text("\n".join(tables), encoding="utf-8")


def test_no_secret_on_status_api_results_or_in_the_database(
        app: Any, tmp_path: Path, upstream: HTTPServer) -> None:
    configured = leaky_sources(upstream)
    write_sources(tmp_path / "sources.toml", configured)
    core = app.extensions["syndicate"]
    results = {r.name: r for r in make_poller(core, core.sources()).poll()}
    states = {s.name: s for s in core.store.source_states()}
    client = app.test_client()
    page = client.get("/status").get_data(as_text=True)
    api = client.get("/api/sources").get_data(as_text=True)
    for name, (_, secret) in configured.items():
        assert results[name].error, (name, results[name])
        for shown in (results[name].error, results[name].line(), states[name].last_error):
            assert secret not in (shown or ""), (name, shown)
        assert states[name].last_error and states[name].last_error in html.unescape(page)
    assert not re.search(r"Z(refused|password|badport|ftp|inside|broken|down|dns)", page + api)
    assert "apikey=***" in page and "***@" in page


def test_rows_stored_before_redaction_are_redacted_on_the_way_out(app: Any, tmp_path: Path) -> None:
    """A database written by an older version may hold raw errors: pages still hide them."""
    write_sources(tmp_path / "sources.toml", {"old": ("https://up.example.com/f?apikey=x", "")})
    core = app.extensions["syndicate"]
    from datetime import UTC, datetime

    from sqlalchemy import update

    from syndicate.store.schema import source_state
    make_poller(core, core.sources())  # creates the state row
    with core.store.engine.begin() as conn:
        conn.execute(update(source_state).values(
            last_error="cannot fetch: https://u:Zold1@up.example.com/f?apikey=Zold1",
            last_error_at=datetime.now(UTC), last_poll=datetime.now(UTC)))
    client = app.test_client()
    for path in ("/status", "/api/sources"):
        body = client.get(path).get_data(as_text=True)
        assert "Zold1" not in body and "apikey=***" in body


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "instance"
    folder.mkdir()
    for name, value in {"INSTANCE": str(folder), "BASE_URL": "https://news.example.com",
                        "FETCH_INTERNAL_NETWORKS": "127.0.0.2/32", "FETCH_TIMEOUT": "2"}.items():
        monkeypatch.setenv(f"SYNDICATE_{name}", value)
    monkeypatch.delenv("SYNDICATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNDICATE_SOURCES", raising=False)
    return folder


def test_no_secret_in_the_fetch_and_sources_commands(instance: Path, upstream: HTTPServer) -> None:
    configured = leaky_sources(upstream)
    write_sources(instance / "sources.toml", configured)
    runner = CliRunner()
    fetched = runner.invoke(main, ["fetch"])
    listed = runner.invoke(main, ["sources"])
    assert fetched.exit_code == 1 and listed.exit_code == 0, fetched.output + listed.output
    for name, (_, secret) in configured.items():
        assert f"{name}: FAILED" in fetched.output
        assert secret not in fetched.output and secret not in listed.output, name
    assert "apikey=***" in listed.output and "reader:" not in listed.output


def test_a_bad_url_in_the_sources_file_is_named_without_its_secret(instance: Path) -> None:
    write_sources(instance / "sources.toml",
                  {"bad": ("ftp://reader:Zconfig1@up.example.com/f?apikey=Zconfig1", "")})
    for command in (["fetch"], ["sources"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code != 0 and "field 'url'" in result.output
        assert "Zconfig1" not in result.output
