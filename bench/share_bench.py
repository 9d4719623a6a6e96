"""Share-link redirect benchmark: syndicate vs nginx (a `map`) vs a naive Flask+SQLite redirect.

Usage: python bench/share_bench.py [--posts 2000] [--duration 5] [--connections 32]

Both redirect kinds of every post, to <BASE_URL>/<slug>/<yyyy>/<mm>/<dd>/<id>.html:
- short:  GET /s/<code> -> 302, Cache-Control: private, max-age=300, X-Robots-Tag: noindex,
- legacy: GET /html_News/NewsShare.html?infoCode=<id> -> 301, Cache-Control: public, max-age=86400,
answered in one run, on this machine, side by side (wrk on loopback, bounded durations) by
- nginx (Debian package) from two `map`s (code -> target, infoCode -> target),
- syndicate under its production server (`syndicate serve`, granian, 2 workers), with share
  counting on,
- a naive Flask app that queries SQLite on every request (flask.redirect), under the same
  server with the same workers, as the baseline.

wrk asks for a random post on every request (a Lua script over the paths of all posts), so
every code is hit, not one. A sample of each kind is checked on every server first (status,
Location, Cache-Control; the run stops if one is wrong). After syndicate's runs the clicks
its counter wrote to the `share_hits` table are checked: a reader counts once per code per
30 minutes in each worker, and wrk is one reader, so every post must be counted at least
once and at most once per worker (plus the checks' own reader).

It prints req/s and p99 for each kind on each server and the ratios to nginx.
Target (2 cores): short and legacy >= 0.15x nginx's req/s, with counting on.
Needs nginx and wrk: `apt-get install -y nginx wrk` (this script installs nothing).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from benchlib import (  # noqa: E402  (bench/ is not a package)
    NGINX_PREAMBLE,
    WrkResult,
    free_port,
    http_bench_args,
    post_folders,
    run_wrk,
    started,
)
from import_bench import generate  # noqa: E402

from syndicate import urls  # noqa: E402
from syndicate.core import Syndicate  # noqa: E402
from syndicate.settings import load_settings  # noqa: E402

BASE_URL = "https://news.example.com"
TARGET = 0.15
SAMPLE = 20
#: What each kind must answer: status and headers (the contract of issue 5).
EXPECTED = {
    "short": (302, {"Cache-Control": "private, max-age=300", "X-Robots-Tag": "noindex"}),
    "legacy": (301, {"Cache-Control": "public, max-age=86400"}),
}
NGINX_CONF = NGINX_PREAMBLE + """  map_hash_max_size {hash_size};
  map_hash_bucket_size 128;
  map $uri $short_target {{ include {tmp}/short.map; }}
  map $arg_infoCode $legacy_target {{ include {tmp}/legacy.map; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 404; }}
    location /s/ {{
      if ($short_target = "") {{ return 404; }}
      add_header Cache-Control "private, max-age=300";
      add_header X-Robots-Tag noindex;
      return 302 $short_target;
    }}
    location = /html_News/NewsShare.html {{
      if ($legacy_target = "") {{ return 404; }}
      add_header Cache-Control "public, max-age=86400";
      return 301 $legacy_target;
    }}
  }}
}}
"""
# wrk runs this in each of its threads: every request is a random line of the paths file.
WRK_LUA = """local requests = {{}}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  for path in io.lines("{paths}") do
    requests[#requests + 1] = wrk.format("GET", path)
  end
  math.randomseed(os.time() * 100 + id)
end

function request()
  return requests[math.random(#requests)]
end
"""
NAIVE_APP = '''
"""The baseline: what a first Flask share-link endpoint looks like (a query per request)."""
import sqlite3
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import Flask, abort, redirect, request

DB, BASE, TZ = {db!r}, {base!r}, ZoneInfo({tz!r})
app = Flask(__name__)


def target(column, value):
    conn = sqlite3.connect(DB)
    row = conn.execute("SELECT id, category, published FROM posts WHERE " + column + " = ?",
                       (value,)).fetchone()
    conn.close()
    if row is None:
        abort(404)
    post_id, slug, published = row
    local = datetime.fromisoformat(published).replace(tzinfo=timezone.utc).astimezone(TZ)
    return BASE + "/" + slug + local.strftime("/%Y/%m/%d/") + post_id + ".html"


@app.get("/s/<code>")
def short(code):
    response = redirect(target("share_code", code), 302)
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@app.get("/html_News/NewsShare.html")
def legacy():
    response = redirect(target("id", request.args.get("infoCode", "")), 301)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
'''

Results = dict[str, WrkResult]


@dataclass(frozen=True)
class Link:
    """One post's two share paths and the absolute URL both redirect to."""

    short: str
    legacy: str
    target: str

    def path(self, kind: str) -> str:
        return self.short if kind == "short" else self.legacy


def read_links(core: Syndicate) -> list[Link]:
    """Every post's share paths and canonical URL, as the store has them."""
    return [Link(urls.share_path(link.share_code), urls.legacy_share_path(link.id),
                 core.url(link.path)) for link in core.post_links()]


def write_inputs(tmp: Path, links: list[Link]) -> None:
    """The nginx maps, and one paths file and wrk script per kind."""
    with (tmp / "short.map").open("w") as short, (tmp / "legacy.map").open("w") as legacy:
        for link in links:
            short.write(f'{link.short} "{link.target}";\n')
            info_code = link.legacy.rpartition("infoCode=")[2]
            legacy.write(f'{info_code} "{link.target}";\n')
    for kind in EXPECTED:
        paths = tmp / f"{kind}.paths"
        paths.write_text("".join(link.path(kind) + "\n" for link in links))
        (tmp / f"{kind}.lua").write_text(WRK_LUA.format(paths=paths))


def check(name: str, base: str, sample: list[Link]) -> int:
    """Fail unless every sampled link answers its status, Location and headers; return the
    number of GET requests sent."""
    for kind, (status, headers) in EXPECTED.items():
        for link in sample:
            url = base + link.path(kind)
            answer = requests.get(url, allow_redirects=False, timeout=5)
            wanted = {"Location": link.target, **headers}
            got = {key: answer.headers.get(key) for key in wanted}
            if answer.status_code != status or got != wanted:
                raise SystemExit(f"{name}: GET {url} answered {answer.status_code} {got}; "
                                 f"expected {status} {wanted}")
    print(f"  {name:10} checked {len(sample)} short and {len(sample)} legacy links: "
          "status, Location and headers as expected", flush=True)
    return len(sample) * len(EXPECTED)


def measure(name: str, base: str, args: argparse.Namespace, tmp: Path) -> Results:
    results = {}
    for kind in EXPECTED:
        result = results[kind] = run_wrk(base + "/", args, script=tmp / f"{kind}.lua")
        print(f"  {name:10} {kind:6} {result.rate:10.0f} req/s  p99 {result.p99_ms:7.2f} ms"
              f"  ({result.requests} requests)", flush=True)
        if result.bad_status or result.socket_errors:
            print(f"  warning: {name} {kind}: {result.bad_status} answers >= 400, "
                  f"{result.socket_errors} socket errors", file=sys.stderr, flush=True)
    return results


def counted_clicks(db: Path) -> int:
    with closing(sqlite3.connect(db, timeout=10)) as conn:
        return int(conn.execute("SELECT COALESCE(SUM(clicks), 0) FROM share_hits").fetchone()[0])


def wait_counted(db: Path, expected: int, quiet: float = 12.0, limit: float = 30.0) -> int:
    """Clicks in ``share_hits`` once they reach ``expected`` or stop growing for ``quiet``
    seconds (the counter flushes in the background every 5 s)."""
    began = changed = time.monotonic()
    total = counted_clicks(db)
    while total < expected and time.monotonic() - changed < quiet \
            and time.monotonic() - began < limit:
        time.sleep(0.5)
        now = counted_clicks(db)
        if now != total:
            total, changed = now, time.monotonic()
    return total


def report(results: dict[str, Results]) -> None:
    """Print the table and syndicate's ratios against the target."""
    nginx = results["nginx"]
    print(f"{'':10} {'':6} {'req/s':>10} {'p99 ms':>8} {'x nginx':>8} {'requests':>9} "
          f"{'>=400':>6} {'sock err':>8}")
    for name, runs in results.items():
        for kind, r in runs.items():
            print(f"{name:10} {kind:6} {r.rate:10.0f} {r.p99_ms:8.2f} {r.rate / nginx[kind].rate:8.2f} "
                  f"{r.requests:9} {r.bad_status:6} {r.socket_errors:8}")
    for kind in EXPECTED:
        ratio = results["syndicate"][kind].rate / nginx[kind].rate
        print(f"target: syndicate {kind} {ratio:.3f}x nginx (>= {TARGET}): "
              f"{'met' if ratio >= TARGET else 'NOT met'}")


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `started` block and the temp dir


def main() -> None:
    args = http_bench_args(__doc__.splitlines()[0])
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background

    with tempfile.TemporaryDirectory(prefix="share_bench-") as tmp_name:
        tmp = Path(tmp_name)
        folder, instance = post_folders(tmp)
        generate(folder, args.posts)
        db = instance / "bench.db"
        env = {**os.environ, "SYNDICATE_DATABASE_URL": f"sqlite:///{db}",
               "SYNDICATE_BASE_URL": BASE_URL, "SYNDICATE_INSTANCE": str(instance),
               "SYNDICATE_SHARE_COUNTING": "true"}
        settings = load_settings(environ=env, instance_path=instance)
        if not settings.share_counting:
            raise SystemExit("share counting is off in the benchmark's settings")
        core = Syndicate(settings)
        core.init()
        core.import_paths([folder])
        links = read_links(core)
        core.store.dispose()
        if not links:
            raise SystemExit("no posts were imported")
        write_inputs(tmp, links)
        sample = random.Random(5).sample(links, min(SAMPLE, len(links)))
        print(f"{len(links)} posts; wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
              f"a random post per request; {os.cpu_count()} cores; servers with {args.workers} "
              "workers", flush=True)
        print(f"share counting: on (SYNDICATE_SHARE_COUNTING={env['SYNDICATE_SHARE_COUNTING']}, "
              f"settings.share_counting={settings.share_counting})", flush=True)
        results: dict[str, Results] = {}

        port = free_port()
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(
            tmp=tmp, port=port, workers=args.workers,
            hash_size=max(2048, 1 << (2 * len(links)).bit_length())))
        base = f"http://127.0.0.1:{port}"
        with started(["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], base + "/",
                     "nginx"):
            check("nginx", base, sample)
            results["nginx"] = measure("nginx", base, args, tmp)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = [sys.executable, "-c", "from syndicate.cli import main; main()", "serve",
                 "--port", str(port), "--workers", str(args.workers),
                 "--no-access-log"]  # as nginx here: `access_log off`
        with started(serve, base + "/healthz", "syndicate serve", env):
            sent = check("syndicate", base, sample)
            results["syndicate"] = measure("syndicate", base, args, tmp)
            sent += sum(r.requests for r in results["syndicate"].values())
            clicks = wait_counted(db, len(links))

        (tmp / "naive.py").write_text(NAIVE_APP.format(db=str(db), base=BASE_URL,
                                                       tz=settings.timezone))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # The same server and pool as `syndicate serve` (syndicate/serve.py).
        granian = [sys.executable, "-m", "granian", "--interface", "wsgi", "--workers",
                   str(args.workers), "--blocking-threads", "8", "--port", str(port), "naive:app"]
        with started(granian, base + "/", "naive Flask", env, cwd=tmp):
            check("naive", base, sample)
            results["naive"] = measure("naive", base, args, tmp)

    print()
    print(f"redirects to {BASE_URL}/<slug>/<yyyy>/<mm>/<dd>/<id>.html; "
          f"{len(links)} posts, each kind a random post per request")
    report(results)
    # wrk asks for every post many times from one address and agent: one reader, counted
    # once per code in each worker; the checks (another agent) add one per sampled code.
    low, high = len(links), (len(links) + len(sample)) * args.workers
    counting_ok = low <= clicks <= high
    print(f"share counting on: {clicks} clicks counted in share_hits for {sent} GETs sent to "
          f"syndicate by two readers over {len(links)} posts (expected {low} to {high}: once "
          f"per reader, code and worker): {'verified' if counting_ok else 'WRONG COUNT'}")
    if not counting_ok:
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, temporary files removed")
