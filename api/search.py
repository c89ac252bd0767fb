"""Search endpoints: trip planning, stop look-up and next departures."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

from aiohttp import web

from api import params, respond
from api.departures import next_departures, resolve_stops
from api.endpoint import add
from api.keys import SERVICE_WINDOW, SERVICES, STOP_INDEX
from api.openapi import ok, path_param, query
from api.problems import TYPE_BASE, ApiProblem, invalid
from api.stopindex import StopIndex
from maas.auth import Role
from maas.disruptions.avoid import ClosedByClosure
from maas.disruptions.touches import summary
from routing.planner import PlanError, PlanOptions
from routing.timetable import MODE_NAMES

TOKYO = params.TOKYO
SEARCH_ROLES = frozenset({Role.PARTNER, Role.OPERATOR})
PLAN_MODES = tuple(m for m in MODE_NAMES if m != "WALK")
MAX_DAYS_AHEAD = 400  # the model is built per date; refuse far-off dates instead of building years of empty days


def service_window(network) -> tuple[dt.date, dt.date]:
    """Dates any feed has service on (± a day for trips past midnight, within the request date bounds), to refuse
    dates with no timetable."""
    first, last = [], []
    for feed in network.feeds:
        a, b = feed.service_dates()
        if a is not None:
            first.append(a)
            last.append(b)
    if not first:
        today = dt.datetime.now(TOKYO).date()
        return today, today
    # a feed may say its service runs to 9999-12-31: clamp to the dates a request may name before any arithmetic
    lo, hi = max(min(first), params.EARLIEST), min(max(last), params.LATEST)
    return lo - dt.timedelta(days=1), hi + dt.timedelta(days=1)


def _check_date(request: web.Request, when: dt.datetime, field: str) -> None:
    lo, hi = request.app[SERVICE_WINDOW]
    hi = min(hi, dt.datetime.now(TOKYO).date() + dt.timedelta(days=MAX_DAYS_AHEAD))
    if not lo <= when.date() <= hi:
        raise invalid(field, f"{field} {when.date()} is outside the timetables' service dates {lo} – {hi}")


def plan_options(q) -> PlanOptions:
    """PlanOptions from the query; only the given parameters override the planner's defaults."""
    given = {
        "num_itineraries": params.int_param(q, "num", None, 1, 10),
        "max_transfers": params.int_param(q, "max_transfers", None, 0, 8),
        "max_walk_m": params.float_param(q, "max_walk_m", None, 0.0, 5000.0),
        "walk_speed": params.float_param(q, "walk_speed", None, 0.3, 3.0),
        "min_transfer_s": params.int_param(q, "min_transfer_s", None, 0, 1800),
    }
    if "wheelchair" in q:
        given["wheelchair"] = params.bool_param(q, "wheelchair", False)
    modes = params.enum_list(q, "modes", PLAN_MODES)
    if modes is not None:
        given["modes"] = list(modes)
    known = {f.name for f in dataclasses.fields(PlanOptions)}
    return PlanOptions(**{k: v for k, v in given.items() if v is not None and k in known})


async def plan(request: web.Request) -> web.Response:
    q = request.query
    origin, destination = params.place(q, "from"), params.place(q, "to")
    depart, arrive = params.datetime_param(q, "depart_at"), params.datetime_param(q, "arrive_by")
    if depart is not None and arrive is not None:
        raise ApiProblem(422, "give depart_at or arrive_by, not both", field="arrive_by",
                         errors=[{"field": "depart_at", "message": "exclusive with arrive_by"},
                                 {"field": "arrive_by", "message": "exclusive with depart_at"}])
    when = arrive or depart or dt.datetime.now(TOKYO)
    field = "arrive_by" if arrive else "depart_at"
    _check_date(request, when, field)
    options = plan_options(q)
    transit = request.app[SERVICES].transit
    try:
        itineraries = await transit.plan(origin.text, destination.text, when, arrive_by=arrive is not None,
                                         options=options)
    except ClosedByClosure as exc:
        raise ApiProblem(409, str(exc), field="to", type_=TYPE_BASE + "closed-by-closure",
                         extra={"closures": [summary(c) for c in exc.closures]}) from None
    except PlanError as exc:
        raise invalid(getattr(exc, "field", None) or _guess_field(str(exc), origin, destination, field),
                      str(exc)) from None
    return respond.json({"itineraries": itineraries})


