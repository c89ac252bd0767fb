"""Travellers hit by a new closure: find the booked itineraries it disrupts and plan them an alternative.

A leg is disrupted when, during the closure's window, it boards, alights or passes a closed stop, rides a closed
hop (route, segment or area crossing), is a closed trip, or walks through a closed area. The alternative starts
where the traveller is when the closure begins: the origin if not yet departed, the next open stop of the ride in
progress (or the last one passed), the start of a walk in progress, or the end of the last finished leg. It is
planned with the current masks (the caller's ``plan`` applies them), and re-checked against the closure.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable

import shapely

from feeds.closure_json import Closure
from maas.disruptions.closure_masks import ClosureIndex

PlanFn = Callable[[str, str, dt.datetime], list[dict]]


@dataclass(frozen=True)
class Disruption:
    closure_id: str
    leg_index: int
    reason: str
    at: dt.datetime  # the first moment the itinerary meets the closure


@dataclass(frozen=True)
class Position:
    place: str  # what the planner resolves: a stop id or "lat,lon"
    time: dt.datetime
    leg_index: int  # the leg the traveller is on or has just finished (-1: not departed)


@dataclass(frozen=True)
class DisruptedEvent:
    """The payload of a booking's `disrupted` event."""

    booking_id: str
    disruption: Disruption
    position: Position
    alternative: dict | None  # an itinerary in the API shape, None when nothing avoids the closure
    closure: dict = field(default_factory=dict)  # id, severity, message, window

    def to_dict(self) -> dict:
        d = self.disruption
        return {"type": "disrupted", "booking_id": self.booking_id,
                "closure": self.closure or {"id": d.closure_id},
                "leg_index": d.leg_index, "reason": d.reason, "at": d.at.isoformat(),
                "position": {"place": self.position.place, "time": self.position.time.isoformat()},
                "alternative": self.alternative}


