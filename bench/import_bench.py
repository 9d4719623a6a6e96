"""Import benchmark: `syndicate import` of N generated posts, this tree against a baseline tree.

Usage: python bench/import_bench.py [--posts 10000] [--baseline /tmp/scale-base]
                                    [--postgres URL] [--cold] [--rounds 1]

Writes N posts with ``scale_gen`` (the old site's format, 2,000 Zipf-sized media categories,
NW/bare twins and old_post copies), then runs the ``syndicate import`` command of this tree
and, with ``--baseline``, of another checkout (e.g. ``git worktree add --detach
/tmp/scale-base main``) into a fresh database, alternately, so that both see the same
machine load. Each run is a separate process; prints posts/s (files/s) and the peak
resident set of the import (the largest process of its tree), for SQLite and, with
``--postgres`` (a database this benchmark may empty), PostgreSQL. ``--cold`` drops the page
cache before each run (root only). Targets: >= 5,000 posts/s on SQLite, >= 3,000 on
PostgreSQL, peak RSS < 300 MB at 1,000,000 files.

``generate`` (below) is the small generator the HTTP benchmarks use.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
PR_SET_CHILD_SUBREAPER = 36
sys.path.insert(0, str(HERE))

from scale_gen import EMNEWS_POST, HOMES, MEDIA_POST  # noqa: E402
from scale_gen import generate as generate_site  # noqa: E402

MEDIA = [("中国电子报", "zhongguodianzibao"), ("财联社", "cailianshe"), ("证券时报", "zhengquanshibao"),
         ("21世纪经济报道", "21shijijingjibaodao"), ("上海证券报", "shanghaizhengquanbao"),
         ("中国基金报", "zhongguojijinbao"), ("每日经济新闻", "meirijingjixinwen"), ("券商中国", "quanshangzhongguo")]
SENTENCES = ["多家机构认为，相关政策落地将进一步稳定市场预期。", "数据显示，一季度行业营收同比增长12.5%。",
             "业内人士指出，产业链上下游协同仍需加强。", "公司表示，将继续加大研发投入，提升核心竞争力。",
             "分析师预计，全年出货量有望保持较快增长。", "记者从相关部门获悉，试点工作已在多个城市展开。"]
def generate(folder: Path, count: int, seed: int = 7) -> None:
    """Write ``count`` posts shaped like the old site's (media and emnews shapes, 1-5 KB),
    over 8 categories: the small site the HTTP benchmarks serve."""
    rng = random.Random(seed)
    start = datetime(2022, 1, 1, 8, 0, 0)
    for n in range(count):
        when = start + timedelta(minutes=7 * n)
        code = f"{when:%Y%m%d}{2200000000 + n:010d}"
        media, slug = rng.choice(MEDIA)
        paragraphs = "\n ".join(
            "<p>" + "".join(rng.choice(SENTENCES) for _ in range(rng.randint(3, 12))) + "</p>"
            for _ in range(rng.randint(2, 8)))
        title = rng.choice(SENTENCES)[:-1][:24]
        if n % 3:
            text = MEDIA_POST.format(title=title, date=f"{when:%Y-%m-%d %H:%M:%S}", slug=slug,
                                     media=media, body=paragraphs, code=code, home=HOMES[0])
            name = f"{when:%Y-%m-%d}-NW{code}.md"
        else:
            text = EMNEWS_POST.format(title=title, date=f"{when:%Y-%m-%d %H:%M:%S}", media=media,
                                      digest=rng.choice(SENTENCES), body=paragraphs, code=code,
                                      home=HOMES[0])
            name = f"{when:%Y-%m-%d}-{code}.md"
        (folder / name).write_text(text, encoding="utf-8")


def drop_caches() -> bool:
    """Empty the page cache so that the import reads the files from disk; False if not root."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def become_subreaper() -> None:
    """Adopt the import's orphaned descendants (its parse workers' server), so that their
    CPU time is counted when they are reaped (Linux only; elsewhere they are not counted)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)
    except (OSError, AttributeError):
        pass


def _reap_orphans(patience: float = 10.0) -> float:
    """Wait (at most ``patience`` seconds) for adopted descendants to exit; return the CPU
    seconds they used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # none left
            break
        if pid == 0:
            time.sleep(0.05)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def empty_postgres(url: str) -> None:
    """Drop every table of the benchmark's PostgreSQL database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def run_import(tree: Path, database: str, site: Path,
               cold: bool) -> tuple[float, float, float, str]:
    """Run ``syndicate import`` of ``tree`` in a new process; return seconds, CPU seconds of
    its whole process tree (parse workers included, the database server not), peak RSS
    (MiB, the largest process) and its summary."""
    if database.startswith("postgresql"):
        empty_postgres(database)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(database.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "SYNDICATE_DATABASE_URL": database}
    init = [sys.executable, "-c", "from syndicate.cli import main; main()"]
    # `python -c` puts the working folder first on sys.path: run in the tree, or every run
    # would import the checkout the benchmark was started from.
    subprocess.run([*init, "init"], env=env, check=True, capture_output=True, cwd=tree)
    if cold:
        drop_caches()
    began = time.perf_counter()
    process = subprocess.Popen([*init, "import", "--no-progress", str(site / "_posts"),
                                str(site / "old_post")], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, cwd=tree)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - began
    cpu = _reap_orphans() + usage.ru_utime + usage.ru_stime
    process.returncode = os.waitstatus_to_exitcode(status)
    out = process.stdout.read() if process.stdout else ""
    if process.returncode not in (0, 1):
        raise SystemExit(f"import with {tree} failed ({process.returncode}): {out}")
    summary = next((line for line in out.splitlines() if " files: " in line), out.strip())
    return elapsed, cpu, usage.ru_maxrss / 1024, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000, help="post files to generate")
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--postgres", help="PostgreSQL URL of a database to empty and use")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each tree per store")
    args = parser.parse_args()
    become_subreaper()
    trees = [("this tree", HERE.parent)]
    if args.baseline:
        trees.append(("baseline", args.baseline.resolve()))
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        made = generate_site(site, args.posts)
        print(f"{made.files} files ({made.articles} articles, {made.twins} NW/bare twins, "
              f"{made.copies} old_post copies); load average {os.getloadavg()[0]:.1f}")
        if args.cold and not drop_caches():
            print("  --cold: cannot drop the page cache (not root); measuring warm")
            args.cold = False
        stores = [("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        if args.postgres:
            stores.append(("PostgreSQL", args.postgres))
        for store, database in stores:
            rates: dict[str, list[float]] = {name: [] for name, _ in trees}
            for _round in range(args.rounds):
                for name, tree in trees:
                    elapsed, cpu, rss, summary = run_import(tree, database, site, args.cold)
                    rates[name].append(made.files / elapsed)
                    print(f"{store:10} {name:9}: {made.files / elapsed:7.0f} files/s "
                          f"({made.articles / elapsed:7.0f} posts/s, {elapsed:6.1f} s; "
                          f"CPU {cpu:6.1f} s = {cpu / made.files * 1e6:4.0f} us/file), "
                          f"peak RSS {rss:5.0f} MiB; {summary}")
            if args.baseline:
                best = {name: max(values) for name, values in rates.items()}
                print(f"{store:10} speed-up: {best['this tree'] / best['baseline']:.2f}x "
                      f"(best of {args.rounds})")
    print("targets: >= 5000 posts/s on SQLite, >= 3000 on PostgreSQL, "
          "peak RSS < 300 MB at 1,000,000 files")


if __name__ == "__main__":
    main()