def _guess_field(message: str, origin: params.Place, destination: params.Place, when_field: str) -> str:
    """Which input a planner error is about: its messages quote the place text, or name the service date."""
    if repr(origin.text) in message:
        return "from"
    if repr(destination.text) in message:
        return "to"
    if "service date" in message:
        return when_field
    for name in ("max_transfers", "walk_speed", "max_walk_m", "min_transfer_s", "modes"):
        if name in message:
            return name
    return "num" if "num_itineraries" in message else "from"


async def stops(request: web.Request) -> web.Response:
    q = request.query
    text = params.string_param(q, "q", max_len=100)
    near = params.coord(q["near"].strip(), "near") if "near" in q else None
    radius = params.float_param(q, "radius", 500.0, 1.0, 5000.0)
    limit = params.int_param(q, "limit", 20, 1, 200)
    if text is None and near is None:
        raise invalid("q", "give q (a name in Japanese, kana or English) or near=lat,lon")
    index = request.app[STOP_INDEX]
    matches = index.search(text, limit=10_000) if text is not None else None
    if near is not None:
        matches = index.near(near[0], near[1], radius, limit, among=matches)
    return respond.json({"stops": [index.to_dict(m) for m in matches[:limit]]})


async def departures(request: web.Request) -> web.Response:
    q = request.query
    stop_id = request.match_info["id"]
    at = params.datetime_param(q, "at") or dt.datetime.now(TOKYO)
    window_min = params.int_param(q, "window_min", 120, 1, 1440)
    limit = params.int_param(q, "limit", 20, 1, 200)
    _check_date(request, at, "at")
    transit = request.app[SERVICES].transit
    model = await asyncio.get_running_loop().run_in_executor(transit.executor, transit.model_for, at.date())
    stops_idx = resolve_stops(model, stop_id)
    if stops_idx is None:
        raise ApiProblem(404, f"no stop or station {stop_id!r} in the timetable", field="id")
    mask = transit.mask_provider(model, transit.walker) if transit.mask_provider else None
    midnight = dt.datetime.combine(at.date(), dt.time(), TOKYO)
    t0 = int((at - midnight).total_seconds())
    rows = next_departures(model, stops_idx, t0, window_min * 60, limit, mask)
    warnings = request.app[SERVICES].warnings
    found: dict[str, dict] = {}
    if warnings is not None:
        ti = await asyncio.get_running_loop().run_in_executor(transit.executor, warnings.touch_index, model,
                                                              transit.walker)
        found = stop_warnings(ti, [model.stop_ids[s] for s in stops_idx], at, at + dt.timedelta(minutes=window_min))
        for r in rows:
            hits = [cid for cid in found.get(r["stop_id"], {}).get("ids", ())]
            if hits:
                r["warnings"] = hits
    all_w = {w["id"]: w for v in found.values() for w in v["summaries"]}
    return respond.json({"stop_id": stop_id, "at": at.isoformat(), "departures": rows,
                         "closed": bool(rows) and all(r["status"] == "closed" for r in rows),
                         "affected": bool(all_w), "warnings": list(all_w.values())})


def stop_warnings(ti, stop_ids: list[str], t0: dt.datetime, t1: dt.datetime) -> dict[str, dict]:
    """Per stop id: the warnings and closures covering it at some time in ``[t0, t1)``."""
    out: dict[str, dict] = {}
    for sid in stop_ids:
        cs = [ti.closures[k] for k in ti.by_stop.get(sid, ()) if ti.closures[k].overlaps(t0, t1)]
        if cs:
            out[sid] = {"ids": [c.id for c in cs], "summaries": [summary(c) for c in cs]}
    return out


