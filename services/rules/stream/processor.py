"""The rules agent's work on one record of a partition, without faust: decode, evaluate, plan writes.

The agent is a thin loop around :class:`Processor`: ``plan`` turns a record into a :class:`Step` (the
transitions and indicator deltas to publish, the table writes to make), the agent publishes them, ``stage``
makes the step's new states visible to the next records' plans (and to the restored-state check and the
wake indexes), and once the broker has acknowledged the step's outputs ``write`` puts them in the tables
(``commit`` is both, for a caller that does not pipeline). Publishing before writing the state is what
keeps at-least-once honest: if the worker dies in between, the record is processed again from the old
state and yields the same outputs again (identical copies; the alerts service dedupes them), instead of
finding the event already applied and staying silent. Staged steps are written in record order, each only
after its own outputs are acknowledged, so a table never holds a state whose outputs the broker may not
have; ``discard_staged`` forgets the unwritten ones (their records are processed again).

Table layout (both tables are plain mappings here; faust Tables in the app):

* children: child id → the child's stored bytes (:func:`services.rules.core.codec.dumps` of its state,
  with the partition in the trailer: the wake date, the catalogue version's digest and the partition are
  readable from the last bytes without decoding the state, :func:`~services.rules.core.codec.trailer`).
  One write per event; a tick writes only the children it touched;
* clocks: partition → ``"YYYY-MM-DD"``, the latest tick date of that partition (written only on ticks;
  the app writes it once for the ticks it settles together, see ``write``).

A value stored by a previous release (before the trailer: the JSON object ``{"state": the encoded state,
"wake": "YYYY-MM-DD" or null, "catalogue": the state's catalogue version, "partition": p}``) is still read,
through a full decode: the wake index takes its wake date and catalogue from the object, and the child is
decoded from its ``state``; its next write stores the current form. A state stored in a format the codec no
longer reads (:class:`~services.rules.core.codec.StateFormatError`) is not read: its events are reported as
bad records (``engine``) and ticks skip it; such tables are rebuilt by replaying the case events.

Each record is one step of the per-child :class:`~services.rules.core.kernel.Kernel` (the same as replay
and the board's rebuild); per partition an in-memory :class:`~services.rules.core.order.WakeIndex` finds
the children due at a tick without scanning the table. It is rebuilt from the table the first time a
partition is seen after an assignment, from the stored values' trailers (no state is decoded: with national
state this pass is most of a restart's work beyond the group join); children stored under another catalogue
version (a deploy changed the rules or the indicators) are then due at the partition's next tick, so every
child is re-evaluated, and the board's totals complete again, within one tick of the new version's first
assignment.

Given the event archive (an :class:`Archive` adapter, injected; the core never reads it), a child that an
event leaves flagged ``needs_rebuild`` (a correction older than its re-fold log) is rebuilt at once from
every archived event of the child (:func:`~services.rules.core.rebuild.rebuild`), and the step publishes the
transitions and deltas from the child's last published state to the rebuilt one. The first record of each
partition after each assignment runs the restored-state check (:meth:`Processor.check`) first.

The indicator deltas of a step (old contribution out, new in) are published with the transitions. A
delta repeated after a crash has an ``old`` that no longer matches the child's last contribution, so a
consumer that keeps each child's last contribution can skip it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal, Protocol

import orjson
from pydantic import ValidationError

from schemas.alerts import AlertTransition
from schemas.deltas import Delta
from schemas.events import CaseEvent, ClockTick, parse_event
from services.rules.core import codec
from services.rules.core.kernel import Kernel
from services.rules.core.kernel import Step as KernelStep
from services.rules.core.order import WakeIndex
from services.rules.core.rebuild import rebuild, stale
from services.rules.core.state import ChildState, wake_at

log = logging.getLogger(__name__)

Stored = bytes
"""A children table value: a child's stored bytes (or, from a previous release, a JSON envelope object)."""


class Archive(Protocol):
    """What the worker reads of the event archive (an adapter over the archive's table, injected)."""

    def events(self, child_id: str) -> Sequence[CaseEvent]:
        """Every archived event of the child (any order)."""
        ...

    def last_events(self, child_ids: Iterable[str]) -> Mapping[str, tuple[str, date]]:
        """Per child with archived events: the (event id, occurred date) of its last event in fold order."""
        ...


DECODED_CACHE_SIZE: Final = 50_000
BadReason = Literal["json", "invalid", "key", "engine"]


