"""Active closures → `routing.masks.ClosureMask` over one TransitModel (and its street graph), without a rebuild.

Two steps, so that accepting a closure costs milliseconds: `ClosureIndex.resolve` turns one closure into the
model elements it closes (stop indexes, hop indexes, street edges; areas use shapely over hop geometry built once
per model and an STRtree), cached per closure id; `ClosureIndex.mask` then only merges cached element lists with
the closures' time windows in numpy. Several windows on one element merge to the covering window (conservative).
"""
from __future__ import annotations

import datetime as dt
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Protocol

import numpy as np
import shapely

from feeds.closure_json import Closure, ClosureError
from routing.masks import ClosureMask
from routing.timetable import DAYS, DEFAULT_TZ, local_midnight

DAY = 86_400
# the model's reach: the previous day's trips past midnight to its last day's trips at times ≥ 24:00
LO, HI = -DAY, (DAYS[-1] + 2) * DAY


class StreetEdges(Protocol):
    def edges_within(self, polygon: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class Resolved:
    """The elements one closure closes in one model (time-independent)."""

    stops: np.ndarray  # int32 stop indexes
    hops: np.ndarray  # int32 flat hop indexes
    edges: np.ndarray | None  # bool[n_edges] or None


@dataclass(frozen=True)
class HopGeometry:
    """Per hop: endpoints, route, and its line (shape slice, or straight), plus an STRtree over the lines."""

    valid: np.ndarray  # bool[n_hops]: False for the last position of each pattern
    a: np.ndarray  # int32 from-stop
    b: np.ndarray  # int32 to-stop
    route: np.ndarray  # int32
    ids: np.ndarray  # int32 hop index of each tree entry
    tree: shapely.STRtree


def _pattern_shape(model, p: int) -> int:
    """The shape index of the pattern's first trip, or -1."""
    t0 = int(model.pattern_trips_start[p])
    if t0 >= int(model.pattern_trips_start[p + 1]) or len(getattr(model, "trip_shape", ())) <= t0:
        return -1
    s = int(model.trip_shape[t0])
    return s if s >= 0 and int(model.shape_start[s + 1]) - int(model.shape_start[s]) >= 2 else -1


def _project_in_order(shape_xy: np.ndarray, stops_xy: np.ndarray) -> np.ndarray:
    """Per stop, the shape vertex index after which its projection lies, never going backwards along the shape
    (so loops such as the Oedo line's "6" stay in order). Vectorised over the shape's segments."""
    a, b = shape_xy[:-1], shape_xy[1:]
    ab = b - a
    l2 = np.maximum((ab * ab).sum(1), 1e-12)
    seg = np.empty(len(stops_xy), np.int64)
    k0, t0 = 0, 0.0
    for i, p in enumerate(stops_xy):
        t = np.clip(((p - a[k0:]) * ab[k0:]).sum(1) / l2[k0:], 0.0, 1.0)
        t[0] = max(t[0], t0)
        q = a[k0:] + t[:, None] * ab[k0:]
        j = int(np.argmin(((q - p) ** 2).sum(1)))
        k0, t0 = k0 + j, float(t[j])
        seg[i] = k0
    return seg


def _lines_by_pattern(model, geom: HopGeometry) -> dict[tuple[int, bytes], np.ndarray]:
    """The hop lines of each pattern of ``model`` (whose hop geometry ``geom`` is), by what they are made of: the
    pattern's shape (-1: straight lines) and its stops."""
    lines = np.empty(len(geom.valid), object)
    lines[geom.ids] = geom.tree.geometries
    pss = np.asarray(model.pattern_stops_start)
    ps = np.asarray(model.pattern_stops)
    return {(_pattern_shape(model, p), ps[pss[p]:pss[p + 1]].tobytes()): lines[pss[p]:pss[p + 1] - 1]
            for p in range(len(pss) - 1)}


def _shape_lines(model, s: int, stops: np.ndarray, lon: np.ndarray, lat: np.ndarray, k_lon: float) -> list:
    """A pattern's hop lines along its shape ``s``: each from its stop along the shape to the next stop."""
    s0, s1 = int(model.shape_start[s]), int(model.shape_start[s + 1])
    pts = np.column_stack([model.shape_lon[s0:s1], model.shape_lat[s0:s1]])
    scale = np.array([k_lon, 1.0])
    seg = _project_in_order(pts * scale, np.column_stack([lon[stops], lat[stops]]) * scale)
    return [shapely.LineString(np.vstack([[lon[stops[k]], lat[stops[k]]], pts[seg[k] + 1:seg[k + 1] + 1],
                                          [lon[stops[k + 1]], lat[stops[k + 1]]]]))
            for k in range(len(stops) - 1)]


_POINT_ARRAYS = ("stop_lat", "stop_lon", "shape_start", "shape_lat", "shape_lon")  # what a pattern's lines depend on


def hop_geometry(model, like: "tuple[object, HopGeometry] | None" = None) -> HopGeometry:
    """Hop lines for area tests: the shape between the two stops where the pattern has a shape, else straight.
    ``like``: another service day's (model, hop geometry) of the network: the lines of each pattern both days
    have (the same stops, the same shape) are that day's objects (immutable), not a copy (all-Tokyo: the days'
    patterns are most often the same when their trips differ)."""
    ps, pss = np.asarray(model.pattern_stops), np.asarray(model.pattern_stops_start)
    reuse: dict[tuple[int, bytes], np.ndarray] = {}
    if like is not None and all(np.array_equal(getattr(model, k, ()), getattr(like[0], k, ()))
                                for k in _POINT_ARRAYS):
        reuse = _lines_by_pattern(*like)
    n = len(ps)
    n_pat = len(pss) - 1
    plen = np.diff(pss)
    hop_pattern = np.repeat(np.arange(n_pat, dtype=np.int32), plen)
    last = np.zeros(n, bool)
    last[pss[1:] - 1] = True
    valid = ~last
    b = np.empty(n, np.int32)
    b[:-1] = ps[1:]
    b[last] = ps[last]
    a = ps.astype(np.int32)
    lon, lat = np.asarray(model.stop_lon, np.float64), np.asarray(model.stop_lat, np.float64)
    coords = np.stack([np.column_stack([lon[a], lat[a]]), np.column_stack([lon[b], lat[b]])], axis=1)
    lines = shapely.linestrings(coords)  # straight lines for every hop, vectorised
    shaped = len(getattr(model, "shape_start", ())) > 1
    if shaped or reuse:
        k_lon = np.cos(np.radians(float(lat.mean()) if len(lat) else 35.68))  # local metric-ish scale
        done: dict[tuple[int, bytes], list] = {}  # by (shape or -1 for straight lines, stops), as `reuse`
        for p in range(n_pat):
            s = _pattern_shape(model, p) if shaped else -1
            stops = ps[pss[p]:pss[p + 1]]
            key = (s, stops.tobytes())
            got = done.get(key)
            if got is None:
                got = reuse.get(key)
                if got is None:
                    if s < 0:  # straight, not the other day's: the vectorised lines stand
                        continue
                    got = _shape_lines(model, s, stops, lon, lat, k_lon)
                done[key] = got
            lines[pss[p]:pss[p + 1] - 1] = got
    ids = np.flatnonzero(valid).astype(np.int32)
    return HopGeometry(valid, a, b, np.asarray(model.pattern_route)[hop_pattern].astype(np.int32), ids,
                       shapely.STRtree(lines[ids]))


_HOP_ARRAYS = ("pattern_stops", "pattern_stops_start", "pattern_route", "stop_lat", "stop_lon", "shape_start",
               "shape_lat", "shape_lon")


def same_hops(a, b) -> bool:
    """Whether two models' hop geometries are the same (`hop_geometry` reads only these arrays and each pattern's
    shape)."""
    if a is b:
        return True
    for name in _HOP_ARRAYS:
        x, y = getattr(a, name, None), getattr(b, name, None)
        if x is None or y is None or not np.array_equal(x, y):
            return False
    return all(_pattern_shape(a, p) == _pattern_shape(b, p) for p in range(len(a.pattern_stops_start) - 1))


def model_midnight(service_date: dt.date, timezone: str = DEFAULT_TZ) -> dt.datetime:
    """Second 0 of a model of ``service_date`` on the clock of ``timezone`` (the model's: its first feed's agency
    zone), as `TransitModel.midnight` computes it."""
    return local_midnight(service_date, timezone)


def model_window(c: Closure, midnight: dt.datetime) -> tuple[int, int] | None:
    """The closure's window in model seconds, clipped to the model's reach; None when outside it."""
    f = LO if c.start <= midnight + dt.timedelta(seconds=LO) else int((c.start - midnight).total_seconds())
    u = HI if c.end is None else int(np.ceil((c.end - midnight).total_seconds()))
    f, u = max(f, LO), min(u, HI)
    return (f, u) if f < u else None


class ClosureIndex:
    """Closures resolved against one model (and optionally its street graph), cached per closure.

    Thread-safe: planner threads may ask for masks concurrently.
    """

    def __init__(self, model, street: StreetEdges | None = None, geometry: HopGeometry | None = None,
                 like: "ClosureIndex | None" = None):
        self.model = model
        self.street = street if hasattr(street, "edges_within") else None
        self._geom: HopGeometry | None = geometry  # shareable between indexes of one model
        # another day's index whose lines the geometry, when built, reuses where the patterns are the same
        self._like = weakref.ref(like) if like is not None else None
        self._route_hops: dict[int, np.ndarray] = {}
        self._cache: dict[tuple[str, int], Resolved] = {}
        self._lock = threading.Lock()
        self._station_index = {s: i for i, s in enumerate(getattr(model, "station_ids", []))}
        self._route_index = {r: i for i, r in enumerate(model.route_ids)}
        self._stop_index = {s: i for i, s in enumerate(model.stop_ids)}

    @property
    def geometry(self) -> HopGeometry:
        if self._geom is None:
            like = self._like() if self._like is not None else None
            built = like._geom if like is not None else None
            self._geom = hop_geometry(self.model, None if built is None else (like.model, built))
            self._like = None
        return self._geom

    def geometry_for(self, model) -> HopGeometry | None:
        """This index's hop geometry, if built, for ``model`` (another service day's model of the network) when
        its hops are the same: the same patterns' stops, routes and shapes. The days' indexes then share one (all-Tokyo:
        ~9 MiB of lines and ~1.4 s a day), not a copy each."""
        g = self._geom
        return g if g is not None and same_hops(self.model, model) else None

    @property
    def n_hops(self) -> int:
        return len(self.model.pattern_stops)

    # ---- validation -------------------------------------------------------------------------------------
    def check(self, c: Closure) -> None:
        """Raise `ClosureError` naming the first id this model does not know (nothing is applied then)."""
        for i, s in enumerate(c.stops):
            if s not in self._stop_index:
                raise ClosureError(f"unknown stop id {s!r}", f"targets.stops[{i}]")
        for i, s in enumerate(c.stations):
            if s not in self._station_index and s not in self._stop_index:
                raise ClosureError(f"unknown station id {s!r}", f"targets.stations[{i}]")
        for i, r in enumerate(c.routes):
            if r not in self._route_index:
                raise ClosureError(f"unknown route id {r!r}", f"targets.routes[{i}]")
        for i, t in enumerate(c.trips):
            if not self.model.trip_ids.knows(t):
                raise ClosureError(f"unknown trip id {t!r}", f"targets.trips[{i}]")
        for i, sg in enumerate(c.segments):
            w = f"targets.segments[{i}]"
            if sg.route not in self._route_index:
                raise ClosureError(f"unknown route id {sg.route!r}", w + ".route")
            for k in ("from_stop", "to_stop"):
                if getattr(sg, k) not in self._stop_index:
                    raise ClosureError(f"unknown stop id {getattr(sg, k)!r}", f"{w}.{k}")
            if not len(self._segment_hops(sg)):
                raise ClosureError(f"{sg.from_stop} and {sg.to_stop} are not consecutive stops of route "
                                   f"{sg.route}", w)

    # ---- resolution -------------------------------------------------------------------------------------
    def _hops_of_route(self, r: int) -> np.ndarray:
        hit = self._route_hops.get(r)
        if hit is None:
            g = self.geometry
            hit = np.flatnonzero(g.valid & (g.route == r)).astype(np.int32)
            self._route_hops[r] = hit
        return hit

    def _segment_hops(self, sg) -> np.ndarray:
        r, x, y = self._route_index[sg.route], self._stop_index[sg.from_stop], self._stop_index[sg.to_stop]
        g = self.geometry
        hops = self._hops_of_route(r)
        a, b = g.a[hops], g.b[hops]
        return hops[((a == x) & (b == y)) | ((a == y) & (b == x))]

    def _station_stops(self, sid: str) -> list[int]:
        st = self._station_index.get(sid)
        if st is None and sid in self._stop_index:  # a member stop given for its station
            st = int(self.model.stop_station[self._stop_index[sid]])
        if st is None:
            return []
        s0, s1 = int(self.model.station_stops_start[st]), int(self.model.station_stops_start[st + 1])
        return [int(x) for x in self.model.station_stops[s0:s1]]

    def resolve(self, c: Closure, version: int = 0) -> Resolved:
        """The elements ``c`` closes (cached under (id, version) so an updated closure is resolved anew)."""
        key = (c.id, version)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        stops: list[int] = [self._stop_index[s] for s in c.stops if s in self._stop_index]
        for s in c.stations:
            stops += self._station_stops(s)
        hops: list[np.ndarray] = []
        if c.effect != "DETOUR":  # a detoured route still runs; only its named stops/areas are off limits
            hops += [self._hops_of_route(self._route_index[r]) for r in c.routes if r in self._route_index]
        hops += [self._segment_hops(sg) for sg in c.segments
                 if sg.route in self._route_index and sg.from_stop in self._stop_index
                 and sg.to_stop in self._stop_index]
        edges = None
        lon, lat = np.asarray(self.model.stop_lon), np.asarray(self.model.stop_lat)
        for area in c.areas:
            if not area.streets_only:
                shapely.prepare(area.geometry)
                stops += np.flatnonzero(shapely.intersects_xy(area.geometry, lon, lat)).tolist()
                g = self.geometry
                hops.append(g.ids[g.tree.query(area.geometry, predicate="intersects")])
            if self.street is not None:
                e = np.asarray(self.street.edges_within(area.geometry), dtype=bool)
                edges = e if edges is None else (edges | e)
        res = Resolved(np.unique(np.asarray(stops, np.int32)),
                       np.unique(np.concatenate(hops)).astype(np.int32) if hops else np.empty(0, np.int32),
                       edges)
        with self._lock:
            self._cache[key] = res
        return res

    def forget(self, keep: Iterable[tuple[str, int]]) -> None:
        """Drop cached resolutions of closures no longer present."""
        keep = set(keep)
        with self._lock:
            for k in [k for k in self._cache if k not in keep]:
                del self._cache[k]

    # ---- masks ------------------------------------------------------------------------------------------
    def mask(self, closures: Iterable[tuple[Closure, int]], service_date: dt.date,
             restricting: bool = False) -> ClosureMask:
        """Merge the blocking closures (with their versions) into one mask for the model's day; ``restricting``
        merges the `avoid` ones too."""
        midnight = model_midnight(service_date, getattr(self.model, "timezone", DEFAULT_TZ))
        n_stops, n_hops = len(self.model.stop_ids), self.n_hops
        s_from = np.full(n_stops, HI, np.int32)
        s_until = np.full(n_stops, LO, np.int32)
        h_from = np.full(n_hops, HI, np.int32)
        h_until = np.full(n_hops, LO, np.int32)
        edges = None
        for c, version in closures:
            if not (c.restricting if restricting else c.blocking):
                continue
            win = model_window(c, midnight)
            if win is None:
                continue
            r = self.resolve(c, version)
            f, u = win
            if len(r.stops):
                np.minimum.at(s_from, r.stops, f)
                np.maximum.at(s_until, r.stops, u)
            if len(r.hops):
                np.minimum.at(h_from, r.hops, f)
                np.maximum.at(h_until, r.hops, u)
            if r.edges is not None and r.edges.any():
                edges = r.edges.copy() if edges is None else (edges | r.edges)
        for fr, un in ((s_from, s_until), (h_from, h_until)):
            open_ = fr >= un
            fr[open_] = 0
            un[open_] = 0
        return ClosureMask(s_from, s_until, h_from, h_until, edges)


def build_mask(model, closures: Iterable[Closure], service_date: dt.date | None = None,
               street: StreetEdges | None = None) -> ClosureMask:
    """One-off mask (no caching across calls): the service keeps a `ClosureIndex` per model instead."""
    date = service_date or model.service_date
    return ClosureIndex(model, street).mask(((c, 0) for c in closures), date)


def area_members(index: ClosureIndex, c: Closure, version: int = 0) -> tuple[list[str], list[str]]:
    """Stop ids and route ids a closure's areas touch, for publishing area closures as GTFS-RT entities."""
    if not c.areas:
        return [], []
    r = index.resolve(c, version)
    stops = [index.model.stop_ids[i] for i in r.stops if index.model.stop_ids[i] not in c.stops]
    routes = sorted({index.model.route_ids[int(x)] for x in index.geometry.route[r.hops]} - set(c.routes))
    return stops, routes