_WHEN = {"type": "string", "format": "date-time"}


def add_routes(app: web.Application) -> None:
    network = app[SERVICES].transit.network
    app[STOP_INDEX] = StopIndex.from_network(network)
    app[SERVICE_WINDOW] = service_window(network)
    add(app, "GET", "/v1/plan", plan, roles=SEARCH_ROLES, spec={
        "operationId": "plan", "summary": "Plan a trip", "tags": ["search"],
        "description": "Itineraries from `from` to `to`, departing at `depart_at` or arriving by `arrive_by` "
                       "(ISO-8601; default: now, Asia/Tokyo when no offset is given). Closures in force are avoided.",
        "parameters": [
            query("from", {"type": "string", "minLength": 1}, "'lat,lon' or a stop/station id", True),
            query("to", {"type": "string", "minLength": 1}, "'lat,lon' or a stop/station id", True),
            query("depart_at", _WHEN, "departure time (exclusive with arrive_by)"),
            query("arrive_by", _WHEN, "arrival deadline (exclusive with depart_at)"),
            query("num", {"type": "integer", "minimum": 1, "maximum": 10}, "number of itineraries"),
            query("max_transfers", {"type": "integer", "minimum": 0, "maximum": 8}, "most transfers"),
            query("max_walk_m", {"type": "number", "minimum": 0, "maximum": 5000}, "longest walk, metres"),
            query("walk_speed", {"type": "number", "minimum": 0.3, "maximum": 3.0}, "metres per second"),
            query("min_transfer_s", {"type": "integer", "minimum": 0, "maximum": 1800}, "minimum change time"),
            query("wheelchair", {"type": "boolean"}, "only step-free stops and accessible trips"),
            query("modes", {"type": "string", "pattern": "^[A-Za-z_]+(,[A-Za-z_]+)*$"},
                  f"comma-separated subset of {', '.join(PLAN_MODES)}"),
        ],
        "responses": {**ok({"type": "object", "required": ["itineraries"], "properties": {
            "itineraries": {"type": "array", "items": {"$ref": "#/components/schemas/Itinerary"}}}}),
            "409": {"description": "No itinerary while a closure is in force (`closures` names them)", "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
    })
    add(app, "GET", "/v1/stops", stops, roles=SEARCH_ROLES | {Role.DISASTER}, spec={
        "operationId": "stops", "summary": "Find stops and stations by name or position", "tags": ["search"],
        "parameters": [
            query("q", {"type": "string", "maxLength": 100}, "name in Japanese, kana or English (substring)"),
            query("near", {"type": "string"}, "'lat,lon': stops around a point, nearest first"),
            query("radius", {"type": "number", "minimum": 1, "maximum": 5000}, "metres around `near` (500)"),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "most results (20)"),
        ],
        "responses": ok({"type": "object", "required": ["stops"], "properties": {
            "stops": {"type": "array", "items": {"$ref": "#/components/schemas/Stop"}}}}),
    })
    add(app, "GET", "/v1/stops/{id}/departures", departures, roles=SEARCH_ROLES | {Role.DISASTER}, spec={
        "operationId": "departures", "summary": "Next departures at a stop or station", "tags": ["search"],
        "description": "Departures closed by a closure in force are listed with status `closed`.",
        "parameters": [
            path_param("id", "stop or station id, e.g. toei-subway:E28"),
            query("at", _WHEN, "from this time (default now)"),
            query("window_min", {"type": "integer", "minimum": 1, "maximum": 1440}, "minutes ahead (120)"),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "most departures (20)"),
        ],
        "responses": {**ok({"type": "object", "required": ["stop_id", "departures"], "properties": {
            "stop_id": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
            "closed": {"type": "boolean"}, "affected": {"type": "boolean"},
            "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Warning"}},
            "departures": {"type": "array", "items": {"$ref": "#/components/schemas/Departure"}}}}),
            "404": {"description": "Unknown stop", "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}},
    })
