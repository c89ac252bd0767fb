"""The in-memory transit model of one service day: compact numpy arrays that RAPTOR scans.

Built from a `feeds.feed.Network` with vectorised pandas/numpy (no per-stop-time Python loops): the day's trips
plus the previous day's trips still running after midnight (times shifted by -86400), frequencies expanded into
trips, trips grouped into FIFO route patterns. Strings (ids, names) live in plain lists beside the arrays; the
search never touches them.
"""
from __future__ import annotations

import bisect
import datetime as dt
import json
import threading
import weakref
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from feeds.feed import Network
from feeds.geo import hilbert_order

if TYPE_CHECKING:
    import pandas as pd

DAY = 86400
# The service days one model joins, relative to its date: the day before (every trip: an arrive-by search looks
# up to a day back), the day itself, the day after and the one after that (every trip: a search leaving late
# finds the morning's trains), plus two days back for trips still running after the day before's midnight. So
# one model answers the plans of two service days (`SERVED_DAYS`: today and tomorrow), and a server holds one
# model for both, not two that share three days of trips (all-Tokyo: 192k trips, not 148k + 143k). Times are
# seconds since the model date's midnight, so trips of day d are shifted by d * 86400 (on a feed's own clock,
# see _feed_shifts).
DAYS = (-2, -1, 0, 1, 2)
SERVED_DAYS = (0, 1)  # the days (relative to its date) whose plans a model answers: each has its days around
WHOLE_DAYS = DAYS[1:]  # the days a model holds every trip of (of the first, only those past the next midnight)
WINDOW_START = -DAY  # an instance that arrives everywhere before this is of no use to any query of the model
QUERY_RANGE = (-DAY, 2 * DAY)  # query times the model answers: from the day before's midnight to the day after's
DEFAULT_TZ = "Asia/Tokyo"
MODE_NAMES = ("TRAM", "SUBWAY", "RAIL", "BUS", "FERRY", "CABLE_CAR", "GONDOLA", "FUNICULAR", "TROLLEYBUS",
              "MONORAIL", "SHUTTLE", "WALK")
MODE_INDEX = {m: i for i, m in enumerate(MODE_NAMES)}
_GTFS_MODE = {0: "TRAM", 1: "SUBWAY", 2: "RAIL", 3: "BUS", 4: "FERRY", 5: "CABLE_CAR", 6: "GONDOLA",
              7: "FUNICULAR", 11: "TROLLEYBUS", 12: "MONORAIL"}


def mode_of_route_type(route_type: int) -> str:
    """GTFS route_type (basic or extended) → our mode name."""
    rt = int(route_type)
    if rt in _GTFS_MODE:
        return _GTFS_MODE[rt]
    hvt = {1: "RAIL", 2: "RAIL", 4: "BUS", 7: "BUS", 8: "BUS", 9: "TRAM", 10: "FERRY",
           11: "TROLLEYBUS", 12: "MONORAIL", 13: "GONDOLA", 14: "FUNICULAR"}
    return hvt.get(rt // 100, "BUS")


@dataclass(frozen=True)
class BuildSettings:
    """Model build parameters. Walking speed and radius define the stop-to-stop footpaths."""

    footpath_radius_m: float = 300.0
    walk_speed_mps: float = 1.2
    detour_factor: float = 1.3
    min_transfer_s: int = 60


class PatternColumn:
    """A per-stop-time column the search never reads (GTFS stop_sequence, shape_dist_traveled), held per pattern:
    one row of the pattern's length when every trip of the pattern has the same values (all-Tokyo: all 2,266
    patterns, for both columns; the day copies of a trip always do), else one row per trip. Reads like the flat
    array it stands for (indexed as st_arr): ``col[i]``, ``col.item(i)``, ``col[a:b]`` (a view when it lies in
    one row), ``len(col)``, ``col.dtype``, ``np.asarray(col)`` (the whole flat column, made on each call: for
    bulk use, e.g. a realtime overlay's build). All-Tokyo: 0.2 MiB per column instead of 7.4 per service day."""

    __slots__ = ("starts", "length", "shared", "row_start", "values", "_lists")

    def __init__(self, starts: np.ndarray, length: np.ndarray, shared: np.ndarray, row_start: np.ndarray,
                 values: np.ndarray):
        self.starts = starts  # int64 [n_patterns + 1]: flat index of each pattern's first stop time, then the total
        self.length = length  # int64 per pattern: stops per trip
        self.shared = shared  # bool per pattern: one row for all its trips
        self.row_start = row_start  # int64 per pattern: where its row(s) start in ``values``
        self.values = values  # (read-only)
        # the same as Python lists: one stop time's lookup (an itinerary's legs) is a bisect and three list reads
        # (~0.5 µs), not numpy scalar reads (~2 µs)
        self._lists = (starts.tolist(), length.tolist(), shared.tolist(), row_start.tolist())

    def __getstate__(self):
        return (self.starts, self.length, self.shared, self.row_start, self.values)

    def __setstate__(self, state) -> None:
        self.__init__(*state)

    @classmethod
    def of(cls, flat: np.ndarray, pattern_stops_start: np.ndarray, pattern_times_start: np.ndarray
           ) -> "PatternColumn":
        """Compact ``flat`` (one value per stop time, patterns' blocks back to back from pattern_times_start)."""
        flat = np.asarray(flat)
        n = len(flat)
        length = np.diff(np.asarray(pattern_stops_start, np.int64))
        starts = np.append(np.asarray(pattern_times_start, np.int64), np.int64(n))
        size = np.diff(starts)
        if (size < 0).any() or (size % np.maximum(length, 1)).any() or (len(length) == 0 and n):
            raise ValueError("stop times are not the patterns' blocks back to back")
        shared = np.zeros(len(length), np.bool_)
        nan = flat.dtype.kind == "f"
        for p, (a, b, L) in enumerate(zip(starts[:-1].tolist(), starts[1:].tolist(), length.tolist())):
            if b > a:
                rows = flat[a:b].reshape(-1, L)
                same = rows == rows[0]
                if nan:
                    same |= np.isnan(rows) & np.isnan(rows[0])
                shared[p] = bool(same.all())
        keep = np.where(shared, length, size)
        row_start = np.zeros(len(length), np.int64)
        if len(keep):
            np.cumsum(keep[:-1], out=row_start[1:])
        values = flat[_ranges(starts[:-1], keep)].copy()
        values.flags.writeable = False
        return cls(starts, length, shared, row_start, values)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def __len__(self) -> int:
        return self._lists[0][-1]

    def _where(self, i: int) -> int:
        """Index into ``values`` of flat index ``i`` (0 <= i < len)."""
        starts, length, shared, row_start = self._lists
        p = bisect.bisect_right(starts, i) - 1
        k = i - starts[p]
        return row_start[p] + (k % length[p] if shared[p] else k)

    def _take(self, idx: np.ndarray) -> np.ndarray:
        """The values at flat indexes ``idx`` (vectorised)."""
        idx = np.asarray(idx, np.int64)
        p = np.searchsorted(self.starts, idx, "right") - 1
        k = idx - self.starts[p]
        k = np.where(self.shared[p], k % np.maximum(self.length[p], 1), k)
        return self.values[self.row_start[p] + k]

    def __getitem__(self, key):
        n = len(self)
        if isinstance(key, slice):
            a, b, step = key.indices(n)
            if step == 1 and a < b:
                starts, length, shared, _ = self._lists
                p = bisect.bisect_right(starts, a) - 1
                k = a - starts[p]
                within = b - a <= length[p] - k % length[p] if shared[p] else b <= starts[p + 1]
                if within:  # one trip's stop times (every slice the code takes): a view
                    va = self._where(a)
                    return self.values[va:va + (b - a)]
            return self._take(np.arange(a, b, step))
        if not isinstance(key, (int, np.integer)):
            return self._take(np.arange(n)[key])
        i = int(key)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {key} out of range for {n} stop times")
        return self.values[self._where(i)]

    def shared_row(self, p: int) -> np.ndarray | None:
        """The one row every trip of pattern ``p`` has (a view), None when its trips have rows of their own."""
        _, length, shared, row_start = self._lists
        return self.values[row_start[p]:row_start[p] + length[p]] if shared[p] else None

    def item(self, i: int):
        i = int(i)
        if not 0 <= i < len(self):
            return self[i].item()  # (negative or out of range: as __getitem__)
        return self.values.item(self._where(i))

    def __array__(self, dtype=None, copy=None):
        size = np.diff(self.starts)
        parts = [np.tile(self.values[r:r + L], int(s // L)) if sh else self.values[r:r + s]
                 for r, L, s, sh in zip(self.row_start.tolist(), self.length.tolist(), size.tolist(),
                                        self.shared.tolist()) if s]
        out = np.concatenate(parts) if parts else self.values[:0].copy()
        return out if dtype is None else out.astype(dtype)

    def __eq__(self, other) -> bool:
        if not isinstance(other, (PatternColumn, np.ndarray)):
            return NotImplemented
        a, b = np.asarray(self), np.asarray(other)
        return a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))

    __hash__ = None  # type: ignore[assignment]

    @property
    def nbytes(self) -> int:
        return self.starts.nbytes + self.length.nbytes + self.shared.nbytes + self.row_start.nbytes + \
            self.values.nbytes


class StringColumn(Sequence):
    """A per-trip text column with few distinct values (headsigns, booking messages), held as codes into its
    distinct strings: reads like the list it stands for (``col[t]``, ``len``, iteration, slices as lists, ``==``
    a list). All-Tokyo: ~0.3 MiB per column and service day instead of a 1.2 MiB list of pointers."""

    __slots__ = ("codes", "values")

    def __init__(self, codes: array, values: list[str]):
        self.codes = codes  # array.array of unsigned codes (the smallest type that holds them): Python ints on read
        self.values = values

    @classmethod
    def of(cls, strings) -> "StringColumn":
        pos: dict = {}
        codes = [pos.setdefault(v, len(pos)) for v in strings]
        kind = "B" if len(pos) <= 0xFF else "H" if len(pos) <= 0xFFFF else "L"
        return cls(array(kind, codes), list(pos))

    def __reduce__(self):
        return (StringColumn, (self.codes, self.values))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.values[c] for c in self.codes[i]]
        return self.values[self.codes[i]]

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self):
        values = self.values
        return (values[c] for c in self.codes)

    def __eq__(self, other) -> bool:
        if isinstance(other, (StringColumn, list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"StringColumn({len(self)} rows, {len(self.values)} distinct)"


class IdTable(Sequence):
    """Ids (a network's raw trip ids) as one UTF-8 blob and end offsets: ``table[i]`` decodes one id. One table
    serves every service day's `TripIds` (`canonical`): all-Tokyo 2.2 MiB for ~50,000 ids, instead of 4.3 MiB
    of interned strings and the interpreter's intern table grown for them."""

    __slots__ = ("blob", "ends", "_order", "_hashes", "__weakref__")

    def __init__(self, blob: bytes, ends: array):
        self.blob = blob  # the ids' UTF-8 bytes, one after another
        self.ends = ends  # array.array: where id i ends in blob (id i starts where i-1 ends)
        # (`find`, made on first lookup) positions sorted by their id's hash, and those hashes (this process's:
        # never pickled)
        self._order: array | None = None
        self._hashes: array | None = None

    @classmethod
    def of(cls, ids) -> "IdTable":
        enc = [s.encode() for s in ids]
        ends = list(accumulate(len(b) for b in enc))
        return cls(b"".join(enc), array("I" if not ends or ends[-1] <= 0xFFFFFFFF else "Q", ends))

    def __reduce__(self):
        return (IdTable, (self.blob, self.ends))

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self.ends)
            if i < 0:
                raise IndexError("IdTable index out of range")
        return self._raw(i).decode()

    def _raw(self, i: int) -> bytes:
        ends = self.ends
        return self.blob[ends[i - 1] if i else 0:ends[i]]

    def __eq__(self, other) -> bool:
        if isinstance(other, IdTable):
            return self is other or (self.ends == other.ends and self.blob == other.blob)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def find(self, key: str) -> list[int]:
        """The positions holding ``key``, ascending: a binary search of its hash among the ids' (in C, ~1 us for
        100,000 ids, 8 bytes an id more than a search by comparing decoded ids, which took ~6 us), then the id
        bytes of the equal hashes compared."""
        raw, order, hashes = self._raw, self._order, self._hashes
        if order is None or hashes is None:
            hs = [hash(raw(i)) for i in range(len(self.ends))]
            order = array("i", sorted(range(len(hs)), key=hs.__getitem__))  # (stable: equal ids ascending)
            hashes = array("q", [hs[i] for i in order])
            self._order, self._hashes = order, hashes
        try:
            want = key.encode()
        except UnicodeEncodeError:  # (a lone surrogate: no id, UTF-8 all, equals it)
            return []
        h = hash(want)
        k = bisect.bisect_left(hashes, h)
        hits = []
        while k < len(hashes) and hashes[k] == h:
            if raw(order[k]) == want:
                hits.append(order[k])
            k += 1
        return hits

    def canonical(self) -> "IdTable":
        """The table of this process equal to this one (this one if none): one per network, however many models
        hold it (each built or unpickled with its own)."""
        key = (len(self.blob), len(self.ends), hash(self.blob))
        with _ID_TABLES_LOCK:
            hit = _ID_TABLES.get(key)
            if hit is not None and hit == self:
                return hit
            _ID_TABLES[key] = self
        return self


_ID_TABLES: "weakref.WeakValueDictionary[tuple, IdTable]" = weakref.WeakValueDictionary()
_ID_TABLES_LOCK = threading.Lock()


def _run_suffix(seconds: int) -> str:
    return f"@{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _split_run(trip_id: str) -> tuple[str, int] | None:
    """(raw id, start seconds) of a frequency run's id ``raw@HH:MM:SS`` exactly as `_run_suffix` writes it."""
    at = trip_id.rfind("@")
    if at < 0:
        return None
    parts = trip_id[at + 1:].split(":")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    seconds = int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])
    return (trip_id[:at], seconds) if _run_suffix(seconds) == trip_id[at:] else None


