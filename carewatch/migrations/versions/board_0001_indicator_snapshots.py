"""Board: daily indicator snapshots (raw totals per indicator and date).

Revision ID: board_0001
Revises: (none: first revision of the ``board`` branch)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "board_0001"
down_revision = None
branch_labels = ("board",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_indicator_snapshot",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("indicator", sa.String(length=80), nullable=False),
        sa.Column("numerator", sa.BigInteger(), nullable=False),
        sa.Column("denominator", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "indicator", name=op.f("pk_board_indicator_snapshot")),
    )


def downgrade() -> None:
    op.drop_table("board_indicator_snapshot")
