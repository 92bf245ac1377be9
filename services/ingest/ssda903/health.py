"""Return health: how many records of the SSDA903 return would fail the DfE validation rules if the return
were made on a given day, by rule. The return is built from the events known on that day (export), and
the validation itself is passed in (the DfE validator in its own environment; see ``validator.py``)."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from services.ingest.ssda903.export import return_rows, write_return

Validate = Callable[[Path, int], Mapping[str, Any]]


def collection_year(day: date) -> int:
    """The collection year (named by its end) that ``day`` falls in: 2018 = 1 April 2017 – 31 March 2018."""
    return day.year + 1 if (day.month, day.day) >= (4, 1) else day.year


def known_on(events: Iterable[Mapping[str, Any]], day: date) -> list[Mapping[str, Any]]:
    """Events dated on or before ``day`` (retractions always apply)."""
    return [e for e in events if e["type"] == "event.retracted" or date.fromisoformat(e["occurred_at"][:10]) <= day]


def return_health(events: Iterable[Mapping[str, Any]], as_of: date, validate: Validate) -> list[tuple[str, int, str]]:
    """(rule, records failing it, rule message) for the return of the year containing ``as_of``, made that
    day; most frequent first. A record is one row of one table."""
    year = collection_year(as_of)
    rows = return_rows(known_on(events, as_of), year)
    with tempfile.TemporaryDirectory(prefix="carewatch-903-") as directory:
        write_return(rows, Path(directory))
        result = validate(Path(directory), year)
    records = {(e["rule"], e["table"], e["row"]) for e in result["errors"]}
    counts = Counter(rule for rule, _, _ in records)
    messages = {e["rule"]: e["message"] for e in result["errors"]}
    return [
        (rule, count, messages[rule]) for rule, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
