"""Parse post files on every core while the caller stores them, in order and in bounded memory.

Reading, rendering and sanitising a post costs about as much as storing it, and the store
wants one writer: so files are parsed in worker processes and handed back in the order
they were given, with only a few chunks in flight at a time (``Executor.map`` would
submit the whole, possibly million-file, input at once).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

from ..errors import InvalidPost
from ..model import PostInput
from .jekyll import read_post_file

#: A file's parse result: the post, or (origin, reason) when it was rejected.
Parsed = PostInput | tuple[str, str]
#: Units of files (an article's files travel together) sent to a worker at once.
CHUNK = 64
#: Chunks queued per worker: enough to keep it busy while the writer commits.
AHEAD = 16


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_file(path: Path, tz: ZoneInfo) -> Parsed:
    """Parse one file; a rejected file gives its origin and the reason."""
    try:
        return read_post_file(path, tz=tz)
    except InvalidPost as error:
        return error.origin or str(path), str(error.args[0])


def _parse_units(units: list[Sequence[Path]], tz: ZoneInfo) -> list[list[Parsed]]:
    return [[parse_file(path, tz) for path in unit] for unit in units]


def parse_units(units: Iterable[Sequence[Path]], tz: ZoneInfo,
                workers: int = 1) -> Iterator[tuple[Sequence[Path], list[Parsed]]]:
    """Yield each unit of files with its parse results, in the order given.

    With ``workers`` above 1 the files are parsed in that many processes, forked from a
    fresh server process that has loaded the parser once (so no thread or connection of
    the caller is copied into them, and each worker starts in milliseconds).
    """
    if workers <= 1:
        for unit in units:
            yield unit, [parse_file(path, tz) for path in unit]
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from _pipelined(pool, iter(units), tz, workers * AHEAD)


def _pipelined(pool: ProcessPoolExecutor, units: Iterator[Sequence[Path]], tz: ZoneInfo,
               depth: int) -> Iterator[tuple[Sequence[Path], list[Parsed]]]:
    pending: deque[tuple[list[Sequence[Path]], Future[list[list[Parsed]]]]] = deque()

    def submit() -> bool:
        chunk = list(islice(units, CHUNK))
        if chunk:
            pending.append((chunk, pool.submit(_parse_units, chunk, tz)))
        return bool(chunk)

    try:
        while len(pending) < depth and submit():
            pass
        while pending:
            chunk, future = pending.popleft()
            results = future.result()
            submit()
            yield from zip(chunk, results, strict=True)
    finally:  # the caller stopped early (an error, Ctrl-C): parse nothing more
        for _chunk, future in pending:
            future.cancel()
