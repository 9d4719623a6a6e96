"""The whole-response deadline covers connect, TLS, headers and body.

Raw socket servers on loopback misbehave on purpose: they trickle the status line, the
headers or the body a few bytes at a time (each read well within the read timeout), or
accept and never answer. Every fetch must end at its deadline, not at the read timeout
and not when the upstream gives up.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from syndicate.core import Syndicate
from syndicate.errors import UpstreamError
from syndicate.ingest.poll import FEED_ACCEPT, Poller, Status

from . import upstream as fixtures
from .upstream import client, rss, sources

site = fixtures.site

DEADLINE = 1.0
#: Every read is answered within this: only the deadline can end these fetches.
READ_TIMEOUT = 10.0
#: How long the misbehaving servers keep going if nobody stops them.
GIVE_UP = 15.0
#: Room for a loaded CI machine between the deadline and the assertion (far below
#: READ_TIMEOUT, which is what ended these fetches before).
SLACK = 3.0

Scenario = Callable[[socket.socket, threading.Event], None]


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def trickle(conn: socket.socket, stop: threading.Event, pieces: Iterator[bytes],
            every: float) -> None:
    give_up = time.monotonic() + GIVE_UP
    for piece in pieces:
        if stop.wait(every) or time.monotonic() > give_up:
            return
        conn.sendall(piece)


def endless(piece: bytes) -> Iterator[bytes]:
    while True:
        yield piece


def headers_forever(every: float) -> Scenario:
    def run(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        trickle(conn, stop, (f"X-Line-{i}: {'x' * 20}\r\n".encode() for i in range(10_000)), every)
    return run


def status_line_bytewise(every: float) -> Scenario:
    def run(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        trickle(conn, stop, endless(b"H"), every)
    return run


def body_forever(every: float, framing: bytes) -> Scenario:
    def run(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n" + framing + b"\r\n")
        chunked = b"chunked" in framing
        trickle(conn, stop, endless(b"1\r\n<\r\n" if chunked else b"<"), every)
    return run


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accept, read the request, never answer."""
    read_request(conn)
    stop.wait(GIVE_UP)


def silent_tls(conn: socket.socket, stop: threading.Event) -> None:
    """Accept a TLS client and never answer its hello."""
    stop.wait(GIVE_UP)


def late_body(conn: socket.socket, stop: threading.Event) -> None:
    """Complete headers at once, then a body that takes longer than the deadline to start."""
    read_request(conn)
    body = rss("财联社", [])
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n\r\n")
    if not stop.wait(DEADLINE * 3):
        conn.sendall(body)


@contextmanager
def raw_server(scenario: Scenario) -> Iterator[int]:
    """Serve ``scenario`` on a loopback port, one thread per connection; yield the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                scenario(conn, stop)
            except OSError:  # the client hung up: that is what the test wants
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in progress
        except OSError:
            pass
        listener.close()
        thread.join(5)


def timed_failure(url: str, **limits: Any) -> tuple[float, str]:
    began = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        client(read_timeout=READ_TIMEOUT, deadline=DEADLINE, **limits).get(url, accept=FEED_ACCEPT)
    return time.monotonic() - began, str(caught.value)


SCENARIOS = {
    "one header line at a time": headers_forever(0.2),
    "headers a byte at a time": headers_forever(0.05),
    "status line a byte at a time": status_line_bytewise(0.1),
    "body with a length, a byte at a time": body_forever(0.1, b"Content-Length: 100000\r\n"),
    "chunked body, a chunk at a time": body_forever(0.1, b"Transfer-Encoding: chunked\r\n"),
    "body until close, a byte at a time": body_forever(0.1, b"Connection: close\r\n"),
    "accepts and never answers": silent,
    "headers, then a body that starts late": late_body,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_deadline_ends_every_slow_answer(name: str) -> None:
    with raw_server(SCENARIOS[name]) as port:
        elapsed, message = timed_failure(f"http://127.0.0.1:{port}/feed.xml")
    assert "too slow" in message, message
    assert DEADLINE * 0.9 <= elapsed < DEADLINE + SLACK, (name, elapsed)


def test_the_deadline_covers_the_tls_handshake() -> None:
    with raw_server(silent_tls) as port:
        elapsed, message = timed_failure(f"https://127.0.0.1:{port}/feed.xml")
    assert "too slow" in message, message
    assert elapsed < DEADLINE + SLACK


def test_the_deadline_spans_the_redirects() -> None:
    """Each hop answers quickly enough, but together they take longer than the deadline."""
    def slow_redirect(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        if not stop.wait(DEADLINE * 0.4):
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")

    with raw_server(slow_redirect) as port:
        elapsed, message = timed_failure(f"http://127.0.0.1:{port}/feed.xml")
    assert "too slow" in message, message
    assert elapsed < DEADLINE + SLACK


def test_a_quick_answer_is_not_affected_and_the_connection_is_reused() -> None:
    def quick(conn: socket.socket, stop: threading.Event) -> None:
        body = rss("财联社", [])
        for _ in range(3):  # keep-alive: three requests on one connection
            read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            time.sleep(DEADLINE * 0.6)  # longer than the deadline in total

    fetcher = client(read_timeout=READ_TIMEOUT, deadline=DEADLINE)
    with raw_server(quick) as port:
        for _ in range(3):
            assert fetcher.get(f"http://127.0.0.1:{port}/f", accept=FEED_ACCEPT).status == 200


def test_a_poll_of_a_trickling_source_fails_at_the_deadline(site: Syndicate) -> None:
    with raw_server(headers_forever(0.2)) as port:
        configured = sources({"name": "slow", "kind": "feed",
                              "url": f"http://127.0.0.1:{port}/feed.xml"})
        poll = Poller(site, configured, concurrency=2,
                      client=client(read_timeout=READ_TIMEOUT, deadline=DEADLINE))
        began = time.monotonic()
        result = poll.poll()[0]
    assert time.monotonic() - began < DEADLINE + SLACK
    assert result.status is Status.FAILED and "too slow" in (result.error or "")
    state = site.store.source_states(["slow"])[0]
    assert state.failures == 1 and "too slow" in (state.last_error or "")
