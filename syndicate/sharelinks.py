"""Share links: resolve a short code or an old NewsShare link to its post, build the
redirect, and count who follows it without tracking anyone. No Flask here.

Two link classes, one rule: a link names a post (by code or id), and the redirect's
target is built from that post, on this site's ``BASE_URL``; nothing in the request but
``utm_*`` parameters reaches the Location header.

- ``/s/<code>``: 302 with ``Cache-Control: private, max-age=300``: a correction or a
  takedown takes effect within five minutes.
- ``/html_News/NewsShare.html?infoCode=<id>``: 301 with ``public, max-age=86400``: the
  mapping is permanent.

Counting: per code and day (site time zone), human clicks and link-preview fetches by
known crawlers apart. HEAD, ``DNT: 1`` and ``Sec-GPC: 1`` are not counted, nor are search
engine robots, and a client counts once per code per ``COUNT_WINDOW`` (``SeenClients``:
keyed hashes of address and user agent, in memory only). No address or user agent is
stored: ``ShareCounter`` keeps integers in memory and adds them to the database in a
background thread every few seconds, so counting never delays or breaks a redirect.
"""

from __future__ import annotations

import atexit
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode
from zoneinfo import ZoneInfo

from . import metrics, urls
from .errors import PostGone, PostNotFound, ShareCodeNotFound, SyndicateError
from .memo import BoundedCache
from .model import INFOCODE_RE
from .share import normalize_code, strip_pasted
from .store.shares import ShareDay, ShareTarget

if TYPE_CHECKING:
    from .core import Syndicate

log = logging.getLogger(__name__)

SHORT_CACHE = "private, max-age=300"
LEGACY_CACHE = "public, max-age=86400"
#: Link-preview fetchers of social networks and chat apps: counted as previews.
PREVIEW_AGENTS = re.compile(
    r"Twitterbot|facebookexternalhit|Facebot|meta-externalagent|Slackbot|Slack-ImgProxy|"
    r"TelegramBot|WhatsApp|Discordbot|LinkedInBot|Pinterest|redditbot|SkypeUriPreview|"
    r"MicrosoftPreview|Teams|vkShare|Iframely|Embedly|Mastodon|Bluesky|Cardyb|Snapchat|"
    r"Viber|Line/|KAKAOTALK|kakaotalk-scrap|Zalo|Google-PageRenderer|Applebot|ms-office|"
    r"Synapse|Matrix|Signal|Threema|Weibo|W3C_Validator", re.IGNORECASE)
#: Other robots (search engines, scanners): neither clicks nor previews.
ROBOT_AGENTS = re.compile(r"bot\b|bot/|spider|crawl|slurp|headless|lighthouse", re.IGNORECASE)
UTM_KEY = re.compile(r"utm_[a-z0-9_]{1,32}")
MAX_UTM = 10
MAX_UTM_VALUE = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A client counts once per code per window (seconds).
COUNT_WINDOW = 30 * 60
#: Clients remembered per window (16-byte hashes, about 10 MB); past it nothing is counted.
MAX_SEEN = 100_000


@dataclass(frozen=True, slots=True)
class ShareStats:
    """What ``GET /api/posts/<id>/share`` and ``syndicate share ID --stats`` show."""

    code: str
    short_url: str
    legacy_url: str
    clicks: int
    previews: int
    by_day: list[ShareDay]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def utm_query(query_string: str) -> str:
    """The ``utm_*`` parameters of a query string, re-encoded; everything else dropped."""
    if "utm_" not in query_string:
        return ""
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, max_num_fields=100)
    except ValueError:
        return ""
    kept = [(key, _CONTROL.sub("", value)[:MAX_UTM_VALUE]) for key, value in pairs
            if UTM_KEY.fullmatch(key)][:MAX_UTM]
    return urlencode(kept, quote_via=quote) if kept else ""


def classify(method: str, headers: Mapping[str, str]) -> str | None:
    """"click", "preview" or None (not counted) for a request to a share link. ``headers``
    maps WSGI environ names (``HTTP_USER_AGENT``) to values."""
    if method != "GET" or headers.get("HTTP_DNT") == "1" or headers.get("HTTP_SEC_GPC") == "1":
        return None
    agent = headers.get("HTTP_USER_AGENT", "")
    if PREVIEW_AGENTS.search(agent):
        return "preview"
    if ROBOT_AGENTS.search(agent):
        return None
    return "click"


