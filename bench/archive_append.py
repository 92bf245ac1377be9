"""How fast ingest appends accepted events to the event archive, against a bare SQLAlchemy Core executemany.

    .venv/bin/python bench/archive_append.py [--children 2000] [--batch 1000] [--rounds 3] [--postgres URL]

For SQLite (a temporary file) and PostgreSQL (a temporary database), in the same run and on the same rows:

* ``archive.append``: what ingest does per batch (rows built from the events and the JSON ingest has
  already encoded for the topic, one executemany of INSERT … ON CONFLICT DO NOTHING, one transaction);
* the anchor: ``connection.execute(insert(event_archive), rows)`` with the rows already built (plain
  executemany, no conflict handling, no payload encoding), one transaction per batch.

The table is emptied between runs; the best of ``--rounds`` alternating runs of each is printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
from sqlalchemy import Engine, create_engine, delete, insert, text

from carewatch.db import make_engine, migrate
from carewatch.testing.synthetic import authority
from schemas.events import CaseEvent, event_to_json, parse_event
from services.archive import store


def timed_append(engine: Engine, events: list[CaseEvent], batch: int, received_at: datetime) -> float:
    payloads = [orjson.dumps(event_to_json(event)) for event in events]  # ingest's topic records, made anyway
    started = time.perf_counter()
    for offset in range(0, len(events), batch):
        store.append(engine, events[offset : offset + batch], received_at, payloads[offset : offset + batch])
    return time.perf_counter() - started


def timed_anchor(engine: Engine, events: list[CaseEvent], batch: int, received_at: datetime) -> float:
    rows = store.rows_for(events, received_at)  # built outside the timing: the anchor only inserts
    started = time.perf_counter()
    for offset in range(0, len(rows), batch):
        with engine.begin() as connection:
            connection.execute(insert(store.TABLE), rows[offset : offset + batch])
    return time.perf_counter() - started


def empty(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(delete(store.TABLE))


def run(url: str, events: list[CaseEvent], batch: int, rounds: int, label: str) -> None:
    migrate(url)
    engine = make_engine(url)
    received_at = datetime.now(UTC)
    ours: list[float] = []
    anchor: list[float] = []
    for _ in range(rounds):
        empty(engine)
        anchor.append(timed_anchor(engine, events, batch, received_at))
        empty(engine)
        ours.append(timed_append(engine, events, batch, received_at))
        assert store.count(engine) == len(events)
    engine.dispose()
    best_ours, best_anchor = min(ours), min(anchor)
    print(
        f"{label:<11} {len(events):>7} events, batch {batch}: archive.append {len(events) / best_ours:8.0f}/s "
        f"({best_ours:5.2f} s); bare executemany {len(events) / best_anchor:8.0f}/s ({best_anchor:5.2f} s); "
        f"ratio {best_ours / best_anchor:4.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    raw = authority(args.children, seed=1, first=date(2019, 1, 1), last=date(2025, 6, 30))
    events = [parse_event(item, received_at=None) for item in raw]
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", events, args.batch, args.rounds, "SQLite")
    name = f"carewatch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        run(f"{args.postgres.rpartition('/')[0]}/{name}", events, args.batch, args.rounds, "PostgreSQL")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
