"""Initial schema: categories, posts, post categories and tags.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from syndicate.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("slug", sa.String(200), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
    )
    op.create_index("ix_categories_name", "categories", ["name"])
    op.create_table(
        "posts",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("published", UTCDateTime, nullable=False),
        sa.Column("updated", UTCDateTime, nullable=False),
        sa.Column("category", sa.String(200), sa.ForeignKey("categories.slug"), nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("share_code", sa.String(32), nullable=False, unique=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
    )
    op.create_index("ix_posts_published", "posts", ["published", "id"])
    for name, column in (("post_categories", "slug"), ("post_tags", "tag")):
        target = [sa.ForeignKey("categories.slug")] if column == "slug" else []
        op.create_table(
            name,
            sa.Column("post_id", sa.String(200), sa.ForeignKey("posts.id", ondelete="CASCADE"),
                      primary_key=True),
            sa.Column(column, sa.String(200), *target, primary_key=True),
            sa.Column("published", UTCDateTime, nullable=False),
            sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        )
        op.create_index(f"ix_{name}_{column}_published", name, [column, "published", "post_id"])


def downgrade() -> None:
    op.drop_table("post_tags")
    op.drop_table("post_categories")
    op.drop_table("posts")
    op.drop_table("categories")
