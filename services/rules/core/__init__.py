"""The pure rules core: per-child state, the rule catalogue, calendars. No broker, database or clock.

* :mod:`.kernel` — ``Kernel(config).on_event(state, event, as_of)`` / ``.on_tick(state, as_of)`` →
  ``Step(state, transitions, deltas, wake_at)``: the one per-child step every driver runs (stream, replay,
  board rebuild), with the catalogue version that re-evaluates every child after a deploy.
* :mod:`.order` — ``interleave`` (the one day order) and ``WakeIndex`` (the one wake-up index).
* :mod:`.indicators` — each child's contribution to every board indicator (the board only sums them).
* :mod:`.state` — ``ChildState`` (immutable) and ``Finding``; :mod:`.codec` — its compact stored form.
* :mod:`.horizon` — how much history a state keeps, and which late corrections are exact.
* :mod:`.fold` — ``apply(state, event)``: dedupe by event id, fold order, late events and retractions.
* :mod:`.engine` — ``Engine(config).on_event(state, event, as_of)`` / ``.on_tick(state, as_of)`` →
  ``Outcome(state, transitions, next_due)``: level-triggered alert transitions.
* :mod:`.registry` / :mod:`.rules` — one module per rule id of CONTRACT §2.
* :mod:`.config` — ``RulesConfig`` (``services/rules/config/default.toml`` merged with a TOML/YAML file).
* :mod:`.calendar` — working days (England & Wales bank holidays), months, birthdays, school terms.
"""
