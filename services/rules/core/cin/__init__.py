"""Children in need and child protection: the facts folded from CIN/CP events and the case rules over them.

The rules are pure functions ``evaluate(facts, as_of, config) -> CinVerdict`` in their own modules; the
kernel calls each one in :data:`RULES` and compares findings between evaluations as for any other rule.
"""
