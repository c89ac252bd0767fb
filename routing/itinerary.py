"""Itineraries as the API sees them (docs/architecture.md, "Itinerary JSON"), built from RAPTOR journeys.

Times are model seconds turned into ISO-8601 with +09:00; names, colours and geometry come from the model's
string tables and shapes, walking geometry from the walker.

Everything a leg reads from the model that does not depend on the query (a stop's JSON, a route's, a day's date,
a line's rounded points and running length, a footpath's metres) is turned into Python objects once per model
(`_Tables`, filled on first use): a plan then does list and dict look-ups, not numpy scalar work, and JSON dicts
are copies of cached ones.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import weakref
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from routing.geo import haversine_m
from routing.raptor import Journey, RideLeg, WalkLeg
from routing.realtime import realtime_of
from routing.walking import WalkPath


def iso(model, seconds: int) -> str:
    """Model seconds (since the service date's midnight in the model's time zone) → ISO-8601 string."""
    return model.iso(seconds)


@dataclass(slots=True)
class Endpoint:
    """A place where a leg starts or ends: a stop (with ids and names) or a bare coordinate. A stop's are shared by
    the legs that start or end there (`_Tables.endpoint`): never changed once made."""

    lat: float
    lon: float
    stop_id: str | None = None
    name: str | None = None
    name_en: str | None = None
    sequence: int | None = None
    # a stop's JSON (`_Tables.stop`; with a ``sequence`` key when ``sequence`` is set): to_dict copies it instead of
    # rounding again
    cached: dict | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        if self.cached is not None:
            d = self.cached.copy()
            if self.sequence is not None:
                d["sequence"] = self.sequence
            return d
        d: dict = {"lat": round(self.lat, 7), "lon": round(self.lon, 7)}
        if self.stop_id is not None:
            d.update(stop_id=self.stop_id, name=self.name, name_en=self.name_en or None)
            if self.sequence is not None:
                d["sequence"] = self.sequence
        elif self.name:
            d["name"] = self.name
        return d


@dataclass(slots=True)
class Leg:
    mode: str
    start: Endpoint
    end: Endpoint
    departure: str
    arrival: str
    duration_s: int
    distance_m: float
    geometry: list[tuple[float, float]]
    operator: str | None = None
    agency: dict | None = None
    route: dict | None = None
    trip_id: str | None = None
    service_date: str | None = None
    headsign: str | None = None
    intermediate_stops: list[dict] = field(default_factory=list)
    booking_required: bool = False
    booking_message: str | None = None
    stay_seated: bool = False  # same vehicle as the previous leg (in-seat transfer): no change, no walk
    # ``geometry`` already holds [lon, lat] lists rounded to 7 places (rides: cut from the model's cached shape)
    geometry_rounded: bool = field(default=False, repr=False, compare=False)
    live: dict | None = None  # rides: scheduled times, delays, realtime flag (see `_live_fields`)

    def to_dict(self) -> dict:
        """The leg's JSON: each dict made in one go, keys in the documented order (`Itinerary.to_dict`)."""
        coords = (list(self.geometry) if self.geometry_rounded
                  else [[round(x, 7), round(y, 7)] for x, y in self.geometry])
        live = self.live
        frm, to = self.start.to_dict(), self.end.to_dict()
        if self.mode == "WALK":
            d = {"mode": "WALK", "from": frm, "to": to, "departure": self.departure, "arrival": self.arrival}
            if live is not None:
                d.update(live)
            d["distance_m"] = int(round(self.distance_m))
            d["duration_s"] = self.duration_s
            d["booking_required"] = self.booking_required
        else:
            d = {"mode": self.mode, "operator": self.operator, "agency": self.agency, "route": self.route,
                 "trip_id": self.trip_id, "service_date": self.service_date, "headsign": self.headsign,
                 "from": frm, "to": to, "departure": self.departure,
                 "arrival": self.arrival, **(live or {}), "intermediate_stops": self.intermediate_stops,
                 "distance_m": int(round(self.distance_m)), "duration_s": self.duration_s,
                 "booking_required": self.booking_required}
        if self.booking_message:
            d["booking_message"] = self.booking_message
        if self.stay_seated:
            d["stay_seated"] = True
        d["geometry"] = {"type": "LineString", "coordinates": coords}
        return d


