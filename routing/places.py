"""Resolving what a traveller typed (stop id, station id or name, "lat,lon") into model stops with access times."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from routing.itinerary import Endpoint
from routing.names import NameIndex, UnknownPlace

_COORD = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")


class PlaceError(ValueError):
    """The text names no place, or several we cannot choose between."""


@dataclass(frozen=True)
class Place:
    """Stops that start/end a search, each with its walking time and distance from the place itself.

    ``is_point`` is True for coordinates: the walks to/from the stops become legs of the itinerary.
    """

    text: str
    lat: float
    lon: float
    stops: np.ndarray  # int32
    seconds: np.ndarray  # int64 walking seconds (0 for a stop or station)
    metres: np.ndarray  # float64
    is_point: bool
    name: str | None = None
    name_en: str | None = None
    stop_id: str | None = None

    @cached_property
    def _by_stop(self) -> dict[int, tuple[int, float]]:
        """stop → (seconds, metres) of its first occurrence (asked per leg and per journey: a dict, not a scan)."""
        out: dict[int, tuple[int, float]] = {}
        for s, t, d in zip(np.asarray(self.stops).tolist(), np.asarray(self.seconds).tolist(),
                           np.asarray(self.metres).tolist()):
            out.setdefault(s, (int(t), float(d)))
        return out

    def seconds_to(self, stop: int) -> int:
        return self._by_stop.get(int(stop), (0, 0.0))[0]

    def metres_to(self, stop: int) -> float:
        return self._by_stop.get(int(stop), (0, 0.0))[1]

    def endpoint(self) -> Endpoint:
        if self.is_point:
            return Endpoint(self.lat, self.lon)
        return Endpoint(self.lat, self.lon, self.stop_id, self.name, self.name_en)


def _by_bare(ids: list[str]) -> dict[str, tuple[int, ...]]:
    """{id without its namespace: the indexes of ``ids`` with it, ascending}."""
    out: dict[str, list[int]] = {}
    for i, sid in enumerate(ids):
        out.setdefault(sid.split(":", 1)[-1], []).append(i)
    return {k: tuple(v) for k, v in out.items()}


class PlaceIndex:
    """Lookup tables over one model's ids, built once per model (read-only afterwards); names go to the network's
    NameIndex (routing/names.py), the one name matcher shared with /v1/stops and the CLI."""

    def __init__(self, model, names: NameIndex | None = None):
        self.model = model
        self._names = names
        self._names_lock = threading.Lock()
        self.stop_by_id = {s: i for i, s in enumerate(model.stop_ids)}
        self.station_by_id = {s: i for i, s in enumerate(model.station_ids)}
        # bare id (namespace dropped) → the stops / the stations with it, ascending, as tuples: a list or a set for
        # each of thousands of ids held ~3x the bytes, per service day (read only: their lengths and items)
        self.stop_by_bare: dict[str, tuple[int, ...]] = _by_bare(model.stop_ids)
        self.by_bare: dict[str, tuple[int, ...]] = _by_bare(model.station_ids)

    @property
    def names(self) -> NameIndex:
        """The name matcher: the network's when given, else one over this model's names (built on first use)."""
        if self._names is None:
            with self._names_lock:
                if self._names is None:
                    self._names = NameIndex.from_model(self.model)
        return self._names

    def _station_place(self, text: str, stations: list[int]) -> Place:
        m = self.model
        stops = np.concatenate([m.station_stops[m.station_stops_start[s]:m.station_stops_start[s + 1]]
                                for s in stations]).astype(np.int32)
        st = stations[0]
        return Place(text, float(m.station_lat[st]), float(m.station_lon[st]), stops,
                     np.zeros(len(stops), np.int64), np.zeros(len(stops)), False, m.station_names[st],
                     m.station_names_en[st] or None, m.station_ids[st])

    def resolve(self, text: str, walker, max_walk_m: float, walk_speed: float) -> Place:
        """Coordinates, then an exact stop id, station id, bare id, then a name in any form (routing/names.py)."""
        m = self.model
        c = _COORD.match(text)
        if c:
            lat, lon = float(c.group(1)), float(c.group(2))
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise PlaceError(f"{text!r} is not a valid 'lat,lon' (latitude first)")
            idx, dist = walker.access(lat, lon, max_walk_m)
            idx = np.asarray(idx, np.int32)
            dist = np.asarray(dist, np.float64)
            secs = np.ceil(dist / walk_speed).astype(np.int64)
            return Place(text, lat, lon, idx, secs, dist, True)
        if text in self.stop_by_id:
            s = self.stop_by_id[text]
            return Place(text, float(m.stop_lat[s]), float(m.stop_lon[s]), np.array([s], np.int32),
                         np.zeros(1, np.int64), np.zeros(1), False, m.stop_names[s], m.stop_names_en[s] or None,
                         m.stop_ids[s])
        if text in self.station_by_id:
            return self._station_place(text, [self.station_by_id[text]])
        bare_stop = self.stop_by_bare.get(text)
        if bare_stop and len(bare_stop) == 1:
            return self.resolve(m.stop_ids[bare_stop[0]], walker, max_walk_m, walk_speed)
        if bare_stop:
            raise PlaceError(f"{text!r} is ambiguous: it is "
                             f"{', '.join(sorted(m.stop_ids[s] for s in bare_stop)[:5])}; use the namespaced id")
        bare = self.by_bare.get(text)
        if bare:
            if len(bare) > 1:
                raise PlaceError(f"{text!r} is ambiguous: it is "
                                 f"{', '.join(sorted(m.station_ids[s] for s in bare)[:5])}; use the namespaced id")
            return self._station_place(text, list(bare))
        try:
            named = self.names.resolve(text)
        except UnknownPlace as exc:
            raise PlaceError(str(exc)) from None
        stations = sorted({self.station_by_id[s] for s in named.station_ids if s in self.station_by_id} |
                          {int(m.stop_station[self.stop_by_id[s]]) for s in named.station_ids if s in self.stop_by_id})
        if not stations:
            raise PlaceError(f"{text!r} ({named.name}) has no stop served by the timetable")
        return self._station_place(text, stations)
