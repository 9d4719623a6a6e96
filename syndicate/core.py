"""The Syndicate facade: composes ingest, store and render. No Flask here."""

from __future__ import annotations

import logging
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from . import urls
from .discovery import Discovery
from .errors import (
    CategoryNotFound,
    InvalidInput,
    InvalidPost,
    PostGone,
    PostNotFound,
    StorageConflict,
)
from .feedview import FeedView
from .ingest.admit import MAX_SLUG, DateWindow, admit
from .ingest.jekyll import iter_post_files, name_key
from .ingest.parallel import default_workers, parse_units
from .listings import Listings
from .model import (
    Category,
    CategoryInfo,
    FeedFormat,
    Outcome,
    Post,
    PostInput,
    PostLink,
    StoreResult,
    article_key,
)
from .settings import Settings
from .sharelinks import ShareLinks
from .showable import slug_problem
from .sources import Source, load_sources
from .store import Store
from .store.categories import Renamed
from .store.sources import SourceState
from .text import normalize_slug, slugify_name, xml_safe
from .websub import WebSub

log = logging.getLogger(__name__)

#: Posts saved per transaction during an import.
BATCH = 1000
#: Tries of one batch that lost a race to another process (a unique key taken meanwhile).
SAVE_ATTEMPTS = 3
#: The longest category name an operator may set (characters).
MAX_CATEGORY_NAME = 100
#: Imports of fewer files parse them in this process: starting workers costs more.
PARALLEL_MIN = 2000
#: Refresh the database's planner statistics once an import or prune has written this many
#: rows, and again each time that count doubles (bulk writes skew them the most).
ANALYZE_MIN = 1000


@dataclass
class ImportReport:
    """What an import did: counts per outcome and each failed file with its reason."""

    counts: dict[Outcome, int] = field(default_factory=lambda: {o: 0 for o in Outcome})
    failures: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0

    def add(self, result: StoreResult) -> None:
        self.counts[result.outcome] += 1
        self.counts[Outcome.MERGED] += len(result.merged)

    def fail(self, origin: str, message: str) -> None:
        self.counts[Outcome.FAILED] += 1
        self.failures.append((origin, message))

    @property
    def changed(self) -> bool:
        return bool(self.counts[Outcome.NEW] or self.counts[Outcome.UPDATED])

    @property
    def written(self) -> int:
        """Files whose post was inserted or rewritten."""
        c = self.counts
        return c[Outcome.NEW] + c[Outcome.UPDATED] + c[Outcome.MERGED]

    def summary(self) -> str:
        c = self.counts
        return (f"{c[Outcome.NEW]} new, {c[Outcome.UPDATED]} updated, "
                f"{c[Outcome.UNCHANGED]} unchanged, {c[Outcome.MERGED]} merged, "
                f"{c[Outcome.FAILED]} failed")


@dataclass
class ImportPlan:
    """What a first pass over the paths found, reading names only: the paths that exist,
    how many post files they hold, and the (hashed) article keys that several file names
    share, whose files are stored together at the end."""

    paths: list[Path]
    total: int
    shared: set[int]


@dataclass(frozen=True)
class FeedRequest:
    """Which feed: the whole site, a category or a tag, in one format."""

    kind: str  # "site" | "category" | "tag"
    key: str
    fmt: FeedFormat


