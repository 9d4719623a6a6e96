"""Source state: permanent redirects counted over consecutive polls, and the network a
source was found in.

``moved_to``/``moved_seen`` hold the target of a permanent redirect and how many polls in
a row answered with it; the stored URL moves only after several. ``network`` is
"internal" or "public", decided at a source's first poll and kept, so DNS cannot turn a
public source into one allowed inside. Existing rows are classified again at their next
poll, and a URL that an older version moved after one redirect (which may have pointed
anywhere, inside too) goes back to the configured one: a real move is made again after
the polls in a row that the new rule asks for.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        batch.add_column(sa.Column("moved_to", sa.Text))
        batch.add_column(sa.Column("moved_seen", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("network", sa.String(10)))
    state = sa.table("source_state", sa.column("config_url", sa.Text), sa.column("url", sa.Text),
                     sa.column("etag", sa.Text), sa.column("last_modified", sa.Text))
    op.execute(state.update().where(state.c.url != state.c.config_url)
               .values(url=state.c.config_url, etag=None, last_modified=None))


def downgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        batch.drop_column("network")
        batch.drop_column("moved_seen")
        batch.drop_column("moved_to")