@dataclass
class Itinerary:
    departure_s: int
    arrival_s: int
    transfers: int
    walk_distance_m: float
    walking: str
    legs: list[Leg]
    model: object = field(repr=False, compare=False)  # the TransitModel whose clock the seconds are on

    @property
    def model_date(self) -> dt.date:
        return self.model.service_date

    @property
    def duration_s(self) -> int:
        return self.arrival_s - self.departure_s

    @property
    def id(self) -> str:
        key = "|".join([f"{leg.trip_id or 'walk'}@{leg.departure}" for leg in self.legs])
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        tab = _tables(self.model)
        get, dep, arr = tab.isos.get, self.departure_s, self.arrival_s
        return {"id": self.id, "departure": get(dep) or tab.iso(dep), "arrival": get(arr) or tab.iso(arr),
                "duration_s": arr - dep, "transfers": self.transfers,
                "walk_distance_m": int(round(self.walk_distance_m)),
                "walking": self.walking, "legs": [leg.to_dict() for leg in self.legs]}


def path_length_m(lon: np.ndarray, lat: np.ndarray) -> float:
    if len(lon) < 2:
        return 0.0
    return float(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum())


def ride_path(model, trip: int, board_pos: int, alight_pos: int) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of a ride: the trip's shape cut at the two stops, or the stops themselves without a shape.
    Its length is a ride's distance everywhere (planner legs, offers, fares)."""
    m = model
    p = int(m.trip_pattern[trip])
    base = int(m.pattern_stops_start[p])
    stops = m.pattern_stops[base:base + m.pattern_len(p)]
    cut = _shape_cut(m, trip, p, stops)
    if cut is not None and cut[alight_pos] > cut[board_pos]:
        a = int(m.shape_start[m.trip_shape[trip]])
        sl = slice(a + cut[board_pos], a + cut[alight_pos] + 1)
        return m.shape_lon[sl], m.shape_lat[sl]
    seg = stops[board_pos:alight_pos + 1]
    return m.stop_lon[seg], m.stop_lat[seg]


class _Line:
    """Points of a line, rounded as the JSON carries them ([lon, lat] rows), and the distance along it to each
    point, so a piece of it is a slice and its length a subtraction (cached: rides repeat across plans). Kept
    as float64 arrays, not lists of Python floats: 16 + 8 bytes a point instead of ~130, and reading a piece
    writes no reference count into the cached objects (a forked worker's plans would copy every page of the
    supervisor's lines they touch); a ride's points become lists only for its leg (`_Ride.geometry`)."""

    __slots__ = ("coords", "cum")

    def __init__(self, lon: np.ndarray, lat: np.ndarray):
        self.coords = np.array([[round(x, 7), round(y, 7)] for x, y in zip(lon.tolist(), lat.tolist())],
                               np.float64).reshape(-1, 2)
        step = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]) if len(lon) > 1 else np.empty(0)
        self.cum = np.concatenate([[0.0], np.cumsum(step)]).astype(np.float64)


class _Pattern:
    """A pattern's stops, route and times offset as Python ints (every ride on it reads them)."""

    __slots__ = ("stops", "route", "times_start", "trips_start", "n", "trips", "line", "jsons", "seqs")

    def __init__(self, m, p: int, tab: _Tables):
        base, n = int(m.pattern_stops_start[p]), m.pattern_len(p)
        # its stops; each position's stop JSON with times (intermediate stops copy it); GTFS stop_sequence per
        # position, when all its trips have the same (the usual case), else None (`_Ride.seqs`): lists shared by
        # the patterns with the same (`_Tables.pattern_lists`), never changed
        self.stops, self.jsons, self.seqs = tab.pattern_lists(m.pattern_stops[base:base + n], m.st_seq.shared_row(p))
        self.route = int(m.pattern_route[p])
        self.times_start = int(m.pattern_times_start[p])
        self.trips_start = int(m.pattern_trips_start[p])
        # its trips: the stride of a position's departures in `dep_by_pos` (a ride's intermediate departures are one
        # strided slice of it, `ride_leg`, not `TransitModel.departures_of_trip`'s view sliced again)
        self.trips = int(m.pattern_trips_start[p + 1]) - self.trips_start
        self.n = n
        self.line: _Line | None = None  # the stop-to-stop line (rides of trips without a usable shape)


