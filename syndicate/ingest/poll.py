"""Poll upstream sources politely and store what changed.

``HttpClient`` is the polite HTTP client: one requests session per thread, conditional GET
with the stored ETag and Last-Modified, connect and read timeouts plus a deadline for the
whole answer, a size cap enforced while streaming, a User-Agent naming the service and its
site, at most a few requests at once per host, and redirects followed hop by hop: http(s)
only, never https to http, every hop's addresses checked (``transport``), permanent ones
reported so the stored URL moves once several polls in a row agree. ``Poller`` claims due
sources in the database (so several workers never fetch one source at once), fetches,
converts items by the import's rules and saves them through the core; detail requests are
made only for new or changed items.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import requests
from werkzeug.http import parse_cache_control_header, parse_date, parse_options_header

from .. import __version__
from ..errors import InvalidPost, StorageError, UpstreamError
from ..model import Outcome, PostInput, StoreResult, article_key
from ..redact import redact
from ..sources import Source, SourceKind
from ..store.sources import PollRecord, SourceState
from .feed import read_feed
from .jsonapi import detail_url, read_detail, read_list
from .post import Item, Page, build_post
from .transport import Deadline, Guard, GuardedAdapter, NetworkPolicy

if TYPE_CHECKING:
    from ..core import Syndicate

log = logging.getLogger(__name__)

#: Longest wait a Cache-Control max-age or Retry-After may impose.
MAX_WAIT = timedelta(hours=24)
#: Longest backoff after repeated failures (a source polled less often keeps its own pace).
MAX_BACKOFF = timedelta(hours=1)
#: How long a claim on a source lasts; renewed while detail requests go on.
LEASE = timedelta(seconds=120)
#: Polls in a row that must answer with the same permanent redirect before the URL moves.
MOVE_AFTER = 3
INTERNAL, PUBLIC = "internal", "public"
#: Posts saved per transaction while a source's items are stored.
SAVE_BATCH = 50
SAVE_ATTEMPTS = 3
FEED_ACCEPT = ("application/atom+xml, application/rss+xml, application/feed+json, "
               "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
               "application/json;q=0.8, */*;q=0.1")
JSON_ACCEPT = "application/json, text/javascript;q=0.9, */*;q=0.1"
CHUNK = 64 * 1024


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- the HTTP client -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits of one fetch."""

    user_agent: str
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    #: The whole response, body included, must arrive within this many seconds.
    deadline: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    per_host: int = 4
    max_redirects: int = 5
    #: Which networks are internal and how names resolve (tests pass their own).
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    #: CA bundle to verify TLS with; default: REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, else
    #: certifi's (sessions ignore the environment, so these two are read here).
    ca_bundle: str | None = None


def user_agent(base_url: str) -> str:
    return f"syndicate/{__version__} (+{base_url}; news syndication)"


@dataclass(frozen=True, slots=True)
class Fetched:
    """One answered request: 200 with a body or 304 without one."""

    status: int
    url: str
    #: The new URL when every redirect on the way was permanent (301/308).
    moved_to: str | None
    etag: str | None
    last_modified: str | None
    content_type: str
    charset: str | None
    body: bytes
    max_age: float | None
    retry_after: float | None


