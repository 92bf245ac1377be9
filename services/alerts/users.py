"""Ready-made users for scripts (the demo): a token for a named user, creating the user when missing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from carewatch.db import session_factory
from services.alerts.auth import UserError, add_user, issue_token
from services.alerts.models import User


def ensure_demo_user(engine: Engine, name: str, role: str, teams: Iterable[str] = ()) -> str:
    """A fresh token for ``name`` (created with ``role`` and ``teams`` if new). Only hashes are stored, so an
    existing user gets an additional token rather than their old one back."""
    now = datetime.now(UTC)
    with session_factory(engine).begin() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            return add_user(session, name, role, teams, now)
        if user.revoked_at is not None:
            raise UserError(f"user {name!r} is revoked")
        if user.role != role:
            raise UserError(f"user {name!r} exists with role {user.role}, not {role}")
        return issue_token(session, user, now)
