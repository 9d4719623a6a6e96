"""Every response carries a Content-Security-Policy, nosniff and a Referrer-Policy."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from syndicate.web.headers import content_security_policy, inline_hashes

POST = "/zhongguodianzibao/2026/01/05/NW202601050000000001.html"


def share_code(core: Any) -> str:
    return core.post("NW202601050000000001").share_code


def urls_of_every_kind(core: Any) -> list[str]:
    code = share_code(core)
    return ["/", POST, "/category/zhongguodianzibao.html", "/feed.xml", "/feed.json",
            "/category/cailianshe.rss", f"/s/{code}", f"/s/{code}.svg",
            "/html_News/NewsShare.html?infoCode=NW202601050000000001", "/sitemap.xml",
            "/opml.xml", "/robots.txt", "/api/posts/NW202601050000000001", "/status",
            "/no/such/page", "/s/zzzzzzzzzzzz", "/healthz"]


def directives(policy: str) -> dict[str, list[str]]:
    parts = (d.split() for d in policy.split(";") if d.strip())
    return {name: values for name, *values in parts}


def test_every_response_carries_the_headers(client: Any, core: Any) -> None:
    for url in urls_of_every_kind(core):
        for method in (client.get, client.head):
            response = method(url)
            assert response.headers.get("X-Content-Type-Options") == "nosniff", url
            assert response.headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", url
            assert response.headers.get("Content-Security-Policy") == content_security_policy(), url


def test_conditional_answers_carry_them_too(client: Any) -> None:
    etag = client.get("/feed.xml").headers["ETag"]
    response = client.get("/feed.xml", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert "Content-Security-Policy" in response.headers


def test_the_policy_forbids_inline_script_objects_framing_and_base_changes() -> None:
    policy = directives(content_security_policy())
    assert "'unsafe-inline'" not in " ".join(policy["script-src"] + policy["style-src"])
    assert all(source.startswith("'sha256-") for source in policy["script-src"])
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'self'"]
    # Article bodies show the upstream's own images.
    assert {"https:", "http:"} <= set(policy["img-src"])


def test_the_pages_inline_blocks_are_exactly_the_ones_allowed(client: Any) -> None:
    """A change to the inline script or CSS of a template changes the policy with it."""
    policy = directives(client.get(POST).headers["Content-Security-Policy"])
    page = client.get(POST).get_data(as_text=True)
    blocks = re.findall(r"<(script|style)>(.*?)</\1>", page, re.DOTALL)
    assert {kind for kind, _ in blocks} == {"script", "style"}
    for kind, body in blocks:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy[f"{kind}-src"], kind
    assert ' style="' not in client.get("/status").get_data(as_text=True)


def test_template_code_inside_an_inline_block_is_refused(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<script>var x = {{ value }};</script>", "utf-8")
    with pytest.raises(ValueError, match=r"page\.html: an inline <script> holds template code"):
        inline_hashes(tmp_path)
