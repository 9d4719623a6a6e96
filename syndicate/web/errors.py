"""The one place where errors become HTTP responses."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from ..errors import SyndicateError

log = logging.getLogger(__name__)

TITLES = {400: "请求有误", 404: "页面不存在", 405: "不支持的请求方法", 410: "内容已删除",
          413: "内容过大", 500: "服务器错误", 503: "服务暂不可用"}


def _page(status: int, message: str, fields: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    if request.path.startswith("/api/"):
        return _json(status, message, fields)
    title = TITLES.get(status, "出错了")
    return render_template("error.html", status=status, title=title, message=message), status


def _json(status: int, message: str, fields: dict[str, str] | None):  # type: ignore[no-untyped-def]
    """The JSON API answers errors in JSON: a sentence, the status and, for 400, each field."""
    body: dict[str, object] = {"error": message or HTTP_STATUS_CODES.get(status, "error"),
                               "status": status}
    if fields:
        body["fields"] = fields
    headers = {"WWW-Authenticate": 'Bearer realm="syndicate"'} if status == 401 else {}
    return body, status, headers


def init_app(app: Flask) -> None:
    @app.errorhandler(SyndicateError)
    def syndicate_error(error: SyndicateError):  # type: ignore[no-untyped-def]
        if error.http_status >= 500:
            log.exception("request failed", exc_info=error)
        return _page(error.http_status, str(error) if error.http_status < 500 else "",
                     getattr(error, "fields", None))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        if error.code is None or error.code < 400:
            return error
        api = request.path.startswith("/api/")
        return _page(error.code, (error.description or "") if api else "")
