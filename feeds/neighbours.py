"""Points near other points, answered exactly on a grid of cells: importing scipy.spatial for a KD-tree costs a
server process ~28 MiB resident (it loads scipy.linalg and scipy.sparse), for the three questions feeds and the
straight-line walker ask: the points within a radius of one point, every pair within a radius, and the points
with no other point near them."""
from __future__ import annotations

import numpy as np


def within(px: np.ndarray, py: np.ndarray, x: float, y: float, r: float) -> np.ndarray:
    """Indexes (ascending, int64) of the points (px, py) at Euclidean distance <= r from (x, y)."""
    return np.flatnonzero((px - x) ** 2 + (py - y) ** 2 <= r * r)


def _cells(coords: np.ndarray, size: float) -> np.ndarray:
    """Each point's integer cell on a grid of ``size`` (one column per dimension), from the lowest corner."""
    return np.floor((coords - coords.min(axis=0)) / size).astype(np.int64)


def _neighbour_candidates(cells: np.ndarray, rows: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) with i in ``rows`` and j any point whose cell is within ``reach`` cells of i's in every dimension."""
    dims = cells.shape[1]
    width = int(cells.max()) + 2 * reach + 1  # a neighbour's coordinate never wraps into the next one's digit
    weights = width ** np.arange(dims - 1, -1, -1, dtype=np.int64)
    key = (cells + reach) @ weights
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    steps = np.arange(-reach, reach + 1)
    out_i, out_j = [], []
    for offset in np.array(np.meshgrid(*[steps] * dims, indexing="ij")).reshape(dims, -1).T:
        want = key[rows] + offset @ weights
        lo = np.searchsorted(sorted_key, want, "left")
        cnt = np.searchsorted(sorted_key, want, "right") - lo
        if not cnt.any():
            continue
        first = np.cumsum(cnt) - cnt
        out_i.append(np.repeat(rows, cnt))
        out_j.append(order[np.repeat(lo, cnt) + np.arange(int(cnt.sum())) - np.repeat(first, cnt)])
    if not out_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(out_i), np.concatenate(out_j)


def pairs_within(x: np.ndarray, y: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Every pair i < j of points at Euclidean distance <= r, sorted by (i, j)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or not r > 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    i, j = _neighbour_candidates(_cells(np.column_stack([x, y]), r), np.arange(len(x)), 1)
    keep = (i < j) & ((x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2 <= r * r)
    i, j = i[keep], j[keep]
    order = np.lexsort((j, i))
    return i[order], j[order]


def isolated(points: np.ndarray, r: float) -> np.ndarray:
    """For each point (rows of ``points``, any dimension), True when no other point is at Euclidean distance <= r.
    Cells are r/sqrt(dims) wide, so two points sharing one are near; only points alone in their cell are
    compared, with the points of the cells around it."""
    points = np.asarray(points, np.float64)
    n, dims = points.shape
    out = np.ones(n, bool)
    if n < 2:
        return out
    size = r / np.sqrt(dims)
    cells = _cells(points, size)
    _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    shared = counts[inverse.ravel()] > 1
    out[shared] = False
    lone = np.flatnonzero(~shared)
    if len(lone):
        i, j = _neighbour_candidates(cells, lone, int(np.ceil(np.sqrt(dims))))
        near = (i != j) & (((points[i] - points[j]) ** 2).sum(axis=1) <= r * r)
        out[i[near]] = False
    return out
