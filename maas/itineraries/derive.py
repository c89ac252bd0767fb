"""Server-side legs: every ride a client wants to buy is re-derived from the transit model of its service day.

The client names a ride (trip id, service date, boarding and alighting stop_sequence or stop id, as the planner
returned them); everything that is priced, held or ticketed comes from the model: the trip runs that day, both
positions are real stops of it in riding order with pickup and drop-off allowed, times are the timetable's, the
distance is the model's ride path (``routing.itinerary.ride_path``: shape cut or stop-to-stop line, the same
number the planner shows), operator, mode and route are the trip's. Any other field the client sent is a claim:
one that disagrees is a 409 naming the leg and field. Transfers between rides are derived too: the walk between
the two stops (the model's footpath, else a straight line with the detour factor) must fit between arrival and
departure at the fastest walking speed the planner accepts.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from maas.booking.offers import BookingError, RideRequest, StopRef, TimetableMismatch, UnknownTrip
from operators.base import LegRef
from routing.geo import haversine_m
from routing.itinerary import path_length_m, ride_path
from routing.realtime import CANCELLED
from routing.timetable import IdTable, TransitModel

MAX_ADVANCE_DAYS = 366  # a service day further ahead is not sold (and never makes the server build its model)
FASTEST_WALK_MPS = 3.0  # PlanOptions.walk_speed's upper bound: no itinerary the planner made walks faster
DISTANCE_TOLERANCE_M = 1  # the planner rounds metres to an integer
ModelFor = Callable[[dt.date], TransitModel]
TripKnown = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Ride:
    """One ride as the model has it: the trip's index and stop positions in the model of ``service_date``."""

    leg: LegRef  # what pricing, holds and tickets get: every field from the model
    trip: int
    board_pos: int
    alight_pos: int
    board_stop: int
    alight_stop: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """A walk the server derived between two rides (their leg indexes): metres and the least seconds it takes."""

    after: int
    before: int
    distance_m: int
    min_s: int


@dataclass(frozen=True, slots=True)
class DerivedItinerary:
    rides: list[Ride]
    transfers: list[Transfer]

    @property
    def legs(self) -> list[LegRef]:
        return [r.leg for r in self.rides]


def _field(ride: RideRequest, name: str) -> str:
    return f"itinerary.legs[{ride.index}].{name}"


def check_service_date(ride: RideRequest, today: dt.date) -> None:
    """Only days that can still be travelled and are at most a year ahead are sold (or get a model built)."""
    if not today - dt.timedelta(days=1) <= ride.service_date <= today + dt.timedelta(days=MAX_ADVANCE_DAYS):
        raise TimetableMismatch(f"leg {ride.index}: service day {ride.service_date} is not bookable (from yesterday "
                                f"to {MAX_ADVANCE_DAYS} days ahead)", field=_field(ride, "service_date"),
                                code="service_date_out_of_range", status=422)


def _position(model: TransitModel, ride: RideRequest, ref: StopRef, end: str, off: int, base: int, n: int,
              after: int) -> int:
    """Position in the trip of the stop the client named: by stop_sequence (and then the stop id must agree),
    else the first call at the stop id after position ``after``."""
    if ref.sequence is not None:
        seqs = model.st_seq[off:off + n]
        pos = int(np.searchsorted(seqs, ref.sequence))
        if pos >= n or int(seqs[pos]) != ref.sequence:
            raise UnknownTrip(f"leg {ride.index}: trip {ride.trip_id} has no stop_sequence {ref.sequence} "
                              f"(its stops are sequences {int(seqs[0])}..{int(seqs[-1])})",
                              field=_field(ride, f"{end}.sequence"))
        actual = model.stop_ids[int(model.pattern_stops[base + pos])]
        if ref.stop_id is not None and actual != ref.stop_id:
            raise TimetableMismatch(f"leg {ride.index}: stop_sequence {ref.sequence} of trip {ride.trip_id} is "
                                    f"{actual}, not {ref.stop_id}", field=_field(ride, f"{end}.stop_id"))
        return pos
    for pos in range(after + 1, n):
        if model.stop_ids[int(model.pattern_stops[base + pos])] == ref.stop_id:
            return pos
    raise UnknownTrip(f"leg {ride.index}: trip {ride.trip_id} does not call at {ref.stop_id}"
                      + (" after its boarding stop" if after >= 0 else ""), field=_field(ride, f"{end}.stop_id"))


