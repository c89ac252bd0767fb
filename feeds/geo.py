"""Distances on the WGS 84 sphere, vectorised; every module measures with these."""
from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1, lon1, lat2, lon2):
    """Great-circle distance in metres; accepts scalars or numpy arrays (broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def haversine_scalar_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """`haversine_m` for one pair of floats in `math`: a tenth of numpy's per-call cost, where one distance is
    wanted per request."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def local_xy_m(lat, lon, lat0: float, lon0: float):
    """Equirectangular projection around (lat0, lon0) in metres: good to <0.1 % over a city, and cheap."""
    x = np.radians(np.asarray(lon) - lon0) * EARTH_RADIUS_M * np.cos(np.radians(lat0))
    y = np.radians(np.asarray(lat) - lat0) * EARTH_RADIUS_M
    return x, y


def hilbert_order(lat, lon, bits: int = 16) -> np.ndarray:
    """Indexes that sort points along a Hilbert curve over their bounding box (ties in input order): points
    near each other get near positions, so arrays indexed by the order keep a neighbourhood in few cache lines."""
    lat, lon = np.nan_to_num(np.asarray(lat, np.float64)), np.nan_to_num(np.asarray(lon, np.float64))
    n = 1 << bits
    if len(lat) == 0:
        return np.zeros(0, np.int64)

    def grid(v):
        lo, span = v.min(), np.ptp(v)
        return np.zeros(len(v), np.int64) if span == 0 else np.minimum(((v - lo) / span * n).astype(np.int64), n - 1)

    x, y, d = grid(lon), grid(lat), np.zeros(len(lat), np.int64)
    s = n >> 1
    while s > 0:  # (the classic xy → d walk, every point at once)
        rx, ry = (x & s) > 0, (y & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = ~ry & rx
        x, y = np.where(flip, n - 1 - x, x), np.where(flip, n - 1 - y, y)
        x, y = np.where(~ry, y, x), np.where(~ry, x, y)
        s >>= 1
    return np.argsort(d, kind="stable")
