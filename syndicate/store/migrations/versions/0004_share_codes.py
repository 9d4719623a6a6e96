"""Share codes: a registry of every code ever minted, and per-day share link counts.

Codes minted before this revision were derived from the article key, 8 characters from
shortuuid's mixed-case alphabet. They are replaced by random 12-character lowercase codes
(syndicate.share), and every code is recorded in ``share_codes`` so that it is never
minted again. No release ever served the old codes, so none is kept.

Revision ID: 0004
Revises: 0003
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from syndicate.share import is_valid_code, mint_code
from syndicate.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    registry = op.create_table(
        "share_codes",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("minted", UTCDateTime, nullable=False),
    )
    op.create_table(
        "share_hits",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("clicks", sa.Integer, nullable=False, server_default="0"),
        sa.Column("previews", sa.Integer, nullable=False, server_default="0"),
    )
    conn = op.get_bind()
    now = datetime.now(UTC)
    taken: set[str] = set()
    codes: dict[str, str] = {}  # article key -> its code
    for table in ("posts", "tombstones"):
        t = sa.table(table, sa.column("key", sa.String), sa.column("share_code", sa.String))
        for key, code in conn.execute(sa.select(t.c.key, t.c.share_code)).all():
            if key in codes:  # the tombstone of a post that came back: one code
                conn.execute(t.update().where(t.c.key == key).values(share_code=codes[key]))
                continue
            if not is_valid_code(code) or code in taken:
                code = mint_code()
                while code in taken:
                    code = mint_code()
                conn.execute(t.update().where(t.c.key == key).values(share_code=code))
            taken.add(code)
            codes[key] = code
    if codes:
        op.bulk_insert(registry, [{"code": code, "key": key, "minted": now}
                                  for key, code in codes.items()])


def downgrade() -> None:
    op.drop_table("share_hits")
    op.drop_table("share_codes")