class _Ride:
    """What every ride on one trip reads that no query changes (`_Tables.ride`, made on the trip's first ride):
    its pattern and times offset, route and trip facts, and the line its geometry is cut from (the trip's shape
    with the cut of each stop, else the pattern's stop-to-stop line). One look-up per leg instead of a pattern,
    route, trip and shape look-up and numpy scalar reads."""

    __slots__ = ("pat", "off", "mode", "operator", "agency", "route", "trip_id", "day", "headsign", "booking",
                 "message", "cut", "shape", "seqs")

    def __init__(self, m, tab: _Tables, trip: int):
        p = m.trip_pattern.item(trip)
        pat = self.pat = tab.patterns[p] or tab.pattern(p)  # (the tables' look-ups inline: one per trip's ride)
        self.off = pat.times_start + (trip - pat.trips_start) * pat.n
        self.mode, self.operator, self.agency, self.route = tab.routes[pat.route] or tab.route(pat.route)
        self.trip_id, self.headsign = m.trip_ids[trip], m.trip_headsigns[trip]
        day = m.trip_day_offset.item(trip)
        self.day = tab.days.get(day) or tab.day(day)
        self.booking, self.message = bool(m.trip_booking.item(trip)), m.booking_messages[trip] or None
        self.shape = m.trip_shape.item(trip)
        self.cut = _shape_cut(m, trip, p, pat.stops, self.shape)  # None: no shape (the pattern's line)
        # GTFS stop_sequence per position: the pattern's list when all its trips have the same (no read per trip),
        # else the trip's own
        self.seqs = pat.seqs if pat.seqs is not None else m.st_seq[self.off:self.off + pat.n].tolist()

    def geometry(self, m, tab: _Tables, board_pos: int, alight_pos: int) -> tuple[list, float]:
        """`_ride_geometry`: the rounded points and length of the ride between the two positions."""
        cut = self.cut
        if cut is not None and cut[alight_pos] > cut[board_pos]:
            line = tab.shapes.get(self.shape) or tab.shape_line(self.shape)
            lo, hi = cut[board_pos], cut[alight_pos]
        else:
            line = self.pat.line or tab.pattern_line(self.pat)
            lo, hi = board_pos, alight_pos
        return line.coords[lo:hi + 1].tolist(), line.cum.item(hi) - line.cum.item(lo)


class _Walk(NamedTuple):
    """A walk between two stops as its legs read it (`_Tables.walk`)."""

    walker: object  # (held: the cache's key is its id)
    path: object  # the walker's WalkPath
    coords: list  # the path's points as the leg's JSON has them: rounded [lon, lat] lists; the two stops if none
    metres: float  # the leg's distance (`footpath_dist`)
    start: Endpoint
    end: Endpoint


class _StopFacts(NamedTuple):
    """A stop as legs read it (`_Tables.stop`). ``json_seq`` and ``json_times`` are templates (those keys None)
    whose copies get their own values: a copy has the template's size, where adding keys to a copy of the plain
    JSON grows it again."""

    lat: float
    lon: float
    stop_id: str
    name: str
    name_en: str | None
    json: dict
    json_seq: dict  # with ``sequence``
    json_times: dict  # with ``arrival`` and ``departure``


