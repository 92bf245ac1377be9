"""Publishes the authority alerts (CONTRACT §6) live: the board feed's month-end reading of its watched series.

When the board feed has stored a month's last day (every partition has passed it), the watched series are
computed over the event archive up to that day (:func:`services.board.early_warning.watched_series`: each
month as known at its end, the charts' 24 months) and read as XmR charts; what changed since the last
transition published for each series' alert (:func:`services.board.core.authority_alerts.live_transitions`:
raised when the latest month shows a concerning special cause, resolved when the latest
``resolve_after_months`` months show none; the recent history when nothing was published yet) goes on the
alerts topic, keyed by :func:`schemas.alerts.authority_key` (the series, never a child). The alerts service's
consumer stores them through the same lifecycle, notification (the board's route) and audit as case alerts.

Once per month end, not per day: the reading folds the whole archive. A restarted feed reads again only the
last month end it had stored (and the new ones as it stores them), and at start it reads the alerts topic for
the authority transitions already on it, so an unchanged signal is not published again. A publish that
fails (the broker is down) is tried again at the feed's next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta

import orjson
from pydantic import ValidationError
from sqlalchemy import Engine

from carewatch import broker
from schemas import topics
from schemas.alerts import TRANSITION_ADAPTER, AlertTransition, TransitionState, authority_key, is_authority_key
from services.board import store
from services.board.core.authority_alerts import DEFAULT_WATCHED, WatchedSeries, live_transitions
from services.board.early_warning import SPC_MONTHS, last_complete_month_end
from services.rules.core.calendar import add_months

log = logging.getLogger(__name__)

Series = list[tuple[WatchedSeries, list[tuple[date, float]]]]
Evaluate = Callable[[date, int], Series]
"""Each watched series over the given number of months up to a month end."""


def from_archive(engine: Engine, population: int | None, watched: Sequence[WatchedSeries]) -> Evaluate:
    """The watched series over the event archive in ``engine`` (each month as known at its end)."""

    def evaluate(month_end: date, months: int) -> Series:
        from services.archive.store import events_in_fold_order
        from services.board.early_warning import watched_series

        return watched_series(
            events_in_fold_order(engine), month_end, population=population, watched=watched, months=months
        )

    return evaluate


class AuthorityPublisher:
    """Reads the watched series at each new month end the feed stores and publishes what changed."""

    def __init__(
        self,
        bootstrap: str,
        engine: Engine,
        *,
        population: int | None,
        watched: Sequence[WatchedSeries] = DEFAULT_WATCHED,
        evaluate: Evaluate | None = None,
    ) -> None:
        self._evaluate = evaluate if evaluate is not None else from_archive(engine, population, watched)
        self.published = _published(bootstrap)
        """The newest (at, state) on the alerts topic per authority alert fingerprint."""
        self._producer = broker.producer(bootstrap, client_id="carewatch-board-authority")
        stored = store.dates(engine)
        self.evaluated_through: date | None = None
        """The last month end read (and its transitions published)."""
        if stored:
            # Read before the restart, all but the last month end stored: a crash may have come between its
            # save and its publish, so it is read again (publishing nothing if it was published).
            last = last_complete_month_end(stored[-1])
            self.evaluated_through = date(last.year, last.month, 1) - timedelta(days=1)
        self.waiting: set[date] = set()
        """Month ends stored but not read yet (or whose publish failed)."""
        self.evaluations = 0
        self.sent = 0

    def days_stored(self, days: Iterable[date]) -> None:
        """The feed has stored these days: note the month ends among them not read yet."""
        for day in days:
            if (day + timedelta(days=1)).day == 1 and (self.evaluated_through is None or day > self.evaluated_through):
                self.waiting.add(day)

    def publish_due(self) -> int:
        """Read each waiting month end in order and publish the transitions not yet on the topic; returns how
        many were sent. Raises when the broker does not acknowledge them (the month end stays waiting).

        One reading of the archive for all of them: the series up to the last, each month end reading its
        24 months of it (a month's value depends only on what happened up to its end)."""
        if not self.waiting:
            return 0
        ends = sorted(self.waiting)
        span = (ends[-1].year - ends[0].year) * 12 + ends[-1].month - ends[0].month + SPC_MONTHS
        full = self._evaluate(ends[-1], span)
        sent = 0
        for month_end in ends:
            sent += self._publish(month_end, [(w, _window(series, month_end)) for w, series in full])
            self.evaluated_through = month_end
            self.waiting.discard(month_end)
        return sent

    def _publish(self, month_end: date, readings: Series) -> int:
        fresh: list[AlertTransition] = []
        for watched, series in readings:
            last = self.published.get(watched.fingerprint)
            found = live_transitions(watched, series, None if last is None else last[1])
            fresh.extend(t for t in found if _newer(t, last))
        self.evaluations += 1
        futures = [
            self._producer.send(
                topics.ALERTS,
                key=authority_key(t.subject or t.rule).encode(),
                value=orjson.dumps(t.model_dump(mode="json")),
            )
            for t in fresh
        ]
        for future in futures:
            future.get(timeout=30)
        for t in fresh:
            self.published[t.fingerprint] = (t.at, t.state)  # in (at, state) order per series
        self.sent += len(fresh)
        if fresh:
            log.info("authority alerts as of %s: %d transition(s) published", month_end, len(fresh))
        return len(fresh)

    def close(self) -> None:
        self._producer.close()


def _window(series: list[tuple[date, float]], month_end: date) -> list[tuple[date, float]]:
    """The chart's months up to ``month_end`` (as :func:`services.board.early_warning.panels` draws them)."""
    last = date(month_end.year, month_end.month, 1)
    first = add_months(last, -(SPC_MONTHS - 1))
    return [(period, value) for period, value in series if first <= period <= last]


def _newer(transition: AlertTransition, last: tuple[date, TransitionState] | None) -> bool:
    # (at, state) orders raised before resolved on the same day, as the alerts lifecycle applies them.
    return last is None or (transition.at, transition.state) > last


def _published(bootstrap: str) -> dict[str, tuple[date, TransitionState]]:
    """The newest authority transition on the alerts topic per fingerprint (case transitions are skipped by
    their key, unread)."""
    try:
        records = broker.read_to_end(bootstrap, topics.ALERTS, timeout_s=60)
    except RuntimeError:  # the topic does not exist (yet): nothing was published
        return {}
    newest: dict[str, tuple[date, TransitionState]] = {}
    for record in records:
        if record.key is None or not is_authority_key(record.key.decode(errors="replace")):
            continue
        try:
            transition = TRANSITION_ADAPTER.validate_json(record.value or b"")
        except ValidationError:
            continue  # the alerts consumer dead-letters it
        key = (transition.at, transition.state)
        if _newer(transition, newest.get(transition.fingerprint)):
            newest[transition.fingerprint] = key
    return newest
