"""The committed JSON Schema and AsyncAPI files must be what the models generate."""

from __future__ import annotations

import json

from schemas import topics
from schemas.export import OUTPUT_DIR, documents, render


def test_committed_contract_files_are_up_to_date() -> None:
    stale = [
        name
        for name, document in documents().items()
        if not (OUTPUT_DIR / name).is_file() or (OUTPUT_DIR / name).read_text(encoding="utf-8") != render(document)
    ]
    assert not stale, f"regenerate with `python -m schemas.export`: {stale}"


def test_asyncapi_names_the_versioned_topics() -> None:
    asyncapi = json.loads((OUTPUT_DIR / "asyncapi.json").read_text(encoding="utf-8"))
    assert asyncapi["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}
    assert {topics.CASE_EVENTS, topics.CASE_EVENTS_DLQ, topics.ALERTS} <= addresses
    assert all(name.endswith(".v1") for name in addresses)


def test_event_schema_lists_the_code_lists_as_enums() -> None:
    schema = json.loads((OUTPUT_DIR / "case-event.schema.json").read_text(encoding="utf-8"))
    placement = schema["$defs"]["PlacementStarted"]["properties"]["placement_type"]
    assert "U4" in placement["enum"] and "Q1" not in placement["enum"]
