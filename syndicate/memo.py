"""The one bounded cache every in-process memo uses: an LRU bounded by entries and bytes.

A worker lives for days and serves whatever clients send, so no memo may grow with the
input: each holds at most ``max_entries`` items and about ``max_bytes`` bytes (as measured
by its ``sizeof``), dropping the least recently used first. Callers key it by normalised
values only (an ETag we minted, a parsed path, a database row), never by raw request text.

Why not ``functools.lru_cache`` or cachetools: both bound one measure, entries or size,
and a memo of documents needs both; this is the few lines that do it (writes behind one
lock, reads without: they are on every request's path).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import wraps
from typing import Any, Generic, ParamSpec, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
P = ParamSpec("P")
R = TypeVar("R")

#: What an entry costs besides its contents: the dict slot, the links, the tuple.
ENTRY_OVERHEAD = 100


def approx_size(value: object) -> int:
    """Roughly how many bytes ``value`` holds: text and bytes by length, containers summed."""
    if isinstance(value, str | bytes | bytearray):
        return len(value) + 50
    if isinstance(value, tuple | list | frozenset | set):
        return 56 + sum(approx_size(item) for item in value)
    if isinstance(value, dict):
        return 64 + sum(approx_size(k) + approx_size(v) for k, v in value.items())
    return sys.getsizeof(value)


def _entry_size(key: object, value: object) -> int:
    return approx_size(key) + approx_size(value)


class BoundedCache(Generic[K, V]):
    """A thread-safe LRU map bounded by entry count and by total (approximate) bytes."""

    def __init__(self, max_entries: int, max_bytes: int,
                 sizeof: Callable[[K, V], int] = _entry_size) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.sizeof = sizeof
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    @property
    def nbytes(self) -> int:
        """The bytes the entries hold, as ``sizeof`` measures them (overhead included)."""
        return self._bytes

    def get(self, key: K, default: V | None = None) -> V | None:
        """Return the value for ``key`` (and mark it recently used), or ``default``."""
        # No lock on the hot path: each OrderedDict call is atomic under the GIL, and an
        # entry evicted between the two calls is simply not marked.
        found = self._items.get(key)
        if found is None:
            return default
        try:
            self._items.move_to_end(key)
        except KeyError:
            pass
        return found[0]

    def put(self, key: K, value: V) -> bool:
        """Remember ``value``; False (and nothing kept) when it alone exceeds the byte bound."""
        size = self.sizeof(key, value) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return False
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted
        return True

    def pop(self, key: K) -> V | None:
        """Forget ``key``; return what it held."""
        with self._lock:
            found = self._items.pop(key, None)
            if found is None:
                return None
            self._bytes -= found[1]
            return found[0]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def memoize(max_entries: int, max_bytes: int, sizeof: Callable[[Any, Any], int] = _entry_size
            ) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function of hashable arguments with a ``BoundedCache`` (``fn.cache``):
    the functools.lru_cache habit, bounded by bytes too. ``sizeof(args, result)``."""
    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        cache: BoundedCache[Any, Any] = BoundedCache(max_entries, max_bytes, sizeof)
        missing = object()

        @wraps(function)
        def memoized(*args: P.args, **kwargs: P.kwargs) -> R:
            key = (args, tuple(sorted(kwargs.items()))) if kwargs else args
            found = cache.get(key, missing)
            if found is missing:
                found = function(*args, **kwargs)
                cache.put(key, found)
            return found  # type: ignore[return-value]

        memoized.cache = cache  # type: ignore[attr-defined]
        memoized.cache_clear = cache.clear  # type: ignore[attr-defined]
        return memoized
    return decorate
