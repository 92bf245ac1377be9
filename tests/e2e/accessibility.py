"""axe-core in the page under test: fail on serious or critical WCAG 2.2 A/AA violations.

axe-core comes from npm, pinned by ``tests/e2e/axe/package-lock.json``; ``npm ci`` installs it when missing.
It is injected into the page by Playwright (not served by carewatch), so it runs under the app's CSP.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_source() -> str:
    if not AXE_JS.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=AXE_DIR, check=True, capture_output=True)
    return AXE_JS.read_text(encoding="utf-8")


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical violations on the page as it is now, each with its rule and offending nodes."""
    page.evaluate(axe_source() + "\n;undefined")
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        TAGS,
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
