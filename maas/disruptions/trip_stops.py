"""The realtime operator index's trip arrays: trip id → route id (`TripRoutes`) and (trip_id, stop_sequence) →
stop_id (`TripStops`) over one `IdTable` of the operator's trip ids, instead of a dict per trip and their strings.

Realtime matching (maas/disruptions/realtime.py `OperatorIndex`) asks whether a trip is the operator's, its route
and which stop a trip's stop_sequence names. A dict with one (trip, sequence) tuple key per stop time held ~124 MiB
in every worker for all-Tokyo rail (1.2M stop times) and took ~3.7 s to build; these arrays hold ~25 MiB: per trip a
slice of its sequences, sorted, and their stops as codes into one list of stop ids. The trip ids themselves are one
`IdTable` (a UTF-8 blob and end offsets) both share, positions into it instead of two dicts keyed by the id strings.
"""
from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

from routing.timetable import IdTable

if TYPE_CHECKING:
    import pandas as pd


def trip_position(ids: IdTable, trip) -> int:
    """The position of ``trip`` in ``ids`` (the last, as a dict keeps the last of a key given twice), or -1 (not
    a string, or not there): `IdTable.find`."""
    if not isinstance(trip, str):
        return -1
    hits = ids.find(trip)
    return hits[-1] if hits else -1


class TripRoutes(Mapping):
    """trip id → route id, read-only, the answers of the dict it replaces: the trips as an `IdTable` and per
    position a code into one list of route ids (all-Tokyo rail ~50,000 trips: ~2.4 MiB, not ~4 MiB of strings
    and a 1.8 MiB dict)."""

    __slots__ = ("ids", "code", "route_ids")

    def __init__(self, ids: IdTable, code: np.ndarray, route_ids: list):
        if len(code) != len(ids):
            raise ValueError(f"{len(code)} route codes for {len(ids)} trips")
        self.ids = ids  # the trip ids, each once
        self.code = code  # per trip, its route: an index into route_ids
        self.route_ids = route_ids

    def __reduce__(self):
        return (TripRoutes, (self.ids, self.code, self.route_ids))

    def position(self, trip) -> int:
        """The position of ``trip`` in `ids` (what `TripStops.row` takes), or -1."""
        return trip_position(self.ids, trip)

    def route_at(self, k: int):
        """The route of the trip at position ``k``."""
        return self.route_ids[self.code[k]]

    def __getitem__(self, trip):
        k = self.position(trip)
        if k < 0:
            raise KeyError(trip)
        return self.route_at(k)

    def __contains__(self, trip) -> bool:
        return self.position(trip) >= 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def nbytes(self) -> int:
        return len(self.ids.blob) + self.ids.ends.itemsize * len(self.ids.ends) + self.code.nbytes


