"""How fast the alerts service writes transitions to SQL (one DB transaction per batch, as the consumer does),
against a bare SQLAlchemy Core ``executemany`` of the same rows in the same run.

    .venv/bin/python bench/alerts_write.py [--transitions 5000] [--batch 500] [--rounds 2] [--postgres URL]

Prints transitions/s for SQLite (a temporary file) and PostgreSQL (a temporary database on the server).
Half the transitions raise new alerts, a quarter resolve them, a quarter are repeats (ignored).

Anchor: the rows the writer stored (``alert`` and ``alert_history``, read back after its run) inserted
again into the emptied tables with ``connection.execute(insert(table), rows)``, in as many transactions as
the writer used. The anchor neither reads nor updates: a resolve is stored as its final row. Best of
``--rounds`` alternating runs each; the ratio is writer rate / anchor rate.
"""

from __future__ import annotations

import argparse
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


def workload(n: int, seed: int = 1) -> list[AlertTransition]:
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
                team=f"team-{i % 7}",
            )
        )
    resolved = [t.model_copy(update={"state": "resolved", "at": t.at + timedelta(days=9)}) for t in raised[::2]]
    repeats = rng.sample(raised, len(raised) // 2)
    return raised + resolved + repeats


def timed_writer(engine: Engine, items: list[AlertTransition], batch: int, label: str) -> float:
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with tqdm(total=len(items), desc=label, unit="tr", leave=False) as progress:
        for offset in range(0, len(items), batch):
            chunk = items[offset : offset + batch]
            with sessions.begin() as session:
                apply_transitions(session, chunk, now)
            progress.update(len(chunk))
    return time.perf_counter() - started


def stored_rows(engine: Engine) -> list[tuple[object, list[dict[str, object]]]]:
    """What the writer stored, table by table (parents first), as rows for an executemany."""
    with engine.connect() as connection:
        return [(table, [dict(row._mapping) for row in connection.execute(select(table))]) for table in TABLES]


def timed_anchor(engine: Engine, rows: list[tuple[object, list[dict[str, object]]]], transactions: int) -> float:
    flat = [(table, row) for table, table_rows in rows for row in table_rows]
    size = -(-len(flat) // transactions)
    started = time.perf_counter()
    for offset in range(0, len(flat), size):
        chunk = flat[offset : offset + size]
        with engine.begin() as connection:
            for table in TABLES:
                mine = [row for owner, row in chunk if owner is table]
                if mine:
                    connection.execute(insert(table), mine)  # type: ignore[arg-type]
    return time.perf_counter() - started


def empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(TABLES):
            connection.execute(delete(table))  # type: ignore[arg-type]


def run(url: str, items: list[AlertTransition], batch: int, rounds: int, label: str) -> float:
    migrate(url)
    engine = make_engine(url)
    transactions = -(-len(items) // batch)
    ours: list[float] = []
    anchor: list[float] = []
    stored = 0
    for _ in range(rounds):
        empty(engine)
        ours.append(timed_writer(engine, items, batch, label))
        rows = stored_rows(engine)
        stored = sum(len(table_rows) for _, table_rows in rows)
        empty(engine)
        anchor.append(timed_anchor(engine, rows, transactions))
    engine.dispose()
    best, floor = min(ours), min(anchor)
    rate = len(items) / best
    print(
        f"{label:<11} {len(items):>7} transitions, batch {batch}: writer {rate:8,.0f}/s ({best:5.2f} s); "
        f"anchor, bare executemany of the {stored:,} rows it stored, {transactions} transactions: "
        f"{len(items) / floor:8,.0f}/s ({floor:5.2f} s); ratio {floor / best:4.2f} (target >= 0.5)"
    )
    return rate


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--transitions", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    items = workload(args.transitions)
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", items, args.batch, args.rounds, "SQLite")
    name = f"carewatch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        base = args.postgres.rpartition("/")[0]
        run(f"{base}/{name}", items, args.batch, args.rounds, "PostgreSQL")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
