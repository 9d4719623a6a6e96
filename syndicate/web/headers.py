"""Security headers on every response: Content-Security-Policy, nosniff, Referrer-Policy.

The pages' only inline script and style are fixed text in the templates, so the policy
allows exactly those by hash (computed here from the template files, never hand-copied)
and no other script at all: a link or body that slipped past sanitising still cannot run.
Images may come from any http(s) host, since article bodies show the upstream's images.
The headers are added by a WSGI middleware around everything, so the fast paths that
answer feeds and share links before Flask carry them too.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
#: Inline blocks the browser runs or applies; ``type="application/ld+json"`` is data, not
#: script, so CSP does not govern it and it is left out.
_INLINE_RE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)
REFERRER_POLICY = "strict-origin-when-cross-origin"


def inline_hashes(folder: Path = TEMPLATES) -> dict[str, list[str]]:
    """The CSP hash source of each inline ``<script>`` and ``<style>`` block of the templates."""
    found: dict[str, list[str]] = {"script": [], "style": []}
    for path in sorted(folder.glob("*.html")):
        for kind, body in _INLINE_RE.findall(path.read_text("utf-8")):
            if "{{" in body or "{%" in body:
                # A block Jinja fills in changes per page: no fixed hash can allow it.
                raise ValueError(f"{path.name}: an inline <{kind}> holds template code")
            digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
            found[kind].append(f"'sha256-{digest}'")
    return found


def content_security_policy(folder: Path = TEMPLATES) -> str:
    """The site's Content-Security-Policy."""
    hashes = inline_hashes(folder)
    directives = [
        "default-src 'self'",
        "script-src " + (" ".join(hashes["script"]) or "'none'"),
        "style-src " + (" ".join(hashes["style"]) or "'none'"),
        "img-src 'self' https: http:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
    return "; ".join(directives)


class SecurityHeaders:
    """WSGI middleware: add the security headers to every response that lacks them."""

    def __init__(self, app: Callable[..., Iterable[bytes]], policy: str) -> None:
        self.app = app
        self.headers = [("Content-Security-Policy", policy),
                        ("X-Content-Type-Options", "nosniff"),
                        ("Referrer-Policy", REFERRER_POLICY)]

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            headers.extend(h for h in self.headers if h[0].lower() not in present)
            return start_response(status, headers, exc_info)
        return self.app(environ, start)
