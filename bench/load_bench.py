"""Load benchmark: a mixed load against `syndicate serve` on PostgreSQL with Redis.

Usage: python bench/load_bench.py [--duration 60] [--connections 64] [--workers 2]
                                  [--database-url URL] [--redis-url URL] [--quick]

One run on this machine, loopback only: N posts are imported, `syndicate serve` starts with
Redis (a private redis-server on a free port unless --redis-url is given), `syndicate worker`
polls a local upstream stub every 10 s (its feed gains an item every 30 s and answers 304 in
between), a writer publishes 5 posts/s through the API, and closed-loop clients (threads with
keep-alive sessions, one per connection) request a weighted mix of feeds (200, and 304 with
the ETag they were given), pages, short and legacy share links and sitemaps. Every URL is
fetched once before (so caches are filled), then the load runs. Prints per route: requests,
errors, p50 and p99 latency; and the RSS of each server worker after the first 15% of the
load and at the end. Targets: 0 errors; worker RSS growth under 10%. Exits 1 when a
request failed (and, for full runs, when RSS grew 10% or more).

The database given with --database-url is emptied first (default: a SQLite file in a
temporary folder, with a note: the figures that count are PostgreSQL's). Latencies include
the Python client's own time; the server and the client share the machine's cores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import requests
from benchlib import free_port, stop_group, wait_http
from import_bench import generate
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

SYNDICATE = [sys.executable, "-c", "from syndicate.cli import main; main()"]
TOKEN = "load-bench-token"
BASE = "https://news.example.com"
#: Route mix: weight of each kind of request in the closed loop (API writes come apart, 5/s).
MIX = {"feed_200": 20, "feed_304": 25, "page": 20, "post": 10, "short": 10, "legacy": 8,
       "sitemap": 4, "home": 3}
#: What each route must answer; anything else is an error.
EXPECTED = {"feed_200": {200}, "feed_304": {200, 304}, "page": {200}, "post": {200},
            "short": {302}, "legacy": {301}, "sitemap": {200}, "home": {200},
            "api_write": {200, 201}}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--posts", type=int, default=2000, help="posts imported first")
    parser.add_argument("--writes", type=float, default=5.0, help="API writes per second")
    parser.add_argument("--database-url", default=os.environ.get("SYNDICATE_BENCH_DATABASE_URL"),
                        help="database to use, emptied first (default: "
                             "SYNDICATE_BENCH_DATABASE_URL, else SQLite in a temporary folder)")
    parser.add_argument("--redis-url", default=None,
                        help="Redis to use (default: a private redis-server on a free port)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 6 s at 16 connections over 200 posts")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--log", type=Path, default=None,
                        help="append the server's and the worker's output to this file")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.connections, args.posts = 6.0, 16, 200
    return args


# --- the things under load ---------------------------------------------------------


class UpstreamStub:
    """An RSS source on loopback that gains an item every 30 s and answers 304 in between."""

    def __init__(self) -> None:
        self.answers: dict[int, int] = defaultdict(int)
        self.started = time.time()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/feed.xml"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> UpstreamStub:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()

    @Request.application  # type: ignore[arg-type]
    def _app(self, request: Request) -> Response:
        version = int((time.time() - self.started) // 30)
        etag = f'"v{version}"'
        if etag in request.headers.get("If-None-Match", ""):
            self.answers[304] += 1
            return Response(status=304, headers={"ETag": etag})
        self.answers[200] += 1
        return Response(self._feed(version), content_type="application/rss+xml; charset=utf-8",
                        headers={"ETag": etag})

    def _feed(self, version: int) -> str:
        now = datetime.now(UTC)
        items = "".join(
            f"<item><title>上游快讯第{n}条</title><link>https://up.example.com/{n}.html</link>"
            f"<guid>https://up.example.com/{n}.html</guid><pubDate>{format_datetime(now)}</pubDate>"
            f"<description>&lt;p&gt;上游快讯正文{n}。&lt;/p&gt;</description></item>"
            for n in range(max(0, version - 9), version + 1))
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>上游快讯</title><link>https://up.example.com/</link>"
                f"<description>stub</description>{items}</channel></rss>")


@contextmanager
def process(command: list[str], env: dict[str, str], ready: Callable[[], None] | None = None,
            log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group for the block; SIGTERM, then SIGKILL, after.
    Its output goes to ``log`` (appended) when given."""

    with ExitStack() as files:
        output: Any = files.enter_context(log.open("ab")) if log else subprocess.DEVNULL
        proc = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        if ready:
            ready()
        yield proc
    finally:
        stop_group(proc)


