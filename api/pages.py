"""The pages a person opens: the map at ``/`` and the API docs (Swagger UI) at ``/docs``, with their static files.

Every script and style is served from ``api/static`` (the libraries under ``static/vendor`` are installed from the
npm registry by ``scripts/ensure-assets.sh``, which ``make run``/``make test`` call): no CDN at run time. The map
page gets one piece of server state, inlined as JSON: the demo keys of a development key file (``"demo": true``),
so ``make run`` opens ready to use; with real keys nothing is prefilled and the user pastes a key.
"""
from __future__ import annotations

import logging
from pathlib import Path

import orjson
from aiohttp import web

from api.endpoint import add
from api.keys import SERVICES
from api.openapi import ok

STATIC = Path(__file__).with_name("static")
VENDOR = STATIC / "vendor"
CONFIG_SLOT = "{/*MAAS_CONFIG*/}"
log = logging.getLogger("maas.pages")
_HTML = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
         "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"}


def missing_assets() -> list[str]:
    """Vendored library files that are not installed (run scripts/ensure-assets.sh)."""
    wanted = ("leaflet/leaflet.js", "leaflet/leaflet.css", "swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css")
    return [w for w in wanted if not (VENDOR / w).is_file()]


def page_config(request: web.Request) -> dict:
    keys = request.app[SERVICES].keys
    return {"demo_keys": dict(getattr(keys, "demo", {}) or {}), "missing_assets": missing_assets()}


def _html(name: str, config: dict | None = None) -> web.Response:
    text = (STATIC / name).read_text(encoding="utf-8")
    if config is not None:  # inside <script type="application/json">: "<" must not close the element
        text = text.replace(CONFIG_SLOT, orjson.dumps(config).decode().replace("<", "\\u003c"))
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers=_HTML)


async def map_page(request: web.Request) -> web.Response:
    return _html("map/index.html", page_config(request))


async def docs_page(request: web.Request) -> web.Response:
    return _html("docs/index.html")


async def _warn_missing(app: web.Application) -> None:
    if missing := missing_assets():
        log.warning("map and docs pages lack %s: run scripts/ensure-assets.sh (make run does)", ", ".join(missing))


def add_routes(app: web.Application) -> None:
    add(app, "GET", "/", map_page, roles=None, spec={
        "operationId": "mapPage", "summary": "The map page: search, plan, book, closures (HTML)", "tags": ["pages"],
        "responses": ok({"type": "string"}, media="text/html")})
    add(app, "GET", "/docs", docs_page, roles=None, spec={
        "operationId": "docs", "summary": "API documentation: Swagger UI over /openapi.json, served locally",
        "tags": ["pages"], "responses": ok({"type": "string"}, media="text/html")})
    app.router.add_static("/static", STATIC, name="static", append_version=False)
    app.on_startup.append(_warn_missing)
