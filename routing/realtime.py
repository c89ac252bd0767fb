"""GTFS-Realtime trip updates as an overlay on a service day's TransitModel: a realtime model, not a rebuild.

`build_overlay(model, trip_updates)` returns a `RealtimeOverlay` whose ``model`` is the base model with copies of
the stop-time arrays (`st_arr`, `dep_by_pos`, `st_pickup`, `st_dropoff`) carrying the realtime times, and — only when
needed — a few patterns and trips appended at the end. Every other array is shared with the base model, so the
planner, RAPTOR kernel, itineraries and departure boards read it exactly like a scheduled model (no kernel
change), and base stop, hop, route and trip indexes keep their meaning.

GTFS-RT rules applied per trip (matched by trip_id and start_date → the service day, so the day before's trips
running after midnight are the day before's runs in the 3-day window; frequency runs by ``trip@start_time``):
* a StopTimeUpdate is placed by stop_sequence (else by stop_id, in order); absolute times win over delays; a
  missing departure takes the arrival's delay; a missing arrival takes the delay in force upstream (or, at the
  first update, the departure's); the departure delay propagates downstream to stops without an update, until
  the next update; stops before the first update keep their schedule (or the trip-level ``delay``);
* SKIPPED: neither boarding nor alighting there (the times go on with the delay); NO_DATA: the schedule again
  from that stop until the next update;
* times never decrease along the trip: stops before the first update are pulled back to it (an early train),
  after it each arrival is at least the previous departure and each departure at least its arrival (OTP clamps
  the same way);
* CANCELED / DELETED: no boarding or alighting anywhere on the trip;
* DUPLICATED (trip_id of the copied trip, start_time of the copy): the copied trip's times shifted to start then;
  ADDED: placed when every stop update names a known stop_id with a time and the route is known (trip route_id,
  else that of the copied trip); anything else is counted ``unplaceable``.

RAPTOR needs the trips of a pattern in FIFO order (no overtaking) and with the same boarding/alighting flags.
Updated trips that fit between their neighbours stay in place; one that now overtakes or is overtaken, or skips a
stop, is moved to a new pattern (same stops and route)
appended at the end, grouped FIFO, and its old slot becomes a ghost (no boarding/alighting, times copied from
a neighbour so the order holds); its in-seat links move with it. Cancelled slots are ghosts too (their in-seat
links dropped). Added hops map to the base hop they copy
(`hop_src`), so closure masks of the base model extend to the realtime model (`extend_mask`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Iterable

import msgspec
import numpy as np
from numba import njit

from routing.masks import ClosureMask
from routing.timetable import DAYS, TransitModel, _fifo_groups

SCHEDULED, UPDATED, CANCELLED, ADDED, MOVED = 0, 1, 2, 3, 4  # trip states (base trips; ADDED for new trips)
STATE_NAMES = ("scheduled", "updated", "cancelled", "added", "moved")
_CANCEL = frozenset({"CANCELED", "CANCELLED", "DELETED"})
_RT_KEY = "_realtime_overlay"


@dataclass(frozen=True)
class RealtimeCounts:
    """What an overlay did with its trip updates (reported by the status endpoints and the benchmark)."""

    entities: int = 0
    matched: int = 0
    cancelled: int = 0
    added: int = 0
    unmatched: int = 0  # a trip id this model's feeds do not run on that day
    other_days: int = 0  # start_date outside the model's window (another day's model applies it)
    unplaceable: int = 0  # ADDED / DUPLICATED without the stops, times or route to place them
    moved: int = 0  # trips moved to a pattern of their own: overtaking (FIFO) or skipping stops (flags)
    skipped_stops: int = 0
    bad_stops: int = 0  # stop updates naming no stop of the trip

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class _Extra:
    """A trip appended to the realtime model (moved, duplicated or added)."""

    stops: np.ndarray
    route: int
    arr: np.ndarray
    dep: np.ndarray
    pickup: np.ndarray
    dropoff: np.ndarray
    dist: np.ndarray
    seq: np.ndarray
    base_trip: int  # -1 for an added trip
    trip_id: str
    day: int
    headsign: str
    hops: np.ndarray  # base hop per position (-1: none known)
    template: int  # base trip whose metadata it copies (-1: none)
    state: int
    skipped: np.ndarray | None = None


@dataclass
class RealtimeOverlay:
    """A realtime model and how it maps back to its base model (see the module docstring)."""

    base: TransitModel
    model: TransitModel
    version: int
    trip_base: np.ndarray  # int32[rt trips]: base trip of each realtime trip (-1: added)
    trip_state: np.ndarray  # int8[rt trips]: SCHEDULED, UPDATED, ADDED, MOVED or CANCELLED (ghost slots)
    base_trip_rt: np.ndarray  # int32[base trips]: where the base trip runs now (-1: cancelled)
    base_state: np.ndarray  # int8[base trips]
    skipped: np.ndarray  # bool[rt stop times]: a SKIPPED stop (no boarding, no alighting)
    hop_src: np.ndarray | None  # int64[rt hops] → base hop (-1 none); None: the base's hops
    counts: RealtimeCounts
    stale: frozenset = frozenset()
    operators: frozenset = frozenset()  # operators whose realtime is in this overlay
    _masks: dict = field(default_factory=dict, repr=False)
    _planners: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ---- reading ------------------------------------------------------------------------------------------
    def scheduled(self, trip: int, pos: int) -> tuple[int, int] | None:
        """(arrival, departure) of realtime trip ``trip`` at pattern position ``pos`` in the base timetable,
        None for an added trip."""
        b = int(self.trip_base[trip])
        if b < 0:
            return None
        off, _ = self.base.trip_times_offset(b)
        return int(self.base.st_arr[off + pos]), int(self.base.departures_of_trip(b)[pos])

    def is_realtime(self, trip: int) -> bool:
        """The trip's times come from a trip update (or it was added by one)."""
        return int(self.trip_state[trip]) in (UPDATED, ADDED, MOVED)

    def state_of_base(self, trip: int) -> str:
        return STATE_NAMES[int(self.base_state[trip])]

    def extend_mask(self, mask: ClosureMask | None) -> ClosureMask | None:
        """A base model's closure mask on this realtime model's hops (cached per mask)."""
        if mask is None or self.hop_src is None:
            return mask
        hit = self._masks.get(id(mask))
        if hit is not None and hit[0] is mask:
            return hit[1]
        src = self.hop_src
        hf = np.append(np.asarray(mask.hop_from), 0)[src]  # -1 → the appended open entry
        hu = np.append(np.asarray(mask.hop_until), 0)[src]
        out = ClosureMask(mask.stop_from, mask.stop_until, hf.astype(np.asarray(mask.hop_from).dtype),
                          hu.astype(np.asarray(mask.hop_until).dtype), mask.street_edge_closed)
        with self._lock:
            if len(self._masks) > 8:
                self._masks.clear()
            self._masks[id(mask)] = (mask, out)
        return out

    def planner(self, base_planner):
        """The base planner on the realtime model (a shallow copy: places, walker and names are shared)."""
        hit = self._planners.get(id(base_planner))
        if hit is not None and hit[0] is base_planner:
            return hit[1]
        import copy

        p = copy.copy(base_planner)
        p.model = self.model
        with self._lock:
            self._planners[id(base_planner)] = (base_planner, p)
        return p


