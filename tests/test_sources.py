"""The sources file: a wrong one gets a message naming the file, the source and the field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from syndicate.errors import ConfigError
from syndicate.sources import SourceKind, load_sources, parse_duration

GOOD = '''
[[source]]
name = "cailianshe"
kind = "feed"
url = "https://example.com/cls.xml"
media = "财联社"
every = "5m"

[[source]]
name = "em-market"
kind = "json"
url = "https://example.com/api/list?marketType=37&count=100"
items = "record"
fields = { id = "infoCode", title = "title", date = "datetime", media = "medianame", summary = "digest", url = "url_w" }
body_url = "https://example.com/NewsData/GetNewsText.do?id={id}"
body_field = "text"
every = "1m"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_example_loads(tmp_path: Path) -> None:
    feed, api = load_sources(write(tmp_path, GOOD))
    assert (feed.name, feed.kind, feed.media, feed.every) == (
        "cailianshe", SourceKind.FEED, "财联社", timedelta(minutes=5))
    assert api.kind is SourceKind.JSON and api.items == "record"
    assert api.field_map["id"] == "infoCode" and api.body_field == "text"
    assert api.every == timedelta(minutes=1)


@pytest.mark.parametrize(("text", "duration"), [("30s", 30), ("5m", 300), ("1h", 3600),
                                                 ("2d", 172800), (90, 90)])
def test_durations(text: object, duration: int) -> None:
    assert parse_duration(text) == timedelta(seconds=duration)


BAD = [
    ('name = "Bad Name"\nkind = "feed"\nurl = "https://e.com/f"', "'name'"),
    ('name = "a"\nkind = "rss"\nurl = "https://e.com/f"', "'kind'"),
    ('name = "a"\nkind = "feed"', "'url'"),
    ('name = "a"\nkind = "feed"\nurl = "e.com/f"', "'url'"),
    ('name = "a"\nkind = "feed"\nurl = "https://e.com/f"\nevery = "soon"', "'every'"),
    ('name = "a"\nkind = "feed"\nurl = "https://e.com/f"\nevery = "1s"', "'every'"),
    ('name = "a"\nkind = "feed"\nurl = "https://e.com/f"\nitems = "x"', "'items'"),
    ('name = "a"\nkind = "json"\nurl = "https://e.com/f"', "'fields'"),
    ('name = "a"\nkind = "json"\nurl = "https://e.com/f"\nfields = { title = "t" }', "'fields.id'"),
    ('name = "a"\nkind = "json"\nurl = "https://e.com/f"\nfields = { id = "i", title = "t", colour = "c" }',
     "'fields.colour'"),
    (('name = "a"\nkind = "json"\nurl = "https://e.com/f"\nfields = { id = "i", title = "t" }\n'
      'body_url = "https://e.com/d"\nbody_field = "text"'), "'body_url'"),
    (('name = "a"\nkind = "json"\nurl = "https://e.com/f"\nfields = { id = "i", title = "t" }\n'
      'body_url = "https://e.com/d?id={id}"'), "'body_field'"),
]


@pytest.mark.parametrize(("table", "field"), BAD)
def test_errors_name_file_source_and_field(tmp_path: Path, table: str, field: str) -> None:
    path = write(tmp_path, GOOD + "\n[[source]]\n" + table + "\n")
    with pytest.raises(ConfigError) as error:
        load_sources(path)
    message = str(error.value)
    assert str(path) in message and "source #3" in message and f"field {field}" in message


def test_duplicate_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="source #2 'a': field 'name': another source"):
        load_sources(write(tmp_path, '[[source]]\nname = "a"\nkind = "feed"\nurl = "https://e.com/1"\n'
                                     '[[source]]\nname = "a"\nkind = "feed"\nurl = "https://e.com/2"\n'))


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no sources file"):
        load_sources(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sources(write(tmp_path, "[[source]\nname = "))