class TripStops(Mapping):
    """A read-only mapping with a dict's answers: a (trip, sequence) pair given twice maps to its last row.

    ``ids``: the trips, each once, as the index holds them (rows of other trips are left out: a loaded feed has
    none, its validation refuses stop times of no trip); without it, the trips of ``stop_times``. ``id_list``:
    those ids as strings, when the caller has them (all-Tokyo rail: -50 ms of decoding each)."""

    def __init__(self, stop_times: pd.DataFrame | None = None, ids: IdTable | None = None,
                 id_list: list[str] | None = None):
        import pandas as pd

        self.ids = ids if ids is not None else IdTable.of([])
        self._start = np.zeros(1, np.int32)  # rows of trip k: _start[k] .. _start[k + 1] (no rows: none)
        self._seq = np.empty(0, np.int16)
        self._stop = np.empty(0, np.int16)  # codes into _stop_ids
        self._stop_ids: list = []
        if stop_times is None or not len(stop_times):
            return
        trip_code, trips = pd.factorize(stop_times["trip_id"], use_na_sentinel=True)
        if ids is None:
            self.ids = IdTable.of(trips.astype(str).tolist())
        else:  # the codes as positions in ids (-1: a trip not there)
            where = pd.Index(id_list if id_list is not None else list(self.ids)).get_indexer(trips)
            trip_code = np.where(trip_code >= 0, where[trip_code], -1) if len(where) else trip_code
        n = len(self.ids)
        stop_code, stops = pd.factorize(stop_times["stop_id"], use_na_sentinel=True)
        seq = stop_times["stop_sequence"].astype("int64").to_numpy()
        ok = trip_code >= 0
        trip_code, stop_code, seq = trip_code[ok], stop_code[ok], seq[ok]
        order = np.lexsort((seq, trip_code))  # stable: rows of one (trip, sequence) stay in table order
        trip_code, stop_code, seq = trip_code[order], stop_code[order], seq[order]
        last = np.ones(len(seq), bool)  # the last row of each (trip, sequence), as dict(zip(...)) keeps
        last[:-1] = (trip_code[1:] != trip_code[:-1]) | (seq[1:] != seq[:-1])
        trip_code, stop_code, seq = trip_code[last], stop_code[last], seq[last]
        start = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(trip_code, minlength=n), out=start[1:])
        # the smallest integer types the values fit (all-Tokyo rail: sequences and stop codes int16, -5 MiB)
        self._start = start.astype(_smallest(start, np.int32))
        self._seq = seq.astype(_smallest(seq, np.int16))
        self._stop = stop_code.astype(_smallest(np.array([-1, len(stops)]), np.int16))
        self._stop_ids = stops.tolist() + [None]  # code -1: a row without a stop_id (a valid feed has none)

    def row(self, k: int, seq) -> int:
        """The row of stop_sequence ``seq`` of the trip at position ``k`` of `ids` (-1: none), or -1."""
        if not 0 <= k < len(self._start) - 1:
            return -1
        try:
            s = operator.index(seq)
        except TypeError:
            if isinstance(seq, float) and seq.is_integer():  # 3.0 == 3 as a dict key
                s = int(seq)
            else:
                return -1
        lo, hi = int(self._start[k]), int(self._start[k + 1])
        seqs = self._seq[lo:hi]
        if not len(seqs) or s < seqs[0] or s > seqs[-1]:
            return -1
        i = lo + int(np.searchsorted(seqs, s))
        return i if i < hi and int(self._seq[i]) == s else -1

    def stop_at(self, row: int):
        """The stop_id of a row `row` gave (None: a row without one)."""
        return self._stop_ids[self._stop[row]]

    def _row(self, key) -> int:
        """The row of ``key``, or -1."""
        if not isinstance(key, tuple) or len(key) != 2:
            return -1
        return self.row(trip_position(self.ids, key[0]), key[1])

    def __getitem__(self, key):
        i = self._row(key)
        if i < 0:
            raise KeyError(key)
        return self.stop_at(i)

    def get(self, key, default=None):
        i = self._row(key)
        return default if i < 0 else self.stop_at(i)

    def __contains__(self, key) -> bool:
        return self._row(key) >= 0

    def __len__(self) -> int:
        return len(self._seq)

    def __iter__(self) -> Iterator[tuple]:
        start = self._start.tolist()
        for k, trip in enumerate(self.ids if len(start) > 1 else ()):
            if start[k] < start[k + 1]:
                for s in self._seq[start[k]:start[k + 1]].tolist():
                    yield trip, s

    def nbytes(self) -> int:
        return self._start.nbytes + self._seq.nbytes + self._stop.nbytes


def _smallest(values: np.ndarray, smallest: type) -> type:
    """The first of ``smallest``, int32 and int64 that holds every value (an empty array: ``smallest``)."""
    for t in (smallest, np.int32, np.int64):
        if not len(values) or (values.min() >= np.iinfo(t).min and values.max() <= np.iinfo(t).max):
            return t
    return np.int64
