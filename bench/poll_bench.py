"""Polling benchmark: one full cycle over N sources served by a local server, most answering 304.

Usage: python bench/poll_bench.py [--sources 2000] [--changed 0.05] [--threads 16]
                                  [--per-host 4] [--database-url URL]

A werkzeug server in a separate process (so its memory is not counted) serves N RSS feeds
on 127.0.0.1, each with an ETag. The real Poller then runs, in this process:
- a cold cycle: every source answers 200 with 3 items, and every item becomes a post;
- a warm cycle (the figure that matters, target < 60 s for 2,000 sources): every source is
  due again, is asked with If-None-Match, and all but ``--changed`` of them answer 304;
  the changed ones answer 200 with one new item.
It prints the time of each cycle, requests per second, the outcome counts and the peak RSS
of this (the worker's) process. Everything is bounded: N requests per cycle, 2 cycles,
and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import socket
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RSS = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{media}</title>'
       "<link>http://127.0.0.1/</link><description>bench</description>{items}</channel></rss>")
ITEM = ("<item><title>第{n}号源第{i}条新闻</title><link>http://127.0.0.1/{n}/{i}.html</link>"
        "<guid>http://127.0.0.1/{n}/{i}.html</guid><pubDate>Mon, 09 Mar 2026 10:{m:02d}:00 +0800"
        "</pubDate><description><![CDATA[<p>第{n}号源的第{i}条新闻正文，用于基准测试。</p>]]>"
        "</description></item>")
MEDIA = ["财联社", "证券时报", "中国电子报", "上海证券报", "中国基金报", "每日经济新闻", "券商中国"]


def serve(port: int, generation: multiprocessing.sharedctypes.Synchronized[int],
          changed_every: int) -> None:
    """Serve /feed/<n>.xml: generation 0 gives 3 items; later, every k-th feed gains one."""
    from werkzeug.serving import WSGIRequestHandler, make_server
    from werkzeug.wrappers import Request, Response

    WSGIRequestHandler.log = lambda *args, **kwargs: None  # type: ignore[method-assign]

    def feed(n: int) -> tuple[str, str]:
        extra = 1 if generation.value and changed_every and n % changed_every == 0 else 0
        items = "".join(ITEM.format(n=n, i=i, m=i) for i in range(3 + extra))
        return RSS.format(media=MEDIA[n % len(MEDIA)], items=items), f'"{n}-{3 + extra}"'

    @Request.application
    def app(request: Request) -> Response:
        n = int(request.path.rsplit("/", 1)[-1].split(".")[0])
        body, etag = feed(n)
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, content_type="application/rss+xml; charset=utf-8",
                        headers={"ETag": etag, "Cache-Control": "max-age=60"})

    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the benchmark server did not start")


def run_cycle(label: str, poller: object, sources: int) -> None:
    began = time.perf_counter()
    results = poller.run_due()  # type: ignore[attr-defined]
    took = time.perf_counter() - began
    statuses = Counter(str(r.status) for r in results)
    new = sum(r.new for r in results)
    updated = sum(r.updated for r in results)
    print(f"{label}: {len(results)}/{sources} sources in {took:.1f} s "
          f"({len(results) / took:.0f} sources/s); {dict(statuses)}; {new} new posts, "
          f"{updated} updated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--changed", type=float, default=0.05,
                        help="share of sources whose feed changed for the warm cycle")
    parser.add_argument("--threads", type=int, default=16, help="poller threads")
    parser.add_argument("--per-host", type=int, default=4,
                        help="requests at once per host (the service's limit; every source "
                             "here is on one host, so this bounds the whole cycle)")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    from syndicate.core import Syndicate
    from syndicate.ingest.poll import FetchPolicy, HttpClient, Poller, user_agent
    from syndicate.settings import load_settings
    from syndicate.sources import parse_sources

    port = free_port()
    generation = multiprocessing.Value("i", 0)
    changed_every = round(1 / args.changed) if args.changed else 0
    server = multiprocessing.Process(target=serve, args=(port, generation, changed_every),
                                     daemon=True)
    server.start()
    try:
        wait_for(port)
        with tempfile.TemporaryDirectory() as folder:
            url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
            settings = load_settings({"DATABASE_URL": url, "BASE_URL": "https://news.example.com"},
                                     environ={}, instance_path=Path(folder))
            core = Syndicate(settings)
            core.init()
            sources = parse_sources({"source": [
                {"name": f"s{n}", "kind": "feed", "url": f"http://127.0.0.1:{port}/feed/{n}.xml",
                 "every": "1m"} for n in range(args.sources)]}, "bench")
            offset = timedelta()
            policy = FetchPolicy(user_agent(settings.base_url), per_host=args.per_host)
            poller = Poller(core, sources, client=HttpClient(policy), concurrency=args.threads,
                            clock=lambda: datetime.now(UTC) + offset)
            print(f"{args.sources} feed sources on 127.0.0.1:{port}, {args.threads} threads, "
                  f"{args.per_host} per host, database {url.split(':')[0]}")
            run_cycle("cold cycle (all 200, 3 items each)", poller, args.sources)
            generation.value = 1
            offset = timedelta(days=1)  # every source is due again
            run_cycle(f"warm cycle ({args.changed:.0%} changed, the rest 304)", poller,
                      args.sources)
            core.store.dispose()
    finally:
        server.terminate()
        server.join(5)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"worker peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
