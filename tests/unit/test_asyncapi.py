"""The committed AsyncAPI document passes the official AsyncAPI parser (npm ``@asyncapi/parser``).

The parser is pinned in ``tests/tools/asyncapi/package-lock.json`` and installed there with ``npm ci`` when
it is missing (``make test`` does it first; the npm registry must be reachable once).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from schemas.export import OUTPUT_DIR, documents, render

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tests" / "tools" / "asyncapi"


def _node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not installed (the AsyncAPI parser runs on Node.js 20)")
    return found


@pytest.fixture(scope="module")
def parser_installed() -> Path:
    if not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed (needed once to install the AsyncAPI parser)")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=TOOL,
            capture_output=True,
            text=True,
            check=False,
            timeout=280,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    return TOOL / "validate.mjs"


def _parse(script: Path, asyncapi: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_node(), str(script), str(asyncapi)], cwd=TOOL, capture_output=True, text=True, check=False, timeout=120
    )


def test_committed_asyncapi_document_is_valid(parser_installed: Path) -> None:
    result = _parse(parser_installed, OUTPUT_DIR / "asyncapi.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VALID: asyncapi 3." in result.stdout
    assert "\nerror " not in "\n" + result.stdout


def test_the_parser_refuses_an_openapi_style_discriminator(parser_installed: Path, tmp_path: Path) -> None:
    """The check can fail: the object form pydantic writes by default is reported as an error."""
    for name, document in documents().items():
        (tmp_path / name).write_text(render(document), encoding="utf-8")
    event_file = tmp_path / "case-event.schema.json"
    event = json.loads(event_file.read_text(encoding="utf-8"))
    assert isinstance(event["discriminator"], str)
    event["discriminator"] = {"propertyName": event["discriminator"], "mapping": {}}
    event_file.write_text(json.dumps(event), encoding="utf-8")
    result = _parse(parser_installed, tmp_path / "asyncapi.json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"discriminator" property type must be string' in result.stdout
