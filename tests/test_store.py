"""The Store on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syndicate.model import Outcome
from syndicate.share import is_valid_code
from syndicate.store import Store

from .conftest import CST, PG_URL, make_input, reset_database


def test_upgrade_is_idempotent(database_url: str) -> None:
    store = Store(database_url)
    assert store.revision() is None
    first = store.upgrade()
    assert store.upgrade() == first == store.revision()
    store.dispose()


def test_new_then_unchanged_then_updated(store: Store) -> None:
    post = make_input()
    assert [r.outcome for r in store.save_posts([post])] == [Outcome.NEW]
    assert [r.outcome for r in store.save_posts([post])] == [Outcome.UNCHANGED]
    stored = store.get_post(post.id)
    assert stored is not None and stored.updated == post.published

    later = datetime(2026, 3, 1, tzinfo=UTC)
    edited = make_input(title="更正后的标题")
    assert [r.outcome for r in store.save_posts([edited], now=later)] == [Outcome.UPDATED]
    stored = store.get_post(post.id)
    assert stored is not None
    assert stored.title == "更正后的标题"
    assert stored.updated == later
    assert stored.published == post.published


def test_datetimes_come_back_aware(store: Store) -> None:
    store.save_posts([make_input()])
    stored = store.get_post("NW202601010000000001")
    assert stored is not None
    assert stored.published.tzinfo is not None
    assert stored.published == datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


def test_nw_and_bare_infocode_are_one_post(store: Store) -> None:
    bare = make_input("202601010000000002", category_slug="emnews", category_name="东财滚动",
                      tags=("东财滚动新闻",))
    media = make_input("NW202601010000000002", title="媒体版标题")
    results = store.save_posts([bare, media])
    assert [r.outcome for r in results] == [Outcome.NEW]
    assert store.count() == 1
    for form in ("202601010000000002", "NW202601010000000002"):
        found = store.get_post(form)
        assert found is not None
        assert found.id == "202601010000000002"  # the first form to arrive keeps the id
        assert found.title == "媒体版标题"  # the last content wins
        assert found.category.slug == "emnews"
        assert found.categories == ("emnews", "zhongguodianzibao")
    assert [p.id for p in store.in_category("zhongguodianzibao", 10)] == ["202601010000000002"]
    assert [p.id for p in store.with_tag("东财滚动新闻", 10)] == ["202601010000000002"]


def test_twin_arriving_later_joins_without_changing_the_id(store: Store) -> None:
    store.save_posts([make_input("NW202601010000000003")])
    later = make_input("202601010000000003", category_slug="emnews", category_name="东财滚动")
    assert [r.outcome for r in store.save_posts([later])] == [Outcome.UPDATED]
    found = store.get_post("202601010000000003")
    assert found is not None and found.id == "NW202601010000000003"
    assert set(found.categories) == {"zhongguodianzibao", "emnews"}


def test_each_new_post_gets_a_unique_random_share_code(store: Store) -> None:
    posts = [make_input(f"NW2026010100000001{i:02d}") for i in range(50)]
    store.save_posts(posts)
    codes = {store.get_post(p.id).share_code for p in posts}  # type: ignore[union-attr]
    assert len(codes) == 50
    assert all(is_valid_code(code) for code in codes)
    found = store.get_post("NW202601010000000105")
    assert found is not None
    target = store.share_target(found.share_code)
    assert target is not None and (target.post_id, target.gone) == (found.id, False)


def test_a_share_code_is_minted_once_and_survives_edits(store: Store) -> None:
    store.save_posts([make_input("NW202601010000000200")])
    code = store.get_post("NW202601010000000200").share_code  # type: ignore[union-attr]
    store.save_posts([make_input("202601010000000200", title="改过的标题")])  # bare twin, edited
    post = store.get_post("NW202601010000000200")
    assert post is not None and post.title == "改过的标题" and post.share_code == code


def test_a_clashing_code_is_minted_again(store: Store, monkeypatch: Any) -> None:
    store.save_posts([make_input("NW202601010000000300")])
    taken = store.get_post("NW202601010000000300").share_code  # type: ignore[union-attr]
    minted = iter([taken, taken, "abcdefghjkmn"])
    monkeypatch.setattr("syndicate.store.sql.mint_code", lambda: next(minted))
    store.save_posts([make_input("NW202601010000000301")])
    assert store.get_post("NW202601010000000301").share_code == "abcdefghjkmn"  # type: ignore[union-attr]


def test_a_deleted_posts_code_is_never_reused_and_comes_back_with_it(store: Store,
                                                                      monkeypatch: Any) -> None:
    old = make_input("NW202601010000000400", published=datetime(2020, 1, 1, tzinfo=CST))
    store.save_posts([old])
    code = store.get_post(old.id).share_code  # type: ignore[union-attr]
    store.prune_posts(datetime(2021, 1, 1, tzinfo=CST), datetime.now(CST))
    gone = store.share_target(code)
    assert gone is not None and gone.gone and gone.post_id == old.id
    # Another article that happens to draw the dead code gets a different one.
    minted = iter([code, "abcdefghjkmp"])
    monkeypatch.setattr("syndicate.store.sql.mint_code", lambda: next(minted))
    store.save_posts([make_input("NW202601010000000401")])
    assert store.get_post("NW202601010000000401").share_code == "abcdefghjkmp"  # type: ignore[union-attr]
    # The deleted article itself, imported again, gets its old code back.
    store.save_posts([old])
    back = store.share_target(code)
    assert back is not None and not back.gone and back.post_id == old.id


def test_listing_order_is_newest_first_ties_by_id(store: Store) -> None:
    base = datetime(2026, 1, 1, 9, 0, tzinfo=CST)
    store.save_posts([
        make_input("NW202601010000000010", published=base),
        make_input("NW202601010000000011", published=base + timedelta(hours=1)),
        make_input("NW202601010000000012", published=base),
    ])
    order = [p.id for p in store.in_category("zhongguodianzibao", 10)]
    assert order == ["NW202601010000000011", "NW202601010000000012", "NW202601010000000010"]
    assert [p.id for p in store.in_category("zhongguodianzibao", 1, 1)] == [order[1]]
    assert store.count(category="zhongguodianzibao") == 3
    assert [p.id for p in store.latest(2)] == order[:2]


def test_active_categories_are_the_busiest_of_the_day_before_the_newest_post(store: Store) -> None:
    base = datetime(2026, 1, 1, 9, 0, tzinfo=CST)
    store.save_posts([
        make_input("NW202601010000000020", published=base),
        make_input("NW202601010000000022", published=base + timedelta(hours=20)),
        make_input("NW202601010000000023", published=base - timedelta(days=3),
                   category_slug="xinhuashe", category_name="新华社"),
        make_input("NW202601010000000021", published=base + timedelta(days=1),
                   category_slug="cailianshe", category_name="财联社"),
    ])
    # The window is the 24 hours before 2026-01-02 09:00: the 01-01 09:00 post is just out.
    active = store.active_categories(10)
    assert [(c.slug, c.name, n) for c, n in active] == [("cailianshe", "财联社", 1),
                                                        ("zhongguodianzibao", "中国电子报", 1)]
    assert store.category_names() == {"财联社": "cailianshe", "中国电子报": "zhongguodianzibao",
                                      "新华社": "xinhuashe"}


def test_unknown_lookups_return_none(store: Store) -> None:
    assert store.get_post("NW999999999999999999") is None
    assert store.share_target("zzzzzzzzzzzz") is None
    assert store.legacy_target("NW999999999999999999") is None
    assert store.category("nope") is None


def test_upgrading_replaces_old_share_codes_and_records_every_code(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from syndicate.store.sql import MIGRATIONS

    store = Store(database_url)
    store.upgrade()
    store.save_posts([make_input(f"NW2026010100000005{i:02d}") for i in range(3)])
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    old = {"NW202601010000000500": "AbCdEfGh", "NW202601010000000501": "abcdefgh",
           "NW202601010000000502": "0a1b2c3d4e5f"}  # the last is already a valid code
    with store.engine.begin() as conn:
        for post_id, code in old.items():
            conn.execute(text("UPDATE posts SET share_code = :c WHERE id = :i"),
                         {"c": code, "i": post_id})
    store.upgrade()
    fresh = Store(database_url)
    codes = {pid: fresh.get_post(pid).share_code for pid in old}  # type: ignore[union-attr]
    assert all(is_valid_code(code) for code in codes.values())
    assert codes["NW202601010000000502"] == "0a1b2c3d4e5f"
    assert len(set(codes.values())) == 3
    for post_id, code in codes.items():
        target = fresh.share_target(code)
        assert target is not None and target.post_id == post_id
    with fresh.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM share_codes")).scalar() == 3
    fresh.dispose()
    store.dispose()


def test_share_counts_add_up_across_flushes(store: Store) -> None:
    # Two workers flushing the same code and day: the database adds, nothing is overwritten.
    store.add_share_hits({("0a1b2c3d4e5f", "2026-01-05"): (3, 1)})
    store.add_share_hits({("0a1b2c3d4e5f", "2026-01-05"): (2, 0),
                          ("0a1b2c3d4e5f", "2026-01-06"): (0, 4),
                          ("zzzzzzzzzzzz", "2026-01-06"): (9, 9)})
    days = [(d.day, d.clicks, d.previews) for d in store.share_days("0a1b2c3d4e5f")]
    assert days == [("2026-01-05", 5, 1), ("2026-01-06", 0, 4)]
    assert store.share_days("abcdefghjkmn") == []


@pytest.mark.skipif(not PG_URL, reason="SYNDICATE_TEST_DATABASE_URL is not set")
def test_postgres_hot_lookups_query_once_per_change() -> None:
    """A warm feed costs no database round trip on PostgreSQL: the state row is read again
    only after a commit (in any process) notifies the listeners."""
    assert PG_URL
    reset_database(PG_URL)
    reader, writer = Store(PG_URL), Store(PG_URL)
    reader.upgrade()
    writer.save_posts([make_input("NW202601010000000030")])
    state = reader.feed_state("site")
    lookup = reader._state_reader
    assert state is not None and lookup is not None
    queries: list[str] = []
    real = lookup._query_postgres

    def counting(key: str) -> Any:
        queries.append(key)
        return real(key)

    lookup._query_postgres = counting  # type: ignore[method-assign]
    assert [reader.feed_state("site") for _ in range(50)] == [state] * 50
    assert queries == []
    writer.save_posts([make_input("NW202601010000000031")])
    deadline = time.monotonic() + 5
    while reader.feed_state("site") == state and time.monotonic() < deadline:
        time.sleep(0.001)
    assert reader.feed_state("site").version == state.version + 1
    assert queries == ["site"]
    reader.dispose()
    writer.dispose()
