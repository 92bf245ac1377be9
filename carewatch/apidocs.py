"""API documentation served entirely by carewatch (works offline, no CDN): Swagger UI at ``/docs`` and
ReDoc at ``/redoc``, their scripts and styles from the ``fastapi-offline`` package under ``/docs-assets``.

The pages carry no inline script: Swagger UI starts from ``/docs-assets/init/swagger-init.js``. Every service
installs the same pages (:func:`install`).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Final

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL: Final = "/docs-assets"
INIT_URL: Final = "/docs-assets/init"


def assets_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def _page(title: str, head: str, body: str, openapi_url: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html>\n"
        f'<html lang="en-GB"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="{ASSETS_URL}/favicon.png">{head}</head>'
        f'<body data-openapi="{escape(openapi_url)}">{body}</body></html>'
    )


def install(app: FastAPI) -> None:
    """Replace FastAPI's CDN-based ``/docs`` and ``/redoc`` with pages whose every asset carewatch serves."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.router.routes = [
        r for r in app.router.routes if getattr(r, "path", None) not in ("/docs", "/redoc", "/docs/oauth2-redirect")
    ]
    router = APIRouter(include_in_schema=False)

    @router.get("/docs", response_class=HTMLResponse)
    def swagger() -> HTMLResponse:
        return _page(
            f"{app.title} · API",
            f'<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">',
            f'<div id="swagger-ui"></div><script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>'
            f'<script src="{INIT_URL}/swagger-init.js"></script>',
            openapi_url,
        )

    @router.get("/redoc", response_class=HTMLResponse)
    def redoc() -> HTMLResponse:
        return _page(
            f"{app.title} · API reference",
            "",
            f'<redoc spec-url="{escape(openapi_url)}"></redoc><script src="{ASSETS_URL}/redoc.standalone.js"></script>',
            openapi_url,
        )

    app.include_router(router)
    # The more specific mount first: Starlette matches mounts in order.
    app.mount(INIT_URL, StaticFiles(directory=Path(__file__).resolve().parent / "static"), name="docs-init")
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
