"""The rules engine as a faust stream: case events and clock ticks in, alert transitions and indicator
deltas out.

* :mod:`.app` — ``build_app(settings)``: the faust app (agent, tables, topics).
* :mod:`.processor` — what the agent does with one record, without faust (unit-testable).
* :mod:`.clock` — clock ticks: ``send_ticks``, the live ``run_scheduler``, and ``feed``/``interleave`` to
  stream a recorded history in replay's order.
* :mod:`.metrics` — Prometheus counters and the processing-time histogram.
* :mod:`.cli` — ``serve(settings)``; ``python -m services.rules.stream`` runs it from ``CAREWATCH_*``.
* :mod:`.harness` — the worker as a child process and topic readers, for tests, benchmarks and demos.
"""
