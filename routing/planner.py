"""Trip planning: places → range RAPTOR searches → itineraries, for depart-at and arrive-by.

The answer is a function of the query alone (not of how the search is split into windows, `Windows`):

* Journeys: from the origin place to the destination with at least one ride, under the query's rules (mode
  filter, wheelchair, closures, change time, walking speed, in-seat links, max_transfers), leaving at or after
  t0 (arrive-by: arriving by t0), wholly within the `horizon` (leaving at or after its start, arriving by its
  end: a walk that waits out a closure with no end makes no journey). A journey's departure is the latest it
  may leave the place for its first ride (the walk to it; with closures, a walk neither leaves nor reaches a
  stop while it is closed, and waits beside it instead); its arrival is the earliest it reaches the place
  after its last ride; transfers count rides less one, in-seat continuations not counted. Key: (departure,
  arrival, transfers).
* Pareto: a journey is beaten by another that leaves no earlier, arrives no later, changes no more often and
  differs in key. Whether one is beaten depends on later departures only (arrive-by: earlier arrivals), not on
  t0. One journey per unbeaten key: of several found with equal keys (different trips to the same times), the
  least by their legs in order (trip, board and alight positions; walks by their stops), a tie-break fixed by
  the model; walks after the first ride placed one way (`_walks_placed`). Not fully defined: RAPTOR keeps one
  label per stop and round, so which of equal alternatives a run records depends on the labels later
  departures left, and rarely on the windows (1 of 300 all-Tokyo plans over four schedules: an earlier train
  on the middle leg and a longer change; making it canonical would re-derive each chosen journey's trips). The
  same trip boarded at two different times (the Oedo loop) gives two keys, both candidates when neither beats
  the other.
* Range: s is the departure of the first unbeaten journey (arrive-by: the arrival of the latest), however far
  after t0 within the `horizon` (the first train after the night: a stretch where nothing leaves does not
  count). The candidates are the unbeaten journeys leaving in [s, s + range_window_s] (arrive-by: arriving in
  [s - range_window_s, s]); when fewer than ``num_itineraries`` do, the first ``num_itineraries`` unbeaten ones
  (the last train and the first ones of the morning), however far within the horizon.
* Choice: the first ``num_itineraries`` by (departure, arrival, transfers, tie-break) (arrive-by: latest
  departure first, then earliest arrival: leave as late as possible); when none of those has the fewest
  transfers of all candidates, the last gives way to the first candidate with that many (it arrives first
  among them; arrive-by: leaves last). One
  itinerary asked for is the first candidate, however many changes it needs. Sorted by departure.

Depart-at is Range RAPTOR over the departures in windows from t0 (`Planner._ranges`), arrive-by the same search
backwards in time (the reversed timetable): no fixed window, it finds the latest departure however long the trip
(within the `horizon`: no ride left before the midnight starting the day before t0's).
Walk-only answers are the planner's direct walk, never a search result, so a walk between a station's platforms
cannot hide the transit journey. The direct walk (within ``max_walk_m``) leaves whenever one likes: a journey
that takes as long or longer is no answer beside it (75 m apart at Shinjuku, riding to Yoyogi and back was
offered), so a plan may hold fewer than ``num_itineraries`` rides. Between two named places of one station
(the station and itself, or stops of it) nothing is searched: the traveller is there already, and any ride
would go out and come back; the direct walk is the answer, or `SamePlace` when there is none.

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
from routing.raptor import Journey, RaptorQuery, RideLeg, WalkLeg, range_raptor, warm_late_bounds
from routing.raptor.state import walk_end, walk_start
from routing.timetable import DAY, MODE_INDEX, QUERY_RANGE, TransitModel
from routing.walking import StraightLineWalker


def horizon(t: int) -> tuple[int, int]:
    """How far a plan asked for at ``t`` (model seconds) looks: its rides lie between the midnight that starts
    the day before t's day and the one that ends the day after it (``(rides_since, rides_until)``, `RaptorQuery`).
    So 24 to 48 hours each way (a 24-hour ferry is found from most times), and the same answer from every model
    serving t's day: a model holds the trips of the days around each day it serves (`routing.timetable.DAYS`),
    the model of the day before too, so no answer depends on which one the server had built (a search with no
    horizon saw one day further on the day's own model)."""
    day = t // DAY
    return (day - 1) * DAY, (day + 2) * DAY - 1


# Proof runs per itinerary asked for, at most (see `Planner._prove`): each settles one journey a range search's
# first run found. 300 all-Tokyo bench plans needed 0.09 a plan
LATE_RUNS = 4


class PlanError(ValueError):
    """A request we cannot plan (unknown place, date outside the model, bad option): a client error."""


class SamePlace(PlanError):
    """Origin and destination are one station (or stops of it), and no walk joins them within the options:
    nothing to ride, nothing to answer (the API says so in a notice, not as an error)."""


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
    # candidates leave within this of the first one (arrive-by: arrive; see the module docstring)
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


@dataclass(frozen=True)
class Windows:
    """How `Planner._ranges` splits the departures it searches into range searches: the first ``first_s``
    seconds, then each window ``growth`` times the last (at least a minute). The answer does not depend on it
    (tests run several); the cost does: each range search's first run is a fresh RAPTOR run, each other run
    costs less, and a window wider than needed searches departures the answer never uses."""

    first_s: int = 2700
    growth: float = 2.0

    def first(self, span: int) -> int:
        return max(0, min(self.first_s, span))

    def grow(self, width: int) -> int:
        return max(int(width * self.growth), 60)


class Planner:
    """Plans on one TransitModel with one Walker (whose stop indexes are the model's)."""

    windows = Windows()  # (a class default: a test or benchmark may set another on an instance)

    def __init__(self, model: TransitModel, walker, names: NameIndex | None = None):
        self.model = model
        self.walker = walker
        self.places = PlaceIndex(model, names)

    # ---- helpers ------------------------------------------------------------------------------------------
    def pattern_mask(self, modes: list[str] | None) -> np.ndarray | None:
        """The patterns of these modes (None: all), made once per model and set of modes (all-Tokyo: ~16 µs a
        plan) and shared by its plans: the searches only read it (left writeable: numba types a read-only array
        apart, and would compile every kernel again for it). Kept in the model's ``__dict__``, not the planner's:
        a realtime planner is a shallow copy of its base planner on another model (more patterns)."""
        if not modes:
            return None
        wanted = frozenset(m.upper() for m in modes) - {"WALK"}
        masks = self.model.__dict__.setdefault("_pattern_masks", {})
        hit = masks.get(wanted)
        if hit is None:
            hit = np.isin(self.model.pattern_mode, np.array(sorted(MODE_INDEX[m] for m in wanted), np.int8))
            if len(masks) >= 256:
                masks.clear()
            masks[wanted] = hit
        return hit

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

    def _query(self, frm: Place, to: Place, opts: PlanOptions, allowed, mask, inseat: bool,
               t0: int | None = None) -> RaptorQuery:
        """The search of a plan asked for at ``t0`` (model seconds), within its `horizon`."""
        since, until = horizon(t0) if t0 is not None else (RaptorQuery.rides_since, RaptorQuery.rides_until)
        return RaptorQuery(frm.stops, frm.seconds, to.stops, to.seconds, max_rides=opts.max_transfers + 1,
                           pattern_allowed=allowed, wheelchair=opts.wheelchair, min_transfer_s=opts.min_transfer_s,
                           walk_speed=opts.walk_speed, mask=mask, inseat=inseat, report_walks=False,
                           rides_until=until, rides_since=since)

    # ---- searches -----------------------------------------------------------------------------------------
    def depart_at(self, o: Place, d: Place, t0: int, opts: PlanOptions, allowed, mask) -> list[Journey]:
        """The answer defined in the module docstring, leaving at or after t0 (see `_ranges`)."""
        q = self._query(o, d, opts, allowed, mask, opts.stay_seated, t0)
        keys = _Keys(o, 1, q.rides_until)
        return self._ranges(q, t0, opts, keys.departure, backward=False, keys=keys, other=keys.arrival,
                            q_other=lambda: self._query(d, o, opts, allowed, mask, opts.stay_seated, t0))

    def arrive_by(self, o: Place, d: Place, t_arr: int, opts: PlanOptions, allowed, mask) -> list[Journey]:
        """The same answer mirrored in time, arriving by t_arr: backward range searches (in-seat links followed
        backwards, `routing.raptor.reversed_timetable`)."""
        q = self._query(d, o, opts, allowed, mask, opts.stay_seated, t_arr)
        keys = _Keys(o, -1, q.rides_since)
        return self._ranges(q, t_arr, opts, lambda j: j.arrival, backward=True, keys=keys, other=keys.departure,
                            q_other=lambda: self._query(o, d, opts, allowed, mask, opts.stay_seated, t_arr))

    def _ranges(self, q: RaptorQuery, t0: int, opts: PlanOptions, when, backward: bool, keys: _Keys, other,
                q_other: Callable[[], RaptorQuery]) -> list[Journey]:
        """The answer of the module docstring's definition, searched in windows of ``self.windows`` (range
        searches back to back from t0, jumping over stretches where nothing leaves) until it is settled; the
        answer does not depend on the windows (ties aside: see the module docstring).

        In x = sign × time (backward, x = -arrival: the same reasoning holds both ways). A range search of [a, e]
        reports at each of its runs but its first (at F, the window's latest departure) the journeys no later
        departure beats: Pareto. Its first run reports the (arrival, transfers) front of everything leaving at F
        or later (waiting at the origin): those leaving after e may leave too early, and one leaving at F may be
        beaten by one after e. They stay *unresolved* until a later window (whose runs find any journey beating
        them) or a proof run (`_prove`). So with windows searched up to e, the front of the journeys found less
        the last window's unresolved ones is exactly the Pareto set up to e: s is its first departure, E = s +
        range_window_s. The search stops when e ≥ E, or earlier when the answer can no longer change:
        num_itineraries journeys in [s, E] (any later one sorts after them) with their fewest transfers no more
        than the last first run's fewest (every journey leaving at F or later has at least as many). Fewer in
        [s, E]: the next ones one at a time (`_next_after`), not windows of hours. Closures keep the waiting
        argument (a walk or a boarding waits for a closed stop to open: leaving later never arrives earlier,
        `raptor.state.walk_end`). When the last first run found nothing, nothing leaves from F on, and the search
        ends; depart-at, no Pareto journey leaves before the first one it found (`_first_later`), so the next
        window's runs start there when that is inside it, its top kept: the runs from there up are the whole
        window's, so are the journeys they find (ties too: a window with another top may record another of equal
        journeys, see the module docstring)."""
        sign = -1 if backward else 1
        span = opts.range_window_s
        js: list[Journey] = []
        fr = sign * t0  # the last window's first run: journeys from there on are unresolved
        a = sign * t0
        width = grown = self.windows.first(span)  # (``grown``: the schedule's width, ``width`` capped at the end)
        end = None
        proofs = _Proofs(self.model, q_other, when, other, sign)
        for _ in range(64):  # (windows grow: a few suffice; each jump over a gap is one more)
            res = range_raptor(self.model, q, sign * a, width, backward=backward)
            e = a + width
            fr = a if res.first_run is None else sign * res.first_run
            js.extend(res.journeys)
            front = keys.front(js, proofs.dropped)
            proven = [k for k in front if k[_X] < fr]
            n = opts.num_itineraries
            if proven:
                end = proven[0][_X] + span
                in_range = [k for k in proven if k[_X] <= end]
                if len(in_range) >= n:
                    if e >= end or _settled(in_range, front, fr, n, end):
                        break
                elif len(proven) >= n:  # fewer in range: the first n, all found (later ones leave after fr)
                    break
                elif e >= end:  # the first n beyond the range: one at a time (`_next_after`)
                    x = self._next_after(fr, js, keys, proofs)
                    if x is None or len(proven) + 1 >= n:
                        break
                    a, width = x + 1, 0
                    continue
            if res.departures:
                a, grown = e + 1, self.windows.grow(grown)
            else:  # nothing leaves within the window: on to the first journey found after it
                beyond = [k[_X] for k in front if k[_X] > e]
                if beyond:
                    a = min(beyond)
                else:
                    break
            if end is not None:  # (the windows stop at E; beyond it, windows of the first width)
                width = min(grown, end - a) if a <= end else self.windows.first(span)
            else:
                width = grown
            skip = _first_later(front, fr)
            if skip is None:  # nothing leaves from fr on (arrive-by: arrives by it)
                break
            if not backward and a < skip <= a + width:  # the window's runs from skip up, its top kept
                a, width = skip, a + width - skip
        return self._prove(js, fr, keys, proofs, opts, q.mask)

    @staticmethod
    def _next_after(fr: int, js: list[Journey], keys: _Keys, proofs: _Proofs) -> int | None:
        """x of the first Pareto journey from ``fr`` (the last search's first run) on, settled: it is on that
        run's front (found, maybe leaving too early), so its unresolved journeys are proven in x order (a proof
        only moves a journey later) until the earliest proven one comes before every unproven one. Then every
        Pareto journey up to it is known, so the next one is on the front of one run just after it. None when
        nothing was found from ``fr`` on."""
        while True:
            later = [k for k in keys.front(js, proofs.dropped) if k[_X] >= fr]
            done = min((k[_X] for k in later if id(k[_JOURNEY]) in proofs.checked), default=None)
            todo = next((k for k in later if id(k[_JOURNEY]) not in proofs.checked), None)
            if todo is None or (done is not None and done < todo[_X]):
                return done
            proofs.settle(todo[_JOURNEY], js)

    def _prove(self, js: list[Journey], fr: int, keys: _Keys, proofs: _Proofs, opts: PlanOptions,
               mask: ClosureMask | None) -> list[Journey]:
        """The choice (`_choose`) among the candidates, each chosen journey proven Pareto first (`_Proofs`), and
        the first one of the front (it sets s): those from the last search's first run ``fr`` on. Choose again
        after each proof run; each settles one journey of a finite set. ``mask``: for `_walks_placed`."""
        for _ in range(LATE_RUNS * opts.num_itineraries + 2):
            front = keys.front(js, proofs.dropped)
            if not front:
                return []
            chosen = _choose(_candidates(front, opts), opts.num_itineraries)
            todo = [k[_JOURNEY] for k in [front[0], *chosen] if id(k[_JOURNEY]) not in proofs.checked
                    and k[_X] >= fr]
            if not todo:
                break
            proofs.settle(todo[0], js)
        else:
            chosen = _choose(_candidates(keys.front(js, proofs.dropped), opts), opts.num_itineraries)
        return [_walks_placed(k[_JOURNEY], proofs.sign, mask) for k in sorted(chosen, key=_real_pair)]

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
        walk = self._direct_walk(walker, o, d, t, arrive_by, opts)
        if not o.is_point and not d.is_point and _one_station(self.model, o, d):
            # already there: a ride can only go out and come back (Shinjuku → Shinjuku rode to Yoyogi and back,
            # or round the Oedo loop). The walk between the two (a station and its platform, two platforms) is
            # the answer
            if walk is None:
                raise SamePlace(f"{origin!r} and {destination!r} are the same station ({o.name or o.stop_id}): "
                                f"there is nothing to ride")
            return [walk]
        allowed = self.pattern_mask(opts.modes)
        if arrive_by:
            journeys = self.arrive_by(o, d, t, opts, allowed, mask)
        else:
            journeys = self.depart_at(o, d, t, opts, allowed, mask)
        paths: dict = {}  # (the walks between a coordinate place and its stops, shared by the itineraries)
        its = [build_itinerary(self.model, walker, j, o, d, paths) for j in journeys]
        if walk is not None:  # rides that take as long as the walk: it leaves when they do and is there as soon
            its = [walk, *(it for it in its if it.duration_s < walk.duration_s)]
        return its

    def warm_up(self) -> int:
        """Compile (or load from numba's cache) every kernel a plan uses and fill this thread's label pool: a
        depart-at and an arrive-by plan along the model's first pattern, the time-dependent bound of long range
        searches on both clocks (`warm_late_bounds`); the tables itineraries read filled (`precompute_tables`);
        the trip ids' lookup orders made. Returns the itineraries found."""
        m = self.model
        precompute_tables(m)
        if m.n_trips:  # the trip-id lookup's orders (`IdTable.find`, `TripIds._sorted`; all-Tokyo ~30 ms) made now,
            m.trip_index(m.trip_ids[0])  # not by the first booking, trip or realtime match after ready
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
        there) of the first run on the model's own day along the first pattern whose ends are two stations; None
        for a model without one."""
        m = self.model
        for p in range(m.n_patterns):
            L = m.pattern_len(p)
            if L < 2 or m.pattern_trips_start[p + 1] == m.pattern_trips_start[p]:
                continue
            base = int(m.pattern_stops_start[p])
            first, last = int(m.pattern_stops[base]), int(m.pattern_stops[base + L - 1])
            if m.stop_station[first] == m.stop_station[last]:  # (a loop line: one station, nothing to ride)
                continue
            a, b = m.stop_ids[first], m.stop_ids[last]
            today = [t for t in range(int(m.pattern_trips_start[p]), int(m.pattern_trips_start[p + 1]))
                     if m.trip_day_offset[t] == 0]
            if not today:
                continue
            off, _ = m.trip_times_offset(today[0])
            dep = int(m.departures_of_trip(today[0])[0])
            return a, b, m.datetime_of(dep), m.datetime_of(int(m.st_arr[off + L - 1]))
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


def _one_station(model: TransitModel, o: Place, d: Place) -> bool:
    """Whether the two places have a station in common (named places: one is the other, a station and its stop,
    or two stops of it)."""
    at = model.stop_station
    return not set(at[np.asarray(o.stops)].tolist()).isdisjoint(at[np.asarray(d.stops)].tolist())


def _surely_too_far(walker, o: Place, d: Place, max_walk_m: float) -> bool:
    """Whether a straight-line walker's walk between the places is longer than ``max_walk_m`` by more than any
    rounding: its length is the great circle × the detour factor, here in scalar `math` (a tenth of the numpy
    call's cost: most plans' places are kilometres apart). 0.1 % of margin; near the limit, and for street
    walkers, `Walker.path` decides."""
    if type(walker) is not StraightLineWalker:
        return False
    return haversine_scalar_m(o.lat, o.lon, d.lat, d.lon) * walker.detour > max_walk_m * 1.001


def _walks_placed(j: Journey, sign: int, mask: ClosureMask | None) -> Journey:
    """``j`` with its walks between rides placed one way, whichever search found it (a forward one walks on
    arriving, a backward one just in time for the next ride): depart-at, each leaves as soon as it may after the
    ride before it; arrive-by, as late as it may for the ride after it (``mask``: waiting out closures, as the
    search does, `raptor.state.walk_end`). The walks before the first ride and after the last are placed by
    the search already."""
    legs = list(j.legs)
    rides = [i for i, leg in enumerate(legs) if isinstance(leg, RideLeg)]
    if len(rides) < 2 or len(rides) == len(legs):
        return j
    for i in range(rides[0] + 1, rides[-1]):
        leg = legs[i]
        if isinstance(leg, RideLeg):
            continue
        s, u, w = leg.from_stop, leg.to_stop, leg.arrival - leg.departure
        if sign > 0:
            t = legs[i - 1].arrival
            t = t if mask is None else int(walk_end(*mask.windows(s, u), t, w)) - w
        else:
            t = legs[i + 1].departure - w
            t = t if mask is None else int(walk_start(*mask.windows(s, u), t, w))
        legs[i] = WalkLeg(s, u, t, t + w)
    legs_t = tuple(legs)
    return j if legs_t == j.legs else j._replace(legs=legs_t)


class _Proofs:
    """Proof runs of one search (`Planner._prove`, `Planner._next_after`): an unresolved journey j gets one RAPTOR
    run the other way from its other end, bounded by its departure: the latest departure that still arrives by
    j's arrival with no more transfers (backward searches: the earliest arrival for its departure). That journey
    b arrives when j does (j arrived as early as it could from its first run's departure on, for its transfers):
    b is j's key or beats it, and is itself Pareto. ``checked``: ids of the journeys settled; ``dropped``: of
    those beaten. The other way's query is made on the first proof run (most plans need none)."""

    __slots__ = ("model", "q_other", "when", "other", "sign", "query", "checked", "dropped")

    def __init__(self, model, q_other: Callable[[], RaptorQuery], when, other, sign: int):
        self.model, self.q_other, self.when, self.other, self.sign = model, q_other, when, other, sign
        self.query = None
        self.checked: set[int] = set()
        self.dropped: set[int] = set()

    def settle(self, j: Journey, js: list[Journey]) -> None:
        """One proof run for ``j``: settled, or dropped and the journey that beats it added to ``js``."""
        when, other, sign = self.when, self.other, self.sign
        self.checked.add(id(j))
        if self.query is None:
            self.query = self.q_other()
        q1 = copy.copy(self.query)  # (`dataclasses.replace` without its per-field machinery)
        q1.max_rides = min(self.query.max_rides, j.transfers + 1)  # (no more rides)
        res = range_raptor(self.model, q1, other(j), 0, backward=sign > 0, bound=when(j))  # (strictly better)
        cands = [c for c in res.journeys if c.transfers <= j.transfers and sign * other(c) <= sign * other(j)]
        best = max(cands, key=lambda c: (sign * when(c), -c.transfers, -sign * other(c)), default=None)
        if best is not None and (when(best), other(best), best.transfers) != (when(j), other(j), j.transfers):
            self.dropped.add(id(j))  # beaten: its place goes to the journey that beats it (Pareto, settled)
            self.checked.add(id(best))
            js.append(best)


# A journey of the front as the choice reads it (`_Keys.front`), a plain tuple read by these names (a NamedTuple
# costs 20 % more in front and choice: its creation and attribute reads): x, y (depart-at: departure, arrival;
# arrive-by: -arrival, -departure, so that sorting by x is the answer's order both ways), transfers, tie-break
# (`_facts`), the journey, the real departure from the place and arrival at it, and whether it is arrive-by.
_Key = tuple
_X, _Y, _TRANSFERS, _TIE, _JOURNEY, _DEPARTURE, _ARRIVAL, _BACKWARD = range(8)
# `_Keys`'s facts of a journey, worked out once, likewise: (the journey, held so that its id stays unique;
# departure from the place, arrival at the destination place, transfers, tie-break)
_F_JOURNEY, _F_DEPARTURE, _F_ARRIVAL = range(3)


def _settled(in_range: list[_Key], front: list[_Key], fr: int, n: int, end: int) -> bool:
    """Whether windows after the ones searched cannot change the answer (`Planner._ranges`): at least ``n``
    Pareto journeys ``in_range`` (depart-at, any later one sorts after them), and their fewest transfers no more
    than those of the ``front``'s journeys from the last window's first run ``fr`` on up to the range's ``end``.
    That run found, for each number of rides, the earliest arrival of any journey leaving at ``fr`` or later; a
    Pareto journey P leaving in [fr, end] with fewer transfers arrives no earlier than the run's journey with at
    most as many, which therefore leaves no later than P (else it would beat P), so at or before ``end``; and a
    front journey beating that one beats P too unless it also leaves by ``end``. Journeys of that run leaving
    after ``end`` cannot make a candidate. Arrive-by chooses by departure: a journey J arriving earlier
    may leave later (with more transfers), but the front from ``fr`` on holds a journey K (that run's for as many
    rides as J, or one beating it) leaving no earlier with no more transfers; so when the ``n``-th chosen leaves
    after every journey of the front from ``fr`` on up to ``end``, any such J sorts after it. A K arriving before
    the range (x past ``end``) bounds no candidate: it beats any J in range it bounds (J arrives later)."""
    later = [k for k in front if fr <= k[_X] <= end]
    if in_range[0][_BACKWARD]:
        nth = sorted(in_range, key=_choice_order)[n - 1]
        if later and not nth[_Y] < min(k[_Y] for k in later):
            return False
    if n == 1:
        return True
    return min(k[_TRANSFERS] for k in in_range) <= min((k[_TRANSFERS] for k in later), default=1 << 30)


def _first_later(front: list[_Key], fr: int) -> int | None:
    """x of the ``front``'s first journey from the last window's first run ``fr`` on: no Pareto journey leaves in
    [fr, it), so the next window may start there (`Planner._ranges`); None when nothing was found from ``fr`` on:
    no journey leaves from there on at all (arrive-by, mirrored: arrives by it). That run found, for each number of
    rides, the earliest arrival of anything leaving at ``fr`` or later (waiting at the origin), its journey J
    leaving at ``fr`` or later; a journey P from ``fr`` on with t transfers arrives no earlier than the J of at
    most t transfers, and J, or a front journey beating it (leaving later still, arriving no later, changing no
    more often: found by a proof run), leaves at that x or later: P leaving before it is beaten (closures too:
    they are waited out)."""
    return min((k[_X] for k in front if k[_X] >= fr), default=None)


def _candidates(front: list[_Key], opts: PlanOptions) -> list[_Key]:
    """The candidates among the ``front`` (keys sorted by x): those within ``range_window_s`` of the first; when
    fewer than ``num_itineraries``, the first ``num_itineraries``."""
    if not front:
        return []
    end = front[0][_X] + opts.range_window_s
    in_range = [k for k in front if k[_X] <= end]
    return in_range if len(in_range) >= opts.num_itineraries else front[:opts.num_itineraries]


def _choice_order(k: _Key) -> tuple:
    """Arrive-by's order of choice: latest departure first (y = -departure), then earliest arrival."""
    return k[_Y], -k[_X], k[_TRANSFERS], k[_TIE]


def _choose(keep: list[_Key], n: int) -> list[_Key]:
    """The answer among the candidates ``keep`` (keys sorted, `_Keys.front`): the first ``n`` (the next
    departures; arrive-by, the latest departures, `_choice_order`); when none of them has the fewest transfers of
    all candidates, the last gives way to the first candidate with that many (the earliest arrival among them;
    arrive-by, the latest departure). A single answer is the first, however many changes it needs."""
    keep = sorted(keep, key=_choice_order) if keep and keep[0][_BACKWARD] else keep
    chosen = keep[:n]
    if len(chosen) >= 2:
        fewest = min(k[_TRANSFERS] for k in keep)
        if min(k[_TRANSFERS] for k in chosen) > fewest:
            chosen[-1] = min((k for k in keep if k[_TRANSFERS] == fewest), key=_fewest_order)
    return chosen


def _fewest_order(k: _Key) -> tuple:
    return k[_Y], -k[_X], k[_TIE]


def _real_pair(k: _Key) -> tuple:
    return k[_DEPARTURE], k[_ARRIVAL], k[_TIE]


class _Keys:
    """Per search (``sign`` 1: depart-at, -1: arrive-by): each journey's facts worked out once in one pass over
    its legs (`_facts`), its departure from the place (`departure`), and the front of the journeys found
    (`front`), asked after every window and proof run. ``edge``: the end of the `horizon` the search goes
    towards (depart-at: the latest arrival, arrive-by: the earliest departure)."""

    __slots__ = ("edge", "last", "memo", "place", "sign")

    def __init__(self, o: Place, sign: int, edge: int):
        self.place = o
        self.sign = sign
        self.edge = edge
        self.memo: dict[int, tuple] = {}  # by id(journey): (journey, departure, arrival, transfers, tie)
        self.last: tuple = (None, -1, -1, [])  # (js, its length, dropped's, the front): `front` asked again

    def _entry(self, j: Journey) -> tuple:
        hit = self.memo.get(id(j))
        if hit is None or hit[_F_JOURNEY] is not j:
            first, arrival, transfers, tie = _facts(j)
            hit = self.memo[id(j)] = (j, first - self.place.seconds_to(j.source_stop), arrival, transfers, tie)
        return hit

    def departure(self, j: Journey) -> int:
        """When ``j`` leaves the search's origin place: its first departure less the walk from the place to its
        first stop (`Place.seconds_to`)."""
        return self._entry(j)[_F_DEPARTURE]

    def arrival(self, j: Journey) -> int:
        """When ``j`` reaches the destination place (`_facts`)."""
        return self._entry(j)[_F_ARRIVAL]

    def front(self, js: list[Journey], dropped) -> list[_Key]:
        """The Pareto front of ``js`` (less the ``dropped`` ids and those beyond the horizon's ``edge``) over
        (departure, arrival, transfers), one journey per (departure, arrival, transfers) (the least by its
        tie-break: equal ones differ only in where their walks between rides wait, which `_walks_placed`
        settles), as `_Key`s sorted by (x, y, transfers, tie). The rides keep to the horizon (the search's
        bounds), a last walk waiting out a closure may not: such a journey is no answer, and whatever it beats
        lies beyond the edge too (arrives later; arrive-by: leaves earlier), so dropping it loses none.
        A plan's ``js`` and ``dropped`` only grow, so the same lengths are the same front (the last one kept:
        `Planner._prove` asks for the front the last window left). Callers do not change the list."""
        last_js, n_js, n_dropped, last_front = self.last
        if last_js is js and n_js == len(js) and n_dropped == len(dropped):
            return last_front
        by_key: dict[tuple, tuple] = {}  # (departure, arrival, transfers) → a depart-at key's first five fields
        edge, forward = self.edge, self.sign > 0
        for j in js:
            if id(j) in dropped:
                continue
            _, dep, arr, tr, tie = self._entry(j)
            if (arr > edge) if forward else (dep < edge):
                continue
            old = by_key.get((dep, arr, tr))
            if old is None or tie < old[_TIE]:
                by_key[(dep, arr, tr)] = (dep, arr, tr, tie, j)
        out = [(d, a, tr, tie, j, d, a, False) if self.sign > 0 else (-a, -d, tr, tie, j, d, a, True)
               for d, a, tr, tie, j in _front(list(by_key.values()))]
        out.sort(key=_sort_key)
        self.last = (js, len(js), len(dropped), out)
        return out


def _sort_key(k: _Key) -> tuple:
    return k[_X], k[_Y], k[_TRANSFERS], k[_TIE]


def _facts(j: Journey) -> tuple[int, int, int, tuple]:
    """``j.first_departure``, its arrival, ``j.transfers`` and its tie-break key in one pass over the legs.
    The search places a walk before the first ride as late as it may leave and one after the last as early as
    it may arrive (either clock, closures waited out: `raptor.journeys`), so the first leg's start and the
    last one's end are the journey's departure and arrival. The tie-break orders journeys
    with equal (departure, arrival, transfers): their rides (trip, board and alight positions) and walks (stops),
    in order: a total order fixed by the model, not by the search."""
    rides, tie = 0, []
    for leg in j.legs:
        if type(leg) is RideLeg:  # (legs are RideLegs and WalkLegs, never subclasses)
            tie.append((leg.trip, leg.board_pos, leg.alight_pos))
            rides += not leg.stay_seated
        else:
            tie.append((-1, leg.from_stop, leg.to_stop))
    if not j.legs:
        return j.start, j.arrival, 0, ()
    return j.legs[0].departure, j.legs[-1].arrival + j.arrival - j.target_arrival, max(rides - 1, 0), tuple(tie)


def _front(keyed: list[tuple]) -> list[tuple]:
    """The (departure, arrival, transfers, …) tuples no other one beats: leaves no earlier, arrives no later,
    changes no more often, and differs; latest departure first. Latest departure first, a tuple can only be beaten
    by one before it, and then by one already kept (beating is transitive): one pass against the kept few, not all
    pairs. (A depart-at `_Key`'s first three fields are these three: read by their names.)"""
    kept: list[tuple] = []
    for k in sorted(keyed, key=_latest_first):
        d, a, t = k[_X], k[_Y], k[_TRANSFERS]
        for b in kept:
            if b[_Y] <= a and b[_TRANSFERS] <= t and (b[_Y] != a or b[_TRANSFERS] != t or b[_X] != d):
                break
        else:
            kept.append(k)
    return kept


def _latest_first(k: tuple) -> tuple:
    return -k[_X], k[_Y], k[_TRANSFERS]
