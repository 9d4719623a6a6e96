"""What the HTTP benchmarks share: free ports, servers that live for one block, and wrk."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

#: The start of an nginx.conf that runs in the foreground from a temporary folder ``{tmp}``
#: (no root paths written); a benchmark adds its own directives and ``server`` and closes
#: the ``http`` block.
NGINX_PREAMBLE = """worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
"""


def http_bench_args(description: str) -> argparse.Namespace:
    """The options every wrk benchmark takes; exits when nginx or wrk is missing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args()
    missing = [tool for tool in ("nginx", "wrk") if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: install with `apt-get install -y nginx wrk`")
    return args


def post_folders(tmp: Path) -> tuple[Path, Path]:
    """A ``_posts`` folder to generate posts into and an instance folder, under ``tmp``."""
    folder, instance = tmp / "_posts", tmp / "instance"
    folder.mkdir()
    instance.mkdir()
    return folder, instance


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    """Wait until ``url`` answers anything (``url`` must not redirect off this machine)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited at start (code {process.returncode})")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not answer within 30 s")


@contextmanager
def started(command: list[str], url: str, what: str, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> Iterator[None]:
    """Run ``command`` in its own process group for the block; stop the whole group after,
    also on an error or Ctrl-C."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(url, process, what)
        yield
    finally:
        stop_group(process, 10)


def stop_group(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM the process's group (if it still runs) and wait; SIGKILL it after ``timeout``."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def best_cpu_time(run: Callable[[str], Any], text: str, repeat: int) -> float:
    """The best of ``repeat`` runs of ``run(text)``, in CPU seconds of this process: other
    processes on a busy machine (the wall clock) would make the ratios noise."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run(text)
        best = min(best, time.process_time() - start)
    return best


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: requests/s, p99 latency, requests completed, answers >= 400 and
    socket errors (connect, read, write, timeout)."""

    rate: float
    p99_ms: float
    requests: int
    bad_status: int
    socket_errors: int


def run_wrk(url: str, args: argparse.Namespace, headers: dict[str, str] | None = None,
            script: Path | None = None) -> WrkResult:
    """Run wrk once with ``args.threads``, ``args.connections`` and ``args.duration``."""
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
               "--latency", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", str(script)]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True,
                         timeout=args.duration + 30).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(rate, float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
                     done, int(bad.group(1)) if bad else 0,
                     sum(int(n) for n in errors.groups()) if errors else 0)


def wrk(url: str, args: argparse.Namespace, headers: dict[str, str] | None = None,
        script: Path | None = None) -> tuple[float, float]:
    """Run wrk once; return (requests/s, p99 latency in ms) and warn about answers >= 400."""
    result = run_wrk(url, args, headers, script)
    if result.bad_status:
        print(f"  warning: {result.bad_status} answers >= 400 from {url}", file=sys.stderr)
    return result.rate, result.p99_ms
