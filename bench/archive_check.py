"""The archive check of the rules service's start, against its full form, at two archive sizes in one run.

    .venv/bin/python bench/archive_check.py [--children 2500 10000] [--new 500] [--partitions 8]

For each size: a fresh embedded broker and SQLite archive holding the same events (a synthetic authority's
history, archived a day ago and on the topic), then

* **anchor**: the full check (``republish(incremental=False)``, what every start did before the watermark
  and what ``carewatch archive republish`` does): the whole topic read and compared with the whole archive;
* ``--new`` more events are archived and published (as ingest does, received now), and the check a restart
  runs (``republish()``): the watermark's probe records read back, then only what was appended since.

Printed per size: events, seconds and records read (topic records, archive rows) of each check. The
incremental check's cost should follow ``--new``, not the size of the archive.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carewatch.broker import EmbeddedBroker, ensure_topics
from carewatch.db import make_engine, migrate
from carewatch.testing.synthetic import authority
from schemas.events import parse_event
from services.archive import store
from services.archive.republish import RepublishResult, republish
from services.ingest.producer import IngestProducer
from services.ingest.records import event_record

FIRST, LAST = date(2026, 1, 1), date(2026, 6, 30)
CHUNK = 5_000


def timed(engine: Engine, bootstrap: str, *, incremental: bool) -> tuple[float, RepublishResult]:
    started = time.perf_counter()
    result = republish(engine, bootstrap, incremental=incremental)
    return time.perf_counter() - started, result


def one_size(children: int, new: int, partitions: int, tmp: Path) -> None:
    events = [parse_event(item, received_at=None) for item in authority(children, 5, FIRST, LAST)]
    old, fresh = events[:-new], events[-new:]
    now = datetime.now(UTC)
    url = f"sqlite:///{tmp / f'archive-{children}.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, partitions)
        producer = IngestProducer(broker.bootstrap)
        for start in range(0, len(old), CHUNK):
            batch = old[start : start + CHUNK]
            store.append(engine, batch, now - timedelta(days=1))
            producer.publish([event_record(e) for e in batch])
        full_s, full = timed(engine, broker.bootstrap, incremental=False)
        store.append(engine, fresh, now)
        producer.publish([event_record(e) for e in fresh])
        producer.close()
        incr_s, incr = timed(engine, broker.bootstrap, incremental=True)
    engine.dispose()
    assert not incr.full and incr.published == 0 and full.published == 0, (full, incr)
    print(
        f"| {children:,} children, {len(old):,} events on the topic | {full_s:.2f} s: {full.topic_read:,} topic "
        f"records, {full.archived:,} archive rows ({full.topic_read / full_s:,.0f} records/s) | {incr_s:.2f} s: "
        f"{incr.topic_read:,} topic records, {incr.archived:,} archive rows (+{new} new) | {incr_s / full_s:.3f}x |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, nargs="+", default=[2500, 10000])
    parser.add_argument("--new", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    print("| archive | **anchor**: full check | check after a restart (watermark) | ratio |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for children in args.children:
            one_size(children, args.new, args.partitions, Path(tmp))


if __name__ == "__main__":
    main()
