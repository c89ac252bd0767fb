"""The OpenAPI 3.1 document, assembled from the operation dicts registered beside each handler (the docs UI
at /docs, api.pages, renders it).

Shared schemas live here; each handler module writes its own operations with the helpers below, so the document
and the code change in the same place.
"""
from __future__ import annotations

import msgspec
from aiohttp import web

from api import respond
from api.endpoint import ANY_ROLE, Endpoint
from api.keys import ENDPOINTS
from api.models.problem import Problem
from api.models.search import Departure, Itinerary, Leg, Place, Stop, Trip
from api.models.examples import EXAMPLES
from api.problems import TITLES

VERSION = "0.1.0"

PROBLEM = Problem  # a typed model: `document` turns every Struct it meets into a $ref and a component
REF = "#/components/schemas/{name}"
ALWAYS = (Problem, Itinerary, Leg, Place, Stop, Departure, Trip)  # components other specs may $ref by name

COMPONENTS: dict = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                   "description": "API key: Authorization: Bearer KEY"}},
    "schemas": {
    },
}


def query(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


ACCEPT_LANGUAGE = {"name": "Accept-Language", "in": "header", "required": False,
                   "description": "`ja` (default) or `en`: the language of `name` and `headsign`; with `en` the "
                                  "Japanese text stays in `name_ja`/`headsign_ja`",
                   "schema": {"type": "string", "maxLength": 200}}


def path_param(name: str, description: str, pattern: str | None = None) -> dict:
    schema = {"type": "string", "minLength": 1, "maxLength": 200}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def json_body(schema: dict | type, description: str = "", required: bool = True, example=None) -> dict:
    media: dict = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"required": required, "description": description, "content": {"application/json": media}}


def ok(schema: dict | type, description: str = "OK", media: str = "application/json", status: str = "200",
       example=None) -> dict:
    body: dict = {"schema": schema}
    if example is not None:
        body["example"] = example
    return {status: {"description": description, "content": {media: body}}}


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
    op["responses"] = {status: _with_example(status, r, ep.path) for status, r in responses.items()}
    if "requestBody" in op:
        op["requestBody"] = _with_example("body", op["requestBody"], ep.path)
    return op


def _with_example(status: str, response: dict, path: str) -> dict:
    """Every JSON body gets an example: the model's own (api/models/examples.py), or for a problem one built from
    its status and description."""
    content = response.get("content")
    if not content:
        return response
    out = dict(response, content={})
    for media, obj in content.items():
        obj = dict(obj)
        schema = obj.get("schema")
        if "example" not in obj and "examples" not in obj:
            if schema is Problem:
                code = 500 if status == "default" else int(status)
                obj["example"] = {"type": "about:blank", "title": TITLES.get(code, "Error"), "status": code,
                                  "detail": response.get("description", ""), "instance": path}
            elif isinstance(schema, type) and schema in EXAMPLES:
                obj["example"] = EXAMPLES[schema]
        out["content"][media] = obj
    return out


def json_schema(schema: dict | type) -> dict:
    """A schema as JSON Schema: a typed model becomes its own schema (nested models under `$defs`)."""
    if isinstance(schema, type) and issubclass(schema, msgspec.Struct):
        out = msgspec.json.schema(schema)
        defs = out.pop("$defs", {})
        return {**defs.get(schema.__name__, out), "$defs": defs}
    return schema


def _materialise(obj, found: set):
    """The spec with every Struct type replaced by a $ref (collected in ``found`` for the components)."""
    if isinstance(obj, type) and issubclass(obj, msgspec.Struct):
        found.add(obj)
        return {"$ref": REF.format(name=obj.__name__)}
    if isinstance(obj, dict):
        return {k: _materialise(v, found) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialise(v, found) for v in obj]
    return obj


def document(app: web.Application) -> dict:
    paths: dict = {}
    found: set = set()
    for ep in app[ENDPOINTS]:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _materialise(_operation(ep), found)
    found.update(ALWAYS)
    schemas = dict(COMPONENTS["schemas"])
    _, generated = msgspec.json.schema_components(sorted(found, key=lambda t: t.__name__), ref_template=REF)
    schemas.update(generated)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tokyo MaaS API", "version": VERSION,
                 "description": "Trip search, reservations across operators, payments and settlement, closures "
                                "from disaster-warning systems. Errors are RFC 9457 problem+json."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {**COMPONENTS, "schemas": schemas},
    }


async def openapi_json(request: web.Request) -> web.Response:
    return respond.json(document(request.app))


_DOCUMENT = {"type": "object", "required": ["openapi", "info", "paths", "components"], "properties": {
    "openapi": {"type": "string", "const": "3.1.0"},
    "info": {"type": "object", "required": ["title", "version"], "properties": {
        "title": {"type": "string"}, "version": {"type": "string"}, "description": {"type": "string"}}},
    "servers": {"type": "array", "items": {"type": "object", "properties": {"url": {"type": "string"}}}},
    "paths": {"type": "object", "description": "path → method → operation",
              "additionalProperties": {"type": "object", "additionalProperties": True}},
    "components": {"type": "object", "properties": {
        "schemas": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": True}},
        "securitySchemes": {"type": "object", "additionalProperties": True}}}}}


def add_routes(app: web.Application) -> None:
    from api.endpoint import add

    add(app, "GET", "/openapi.json", openapi_json, roles=None, spec={
        "operationId": "openapi", "summary": "This OpenAPI 3.1 document", "tags": ["ops"],
        "responses": ok(_DOCUMENT, example={
            "openapi": "3.1.0", "info": {"title": "Tokyo MaaS API", "version": VERSION},
            "paths": {"/healthz": {"get": {"operationId": "healthz"}}}, "components": {"schemas": {}}})})
