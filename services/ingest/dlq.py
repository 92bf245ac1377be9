"""``carewatch dlq list|replay``: the dead letters of every stage, and submitting them again after a fix.

Dead letters are named ``<topic>:<partition>:<offset>`` by where they sit on their dead-letter topic
(``events``, ``alerts`` or ``board``). ``list`` prints when, where from and why, never a child id unless
``--show-child-ids`` is given. ``replay`` submits the selected ones again: a case event goes through the
same validation as ingest (and into the archive) before it is written to the case-events topic (one still
invalid is reported, not dead-lettered again); an alert transition or an indicator-delta record is
published again, as it was, to the topic it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Final

import orjson
import typer
from pydantic import ValidationError

from schemas import topics
from schemas.dead_letters import DeadLetter, FileSource, TopicSource

DLQ_TOPICS: Final = {
    "events": topics.CASE_EVENTS_DLQ,
    "alerts": topics.ALERTS_DLQ,
    "board": topics.INDICATOR_DELTAS_DLQ,
}
_CHILD: Final = "<child>"
_ID = re.compile(r"^(events|alerts|board):(\d+):(\d+)$")

dlq_app = typer.Typer(help="Dead letters: list them, and replay them after a fix.", no_args_is_help=True)


@dataclass(frozen=True)
class Entry:
    name: str
    partition: int
    offset: int
    letter: DeadLetter

    @property
    def id(self) -> str:
        return f"{self.name}:{self.partition}:{self.offset}"

    def child_id(self) -> str | None:
        """The child the letter is about, when its key or its original names one."""
        key = self.letter.key()
        if key:
            return key.decode("utf-8", "replace")
        try:
            value = orjson.loads(self.letter.original())
        except orjson.JSONDecodeError:
            return None
        child = value.get("child_id") if isinstance(value, dict) else None
        return child if isinstance(child, str) else None


def read_entries(bootstrap: str, names: Iterable[str]) -> list[Entry]:
    from carewatch.broker import read_to_end

    entries: list[Entry] = []
    for name in names:
        try:
            records = read_to_end(bootstrap, DLQ_TOPICS[name])
        except RuntimeError:  # the topic does not exist: nothing was dead-lettered there
            continue
        for record in records:
            try:
                letter = DeadLetter.model_validate_json(record.value)
            except ValidationError:
                continue
            entries.append(Entry(name, record.partition, record.offset, letter))
    return sorted(entries, key=lambda e: (e.letter.received_at, e.id))


def where_from(letter: DeadLetter) -> str:
    source = letter.source
    if isinstance(source, TopicSource):
        return f"{letter.stage or '?'} {source.topic}[{source.partition}]@{source.offset}"
    if isinstance(source, FileSource):
        return f"file {source.file} line {source.line}"
    return f"http request {(source.request_id or '')[:12]} item {source.index}"


def describe(entry: Entry, *, show_child_ids: bool) -> str:
    letter = entry.letter
    first = letter.errors[0] if letter.errors else None
    why = f"{first.path}: {first.message}" if first else ""
    if len(letter.errors) > 1:
        why += f" (+{len(letter.errors) - 1} more)"
    child = entry.child_id()
    if child and not show_child_ids:
        why = why.replace(child, _CHILD)
    line = (
        f"{entry.id:<16} {letter.received_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z  {where_from(letter)}  "
        f"{letter.reason}  {letter.event_type or '-'}  {why}"
    )
    if show_child_ids:
        line += f"  child={child or '-'}"
    return line


def select_entries(
    entries: list[Entry], ids: list[str], reason: str | None, stage: str | None, everything: bool
) -> list[Entry]:
    if ids:
        wanted = set(ids)
        chosen = [e for e in entries if e.id in wanted]
        missing = wanted - {e.id for e in chosen}
        if missing:
            raise typer.BadParameter(f"no such dead letter: {', '.join(sorted(missing))}")
        return chosen
    if not (reason or stage or everything):
        raise typer.BadParameter("name dead letters (events:P:O ...) or select with --reason, --stage or --all")
    return [
        e
        for e in entries
        if (reason is None or e.letter.reason == reason) and (stage is None or (e.letter.stage or "ingest") == stage)
    ]


def _bootstrap(given: str | None) -> str:
    from carewatch.settings import get_settings

    bootstrap = given or get_settings().broker.kafka_bootstrap
    if not bootstrap:
        typer.echo("error: pass --bootstrap HOST:PORT or set CAREWATCH_KAFKA_BOOTSTRAP", err=True)
        raise typer.Exit(2)
    return bootstrap


Topic = Annotated[
    list[str] | None, typer.Option("--topic", help="events, alerts or board (repeatable; default: all three).")
]
Bootstrap = Annotated[str | None, typer.Option(help="Kafka HOST:PORT (default: CAREWATCH_KAFKA_BOOTSTRAP).")]


def _names(topic: list[str] | None) -> list[str]:
    names = topic or list(DLQ_TOPICS)
    unknown = [n for n in names if n not in DLQ_TOPICS]
    if unknown:
        raise typer.BadParameter(f"unknown dead-letter topic {', '.join(unknown)} (events, alerts, board)")
    return names


@dlq_app.command("list")
def list_(
    topic: Topic = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason (validation, json, store, …).")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage: ingest, rules, alerts, board.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest last.")] = 200,
    show_child_ids: Annotated[
        bool, typer.Option("--show-child-ids", help="Print the child id of each dead letter (personal data).")
    ] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Dead letters: id, when, where from, reason, event type and the first error (no child id by default)."""
    entries = read_entries(_bootstrap(bootstrap), _names(topic))
    chosen = [
        e
        for e in entries
        if (reason is None or e.letter.reason == reason) and (stage is None or (e.letter.stage or "ingest") == stage)
    ]
    for entry in chosen[-limit:]:
        typer.echo(describe(entry, show_child_ids=show_child_ids))
    typer.echo(f"{len(chosen)} dead letters" + (f" (the last {limit} shown)" if len(chosen) > limit else ""))


