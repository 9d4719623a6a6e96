"""Where and for how long an upstream fetch may connect: the requests transport.

Two rules hold for every connection, the first hop and every redirect alike:

- **Networks.** A connection resolves the host itself, checks every address against the
  internal networks (``SYNDICATE_FETCH_INTERNAL_NETWORKS``) and connects to the address it
  checked, so a DNS answer that changes between check and connect (rebinding) cannot slip
  through. A source the operator configured with an internal address may connect inside;
  any other may not. TLS still verifies and sends SNI for the host name of the URL.
- **Deadline.** The whole answer (connect, TLS, headers and body) must arrive in time: a
  watchdog shuts the socket down when the deadline passes, so an upstream trickling one
  header line a second cannot hold a fetch past it. (Name resolution itself is the
  resolver's; the system resolver has its own timeouts.)
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util.connection import create_connection

from ..errors import UpstreamError
from ..networks import DEFAULT_INTERNAL_NETWORKS, Network, is_internal, parse_networks


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


Resolver = Callable[[str, int], Sequence[str]]


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Which networks are internal, and how host names are resolved."""

    internal: tuple[Network, ...] = field(
        default_factory=lambda: parse_networks(DEFAULT_INTERNAL_NETWORKS))
    resolve: Resolver = system_resolve

    def is_internal(self, text: str) -> bool:
        """Whether an address lies in an internal network."""
        return is_internal(text, self.internal)

    def addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host``; raise UpstreamError when it cannot be resolved."""
        try:
            found = list(self.resolve(host, port))
        except (OSError, UnicodeError) as error:
            raise UpstreamError(f"cannot resolve the host {host!r}: {error}") from error
        if not found:
            raise UpstreamError(f"cannot resolve the host {host!r}: no address")
        return found

    def is_internal_host(self, host: str, port: int) -> bool:
        """Whether every address of ``host`` is internal (an operator's inside source)."""
        return all(self.is_internal(a) for a in self.addresses(host, port))


class BlockedAddress(UpstreamError):
    """A public source tried to connect to an internal address."""


@dataclass(frozen=True, slots=True)
class Guard:
    """The network rule of one kind of fetch: may it connect to internal addresses?"""

    policy: NetworkPolicy
    allow_internal: bool

    def checked(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` once and return the addresses this fetch may connect to."""
        found = self.policy.addresses(host, port)
        if self.allow_internal:
            return found
        inside = [a for a in found if self.policy.is_internal(a)]
        if inside:
            raise BlockedAddress(f"refused to connect to {host!r}: it resolves to the internal "
                                 f"address {inside[0]}, and this source is not an internal one")
        return found


# --- the deadline of one fetch ---------------------------------------------------------

_current: ContextVar[Deadline | None] = ContextVar("syndicate_fetch_deadline", default=None)


class Deadline:
    """A whole-fetch deadline: shuts down every socket the fetch uses when it passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._watched: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._token = _current.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _current.reset(self._token)
        with self._lock:
            watched, self._watched = self._watched, []
        for sock in watched:
            sock.close()

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (through a duplicate: TLS detaches the original)."""
        try:
            duplicate = socket.socket(fileno=os.dup(sock.fileno()))
        except OSError:  # already closed: nothing to stop
            return
        with self._lock:
            self._watched.append(duplicate)
            expired = self.expired
        if expired:
            _shutdown(duplicate)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            watched = list(self._watched)
        for sock in watched:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by the other side: nothing left to stop
        pass


def current_deadline() -> Deadline | None:
    return _current.get()


# --- connections that check where they go ------------------------------------------------


class _Guarded:
    """Mixin for urllib3 connections: resolve, check, connect to the checked address."""

    guard: Guard
    host: str
    port: int
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any
    sock: Any

    def _new_conn(self) -> socket.socket:
        deadline = current_deadline()
        timeout = self.timeout
        if deadline is not None:
            if deadline.expired or deadline.remaining() <= 0:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. (deadline)")
            if isinstance(timeout, (int, float)):
                timeout = min(timeout, deadline.remaining())
        host = self.host.rstrip(".").strip("[]")
        try:
            addresses = self.guard.checked(host, self.port)
        except BlockedAddress:
            raise
        except UpstreamError as error:
            raise NameResolutionError(self.host, self, socket.gaierror(str(error))) from error  # type: ignore[arg-type]
        sock = self._connect_any(addresses, timeout)
        if deadline is not None:
            deadline.watch(sock)
        return sock

    def _connect_any(self, addresses: Iterable[str], timeout: Any) -> socket.socket:
        last: OSError | None = None
        for address in addresses:
            try:
                return create_connection((address, self.port), timeout,
                                         source_address=self.source_address,
                                         socket_options=self.socket_options)
            except TimeoutError as error:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={timeout})"
                ) from error
            except OSError as error:
                last = error
        raise NewConnectionError(self, f"Failed to establish a new connection: {last}")  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = current_deadline()
        if deadline is not None and self.sock is not None:  # a kept-alive connection
            deadline.watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class GuardedHTTPConnection(_Guarded, HTTPConnection):
    def __init__(self, *args: Any, guard: Guard, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(*args, **kwargs)


class GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    def __init__(self, *args: Any, guard: Guard, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(*args, **kwargs)


class _GuardedPoolManager(PoolManager):
    """Hands out pools whose connections check their addresses."""

    def __init__(self, guard: Guard, *args: Any, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(*args, **kwargs)

    def _new_pool(self, scheme: str, host: str, port: int,
                  request_context: dict[str, Any] | None = None) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.ConnectionCls = GuardedHTTPSConnection if scheme == "https" else GuardedHTTPConnection
        pool.conn_kw = {**pool.conn_kw, "guard": self.guard}
        return pool


class GuardedAdapter(HTTPAdapter):
    """A requests transport adapter whose every connection obeys a Guard (no proxies)."""

    def __init__(self, guard: Guard, **kwargs: Any) -> None:
        self.guard = guard  # before super().__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
        self.poolmanager = _GuardedPoolManager(self.guard, num_pools=connections,
                                               maxsize=maxsize, block=block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # A proxy would connect for us, past the address check.
        raise UpstreamError("fetching through a proxy is not supported")
