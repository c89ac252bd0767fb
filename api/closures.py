"""Closures from disaster-warning systems and operators, and the GTFS-RT alerts feed built from them.

The payload format is chosen by Content-Type (JSON, CAP 1.2 XML, GTFS-RT protobuf); the ClosureService parses,
checks every id against the model and applies all-or-nothing. An operator key may only send GTFS-RT alerts, and
their ids are namespaced to its own operator, so it can never close another operator's lines.
"""
from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp import web

from api import params, respond
from api.endpoint import ANY_ROLE, add, principal
from api.keys import SERVICES
from api.models.closures import Applied, ClosureIn, ClosureList, ClosuresDocument, FeedMessage
from api.models.examples import CAP_EXAMPLE, EXAMPLES
from api.openapi import ok, path_param, problem, query
from api.problems import TYPE_BASE, ApiProblem
from feeds.closure_json import MAX_PAYLOAD_BYTES, ClosureError
from maas.platform.auth import Role
from maas.disruptions.closures import content_kind

WRITERS = frozenset({Role.DISASTER, Role.OPERATOR})
PROTOBUF = "application/x-protobuf"
def _closures(request: web.Request):
    svc = request.app[SERVICES].closures
    if svc is None:
        raise ApiProblem(503, "closures are not configured on this server")
    return svc


def _closure_problem(err: ClosureError) -> ApiProblem:
    if err.field == "content-type":
        return ApiProblem(415, err.detail, field="Content-Type")
    return ApiProblem(422, err.detail, field=err.field or "body", type_=TYPE_BASE + "invalid-closure")


async def post_closures(request: web.Request) -> web.Response:
    svc = _closures(request)
    who = principal(request)
    ctype = request.headers.get("Content-Type", "application/json")
    try:
        kind = content_kind(ctype)
    except ClosureError as err:
        raise _closure_problem(err) from None
    namespace = None
    if who.role is Role.OPERATOR:
        if kind != "gtfs-rt":
            raise ApiProblem(403, "an operator key may only send GTFS-Realtime alerts (application/x-protobuf); "
                                  "its entity ids are taken as its own operator's", field="Content-Type")
        namespace = who.operator
    raw = await request.read()
    if not raw:
        raise ApiProblem(400, "an empty body: send the closure payload", field="body")
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ApiProblem(413, f"closure payloads are at most {MAX_PAYLOAD_BYTES} bytes", field="body")
    source = f"{who.role.value}:{who.name}"
    payload: bytes | str = raw
    try:
        result = await svc.accept(payload, ctype, namespace=namespace, source=source)
    except ClosureError as err:
        raise _closure_problem(err) from None
    accepted = await asyncio.to_thread(lambda: [svc.json_form(c) for c in result.accepted])  # big areas
    body = {"accepted": accepted, "lifted": list(result.lifted), "version": result.version}
    if result.unknown_areas:  # JMA areas with no polygon (e.g. 横浜市北部): reported, not applied
        body["unknown_areas"] = list(result.unknown_areas)
    return await respond.json_off_loop(body, status=201)


async def list_closures(request: web.Request) -> web.Response:
    svc = _closures(request)
    q = request.query
    active = params.bool_param(q, "active", False)
    at = params.datetime_param(q, "at")
    items = svc.list_active(at) if active or at else svc.list_all()
    version = svc.version
    # stored bytes embedded as they are (areas of 20,000 vertices), off the loop
    body = await asyncio.to_thread(lambda: {"closures": [svc.json_form(c) for c in items], "version": version})
    return await respond.json_off_loop(body)


async def delete_closure(request: web.Request) -> web.Response:
    svc = _closures(request)
    cid = request.match_info["id"]
    who = principal(request)
    closure = svc.get(cid)
    if closure is None:
        raise ApiProblem(404, f"no closure {cid!r}", field="id")
    if who.role is Role.OPERATOR and closure.source != f"operator:{who.name}":
        raise ApiProblem(403, "an operator key may only lift the closures it sent", field="id")
    await svc.lift(cid)
    return web.Response(status=204)