def _claim(ride: RideRequest, name: str, claimed, actual) -> None:
    if claimed is not None and claimed != actual:
        raise TimetableMismatch(f"leg {ride.index}: {name} {claimed} does not match the timetable of trip "
                                f"{ride.trip_id} on {ride.service_date} ({actual})", field=_field(ride, name))


def derive_ride(model: TransitModel, ride: RideRequest, trip_known: TripKnown | None = None) -> Ride:
    """The ride from ``model`` (a model joining ``ride.service_date``: `TransitService.model_for`), or the problem
    naming the leg and field."""
    if not model.joins(ride.service_date):
        raise ValueError(f"model of {model.service_date} given for service day {ride.service_date}")
    t = model.trip_on(ride.trip_id, ride.service_date)
    if t is None:
        if trip_known is not None and trip_known(ride.trip_id):
            raise TimetableMismatch(f"leg {ride.index}: trip {ride.trip_id} does not run on {ride.service_date}",
                                    field=_field(ride, "service_date"), code="trip_not_running")
        raise UnknownTrip(f"leg {ride.index}: no trip {ride.trip_id!r} in the timetable",
                          field=_field(ride, "trip_id"))
    off, n = model.trip_times_offset(t)
    p = int(model.trip_pattern[t])
    base = int(model.pattern_stops_start[p])
    b = _position(model, ride, ride.board, "from", off, base, n, -1)
    a = _position(model, ride, ride.alight, "to", off, base, n, b)
    if a <= b:
        raise UnknownTrip(f"leg {ride.index}: trip {ride.trip_id} reaches the alighting stop (sequence "
                          f"{int(model.st_seq[off + a])}) before the boarding stop (sequence "
                          f"{int(model.st_seq[off + b])})", field=_field(ride, "to.sequence"))
    if not model.st_pickup[off + b]:
        raise UnknownTrip(f"leg {ride.index}: trip {ride.trip_id} picks up nobody at sequence "
                          f"{int(model.st_seq[off + b])}", field=_field(ride, "from.sequence"))
    if not model.st_dropoff[off + a]:
        raise UnknownTrip(f"leg {ride.index}: trip {ride.trip_id} sets down nobody at sequence "
                          f"{int(model.st_seq[off + a])}", field=_field(ride, "to.sequence"))
    r = int(model.pattern_route[p])
    route_id = model.route_ids[r]
    operator = model.feed_namespaces[int(model.route_feed[r])]
    mode = model.route_modes[r]
    departure = model.datetime_of(int(model.departures_of_trip(t)[b]))  # the model's clock: its feeds' agency zone
    arrival = model.datetime_of(int(model.st_arr[off + a]))
    distance = path_length_m(*ride_path(model, t, b, a))
    _claim(ride, "operator", ride.operator, operator)
    _claim(ride, "mode", ride.mode, mode)
    _claim(ride, "route.id", ride.route_id, route_id)
    _claim(ride, "departure", ride.departure, departure)
    _claim(ride, "arrival", ride.arrival, arrival)
    if ride.distance_m is not None and abs(ride.distance_m - distance) > DISTANCE_TOLERANCE_M:
        raise TimetableMismatch(f"leg {ride.index}: distance_m {ride.distance_m} does not match the ride of trip "
                                f"{ride.trip_id} from sequence {int(model.st_seq[off + b])} to "
                                f"{int(model.st_seq[off + a])} ({round(distance)} m)",
                                field=_field(ride, "distance_m"))
    board_stop = int(model.pattern_stops[base + b])
    alight_stop = int(model.pattern_stops[base + a])
    leg = LegRef(index=ride.index, operator=operator, mode=mode, trip_id=ride.trip_id, route_id=route_id,
                 service_date=ride.service_date.isoformat(), from_stop=model.stop_ids[board_stop],
                 to_stop=model.stop_ids[alight_stop], from_seq=int(model.st_seq[off + b]),
                 to_seq=int(model.st_seq[off + a]), departure=departure, arrival=arrival,
                 distance_m=int(round(distance)), booking_required=bool(model.trip_booking[t]))
    return Ride(leg, t, b, a, board_stop, alight_stop)


