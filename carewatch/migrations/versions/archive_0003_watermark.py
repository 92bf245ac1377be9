"""Archive: the watermark of the archive check, per topic partition, and its gaps (a restart compares only
what was appended since, instead of the whole topic with the whole archive).

Revision ID: archive_0003
Revises: archive_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "archive_0003"
down_revision = "archive_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_archive_watermark",
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("probe_offset", sa.BigInteger(), nullable=True),
        sa.Column("probe_digest", sa.String(length=64), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("seq_digest", sa.String(length=64), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition", name=op.f("pk_event_archive_watermark")),
    )
    op.create_table(
        "event_archive_watermark_gap",
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("next_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", "first_seq", name=op.f("pk_event_archive_watermark_gap")),
    )


def downgrade() -> None:
    op.drop_table("event_archive_watermark_gap")
    op.drop_table("event_archive_watermark")