async def alerts(request: web.Request) -> web.Response:
    """GTFS-RT Alerts: protobuf unless the client prefers JSON (Accept: application/json)."""
    svc = _closures(request)
    transit = request.app[SERVICES].transit
    today = request.app[SERVICES].today()  # the service day on the feeds' clock
    model = await asyncio.get_running_loop().run_in_executor(transit.executor, transit.model_for, today)
    feed = svc.alerts(model)
    accept = request.headers.get("Accept", "")
    if _prefers_json(accept):
        from feeds.gtfsrt_alerts import alerts_feed_json

        return respond.json(alerts_feed_json(feed))
    return web.Response(body=feed.SerializeToString(), content_type=PROTOBUF)


def _prefers_json(accept: str) -> bool:
    """Simple q-less negotiation: JSON when it is listed before any protobuf type."""
    a = accept.lower()
    j = min((a.find(t) for t in ("application/json", "text/json") if t in a), default=-1)
    p = min((a.find(t) for t in ("protobuf", "octet-stream") if t in a), default=-1)
    return j >= 0 and (p < 0 or j < p)


def add_routes(app: web.Application) -> None:
    add(app, "POST", "/v1/closures", post_closures, roles=WRITERS, max_body=MAX_PAYLOAD_BYTES, spec={
        "operationId": "postClosures", "summary": "Publish closures (JSON, CAP 1.2, JMA XML or GTFS-RT alerts)",
        "tags": ["closures"],
        "description": "Content-Type picks the format: application/json (our closure JSON: one object, a list, "
                       "or {closures: [...]}), application/cap+xml or application/xml (CAP 1.2; Update/Cancel "
                       "replace or lift what they reference; an XML body in the JMA namespace "
                       "http://xml.kishou.go.jp/jmaxml1/ is read as a JMA 防災情報XML telegram: VPWW53/54/55, VXWW50, "
                       "VXKO, VPOA50, mapped onto municipality polygons, close/avoid/inform by the warning policy; "
                       "area codes without a polygon come back in `unknown_areas`), application/x-protobuf (GTFS-RT FeedMessage of "
                       "alerts). All-or-nothing. Operator keys: GTFS-RT only, ids in their own namespace.",
        "requestBody": {"required": True, "description": "docs/closures.md describes every format", "content": {
            "application/json": {"schema": {"oneOf": [ClosureIn, {"type": "array", "items": ClosureIn, "minItems": 1},
                                                      ClosuresDocument]},
                                 "example": EXAMPLES[ClosureIn]},
            "application/cap+xml": {"schema": {"type": "string", "description": "a CAP 1.2 <alert>"},
                                    "example": CAP_EXAMPLE},
            "application/xml": {"schema": {"type": "string", "description": "a CAP 1.2 <alert>, or a JMA "
                                           "防災情報XML <Report> (told apart by its namespace)"},
                                "example": CAP_EXAMPLE},
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary",
                                                  "description": "a GTFS-Realtime FeedMessage of alerts"}}}},
        "responses": {**ok(Applied, "Applied", status="201"),
                      "422": problem("A closure names no known stop, station, route or trip, an area is not a "
                                     "valid polygon, or a field is out of range (`field` names it)")}})
    add(app, "GET", "/v1/closures", list_closures, roles=ANY_ROLE, spec={
        "operationId": "listClosures", "summary": "Closures known to the service", "tags": ["closures"],
        "parameters": [query("active", {"type": "boolean"}, "only those in force now (or at `at`)"),
                       query("at", params.DATE_TIME_SCHEMA, "those in force at this time")],
        "responses": ok(ClosureList)})
    add(app, "DELETE", "/v1/closures/{id}", delete_closure, roles=WRITERS, spec={
        "operationId": "deleteClosure", "summary": "Lift a closure", "tags": ["closures"],
        "parameters": [path_param("id", "closure id")],
        "responses": {"204": {"description": "Lifted"}, "404": problem("No such closure")}})
    add(app, "GET", "/v1/alerts", alerts, roles=ANY_ROLE, spec={
        "operationId": "alerts", "summary": "GTFS-Realtime alerts feed of the current closures",
        "tags": ["closures"], "description": "Protobuf by default; JSON with Accept: application/json.",
        "responses": {"200": {"description": "FeedMessage", "content": {
            PROTOBUF: {"schema": {"type": "string", "format": "binary",
                                  "description": "GTFS-Realtime FeedMessage (protobuf)"}},
            "application/json": {"schema": FeedMessage}}}}})
