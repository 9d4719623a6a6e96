"""Refuse absurd request lines and headers before anything else reads them.

The outermost WSGI layer, in front of the fast paths and Flask: no memo, log line or
parser ever sees a 60 KB path or a 400 KB ``If-None-Match``. A target (path and query)
longer than ``MAX_TARGET`` gets 414; one header longer than ``MAX_HEADER``, or all of them
together longer than ``MAX_HEADERS``, gets 431 naming the header. The numbers are those
of common servers (nginx's large buffers are 8 KB), well above what browsers and feed
readers send. Raw non-ASCII bytes in a query string are percent-encoded here, once, so
that every parser behind sees the same well-formed query.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException, RequestHeaderFieldsTooLarge, RequestURITooLarge

MAX_TARGET = 8192
MAX_HEADER = 8192
MAX_HEADERS = 32768
#: WSGI hands the query over as latin-1 text: one character per byte.
_HIGH_BYTES = re.compile("[\x80-\xff]")


class RequestLimits:
    """WSGI middleware: answer 414 or 431 for oversized requests, pass the rest to ``app``."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        refusal = refuse(environ)
        if refusal is not None:
            return refusal(environ, start_response)  # type: ignore[no-any-return]
        query = environ.get("QUERY_STRING", "")
        if not query.isascii():
            environ["QUERY_STRING"] = ascii_query(query)
        return self.app(environ, start_response)


def ascii_query(query: str) -> str:
    """Percent-encode the raw bytes above 0x7f a client put in a query string (browsers
    encode them): werkzeug's query parser fails on bytes that are not UTF-8."""
    return _HIGH_BYTES.sub(lambda match: f"%{ord(match[0]):02X}", query)


def refuse(environ: dict[str, Any]) -> HTTPException | None:
    """The error for an oversized request, or None when its sizes are sane."""
    target = len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", ""))
    if target > MAX_TARGET:
        return RequestURITooLarge(f"请求地址过长：超过 {MAX_TARGET} 字节。")
    # One pass over the sizes (the common case); the names only when something is too big.
    sizes = [len(key) + len(value) for key, value in environ.items()
             if key.startswith("HTTP_") and isinstance(value, str)]
    if sizes and max(sizes) > MAX_HEADER:
        name = next(key for key, value in environ.items() if key.startswith("HTTP_")
                    and isinstance(value, str) and len(key) + len(value) > MAX_HEADER)
        return RequestHeaderFieldsTooLarge(f"请求头 {_header_name(name)} 过大：超过 "
                                           f"{MAX_HEADER} 字节。")
    if sum(sizes) > MAX_HEADERS:
        return RequestHeaderFieldsTooLarge(f"请求头总计过大：超过 {MAX_HEADERS} 字节。")
    return None


def _header_name(key: str) -> str:
    """``HTTP_IF_NONE_MATCH`` -> ``If-None-Match``."""
    return "-".join(part.capitalize() for part in key[5:].split("_"))
