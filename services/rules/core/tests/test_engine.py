from datetime import date

from schemas.alerts import fingerprint
from schemas.events import parse_event
from services.rules.core.config import RulesConfig
from services.rules.core.engine import Engine, Outcome
from services.rules.core.state import ChildState

from .factory import CHILD, ev, started

ENGINE = Engine(RulesConfig.default())
DOB = date(2015, 1, 1)


def _feed(state: ChildState | None, data: dict[str, object], as_of: date) -> Outcome:
    event = parse_event(data, received_at=None)
    return ENGINE.on_event(state, event, as_of)


def test_overdue_raised_at_first_overdue_day_with_team_evidence_and_deadline() -> None:
    outcome = _feed(None, started(date(2025, 1, 6), DOB, event_id="start", team="north"), date(2025, 1, 6))
    assert outcome.transitions == ()
    ticked = ENGINE.on_tick(outcome.state, date(2025, 2, 10))
    iha = next(t for t in ticked.transitions if t.rule == "iha-overdue")
    assert iha.state == "raised"
    assert iha.at == date(2025, 2, 4)
    assert iha.dates["deadline"] == date(2025, 2, 3)
    assert iha.team == "north"
    assert iha.fingerprint == fingerprint("iha-overdue", CHILD, "period:2025-01-06")
    assert [e.event_id for e in iha.evidence] == ["start"]
    assert CHILD in iha.summary
    # a second tick changes nothing (level-triggered)
    assert ENGINE.on_tick(ticked.state, date(2025, 2, 11)).transitions == ()


def test_late_pep_dated_before_the_deadline_resolves_the_alert() -> None:
    state = _feed(None, started(date(2025, 1, 6), DOB), date(2025, 1, 6)).state
    state = ENGINE.on_tick(state, date(2025, 2, 10)).state
    assert any(f.rule == "pep-overdue" for f in state.findings)
    late = _feed(state, ev("pep.completed", "2025-01-30", kind="initial"), date(2025, 2, 12))
    resolved = [t for t in late.transitions if t.rule == "pep-overdue"]
    assert [(t.state, t.at) for t in resolved] == [("resolved", date(2025, 2, 4))]
    assert not any(f.rule == "pep-overdue" for f in late.state.findings)


def test_retraction_brings_back_an_alert() -> None:
    state = _feed(None, started(date(2025, 1, 6), DOB), date(2025, 1, 6)).state
    state = _feed(state, ev("review.held", "2025-01-20", event_id="rev"), date(2025, 1, 20)).state
    state = ENGINE.on_tick(state, date(2025, 2, 10)).state
    assert not any(f.rule == "review-overdue" for f in state.findings)
    undone = _feed(state, ev("event.retracted", "2025-02-11", retracted_event_id="rev"), date(2025, 2, 11))
    # History changed after 4 Feb was evaluated: the alert takes effect on the retraction's day, and
    # the deadline it missed is in its dates.
    (raised,) = [t for t in undone.transitions if t.rule == "review-overdue"]
    assert (raised.state, raised.at, raised.dates["deadline"]) == (
        "raised",
        date(2025, 2, 11),
        date(2025, 2, 3),
    )


def test_a_raise_is_never_dated_before_the_resolution_it_follows() -> None:
    state = _feed(None, started(date(2025, 1, 6), DOB), date(2025, 1, 6)).state
    state = ENGINE.on_tick(state, date(2025, 2, 4)).state
    late_review = _feed(state, ev("review.held", "2025-02-10", event_id="rev"), date(2025, 2, 10))
    (resolved,) = [t for t in late_review.transitions if t.rule == "review-overdue"]
    assert (resolved.state, resolved.at) == ("resolved", date(2025, 2, 10))
    undone = _feed(late_review.state, ev("event.retracted", "2025-02-12", retracted_event_id="rev"), date(2025, 2, 12))
    (raised,) = [t for t in undone.transitions if t.rule == "review-overdue"]
    assert (raised.state, raised.at) == ("raised", date(2025, 2, 12))
    assert raised.fingerprint == resolved.fingerprint


def test_severity_change_is_raised_again_under_the_same_fingerprint() -> None:
    state = _feed(None, started(date(2025, 1, 6), DOB), date(2025, 1, 6)).state
    for day in ("2025-01-06", "2025-03-01"):
        state = _feed(state, ev("placement.started", day, placement_type="U6"), date.fromisoformat(day)).state
    third = _feed(state, ev("placement.started", "2025-06-01", placement_type="U6"), date(2025, 6, 1))
    (change,) = [t for t in third.transitions if t.rule == "placement-instability"]
    assert (change.state, change.severity, change.at) == ("raised", "high", date(2025, 6, 1))
    assert change.fingerprint == fingerprint("placement-instability", CHILD, "rolling-year")


def test_next_due_is_the_earliest_clock() -> None:
    outcome = _feed(None, started(date(2025, 1, 6), DOB), date(2025, 1, 6))
    # IHA, PEP and first review all run out on 3 Feb 2025: the next tick that matters is 4 Feb.
    assert outcome.next_due == date(2025, 2, 4)


def test_disabled_rule_never_fires() -> None:
    engine = Engine(RulesConfig.from_mapping({"rules": {"iha-overdue": {"enabled": False}}}))
    state = engine.on_event(None, parse_event(started(date(2025, 1, 6), DOB), received_at=None), date(2025, 1, 6))
    assert not any(t.rule == "iha-overdue" for t in engine.on_tick(state.state, date(2025, 3, 1)).transitions)


def test_an_alert_true_again_on_re_entry_to_care_is_raised_on_re_entry_not_before_its_resolution() -> None:
    # SDQ 20 on 1 Feb while looked after: sdq-concern raised on 1 Feb (its since). Care ends on 1 Mar: the
    # rule reads only children looked after, so the alert is resolved on 1 Mar. Care starts again on 2 Jun
    # and the latest score is still 20: the finding is true again with its old since (1 Feb), but the alert
    # was resolved on 1 Mar, so it is raised again on 2 Jun, the day the re-entry made it true.
    state = _feed(None, started(date(2025, 1, 6), DOB, event_id="first"), date(2025, 1, 6)).state
    sdq = _feed(state, ev("sdq.recorded", "2025-02-01", event_id="sdq", score=20), date(2025, 2, 1))
    assert [(t.rule, t.state, t.at) for t in sdq.transitions] == [("sdq-concern", "raised", date(2025, 2, 1))]
    ended = _feed(sdq.state, ev("care.ended", "2025-03-01", event_id="end", reason="E5"), date(2025, 3, 1))
    (resolved,) = [t for t in ended.transitions if t.rule == "sdq-concern"]
    assert (resolved.state, resolved.at) == ("resolved", date(2025, 3, 1))
    again = _feed(ended.state, started(date(2025, 6, 2), DOB, event_id="second"), date(2025, 6, 2))
    (raised,) = [t for t in again.transitions if t.rule == "sdq-concern"]
    assert (raised.state, raised.at) == ("raised", date(2025, 6, 2))
    assert raised.fingerprint == resolved.fingerprint
    assert [f.raised_at for f in again.state.findings if f.rule == "sdq-concern"] == [date(2025, 6, 2)]
