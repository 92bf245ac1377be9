"""Authority alerts: an alert's scope (child or authority), subject and chart; no child id for the authority.

Revision ID: alerts_0003
Revises: alerts_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "alerts_0003"
down_revision = "alerts_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=16), server_default="child", nullable=False))
        batch.add_column(sa.Column("subject", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("chart", sa.JSON(), nullable=True))
        batch.alter_column("child_id", existing_type=sa.String(length=64), nullable=True)
    op.create_index("ix_alert_scope_state", "alert", ["scope", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_scope_state", table_name="alert")
    op.execute("DELETE FROM alert_history WHERE alert_id IN (SELECT id FROM alert WHERE child_id IS NULL)")
    op.execute("DELETE FROM alert WHERE child_id IS NULL")
    with op.batch_alter_table("alert") as batch:
        batch.alter_column("child_id", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("chart")
        batch.drop_column("subject")
        batch.drop_column("scope")
