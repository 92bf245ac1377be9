"""API documentation works offline: every script and style /docs and /redoc load is served by carewatch."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from carewatch.db import make_engine, migrate
from carewatch.settings import Settings
from services.alerts.app import create_app
from services.ingest.app import create_app as create_ingest_app
from services.ingest.producer import IngestProducer

pytestmark = pytest.mark.integration


def test_docs_pages_load_only_local_assets(sqlite_url: str) -> None:
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        with TestClient(create_app(Settings(), engine)) as client:
            _check_docs(client)
    finally:
        engine.dispose()


def test_ingest_docs_pages_load_only_local_assets(kafka_bootstrap: str) -> None:
    producer = IngestProducer(kafka_bootstrap)
    try:
        with TestClient(create_ingest_app(Settings(), producer)) as client:
            _check_docs(client)
            assert "CaseEvent" in client.get("/openapi.json").text  # the request body is documented
    finally:
        producer.close()


def _check_docs(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, page
        assert all(a.startswith("/") and not a.startswith("//") for a in assets), (page, assets)
        assert "<script>" not in html  # no inline script: a strict CSP can stay strict
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert len(response.content) > 100, asset
    swagger = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in swagger and "/docs-assets/init/swagger-init.js" in swagger
    assert 'data-openapi="/openapi.json"' in swagger
    assert client.get("/openapi.json").status_code == 200
