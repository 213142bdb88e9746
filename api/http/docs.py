"""API docs pages (/docs Swagger UI, /redoc ReDoc) served from a packaged copy of their
JavaScript and CSS: FastAPI's defaults load them from a CDN, so the pages were blank offline.

The bundles come from the ``fastapi-offline`` wheel (MIT; Swagger UI is Apache-2.0, ReDoc MIT).
Only its static folder is used; the pages themselves are FastAPI's own HTML helpers.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static-docs"
REDOC_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
             "worker-src 'self' blob:; font-src 'self' data:; frame-ancestors 'none'")


def assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def install(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Mount the packaged assets and add the two pages (call with the app's docs_url/redoc_url off)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="static-docs")
    oauth2_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    def base(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = base(request)
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=app.title + " API",
            oauth2_redirect_url=root + oauth2_url,
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get(oauth2_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = base(request)
        page = get_redoc_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=app.title + " API",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        # ReDoc's sidebar shows a Redocly logo from its CDN (decorative: hidden when it fails to
        # load). The policy keeps the browser from even asking for it.
        page.headers["Content-Security-Policy"] = REDOC_CSP
        return page