class TripIds(Sequence):
    """A model's trip ids (index t) as positions into an `IdTable` of raw ids plus, for frequency runs, their
    start (named ``raw@HH:MM:SS``): reads like the list of strings it stands for (``ids[t]`` decodes one, ``len``,
    iteration, ``in``, slices as lists, ``==`` a list), pickles as arrays and a blob. The table is the network's
    trips, the same for every service day (`IdTable.canonical`: a model coming back from its build's child takes
    the one already here): all-Tokyo 0.6 MiB per model (148,000 int32 positions; no feed has frequency runs) and
    the one table, instead of a 1.1 MiB list per model and the interned strings (one worker: RSS at ready -10 MiB).
    A decode is ~0.5 µs, an itinerary reads one per ride."""

    __slots__ = ("names", "src", "start", "_order")

    def __init__(self, names: IdTable, src: array, start: array | None):
        self.names = names
        self.src = src  # array.array("i"): position of trip t's raw id in names
        self.start = start  # array.array("i"): trip t's run start for a frequency run (-1: none); None: no runs
        self._order: array | None = None  # (`_sorted`, made on first lookup; never pickled)

    @classmethod
    def of(cls, ids) -> "TripIds":
        """From trip id strings (a saved model's, a realtime overlay's)."""
        pos: dict[str, int] = {}
        src, start = array("i"), array("i")
        for t in ids:
            run = _split_run(t)
            raw, s = run if run is not None else (t, -1)
            src.append(pos.setdefault(raw, len(pos)))
            start.append(s)
        return cls(IdTable.of(pos).canonical(), src, start if any(s >= 0 for s in start) else None)

    def __reduce__(self):
        return (TripIds, (self.names, self.src, self.start))

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, t):
        if isinstance(t, slice):
            return [self[k] for k in range(*t.indices(len(self.src)))]
        i, names = self.src[t], self.names  # (one id decoded: an itinerary reads one per ride)
        ends = names.ends
        raw = names.blob[ends[i - 1] if i else 0:ends[i]].decode()
        if self.start is None:
            return raw
        s = self.start[t]
        return raw if s < 0 else raw + _run_suffix(s)

    def __iter__(self):
        names, start = self.names, self.start
        if start is None:
            return (names[i] for i in self.src)
        return (names[i] if s < 0 else names[i] + _run_suffix(s) for i, s in zip(self.src, start))

    def __contains__(self, trip_id) -> bool:
        return type(trip_id) is str and bool(self.positions(trip_id))

    def __eq__(self, other) -> bool:
        if isinstance(other, TripIds):
            if self is other:
                return True
            if self.names == other.names:
                return self.src == other.src and self.start == other.start
        elif not isinstance(other, (list, tuple)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TripIds({len(self)} trips, {len(self.names)} raw ids)"

    def canonical(self) -> "TripIds":
        """These ids on the process's one equal `IdTable` (a model unpickled from its build's child)."""
        self.names = self.names.canonical()
        return self

    def _sorted(self) -> array:
        """The trips sorted by (raw id position, run start), stable (made on first lookup, 4 bytes a trip: all-Tokyo
        0.6 MiB a model): a trip id's runs are found by bisection, decoding no id."""
        order = self._order
        if order is None:
            src = np.frombuffer(self.src, np.int32)
            start = np.zeros(len(src), np.int32) if self.start is None else np.frombuffer(self.start, np.int32)
            order = self._order = array("i", np.lexsort((start, src)).astype(np.int32).tobytes())
        return order

    def positions(self, trip_id: str) -> list[int]:
        """Every t with ``self[t] == trip_id``, ascending: its raw id looked up (`IdTable.find`), then its trips
        among `_sorted`'s (`TransitModel.trip_index` picks a service day's among them)."""
        order, src, start = self._sorted(), self.src, self.start
        key = (lambda t: (src[t], -1)) if start is None else (lambda t: (src[t], start[t]))
        hits = []
        for k in self._keys_of(trip_id):
            j = bisect.bisect_left(order, k, key=key)
            while j < len(order) and key(order[j]) == k:
                hits.append(order[j])
                j += 1
        return sorted(hits)

    def knows(self, trip_id: str) -> bool:
        """Whether ``trip_id`` names one of these trips: its id, or the raw id of a frequency trip's runs (a
        closure names the trip, not one run)."""
        if type(trip_id) is not str:
            return False
        if trip_id in self:
            return True
        order, src = self._sorted(), self.src
        for i in self.names.find(trip_id):
            j = bisect.bisect_left(order, i, key=src.__getitem__)
            if j < len(order) and src[order[j]] == i:
                return True
        return False

    def _keys_of(self, trip_id: str) -> set[tuple[int, int]]:
        """(raw id position, run start or -1) pairs that read as ``trip_id``."""
        keys = {(i, -1) for i in self.names.find(trip_id)}
        run = _split_run(trip_id)
        if run is not None and self.start is not None:
            keys.update((i, run[1]) for i in self.names.find(run[0]))
        return keys

    def extended(self, ids: list[str]) -> "TripIds":
        """These ids followed by ``ids`` (a realtime overlay's added runs), on this table when it holds their
        raw ids."""
        names, src = self.names, array("i", self.src)
        start = array("i", self.start) if self.start is not None else array("i", [-1]) * len(src)
        extra: dict[str, int] = {}
        for t in ids:
            run = _split_run(t)
            raw, s = run if run is not None and names.find(run[0]) else (t, -1)
            hit = names.find(raw)
            src.append(hit[0] if hit else len(names) + extra.setdefault(raw, len(extra)))
            start.append(s)
        if extra:
            names = IdTable.of(list(names) + list(extra))
        return TripIds(names, src, start if any(s >= 0 for s in start) else None)


_PATTERN_COLUMNS = ("st_dist", "st_seq")  # stop-time columns held per pattern (`PatternColumn`)
_STRING_COLUMNS = ("trip_headsigns", "booking_messages")  # per-trip texts held as codes (`StringColumn`)
_STRING_FIELDS = ("date", "timezone", "stop_ids", "stop_names", "stop_names_en", "station_ids", "station_names",
                  "station_names_en", "route_ids", "route_short_names", "route_long_names", "route_colors",
                  "route_text_colors", "route_modes", "agency_ids", "agency_names", "trip_ids", "trip_headsigns",
                  "shape_ids", "booking_messages", "settings")


@dataclass
class TransitModel:
    """A service day's network as arrays, joined with its neighbours (see DAYS): times are int32 seconds since
    this date's midnight in ``timezone`` (the first feed's agency zone), so a query may start the day before and
    look ahead to the day after without a second model.

    Stops (boarding locations, index s): stop_lat/lon f8, stop_station i4, stop_wheelchair i1 (0 unknown, 1 yes,
    2 no), stop_min_transfer i4 (same-stop change time from transfers.txt, -1 = the query's default).
    Stations (parent station or the stop itself): station_lat/lon, CSR station_stops_start[n+1]/station_stops.
    Routes (r): route_type i2, route_mode i1 (index into MODE_NAMES), route_agency i4, route_feed i4
    (index into feed_namespaces).
    Patterns (p) = trips of one route with the same stops and pickup/drop-off flags: pattern_route i4, pattern_mode i1, stops CSR pattern_stops_start[n+1]/pattern_stops,
    trips pattern_trips_start[n+1] (trip indexes, sorted by departure, FIFO: no trip overtakes another),
    pattern_times_start[n]: stop time k of trip j of p at pattern_times_start[p] + j*len(p) + k.
    Stop times: st_arr i4, st_pickup, st_dropoff i1 (1 = allowed), st_dist f4 (shape_dist_traveled),
    st_seq i4 (GTFS stop_sequence); the last two, which the search never reads, as `PatternColumn`s (one row per
    pattern where its trips agree: indexed like the others, ``np.asarray`` for the flat array). Departures only
    by position, as the search reads them: dep_by_pos i4, trip j of p at position i at pattern_times_start[p] +
    i*n + j (n trips; `departure_index`, `departures_of_trip`): one copy (all-Tokyo: 7.4 MiB a service day), its
    own in a realtime overlay. Saved trip-major as ``st_dep.npy`` (the format before it; `save`, `load`).
    Trips (t, in pattern order): trip_pattern i4, trip_day_offset i1 (the service day, -2..1, relative to date),
    trip_wheelchair i1, trip_seat_capacity i4, trip_booking i1 (1 = booking rule), trip_shape i4 (-1 none).
    Stop→pattern index CSR: sp_start[n_stops+1], sp_pattern, sp_pos (a stop may occur twice in one pattern).
    Footpaths CSR (no self loops): fp_start[n_stops+1], fp_to i4, fp_dist f4 metres, fp_fixed_s i4
    (min_transfer_time from transfers.txt, -1 = distance / walking speed).
    Shapes CSR: shape_start[n+1], shape_lat/lon f8.
    In-seat links (transfers.txt transfer_type 4, trip to trip; both trips running on the same service day of
    this model) CSR by from-trip: inseat_start[n_trips+1], inseat_to_trip i4, inseat_from_pos / inseat_to_pos i4
    (positions in the two trips' patterns: the from-trip's last stop, as GTFS defines in-seat transfers; the
    to-stop, default the first), inseat_from_stop / inseat_to_stop i4. A type 5 row (in-seat not allowed) for
    the same pair removes the link. trip_inseat_class i4 (-1: no links): trips of one pattern share a class when
    their link chains go to the same patterns and positions, later trips to later trips, so the earlier one
    dominates; pattern_inseat_classes i4: how many classes its trips have (0: no links); trip_inseat_classes_after
    i4: how many classes the trips from this one to the pattern's last have (so a scan for them can stop early).
    A hop (pattern p, pos → pos+1) has flat index pattern_stops_start[p] + pos (n_hops = len(pattern_stops)).
    """

    date: str
    settings: dict
    feed_namespaces: list[str]
    stop_ids: list[str]
    stop_names: list[str]
    stop_names_en: list[str]
    station_ids: list[str]
    station_names: list[str]
    station_names_en: list[str]
    route_ids: list[str]
    route_short_names: list[str]
    route_long_names: list[str]
    route_colors: list[str]
    route_text_colors: list[str]
    route_modes: list[str]
    agency_ids: list[str]
    agency_names: list[str]
    trip_ids: TripIds  # (given as a list of strings, kept as TripIds: __post_init__)
    trip_headsigns: list[str]  # (kept as a StringColumn: __post_init__)
    shape_ids: list[str]
    booking_messages: list[str]  # (kept as a StringColumn)
    stop_lat: np.ndarray
    stop_lon: np.ndarray
    stop_station: np.ndarray
    stop_wheelchair: np.ndarray
    stop_min_transfer: np.ndarray
    station_lat: np.ndarray
    station_lon: np.ndarray
    station_stops_start: np.ndarray
    station_stops: np.ndarray
    route_type: np.ndarray
    route_mode: np.ndarray
    route_agency: np.ndarray
    route_feed: np.ndarray
    pattern_route: np.ndarray
    pattern_mode: np.ndarray
    pattern_stops_start: np.ndarray
    pattern_stops: np.ndarray
    pattern_trips_start: np.ndarray
    pattern_times_start: np.ndarray
    st_arr: np.ndarray
    dep_by_pos: np.ndarray
    st_pickup: np.ndarray
    st_dropoff: np.ndarray
    st_dist: PatternColumn  # (given as a flat array, kept as a PatternColumn: __post_init__)
    st_seq: PatternColumn
    trip_pattern: np.ndarray
    trip_day_offset: np.ndarray
    trip_wheelchair: np.ndarray
    trip_seat_capacity: np.ndarray
    trip_booking: np.ndarray
    trip_shape: np.ndarray
    sp_start: np.ndarray
    sp_pattern: np.ndarray
    sp_pos: np.ndarray
    fp_start: np.ndarray
    fp_to: np.ndarray
    fp_dist: np.ndarray
    fp_fixed_s: np.ndarray
    shape_start: np.ndarray
    shape_lat: np.ndarray
    shape_lon: np.ndarray
    inseat_start: np.ndarray = None
    inseat_to_trip: np.ndarray = None
    inseat_from_pos: np.ndarray = None
    inseat_to_pos: np.ndarray = None
    inseat_from_stop: np.ndarray = None
    inseat_to_stop: np.ndarray = None
    trip_inseat_class: np.ndarray = None
    pattern_inseat_classes: np.ndarray = None
    trip_inseat_classes_after: np.ndarray = None
    timezone: str = DEFAULT_TZ
    _stop_index: dict = field(default=None, repr=False, compare=False)
    _shape_cuts: dict = field(default_factory=dict, repr=False, compare=False)  # (shape, pattern) -> cut

    def __post_init__(self) -> None:
        for name in _PATTERN_COLUMNS:  # a flat column (a build, a load, a realtime overlay's) kept per pattern
            v = getattr(self, name)
            if not isinstance(v, PatternColumn):
                setattr(self, name, PatternColumn.of(v, self.pattern_stops_start, self.pattern_times_start))
        for name in _STRING_COLUMNS:  # a list (a build, a load, a realtime overlay's) kept as codes
            v = getattr(self, name)
            if not isinstance(v, StringColumn):
                setattr(self, name, StringColumn.of(v))
        if not isinstance(self.trip_ids, TripIds):  # a list (a load, a test's model)
            self.trip_ids = TripIds.of(self.trip_ids)
        if self.inseat_start is None:  # a model saved before in-seat links existed: none
            self.inseat_start = np.zeros(self.n_trips + 1, np.int32)
        for name in ("inseat_to_trip", "inseat_from_pos", "inseat_to_pos", "inseat_from_stop", "inseat_to_stop"):
            if getattr(self, name) is None:
                setattr(self, name, np.empty(0, np.int32))
        if self.trip_inseat_class is None or self.pattern_inseat_classes is None \
                or self.trip_inseat_classes_after is None:
            self.trip_inseat_class, self.pattern_inseat_classes, self.trip_inseat_classes_after = \
                _inseat_classes(self)

    # ---- sizes and lookups -------------------------------------------------------------------------------
    @property
    def n_stops(self) -> int:
        return len(self.stop_lat)

    @property
    def n_patterns(self) -> int:
        return len(self.pattern_route)

    @property
    def n_trips(self) -> int:
        return len(self.trip_pattern)

    @property
    def n_hops(self) -> int:
        return len(self.pattern_stops)

    @property
    def service_date(self) -> dt.date:
        return dt.date.fromisoformat(self.date)

    @property
    def midnight(self) -> dt.datetime:
        """Model second 0: the start of the service date in the model's time zone."""
        hit = self.__dict__.get("_midnight")
        if hit is None:
            hit = self.__dict__["_midnight"] = local_midnight(self.service_date, self.timezone)
        return hit

    def seconds_of(self, when: dt.datetime) -> int:
        """A moment → model seconds (a naive datetime is read in the model's time zone)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo(self.timezone))
        return int((when - self.midnight).total_seconds() // 1)

    def datetime_of(self, seconds: int) -> dt.datetime:
        """Model seconds → an aware datetime in the model's time zone."""
        return (self.midnight + dt.timedelta(seconds=int(seconds))).astimezone(self.midnight.tzinfo)

    def iso(self, seconds: int) -> str:
        """Model seconds → ISO-8601 with the offset then in force (cached: itineraries repeat times a lot)."""
        cache = self.__dict__.get("_iso")
        if cache is None:
            cache = self.__dict__["_iso"] = {}
        hit = cache.get(seconds)
        if hit is None:
            if len(cache) > 200_000:
                cache.clear()
            hit = cache[seconds] = self.datetime_of(seconds).isoformat()
        return hit

    def stop_index(self, stop_id: str) -> int:
        """Index of a namespaced stop id (KeyError when unknown)."""
        if self._stop_index is None:
            self._stop_index = {s: i for i, s in enumerate(self.stop_ids)}
        return self._stop_index[stop_id]

    def day_of(self, date: dt.date) -> int:
        """The service day ``date`` relative to the model's own (its trips' `trip_day_offset`)."""
        return (date - self.service_date).days

    def serves(self, date: dt.date) -> bool:
        """Whether the model answers the plans of service day ``date`` (`SERVED_DAYS`)."""
        return self.day_of(date) in SERVED_DAYS

    def joins(self, date: dt.date) -> bool:
        """Whether the model holds every trip of service day ``date`` (`WHOLE_DAYS`)."""
        return self.day_of(date) in WHOLE_DAYS

    def trip_on(self, trip_id: str, date: dt.date) -> int | None:
        """Index of the run of ``trip_id`` on service day ``date`` (any day the model `joins`), None if it does not
        run then."""
        return self.trip_index(trip_id, self.day_of(date)) if self.joins(date) else None

    def trip_index(self, trip_id: str, day: int = 0) -> int | None:
        """Index of the run of ``trip_id`` on service day ``date + day`` (default: this date, not the day before's
        runs past midnight), None if it does not run that day. Frequency-based trips are named
        ``trip@HH:MM:SS`` by their start."""
        days, hit = self.trip_day_offset, None
        for t in self.trip_ids.positions(trip_id):  # its runs (at most one a service day), ascending
            if days[t] == day:
                hit = t  # the last run of (trip, day), as before; runs are unique anyway
        return hit

    def pattern_len(self, p: int) -> int:
        return int(self.pattern_stops_start[p + 1] - self.pattern_stops_start[p])

    def trip_times_offset(self, trip: int) -> tuple[int, int]:
        """(flat offset of the trip's first stop time, pattern length)."""
        p = int(self.trip_pattern[trip])
        n = self.pattern_len(p)
        return int(self.pattern_times_start[p] + (trip - self.pattern_trips_start[p]) * n), n

    def departure_index(self, p: int, j, i):
        """Where trip ``j`` (0: the pattern's first) of pattern ``p`` departs from position ``i`` in `dep_by_pos`
        (``j`` and ``i`` ints, or int64 arrays that broadcast: a stop's column of a pattern is contiguous)."""
        pts = self.pattern_trips_start
        return int(self.pattern_times_start[p]) + i * int(pts[p + 1] - pts[p]) + j

    def departures_of_trip(self, trip: int) -> np.ndarray:
        """Trip ``trip``'s departures along its pattern: a strided view of `dep_by_pos` (read-only by convention;
        a realtime overlay's model has its own)."""
        p = int(self.trip_pattern[trip])
        pts = self.pattern_trips_start
        n = int(pts[p + 1] - pts[p])
        first = int(self.pattern_times_start[p]) + trip - int(pts[p])
        return self.dep_by_pos[first:first + (self.pattern_len(p) - 1) * n + 1:n]

    def describe(self) -> str:
        return (f"transit model {self.date}: {self.n_stops} stops, {len(self.station_ids)} stations, "
                f"{len(self.route_ids)} routes, {self.n_patterns} patterns, {self.n_trips} trips, "
                f"{len(self.st_arr)} stop times, {len(self.fp_to)} footpaths")

    # ---- persistence -------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Arrays as .npy (memory-mappable, fast start), strings as one JSON file."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        strings = {}
        for f in fields(self):
            if f.name.startswith("_"):
                continue
            v = getattr(self, f.name)
            name = f.name
            if isinstance(v, PatternColumn):
                v = np.asarray(v)  # saved flat, as before: load compacts it again
            elif name == "dep_by_pos":  # saved by trip, as before (a model directory reads the same either side)
                name, v = "st_dep", reorder_times(v, self.pattern_stops_start, self.pattern_trips_start,
                                                  self.pattern_times_start, to_position=False)
            if isinstance(v, np.ndarray):
                np.save(directory / f"{name}.npy", v, allow_pickle=False)
            else:
                strings[f.name] = list(v) if isinstance(v, (StringColumn, TripIds)) else v
        (directory / "model.json").write_text(json.dumps(strings, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> "TransitModel":
        directory = Path(directory)
        strings = json.loads((directory / "model.json").read_text(encoding="utf-8"))
        kw = dict(strings)
        for f in fields(cls):
            if f.name.startswith("_") or f.name in kw:
                continue
            if "inseat" in f.name and not (directory / f"{f.name}.npy").exists():
                continue
            if f.name == "dep_by_pos":
                continue
            kw[f.name] = np.load(directory / f"{f.name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        kw["dep_by_pos"] = reorder_times(np.load(directory / "st_dep.npy", allow_pickle=False),
                                         kw["pattern_stops_start"], kw["pattern_trips_start"],
                                         kw["pattern_times_start"], to_position=True)  # (in memory even with mmap)
        return cls(**kw)


# ---- build ---------------------------------------------------------------------------------------------
def _csr(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(start[n+1], order) so that order[start[k]:start[k+1]] are the positions with key k, stable."""
    order = np.argsort(keys, kind="stable")
    start = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=start[1:])
    return start.astype(np.int32), order.astype(np.int32)


def _col(df: pd.DataFrame, name: str, default) -> pd.Series:
    import pandas as pd

    if name in df.columns:
        return df[name]
    return pd.Series([default] * len(df), index=df.index)


def _str_list(s: pd.Series) -> list[str]:
    return ["" if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v) for v in s.tolist()]


def _ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Concatenated aranges start[i] .. start[i]+len[i] (vectorised)."""
    starts = np.asarray(starts, np.int64)
    lens = np.asarray(lens, np.int64)
    ends = np.cumsum(lens)
    return np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) - np.repeat(ends - lens - starts, lens)


def reorder_times(times: np.ndarray, pattern_stops_start, pattern_trips_start, pattern_times_start,
                  to_position: bool) -> np.ndarray:
    """Stop times laid out by trip (trip j of pattern p at position i at pattern_times_start[p] + j*L + i, as a
    build makes them and a model directory holds them) as `TransitModel.dep_by_pos` lays them out (by position:
    ... + i*n + j), or with ``to_position`` False back. A new array; each pattern's block transposed."""
    times = np.asarray(times)
    out = np.empty_like(times)
    pss, pts, ptimes = (np.asarray(a, np.int64).tolist() for a in (pattern_stops_start, pattern_trips_start,
                                                                   pattern_times_start))
    for p, t0 in enumerate(ptimes):
        L, n = pss[p + 1] - pss[p], pts[p + 1] - pts[p]
        block = times[t0:t0 + n * L].reshape((n, L) if to_position else (L, n))
        out[t0:t0 + n * L] = block.T.ravel()
    return out


def _shared_if_equal(new: np.ndarray, *olds: np.ndarray) -> np.ndarray:
    """The first of ``olds`` that holds the same values as ``new`` in the same type and shape, else ``new``: one
    array where two would be equal (pickup and drop-off flags where every stop time allows both, as on all Tokyo
    rail, 1.8 MiB a day each; the reversed timetable's flags, footpaths and wheelchair flags). Only for arrays
    nobody writes in place."""
    for old in olds:
        old = np.asarray(old)
        if new.dtype == old.dtype and new.shape == old.shape and np.array_equal(new, old):
            return old
    return new


def _fifo_groups(dep: np.ndarray, arr: np.ndarray, offs: np.ndarray, n: int) -> np.ndarray:
    """Split one stop-sequence group into FIFO sub-groups; trips are given sorted by departure.

    Returns the sub-group number per trip. A trip joins the first sub-group whose last trip it never precedes.
    """
    m = len(offs)
    rows_d = dep[offs[:, None] + np.arange(n)]
    rows_a = arr[offs[:, None] + np.arange(n)]
    if m < 2 or (np.all(np.diff(rows_d, axis=0) >= 0) and np.all(np.diff(rows_a, axis=0) >= 0)):
        return np.zeros(m, np.int32)
    sub = np.zeros(m, np.int32)
    last: list[int] = []
    for j in range(m):  # per trip, not per stop time; only for the rare groups with overtaking
        for g, i in enumerate(last):
            if np.all(rows_d[j] >= rows_d[i]) and np.all(rows_a[j] >= rows_a[i]):
                sub[j] = g
                last[g] = j
                break
        else:
            sub[j] = len(last)
            last.append(j)
    return sub


def local_midnight(date: dt.date, tz: str) -> dt.datetime:
    """The start of a GTFS service day in ``tz``: noon minus 12 h (the spec's rule, right on DST days too)."""
    zone = ZoneInfo(tz)
    return dt.datetime.combine(date, dt.time(12), zone) - dt.timedelta(hours=12)


def _feed_shifts(network: Network, trips: pd.DataFrame, date: dt.date, model_tz: str) -> dict[int, np.ndarray]:
    """Per day offset d and source trip: seconds from the model's midnight to the start of the trip's feed's
    service day date + d (d * 86400 for a feed in the model's own zone without a DST change)."""
    base = local_midnight(date, model_tz)
    ns = trips["trip_id"].astype(str).str.split(":", n=1).str[0].to_numpy()
    out: dict[int, np.ndarray] = {}
    for day in DAYS:
        shift = np.full(len(trips), 0, np.int64)
        for f in network.feeds:
            start = local_midnight(date + dt.timedelta(days=day), f.timezone or model_tz)
            shift[ns == f.namespace] = int((start - base).total_seconds())
        fallback = int((local_midnight(date + dt.timedelta(days=day), model_tz) - base).total_seconds())
        known = np.isin(ns, [f.namespace for f in network.feeds])
        shift[~known] = fallback
        out[day] = shift
    return out


def model_timezone(network: Network) -> str:
    """The zone of the model's clock: the first feed's agency zone (Tokyo when it names none)."""
    for f in network.feeds:
        if f.timezone:
            return f.timezone
    return DEFAULT_TZ


def build_model(network: Network, date: dt.date, settings: BuildSettings | None = None,
                walker=None) -> TransitModel:
    """Build the model for ``date``: see TransitModel for the arrays. ``walker`` gives footpaths (straight line
    × detour when None); its stop indexes must be this model's (they are: stops do not depend on the date)."""
    import pandas as pd

    settings = settings or BuildSettings()
    feeds = network.feeds
    model_tz = model_timezone(network)

    # ---- stops and stations (independent of the date, so a walker can be shared across days) ----
    stops_all = network.table("stops").reset_index(drop=True)
    lt = pd.to_numeric(_col(stops_all, "location_type", 0), errors="coerce").fillna(0).astype(int)
    plat = stops_all[lt.isin([0]).to_numpy()].reset_index(drop=True)
    # numbered along a Hilbert curve: a search's stops, and the labels and footpaths indexed by them, are near
    # in memory when near on the map (tokyo4 plans ~10 % faster than in feed order)
    plat = plat.iloc[hilbert_order(pd.to_numeric(plat["stop_lat"], errors="coerce"),
                                   pd.to_numeric(plat["stop_lon"], errors="coerce"))].reset_index(drop=True)
    stop_ids = plat["stop_id"].astype(str).tolist()
    stop_pos = pd.Series(np.arange(len(plat), dtype=np.int32), index=plat["stop_id"].astype(str))
    all_by_id = stops_all.set_index(stops_all["stop_id"].astype(str))
    parent = _col(plat, "parent_station", "").fillna("").astype(str)
    has_parent = parent.ne("") & parent.isin(all_by_id.index)
    station_key = np.where(has_parent, parent, plat["stop_id"].astype(str))
    station_ids, stop_station = np.unique(station_key, return_inverse=True)
    stop_station = stop_station.astype(np.int32)
    st_rows = all_by_id.loc[station_ids]
    n_stops, n_stations = len(plat), len(station_ids)
    wc = pd.to_numeric(_col(plat, "wheelchair_boarding", 0), errors="coerce").fillna(0).astype(np.int8).to_numpy()
    pwc = pd.to_numeric(_col(st_rows, "wheelchair_boarding", 0), errors="coerce").fillna(0).astype(np.int8).to_numpy()
    wc = np.where(wc == 0, pwc[stop_station], wc).astype(np.int8)  # GTFS: 0 inherits the parent's value
    station_stops_start, station_stops = _csr(stop_station, n_stations)

    # ---- routes and agencies ----
    agencies = network.table("agencies").reset_index(drop=True)
    routes = network.table("routes").reset_index(drop=True)
    route_pos = pd.Series(np.arange(len(routes), dtype=np.int32), index=routes["route_id"].astype(str))
    ag_ids = agencies["agency_id"].astype(str).tolist() if len(agencies) else []
    ag_pos = {a: i for i, a in enumerate(ag_ids)}
    namespaces = [f.namespace for f in feeds]
    route_feed = np.array([namespaces.index(r.split(":", 1)[0]) if r.split(":", 1)[0] in namespaces else 0
                           for r in routes["route_id"].astype(str)], np.int32)
    # an agency id missing from routes.txt means the feed's only agency
    feed_first_agency = {}
    for i, a in enumerate(ag_ids):
        feed_first_agency.setdefault(a.split(":", 1)[0], i)
    r_ag = _col(routes, "agency_id", "").fillna("").astype(str).tolist()
    route_agency = np.array([ag_pos.get(a, feed_first_agency.get(namespaces[route_feed[i]], -1)) if a else
                             feed_first_agency.get(namespaces[route_feed[i]], -1) for i, a in enumerate(r_ag)],
                            np.int32)
    route_type = pd.to_numeric(routes["route_type"], errors="coerce").fillna(3).astype(np.int16).to_numpy()

    # ---- active trips: today + yesterday's past-midnight runs, frequencies expanded ----
    trips = network.table("trips").reset_index(drop=True)
    stop_times = network.table("stop_times")
    trip_codes = pd.Series(np.arange(len(trips), dtype=np.int64), index=trips["trip_id"].astype(str))
    st_trip = trip_codes.reindex(stop_times["trip_id"].astype(str).to_numpy()).to_numpy()
    st_stop = stop_pos.reindex(stop_times["stop_id"].astype(str).to_numpy()).to_numpy()
    ok = ~(np.isnan(st_trip) | np.isnan(st_stop))
    st = pd.DataFrame({
        "trip": st_trip[ok].astype(np.int64), "seq": stop_times["stop_sequence"].to_numpy()[ok],
        "stop": st_stop[ok].astype(np.int32),
        "arr": stop_times["arrival"].to_numpy()[ok].astype(np.int64),
        "dep": stop_times["departure"].to_numpy()[ok].astype(np.int64),
        "pickup": (pd.to_numeric(_col(stop_times, "pickup_type", 0), errors="coerce").fillna(0).to_numpy()[ok] != 1),
        "dropoff": (pd.to_numeric(_col(stop_times, "drop_off_type", 0), errors="coerce").fillna(0).to_numpy()[ok] != 1),
        "dist": pd.to_numeric(_col(stop_times, "shape_dist_traveled", np.nan), errors="coerce").to_numpy()[ok],
    })
    st = st.sort_values(["trip", "seq"], kind="stable")
    st_trip_sorted = st["trip"].to_numpy()
    t_first = np.searchsorted(st_trip_sorted, np.arange(len(trips)), side="left")
    t_len = np.searchsorted(st_trip_sorted, np.arange(len(trips)), side="right") - t_first
    t_first_dep = np.where(t_len > 0, st["dep"].to_numpy()[np.minimum(t_first, max(len(st) - 1, 0))], 0)
    t_last_arr = np.where(t_len > 0, st["arr"].to_numpy()[np.maximum(t_first + t_len - 1, 0)], 0)

    svc = trips["service_id"].astype(str)
    active_on = {day: svc.isin(network.service_ids_on(date + dt.timedelta(days=day))).to_numpy() for day in DAYS}
    # each feed's service day starts at its own local midnight (noon - 12 h, so DST days are right): its trips
    # are shifted onto the model's clock, seconds since the model's midnight in the model's time zone
    tz_shift = _feed_shifts(network, trips, date, model_tz)
    freq = network.table("frequencies")
    freq_trip = np.zeros(len(trips), bool)
    inst_src, inst_shift, inst_day, inst_suffix = [], [], [], []
    if len(freq):
        fcode = trip_codes.reindex(freq["trip_id"].astype(str).to_numpy()).to_numpy()
        fok = ~np.isnan(fcode)
        fcode = fcode[fok].astype(np.int64)
        freq_trip[fcode] = True
        f_start = freq["start_time"].to_numpy()[fok].astype(np.int64)
        f_end = freq["end_time"].to_numpy()[fok].astype(np.int64)
        f_head = np.maximum(freq["headway_secs"].to_numpy()[fok].astype(np.int64), 1)
        counts = np.maximum((f_end - f_start + f_head - 1) // f_head, 0)
        row = np.repeat(np.arange(len(fcode)), counts)
        k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        starts = f_start[row] + k * f_head[row]
        src = fcode[row]
        for day in DAYS:
            shift = starts - t_first_dep[src] + tz_shift[day][src]
            sel = active_on[day][src] & (t_last_arr[src] + shift >= WINDOW_START)
            inst_src.append(src[sel])
            inst_shift.append(shift[sel])
            inst_day.append(np.full(int(sel.sum()), day, np.int8))
            inst_suffix.append(starts[sel])
    plain = ~freq_trip & (t_len >= 2)
    for day in DAYS:
        sel = plain & active_on[day] & (t_last_arr + tz_shift[day] >= WINDOW_START)
        idx = np.nonzero(sel)[0]
        inst_src.append(idx)
        inst_shift.append(tz_shift[day][idx])
        inst_day.append(np.full(len(idx), day, np.int8))
        inst_suffix.append(np.full(len(idx), -1, np.int64))
    src = np.concatenate(inst_src).astype(np.int64)
    shift = np.concatenate(inst_shift).astype(np.int64)
    day_off = np.concatenate(inst_day).astype(np.int8)
    suffix = np.concatenate(inst_suffix).astype(np.int64)

    # pattern key of each source trip: route, stop sequence and pickup/drop-off flags (per trip, as bytes), so
    # that within a pattern an earlier trip always dominates a later one (RAPTOR's earliest-trip rule)
    stops_arr = st["stop"].to_numpy()
    pick_arr = st["pickup"].to_numpy()
    drop_arr = st["dropoff"].to_numpy()
    route_of_trip = route_pos.reindex(trips["route_id"].astype(str).to_numpy()).fillna(-1).astype(np.int64).to_numpy()
    uniq_src = np.unique(src)
    seq_key: dict[bytes, int] = {}
    key_of_src = np.empty(len(uniq_src), np.int64)
    for i, t in enumerate(uniq_src.tolist()):
        sl = slice(t_first[t], t_first[t] + t_len[t])
        b = (route_of_trip[t].tobytes() + stops_arr[sl].tobytes() + pick_arr[sl].tobytes()
             + drop_arr[sl].tobytes())
        key_of_src[i] = seq_key.setdefault(b, len(seq_key))
    inst_key = key_of_src[np.searchsorted(uniq_src, src)]
    inst_first_dep = t_first_dep[src] + shift
    order = np.lexsort((inst_first_dep, inst_key))
    src, shift, day_off, suffix, inst_key = src[order], shift[order], day_off[order], suffix[order], inst_key[order]
    inst_len = t_len[src]
    flat = _ranges(t_first[src], inst_len)
    rep_shift = np.repeat(shift, inst_len)
    arr_all = (st["arr"].to_numpy()[flat] + rep_shift).astype(np.int32)
    dep_all = (st["dep"].to_numpy()[flat] + rep_shift).astype(np.int32)
    offs_all = np.concatenate([[0], np.cumsum(inst_len)[:-1]]).astype(np.int64)

    # FIFO split inside each stop-sequence group; sort again by (group, sub, first dep, full times)
    sub = np.zeros(len(src), np.int64)
    grp_start = np.searchsorted(inst_key, np.arange(len(seq_key) + 1))
    for g in range(len(seq_key)):
        a, b = grp_start[g], grp_start[g + 1]
        if b - a > 1:
            sub[a:b] = _fifo_groups(dep_all, arr_all, offs_all[a:b], int(inst_len[a]))
    pat_key = inst_key * (sub.max() + 1 if len(sub) else 1) + sub
    order2 = np.lexsort((dep_all[offs_all + np.maximum(inst_len - 1, 0)], inst_first_dep[order], pat_key))
    src, shift, day_off, suffix, pat_key = src[order2], shift[order2], day_off[order2], suffix[order2], pat_key[order2]
    inst_len = t_len[src]
    flat = _ranges(t_first[src], inst_len)
    rep_shift = np.repeat(shift, inst_len)
    st_arr = (st["arr"].to_numpy()[flat] + rep_shift).astype(np.int32)
    st_dep = (st["dep"].to_numpy()[flat] + rep_shift).astype(np.int32)
    st_pickup = st["pickup"].to_numpy()[flat].astype(np.int8)
    st_dropoff = _shared_if_equal(st["dropoff"].to_numpy()[flat].astype(np.int8), st_pickup)
    st_dist = st["dist"].to_numpy()[flat].astype(np.float32)
    st_seq = st["seq"].to_numpy()[flat].astype(np.int32)

    _, pat_first, trip_pattern = np.unique(pat_key, return_index=True, return_inverse=True)
    trip_pattern = trip_pattern.astype(np.int32)
    n_pat = len(pat_first)
    pat_len = inst_len[pat_first]
    pattern_stops_start = np.zeros(n_pat + 1, np.int32)
    np.cumsum(pat_len, out=pattern_stops_start[1:])
    pattern_stops = stops_arr[_ranges(t_first[src[pat_first]], pat_len)].astype(np.int32)
    pattern_trips_start = np.zeros(n_pat + 1, np.int32)
    np.cumsum(np.bincount(trip_pattern, minlength=n_pat), out=pattern_trips_start[1:])
    trip_offs = np.concatenate([[0], np.cumsum(inst_len)[:-1]]).astype(np.int64)
    pattern_times_start = trip_offs[pat_first].astype(np.int64)
    pattern_route = route_of_trip[src[pat_first]].astype(np.int32)

    # trip attributes
    trip_wc = pd.to_numeric(_col(trips, "wheelchair_accessible", 0), errors="coerce").fillna(0).astype(np.int8).to_numpy()
    seat = pd.to_numeric(_col(trips, "seat_capacity", -1), errors="coerce").fillna(-1).astype(np.int32).to_numpy()
    has_rule = (_col(stop_times, "pickup_booking_rule_id", "").fillna("").astype(str).ne("")
                | _col(stop_times, "drop_off_booking_rule_id", "").fillna("").astype(str).ne("")).to_numpy()
    trip_has_rule = np.zeros(len(trips), bool)
    rule_trips = st_trip[has_rule & ok] if has_rule.any() else np.empty(0)
    trip_has_rule[rule_trips.astype(np.int64)] = True
    booking = (seat >= 0) | trip_has_rule
    # the network's trip ids, one table for every day's model (`IdTable.canonical`), and per trip its position
    # there and its run start (a frequency run: named raw@HH:MM:SS)
    trip_ids = TripIds(IdTable.of(trips["trip_id"].astype(str).tolist()).canonical(),
                       array("i", src.astype(np.int32).tobytes()),
                       array("i", suffix.astype(np.int32).tobytes()) if (suffix >= 0).any() else None)
    shapes = network.table("shapes")
    shape_ids: list[str] = []
    shape_start = np.zeros(1, np.int32)
    shape_lat = shape_lon = np.empty(0, np.float64)
    trip_shape = np.full(len(src), -1, np.int32)
    if len(shapes):
        sh = shapes.sort_values(["shape_id", "shape_pt_sequence"], kind="stable")
        sid, sh_code = np.unique(sh["shape_id"].astype(str).to_numpy(), return_inverse=True)
        shape_ids = sid.tolist()
        shape_start, _ = _csr(sh_code.astype(np.int64), len(sid))
        shape_lat = sh["shape_pt_lat"].to_numpy(np.float64)
        shape_lon = sh["shape_pt_lon"].to_numpy(np.float64)
        spos = pd.Series(np.arange(len(sid), dtype=np.int32), index=sid)
        tsh = _col(trips, "shape_id", "").fillna("").astype(str).to_numpy()[src]
        trip_shape = spos.reindex(tsh).fillna(-1).astype(np.int32).to_numpy()
    # a route is SHUTTLE when its trips are seated/bookable
    route_booking = np.zeros(len(routes), bool)
    rt_of_trip = route_of_trip[np.arange(len(trips))]
    route_booking[rt_of_trip[booking & (rt_of_trip >= 0)]] = True
    route_mode_names = [("SHUTTLE" if route_booking[i] else mode_of_route_type(t)) for i, t in enumerate(route_type)]
    route_mode = np.array([MODE_INDEX[m] for m in route_mode_names], np.int8)

    # ---- stop → (pattern, pos) ----
    hop_pattern = np.repeat(np.arange(n_pat, dtype=np.int32), pat_len)
    hop_pos = (np.arange(len(pattern_stops)) - np.repeat(pattern_stops_start[:-1], pat_len)).astype(np.int32)
    sp_start, sp_order = _csr(pattern_stops.astype(np.int64), n_stops)

    # ---- footpaths: transfers.txt first, then walking ----
    fp_start, fp_to, fp_dist, fp_fixed, stop_min_transfer = _footpaths(
        network, stop_pos, station_ids, stop_station, station_stops_start, station_stops,
        plat, settings, walker)

    booking_messages = [""] * len(src)
    rules = network.table("booking_rules")
    if has_rule.any() and len(rules) and "message" in rules.columns:
        msg = dict(zip(rules["booking_rule_id"].astype(str), rules["message"].fillna("").astype(str)))
        rid = _col(stop_times, "pickup_booking_rule_id", "").fillna("").astype(str).to_numpy()
        first_rule = pd.Series(rid[has_rule & ok], index=st_trip[has_rule & ok].astype(np.int64))
        first_rule = first_rule[~first_rule.index.duplicated()]
        booking_messages = [msg.get(first_rule.get(s, ""), "") for s in src.tolist()]

    inseat = _inseat_links(network, trips, src, day_off, suffix, trip_pattern, pattern_stops_start, pattern_stops,
                           stop_pos, pattern_trips_start, pattern_times_start, st_arr, st_dep)
    names_en = _col(plat, "stop_name_en", "").fillna("")
    dep_by_pos = reorder_times(st_dep, pattern_stops_start, pattern_trips_start, pattern_times_start, True)
    del st_dep
    return TransitModel(
        date=date.isoformat(), settings={f.name: getattr(settings, f.name) for f in fields(settings)},
        timezone=model_tz,
        feed_namespaces=namespaces, stop_ids=stop_ids,
        stop_names=_str_list(plat["stop_name"]), stop_names_en=_str_list(names_en),
        station_ids=station_ids.tolist(), station_names=_str_list(_col(st_rows, "stop_name", "")),
        station_names_en=_str_list(_col(st_rows, "stop_name_en", "")),
        route_ids=routes["route_id"].astype(str).tolist(),
        route_short_names=_str_list(_col(routes, "route_short_name", "")),
        route_long_names=_str_list(_col(routes, "route_long_name", "")),
        route_colors=_str_list(_col(routes, "route_color", "")),
        route_text_colors=_str_list(_col(routes, "route_text_color", "")),
        route_modes=route_mode_names, agency_ids=ag_ids,
        agency_names=_str_list(_col(agencies, "agency_name", "")),
        trip_ids=trip_ids, trip_headsigns=_str_list(_col(trips, "trip_headsign", "").iloc[src]),
        shape_ids=shape_ids, booking_messages=booking_messages,
        stop_lat=plat["stop_lat"].to_numpy(np.float64), stop_lon=plat["stop_lon"].to_numpy(np.float64),
        stop_station=stop_station, stop_wheelchair=wc, stop_min_transfer=stop_min_transfer,
        station_lat=st_rows["stop_lat"].to_numpy(np.float64), station_lon=st_rows["stop_lon"].to_numpy(np.float64),
        station_stops_start=station_stops_start, station_stops=station_stops,
        route_type=route_type, route_mode=route_mode, route_agency=route_agency, route_feed=route_feed,
        pattern_route=pattern_route, pattern_mode=route_mode[np.maximum(pattern_route, 0)],
        pattern_stops_start=pattern_stops_start, pattern_stops=pattern_stops,
        pattern_trips_start=pattern_trips_start, pattern_times_start=pattern_times_start,
        st_arr=st_arr, dep_by_pos=dep_by_pos, st_pickup=st_pickup, st_dropoff=st_dropoff, st_dist=st_dist,
        st_seq=st_seq,
        trip_pattern=trip_pattern, trip_day_offset=day_off, trip_wheelchair=trip_wc[src],
        trip_seat_capacity=seat[src], trip_booking=booking[src].astype(np.int8), trip_shape=trip_shape,
        sp_start=sp_start, sp_pattern=hop_pattern[sp_order], sp_pos=hop_pos[sp_order],
        fp_start=fp_start, fp_to=fp_to, fp_dist=fp_dist, fp_fixed_s=fp_fixed,
        shape_start=shape_start, shape_lat=shape_lat, shape_lon=shape_lon,
        inseat_start=inseat[0], inseat_to_trip=inseat[1], inseat_from_pos=inseat[2], inseat_to_pos=inseat[3],
        inseat_from_stop=inseat[4], inseat_to_stop=inseat[5],
    )


def _inseat_links(network, trips, src, day_off, suffix, trip_pattern, pattern_stops_start, pattern_stops,
                  stop_pos, pattern_trips_start, pattern_times_start, st_arr, st_dep) -> tuple[np.ndarray, ...]:
    """In-seat (transfer_type 4) trip→trip links between model trips of the same service day, CSR by from-trip.

    Frequency-expanded trips are left out (a trip id names many runs, so the pair is ambiguous). The link is at
    the from-trip's last stop (a from_stop_id naming another stop drops it) and at the first occurrence of
    to_stop_id in the to-trip (its first stop when absent). Links that leave before they arrive, or whose
    to-stop is the to-trip's last stop, are dropped.
    """
    import pandas as pd

    n_trips = len(src)
    empty = np.empty(0, np.int32)
    tr = network.table("transfers")
    if not len(tr) or "from_trip_id" not in tr.columns or "to_trip_id" not in tr.columns:
        return (np.zeros(n_trips + 1, np.int32), empty, empty, empty, empty, empty)
    ftrip = _col(tr, "from_trip_id", "").fillna("").astype(str)
    ttrip = _col(tr, "to_trip_id", "").fillna("").astype(str)
    ttype = pd.to_numeric(tr["transfer_type"], errors="coerce").fillna(0).to_numpy()
    pair = ftrip.ne("").to_numpy() & ttrip.ne("").to_numpy()
    four = pair & (ttype == 4)
    if not four.any():
        return (np.zeros(n_trips + 1, np.int32), empty, empty, empty, empty, empty)
    five = set(zip(ftrip[pair & (ttype == 5)].tolist(), ttrip[pair & (ttype == 5)].tolist()))
    rows = pd.DataFrame({"f": ftrip[four].to_numpy(), "t": ttrip[four].to_numpy(),
                         "fs": _col(tr, "from_stop_id", "").fillna("").astype(str)[four].to_numpy(),
                         "ts": _col(tr, "to_stop_id", "").fillna("").astype(str)[four].to_numpy()})
    if five:
        rows = rows[[(a, b) not in five for a, b in zip(rows["f"].tolist(), rows["t"].tolist())]]
    rows = rows.drop_duplicates(["f", "t"])
    # model trip of (source trip id, day offset); plain trips only
    raw = trips["trip_id"].astype(str).to_numpy()
    plain = np.nonzero(suffix < 0)[0]
    key = pd.Series(plain.astype(np.int64), index=pd.MultiIndex.from_arrays([raw[src[plain]], day_off[plain]]))
    key = key[~key.index.duplicated()]
    out = []
    for day in DAYS:
        fi = key.reindex(pd.MultiIndex.from_arrays([rows["f"].to_numpy(), np.full(len(rows), day, np.int8)]))
        ti = key.reindex(pd.MultiIndex.from_arrays([rows["t"].to_numpy(), np.full(len(rows), day, np.int8)]))
        ok = ~(np.isnan(fi.to_numpy(np.float64)) | np.isnan(ti.to_numpy(np.float64)))
        out.append(pd.DataFrame({"a": fi.to_numpy(np.float64)[ok].astype(np.int64),
                                 "b": ti.to_numpy(np.float64)[ok].astype(np.int64),
                                 "fs": rows["fs"].to_numpy()[ok], "ts": rows["ts"].to_numpy()[ok]}))
    links = pd.concat(out, ignore_index=True)
    a, b = links["a"].to_numpy(), links["b"].to_numpy()
    fs = stop_pos.reindex(links["fs"].to_numpy()).fillna(-1).astype(np.int64).to_numpy()
    ts = stop_pos.reindex(links["ts"].to_numpy()).fillna(-1).astype(np.int64).to_numpy()
    fpos = np.empty(len(a), np.int64)
    tpos = np.empty(len(a), np.int64)
    for i in range(len(a)):  # per link (tens of thousands at most), a short scan of one pattern's stops
        pa, pb = int(trip_pattern[a[i]]), int(trip_pattern[b[i]])
        sa = pattern_stops[pattern_stops_start[pa]:pattern_stops_start[pa + 1]]
        sb = pattern_stops[pattern_stops_start[pb]:pattern_stops_start[pb + 1]]
        fpos[i] = len(sa) - 1 if fs[i] < 0 or sa[-1] == fs[i] else -1
        hit = np.nonzero(sb == ts[i])[0]
        tpos[i] = hit[0] if len(hit) else 0
    lb = pattern_stops_start[trip_pattern[b] + 1] - pattern_stops_start[trip_pattern[b]]
    keep = (fpos > 0) & (tpos < lb - 1) & (a != b)
    a, b, fpos, tpos = a[keep], b[keep], fpos[keep], tpos[keep]
    arr = st_arr[pattern_times_start[trip_pattern[a]] + (a - pattern_trips_start[trip_pattern[a]])
                 * (fpos + 1) + fpos]
    dep = st_dep[pattern_times_start[trip_pattern[b]] + (b - pattern_trips_start[trip_pattern[b]]) * lb[keep]
                 + tpos]
    a, b, fpos, tpos = a[dep >= arr], b[dep >= arr], fpos[dep >= arr], tpos[dep >= arr]
    order = np.lexsort((fpos, a))
    a, b, fpos, tpos = a[order], b[order], fpos[order], tpos[order]
    start, _ = _csr(a, n_trips)
    fstop = pattern_stops[pattern_stops_start[trip_pattern[a]] + fpos]
    tstop = pattern_stops[pattern_stops_start[trip_pattern[b]] + tpos]
    return (start, b.astype(np.int32), fpos.astype(np.int32), tpos.astype(np.int32), fstop.astype(np.int32),
            tstop.astype(np.int32))


def _footpaths(network, stop_pos, station_ids, stop_station, station_stops_start, station_stops, plat,
               settings: BuildSettings, walker):
    """Footpath CSR: transfers.txt pairs (station ids expanded to their platforms) override walked pairs."""
    import pandas as pd

    n = len(plat)
    tr = network.table("transfers")
    a_list, b_list, fixed_list = [], [], []
    blocked = set()
    stop_min_transfer = np.full(n, -1, np.int32)
    if len(tr):
        if "from_trip_id" in tr.columns:
            tr = tr[_col(tr, "from_trip_id", "").fillna("").astype(str).eq("")
                    & _col(tr, "to_trip_id", "").fillna("").astype(str).eq("")]
        st_pos = pd.Series(np.arange(len(station_ids)), index=station_ids)

        def expand(ids: pd.Series):
            """Each transfer row → list of platform indexes (a stop itself, or a station's platforms)."""
            out_row, out_stop = [], []
            ids = ids.astype(str).to_numpy()
            sp = stop_pos.reindex(ids).to_numpy()
            direct = ~np.isnan(sp)
            out_row.append(np.nonzero(direct)[0])
            out_stop.append(sp[direct].astype(np.int64))
            stp = st_pos.reindex(ids).to_numpy()
            stn = np.isnan(sp) & ~np.isnan(stp)
            rows = np.nonzero(stn)[0]
            stp = stp[stn].astype(np.int64)
            cnt = station_stops_start[stp + 1] - station_stops_start[stp]
            out_row.append(np.repeat(rows, cnt))
            out_stop.append(station_stops[_ranges(station_stops_start[stp].astype(np.int64), cnt)].astype(np.int64))
            return np.concatenate(out_row), np.concatenate(out_stop)

        tr = tr.reset_index(drop=True)
        fr, fs = expand(tr["from_stop_id"])
        trr, ts = expand(tr["to_stop_id"])
        left = pd.DataFrame({"row": fr, "a": fs})
        right = pd.DataFrame({"row": trr, "b": ts})
        pairs = left.merge(right, on="row")
        ttype = pd.to_numeric(tr["transfer_type"], errors="coerce").fillna(0).to_numpy()[pairs["row"].to_numpy()]
        mtt = pd.to_numeric(_col(tr, "min_transfer_time", np.nan), errors="coerce").to_numpy()[pairs["row"].to_numpy()]
        a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
        no = ttype == 3
        blocked = set(zip(a[no].tolist(), b[no].tolist()))
        same = (a == b) & ~no & ~np.isnan(mtt)
        stop_min_transfer[a[same]] = mtt[same].astype(np.int32)
        use = (a != b) & ~no
        a_list.append(a[use])
        b_list.append(b[use])
        fixed_list.append(np.where(np.isnan(mtt[use]), -1, mtt[use]).astype(np.int32))
    if walker is None:
        from routing.walking import StraightLineWalker

        walker = StraightLineWalker(plat["stop_lat"].to_numpy(np.float64), plat["stop_lon"].to_numpy(np.float64),
                                    settings.detour_factor)
    wa, wb, wd = walker.stop_footpaths(settings.footpath_radius_m)
    wa, wb = np.asarray(wa, np.int64), np.asarray(wb, np.int64)
    a_list.append(wa)
    b_list.append(wb)
    fixed_list.append(np.full(len(wa), -1, np.int32))
    a = np.concatenate(a_list)
    b = np.concatenate(b_list)
    fixed = np.concatenate(fixed_list)
    df = pd.DataFrame({"a": a, "b": b, "fixed": fixed, "first": np.arange(len(a))})
    df = df.drop_duplicates(["a", "b"], keep="first")  # transfers.txt rows come first
    if blocked:
        keep = np.array([(x, y) not in blocked for x, y in zip(df["a"].tolist(), df["b"].tolist())], bool)
        df = df[keep] if len(df) else df
    from routing.geo import haversine_m

    lat, lon = plat["stop_lat"].to_numpy(np.float64), plat["stop_lon"].to_numpy(np.float64)
    walked = dict(zip(zip(wa.tolist(), wb.tolist()), np.asarray(wd, np.float64).tolist()))
    ai, bi = df["a"].to_numpy(), df["b"].to_numpy()
    dist = haversine_m(lat[ai], lon[ai], lat[bi], lon[bi]) * settings.detour_factor
    if walked:
        wdist = np.array([walked.get(k, np.nan) for k in zip(ai.tolist(), bi.tolist())])
        dist = np.where(np.isnan(wdist), dist, wdist)
    df = df.assign(dist=dist).sort_values(["a", "b"], kind="stable")
    start, _ = _csr(df["a"].to_numpy(np.int64), n)
    # copies, never pandas' read-only views (copy-on-write): a read-only array is another numba type, so every
    # kernel would be loaded twice (the reversed timetable's copies are writable), ~40 MiB more on all-Tokyo
    return (start, df["b"].to_numpy(np.int32, copy=True), df["dist"].to_numpy(np.float32, copy=True),
            df["fixed"].to_numpy(np.int32, copy=True), stop_min_transfer)


def _inseat_classes(m: TransitModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(trip_inseat_class, pattern_inseat_classes, trip_inseat_classes_after): see TransitModel. A trip's chain signature is the sorted
    (to-pattern, to-position, to-trip's signature) of its links; within a pattern, a trip keeps the class of the
    last earlier trip with that signature when each of its to-trips (recursively) is no earlier than that trip's,
    else it starts a new class. So RAPTOR may skip a later trip of a class already taken from the same boarding."""
    cls = np.full(m.n_trips, -1, np.int32)
    per_pattern = np.zeros(m.n_patterns, np.int32)
    sig: dict[int, tuple] = {}
    tgt: dict[int, list[int]] = {}

    def signature(t: int) -> tuple:  # chains are short and go forward in time
        if t not in sig:
            lo, hi = int(m.inseat_start[t]), int(m.inseat_start[t + 1])
            keyed = sorted(((int(m.trip_pattern[b]), int(m.inseat_to_pos[e]), signature(b)), b)
                           for e, b in zip(range(lo, hi), m.inseat_to_trip[lo:hi].tolist()))
            sig[t] = tuple(k for k, _ in keyed)
            tgt[t] = [b for _, b in keyed]
        return sig[t]

    def later(t: int, u: int) -> bool:
        """t's chain runs no earlier than u's (same signature, so the to-trips pair up in order)."""
        return all(x >= y and later(x, y) for x, y in zip(tgt[t], tgt[u]))

    last: dict[tuple, tuple[int, int]] = {}  # (pattern, signature) → (class, its latest trip)
    n_cls = 0
    for t in np.nonzero(np.diff(m.inseat_start) > 0)[0].tolist():  # in pattern order, each by departure
        p = int(m.trip_pattern[t])
        key = (p, signature(t))
        prev = last.get(key)
        if prev is not None and later(t, prev[1]):
            cls[t] = prev[0]
        else:
            cls[t] = n_cls
            n_cls += 1
            per_pattern[p] += 1
        last[key] = (int(cls[t]), t)
    after = np.zeros(m.n_trips, np.int32)
    for p in np.nonzero(per_pattern)[0].tolist():
        seen: set[int] = set()
        for t in range(int(m.pattern_trips_start[p + 1]) - 1, int(m.pattern_trips_start[p]) - 1, -1):
            if cls[t] >= 0:
                seen.add(int(cls[t]))
            after[t] = len(seen)
    return cls, per_pattern, after