class HttpClient:
    """A polite HTTP client, safe to share between threads."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._local = threading.local()
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def _session(self, internal: bool) -> requests.Session:
        # One session per thread and per network rule: a kept-alive connection an internal
        # source opened is never handed to a public one.
        sessions: dict[bool, requests.Session] = self._local.__dict__.setdefault("sessions", {})
        session = sessions.get(internal)
        if session is None:
            session = sessions[internal] = requests.Session()
            session.trust_env = False  # no proxy from the environment: it would connect for us
            session.verify = self.policy.ca_bundle or _environment_ca_bundle() or True
            adapter = GuardedAdapter(Guard(self.policy.network, allow_internal=internal),
                                     pool_connections=16, pool_maxsize=self.policy.per_host,
                                     max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({"User-Agent": self.policy.user_agent,
                                    "Accept-Encoding": "gzip, deflate"})
        return session

    def _host_slot(self, url: str) -> threading.BoundedSemaphore:
        host = urlsplit(url).netloc.lower()
        with self._lock:
            slot = self._hosts.get(host)
            if slot is None:
                slot = self._hosts[host] = threading.BoundedSemaphore(self.policy.per_host)
        return slot

    def is_internal(self, url: str) -> bool:
        """Whether every address of the URL's host is internal; raise UpstreamError if unresolved."""
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as error:
            raise UpstreamError(f"bad port in {url}") from error
        return self.policy.network.is_internal_host(parts.hostname or "", port)

    def get(self, url: str, *, accept: str, etag: str | None = None,
            last_modified: str | None = None, internal: bool = False) -> Fetched:
        """GET a URL; raise UpstreamError for anything but a 200 or 304 within the limits.

        Only a source configured with an internal address (``internal``) may connect to
        one; redirects are followed here, each hop checked, all within one deadline.
        """
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        with self._host_slot(url), Deadline(self.policy.deadline) as deadline:
            response, moved_to = self._follow(self._session(internal), url, headers, deadline)
            with response:
                return self._answer(response, moved_to, deadline)

    def _follow(self, session: requests.Session, url: str, headers: dict[str, str],
                deadline: Deadline) -> tuple[requests.Response, str | None]:
        """Request ``url`` and follow its redirects; return the answer and a permanent move."""
        current, permanent = url, True
        for _hop in range(self.policy.max_redirects + 1):
            response = self._send(session, current, headers, deadline)
            if not response.is_redirect:
                return response, (response.url if current != url and permanent else None)
            permanent = permanent and response.status_code in (301, 308)
            target = redirect_target(current, session.get_redirect_target(response) or "")
            response.close()
            current = target
        raise UpstreamError(f"more than {self.policy.max_redirects} redirects")

    def _send(self, session: requests.Session, url: str, headers: dict[str, str],
              deadline: Deadline) -> requests.Response:
        policy = self.policy
        if deadline.expired:
            raise UpstreamError(f"too slow: no answer within {policy.deadline:g}s")
        try:
            return session.get(url, headers=headers, stream=True, allow_redirects=False,
                               timeout=(policy.connect_timeout, policy.read_timeout))
        except requests.RequestException as error:
            if deadline.expired:
                raise UpstreamError(f"too slow: no answer within {policy.deadline:g}s") from error
            if isinstance(error, requests.Timeout):
                raise UpstreamError(f"timed out: {_reason(error)}") from error
            raise UpstreamError(f"cannot fetch: {_reason(error)}") from error

    def _answer(self, response: requests.Response, moved_to: str | None,
                deadline: Deadline) -> Fetched:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        status = response.status_code
        if status not in (200, 304):
            reason = f"HTTP {status} {response.reason or ''}".strip()
            raise UpstreamError(reason, retry_after=retry_after)
        body = b"" if status == 304 else self._read(response, deadline)
        content_type, options = parse_options_header(response.headers.get("Content-Type", ""))
        return Fetched(
            status=status, url=response.url, moved_to=moved_to,
            etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"),
            content_type=content_type.lower(), charset=options.get("charset"), body=body,
            max_age=_max_age(response.headers.get("Cache-Control")), retry_after=retry_after,
        )

    def _read(self, response: requests.Response, deadline: Deadline) -> bytes:
        """Read the body within the size cap and the deadline, chunk by chunk."""
        limit = self.policy.max_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise UpstreamError(f"the response is too large: {int(declared)} bytes "
                                f"(the limit is {limit})")
        too_slow = f"too slow: the response took more than {self.policy.deadline:g}s"
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                # read1: at most one read from the socket, so a server dripping bytes
                # cannot hold a read open past the deadline.
                chunk = response.raw.read1(CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise UpstreamError(f"the response is too large: more than {limit} bytes")
                if deadline.expired:
                    raise UpstreamError(too_slow)
                parts.append(chunk)
        except UpstreamError:
            raise
        except Exception as error:  # requests', urllib3's protocol and decode errors, OSError
            if deadline.expired:
                raise UpstreamError(too_slow) from error
            raise UpstreamError(f"the response broke off: {_reason(error)}") from error
        if deadline.expired:  # the watchdog's shutdown looks like the end of the body
            raise UpstreamError(too_slow)
        return b"".join(parts)


def _environment_ca_bundle() -> str | None:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def redirect_target(current: str, location: str) -> str:
    """The absolute URL a redirect sends to; refuse other schemes and https to http."""
    try:
        target = urljoin(current, location.strip())
        parts = urlsplit(target)
        parts.port  # noqa: B018 (a port out of range raises here, not when connecting)
    except ValueError as error:
        raise UpstreamError(f"refused a redirect to {location!r}: not a valid URL") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamError(f"refused a redirect to {target!r}: not an http(s) URL")
    if urlsplit(current).scheme == "https" and parts.scheme == "http":
        raise UpstreamError(f"refused a redirect from https to http ({target})")
    return target


#: The operating system's words inside urllib3's nested connection errors.
_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def _reason(error: BaseException) -> str:
    """Say why a request failed in a few words ("Connection refused"), not a nested repr."""
    text = str(error) or error.__class__.__name__
    match = _ERRNO_RE.search(text)
    if match:
        return match.group(1).strip()
    return text if len(text) < 300 else text[:297] + "..."


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = parse_date(value)
    return max(0.0, (when - utcnow()).total_seconds()) if when else None


def _max_age(value: str | None) -> float | None:
    if not value:
        return None
    control = parse_cache_control_header(value)
    if control.no_store or control.no_cache:
        return None
    return float(control.max_age) if control.max_age is not None else None


# --- polling ---------------------------------------------------------------------------


class Status(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not modified"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class PollResult:
    """What one poll of one source did."""

    name: str
    status: Status
    http_status: int | None = None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    details: int = 0
    error: str | None = None
    item_errors: list[str] = field(default_factory=list)
    #: Some items wait for the next poll (a detail request failed, or the worker stopped).
    incomplete: bool = False
    next_poll: datetime | None = None

    def line(self, now: datetime | None = None) -> str:
        """One line for the terminal."""
        when = ""
        if self.next_poll is not None:
            wait_s = max(0, int((self.next_poll - (now or utcnow())).total_seconds()))
            when = f"; next poll in {_human(wait_s)}"
        if self.status is Status.SKIPPED:
            return f"{self.name}: skipped: {self.error}"
        if self.status is Status.FAILED:
            return f"{self.name}: FAILED: {self.error}{when}"
        if self.status is Status.NOT_MODIFIED:
            return f"{self.name}: not modified (304){when}"
        bad = f", {len(self.item_errors)} bad items" if self.item_errors else ""
        rest = "; some items wait for the next poll" if self.incomplete else ""
        return (f"{self.name}: {self.new} new, {self.updated} updated, "
                f"{self.unchanged + self.skipped} unchanged{bad}, "
                f"{self.details} detail requests{rest}{when}")


def _human(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def follow_move(state: SourceState, moved_to: str | None) -> tuple[str, str | None, int]:
    """The URL to poll next and the redirect count after a poll that saw ``moved_to``.

    One answer may be a mistake or an attack; only the same permanent redirect on
    ``MOVE_AFTER`` polls in a row moves the stored URL.
    """
    if moved_to is None:
        return state.url, None, 0
    seen = state.moved_seen + 1 if state.moved_to == moved_to else 1
    if seen >= MOVE_AFTER:
        return moved_to, None, 0
    return state.url, moved_to, seen


def worker_name() -> str:
    """A name for this worker, unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Poller:
    """Polls configured sources: once (``poll``) or on their schedules (``run``)."""

    def __init__(
        self,
        core: Syndicate,
        sources: Sequence[Source],
        *,
        client: HttpClient | None = None,
        concurrency: int = 8,
        worker: str | None = None,
        lease: timedelta = LEASE,
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.core = core
        self.store = core.store
        self.sources = {source.name: source for source in sources}
        self.client = client or HttpClient(FetchPolicy(
            user_agent(core.settings.base_url),
            network=NetworkPolicy(core.settings.fetch_internal_networks)))
        self.concurrency = concurrency
        self.worker = worker or worker_name()
        self.lease = lease
        self.stop = stop or threading.Event()
        self.clock = clock
        self._random = random.Random()
        self._save_lock = threading.Lock()
        self.store.sync_sources({s.name: s.url for s in sources}, clock())

    # -- entry points ----------------------------------------------------------------

    def poll(self, names: Iterable[str] | None = None) -> list[PollResult]:
        """Poll the named sources (default: all) once now, whether due or not."""
        wanted = list(names) if names is not None else list(self.sources)
        unknown = [name for name in wanted if name not in self.sources]
        if unknown:
            raise KeyError(unknown[0])
        if len(wanted) == 1:
            return [self.poll_one(wanted[0], force=True)]
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="poll") as pool:
            return list(pool.map(lambda name: self.poll_one(name, force=True), wanted))

    def run_due(self) -> list[PollResult]:
        """Poll every source that is due now, then return (one pass of the worker)."""
        due = self.store.due_sources(self.clock(), self.sources, len(self.sources))
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="poll") as pool:
            return list(pool.map(lambda name: self.poll_one(name, force=False), due))

    def run(self, report: Callable[[PollResult], None] | None = None,
            idle: float = 1.0) -> None:
        """Poll sources on their schedules until ``stop`` is set; finish requests in flight."""
        running: dict[Future[PollResult], str] = {}
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="poll") as pool:
            while not self.stop.is_set():
                self._submit_due(pool, running)
                if running:
                    done, _ = wait(running, timeout=idle, return_when=FIRST_COMPLETED)
                else:
                    done = set()
                    self.stop.wait(self._idle_time(idle))
                for future in done:
                    running.pop(future)
                    if report:
                        report(future.result())
            for future in list(running):
                if report:
                    report(future.result())

    def _submit_due(self, pool: ThreadPoolExecutor, running: dict[Future[PollResult], str]) -> None:
        free = self.concurrency - len(running)
        if free <= 0:
            return
        busy = set(running.values())
        for name in self.store.due_sources(self.clock(), self.sources, free + len(busy)):
            if name not in busy and free > 0:
                running[pool.submit(self.poll_one, name, False)] = name
                free -= 1

    def _idle_time(self, idle: float) -> float:
        soonest = self.store.next_poll_time(self.sources)
        if soonest is None:
            return idle
        return min(idle, max(0.05, (soonest - self.clock()).total_seconds()))

    def save(self, posts: list[PostInput]) -> list[StoreResult]:
        """Save through the core, one batch at a time in this process.

        One at a time: SQLite takes one writer anyway, and two sources carrying the same
        article must not both insert it. Another process may still win that race; the
        save is one transaction, so it is simply tried again and then finds the post.
        """
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                with self._save_lock:
                    return self.core.save(posts)
            except StorageError:
                if attempt == SAVE_ATTEMPTS:
                    raise
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    # -- one source ------------------------------------------------------------------

    def poll_one(self, name: str, force: bool = False) -> PollResult:
        """Claim, fetch and store one source; never raises for a source's own failure."""
        source = self.sources[name]
        if self.stop.is_set():
            return PollResult(name, Status.SKIPPED, error="the worker is stopping")
        state = self.store.claim_source(name, self.worker, self.clock(), self.lease, force)
        if state is None:
            reason = "another worker is fetching it" if force else "not due or being fetched"
            return PollResult(name, Status.SKIPPED, error=reason)
        record: PollRecord | None = None
        try:
            record, result = _SourcePoll(self, source, state).run()
        except Exception as error:  # a bug must not stop the other sources
            log.exception("polling %s failed: %s", name, redact(repr(error)))
            failure = UpstreamError(f"internal error: {error!r}")
            record, result = self._failure(source, state, failure)
        finally:
            self.store.release_source(name, self.worker, record, self.clock())
        return result

    def _failure(self, source: Source, state: SourceState, error: UpstreamError,
                 network: str | None = None) -> tuple[PollRecord, PollResult]:
        failures = state.failures + 1
        base = source.every * 2 ** min(failures - 1, 16)
        delay = min(base, max(source.every, MAX_BACKOFF))
        if error.retry_after:
            delay = max(delay, min(timedelta(seconds=error.retry_after), MAX_WAIT))
        next_poll = self.clock() + self._jitter(delay)
        message = redact(str(error))
        # A failed poll says nothing about a redirect: its count stays as it was.
        record = PollRecord(url=state.url, etag=state.etag, last_modified=state.last_modified,
                            next_poll=next_poll, status=None, failures=failures, error=message,
                            moved_to=state.moved_to, moved_seen=state.moved_seen,
                            network=network)
        return record, PollResult(source.name, Status.FAILED, error=message, next_poll=next_poll)

    def _schedule(self, source: Source, fetched: Fetched) -> datetime:
        delay = source.every
        for seconds in (fetched.max_age, fetched.retry_after):
            if seconds:
                delay = max(delay, min(timedelta(seconds=seconds), MAX_WAIT))
        return self.clock() + self._jitter(delay)

    def _jitter(self, delay: timedelta) -> timedelta:
        # Only later, never earlier: max-age and Retry-After are minimums.
        return delay * (1 + self._random.uniform(0, 0.1))


class _SourcePoll:
    """One poll of one source while its claim is held."""

    def __init__(self, poller: Poller, source: Source, state: SourceState) -> None:
        self.poller, self.source, self.state = poller, source, state
        self.client = poller.client
        self.claimed_until = poller.clock() + poller.lease
        self.internal = False

    def run(self) -> tuple[PollRecord, PollResult]:
        source, state, poller = self.source, self.state, self.poller
        accept = FEED_ACCEPT if source.kind is SourceKind.FEED else JSON_ACCEPT
        network: str | None = None
        try:
            network = self.network()
            self.internal = network == INTERNAL
            fetched = self.client.get(state.url, accept=accept, etag=state.etag,
                                      last_modified=state.last_modified, internal=self.internal)
            result = PollResult(source.name, Status.NOT_MODIFIED, http_status=fetched.status)
            if fetched.status == 200:
                result.status = Status.OK
                self.store_page(self.read(fetched), result)
        except UpstreamError as error:
            # Once classified, the source keeps its network even when this poll failed.
            return poller._failure(source, state, error,
                                   network if state.network is None else None)
        stopped = result.incomplete and poller.stop.is_set()
        result.next_poll = poller.clock() if stopped else poller._schedule(source, fetched)
        if result.incomplete:
            # Some items wait: keep the old validators, so the next poll gets this list again.
            etag, last_modified = state.etag, state.last_modified
        elif fetched.status == 304:
            etag = fetched.etag or state.etag
            last_modified = fetched.last_modified or state.last_modified
        else:
            etag, last_modified = fetched.etag, fetched.last_modified
        url, moved_to, moved_seen = follow_move(state, fetched.moved_to)
        record = PollRecord(
            url=url, etag=etag, last_modified=last_modified,
            next_poll=result.next_poll, status=fetched.status, failures=0,
            new=result.new, updated=result.updated, moved_to=moved_to, moved_seen=moved_seen,
            network=network if state.network is None else None,
        )
        return record, result

    def network(self) -> str:
        """Whether the source is internal: decided once, from its configured URL."""
        if self.state.network in (INTERNAL, PUBLIC):
            return self.state.network
        return INTERNAL if self.client.is_internal(self.state.config_url) else PUBLIC

    def read(self, fetched: Fetched) -> Page:
        tz = self.poller.core.tz
        if self.source.kind is SourceKind.FEED:
            return read_feed(fetched.body, content_type=fetched.content_type,
                             charset=fetched.charset, url=fetched.url, tz=tz)
        return read_list(fetched.body, charset=fetched.charset, source=self.source, tz=tz)

    def store_page(self, page: Page, result: PollResult) -> None:
        """Save new and changed items in small batches; unchanged ones cost nothing."""
        store, name = self.poller.store, self.source.name
        result.item_errors.extend(page.errors)
        items = list({item.key: item for item in reversed(page.items)}.values())[::-1]
        known = store.item_fingerprints(name, [item.key for item in items])
        fresh = [item for item in items if known.get(item.key) != item.fingerprint]
        result.skipped = len(items) - len(fresh)
        batch: list[tuple[Item, PostInput]] = []
        for item in fresh:
            if item.detail_id is not None and self.poller.stop.is_set():
                # Stop after the request in flight; the rest waits for the next poll.
                result.incomplete = True
                break
            post = self.build(item, page, result)
            if post is not None:
                batch.append((item, post))
            if len(batch) >= SAVE_BATCH:
                self.save(batch, result)
                batch = []
        self.save(batch, result)

    def build(self, item: Item, page: Page, result: PollResult) -> PostInput | None:
        html = item.html
        try:
            if item.detail_id is not None:
                self.renew()
                result.details += 1
                fetched = self.client.get(detail_url(self.source, item.detail_id),
                                          accept=JSON_ACCEPT, internal=self.internal)
                html = read_detail(fetched.body, charset=fetched.charset, source=self.source)
            return self.poller.core.admit(build_post(
                post_id=item.id, title=item.title, published=self.published(item),
                media=item.media or self.source.media or page.title or None, html=html,
                summary=item.summary, url=item.url, category_slug=self.source.category,
                origin=f"{self.source.name}: {item.key}",
            ))
        except (UpstreamError, InvalidPost) as error:
            where = "detail request" if isinstance(error, UpstreamError) else "item"
            # A failed detail request is worth retrying: the next poll must get the list again.
            result.incomplete = result.incomplete or isinstance(error, UpstreamError)
            result.item_errors.append(redact(f"{item.key}: {where}: {error}"))
            return None

    def published(self, item: Item) -> datetime:
        """The item's date; an undated item keeps the date it was first stored with."""
        if item.published is not None:
            return item.published
        existing = self.poller.store.get_post(item.id)
        return existing.published if existing else self.poller.clock()

    def save(self, batch: list[tuple[Item, PostInput]], result: PollResult) -> None:
        if not batch:
            return
        poller = self.poller
        results = poller.save([post for _, post in batch])
        outcomes = {article_key(r.post_id): r for r in results}
        remembered: dict[str, tuple[str, str]] = {}
        for item, post in batch:
            stored = outcomes.get(article_key(post.id))
            if stored is not None and stored.outcome is Outcome.FAILED:
                result.item_errors.append(f"{item.key}: not stored: {stored.error or 'failed'}")
                continue
            remembered[item.key] = (item.fingerprint, post.id)
        for stored in results:
            if stored.outcome is Outcome.NEW:
                result.new += 1
            elif stored.outcome is Outcome.UPDATED:
                result.updated += 1
            elif stored.outcome is Outcome.UNCHANGED:
                result.unchanged += 1
        poller.store.remember_items(self.source.name, remembered, poller.clock())

    def renew(self) -> None:
        """Keep the claim while detail requests go on."""
        now = self.poller.clock()
        if self.claimed_until - now < self.poller.lease / 2:
            self.claimed_until = now + self.poller.lease
            self.poller.store.renew_claim(self.source.name, self.poller.worker, self.claimed_until)



def make_poller(core: Syndicate, sources: Sequence[Source],
                stop: threading.Event | None = None) -> Poller:
    """A Poller with the limits from the settings."""
    settings = core.settings
    policy = FetchPolicy(
        user_agent(settings.base_url), connect_timeout=min(10.0, settings.fetch_timeout),
        read_timeout=settings.fetch_timeout, deadline=2.0 * settings.fetch_timeout,
        max_bytes=settings.fetch_max_bytes,
        network=NetworkPolicy(settings.fetch_internal_networks),
    )
    return Poller(core, sources, client=HttpClient(policy),
                  concurrency=settings.fetch_concurrency, stop=stop,
                  lease=timedelta(seconds=settings.fetch_lease))