class ShareLinks:
    """Share link resolution, redirects and counting for one Syndicate core."""

    def __init__(self, core: Syndicate) -> None:
        self.core = core
        self.counter = ShareCounter(core.store, core.tz, enabled=core.settings.share_counting)
        self.seen = SeenClients()
        self._paths: BoundedCache[ShareTarget, str] = BoundedCache(50_000, 16 * 2**20)

    # -- lookups ---------------------------------------------------------------------

    def by_code(self, raw: str) -> ShareTarget:
        """The live post a pasted or typed short code names; 404 or 410 otherwise."""
        code = normalize_code(raw)
        target = self.core.store.share_target(code) if code else None
        return _live(target, f"没有这个分享链接：{raw[:40]}", ShareCodeNotFound)

    def by_legacy(self, raw: str) -> ShareTarget:
        """The live post an old ``infoCode`` names (``NW`` + 18 digits or the bare digits)."""
        info_code = strip_pasted(raw)
        target = None
        if INFOCODE_RE.fullmatch(info_code):
            target = self.core.store.legacy_target(info_code)
        return _live(target, f"没有这篇文章：{info_code[:40] or '（空）'}", PostNotFound)

    # -- redirects -------------------------------------------------------------------

    def path(self, target: ShareTarget) -> str:
        found = self._paths.get(target)
        if found is None:
            try:
                found = urls.permalink(target.category, target.published, target.post_id,
                                       self.core.tz)
            except (OverflowError, ValueError):
                # A date stored before ingest checked dates: there is no page to send to.
                raise PostNotFound(f"这篇文章无法显示：{target.post_id}") from None
            self._paths.put(target, found)
        return found

    def location(self, target: ShareTarget, query_string: str = "") -> str:
        """The absolute URL of the target post, with the request's ``utm_*`` parameters."""
        url = self.core.url(self.path(target))
        utm = utm_query(query_string)
        return f"{url}?{utm}" if utm else url

    def redirect(self, target: ShareTarget, *, legacy: bool, environ: Mapping[str, Any]
                 ) -> tuple[int, list[tuple[str, str]]]:
        """Status and headers of the redirect to ``target``; counts the request."""
        kind = classify(environ.get("REQUEST_METHOD", "GET"), environ)
        if kind is not None and self.counter.enabled and self.seen.first(target.code, environ):
            try:
                self.counter.hit(target.code, kind)
            except Exception:  # counting must never break a redirect
                log.exception("share counts: could not count a %s of %s", kind, target.code)
        headers = [("Location", self.location(target, environ.get("QUERY_STRING", ""))),
                   ("Cache-Control", LEGACY_CACHE if legacy else SHORT_CACHE),
                   ("X-Robots-Tag", "noindex"),
                   ("Referrer-Policy", "strict-origin-when-cross-origin"),
                   ("Content-Length", "0")]
        return (301 if legacy else 302), headers

    # -- statistics ------------------------------------------------------------------

    def stats(self, post_id: str) -> ShareStats:
        """A post's share links and their stored counts (each worker adds its counts every
        few seconds)."""
        post = self.core.post(post_id)
        by_day = self.core.store.share_days(post.share_code)
        return ShareStats(post.share_code, self.core.share_url(post),
                          self.core.url(urls.legacy_share_path(post.id)),
                          sum(d.clicks for d in by_day), sum(d.previews for d in by_day), by_day)


def _live(target: ShareTarget | None, message: str, missing: type[SyndicateError]) -> ShareTarget:
    if target is None:
        raise missing(message)
    if target.gone:
        raise PostGone(f"这篇文章已删除：{target.post_id}")
    return target