class _Tables:
    """Per-model lookups for building legs, filled on first use (a plan touches few stops and routes). Kept in
    the model's ``__dict__``, so it holds the model weakly: no cycle keeps a replaced (realtime) model alive."""

    __slots__ = ("_model", "stops", "ends", "routes", "patterns", "rides", "days", "isos", "shapes", "footpaths",
                 "walks", "geometry_pairs", "stop_ints", "pattern_parts")

    def __init__(self, model, base: _Tables | None = None, day: _Tables | None = None):
        self._model = weakref.ref(model)
        if base is not None:  # a realtime model of ``base``'s model: see `_shared`
            self._shared(model, base)
            return
        self.stops: list = [None] * model.n_stops  # (`stop`: lat, lon, id, names, its JSONs)
        self.routes: list = [None] * len(model.route_ids)  # (mode, operator, agency JSON, route JSON)
        self.patterns: list = [None] * model.n_patterns
        self.rides: list = [None] * model.n_trips  # per trip: `_Ride` (its id, day, headsign, route, line, ...)
        self.days: dict[int, str] = {}  # trip day offset → service date (ISO)
        # model seconds → ISO-8601 (the model's own strings): a plain dict get in the loops over a ride's stops,
        # a fifth of a call to ``model.iso``; ``isos.get(t) or tab.iso(t)``
        self.isos: dict[int, str] = {}
        self.shapes: dict[int, _Line] = {}
        self.footpaths: list = [None] * model.n_stops  # per stop: {to stop: metres}, the first footpath
        # per stop: {stop_sequence or None: its Endpoint} (`endpoint`: legs share them)
        self.ends: list = [None] * model.n_stops
        self.walks: dict = {}  # (walker id, from stop, to stop) → `_Walk`
        self.geometry_pairs: int | None = None  # shapes cut in advance (`precompute_tables`): how many
        # each stop index as one int object, and {(stops, stop_sequences) as bytes: a pattern's three lists}
        # (`pattern_lists`): the patterns' lists point to these, not an int of their own per entry (all-Tokyo: ~30k
        # ints and ~2,300 patterns' lists a service day, ~3 MiB for two days)
        self.stop_ints: list[int] = list(range(model.n_stops))
        self.pattern_parts: dict[tuple, tuple] = {}
        if day is not None:  # another service day's model of the same network: see `share_day_tables`
            self.stops, self.routes, self.shapes = day.stops, day.routes, day.shapes
            self.footpaths, self.walks, self.ends = day.footpaths, day.walks, day.ends
            self.stop_ints, self.pattern_parts = day.stop_ints, day.pattern_parts

    def _shared(self, model, base: _Tables) -> None:
        """A realtime model's tables (`routing.realtime`): what it shares with its base model is the base's
        (stops, routes, days and times, shapes, footpaths, walks: the same objects, filled by either model), and
        so are the patterns and trips the base has (same stops, times offsets, ids and shape cuts; a leg reads
        its times from the realtime arrays, never from these tables). Only patterns and trips a realtime update
        appended are the realtime model's own: a new realtime version does not build every table again."""
        self.stops, self.routes, self.days, self.isos = base.stops, base.routes, base.days, base.isos
        self.shapes, self.footpaths, self.walks, self.ends = base.shapes, base.footpaths, base.walks, base.ends
        self.stop_ints, self.pattern_parts = base.stop_ints, base.pattern_parts
        self.patterns = _extended(base.patterns, model.n_patterns)
        self.rides = _extended(base.rides, model.n_trips)
        self.geometry_pairs = None

    def stop(self, s: int) -> _StopFacts:
        hit = self.stops[s]
        if hit is None:
            m = self._model()
            lat, lon = float(m.stop_lat[s]), float(m.stop_lon[s])
            name_en = m.stop_names_en[s]
            d = {"lat": round(lat, 7), "lon": round(lon, 7), "stop_id": m.stop_ids[s], "name": m.stop_names[s],
                 "name_en": name_en or None}
            hit = self.stops[s] = _StopFacts(lat, lon, m.stop_ids[s], m.stop_names[s], name_en, d,
                                             {**d, "sequence": None}, {**d, "arrival": None, "departure": None})
        return hit

    def pattern_lists(self, stops: np.ndarray, seqs: np.ndarray | None) -> tuple[list, list, list | None]:
        """(stop indexes, their `stop` JSONs with times, stop_sequences or None) of a pattern with these stops
        and stop_sequences, made once per distinct pair and shared by the patterns (and, with the stops table,
        the service days) that have them: equal lists, so the same itineraries."""
        key = (stops.dtype.str, stops.tobytes(), None if seqs is None else (seqs.dtype.str, seqs.tobytes()))
        hit = self.pattern_parts.get(key)
        if hit is None:
            ints = self.stop_ints
            own = [ints[s] for s in stops.tolist()]
            hit = self.pattern_parts[key] = (own, [self.stop(s).json_times for s in own],
                                             None if seqs is None else seqs.tolist())
        return hit

    def endpoint(self, s: int, seq: int | None = None) -> Endpoint:
        """The stop as a leg's end (at ``seq``, a ride's stop_sequence), made once per stop and sequence and shared
        by the legs (an Endpoint is never changed once made; its JSON is a copy, `Endpoint.to_dict`): a dict
        look-up instead of a dataclass ``__init__`` per leg end (300 Toei plans' planner and itinerary Python:
        -5 % instructions by callgrind)."""
        ends = self.ends[s]
        if ends is None:
            ends = self.ends[s] = {}
        hit = ends.get(seq)
        if hit is None:
            lat, lon, sid, name, name_en, d, at_seq, _ = self.stop(s)
            hit = ends[seq] = Endpoint(lat, lon, sid, name, name_en, seq, d if seq is None else at_seq)
        return hit

    def route(self, r: int) -> tuple:
        hit = self.routes[r]
        if hit is None:
            m = self._model()
            ag = int(m.route_agency[r])
            route_id = m.route_ids[r]
            hit = self.routes[r] = (
                m.route_modes[r], route_id.split(":", 1)[0],
                {"id": m.agency_ids[ag], "name": m.agency_names[ag]} if ag >= 0 else None,
                {"id": route_id, "short_name": m.route_short_names[r], "long_name": m.route_long_names[r],
                 "color": m.route_colors[r], "text_color": m.route_text_colors[r], "type": int(m.route_type[r])})
        return hit

    def pattern(self, p: int) -> _Pattern:
        hit = self.patterns[p]
        if hit is None:
            hit = self.patterns[p] = _Pattern(self._model(), p, self)
        return hit

    def ride(self, t: int) -> _Ride:
        hit = self.rides[t]
        if hit is None:
            hit = self.rides[t] = _Ride(self._model(), self, t)
        return hit

    def shape_line(self, sh: int) -> _Line:
        line = self.shapes.get(sh)
        if line is None:
            m = self._model()
            a, b = int(m.shape_start[sh]), int(m.shape_start[sh + 1])
            line = self.shapes[sh] = _Line(m.shape_lon[a:b], m.shape_lat[a:b])
        return line

    def pattern_line(self, pat: _Pattern) -> _Line:
        line = pat.line
        if line is None:
            m = self._model()
            stops = np.asarray(pat.stops, np.int64)
            line = pat.line = _Line(m.stop_lon[stops], m.stop_lat[stops])
        return line

    def iso(self, seconds: int) -> str:
        hit = self.isos.get(seconds)
        if hit is None:
            if len(self.isos) >= 200_000:
                self.isos.clear()
            hit = self.isos[seconds] = self._model().iso(seconds)
        return hit

    def day(self, offset: int) -> str:
        hit = self.days.get(offset)
        if hit is None:
            hit = self.days[offset] = (self._model().service_date + dt.timedelta(days=offset)).isoformat()
        return hit

    def footpath_m(self, a: int, b: int) -> float | None:
        fp = self.footpaths[a]
        if fp is None:
            m = self._model()
            lo, hi = int(m.fp_start[a]), int(m.fp_start[a + 1])
            fp = {}
            for to, d in zip(m.fp_to[lo:hi].tolist(), m.fp_dist[lo:hi].tolist()):
                fp.setdefault(to, d)
            self.footpaths[a] = fp
        return fp.get(b)

    def walk(self, walker, a: int, b: int) -> _Walk:
        """The walk between two stops (`_Walk`), cached per walker: a closure's view of the streets is another. A
        walk leg between stops is then one look-up (`build_itinerary`); its metres and Endpoints are the model's,
        shared with the same tables as these walks (footpaths and ends go with them: `_shared`,
        `share_day_tables`)."""
        key = (id(walker), a, b)
        hit = self.walks.get(key)
        if hit is None or hit.walker is not walker:
            s, e = self.stop(a), self.stop(b)
            if len(self.walks) >= 10_000:  # (a few MB at most; a street path is costly to find again)
                self.walks.clear()
            path = walker.path(s.lat, s.lon, e.lat, e.lon)
            coords = [[round(x, 7), round(y, 7)] for x, y in (path.coords or [(s.lon, s.lat), (e.lon, e.lat)])]
            d = self.footpath_m(a, b)
            d = float(d) if d is not None else footpath_dist(self._model(), a, b)
            hit = self.walks[key] = _Walk(walker, path, coords, d, self.endpoint(a), self.endpoint(b))
        return hit


