"""Feed serving benchmark: syndicate vs nginx (static bytes) vs a naive Flask+feedgen handler.

Usage: python bench/feed_bench.py [--posts 2000] [--duration 5] [--connections 32]

One run, on this machine, side by side (wrk on loopback, bounded durations):
- nginx (Debian package) serving the very same feed bytes as a static file,
- syndicate under its production server (`syndicate serve`, granian, 2 workers),
- a naive Flask + feedgen + SQLite handler (query and render on every request; ETag
  from the rendered bytes) under the same server, as the baseline.

It prints req/s and p99 for a warm feed 200, a 304 (If-None-Match), HEAD and a gzip 200,
the ratios to nginx, the in-process render time of a 50-entry feed with gzip, and the
time from committing a new post to the first response that carries it.

Targets (2 cores): warm 200 >= 0.5x nginx, 304 >= 0.15x nginx, render + gzip <= 5 ms.
Needs nginx and wrk: `apt-get install -y nginx wrk` (this script installs nothing); HEAD is
measured with ApacheBench when present (`apt-get install -y apache2-utils`), because wrk 4.1
waits for a body after a HEAD answer and never completes one.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from benchlib import NGINX_PREAMBLE, free_port, http_bench_args, post_folders, started, wrk  # noqa: E402  (bench/ is not a package)
from import_bench import generate  # noqa: E402

from syndicate.core import FeedRequest, Syndicate  # noqa: E402
from syndicate.model import FeedFormat  # noqa: E402
from syndicate.settings import load_settings  # noqa: E402

SLUG = "zhongguodianzibao"
FEED = f"/category/{SLUG}.atom"
NGINX_CONF = NGINX_PREAMBLE + """  sendfile on;
  gzip_static on;
  types {{ application/atom+xml atom; }}
  server {{
    listen 127.0.0.1:{port};
    root {tmp}/www;
    location / {{ etag on; add_header Cache-Control "public, max-age=300"; }}
  }}
}}
"""
NAIVE_APP = '''
"""The baseline: what a first Flask feed endpoint looks like (query + feedgen per request)."""
import hashlib, sqlite3
from datetime import datetime, timezone
from feedgen.feed import FeedGenerator
from flask import Flask, Response, request

DB = {db!r}
app = Flask(__name__)

@app.get("/category/<slug>.atom")
def feed(slug):
    conn = sqlite3.connect(DB)
    rows = conn.execute(
        "SELECT p.id, p.title, p.published, p.updated, p.html, p.summary FROM posts p "
        "JOIN post_categories c ON c.post_id = p.id WHERE c.slug = ? "
        "ORDER BY c.published DESC, p.id DESC LIMIT 50", (slug,)).fetchall()
    conn.close()
    fg = FeedGenerator()
    fg.id("tag:bench:" + slug); fg.title(slug); fg.link(href="http://example.com/", rel="alternate")
    for pid, title, published, updated, html, summary in rows:
        fe = fg.add_entry(order="append")
        fe.id("tag:bench:" + pid); fe.title(title); fe.link(href="http://example.com/" + pid)
        fe.content(html, type="html"); fe.summary(summary)
        fe.published(datetime.fromisoformat(published).replace(tzinfo=timezone.utc))
        fe.updated(datetime.fromisoformat(updated).replace(tzinfo=timezone.utc))
    body = fg.atom_str(pretty=False)
    response = Response(body, content_type="application/atom+xml; charset=utf-8")
    response.set_etag(hashlib.sha1(body).hexdigest())
    return response.make_conditional(request)
'''


def ab_head(url: str, args: argparse.Namespace) -> tuple[float, float]:
    """HEAD with ApacheBench (wrk 4.1 hangs on HEAD: its parser waits for the body)."""
    command = ["ab", "-q", "-k", "-i", "-c", str(args.connections), "-t", str(args.duration),
               "-n", "100000000", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         timeout=args.duration + 30).stdout
    rate = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"^\s*99%\s+(\d+)", out, re.MULTILINE)
    return rate, float(p99.group(1)) if p99 else float("nan")


def measure(name: str, url: str, args: argparse.Namespace, etag: str, tmp: Path,
            kinds: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    results = {}
    for kind in kinds:
        if kind == "200":
            results[kind] = wrk(url, args)
        elif kind == "304":
            results[kind] = wrk(url, args, {"If-None-Match": etag})
        elif kind == "HEAD":
            if not shutil.which("ab"):
                print("  HEAD skipped: wrk cannot read HEAD answers (it waits for a body); "
                      "`apt-get install -y apache2-utils` adds ab for it", flush=True)
                continue
            results[kind] = ab_head(url, args)
        elif kind == "gzip 200":
            results[kind] = wrk(url, args, {"Accept-Encoding": "gzip"})
        print(f"  {name:10} {kind:9} {results[kind][0]:10.0f} req/s  p99 {results[kind][1]:7.2f} ms",
              flush=True)
    return results


def render_times(core: Syndicate, runs: int = 30) -> tuple[float, float, float, float]:
    """Median ms: fetching the 50 posts; rendering them and gzipping, entries not yet
    cleaned and already cleaned; the whole miss (fetch + render + gzip)."""
    from syndicate.cache import Rendered
    from syndicate.feeds import _cleaned

    view = core.feeds
    doc = view.document(FeedRequest("category", SLUG, FeedFormat.ATOM))
    key, size = doc.state.key, core.settings.feed_size
    fetch, cold, warm, miss = [], [], [], []
    for _ in range(runs):
        began = time.perf_counter()
        posts = core.store.feed_latest(key, size)
        fetch.append(time.perf_counter() - began)
        _cleaned.cache_clear()
        began = time.perf_counter()
        Rendered.of(view._build(doc, posts, {}, doc.state.changed))
        cold.append(time.perf_counter() - began)
        began = time.perf_counter()
        Rendered.of(view._build(doc, posts, {}, doc.state.changed))
        warm.append(time.perf_counter() - began)
        began = time.perf_counter()
        Rendered.of(view._render(doc))
        miss.append(time.perf_counter() - began)
    return tuple(statistics.median(x) * 1000 for x in (fetch, cold, warm, miss))  # type: ignore[return-value]


def propagation(core: Syndicate, base: str, rounds: int = 5) -> list[float]:
    """ms from a post's commit to the first feed response carrying it."""
    from datetime import UTC, datetime

    from syndicate.model import PostInput

    times = []
    for n in range(rounds):
        title = f"基准测试新稿{n}"
        began = time.perf_counter()
        core.save([PostInput(id=f"NW{209901010000000000 + n}", title=title,
                             published=datetime.now(UTC), category_name="中国电子报",
                             category_slug=SLUG, tags=("中国电子报新闻",),
                             html=f"<p>{title}</p>", summary=title, source="中国电子报")])
        while title not in requests.get(base + FEED, timeout=5).text:
            pass
        times.append((time.perf_counter() - began) * 1000)
        time.sleep(0.2)
    return times


