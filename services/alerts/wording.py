"""Plain-English wording of alerts for people: dates, deadlines, ages, rule names."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Final

_ACRONYMS: Final = frozenset({"pep", "iha", "rha", "rhi", "sdq"})
_DEADLINE_KEYS: Final = ("deadline", "due", "due_on", "due_by")


def long_date(day: date) -> str:
    """``3 March 2025`` (no leading zero, as GOV.UK style asks)."""
    return f"{day.day} {day.strftime('%B %Y')}"


def rule_title(rule: str) -> str:
    """``pep-overdue`` → ``PEP overdue``; ``placement-instability`` → ``Placement instability``."""
    words = [w.upper() if w in _ACRONYMS else w for w in rule.split("-")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _subject(rule: str) -> str:
    head = rule.removesuffix("-overdue")
    if head == rule:
        return "Due"
    return rule_title(head) + " due"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def describe_deadline(rule: str, dates: Mapping[str, str | date], today: date) -> str | None:
    """``PEP due by 3 March 2025 — 12 days overdue`` for the first deadline-like date, else None."""
    for key in _DEADLINE_KEYS:
        if key in dates:
            raw = dates[key]
            due = raw if isinstance(raw, date) else date.fromisoformat(raw)
            gap = (today - due).days
            if gap > 0:
                status = f"{_days(gap)} overdue"
            elif gap == 0:
                status = "due today"
            else:
                status = f"{_days(-gap)} left"
            return f"{_subject(rule)} by {long_date(due)} — {status}"
    return None


def describe_dates(dates: Mapping[str, str | date]) -> list[str]:
    """Every computed date, labelled: ``Deadline: 3 March 2025``."""
    lines = []
    for key, raw in sorted(dates.items()):
        day = raw if isinstance(raw, date) else date.fromisoformat(raw)
        lines.append(f"{key.replace('_', ' ').capitalize()}: {long_date(day)}")
    return lines


def age_in_days(raised_at: date | None, today: date) -> int:
    return 0 if raised_at is None else max(0, (today - raised_at).days)