_NO_ENDS = MappingProxyType({})  # (a stop without Endpoints yet)


def _extended(items: list, n: int) -> list:
    """``items`` itself when it has ``n`` entries (shared), else a copy with empty entries up to ``n``."""
    return items if len(items) == n else items[:n] + [None] * (n - len(items))


def _tables(model) -> _Tables:
    hit = model.__dict__.get("_itinerary_tables")
    if hit is None:
        ov = realtime_of(model)
        day = model.__dict__.get("_itinerary_day")
        day = day() if day is not None and ov is None else None
        hit = model.__dict__["_itinerary_tables"] = _Tables(model, None if ov is None else _tables(ov.base),
                                                            None if day is None else _tables(day))
    return hit


# what a model's stop, route, shape and footpath tables are made of (`share_day_tables`)
_DAY_SHARED = ("stop_ids", "stop_names", "stop_names_en", "stop_lat", "stop_lon", "route_ids", "route_modes",
               "route_short_names", "route_long_names", "route_colors", "route_text_colors", "route_type",
               "route_agency", "agency_ids", "agency_names", "shape_start", "shape_lat", "shape_lon", "fp_start",
               "fp_to", "fp_dist")


def share_day_tables(model, other) -> bool:
    """Let ``model`` share the stop, route, shape and footpath tables of ``other`` (another service day's model of
    the same network, its tables made or not yet) when both were built from the same stops, routes, shapes and
    footpaths: the days' itineraries read the same objects instead of a copy per day (all-Tokyo: the shapes' lines
    and the stops' JSONs, ~6 MiB a day). Times, days, patterns and trips stay each model's own. Call before the
    model's tables are first used; returns whether they are shared."""
    if "_itinerary_tables" in model.__dict__ or realtime_of(model) is not None or realtime_of(other) is not None:
        return False
    for name in _DAY_SHARED:
        a, b = getattr(model, name), getattr(other, name)
        same = np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
        if not same:
            return False
    model.__dict__["_itinerary_day"] = weakref.ref(other)
    return True