@dataclass
class Step:
    """The plan for one record: publish ``transitions``, then write ``writes`` (and the clock)."""

    kind: Literal["event", "tick", "bad", "check"]
    partition: int
    event_type: str | None = None
    bad_reason: BadReason | None = None
    detail: str = ""
    transitions: list[AlertTransition] = field(default_factory=list)
    deltas: list[Delta] = field(default_factory=list)
    writes: dict[str, Stored] = field(default_factory=dict)
    states: dict[str, ChildState] = field(default_factory=dict)
    """Per written child: its new state (kept decoded beside its stored bytes)."""
    errors: int = 0
    """Children whose evaluation failed at a tick (left as they were; their next event re-evaluates)."""
    rebuilt: int = 0
    """Children rebuilt from the event archive (a deep correction, or a stale state found by the check)."""
    unrebuilt: int = 0
    """Children flagged for a rebuild that the archive could not rebuild (it lacks events the state has)."""
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
        kernel: Kernel,
        children: MutableMapping[str, Stored],
        clocks: MutableMapping[int, str],
        archive: Archive | None = None,
    ) -> None:
        self.kernel = kernel
        self.children = children
        self.clocks = clocks
        self.archive = archive
        self._indexes: dict[int, WakeIndex] = {}
        # Per indexed partition, every child stored in it (with or without a wake date): built in the same
        # pass as the wake indexes, so that the restored-state check does not read the table again.
        self._members: dict[int, set[str]] = {}
        self._digest = codec.catalogue_digest(kernel.version)
        self._checked: set[int] = set()
        # Staged, not yet written (see ``stage``): the newest envelope per child, the newest clock per
        # partition, and the partitions whose check step is among them.
        self._staged: dict[str, Stored] = {}
        self._staged_clocks: dict[int, str] = {}
        self._staged_checks: dict[int, Step] = {}
        # Decoding a stored state is not free: keep the decoded form while the stored value is the very
        # object the table still holds (a recovery replaces it, so the cache cannot go stale).
        self._decoded: dict[str, tuple[Stored, ChildState]] = {}

    # -- partitions ------------------------------------------------------------------------------------
    def forget(self, partitions: set[int]) -> None:
        """Drop these partitions' wake indexes and their restored-state checks (on revocation and on
        assignment): each index is rebuilt on next use, and each partition is checked against the archive
        again before its next record, since its table may have been restored anew (and stopped short) when
        it came back, or changed by the worker that held it meanwhile."""
        for partition in partitions:
            self._indexes.pop(partition, None)
            self._members.pop(partition, None)
        self._checked -= partitions

    def index(self, partition: int) -> WakeIndex:
        """The partition's wake index, built from the table on first use: a child stored under another
        catalogue version is due at once (the sweep after a deploy)."""
        index = self._indexes.get(partition)
        if index is None:
            self._build_indexes(partition)
            index = self._indexes[partition]
        return index

    def _build_indexes(self, partition: int) -> None:
        """One pass over the table builds the wake index of ``partition`` and of every other partition not
        indexed yet, so that a restarted worker reads its stored children once, not once per partition.

        Building another partition's index early is safe: until that partition is used, only this
        worker's own commits change its children (and go through :meth:`index`), and a partition assigned
        again is forgotten first."""
        started = time.perf_counter()
        built: dict[int, WakeIndex] = {partition: WakeIndex()}
        members: dict[int, set[str]] = {partition: set()}
        stored = decoded = stale = 0
        for child_id, value in self._current():
            stored += 1
            found = self._summary(value)
            if found is None:
                continue
            owner, wake, full = found
            decoded += full
            stale += wake == date.min
            if owner in self._indexes:
                continue
            index = built.get(owner)
            if index is None:
                index = built[owner] = WakeIndex()
                members[owner] = set()
            index.set(child_id, wake)
            members[owner].add(child_id)
        self._indexes.update(built)
        self._members.update(members)
        log.info(
            "wake indexes of partitions %s built from %d stored children in %.2fs (%d decoded in full, %d due at once)",
            sorted(built),
            stored,
            time.perf_counter() - started,
            decoded,
            stale,
        )

    def _summary(self, value: Stored) -> tuple[int, date | None, bool] | None:
        """(partition, wake date for the index, whether it took a full decode) of a stored child: read from
        the trailer of a value of the current format, whose catalogue is compared with the kernel's; a value
        of another layout (a previous release's envelope) is decoded in full. A child stored under another
        catalogue version is due at once (``date.min``). None: a value that says no partition."""
        found = codec.trailer(value)
        if found is not None:
            current = found.catalogue == self._digest
            return found.partition, found.wake if current else date.min, False
        envelope = _envelope(value)
        owner = envelope.get("partition") if envelope is not None else None
        if envelope is None or not isinstance(owner, int):
            return None
        if envelope.get("catalogue") != self.kernel.version:
            return owner, date.min, True
        return owner, _day(envelope.get("wake")), True

    def _current(self) -> Iterator[tuple[str, Stored]]:
        """Every child's newest envelope: the table's, or the one staged over it (one pass over the table)."""
        staged = self._staged
        for child_id, envelope in self.children.items():
            yield child_id, staged.get(child_id, envelope)
        for child_id, envelope in list(staged.items()):
            if child_id not in self.children:
                yield child_id, envelope

    def clock(self, partition: int) -> date | None:
        stored = self._staged_clocks.get(partition) or self.clocks.get(partition)
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
        clock = self.clock(partition)
        result = self.kernel.on_event(before, event, clock if clock is not None else event.occurred_on)
        step = Step("event", partition, event_type=event.type, as_of=result.state.evaluated_as_of)
        if result.state.needs_rebuild and self.archive is not None:
            try:
                rebuilt = self._rebuild(
                    before, event.child_id, result.state.evaluated_as_of or event.occurred_on, event
                )
            except Exception:  # the archive unreadable (its database down): the child stays flagged, and its
                rebuilt = None  # next event tries again; the event itself is not a bad record
            if rebuilt is not None:
                step.rebuilt += 1
                result = rebuilt
            else:
                step.unrebuilt += 1
        self._record(step, partition, result)
        return step

    def _rebuild(
        self, before: ChildState | None, child_id: str, as_of: date, current: CaseEvent | None = None
    ) -> KernelStep | None:
        """The child rebuilt from the archive as of ``as_of`` (None when the archive lacks events the
        state has applied: a rebuild would lose them). ``current``: the correction that flagged the
        child (its date dates the rebuild's transitions, see :func:`~services.rules.core.rebuild.rebuild`);
        None for the restored-state check (the first archived event the state misses dates them)."""
        assert self.archive is not None
        events = list(self.archive.events(child_id))
        ids = {event.event_id for event in events}
        if current is not None and current.event_id not in ids:
            events.append(current)  # normally archived before it was published; never lose it
            ids.add(current.event_id)
        if before is not None and not before.processed_ids <= ids:
            return None
        return rebuild(self.kernel, before, events, as_of, current.occurred_on if current is not None else None)

    # -- the restored-state check -------------------------------------------------------------------------
    def needs_check(self, partition: int) -> bool:
        """The partition's states have not been checked against the archive since it was (last) assigned
        here: once per assignment, after the restore that comes with it (:meth:`forget` on revocation
        makes a partition that leaves and comes back be checked again)."""
        return self.archive is not None and partition not in self._checked

    def check(self, partition: int) -> Step:
        """Compare each child of the partition with the archive's last event of the child and rebuild the
        children whose state misses it (a restore that stopped short of a partition's last update). An
        archived event dated after the partition's clock is not looked for: the stream has not reached it,
        it may still be on its way through the topic. The partition's children are those the pass that
        builds the wake indexes found (kept up to date by :meth:`stage`): the table is read once at start,
        not once more for the check."""
        step = Step("check", partition)
        self._checked.add(partition)
        if self.archive is None:
            return step
        self.index(partition)  # the children of the partition, from the pass that builds the wake indexes
        mine = sorted(self._members[partition])
        if not mine:
            return step
        try:
            last = self.archive.last_events(mine)
        except Exception:  # the archive unreadable: counted, and the partition goes on unchecked
            step.errors += 1
            return step
        clock = self.clock(partition)
        for child_id in mine:
            found = last.get(child_id)
            if found is None or (clock is not None and found[1] > clock):
                continue
            try:
                state = self._state(child_id)
                if state is None or not stale(state, *found):
                    continue
                as_of = max(d for d in (state.evaluated_as_of, found[1], clock) if d is not None)
                result = self._rebuild(state, child_id, as_of)
            except Exception:  # one child's fault must not stop the partition
                step.errors += 1
                continue
            if result is None:
                step.unrebuilt += 1
                continue
            step.rebuilt += 1
            step.as_of = max(step.as_of or as_of, as_of)
            self._record(step, partition, result)
        return step

    def _plan_tick(self, partition: int, as_of: date) -> Step:
        step = Step("tick", partition, as_of=as_of)
        clock = self.clock(partition)
        if clock is not None and as_of < clock:
            return step  # an old tick: every clock up to the partition's clock was already evaluated
        if clock is None or as_of > clock:
            step.clock = as_of
        index = self.index(partition)
        for child_id in index.pop_due(as_of):
            try:
                state = self._state(child_id)
                if state is None:
                    continue
                self._record(step, partition, self.kernel.on_tick(state, as_of))
            except Exception:  # one child's fault (or a state it cannot read) must not stop the clock
                step.errors += 1
        return step

    def _record(self, step: Step, partition: int, result: KernelStep) -> None:
        state = result.state
        child_id = state.child_id
        step.transitions.extend(result.transitions)
        step.deltas.extend(result.deltas)
        step.states[child_id] = state
        step.writes[child_id] = codec.dumps(state, partition=partition)

    def _state(self, child_id: str) -> ChildState | None:
        envelope = self._staged.get(child_id) or self.children.get(child_id)
        if envelope is None:
            return None
        cached = self._decoded.get(child_id)
        if cached is not None and cached[0] is envelope:
            return cached[1]
        if codec.trailer(envelope) is not None:
            state = codec.loads(envelope)
        else:
            legacy = _envelope(envelope)
            if legacy is None:
                raise codec.StateFormatError("a stored child that is neither a state nor an envelope of one")
            state = codec.decode(legacy.get("state"))
        self._remember(child_id, envelope, state)
        return state

    def _remember(self, child_id: str, envelope: Stored, state: ChildState) -> None:
        if len(self._decoded) >= DECODED_CACHE_SIZE:
            self._decoded.clear()  # crude, but bounds memory; busy children come back at once
        self._decoded[child_id] = (envelope, state)

    def commit(self, step: Step) -> None:
        """Apply a step's writes (one table write per child) and move the partition's clock."""
        self.stage(step)
        self.write(step)

    def stage(self, step: Step) -> None:
        """Make a step's new states, wake dates and clock what the next plans read, before any table write."""
        index = self.index(step.partition) if step.writes else None
        for child_id, envelope in step.writes.items():
            self._staged[child_id] = envelope
            self._remember(child_id, envelope, step.states[child_id])
            if index is not None:
                index.set(child_id, wake_at(step.states[child_id]))
                self._members[step.partition].add(child_id)
        if step.clock is not None:
            self._staged_clocks[step.partition] = step.clock.isoformat()
        if step.kind == "check":
            self._staged_checks[step.partition] = step

    def write(self, step: Step, *, clock: bool = True) -> None:
        """Write a staged step to the tables (one table write per child); steps are written in staged order.

        ``clock=False``: a later step of the partition, written right after this one with no record
        acknowledged in between, moves the partition's clock again; this step's clock is not written (the
        table and its changelog end the same, with one record where there would be several)."""
        for child_id, envelope in step.writes.items():
            self.children[child_id] = envelope
            if self._staged.get(child_id) is envelope:
                del self._staged[child_id]  # a later step of the child may still be staged: keep that one
        if step.clock is not None and clock:
            clock = step.clock.isoformat()
            self.clocks[step.partition] = clock
            if self._staged_clocks.get(step.partition) == clock:
                del self._staged_clocks[step.partition]
        if self._staged_checks.get(step.partition) is step:
            del self._staged_checks[step.partition]

    def discard_staged(self) -> None:
        """Forget the steps staged but never written (their records will be processed again): the tables
        are read again, and a partition whose check was among them is checked again."""
        self._checked -= set(self._staged_checks)
        self._staged.clear()
        self._staged_clocks.clear()
        self._staged_checks.clear()
        self._decoded.clear()
        self._indexes.clear()  # they hold the staged wake dates: rebuilt from the tables on next use
        self._members.clear()

    @property
    def staged(self) -> int:
        """Children whose newest state is staged but not yet written."""
        return len(self._staged)


def _day(text: Any) -> date | None:
    return date.fromisoformat(text) if isinstance(text, str) and text else None


def _envelope(value: Stored) -> dict[str, Any] | None:
    """A value a previous release stored: the JSON object around the encoded state (None: not one)."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _validation_summary(exc: ValidationError) -> str:
    # Field paths and messages only: input values may carry a child id.
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors())