def private_redis(stack: ExitStack, env: dict[str, str]) -> str | None:
    binary = shutil.which("redis-server")
    if binary is None:
        print("note: redis-server is not installed; serving without Redis", file=sys.stderr)
        return None
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
               "no"]
    stack.enter_context(process(command, env, lambda: _wait_port(port)))
    return f"redis://127.0.0.1:{port}/0"


def _wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"redis-server did not listen on port {port}")


def empty_database(url: str) -> None:
    from sqlalchemy import text

    from syndicate.store import Store
    from syndicate.store.schema import metadata

    store = Store(url)
    with store.engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    store.dispose()


@dataclass(frozen=True)
class Site:
    """What the clients can ask for: post paths, share codes, ids, feeds and pages."""

    posts: list[str]
    codes: list[str]
    ids: list[str]
    feeds: list[str]
    pages: list[str]


def site_targets(url: str) -> Site:
    from syndicate import urls
    from syndicate.model import FeedFormat
    from syndicate.settings import load_settings
    from syndicate.store import Store

    store = Store(url)
    settings = load_settings(environ={})
    latest = store.latest(500)
    slugs = sorted({post.category.slug for post in latest})
    # Only pages that exist: an out-of-range page is a 404, and that would count as an error.
    last_page = {slug: -(-store.count(category=slug) // settings.page_size) for slug in slugs}
    store.dispose()
    feeds = [urls.site_feed_path(fmt) for fmt in FeedFormat]
    feeds += [urls.category_path(slug, fmt) for slug in slugs for fmt in FeedFormat]
    pages = [urls.category_path(slug) + f"?page={n}" for slug in slugs
             for n in range(1, min(3, last_page[slug]) + 1)]
    tz = settings.tz
    return Site([urls.post_path(post, tz) for post in latest], [p.share_code for p in latest],
                [p.id for p in latest], feeds, pages)


# --- the clients ---------------------------------------------------------------------


@dataclass
class Tally:
    """Latencies (ms) and errors per route, and a sample of what went wrong."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    samples: list[str] = field(default_factory=list)

    def add(self, route: str, started: float, outcome: int | str) -> None:
        self.latency[route].append((time.perf_counter() - started) * 1000)
        self.statuses[route][str(outcome)] += 1
        if outcome not in EXPECTED[route]:
            self.errors[route] += 1
            if len(self.samples) < 10:
                self.samples.append(f"{route}: {outcome}")

    def merge(self, other: Tally) -> None:
        for route, values in other.latency.items():
            self.latency[route].extend(values)
        for route, count in other.errors.items():
            self.errors[route] += count
        for route, counts in other.statuses.items():
            self.statuses[route].update(counts)
        self.samples.extend(other.samples[: 10 - len(self.samples)])


class Client(threading.Thread):
    """One keep-alive connection in a closed loop: the next request when the last one ended."""

    def __init__(self, origin: str, site: Site, stop: threading.Event, seed: int) -> None:
        super().__init__(daemon=True)
        self.origin, self.site, self.stop = origin, site, stop
        self.random = random.Random(seed)
        self.session = requests.Session()
        self.etags: dict[str, str] = {}
        self.tally = Tally()
        self.routes = list(MIX)
        self.weights = list(MIX.values())

    def run(self) -> None:
        while not self.stop.is_set():
            route = self.random.choices(self.routes, self.weights)[0]
            path, headers = self.request(route)
            started = time.perf_counter()
            try:
                response = self.session.get(self.origin + path, headers=headers,
                                            allow_redirects=False, timeout=30)
                outcome: int | str = response.status_code
                if route.startswith("feed") and "ETag" in response.headers:
                    self.etags[path] = response.headers["ETag"]
            except requests.RequestException as error:
                outcome = type(error).__name__
            self.tally.add(route, started, outcome)

    def request(self, route: str) -> tuple[str, dict[str, str]]:
        pick, site = self.random.choice, self.site
        if route == "feed_200":
            return pick(site.feeds), {"Accept-Encoding": "gzip"}
        if route == "feed_304":
            path = pick(site.feeds)
            etag = self.etags.get(path)
            return path, {"Accept-Encoding": "gzip", **({"If-None-Match": etag} if etag else {})}
        if route == "page":
            return pick(site.pages), {}
        if route == "post":
            return pick(site.posts), {}
        if route == "short":
            return f"/s/{pick(site.codes)}", {}
        if route == "legacy":
            return f"/html_News/NewsShare.html?infoCode={pick(site.ids)}", {}
        if route == "sitemap":
            return pick(("/sitemap.xml", "/sitemap-news.xml", "/sitemap-pages.xml")), {}
        return "/", {}


class Writer(threading.Thread):
    """Publish posts through the API at a steady rate, each write in its own thread (a slow
    answer does not lower the rate); every fifth write updates the post before it."""

    def __init__(self, origin: str, rate: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.origin, self.rate, self.stop = origin, rate, stop
        self.tally = Tally()
        self.lock = threading.Lock()
        self.day = f"{datetime.now(UTC):%Y%m%d}"

    def run(self) -> None:
        began = time.monotonic()
        with ThreadPoolExecutor(16, thread_name_prefix="write") as pool:
            for n in itertools.count():
                if self.stop.wait(max(0.0, began + n / self.rate - time.monotonic())):
                    return
                pool.submit(self.write, n)

    def write(self, n: int) -> None:
        number = n - 1 if n % 5 == 4 else n
        body = {"id": f"NW{self.day}{900000000 + number:010d}", "media": "财联社",
                "title": f"接口发布的新闻第{number}条", "date": datetime.now(UTC).isoformat(),
                "html": f"<p>正文第{n}版。</p>"}
        started = time.perf_counter()
        try:
            outcome: int | str = requests.post(
                self.origin + "/api/posts", json=body, timeout=30,
                headers={"Authorization": f"Bearer {TOKEN}"}).status_code
        except requests.RequestException as error:
            outcome = type(error).__name__
        with self.lock:
            self.tally.add("api_write", started, outcome)


def warm_up(origin: str, site: Site) -> None:
    """Fetch every URL the clients will ask for once, so RSS growth is not the caches filling."""
    paths = [*site.feeds, *site.pages, *site.posts, "/", "/sitemap.xml", "/sitemap-news.xml",
             "/sitemap-pages.xml"]
    session = requests.Session()
    for path in paths:
        session.get(origin + path, timeout=30)
        session.get(origin + path, headers={"Accept-Encoding": "gzip"}, timeout=30)


# --- measuring ---------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the server's workers), read from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children[parent].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_rss(server_pid: int) -> dict[int, float]:
    """RSS of each worker (the processes with no children of their own under the server)."""
    below = descendants(server_pid)
    workers = [pid for pid in below if not descendants(pid)] or [server_pid]
    return {pid: rss_mib(pid) for pid in workers}


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


# --- the run -------------------------------------------------------------------------


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    database = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    if not args.database_url:
        print("note: no --database-url: SQLite (the target figures are for PostgreSQL)",
              file=sys.stderr)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env.update(SYNDICATE_DATABASE_URL=database, SYNDICATE_BASE_URL=BASE,
               SYNDICATE_INSTANCE=str(tmp), SYNDICATE_API_TOKENS=TOKEN,
               SYNDICATE_SOURCES=str(tmp / "sources.toml"))
    with ExitStack() as stack:
        redis_url = args.redis_url or private_redis(stack, env)
        if redis_url:
            env["SYNDICATE_REDIS_URL"] = redis_url
        empty_database(database)
        folder = tmp / "_posts"
        folder.mkdir()
        generate(folder, args.posts)
        subprocess.run([*SYNDICATE, "import", "--no-progress", str(folder)], env=env, check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        stub = stack.enter_context(UpstreamStub())
        (tmp / "sources.toml").write_text(
            f'[[source]]\nname = "stub"\nkind = "feed"\nurl = "{stub.url}"\n'
            f'media = "上游快讯"\nevery = "10s"\n', encoding="utf-8")
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        server = stack.enter_context(process(
            [*SYNDICATE, "serve", "--port", str(port), "--workers", str(args.workers)], env,
            log=args.log))
        wait_http(origin + "/healthz", server, "syndicate serve")
        stack.enter_context(process([*SYNDICATE, "worker", "--quiet"], env, log=args.log))
        return load(args, origin, server.pid, site_targets(database), stub,
                    "PostgreSQL" if database.startswith("postgresql") else "SQLite",
                    bool(redis_url))


def load(args: argparse.Namespace, origin: str, server_pid: int, site: Site,
         stub: UpstreamStub, database: str, redis: bool) -> dict[str, Any]:
    warm_up(origin, site)
    stop = threading.Event()
    clients = [Client(origin, site, stop, seed) for seed in range(args.connections)]
    writer = Writer(origin, args.writes, stop)
    for thread in (*clients, writer):
        thread.start()
    warmup = max(2.0, args.duration * 0.15)
    time.sleep(warmup)
    warm_rss = worker_rss(server_pid)
    # RSS along the way: a bounded cache filling levels off, a leak keeps climbing.
    timeline = [sum(warm_rss.values())]
    step = (args.duration - warmup) / 5
    for _ in range(5):
        time.sleep(max(0.0, step))
        timeline.append(sum(worker_rss(server_pid).values()))
    end_rss = worker_rss(server_pid)
    stop.set()
    for thread in (*clients, writer):
        thread.join(60)
    tally = Tally()
    for part in (*clients, writer):
        tally.merge(part.tally)
    growth = max(((end_rss.get(pid, 0) / mib - 1) * 100 for pid, mib in warm_rss.items()
                  if mib), default=0.0)
    return {
        "duration": args.duration, "connections": args.connections, "workers": args.workers,
        "posts": args.posts, "database": database, "redis": redis,
        "routes": {route: {"requests": len(values), "errors": tally.errors.get(route, 0),
                           "p50_ms": percentile(values, 0.50), "p99_ms": percentile(values, 0.99),
                           "statuses": dict(sorted(tally.statuses[route].items()))}
                   for route, values in sorted(tally.latency.items())},
        "errors": sum(tally.errors.values()), "error_samples": tally.samples,
        "requests": sum(len(v) for v in tally.latency.values()),
        "upstream": dict(stub.answers),
        "rss_warm_mib": sorted(warm_rss.values()), "rss_end_mib": sorted(end_rss.values()),
        "rss_growth_pct": growth, "rss_total_timeline_mib": timeline,
    }


def report(figures: dict[str, Any]) -> None:
    print(f"load: {figures['duration']:.0f} s, {figures['connections']} connections, "
          f"{figures['workers']} workers, {figures['database']}"
          f"{' + Redis' if figures['redis'] else ''}, {figures['posts']} posts")
    print(f"{'route':<10} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for route, row in figures["routes"].items():
        statuses = " ".join(f"{status}:{count}" for status, count in row["statuses"].items())
        print(f"{route:<10} {row['requests']:>9} {row['errors']:>7} {row['p50_ms']:>8.1f} "
              f"{row['p99_ms']:>8.1f}  {statuses}")
    print(f"total      {figures['requests']:>9} {figures['errors']:>7}   "
          f"{figures['requests'] / figures['duration']:.0f} req/s")
    upstream = figures["upstream"]
    print(f"poller: upstream stub answered {upstream.get(200, 0)} x 200, "
          f"{upstream.get(304, 0)} x 304")
    warm = ", ".join(f"{v:.0f}" for v in figures["rss_warm_mib"])
    end = ", ".join(f"{v:.0f}" for v in figures["rss_end_mib"])
    print(f"worker RSS MiB: after warm-up [{warm}] -> end [{end}]; "
          f"largest growth {figures['rss_growth_pct']:+.1f}%  target: < 10%")
    timeline = " -> ".join(f"{v:.0f}" for v in figures["rss_total_timeline_mib"])
    print(f"all workers' RSS MiB along the load: {timeline}")
    for sample in figures["error_samples"]:
        print(f"  error: {sample}")
    print(f"errors: {figures['errors']}  target: 0")


def main() -> None:
    args = parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the stub's access log
    with tempfile.TemporaryDirectory(prefix="syndicate-load-") as tmp:
        figures = run(args, Path(tmp))
    report(figures)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    failed = figures["errors"] > 0 or (not args.quick and figures["rss_growth_pct"] >= 10)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
