"""Headless Chromium (Debian's, driven by Playwright without `playwright install`) and the screenshot folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

ARTEFACTS = Path(__file__).resolve().parents[2] / "artefacts"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking switches Chromium keeps dialling out, and this machine refuses it.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def artefacts() -> Path:
    """Where screenshots are kept for people to look at (git-ignored)."""
    ARTEFACTS.mkdir(exist_ok=True)
    return ARTEFACTS
