"""Can any journey at all stay out of what a closure mask closes? Answered without a search.

When the areas a warning avoids cut origin and destination apart, a plan with the mask finds nothing, but the
planner learns that only after searching its whole departure range (two hours of departures). The weakly
connected components of the stop graph without what the mask closes all day answer it with two look-ups, computed
once per (model, mask). The graph is a superset of every journey's moves: time, direction and walking limits are
ignored, and footpaths, in-seat links and stops of one station are kept wherever both ends are open, so "apart"
is certain and "connected" only means a search is worth running.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from maas.disruptions.closure_masks import HI, LO
from routing.masks import ClosureMask


def _closed(frm: np.ndarray, until: np.ndarray, t: int, backward: bool) -> np.ndarray:
    """Closed for every moment a journey may use: from ``t`` on (depart-at), or up to ``t`` (arrive-by)."""
    frm, until = np.asarray(frm), np.asarray(until)
    return (frm <= LO) & (until > t) if backward else (frm <= t) & (until >= HI)


def components(model: Any, mask: ClosureMask, t: int, backward: bool = False) -> np.ndarray:
    """int32[n_stops]: component label per stop, -1 for a closed stop, for journeys from (to) ``t``."""
    n = int(model.n_stops)
    stop_open = ~_closed(mask.stop_from, mask.stop_until, t, backward)
    ps, pss = np.asarray(model.pattern_stops), np.asarray(model.pattern_stops_start)
    hop_ok = np.ones(len(ps), bool)
    hop_ok[pss[1:] - 1] = False  # a pattern's last position starts no hop
    hop_ok[:-1] &= ~_closed(mask.hop_from, mask.hop_until, t, backward)[:len(ps) - 1]
    a, b = [ps[np.flatnonzero(hop_ok)]], [ps[np.flatnonzero(hop_ok) + 1]]
    fp_start = np.asarray(model.fp_start)
    a.append(np.repeat(np.arange(n), np.diff(fp_start)))
    b.append(np.asarray(model.fp_to))
    if getattr(model, "inseat_from_stop", None) is not None and len(model.inseat_from_stop):
        a.append(np.asarray(model.inseat_from_stop))
        b.append(np.asarray(model.inseat_to_stop))
    station = np.asarray(getattr(model, "stop_station", np.full(n, -1)))
    has = np.flatnonzero(station >= 0)
    if len(has):  # every stop of a station joined to the station's first stop
        first = np.full(int(station.max()) + 1, -1, np.int64)
        first[station[has][::-1]] = has[::-1]
        a.append(has)
        b.append(first[station[has]])
    a_, b_ = np.concatenate(a).astype(np.int64), np.concatenate(b).astype(np.int64)
    keep = stop_open[a_] & stop_open[b_]
    # imported here: scipy.sparse is ~10 MiB resident, and only a server with a closure that avoids areas needs it
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(int(keep.sum()), np.int8), (a_[keep], b_[keep])), shape=(n, n))
    _, labels = connected_components(g, directed=True, connection="weak")
    labels = labels.astype(np.int32)
    labels[~stop_open] = -1
    return labels


class Reach:
    """`components` cached per (model, mask, the closures that count at the query time): the service's masks
    live until the closures change, and the answer changes only at a closure's start (end, for arrive-by)."""

    def __init__(self) -> None:
        self._cache: dict[tuple, tuple[weakref.ref, weakref.ref, np.ndarray]] = {}
        self._times: dict[tuple[int, int], tuple[weakref.ref, np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def _key(self, mask: ClosureMask, t: int, backward: bool) -> tuple:
        hit = self._times.get((id(mask), 0))
        if hit is None or hit[0]() is not mask:
            f = np.concatenate([np.asarray(mask.stop_from), np.asarray(mask.hop_from)])
            u = np.concatenate([np.asarray(mask.stop_until), np.asarray(mask.hop_until)])
            hit = (weakref.ref(mask), np.unique(f[u >= HI]), np.unique(u[f <= LO]))
            with self._lock:
                self._times = {k: v for k, v in self._times.items() if v[0]() is not None}
                self._times[(id(mask), 0)] = hit
        starts, ends = hit[1], hit[2]
        return (id(mask), backward, int(np.searchsorted(ends if backward else starts, t, "right")))

    def labels(self, model: Any, mask: ClosureMask, t: int, backward: bool = False) -> np.ndarray:
        key = (id(model), *self._key(mask, t, backward))
        hit = self._cache.get(key)
        if hit is not None and hit[0]() is model and hit[1]() is mask:
            return hit[2]
        labels = components(model, mask, t, backward)
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[0]() is not None and v[1]() is not None}
            self._cache[key] = (weakref.ref(model), weakref.ref(mask), labels)
        return labels

    def apart(self, model: Any, mask: ClosureMask, t: int, backward: bool, from_stops, to_stops) -> bool:
        """True when no move of any journey from ``t`` (to ``t``, ``backward``) joins a stop of ``from_stops``
        to one of ``to_stops`` under ``mask``."""
        labels = self.labels(model, mask, t, backward)
        a = set(labels[np.asarray(from_stops, np.int64)].tolist())  # a few stops each: sets beat np.isin
        b = set(labels[np.asarray(to_stops, np.int64)].tolist())
        a.discard(-1)
        return a.isdisjoint(b)
