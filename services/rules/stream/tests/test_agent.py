"""The faust agent itself, driven through ``agent.test_context()`` (faust has no in-memory broker)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import orjson
from prometheus_client import CollectorRegistry

from carewatch.settings import Settings
from schemas.events import event_to_json
from services.rules.stream.app import AGENT_NAME, CHILDREN_TABLE, CLOCKS_TABLE, build_app
from services.rules.stream.metrics import RulesMetrics
from services.rules.stream.tests.history import hand_made


def test_the_agent_skips_bad_records_counts_them_and_keeps_going(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    # The test context feeds the agent directly. Bad records publish nothing, so no broker is contacted
    # (faust's test context cannot complete a send, and every event or tick publishes): events, ticks
    # and publishing are tested on the real broker in tests/integration/test_rules_stream.py.
    settings = Settings(kafka_bootstrap="127.0.0.1:9", topic_partitions=2, data_dir=tmp_path)
    app = build_app(settings, metrics=RulesMetrics(registry))
    agent = app.agents[AGENT_NAME]
    care_started = orjson.dumps(event_to_json(hand_made()[0]))

    async def drive() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"a1", value=b"\xff not json")
            await context.put(key=b"a1", value=b'{"type": "sdq.recorded"}')
            await context.put(key=b"b2", value=care_started)  # keyed by another child
            steps = [context.results[i] for i in range(3)]
            assert [s.kind for s in steps] == ["bad", "bad", "bad"]
            assert [s.bad_reason for s in steps[:3]] == ["json", "invalid", "key"]
            assert "a1" not in " ".join(s.detail for s in steps)
            children, clocks = (cast(Any, app.tables[name]) for name in (CHILDREN_TABLE, CLOCKS_TABLE))
            assert (len(children), len(clocks)) == (0, 0)

    asyncio.run(drive())

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("carewatch_rules_bad_records_total", reason="json") == 1
    assert sample("carewatch_rules_bad_records_total", reason="invalid") == 1
    assert sample("carewatch_rules_bad_records_total", reason="key") == 1
    assert sample("carewatch_rules_processing_seconds_count") == 3
