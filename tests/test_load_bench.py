"""The load benchmark's smoke run: a short mixed load on the real server answers without errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import PG_URL

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_load_bench_quick_run_has_no_errors() -> None:
    # PostgreSQL when the tests have one (the bench empties it first, as each test does).
    database = ["--database-url", PG_URL] if PG_URL else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    run = subprocess.run([sys.executable, "load_bench.py", "--quick", "--json", *database],
                         cwd=BENCH, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    figures = json.loads(run.stdout.splitlines()[-1])
    assert figures["errors"] == 0
    routes = figures["routes"]
    assert set(routes) == {"api_write", "feed_200", "feed_304", "home", "legacy", "page", "post",
                           "short", "sitemap"}
    assert all(row["requests"] > 0 for row in routes.values())
    assert figures["upstream"].get("200", 0) >= 1  # the poller fetched the upstream stub
    assert figures["rss_warm_mib"] and figures["rss_end_mib"]
