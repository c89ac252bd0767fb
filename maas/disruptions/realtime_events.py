"""Travellers told when realtime breaks (or mends) a booked journey: `disrupted` and `restored` booking events.

A booking is booked on its scheduled identity (trip, service day, stop sequences: maas/itineraries/derive.py); the
realtime overlay says how those rides run now. A booked journey is infeasible on realtime times when a ride's trip
is cancelled, its boarding or alighting stop is skipped, or a change no longer works: the next ride leaves before
the previous one arrives plus the time the change needs (same stop: the planner's change time, at least 60 s or
the feed's; another stop: the walk at 1.2 m/s or the feed's time) — unless the booking itself had less slack
than that on the timetable, then the booked slack is what must remain. The `disrupted` event carries the reason and
an alternative planned (on realtime times, closures applied) from where the traveller is at the time: the
position is read off the booked journey on its realtime times (maas/disruptions/replan.py `position_at`).
`restored` is sent when a journey realtime had disrupted is feasible again (a delay recovered).

Each booking is told once per change across workers: its realtime state lives in the store (``rt:state:{id}``),
moved from absent to the disruption (set-if-absent) or back (delete-if-value) by whichever worker gets there first.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np

from maas.disruptions.replan import Position, position_at
from routing.realtime import CANCELLED, RealtimeOverlay

PlanFn = Callable[[str, str, dt.datetime], list[dict]]
MIN_CHANGE_S = 60
WALK_SPEED = 1.2
STATE_TTL_S = 3 * 86400


@dataclass(frozen=True)
class RideNow:
    """A booked ride on realtime times (model seconds)."""

    index: int
    trip: int  # realtime trip index, -1 when cancelled
    board: int
    alight: int
    dep: int
    arr: int
    sched_dep: int
    sched_arr: int
    from_stop: int
    to_stop: int


@dataclass(frozen=True)
class RealtimeProblem:
    leg_index: int
    code: str  # cancelled | skipped_stop | missed_transfer
    reason: str
    at: int  # model seconds: when the traveller meets it


def _positions(model, trip: int, leg: dict) -> tuple[int, int] | None:
    off, n = model.trip_times_offset(trip)
    seqs = np.asarray(model.st_seq[off:off + n]).tolist()
    try:
        return seqs.index(int(leg["from_seq"])), seqs.index(int(leg["to_seq"]))
    except (KeyError, ValueError, TypeError):
        p = int(model.trip_pattern[trip])
        base = int(model.pattern_stops_start[p])
        ids = [model.stop_ids[s] for s in model.pattern_stops[base:base + n].tolist()]
        if leg["from_stop"] in ids and leg["to_stop"] in ids[ids.index(leg["from_stop"]) + 1:]:
            b = ids.index(leg["from_stop"])
            return b, ids.index(leg["to_stop"], b + 1)
    return None


def _change_s(model, a: int, b: int) -> int:
    """Seconds a change from stop a to stop b needs (the planner's transfer rule with its defaults)."""
    if a == b:
        return max(MIN_CHANGE_S, int(model.stop_min_transfer[a]))
    lo, hi = int(model.fp_start[a]), int(model.fp_start[a + 1])
    hit = np.flatnonzero(np.asarray(model.fp_to[lo:hi]) == b)
    if len(hit):
        e = lo + int(hit[0])
        walk = max(int(np.ceil(float(model.fp_dist[e]) / WALK_SPEED)), int(model.fp_fixed_s[e]))
        return max(MIN_CHANGE_S, walk)
    from routing.geo import haversine_m

    d = float(haversine_m(model.stop_lat[a], model.stop_lon[a], model.stop_lat[b], model.stop_lon[b])) * 1.3
    return max(MIN_CHANGE_S, int(np.ceil(d / WALK_SPEED)))


def check_booking(ov: RealtimeOverlay, legs: list[dict]) -> tuple[RealtimeProblem | None, list[RideNow]]:
    """The first reason the booked rides ``legs`` (LegRef dicts of one service day, the overlay's base model's)
    cannot be made on realtime times, or None; and the rides as they run now."""
    base, rt = ov.base, ov.model
    rides: list[RideNow] = []
    problem = None
    for k, leg in enumerate(legs):
        try:  # (a later leg may be the next service day's trip: the model's window holds it)
            day = (dt.date.fromisoformat(leg["service_date"]) - base.service_date).days
        except (KeyError, TypeError, ValueError):
            day = 0
        t = base.trip_index(leg["trip_id"], day)
        if t is None:
            continue  # not in this day's model (a feed swap tells them): nothing realtime can say
        pos = _positions(base, t, leg)
        if pos is None:
            continue
        b, a = pos
        off, _ = base.trip_times_offset(t)
        sd, sa = int(base.departures_of_trip(t)[b]), int(base.st_arr[off + a])
        s_from = int(base.pattern_stops[base.pattern_stops_start[base.trip_pattern[t]] + b])
        s_to = int(base.pattern_stops[base.pattern_stops_start[base.trip_pattern[t]] + a])
        if int(ov.base_state[t]) == CANCELLED:
            rides.append(RideNow(k, -1, b, a, sd, sa, sd, sa, s_from, s_to))
            problem = problem or RealtimeProblem(k, "cancelled", f"trip {leg['trip_id']} is cancelled", sd)
            continue
        r = int(ov.base_trip_rt[t])
        roff, _ = rt.trip_times_offset(r)
        dep, arr = int(rt.departures_of_trip(r)[b]), int(rt.st_arr[roff + a])
        rides.append(RideNow(k, r, b, a, dep, arr, sd, sa, s_from, s_to))
        for p, what in ((b, "boarding"), (a, "alighting")):
            if problem is None and ov.skipped[roff + p]:
                sid = leg["from_stop"] if p == b else leg["to_stop"]
                problem = RealtimeProblem(k, "skipped_stop", f"trip {leg['trip_id']} does not stop at the {what} "
                                                             f"stop {sid}", dep if p == b else arr)
    for prev, nxt in zip(rides, rides[1:]):
        if problem is not None and problem.leg_index <= prev.index:
            break
        if prev.trip < 0 or nxt.trip < 0 or nxt.index != prev.index + 1:
            continue
        need = _change_s(base, prev.to_stop, nxt.from_stop)
        booked = nxt.sched_dep - prev.sched_arr
        gap = nxt.dep - prev.arr
        if gap < min(need, booked) and (problem is None or problem.leg_index > nxt.index):
            problem = RealtimeProblem(nxt.index, "missed_transfer",
                                      f"transfer missed at {base.stop_ids[prev.to_stop]}: arrives "
                                      f"{rt.iso(prev.arr)}, leg {nxt.index} leaves {rt.iso(nxt.dep)} "
                                      f"({need} s needed)", prev.arr)
    return problem, rides


def _live_itinerary(ov: RealtimeOverlay, legs: list[dict], rides: list[RideNow]) -> dict:
    """The booked journey with realtime times, in the itinerary shape `position_at` reads."""
    rt = ov.model
    by_index = {r.index: r for r in rides}
    out = []
    for k, leg in enumerate(legs):
        r = by_index.get(k)
        ride = {"mode": leg["mode"], "trip_id": leg["trip_id"], "from": {"stop_id": leg["from_stop"]},
                "to": {"stop_id": leg["to_stop"]}, "departure": leg["departure"], "arrival": leg["arrival"],
                "intermediate_stops": []}
        if r is not None:
            ride["departure"], ride["arrival"] = rt.iso(r.dep), rt.iso(r.arr)
            if r.trip >= 0:
                off, n = rt.trip_times_offset(r.trip)
                p = int(rt.trip_pattern[r.trip])
                stops = rt.pattern_stops[rt.pattern_stops_start[p]:rt.pattern_stops_start[p] + n]
                deps = rt.departures_of_trip(r.trip)
                ride["intermediate_stops"] = [
                    {"stop_id": rt.stop_ids[int(stops[i])], "arrival": rt.iso(int(rt.st_arr[off + i])),
                     "departure": rt.iso(int(deps[i]))}
                    for i in range(r.board + 1, r.alight) if not ov.skipped[off + i]]
        out.append(ride)
    return {"legs": out, "departure": out[0]["departure"], "arrival": out[-1]["arrival"]}


def disrupted_event(ov: RealtimeOverlay, booking_id: str, legs: list[dict], problem: RealtimeProblem,
                    rides: list[RideNow], plan: PlanFn, now: dt.datetime) -> dict:
    """The `disrupted` event: reason, where the traveller is then, and an alternative planned from there."""
    rt = ov.model
    itinerary = _live_itinerary(ov, legs, rides)
    at = rt.datetime_of(problem.at)
    if problem.code == "missed_transfer":  # stranded where the previous ride ends, when it arrives (or now)
        pos = Position(legs[problem.leg_index - 1]["to_stop"], max(at, now), problem.leg_index - 1)
    else:  # where the journey on realtime times has them now (as a closure re-plan does at its start)
        pos = position_at(itinerary, now)
    destination = legs[-1]["to_stop"]
    alternative = None
    if pos.place != destination:
        when = pos.time
        if problem.code == "missed_transfer":  # just off a vehicle: the next one after the change time
            stop = ov.base.stop_index(pos.place)
            when = max(now, at + dt.timedelta(seconds=_change_s(ov.base, stop, stop)))
        try:
            options = plan(pos.place, destination, when)
        except ValueError:
            options = []
        cancelled = {legs[problem.leg_index]["trip_id"]} if problem.code == "cancelled" else set()
        alternative = next((it for it in options
                            if not any(leg.get("trip_id") in cancelled for leg in it["legs"])), None)
    return {"type": "disrupted", "booking_id": booking_id, "cause": "realtime", "code": problem.code,
            "leg_index": problem.leg_index, "reason": problem.reason, "at": at.isoformat(),
            "position": {"place": pos.place, "time": pos.time.isoformat()}, "alternative": alternative,
            "realtime": {"version": ov.version,
                         "legs": [{"index": r.index, "departure": rt.iso(r.dep), "arrival": rt.iso(r.arr),
                                   "delay_s": r.dep - r.sched_dep, "arrival_delay_s": r.arr - r.sched_arr,
                                   "cancelled": r.trip < 0} for r in rides]}}


def state_key(booking_id: str) -> str:
    return f"rt:state:{booking_id}"


async def tell(store, ov: RealtimeOverlay, items: list[tuple[str, str, list[dict]]], plan: PlanFn,
               now: dt.datetime, run) -> list[dict]:
    """Check each (booking id, owner, legs) on realtime times and publish what changed: `disrupted` when it
    became infeasible, `restored` when a realtime disruption is gone. ``run(fn)`` runs blocking work off the
    loop. Returns the events sent."""
    sent = []
    for booking_id, owner, legs in items:
        problem, rides = await run(lambda legs=legs: check_booking(ov, legs))
        key = state_key(booking_id)
        old = await store.get(key)
        if problem is not None:
            mark = f"{problem.code}|{problem.leg_index}"
            if old == mark:
                continue
            if old is None:
                if not await store.set(key, mark, ttl_s=STATE_TTL_S, nx=True):
                    continue  # another worker told them
            elif not await store.replace_if(key, old, mark, ttl_s=STATE_TTL_S):
                continue
            ev = await run(lambda legs=legs, p=problem, r=rides: disrupted_event(ov, booking_id, legs, p, r, plan,
                                                                                  now))
        else:
            if old is None or not await store.delete_if(key, old):
                continue
            ev = {"type": "restored", "booking_id": booking_id, "cause": "realtime", "at": now.isoformat(),
                  "detail": "the realtime delay that broke this journey has recovered: it runs as booked",
                  "realtime": {"version": ov.version,
                               "legs": [{"index": r.index, "departure": ov.model.iso(r.dep),
                                         "arrival": ov.model.iso(r.arr), "delay_s": r.dep - r.sched_dep,
                                         "arrival_delay_s": r.arr - r.sched_arr, "cancelled": r.trip < 0}
                                        for r in rides]}}
        await store.publish(f"events:{owner}", json.dumps(ev))
        sent.append(ev)
    return sent


def changed_trips(old, new) -> set[tuple[str, str | None]]:
    """(trip id, start_date) of the trip updates that differ between two snapshots (added, changed, removed)."""
    def by_key(snap) -> dict:
        if snap is None:
            return {}
        return {(u.trip_id, u.start_date): u for u in snap.trip_updates if u.trip_id}

    a, b = by_key(old), by_key(new)
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
