"""Re-planning booked itineraries hit by a new closure, on the built-in sample network."""
from __future__ import annotations

import datetime as dt

import orjson
import pytest

from feeds.closure_json import parse_closure_json
from maas.disruptions.closures import ClosureService
from maas.disruptions.replan import disrupted_events, find_disrupted, position_at, replan

JST = dt.timezone(dt.timedelta(hours=9))
DATE = dt.date(2026, 11, 24)
T8 = dt.datetime(2026, 11, 24, 8, tzinfo=JST)
DAIMON = {"toei-subway:A-09", "toei-subway:E-20"}


def closure(targets: dict, start: str, end: str | None = "2026-11-24T12:00:00+09:00", **kw):
    return parse_closure_json(orjson.dumps({"targets": targets, "start": start, "end": end, **kw}))[0]


@pytest.fixture(scope="module")
def planner():
    from maas.publishing.network import load_network
    from routing.planner import Planner
    from routing.timetable import build_model
    from routing.walking import StraightLineWalker

    model = build_model(load_network([], None, progress=False), DATE)
    return Planner(model, StraightLineWalker(model.stop_lat, model.stop_lon))


@pytest.fixture(scope="module")
def booked(planner) -> dict:
    """The first itinerary from Nishi-magome to Tochomae at 08:00: Asakusa line to Daimon, then Oedo."""
    its = [it.to_dict() for it in planner.plan("toei-subway:A-01", "toei-subway:E-01", T8)]
    it = its[0]
    assert it["legs"][0]["to"]["stop_id"] == "toei-subway:A-09"
    return it


def _stops(it: dict) -> set[str]:
    out = set()
    for leg in it["legs"]:
        out |= {leg["from"].get("stop_id"), leg["to"].get("stop_id")}
        out |= {s["stop_id"] for s in leg.get("intermediate_stops") or ()}
    return out - {None}


async def _service_with(planner, c) -> tuple[ClosureService, callable]:
    svc = ClosureService(model_provider=lambda: planner.model, clock=lambda: T8)
    await svc.accept(c)

    def plan(o, d, t):
        return [it.to_dict() for it in planner.plan(o, d, t, mask=svc.mask_for(planner.model, planner.walker))]
    return svc, plan


async def test_closure_during_the_ride_replans_from_the_next_stop(planner, booked):
    ride = booked["legs"][0]
    mid = ride["intermediate_stops"][3]  # the traveller is riding toward this stop at the closure start
    t_close = dt.datetime.fromisoformat(mid["arrival"]) - dt.timedelta(seconds=30)
    c = closure({"stations": ["toei-subway:P-daimon"]}, start=t_close.isoformat())
    svc, plan = await _service_with(planner, c)
    hit, pos, alt = replan(booked, c, planner.model, plan, index=svc.index_for(planner.model))
    assert hit.leg_index == 0 and "A-09" in hit.reason
    assert pos.place == mid["stop_id"] and pos.leg_index == 0
    assert alt is not None
    assert alt["legs"][0]["from"]["stop_id"] == mid["stop_id"]
    assert alt["legs"][-1]["to"]["stop_id"] == "toei-subway:E-01"
    assert not (_stops(alt) & DAIMON)
    assert dt.datetime.fromisoformat(alt["departure"]) >= t_close


async def test_not_departed_replans_from_the_origin_and_events_carry_it(planner, booked):
    c = closure({"areas": [{"type": "Circle", "center": [139.754679, 35.65687], "radius_m": 200}]},
                start="2026-11-24T07:00:00+09:00", message={"ja": "大門閉鎖", "en": "Daimon closed"})
    svc, plan = await _service_with(planner, c)
    events = disrupted_events([("bk-1", booked)], [c], planner.model, plan, now=T8 - dt.timedelta(minutes=30),
                              index=svc.index_for(planner.model))
    (ev,) = events
    d = ev.to_dict()
    assert d["type"] == "disrupted" and d["booking_id"] == "bk-1" and d["closure"]["message"]["en"] == "Daimon closed"
    assert d["position"]["place"] == "toei-subway:A-01"
    alt = d["alternative"]
    assert alt is not None and not (_stops(alt) & DAIMON)
    assert alt["legs"][-1]["to"]["stop_id"] == "toei-subway:E-01"


