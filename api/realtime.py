"""GTFS-Realtime: operators push trip updates and vehicle positions, everyone reads current vehicles, the per
operator status, and the platform's merged TripUpdates / VehiclePositions feeds (protobuf, or JSON like
`GET /v1/alerts`). Parsing, matching, storage and expiry are the RealtimeService's (maas/disruptions/realtime.py).

An operator key may push only its own operator's data (like feed publishing); an admin key any operator's.
"""
from __future__ import annotations

import msgspec
from aiohttp import web

from api import params, respond
from api.closures import PROTOBUF, _prefers_json
from api.endpoint import ANY_ROLE, add, principal
from api.feeds import _read_limited
from api.keys import SERVICES
from api.models.feeds import NAMESPACE_PATTERN
from api.models.realtime import (IngestReport, RealtimeFeedMessage, RealtimeStatus, RealtimeStatusList,
                                 VehicleList)
from api.openapi import ok, path_param, problem, query
from api.problems import TYPE_BASE, ApiProblem
from feeds.gtfs import check_namespace
from feeds.gtfs_rt import MAX_RT_PAYLOAD_BYTES, RealtimeError, media_kind
from maas.disruptions.realtime import UnknownOperator, report_dict
from maas.platform.auth import Role

PUSHERS = frozenset({Role.OPERATOR, Role.ADMIN})
STREAMS = ("trip-updates", "vehicle-positions")
_NUM = r"\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*"
BBOX_PATTERN = f"^{_NUM},{_NUM},{_NUM},{_NUM}$"


def _service(request: web.Request):
    svc = request.app[SERVICES].realtime
    if svc is None:
        raise ApiProblem(503, "realtime is not configured on this server")
    return svc


def _operator_name(request: web.Request) -> str:
    op = request.match_info["operator"]
    try:
        check_namespace(op)
    except ValueError as exc:
        raise ApiProblem(422, str(exc), field="operator") from None
    return op


def _unknown(op: str) -> ApiProblem:
    return ApiProblem(404, f"no live feed has the operator {op!r}: realtime data must refer to a published "
                           f"feed's trips (GET /v1/feeds lists them)", field="operator")


def _rt_problem(err: RealtimeError) -> ApiProblem:
    if err.field == "Content-Type":
        return ApiProblem(415, err.detail, field="Content-Type")
    return ApiProblem(422, err.detail, field=err.field or "body", type_=TYPE_BASE + "invalid-realtime")


async def push(request: web.Request) -> web.Response:
    svc = _service(request)
    op = _operator_name(request)
    if not principal(request).may_act_for_operator(op):
        raise ApiProblem(403, f"this key may not send realtime data for operator {op!r}: an operator key sends "
                              f"only its own", field="operator")
    feed = params.string_param(request.query, "feed", max_len=40)
    if feed is not None and feed not in STREAMS:
        raise ApiProblem(422, f"feed must be one of {', '.join(STREAMS)}", field="feed")
    if not svc.known_operator(op):
        raise _unknown(op)
    ctype = request.headers.get("Content-Type")
    try:
        media_kind(ctype, b"x")  # refuse an unsupported type before reading the body
    except RealtimeError as err:
        raise _rt_problem(err) from None
    raw = await _read_limited(request.content.read, MAX_RT_PAYLOAD_BYTES)  # past the app's 2 MB default
    if not raw:
        raise ApiProblem(400, "an empty body: send a GTFS-Realtime FeedMessage", field="body")
    try:
        report = await svc.ingest(raw, ctype, op, feed=feed)
    except RealtimeError as err:
        raise _rt_problem(err) from None
    except UnknownOperator:
        raise _unknown(op) from None
    return respond.model(msgspec.convert(report_dict(report), IngestReport))


async def status(request: web.Request) -> web.Response:
    svc = _service(request)
    op = _operator_name(request)
    if not svc.known_operator(op) and op not in svc.operators():
        raise _unknown(op)
    body = svc.status(op)
    return respond.model(msgspec.convert(body, RealtimeStatus))


async def status_all(request: web.Request) -> web.Response:
    items = _service(request).statuses()
    return respond.model(msgspec.convert({"operators": items, "count": len(items)}, RealtimeStatusList))


def _bbox(q) -> tuple[float, float, float, float] | None:
    text = params.string_param(q, "bbox", max_len=200)
    if text is None:
        return None
    parts = text.split(",")
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) != 4 or not all(v == v and abs(v) != float("inf") for v in vals):
        raise ApiProblem(422, "bbox is min_lon,min_lat,max_lon,max_lat (four numbers)", field="bbox")
    w, s, e, n = vals
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise ApiProblem(422, "bbox needs -180 ≤ min_lon ≤ max_lon ≤ 180 and -90 ≤ min_lat ≤ max_lat ≤ 90",
                         field="bbox")
    return w, s, e, n


async def vehicles(request: web.Request) -> web.Response:
    svc = _service(request)
    q = request.query
    operator = params.string_param(q, "operator", max_len=200)
    route = params.string_param(q, "route", max_len=200)
    bbox = _bbox(q)
    items = svc.vehicles(operator=operator, route=route, bbox=bbox)
    snap = svc.snapshot()
    return respond.model(msgspec.convert({"vehicles": items, "count": len(items), "stale": sorted(snap.stale),
                                          "expired": svc.vehicles_expired(), "version": snap.version}, VehicleList))


