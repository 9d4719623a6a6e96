"""Upstream sources: the TOML file that lists them, read into frozen Source values.

A wrong file raises ConfigError naming the file, the source and the field, so an operator
can fix it without reading code::

    [[source]]
    name = "cailianshe"        # unique, [a-z0-9-]
    kind = "feed"              # RSS, Atom or JSON Feed
    url = "https://example.com/cls.xml"
    media = "财联社"            # optional; default: the feed's own title
    every = "5m"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from .errors import ConfigError
from .text import normalize_slug

NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
DURATION_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|d)\s*")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: Polling faster than this is not polite to anyone.
MIN_EVERY = timedelta(seconds=10)
DEFAULT_EVERY = "5m"
#: Fields a JSON list item can map; `id` and `title` are required.
JSON_FIELDS = frozenset({"id", "title", "date", "media", "summary", "url", "html", "guid"})
_KEYS = {
    "feed": {"name", "kind", "url", "media", "every", "category"},
    "json": {"name", "kind", "url", "media", "every", "category", "items", "fields",
             "body_url", "body_field"},
}


class SourceKind(StrEnum):
    FEED = "feed"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class Source:
    """One upstream source as configured."""

    name: str
    kind: SourceKind
    url: str
    every: timedelta
    media: str | None = None
    #: A category slug to file every post under (default: resolved from the media name).
    category: str | None = None
    items: str = ""
    #: JSON list field mapping as (our name, their dotted path) pairs.
    fields: tuple[tuple[str, str], ...] = ()
    body_url: str | None = None
    body_field: str | None = None

    @property
    def field_map(self) -> dict[str, str]:
        return dict(self.fields)


def parse_duration(text: Any) -> timedelta:
    """Read ``"30s"``, ``"5m"``, ``"1h"`` or ``"1d"`` (or a number of seconds)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = DURATION_RE.fullmatch(str(text))
        if match is None:
            raise ValueError(f"{text!r} is not a duration such as 30s, 5m, 1h or 1d")
        seconds = float(match.group(1)) * UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def load_sources(path: Path) -> list[Source]:
    """Read and check the sources file; raise ConfigError naming the file, source and field."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no sources file (set SYNDICATE_SOURCES or create it)") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the sources file: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    return parse_sources(data, str(path))


def parse_sources(data: Mapping[str, Any], origin: str) -> list[Source]:
    """Check the parsed TOML document ``data`` read from ``origin``."""
    unknown = set(data) - {"source"}
    if unknown:
        raise ConfigError(f"{origin}: unknown top-level key {min(unknown)!r}; "
                          "sources are [[source]] tables")
    tables = data.get("source", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{origin}: `source` must be an array of tables ([[source]])")
    sources: list[Source] = []
    seen: set[str] = set()
    for number, table in enumerate(tables, start=1):
        source = _SourceReader(origin, number, table).read()
        if source.name in seen:
            raise ConfigError(f"{origin}: source #{number} {source.name!r}: field 'name': "
                              "another source already has this name")
        seen.add(source.name)
        sources.append(source)
    return sources


class _SourceReader:
    """Reads one [[source]] table, naming it in every error."""

    def __init__(self, origin: str, number: int, table: Any) -> None:
        self.origin, self.number = origin, number
        self.table = table if isinstance(table, dict) else {}
        name = self.table.get("name")
        self.label = f"source #{number}" + (f" {name!r}" if isinstance(name, str) else "")
        if not isinstance(table, dict):
            self.fail(None, "must be a table of key = value lines")

    def fail(self, field: str | None, message: str) -> NoReturn:
        where = f"{self.origin}: {self.label}"
        prefix = f"{where}: field {field!r}" if field else where
        raise ConfigError(f"{prefix}: {message}")

    def text(self, field: str, required: bool = False) -> str | None:
        value = self.table.get(field)
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(field, "must be a non-empty string")
        return value.strip()

    def url(self, field: str, required: bool = False) -> str | None:
        value = self.text(field, required)
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                self.fail(field, f"{value!r} is not an absolute http(s) URL")
        return value

    def read(self) -> Source:
        name = self.text("name", required=True) or ""
        if not NAME_RE.fullmatch(name):
            self.fail("name", f"{name!r} must be lowercase letters, digits and '-' "
                              "(like cailianshe or em-market)")
        kind_text = self.text("kind", required=True) or ""
        if kind_text not in _KEYS:
            self.fail("kind", f"{kind_text!r} must be one of: {', '.join(_KEYS)}")
        kind = SourceKind(kind_text)
        extra = sorted(set(self.table) - _KEYS[kind])
        if extra:
            self.fail(extra[0], f"is not a setting of a {kind} source "
                                f"(allowed: {', '.join(sorted(_KEYS[kind]))})")
        source = Source(
            name=name, kind=kind, url=self.url("url", required=True) or "",
            every=self.every(), media=self.text("media"), category=self.category(),
        )
        return self.json_parts(source) if kind is SourceKind.JSON else source

    def every(self) -> timedelta:
        raw = self.table.get("every", DEFAULT_EVERY)
        try:
            every = parse_duration(raw)
        except ValueError as error:
            self.fail("every", str(error))
        if every < MIN_EVERY:
            self.fail("every", f"{raw!r} is too often; poll at most every {MIN_EVERY.seconds}s")
        return every

    def category(self) -> str | None:
        value = self.text("category")
        if value is not None and normalize_slug(value) != value:
            self.fail("category", f"{value!r} must be a slug of lowercase letters, digits and '-'")
        return value

    def json_parts(self, source: Source) -> Source:
        fields = self.table.get("fields")
        if not isinstance(fields, dict) or not fields:
            self.fail("fields", 'is required: a table such as { id = "infoCode", title = "title" }')
        for key, path in fields.items():
            if key not in JSON_FIELDS:
                known = ", ".join(sorted(JSON_FIELDS))
                self.fail(f"fields.{key}", f"is not a known field (known: {known})")
            if not isinstance(path, str) or not path.strip():
                self.fail(f"fields.{key}", "must name a field of the list items")
        for key in ("id", "title"):
            if key not in fields:
                self.fail(f"fields.{key}", "is required")
        body_url = self.url("body_url")
        body_field = self.text("body_field")
        if body_url is not None:
            if "{id}" not in body_url:
                self.fail("body_url", "must contain {id} where the item's id goes")
            if body_field is None:
                self.fail("body_field", "is required with body_url: the field holding the text")
        elif body_field is not None:
            self.fail("body_field", "needs body_url")
        return replace(
            source, items=self.text("items") or "",
            fields=tuple((k, v.strip()) for k, v in fields.items()),
            body_url=body_url, body_field=body_field,
        )