@dlq_app.command()
def replay(
    ids: Annotated[list[str] | None, typer.Argument(help="Dead letters to replay, as listed (events:P:O).")] = None,
    topic: Topic = None,
    reason: Annotated[str | None, typer.Option(help="Replay every dead letter with this reason.")] = None,
    stage: Annotated[str | None, typer.Option(help="Replay every dead letter of this stage.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Replay every dead letter of the topics.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; write nothing.")] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Submit dead letters again after a fix: case events through ingest's validation (and the archive),
    alert transitions and indicator deltas to the topic they came from."""
    from carewatch.settings import get_settings
    from services.ingest.cli import archiver
    from services.ingest.producer import IngestProducer, write_outcomes
    from services.ingest.records import Origin
    from services.ingest.validation import Accepted, BatchValidator

    server = _bootstrap(bootstrap)
    for given in ids or []:
        if not _ID.match(given):
            raise typer.BadParameter(f"{given!r} is not a dead-letter id (events:P:O, alerts:P:O, board:P:O)")
    names = sorted({_ID.match(i).group(1) for i in ids}) if ids else _names(topic)  # type: ignore[union-attr]
    chosen = select_entries(read_entries(server, names), ids or [], reason, stage, everything)
    events = [e for e in chosen if e.name == "events"]
    others = [e for e in chosen if e.name != "events"]
    validator = BatchValidator(datetime.now(UTC))
    outcomes = [(validator.check_bytes(e.letter.original()), e) for e in events]
    accepted = [(o, Origin("dlq", e.offset, e.id)) for o, e in outcomes if isinstance(o, Accepted)]
    for outcome, entry in outcomes:
        if not isinstance(outcome, Accepted):
            first = outcome.errors[0]
            message = first.message.replace(entry.child_id() or "\0", _CHILD)
            typer.echo(f"{entry.id}: still rejected: {first.path}: {message}")
    if not dry_run and (accepted or others):
        archive, archive_engine = archiver(get_settings())
        producer = IngestProducer(server, client_id="carewatch-dlq-replay")
        try:
            write_outcomes(producer, accepted, received_at=validator.received_at, archive=archive)
            for entry in others:
                letter = entry.letter
                producer.publish_raw(letter.source_topic or "", [(letter.key(), letter.original())])
        finally:
            producer.close()
            if archive_engine is not None:
                archive_engine.dispose()
    verb = "would replay" if dry_run else "replayed"
    typer.echo(
        f"{verb} {len(accepted) + len(others)} of {len(chosen)}: {len(accepted)} case events accepted, "
        f"{len(events) - len(accepted)} still rejected, {len(others)} records re-published to their topic"
    )
