"""(trip_id, stop_sequence) → stop_id over a feed's stop_times, kept as arrays instead of a dict of tuples.

Realtime matching (maas/disruptions/realtime.py `OperatorIndex`) asks which stop a trip's stop_sequence names. A
dict with one (trip, sequence) tuple key per stop time held ~124 MiB in every worker for all-Tokyo rail (1.2M stop
times) and took ~3.7 s to build; these arrays hold ~25 MiB: per trip a slice of its sequences, sorted, and their
stops as codes into one list of stop ids.
"""
from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

from feeds.feed import interned

if TYPE_CHECKING:
    import pandas as pd


class TripStops(Mapping):
    """A read-only mapping with a dict's answers: a (trip, sequence) pair given twice maps to its last row."""

    def __init__(self, stop_times: pd.DataFrame | None = None):
        import pandas as pd

        self._trip_pos: dict[str, int] = {}
        self._start = np.zeros(1, np.int64)  # rows of trip k: _start[k] .. _start[k + 1]
        self._seq = np.empty(0, np.int64)
        self._stop = np.empty(0, np.int32)  # codes into _stop_ids
        self._stop_ids: list = []
        if stop_times is None or not len(stop_times):
            return
        trip_code, trips = pd.factorize(stop_times["trip_id"], use_na_sentinel=True)
        stop_code, stops = pd.factorize(stop_times["stop_id"], use_na_sentinel=True)
        seq = stop_times["stop_sequence"].astype("int64").to_numpy()
        ok = trip_code >= 0
        trip_code, stop_code, seq = trip_code[ok], stop_code[ok], seq[ok]
        order = np.lexsort((seq, trip_code))  # stable: rows of one (trip, sequence) stay in table order
        trip_code, stop_code, seq = trip_code[order], stop_code[order], seq[order]
        last = np.ones(len(seq), bool)  # the last row of each (trip, sequence), as dict(zip(...)) keeps
        last[:-1] = (trip_code[1:] != trip_code[:-1]) | (seq[1:] != seq[:-1])
        trip_code, stop_code, seq = trip_code[last], stop_code[last], seq[last]
        self._trip_pos = {t: i for i, t in enumerate(interned(trips.tolist()))}  # shared with the index's ids
        start = np.zeros(len(trips) + 1, np.int64)
        np.cumsum(np.bincount(trip_code, minlength=len(trips)), out=start[1:])
        # the smallest integer types the values fit (all-Tokyo rail: sequences and stop codes int16, -5 MiB)
        self._start = start.astype(_smallest(start, np.int32))
        self._seq = seq.astype(_smallest(seq, np.int16))
        self._stop = stop_code.astype(_smallest(np.array([-1, len(stops)]), np.int16))
        self._stop_ids = stops.tolist() + [None]  # code -1: a row without a stop_id (a valid feed has none)

    def intern_ids(self) -> None:
        """Its trip ids interned (an index built by another process: `OperatorIndex.with_shared_ids`)."""
        self._trip_pos = dict(zip(interned(list(self._trip_pos)), self._trip_pos.values()))

    def _row(self, key) -> int:
        """The row of ``key``, or -1."""
        if not isinstance(key, tuple) or len(key) != 2:
            return -1
        trip, seq = key
        try:
            k = self._trip_pos.get(trip)
        except TypeError:  # an unhashable trip id: never a key of the dict either
            return -1
        if k is None:
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

    def __getitem__(self, key):
        i = self._row(key)
        if i < 0:
            raise KeyError(key)
        return self._stop_ids[self._stop[i]]

    def get(self, key, default=None):
        i = self._row(key)
        return default if i < 0 else self._stop_ids[self._stop[i]]

    def __contains__(self, key) -> bool:
        return self._row(key) >= 0

    def __len__(self) -> int:
        return len(self._seq)

    def __iter__(self) -> Iterator[tuple]:
        trips = list(self._trip_pos)
        for k, trip in enumerate(trips):
            for s in self._seq[self._start[k]:self._start[k + 1]].tolist():
                yield trip, s

    def nbytes(self) -> int:
        return self._start.nbytes + self._seq.nbytes + self._stop.nbytes


def _smallest(values: np.ndarray, smallest: type) -> type:
    """The first of ``smallest``, int32 and int64 that holds every value (an empty array: ``smallest``)."""
    for t in (smallest, np.int32, np.int64):
        if not len(values) or (values.min() >= np.iinfo(t).min and values.max() <= np.iinfo(t).max):
            return t
    return np.int64
