"""Board: return health checks (SSDA903 records failing DfE rules, by rule).

Revision ID: board_0002
Revises: board_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "board_0002"
down_revision = "board_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_return_health_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("collection_year", sa.Integer(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_return_health_run")),
    )
    op.create_index(
        op.f("ix_board_return_health_run_checked_at"), "board_return_health_run", ["checked_at"], unique=False
    )
    op.create_table(
        "board_return_health_rule",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["board_return_health_run.id"],
            name=op.f("fk_board_return_health_rule_run_id_board_return_health_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "rule", name=op.f("pk_board_return_health_rule")),
    )


def downgrade() -> None:
    op.drop_table("board_return_health_rule")
    op.drop_index(op.f("ix_board_return_health_run_checked_at"), table_name="board_return_health_run")
    op.drop_table("board_return_health_run")
