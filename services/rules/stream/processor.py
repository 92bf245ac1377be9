"""The rules agent's work on one record of a partition, without faust: decode, evaluate, plan writes.

The agent is a thin loop around :class:`Processor`: ``plan`` turns a record into a :class:`Step` (the
transitions and indicator deltas to publish, the table writes to make), the agent publishes them and waits
for the broker's acknowledgement, then ``commit`` applies the writes. Publishing before writing the state
is what keeps at-least-once honest: if the worker dies in between, the record is processed again from the
old state and yields the same outputs again (identical copies; the alerts service dedupes them), instead
of finding the event already applied and staying silent.

Table layout (both tables are plain mappings here; faust Tables in the app):

* children: child id → ``{"state": ChildState.to_dict(), "next_due": rules' next due date,
  "indicators_due": the board's next re-check date, "contributions": {indicator: [numerator,
  denominator]}, "partition": p}`` (dates ``YYYY-MM-DD`` or None). One write per event; a tick writes only
  the children it re-evaluated;
* clocks: partition → ``"YYYY-MM-DD"``, the latest tick date of that partition (written only on ticks).

Per partition an in-memory :class:`DeadlineIndex` finds the children due at a tick (rules or indicators)
without scanning the table; it is rebuilt from the table the first time a partition is seen after an
assignment.

Board indicators: each time a child is (re-)evaluated its contributions are recomputed and the change
(old out, new in) becomes indicator deltas (``services.board.core``), published with the transitions.
A delta repeated after a crash has an ``old`` that no longer matches the child's last contribution, so a
consumer that keeps each child's last contribution can skip it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal

import orjson
from pydantic import ValidationError

from schemas.alerts import AlertTransition
from schemas.events import CaseEvent, ClockTick, parse_event
from services.board.core.aggregate import Contribution, Delta, deltas
from services.board.core.indicators import contributions, next_change
from services.rules.core.engine import Engine
from services.rules.core.state import ChildState

Envelope = dict[str, Any]
DECODED_CACHE_SIZE: Final = 50_000
BadReason = Literal["json", "invalid", "key", "engine"]


class DeadlineIndex:
    """A heap of (due date, child id) for one partition, invalidated lazily.

    A child's entry is stale once its stored wake-up date differs; stale entries are dropped when popped,
    so updating a child costs one push and a tick costs only the entries that are due.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[date, str]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: date, child_id: str) -> None:
        heapq.heappush(self._heap, (due, child_id))

    def pop_due(self, as_of: date) -> Iterator[tuple[date, str]]:
        while self._heap and self._heap[0][0] <= as_of:
            yield heapq.heappop(self._heap)


@dataclass
class Step:
    """The plan for one record: publish ``transitions``, then write ``writes`` (and the clock)."""

    kind: Literal["event", "tick", "bad"]
    partition: int
    event_type: str | None = None
    bad_reason: BadReason | None = None
    detail: str = ""
    transitions: list[AlertTransition] = field(default_factory=list)
    deltas: list[Delta] = field(default_factory=list)
    writes: dict[str, Envelope] = field(default_factory=dict)
    states: dict[str, ChildState] = field(default_factory=dict)
    """Per written child: its new state (kept decoded beside the stored dict)."""
    errors: int = 0
    """Children whose evaluation failed at a tick (left as they were; their next event re-evaluates)."""
    as_of: date | None = None
    clock: date | None = None
    """The partition's new clock, when the record is a tick that moves it forward."""


def decode(raw: bytes | str | None) -> CaseEvent | ClockTick:
    """A record value as a case event or a clock tick; raises ``ValueError`` (JSON) or ``ValidationError``."""
    if raw is None:
        raise ValueError("empty record")
    data = orjson.loads(raw)
    if isinstance(data, dict) and data.get("type") == ClockTick.model_fields["type"].default:
        return ClockTick.model_validate(data)
    return parse_event(data, received_at=None)


