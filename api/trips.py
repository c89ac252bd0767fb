"""GET /v1/trips/{id}?date=: one trip as it runs on a service day — its stops and times, route, headsign, shape.

The ride is built by the same code as an itinerary leg (routing.itinerary.ride_leg, boarding at the first stop and
alighting at the last), so names, colours and geometry look the same here as in a plan.
"""
from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp import web

from api import params, respond
from api.endpoint import add
from api.keys import SERVICES
from api.models.search import Trip as TripModel
from api.openapi import ACCEPT_LANGUAGE, ok, path_param, problem, query
from api.problems import ApiProblem
from api.search import SEARCH_ROLES, language_headers, outside_service
from maas.platform.auth import Role
from routing.itinerary import iso, ride_leg
from routing.realtime import realtime_of
from routing.names import localise_names
from routing.raptor import RideLeg
from routing.timetable import TransitModel


def find_trip(model: TransitModel, trip_id: str, date: dt.date) -> int | None:
    """The trip's index among those that start on service day ``date`` (a frequency run: ``trip@HH:MM:SS``), in a
    model joining that day: the model's index of its trip ids, not a scan decoding each (`TripIds`)."""
    return model.trip_on(trip_id, date)


def trip_details(model: TransitModel, t: int) -> dict:
    off, n = model.trip_times_offset(t)
    p = int(model.trip_pattern[t])
    base = int(model.pattern_stops_start[p])
    stops = model.pattern_stops[base:base + n]
    deps = model.departures_of_trip(t)
    leg = ride_leg(model, RideLeg(p, t, 0, n - 1, int(stops[0]), int(stops[-1]), int(deps[0]),
                                  int(model.st_arr[off + n - 1]))).to_dict()
    calls = []
    for pos in range(n):
        s = int(stops[pos])
        calls.append({"stop_id": model.stop_ids[s], "name": model.stop_names[s],
                      "name_en": model.stop_names_en[s] or None, "lat": round(float(model.stop_lat[s]), 7),
                      "lon": round(float(model.stop_lon[s]), 7), "sequence": int(model.st_seq[off + pos]),
                      "arrival": iso(model, int(model.st_arr[off + pos])),
                      "departure": iso(model, int(deps[pos])),
                      "pickup": bool(model.st_pickup[off + pos] == 1),
                      "drop_off": bool(model.st_dropoff[off + pos] == 1)})
    ov = realtime_of(model)
    if ov is not None:  # realtime: the timetable's times and the delay beside each call
        for pos, call in enumerate(calls):
            sched = ov.scheduled(t, pos)
            if sched is not None:
                call.update(scheduled_arrival=iso(model, sched[0]), scheduled_departure=iso(model, sched[1]),
                            delay_s=int(deps[pos]) - sched[1])
            if ov.skipped[off + pos]:
                call["skipped"] = True
    return {"trip_id": leg["trip_id"], "service_date": leg["service_date"], "mode": leg["mode"],
            "operator": leg["operator"], "agency": leg["agency"], "route": leg["route"],
            "headsign": leg["headsign"] or calls[-1]["name"], "booking_required": leg["booking_required"],
            "departure": calls[0]["departure"], "arrival": calls[-1]["arrival"],
            "distance_m": leg["distance_m"], "stops": calls, "geometry": leg["geometry"],
            "realtime": bool(ov is not None and ov.is_realtime(t)), "cancelled": False}


async def trip(request: web.Request) -> web.Response:
    trip_id = request.match_info["id"]
    transit = request.app[SERVICES].transit
    date = params.date_param(request.query, "date", request.app[SERVICES].today())  # today on the feeds' clock
    outside = outside_service(request, date, "date")
    if outside is not None:
        raise ApiProblem(404, f"no trip {trip_id!r} runs on {date}: {outside['message']}", field="id")

    def work() -> dict | None:
        model = transit.model_for(date)
        t = find_trip(model, trip_id, date)
        if t is None:
            return None
        ov = transit.overlay_of(model)
        if ov is None:
            return trip_details(model, t)
        rt = int(ov.base_trip_rt[t])
        if rt < 0:  # cancelled (GTFS-Realtime): the timetable's calls, marked
            return {**trip_details(model, t), "realtime": True, "cancelled": True}
        return trip_details(ov.model, rt)

    found = await asyncio.get_running_loop().run_in_executor(transit.executor, work)
    if found is None:
        raise ApiProblem(404, f"no trip {trip_id!r} runs on {date}", field="id")
    lang = params.language(request.headers)
    if lang != "ja":
        names = transit.names
        localise_names(found, lang, names)
        for call in found["stops"]:
            localise_names(call, lang)
    return respond.json(found, headers=language_headers(lang))


def add_routes(app: web.Application) -> None:
    add(app, "GET", "/v1/trips/{id}", trip, roles=SEARCH_ROLES | {Role.DISASTER}, spec={
        "operationId": "trip", "summary": "A trip on a service day: stops, times, route, headsign, shape",
        "tags": ["search"],
        "parameters": [
            path_param("id", "trip id, e.g. toei-subway:E-0800-1 (from a plan leg or a departure)"),
            query("date", params.DATE_SCHEMA, "service date YYYY-MM-DD (default today)"),
            ACCEPT_LANGUAGE,
        ],
        "responses": {**ok(TripModel),
                      "404": problem("No such trip on that service date")},
    })
