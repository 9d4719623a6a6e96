"""WebSub publishing: tell each hub which feeds changed, off the request path.

``publish(keys)`` only queues: one durable row per (hub, topic URL) in the database,
written after the posts' transaction has committed, so a hub that fetches at once sees
the change. A background thread (started on first use, one per process) delivers due
pings with ``requests`` (``hub.mode=publish&hub.url=<topic>``); a failure is retried with
exponential backoff and logged, and the ping is dropped after ``max_attempts``. Any
process with a WebSub instance delivers what is due, so pings left by a process that
exited (say, a one-shot import that could not reach a hub) are sent by the next one;
at exit, a process first tries for a few seconds to deliver what it queued.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from . import __version__
from .store.pings import Ping

log = logging.getLogger(__name__)

USER_AGENT = f"syndicate/{__version__} (WebSub publisher)"


class WebSub:
    """Queue and deliver WebSub publish pings for changed feeds."""

    def __init__(
        self,
        store: Any,
        hubs: tuple[str, ...],
        topics: Callable[[str], list[str]],
        *,
        timeout: float = 10.0,
        backoff: float = 5.0,
        max_backoff: float = 3600.0,
        max_attempts: int = 10,
        sweep: float = 30.0,
        exit_wait: float = 5.0,
    ) -> None:
        self.store = store
        self.hubs = hubs
        self.topics = topics
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self.sweep = sweep
        self.exit_wait = exit_wait
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # One delivery pass at a time in this process, so flush() cannot return while
        # the background thread still has a claimed ping in flight.
        self._pass = threading.Lock()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self.delivered = 0

    @property
    def enabled(self) -> bool:
        return bool(self.hubs)

    def publish(self, keys: Iterable[str], now: datetime | None = None) -> int:
        """Queue a ping to every hub for every format of these feeds; never waits on a hub."""
        if not self.hubs:
            return 0
        topics = [topic for key in sorted(set(keys)) for topic in self.topics(key)]
        queued = self.store.enqueue_pings(
            ((hub, topic) for hub in self.hubs for topic in topics), now or _now())
        if queued:
            log.info("WebSub: queued %d ping(s) for %d topic(s)", queued, len(topics))
            self.start()
            self._wake.set()
        return int(queued)

    # -- delivery --------------------------------------------------------------------

    def deliver_due(self, now: datetime | None = None) -> int:
        """Send every ping that is due now (one pass); return how many were delivered."""
        delivered = 0
        for ping in self.store.due_pings(now or _now()):
            if self._stop.is_set() and not self._flushing:
                break
            lease = _now() + timedelta(seconds=self.timeout * 3)
            if self.store.claim_ping(ping, lease):
                delivered += self._send(ping)
        return delivered

    _flushing = False

    def _send(self, ping: Ping) -> int:
        data = {"hub.mode": "publish", "hub.url": ping.topic}
        try:
            response = self._session.post(ping.hub, data=data, timeout=self.timeout)
            if 200 <= response.status_code < 300:
                self.store.ping_done(ping)
                self.delivered += 1
                log.info("WebSub: %s accepted %s (HTTP %d)", ping.hub, ping.topic,
                         response.status_code)
                return 1
            error = f"HTTP {response.status_code}: {response.text[:200]}"
        except requests.RequestException as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        self._failed(ping, error)
        return 0

    def _failed(self, ping: Ping, error: str) -> None:
        attempts = ping.attempts + 1
        if attempts >= self.max_attempts:
            log.error("WebSub: giving up on %s for %s after %d attempts: %s",
                      ping.hub, ping.topic, attempts, error)
            self.store.ping_done(ping)
            return
        delay = min(self.backoff * 2 ** (attempts - 1), self.max_backoff)
        log.warning("WebSub: %s refused %s (attempt %d, retry in %.1f s): %s",
                    ping.hub, ping.topic, attempts, delay, error)
        self.store.ping_failed(ping, _now() + timedelta(seconds=delay), error)

    # -- the background thread -------------------------------------------------------

    def start(self) -> None:
        """Start this process's delivery thread (idempotent)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="websub", daemon=True)
            self._thread.start()
            atexit.register(self._at_exit)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                with self._pass:
                    self.deliver_due()
                wait = self._until_next_due()
            except Exception:  # keep delivering after a database hiccup
                log.exception("WebSub: delivery pass failed")
                wait = self.sweep
            self._wake.wait(wait)

    def _until_next_due(self) -> float:
        due = self.store.next_ping_due()
        if due is None:
            return self.sweep
        return max(0.01, min(self.sweep, (due - _now()).total_seconds()))

    def flush(self, timeout: float) -> int:
        """Deliver what is due, retrying until the queue is empty or ``timeout`` passes;
        return how many pings are still queued (they stay for another process)."""
        deadline = _now() + timedelta(seconds=timeout)
        self._flushing = True
        try:
            while True:
                if not self._pass.acquire(timeout=max(0.0, (deadline - _now()).total_seconds())):
                    return int(self.store.pending_pings())
                try:
                    self.deliver_due()
                finally:
                    self._pass.release()
                left = self.store.pending_pings()
                due = self.store.next_ping_due()
                if not left or due is None or due > deadline:
                    return int(left)
                pause = (due - _now()).total_seconds()
                if pause > 0:
                    self._stop.wait(min(pause, (deadline - _now()).total_seconds()))
                if _now() >= deadline:
                    return int(self.store.pending_pings())
        finally:
            self._flushing = False

    def stop(self) -> None:
        """Stop the delivery thread (queued pings stay in the database)."""
        self._stop.set()
        self._wake.set()
        atexit.unregister(self._at_exit)
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self.timeout + 1)
        self._thread = None

    def _at_exit(self) -> None:
        self.stop()
        try:
            left = self.flush(self.exit_wait)
        except Exception:
            log.exception("WebSub: could not deliver queued pings at exit")
            return
        if left:
            log.warning("WebSub: %d ping(s) still queued at exit; the next syndicate process "
                        "with WebSub hubs configured delivers them", left)


def _now() -> datetime:
    return datetime.now(UTC)
