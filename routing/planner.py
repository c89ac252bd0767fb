"""Trip planning: places → one range RAPTOR search → itineraries, for depart-at and arrive-by.

Depart-at is Range RAPTOR over the departures in a window (`PlanOptions.range_window_s`) plus the query time
itself, so the journeys are Pareto over (departure, arrival, transfers) and each leaves as late as it can.
Arrive-by is the same search backwards in time from the arrival (the reversed timetable): no fixed window, it
finds the latest departure however long the trip. Walk-only answers are the planner's direct walk, never a
search result, so a walk between a station's platforms cannot hide the transit journey.

`Planner.plan` is pure with respect to the planner (read-only model, walker and lookup tables) and the RAPTOR
kernel releases the GIL, so one Planner serves many threads.
"""
from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from feeds.geo import haversine_scalar_m
from routing.itinerary import Itinerary, build_itinerary, direct_walk, precompute_tables
from routing.masks import ClosureMask
from routing.names import NameIndex
from routing.places import Place, PlaceError, PlaceIndex
from routing.raptor import Journey, RaptorQuery, RideLeg, range_raptor, warm_late_bounds
from routing.timetable import MODE_INDEX, QUERY_RANGE, TransitModel
from routing.walking import StraightLineWalker


# Proof runs per itinerary asked for, at most (see `Planner._prove`): each proves one journey a range search's
# first run found. 150 all-Tokyo bench plans needed 1.8 a plan, at most 4 (of 3 × LATE_RUNS = 12 allowed)
LATE_RUNS = 4


class PlanError(ValueError):
    """A request we cannot plan (unknown place, date outside the model, bad option): a client error."""


