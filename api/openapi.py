"""The OpenAPI 3.1 document, assembled from the operation dicts registered beside each handler, and /docs.

Shared schemas live here; each handler module writes its own operations with the helpers below, so the document
and the code change in the same place.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from api import respond
from api.endpoint import ANY_ROLE, Endpoint
from api.keys import ENDPOINTS

STATIC = Path(__file__).with_name("static")
VERSION = "0.1.0"

PROBLEM = {"$ref": "#/components/schemas/Problem"}

COMPONENTS: dict = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                   "description": "API key: Authorization: Bearer KEY"}},
    "schemas": {
        "Problem": {
            "type": "object", "description": "RFC 9457 problem details",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"}, "instance": {"type": "string"}, "request_id": {"type": "string"},
                "field": {"type": "string"},
                "errors": {"type": "array", "items": {
                    "type": "object", "required": ["message"],
                    "properties": {"field": {"type": ["string", "null"]}, "message": {"type": "string"}}}},
            },
        },
        "Warning": {
            "type": "object", "description": "A warning or closure an answer touches or was routed around",
            "required": ["id", "kind", "strength", "severity", "headline"],
            "properties": {
                "id": {"type": "string"}, "kind": {"type": "string"}, "kind_en": {"type": "string"},
                "strength": {"type": "string", "enum": ["close", "avoid", "inform"]},
                "severity": {"type": "string"},
                "headline": {"type": "object", "properties": {"ja": {"type": "string"}, "en": {"type": "string"}}},
                "area": {"type": ["object", "null"]}, "valid_from": {"type": "string", "format": "date-time"},
                "valid_until": {"type": ["string", "null"], "format": "date-time"}, "source": {"type": "string"},
            },
        },
        "Place": {
            "type": "object",
            "properties": {"stop_id": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
                           "name_en": {"type": ["string", "null"]}, "lat": {"type": "number"},
                           "lon": {"type": "number"}},
        },
        "Leg": {
            "type": "object", "required": ["mode", "from", "to", "departure", "arrival"],
            "properties": {
                "mode": {"type": "string"}, "operator": {"type": ["string", "null"]},
                "trip_id": {"type": ["string", "null"]},
                "from": {"$ref": "#/components/schemas/Place"}, "to": {"$ref": "#/components/schemas/Place"},
                "departure": {"type": "string", "format": "date-time"},
                "arrival": {"type": "string", "format": "date-time"},
                "duration_s": {"type": "number"}, "distance_m": {"type": "number"},
                "booking_required": {"type": "boolean"},
                "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Warning"}},
            },
        },
        "Itinerary": {
            "type": "object", "required": ["departure", "arrival", "duration_s", "transfers", "legs"],
            "properties": {
                "id": {"type": "string"},
                "departure": {"type": "string", "format": "date-time"},
                "arrival": {"type": "string", "format": "date-time"},
                "duration_s": {"type": "number", "minimum": 0}, "transfers": {"type": "integer", "minimum": 0},
                "walk_distance_m": {"type": "number", "minimum": 0},
                "walking": {"type": "string", "enum": ["osm", "straight_line"]},
                "legs": {"type": "array", "items": {"$ref": "#/components/schemas/Leg"}},
                "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Warning"},
                             "description": "warnings and closures the itinerary touches"},
                "avoided": {"type": "array", "items": {"$ref": "#/components/schemas/Warning"},
                            "description": "warnings and closures it was routed around"},
                "enters_warning_area": {"type": "boolean", "description": "offered although it enters an "
                                        "`avoid` area: staying out is impossible or much worse"},
                "entered": {"type": "array", "items": {"$ref": "#/components/schemas/Warning"},
                            "description": "the `avoid` warnings an entering itinerary goes into"},
            },
        },
        "Stop": {
            "type": "object", "required": ["id", "name", "lat", "lon", "type", "operator"],
            "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "name_en": {"type": ["string", "null"]},
                "name_kana": {"type": ["string", "null"]}, "lat": {"type": "number"}, "lon": {"type": "number"},
                "type": {"type": "string", "enum": ["stop", "station"]},
                "parent_station": {"type": ["string", "null"]}, "operator": {"type": "string"},
                "distance_m": {"type": "number", "minimum": 0},
            },
        },
        "Departure": {
            "type": "object",
            "required": ["departure", "stop_id", "trip_id", "mode", "operator", "route", "status"],
            "properties": {
                "departure": {"type": "string", "format": "date-time"}, "stop_id": {"type": "string"},
                "trip_id": {"type": "string"}, "headsign": {"type": "string"}, "mode": {"type": "string"},
                "operator": {"type": "string"}, "route": {"type": "object"},
                "booking_required": {"type": "boolean"},
                "status": {"type": "string", "enum": ["scheduled", "closed"]},
                "closure": {"type": ["object", "null"]},
                "warnings": {"type": "array", "items": {"type": "string"}, "description": "ids of the warnings "
                             "covering this stop"},
            },
        },
    },
}


def query(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200}}


def json_body(schema: dict, description: str = "", required: bool = True) -> dict:
    return {"required": required, "description": description, "content": {"application/json": {"schema": schema}}}


def ok(schema: dict, description: str = "OK", media: str = "application/json", status: str = "200") -> dict:
    return {status: {"description": description, "content": {media: {"schema": schema}}}}


def problem(description: str) -> dict:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}


def _operation(ep: Endpoint) -> dict:
    op = dict(ep.spec)
    responses = dict(op.get("responses", {}))
    if ep.roles is not None:
        op["security"] = [{"bearer": []}]
        roles = "any role" if ep.roles == ANY_ROLE else ", ".join(sorted(r.value for r in ep.roles)) + " (or admin)"
        op["description"] = (op.get("description", "") + f"\n\nRoles: {roles}.").strip()
        responses.setdefault("401", problem("Missing or unknown API key"))
        responses.setdefault("403", problem("The key's role or owner may not do this"))
        responses.setdefault("429", problem("Rate limit exceeded (see Retry-After)"))
    if ep.method in ("POST", "PUT", "PATCH"):
        responses.setdefault("400", problem("Malformed body"))
        responses.setdefault("413", problem("Body too large"))
        responses.setdefault("415", problem("Unsupported Content-Type"))
    if any(p.get("in") in ("query", "path") for p in op.get("parameters", [])) or "requestBody" in op:
        responses.setdefault("422", problem("A parameter or field has a bad value; `field` names it"))
    responses.setdefault("default", problem("Any other error, as problem+json"))
    op["responses"] = responses
    return op


def document(app: web.Application) -> dict:
    paths: dict = {}
    for ep in app[ENDPOINTS]:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tokyo MaaS API", "version": VERSION,
                 "description": "Trip search, reservations across operators, payments and settlement, closures "
                                "from disaster-warning systems. Errors are RFC 9457 problem+json."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": COMPONENTS,
    }


async def openapi_json(request: web.Request) -> web.Response:
    return respond.json(document(request.app))


async def docs_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})


def add_routes(app: web.Application) -> None:
    from api.endpoint import add

    add(app, "GET", "/openapi.json", openapi_json, roles=None, spec={
        "operationId": "openapi", "summary": "This OpenAPI 3.1 document", "tags": ["ops"],
        "responses": ok({"type": "object"})})
    add(app, "GET", "/docs", docs_page, roles=None, spec={
        "operationId": "docs", "summary": "Browsable API documentation (local HTML, no CDN)", "tags": ["ops"],
        "responses": ok({"type": "string"}, media="text/html")})
    app.router.add_static("/docs/static", STATIC, name="docs-static")
