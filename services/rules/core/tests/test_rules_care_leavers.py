"""pathway-plan-overdue and the care-leaver contact rules."""

from datetime import date

from .factory import ev, fires, started

DOB = date(2008, 3, 1)  # 14 on 1 Mar 2022, 16 on 1 Mar 2024, 21 on 1 Mar 2029


def _left(reason: str = "E5", ended: str = "2025-01-10") -> list[dict[str, object]]:
    return [started(date(2023, 1, 2), DOB), ev("care.ended", ended, reason=reason)]


# left care 10 Jan 2025 aged 16: first pathway-plan review due 10 Jul 2025; a review then → 10 Jan 2026.
def test_pathway_plan_six_monthly() -> None:
    events = _left()
    assert not fires("pathway-plan-overdue", events, date(2025, 7, 10))
    assert fires("pathway-plan-overdue", events, date(2025, 7, 11))
    reviewed = [*events, ev("pathway_plan.reviewed", "2025-07-10")]
    assert not fires("pathway-plan-overdue", reviewed, date(2026, 1, 10))
    assert fires("pathway-plan-overdue", reviewed, date(2026, 1, 11))


def test_who_is_a_care_leaver() -> None:
    assert not fires("pathway-plan-overdue", _left("E11"), date(2025, 8, 1))  # adopted
    # left at 15 (before the 16th birthday on 1 Mar 2024)
    assert not fires("pathway-plan-overdue", _left(ended="2024-02-29"), date(2024, 12, 1))
    # still in care
    assert not fires("pathway-plan-overdue", [started(date(2023, 1, 2), DOB)], date(2025, 8, 1))
    # back in care after leaving
    back = [*_left(), started(date(2025, 3, 1), DOB)]
    assert not fires("pathway-plan-overdue", back, date(2025, 8, 1))
    # aged 21 on 1 Mar 2029: the duty modelled here stops
    assert fires("pathway-plan-overdue", _left(), date(2029, 2, 28))
    assert not fires("pathway-plan-overdue", _left(), date(2029, 3, 1))


def test_not_in_touch_resolves_on_a_later_contact() -> None:
    events = [*_left(), ev("care_leaver.contact", "2025-03-01", in_touch=False)]
    assert fires("care-leaver-not-in-touch", events, date(2025, 3, 1))
    events.append(ev("care_leaver.contact", "2025-04-01", in_touch=True))
    assert not fires("care-leaver-not-in-touch", events, date(2025, 4, 1))


def test_neet_uses_the_latest_contact_with_an_activity() -> None:
    events = [
        *_left(),
        ev("care_leaver.contact", "2025-03-01", in_touch=True, activity="G5"),
        ev("care_leaver.contact", "2025-04-01", in_touch=True),
    ]
    assert fires("care-leaver-neet", events, date(2025, 4, 1))
    events.append(ev("care_leaver.contact", "2025-05-01", in_touch=True, activity="F1"))
    assert not fires("care-leaver-neet", events, date(2025, 5, 1))


def test_unsuitable_accommodation() -> None:
    events = [*_left(), ev("care_leaver.contact", "2025-03-01", in_touch=True, accommodation="W2")]
    assert fires("care-leaver-unsuitable-accommodation", events, date(2025, 3, 1))
    suitable = [*_left(), ev("care_leaver.contact", "2025-03-01", in_touch=True, accommodation="W1")]
    assert not fires("care-leaver-unsuitable-accommodation", suitable, date(2025, 3, 1))
