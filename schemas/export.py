"""Generate the published contracts from the models: JSON Schema files and an AsyncAPI 3 document.

``python -m schemas.export`` rewrites ``schemas/json/``; a test fails when the committed files differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas import topics
from schemas.alerts import AlertTransition
from schemas.events import EVENT_ADAPTER, ClockTick

OUTPUT_DIR = Path(__file__).resolve().parent / "json"


def _schema(adapter: TypeAdapter[Any], title: str) -> dict[str, Any]:
    schema = adapter.json_schema(ref_template="#/$defs/{model}")
    schema["title"] = title
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def documents() -> dict[str, dict[str, Any]]:
    """File name → document, everything the contract publishes."""
    case_event = _schema(EVENT_ADAPTER, "carewatch case event v1")
    tick = _schema(TypeAdapter(ClockTick), "carewatch clock tick v1")
    transition = _schema(TypeAdapter(AlertTransition), "carewatch alert transition v1")
    dead_letter = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "carewatch dead letter v1",
        "type": "object",
        "required": ["received_at", "source", "reason", "errors", "original_base64"],
        "properties": {
            "received_at": {"type": "string", "format": "date-time"},
            "source": {
                "type": "object",
                "description": "Where it came from: {kind: file, file, line} or {kind: http, request_id, index}",
            },
            "reason": {"type": "string", "description": "Low-cardinality class: validation, json, duplicate…"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "message"],
                    "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                },
            },
            "event_type": {"type": ["string", "null"]},
            "original_base64": {"type": "string", "description": "The bytes as received (the faithful copy)"},
            "original_text": {"type": "string", "description": "The same bytes as UTF-8, when decodable"},
            "original_truncated": {"type": "boolean", "description": "Only the first 256 KiB were kept"},
            "original_size": {"type": "integer", "description": "Size of the original when truncated"},
            "stage": {"type": "string", "description": "The consumer that could not process it: rules, alerts, board"},
            "source_topic": {"type": "string", "description": "Consumer dead letters: the record's topic"},
            "source_partition": {"type": "integer"},
            "source_offset": {"type": "integer"},
            "key_base64": {"type": "string", "description": "Consumer dead letters: the record's key"},
        },
    }
    asyncapi = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "carewatch",
            "version": "1.0.0",
            "description": (
                "Case events in, alert transitions and indicator deltas out. Keys are pseudonymous "
                "child ids; one child's events are on one partition and processed in order."
            ),
        },
        "channels": {
            "caseEvents": {
                "address": topics.CASE_EVENTS,
                "messages": {
                    "caseEvent": {"$ref": "#/components/messages/caseEvent"},
                    "clockTick": {"$ref": "#/components/messages/clockTick"},
                },
            },
            "caseEventsDeadLetter": {
                "address": topics.CASE_EVENTS_DLQ,
                "messages": {"deadLetter": {"$ref": "#/components/messages/deadLetter"}},
            },
            "alerts": {
                "address": topics.ALERTS,
                "messages": {"alertTransition": {"$ref": "#/components/messages/alertTransition"}},
            },
        },
        "operations": {
            "receiveCaseEvents": {"action": "receive", "channel": {"$ref": "#/channels/caseEvents"}},
            "sendDeadLetters": {"action": "send", "channel": {"$ref": "#/channels/caseEventsDeadLetter"}},
            "sendAlertTransitions": {"action": "send", "channel": {"$ref": "#/channels/alerts"}},
        },
        "components": {
            "messages": {
                "caseEvent": _message("A validated case event, key = child_id", "case-event.schema.json"),
                "clockTick": _message(
                    "Time as an event, one per partition, no key", "clock-tick.schema.json"
                ),
                "deadLetter": _message("Rejected input with reasons", "dead-letter.schema.json"),
                "alertTransition": _message(
                    "An alert raised or resolved, key = child_id", "alert-transition.schema.json"
                ),
            }
        },
    }
    return {
        "case-event.schema.json": case_event,
        "clock-tick.schema.json": tick,
        "alert-transition.schema.json": transition,
        "dead-letter.schema.json": dead_letter,
        "asyncapi.json": asyncapi,
    }


def _message(summary: str, schema_file: str) -> dict[str, Any]:
    return {"contentType": "application/json", "summary": summary, "payload": {"$ref": f"./{schema_file}"}}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(directory: Path = OUTPUT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents().items():
        path = directory / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(path, file=sys.stdout)