def walk_between(model: TransitModel, a: int, b: int) -> tuple[float, int]:
    """(metres, least seconds) to walk from stop ``a`` to stop ``b`` of ``model``: the model's footpath (its
    fixed transfer time when transfers.txt gives one), else the straight line with the model's detour factor."""
    if a == b:
        return 0.0, 0
    lo, hi = int(model.fp_start[a]), int(model.fp_start[a + 1])
    hit = np.nonzero(model.fp_to[lo:hi] == b)[0]
    if len(hit):
        e = lo + int(hit[0])
        dist = float(model.fp_dist[e])
        fixed = int(model.fp_fixed_s[e])
        return dist, fixed if fixed >= 0 else math.ceil(dist / FASTEST_WALK_MPS)
    detour = float(model.settings.get("detour_factor", 1.3)) if isinstance(model.settings, dict) else 1.3
    dist = float(haversine_m(model.stop_lat[a], model.stop_lon[a], model.stop_lat[b], model.stop_lon[b])) * detour
    return dist, math.ceil(dist / FASTEST_WALK_MPS)


def stays_seated(model: TransitModel, prev: Ride, nxt: Ride) -> bool:
    """Whether the model has an in-seat link (transfers.txt type 4) from ``prev``'s trip where it alights to
    ``nxt``'s trip where it boards: the same vehicle runs on, nobody changes."""
    if prev.leg.service_date != nxt.leg.service_date:
        return False
    lo, hi = int(model.inseat_start[prev.trip]), int(model.inseat_start[prev.trip + 1])
    return any(int(model.inseat_to_trip[e]) == nxt.trip and int(model.inseat_from_pos[e]) == prev.alight_pos
               and int(model.inseat_to_pos[e]) == nxt.board_pos for e in range(lo, hi))


def _transfer(prev: Ride, nxt: Ride, req: RideRequest, model: TransitModel) -> Transfer:
    """The walk from ``prev``'s alighting stop to ``nxt``'s boarding stop (stop indexes are the same in every
    day's model), which must fit between the two rides; none when the same vehicle runs on (an in-seat link)."""
    if req.stay_seated and not stays_seated(model, prev, nxt):
        raise TimetableMismatch(f"leg {req.index}: trip {nxt.leg.trip_id} does not continue trip "
                                f"{prev.leg.trip_id} in the same seat", field=_field(req, "stay_seated"))
    dist, need = (0.0, 0) if req.stay_seated else walk_between(model, prev.alight_stop, nxt.board_stop)
    gap = (nxt.leg.departure - prev.leg.arrival).total_seconds()
    if gap < need:
        what = "leaves before the previous ride arrives" if gap < 0 else \
            f"leaves {int(gap)} s after the previous ride arrives; walking {round(dist)} m takes at least {need} s"
        raise TimetableMismatch(f"leg {req.index} {what}", field=_field(req, "departure"),
                                code="impossible_transfer")
    return Transfer(prev.leg.index, req.index, int(round(dist)), need)


def derive_itinerary(model_for: ModelFor, rides: list[RideRequest], today: dt.date,
                     trip_known: TripKnown | None = None) -> DerivedItinerary:
    """Every ride of ``rides`` from the model of its service day, and the walks between them. Blocking (it may
    build a model): run it off the event loop."""
    for ride in rides:  # all dates first: an out-of-range day never makes the server build a model
        check_service_date(ride, today)
    out: list[Ride] = []
    transfers: list[Transfer] = []
    for ride in rides:
        model = model_for(ride.service_date)
        derived = derive_ride(model, ride, trip_known)
        if out:
            transfers.append(_transfer(out[-1], derived, ride, model))
        out.append(derived)
    return DerivedItinerary(out, transfers)


_FREQ_SUFFIX = re.compile(r"@\d\d:\d\d:\d\d$")  # frequency-based trips: ``trip@HH:MM:SS`` (routing.timetable)


