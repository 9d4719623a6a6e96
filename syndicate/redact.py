"""Take secrets out of URLs and error texts before anyone outside the process sees them.

Upstream URLs often carry keys (``?apikey=…``, ``https://user:token@host/``), and the
messages of requests and urllib3 quote them, sometimes as a bare path
(``Max retries exceeded with url: /feed?apikey=…``). ``redact`` keeps each query key and
replaces its value, and replaces the userinfo of any ``//user:pass@`` authority, so a
message stays useful ("which parameter?") without the secret. Every path that shows a
URL or an upstream error (pages, API answers, the CLI, stored ``last_error``) goes
through it.
"""

from __future__ import annotations

import re

MASK = "***"
# Both patterns run in linear time: each starts at a delimiter and its repeated class
# excludes that delimiter, so no two attempts scan the same run of characters.
#: A query parameter's value: after ``?`` or ``&`` and a key, up to the next delimiter.
_QUERY_VALUE = re.compile(r"([?&][^?&=#\s'\"<>]*=)[^?&#\s'\"<>]+")
#: The userinfo of an authority: ``//`` up to the last ``@`` before a path, space or quote.
_USERINFO = re.compile(r"//[^/?#\s'\"<>]*@")


def redact(text: str) -> str:
    """Return ``text`` with query values and URL userinfo replaced by ``***``."""
    text = _USERINFO.sub(f"//{MASK}@", text)
    return _QUERY_VALUE.sub(rf"\g<1>{MASK}", text)


def redact_optional(text: str | None) -> str | None:
    """``redact`` for a value that may be missing."""
    return None if text is None else redact(text)
