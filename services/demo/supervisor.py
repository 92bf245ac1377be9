"""Run carewatch services as child processes: start, wait until healthy, stop cleanly on exit or Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class ServiceProcess:
    """``carewatch serve <name>`` in a child process, its output in ``log_path``."""

    name: str
    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "carewatch", "serve", self.name],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the demo only; the demo stops its children in order
        )
        log.close()
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready`` with a deadline; fail early with the log's tail if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"the {self.name} service stopped during start-up:\n{self.log_tail()}")
            if ready():
                return
            time.sleep(0.25)
        raise TimeoutError(f"the {self.name} service was not {what} within {timeout:.0f}s:\n{self.log_tail()}")

    def wait_for_http(self, url: str, timeout: float = 60.0, marker: str = '"status":"ok"') -> None:
        """Wait until ``url`` answers with ``marker`` in its body: carewatch's own answer, not whatever
        other server might hold the port."""

        def answers() -> bool:
            return is_carewatch(url, marker)

        self.wait_until(answers, timeout, f"answering at {url}")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)


def is_carewatch(url: str, marker: str) -> bool:
    """Whether ``url`` answers 200 with ``marker`` in its body (spaces ignored)."""
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and marker.replace(" ", "") in response.text.replace(" ", "")


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port`` (so a service started there would fail)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0