def realtime_of(model) -> RealtimeOverlay | None:
    """The overlay a realtime model belongs to, None for a scheduled model."""
    return model.__dict__.get(_RT_KEY) if model is not None else None


def base_of(model):
    """The scheduled model under a realtime model (the model itself when it is scheduled)."""
    ov = realtime_of(model)
    return ov.base if ov is not None else model


# ---- building -------------------------------------------------------------------------------------------
def _date(s: str | None) -> dt.date | None:
    if not s or len(s) != 8 or not s.isdigit():
        return None
    try:
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
    except ValueError:
        return None


def _hms(s: str | None) -> int | None:
    if not s:
        return None
    parts = s.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])


def _trip_days(u, model: TransitModel) -> list[int]:
    """Service days (relative to the model date) a trip update may mean: its start_date, or every day of the
    window when it gives none (the caller picks the run nearest to the update's times)."""
    d = _date(getattr(u, "start_date", None))
    if d is None:
        return [0, -1, 1, -2] if not getattr(u, "start_date", None) else []
    return [(d - model.service_date).days]


def _find_trip(model: TransitModel, trip_id: str, start_time: str | None, day: int) -> int | None:
    if start_time:
        t = model.trip_index(f"{trip_id}@{start_time}", day)  # a frequency run
        if t is not None:
            return t
    return model.trip_index(trip_id, day)