def _ride_geometry(model, trip: int, p: int, board_pos: int, alight_pos: int) -> tuple[list, float]:
    """The line and length `ride_path` gives (the shape cut at the two stops, else the stops), from caches."""
    tab = _tables(model)
    return tab.ride(trip).geometry(model, tab, board_pos, alight_pos)


def _shape_cut(model, trip: int, pattern: int, stops, sh: int | None = None) -> list[int] | None:
    """Index of each of the pattern's ``stops`` among the trip's shape points, cached per (shape, pattern).

    Each stop is matched to the earliest shape point (after the previous match) within 30 m of the closest, so a
    loop line whose ends share a place (Oedo at Tochomae) cuts at the right visit. The greedy match of a prefix is
    the prefix of the full match, so one cut per (shape, pattern) serves every boarding/alighting pair. ``sh``:
    the trip's shape when the caller has it.
    """
    if sh is None:
        sh = model.trip_shape.item(trip)
    if sh < 0:
        return None
    key = (sh, pattern)
    cut = model._shape_cuts.get(key)
    if cut is None:
        cut = _match_shape(model, sh, np.asarray(stops, np.int64))
        model._shape_cuts[key] = cut
    return cut


def _match_shape(model, sh: int, stops: np.ndarray) -> list[int] | None:
    a, b = int(model.shape_start[sh]), int(model.shape_start[sh + 1])
    lat, lon = model.shape_lat[a:b], model.shape_lon[a:b]
    if len(lat) < 2:
        return None
    # every stop to every point in one call (shapes are short: numpy's per-call cost, not the points, dominated
    # a call per stop), then the greedy walk along the rows
    d = haversine_m(model.stop_lat[stops][:, None], model.stop_lon[stops][:, None], lat[None, :], lon[None, :])
    idx = []
    prev = 0
    for row in d.tolist():
        rest = row[prev:]
        limit = min(rest) + 30.0
        prev += next((k for k, x in enumerate(rest) if x <= limit), 0)
        idx.append(prev)
    return idx


RIDES_AHEAD = 20_000  # trips: a model with at most this many makes every `_Ride` before it is used


def precompute_tables(model) -> int:
    """Fill what every plan's itineraries read from the per-model tables (`_Tables`) now, not on a plan's first use
    of each: every trip shape cut at its pattern's stops (`_shape_cut`) and made a line (`_Line`), every pattern
    and route, and the ISO string of every time in the timetable. The server does this before it says ready
    (`Planner.warm_up`, on every planner thread: once per model is enough), so the first plans are as fast as the
    hundredth (all-Tokyo: ~0.5 s, a few MB). What depends on the trip (`_Ride`) is made here too when the model has
    at most RIDES_AHEAD trips (Toei rail: 8.5k, ~0.1 s and ~1.4 MiB; a plan on a fresh planner met ~2 new trips,
    ~20 µs), else on first use (148k on all-Tokyo: ~30 MB). Returns the number of (shape, pattern) pairs."""
    tab = _tables(model)
    if tab.geometry_pairs is not None:
        return tab.geometry_pairs
    shapes = np.asarray(model.trip_shape, np.int64)
    pats = np.asarray(model.trip_pattern, np.int64)
    shaped = np.flatnonzero(shapes >= 0)
    # the first trip of each (shape, pattern) pair: one key per pair, unique in one flat sort
    _, first = np.unique(shapes[shaped] * max(model.n_patterns, 1) + pats[shaped], return_index=True)
    for r in range(len(tab.routes)):
        tab.route(r)
    for p in range(model.n_patterns):
        tab.pattern(p)
    for t in shaped[first].tolist():
        sh, p = int(shapes[t]), int(pats[t])
        if _shape_cut(model, t, p, tab.pattern(p).stops) is not None:
            tab.shape_line(sh)
    for t in _timetable_times(model):
        tab.iso(t)
    if model.n_trips <= RIDES_AHEAD:
        for t in range(model.n_trips):
            tab.ride(t)
    tab.geometry_pairs = len(first)
    return len(first)


def _timetable_times(model) -> list[int]:
    """Every arrival and departure time of the timetable, once each (a few thousand: times repeat by the minute)."""
    arr, dep = np.asarray(model.st_arr), np.asarray(model.dep_by_pos)
    if not len(arr):
        return []
    lo = int(min(arr.min(), dep.min()))
    seen = np.zeros(int(max(arr.max(), dep.max())) - lo + 1, bool)
    seen[arr - lo] = True
    seen[dep - lo] = True
    return (np.flatnonzero(seen) + lo).tolist()