@dataclass
class PlanOptions:
    # 8 transfers: real Tokyo journeys need up to 7 rides; a round that improves nothing ends the search, so
    # the limit costs nothing where it is not needed
    max_transfers: int = 8
    max_walk_m: float = 800.0
    walk_speed: float = 1.2
    wheelchair: bool = False
    modes: list[str] | None = None  # None = every transit mode
    min_transfer_s: int = 60  # the least time for any change of vehicle, walking or at the same stop
    stay_seated: bool = True  # ride through-running links (transfers.txt type 4) in one seat
    num_itineraries: int = 3
    # departures (arrivals for arrive-by) searched after (before) the query time at most: windows of 15 min,
    # then doubling, until num_itineraries are found (see Planner._ranges)
    range_window_s: int = 2 * 3600

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
        if not (0 <= self.range_window_s <= 6 * 3600):
            raise PlanError("range_window_s must be between 0 and 21600")
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
    def pattern_mask(self, modes: list[str] | None) -> np.ndarray | None:
        if not modes:
            return None
        wanted = np.array([MODE_INDEX[m.upper()] for m in modes if m.upper() != "WALK"], np.int8)
        return np.isin(self.model.pattern_mode, wanted)

    def resolve(self, text: str, options: PlanOptions, walker=None) -> Place:
        """The place ``text`` names; a stop or station once per text (neither options nor walker change it),
        coordinates every time (their walks do)."""
        named = self.__dict__.setdefault("_named_places", {})
        hit = named.get(text)
        if hit is not None:
            return hit
        try:
            place = self.places.resolve(text, walker or self.walker, options.max_walk_m, options.walk_speed)
        except PlaceError as exc:
            raise PlanError(str(exc)) from None
        if not place.is_point:
            if len(named) >= 4096:
                named.clear()
            named[text] = place
        return place

    def model_seconds(self, when: dt.datetime) -> int:
        return self.model.seconds_of(when)

    def _query(self, frm: Place, to: Place, opts: PlanOptions, allowed, mask, inseat: bool) -> RaptorQuery:
        return RaptorQuery(frm.stops, frm.seconds, to.stops, to.seconds, max_rides=opts.max_transfers + 1,
                           pattern_allowed=allowed, wheelchair=opts.wheelchair, min_transfer_s=opts.min_transfer_s,
                           walk_speed=opts.walk_speed, mask=mask, inseat=inseat, report_walks=False)

    # ---- searches -----------------------------------------------------------------------------------------
    def depart_at(self, o: Place, d: Place, t0: int, opts: PlanOptions, allowed, mask) -> list[Journey]:
        """The next departures from t0 (see `_ranges`), then the first ``num_itineraries`` by departure."""
        q = self._query(o, d, opts, allowed, mask, opts.stay_seated)
        keys = _Keys(o)  # each journey's facts once, though `_ranges` chooses again after every window
        chosen = keys.once(lambda js: self._choose(o, js, opts, latest_first=False, keys=keys))
        js = self._ranges(q, t0, opts, keys.departure, backward=False, chosen=chosen,
                          other=lambda j: j.arrival,
                          q_other=lambda: self._query(d, o, opts, allowed, mask, opts.stay_seated))
        return chosen(js)

    def arrive_by(self, o: Place, d: Place, t_arr: int, opts: PlanOptions, allowed, mask) -> list[Journey]:
        """The latest departures arriving by t_arr: backward range searches (in-seat links followed backwards,
        `routing.raptor.reversed_timetable`)."""
        q = self._query(d, o, opts, allowed, mask, opts.stay_seated)
        keys = _Keys(o)
        chosen = keys.once(lambda js: self._choose(o, [j for j in js if j.arrival <= t_arr], opts, True, keys))
        js = self._ranges(q, t_arr, opts, lambda j: j.arrival, backward=True, chosen=chosen,
                          other=keys.departure,
                          q_other=lambda: self._query(o, d, opts, allowed, mask, opts.stay_seated))
        return chosen(js)

    def _ranges(self, q: RaptorQuery, t0: int, opts: PlanOptions, when, backward: bool, chosen, other,
                q_other: Callable[[], RaptorQuery]) -> list[Journey]:
        """Range searches in growing windows (15 min, then doubling) from t0 until enough itineraries or
        ``range_window_s`` searched: a range search costs about one RAPTOR run per departure in its window, so
        dense networks stop after the first window. Each window's last run, at its start, also finds what
        leaves (arrives, backward) after a gap: the next window starts there (the first train of the morning).
        Journeys of several windows are merged; `_choose` keeps the non-dominated ones.

        A range search proves the journeys that leave before its first run (its latest departure; arrive after,
        backward): the run at their own departure reported them, so no later departure arrives as early with as
        many rides. What its first run found (at or after it) may leave too early. Each such journey the answer
        chooses gets one search the other way from its other end (`_prove`), unless another range search settled
        it already (`_settled_by_windows`); ``q_other`` makes that search's query (on the first proof run: most
        plans need none)."""
        sign = -1 if backward else 1
        js: list[Journey] = []
        unproven: set[int] = set()  # ids of the journeys a search's first run found (see `_prove`)
        windows: list[tuple[int, int, int]] = []  # (start, first run, end) of the range searches with a
        #                                            departure in their window, in sign × time

        def search(start: int, width: int):
            """One range search; its journeys, those its first run found and its window (if any) kept."""
            res = range_raptor(self.model, q, start, width, backward=backward)
            js.extend(res.journeys)
            unproven.update(self._unproven(res, when, sign))
            if res.first_run is not None:
                windows.append((sign * start, sign * res.first_run, sign * start + width))
            return res

        start, width, searched = t0, min(900, opts.range_window_s), 0
        for _ in range(16):  # (each round searches a window or jumps to a later departure: a few suffice)
            res = search(start, width)
            first_run = res.first_run
            end = start + sign * width
            beyond = [x for j in res.journeys if (x := sign * when(j)) > sign * end]
            if res.departures:
                searched += width
                start = end + sign
            elif beyond:  # nothing leaves within the window: on to the first that does, which is not yet
                start = sign * min(beyond)  # searched as a range (it may leave later than found)
            else:
                break  # nothing at all
            if searched >= opts.range_window_s or (res.departures
                                                   and len(chosen(js)) >= opts.num_itineraries):
                break
            width = min(2 * width, max(opts.range_window_s - searched, 900))
        # journeys only a window's last run found (after everything searched as a range): search from the first
        # of them, so they too leave as late as they can
        late = [x for j in js if (x := sign * when(j)) > sign * end]
        if late and not self._settled(q, chosen(js), opts, first_run, when, sign):
            search(sign * min(late), 900)
        if q.mask is None:  # (closures: see `_settled`)
            unproven.difference_update(self._settled_by_windows(js, unproven, windows, when, sign))
        return self._prove(q_other, js, unproven, chosen, when, other, sign, opts)

    @staticmethod
    def _settled_by_windows(js: list[Journey], unproven: set[int], windows: list[tuple[int, int, int]], when,
                            sign: int) -> list[int]:
        """ids of the ``unproven`` journeys (a first run found them) that the range searches' results prove
        already: j leaves (arrives, backward) at d inside windows searched back to back, [start, end] with no
        second between them unsearched, before the first run F of the last of them. A journey leaving later
        than d, at d' ≤ end, leaves inside one of those windows: its search's run at d' (or a later one of its
        window) found one as early with no more rides, which leaves at d' or later. One leaving after end,
        the last window's first run matches by waiting at the origin from F > d. Either way a journey in ``js``
        leaves later than j and arrives no later with no more changes: it dominates j, so `_choose` drops j;
        else j leaves as late as it can, which is what its proof run would show. (The same argument as for the
        journeys a range search's other runs found, `_unproven`; without closures, as in `_settled`.) Windows
        are (start, first run, end) in sign × time."""
        if not windows or not unproven:
            return []
        blocks: list[list[int]] = []  # [start, last first run, end] of back-to-back windows
        for a, f, e in sorted(windows):
            if blocks and a <= blocks[-1][2] + 1:
                blocks[-1][1] = max(blocks[-1][1], f)
                blocks[-1][2] = max(blocks[-1][2], e)
            else:
                blocks.append([a, f, e])
        return [id(j) for j in js if id(j) in unproven
                and any(a <= sign * when(j) < f for a, f, _ in blocks)]

    @staticmethod
    def _unproven(res, when, sign: int) -> list[int]:
        """ids of the journeys a range search's first run found: they leave at or after it (arrive at or
        before it, backward), where no run of the search checked that a later departure does no better."""
        if res.first_run is None:
            return [id(j) for j in res.journeys]
        return [id(j) for j in res.journeys if sign * when(j) >= sign * res.first_run]

    def _prove(self, q_other: Callable[[], RaptorQuery], js: list[Journey], unproven: set[int], chosen, when, other,
               sign: int, opts: PlanOptions) -> list[Journey]:
        """Every chosen journey leaves as late as it can for its arrival and rides (arrive-by: arrives as early as
        it can for its departure and rides). A chosen journey j that a first run found (``unproven``) gets one
        RAPTOR run the other way from its other end: backward from its arrival, the latest departure that still
        arrives by then with no more rides (forward from its departure, backward searches). By FIFO (waiting at
        the origin) that journey arrives exactly when j does, so it dominates j or equals it, and it is itself
        proven. Ends when every chosen journey is proven: each run proves one journey of the first runs' finite
        set and adds only proven ones, so at most one run per such journey; LATE_RUNS caps it
        (``num_itineraries`` × LATE_RUNS runs)."""
        proven: set[tuple] = set()
        query = None  # (``q_other`` makes it on the first proof run: most plans need none)
        for _ in range(LATE_RUNS * opts.num_itineraries):
            todo = [j for j in chosen(js) if id(j) in unproven and (when(j), other(j), j.transfers) not in proven]
            if not todo:
                break
            j = todo[0]
            unproven.discard(id(j))
            if query is None:
                query = q_other()
            q1 = copy.copy(query)  # (`dataclasses.replace` without its per-field machinery)
            q1.max_rides = min(query.max_rides, j.transfers + 1)  # (no more rides)
            res = range_raptor(self.model, q1, other(j), 0, backward=sign > 0, bound=when(j))  # (strictly better)
            cands = [c for c in res.journeys if c.transfers <= j.transfers and sign * other(c) <= sign * other(j)]
            best = max(cands, key=lambda c: (sign * when(c), -c.transfers, -sign * other(c)), default=None)
            if best is None or (when(best), other(best), best.transfers) == (when(j), other(j), j.transfers):
                proven.add((when(j), other(j), j.transfers))  # (none better: j itself is the latest)
            else:  # it dominates j: `_choose` keeps it instead
                proven.add((when(best), other(best), best.transfers))
                js.append(best)
        return js

    @staticmethod
    def _settled(q: RaptorQuery, chosen: list[Journey], opts: PlanOptions, first_run: int | None, when,
                 sign: int) -> bool:
        """Whether a search of later departures (earlier arrivals, backward) cannot change ``chosen``: it holds
        ``num_itineraries`` journeys and each leaves before (arrives after) the last window's first run, the only
        run whose journeys may not leave as late as they can. A later departure d reaches no journey that departure
        ``first_run`` ≤ d cannot (waiting at the origin, FIFO), and each chosen one arrives strictly earlier, for
        its rides, than ``first_run``'s journeys: none is dominated, none with fewer changes appears, and later
        ones sort after the chosen. Closures break the waiting argument (a source closed now may open later): with
        a mask the later search always runs."""
        if q.mask is not None or first_run is None or len(chosen) < opts.num_itineraries:
            return False
        return all(sign * when(j) < sign * first_run for j in chosen)

    def _choose(self, o: Place, js: list[Journey], opts: PlanOptions, latest_first: bool,
                keys: _Keys | None = None) -> list[Journey]:
        """Distinct trip sets, non-dominated over (departure, arrival, transfers); the next departures (the
        latest ones for arrive-by), keeping the fewest-transfer option; sorted by departure. ``keys``: the
        journeys' facts from earlier calls of the same search (else worked out here)."""
        key_of = (keys or _Keys(o)).of
        by_trips: dict[tuple, tuple] = {}
        for j in js:
            key, trips = key_of(j)
            old = by_trips.get(trips)
            if old is None or key[0] > old[0] or (key[0] == old[0] and key[1] < old[1]):
                by_trips[trips] = key
        keep = _front(list(by_trips.values()))
        keep.sort(key=_triple, reverse=latest_first)
        chosen = keep[:opts.num_itineraries]
        if len(chosen) >= 2:  # (a single answer is the next departure, however many changes it needs)
            fewest = min(k[2] for k in keep)
            if min(k[2] for k in chosen) > fewest:
                cands = [k for k in keep if k[2] == fewest]
                chosen[-1] = (max(cands, key=lambda k: (k[0], -k[1])) if latest_first
                              else min(cands, key=lambda k: (k[1], -k[0])))
        chosen.sort(key=_pair)
        return [k[3] for k in chosen]

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
        if not (QUERY_RANGE[0] <= t < QUERY_RANGE[1]):
            raise PlanError(f"{when.isoformat()} is outside the transit model's service date {self.model.date}")
        if mask is not None and mask.empty:
            mask = None
        allowed = self.pattern_mask(opts.modes)
        if arrive_by:
            journeys = self.arrive_by(o, d, t, opts, allowed, mask)
        else:
            journeys = self.depart_at(o, d, t, opts, allowed, mask)
        paths: dict = {}  # (the walks between a coordinate place and its stops, shared by the itineraries)
        its = [build_itinerary(self.model, walker, j, o, d, paths) for j in journeys]
        walk = self._direct_walk(walker, o, d, t, arrive_by, opts)
        if walk is not None:
            its.insert(0, walk)
        return its

    def warm_up(self) -> int:
        """Compile (or load from numba's cache) every kernel a plan uses and fill this thread's label pool: a
        depart-at and an arrive-by plan along the model's first pattern, the time-dependent bound of long range
        searches on both clocks (`warm_late_bounds`); the tables itineraries read filled (`precompute_tables`).
        Returns the itineraries found."""
        m = self.model
        precompute_tables(m)
        probe = self.sample_trip()
        if probe is None:
            return 0
        a, b, dep, arr = probe
        found = len(self.plan(a, b, dep)) + len(self.plan(a, b, arr, arrive_by=True))
        opts = PlanOptions()
        q = self._query(self.resolve(a, opts), self.resolve(b, opts), opts, None, None, opts.stay_seated)
        warm_late_bounds(m, q, m.seconds_of(dep))
        return found

    def sample_trip(self) -> tuple[str, str, dt.datetime, dt.datetime] | None:
        """A query this model answers with a ride, for warm-ups: (first stop, last stop, departure there, arrival
        there) of the first run on the model's own day along the first pattern with two distinct ends; None for
        a model without one."""
        m = self.model
        for p in range(m.n_patterns):
            L = m.pattern_len(p)
            if L < 2 or m.pattern_trips_start[p + 1] == m.pattern_trips_start[p]:
                continue
            base = int(m.pattern_stops_start[p])
            a, b = m.stop_ids[int(m.pattern_stops[base])], m.stop_ids[int(m.pattern_stops[base + L - 1])]
            if a == b:
                continue
            today = [t for t in range(int(m.pattern_trips_start[p]), int(m.pattern_trips_start[p + 1]))
                     if m.trip_day_offset[t] == 0]
            if not today:
                continue
            off, _ = m.trip_times_offset(today[0])
            return a, b, m.datetime_of(int(m.st_dep[off])), m.datetime_of(int(m.st_arr[off + L - 1]))
        return None

    def walker_for(self, mask: ClosureMask | None):
        """The walker with the mask's closed street edges removed (a cheap cached view), else the open one."""
        closed = None if mask is None else mask.street_edge_closed
        if closed is not None and closed.any() and hasattr(self.walker, "with_closed_edges"):
            return self.walker.with_closed_edges(closed)
        return self.walker

    def _direct_walk(self, walker, o: Place, d: Place, t: int, arrive_by: bool, opts: PlanOptions) -> Itinerary | None:
        if o.stop_id is not None and o.stop_id == d.stop_id or _surely_too_far(walker, o, d, opts.max_walk_m):
            return None
        probe = walker.path(o.lat, o.lon, d.lat, d.lon)
        if not np.isfinite(probe.distance_m) or probe.distance_m > opts.max_walk_m:
            return None
        dur = max(int(np.ceil(probe.distance_m / opts.walk_speed)), self._feed_walk_s(o, d))
        return direct_walk(self.model, walker, o, d, t - dur if arrive_by else t, opts.walk_speed, probe, dur)

    def _feed_walk_s(self, o: Place, d: Place) -> int:
        """The feed's transfer time between the two places' stops (transfers.txt), 0 when it gives none: a
        walk between two platforms never beats it."""
        if o.is_point or d.is_point:
            return 0
        m = self.model
        best = None
        targets = set(np.asarray(d.stops).tolist())
        for a in np.asarray(o.stops).tolist():
            for e in range(int(m.fp_start[a]), int(m.fp_start[a + 1])):
                if int(m.fp_to[e]) in targets and m.fp_fixed_s[e] >= 0:
                    best = int(m.fp_fixed_s[e]) if best is None else min(best, int(m.fp_fixed_s[e]))
        return best or 0