class Syndicate:
    """The service core: import, look up and render, over one Store."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.tz = settings.tz
        self.window = DateWindow(settings.future_lead)
        self.store = store or Store(settings.database_url)
        self.feeds = FeedView(self)
        self.discovery = Discovery(self)
        self.listings = Listings(self.store, salt=self.feeds.salt, page_size=settings.page_size,
                                 max_age=settings.feed_max_age, tz=settings.tz)
        self.websub = WebSub(self.store, settings.websub_hubs, self.feed_urls)
        self.shares = ShareLinks(self)

    def close(self, wait: float = 10.0) -> None:
        """Write share counts, deliver queued WebSub pings (at most ``wait`` seconds), then
        release the database."""
        self.shares.counter.stop()
        if self.websub.enabled:
            self.websub.stop()
            self.websub.flush(wait)
        self.store.dispose()

    # -- setup -----------------------------------------------------------------------

    def init(self) -> str:
        """Create or upgrade the database; return the schema revision."""
        return self.store.upgrade()

    # -- ingest ----------------------------------------------------------------------

    def import_paths(
        self, paths: Iterable[Path], progress: Callable[[Path], None] | None = None, *,
        batch: int = BATCH, workers: int | None = None,
    ) -> ImportReport:
        """Import Jekyll post files and folders; bad files are reported, good ones kept."""
        report = ImportReport()
        plan = self.plan_import(paths, report)
        return self.run_import(plan, report, progress, batch=batch, workers=workers)

    def plan_import(self, paths: Iterable[Path], report: ImportReport) -> ImportPlan:
        """Walk ``paths`` once by name; missing paths are recorded as failures."""
        found: list[Path] = []
        # 8 bytes a file: a million files cost 8 MB here, not a list of paths.
        hashes = array("q")
        total = 0
        for path in paths:
            try:
                for file in iter_post_files([path], ordered=False):
                    total += 1
                    key = name_key(file)
                    if key is not None:
                        hashes.append(hash(key))
            except InvalidPost as error:
                report.fail(error.origin or str(path), str(error.args[0]))
                continue
            found.append(path)
        return ImportPlan(found, total, _repeated(hashes))

    def run_import(
        self, plan: ImportPlan, report: ImportReport,
        progress: Callable[[Path], None] | None = None, *,
        batch: int = BATCH, workers: int | None = None,
    ) -> ImportReport:
        """Parse the planned files (in ``workers`` processes) and store them ``batch`` posts
        per transaction as they come, so memory stays flat and a crash keeps what was
        committed; running the import again finishes the rest."""
        if workers is None:
            workers = default_workers() if plan.total >= PARALLEL_MIN else 1
        run = datetime.now(UTC)
        analyzed = ANALYZE_MIN // 2
        pending: list[PostInput] = []
        for unit, results in parse_units(self._units(plan, report), self.tz, workers):
            for path, parsed in zip(unit, results, strict=True):
                report.files += 1
                if isinstance(parsed, PostInput):
                    pending.append(parsed)
                else:
                    report.fail(*parsed)
                if progress:
                    progress(path)
            if len(pending) >= batch:  # only between units: an article's files stay together
                self._store(pending, report, run)
                pending = []
                if report.written >= 2 * analyzed:
                    analyzed = report.written
                    self.store.analyze()
        self._store(pending, report, run)
        if report.written >= ANALYZE_MIN and report.written != analyzed:
            self.store.analyze()
        return report

    def _units(self, plan: ImportPlan, report: ImportReport) -> Iterator[list[Path]]:
        """Each file alone, in walk order; then the files of each shared name key together
        (first file first), so that they merge exactly as in one batch."""
        held: dict[int, list[Path]] = {}
        for path in self._files(plan.paths, report):
            key = name_key(path) if plan.shared else None
            if key is not None and hash(key) in plan.shared:
                held.setdefault(hash(key), []).append(path)
            else:
                yield [path]
        yield from held.values()

    def _store(self, items: list[PostInput], report: ImportReport, run: datetime) -> None:
        for result in self.save(items, run=run):
            if result.outcome is Outcome.FAILED and result.error:
                report.fail(result.origin or result.post_id, result.error)
            else:
                report.add(result)

    @staticmethod
    def _files(paths: Iterable[Path], report: ImportReport) -> Iterable[Path]:
        for path in paths:
            try:
                yield from iter_post_files([path])
            except InvalidPost as error:
                report.fail(error.origin or str(path), str(error.args[0]))

    def admit(self, item: PostInput) -> PostInput:
        """Check a post from outside (date window, URL, tags); InvalidPost names the field."""
        return admit(item, self.window)

    def save(self, items: Sequence[PostInput], *, run: datetime | None = None) -> list[StoreResult]:
        """Store posts; inputs naming one article are saved together, so the last one wins.

        Every input passes ``admit`` first: one that fails gets a FAILED result with the
        reason, and the others are stored. ``run`` (an import's start) makes articles stored
        earlier in that run merge as if they were in this call.
        """
        admitted, results = self._admitted(items)
        groups: dict[str, list[PostInput]] = {}
        for item in self._resolve_categories(admitted):
            groups.setdefault(article_key(item.id), []).append(item)
        batch: list[PostInput] = []
        for group in groups.values():
            batch.extend(group)
            if len(batch) >= BATCH:
                results.extend(self._save_batch(batch, run))
                batch = []
        if batch:
            results.extend(self._save_batch(batch, run))
        self._announce(key for result in results for key in result.feeds)
        return results

    def _save_batch(self, batch: list[PostInput], run: datetime | None) -> list[StoreResult]:
        """Save one batch (one transaction); when another process inserted the same article
        or category first, try again: the retry finds that row and updates it."""
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                return self.store.save_posts(batch, run=run)
            except StorageConflict:
                if attempt == SAVE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _admitted(self, items: Sequence[PostInput]) -> tuple[list[PostInput], list[StoreResult]]:
        admitted, refused = [], []
        for item in items:
            try:
                admitted.append(self.admit(item))
            except InvalidPost as error:
                refused.append(StoreResult(Outcome.FAILED, item.id, item.origin,
                                           error=str(error.args[0])))
        return admitted, refused

    def _announce(self, keys: Iterable[str]) -> None:
        """After a commit that changed these feeds: ping the WebSub hubs (queued, not awaited).

        Nothing is invalidated by hand: feed versions live in the database, so every worker
        sees the new version on its next request and renders it once.
        """
        self.websub.publish(keys)

    def _resolve_categories(self, items: Sequence[PostInput]) -> list[PostInput]:
        """Give every post a category slug: its own, or the existing one of its media name."""
        if all(item.category_slug for item in items):
            return list(items)
        by_name = self.store.category_names()
        taken = set(by_name.values())
        resolved = []
        for item in items:
            if not item.category_slug:
                slug = by_name.get(item.category_name)
                if slug is None:
                    # Bounded: the pinyin of a long name outgrows the slug column.
                    derived = slugify_name(item.category_name)[:MAX_SLUG].strip("-")
                    slug = _free_slug(derived or "news", taken)
                    by_name[item.category_name] = slug
                    taken.add(slug)
                item = replace(item, category_slug=slug)
            resolved.append(item)
        return resolved

    # -- lookups ---------------------------------------------------------------------

    def post(self, post_id: str) -> Post:
        post = self.store.get_post(post_id)
        if post is None:
            self.check_gone(post_id=post_id)
            raise PostNotFound(f"no post with id {post_id!r}")
        return post

    def post_by_code(self, code: str) -> Post:
        """The post a short code names (as pasted or typed); 404, or 410 once deleted."""
        return self.post(self.shares.by_code(code).post_id)

    def check_gone(self, *, post_id: str) -> None:
        """Raise PostGone (410) if the post with this id was deleted."""
        if self.store.tombstone(post_id) is not None:
            raise PostGone(f"这篇文章已删除：{post_id}")

    def category(self, slug: str) -> Category:
        category = self.store.category(slug)
        if category is None:
            raise CategoryNotFound(f"no category {slug!r}")
        return category

    def category_infos(self) -> list[CategoryInfo]:
        """Every category with its names and post count, for operators."""
        return self.store.category_infos()

    def rename_category(self, slug: str, name: str | None) -> Renamed:
        """Show ``name`` for a category from now on (None: the name its posts give it
        again); the feeds showing it get a new version and their WebSub pings."""
        clean = None if name is None else _clean_name(name)
        if clean is not None and not clean:
            raise InvalidInput("name: a category name cannot be blank")
        if clean is not None and len(clean) > MAX_CATEGORY_NAME:
            raise InvalidInput(f"name: at most {MAX_CATEGORY_NAME} characters, not {len(clean)}")
        renamed = self.store.rename_category(slug, clean, datetime.now(UTC))
        if renamed is None:
            raise CategoryNotFound(f"no category {slug!r} (see `syndicate categories`)")
        self._announce(renamed.feeds)
        return renamed

    def canonical_slug(self, slug: str) -> str | None:
        """Return the slug a legacy category slug now lives at, or None if there is none."""
        try:
            normal = normalize_slug(slug)
        except ValueError:
            return None
        if normal != slug and self.store.category(normal) is not None:
            return normal
        return None

    # -- retention and sources -------------------------------------------------------

    def prune(self, older_than: timedelta, now: datetime | None = None) -> int:
        """Delete posts published more than ``older_than`` ago; their links then answer 410."""
        now = now or datetime.now(UTC)
        result = self.store.prune_posts(now - older_than, now)
        # The store bumped the feeds' versions batch by batch: only the hubs are left.
        self._announce(sorted(result.feed_keys))
        if result.deleted >= ANALYZE_MIN:
            self.store.analyze()
        return result.deleted

    def feeds_changed(self, keys: Iterable[str], when: datetime) -> None:
        """Tell the feed version tracking that these feeds' entries changed (not by a save)."""
        touch = getattr(self.store, "touch_feeds", None)
        keys = sorted(keys)
        if touch is not None:
            touch(keys, when)
        self._announce(keys)

    def sources(self) -> list[Source]:
        """The upstream sources configured in the sources file."""
        return load_sources(self.settings.sources)

    def source_status(self) -> list[tuple[Source, SourceState | None]]:
        """Each configured source with what the database knows of its polls."""
        sources = self.sources()
        states = {s.name: s for s in self.store.source_states([s.name for s in sources])}
        return [(source, states.get(source.name)) for source in sources]

    # -- URLs ------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return urls.absolute(self.settings.base_url, path)

    def post_path(self, post: Post) -> str:
        try:
            return urls.post_path(post, self.tz)
        except (OverflowError, ValueError):
            # A date stored before ingest checked dates: the post has no page to link to.
            raise PostNotFound(f"这篇文章无法显示：{post.id}") from None

    def post_url(self, post: Post) -> str:
        return self.url(self.post_path(post))

    def share_url(self, post: Post) -> str:
        return self.url(urls.share_path(post.share_code))

    def post_links(self, *, deleted: bool = False) -> Iterator[PostLink]:
        """Every post's id, canonical path and share code (or every deleted post's), in id
        order, read from the store in batches."""
        rows = self.store.gone_link_rows() if deleted else self.store.post_link_rows()
        for post_id, slug, published, code in rows:
            try:
                reason = slug_problem(slug)
                path = urls.permalink(slug, published, post_id, self.tz)
            except (OverflowError, ValueError, TypeError, AttributeError) as error:
                reason = f"no permalink: {error}"
            if reason:
                # A row stored before ingest checked dates and slugs must not stop an export.
                log.warning("skipped stored post %r: %s", post_id, reason)
                continue
            yield PostLink(post_id, path, code)

    # -- feeds -----------------------------------------------------------------------

    def feed_title(self, request: FeedRequest) -> tuple[str, str]:
        """Return the feed's title and the path of its HTML page."""
        site = self.settings.site_title
        if request.kind == "category":
            return f"{self.category(request.key).name} - {site}", urls.category_path(request.key)
        if request.kind == "tag":
            return f"{request.key} - {site}", urls.tag_path(request.key)
        return site, "/"

    def feed_urls(self, key: str) -> list[str]:
        """The absolute URLs of a feed (by key: ``site``, ``category/x``, ``tag/x``), every format."""
        kind, _, name = key.partition("/")
        return [self.url(urls.feed_path(kind, name, fmt)) for fmt in FeedFormat]


def _clean_name(name: str) -> str:
    """A name as one line of text: whitespace runs become one space, control characters
    (C0 and C1) and what XML cannot carry are dropped."""
    spaced = " ".join(name.split())
    return xml_safe("".join(c for c in spaced if unicodedata.category(c) != "Cc")).strip()


def _repeated(hashes: array[int]) -> set[int]:
    """The values that occur more than once, sorting a sixteenth of them at a time (a
    sorted list of Python ints costs 40 bytes a value: 40 MB for a million files)."""
    repeated: set[int] = set()
    for bucket in range(16):
        part = sorted(h for h in hashes if h & 15 == bucket)
        repeated.update(a for a, b in pairwise(part) if a == b)
    return repeated


def _free_slug(slug: str, taken: set[str]) -> str:
    """Return ``slug``, or ``slug-2``, ``slug-3``… if another media name already has it."""
    candidate, n = slug, 1
    while candidate in taken:
        n += 1
        candidate = f"{slug}-{n}"
    return candidate