def _live_fields(model, trip: int, board_pos: int, alight_pos: int, dep: int, arr: int, ov) -> dict:
    """What a ride says about realtime: its scheduled times, the delays (realtime − scheduled, departure at the
    boarding stop and arrival at the alighting one), ``realtime`` (its times come from a trip update) and
    ``added`` (a trip the timetable does not have). ``ov`` is `realtime_of(model)` (the caller has it); on a
    scheduled model (None) the same times and ``realtime: false``."""
    if ov is None:
        tab = _tables(model)
        return {"scheduled_departure": tab.isos.get(dep) or tab.iso(dep),
                "scheduled_arrival": tab.isos.get(arr) or tab.iso(arr), "delay_s": 0, "arrival_delay_s": 0,
                "realtime": False}
    sched_b, sched_a = ov.scheduled(trip, board_pos), ov.scheduled(trip, alight_pos)
    if sched_b is None:  # an added trip: no schedule to compare with
        return {"scheduled_departure": None, "scheduled_arrival": None, "delay_s": 0, "arrival_delay_s": 0,
                "realtime": True, "added": True}
    out = {"scheduled_departure": iso(model, sched_b[1]), "scheduled_arrival": iso(model, sched_a[0]),
           "delay_s": int(dep - sched_b[1]), "arrival_delay_s": int(arr - sched_a[0]),
           "realtime": ov.is_realtime(trip)}
    op = model.trip_ids[trip].split(":", 1)[0]
    if op in ov.stale:
        out["realtime_stale"] = True
    return out


def ride_leg(model, leg: RideLeg, tab: _Tables | None = None, ov=False) -> Leg:
    """A ride's Leg: model facts from the per-model tables (`_Tables.ride`, one look-up per leg), its times read
    from the arrays (a realtime model has its own times), intermediate stops as copies of the cached stop JSON
    with their times. ``tab`` and ``ov`` (`realtime_of(model)`): the caller's, when it has them (an itinerary's
    rides share them)."""
    m = model
    if tab is None:
        tab = _tables(m)
    if ov is False:
        ov = realtime_of(m)
    trip, bpos, apos = leg.trip, leg.board_pos, leg.alight_pos
    r = tab.rides[trip] or tab.ride(trip)
    isos, iso_of = tab.isos, tab.iso
    if apos > bpos + 1:
        lo, hi = r.off + bpos + 1, r.off + apos
        inter = []
        get, add = isos.get, inter.append
        pat = r.pat  # (`TransitModel.departures_of_trip`'s slice, from the pattern's offsets as Python ints)
        nt = pat.trips
        d0 = pat.times_start + trip - pat.trips_start
        deps = m.dep_by_pos[d0 + (bpos + 1) * nt:d0 + apos * nt:nt].tolist()
        for j, a, d in zip(pat.jsons[bpos + 1:apos], m.st_arr[lo:hi].tolist(), deps):
            e = j.copy()  # (one loop: a third less than copying all, then filling the copies in)
            e["arrival"] = get(a) or iso_of(a)
            e["departure"] = get(d) or iso_of(d)
            add(e)
        if ov is not None:
            for e, sk in zip(inter, ov.skipped[lo:hi].tolist()):
                if sk:
                    e["skipped"] = True  # the vehicle passes without stopping
    else:
        inter = []
    geom, dist = r.geometry(m, tab, bpos, apos)
    agency = r.agency
    dep, arr = leg.departure, leg.arrival
    dep_iso, arr_iso = isos.get(dep) or iso_of(dep), isos.get(arr) or iso_of(arr)
    # (a scheduled model's `_live_fields`, with the times already worked out)
    live = ({"scheduled_departure": dep_iso, "scheduled_arrival": arr_iso, "delay_s": 0, "arrival_delay_s": 0,
             "realtime": False} if ov is None else _live_fields(m, trip, bpos, apos, dep, arr, ov))
    seqs, ends = r.seqs, tab.ends  # (`_Tables.endpoint`, its look-up inline)
    start = (ends[leg.from_stop] or _NO_ENDS).get(seqs[bpos]) or tab.endpoint(leg.from_stop, seqs[bpos])
    end = (ends[leg.to_stop] or _NO_ENDS).get(seqs[apos]) or tab.endpoint(leg.to_stop, seqs[apos])
    return Leg(r.mode, start, end, dep_iso, arr_iso, arr - dep, dist, geom, r.operator,
               None if agency is None else agency.copy(), r.route.copy(), r.trip_id, r.day, r.headsign, inter,
               r.booking, r.message, leg.stay_seated, True, live)


