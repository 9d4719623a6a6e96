"""API edges: hostile JSON nesting, chunked bodies past the limit, and identifiers that
must match whole (no trailing newline slipping past a ``$``)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate import create_app
from syndicate.model import article_key

from .test_workers import server, writer

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
LIMIT = 20_000
POST = {"id": "NW202603090000000101", "title": "沪深两市成交额突破万亿",
        "date": "2026-03-09T10:23:24+08:00", "media": "财联社", "html": "<p>两市成交额突破万亿元。</p>"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Any]:
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
                      "BASE_URL": "https://news.example.com", "API_TOKENS": TOKEN,
                      "API_MAX_BYTES": LIMIT})
    core = app.extensions["syndicate"]
    core.init()
    yield app.test_client()
    core.store.dispose()


def _nested(depth: int, opener: str, closer: str, inner: str = "1") -> str:
    return opener * depth + inner + closer * depth


# -- nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    # Each under the size limit, each far deeper than the parser's recursion limit.
    _nested(9_000, "[", "]"),
    _nested(3_000, '{"a":', "}"),
    _nested(2_000, '[{"a":', "}]"),
    '{"title": ' + _nested(9_000, "[", "]") + "}",
    '{"tags": ' + _nested(9_000, "[", "]") + "}",
    "[" * 19_000,  # never closed
])
def test_deeply_nested_json_is_400_naming_the_body(api: Any, body: str) -> None:
    response = api.post("/api/posts", data=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json["status"] == 400 and "body" in response.json["fields"]


@pytest.mark.parametrize("field", ["title", "tags", "html", "media", "id", "url", "date"])
def test_nested_values_the_parser_can_read_are_400_naming_the_field(api: Any, field: str) -> None:
    body = json.dumps({**POST, field: json.loads(_nested(200, "[", "]"))})
    response = api.post("/api/posts", data=body, headers=AUTH)
    assert response.status_code == 400 and field in response.json["fields"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(1, 20_000), shape=st.sampled_from(["[", '{"a":', '{"title":[']),
       closed=st.booleans())
def test_no_nesting_gives_a_server_error(api: Any, depth: int, shape: str, closed: bool) -> None:
    closer = {"[": "]", '{"a":': "}", '{"title":[': "]}"}[shape] * depth if closed else ""
    body = (shape * depth + "0" + closer)[: LIMIT]
    response = api.post("/api/posts", data=body, headers=AUTH)
    assert response.status_code in (400, 413)
    assert response.json["status"] == response.status_code


# -- bodies past the limit ----------------------------------------------------------------


def _chunks(total: int, size: int = 4096) -> Iterator[bytes]:
    """A JSON object of ``total`` bytes, sent in chunks (no Content-Length)."""
    text = json.dumps({**POST, "html": "<p>" + "长" * 10 + "</p>", "pad": ""})
    padding = total - len(text.encode())
    data = text[:-2] + "x" * padding + '"}'
    encoded = data.encode()
    for start in range(0, len(encoded), size):
        yield encoded[start:start + size]


@pytest.mark.parametrize("total", [LIMIT + 1, LIMIT + 4096, 50 * LIMIT])
def test_a_streamed_body_over_the_limit_is_413_without_content_length(api: Any,
                                                                      total: int) -> None:
    # A server that terminates chunked input itself says so (gunicorn, granian): werkzeug
    # then reads at most the limit, and must not take the cut body for a bad one (400).
    body = b"".join(_chunks(total))
    response = api.post("/api/posts", input_stream=io.BytesIO(body),
                        headers={**AUTH, "Transfer-Encoding": "chunked"},
                        environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and response.json["status"] == 413
    assert str(LIMIT) in response.json["error"]


def test_the_real_server_answers_413_to_a_chunked_body_over_the_limit(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'live.db'}"
    writer(tmp_path, database_url).close(wait=0)
    env = {"SYNDICATE_API_TOKENS": TOKEN, "SYNDICATE_API_MAX_BYTES": str(LIMIT)}
    with server(tmp_path, database_url, **env) as base:
        over = requests.post(f"{base}/api/posts", data=_chunks(LIMIT + 10), headers=AUTH,
                             timeout=10)
        assert over.status_code == 413, over.text
        sized = requests.post(f"{base}/api/posts", data=b"".join(_chunks(LIMIT + 10)),
                              headers=AUTH, timeout=10)
        assert sized.status_code == 413
        fits = requests.post(f"{base}/api/posts", data=_chunks(LIMIT - 10), headers=AUTH,
                             timeout=10)
        # Read whole: only the padding field is wrong (unknown), nothing was cut.
        assert fits.status_code == 400 and list(fits.json()["fields"]) == ["pad"]


# -- identifiers match whole --------------------------------------------------------------

_TRAILERS = ["\n", "\r\n", "\x00", " ", "\t", "\u2028", "\n\n"]


@pytest.mark.parametrize("trailer", _TRAILERS)
def test_a_post_id_with_anything_after_it_is_refused(api: Any, trailer: str) -> None:
    response = api.post("/api/posts", json={**POST, "id": POST["id"] + trailer}, headers=AUTH)
    assert response.status_code == 400 and "id" in response.json["fields"]
    assert api.get(f"/api/posts/{POST['id']}").status_code == 404  # nothing saved


@pytest.mark.parametrize("raw", ["NW202603090000000101\n", "202603090000000101\n",
                                 "NW" + "\u0661" * 18, "\u0661" * 18, "NW２０２６０３０９００００００００１０１"])
def test_an_infocode_is_ascii_digits_matched_whole(raw: str) -> None:
    assert article_key(raw) == raw  # not taken for the article 202603090000000101


@pytest.mark.parametrize("raw", ["NW" + "\u0661" * 18, "١٢٣"])
def test_an_id_of_other_scripts_digits_is_refused(api: Any, raw: str) -> None:
    response = api.post("/api/posts", json={**POST, "id": raw}, headers=AUTH)
    assert response.status_code == 400 and "id" in response.json["fields"]


@pytest.mark.parametrize("path", ["/feed.xml\n", "/feed.rss\n", "/category/x.atom\n",
                                  "/feed/archive/1.atom\n"])
def test_a_feed_path_with_a_trailing_newline_is_not_a_feed(api: Any, path: str) -> None:
    response = api.get("/", environ_overrides={"PATH_INFO": path})
    assert response.status_code == 404


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=30))
def test_only_ids_of_the_documented_shape_are_accepted(api: Any, raw: str) -> None:
    response = api.post("/api/posts", json={**POST, "id": raw}, headers=AUTH)
    shape_ok = (raw.isascii() and raw[0].isalnum() and len(raw) <= 100
                and all(c.isalnum() or c in "._-" for c in raw))
    assert response.status_code in ((200, 201) if shape_ok else (400,)), raw