def _t(s: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(s) if s else None


def _in_window(c: Closure, t0: dt.datetime, t1: dt.datetime | None = None) -> bool:
    return c.overlaps(t0, t1 if t1 is not None and t1 > t0 else t0 + dt.timedelta(seconds=1))


def _visits(leg: dict) -> list[tuple[str | None, dt.datetime, dt.datetime]]:
    """(stop_id, arrival, departure) along a leg, from its start to its end."""
    out = [(leg["from"].get("stop_id"), _t(leg["departure"]), _t(leg["departure"]))]
    for s in leg.get("intermediate_stops") or ():
        arr = _t(s.get("arrival")) or _t(s.get("departure"))
        out.append((s.get("stop_id"), arr, _t(s.get("departure")) or arr))
    out.append((leg["to"].get("stop_id"), _t(leg["arrival"]), _t(leg["arrival"])))
    return out


def _index(model, index: ClosureIndex | None) -> ClosureIndex:
    return index if index is not None and index.model is model else ClosureIndex(model)


def find_disrupted(itinerary: dict, closure: Closure, model, index: ClosureIndex | None = None,
                   version: int = 0) -> Disruption | None:
    """The first leg of ``itinerary`` that uses an element ``closure`` closes during its window, or None."""
    if not closure.blocking:
        return None
    idx = _index(model, index)
    res = idx.resolve(closure, version)
    closed_stops = {model.stop_ids[i] for i in res.stops}
    g = idx.geometry
    route_ids = model.route_ids
    closed_hops = {(model.stop_ids[g.a[h]], model.stop_ids[g.b[h]], route_ids[g.route[h]]) for h in res.hops}
    areas = [a.geometry for a in closure.areas]
    for k, leg in enumerate(itinerary.get("legs", ())):
        visits = _visits(leg)
        for sid, arr, dep in visits:
            if sid in closed_stops and _in_window(closure, arr, dep):
                return Disruption(closure.id, k, f"stop {sid} is closed", max(arr, closure.start))
        if leg.get("mode") == "WALK":
            coords = (leg.get("geometry") or {}).get("coordinates") or []
            if areas and len(coords) >= 2 and _in_window(closure, _t(leg["departure"]), _t(leg["arrival"])):
                line = shapely.LineString(coords)
                if any(shapely.intersects(a, line) for a in areas):
                    return Disruption(closure.id, k, "the walk crosses a closed area",
                                      max(_t(leg["departure"]), closure.start))
            continue
        if leg.get("trip_id") and leg["trip_id"] in closure.trips:
            return Disruption(closure.id, k, f"trip {leg['trip_id']} is cancelled",
                              max(_t(leg["departure"]), closure.start))
        route = (leg.get("route") or {}).get("id")
        for (a, _, dep), (b, arr, _) in zip(visits, visits[1:]):
            if (a, b, route) in closed_hops and _in_window(closure, dep, arr):
                return Disruption(closure.id, k, f"the ride {a} → {b} on {route} is closed", max(dep, closure.start))
    return None


def position_at(itinerary: dict, when: dt.datetime, closed_stops: set[str] = frozenset()) -> Position:
    """Where the traveller is at ``when``: see the module docstring."""
    legs = itinerary["legs"]
    if not legs or when <= _t(itinerary.get("departure") or legs[0]["departure"]):
        return Position(_place(legs[0]["from"]), _t(legs[0]["departure"]), -1)
    for k, leg in enumerate(legs):
        dep, arr = _t(leg["departure"]), _t(leg["arrival"])
        if when < dep:  # waiting between legs: at the previous leg's end
            return Position(_place(leg["from"]), dep, k - 1)
        if dep <= when < arr:
            if leg.get("mode") == "WALK":
                return Position(_place(leg["from"]), when, k)
            visits = _visits(leg)
            ahead = [(s, t) for s, t, _ in visits if t >= when and s and s not in closed_stops]
            if ahead:
                return Position(ahead[0][0], max(ahead[0][1], when), k)
            behind = [(s, t) for s, t, _ in visits if t < when and s and s not in closed_stops]
            if behind:
                return Position(behind[-1][0], when, k)
            return Position(_place(leg["from"]), when, k)
    return Position(_place(legs[-1]["to"]), max(when, _t(legs[-1]["arrival"])), len(legs) - 1)


def _place(end: dict) -> str:
    return end.get("stop_id") or f"{end['lat']:.6f},{end['lon']:.6f}"


def replan(itinerary: dict, closure: Closure, model, plan: PlanFn, *, now: dt.datetime | None = None,
           index: ClosureIndex | None = None, version: int = 0) -> tuple[Disruption, Position, dict | None] | None:
    """None when ``closure`` does not touch ``itinerary``; else the disruption, the traveller's position at the
    closure start (or now, if later), and the first planned alternative that the closure leaves alone."""
    idx = _index(model, index)
    hit = find_disrupted(itinerary, closure, model, idx, version)
    if hit is None:
        return None
    res = idx.resolve(closure, version)
    closed = {model.stop_ids[i] for i in res.stops}
    start = max(closure.start, now) if now is not None else closure.start
    pos = position_at(itinerary, start, closed)
    destination = _place(itinerary["legs"][-1]["to"])
    if pos.place == destination:
        return hit, pos, None
    try:
        options = plan(pos.place, destination, pos.time)
    except ValueError:  # PlanError: the position or destination cannot be routed any more
        options = []
    alternative = next((it for it in options if find_disrupted(it, closure, model, idx, version) is None), None)
    return hit, pos, alternative


def disrupted_events(bookings: Iterable[tuple[str, dict]], closures: Iterable[Closure], model, plan: PlanFn, *,
                     now: dt.datetime | None = None, index: ClosureIndex | None = None) -> list[DisruptedEvent]:
    """For each booked itinerary hit by one of the new ``closures``, the `disrupted` event to append to it."""
    idx = _index(model, index)
    closures = list(closures)
    events = []
    for booking_id, itinerary in bookings:
        for c in closures:
            out = replan(itinerary, c, model, plan, now=now, index=idx)
            if out is not None:
                d, pos, alt = out
                info = {"id": c.id, "severity": c.severity, "message": {"ja": c.message_ja, "en": c.message_en},
                        "start": c.start.isoformat(), "end": c.end.isoformat() if c.end else None}
                events.append(DisruptedEvent(booking_id, d, pos, alt, info))
                break  # one event per booking, for the first closure that hits it
    return events
