"""The JSON API: publish posts (bearer token), look them up, source status, OpenAPI description."""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from ..errors import ConfigError, InvalidFields, InvalidPost, Unauthorized
from ..ingest.admit import tag_name
from ..ingest.post import build_post, parse_datetime, stable_id
from ..model import POST_ID_RE, Outcome, Post
from ..redact import redact, redact_optional
from ..sources import Source
from ..store.sources import SourceState
from ..text import normalize_slug, web_url
from .context import core
from .openapi import openapi

bp = Blueprint("api", __name__)

FIELDS = ("id", "title", "date", "media", "category", "tags", "html", "url")
MAX_TAGS = 20
#: The API's name of a post field that ingest names otherwise.
API_FIELDS = {"published": "date"}
MAX_NAME = 100


@bp.before_request
def limit_body() -> None:
    # Flask answers 413 when Content-Length says more than this. A chunked body has none,
    # and werkzeug then reads at most this many bytes and stops without a word: allowing
    # one byte more lets ``json_body`` see that the body went past the limit.
    request.max_content_length = core().settings.api_max_bytes + 1


def json_body() -> Any:
    """The request body as JSON: 413 past API_MAX_BYTES (with or without Content-Length),
    400 naming the body when it is not JSON or nests too deeply to read."""
    data = request.get_data(cache=True)
    if len(data) > core().settings.api_max_bytes:
        raise RequestEntityTooLarge(
            f"the body is larger than {core().settings.api_max_bytes} bytes (API_MAX_BYTES)")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidFields("the body is not valid JSON", {"body": "not valid JSON"}) from None
    except RecursionError:  # the json module recurses per level: 100,000 "[" overflow it
        raise InvalidFields("the body nests too deeply", {"body": "JSON nested too deeply"}) \
            from None


def require_token() -> None:
    """Accept ``Authorization: Bearer <token>`` with one of SYNDICATE_API_TOKENS."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    given = token.strip().encode()
    tokens = core().settings.api_tokens
    # compare_digest against every token: the time taken says nothing about which matched.
    matched = [hmac.compare_digest(given, t.encode()) for t in tokens]
    if scheme.lower() != "bearer" or not given or not any(matched):
        raise Unauthorized("a valid bearer token is required (Authorization: Bearer <token>)")


# --- publishing ------------------------------------------------------------------------


@bp.post("/api/posts")
def publish() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Create or update a post; idempotent on its id."""
    require_token()
    data = json_body()
    if not isinstance(data, dict):
        raise InvalidFields("the body must be a JSON object", {"body": "must be a JSON object"})
    post = _post_input(data)
    result = core().save([post])[0]
    stored = core().post(post.id)
    status = 201 if result.outcome is Outcome.NEW else 200
    body = {"id": stored.id, "outcome": str(result.outcome), **_links(stored)}
    headers = {"Location": body["url"]} if status == 201 else {}
    return body, status, headers


def _post_input(data: dict[str, Any]) -> Any:
    errors: dict[str, str] = {}
    for name in data:
        if name not in FIELDS:
            errors[name] = f"unknown field (known: {', '.join(FIELDS)})"
    checked = {name: _check(name, data.get(name), errors) for name in FIELDS}
    if errors:
        raise InvalidFields(_summary(errors), errors)
    date: datetime = checked["date"]
    post_id = checked["id"] or stable_id(
        None, None if checked["url"] else f"api:{checked['media']}|{checked['title']}|"
        f"{date.isoformat()}", checked["url"], "api")
    try:
        return core().admit(build_post(
            post_id=post_id, title=checked["title"], published=date, media=checked["media"],
            html=checked["html"], url=checked["url"], tags=checked["tags"] or (),
            category_slug=checked["category"], origin="api",
        ))
    except InvalidPost as error:
        # The publish date is the body's "date" field.
        field = API_FIELDS.get(error.field or "", error.field or "body")
        raise InvalidFields(f"{field}: {error.args[0]}", {field: str(error.args[0])}) from None


def _summary(errors: dict[str, str]) -> str:
    return "invalid post: " + "; ".join(f"{name}: {reason}" for name, reason in errors.items())


def _check(name: str, value: Any, errors: dict[str, str]) -> Any:
    """Validate one field; record the reason in ``errors`` and return None when it is bad."""
    required = name in ("title", "date", "media", "html")
    if value is None or value == "":
        if required:
            errors[name] = "is required"
        return None
    try:
        return _CHECKS[name](value)
    except (TypeError, ValueError) as error:
        errors[name] = str(error)
        return None


