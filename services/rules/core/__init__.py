"""The pure rules core: per-child state, the rule catalogue, calendars. No broker, database or clock.

* :mod:`.state` — ``ChildState`` (immutable, JSON-safe via ``to_dict``/``from_dict``) and ``Finding``.
* :mod:`.fold` — ``apply(state, event)``: dedupe by event id, fold order, late events and retractions.
* :mod:`.engine` — ``Engine(config).on_event(state, event, as_of)`` / ``.on_tick(state, as_of)`` →
  ``Outcome(state, transitions, next_due)``: level-triggered alert transitions.
* :mod:`.registry` / :mod:`.rules` — one module per rule id of CONTRACT §2.
* :mod:`.config` — ``RulesConfig`` (``services/rules/config/default.toml`` merged with a TOML/YAML file).
* :mod:`.calendar` — working days (England & Wales bank holidays), months, birthdays, school terms.
"""
