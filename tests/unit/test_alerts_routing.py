"""The routing file: parsing, clear errors, and who receives what."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.alerts.routing import Recipient, RouteTable, RoutingConfigError, load_routing


def test_routing_file_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "default: [{email: duty@example.org}]\n"
        "head_of_service: [{email: hos@example.org}]\n"
        "teams:\n"
        "  north: [{email: north@example.org}, {webhook: 'https://hooks.example.org/n'}]\n",
        encoding="utf-8",
    )
    config = load_routing(path)
    assert [spec.recipient() for spec in config.teams["north"]] == [
        Recipient("email", "north@example.org"),
        Recipient("webhook", "https://hooks.example.org/n"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("teams: {}\n", "default"),
        ("default: [{email: not-an-address}]\n", "default.0.email"),
        ("default: [{email: a@b.org, webhook: 'https://x'}]\n", "exactly one"),
        ("default: [{pager: '123'}]\n", "pager"),
        ("default: [\n", "cannot read"),
    ],
)
def test_bad_routing_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RoutingConfigError, match=message):
        load_routing(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RoutingConfigError, match="cannot read"):
        load_routing(tmp_path / "absent.yaml")


def test_recipients_fall_back_to_default_and_add_head_of_service_when_escalated() -> None:
    duty, hos = Recipient("email", "duty@x.org"), Recipient("email", "hos@x.org")
    north = Recipient("email", "north@x.org")
    table = RouteTable((duty,), (hos,), {"north": (north,)})
    assert table.recipients("north", escalated=False) == [north]
    assert table.recipients("south", escalated=False) == [duty]
    assert table.recipients(None, escalated=True) == [duty, hos]
    assert table.recipients("north", escalated=True) == [north, hos]


def test_the_example_file_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "services" / "alerts" / "routes.example.yaml"
    config = load_routing(example)
    assert set(config.teams) == {"north", "south"} and config.head_of_service
