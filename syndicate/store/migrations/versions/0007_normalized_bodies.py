"""Normalise stored article bodies as ingest does now.

Bodies stored before this revision may hold obsolete presentational elements (``<center>``
above all) and images without ``alt``, ``loading`` and ``referrerpolicy``. Each body goes
through ``sanitize_html`` again, as ingest does today (it is idempotent on its own
output), and only bodies it changes are written. The post's fingerprint is recomputed, so
that importing the same file again stays "unchanged"; ``updated`` is kept, since the
article did not change; and every feed's version is bumped, so that no cache serves the
old markup under the old ETag.

Doing this once here keeps rendering free of a per-request rewrite for old rows.
Downgrading keeps the normalised bodies (they are valid under the old code too).

Revision ID: 0007
Revises: 0006
"""

from datetime import UTC

import sqlalchemy as sa
from alembic import op

from syndicate.model import PostInput
from syndicate.store.schema import UTCDateTime
from syndicate.store.sql import fingerprint
from syndicate.text import sanitize_html

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_posts = sa.table(
    "posts", sa.column("id", sa.String), sa.column("title", sa.Text),
    sa.column("published", UTCDateTime), sa.column("html", sa.Text),
    sa.column("summary", sa.Text), sa.column("source", sa.Text), sa.column("url", sa.Text),
    sa.column("fingerprint", sa.String),
)
_categories = sa.table("post_categories", sa.column("post_id", sa.String),
                       sa.column("slug", sa.String))
_tags = sa.table("post_tags", sa.column("post_id", sa.String), sa.column("tag", sa.String))
_feeds = sa.table("feeds", sa.column("version", sa.Integer))


def _names(conn: sa.Connection, table: sa.TableClause, column: str, post_id: str) -> list[str]:
    query = sa.select(table.c[column]).where(table.c.post_id == post_id)
    return [name for (name,) in conn.execute(query)]


#: Posts read at a time: bodies are a few KB, a site may hold hundreds of thousands.
_BATCH = 500


def _normalize(conn: sa.Connection, row: sa.Row) -> bool:
    """Write the post's normalised body and fingerprint; tell whether anything changed."""
    html = sanitize_html(row.html)
    if html == row.html:
        return False
    data = PostInput(id=row.id, title=row.title, published=row.published.astimezone(UTC),
                     category_name="", category_slug=None, tags=(), html=html,
                     summary=row.summary, source=row.source, url=row.url)
    print_ = fingerprint(data, _names(conn, _categories, "slug", row.id),
                         _names(conn, _tags, "tag", row.id))
    conn.execute(_posts.update().where(_posts.c.id == row.id)
                 .values(html=html, fingerprint=print_))
    return True


def upgrade() -> None:
    conn = op.get_bind()
    ids = [post_id for (post_id,) in conn.execute(sa.select(_posts.c.id).order_by(_posts.c.id))]
    changed = False
    for start in range(0, len(ids), _BATCH):
        batch = sa.select(_posts).where(_posts.c.id.in_(ids[start : start + _BATCH]))
        for row in conn.execute(batch).all():
            changed = _normalize(conn, row) or changed
    if changed:
        conn.execute(_feeds.update().values(version=_feeds.c.version + 1))


def downgrade() -> None:
    pass
