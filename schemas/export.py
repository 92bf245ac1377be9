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
from schemas.board import BOARD_SUMMARY_ADAPTER
from schemas.dead_letters import DEAD_LETTER_ADAPTER
from schemas.events import EVENT_ADAPTER, EVENT_FORMAT_VERSION, ClockTick

OUTPUT_DIR = Path(__file__).resolve().parent / "json"


def _schema(adapter: TypeAdapter[Any], title: str) -> dict[str, Any]:
    schema: dict[str, Any] = _plain_discriminators(adapter.json_schema(ref_template="#/$defs/{model}"))
    schema["title"] = title
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _plain_discriminators(node: Any) -> Any:
    """pydantic writes OpenAPI's ``discriminator`` object (``propertyName`` + ``mapping``); an AsyncAPI schema
    wants the property name as a string. The ``oneOf`` with each member's ``const`` stays, so nothing is lost
    (and to plain JSON Schema the keyword is an annotation either way)."""
    if isinstance(node, dict):
        out = {key: _plain_discriminators(value) for key, value in node.items()}
        found = out.get("discriminator")
        if isinstance(found, dict) and "propertyName" in found:
            out["discriminator"] = found["propertyName"]
        return out
    if isinstance(node, list):
        return [_plain_discriminators(item) for item in node]
    return node


def documents() -> dict[str, dict[str, Any]]:
    """File name → document, everything the contract publishes."""
    case_event = _schema(EVENT_ADAPTER, "carewatch case event v1")
    tick = _schema(TypeAdapter(ClockTick), "carewatch clock tick v1")
    transition = _schema(TypeAdapter(AlertTransition), "carewatch alert transition v1")
    dead_letter = _schema(DEAD_LETTER_ADAPTER, "carewatch dead letter v1")
    board_summary = _schema(BOARD_SUMMARY_ADAPTER, "carewatch board summary v1")
    asyncapi = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "carewatch",
            "version": EVENT_FORMAT_VERSION,
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
                "clockTick": _message("Time as an event, one per partition, no key", "clock-tick.schema.json"),
                "deadLetter": _message("Rejected input with reasons", "dead-letter.schema.json"),
                "alertTransition": _message(
                    "An alert raised or resolved, key = child_id (a case alert, from the rules worker) or "
                    "authority:<indicator id> (an authority alert, no child, from the board feed)",
                    "alert-transition.schema.json",
                ),
            }
        },
    }
    return {
        "case-event.schema.json": case_event,
        "clock-tick.schema.json": tick,
        "alert-transition.schema.json": transition,
        "dead-letter.schema.json": dead_letter,
        "board-summary.schema.json": board_summary,
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
