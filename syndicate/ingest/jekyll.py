"""Read Jekyll post files, in the format the old finews site's scraper wrote, into PostInput.

A post file is YAML front matter between ``---`` lines, then a body mixing Markdown and
raw HTML. The scraper appended site chrome (a bare share link or the original article
URL, and ``[返回…新闻](…)｜[返回首页](…)`` back-links); it is not content, so it is cut off
here and its links are kept as the post's id and URL. The body is then rendered,
sanitised and given its attribution footer.
"""

from __future__ import annotations

import heapq
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import yaml
from markdown_it import MarkdownIt

from ..errors import InvalidPost
from ..model import INFOCODE_RE, PostInput, article_key
from ..text import (
    derive_title,
    ensure_footer,
    html_to_text,
    media_from_tag,
    normalize_slug,
    parse_attribution,
    sanitize_html,
    summarize,
    xml_safe,
)

#: File extensions read when walking a folder; files named directly are always read.
POST_EXTENSIONS = frozenset({".md", ".markdown", ".mkd", ".mkdn", ".html", ".htm"})
_HTML_EXTENSIONS = frozenset({".html", ".htm"})

_YAML_LOADER: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_MARKDOWN = MarkdownIt("commonmark", {"html": True})


class _Problem(Exception):
    """A reason to reject a post; parse_post adds the file it came from."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- finding files -----------------------------------------------------------------


def iter_post_files(paths: Iterable[Path], *, ordered: bool = True) -> Iterator[Path]:
    """Yield post files: files as given, folders walked recursively in sorted order (or,
    with ``ordered=False``, in the order the file system lists them, holding no list).

    Hidden files and folders are skipped. A path that does not exist raises InvalidPost
    when the walk reaches it, after every earlier path was yielded.
    """
    for path in paths:
        if path.is_dir():
            yield from (_walk(path, set()) if ordered else _scan(path, set()))
        elif path.exists():
            yield path
        else:
            raise InvalidPost("no such file or folder", origin=str(path))


def _entries(folder: Path, seen: set[str]) -> Iterator[tuple[str, bool]]:
    """(name, is a folder) of the visible folders and post files in ``folder``."""
    real = os.path.realpath(folder)
    if real in seen:  # a symlink loop
        return
    seen.add(real)
    with os.scandir(folder) as scan:
        for entry in scan:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                yield entry.name, True
            elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in POST_EXTENSIONS:
                yield entry.name, False


def _scan(folder: Path, seen: set[str]) -> Iterator[Path]:
    for name, is_folder in _entries(folder, seen):
        yield from _scan(folder / name, seen) if is_folder else (folder / name,)


def _walk(folder: Path, seen: set[str]) -> Iterator[Path]:
    for name, is_folder in _sorted(_entries(folder, seen)):
        if is_folder:
            yield from _walk(folder / name, seen)
        else:
            yield folder / name


#: Names sorted in memory at once while walking a folder. The old site kept a million
#: posts in one folder: a list of their names alone costs 100 MB, so a larger folder is
#: sorted in runs of this size written to temporary files, then merged.
SORT_RUN = 100_000


def _sorted(entries: Iterator[tuple[str, bool]]) -> Iterator[tuple[str, bool]]:
    """The entries sorted by name, holding at most ``SORT_RUN`` of them in memory."""
    runs: list[IO[str]] = []
    try:
        while True:
            chunk = sorted(islice(entries, SORT_RUN))
            if len(chunk) < SORT_RUN and not runs:
                yield from chunk
                return
            if chunk:
                runs.append(_spill(chunk))
            if len(chunk) < SORT_RUN:
                break
        yield from heapq.merge(*(_unspill(run) for run in runs))
    finally:
        for run in runs:
            run.close()


def _spill(chunk: list[tuple[str, bool]]) -> IO[str]:
    # NUL is the one character a file name cannot hold; surrogateescape keeps names
    # that are not UTF-8 as they were.
    run = tempfile.TemporaryFile("w+", encoding="utf-8", errors="surrogateescape", newline="")
    run.writelines(("d" if is_folder else "f") + name + "\0" for name, is_folder in chunk)
    run.seek(0)
    return run


def _unspill(run: IO[str]) -> Iterator[tuple[str, bool]]:
    rest = ""
    while block := run.read(1 << 16):
        records = (rest + block).split("\0")
        rest = records.pop()
        for record in records:
            yield record[1:], record[0] == "d"


def name_key(path: Path) -> str | None:
    """Return the article key a post file's name gives, or None when its id is read from the
    body (a share link): files with one name key are one article."""
    slug = _FileName.parse(path.name).slug
    return article_key(slug) if INFOCODE_RE.match(slug) else None


# --- reading one post --------------------------------------------------------------


def read_post_file(path: Path, *, tz: ZoneInfo) -> PostInput:
    """Read and parse one post file; raise InvalidPost naming the file and the reason."""
    origin = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidPost(f"cannot read the file: {error.strerror}", origin=origin) from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})"
        raise InvalidPost(message, origin=origin) from None
    return parse_post(text, filename=path.name, tz=tz, origin=origin)


def parse_post(text: str, *, filename: str, tz: ZoneInfo, origin: str = "") -> PostInput:
    """Parse the text of one Jekyll post file named ``filename``."""
    try:
        return _parse(text, filename, tz, origin or filename)
    except _Problem as problem:
        raise InvalidPost(str(problem), origin=origin or filename, field=problem.field) from None


def _parse(text: str, filename: str, tz: ZoneInfo, origin: str) -> PostInput:
    front, raw_body = _split_front_matter(_normalize_newlines(text))
    meta = _load_front_matter(front)
    name = _FileName.parse(filename)
    published = _published(meta.get("date"), name, tz)
    body, chrome = _strip_chrome(raw_body)
    post_id = _post_id(name.slug, chrome.share_code, raw_body, filename)
    rendered = body if name.is_html else _render_markdown(body)
    html = sanitize_html(rendered).strip()
    footer_media = parse_attribution(html)
    tags = _tags(meta)
    tag_media = media_from_tag(tags[0]) if tags else None
    slug = _category_slug(meta)
    source = footer_media or tag_media
    html = ensure_footer(html, source)
    return PostInput(
        id=post_id,
        title=_title(meta.get("title"), html),
        published=published,
        category_name=_category_name(tag_media, footer_media, tags, slug),
        category_slug=slug,
        tags=tags,
        html=html,
        summary=summarize(html),
        source=source,
        url=chrome.url,
        origin=origin,
    )


# --- front matter ------------------------------------------------------------------

_FRONT_MATTER_RE = re.compile(r"---[ \t]*\n(?:(.*?)\n)?---[ \t]*(?:\n|\Z)", re.DOTALL)


def _normalize_newlines(text: str) -> str:
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _split_front_matter(text: str) -> tuple[str, str]:
    text = text.lstrip()
    if not text.startswith("---"):
        raise _Problem("no front matter: the file does not start with ---", "front matter")
    match = _FRONT_MATTER_RE.match(text)
    if match is None:
        raise _Problem("front matter is not closed: no line --- after it", "front matter")
    return match.group(1) or "", text[match.end():]


def _load_front_matter(front: str) -> dict[str, Any]:
    simple = _simple_front_matter(front)
    if simple is not None:
        return simple
    try:
        meta = yaml.load(front, Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())
        raise _Problem(f"front matter is not valid YAML: {reason}", "front matter") from None
    except UnicodeEncodeError as error:  # a lone surrogate: text given as str, not from a file
        raise _Problem(f"front matter holds a lone surrogate at character {error.start}",
                       "front matter") from None
    if meta is None or meta == "":
        return {}
    if not isinstance(meta, dict):
        raise _Problem("front matter is not a set of key: value lines", "front matter")
    return meta


# PyYAML builds every value in Python even with the C parser, about 30 us a post: more
# than the rest of the front matter work together. The scraper wrote flat `key: value`
# lines, so a front matter made only of lines this pattern reads without doubt (a plain
# value without "#", ": " or a leading indicator, or a quoted value without escapes) is
# read directly; anything else goes to yaml.load. Both give the same strings, which a
# test checks on every sample file.
_SIMPLE_LINE_RE = re.compile(
    r"([A-Za-z_][A-Za-z0-9_-]*):"
    r"(?:[ ]+(?:\"([^\"\\]*)\"|'([^']*)'|([^-?:,\[\]{}#&*!|>'\"%@`\s](?:[^#:\t]|:(?=\S))*+)))?"
    r"[ ]*"
)
# Characters YAML refuses: such a front matter goes to yaml.load for its error message.
_YAML_UNPRINTABLE_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]"
)


def _simple_front_matter(front: str) -> dict[str, Any] | None:
    if _YAML_UNPRINTABLE_RE.search(front):
        return None
    meta: dict[str, Any] = {}
    for line in front.split("\n"):
        match = _SIMPLE_LINE_RE.fullmatch(line)
        if match is None:
            if line.strip():
                return None
            continue
        key, double, single, plain = match.groups()
        value = double if double is not None else single if single is not None else plain
        meta[key] = (value or "").rstrip(" ") if value is plain else value
    return meta


# --- file name and dates -----------------------------------------------------------

_FILE_NAME_RE = re.compile(r"(?:(\d{4})-(\d{1,2})-(\d{1,2})-|-)?(.*)")
_DATE_RE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_OFFSET_ONLY_RE = re.compile(r"(Z|UTC|GMT|[+-]\d{2}:?\d{2})?", re.IGNORECASE)


class _FileName:
    """What a Jekyll file name ``YYYY-MM-DD-<slug>.<ext>`` says."""

    __slots__ = ("date_text", "is_html", "slug")

    def __init__(self, date_text: str | None, slug: str, is_html: bool) -> None:
        self.date_text = date_text
        self.slug = slug
        self.is_html = is_html

    @classmethod
    def parse(cls, filename: str) -> _FileName:
        stem, dot, extension = filename.rpartition(".")
        if not dot:
            stem, extension = filename, ""
        match = _FILE_NAME_RE.fullmatch(stem)
        assert match is not None  # the pattern accepts any text
        year, month, day, slug = match.groups()
        date_text = f"{year}-{month}-{day}" if year else None
        return cls(date_text, slug, f".{extension.lower()}" in _HTML_EXTENSIONS)

    def day(self) -> date | None:
        if self.date_text is None:
            return None
        try:
            return date(*map(int, self.date_text.split("-")))
        except ValueError:
            return None


@lru_cache(maxsize=64)
def _offset(text: str) -> timezone:
    if text.upper() in ("Z", "UTC", "GMT"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:  # timezone() would raise ValueError and stop the import
        raise _Problem(f"date offset {text!r} is not a UTC offset such as +0800", "date")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _published(value: Any, name: _FileName, tz: ZoneInfo) -> datetime:
    if value is not None and not isinstance(value, str):
        raise _Problem("date is not a single value such as 2022-02-25 10:23:24 +0800", "date")
    text = (value or "").strip()
    offset_only = _OFFSET_ONLY_RE.fullmatch(text)
    if offset_only is None:
        return _parse_date(text, tz)
    day = name.day()
    if day is None:
        raise _Problem(_no_date_reason(value, name), "date")
    zone = _offset(offset_only.group(1)) if offset_only.group(1) else tz
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _no_date_reason(value: Any, name: _FileName) -> str:
    front = "the front matter has no date" if value is None else "the front matter date is blank"
    if name.date_text is None:
        return f"no date: {front} and the file name has no YYYY-MM-DD prefix"
    return f"no date: {front} and the file name date {name.date_text} is not a real day"


def _parse_date(text: str, tz: ZoneInfo) -> datetime:
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise _Problem(f"date {text!r} is not in the form 2022-02-25 10:23:24 +0800", "date")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    zone = _offset(offset) if offset else tz
    try:
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0),
            int(second or 0), int((fraction or "0").ljust(6, "0")), tzinfo=zone,
        )
    except ValueError as error:
        raise _Problem(f"date {text!r} is not a real date: {error}", "date") from None


# --- site chrome at the end of the body --------------------------------------------

# Old category slugs hold spaces and parentheses, and the back-links kept them as they were.
_URL_TEXT = r"(?:[^()\n]|\([^()\n]*\))*+"
_OLD_SITE = rf"(?:https?:)?//finews\.(?:withounder\.com|zning\.me|zning\.xyz)(?:/{_URL_TEXT})?"
_RELATIVE = rf"(?![a-z][a-z0-9+.-]*:|//){_URL_TEXT}"
_BACK_LINK = rf"\[返回[^\]\n]*\]\((?:{_OLD_SITE}|{_RELATIVE})\)"
# Possessive: the spaces around a separator can be split only one way, so a long run of
# them is read once (a greedy run here backtracked quadratically).
_BACK_LINK_LINE_RE = re.compile(rf"\s*+{_BACK_LINK}(?:\s*+[｜|]?\s*+{_BACK_LINK})*+\s*+",
                                re.IGNORECASE)
_AUTOLINK_LINE_RE = re.compile(r"\s*<((?:https?:)?//[^<>\s\x00-\x1f]*)?>\s*", re.IGNORECASE)
_SHARE_CODE_RE = re.compile(r"NewsShare\.html\?infoCode=((?:NW)?\d{18})\b")


class _Chrome:
    __slots__ = ("share_code", "url")

    def __init__(self) -> None:
        self.url: str | None = None
        self.share_code: str | None = None

    def take_link(self, link: str) -> None:
        share = _SHARE_CODE_RE.search(link)
        if share is not None:
            self.share_code = self.share_code or share.group(1)
        elif "NewsShare.html" not in link and link.startswith("http"):
            self.url = self.url or link


def _strip_chrome(body: str) -> tuple[str, _Chrome]:
    """Cut blank, back-link and bare autolink lines off the end of the body."""
    chrome = _Chrome()
    lines = body.split("\n")
    end = len(lines)
    while end:
        line = lines[end - 1]
        autolink = _AUTOLINK_LINE_RE.fullmatch(line)
        if autolink is not None:
            chrome.take_link(autolink.group(1) or "")
        elif line.strip() and _BACK_LINK_LINE_RE.fullmatch(line) is None:
            break
        end -= 1
    return "\n".join(lines[:end]), chrome


def _post_id(slug: str, share_code: str | None, raw_body: str, filename: str) -> str:
    if INFOCODE_RE.fullmatch(slug):
        return slug
    share = share_code or _first_share_code(raw_body)
    if share:
        return share
    if not slug.strip():
        raise _Problem(f"no id: the file name {filename!r} has no name after its date", "id")
    return slug


def _first_share_code(body: str) -> str | None:
    match = _SHARE_CODE_RE.search(body) if "NewsShare" in body else None
    return match.group(1) if match else None


# --- rendering ---------------------------------------------------------------------

# markdown-it walks its whole input character by character in Python, and a scraped
# body is mostly one long line of HTML: rendering it costs 0.1-0.3 ms. CommonMark passes
# a block that opens with one of these tags through untouched up to the next blank line
# (and a comment block up to the line holding -->), so trailing blocks of that kind are
# copied as they are and only the Markdown before them (the `> ` digest) is rendered.
# A test checks the result equals markdown-it's on every sample file.
_HTML_BLOCK_START_RE = re.compile(
    r" ?</?(?:p|div|center|table|blockquote|ul|ol|h[1-6]|figure|section|article|hr)"
    r"(?:[ \t/>]|$)",
    re.IGNORECASE,
)
_COMMENT_START_RE = re.compile(r" ?<!--")
_BLANK_LINES_RE = re.compile(r"\n(?:[ \t]*\n)+")
#: Markdown that could run on past a blank line into the HTML after it: fenced code
#: and raw HTML blocks (lists cannot: the HTML blocks above are indented at most once).
_OPEN_ENDED = ("<", "```", "~~~")


def _render_markdown(body: str) -> str:
    """Render Markdown mixed with raw HTML."""
    chunks = _BLANK_LINES_RE.split(body)
    first_html = len(chunks)
    while first_html and _is_one_html_block(chunks[first_html - 1]):
        first_html -= 1
    if first_html == len(chunks):
        return _MARKDOWN.render(body)
    head = "\n\n".join(chunks[:first_html])
    html = "\n".join(chunks[first_html:])
    if not head.strip():
        return html
    if any(marker in head for marker in _OPEN_ENDED):
        return _MARKDOWN.render(body)
    return _MARKDOWN.render(head) + html


def _is_one_html_block(chunk: str) -> bool:
    first, _, rest = chunk.partition("\n")
    if _HTML_BLOCK_START_RE.match(first):
        return True
    comment = _COMMENT_START_RE.match(first)
    return (
        comment is not None
        and first.find("-->", comment.end()) != -1
        and (not rest or _HTML_BLOCK_START_RE.match(rest) is not None)
    )


# --- metadata ----------------------------------------------------------------------


def _strings(meta: dict[str, Any], *keys: str) -> list[str]:
    """Return the front matter value of the first key present as a list of strings."""
    for key in keys:
        if key not in meta:
            continue
        value = meta[key]
        items = value if isinstance(value, list) else [value]
        if not all(item is None or isinstance(item, str) for item in items):
            raise _Problem(f"{key} must be a name or a list of names", key)
        return [item.strip() for item in items if item and item.strip()]
    return []


def _tags(meta: dict[str, Any]) -> tuple[str, ...]:
    tags = (xml_safe(tag) for tag in _strings(meta, "tags", "tag"))
    return tuple(dict.fromkeys(tag for tag in tags if tag))


def _category_slug(meta: dict[str, Any]) -> str | None:
    categories = _strings(meta, "categories", "category")
    if not categories:
        return None
    try:
        return normalize_slug(categories[0])
    except ValueError as error:
        raise _Problem(str(error), "categories") from None


def _category_name(
    tag_media: str | None, footer_media: str | None, tags: tuple[str, ...], slug: str | None
) -> str:
    name = tag_media or footer_media or (tags[0] if tags else None) or slug
    if not name:
        raise _Problem(
            "no category: the front matter has no categories or tags "
            "and the body has no （文章来源：…） footer",
            "categories",
        )
    return name


def _title(value: Any, html: str) -> str:
    if value is not None and not isinstance(value, str):
        raise _Problem("title must be text", "title")
    title = xml_safe(html_to_text(value or ""))
    if not title:
        title = derive_title(html)
    if not title:
        raise _Problem("no title: the front matter title is blank and the body has no text",
                       "title")
    return title
