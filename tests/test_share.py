"""Short share links and the old site's NewsShare links."""

from __future__ import annotations

from typing import Any

POST_URL = "https://news.example.com/zhongguodianzibao/2026/01/05/NW202601050000000001.html"


def test_short_link_redirects_302_to_the_post(client: Any, core: Any) -> None:
    post = core.post("NW202601050000000001")
    response = client.get(f"/s/{post.share_code}")
    assert response.status_code == 302
    assert response.location == POST_URL


def test_legacy_share_link_redirects_301(client: Any) -> None:
    for code in ("NW202601050000000001", "202601050000000001"):
        response = client.get(f"/html_News/NewsShare.html?infoCode={code}")
        assert response.status_code == 301
        assert response.location == POST_URL


def test_unknown_or_malformed_codes_are_404(client: Any) -> None:
    for url in ("/s/zzzzzzzz", "/s/0OIl0OIl", "/s/abc", "/s/../../etc",
                "/html_News/NewsShare.html?infoCode=NW999999999999999999",
                "/html_News/NewsShare.html?infoCode=https://evil.example/",
                "/html_News/NewsShare.html"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.location is None
