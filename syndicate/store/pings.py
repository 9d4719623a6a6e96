"""The WebSub ping queue: one durable row per (hub, topic) waiting to be delivered.

Any process may deliver: a row is claimed by moving its ``due`` time forward (a lease)
with a compare-and-set on (generation, due), so two workers never ping for one row at
once, and a crash only delays a ping until the lease runs out.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, func, select, update

from .feeds import insert_ignoring_duplicates
from .schema import websub_pings


@dataclass(frozen=True, slots=True)
class Ping:
    """A publish notification to send: tell ``hub`` that ``topic`` changed."""

    id: int
    hub: str
    topic: str
    generation: int
    attempts: int
    due: datetime


class PingStoreMixin:
    """The Store's WebSub queue."""

    if TYPE_CHECKING:  # provided by Store

        def _connect(self, write: bool = False) -> AbstractContextManager[Connection]: ...

    def enqueue_pings(self, pairs: Iterable[tuple[str, str]], now: datetime) -> int:
        """Queue a ping for each (hub, topic), re-arming one already waiting; return how many."""
        rows = [{"hub": hub, "topic": topic, "generation": 0, "attempts": 0, "due": now,
                 "created": now} for hub, topic in dict.fromkeys(pairs)]
        if not rows:
            return 0
        with self._connect(write=True) as conn:
            insert_ignoring_duplicates(conn, websub_pings, rows, ["hub", "topic"])
            for row in rows:
                # Pending or in flight: deliver again, from the first attempt.
                conn.execute(update(websub_pings)
                             .where(websub_pings.c.hub == row["hub"],
                                    websub_pings.c.topic == row["topic"])
                             .values(generation=websub_pings.c.generation + 1, attempts=0, due=now,
                                     last_error=None))
        return len(rows)

    def due_pings(self, now: datetime, limit: int = 100) -> list[Ping]:
        query = (select(websub_pings).where(websub_pings.c.due <= now)
                 .order_by(websub_pings.c.due, websub_pings.c.id).limit(limit))
        with self._connect() as conn:
            return [Ping(r.id, r.hub, r.topic, r.generation, r.attempts, r.due)
                    for r in conn.execute(query)]

    def next_ping_due(self) -> datetime | None:
        with self._connect() as conn:
            return conn.execute(select(func.min(websub_pings.c.due))).scalar()

    def pending_pings(self) -> int:
        with self._connect() as conn:
            return int(conn.execute(select(func.count()).select_from(websub_pings)).scalar() or 0)

    def claim_ping(self, ping: Ping, until: datetime) -> bool:
        """Take a ping for delivery until ``until``; False if another worker has it."""
        with self._connect(write=True) as conn:
            result = conn.execute(update(websub_pings)
                                  .where(websub_pings.c.id == ping.id,
                                         websub_pings.c.generation == ping.generation,
                                         websub_pings.c.due == ping.due)
                                  .values(due=until))
        return result.rowcount == 1

    def ping_done(self, ping: Ping) -> None:
        """Forget a delivered (or abandoned) ping, unless a newer change re-armed it."""
        with self._connect(write=True) as conn:
            conn.execute(delete(websub_pings).where(websub_pings.c.id == ping.id,
                                                    websub_pings.c.generation == ping.generation))

    def ping_failed(self, ping: Ping, retry_at: datetime, error: str) -> None:
        with self._connect(write=True) as conn:
            conn.execute(update(websub_pings)
                         .where(websub_pings.c.id == ping.id,
                                websub_pings.c.generation == ping.generation)
                         .values(attempts=ping.attempts + 1, due=retry_at, last_error=error[:1000]))
