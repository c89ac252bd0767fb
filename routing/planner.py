"""Trip planning: places → RAPTOR searches → itineraries, for depart-at (range of next departures) and arrive-by.

`Planner.plan` is pure with respect to the planner (read-only model, walker and lookup tables) and the RAPTOR
kernel releases the GIL, so one Planner serves many threads.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from routing.itinerary import TOKYO, Itinerary, build_itinerary, direct_walk
from routing.masks import ClosureMask
from routing.names import NameIndex
from routing.places import Place, PlaceError, PlaceIndex
from routing.raptor import Journey, RaptorQuery, run_raptor
from routing.timetable import MODE_INDEX, TransitModel


class PlanError(ValueError):
    """A request we cannot plan (unknown place, date outside the model, bad option): a client error."""


@dataclass
class PlanOptions:
    max_transfers: int = 4
    max_walk_m: float = 800.0
    walk_speed: float = 1.2
    wheelchair: bool = False
    modes: list[str] | None = None  # None = every transit mode
    min_transfer_s: int = 60
    stay_seated: bool = True  # ride through-running links (transfers.txt type 4) in one seat
    num_itineraries: int = 3
    arrive_by_window_s: int = 3 * 3600  # how far before the arrival time an arrive-by search looks

    def validate(self) -> None:
        if self.max_transfers < 0 or self.max_transfers > 10:
            raise PlanError("max_transfers must be between 0 and 10")
        if not (0.3 <= self.walk_speed <= 3.0):
            raise PlanError("walk_speed must be between 0.3 and 3.0 m/s")
        if self.max_walk_m < 0 or self.max_walk_m > 5000:
            raise PlanError("max_walk_m must be between 0 and 5000")
        if not (1 <= self.num_itineraries <= 10):
            raise PlanError("num_itineraries must be between 1 and 10")
        if self.min_transfer_s < 0:
            raise PlanError("min_transfer_s must be ≥ 0")
        if self.modes is not None:
            bad = [m for m in self.modes if m.upper() not in MODE_INDEX]
            if bad:
                raise PlanError(f"unknown modes {bad}; known: {sorted(MODE_INDEX)}")


class Planner:
    """Plans on one TransitModel with one Walker (whose stop indexes are the model's)."""

    def __init__(self, model: TransitModel, walker, names: NameIndex | None = None):
        self.model = model
        self.walker = walker
        self.places = PlaceIndex(model, names)

    # ---- helpers ------------------------------------------------------------------------------------------
    def pattern_mask(self, modes: list[str] | None) -> np.ndarray:
        if not modes:
            return np.ones(self.model.n_patterns, np.bool_)
        wanted = np.array([MODE_INDEX[m.upper()] for m in modes if m.upper() != "WALK"], np.int8)
        return np.isin(self.model.pattern_mode, wanted)

    def resolve(self, text: str, options: PlanOptions, walker=None) -> Place:
        try:
            return self.places.resolve(text, walker or self.walker, options.max_walk_m, options.walk_speed)
        except PlaceError as exc:
            raise PlanError(str(exc)) from None

    def model_seconds(self, when: dt.datetime) -> int:
        local = when.astimezone(TOKYO) if when.tzinfo else when.replace(tzinfo=TOKYO)
        days = (local.date() - self.model.service_date).days
        return days * 86400 + local.hour * 3600 + local.minute * 60 + local.second

    def _search(self, o: Place, d: Place, tau: int, opts: PlanOptions, allowed, mask) -> list[Journey]:
        q = RaptorQuery(o.stops, tau + o.seconds, d.stops, d.seconds, max_rides=opts.max_transfers + 1,
                        pattern_allowed=allowed, wheelchair=opts.wheelchair, min_transfer_s=opts.min_transfer_s,
                        walk_speed=opts.walk_speed, mask=mask, inseat=opts.stay_seated)
        return [j for j in run_raptor(self.model, q).pareto() if j.rides > 0]

    @staticmethod
    def _departure(o: Place, j: Journey) -> int:
        return j.first_departure - o.seconds_to(j.source_stop)

    # ---- searches -----------------------------------------------------------------------------------------
    def depart_at(self, o: Place, d: Place, t0: int, opts: PlanOptions, allowed, mask) -> list[Journey]:
        """The next good departures: rerun just after the fastest journey's departure (distinct trips)."""
        found: dict[tuple, Journey] = {}
        tau = t0
        for _ in range(opts.num_itineraries * 3):
            js = self._search(o, d, tau, opts, allowed, mask)
            if not js:
                break
            for j in js:
                found.setdefault(j.trip_key, j)
            fastest = min(js, key=lambda j: (j.arrival, j.rides))
            tau = max(self._departure(o, fastest), tau) + 1
            if len(self._non_dominated(o, list(found.values()))) >= opts.num_itineraries:
                break
        keep = self._non_dominated(o, list(found.values()))
        keep.sort(key=lambda j: (self._departure(o, j), j.arrival, j.rides))
        return keep[:opts.num_itineraries]

    def _non_dominated(self, o: Place, js: list[Journey]) -> list[Journey]:
        out = []
        for a in js:
            da = self._departure(o, a)
            if not any(b is not a and self._departure(o, b) >= da and b.arrival <= a.arrival and b.rides <= a.rides
                       and (self._departure(o, b), -b.arrival, -b.rides) != (da, -a.arrival, -a.rides)
                       for b in js):
                out.append(a)
        return out

    def latest_departure(self, o: Place, d: Place, limit: int, opts: PlanOptions, allowed, mask) -> Journey | None:
        """The journey leaving latest that arrives by ``limit``: binary search on the departure time.

        Earliest arrival never decreases with a later departure, so "arrives by limit" is monotone in it.
        """
        def best_by(tau: int) -> Journey | None:
            ok = [j for j in self._search(o, d, tau, opts, allowed, mask) if j.arrival <= limit]
            return max(ok, key=lambda j: (self._departure(o, j), -j.arrival, -j.rides)) if ok else None

        lo = limit - opts.arrive_by_window_s
        best = best_by(lo)
        if best is None:
            return None
        lo, hi = self._departure(o, best), limit
        while hi - lo > 1:
            mid = (lo + hi) // 2
            j = best_by(mid)
            if j is None:
                hi = mid
            else:
                best, lo = j, max(self._departure(o, j), mid)
        return best

    def arrive_by(self, o: Place, d: Place, t_arr: int, opts: PlanOptions, allowed, mask) -> list[Journey]:
        out: list[Journey] = []
        limit = t_arr
        while len(out) < opts.num_itineraries:
            j = self.latest_departure(o, d, limit, opts, allowed, mask)
            if j is None:
                break
            out.append(j)
            limit = j.arrival - 1
        out.sort(key=lambda j: (self._departure(o, j), j.arrival))
        return out

    # ---- the API ------------------------------------------------------------------------------------------
    def plan(self, origin: str, destination: str, when: dt.datetime, arrive_by: bool = False,
             options: PlanOptions | None = None, mask: ClosureMask | None = None) -> list[Itinerary]:
        """Itineraries from ``origin`` to ``destination`` leaving at/after ``when`` (or arriving by it)."""
        opts = options or PlanOptions()
        opts.validate()
        walker = self.walker_for(mask)
        o = self.resolve(origin, opts, walker)
        d = self.resolve(destination, opts, walker)
        t = self.model_seconds(when)
        if not (-86400 < t < 2 * 86400):
            raise PlanError(f"{when.isoformat()} is outside the transit model's service date {self.model.date}")
        if mask is not None and mask.empty:
            mask = None
        allowed = self.pattern_mask(opts.modes)
        if arrive_by:
            journeys = self.arrive_by(o, d, t, opts, allowed, mask)
        else:
            journeys = self.depart_at(o, d, t, opts, allowed, mask)
        its = [build_itinerary(self.model, walker, j, o, d) for j in journeys]
        walk = self._direct_walk(walker, o, d, t, arrive_by, opts)
        if walk is not None:
            its.insert(0, walk)
        return its

    def walker_for(self, mask: ClosureMask | None):
        """The walker with the mask's closed street edges removed (a cheap cached view), else the open one."""
        closed = None if mask is None else mask.street_edge_closed
        if closed is not None and closed.any() and hasattr(self.walker, "with_closed_edges"):
            return self.walker.with_closed_edges(closed)
        return self.walker

    def _direct_walk(self, walker, o: Place, d: Place, t: int, arrive_by: bool, opts: PlanOptions) -> Itinerary | None:
        if o.stop_id is not None and o.stop_id == d.stop_id:
            return None
        probe = walker.path(o.lat, o.lon, d.lat, d.lon)
        if not np.isfinite(probe.distance_m) or probe.distance_m > opts.max_walk_m:
            return None
        dur = int(np.ceil(probe.distance_m / opts.walk_speed))
        return direct_walk(self.model, walker, o, d, t - dur if arrive_by else t, opts.walk_speed, probe)
