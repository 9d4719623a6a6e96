"""What the HTTP benchmarks share: free ports, servers that live for one block, and wrk."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests


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
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


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
