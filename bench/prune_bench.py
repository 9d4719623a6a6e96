"""Prune benchmark: delete the oldest third of N generated posts, this tree against a baseline.

Usage: python bench/prune_bench.py [--posts 100000] [--baseline /tmp/scale-base]
                                   [--postgres URL] [--no-sqlite]

Generates N posts with ``scale_gen`` (three years of news over 2,000 categories), imports
them once with this tree, then runs ``syndicate prune`` of this tree and of the baseline
checkout (``git worktree add --detach /tmp/scale-base main``) on identical copies of that
database (a file copy on SQLite; ``CREATE DATABASE … TEMPLATE`` on PostgreSQL, next to the
database of ``--postgres``, which must be one this benchmark may empty). While a prune
runs, a probe commits a small write (a share-count row, as the running site does) every
50 ms and records how long each waited: the longest wait is how long the prune blocked
the site's writers. Prints seconds, posts deleted per second and the longest probe wait.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scale_gen import SPAN, START, generate  # noqa: E402


def cli(tree: Path, database: str, *args: str) -> str:
    """Run a ``syndicate`` command of ``tree`` on ``database``; return its output."""
    env = {**os.environ, "PYTHONPATH": str(tree), "SYNDICATE_DATABASE_URL": database}
    done = subprocess.run([sys.executable, "-c", "from syndicate.cli import main; main()", *args],
                          env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"syndicate {args[0]} with {tree} failed: {done.stderr[-2000:]}")
    return done.stdout


class Probe:
    """Commit a tiny write every 50 ms in a thread; remember the longest wait and failures."""

    def __init__(self, database: str) -> None:
        self.engine = create_engine(database, connect_args=(
            {"timeout": 60} if database.startswith("sqlite") else {}))
        self.longest = 0.0
        self.failures = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            began = time.perf_counter()
            try:
                with self.engine.begin() as conn:
                    conn.execute(text("INSERT INTO share_hits (code, day, clicks, previews) "
                                      "VALUES (:code, '2099-01-01', 1, 0)"), {"code": f"probe{n}"})
            except Exception:  # noqa: BLE001 - a locked database is what is measured
                self.failures += 1
            self.longest = max(self.longest, time.perf_counter() - began)
            time.sleep(0.05)

    def __enter__(self) -> Probe:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.engine.dispose()


def copy_database(source: str, target: str) -> None:
    """Make ``target`` an exact copy of ``source`` (a SQLite file or a PostgreSQL database)."""
    if source.startswith("sqlite"):
        shutil.copyfile(source.removeprefix("sqlite:///"), target.removeprefix("sqlite:///"))
        return
    admin = create_engine(make_url(source).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        name, template = make_url(target).database, make_url(source).database
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}"'))
    admin.dispose()


def prepare(database: str, site: Path) -> None:
    """Import the generated site into an empty ``database`` with this tree."""
    if database.startswith("postgresql"):
        engine = create_engine(database)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    else:
        Path(database.removeprefix("sqlite:///")).unlink(missing_ok=True)
    cli(HERE.parent, database, "import", "--no-progress", str(site / "_posts"),
        str(site / "old_post"))
    if database.startswith("sqlite"):  # fold the WAL into the file before copying it
        engine = create_engine(database)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()


def prune(tree: Path, database: str, days: int) -> tuple[float, int, Probe]:
    with Probe(database) as probe:
        began = time.perf_counter()
        out = cli(tree, database, "prune", "--older-than", f"{days}d")
        elapsed = time.perf_counter() - began
    deleted = int(out.split("Deleted ", 1)[1].split()[0]) if "Deleted " in out else -1
    return elapsed, deleted, probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--postgres", help="PostgreSQL URL of a database to empty and use")
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    args = parser.parse_args()
    trees = [("this tree", HERE.parent)]
    if args.baseline:
        trees.append(("baseline", args.baseline.resolve()))
    cutoff = START + SPAN / 3  # the oldest third of the generated posts
    days = (datetime.now(UTC).replace(tzinfo=None) - cutoff).days
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        made = generate(site, args.posts)
        print(f"{made.articles} posts over three years; pruning those older than {days} days "
              f"(before {cutoff:%Y-%m-%d}); load average {os.getloadavg()[0]:.1f}")
        stores = [] if args.no_sqlite else [("SQLite", f"sqlite:///{Path(tmp) / 'source.db'}",
                                              f"sqlite:///{Path(tmp) / 'run.db'}")]
        if args.postgres:
            run = make_url(args.postgres).set(database=f"{make_url(args.postgres).database}_prune")
            stores.append(("PostgreSQL", args.postgres, run.render_as_string(hide_password=False)))
        for store, source, target in stores:
            began = time.perf_counter()
            prepare(source, site)
            print(f"{store}: imported in {time.perf_counter() - began:.0f} s")
            for name, tree in trees:
                copy_database(source, target)
                elapsed, deleted, probe = prune(tree, target, days)
                print(f"{store:10} {name:9}: {elapsed:7.1f} s, {deleted / elapsed:7.0f} posts/s "
                      f"deleted ({deleted}); longest write wait {probe.longest * 1000:7.0f} ms, "
                      f"{probe.failures} failed writes")
            drop_database(target)


if __name__ == "__main__":
    main()
