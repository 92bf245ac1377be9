"""A real OpenID Connect provider (``oidc-provider-mock``) on a free loopback port, in its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from carewatch.broker import free_port


class MockProvider:
    def __init__(self, url: str) -> None:
        self.url = url

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        """The claims the provider puts in the ID token of ``sub`` (besides the standard ones)."""
        httpx.put(f"{self.url}/users/{sub}", json=claims, timeout=10).raise_for_status()

    def authorize(self, authorization_url: str, sub: str) -> str:
        """Approve the sign-in as ``sub`` on the provider's page; returns where it sends the browser back."""
        answer = httpx.post(authorization_url, data={"sub": sub}, timeout=10, follow_redirects=False)
        assert answer.status_code in (302, 303), answer.text[:300]
        return answer.headers["location"]


@contextmanager
def mock_provider(token_max_age: int = 300) -> Iterator[MockProvider]:
    port = free_port()
    command = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--require-nonce", "true"]
    process = subprocess.Popen(
        [*command, "--token-max-age", str(token_max_age)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the OpenID Connect mock provider did not start")
            time.sleep(0.1)
        yield MockProvider(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
