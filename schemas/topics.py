"""Kafka topic names: the one place they are spelled. The suffix is the contract version."""

from __future__ import annotations

from typing import Final

CASE_EVENTS: Final = "carewatch.case-events.v1"
"""Validated case events and clock ticks, keyed by child id (ticks: one per partition, no key)."""

CASE_EVENTS_DLQ: Final = "carewatch.case-events-dlq.v1"
"""Rejected input: original bytes, reasons with field paths, receive time; and case events the rules
worker could not process (with their topic, partition and offset)."""

ALERTS: Final = "carewatch.alerts.v1"
"""Alert transitions (raised/resolved), keyed by child id."""

INDICATOR_DELTAS: Final = "carewatch.indicator-deltas.v1"
"""Changes of one child's contribution to board indicators (old out, new in)."""

ALERTS_DLQ: Final = "carewatch.alerts-dlq.v1"
"""Alert transitions the alerts service could not store: the record's bytes, the reason, its topic offset."""

INDICATOR_DELTAS_DLQ: Final = "carewatch.indicator-deltas-dlq.v1"
"""Indicator-delta records the board feed could not read: the record's bytes, the reason, its offset."""

DEAD_LETTER_TOPICS: Final = (CASE_EVENTS_DLQ, ALERTS_DLQ, INDICATOR_DELTAS_DLQ)

ALL_TOPICS: Final = (CASE_EVENTS, CASE_EVENTS_DLQ, ALERTS, INDICATOR_DELTAS, ALERTS_DLQ, INDICATOR_DELTAS_DLQ)