class LegDeriver:
    """The booking side's view of the timetable: derives itineraries against whatever network is live (feeds
    published at run time included), in the transit service's thread pool when a model has to be built."""

    def __init__(self, transit):
        self.transit = transit  # maas.transit.TransitService
        self._known: tuple[object, IdTable] | None = None
        self._lock = threading.Lock()

    def trip_known(self, trip_id: str) -> bool:
        """Whether any feed of the live network has the trip (on some day): tells "does not run that day" from
        "no such trip"."""
        network = self.transit.network
        with self._lock:
            if self._known is None or self._known[0] is not network:
                # the network's trip ids as the models hold them (`IdTable.canonical`: their very table, when a
                # model is built; all-Tokyo 2.2 MiB shared, not a set of 50,000 strings, ~7 MiB, of its own)
                ids = IdTable.of([t for f in network.feeds for t in f.facts().trip_ids()]).canonical()
                self._known = (network, ids)
            known = self._known[1]
        return bool(known.find(trip_id)) or bool(known.find(_FREQ_SUFFIX.sub("", trip_id)))

    def derive_sync(self, rides: list[RideRequest], today: dt.date) -> DerivedItinerary:
        out = derive_itinerary(self.transit.model_for, rides, today, self.trip_known)
        self._refuse_cancelled(out)
        return out

    def _refuse_cancelled(self, out: DerivedItinerary) -> None:
        """Legs book the scheduled trip; one that realtime says is cancelled is not sold (409 trip_cancelled).
        Reads only an overlay already built (never builds one here: this may run on the event loop)."""
        peek = getattr(self.transit, "cached_overlay", None)
        if peek is None:
            return
        for r in out.rides:
            ov = peek(dt.date.fromisoformat(r.leg.service_date))
            if ov is not None and int(ov.base_state[r.trip]) == CANCELLED:
                raise TimetableMismatch(f"leg {r.leg.index}: trip {r.leg.trip_id} is cancelled today (GTFS-Realtime)",
                                        field=f"itinerary.legs[{r.leg.index}].trip_id", code="trip_cancelled")

    def today(self, now: dt.datetime) -> dt.date:
        """The service day of ``now`` on the feeds' own clock (`TransitService.today`): what "from yesterday"
        in `check_service_date` counts from, for a New York feed as for a Tokyo one."""
        return self.transit.today(now)

    async def derive(self, rides: list[RideRequest], today: dt.date) -> DerivedItinerary:
        """Inline when every day's model is built already (tens of µs a leg: less than a thread hop, which
        waits for the GIL switch interval under load); in the thread pool when a model must be built."""
        cached = set(self.transit.cached_dates())
        if all(r.service_date in cached for r in rides):
            return self.derive_sync(rides, today)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.transit.executor, self.derive_sync, rides, today)

    async def recheck(self, legs: list[LegRef], today: dt.date) -> None:
        """Booking an offer: its legs must still be the timetable's (an operator may have published a new feed
        since the offer was made). Raises ``TimetableMismatch`` (409, ``timetable_changed``) when not."""
        try:
            await self.derive([ride_of(leg) for leg in legs], today)
        except BookingError as err:
            raise TimetableMismatch(f"the timetable changed since this offer was made: {err.detail}; plan again",
                                    field="offer_id", code="timetable_changed") from None


def leg_day(model: TransitModel, leg: dict) -> dt.date:
    """A booked leg's service day (the model's own when the leg names none)."""
    day = leg.get("service_date")
    return dt.date.fromisoformat(day) if day else model.service_date


def ride_of(leg: LegRef) -> RideRequest:
    """A derived leg as a request again, every field a claim (to check it against a newer timetable)."""
    return RideRequest(index=leg.index, trip_id=leg.trip_id, service_date=dt.date.fromisoformat(leg.service_date),
                       board=StopRef(leg.from_stop, leg.from_seq), alight=StopRef(leg.to_stop, leg.to_seq),
                       operator=leg.operator, mode=leg.mode, route_id=leg.route_id, departure=leg.departure,
                       arrival=leg.arrival, distance_m=leg.distance_m)
