"""Render once: rendered documents (and their gzip) per version, in-process and in Redis.

Keys name a document *version* (they are derived from the feed's version in the shared
database), so an entry is never stale: a change makes new keys, and old entries simply
age out. That is why no message has to reach every worker when a post changes.

- In-process: a ``BoundedCache`` (entries and bytes), per worker. Concurrent misses of one
  key render once.
- Redis (optional, ``SYNDICATE_REDIS_URL``): shared by every worker and machine, so a
  version is rendered once for all of them; its entries expire after ``REDIS_TTL``, or
  sooner when the caller says so (deltas: one per reader checkpoint, see feedview).
  A Redis failure is logged and the cache carries on without it: a cache never breaks
  serving.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import metrics
from .memo import BoundedCache

log = logging.getLogger(__name__)

#: gzip level: the bytes are compressed once per version, so favour size over speed.
GZIP_LEVEL = 6
REDIS_TTL = 24 * 3600
REDIS_PREFIX = "syndicate:doc:"
#: After a Redis error, do without it for this many seconds.
REDIS_BACKOFF = 30.0


@dataclass(frozen=True, slots=True)
class Rendered:
    """A document's bytes, and the same bytes gzipped (deterministically: no mtime)."""

    body: bytes
    gzipped: bytes

    @classmethod
    def of(cls, body: bytes) -> Rendered:
        return cls(body, gzip.compress(body, GZIP_LEVEL, mtime=0))

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)


class RenderCache:
    """Rendered documents by key: ``get_or_render(key, render)``."""

    def __init__(self, max_bytes: int = 64 * 2**20, redis_url: str | None = None,
                 max_entries: int = 20_000) -> None:
        self.max_bytes = max_bytes
        self._items: BoundedCache[str, Rendered] = BoundedCache(
            max_entries, max_bytes, lambda key, item: len(key) + item.size)
        self._lock = threading.Lock()
        self._rendering: dict[str, threading.Lock] = {}
        self._redis: Any = _connect_redis(redis_url) if redis_url else None
        self._redis_down_until = 0.0
        self.renders = 0  # how many documents this process rendered (tests, benchmarks)

    def get(self, key: str) -> Rendered | None:
        """Return the cached document, from this process or else from Redis."""
        found = self._items.get(key)
        if found is not None:
            return found
        found = self._redis_get(key)
        if found is not None:
            self._remember(key, found)
        return found

    def get_or_render(self, key: str, render: Callable[[], bytes],
                      ttl: int = REDIS_TTL) -> Rendered:
        """Return the document, rendering it (once per process, and once per Redis) on a miss;
        the Redis copy expires after ``ttl`` seconds."""
        found = self.get(key)
        metrics.cache_lookup(hit=found is not None)
        if found is not None:
            return found
        with self._lock:
            lock = self._rendering.setdefault(key, threading.Lock())
        with lock:
            found = self.get(key)
            if found is None:
                found = Rendered.of(render())
                self.renders += 1
                self._remember(key, found)
                self._redis_put(key, found, ttl)
        with self._lock:
            self._rendering.pop(key, None)
        return found

    def clear(self) -> None:
        self._items.clear()

    @property
    def entries(self) -> BoundedCache[str, Rendered]:
        """The in-process entries (for tests and benchmarks that check the bounds)."""
        return self._items

    def _remember(self, key: str, item: Rendered) -> None:
        self._items.put(key, item)

    # -- Redis -----------------------------------------------------------------------

    def _redis_ok(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._redis_down_until

    def _redis_failed(self, error: Exception) -> None:
        log.warning("Redis cache unavailable for %.0f s: %s", REDIS_BACKOFF, error)
        self._redis_down_until = time.monotonic() + REDIS_BACKOFF

    def _redis_get(self, key: str) -> Rendered | None:
        if not self._redis_ok():
            return None
        try:
            body, gzipped = self._redis.hmget(REDIS_PREFIX + key, "b", "z")
        except _REDIS_ERRORS as error:  # carry on without Redis
            self._redis_failed(error)
            return None
        if body is None or gzipped is None:
            return None
        return Rendered(body, gzipped)

    def _redis_put(self, key: str, item: Rendered, ttl: int) -> None:
        if not self._redis_ok():
            return
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(REDIS_PREFIX + key, mapping={"b": item.body, "z": item.gzipped})
            pipe.expire(REDIS_PREFIX + key, ttl)
            pipe.execute()
        except _REDIS_ERRORS as error:
            self._redis_failed(error)


def _redis_errors() -> tuple[type[Exception], ...]:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - depends on the installed extras
        return (OSError,)
    return (RedisError, OSError)


_REDIS_ERRORS = _redis_errors()


def _connect_redis(url: str) -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - depends on the installed extras
        log.warning("SYNDICATE_REDIS_URL is set but the redis package is not installed "
                    "(pip install 'syndicate[redis]'): caching in this process only")
        return None
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
