"""Static export: the whole site as files for a static host or CDN (``syndicate export DIR``).

Nothing is rendered twice over: every page, feed and discovery document is fetched from the
real app through ``app.test_client()`` and written byte for byte (identity encoding) at the
path of its URL, so links keep working on any static host. The app must be created with
``STATIC_EXPORT`` set, which makes listing pagers link to ``category/<slug>/page/<n>.html``
files instead of the ``?page=N`` URLs a static host cannot serve.

What a static host cannot compute is written as redirect maps: ``_redirects`` (Netlify,
Cloudflare Pages) and two nginx includes (see README, "Static export"). Lists of posts come
from the store in batches, so memory stays bounded however large the site is.

An unexpected answer from the app is an ExportError naming the URL; nothing is skipped
silently. Exporting the same data twice gives the same bytes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote, unquote

from flask import Flask, render_template
from werkzeug.security import safe_join

from .. import urls
from ..core import FeedRequest, Syndicate
from ..discovery import (
    NEWS_SITEMAP_PATH,
    SITEMAP_PATH,
    Discovery,
    urls_sitemap_pages,
    urls_sitemap_posts,
)
from ..errors import ExportError
from ..model import INFOCODE_RE, FeedFormat, PostLink
from ..showable import slug_problem
from .errors import TITLES

#: Lists what the last export wrote, so that a new export into the same folder removes
#: files it no longer writes (a pruned post's page must not stay online with 200).
MANIFEST = ".syndicate-export"
#: The old site's share link; the post id is in ``?infoCode=``.
LEGACY_PATH = "/html_News/NewsShare.html"
NOT_FOUND_PAGE = "/404.html"
#: A URL no route matches (one segment would match the old category index ``/<slug>/``).
UNKNOWN_URL = "/syndicate-export/not-found"
GONE_PAGE = "/410.html"
KINDS = ("home page", "listing pages", "posts", "QR codes", "feeds", "archive documents",
         "discovery documents", "error pages", "redirect maps")


@dataclass
class ExportReport:
    """What an export wrote: files and bytes per kind, redirect rules per kind, what it removed."""

    out_dir: Path
    files: Counter[str] = field(default_factory=Counter)
    sizes: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    removed: int = 0
    #: (URL, reason) of what the live site itself cannot serve, so the export cannot either.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: (path, reason) of documents not written because their file would land outside the
    #: folder their URL names (a ``..`` segment, a backslash, a control character).
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.files.values())

    def summary(self) -> str:
        lines = [f"Exported {self.total} files ({self.bytes:,} bytes) to {self.out_dir}:",
                 *self.table()]
        if self.rules:
            lines.append("Redirect rules: " + ", ".join(
                f"{count} {kind}" for kind, count in self.rules.items()) + ".")
        if self.removed:
            lines.append(f"Removed {self.removed} files an earlier export wrote that are gone now.")
        lines += [f"Skipped {url}: {reason}" for url, reason in self.skipped]
        lines += [f"Refused {path}: {reason}" for path, reason in self.refused]
        return "\n".join(lines)

    def table(self) -> list[str]:
        """Files and bytes per kind written, then the total, as aligned rows."""
        kinds = [kind for kind in (*KINDS, *sorted(set(self.files) - set(KINDS)))
                 if self.files[kind]]
        rows = [("kind", "files", "bytes")]
        rows += [(kind, f"{self.files[kind]:,}", f"{self.sizes[kind]:,}") for kind in kinds]
        rows.append(("total", f"{self.total:,}", f"{self.bytes:,}"))
        return [f"  {kind:<20} {files:>8} {size:>14}" for kind, files, size in rows]


def export_site(app: Flask, out_dir: Path) -> ExportReport:
    """Write the site served by ``app`` (created with STATIC_EXPORT) as static files."""
    if not app.config.get("STATIC_EXPORT"):
        raise ExportError("the app was not created for a static export: create it with "
                          "STATIC_EXPORT=True so that pagers link to files, not to ?page=N")
    out_dir = _prepare(out_dir)
    exporter = _Exporter(app, out_dir)
    exporter.run()
    return exporter.report


def _prepare(out_dir: Path) -> Path:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"cannot export to {out_dir}: it is a file, not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot create the export directory {out_dir}: {error.strerror}") from error
    return out_dir.resolve()


class _Exporter:
    """One export run: fetches documents from the app and writes them under ``out_dir``."""

    def __init__(self, app: Flask, out_dir: Path) -> None:
        self.app = app
        self.client = app.test_client()
        self.core: Syndicate = app.extensions["syndicate"]
        self.out_dir = out_dir
        self.report = ExportReport(out_dir)
        self.written: set[str] = set()

    def run(self) -> None:
        previous = self._read_manifest()
        store = self.core.store
        categories = [c.slug for c in store.category_index() if self._slug_routable(c.slug)]
        tags = [tag for tag in store.tags() if self._routable(tag)]
        self.save("/", "home page")
        self.save("/categories.html", "category index")
        self.listings(categories, tags)
        for link in self.core.post_links():
            self.save(link.path, "posts")
            self.save(urls.share_qr_path(link.share_code), "QR codes")
        self.feeds([("site", "")] + [("category", slug) for slug in categories]
                   + [("tag", tag) for tag in tags])
        self.discovery()
        self.error_pages()
        RedirectMaps(self.core, categories, self.report).write(self.create)
        self._remove_stale(previous)
        self._write_manifest()

    # -- what to export --------------------------------------------------------------

    def _routable(self, tag: str) -> bool:
        """A tag with '/' has no page or feed on the live site (the URL map splits it)."""
        if "/" not in tag:
            return True
        self.report.skipped.append((urls.tag_path(tag), "a tag containing '/' has no page or "
                                    "feeds on the live site either"))
        return False

    def _slug_routable(self, slug: str) -> bool:
        """A category slug stored before slugs were checked may not fit in a URL."""
        reason = slug_problem(slug)
        if reason:
            self.report.skipped.append((urls.category_path(slug), reason))
        return reason is None

    def listings(self, categories: list[str], tags: list[str]) -> None:
        """Every page of every category and tag listing."""
        store, size = self.core.store, self.core.settings.page_size
        bases = ([(urls.category_path(slug), store.count_in(category=slug)) for slug in categories]
                 + [(urls.tag_path(tag), store.count_in(tag=tag)) for tag in tags])
        for base, total in bases:
            self.save(base, "listing pages")
            for page in range(2, max(1, -(-total // size)) + 1):
                self.save(f"{base}?page={page}", "listing pages", urls.static_page_path(base, page))

    def feeds(self, feeds: list[tuple[str, str]]) -> None:
        """Each feed in every format, and every RFC 5005 archive document it serves."""
        archive_size = self.core.settings.archive_size
        for kind, key in feeds:
            for fmt in FeedFormat:
                self.save(urls.feed_path(kind, key, fmt), "feeds")
            state = self.core.feeds.state(FeedRequest(kind, key, FeedFormat.ATOM))
            # Full pages, then the one filling up (served too, linked from the last full one).
            for page in range(1, state.last_seq // archive_size + 2):
                for fmt in FeedFormat:
                    self.save(urls.archive_path(kind, key, page, fmt), "archive documents")

    def discovery(self) -> None:
        parts = Discovery(self.core).post_parts()
        for path in ("/opml.xml", SITEMAP_PATH, urls_sitemap_pages(),
                     *(urls_sitemap_posts(n) for n in range(1, parts + 1)),
                     NEWS_SITEMAP_PATH, "/robots.txt"):
            self.save(path, "discovery documents")

    def error_pages(self) -> None:
        """404.html as the app answers an unknown URL; 410.html for the redirect maps."""
        self.save(UNKNOWN_URL, "error pages", NOT_FOUND_PAGE, expect=404)
        with self.app.test_request_context(GONE_PAGE):
            page = render_template("error.html", status=410, title=TITLES[410], message="")
        self.write(GONE_PAGE, page.encode("utf-8"), "error pages")

    # -- fetching and writing --------------------------------------------------------

    def save(self, url: str, kind: str, path: str | None = None, expect: int = 200) -> None:
        """Fetch ``url`` from the app and write its bytes at ``path`` (default: the URL's).

        A path whose file would land outside its own folder is refused and reported; the
        export goes on with the next document.
        """
        target = path or url.partition("?")[0]
        reason = _unsafe_path(target)
        if reason:
            self.report.refused.append((target, reason))
            return
        response = self.client.get(url)
        if response.status_code != expect:
            raise ExportError(f"GET {url} answered {response.status}, not {expect}: "
                              "the export stopped there")
        if response.headers.get("Content-Encoding"):
            raise ExportError(f"GET {url} answered in {response.headers['Content-Encoding']} "
                              "encoding, not identity: the export stopped there")
        self.write(target, response.get_data(), kind)

    def write(self, url_path: str, data: bytes, kind: str) -> None:
        with self.create(url_path, kind) as handle:
            handle.write(data)

    def create(self, url_path: str, kind: str) -> _Output:
        """Open the file of a URL path for writing (file names are the unquoted UTF-8 path)."""
        relative = "index.html" if url_path == "/" else unquote(url_path).lstrip("/")
        reason = _unsafe_path(url_path)
        if reason:
            raise ExportError(f"refused to write {url_path}: {reason}")
        if relative in self.written:
            raise ExportError(f"two documents of the site would be written to {relative}")
        target = safe_join(str(self.out_dir), relative)
        if target is None or not relative or relative.endswith("/"):
            raise ExportError(f"{url_path} cannot be written as a file inside {self.out_dir}")
        self.written.add(relative)
        return _Output(Path(target), kind, self.report)

    # -- files from an earlier export ------------------------------------------------

    def _read_manifest(self) -> list[str]:
        path = self.out_dir / MANIFEST
        if not path.is_file():
            return []
        return [line for line in path.read_text("utf-8").splitlines()
                if line and not line.startswith("#")]

    def _remove_stale(self, previous: list[str]) -> None:
        for relative in previous:
            target = safe_join(str(self.out_dir), relative)
            if relative in self.written or target is None or not Path(target).is_file():
                continue
            Path(target).unlink()
            self.report.removed += 1
            _remove_empty_parents(Path(target).parent, self.out_dir)

    def _write_manifest(self) -> None:
        lines = ["# Files written by `syndicate export`; the next export removes those it no "
                 "longer writes.", *sorted(self.written)]
        try:
            (self.out_dir / MANIFEST).write_text("\n".join(lines) + "\n", "utf-8")
        except OSError as error:
            raise ExportError(f"cannot write {self.out_dir / MANIFEST}: {error.strerror}") from error


class _Output:
    """A file being written: counted in the report when it is closed."""

    def __init__(self, path: Path, kind: str, report: ExportReport) -> None:
        self.path, self.kind, self.report = path, kind, report
        self.handle: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = self.path.open("wb")
        except OSError as error:
            raise ExportError(f"cannot write {self.path}: {error.strerror}") from error
        return self.handle

    def __exit__(self, kind: object, *_rest: object) -> None:
        assert self.handle is not None
        if kind is None:
            self.report.bytes += self.handle.tell()
            self.report.sizes[self.kind] += self.handle.tell()
            self.report.files[self.kind] += 1
        self.handle.close()


#: Characters no segment of an exported file's path may hold: a backslash (a separator on
#: Windows hosts and some CDNs) and control characters.
_UNSAFE_SEGMENT_RE = re.compile(r"[\\\x00-\x1f\x7f]")


def _unsafe_path(url_path: str) -> str | None:
    """Say why the file of a URL path would not lie under the folder the URL names."""
    relative = unquote(url_path.partition("?")[0]).lstrip("/")
    if not relative:
        return None
    for segment in relative.split("/"):
        if segment in ("", ".", ".."):
            return f"the path has a {segment or 'blank'!r} segment"
        if _UNSAFE_SEGMENT_RE.search(segment):
            return "the path holds a backslash or a control character"
    return None


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


# -- redirect maps --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One redirect: ``source`` (a path as the site spells it, percent-encoded), optionally
    only with ``?infoCode=<info_code>``, answers ``status`` with ``target`` (410: none)."""

    source: str
    target: str
    status: int
    info_code: str | None = None


class RedirectMaps:
    """The site's redirects as ``_redirects`` and nginx maps, streamed from the store.

    Each section is a fresh pass over the posts (one query per batch), so no list of
    40,000 posts is ever held in memory.
    """

    def __init__(self, core: Syndicate, categories: list[str], report: ExportReport) -> None:
        self.core = core
        self.categories = categories
        self.report = report

    def sections(self) -> list[tuple[str, str, Callable[[], Iterator[Rule]]]]:
        """(name, comment, rules) of each kind of redirect, in the order they are written."""
        return [
            ("short links", "/s/<code>: 302 (a short link may one day point elsewhere)",
             self.short),
            ("legacy share links", "?infoCode=<id>, NW and bare forms: 301", self.legacy),
            ("category indexes", "the old site's /<slug>/: 301", self.category_indexes),
            ("other id forms", "post paths with the other infoCode form: 301",
             self.other_forms),
            ("deleted posts", "pages, short and legacy links of deleted posts: 410 Gone",
             self.gone),
        ]

    def short(self) -> Iterator[Rule]:
        for link in self.core.post_links():
            yield Rule(urls.share_path(link.share_code), link.path, 302)

    def legacy(self) -> Iterator[Rule]:
        for link in self.core.post_links():
            for code in _info_codes(link.id):
                yield Rule(LEGACY_PATH, link.path, 301, code)

    def category_indexes(self) -> Iterator[Rule]:
        for slug in self.categories:
            yield Rule(f"/{quote(slug, safe='')}/", urls.category_path(slug), 301)

    def other_forms(self) -> Iterator[Rule]:
        for link in self.core.post_links():
            for other in _other_paths(link):
                yield Rule(other, link.path, 301)

    def gone(self) -> Iterator[Rule]:
        for link in self.core.post_links(deleted=True):
            for source in (link.path, urls.share_path(link.share_code), *_other_paths(link)):
                yield Rule(source, GONE_PAGE, 410)
            for code in _info_codes(link.id):
                yield Rule(LEGACY_PATH, GONE_PAGE, 410, code)

    # -- writing -----------------------------------------------------------------------

    def write(self, create: Callable[[str, str], _Output]) -> None:
        with create("/_redirects", "redirect maps") as handle:
            self._netlify(handle)
        nginx = NginxMaps(self)
        with create("/nginx-redirects.conf", "redirect maps") as handle:
            nginx.write_http(handle)
        with create("/nginx-redirects-server.conf", "redirect maps") as handle:
            handle.write(NGINX_SERVER.encode("utf-8"))

    def _netlify(self, out: IO[bytes]) -> None:
        out.write(b"# Redirects of the exported site (Netlify / Cloudflare Pages _redirects).\n"
                  b"# Query matching (infoCode=) and 410 are Netlify features; see README.\n")
        for name, comment, rules in self.sections():
            out.write(f"\n# {name}: {comment}\n".encode())
            count = 0
            for rule in rules():
                query = f" infoCode={rule.info_code}" if rule.info_code else ""
                out.write(f"{rule.source}{query} {rule.target} {rule.status}\n".encode())
                count += 1
            self.report.rules[name] = count


# nginx: `map` works only in http {}, `location` and `return` only in server {}: so two
# includes. Map strings match ignoring case; keys that differ only in case (two share codes
# like /s/AbCdEfGh and /s/abcdefgh) become case-sensitive regexes instead.
NGINX_VARIABLES = {302: "$syndicate_302", 301: "$syndicate_301", 410: "$syndicate_410"}
NGINX_LEGACY = {301: "$syndicate_legacy_301", 410: "$syndicate_legacy_410"}
NGINX_SERVER = """\
# Include in the server {} that serves the exported folder (root /path/to/export;), after
# including nginx-redirects.conf in http {}. See README, "Static export".
error_page 404 /404.html;
error_page 410 /410.html;
if ($syndicate_410) { return 410; }
if ($syndicate_302) { return 302 $syndicate_302; }
if ($syndicate_301) { return 301 $syndicate_301; }
location = /html_News/NewsShare.html {
    if ($syndicate_legacy_410) { return 410; }
    if ($syndicate_legacy_301) { return 301 $syndicate_legacy_301; }
    return 404;
}
"""


class NginxMaps:
    """The redirect rules as nginx ``map`` blocks for the http {} context."""

    def __init__(self, maps: RedirectMaps) -> None:
        self.maps = maps

    def write_http(self, out: IO[bytes]) -> None:
        clashes, longest, largest = self._survey()
        # Hash sizes must be set before the maps are read; several keys per bucket, and a
        # table about twice the entries, which nginx sizes in one try.
        element = 8 + (longest + 2 + 7) // 8 * 8
        bucket = max(64, 1 << (8 * element - 1).bit_length())
        out.write(
            b"# Redirect maps of the exported site: include in http {}, and include\n"
            b"# nginx-redirects-server.conf in the server {} that serves the folder.\n"
            + f"map_hash_max_size {max(2048, 2 * largest + 1024)};\n"
              f"map_hash_bucket_size {bucket};\n".encode())
        with tempfile.TemporaryFile() as body:  # maps are grouped by variable, not by section
            for status, variable in NGINX_VARIABLES.items():
                self._map(body, "$uri", variable, status, clashes, legacy=False)
            for status, variable in NGINX_LEGACY.items():
                self._map(body, "$arg_infoCode", variable, status, clashes, legacy=True)
            body.seek(0)
            shutil.copyfileobj(body, out)

    def _rules(self, status: int, legacy: bool) -> Iterator[Rule]:
        for _name, _comment, rules in self.maps.sections():
            for rule in rules():
                if rule.status == status and (rule.info_code is not None) == legacy:
                    yield rule

    def _survey(self) -> tuple[set[bytes], int, int]:
        """Keys that clash ignoring ASCII case (as digests), the longest key, the largest map."""
        seen: set[bytes] = set()
        clashes: set[bytes] = set()
        longest, sizes = 0, Counter[tuple[int, bool]]()
        for _name, _comment, rules in self.maps.sections():
            for rule in rules():
                key = _nginx_key(rule)
                longest = max(longest, len(key.encode()))
                sizes[rule.status, rule.info_code is not None] += 1
                if rule.info_code is None:
                    folded = _folded(key)
                    (clashes if folded in seen else seen).add(folded)
        return clashes, longest, max(sizes.values(), default=0)

    def _map(self, out: IO[bytes], source: str, variable: str, status: int,
             clashes: set[bytes], legacy: bool) -> None:
        default = '""' if status != 410 else "0"
        out.write(f"\nmap {source} {variable} {{\n    default {default};\n".encode())
        if not legacy:
            # Evaluated again after error_page's internal redirect to /410.html (a cached
            # value would answer 410 for the error page itself).
            out.write(b"    volatile;\n")
        for rule in self._rules(status, legacy):
            key = _nginx_key(rule)
            value = "1" if status == 410 else _quoted(rule.target)
            if not legacy and _folded(key) in clashes:
                out.write(f"    {_quoted('~^' + _pcre_escape(key) + '$')} {value};\n".encode())
            else:
                out.write(f"    {_quoted(key)} {value};\n".encode())
        out.write(b"}\n")


def _nginx_key(rule: Rule) -> str:
    """nginx compares ``$uri`` decoded, and ``$arg_infoCode`` as sent."""
    return rule.info_code if rule.info_code is not None else unquote(rule.source)


def _folded(key: str) -> bytes:
    """A stable digest of the key as nginx compares it (ASCII case folded)."""
    return hashlib.blake2b(key.encode().lower(), digest_size=12).digest()


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pcre_escape(text: str) -> str:
    return "".join(c if c.isalnum() or c in "/_-" or ord(c) > 127 else "\\" + c for c in text)


def _info_codes(post_id: str) -> tuple[str, ...]:
    """Both infoCode forms of a post id (NW + digits and the bare digits), or none."""
    match = INFOCODE_RE.fullmatch(post_id)
    return (f"NW{match.group(1)}", match.group(1)) if match else ()


def _other_paths(link: PostLink) -> tuple[str, ...]:
    """The post's path with its id in the other infoCode form (the live site 301s it)."""
    folder = link.path.rpartition("/")[0]
    return tuple(f"{folder}/{code}.html" for code in _info_codes(link.id) if code != link.id)