def _surely_too_far(walker, o: Place, d: Place, max_walk_m: float) -> bool:
    """Whether a straight-line walker's walk between the places is longer than ``max_walk_m`` by more than any
    rounding: its length is the great circle × the detour factor, here in scalar `math` (a tenth of the numpy
    call's cost: most plans' places are kilometres apart). 0.1 % of margin; near the limit, and for street
    walkers, `Walker.path` decides."""
    if type(walker) is not StraightLineWalker:
        return False
    return haversine_scalar_m(o.lat, o.lon, d.lat, d.lon) * walker.detour > max_walk_m * 1.001


class _Keys:
    """Per search: each journey's departure from the place (`departure`), its key for `Planner._choose`
    (departure from the place, arrival, transfers, journey) and trip set, worked out once in one pass over its
    legs: `_ranges` and `_prove` ask for the departure of every journey several times, `_choose` runs after
    every window of a range search, on all journeys found so far."""

    __slots__ = ("access", "memo", "last", "place")

    def __init__(self, o: Place):
        self.place = o
        # the access seconds of the origin's stops (the last one listed when a stop repeats)
        self.access = {int(s): int(t) for s, t in zip(np.asarray(o.stops).tolist(), np.asarray(o.seconds).tolist())}
        # id(journey) → (journey, departure, key, trips); the journey held: ids stay unique
        self.memo: dict[int, tuple] = {}
        self.last: tuple | None = None  # (journeys list, its length, what `once`'s choice made of it)

    def once(self, choose):
        """``choose`` answering again without choosing again while the search's journey list is the same list of
        the same length: `Planner._ranges` only ever adds to it, and asks after each window, in `_settled`,
        before each proof run and at the end (half of those asks see nothing new)."""
        def chosen(js: list[Journey]) -> list[Journey]:
            last = self.last
            if last is not None and last[0] is js and last[1] == len(js):
                return list(last[2])
            out = choose(js)
            self.last = (js, len(js), out)
            return list(out)
        return chosen

    def _entry(self, j: Journey) -> tuple:
        """``j``'s memo entry, worked out (`departure` and `of` found none)."""
        first, transfers, trips = _facts(j)
        src = j.source_stop
        hit = self.memo[id(j)] = (j, first - self.place.seconds_to(src),
                                  (first - self.access.get(src, 0), j.arrival, transfers, j), trips)
        return hit

    def departure(self, j: Journey) -> int:
        """When ``j`` leaves the search's origin place: its first departure less the walk from the place to its
        first stop (`Place.seconds_to`)."""
        hit = self.memo.get(id(j))
        if hit is None or hit[0] is not j:
            hit = self._entry(j)
        return hit[1]

    def of(self, j: Journey) -> tuple[tuple, tuple]:
        hit = self.memo.get(id(j))
        if hit is None or hit[0] is not j:
            hit = self._entry(j)
        return hit[2], hit[3]


