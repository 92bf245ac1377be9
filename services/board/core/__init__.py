"""Pure core of the board: indicator definitions, aggregation by deltas, disclosure control, comparators.

Imports no broker, database, metrics or HTTP library and never reads the clock: ``as_of`` is an argument.
"""
