"""Pruning in short batches: the same result as one transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from syndicate.store.schema import feed_entries, post_categories, post_tags, tombstones

from .conftest import CST, make_input

DAY0 = datetime(2026, 1, 1, 9, 0, tzinfo=CST)
NOW = datetime(2026, 2, 1, tzinfo=CST)


def _posts(count: int) -> list[Any]:
    """``count`` posts a day apart, in two categories, every third with a second tag."""
    return [make_input(f"NW{20260101 + n:08d}{n:010d}", published=DAY0 + timedelta(days=n),
                       title=f"第{n}条", category_slug=("cailianshe", "zhongguodianzibao")[n % 2],
                       tags=("新闻",) + (("芯片",) if n % 3 == 0 else ()))
            for n in range(count)]


def _rows(store: Any, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def test_batched_prune_deletes_the_oldest_and_leaves_tombstones(store: Any) -> None:
    store.save_posts(_posts(11), now=DAY0)
    before = store.feed_states(["site", "category/cailianshe", "tag/芯片"])
    result = store.prune_posts(DAY0 + timedelta(days=7), NOW, batch=2)
    assert result.deleted == 7
    assert store.count() == 4
    assert [store.tombstone(p.id) is not None for p in _posts(11)] == [True] * 7 + [False] * 4
    assert _rows(store, tombstones) == 7
    assert _rows(store, post_categories) == 4
    assert _rows(store, post_tags) == 5  # 新闻 four times, 芯片 on the tenth post
    with store.engine.connect() as conn:
        left = set(conn.execute(select(feed_entries.c.post_id)).scalars())
    assert left == {p.id for p in _posts(11)[7:]}
    after = store.feed_states(["site", "category/cailianshe", "tag/芯片"])
    assert result.feed_keys >= {"site", "category/cailianshe", "category/zhongguodianzibao",
                                "tag/新闻", "tag/芯片"}
    for key, state in after.items():
        assert state.version > before[key].version
        # Bumped once a second at most: Last-Modified does not run ahead of the clock.
        assert state.changed <= NOW + timedelta(seconds=2)


def test_prune_in_batches_and_at_once_agree(store: Any) -> None:
    store.save_posts(_posts(9), now=DAY0)
    result = store.prune_posts(DAY0 + timedelta(days=5), NOW, batch=1)
    again = store.prune_posts(DAY0 + timedelta(days=5), NOW, batch=1000)
    assert (result.deleted, again.deleted) == (5, 0)
    assert [p.title for p in store.latest(10)] == [f"第{n}条" for n in range(8, 4, -1)]


def test_prune_statements_carry_a_bounded_number_of_parameters(store: Any) -> None:
    """PostgreSQL plans a statement prepared again and again generically: an IN list of
    hundreds of keys then scans the whole table per batch. Every prune statement must keep
    a fixed, small number of parameters (an array, or a bound)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no generic plans: its IN lists are fine")
    store.save_posts(_posts(30), now=DAY0)
    counts: list[int] = []

    def record(_conn: Any, _cursor: Any, _sql: str, params: Any, _context: Any,
               many: bool) -> None:
        if not many:
            counts.append(len(params) if params else 0)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        assert store.prune_posts(DAY0 + timedelta(days=25), NOW, batch=10).deleted == 25
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert counts and max(counts) <= 4
