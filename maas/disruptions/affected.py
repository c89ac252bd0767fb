"""Which booked trips a set of closures can touch, from the transit model: the candidates the booking index is
asked about, so a closure reads the bookings on the trips it closes instead of every booking ever made.

A ride is disrupted only by a closed stop it visits, a closed hop it rides or a closed trip (areas are resolved
into stops and hops); every such ride is on a trip whose pattern contains that stop or hop. So the trips of the
patterns through the closed stops and hops, plus the closed trips, are a superset of the affected trips; the exact
check (``maas.disruptions.replan``) then runs on the few bookings found on them. Closed stops are also returned for the stop
index, which catches bookings on trips this day's model no longer has (only their ends can be checked).
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

import numpy as np

from feeds.closure_json import Closure
from maas.disruptions.closure_masks import ClosureIndex
from routing.timetable import DEFAULT_TZ, local_midnight

DAY_SPAN = dt.timedelta(hours=30)  # a service day's trips run until ~06:00 the next morning


def day_overlaps(closures: Iterable[Closure], day: dt.date, timezone: str = DEFAULT_TZ) -> list[Closure]:
    """The blocking closures whose window meets service day ``day`` (its midnight in ``timezone``)."""
    start = local_midnight(day, timezone)
    return [c for c in closures if c.blocking and c.overlaps(start, start + DAY_SPAN)]


def closure_targets(model, closures: Iterable[Closure], booked_trips: set[str], date: dt.date | None = None,
                    index: ClosureIndex | None = None) -> tuple[set[str], set[str]]:
    """(trip ids among ``booked_trips`` the closures may disrupt on service day ``date``, default the model's
    own, one the model joins; closed stop ids)."""
    date = date or model.service_date
    day = (date - model.service_date).days
    closures = day_overlaps(closures, date, getattr(model, "timezone", DEFAULT_TZ))
    if not closures or not booked_trips:
        return set(), set()
    idx = index if index is not None and index.model is model else ClosureIndex(model)
    stops: list[np.ndarray] = []
    hops: list[np.ndarray] = []
    trips = set()
    for c in closures:
        res = idx.resolve(c)
        stops.append(np.asarray(res.stops, np.int64))
        hops.append(np.asarray(res.hops, np.int64))
        trips |= set(c.trips) & booked_trips
    s = np.unique(np.concatenate(stops)) if stops else np.zeros(0, np.int64)
    h = np.unique(np.concatenate(hops)) if hops else np.zeros(0, np.int64)
    sp_start, sp_pattern = np.asarray(model.sp_start), np.asarray(model.sp_pattern)
    through = [sp_pattern[sp_start[i]:sp_start[i + 1]] for i in s]
    pss = np.asarray(model.pattern_stops_start)
    patterns = np.unique(np.concatenate(through + [np.searchsorted(pss, h, side="right") - 1]).astype(np.int64))
    pts, offset = np.asarray(model.pattern_trips_start), np.asarray(model.trip_day_offset)
    for p in patterns:
        for t in range(int(pts[p]), int(pts[p + 1])):
            if offset[t] == day:  # past-midnight trips of the day before are that day's bookings
                tid = model.trip_ids[t]
                if tid in booked_trips:
                    trips.add(tid)
    return trips, {model.stop_ids[i] for i in s}
