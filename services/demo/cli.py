"""`carewatch demo`."""

from __future__ import annotations

from datetime import date

import typer


def demo(
    once: bool = typer.Option(False, "--once", help="Run to the end, print the summary and exit (for tests and CI)."),
    months: int = typer.Option(12, "--months", min=1, max=120, help="Months of history to stream."),
    children: int = typer.Option(396, "--children", min=10, help="Children looked after at any one time."),
    seed: int = typer.Option(7, "--seed", help="Seed of the synthetic authority (same seed, same history)."),
    until: str = typer.Option("", "--until", help="Last day of the history, YYYY-MM-DD (default: today in England)."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port of the web pages and API (default 8080)."),
    ingest_port: int = typer.Option(0, "--ingest-port", min=0, max=65535, help="Ingest API port (default 8081)."),
    rules_metrics_port: int = typer.Option(
        0, "--rules-metrics-port", min=0, max=65535, help="Port of the rules worker's metrics (default 8082)."
    ),
) -> None:
    """Run carewatch on a synthetic local authority: every service, alerts and board at a local URL.

    Starts the embedded broker (unless CAREWATCH_KAFKA_BOOTSTRAP is set) and an SQLite database (unless
    CAREWATCH_DATABASE_URL is set), then the ingest, rules and alerts services; streams the history with
    daily clock ticks at accelerated speed, prints a summary with the URLs and demo tokens, and keeps serving
    until Ctrl-C.
    """
    from carewatch.settings import get_settings
    from services.demo.run import PortTaken, run_demo
    from services.rules.stream.clock import england_today

    last_day = date.fromisoformat(until) if until else england_today()
    ports = {"web_port": port, "ingest_port": ingest_port, "rules_metrics_port": rules_metrics_port}
    settings = get_settings().updated(**{name: value for name, value in ports.items() if value})
    try:
        run_demo(settings, once=once, months=months, children=children, seed=seed, until=last_day, echo=typer.echo)
    except PortTaken as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