class Processor:
    """The rules stream's state machine over a children table and a clocks table."""

    def __init__(
        self,
        engine: Engine,
        children: MutableMapping[str, Envelope],
        clocks: MutableMapping[int, str],
    ) -> None:
        self.engine = engine
        self.children = children
        self.clocks = clocks
        self._indexes: dict[int, DeadlineIndex] = {}
        # Decoding a stored state is not cheap: keep the decoded form while the stored dict is the very
        # object the table still holds (a recovery replaces it, so the cache cannot go stale).
        self._decoded: dict[str, tuple[Envelope, ChildState]] = {}

    # -- partitions ------------------------------------------------------------------------------------
    def forget(self, partitions: set[int]) -> None:
        """Drop these partitions' deadline indexes (after a rebalance); each is rebuilt on next use."""
        for partition in partitions:
            self._indexes.pop(partition, None)

    def index(self, partition: int) -> DeadlineIndex:
        index = self._indexes.get(partition)
        if index is None:
            index = DeadlineIndex()
            for child_id, envelope in self.children.items():
                wake = _wake(envelope)
                if envelope.get("partition") == partition and wake is not None:
                    index.push(wake, child_id)
            self._indexes[partition] = index
        return index

    def clock(self, partition: int) -> date | None:
        stored = self.clocks.get(partition)
        return date.fromisoformat(stored) if stored else None

    # -- records ---------------------------------------------------------------------------------------
    def plan(self, partition: int, key: bytes | None, raw: bytes | None) -> Step:
        """Decode one record and compute its effects; never raises for a bad record."""
        try:
            record = decode(raw)
        except orjson.JSONDecodeError as exc:
            return Step("bad", partition, bad_reason="json", detail=f"not JSON: {exc}")
        except ValidationError as exc:
            return Step("bad", partition, bad_reason="invalid", detail=_validation_summary(exc))
        except ValueError as exc:
            return Step("bad", partition, bad_reason="invalid", detail=str(exc))
        if isinstance(record, ClockTick):
            return self._plan_tick(partition, record.as_of)
        if key is None or key != record.child_id.encode():
            # A case event off its child's partition would split the child's state between workers.
            return Step("bad", partition, event_type=record.type, bad_reason="key", detail="key is not the child id")
        try:
            return self._plan_event(partition, record)
        except Exception as exc:  # a fault in one child's evaluation must not stop the partition
            # The exception's type only: its message may name the child.
            return Step("bad", partition, event_type=record.type, bad_reason="engine", detail=type(exc).__name__)

    def _plan_event(self, partition: int, event: CaseEvent) -> Step:
        before = self._state(event.child_id)
        # A child's time never goes back: after a crash the state can be ahead of the re-read records
        # (and of the clock), and evaluating it earlier would resolve findings only to raise them again.
        evaluated = before.evaluated_as_of if before is not None else None
        as_of = max(day for day in (self.clock(partition), event.occurred_on, evaluated) if day is not None)
        outcome = self.engine.on_event(before, event, as_of)
        step = Step("event", partition, event_type=event.type, as_of=as_of)
        step.transitions.extend(outcome.transitions)
        self._record(step, partition, outcome.state, outcome.next_due, as_of)
        return step

    def _plan_tick(self, partition: int, as_of: date) -> Step:
        step = Step("tick", partition, as_of=as_of)
        clock = self.clock(partition)
        if clock is not None and as_of < clock:
            return step  # an old tick: every clock up to the partition's clock was already evaluated
        if clock is None or as_of > clock:
            step.clock = as_of
        for due, child_id in self.index(partition).pop_due(as_of):
            if child_id in step.writes:
                continue
            envelope = self.children.get(child_id)
            if envelope is None or _wake(envelope) != due:
                continue  # stale entry: the child was re-evaluated since
            state = self._state(child_id)
            if state is None:
                continue
            evaluated = state.evaluated_as_of
            when = max(as_of, evaluated) if evaluated else as_of
            next_due = _day(envelope.get("next_due"))
            try:
                if next_due is not None and next_due <= as_of:  # the rules' clock ran out, not only the board's
                    outcome = self.engine.on_tick(state, when)
                    step.transitions.extend(outcome.transitions)
                    self._record(step, partition, outcome.state, outcome.next_due, when)
                else:  # only the board's date: the state is unchanged, and so is its stored form
                    self._record(step, partition, state, next_due, when, stored=envelope["state"])
            except Exception:  # one child's fault must not stop the partition's clock
                step.errors += 1
        return step

    def _record(
        self,
        step: Step,
        partition: int,
        state: ChildState,
        next_due: date | None,
        as_of: date,
        stored: dict[str, Any] | None = None,
    ) -> None:
        child_id = state.child_id
        previous = self.children.get(child_id)
        old = {
            indicator: Contribution(numerator, denominator)
            for indicator, (numerator, denominator) in (previous or {}).get("contributions", {}).items()
        }
        new = contributions(state, as_of)
        indicators_due = next_change(state, as_of)
        step.deltas.extend(deltas(child_id, old, new))
        step.states[child_id] = state
        step.writes[child_id] = {
            "state": state.to_dict() if stored is None else stored,
            "next_due": next_due.isoformat() if next_due else None,
            "indicators_due": indicators_due.isoformat() if indicators_due else None,
            "contributions": {k: [c.numerator, c.denominator] for k, c in sorted(new.items())},
            "partition": partition,
        }

    def _state(self, child_id: str) -> ChildState | None:
        envelope = self.children.get(child_id)
        if envelope is None:
            return None
        cached = self._decoded.get(child_id)
        if cached is not None and cached[0] is envelope:
            return cached[1]
        state = ChildState.from_dict(envelope["state"])
        self._remember(child_id, envelope, state)
        return state

    def _remember(self, child_id: str, envelope: Envelope, state: ChildState) -> None:
        if len(self._decoded) >= DECODED_CACHE_SIZE:
            self._decoded.clear()  # crude, but bounds memory; busy children come back at once
        self._decoded[child_id] = (envelope, state)

    def commit(self, step: Step) -> None:
        """Apply a step's writes (one table write per child) and move the partition's clock."""
        index = self.index(step.partition) if step.writes else None
        for child_id, envelope in step.writes.items():
            self.children[child_id] = envelope
            self._remember(child_id, envelope, step.states[child_id])
            wake = _wake(envelope)
            if wake is not None and index is not None:
                index.push(wake, child_id)
        if step.clock is not None:
            self.clocks[step.partition] = step.clock.isoformat()


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _wake(envelope: Envelope) -> date | None:
    """When a tick must next look at this child: the earlier of the rules' and the board's dates."""
    days = [day for day in (_day(envelope.get("next_due")), _day(envelope.get("indicators_due"))) if day]
    return min(days) if days else None


def _validation_summary(exc: ValidationError) -> str:
    # Field paths and messages only: input values may carry a child id.
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors())
