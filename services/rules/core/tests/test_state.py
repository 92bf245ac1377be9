import json
from datetime import date

from schemas.events import parse_event
from services.rules.core import codec
from services.rules.core.fold import Change, apply, refold
from services.rules.core.horizon import Horizon

from .factory import ev, fold, started

DOB = date(2012, 5, 1)


def test_fold_builds_periods_placements_and_team() -> None:
    state = fold(
        [
            started(date(2025, 1, 6), DOB, team="north"),
            ev("placement.started", "2025-01-06", placement_type="U4", distance_miles=3.5),
            ev("social_worker.changed", "2025-01-07", worker_id="sw1", team="south", employment="agency"),
            ev("missing.started", "2025-02-01", episode_id="m1"),
            ev("missing.ended", "2025-02-02", episode_id="m1"),
            ev("return_interview.completed", "2025-02-03", episode_id="m1"),
        ]
    )
    assert state.team == "south"
    assert state.current_period is not None and state.current_period.start == date(2025, 1, 6)
    placement = state.current_placement()
    assert placement is not None and placement.distance_miles == 3.5
    (episode,) = state.missing_episodes
    assert (episode.start, episode.end) == (date(2025, 2, 1), date(2025, 2, 2))
    assert [i.on for i in episode.return_interviews] == [date(2025, 2, 3)]
    assert state.anomalies == ()


def test_late_event_refolds_to_the_same_state_as_in_order() -> None:
    events = [
        started(date(2025, 1, 6), DOB, event_id="a"),
        ev("placement.started", "2025-01-06", event_id="b", placement_type="U4"),
        ev("placement.started", "2025-03-01", event_id="c", placement_type="U6"),
        ev("placement.started", "2025-06-01", event_id="d", placement_type="K2"),
    ]
    # Five months late: within a log of 200 days, so the re-fold is exact.
    wide = Horizon(log_days=200)
    in_order = fold(events, wide)
    shuffled = fold([events[3], events[0], events[2], events[1]], wide)
    assert codec.encode(shuffled) == codec.encode(in_order)
    assert not shuffled.needs_rebuild
    assert [p.event_id for p in shuffled.placements] == ["b", "c", "d"]


def test_appending_the_latest_event_does_not_refold() -> None:
    state = fold([started(date(2025, 1, 6), DOB)])
    state, change = apply(state, parse_event(ev("visit.completed", "2025-01-08"), received_at=None))
    assert change is Change.APPENDED
    state, change = apply(state, parse_event(ev("visit.completed", "2025-01-07"), received_at=None))
    assert change is Change.REFOLDED
    assert [v.on for v in state.visits] == [date(2025, 1, 7), date(2025, 1, 8)]
    assert refold(state) == state


def test_duplicate_event_id_changes_nothing() -> None:
    event = parse_event(started(date(2025, 1, 6), DOB), received_at=None)
    state, _ = apply(None, event)
    again, change = apply(state, event)
    assert change is Change.DUPLICATE
    assert again is state


def test_retraction_undoes_an_event_and_survives_arriving_first() -> None:
    care = started(date(2025, 1, 6), DOB)
    wrong = ev("placement.started", "2025-02-01", event_id="wrong", placement_type="K2")
    retract = ev("event.retracted", "2025-02-05", retracted_event_id="wrong")
    after = fold([care, wrong, retract])
    assert after.placements == ()
    assert "wrong" in after.retracted_ids and "wrong" in after.processed_ids
    # The retraction first: the retracted event stays out when it arrives.
    before = fold([care, retract, wrong])
    assert before.placements == ()
    assert before.anomalies == ()


def test_retraction_of_an_unknown_event_is_flagged_not_fatal() -> None:
    state = fold([started(date(2025, 1, 6), DOB), ev("event.retracted", "2025-02-05", retracted_event_id="nope")])
    assert [a.reason for a in state.anomalies] == ["retracts an event not received (yet)"]


def test_events_outside_a_period_are_kept_and_flagged() -> None:
    state = fold(
        [
            ev("visit.completed", "2025-01-01", event_id="early"),
            started(date(2025, 1, 6), DOB),
            ev("care.ended", "2025-03-01", reason="E4A"),
            ev("visit.completed", "2025-03-05", event_id="late"),
            ev("care.ended", "2025-03-06", event_id="again", reason="E4A"),
        ]
    )
    reasons = {(a.event_id, a.reason) for a in state.anomalies}
    assert reasons == {
        ("early", "before care started"),
        ("late", "after care ended"),
        ("again", "care ended while not looked after (ignored)"),
    }
    assert [v.event_id for v in state.visits] == ["early", "late"]


def test_care_started_again_after_ending_opens_a_new_period() -> None:
    state = fold(
        [
            started(date(2024, 1, 6), DOB),
            ev("care.ended", "2024-06-01", reason="E4A"),
            started(date(2025, 2, 3), DOB),
        ]
    )
    assert [(p.start, p.end) for p in state.periods] == [
        (date(2024, 1, 6), date(2024, 6, 1)),
        (date(2025, 2, 3), None),
    ]
    assert state.looked_after_on(date(2024, 6, 1)) is None
    assert state.looked_after_on(date(2024, 5, 31)) is not None


def test_same_day_placement_recorded_before_care_started_is_in_the_period() -> None:
    state = fold(
        [
            ev("placement.started", "2025-01-06", event_id="a-first", placement_type="U4"),
            started(date(2025, 1, 6), DOB, event_id="z-care"),
        ]
    )
    assert state.anomalies == ()
    assert state.current_placement() is not None


def test_json_round_trip() -> None:
    state = fold(
        [
            started(date(2025, 1, 6), DOB, uasc=True),
            ev("placement.started", "2025-01-06T10:30:00+00:00", placement_type="U4", intended_until_18=True),
            ev("sdq.recorded", "2025-02-01", score=18),
            ev("care_leaver.contact", "2025-02-02", in_touch=True, activity="G5"),
        ]
    )
    text = json.dumps(codec.encode(state))
    back = codec.decode(json.loads(text))
    assert back == state
    assert json.dumps(codec.encode(back)) == text
