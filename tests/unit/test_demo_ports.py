"""`carewatch demo` checks its ports first and recognises carewatch's own answers, not any HTTP server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carewatch.settings import Settings
from services.demo.run import PortTaken, busy_ports
from services.demo.supervisor import is_carewatch, port_in_use


class _Other(BaseHTTPRequestHandler):
    body = b"<html>some other server</html>"

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Other)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_another_http_server_is_not_taken_for_carewatch(other_server: int) -> None:
    url = f"http://127.0.0.1:{other_server}/healthz"
    assert not is_carewatch(url, '"status":"ok"')
    _Other.body = b'{"status": "ok", "detail": ""}'
    try:
        assert is_carewatch(url, '"status":"ok"')
    finally:
        _Other.body = b"<html>some other server</html>"
    assert not is_carewatch(f"http://127.0.0.1:{_free_port()}/healthz", '"status":"ok"')


def test_a_taken_port_is_named_with_the_option_that_moves_it(other_server: int, tmp_path: Path) -> None:
    free = _free_port()
    settings = Settings(web_port=other_server, ingest_port=free, rules_metrics_port=free, data_dir=tmp_path)
    assert port_in_use("127.0.0.1", other_server)
    assert not port_in_use("127.0.0.1", free)
    taken = busy_ports(settings)
    assert taken == [("--port", "127.0.0.1", other_server)]
    message = str(PortTaken(taken))
    assert f"127.0.0.1:{other_server}" in message and "--port" in message and "\n" not in message


def test_the_demo_command_fails_with_one_line_when_a_port_is_taken(
    other_server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carewatch.cli import app

    monkeypatch.setenv("CAREWATCH_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["demo", "--once", "--ingest-port", str(other_server)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: port already in use") and "--ingest-port" in lines[0]
    assert not (tmp_path / "carewatch.sqlite").exists()  # nothing started before the check