def trip_times(sched_arr: np.ndarray, sched_dep: np.ndarray, seqs: np.ndarray, stop_ids: list[str],
               updates: Iterable, midnight_ts: int, trip_delay: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Realtime (arrival, departure, skipped, unplaced updates) of one trip from its scheduled times (model
    seconds) and its StopTimeUpdates, by the GTFS-RT rules of the module docstring. (Plain Python lists: for
    trips of tens of stops they beat numpy's per-call cost.)"""
    sa = np.asarray(sched_arr).tolist()
    sd = np.asarray(sched_dep).tolist()
    L = len(sa)
    arr, dep = list(sa), list(sd)
    skipped = [False] * L
    placed: list[tuple[int, object]] = []
    bad = 0
    cursor = 0
    in_order = True
    seq_list = np.asarray(seqs).tolist()
    seq_pos = {s: i for i, s in reversed(list(enumerate(seq_list)))}
    for u in updates:
        p = None
        if u.stop_sequence is not None:
            p = seq_pos.get(u.stop_sequence)
            if p is not None and u.stop_id is not None and stop_ids[p] != u.stop_id:
                p = None
        elif u.stop_id is not None:
            for k in range(cursor, L):
                if stop_ids[k] == u.stop_id:
                    p = k
                    break
        if p is None:
            bad += 1
            continue
        if placed and p < placed[-1][0]:
            in_order = False
        placed.append((p, u))
        cursor = p + 1
    if not in_order:  # (feeds send them in stop order: no sort then)
        placed.sort(key=lambda x: x[0])
    delay = trip_delay
    first = placed[0][0] if placed else L
    ui = 0
    n_placed = len(placed)
    for k in range(L):
        if ui < n_placed and placed[ui][0] == k:
            u = placed[ui][1]
            ui += 1
            while ui < n_placed and placed[ui][0] == k:  # the same stop twice: the last one counts
                u = placed[ui][1]
                ui += 1
            if u.no_data:
                delay = None
                continue
            if u.skipped:
                skipped[k] = True
                if delay is not None:
                    arr[k] += delay
                    dep[k] += delay
                continue
            a = d = None
            if u.arrival_time is not None:
                a = u.arrival_time - midnight_ts
            elif u.arrival_delay is not None:
                a = sa[k] + u.arrival_delay
            if u.departure_time is not None:
                d = u.departure_time - midnight_ts
            elif u.departure_delay is not None:
                d = sd[k] + u.departure_delay
            if a is None and d is None:
                a_delay = delay or 0
                a, d = sa[k] + a_delay, sd[k] + a_delay
            elif a is None:
                a = min(sa[k] + (delay if delay is not None else d - sd[k]), d)
            elif d is None:
                d = sd[k] + (a - sa[k])
            arr[k], dep[k] = a, d
            delay = d - sd[k]
        elif delay is not None:
            arr[k] += delay
            dep[k] += delay
    for k in range(first - 1 if placed else -1, -1, -1):  # an early train: earlier stops no later than the first update
        if dep[k] > arr[k + 1]:
            dep[k] = arr[k + 1]
        if arr[k] > dep[k]:
            arr[k] = dep[k]
    prev = None
    for k in range(L):  # never decreasing
        if prev is not None and arr[k] < prev:
            arr[k] = prev
        if dep[k] < arr[k]:
            dep[k] = arr[k]
        prev = dep[k]
    return np.array(arr, np.int64), np.array(dep, np.int64), np.array(skipped, bool), bad


NONE = np.int64(-(1 << 62))  # "not given" in the kernel's update arrays


@njit(nogil=True, cache=True)
def _apply_trip_updates(base_arr, base_dep, st_seq, pattern_stops, job_off, job_len, job_base, job_dep0, job_step,
                        job_u0, job_un, job_delay, u_seq, u_stop, u_at, u_ad, u_dt, u_dd, u_flag, midnight, st_arr,
                        dep_by_pos, skipped, bad, u_pos, order, arr, dep):
    """`trip_times` for every job (one updated trip each) at once, written into ``st_arr``/``dep_by_pos``/
    ``skipped``: the same rule, line for line (tests compare the two). Departures by position (``base_dep`` too):
    a job's at position k at job_dep0 + k * job_step. ``u_flag``: 1 skipped, 2 no data; NONE: not given;
    ``u_stop``: the stop index an update names (-2: a stop the model lacks). Scratch: u_pos, order, arr, dep."""
    for j in range(len(job_off)):
        off, L, base, u0, un = job_off[j], job_len[j], job_base[j], job_u0[j], job_un[j]
        d0, step = job_dep0[j], job_step[j]
        cursor = 0
        nb = 0
        n_placed = 0
        for i in range(u0, u0 + un):
            p = -1
            if u_seq[i] != NONE:
                for k in range(L):
                    if st_seq[off + k] == u_seq[i]:
                        p = k
                        break
                if p >= 0 and u_stop[i] != NONE and pattern_stops[base + p] != u_stop[i]:
                    p = -1
            elif u_stop[i] != NONE:
                for k in range(cursor, L):
                    if pattern_stops[base + k] == u_stop[i]:
                        p = k
                        break
            if p < 0:
                nb += 1
                continue
            u_pos[i] = p
            q = n_placed  # insertion into order (stable by position)
            while q > 0 and u_pos[order[u0 + q - 1]] > p:
                order[u0 + q] = order[u0 + q - 1]
                q -= 1
            order[u0 + q] = i
            n_placed += 1
            cursor = p + 1
        bad[j] = nb
        for k in range(L):
            arr[k] = base_arr[off + k]
            dep[k] = base_dep[d0 + k * step]
            skipped[off + k] = False
        has = job_delay[j] != NONE
        delay = job_delay[j] if has else np.int64(0)
        first = u_pos[order[u0]] if n_placed > 0 else L
        ui = 0
        for k in range(L):
            if ui < n_placed and u_pos[order[u0 + ui]] == k:
                i = order[u0 + ui]
                ui += 1
                while ui < n_placed and u_pos[order[u0 + ui]] == k:
                    i = order[u0 + ui]
                    ui += 1
                if u_flag[i] == 2:
                    has = False
                    delay = np.int64(0)
                    continue
                if u_flag[i] == 1:
                    skipped[off + k] = True
                    if has:
                        arr[k] += delay
                        dep[k] += delay
                    continue
                sa = np.int64(base_arr[off + k])
                sd = np.int64(base_dep[d0 + k * step])
                a = NONE
                d = NONE
                if u_at[i] != NONE:
                    a = u_at[i] - midnight
                elif u_ad[i] != NONE:
                    a = sa + u_ad[i]
                if u_dt[i] != NONE:
                    d = u_dt[i] - midnight
                elif u_dd[i] != NONE:
                    d = sd + u_dd[i]
                if a == NONE and d == NONE:
                    a_delay = delay if has else np.int64(0)
                    a = sa + a_delay
                    d = sd + a_delay
                elif a == NONE:
                    a = min(sa + (delay if has else d - sd), d)
                elif d == NONE:
                    d = sd + (a - sa)
                arr[k] = a
                dep[k] = d
                delay = d - sd
                has = True
            elif has:
                arr[k] += delay
                dep[k] += delay
        if n_placed > 0:
            for k in range(first - 1, -1, -1):
                if dep[k] > arr[k + 1]:
                    dep[k] = arr[k + 1]
                if arr[k] > dep[k]:
                    arr[k] = dep[k]
        for k in range(L):
            if k > 0 and arr[k] < dep[k - 1]:
                arr[k] = dep[k - 1]
            if dep[k] < arr[k]:
                dep[k] = arr[k]
            st_arr[off + k] = arr[k]
            dep_by_pos[d0 + k * step] = dep[k]


def _v(x) -> int:
    return NONE if x is None else int(x)


def _stop_or(m, stop_id: str) -> int:
    try:
        return m.stop_index(stop_id)
    except KeyError:
        return -2  # names no stop of the model: the update is not placed


_STU_FIELDS = ("stop_sequence", "stop_id", "arrival_time", "arrival_delay", "departure_time", "departure_delay",
               "skipped", "no_data")


def _stu_row(s) -> tuple:
    """A StopTimeUpdate's fields in `_STU_FIELDS` order (msgspec's C astuple for feeds.gtfs_rt structs)."""
    if getattr(type(s), "__struct_fields__", None) == _STU_FIELDS:
        return msgspec.structs.astuple(s)
    return tuple(getattr(s, f) for f in _STU_FIELDS)


def _run_jobs(m, jobs: dict, midnight_ts: int, st_arr, dep_by_pos, st_pickup, st_dropoff, skipped, c: dict) -> None:
    """The updated trips' realtime times, all in one kernel call (`_apply_trip_updates`). The updates' fields
    become int64 columns in bulk (None → NONE via float NaN: POSIX seconds are exact in a float64)."""
    if not jobs:
        return
    n = len(jobs)
    job_off = np.empty(n, np.int64)
    job_len = np.empty(n, np.int64)
    job_base = np.empty(n, np.int64)
    job_dep0 = np.empty(n, np.int64)
    job_step = np.empty(n, np.int64)
    job_u0 = np.empty(n, np.int64)
    job_un = np.empty(n, np.int64)
    job_delay = np.empty(n, np.int64)
    rows: list[tuple] = []
    pts = m.pattern_trips_start
    for j, (t, (off, L, base, u)) in enumerate(jobs.items()):
        stus = u.stop_time_updates or ()
        p = int(m.trip_pattern[t])
        job_off[j], job_len[j], job_base[j] = off, L, base
        job_dep0[j], job_step[j] = m.departure_index(p, t - int(pts[p]), 0), int(pts[p + 1] - pts[p])
        job_u0[j], job_un[j] = len(rows), len(stus)
        job_delay[j] = _v(getattr(u, "delay", None))
        fast = stus and getattr(type(stus[0]), "__struct_fields__", None) == _STU_FIELDS
        rows.extend(map(msgspec.structs.astuple if fast else _stu_row, stus))
    U = len(rows)
    if U:
        obj = np.array(rows, dtype=object).reshape(U, len(_STU_FIELDS))
        num = obj[:, [0, 2, 3, 4, 5]].astype(np.float64)
        num = np.where(np.isnan(num), float(NONE), num).astype(np.int64)
        stop = np.full(U, NONE, np.int64)
        for i in np.flatnonzero(obj[:, 1] != None).tolist():  # noqa: E711 (element-wise on objects; rare)
            stop[i] = _stop_or(m, obj[i, 1])
        flag = np.where(obj[:, 6].astype(bool), 1, np.where(obj[:, 7].astype(bool), 2, 0)).astype(np.int64)
        cols = (num[:, 0].copy(), stop, num[:, 1].copy(), num[:, 2].copy(), num[:, 3].copy(), num[:, 4].copy(), flag)
    else:
        cols = tuple(np.empty(0, np.int64) for _ in range(7))
    bad = np.zeros(n, np.int64)
    longest = int(job_len.max())
    _apply_trip_updates(np.asarray(m.st_arr), np.asarray(m.dep_by_pos), np.asarray(m.st_seq),
                        np.asarray(m.pattern_stops), job_off, job_len, job_base, job_dep0, job_step, job_u0, job_un,
                        job_delay, *cols, np.int64(midnight_ts), st_arr, dep_by_pos, skipped, bad,
                        np.full(max(U, 1), -1, np.int64), np.zeros(max(U, 1), np.int64),
                        np.empty(longest, np.int64), np.empty(longest, np.int64))
    c["bad_stops"] += int(bad.sum())
    for off, L, _, _ in jobs.values():
        sk = skipped[off:off + L]
        if sk.any():
            st_pickup[off:off + L][sk] = 0
            st_dropoff[off:off + L][sk] = 0
            c["skipped_stops"] += int(sk.sum())


def build_overlay(model: TransitModel, trip_updates: Iterable, *, version: int = 0,
                  stale: Iterable[str] = ()) -> RealtimeOverlay:
    """The realtime overlay of ``trip_updates`` (feeds.gtfs_rt.TripUpdate) on ``model``: see the module
    docstring. Pure; the base model is not changed. Cost: copies of four stop-time arrays plus a little work
    per updated trip."""
    m = model
    n_trips = m.n_trips
    midnight_ts = int(m.midnight.timestamp())
    st_arr = np.array(m.st_arr, copy=True)
    dep_by_pos = np.array(m.dep_by_pos, copy=True)  # (written by position, as the search reads them)
    st_pickup = np.array(m.st_pickup, copy=True)
    st_dropoff = np.array(m.st_dropoff, copy=True)
    skipped = np.zeros(len(st_arr), bool)
    state = np.zeros(n_trips, np.int8)
    extras: list[_Extra] = []
    c = dict(entities=0, matched=0, cancelled=0, added=0, unmatched=0, other_days=0, unplaceable=0, moved=0,
             skipped_stops=0, bad_stops=0)
    route_pos = {r: i for i, r in enumerate(m.route_ids)}
    operators = set()
    pss = m.pattern_stops_start
    day_cache: dict = {}
    jobs: dict[int, tuple] = {}  # updated trip → (times offset, length, pattern stops offset, its TripUpdate)

    def positions(t: int) -> tuple[int, int, int]:
        p = int(m.trip_pattern[t])
        L = int(pss[p + 1] - pss[p])
        return p, int(m.pattern_times_start[p] + (t - m.pattern_trips_start[p]) * L), L

    def take_extra(ex) -> None:
        """An ADDED or DUPLICATED trip: placed, on another service day, or not placeable from what the feed gave."""
        if ex is None:
            c["unplaceable"] += 1
        elif ex == "other_day":
            c["other_days"] += 1
        else:
            extras.append(ex)
            c["added"] += 1

    for u in trip_updates:
        c["entities"] += 1
        rel = (getattr(u, "relationship", None) or "SCHEDULED").upper()
        tid = u.trip_id
        if tid:
            operators.add(tid.split(":", 1)[0])
        if rel == "ADDED":
            take_extra(_place_added(m, u, midnight_ts, route_pos))
            continue
        if not tid:
            c["unmatched"] += 1
            continue
        sd_key = getattr(u, "start_date", None)
        days = day_cache.get(sd_key)
        if days is None:
            days = day_cache[sd_key] = _trip_days(u, m)
        if not days:
            c["unmatched"] += 1
            continue
        if rel == "DUPLICATED":
            take_extra(_duplicate(m, u, days, midnight_ts))
            continue
        cands = [(d, _find_trip(m, tid, getattr(u, "start_time", None), d)) for d in days if d in DAYS]
        cands = [(d, t) for d, t in cands if t is not None]
        if not cands:
            d0 = days[0]
            c["other_days" if len(days) == 1 and d0 not in DAYS else "unmatched"] += 1
            continue
        t = cands[0][1] if len(cands) == 1 else _nearest_run(m, cands, u, midnight_ts)
        p, off, L = positions(t)
        c["matched"] += 1
        if rel in _CANCEL:
            state[t] = CANCELLED
            jobs.pop(t, None)
            st_pickup[off:off + L] = 0
            st_dropoff[off:off + L] = 0
            c["cancelled"] += 1
            continue
        st_pickup[off:off + L] = m.st_pickup[off:off + L]  # (a later entity of the same trip starts afresh)
        st_dropoff[off:off + L] = m.st_dropoff[off:off + L]
        jobs[t] = (off, L, int(pss[p]), u)
        state[t] = UPDATED
    _run_jobs(m, jobs, midnight_ts, st_arr, dep_by_pos, st_pickup, st_dropoff, skipped, c)

    # ---- FIFO: keep updated trips in place where they fit, move the others out ----
    touched = np.unique(m.trip_pattern[np.flatnonzero(state != SCHEDULED)]) if n_trips else np.zeros(0, int)
    for p in touched.tolist():
        t0, t1 = int(m.pattern_trips_start[p]), int(m.pattern_trips_start[p + 1])
        L = int(pss[p + 1] - pss[p])
        a0 = int(m.pattern_times_start[p])
        A = st_arr[a0:a0 + (t1 - t0) * L].reshape(t1 - t0, L)
        D = dep_by_pos[a0:a0 + (t1 - t0) * L].reshape(L, t1 - t0).T  # (a view: trip by trip, as A)
        st = state[t0:t1]
        kept = st == SCHEDULED
        for j in np.flatnonzero(st == UPDATED).tolist():
            ks = np.flatnonzero(kept)
            i = np.searchsorted(ks, j)
            # a trip that skips stops moves too: boarding and alighting flags stay the same for every trip of a
            # pattern (RAPTOR's earliest trip, and the in-seat classes, stand for the later ones)
            ok = not skipped[a0 + j * L:a0 + (j + 1) * L].any()
            if ok and i > 0:
                q = ks[i - 1]
                ok = bool((D[j] >= D[q]).all() and (A[j] >= A[q]).all())
            if ok and i < len(ks):
                q = ks[i]
                ok = bool((D[q] >= D[j]).all() and (A[q] >= A[j]).all())
            if ok:
                kept[j] = True
                continue
            t = t0 + j
            off = a0 + j * L
            extras.append(_Extra(m.pattern_stops[pss[p]:pss[p] + L].copy(), int(m.pattern_route[p]), A[j].copy(),
                                 D[j].copy(), st_pickup[off:off + L].copy(), st_dropoff[off:off + L].copy(),
                                 np.asarray(m.st_dist[off:off + L]).copy(), np.asarray(m.st_seq[off:off + L]).copy(),
                                 t, m.trip_ids[t], int(m.trip_day_offset[t]), m.trip_headsigns[t],
                                 np.arange(pss[p], pss[p] + L, dtype=np.int64), t, MOVED))
            extras[-1].skipped = skipped[off:off + L].copy()  # (a moved trip keeps its skipped stops)
            state[t] = MOVED
            st_pickup[off:off + L] = 0
            st_dropoff[off:off + L] = 0
            skipped[off:off + L] = False
            c["moved"] += 1
        ghosts = ~kept
        if ghosts.any():  # ghost slots copy a kept neighbour's times, so the pattern stays sorted
            ks = np.flatnonzero(kept)
            if len(ks):
                src = np.maximum.accumulate(np.where(kept, np.arange(len(kept)), -1))
                src = np.where(src < 0, ks[0], src)
                A[ghosts] = A[src[ghosts]]
                D[ghosts] = D[src[ghosts]]
            else:
                A[:] = m.st_arr[a0:a0 + (t1 - t0) * L].reshape(t1 - t0, L)
                D[:] = m.dep_by_pos[a0:a0 + (t1 - t0) * L].reshape(L, t1 - t0).T

    ov = _assemble(m, st_arr, dep_by_pos, st_pickup, st_dropoff, skipped, state, extras)
    ov.version = version
    ov.counts = RealtimeCounts(**c)
    ov.stale = frozenset(stale)
    ov.operators = frozenset(operators)
    return ov


def _nearest_run(m, cands, u, midnight_ts) -> int:
    """Of several runs of a trip (no start_date), the one whose schedule is nearest the update's first time."""
    first = None
    for s in u.stop_time_updates or ():
        for v in (s.departure_time, s.arrival_time):
            if v is not None:
                first = int(v) - midnight_ts
                break
        if first is not None:
            break
    if first is None:
        return next((t for d, t in cands if d == 0), cands[0][1])
    best = None
    for _, t in cands:
        gap = int(np.min(np.abs(np.asarray(m.departures_of_trip(t), np.int64) - first)))
        if best is None or gap < best[0]:
            best = (gap, t)
    return best[1]


def _duplicate(m, u, days, midnight_ts) -> _Extra | str | None:
    """A DUPLICATED trip: the copied trip's times shifted to the new start_time (then its stop updates)."""
    start = _hms(getattr(u, "start_time", None))
    if start is None or len(days) != 1:
        return None
    day = days[0]
    if day not in DAYS:
        return "other_day"
    t = None
    for d in (day, 0, -1, 1, -2):
        t = m.trip_index(u.trip_id, d)
        if t is not None:
            break
    if t is None:
        return None
    p = int(m.trip_pattern[t])
    off, L = m.trip_times_offset(t)
    # (the copy runs on ``day``: its first departure is start_time on that day's clock)
    deps = m.departures_of_trip(t)
    shift = (day * 86400 + start) - int(deps[0])
    sa = np.asarray(m.st_arr[off:off + L], np.int64) + shift
    sd = np.asarray(deps, np.int64) + shift
    pss = m.pattern_stops_start
    ids = [m.stop_ids[s] for s in m.pattern_stops[pss[p]:pss[p] + L].tolist()]
    a, d, sk, _ = trip_times(sa, sd, m.st_seq[off:off + L], ids, tuple(u.stop_time_updates or ()), midnight_ts,
                             getattr(u, "delay", None))
    ex = _Extra(m.pattern_stops[pss[p]:pss[p] + L].copy(), int(m.pattern_route[p]), a, d,
                np.where(sk, 0, m.st_pickup[off:off + L]).astype(np.int8),
                np.where(sk, 0, m.st_dropoff[off:off + L]).astype(np.int8), np.asarray(m.st_dist[off:off + L]).copy(),
                np.asarray(m.st_seq[off:off + L]).copy(), -1, f"{u.trip_id}@{getattr(u, 'start_time')}", day,
                m.trip_headsigns[t], np.arange(pss[p], pss[p] + L, dtype=np.int64), t, ADDED)
    ex.skipped = sk
    return ex


def _place_added(m, u, midnight_ts, route_pos) -> _Extra | str | None:
    """An ADDED trip from its stop updates: every one needs a known stop_id and a time; two stops at least."""
    stus = [s for s in (u.stop_time_updates or ()) if not getattr(s, "skipped", False)]
    if len(stus) < 2:
        return None
    stops, arr, dep = [], [], []
    for s in stus:
        if s.stop_id is None:
            return None
        try:
            si = m.stop_index(s.stop_id)
        except KeyError:
            return None
        a = s.arrival_time if s.arrival_time is not None else s.departure_time
        d = s.departure_time if s.departure_time is not None else s.arrival_time
        if a is None:
            return None
        stops.append(si)
        arr.append(int(a) - midnight_ts)
        dep.append(int(d) - midnight_ts)
    route = route_pos.get(u.route_id) if getattr(u, "route_id", None) else None
    if route is None:
        return None
    d0 = _date(getattr(u, "start_date", None))
    day = (d0 - m.service_date).days if d0 is not None else int(dep[0] // 86400)
    if day not in DAYS:
        return "other_day"
    arr_a, dep_a = np.asarray(arr, np.int64), np.asarray(dep, np.int64)
    for k in range(len(arr_a)):  # non-decreasing
        if k > 0 and arr_a[k] < dep_a[k - 1]:
            arr_a[k] = dep_a[k - 1]
        dep_a[k] = max(dep_a[k], arr_a[k])
    n = len(stops)
    tid = u.trip_id or f"{u.route_id.split(':', 1)[0]}:added:{u.entity_id}"
    seq = np.array([s.stop_sequence if s.stop_sequence is not None else i + 1 for i, s in enumerate(stus)], np.int32)
    ex = _Extra(np.asarray(stops, np.int32), int(route), arr_a, dep_a, np.ones(n, np.int8), np.ones(n, np.int8),
                np.full(n, np.nan, np.float32), seq, -1, tid, day, m.stop_names[stops[-1]],
                np.full(n, -1, np.int64), -1, ADDED)
    ex.skipped = np.zeros(n, bool)
    return ex


def _assemble(m: TransitModel, st_arr, dep_by_pos, st_pickup, st_dropoff, skipped, state, extras: list[_Extra]
              ) -> RealtimeOverlay:
    """The realtime model: base arrays with the new stop times, and the extra trips in new FIFO patterns."""
    n_trips, n_pat = m.n_trips, m.n_patterns
    changes: dict = dict(st_arr=st_arr, dep_by_pos=dep_by_pos, st_pickup=st_pickup, st_dropoff=st_dropoff)
    trip_base = np.arange(n_trips, dtype=np.int32)
    trip_state = state.copy()
    base_trip_rt = np.where(state == CANCELLED, -1, np.arange(n_trips)).astype(np.int32)
    hop_src = None
    if extras:
        # group: same stops, route and boarding/alighting flags, then FIFO sub-groups by departure
        groups: dict[tuple, list[_Extra]] = {}
        for ex in extras:
            groups.setdefault((int(ex.route), ex.stops.tobytes(), ex.pickup.tobytes(), ex.dropoff.tobytes()),
                              []).append(ex)
        new_pats: list[list[_Extra]] = []
        for members in groups.values():
            members.sort(key=lambda e: (int(e.dep[0]), int(e.arr[-1])))
            L = len(members[0].stops)
            dep = np.concatenate([e.dep for e in members])
            arr = np.concatenate([e.arr for e in members])
            sub = _fifo_groups(dep, arr, np.arange(len(members)) * L, L)
            for g in range(int(sub.max()) + 1 if len(sub) else 0):
                new_pats.append([e for e, s in zip(members, sub.tolist()) if s == g])
        pss = np.asarray(m.pattern_stops_start, np.int64)
        pts = np.asarray(m.pattern_trips_start, np.int64)
        ptimes = np.asarray(m.pattern_times_start, np.int64)
        n_st = len(st_arr)
        p_route, p_stops_start, p_stops, p_trips_start, p_times_start = [], [], [], [], []
        hops = [np.arange(len(m.pattern_stops), dtype=np.int64)]
        st_parts = {k: [] for k in ("arr", "dep", "pickup", "dropoff", "dist", "seq", "skipped")}
        t_pattern, t_day, t_wc, t_seat, t_book, t_shape, t_ids, t_heads, t_msgs, t_base, t_state = \
            [], [], [], [], [], [], [], [], [], [], []
        n_hops = len(m.pattern_stops)
        next_trip = n_trips
        for k, members in enumerate(new_pats):
            L = len(members[0].stops)
            p_route.append(members[0].route)
            p_stops_start.append(n_hops)
            p_stops.append(members[0].stops.astype(np.int32))
            hops.append(members[0].hops)
            n_hops += L
            p_trips_start.append(next_trip)
            p_times_start.append(n_st)
            st_parts["dep"].append(np.stack([e.dep for e in members]).T.ravel())  # (by position)
            for e in members:
                st_parts["arr"].append(e.arr)
                st_parts["pickup"].append(e.pickup)
                st_parts["dropoff"].append(e.dropoff)
                st_parts["dist"].append(e.dist)
                st_parts["seq"].append(e.seq)
                st_parts["skipped"].append(e.skipped if e.skipped is not None else np.zeros(L, bool))
                n_st += L
                tpl = e.template
                t_pattern.append(n_pat + k)
                t_day.append(e.day)
                t_wc.append(int(m.trip_wheelchair[tpl]) if tpl >= 0 else 0)
                t_seat.append(int(m.trip_seat_capacity[tpl]) if tpl >= 0 else -1)
                t_book.append(int(m.trip_booking[tpl]) if tpl >= 0 else 0)
                t_shape.append(int(m.trip_shape[tpl]) if tpl >= 0 else -1)
                t_ids.append(e.trip_id)
                t_heads.append(e.headsign)
                t_msgs.append(m.booking_messages[tpl] if tpl >= 0 else "")
                t_base.append(e.base_trip)
                t_state.append(e.state)
                if e.base_trip >= 0:
                    base_trip_rt[e.base_trip] = next_trip
                next_trip += 1
        n_new = next_trip - n_trips
        i32 = lambda xs: np.asarray(xs, np.int32)  # noqa: E731
        pattern_route = np.concatenate([m.pattern_route, i32(p_route)])
        route_mode = np.asarray(m.route_mode)
        changes.update(
            pattern_route=pattern_route,
            pattern_mode=np.concatenate([m.pattern_mode, route_mode[i32(p_route)]]).astype(np.asarray(m.pattern_mode).dtype),
            pattern_stops_start=np.concatenate([pss[:-1], i32(p_stops_start), [n_hops]]).astype(np.int32),
            pattern_stops=np.concatenate([m.pattern_stops, *p_stops]).astype(np.int32),
            pattern_trips_start=np.concatenate([pts[:-1], i32(p_trips_start), [next_trip]]).astype(np.int32),
            pattern_times_start=np.concatenate([ptimes, np.asarray(p_times_start, np.int64)]).astype(
                np.asarray(m.pattern_times_start).dtype),
            st_arr=np.concatenate([st_arr, *st_parts["arr"]]).astype(np.asarray(m.st_arr).dtype),
            dep_by_pos=np.concatenate([dep_by_pos, *st_parts["dep"]]).astype(np.asarray(m.dep_by_pos).dtype),
            st_pickup=np.concatenate([st_pickup, *st_parts["pickup"]]).astype(np.asarray(m.st_pickup).dtype),
            st_dropoff=np.concatenate([st_dropoff, *st_parts["dropoff"]]).astype(np.asarray(m.st_dropoff).dtype),
            st_dist=np.concatenate([m.st_dist, *st_parts["dist"]]).astype(m.st_dist.dtype),  # (kept per pattern
            st_seq=np.concatenate([m.st_seq, *st_parts["seq"]]).astype(m.st_seq.dtype),  # again: TransitModel)
            trip_pattern=np.concatenate([m.trip_pattern, i32(t_pattern)]),
            trip_day_offset=np.concatenate([m.trip_day_offset, np.asarray(t_day, np.int8)]),
            trip_wheelchair=np.concatenate([m.trip_wheelchair, np.asarray(t_wc, np.int8)]).astype(
                np.asarray(m.trip_wheelchair).dtype),
            trip_seat_capacity=np.concatenate([m.trip_seat_capacity, i32(t_seat)]).astype(
                np.asarray(m.trip_seat_capacity).dtype),
            trip_booking=np.concatenate([m.trip_booking, np.asarray(t_book, np.int8)]),
            trip_shape=np.concatenate([m.trip_shape, i32(t_shape)]).astype(np.asarray(m.trip_shape).dtype),
            trip_ids=m.trip_ids.extended(t_ids), trip_headsigns=list(m.trip_headsigns) + t_heads,
            booking_messages=list(m.booking_messages) + t_msgs,
            inseat_start=np.concatenate([m.inseat_start, np.full(n_new, m.inseat_start[-1], np.int32)]).astype(
                np.asarray(m.inseat_start).dtype),
            trip_inseat_class=np.concatenate([m.trip_inseat_class, np.full(n_new, -1, np.int32)]),
            trip_inseat_classes_after=np.concatenate([m.trip_inseat_classes_after, np.zeros(n_new, np.int32)]),
            pattern_inseat_classes=np.concatenate([m.pattern_inseat_classes, np.zeros(len(new_pats), np.int32)]),
        )
        # stop → (pattern, position) CSR with the new patterns' entries
        new_stop = np.concatenate(p_stops).astype(np.int64)
        new_pat = np.concatenate([np.full(len(s), n_pat + k, np.int64) for k, s in enumerate(p_stops)])
        new_pos = np.concatenate([np.arange(len(s), dtype=np.int64) for s in p_stops])
        old_stop = np.repeat(np.arange(m.n_stops), np.diff(np.asarray(m.sp_start, np.int64)))
        keys = np.concatenate([old_stop, new_stop])
        order = np.argsort(keys, kind="stable")
        start = np.zeros(m.n_stops + 1, np.int64)
        np.cumsum(np.bincount(keys, minlength=m.n_stops), out=start[1:])
        changes.update(sp_start=start.astype(np.asarray(m.sp_start).dtype),
                       sp_pattern=np.concatenate([m.sp_pattern, new_pat])[order].astype(np.asarray(m.sp_pattern).dtype),
                       sp_pos=np.concatenate([m.sp_pos, new_pos])[order].astype(np.asarray(m.sp_pos).dtype))
        hop_src = np.concatenate(hops)
        trip_base = np.concatenate([trip_base, i32(t_base)])
        trip_state = np.concatenate([trip_state, np.asarray(t_state, np.int8)])
        skipped = np.concatenate([skipped, *st_parts["skipped"]])
    # in-seat links: those from or to a cancelled trip are dropped, those of a moved trip follow it to its new
    # slot (same stops, so the same positions); the chain classes are then recomputed
    if len(m.inseat_to_trip):
        touched = np.flatnonzero(np.isin(state[:n_trips], (CANCELLED, MOVED)))
        if len(touched):
            istart = np.asarray(m.inseat_start, np.int64)
            frm = np.repeat(np.arange(n_trips), np.diff(istart))
            to = np.asarray(m.inseat_to_trip, np.int64)
            if np.isin(frm, touched).any() or np.isin(to, touched).any():
                n_all = len(trip_base)
                keep = (base_trip_rt[frm] >= 0) & (base_trip_rt[to] >= 0)
                new_frm, new_to = base_trip_rt[frm][keep].astype(np.int64), base_trip_rt[to][keep]
                fpos = np.asarray(m.inseat_from_pos)[keep]
                order = np.lexsort((fpos, new_frm))  # by from-trip, then from-position (the kernel's order)
                start = np.zeros(n_all + 1, np.int64)
                np.cumsum(np.bincount(new_frm, minlength=n_all), out=start[1:])
                changes.update(inseat_start=start.astype(np.int32), inseat_to_trip=new_to[order].astype(np.int32),
                               **{k: np.asarray(getattr(m, k))[keep][order] for k in
                                  ("inseat_from_pos", "inseat_to_pos", "inseat_from_stop", "inseat_to_stop")},
                               trip_inseat_class=None, pattern_inseat_classes=None, trip_inseat_classes_after=None)
    rt = dataclasses.replace(m, **changes, _stop_index=m._stop_index,
                             _shape_cuts=m._shape_cuts if not extras else dict(m._shape_cuts))
    ov = RealtimeOverlay(base=m, model=rt, version=0, trip_base=trip_base, trip_state=trip_state,
                         base_trip_rt=base_trip_rt, base_state=state, skipped=skipped, hop_src=hop_src,
                         counts=RealtimeCounts())
    rt.__dict__[_RT_KEY] = ov
    return ov
