"""How fast the alerts service writes transitions to SQL (one DB transaction per batch, as the consumer does).

    .venv/bin/python bench/alerts_write.py [--transitions 20000] [--batch 500] [--postgres URL]

Prints transitions/s for SQLite (a temporary file) and PostgreSQL (a temporary database on the server).
Half the transitions raise new alerts, a quarter resolve them, a quarter are repeats (ignored).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from tqdm import tqdm

from carewatch.db import make_engine, migrate, session_factory
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.store import apply_transitions

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


def run(url: str, items: list[AlertTransition], batch: int, label: str) -> float:
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with tqdm(total=len(items), desc=label, unit="tr", leave=False) as progress:
        for offset in range(0, len(items), batch):
            chunk = items[offset : offset + batch]
            with sessions.begin() as session:
                apply_transitions(session, chunk, now)
            progress.update(len(chunk))
    elapsed = time.perf_counter() - started
    engine.dispose()
    rate = len(items) / elapsed
    print(f"{label:<11} {len(items):>7} transitions in {elapsed:6.2f} s = {rate:8.0f}/s, batch {batch}")
    return rate


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--transitions", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    items = workload(args.transitions)
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", items, args.batch, "SQLite")
    name = f"carewatch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        base = args.postgres.rpartition("/")[0]
        run(f"{base}/{name}", items, args.batch, "PostgreSQL")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
