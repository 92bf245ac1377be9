"""What managers read about an alert: names, codes with meanings, one date style, changes told as changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.alerts.guidance import (
    GUIDANCE,
    deadline_line,
    event_name,
    humanise,
    rule_name,
    severity_since,
    tell_history,
)
from services.alerts.lifecycle import CLOSE_REASONS
from services.rules.core.registry import RULES


@dataclass
class Entry:
    action: str
    event_date: date | None
    detail: dict[str, Any] = field(default_factory=dict)
    actor: str = "engine"


def test_every_rule_has_guidance_and_a_proper_title() -> None:
    assert set(GUIDANCE) == set(RULES)
    assert rule_name("care-leaver-neet").endswith("(NEET)")
    assert rule_name("under16-unregulated") == "Under 16 in an unregulated placement"
    assert rule_name("some-new-rule") == "Some new rule"
    assert event_name("placement.started") == "Placement started"
    assert event_name("pep.completed") == "PEP completed"


def test_codes_get_their_meaning_and_dates_one_style() -> None:
    assert humanise("at the contact on 2026-09-18 (code E2).") == (
        "at the contact on 18 September 2026 (E2: Supported lodgings, unsuitable)."
    )
    assert "(activity G5: NEET: other circumstances)" in humanise("was NEET (activity G5).")
    assert "placement of type K2 (" in humanise("is in a placement of type K2, which")
    assert humanise("no date 2026-02-30 here") == "no date 2026-02-30 here"  # not a real date: left alone


def test_deadline_line_counts_days_past_or_left() -> None:
    assert deadline_line({"deadline": "2026-09-01"}, date(2026, 9, 13)) == "Due by 1 September 2026: 12 days overdue"
    assert deadline_line({"deadline": "2026-09-14"}, date(2026, 9, 13)) == "Due by 14 September 2026: 1 day left"
    assert deadline_line({"window_start": "2026-09-14"}, date(2026, 9, 13)) is None


def test_history_is_told_as_changes() -> None:
    history = [
        Entry("raised", date(2026, 6, 15), {"severity": "low", "summary": "2 placements", "occurrence": 1}),
        Entry("updated", date(2026, 9, 18), {"severity": "high", "summary": "3 placements", "was": "low"}),
        Entry("updated", date(2026, 9, 20), {"reason": "still raised: details refreshed"}),
        Entry("acknowledged", None, {"note": "stability meeting booked"}, actor="sam"),
        Entry(
            "resolved", date(2026, 10, 2), {"cleared_by": [{"type": "placement.started", "occurred_at": "2026-10-01"}]}
        ),
    ]
    told = tell_history(history, CLOSE_REASONS, "placement-instability")
    assert told == [
        "Raised on 15 June 2026 as low severity: 2 placements",
        "Severity raised from low to high on 18 September 2026: 3 placements",
        "Acknowledged by sam: “stability meeting booked”",
        "Resolved on 2 October 2026: Placement started on 1 October 2026",
    ]
    assert severity_since(history, "high", date(2026, 6, 15)) == date(2026, 9, 18)
    plain = tell_history([Entry("resolved", date(2026, 10, 2))], CLOSE_REASONS, "pep-overdue")
    assert plain == ["Resolved on 2 October 2026: cleared (a PEP recorded as completed, or it no longer applies)"]
