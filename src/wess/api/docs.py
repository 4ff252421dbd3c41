"""The API browser: Swagger UI at ``/docs``, its assets served by Wess itself.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so it is blank on a machine with
no internet. Here the page names only same-origin URLs: the JavaScript, stylesheet
and icon ship in the ``fastapi-offline`` package (Swagger UI 5, Apache-2.0, pinned in
pyproject.toml) and are answered from ``/docs/assets/``. Swagger UI's online validator
is off (it would fetch a badge from the validator's site). The page's Authorize button
takes an API key or a JWT: ``/openapi.json`` declares the bearer scheme (``openapi``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse

from wess.api.access import guarded
from wess.api.guard import requires
from wess.errors import NotFound
from wess.security.rbac import Permission

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
OPENAPI_PATH = "/openapi.json"
ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
"""The files the page loads, by name, with their content types; nothing else is served."""
ASSET_PACKAGE = "fastapi_offline"
CACHE_CONTROL = "public, max-age=86400"
"""The assets change only with the pinned package: a day in a browser's cache."""

router = APIRouter(tags=["documentation"], dependencies=[Depends(guarded)])


def asset_file(name: str) -> Path:
    """Where the packaged asset ``name`` is on disk."""
    return Path(str(files(ASSET_PACKAGE).joinpath("static", name)))


@router.get(DOCS_PATH, include_in_schema=False, openapi_extra=requires(Permission.PUBLIC))
async def swagger_ui() -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, every URL on this server."""
    return get_swagger_ui_html(
        openapi_url=OPENAPI_PATH,
        title="Wess API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
    )


@router.get(
    f"{ASSETS_PATH}/{{name}}", include_in_schema=False, openapi_extra=requires(Permission.PUBLIC)
)
async def swagger_asset(name: str) -> FileResponse:
    """One of ``ASSETS``; any other name is a 404 (no path is built from the request)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no documentation asset {name!r}")
    return FileResponse(
        asset_file(name), media_type=media_type, headers={"cache-control": CACHE_CONTROL}
    )
