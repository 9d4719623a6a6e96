"""Upstream sources: poll state and claims, item fingerprints, tombstones of pruned posts.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from syndicate.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("config_url", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("next_poll", UTCDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_until", UTCDateTime),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_poll", UTCDateTime),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_success", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", UTCDateTime),
        sa.Column("posts_new", sa.Integer, nullable=False, server_default="0"),
        sa.Column("posts_updated", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_source_state_next_poll", "source_state", ["next_poll"])
    op.create_table(
        "source_items",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("item", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("post_id", sa.String(200), nullable=False),
        sa.Column("seen", UTCDateTime, nullable=False),
    )
    op.create_index("ix_source_items_seen", "source_items", ["seen"])
    op.create_table(
        "tombstones",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("share_code", sa.String(32), nullable=False),
        sa.Column("category", sa.String(200), nullable=False),
        sa.Column("published", UTCDateTime, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("deleted", UTCDateTime, nullable=False),
    )
    op.create_index("ix_tombstones_share_code", "tombstones", ["share_code"])
    op.create_index("ix_tombstones_id", "tombstones", ["id"])


def downgrade() -> None:
    op.drop_table("tombstones")
    op.drop_table("source_items")
    op.drop_table("source_state")
