"""Search endpoints: trip planning, stop look-up and next departures."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterable

from aiohttp import web

from api import params, respond
from api.compress import packed
from api.departures import next_departures, resolve_stops
from api.endpoint import add
from api.keys import SERVICE_WINDOW, SERVICES
from api import typed
from api.models.search import BoardQuery, DeparturesResponse, PlanQuery, PlanResponse, StopsQuery, StopsResponse
from api.openapi import ACCEPT_LANGUAGE, ok, path_param, problem, query
from api.problems import TYPE_BASE, ApiProblem, invalid
from maas.platform.auth import Role
from maas.pricing.plan_fares import RidersError, parse_medium, parse_riders
from maas.disruptions.avoid import ClosedByClosure
from maas.disruptions.live_timetable import stale_notices
from maas.disruptions.touches import summary
from routing.names import UnknownPlace, localise_itinerary, localise_names
from routing.planner import PlanError, PlanOptions, SamePlace
from routing.timetable import MODE_NAMES

TOKYO = params.TOKYO
SEARCH_ROLES = frozenset({Role.PARTNER, Role.OPERATOR})
PLAN_MODES = tuple(m for m in MODE_NAMES if m != "WALK")
MAX_DAYS_AHEAD = 400  # the model is built per date; refuse far-off dates instead of building years of empty days


def service_window(transit) -> tuple[dt.date, dt.date]:
    """Dates any feed has service on (± a day for trips past midnight, within the request date bounds), to refuse
    dates with no timetable. Cheap: the network's span is made off the loop when it is built or swapped in
    (`TransitService.service_span`)."""
    first, last = transit.service_span()
    if first is None:
        today = transit.today()  # the feeds' own clock, not Tokyo's (a network with no calendar at all)
        return today, today
    # a feed may say its service runs to 9999-12-31: clamp to the dates a request may name before any arithmetic
    lo, hi = max(first, params.EARLIEST), min(last, params.LATEST)
    return lo - dt.timedelta(days=1), hi + dt.timedelta(days=1)


def outside_service(request: web.Request, when: dt.datetime | dt.date, field: str) -> dict | None:
    """A notice when ``when`` (a moment, or a service date) is outside every timetable (nothing can run then),
    else None. Such a request is valid: it is answered with no results and this notice, without building a
    model for a day with no service. A moment's date is its service date on the feeds' clock."""
    services = request.app[SERVICES]
    lo, hi = current_window(request.app)
    hi = min(hi, services.today() + dt.timedelta(days=MAX_DAYS_AHEAD))
    day = services.transit.local_date(when) if isinstance(when, dt.datetime) else when
    if lo <= day <= hi:
        return None
    return {"code": "outside_service_dates", "field": field,
            "message": f"{field} {day} is outside the timetables' service dates {lo} – {hi}"}


def current_window(app: web.Application) -> tuple[dt.date, dt.date]:
    """The service window of the network in use (`service_window`), remembered per network."""
    transit = app[SERVICES].transit
    network = transit.network
    cache = app[SERVICE_WINDOW]
    if cache.get("network") is not network:
        cache["window"], cache["network"] = service_window(transit), network
    return cache["window"]


def plan_options(q) -> PlanOptions:
    """PlanOptions from the query (decoded through PlanQuery); only the given parameters override the defaults."""
    typed_q = typed.query(q, PlanQuery)
    given = {"num_itineraries": typed_q.num, "max_transfers": typed_q.max_transfers, "max_walk_m": typed_q.max_walk_m,
             "walk_speed": typed_q.walk_speed, "min_transfer_s": typed_q.min_transfer_s,
             "wheelchair": typed_q.wheelchair}
    modes = params.enum_list(q, "modes", PLAN_MODES)
    if modes is not None:
        given["modes"] = list(modes)
    return PlanOptions(**{k: v for k, v in given.items() if v is not None and k in _PLAN_OPTION_NAMES})


_PLAN_OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(PlanOptions))  # (once, not per request)


async def plan(request: web.Request) -> web.Response:
    q = request.query
    origin, destination = params.place(q, "from"), params.place(q, "to")
    depart, arrive = params.datetime_param(q, "depart_at"), params.datetime_param(q, "arrive_by")
    cursor = params.cursor_param(q, "cursor", ("earlier", "later"))
    if cursor is not None:  # the page's time replaces the first request's
        depart, arrive = (cursor.at, None) if cursor.direction == "later" else (None, cursor.at)
    # both given: leave at or after depart_at and arrive by arrive_by (a depart-at search, later arrivals dropped)
    arrive_by = arrive is not None and depart is None
    when = depart or arrive or dt.datetime.now(TOKYO)
    field = "depart_at" if depart is not None or arrive is None else "arrive_by"
    options = plan_options(q)
    try:
        riders, medium = parse_riders(q.get("riders")), parse_medium(q.get("fare_media"))
    except RidersError as exc:
        raise invalid(exc.field, str(exc)) from None
    lang = params.language(request.headers)
    outside = outside_service(request, when, field)
    if outside is not None or (depart is not None and arrive is not None and arrive < depart):
        return _no_itineraries(outside or {
            "code": "arrive_before_depart", "field": "arrive_by",
            "message": f"arrive_by {arrive.isoformat()} is before depart_at {depart.isoformat()}"}, lang)
    services = request.app[SERVICES]
    transit = services.transit
    realtime = services.realtime
    snapshot = realtime.snapshot() if realtime is not None else None  # (on the loop: it may rebuild)
    accept, min_bytes = request.headers.get("Accept-Encoding"), services.settings.compress_min_bytes

    def work() -> tuple[bytes, list[tuple[str, str]]]:
        """Plan, fares, names and the answer's bytes (JSON, compressed as the middleware would: `packed`) in one
        trip to the thread pool: each hop costs a GIL hand-over, and the event loop serves every request."""
        its = transit.plan_sync(origin.text, destination.text, when, arrive_by=arrive_by, options=options)
        if depart is not None and arrive is not None:
            its = [it for it in its if dt.datetime.fromisoformat(it["arrival"]) <= arrive]
        services.add_fares(its, riders, medium)
        if lang != "ja":
            names = transit.names
            for it in its:
                localise_itinerary(it, lang, names)
        notices = stale_notices(snapshot, (leg.get("operator") for it in its for leg in it["legs"]))
        return packed(respond.dumps({"itineraries": its, "page": plan_page(its), "notices": notices}), accept,
                      min_bytes)

    try:
        body, added = await asyncio.get_running_loop().run_in_executor(transit.executor, work)
    except ClosedByClosure as exc:  # a route exists, but not while these closures are in force
        raise ApiProblem(409, str(exc), field="to", type_=TYPE_BASE + "closed-by-closure",
                         extra={"closures": [summary(c) for c in exc.closures]}) from None
    except SamePlace as exc:  # a fine question with nothing to answer: the traveller is there already
        return _no_itineraries({"code": "same_place", "field": "to", "message": str(exc)}, lang)
    except PlanError as exc:
        bad = getattr(exc, "field", None) or _guess_field(str(exc), origin, destination, field)
        if bad in ("from", "to") and not (origin if bad == "from" else destination).is_coord:
            text = origin.text if bad == "from" else destination.text
            raise ApiProblem(404, str(exc), field=bad, type_=TYPE_BASE + "unknown-place",
                             extra={"suggestions": await _suggestions(transit, text)}) from None
        raise invalid(bad, str(exc)) from None
    return respond.encoded(body, headers=[*language_headers(lang).items(), *added])


def _no_itineraries(notice: dict, lang: str) -> web.Response:
    """The answer to a valid plan request that has none, with the ``notice`` saying why."""
    return respond.json({"itineraries": [], "page": {"earlier": None, "later": None}, "notices": [notice]},
                        headers=language_headers(lang))


def warm_plan(app: web.Application, itineraries: list[dict]) -> None:
    """The API's share of a plan in the readiness warm-up (`Services.warmers`, off the event loop): the service
    window (its span, `TransitService.service_span`, is made by the warm-up at start and by each swap), the
    query's model (msgspec reads its annotations once: ~2 ms), names localised and the answer encoded as a request
    would have them."""
    current_window(app)
    plan_options({})
    names = app[SERVICES].transit.names
    for it in itineraries:
        localise_itinerary(it, "en", names)
    respond.dumps({"itineraries": itineraries, "page": plan_page(itineraries), "notices": []})


def realtime_notices(request: web.Request, operators: Iterable[str | None]) -> list[dict]:
    """`realtime_stale` notices: those of ``operators`` (the answer's) whose realtime expired, so their times in
    this answer are scheduled."""
    realtime = request.app[SERVICES].realtime
    return stale_notices(realtime.snapshot(), operators) if realtime is not None else []


PAGE_STEP_S = 60


def plan_page(itineraries: list[dict]) -> dict:
    """Cursors for the trips before and after these: later departs a minute after the last one's departure,
    earlier arrives a minute before the first one's arrival. Walk-only itineraries have no time to page from."""
    rides = [it for it in itineraries if any(leg["mode"] != "WALK" for leg in it["legs"])]
    if not rides:
        return {"earlier": None, "later": None}
    step = dt.timedelta(seconds=PAGE_STEP_S)
    last = max(dt.datetime.fromisoformat(it["departure"]) for it in rides) + step
    first = min(dt.datetime.fromisoformat(it["arrival"]) for it in rides) - step
    return {"earlier": params.make_cursor("earlier", first), "later": params.make_cursor("later", last)}


def language_headers(lang: str) -> dict[str, str]:
    return {"Content-Language": lang, "Vary": "Accept-Language"}


async def _suggestions(transit, text: str) -> list[dict]:
    """Stations named most like ``text`` ("did you mean"), for the problem's ``suggestions``."""
    def work() -> list[dict]:
        names = transit.names
        try:
            names.resolve(text)
        except UnknownPlace as exc:
            return [names.suggestion(i) for i in exc.suggestions]
        return []

    return await asyncio.get_running_loop().run_in_executor(transit.executor, work)


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
    opts = typed.query(q, StopsQuery)
    radius, limit = opts.radius, opts.limit
    lang = params.language(request.headers)
    transit = request.app[SERVICES].transit

    def work() -> list[dict]:
        index = transit.names  # the current network's: a feed published a moment ago is already in it
        matches = index.search(text, limit=limit if near is None else 10_000) if text is not None else None
        if near is not None:
            matches = index.near(near[0], near[1], radius, limit, among=matches)
        elif matches is None:  # neither: browse every stop and station, stations first
            matches = index.browse(limit)
        return [index.to_dict(m, lang) for m in matches[:limit]]

    found = await asyncio.get_running_loop().run_in_executor(transit.executor, work)
    return respond.json({"stops": found}, headers=language_headers(lang))


async def departures(request: web.Request) -> web.Response:
    q = request.query
    stop_id = request.match_info["id"]
    at = params.datetime_param(q, "at") or dt.datetime.now(TOKYO)
    board = typed.query(q, BoardQuery)
    window_min, limit = board.window_min, board.limit
    cursor = params.cursor_param(q, "cursor", ("later",))
    skip = 0
    if cursor is not None:
        at, skip = cursor.at, cursor.skip
    transit = request.app[SERVICES].transit
    lang = params.language(request.headers)
    names = await asyncio.get_running_loop().run_in_executor(transit.executor, lambda: transit.names)
    if names.position(stop_id) is None:
        raise ApiProblem(404, f"no stop or station {stop_id!r} in the timetable", field="id")
    outside = outside_service(request, at, "at")
    if outside is not None:
        return respond.json({"stop_id": stop_id, "at": at.isoformat(), "departures": [], "closed": False,
                             "page": {"later": None}, "notices": [outside]}, headers=language_headers(lang))
    model = await asyncio.get_running_loop().run_in_executor(transit.executor, transit.live_model_for,
                                                             transit.local_date(at))  # the feeds' own zone
    stops_idx = resolve_stops(model, stop_id)
    if stops_idx is None:
        raise ApiProblem(404, f"no stop or station {stop_id!r} in the timetable", field="id")
    mask = transit.mask_provider(model, transit.walker) if transit.mask_provider else None
    t0 = model.seconds_of(at)  # on the model's clock, not Tokyo's
    rows = next_departures(model, stops_idx, t0, window_min * 60, limit + skip, mask)
    same = [r for r in rows if r["departure"] == at.isoformat()]
    rows = (same[skip:] + [r for r in rows if r["departure"] != at.isoformat()])[:limit]
    if lang != "ja":
        for row in rows:
            localise_names(row, lang, names)
    warnings = request.app[SERVICES].warnings
    found: dict[str, dict] = {}
    down_the_line: list[dict] = []
    if warnings is not None:
        ti = await asyncio.get_running_loop().run_in_executor(transit.executor, warnings.touch_index, model,
                                                              transit.walker)
        until = at + dt.timedelta(minutes=window_min)
        found = stop_warnings(ti, [model.stop_ids[s] for s in stops_idx], at, until)
        for r in rows:
            hits = found.get(r["stop_id"], {}).get("ids", [])
            if hits:
                r["warnings"] = hits
        down_the_line = name_closures(ti, rows, found, at, until)
    all_w = {w["id"]: w for v in found.values() for w in v["summaries"]}
    affected = bool(all_w)  # the stop itself; closures down the line only close its departures
    all_w.update((w["id"], w) for w in down_the_line)
    return respond.json({"stop_id": stop_id, "at": at.isoformat(), "departures": rows,
                         "closed": bool(rows) and all(r["status"] == "closed" for r in rows),
                         "affected": affected, "warnings": list(all_w.values()),
                         "page": {"later": board_cursor(rows, at, window_min, limit, skip)},
                         "notices": realtime_notices(request, {r["operator"] for r in rows}
                                                    | {model.stop_ids[s].split(":", 1)[0] for s in stops_idx})},
                        headers=language_headers(lang))


def stop_warnings(ti, stop_ids: list[str], t0: dt.datetime, t1: dt.datetime) -> dict[str, dict]:
    """Per stop id: the warnings and closures covering it at some time in ``[t0, t1)``."""
    out: dict[str, dict] = {}
    for sid in stop_ids:
        cs = [ti.closures[k] for k in ti.by_stop.get(sid, ()) if ti.closures[k].overlaps(t0, t1)]
        if cs:
            out[sid] = {"ids": [c.id for c in cs], "summaries": [summary(c) for c in cs]}
    return out


def name_closures(ti, rows: list[dict], found: dict[str, dict], t0: dt.datetime, t1: dt.datetime) -> list[dict]:
    """Name the `close` warnings behind each closed row (at its stop, or the stop its closed hop leads to), so a
    board closed by a warning down the line says which; returns the summaries of those down the line."""
    nxt = stop_warnings(ti, sorted({r["closure"]["next_stop_id"] for r in rows
                                    if r.get("closure") and "next_stop_id" in r["closure"]}), t0, t1)
    for r in rows:
        hit = r.get("closure")
        if not hit:
            continue
        where = [found.get(r["stop_id"])] if hit["stop"] else []
        where += [nxt.get(hit["next_stop_id"])] if hit["next_hop"] else []
        ids = [w["id"] for v in where if v for w in v["summaries"] if w["strength"] == "close"]
        if ids:
            hit["closures"] = list(dict.fromkeys(ids))
    return [w for v in nxt.values() for w in v["summaries"] if w["strength"] == "close"]


def board_cursor(rows: list[dict], at: dt.datetime, window_min: int, limit: int, skipped: int) -> str:
    """The next page of a board: from the last departure shown, skipping those at that very second already
    shown (on this page and, when it is the page's own time, the pages before); when the window was not full,
    from the window's end."""
    if len(rows) < limit:
        return params.make_cursor("later", at + dt.timedelta(minutes=window_min))
    last = rows[-1]["departure"]
    shown = sum(r["departure"] == last for r in rows) + (skipped if last == at.isoformat() else 0)
    return params.make_cursor("later", dt.datetime.fromisoformat(last), shown)


_WHEN = params.DATE_TIME_SCHEMA
# adult:A[,child:C] or child:C[,adult:A], 1..9 travellers in all (the parser's rule, stated)
_RIDERS_PATTERN = "^(" + "|".join(
    alt for a in range(10) for c in range(10 - a) if a + c >= 1
    for alt in ([f"adult:{a},child:{c}", f"child:{c},adult:{a}"] if a and c else
                [f"adult:{a}"] if a else [f"child:{c}"])) + ")$"
_PLACE_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 200,
                 "pattern": r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"}
_PLACE = ("'lat,lon', a stop/station id, or a station name in any form /v1/stops finds (Japanese, kana, romaji, "
          "English); an unknown or ambiguous name is a 404 with `suggestions`")


def add_routes(app: web.Application) -> None:
    app[SERVICE_WINDOW] = {}
    app[SERVICES].warmers.append(lambda its: warm_plan(app, its))
    add(app, "GET", "/v1/plan", plan, roles=SEARCH_ROLES, spec={
        "operationId": "plan", "summary": "Plan a trip", "tags": ["search"],
        "description": "Itineraries from `from` to `to`, departing at `depart_at` or arriving by `arrive_by` "
                       "(ISO-8601; default: now, Asia/Tokyo when no offset is given). Rides are looked for from the "
                       "midnight that starts the day before the asked time's day to the one that ends the day after "
                       "(24 to 48 hours each way). Closures in force are avoided. "
                       "Each itinerary carries `fare` (total, per leg and operator, transfers applied) for "
                       "`riders` and `fare_media`, or `fare: null` with `fare_unknown` saying why. An empty "
                       "answer to a valid request carries a notice: `outside_service_dates`, "
                       "`arrive_before_depart`, or `same_place` (`from` and `to` are one station, or stops of "
                       "it, with no walk between them within `max_walk_m`; with one, that walk is the answer).",
        "parameters": [
            query("from", _PLACE_SCHEMA, _PLACE, True),
            query("to", _PLACE_SCHEMA, _PLACE, True),
            query("depart_at", _WHEN, "leave at or after this time (default now)"),
            query("arrive_by", _WHEN, "arrive by this time; alone, the latest departures that make it; with "
                                      "depart_at, trips between the two"),
            query("cursor", {"type": "string", "pattern": params.PLAN_CURSOR_PATTERN},
                  "`page.earlier` or `page.later` of a previous answer (repeat the other parameters); replaces "
                  "depart_at/arrive_by"),
            *typed.query_parameters(PlanQuery),
            query("modes", {"type": "string", "pattern": f"^({'|'.join(PLAN_MODES)})(,({'|'.join(PLAN_MODES)}))*$"},
                  f"comma-separated subset of {', '.join(PLAN_MODES)}"),
            query("riders", {"type": "string", "pattern": _RIDERS_PATTERN},
                  "who travels, priced in each itinerary's fare (default adult:1)"),
            query("fare_media", {"type": "string", "enum": ["ic", "ticket"]},
                  "IC card or paper ticket / cash (default ic)"),
            ACCEPT_LANGUAGE,
        ],
        "responses": {**ok(PlanResponse),
                      "404": problem("`from` or `to` names no place, or several: `suggestions` lists candidates"),
                      "409": problem("No itinerary while a closure is in force (`closures` names them)")},
    })
    add(app, "GET", "/v1/stops", stops, roles=SEARCH_ROLES | {Role.DISASTER}, spec={
        "operationId": "stops", "summary": "Find stops and stations by name or position", "tags": ["search"],
        "parameters": [
            query("q", {"type": "string", "maxLength": 100, "pattern": "^[^\\x00-\\x1f\\x7f]*$"},
                  "name in Japanese, kana, romaji (Tochōmae, Tochomae, Tocho-mae) or English; exact, prefix and "
                  "substring matches first, near misses (typos) only when nothing matches"),
            query("near", {"type": "string", "pattern": params.COORD_PATTERN},
                  "'lat,lon': stops around a point, nearest first"),
            *typed.query_parameters(StopsQuery),
            ACCEPT_LANGUAGE,
        ],
        "responses": ok(StopsResponse),
    })
    add(app, "GET", "/v1/stops/{id}/departures", departures, roles=SEARCH_ROLES | {Role.DISASTER}, spec={
        "operationId": "departures", "summary": "Next departures at a stop or station", "tags": ["search"],
        "description": "Departures closed by a closure in force are listed with status `closed`. With GTFS-Realtime "
                       "trip updates, `departure` is the realtime time (`scheduled_departure`, `delay_s`, "
                       "`realtime`), and trips cancelled or not stopping here are listed struck out at their "
                       "scheduled time (status `cancelled` / `skipped`); `notices` name the operators of this stop "
                       "or its trips whose realtime is stale.",
        "parameters": [
            path_param("id", "stop or station id, e.g. toei-subway:E28"),
            query("at", _WHEN, "from this time (default now)"),
            *typed.query_parameters(BoardQuery),
            query("cursor", {"type": "string", "pattern": params.BOARD_CURSOR_PATTERN},
                  "`page.later` of a previous answer: the board's next page (replaces `at`)"),
            ACCEPT_LANGUAGE,
        ],
        "responses": {**ok(DeparturesResponse), "404": problem("Unknown stop")},
    })
