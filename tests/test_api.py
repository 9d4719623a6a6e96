"""The publish API, post lookups, the OpenAPI document and the source status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate import create_app

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
POST = {
    "id": "NW202603090000000101",
    "title": "沪深两市成交额突破万亿",
    "date": "2026-03-09T10:23:24+08:00",
    "media": "财联社",
    "html": "<p>两市成交额突破万亿元。</p><script>alert(1)</script>",
    "url": "https://up.example.com/a/101",
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Any]:
    app = create_app({
        "TESTING": True, "INSTANCE_PATH": tmp_path,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "BASE_URL": "https://news.example.com",
        "API_TOKENS": f"other-token,{TOKEN}", "API_MAX_BYTES": 20_000,
        "SOURCES": str(tmp_path / "sources.toml"),
    })
    core = app.extensions["syndicate"]
    core.init()
    yield app.test_client()
    core.store.dispose()


def test_publish_creates_then_is_idempotent(api: Any) -> None:
    created = api.post("/api/posts", json=POST, headers=AUTH)
    assert created.status_code == 201, created.json
    body = created.json
    assert body["id"] == POST["id"] and body["outcome"] == "new"
    assert body["url"] == "https://news.example.com/cailianshe/2026/03/09/NW202603090000000101.html"
    assert body["short_url"].startswith("https://news.example.com/s/")
    assert created.headers["Location"] == body["url"]

    again = api.post("/api/posts", json=POST, headers=AUTH)
    assert again.status_code == 200 and again.json["outcome"] == "unchanged"
    bare = api.post("/api/posts", json={**POST, "id": "202603090000000101", "title": "更正标题"},
                    headers=AUTH)
    assert bare.status_code == 200 and bare.json["outcome"] == "updated"
    assert bare.json["id"] == POST["id"]  # NW and bare are one article; the id never changes


def test_the_post_follows_the_import_rules(api: Any) -> None:
    api.post("/api/posts", json={**POST, "tags": ["成交额"]}, headers=AUTH)
    post = api.get("/api/posts/202603090000000101").json
    assert post["title"] == POST["title"]
    assert post["category"] == {"slug": "cailianshe", "name": "财联社"}
    assert post["tags"] == ["财联社新闻", "成交额"]
    assert "script" not in post["html"]
    assert post["html"].endswith('<p class="em_media">（文章来源：财联社）</p>')
    assert post["date"] == "2026-03-09T02:23:24+00:00"
    assert post["source_url"] == POST["url"]
    page = api.get("/cailianshe/2026/03/09/NW202603090000000101.html")
    assert page.status_code == 200 and "两市成交额突破万亿元" in page.get_data(as_text=True)


def test_category_given_and_id_derived(api: Any) -> None:
    data = {k: v for k, v in POST.items() if k != "id"}
    first = api.post("/api/posts", json={**data, "category": "cls-wire"}, headers=AUTH)
    assert first.status_code == 201
    assert "/cls-wire/" in first.json["url"] and first.json["id"].startswith("u")
    second = api.post("/api/posts", json={**data, "category": "cls-wire"}, headers=AUTH)
    assert second.status_code == 200 and second.json["id"] == first.json["id"]


def test_bad_fields_get_one_message_each(api: Any) -> None:
    response = api.post("/api/posts", headers=AUTH, json={
        "id": "has spaces", "title": "", "date": "yesterday", "html": 5,
        "category": "Not A Slug", "tags": "one", "url": "ftp://x", "colour": "red"})
    assert response.status_code == 400
    fields = response.json["fields"]
    assert set(fields) == {"id", "title", "date", "media", "html", "category", "tags", "url",
                           "colour"}
    assert fields["media"] == "is required"
    assert "not a date" in fields["date"]
    assert response.json["status"] == 400 and "invalid post" in response.json["error"]


def test_body_that_is_not_a_json_object(api: Any) -> None:
    response = api.post("/api/posts", data="[1, 2]", headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400 and "JSON object" in response.json["error"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": "Bearer "}])
def test_missing_or_wrong_token(api: Any, headers: dict[str, str]) -> None:
    response = api.post("/api/posts", json=POST, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "bearer token" in response.json["error"]


def test_too_large(api: Any) -> None:
    big = {**POST, "html": "<p>" + "长" * 20_000 + "</p>"}
    response = api.post("/api/posts", json=big, headers=AUTH)
    assert response.status_code == 413 and response.json["status"] == 413


def test_get_unknown_post_is_a_json_404(api: Any) -> None:
    response = api.get("/api/posts/NW999999999999999999")
    assert response.status_code == 404 and response.json["status"] == 404


def test_openapi_document(api: Any) -> None:
    document = api.get("/api/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]["/api/posts"]["post"]["responses"]) >= {"200", "201", "400",
                                                                         "401", "413"}
    assert document["servers"] == [{"url": "https://news.example.com"}]


def test_source_status_without_a_sources_file(api: Any) -> None:
    page = api.get("/status")
    assert page.status_code == 200 and "no sources file" in page.get_data(as_text=True)


def test_source_status_page_and_json(api: Any, tmp_path: Path) -> None:
    from syndicate.ingest.poll import make_poller

    (tmp_path / "sources.toml").write_text(
        '[[source]]\nname = "down"\nkind = "feed"\nurl = "http://127.0.0.1:9/feed.xml"\n'
        'every = "5m"\n\n[[source]]\nname = "later"\nkind = "feed"\n'
        'url = "https://up.example.com/feed.xml"\n', encoding="utf-8")
    core = api.application.extensions["syndicate"]
    make_poller(core, core.sources()).poll(["down"])
    data = {s["name"]: s for s in api.get("/api/sources").json["sources"]}
    assert data["down"]["failures"] == 1 and "cannot fetch" in data["down"]["last_error"]
    assert data["down"]["next_poll"] and data["down"]["last_success"] is None
    assert data["later"]["last_poll"] is None and "url" not in data["later"]
    page = api.get("/status").get_data(as_text=True)
    assert "down" in page and "cannot fetch" in page and "连续失败 1 次" in page
