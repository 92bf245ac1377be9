"""Social Finance's ``cs-demand-model`` as an independent count of the children looked after on a day, beside
carewatch's own count (import-903, then a replay to the day and the board's ``cla-count`` indicator).

The model pins ``rich<13`` and ``pandas<2``, which the project's environment cannot hold, so it lives in
``.venv-demand/`` at the repository root (``make demand-model``, which ``make test`` depends on; created here
on first use too) and runs as a subprocess (``demand_model_runner.py``).

Like with like: the model counts every episode, short breaks (legal status V3/V4) included, while the DfE and
``cla-count`` leave them out. :func:`model_input` writes the model's input with or without the V3/V4
episodes; the count with them is compared with carewatch's periods of care on the day whatever the legal
status (:attr:`Counts.with_short_breaks`).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from schemas.codes import SHORT_BREAK_LEGAL_STATUSES
from schemas.events import parse_event
from services.rules.core.config import RulesConfig
from services.rules.core.fold import apply
from services.rules.core.indicators import contributions
from services.rules.core.state import ChildState
from services.rules.replay import replay

ROOT: Final = Path(__file__).resolve().parents[2]
VENV: Final = ROOT / ".venv-demand"
PYTHON: Final = VENV / "bin" / "python"
RUNNER: Final = Path(__file__).with_name("demand_model_runner.py")
REQUIREMENT: Final = "cs-demand-model==0.5.1"  # the Makefile's DEMAND_MODEL
HEADER: Final = ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB")
EPISODES: Final = ("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
                   "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN")  # fmt: skip


def ensure_model() -> Path:
    """The model's Python, installing it on first use (what ``make demand-model`` does)."""
    if not (VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", REQUIREMENT], check=True, timeout=1200)
        (VENV / ".installed").touch()
    return PYTHON


def model_input(
    returns: Mapping[int, tuple[Sequence[Mapping[str, str]], Sequence[Mapping[str, str]]]],
    directory: Path,
    *,
    short_breaks: bool,
) -> Path:
    """The model's input: ``directory/<year>/header.csv`` and ``episodes.csv`` for each return (year →
    (header rows, episode rows)); episodes under V3/V4 left out unless ``short_breaks``."""
    for year, (header, episodes) in returns.items():
        folder = directory / str(year)
        folder.mkdir(parents=True, exist_ok=True)
        kept = [r for r in episodes if short_breaks or r["LS"] not in SHORT_BREAK_LEGAL_STATUSES]
        for name, fields, rows in (("header", HEADER, header), ("episodes", EPISODES, kept)):
            with (folder / f"{name}.csv").open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
                writer.writeheader()
                writer.writerows({k: r.get(k, "") for k in fields} for r in rows)
    return directory


@dataclass(frozen=True)
class ModelCount:
    count: int
    """The model's population stock on the day (``PopulationStats.stock``, all bins)."""
    children: frozenset[str]
    """The children of the model's cleaned episodes covering the day."""


def model_counts(python: Path, directory: Path, days: Iterable[date]) -> dict[date, ModelCount]:
    done = subprocess.run(
        [str(python), str(RUNNER), str(directory), *(d.isoformat() for d in days)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return {
        date.fromisoformat(day): ModelCount(found["count"], frozenset(found["children"]))
        for day, found in json.loads(done.stdout).items()
    }


@dataclass(frozen=True)
class Counts:
    cla_count: int
    """The board's ``cla-count`` on the day: the children contributing to it (V3/V4 excluded)."""
    children: frozenset[str]
    with_short_breaks: frozenset[str]
    """The children in a period of care on the day, whatever the legal status (as the model counts)."""


def carewatch_counts(events: Sequence[Mapping[str, Any]], days: Iterable[date]) -> dict[date, Counts]:
    """carewatch's count on each day: each child's events dated up to the day folded into its state (the
    rules kernel's fold, in date order), then the board's indicator contributions of that state on the day."""
    parsed = sorted((parse_event(dict(e), received_at=None) for e in events), key=lambda e: e.occurred_at)
    states: dict[str, ChildState] = {}
    found = {}
    position = 0
    for day in sorted(days):
        while position < len(parsed) and parsed[position].occurred_on <= day:
            event = parsed[position]
            states[event.child_id], _ = apply(states.get(event.child_id), event)
            position += 1
        cla = frozenset(c for c, s in states.items() if "cla-count" in contributions(s, day))
        found[day] = Counts(
            len(cla), cla, frozenset(c for c, s in states.items() if s.looked_after_on(day) is not None)
        )
    return found


def replayed_cla_count(events: Sequence[Mapping[str, Any]], day: date) -> int:
    """``cla-count`` as ``carewatch replay --until day`` sums it (the kernel's deltas, daily clock)."""
    result = replay([parse_event(dict(e), received_at=None) for e in events], day, RulesConfig.default())
    total = result.totals.get("cla-count")
    return total.numerator if total else 0


OVERLAP: Final = (
    "overlapping periods (DfE rule 501, reported): a period starts (RNE S) before the previous episode's DEC, "
    "which ends care; carewatch lets that ending stand, the model shortens the earlier episode to the new start"
)
TWO_OPEN: Final = (
    "two episodes without DEC (DfE rules 142/148, reported): the model keeps only the first episode of a "
    "child's episodes with the same DEC, blank included, and so ends care at the next one's DEC"
)
UNEXPLAINED: Final = "unexplained"


def restarts_the_same_day(child_rows: Sequence[Mapping[str, str]], problems: Iterable[str]) -> bool:
    """A period starts (RNE S) on the day the previous one ended (DfE rule 431, reported): the kernel folds
    the day's ``care.ended`` before its ``care.started``, and the child is looked after as the model and
    the DfE have it (no reason to differ)."""
    ended = {r["DEC"] for r in child_rows if r["DEC"] and r["REC"] not in ("", "X1")}
    return "431" in set(problems) and any(r["RNE"] == "S" and r["DECOM"] in ended for r in child_rows)


def reason(child_rows: Sequence[Mapping[str, str]], problems: Iterable[str], *, model_only: bool) -> str:
    """Why the model and carewatch disagree on a child, from its episode rows and the DfE rules import-903
    reported on them."""
    rules = set(problems)
    if model_only and "501" in rules:
        return OVERLAP
    if not model_only and sum(not r["DEC"] for r in child_rows) > 1 and rules & {"142", "148"}:
        return TWO_OPEN
    return UNEXPLAINED
