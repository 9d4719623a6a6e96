"""Run the app under a production WSGI server (granian or gunicorn), and stop it cleanly.

Shutdown contract, under both servers: SIGTERM or one Ctrl-C (SIGINT to the process group)
stops accepting connections, lets requests in flight finish, writes each worker's share
counts and WebSub pings (``Syndicate.close``) and exits; a worker that has not stopped
after ``SHUTDOWN_TIMEOUT`` seconds is killed, so the whole group is gone in bounded time.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .errors import SyndicateError

log = logging.getLogger(__name__)

#: Seconds a worker keeps for writing counts and pings after its last request.
CLOSE_WAIT = 5.0
#: Threads per worker. Requests mostly wait on the database or on a lock around one render,
#: and the GIL runs one thread at a time: a few threads keep both cores busy, and each
#: thread may hold a database connection, so more would only cost memory and connections.
THREADS = 4


class PortInUse(SyndicateError):
    """The address to serve on is already taken by another process."""


@dataclass(frozen=True)
class ServeOptions:
    """How ``syndicate serve`` runs: where, with how many workers, which server."""

    host: str
    port: int
    workers: int
    server: str = "granian"
    access_log: bool = True
    shutdown_timeout: int = 20
    metrics: bool = False


def run(options: ServeOptions) -> None:
    """Serve the app until SIGTERM or Ctrl-C; raise PortInUse if the address is taken."""
    check_port(options.host, options.port)
    # gunicorn binds its one listener in this process right away; granian's workers bind
    # theirs later, each with SO_REUSEPORT: hold the port for them meanwhile.
    holder = hold_port(options.host, options.port) if options.server == "granian" else None
    try:
        with metrics_dir(options.metrics):
            if options.server == "gunicorn":
                _gunicorn(options)
            else:
                _granian(options)
    finally:
        if holder is not None:
            holder.close()


# -- the port -----------------------------------------------------------------------------


def _socket(host: str) -> socket.socket:
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)


def check_port(host: str, port: int) -> None:
    """Raise PortInUse if any socket is listening on ``host:port``.

    granian's workers each bind with SO_REUSEPORT, which would let a second server share a
    busy port silently. A bind without SO_REUSEPORT fails on any listener there (with
    SO_REUSEADDR, so that connections of an earlier run in TIME_WAIT do not count).
    """
    with _socket(host) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(f"{host}:{port} is already in use (another `syndicate serve` or "
                                "another server?): stop it or pass another --port") from error
            raise PortInUse(f"cannot listen on {host}:{port}: {error.strerror}") from error


def hold_port(host: str, port: int) -> socket.socket:
    """Bind ``host:port`` with SO_REUSEPORT alone and keep it (never listening: it takes no
    connections). Our workers, binding with SO_REUSEPORT, share it; any other server's
    check_port fails on it, even before our workers listen."""
    holder = _socket(host)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        holder.bind((host, port))
    except OSError as error:
        holder.close()
        raise PortInUse(f"{host}:{port} is already in use: {error.strerror}") from error
    return holder


# -- signals ------------------------------------------------------------------------------


def relay_signals(relayed: Collection[signal.Signals],
                  blocked: Collection[signal.Signals] = ()) -> None:
    """Block ``relayed`` and ``blocked`` in this thread (and every thread started from it),
    and run the Python handler of each relayed signal from one thread that waits for it.

    Why: the kernel hands a process signal to any thread that does not block it. When that
    is one of the server's own threads, Python only notes it, and the main thread, asleep
    in a lock until told to stop, never runs the handler: the worker hangs at shutdown
    (granian's "Shutting down granian" on Ctrl-C). Blocked signals in ``blocked`` are
    ignored for good (a worker leaves Ctrl-C to its parent).
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {*relayed, *blocked})
    waited = set(relayed)

    def relay() -> None:
        while True:
            signum = signal.sigwait(waited)
            handler = signal.getsignal(signum)
            if callable(handler):
                handler(signum, None)

    threading.Thread(target=relay, name="signal-relay", daemon=True).start()


# -- the app each worker serves ---------------------------------------------------------------


_APP: Any = None


def served_app() -> Any:
    """Build the app for one worker: the site, behind the access log unless it is off."""
    global _APP
    from .web import create_app
    from .web.observe import AccessLog

    _APP = app = create_app()
    if app.config["SETTINGS"].access_log:
        return AccessLog(app)
    return app


def close_app() -> None:
    """Write this worker's share counts and WebSub pings, then release the database."""
    if _APP is None:
        return
    try:
        _APP.extensions["syndicate"].close(wait=CLOSE_WAIT)
    except Exception:  # the process is ending: say what was lost, do not hide the exit
        log.exception("closing the worker failed; unwritten share counts are lost")
    from .metrics import worker_exit

    worker_exit(os.getpid())


# -- metrics ------------------------------------------------------------------------------


@contextmanager
def metrics_dir(enabled: bool) -> Iterator[None]:
    """A fresh PROMETHEUS_MULTIPROC_DIR for this server run (each worker writes its counts
    there, /metrics adds them up), removed when the server stops."""
    if not enabled:
        yield
        return
    path = tempfile.mkdtemp(prefix="syndicate-metrics-")
    previous = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if previous is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = previous


# -- granian ------------------------------------------------------------------------------


def _granian(options: ServeOptions) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    server = Granian("syndicate.serve:served_app", factory=True, address=options.host,
                     port=options.port, interface=Interfaces.WSGI, websockets=False,
                     workers=options.workers, blocking_threads=THREADS,
                     respawn_failed_workers=True, workers_kill_timeout=options.shutdown_timeout)
    # The parent takes SIGINT and SIGTERM (granian's handlers stop the workers with SIGTERM).
    relay_signals({signal.SIGINT, signal.SIGTERM})
    server.serve(spawn_target=_granian_worker)


def _granian_worker(*args: Any) -> None:
    """One granian WSGI worker that stops on its parent's SIGTERM only, then closes the app."""
    from granian.server.mp import MPServer

    relay_signals({signal.SIGTERM}, blocked={signal.SIGINT})
    try:
        MPServer._spawn_wsgi_worker(*args)  # granian's own worker, which drains in-flight requests
    finally:
        close_app()


# -- gunicorn -----------------------------------------------------------------------------


def _gunicorn(options: ServeOptions) -> None:
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    class GracefulArbiter(Arbiter):  # type: ignore[misc]
        # gunicorn abandons requests in flight on SIGINT; make one Ctrl-C the graceful stop
        # that SIGTERM is, as under granian.
        handle_int = Arbiter.handle_term

    class Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {
                "bind": f"{options.host}:{options.port}",
                "workers": options.workers,
                "worker_class": "gthread",
                "threads": THREADS,
                "graceful_timeout": options.shutdown_timeout,
                "accesslog": None,  # the app writes the access log, as under granian
                "post_worker_init": _gunicorn_worker_init,
                "worker_exit": lambda _arbiter, _worker: close_app(),
                "child_exit": lambda _arbiter, worker: _mark_dead(worker.pid),
            }
            for name, value in settings.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            return served_app()

        def run(self) -> None:
            GracefulArbiter(self).run()

    Application().run()


def _gunicorn_worker_init(_worker: Any) -> None:
    """Leave Ctrl-C to the arbiter, which stops the workers with SIGTERM (gracefully)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _mark_dead(pid: int) -> None:
    from .metrics import worker_exit

    worker_exit(pid)
