"""The one place where errors become HTTP responses."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from ..errors import SyndicateError

log = logging.getLogger(__name__)

TITLES = {400: "请求有误", 404: "页面不存在", 405: "不支持的请求方法", 410: "内容已删除",
          413: "内容过大", 500: "服务器错误", 503: "服务暂不可用"}


def _page(status: int, message: str):  # type: ignore[no-untyped-def]
    title = TITLES.get(status, "出错了")
    return render_template("error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(SyndicateError)
    def syndicate_error(error: SyndicateError):  # type: ignore[no-untyped-def]
        if error.http_status >= 500:
            log.exception("request failed", exc_info=error)
        return _page(error.http_status, str(error) if error.http_status < 500 else "")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        if error.code is None or error.code < 400:
            return error
        return _page(error.code, "")
