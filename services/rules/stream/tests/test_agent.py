"""The faust agent itself, driven through ``agent.test_context()`` (faust has no in-memory broker)."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from carewatch.settings import Settings
from schemas.events import event_to_json
from services.rules.stream.app import AGENT_NAME, CHILDREN_TABLE, CLOCKS_TABLE, build_app
from services.rules.stream.clock import tick_value
from services.rules.stream.metrics import RulesMetrics
from services.rules.stream.tests.history import hand_made


@pytest.mark.integration
def test_the_agent_skips_bad_records_counts_them_and_keeps_going(tmp_path: Path, kafka_bootstrap: str) -> None:
    registry = CollectorRegistry()
    # The test context feeds the agent directly; its transitions go to the real broker.
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_partitions=8, data_dir=tmp_path)
    app = build_app(settings, metrics=RulesMetrics(registry))
    agent = app.agents[AGENT_NAME]
    care_started = orjson.dumps(event_to_json(hand_made()[0]))

    async def drive() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"a1", value=b"\xff not json")
            await context.put(key=b"a1", value=b'{"type": "sdq.recorded"}')
            await context.put(key=b"a1", value=care_started)
            await context.put(key=None, value=tick_value(date(2026, 1, 6)))
            await context.put(key=None, value=tick_value(date(2026, 2, 3)))
            steps = [context.results[i] for i in range(5)]
            assert [s.kind for s in steps] == ["bad", "bad", "event", "tick", "tick"]
            assert [s.bad_reason for s in steps[:2]] == ["json", "invalid"]
            children = app.tables[CHILDREN_TABLE]
            assert children["a1"]["state"]["processed_ids"] == ["a1-1"]
            assert steps[3].writes == {}  # nothing due on 6 January
            # The IHA is overdue from the day after the 20th working day after 5 January (2 February).
            assert "iha-overdue" in {t.rule for t in steps[4].transitions}
            assert children["a1"]["state"]["evaluated_as_of"] == "2026-02-03"
            assert app.tables[CLOCKS_TABLE][0] == "2026-02-03"

    asyncio.run(drive())

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("carewatch_rules_bad_records_total", reason="json") == 1
    assert sample("carewatch_rules_bad_records_total", reason="invalid") == 1
    assert sample("carewatch_rules_events_processed_total", type="care.started") == 1
    assert sample("carewatch_rules_ticks_total") == 2
    assert sample("carewatch_rules_transitions_total", rule="iha-overdue", state="raised") == 1
    assert sample("carewatch_rules_processing_seconds_count") == 5