def _text(limit: int | None = None) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        if limit is not None and len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value.strip()
    return check


def _id(value: Any) -> str:
    if not isinstance(value, str) or not POST_ID_RE.fullmatch(value):
        raise ValueError("must be 1-100 letters, digits, '.', '_' or '-' "
                         "(e.g. NW202603090000000001)")
    return value


def _date(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("must be a string such as 2026-03-09T10:23:24+08:00")
    return parse_datetime(value, core().tz)


def _category(value: Any) -> str:
    if not isinstance(value, str) or not value or normalize_slug(value) != value:
        raise ValueError("must be a slug of lowercase letters, digits and '-' (e.g. cailianshe)")
    return value


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        raise ValueError("must be a list of non-empty strings")
    if len(value) > MAX_TAGS or any(len(t) > MAX_NAME for t in value):
        raise ValueError(f"at most {MAX_TAGS} tags of at most {MAX_NAME} characters")
    unusable = [t for t in value if tag_name(t) is None]
    if unusable:
        raise ValueError(f"tag {unusable[0]!r} cannot name a page: it is empty or only dots "
                         "once control characters are removed")
    return tuple(t.strip() for t in value)


def _url(value: Any) -> str:
    url = web_url(value)
    if url is None:
        raise ValueError("must be an absolute http(s) URL")
    return url


_CHECKS = {"id": _id, "title": _text(500), "date": _date, "media": _text(MAX_NAME),
           "category": _category, "tags": _tags, "html": _text(), "url": _url}


# --- reading ---------------------------------------------------------------------------


@bp.get("/api/posts/<post_id>")
def get_post(post_id: str) -> dict[str, Any]:
    return post_json(core().post(post_id))


@bp.get("/api/posts/<post_id>/share")
def share_stats(post_id: str) -> dict[str, Any]:
    """The post's share links and how often they were followed, per day."""
    return core().shares.stats(post_id).as_dict()


def _links(post: Post) -> dict[str, str]:
    return {"url": core().post_url(post), "short_url": core().share_url(post)}


def post_json(post: Post) -> dict[str, Any]:
    """A post as the API gives it."""
    return {
        "id": post.id, "title": post.title, "date": post.published.isoformat(),
        "updated": post.updated.isoformat(), "media": post.source,
        "category": {"slug": post.category.slug, "name": post.category.name},
        "categories": list(post.categories), "tags": list(post.tags), "html": post.html,
        "summary": post.summary, "source_url": web_url(post.url), **_links(post),
    }


@bp.get("/api/openapi.json")
def openapi_json() -> dict[str, Any]:
    return openapi(core().settings.base_url)


# --- source status ---------------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def source_json(source: Source, state: SourceState | None) -> dict[str, Any]:
    polled = state is not None and state.last_poll is not None
    return {
        # No URL: upstream URLs may carry keys, and this is public.
        "name": source.name, "kind": str(source.kind),
        "every": int(source.every.total_seconds()),
        "last_poll": _when(state.last_poll) if state else None,
        "last_status": state.last_status if state else None,
        "last_success": _when(state.last_success) if state else None,
        # Rows stored before errors were redacted may still hold keys: redact on the way out.
        "last_error": redact_optional(state.last_error) if state else None,
        "last_error_at": _when(state.last_error_at) if state else None,
        "failures": state.failures if state else 0,
        "next_poll": _when(state.next_poll) if polled and state else None,
        "posts_new": state.posts_new if state else 0,
        "posts_updated": state.posts_updated if state else 0,
    }


@bp.get("/api/sources")
def sources_json() -> dict[str, Any]:
    """Each source's polls; no sources file is no sources (with the reason, as /status)."""
    try:
        return {"sources": [source_json(s, st) for s, st in core().source_status()]}
    except ConfigError as error:
        return {"sources": [], "problem": str(error)}


@bp.get("/status")
def status_page() -> str:
    try:
        rows, problem = [source_json(s, st) for s, st in core().source_status()], None
    except ConfigError as error:
        rows, problem = [], redact(str(error))
    return render_template("status.html", sources=rows, problem=problem, localtime=_local)


def _local(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(core().tz).strftime("%Y-%m-%d %H:%M:%S")


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


bp.after_request(no_store)
