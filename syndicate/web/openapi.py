"""The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from ..model import POST_ID_RE

_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "What was wrong, as a sentence."},
        "status": {"type": "integer"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "For 400: each rejected field and why."},
    },
    "required": ["error", "status"],
}
_POST_IN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "date", "media", "html"],
    "properties": {
        "id": {"type": "string", "pattern": f"^{POST_ID_RE.pattern}$",
               "description": "The article id (an infoCode such as NW202603090000000001; NW and "
                              "the "
                              "bare digits are one article). Default: derived from url, else from "
                              "media, title and date. Posting the same id again updates the post."},
        "title": {"type": "string", "maxLength": 500},
        "date": {"type": "string", "description": "Publish date, ISO 8601 / RFC 3339; without an "
                                                  "offset it is in the site time zone.",
                 "examples": ["2026-03-09T10:23:24+08:00"]},
        "media": {"type": "string", "maxLength": 100,
                  "description": "The media name (财联社): category, tag <media>新闻 and footer."},
        "category": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$",
                     "description": "Category slug. Default: the existing category of this media "
                                    "name, else its toneless pinyin."},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20,
                 "description": "Extra tags; <media>新闻 is always the first tag."},
        "html": {"type": "string", "description": "The body; sanitised, and given the "
                                                  "（文章来源：…） footer when it has none."},
        "url": {"type": "string", "format": "uri", "description": "Where the article came from."},
    },
}
_LINKS = {
    "url": {"type": "string", "format": "uri", "description": "Canonical post URL."},
    "short_url": {"type": "string", "format": "uri", "description": "Short share link."},
}
_POST_OUT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"}, "title": {"type": "string"},
        "date": {"type": "string", "format": "date-time"},
        "updated": {"type": "string", "format": "date-time"},
        "media": {"type": ["string", "null"]},
        "category": {"type": "object", "properties": {"slug": {"type": "string"},
                                                      "name": {"type": "string"}}},
        "categories": {"type": "array", "items": {"type": "string"}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "html": {"type": "string"}, "summary": {"type": "string"},
        "source_url": {"type": ["string", "null"]},
        **_LINKS,
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


_COUNT = {"type": "integer", "minimum": 0}
_SHARE_STATS: dict[str, Any] = {
    "type": "object",
    "required": ["code", "short_url", "legacy_url", "clicks", "previews", "by_day"],
    "properties": {
        "code": {"type": "string", "pattern": "^[0-9a-hjkmnp-tv-z]{12}$"},
        "short_url": {"type": "string", "format": "uri"},
        "legacy_url": {"type": "string", "format": "uri"},
        "clicks": _COUNT,
        "previews": _COUNT,
        "by_day": {"type": "array", "items": {
            "type": "object", "required": ["day", "clicks", "previews"],
            "properties": {"day": {"type": "string", "format": "date"},
                           "clicks": _COUNT, "previews": _COUNT}}},
    },
}


def openapi(base_url: str) -> dict[str, Any]:
    """Return the OpenAPI document for a site at ``base_url``."""
    saved = {"type": "object", "properties": {
        "id": {"type": "string"}, "outcome": {"enum": ["new", "updated", "unchanged"]}, **_LINKS}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "syndicate API", "version": "1",
                 "description": "Publish posts and look them up. Writes need "
                                "`Authorization: Bearer <token>` (SYNDICATE_API_TOKENS)."},
        "servers": [{"url": base_url}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": _ERROR, "PostInput": _POST_IN, "Post": _POST_OUT,
                        "ShareStats": _SHARE_STATS},
        },
        "paths": {
            "/api/posts": {"post": {
                "summary": "Create or update a post (idempotent on id)",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/PostInput"}}}},
                "responses": {
                    "201": {"description": "Created",
                            "content": {"application/json": {"schema": saved}}},
                    "200": {"description": "Updated, or already stored as given",
                            "content": {"application/json": {"schema": saved}}},
                    "400": _error("A field is missing or wrong: `fields` says which and why"),
                    "401": _error("Missing or wrong bearer token"),
                    "413": _error("The body is larger than SYNDICATE_API_MAX_BYTES"),
                },
            }},
            "/api/posts/{id}": {"get": {
                "summary": "Get a post by id (either infoCode form)",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The post", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Post"}}}},
                    "404": _error("No such post"),
                    "410": _error("The post was deleted"),
                },
            }},
            "/api/posts/{id}/share": {"get": {
                "summary": "A post's share links and their use: human clicks and link-preview "
                           "fetches per day (site time zone); no reader data is kept",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "Share links and counts", "content": {
                        "application/json": {"schema": {
                            "$ref": "#/components/schemas/ShareStats"}}}},
                    "404": _error("No such post"),
                    "410": _error("The post was deleted"),
                },
            }},
            "/api/sources": {"get": {
                "summary": "Upstream sources and the state of their polling",
                "responses": {"200": {"description": "Each source: last success, last error, "
                                                     "next poll, posts new and updated"}},
            }},
        },
    }
