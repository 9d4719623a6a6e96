"""The JSON API answers UTF-8 JSON: Chinese text as it is, not ``\\uXXXX`` escapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate import create_app

TOKEN = "utf8-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
POST = {"id": "NW202603090000000201", "title": "沪深两市成交额突破万亿", "media": "财联社",
        "date": "2026-03-09T10:23:24+08:00", "html": "<p>两市成交额突破万亿元。</p>"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Any]:
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
                      "BASE_URL": "https://news.example.com", "API_TOKENS": TOKEN,
                      "SOURCES": str(tmp_path / "sources.toml")})
    app.extensions["syndicate"].init()
    yield app.test_client()
    app.extensions["syndicate"].store.dispose()


def assert_utf8_json(response: Any) -> Any:
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    raw = response.get_data()
    assert b"\\u" not in raw
    return json.loads(raw.decode("utf-8"))


def test_a_post_is_answered_in_readable_utf8(api: Any) -> None:
    assert api.post("/api/posts", json=POST, headers=AUTH).status_code == 201
    response = api.get("/api/posts/" + POST["id"])
    assert "沪深两市成交额突破万亿".encode() in response.get_data()
    body = assert_utf8_json(response)
    assert body["title"] == POST["title"]
    # Three bytes a character as UTF-8, where \uXXXX took six.
    assert len(response.get_data()) < len(json.dumps(body).encode())


def test_errors_are_utf8_json_too(api: Any) -> None:
    bad = api.post("/api/posts", json={**POST, "date": "昨天"}, headers=AUTH)
    assert bad.status_code == 400
    assert "date" in assert_utf8_json(bad)["fields"]
    missing = api.get("/api/posts/NW209901010000000000")
    assert missing.status_code == 404
    assert_utf8_json(missing)


def test_healthz_is_utf8_json(api: Any) -> None:
    assert assert_utf8_json(api.get("/healthz")) == {"status": "ok"}