def walk_leg(model, walker, start: Endpoint, end: Endpoint, dep: int, arr: int, distance_m: float | None,
             path: WalkPath | None = None, rounded: list | None = None, tab: _Tables | None = None) -> Leg:
    """``rounded``: the path's points as the JSON has them already (`_Tables.walk`), instead of ``path``;
    ``tab``: the caller's tables (`_tables(model)`), when it has them."""
    if tab is None:
        tab = _tables(model)
    isos, iso_of = tab.isos, tab.iso
    if rounded is not None:
        return Leg("WALK", start, end, isos.get(dep) or iso_of(dep), isos.get(arr) or iso_of(arr), int(arr - dep),
                   float(distance_m), rounded, geometry_rounded=True)
    path = path or walker.path(start.lat, start.lon, end.lat, end.lon)
    dist = float(distance_m) if distance_m is not None else float(path.distance_m)
    geom = path.coords or [(start.lon, start.lat), (end.lon, end.lat)]
    return Leg("WALK", start, end, isos.get(dep) or iso_of(dep), isos.get(arr) or iso_of(arr), int(arr - dep), dist,
               geom)


def footpath_dist(model, a: int, b: int) -> float:
    d = _tables(model).footpath_m(a, b)
    return float(d) if d is not None else float(
        haversine_m(model.stop_lat[a], model.stop_lon[a], model.stop_lat[b], model.stop_lon[b]))


def build_itinerary(model, walker, journey: Journey, origin, destination, paths: dict | None = None) -> Itinerary:
    """Journey + the resolved places → Itinerary, with access/egress walks and departure shifting.

    The search placed a walk before the first ride as late as it may leave, so the itinerary starts as late as
    possible.
    ``paths``: the walker's paths between a coordinate place and its stops, kept across one plan's itineraries
    (they often start or end at the same stop; a street path costs a search).
    """
    tab = _tables(model)
    ov = realtime_of(model)
    legs: list[Leg] = []
    rides = sum(1 for l in journey.legs if type(l) is RideLeg and not l.stay_seated)  # (`Journey.transfers`)
    first_dep = journey.first_departure
    src = journey.source_stop
    access_s = origin.seconds_to(src)
    t = first_dep - access_s
    dep_s = t
    walked = 0.0
    if origin.is_point and access_s >= 0:
        d = origin.metres_to(src)
        a, b = origin.endpoint(), tab.endpoint(src)
        legs.append(walk_leg(model, walker, a, b, t, t + access_s, d, _place_path(walker, paths, a, b, src, True),
                             tab=tab))
        walked += d
        t += access_s
    for l in journey.legs:
        if type(l) is RideLeg:
            legs.append(ride_leg(model, l, tab, ov))
            t = l.arrival
        else:
            w = tab.walk(walker, l.from_stop, l.to_stop)
            legs.append(walk_leg(model, walker, w.start, w.end, l.departure, l.arrival, w.metres, rounded=w.coords,
                                 tab=tab))
            walked += w.metres
            t = l.arrival
    tgt = journey.target_stop
    egress_s = destination.seconds_to(tgt)
    if destination.is_point and egress_s >= 0:
        d = destination.metres_to(tgt)
        a, b = tab.endpoint(tgt), destination.endpoint()
        legs.append(walk_leg(model, walker, a, b, t, t + egress_s, d, _place_path(walker, paths, a, b, tgt, False),
                             tab=tab))
        walked += d
        t += egress_s
    return Itinerary(dep_s, t, max(rides - 1, 0), walked, walker.source, legs, model)


def _place_path(walker, paths: dict | None, a: Endpoint, b: Endpoint, stop: int, access: bool) -> WalkPath:
    """The walker's path from ``a`` to ``b`` (a coordinate place and its ``stop``), from ``paths`` when a plan's
    earlier itinerary walked it already."""
    key = (stop, access)
    hit = paths.get(key) if paths is not None else None
    if hit is None:
        hit = walker.path(a.lat, a.lon, b.lat, b.lon)
        if paths is not None:
            paths[key] = hit
    return hit


def direct_walk(model, walker, origin, destination, dep: int, walk_speed: float,
                path: WalkPath | None = None, duration_s: int | None = None) -> Itinerary | None:
    """A walk-only itinerary between two points (None when unreachable); ``path`` when the caller has it already;
    ``duration_s`` when it takes longer than its length at ``walk_speed`` (the feed's transfer time)."""
    a, b = origin.endpoint(), destination.endpoint()
    path = path or walker.path(a.lat, a.lon, b.lat, b.lon)
    if not np.isfinite(path.distance_m):
        return None
    dur = max(int(np.ceil(path.distance_m / walk_speed)), int(duration_s or 0))
    leg = walk_leg(model, walker, a, b, dep, dep + dur, path.distance_m, path)
    return Itinerary(dep, dep + dur, 0, float(path.distance_m), walker.source, [leg], model)
