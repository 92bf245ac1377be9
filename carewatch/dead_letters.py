"""Sending dead letters from a consumer: acknowledged before the consumer moves past the record."""

from __future__ import annotations

import time
from typing import Any

from carewatch import broker
from carewatch.broker import KafkaError
from schemas.dead_letters import DeadLetter, to_bytes


class DeadLetterError(RuntimeError):
    """The dead-letter topic did not acknowledge: the consumer must not move past the record."""


class DeadLetterSender:
    def __init__(self, bootstrap: str, *, client_id: str, ack_timeout_s: float = 30.0) -> None:
        self.ack_timeout_s = ack_timeout_s
        self._producer = broker.producer(bootstrap, client_id=client_id, max_block_ms=int(ack_timeout_s * 1000))

    def send_all(self, topic: str, letters: list[DeadLetter]) -> None:
        """Send and wait for every acknowledgement; raises :class:`DeadLetterError`."""
        if not letters:
            return
        deadline = time.monotonic() + self.ack_timeout_s
        try:
            futures: list[Any] = [
                self._producer.send(topic, key=letter.key(), value=to_bytes(letter)) for letter in letters
            ]
            for future in futures:
                future.get(timeout=max(deadline - time.monotonic(), 0.0))
        except KafkaError as exc:
            raise DeadLetterError(f"dead-letter topic {topic} did not acknowledge: {type(exc).__name__}") from exc

    def close(self) -> None:
        self._producer.close(timeout=10)
