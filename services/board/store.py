"""Daily indicator snapshots in SQL, so the board sees trends over 12 months and more.

A snapshot keeps the *raw* totals (numerator, denominator) of each indicator on a date; suppression,
comparators and RAG are applied when a summary is built from it (:func:`summary_on`), so a change of
threshold or target never needs a rebuild. Writing a date again replaces that date's rows: rebuilding
from a replay of the same events gives the same snapshots.

Rows hold totals over many children, never a child id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    delete,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from carewatch.db import Base, session_factory
from services.board.core.aggregate import Aggregate, Contribution, Delta
from services.board.core.catalogue import INDICATORS
from services.board.core.comparators import Comparators
from services.board.core.disclosure import LINKED_TO_COUNT, Audience
from services.board.core.summary import build_summary

STORED_INDICATORS = tuple(indicator for indicator in INDICATORS if indicator not in LINKED_TO_COUNT)
"""Rates per population are derived from the counts when read, not stored."""


class IndicatorSnapshot(Base):
    __tablename__ = "board_indicator_snapshot"

    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(80), primary_key=True)
    numerator: Mapped[int] = mapped_column(BigInteger, nullable=False)
    denominator: Mapped[int] = mapped_column(BigInteger, nullable=False)


def save(engine: Engine, snapshots: Mapping[date, Aggregate]) -> int:
    """Write (or replace) the snapshots of the given dates in one transaction; returns rows written."""
    with session_factory(engine).begin() as session:
        return write(session, snapshots)


def write(session: Session, snapshots: Mapping[date, Aggregate]) -> int:
    """:func:`save` within the caller's transaction (e.g. with an audit entry); returns rows written."""
    rows = [
        {
            "as_of": as_of,
            "indicator": indicator,
            "numerator": total.numerator,
            "denominator": total.denominator,
        }
        for as_of, aggregate in snapshots.items()
        for indicator in STORED_INDICATORS
        for total in (aggregate.get(indicator),)
    ]
    if snapshots:
        session.execute(delete(IndicatorSnapshot).where(IndicatorSnapshot.as_of.in_(list(snapshots))))
    if rows:
        session.execute(insert(IndicatorSnapshot), rows)
    return len(rows)


def load(engine: Engine, first: date | None = None, last: date | None = None) -> dict[date, Aggregate]:
    """The stored totals of every date in [first, last] (both optional), in date order."""
    query = select(IndicatorSnapshot).order_by(IndicatorSnapshot.as_of, IndicatorSnapshot.indicator)
    if first is not None:
        query = query.where(IndicatorSnapshot.as_of >= first)
    if last is not None:
        query = query.where(IndicatorSnapshot.as_of <= last)
    series: dict[date, Aggregate] = {}
    with session_factory(engine)() as session:
        for row in session.scalars(query):
            aggregate = series.setdefault(row.as_of, Aggregate())
            total = Contribution(row.numerator, row.denominator)
            aggregate.apply(Delta("", row.indicator, Contribution(), total))
    return series


def dates(engine: Engine) -> list[date]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(IndicatorSnapshot.as_of).distinct().order_by(IndicatorSnapshot.as_of)))


def latest_on_or_before(engine: Engine, as_of: date) -> date | None:
    with session_factory(engine)() as session:
        query = select(IndicatorSnapshot.as_of).where(IndicatorSnapshot.as_of <= as_of)
        found: date | None = session.scalars(query.order_by(IndicatorSnapshot.as_of.desc()).limit(1)).first()
        return found


def summary_on(
    engine: Engine,
    as_of: date,
    threshold: int,
    population: int | None = None,
    comparators: Comparators | None = None,
    audience: Audience = "public",
) -> dict[str, Any] | None:
    """The board summary of the latest snapshot on or before ``as_of`` (None when there is none)."""
    found = latest_on_or_before(engine, as_of)
    if found is None:
        return None
    aggregate = load(engine, found, found)[found]
    return build_summary(aggregate, found, threshold, population=population, comparators=comparators, audience=audience)


def table_rows(engine: Engine) -> list[tuple[str, str, int, int]]:
    """Every stored row as (date, indicator, numerator, denominator), in order: to compare two databases."""
    with session_factory(engine)() as session:
        rows = session.scalars(select(IndicatorSnapshot))
        return sorted((r.as_of.isoformat(), r.indicator, r.numerator, r.denominator) for r in rows)


# Return health: the SSDA903 return's failing records by DfE rule, as last checked ---------------------


class ReturnHealthRun(Base):
    """One check of the return as if made on ``as_of``: ``available`` is False when the DfE validator could
    not be run (then ``detail`` says why and there are no rule rows: the count is unknown, not 0)."""

    __tablename__ = "board_return_health_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    as_of: Mapped[date] = mapped_column(Date)
    collection_year: Mapped[int] = mapped_column(Integer)
    available: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text, default="")


class ReturnHealthRule(Base):
    """Records (rows of the return's tables) failing one DfE rule in one check."""

    __tablename__ = "board_return_health_rule"

    run_id: Mapped[int] = mapped_column(ForeignKey("board_return_health_run.id", ondelete="CASCADE"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(16), primary_key=True)
    records: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")


@dataclass(frozen=True)
class ReturnHealth:
    checked_at: datetime
    as_of: date
    collection_year: int
    available: bool
    detail: str
    rules: tuple[tuple[str, int, str], ...]
    """(rule, records failing it, message), most records first."""

    @property
    def total(self) -> int | None:
        """Records failing any rule (a record failing two rules counts twice); None when not known."""
        return sum(count for _, count, _ in self.rules) if self.available else None


def save_return_health(engine: Engine, health: ReturnHealth) -> None:
    with session_factory(engine).begin() as session:
        run = ReturnHealthRun(
            checked_at=health.checked_at,
            as_of=health.as_of,
            collection_year=health.collection_year,
            available=health.available,
            detail=health.detail,
        )
        session.add(run)
        session.flush()
        session.add_all(ReturnHealthRule(run_id=run.id, rule=r, records=n, message=m) for r, n, m in health.rules)


def latest_return_health(engine: Engine) -> ReturnHealth | None:
    """The most recent check stored (None when the return has never been checked)."""
    with session_factory(engine)() as session:
        run = session.scalars(select(ReturnHealthRun).order_by(ReturnHealthRun.id.desc()).limit(1)).first()
        if run is None:
            return None
        rules = session.scalars(select(ReturnHealthRule).where(ReturnHealthRule.run_id == run.id)).all()
        ordered = sorted(((r.rule, r.records, r.message) for r in rules), key=lambda item: (-item[1], item[0]))
        checked = run.checked_at if run.checked_at.tzinfo else run.checked_at.replace(tzinfo=UTC)
        return ReturnHealth(checked, run.as_of, run.collection_year, run.available, run.detail, tuple(ordered))
