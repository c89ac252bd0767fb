"""Decoding requests through the typed models (api/models): a query string or JSON body becomes a Struct, or a
422 problem naming the field (msgspec's error path `$.a.b[0]` becomes `a.b[0]`), never a 500.

`query_parameters(Model)` gives the OpenAPI parameters of a query model, so the document lists exactly what the
handler decodes.
"""
from __future__ import annotations

import functools
import re
from typing import Mapping, TypeVar

import msgspec
from aiohttp import web

from api.problems import TYPE_BASE, ApiProblem

T = TypeVar("T")
_PATH = re.compile(r" - at `\$\.?(.*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")


def problem_from(exc: msgspec.ValidationError, prefix: str = "") -> ApiProblem:
    message = str(exc)
    m = _PATH.search(message)
    where = m.group(1) if m else ""
    missing = _MISSING.search(message)
    field = ".".join(p for p in (prefix, where, missing.group(1) if missing else "") if p) or "body"
    detail = _PATH.sub("", message)
    return ApiProblem(422, f"{field}: {detail}", field=field, type_=TYPE_BASE + "invalid-parameter")


def query(q: Mapping[str, str], model: type[T]) -> T:
    """The query parameters ``model`` declares, converted from strings ("3" → 3, "true" → True) and checked
    against its constraints; other parameters are left to the handler."""
    fields = _query_names(model)
    given = {k: v.strip() for k, v in q.items() if k in fields}
    try:
        return msgspec.convert(given, model, strict=False)
    except msgspec.ValidationError as exc:
        raise problem_from(exc) from None


@functools.cache
def _query_names(model: type) -> frozenset[str]:
    """The parameter names of a query model, once per model: ``msgspec.structs.fields`` evaluates the class's
    annotations on every call (about 2 ms, as much as a whole plan)."""
    return frozenset(f.encode_name for f in msgspec.structs.fields(model))


def check(obj: object, model: type[T], prefix: str = "") -> T:
    """``obj`` (already parsed JSON) as ``model``, or a 422 naming the field (``prefix`` before the path).
    Lenient in JSON's own sense: 2.0 is the integer 2 (JSON Schema's `integer` allows it)."""
    try:
        return msgspec.convert(obj, model, strict=False)
    except msgspec.ValidationError as exc:
        raise problem_from(exc, prefix) from None


def body(raw: bytes, model: type[T]) -> T:
    """A JSON body decoded into ``model`` (a 400 for malformed JSON, a 422 naming the field for a bad value)."""
    try:
        return msgspec.json.decode(raw, type=model)
    except msgspec.ValidationError as exc:
        raise problem_from(exc) from None
    except msgspec.DecodeError as exc:
        raise ApiProblem(400, f"the body is not valid JSON: {exc}", field="body",
                         type_=TYPE_BASE + "malformed-json") from None


def query_parameters(model: type) -> list[dict]:
    """OpenAPI query parameters for every field of a query model (schema, description, required)."""
    (ref,), components = msgspec.json.schema_components([model], ref_template="#/components/schemas/{name}")
    schema = components[model.__name__]
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("default", None)
        if "anyOf" in prop:  # `X | None`: the parameter is optional, its schema is X's
            options = [o for o in prop.pop("anyOf") if o.get("type") != "null"]
            prop.update(options[0] if len(options) == 1 else {"anyOf": options})
        out.append({"name": name, "in": "query", "required": name in required, "description": description,
                    "schema": prop})
    return out


async def read_body(request: web.Request, model: type[T]) -> T:
    """The request's JSON body as ``model`` (415 for another content type, 400 when empty or malformed)."""
    ctype = request.content_type
    if ctype not in ("application/json", "") and not ctype.endswith("+json"):
        raise ApiProblem(415, f"send the body as application/json, not {ctype}", field="Content-Type")
    raw = await request.read()
    if not raw:
        raise ApiProblem(400, "a JSON body is required", field="body")
    return body(raw, model)
