"""``serve rules``: provision topics, expose /metrics and run the rules faust worker in the foreground."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from carewatch.settings import RulesProcess, rules_settings

if TYPE_CHECKING:
    from services.archive.store import Reader

log = logging.getLogger(__name__)


def serve(settings: RulesProcess | None = None) -> None:
    """Run the rules stream until SIGINT/SIGTERM. Without ``CAREWATCH_KAFKA_BOOTSTRAP`` it starts the
    embedded broker (useful for a try-out; it forgets everything when it stops)."""
    import faust
    from prometheus_client import start_http_server

    from carewatch.broker import broker_from_settings, ensure_topics
    from services.rules.stream.app import build_app
    from services.rules.stream.clock import run_scheduler
    from services.rules.stream.metrics import RulesMetrics

    settings = settings or rules_settings()
    with broker_from_settings(settings.broker.kafka_bootstrap) as bootstrap:
        created = ensure_topics(bootstrap, settings.broker.topic_partitions, settings.broker.topic_replication)
        if created:
            log.info("created topics %s", ", ".join(created))
        if settings.archive.enabled and settings.archive.republish_on_start:
            refill_from_archive(settings, bootstrap)
        archive = archive_reader(settings) if settings.archive.enabled else None
        app = build_app(settings.on_broker(bootstrap), metrics=RulesMetrics(), archive=archive)
        start_http_server(settings.rules.metrics_port, addr=settings.rules.metrics_host)
        log.info("rules metrics on http://%s:%d/metrics", settings.rules.metrics_host, settings.rules.metrics_port)
        stop = threading.Event()
        if settings.rules.tick_scheduler:
            live = settings.on_broker(bootstrap)
            threading.Thread(target=run_scheduler, args=(live, stop), name="clock-scheduler", daemon=True).start()
            log.info("clock scheduler: a tick every %.0f s", settings.rules.tick_interval_seconds)
        worker = faust.Worker(app, loglevel="info", redirect_stdouts=False)
        try:
            worker.execute_from_commandline()
        finally:
            stop.set()


def refill_from_archive(settings: RulesProcess, bootstrap: str) -> None:
    """Before the worker starts: publish the archived events the case-events topic has lost (a broker that
    forgot its data comes back with everything ingest acknowledged)."""
    from carewatch.db import make_engine, migrate
    from services.archive.republish import republish

    url = settings.database.sqlalchemy_url()
    migrate(url)
    engine = make_engine(url)
    try:
        republish(engine, bootstrap)
    finally:
        engine.dispose()


def archive_reader(settings: RulesProcess) -> Reader:
    """The event archive's reader the worker rebuilds children from (the database of ``settings``)."""
    from carewatch.db import make_engine, migrate
    from services.archive.store import Reader

    url = settings.database.sqlalchemy_url()
    migrate(url)
    return Reader(make_engine(url))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # connection chatter at INFO
    serve()