def _format(request: web.Request) -> str:
    fmt = params.string_param(request.query, "format", max_len=20)
    if fmt is not None and fmt not in ("json", "pb", "protobuf"):
        raise ApiProblem(422, "format is json or pb (protobuf, the default)", field="format")
    if fmt is None:
        return "json" if _prefers_json(request.headers.get("Accept", "")) else "pb"
    return "json" if fmt == "json" else "pb"


def _feed_handler(kind: str):
    async def handler(request: web.Request) -> web.Response:
        svc = _service(request)
        fmt = _format(request)
        body, version = svc.feed_bytes(kind, fmt)
        headers = {"X-Realtime-Version": str(version)}
        if fmt == "json":
            return respond.json(body, headers=headers)
        return web.Response(body=body, content_type=PROTOBUF, headers=headers)

    handler.__name__ = f"gtfs_rt_{kind.replace('-', '_')}"
    return handler


def add_routes(app: web.Application) -> None:
    op_param = path_param("operator", "operator id (the feed namespace), e.g. toei-train", NAMESPACE_PATTERN)
    add(app, "POST", "/v1/realtime/{operator}", push, roles=PUSHERS, max_body=MAX_RT_PAYLOAD_BYTES, spec={
        "operationId": "pushRealtime", "summary": "Push GTFS-Realtime trip updates or vehicle positions",
        "tags": ["realtime"],
        "description": "A GTFS-Realtime FeedMessage as protobuf (application/x-protobuf or "
                       "application/octet-stream) or protobuf's JSON mapping (application/json). FULL_DATASET (or "
                       "no incrementality) replaces the operator's trip updates / vehicle positions, DIFFERENTIAL "
                       "merges (is_deleted removes). A message older than the stored one is ignored "
                       "(`ignored_out_of_order`). Entities matching no trip or stop of the operator's live feed "
                       "are counted in `unmatched`, not refused. Trip, route and stop ids are the feed's raw ids "
                       "(the operator namespace is added). A bad message is refused whole (422 naming the field) "
                       "and changes nothing. Operator keys: their own operator only.",
        "parameters": [op_param, query("feed", {"type": "string", "enum": list(STREAMS)},
                                       "the stream the message belongs to (needed to apply an empty dataset; "
                                       "default: the kinds of entity it has)")],
        "requestBody": {"required": True, "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary", "minLength": 1,
                                                  "description": "a GTFS-Realtime FeedMessage"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary", "minLength": 1}},
            "application/json": {"schema": RealtimeFeedMessage}}},
        "responses": {**ok(IngestReport, "Applied, or ignored as out of order (see the report)"),
                      "400": problem("Empty body"), "404": problem("No live feed for this operator"),
                      "413": problem("Too large"), "415": problem("Not protobuf or JSON"),
                      "422": problem("Not a valid GTFS-Realtime message, or a value out of range (`field` names "
                                     "it); nothing changed")}})
    add(app, "GET", "/v1/realtime", status_all, roles=ANY_ROLE, spec={
        "operationId": "realtimeStatuses", "summary": "Realtime status of every operator", "tags": ["realtime"],
        "description": "The status of each operator with realtime data or a configured pull source (the same "
                       "fields as `GET /v1/realtime/{operator}`), by operator id.",
        "responses": ok(RealtimeStatusList)})
    add(app, "GET", "/v1/realtime/{operator}", status, roles=ANY_ROLE, spec={
        "operationId": "realtimeStatus", "summary": "Realtime status of an operator", "tags": ["realtime"],
        "description": "Last message time, entity counts, unmatched entities, staleness per stream, this "
                       "worker's ingest counters and the pull sources.",
        "parameters": [op_param],
        "responses": {**ok(RealtimeStatus), "404": problem("Unknown operator")}})
    add(app, "GET", "/v1/vehicles", vehicles, roles=ANY_ROLE, spec={
        "operationId": "vehicles", "summary": "Current vehicle positions", "tags": ["realtime"],
        "description": "Positions from the operators' GTFS-Realtime vehicle feeds that have not expired, with the "
                       "stop each vehicle is at or heading to. A position whose own timestamp is older than the "
                       "realtime max age is left out (counted in `expired`) even when its feed is current.",
        "parameters": [query("operator", {"type": "string", "maxLength": 200}, "only this operator"),
                       query("route", {"type": "string", "maxLength": 200}, "only this route id (namespaced)"),
                       query("bbox", {"type": "string", "maxLength": 200, "pattern": BBOX_PATTERN},
                             "min_lon,min_lat,max_lon,max_lat (WGS 84 degrees)")],
        "responses": ok(VehicleList)})
    for kind, op_id, what in (("trip-updates", "gtfsRtTripUpdates", "trip updates"),
                              ("vehicle-positions", "gtfsRtVehiclePositions", "vehicle positions")):
        add(app, "GET", f"/v1/gtfs-rt/{kind}", _feed_handler(kind), roles=ANY_ROLE, spec={
            "operationId": op_id, "summary": f"GTFS-Realtime feed of every operator's current {what}",
            "tags": ["realtime"],
            "description": "One FULL_DATASET FeedMessage for all operators (ids namespaced, entity ids "
                           "`operator:id`); expired data left out (and vehicle positions whose own timestamp is "
                           "older than the max age). Protobuf by default; JSON with ?format=json "
                           "or Accept: application/json.",
            "parameters": [query("format", {"type": "string", "enum": ["pb", "protobuf", "json"]},
                                 "pb (default) or json")],
            "responses": {"200": {"description": "FeedMessage", "content": {
                PROTOBUF: {"schema": {"type": "string", "format": "binary",
                                      "description": "GTFS-Realtime FeedMessage (protobuf)"}},
                "application/json": {"schema": RealtimeFeedMessage}}}}})
