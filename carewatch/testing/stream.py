"""Running the rules worker as a process and reading what it published: for tests, the bench and demos.

:class:`WorkerProcess` starts ``python -m services.rules.stream`` against a broker; :func:`read_records`
consumes a topic from the beginning until a condition holds or a deadline passes. Both poll with
deadlines (never sleep-and-hope) and leave no process behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from carewatch import broker
from carewatch.broker import free_port
from schemas import topics

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    """One rules worker process; its output goes to ``log_path``."""

    bootstrap: str
    partitions: int
    data_dir: Path
    log_path: Path
    metrics_port: int = field(default_factory=free_port)
    store: str = "memory://"
    """The table store (``CAREWATCH_RULES_STORE``); a rocksdb:// worker needs a ``data_dir`` of its own."""
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            "CAREWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
            "CAREWATCH_TOPIC_PARTITIONS": str(self.partitions),
            "CAREWATCH_DATA_DIR": str(self.data_dir),
            "CAREWATCH_RULES_METRICS_PORT": str(self.metrics_port),
            "CAREWATCH_RULES_STORE": self.store,
            "CAREWATCH_TICK_SCHEDULER": "false",  # the tests feed recorded streams with their own ticks
            "PYTHONUNBUFFERED": "1",
        }
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.rules.stream"],
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_metrics(self, timeout: float = 60.0) -> str:
        """Poll /metrics until it answers (the process is up); returns the exposition text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                return self.metrics()
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise TimeoutError(f"rules worker metrics did not answer within {timeout:.0f}s; log: {self.log_path}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as response:
            return str(response.read().decode())

    def counter(self, line_prefix: str) -> float:
        """The sum of the /metrics samples whose line starts with ``line_prefix`` (0 when none)."""
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in self.metrics().splitlines() if line.startswith(line_prefix)
        )

    def lags(self) -> dict[int, float]:
        """Records behind, per case-events partition the worker has read since its last assignment."""
        pattern = r'^carewatch_consumer_lag_records\{consumer="rules",partition="(\d+)"\} (\S+)$'
        return {int(p): float(value) for p, value in re.findall(pattern, self.metrics(), re.M)}

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"rules worker exited with code {self.process.returncode}; log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit (a crash)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None
        self._close_log()

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None:
            self._close_log()
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_split(
    workers: list[WorkerProcess], partitions: int, send_round: Callable[[], None], timeout: float = 120.0
) -> list[set[int]]:
    """Until the workers share the case-events topic: call ``send_round`` (a record to every partition, e.g.
    clock ticks for a day before any history) once a second until each worker reads partitions of its own,
    together they read all ``partitions`` (all are in the consumer group) and none is behind. Returns each
    worker's partitions."""
    deadline = time.monotonic() + timeout
    owned: list[set[int]] = []
    while time.monotonic() < deadline:
        send_round()
        time.sleep(1.0)
        lags = [worker.lags() for worker in workers]
        owned = [set(lag) for lag in lags]
        shared = set().union(*owned)
        disjoint = sum(map(len, owned)) == len(shared)
        caught_up = all(value == 0 for lag in lags for value in lag.values())
        if all(owned) and disjoint and shared == set(range(partitions)) and caught_up:
            return owned
        for worker in workers:
            worker.check_alive()
    raise TimeoutError(f"the workers did not share the partitions within {timeout:.0f}s: {owned}")


def read_partitioned(
    bootstrap: str,
    topic: str,
    done: Callable[[list[tuple[int, dict[str, Any]]]], bool],
    timeout: float,
    *,
    alive: Callable[[], None] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Every record of ``topic`` as (partition, decoded JSON) from the beginning, read until
    ``done(records)`` or the deadline; ``alive`` is called between polls (to fail fast if the worker died)."""
    consumer = broker.from_start(bootstrap, topic, consumer_timeout_ms=500)
    try:
        records: list[tuple[int, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=250).items():
                records.extend((tp.partition, orjson.loads(message.value)) for message in batch)
            if done(records):
                return records
            if alive is not None:
                alive()
        return records
    finally:
        consumer.close()


def read_records(
    bootstrap: str,
    topic: str,
    done: Callable[[list[dict[str, Any]]], bool],
    timeout: float,
    *,
    alive: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Like :func:`read_partitioned`, the records only."""

    def values(records: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
        return [record for _, record in records]

    return values(read_partitioned(bootstrap, topic, lambda r: done(values(r)), timeout, alive=alive))


def read_alerts(
    bootstrap: str,
    done: Callable[[list[dict[str, Any]]], bool],
    timeout: float,
    *,
    alive: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """The alert transitions published so far (see :func:`read_records`)."""
    return read_records(bootstrap, topics.ALERTS, done, timeout, alive=alive)