class SeenClients:
    """Which clients followed which code in the current window, known only as keyed hashes.

    A client is its address (an IPv6 address by its /64, which one subscriber holds) and
    its user agent. They are hashed with keyed BLAKE2b (a MAC, like HMAC, at less than half
    the cost on this hot path) under a random key that lives in this process's memory only
    and is replaced, with the set, when a window of ``window`` seconds begins: a hash can
    be neither reversed nor linked to the same client in another window, and nothing of it
    is ever written. The set is bounded: once ``max_entries``
    clients were seen in a window, nobody more is counted until the next one (the safe
    failure is to under-count, never to grow).

    Each worker process has its own key and set, so a client whose requests reach several
    workers may be counted once per worker and window: at most ``WORKERS`` times, against
    once per request before.
    """

    def __init__(self, window: float = COUNT_WINDOW, max_entries: int = MAX_SEEN,
                 clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._slot = -1
        self._key = b""
        self._seen: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def first(self, code: str, environ: Mapping[str, Any]) -> bool:
        """True the first time this client follows ``code`` in the current window."""
        message = "\0".join((code, client_address(environ.get("REMOTE_ADDR") or ""),
                              environ.get("HTTP_USER_AGENT") or ""))
        slot = int(self.clock() // self.window)
        with self._lock:
            if slot != self._slot:
                self._slot, self._key, self._seen = slot, secrets.token_bytes(32), set()
            digest = hashlib.blake2b(message.encode("utf-8", "replace"), key=self._key,
                                     digest_size=16).digest()
            if digest in self._seen or len(self._seen) >= self.max_entries:
                return False
            self._seen.add(digest)
            return True


def client_address(address: str) -> str:
    """The address that names one client: IPv4 as is, IPv6 by its /64 (a subscriber's
    prefix, within which a device may pick any address)."""
    if ":" not in address:
        return address
    try:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False).network_address)
    except ValueError:
        return address


class ShareCounter:
    """Per-(code, day) click and preview counts, kept in memory and added to the database
    in the background every ``interval`` seconds (and at exit). A failed write keeps the
    counts for the next try; nothing here can fail a request."""

    def __init__(self, store: Any, tz: ZoneInfo, *, enabled: bool = True,
                 interval: float = 5.0) -> None:
        self.store = store
        self.tz = tz
        self.enabled = enabled
        self.interval = interval
        self._counts: dict[tuple[str, str], list[int]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._pid: int | None = None
        self._day = ""
        self._day_ends = 0.0
        self._pending_since: float | None = None  # when the oldest unwritten count came

    def hit(self, code: str, kind: str) -> None:
        """Count one click or preview of ``code`` today; never blocks on the database."""
        if not self.enabled:
            return
        now = time.time()
        if now >= self._day_ends:
            self._roll_day(now)
        key = (code, self._day)
        slot = 1 if kind == "preview" else 0
        with self._lock:
            counts = self._counts.get(key)
            if counts is None:
                counts = self._counts[key] = [0, 0]
            counts[slot] += 1
            if self._pending_since is None:
                self._pending_since = now
        if self._pid != os.getpid():
            self._start()

    def _roll_day(self, now: float) -> None:
        local = datetime.fromtimestamp(now, self.tz)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        self._day = f"{local:%Y-%m-%d}"
        self._day_ends = (start + timedelta(days=1)).timestamp()

    def flush(self) -> int:
        """Add what was counted to the database; return how many (code, day) rows."""
        with self._lock:
            taken, self._counts = self._counts, {}
            since, self._pending_since = self._pending_since, None
        if not taken:
            return 0
        try:
            self.store.add_share_hits({key: (c[0], c[1]) for key, c in taken.items()})
        except Exception:
            log.exception("share counts: could not write %d row(s); kept for the next try",
                          len(taken))
            with self._lock:
                for key, (clicks, previews) in taken.items():
                    counts = self._counts.setdefault(key, [0, 0])
                    counts[0] += clicks
                    counts[1] += previews
                if since is not None:  # the kept counts are as old as before
                    self._pending_since = min(since, self._pending_since or since)
            return 0
        return len(taken)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()  # a forked worker starts its own thread
        threading.Thread(target=self._run, name="share-counter", daemon=True).start()
        atexit.register(self.flush)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()
            since = self._pending_since
            metrics.share_flush_lag(0.0 if since is None else time.time() - since)

    def stop(self) -> None:
        """Write what is counted and stop the background thread."""
        self._stopped.set()
        self._wake.set()
        self.flush()
