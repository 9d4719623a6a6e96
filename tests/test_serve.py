"""`syndicate serve` as an operator runs it: real servers, real signals, on loopback.

Each test starts `syndicate serve --workers 2` (granian, and gunicorn where the behaviour
is promised for both) in its own process group, as a terminal or systemd would, and sends
the signal to the whole group.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from syndicate.core import Syndicate
from syndicate.serve import PortInUse, check_port, hold_port

from .feedtools import Hub, post
from .test_workers import free_port, fresh_get, writer

TOKEN = "serve-test-token"
SERVERS = ["granian", "gunicorn"]
#: How long a stopped server may take to be gone entirely (workers included).
STOP_WITHIN = 12.0
#: A Combined Log Format line: host ident user [time] "request" status bytes "referer" "agent".
CLF = re.compile(r'^(\S+) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
                 r'"((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$')


@dataclass
class Served:
    """A running `syndicate serve`: its address, process, and where its output goes."""

    base: str
    port: int
    process: subprocess.Popen[bytes]
    out: Path
    err: Path
    pids: list[int] = field(default_factory=list)

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait_for_workers(self, count: int) -> None:
        """Wait until granian says ``count`` workers have started (each binds on its own)."""
        deadline = time.monotonic() + 30
        while len(re.findall(r"Started worker-\d+", self.output())) < count:
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)

    def signal(self, signum: int) -> float:
        """Send ``signum`` to the whole process group; return when it was sent."""
        os.killpg(self.process.pid, signum)
        return time.monotonic()

    def gone_within(self, seconds: float) -> bool:
        """True once the server and every worker of its group have exited."""
        deadline = time.monotonic() + seconds
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        while time.monotonic() < deadline:
            if not group_alive(self.process.pid):
                return True
            time.sleep(0.05)
        return not group_alive(self.process.pid)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def port_free(port: int) -> bool:
    """True if a plain listener (no SO_REUSEPORT) can take the port now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(tmp_path: Path, database_url: str, *args: str, port: int | None = None,
          wait: bool = True, **env: str) -> Served:
    """Start `syndicate serve` with ``args``; wait until it answers unless ``wait`` is off."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {**os.environ, "SYNDICATE_DATABASE_URL": database_url, "SYNDICATE_BASE_URL": base,
               "SYNDICATE_INSTANCE": str(tmp_path), "SYNDICATE_API_TOKENS": TOKEN, **env}
    for name in ("SYNDICATE_WORKERS", "SYNDICATE_ACCESS_LOG", "SYNDICATE_METRICS"):
        if name not in env:
            environ.pop(name, None)
    tag = f"{port}-{len(list(tmp_path.glob('serve-*.out')))}"
    out, err = tmp_path / f"serve-{tag}.out", tmp_path / f"serve-{tag}.err"
    command = [sys.executable, "-c", "from syndicate.cli import main; main()", "serve",
               "--port", str(port), *args]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, env=environ, stdout=stdout, stderr=stderr,
                                   start_new_session=True)
    served = Served(base, port, process, out, err)
    if wait:
        _wait_until_up(served)
    return served


def _wait_until_up(served: Served) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:
            if requests.get(served.base + "/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if served.process.poll() is not None:
            break
        time.sleep(0.1)
    stop(served)
    raise AssertionError(f"syndicate serve did not start:\n{served.output()}")


def stop(served: Served) -> None:
    """Stop the server as an operator would (SIGTERM); kill what is left after a while."""
    if group_alive(served.process.pid):
        os.killpg(served.process.pid, signal.SIGTERM)
        if not served.gone_within(STOP_WITHIN) and group_alive(served.process.pid):
            os.killpg(served.process.pid, signal.SIGKILL)
    served.process.wait(10)


@contextmanager
def serving(tmp_path: Path, database_url: str, *args: str, port: int | None = None,
            **env: str) -> Iterator[Served]:
    served = start(tmp_path, database_url, *args, port=port, **env)
    try:
        yield served
    finally:
        stop(served)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'serve.db'}"


def share_paths(core: Syndicate, count: int) -> list[tuple[str, str]]:
    """(post id, short link path) of ``count`` new posts."""
    core.save([post(n) for n in range(1, count + 1)])
    found = []
    for n in range(1, count + 1):
        item = core.post(post(n).id)
        found.append((item.id, core.share_url(item).removeprefix(core.settings.base_url)))
    return found


def publish(base: str, n: int) -> requests.Response:
    body = {"id": f"NW2026030900000{n:05d}", "title": f"第{n}条快讯", "media": "财联社",
            "date": "2026-03-09T10:23:24+08:00", "html": "<p>正文。</p>"}
    return requests.post(base + "/api/posts", json=body, timeout=30,
                         headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"})


# -- stopping -----------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_stop_finishes_requests_in_flight_writes_counts_and_pings_and_frees_the_port(
        tmp_path: Path, server: str, signame: str) -> None:
    database_url = sqlite_url(tmp_path)
    core = writer(tmp_path, database_url)
    links = share_paths(core, 6)
    with Hub(delay=0.5).running() as hub:  # a delivery is under way when the signal comes
        served = start(tmp_path, database_url, "--workers", "2", "--server", server,
                       SYNDICATE_WEBSUB_HUBS=hub.url)
        try:
            stop_while_busy(tmp_path, served, links, getattr(signal, signame))
        finally:
            stop(served)
    assert port_free(served.port)
    clicks = sum(core.shares.stats(post_id).clicks for post_id, _ in links)
    assert clicks == 6  # written at shutdown, not lost with the workers
    assert f"{served.base}/feed.xml" in hub.topics()  # the new post's pings went out
    assert core.store.pending_pings() == 0
    core.store.dispose()


def stop_while_busy(tmp_path: Path, served: Served, links: list[tuple[str, str]],
                    signum: int) -> None:
    """Click every share link, start an API write that waits on the database, send
    ``signum`` to the group, let the write through; check that all of it ended well."""
    for _post_id, path in links:  # one click each, on fresh connections: both workers
        click = requests.get(served.base + path, allow_redirects=False, timeout=5,
                             headers={"User-Agent": "Mozilla/5.0", "Connection": "close"})
        assert click.status_code == 302
    blocker = sqlite3.connect(tmp_path / "serve.db", timeout=10)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database
    answers: list[int] = []
    writing = threading.Thread(target=lambda: answers.append(publish(served.base, 1).status_code))
    writing.start()
    time.sleep(1.0)
    sent = served.signal(signum)
    time.sleep(1.0)
    assert served.process.poll() is None, "the server quit with a request in flight"
    blocker.rollback()  # the write goes through now
    blocker.close()
    writing.join(20)
    assert answers == [201]
    assert served.gone_within(STOP_WITHIN), served.output()
    assert time.monotonic() - sent < STOP_WITHIN
    assert served.process.returncode == 0, served.output()
    logged = {(m.group(3), m.group(4)) for line in served.output().splitlines()
              if (m := CLF.match(line))}  # the access log, under either server
    assert {(f"GET {path} HTTP/1.1", "302") for _, path in links} <= logged
    assert ("POST /api/posts HTTP/1.1", "201") in logged


@pytest.mark.parametrize("server", SERVERS)
def test_a_request_that_does_not_end_cannot_hold_the_stop_past_the_timeout(
        tmp_path: Path, server: str) -> None:
    database_url = sqlite_url(tmp_path)
    writer(tmp_path, database_url).store.dispose()
    served = start(tmp_path, database_url, "--workers", "2", "--server", server,
                   SYNDICATE_SHUTDOWN_TIMEOUT="2")
    blocker = sqlite3.connect(tmp_path / "serve.db", timeout=10)
    blocker.execute("BEGIN IMMEDIATE")  # held for longer than the database's busy timeout
    writing = threading.Thread(target=lambda: _ignore_errors(publish, served.base, 1))
    try:
        writing.start()
        time.sleep(1.0)
        sent = served.signal(signal.SIGTERM)
        assert served.gone_within(7.0), served.output()  # 2 s to finish, then killed
        assert time.monotonic() - sent < 7.0
    finally:
        blocker.rollback()
        blocker.close()
        stop(served)
        writing.join(20)
    assert port_free(served.port)


def _ignore_errors(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except requests.RequestException:  # the server was stopped under it, as intended
        pass


def test_a_second_serve_on_a_busy_port_fails_clearly(tmp_path: Path) -> None:
    database_url = sqlite_url(tmp_path)
    writer(tmp_path, database_url).store.dispose()
    with serving(tmp_path, database_url, "--workers", "2") as first:
        for server in SERVERS:
            second = start(tmp_path, database_url, "--workers", "2", "--server", server,
                           port=first.port, wait=False)
            try:
                second.process.wait(20)
            finally:
                stop(second)
            assert second.process.returncode != 0
            assert f"127.0.0.1:{first.port} is already in use" in second.output()
        # the first server still answers every request, alone
        assert all(fresh_get(first.base + "/healthz").status_code == 200 for _ in range(10))


def test_the_port_is_held_while_the_workers_start() -> None:
    port = free_port()
    holder = hold_port("127.0.0.1", port)
    try:
        with pytest.raises(PortInUse, match=f"127.0.0.1:{port} is already in use"):
            check_port("127.0.0.1", port)  # what a second server checks first
    finally:
        holder.close()
    check_port("127.0.0.1", port)


def test_a_restart_on_the_same_port_starts_at_once(tmp_path: Path) -> None:
    database_url = sqlite_url(tmp_path)
    writer(tmp_path, database_url).store.dispose()
    with serving(tmp_path, database_url, "--workers", "2") as first:
        for _ in range(10):  # closed by the server: its side of each connection is in TIME_WAIT
            assert fresh_get(first.base + "/feed.xml").status_code == 200
    with serving(tmp_path, database_url, "--workers", "2", port=first.port) as again:
        assert fresh_get(again.base + "/feed.xml").status_code == 200


def test_a_port_another_program_listens_on_is_refused(tmp_path: Path) -> None:
    database_url = sqlite_url(tmp_path)
    writer(tmp_path, database_url).store.dispose()
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as granian's workers bind
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        second = start(tmp_path, database_url, port=port, wait=False)
        try:
            second.process.wait(20)
        finally:
            stop(second)
    assert second.process.returncode != 0
    assert "already in use" in second.output()


# -- starting: warnings, workers, access log ------------------------------------------------


def test_a_default_start_has_no_warnings_one_worker_per_core_and_an_access_log(
        tmp_path: Path) -> None:
    database_url = sqlite_url(tmp_path)
    writer(tmp_path, database_url).store.dispose()
    with serving(tmp_path, database_url) as served:
        fresh_get(served.base + "/feed.xml", Referer="https://example.com/a\"b",
                  **{"User-Agent": 'Reader/1.0 "quoted" \\'})
        fresh_get(served.base + "/no/such/page?x=1")
        time.sleep(0.5)
        output = served.output()
    assert not [line for line in output.splitlines() if re.search(r"warn", line, re.I)], output
    cores = len(os.sched_getaffinity(0))
    assert len(re.findall(r"Spawning worker-\d+", output)) == cores
    lines = [CLF.match(line) for line in output.splitlines()]
    requests_logged = [m for m in lines if m]
    by_path = {m.group(3): m for m in requests_logged}
    feed = by_path["GET /feed.xml HTTP/1.1"]
    assert feed.group(1) == "127.0.0.1" and feed.group(4) == "200" and int(feed.group(5)) > 200
    assert feed.group(6) == 'https://example.com/a\\"b'
    assert feed.group(7) == 'Reader/1.0 \\"quoted\\" \\\\'  # cannot end the field early
    assert by_path["GET /no/such/page?x=1 HTTP/1.1"].group(4) == "404"


@pytest.mark.parametrize("server", SERVERS)
def test_no_access_log_turns_it_off(tmp_path: Path, server: str) -> None:
    database_url = sqlite_url(tmp_path)
    writer(tmp_path, database_url).store.dispose()
    with serving(tmp_path, database_url, "--workers", "1", "--server", server,
                 "--no-access-log") as served:
        for _ in range(3):
            assert fresh_get(served.base + "/feed.xml").status_code == 200
        time.sleep(0.5)
        output = served.output()
    assert "/feed.xml" not in output
    assert not any(CLF.match(line) for line in output.splitlines())


# -- the BASE_URL hint under flask run -----------------------------------------------------------


def test_flask_run_on_another_port_says_which_origin_it_uses(tmp_path: Path) -> None:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k != "SYNDICATE_BASE_URL"}
    environ.update(SYNDICATE_INSTANCE=str(tmp_path),
                   SYNDICATE_DATABASE_URL=sqlite_url(tmp_path))
    writer(tmp_path, sqlite_url(tmp_path)).store.dispose()
    err = tmp_path / "flask.err"
    with err.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "syndicate", "run",
                                    "--port", str(port)], env=environ, stdout=subprocess.DEVNULL,
                                   stderr=stderr, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        feed = None
        while time.monotonic() < deadline and feed is None:
            try:
                feed = requests.get(f"http://127.0.0.1:{port}/feed.xml", timeout=1)
            except requests.ConnectionError:
                time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    assert feed is not None and feed.status_code == 200
    assert f'href="http://127.0.0.1:{port}/feed.xml" rel="self"' in feed.text
    assert (f"SYNDICATE_BASE_URL is not set; using http://127.0.0.1:{port}"
            in err.read_text())
