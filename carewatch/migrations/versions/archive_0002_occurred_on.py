"""Archive: each event's occurred date in its own column, indexed with the child (the restored-state check
asks for every child's last event without reading every payload).

Revision ID: archive_0002
Revises: archive_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "archive_0002"
down_revision = "archive_0001"
branch_labels = None
depends_on = None

CHUNK = 5_000


def upgrade() -> None:
    op.add_column("event_archive", sa.Column("occurred_on", sa.Date(), nullable=True))
    op.create_index("ix_event_archive_child_occurred", "event_archive", ["child_id", "occurred_on"])
    _backfill()


def _backfill() -> None:
    """The date of every row archived before the column existed (the events' own ``occurred_on``)."""
    from schemas.events import parse_event

    bind = op.get_bind()
    table = sa.table(
        "event_archive", sa.column("seq", sa.BigInteger()), sa.column("payload", sa.Text()), sa.column("occurred_on")
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.seq, table.c.payload)
            .where(table.c.seq > last, table.c.occurred_on.is_(None))
            .order_by(table.c.seq)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        updates = [{"key": seq, "day": parse_event(payload, received_at=None).occurred_on} for seq, payload in rows]
        bind.execute(
            table.update().where(table.c.seq == sa.bindparam("key")).values(occurred_on=sa.bindparam("day")), updates
        )
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_event_archive_child_occurred", table_name="event_archive")
    op.drop_column("event_archive", "occurred_on")
