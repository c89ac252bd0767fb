"""How the planner walks: the Walker protocol, and the straight-line walker used when no OSM file is given.

The OSM street walker (`routing/streets.py`) implements the same protocol, so the planner never asks which one
it has; itineraries say which through `Walker.source`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from feeds.neighbours import pairs_within, within
from routing.geo import haversine_m, local_xy_m

DEFAULT_DETOUR_FACTOR = 1.3  # street distance / straight-line distance, a usual urban figure


@dataclass(frozen=True, slots=True)
class WalkPath:
    distance_m: float
    coords: list[tuple[float, float]] = field(default_factory=list)  # (lon, lat), GeoJSON order


class Walker(Protocol):
    source: str  # "osm" or "straight_line"

    def access(self, lat: float, lon: float, max_dist_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Stops reachable on foot within ``max_dist_m`` of a point: (stop indexes int32, walking metres float)."""

    def path(self, lat1: float, lon1: float, lat2: float, lon2: float) -> WalkPath:
        """The walking path between two points (distance and geometry); inf distance when unreachable."""

    def stop_footpaths(self, radius_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stop-to-stop walks within ``radius_m``: (from idx, to idx, metres), both directions, no self loops."""


class StraightLineWalker:
    """Walking as straight-line distance × a detour factor, over the model's stops."""

    source = "straight_line"

    def __init__(self, stop_lat: np.ndarray, stop_lon: np.ndarray, detour_factor: float = DEFAULT_DETOUR_FACTOR):
        self.stop_lat = np.asarray(stop_lat, dtype=np.float64)
        self.stop_lon = np.asarray(stop_lon, dtype=np.float64)
        self.detour = float(detour_factor)
        self._lat0 = float(self.stop_lat.mean()) if len(self.stop_lat) else 35.68
        self._lon0 = float(self.stop_lon.mean()) if len(self.stop_lon) else 139.76
        self._x, self._y = local_xy_m(self.stop_lat, self.stop_lon, self._lat0, self._lon0)

    def access(self, lat: float, lon: float, max_dist_m: float) -> tuple[np.ndarray, np.ndarray]:
        x, y = local_xy_m(lat, lon, self._lat0, self._lon0)
        idx = within(self._x, self._y, float(x), float(y), max_dist_m / self.detour).astype(np.int32)
        dist = haversine_m(lat, lon, self.stop_lat[idx], self.stop_lon[idx]) * self.detour
        keep = dist <= max_dist_m
        return idx[keep], dist[keep]

    def path(self, lat1: float, lon1: float, lat2: float, lon2: float) -> WalkPath:
        d = float(haversine_m(lat1, lon1, lat2, lon2)) * self.detour
        return WalkPath(d, [(lon1, lat1), (lon2, lat2)])

    def stop_footpaths(self, radius_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        i, j = pairs_within(self._x, self._y, radius_m / self.detour)
        a = np.concatenate([i, j]).astype(np.int32)
        b = np.concatenate([j, i]).astype(np.int32)
        d = haversine_m(self.stop_lat[a], self.stop_lon[a], self.stop_lat[b], self.stop_lon[b]) * self.detour
        keep = d <= radius_m
        return a[keep], b[keep], d[keep]
