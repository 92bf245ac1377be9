"""HTTP hardening: failed sign-ins and bad tokens per client, and lockouts, shared by every process of a service.

Revision ID: guard_0001
Revises: (none: first revision of the ``guard`` branch)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "guard_0001"
down_revision = None
branch_labels = ("guard",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_failure",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("client", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_failure")),
    )
    op.create_index(op.f("ix_auth_failure_client"), "auth_failure", ["client"])
    op.create_index(op.f("ix_auth_failure_at"), "auth_failure", ["at"])
    op.create_table(
        "auth_lockout",
        sa.Column("client", sa.String(length=128), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client", name=op.f("pk_auth_lockout")),
    )


def downgrade() -> None:
    op.drop_table("auth_lockout")
    op.drop_index(op.f("ix_auth_failure_at"), table_name="auth_failure")
    op.drop_index(op.f("ix_auth_failure_client"), table_name="auth_failure")
    op.drop_table("auth_failure")
