"""Archive: the append-only table of every accepted event.

Revision ID: archive_0001
Revises: (none: first revision of the ``archive`` branch)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "archive_0001"
down_revision = None
branch_labels = ("archive",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_archive",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("child_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_event_archive")),
        sa.UniqueConstraint("child_id", "event_id", name="uq_event_archive_child_event"),
    )
    op.create_index(op.f("ix_event_archive_child_id"), "event_archive", ["child_id"])
    op.create_index(op.f("ix_event_archive_received_at"), "event_archive", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_event_archive_received_at"), table_name="event_archive")
    op.drop_index(op.f("ix_event_archive_child_id"), table_name="event_archive")
    op.drop_table("event_archive")
