"""``carewatch replay`` and ``carewatch rules list``."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from schemas.alerts import AlertTransition
    from schemas.deltas import Contribution
    from schemas.events import CaseEvent
    from services.rules.core.config import RulesConfig
    from services.rules.replay import Rejected, ReplayResult

rules_app = typer.Typer(help="The rule catalogue.", no_args_is_help=True)


def _load_config(path: Path | None) -> RulesConfig:
    """The given rules file, else ``CAREWATCH_RULES_CONFIG``, else the packaged defaults."""
    from carewatch.settings import get_settings
    from services.rules.core.config import ConfigError, RulesConfig

    path = path or get_settings().rules.config
    try:
        return RulesConfig.load(path) if path is not None else RulesConfig.default()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {text!r}") from None


@dataclass(frozen=True)
class Authority:
    """The board's early-warning reading of the replayed events, which ``--out`` writes with the rules'
    alerts: ``alerts`` over a whole history; ``part`` of one shard's events and ``join`` of every shard's
    parts, which give the same alerts for a history replayed in shards (``part`` is a module-level function,
    so that it reaches the worker processes)."""

    alerts: Callable[[Sequence[CaseEvent], date], list[AlertTransition]]
    part: Callable[[Sequence[CaseEvent], date], Any]
    join: Callable[[list[Any], date], list[AlertTransition]]


@dataclass(frozen=True)
class _Request:
    """What ``carewatch replay`` was asked to do."""

    events_file: Path | None
    until: date
    config: RulesConfig
    rules_file: Path | None
    compare_config: RulesConfig | None
    compare_file: Path | None
    out: Path | None
    summary: Path | None


def replay_command(
    summarise: Callable[[Mapping[str, Contribution], date, int], dict[str, object]],
    authority: Authority | None = None,
) -> Callable[..., None]:
    """``carewatch replay``, writing ``--summary`` with ``summarise``: the composition root passes the board's
    summary, so the rules never import the board (their totals cross as indicator deltas' sums). ``authority``
    (the board's early-warning reading of the same events) adds the authority alerts to ``--out``."""

    def replay(
        events_file: Annotated[
            Path | None,
            typer.Argument(exists=True, dir_okay=False, help="NDJSON case events (default: the event archive)."),
        ] = None,
        *,
        until: Annotated[str, typer.Option("--until", help="Last day of the replay (YYYY-MM-DD).")],
        rules: Annotated[Path | None, typer.Option("--rules", help="TOML/YAML rule overrides.")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Write alert transitions here (NDJSON).")] = None,
        summary: Annotated[
            Path | None, typer.Option("--summary", help="Write board indicator values here (JSON).")
        ] = None,
        compare: Annotated[
            Path | None,
            typer.Option("--compare", help="A second rules file: print the alerts each configuration raises."),
        ] = None,
        shard_mib: Annotated[
            float,
            typer.Option(
                "--shard-mib",
                min=0,
                help="EVENTS_FILE (or the event archive, read in chunks) is shared out by child into shards of "
                "about this many MiB on disk, each replayed on its own (memory: about 20x a shard a process); "
                "0: the whole history in memory.",
            ),
        ] = 8,
        workers: Annotated[
            int, typer.Option("--workers", min=1, help="Shards replayed at once, each in a process of its own.")
        ] = 1,
    ) -> None:
        """Run the rules over EVENTS_FILE (or the event archive) with a daily clock up to --until, without a
        broker. A child reached by a correction older than its re-fold log is rebuilt from its events, as the
        stream worker rebuilds it from the archive. A file or the archive is replayed in shards of children
        (--shard-mib, --workers), with the same output as a replay of the whole history in memory."""
        request = _Request(
            events_file,
            _parse_day(until),
            _load_config(rules),
            rules,
            _load_config(compare) if compare is not None else None,
            compare,
            out,
            summary,
        )
        if shard_mib > 0:
            _replay_sharded(request, shard_mib, workers)
        else:
            _replay_in_memory(request)

    def _replay_in_memory(request: _Request) -> None:
        from tqdm import tqdm

        from services.rules.replay import read_events, transitions_ndjson
        from services.rules.replay import replay as run

        rejected: list[Rejected] = []
        if request.events_file is None:
            from services.archive.store import archived_events

            events = archived_events()
            typer.echo(f"{len(events)} events read from the event archive", err=True)
        else:
            events, rejected = read_events(request.events_file)
        _report_rejected(f"{request.events_file}:", rejected, len(rejected))

        def runner(cfg: RulesConfig, label: str) -> ReplayResult:
            with tqdm(total=0, unit="day", desc=label, file=sys.stderr, disable=None) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                return run(events, request.until, cfg, progress=progress, rebuild=True)

        result = runner(request.config, "replay")
        raised = Counter(t.rule for t in result.transitions if t.state == "raised")
        typer.echo(
            f"{len(events)} events read, {len(rejected)} rejected, {result.events_applied} applied, "
            f"{result.events_after_until} after --until; {len(result.states)} children; "
            f"{len(result.transitions)} transitions ({sum(raised.values())} raised)"
        )
        if request.out is not None:
            written = list(result.transitions)
            if authority is not None:
                written += authority.alerts(events, request.until)
                written.sort(key=lambda t: (t.at, t.fingerprint))
            request.out.write_bytes(transitions_ndjson(written))
        _write_summary(request.summary, result.totals, request.until)
        if request.compare_config is not None and request.compare_file is not None:
            second = runner(request.compare_config, "compare")
            _print_comparison(result.transitions, second.transitions, request.rules_file, request.compare_file)

    def _replay_sharded(request: _Request, shard_mib: float, workers: int) -> None:
        from tqdm import tqdm

        from services.rules import sharded
        from services.spill import Workspace

        with Workspace(prefix="carewatch-replay-") as workspace, ExitStack() as bars:
            shard_bytes = max(1, int(shard_mib * 2**20))
            with ExitStack() as source:  # the file or the database, closed once split
                if request.events_file is None:
                    from services.archive import store

                    engine = source.enter_context(store.configured_engine())
                    size = store.lines_size(engine)[1]
                    lines: Iterable[tuple[int, bytes]] = store.archive_lines(engine)
                    where, split_desc = "event archive seq ", "split (archive)"
                else:
                    size = request.events_file.stat().st_size
                    lines = enumerate(source.enter_context(request.events_file.open("rb")), start=1)
                    where, split_desc = f"{request.events_file}:", "split"
                split_bar = bars.enter_context(
                    tqdm(total=size, unit="B", unit_scale=True, desc=split_desc, file=sys.stderr, disable=None)
                )
                shards = sharded.split_lines(
                    lines,
                    workspace.path,
                    sharded.shard_count(size, shard_bytes),
                    progress=lambda done: split_bar.update(min(done, size) - split_bar.n),
                )
            split_bar.close()
            if request.events_file is None:
                typer.echo(f"{sum(shard.lines for shard in shards)} events read from the event archive", err=True)

            def shards_progress(shards: list[sharded.Shard]) -> Callable[[sharded.Outcome], None]:
                label = f"replay ({len(shards)} shards, {min(workers, len(shards))} at once)"
                lines = sum(shard.lines for shard in shards)
                bar = bars.enter_context(tqdm(total=lines, unit="line", desc=label, file=sys.stderr, disable=None))
                return lambda outcome: bar.update(outcome.lines)

            total, jobs = sharded.replay_split(
                shards,
                request.until,
                request.config,
                workspace.path,
                workers=workers,
                compare=request.compare_config,
                part=authority.part if authority is not None and request.out is not None else None,
                shards_progress=shards_progress,
            )
            bars.close()
            _report_rejected(where, total.rejected, total.rejected_count)
            typer.echo(
                f"{total.events} events read, {total.rejected_count} rejected, {total.applied} applied, "
                f"{total.after_until} after --until; {total.children} children; "
                f"{total.transitions} transitions ({sum(total.raised.values())} raised)"
            )
            runs = [job.out for job in jobs]
            raised: tuple[list[AlertTransition], list[AlertTransition]] | None = None
            if request.compare_file is not None:  # read before the merge, which may merge runs into fewer
                first = sharded.raised_of(runs)
                second = sharded.raised_of(job.compare_out for job in jobs if job.compare_out is not None)
                first.sort(key=lambda t: (t.at, t.fingerprint))
                second.sort(key=lambda t: (t.at, t.fingerprint))
                raised = first, second
            if request.out is not None:
                extra = authority.join(total.parts, request.until) if authority is not None else []
                with request.out.open("wb") as handle:
                    for line in sharded.merged(runs, extra):
                        handle.write(line)
            _write_summary(request.summary, total.totals, request.until)
            if raised is not None and request.compare_file is not None:
                _print_comparison(*raised, request.rules_file, request.compare_file)

    def _write_summary(summary: Path | None, totals: Mapping[str, Contribution], until_day: date) -> None:
        from carewatch.settings import get_settings

        if summary is not None:
            values = summarise(totals, until_day, get_settings().board.suppression_threshold)
            summary.write_text(json.dumps(values, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")

    return replay


def _report_rejected(where: str, rejected: Sequence[Rejected], count: int) -> None:
    """The first rejected lines, each as ``where`` followed by its number (a file's line, the archive's seq)."""
    for bad in rejected[:20]:
        typer.echo(f"{where}{bad.line}: rejected: {bad.reason}", err=True)
    if count > 20:
        typer.echo(f"... and {count - 20} more rejected lines", err=True)


def _print_comparison(
    first: list[AlertTransition], second: list[AlertTransition], first_name: Path | None, second_name: Path
) -> None:
    def raised(transitions: Iterable[AlertTransition]) -> dict[tuple[str, date], AlertTransition]:
        # An alert raised on a different day under the other rules counts as a difference too.
        return {(t.fingerprint, t.at): t for t in transitions if t.state == "raised"}

    a, b = raised(first), raised(second)
    count_a = Counter(t.rule for t in first if t.state == "raised")
    count_b = Counter(t.rule for t in second if t.state == "raised")
    name_a, name_b = str(first_name or "defaults"), str(second_name)
    typer.echo(f"{'rule':40} {name_a[-20:]:>20} {name_b[-20:]:>20}")
    for rule in sorted(set(count_a) | set(count_b)):
        typer.echo(f"{rule:40} {count_a[rule]:>20} {count_b[rule]:>20}")
    for label, mine, theirs in ((name_a, a, b), (name_b, b, a)):
        only = sorted((t.at, t.rule, t.child_id) for key, t in mine.items() if key not in theirs)
        typer.echo(f"only under {label}: {len(only)}")
        for at, rule, child in only:
            typer.echo(f"  {at.isoformat()} {rule} {child}")


@rules_app.command("list")
def list_rules() -> None:
    """The catalogue: id, severity, default thresholds, statutory basis."""
    from services.rules.core.config import RulesConfig
    from services.rules.core.registry import RULES

    config = RulesConfig.default()
    for rule_id, spec in RULES.items():
        params = config.rules[rule_id].model_dump(mode="json")
        enabled = params.pop("enabled")
        thresholds = ", ".join(f"{key}={value}" for key, value in params.items())
        typer.echo(f"{rule_id:38} {spec.severity:7} {'on ' if enabled else 'off'} {thresholds}")
        typer.echo(f"{'':38} {spec.basis}")
