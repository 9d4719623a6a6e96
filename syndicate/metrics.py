"""Prometheus metrics: what the site serves and how its background work keeps up.

The only module importing ``prometheus_client``, and only on first use: the library picks
its multi-process mode when it is imported, from ``PROMETHEUS_MULTIPROC_DIR``, which
``syndicate serve`` sets (a fresh folder per run) before its workers start. In that mode
every worker writes its counts to files in the folder and a scrape of any worker adds up
all of them; without it (``flask run``, tests, ``syndicate worker``) counts are this
process's own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

#: The route classes requests are counted under: never raw paths, so the series are few.
ROUTE_CLASSES = ("feed", "feed_304", "page", "post", "share", "legacy", "api", "sitemap",
                 "other")

#: Latency buckets (seconds): cached feeds answer in well under a millisecond, a cold
#: render of a big page takes a good part of a second.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _Metrics:
    """The metric objects, made once per process."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter("syndicate_http_requests", "HTTP requests answered, by route "
                                "class and status class.", ["route", "status"])
        self.latency = Histogram("syndicate_http_request_duration_seconds", "Time to answer "
                                 "a request (a streamed body: to its last byte), by route class.",
                                 ["route"], buckets=BUCKETS)
        self.cache = Counter("syndicate_render_cache", "Rendered-document cache lookups: a "
                             "hit served stored bytes, a miss rendered.", ["result"])
        self.polls = Counter("syndicate_polls", "Polls of upstream sources, by source and "
                             "outcome.", ["source", "outcome"])
        self.flush_lag = Gauge("syndicate_share_flush_lag_seconds", "Age of the oldest share "
                               "count not yet written to the database (0: all written); the "
                               "largest of the live workers.", multiprocess_mode="livemax")


@cache
def _metrics() -> _Metrics:
    return _Metrics()


def enabled() -> bool:
    """True once this process has created its metrics (something asked for them)."""
    return _metrics.cache_info().currsize > 0


def observe_request(route: str, status: int, seconds: float) -> None:
    """Count one answered request of ``route`` class with ``status``, taking ``seconds``."""
    m = _metrics()
    m.requests.labels(route, f"{status // 100}xx").inc()
    m.latency.labels(route).observe(seconds)


def cache_lookup(hit: bool) -> None:
    """Count one rendered-document cache lookup (only once metrics are in use here)."""
    if enabled():
        _metrics().cache.labels("hit" if hit else "miss").inc()


def poll_outcome(source: str, outcome: str) -> None:
    """Count one poll of ``source`` that ended in ``outcome``."""
    _metrics().polls.labels(source, outcome).inc()


def share_flush_lag(seconds: float) -> None:
    """Record how long this worker's oldest unwritten share count has waited."""
    if enabled():
        _metrics().flush_lag.set(seconds)


def prepare() -> None:
    """Create this process's metrics now, so that they count from the first request."""
    _metrics()


def exposition(*live: Callable[[], Iterator[Any]]) -> tuple[bytes, str]:
    """Return the text exposition (body, media type): every worker's metrics when running
    multi-process, this process's otherwise, plus the ``live`` collectors read now."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    _metrics()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    if live:
        extra = CollectorRegistry()
        for collect in live:
            extra.register(_Live(collect))
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST


class _Live:
    """A collector whose samples are read when scraped (e.g. from the database)."""

    def __init__(self, collect: Callable[[], Iterator[Any]]) -> None:
        self.collect = collect


def gauge(name: str, documentation: str, value: float) -> Any:
    """A gauge family with one sample, for live collectors."""
    from prometheus_client.core import GaugeMetricFamily

    return GaugeMetricFamily(name, documentation, value=value)


def worker_exit(pid: int) -> None:
    """Drop the live-worker gauges of a worker that stopped (multi-process mode only)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def serve_http(port: int, host: str = "127.0.0.1") -> None:
    """Serve this process's metrics on ``host:port`` from a background thread."""
    from prometheus_client import start_http_server

    prepare()
    start_http_server(port, addr=host)
