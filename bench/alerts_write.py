"""How fast the alerts service writes transitions to SQL (one DB transaction per batch, as the consumer does),
against a bare SQLAlchemy Core ``executemany`` of the same rows in the same run.

    .venv/bin/python bench/alerts_write.py [--transitions 5000] [--batch 500] [--rounds 2] [--postgres URL]
        [--workload churn|steady|both] [--profile]

Prints transitions/s for SQLite (a temporary file) and PostgreSQL (a temporary database on the server).
Half the transitions raise new alerts, a quarter resolve them, a quarter are repeats (ignored). Two
workloads: "team churn" (a child's consecutive transitions carry different teams, so most of its open
alerts are re-routed: far more than in real use) and "steady teams" (each child keeps its team; one child
in 50 moves team when its alerts resolve, as in real use).

Anchor: the rows the writer stored (``alert`` and ``alert_history``, read back after its run) inserted
again into the emptied tables with ``connection.execute(insert(table), rows)``, in as many transactions as
the writer used. The anchor neither reads nor updates: a resolve is stored as its final row. Best of
``--rounds`` alternating runs each, in wall time; the ratio is writer rate / anchor rate. The CPU time of
this process is printed too (best of the rounds): on SQLite it is all the work but the disk's; on
PostgreSQL it leaves out the server's, so there only the wall-time ratio compares like with like.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, delete, insert, select, text
from tqdm import tqdm

from carewatch.db import make_engine, migrate, session_factory
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.models import Alert, AlertHistory
from services.alerts.store import apply_transitions

TABLES = (Alert.__table__, AlertHistory.__table__)

RULES = ("pep-overdue", "visit-overdue", "review-overdue", "dental-overdue")


def workload(n: int, seed: int = 1, *, churn: bool = True) -> list[AlertTransition]:
    rng = random.Random(seed)
    start = date(2025, 1, 6)
    raised = []
    for i in range(n // 2):
        child = f"B{i // 2:06d}"
        rule = RULES[i % len(RULES)]
        raised.append(
            AlertTransition(
                fingerprint=fingerprint(rule, child),
                rule=rule,
                child_id=child,
                state="raised",
                at=start + timedelta(days=rng.randrange(60)),
                severity=rng.choice(("low", "medium", "high")),
                summary=f"{rule} for a child",
                evidence=(),
                dates={"deadline": start},
                team=f"team-{i % 7}" if churn else f"team-{(i // 2) % 7}",
            )
        )
    resolved = [t.model_copy(update={"state": "resolved", "at": t.at + timedelta(days=9)}) for t in raised[::2]]
    if not churn:  # one child in 50 moves team when its first alert resolves
        resolved = [
            t.model_copy(update={"team": "team-moved"}) if int(str(t.child_id)[1:]) % 50 == 0 else t for t in resolved
        ]
    repeats = rng.sample(raised, len(raised) // 2)
    return raised + resolved + repeats


def timed_writer(engine: Engine, items: list[AlertTransition], batch: int, label: str) -> tuple[float, float, int]:
    """Wall and CPU seconds (this process) the writer took, and how many alerts it re-routed."""
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    rerouted = 0
    started, cpu = time.perf_counter(), time.process_time()
    with tqdm(total=len(items), desc=label, unit="tr", leave=False) as progress:
        for offset in range(0, len(items), batch):
            chunk = items[offset : offset + batch]
            with sessions.begin() as session:
                rerouted += apply_transitions(session, chunk, now).rerouted
            progress.update(len(chunk))
    return time.perf_counter() - started, time.process_time() - cpu, rerouted


def stored_rows(engine: Engine) -> list[tuple[object, list[dict[str, object]]]]:
    """What the writer stored, table by table (parents first), as rows for an executemany."""
    with engine.connect() as connection:
        return [(table, [dict(row._mapping) for row in connection.execute(select(table))]) for table in TABLES]


def timed_anchor(
    engine: Engine, rows: list[tuple[object, list[dict[str, object]]]], transactions: int
) -> tuple[float, float]:
    flat = [(table, row) for table, table_rows in rows for row in table_rows]
    size = -(-len(flat) // transactions)
    chunks = [
        [(table, [row for owner, row in flat[offset : offset + size] if owner is table]) for table in TABLES]
        for offset in range(0, len(flat), size)
    ]
    started, cpu = time.perf_counter(), time.process_time()
    for chunk in chunks:
        with engine.begin() as connection:
            for table, mine in chunk:
                if mine:
                    connection.execute(insert(table), mine)  # type: ignore[arg-type]
    return time.perf_counter() - started, time.process_time() - cpu


def empty(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # a DELETE checks previous_id (no index) row by row
            connection.execute(text("TRUNCATE alert_history, alert"))
            return
        for table in reversed(TABLES):
            connection.execute(delete(table))  # type: ignore[arg-type]


def run(url: str, items: list[AlertTransition], batch: int, rounds: int, label: str, profile: bool) -> float:
    migrate(url)
    engine = make_engine(url)
    transactions = -(-len(items) // batch)
    ours: list[float] = []
    anchor: list[float] = []
    ours_cpu: list[float] = []
    anchor_cpu: list[float] = []
    stored = rerouted = 0
    for _ in range(rounds):
        empty(engine)
        seconds, cpu, rerouted = timed_writer(engine, items, batch, label)
        ours.append(seconds)
        ours_cpu.append(cpu)
        rows = stored_rows(engine)
        stored = sum(len(table_rows) for _, table_rows in rows)
        empty(engine)
        seconds, cpu = timed_anchor(engine, rows, transactions)
        anchor.append(seconds)
        anchor_cpu.append(cpu)
    if profile:
        empty(engine)
        profiler = cProfile.Profile()
        profiler.runcall(timed_writer, engine, items, batch, label)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    empty(engine)
    engine.dispose()
    best, floor = min(ours), min(anchor)
    rate = len(items) / best
    print(
        f"{label:<26} {len(items):>6} transitions, batch {batch}, {rerouted:,} re-routed: "
        f"writer {rate:7,.0f}/s ({best:5.2f} s); anchor, bare executemany of the {stored:,} rows it stored, "
        f"{transactions} transactions: {len(items) / floor:7,.0f}/s ({floor:5.2f} s); "
        f"ratio {floor / best:4.2f} (target >= 0.5); this process's CPU: writer {min(ours_cpu):5.2f} s, "
        f"anchor {min(anchor_cpu):5.2f} s, ratio {min(anchor_cpu) / min(ours_cpu):4.2f}",
        flush=True,
    )
    return rate


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--transitions", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workload", choices=("churn", "steady", "both"), default="both")
    parser.add_argument("--profile", action="store_true", help="cProfile one more writer run of each")
    args = parser.parse_args()
    workloads = {
        name: workload(args.transitions, churn=churn)
        for name, key, churn in (("team churn", "churn", True), ("steady teams", "steady", False))
        if args.workload in ("both", key)
    }
    name = f"carewatch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        base = args.postgres.rpartition("/")[0]
        for label, items in workloads.items():
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
                run(url, items, args.batch, args.rounds, f"SQLite, {label}", args.profile)
            run(f"{base}/{name}", items, args.batch, args.rounds, f"PostgreSQL, {label}", args.profile)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