def test_closures_elsewhere_or_later_do_not_disrupt(planner, booked):
    m = planner.model
    far = closure({"stations": ["toei-subway:I-15"]}, start="2026-11-24T07:00:00+09:00")
    assert find_disrupted(booked, far, m) is None
    after = closure({"stations": ["toei-subway:A-09"]}, start="2026-11-24T10:00:00+09:00")
    assert find_disrupted(booked, after, m) is None
    reduced = closure({"stations": ["toei-subway:A-09"]}, start="2026-11-24T07:00:00+09:00",
                      effect="REDUCED_SERVICE")
    assert find_disrupted(booked, reduced, m) is None


def test_route_segment_and_trip_closures_disrupt_the_ride(planner, booked):
    m = planner.model
    leg = booked["legs"][0]
    a, b = leg["intermediate_stops"][0]["stop_id"], leg["intermediate_stops"][1]["stop_id"]
    seg = closure({"segments": [{"route": "toei-subway:A", "from_stop": b, "to_stop": a}]},
                  start="2026-11-24T07:00:00+09:00")
    hit = find_disrupted(booked, seg, m)
    assert hit is not None and hit.leg_index == 0 and f"{a} → {b}" in hit.reason
    route = closure({"routes": ["toei-subway:E"]}, start="2026-11-24T07:00:00+09:00")
    assert find_disrupted(booked, route, m).leg_index == 2
    trip = closure({"trips": [leg["trip_id"]]}, start="2026-11-24T07:00:00+09:00")
    assert "cancelled" in find_disrupted(booked, trip, m).reason


def test_walk_through_area_is_disrupted(planner):
    walk = {"departure": "2026-11-24T08:00:00+09:00", "arrival": "2026-11-24T08:10:00+09:00", "legs": [
        {"mode": "WALK", "from": {"lat": 35.650, "lon": 139.750}, "to": {"lat": 35.660, "lon": 139.760},
         "departure": "2026-11-24T08:00:00+09:00", "arrival": "2026-11-24T08:10:00+09:00",
         "geometry": {"type": "LineString", "coordinates": [[139.750, 35.650], [139.760, 35.660]]}}]}
    box = {"type": "Polygon", "coordinates": [[[139.754, 35.654], [139.756, 35.654], [139.756, 35.656],
                                               [139.754, 35.656], [139.754, 35.654]]]}
    c = closure({"walk_areas": [box]}, start="2026-11-24T08:05:00+09:00")
    hit = find_disrupted(walk, c, planner.model)
    assert hit is not None and hit.at == c.start and "walk" in hit.reason
    late = closure({"walk_areas": [box]}, start="2026-11-24T09:00:00+09:00")
    assert find_disrupted(walk, late, planner.model) is None
    assert position_at(walk, c.start).place == "35.650000,139.750000"


async def test_listener_appends_disrupted_event_to_hit_bookings(planner, booked):
    """The wiring a booking service uses: a ClosureService listener re-plans the bookings a new closure hits."""
    m = planner.model
    svc = ClosureService(model_provider=lambda: m, clock=lambda: T8 - dt.timedelta(hours=1))
    bookings = {"hit": booked, "safe": {"legs": [dict(booked["legs"][0], to=booked["legs"][0]["from"],
                                                      intermediate_stops=[])]}}
    events: dict[str, list[dict]] = {}

    def plan(o, d, t):
        return [it.to_dict() for it in planner.plan(o, d, t, mask=svc.mask_for(m, planner.walker))]

    async def on_closures(new):
        for ev in disrupted_events(bookings.items(), new, m, plan, now=svc.clock(), index=svc.index_for(m)):
            events.setdefault(ev.booking_id, []).append(ev.to_dict())

    async def broken(new):
        raise RuntimeError("a failing listener must not undo the closure")

    svc.listeners += [broken, on_closures]
    r = await svc.accept(orjson.dumps({"targets": {"stations": ["toei-subway:P-daimon"]},
                                       "start": "2026-11-24T07:30:00+09:00"}), "application/json")
    await svc.drain()
    assert svc.get(r.accepted[0].id) is not None
    assert list(events) == ["hit"]
    alt = events["hit"][0]["alternative"]
    assert alt and not (_stops(alt) & DAIMON)
