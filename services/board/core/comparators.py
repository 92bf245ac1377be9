"""Comparators (England, statistical neighbours) and local targets, and the RAG status they give.

Files are small CSVs (UTF-8, header row):
* comparators (``data/national.csv``, the statistical-neighbour file): ``indicator,value,year,source``;
* local targets: ``indicator,target[,amber_band]``.
A bad row is an error naming the file, line and problem; nothing is silently skipped.

RAG: green when the value meets the target in the better direction, amber when it misses by no more than
the amber band (in the indicator's own unit, e.g. percentage points), red beyond. Indicators with no
better direction, no target or a hidden value get no RAG.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from schemas.board import Rag as Rag  # the contract is its home
from services.board.core.catalogue import INDICATORS, Direction

NATIONAL_CSV: Final = Path(__file__).resolve().parent.parent / "data" / "national.csv"

RAG_TEXT: Final[dict[str, str]] = {"green": "On target", "amber": "Near target", "red": "Off target"}


class ComparatorFileError(ValueError):
    """A comparator or target file that cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Comparator:
    value: float
    year: str
    source: str


@dataclass(frozen=True, slots=True)
class Target:
    value: float
    amber_band: float | None = None


@dataclass(frozen=True, slots=True)
class Comparators:
    """Everything a summary compares against; empty by default."""

    national: dict[str, Comparator]
    neighbours: dict[str, Comparator]
    targets: dict[str, Target]
    amber_band: float = 5.0

    @classmethod
    def empty(cls) -> Comparators:
        return cls({}, {}, {})


def _rows(text: str, name: str, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in required if column not in (reader.fieldnames or [])]
    if missing:
        raise ComparatorFileError(f"{name}: missing column(s) {', '.join(missing)} in the header")
    rows = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        indicator = (row.get("indicator") or "").strip()
        if indicator not in INDICATORS:
            raise ComparatorFileError(f"{name} line {line}: unknown indicator {indicator!r}")
        if indicator in seen:
            raise ComparatorFileError(f"{name} line {line}: indicator {indicator!r} listed twice")
        seen.add(indicator)
        rows.append((line, row))
    return rows


def _number(text: str | None, name: str, line: int, column: str) -> float:
    try:
        value = float((text or "").strip())
    except ValueError:
        raise ComparatorFileError(f"{name} line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ComparatorFileError(f"{name} line {line}: {column} must be a finite number")
    return value


def parse_comparators(text: str, name: str) -> dict[str, Comparator]:
    result = {}
    for line, row in _rows(text, name, ("indicator", "value", "year", "source")):
        result[row["indicator"].strip()] = Comparator(
            value=_number(row["value"], name, line, "value"),
            year=(row["year"] or "").strip(),
            source=(row["source"] or "").strip(),
        )
    return result


def parse_targets(text: str, name: str) -> dict[str, Target]:
    result = {}
    for line, row in _rows(text, name, ("indicator", "target")):
        band = (row.get("amber_band") or "").strip()
        result[row["indicator"].strip()] = Target(
            value=_number(row["target"], name, line, "target"),
            amber_band=_number(band, name, line, "amber_band") if band else None,
        )
    return result


def load(
    neighbours: Path | None = None,
    targets: Path | None = None,
    amber_band: float = 5.0,
    national: Path = NATIONAL_CSV,
) -> Comparators:
    """Read the comparator files (national always; neighbours and targets when configured)."""

    def read(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ComparatorFileError(f"{path}: cannot be read ({exc.strerror})") from exc

    return Comparators(
        national=parse_comparators(read(national), str(national)),
        neighbours=parse_comparators(read(neighbours), str(neighbours)) if neighbours else {},
        targets=parse_targets(read(targets), str(targets)) if targets else {},
        amber_band=amber_band,
    )


def rag(value: float | None, target: Target | None, better: Direction, amber_band: float) -> Rag | None:
    """Red/amber/green of ``value`` against ``target``; None when there is nothing to judge."""
    if value is None or target is None or better == "neutral":
        return None
    band = target.amber_band if target.amber_band is not None else amber_band
    shortfall = target.value - value if better == "higher" else value - target.value
    if shortfall <= 0:
        return "green"
    if shortfall <= band:
        return "amber"
    return "red"