def main() -> None:
    args = http_bench_args(__doc__.splitlines()[0])

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder, instance = post_folders(tmp)
        generate(folder, args.posts)
        db = instance / "bench.db"
        settings = load_settings({"DATABASE_URL": f"sqlite:///{db}"}, environ={},
                                 instance_path=instance)
        core = Syndicate(settings)
        core.init()
        core.import_paths([folder])
        fetch, cold, warm, miss = render_times(core)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "SYNDICATE_DATABASE_URL": f"sqlite:///{db}",
               "SYNDICATE_BASE_URL": "http://127.0.0.1:8000", "SYNDICATE_INSTANCE": str(instance)}
        serve = [sys.executable, "-c", "from syndicate.cli import main; main()", "serve",
                 "--port", str(port), "--workers", str(args.workers),
                 "--no-access-log"]  # as nginx here: `access_log off`
        print(f"{args.posts} posts; wrk -t{args.threads} -c{args.connections} -d{args.duration}s; "
              f"{os.cpu_count()} cores; servers with {args.workers} workers", flush=True)
        kinds = ("200", "304", "HEAD", "gzip 200")
        with started(serve, base + "/healthz", "syndicate serve", env):
            first = requests.get(base + FEED, timeout=5)
            body, etag = first.content, first.headers["ETag"]
            (tmp / "www").mkdir()
            tmp.chmod(0o755)  # nginx workers run as an unprivileged user
            (tmp / "www" / "feed.atom").write_bytes(body)
            (tmp / "www" / "feed.atom.gz").write_bytes(gzip.compress(body, 6, mtime=0))
            syndicate = measure("syndicate", base + FEED, args, etag, tmp, kinds)
            moves = propagation(core, base)

        nginx_port = free_port()
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=nginx_port,
                                                           workers=args.workers))
        nginx_base = f"http://127.0.0.1:{nginx_port}"
        with started(["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                     nginx_base + "/feed.atom", "nginx"):
            probe = requests.get(nginx_base + "/feed.atom", timeout=5,
                                 headers={"Accept-Encoding": "identity"})
            if "ETag" not in probe.headers:
                raise SystemExit(f"nginx sent no ETag: {probe.status_code} {dict(probe.headers)}")
            nginx_etag = probe.headers["ETag"]
            nginx = measure("nginx", nginx_base + "/feed.atom", args, nginx_etag, tmp, kinds)

        (tmp / "naive.py").write_text(NAIVE_APP.format(db=str(db)))
        naive_port = free_port()
        naive_base = f"http://127.0.0.1:{naive_port}"
        granian = [sys.executable, "-m", "granian", "--interface", "wsgi", "--workers",
                   str(args.workers), "--port", str(naive_port), "naive:app"]
        with started(granian, naive_base + FEED, "naive Flask", env, cwd=tmp):
            naive_etag = requests.get(naive_base + FEED, timeout=5).headers["ETag"]
            naive = measure("naive", naive_base + FEED, args, naive_etag, tmp, ("200", "304"))
        core.store.dispose()

    print()
    print(f"feed: {FEED}, {len(body)} bytes, 50 entries")
    print(f"{'':10} {'':9} {'req/s':>10} {'p99 ms':>8} {'x nginx':>8}")
    for name, results in (("nginx", nginx), ("syndicate", syndicate), ("naive", naive)):
        for kind, (rate, p99) in results.items():
            ratio = rate / nginx[kind][0] if kind in nginx else float("nan")
            print(f"{name:10} {kind:9} {rate:10.0f} {p99:8.2f} {ratio:8.2f}")
    print()
    print(f"render 50-entry Atom + gzip: {warm:.2f} ms (entries cleaned before), "
          f"{cold:.2f} ms (every entry cleaned afresh)   target <= 5 ms")
    print(f"fetch the 50 posts: {fetch:.2f} ms; whole miss (fetch + render + gzip): {miss:.2f} ms")
    print(f"new post -> first served feed: median {statistics.median(moves):.1f} ms, "
          f"max {max(moves):.1f} ms")
    print(f"targets: warm 200 {syndicate['200'][0] / nginx['200'][0]:.2f}x (>= 0.5), "
          f"304 {syndicate['304'][0] / nginx['304'][0]:.2f}x (>= 0.15)")


if __name__ == "__main__":
    main()