def _facts(j: Journey) -> tuple[int, int, tuple]:
    """``j.first_departure``, ``j.transfers`` and ``j.trip_key`` in one pass over the legs (each property walks
    them again, and `Planner._choose` asks for all three of every journey after every window)."""
    walked, first, rides, trips = 0, None, 0, []
    for leg in j.legs:
        if type(leg) is RideLeg:  # (legs are RideLegs and WalkLegs, never subclasses)
            if first is None:
                first = leg.departure - walked
            trips.append(leg.trip)
            rides += not leg.stay_seated
        elif first is None:
            walked += leg.arrival - leg.departure
    return (j.start if first is None else first), max(rides - 1, 0), tuple(trips)


def _triple(k: tuple) -> tuple:
    return k[0], k[1], k[2]


def _pair(k: tuple) -> tuple:
    return k[0], k[1]


def _latest_first(k: tuple) -> tuple:
    return -k[0], k[1], k[2]


def _front(keyed: list[tuple]) -> list[tuple]:
    """The (departure, arrival, transfers, …) tuples no other one beats: leaves no earlier, arrives no later,
    changes no more often, and differs; latest departure first (ties in ``keyed``'s order). Latest departure
    first, a tuple can only be beaten by one before it, and then by one already kept (beating is transitive): one
    pass against the kept few, not all pairs."""
    kept: list[tuple] = []
    for k in sorted(keyed, key=_latest_first):
        d, a, t = k[0], k[1], k[2]
        for b in kept:
            if b[1] <= a and b[2] <= t and (b[1] != a or b[2] != t or b[0] != d):
                break
        else:
            kept.append(k)
    return kept
