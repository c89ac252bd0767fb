"""The search's Timetable from a TransitModel (`timetable_of`, cached on the model), and the same with time running
backwards (`reversed_timetable`; `reverse_mask` for the closures, `Reversal` to map its trips back): a forward
search on it from the targets is the backward (arrive-by) search.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, fields

import numpy as np
from numba import njit

from routing.masks import ClosureMask
from routing.realtime import realtime_of
from routing.raptor.state import Timetable, _dep_at


_FORWARD = ("_timetable_plain", "_timetable_inseat")  # where a model caches its timetables, by ``inseat``
_REVERSED = ("_timetable_reversed", "_timetable_reversed_inseat")


def timetable_of(model, inseat: bool = True) -> Timetable:
    """The model's arrays as a Timetable (cached per model; without in-seat links when ``inseat`` is False)."""
    key = _FORWARD[inseat]
    hit = model.__dict__.get(key)  # (every search asks: the cached one without a call)
    return hit if hit is not None else _cached(model, key, lambda m: _timetable(m, inseat))


def _timetable(model, inseat: bool) -> Timetable:
    if inseat:
        links = (model.inseat_start, model.inseat_to_trip, model.inseat_from_pos, model.inseat_to_pos,
                 model.trip_inseat_class, model.pattern_inseat_classes, model.trip_inseat_classes_after)
    else:
        links = _no_links(model)
    tt = Timetable(model.pattern_stops_start, model.pattern_stops, model.pattern_trips_start,
                   np.asarray(model.pattern_times_start, np.int64), model.st_arr, model.st_pickup, model.st_dropoff,
                   model.trip_pattern, model.trip_wheelchair, model.sp_start, model.sp_pattern, model.sp_pos,
                   model.fp_start, model.fp_to, model.fp_dist, model.fp_fixed_s,
                   np.asarray(model.stop_min_transfer, np.int32), model.stop_wheelchair, *links,
                   model.dep_by_pos,
                   _ordered_of(model),
                   _open_of(model, model.st_pickup, model.st_dropoff))
    return tt


def _no_links(model) -> tuple:
    """A Timetable's in-seat fields when it has no links (cached per model: its plain timetables, forward and
    reversed, share one set of these per-trip arrays, 1.7 MiB a day on all-Tokyo)."""
    return _cached(model, "_no_links", _make_no_links)


def _make_no_links(model) -> tuple:
    none = np.empty(0, np.int32)
    return (np.zeros(model.n_trips + 1, np.int32), none, none, none, np.full(model.n_trips, -1, np.int32),
            np.zeros(model.n_patterns, np.int32), np.zeros(model.n_trips, np.int32))


def _cached(model, key: str, make):
    """``model.__dict__[key]``, made by ``make(model)`` on first use; for a model sharing another day's arrays
    (`share_timetables`), that model's own (made there if it has none yet): both days search one Timetable, and
    so each planner thread's labels, bounds and stop graphs for it (pooled by timetable) serve both."""
    hit = model.__dict__.get(key)
    if hit is None:
        ref = model.__dict__.get("_same_arrays")
        twin = ref() if ref is not None else None
        hit = model.__dict__[key] = make(model) if twin is None else _cached(twin, key, make)
    return hit


_OWN_FIELDS = frozenset(("date", "_stop_index", "_shape_cuts"))  # a model's own, never shared


def share_timetables(model, other) -> bool:
    """Let ``model`` use ``other``'s arrays and timetables (`_cached`) when the two are the same but for their
    date: a service day's model (all-Tokyo: 24 MiB of arrays, 24 MiB more of forward and reversed timetables, a
    few MiB of search labels per planner thread) is most often the same as the day before's (times are seconds
    since each day's midnight; weekday after weekday). Its date and everything made from it (its itineraries'
    times and days, its realtime overlay) stay its own. Call before the model is first searched; returns whether
    they are shared."""
    if model is other or "_same_arrays" in model.__dict__ or realtime_of(model) is not None \
            or realtime_of(other) is not None or type(model) is not type(other):
        return False
    names = [f.name for f in fields(model) if f.name not in _OWN_FIELDS]
    for name in names:
        a, b = getattr(model, name), getattr(other, name)
        if a is b:
            continue
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                    and a.shape == b.shape and np.array_equal(a, b)):
                return False
        elif type(a) is not type(b) or not a == b:
            return False
    for name in names:
        setattr(model, name, getattr(other, name))  # this model's copies freed
    model.__dict__["_same_arrays"] = weakref.ref(other)
    return True


def share_equal_fields(model, other) -> list[str]:
    """Let ``model`` use ``other``'s copy of each field the two hold equal (arrays of the same type and shape,
    lists, strings): for another service day's model whose trips differ (`share_timetables` refused), its stops,
    stations, routes, footpaths and shapes, their ids and names (all-Tokyo: ~1.7 MiB a day). Only fields nobody
    changes in place (a model's arrays are read-only by convention); call before the model is first searched.
    Returns the names shared. Their stop times are not shared block by block: on each day's own clock the trips
    both days hold are a pattern's first trips, each day's next day after them, so only ~6 % of a second day's
    stop times lie in an identical block (all-Tokyo; `bench_memory_where.py --share`); the 64-70 % both hold
    make one contiguous run per pattern only on one clock for both days.

    An array equal to the first entries of ``other``'s (`_is_prefix_of`) is those entries: a view, C-contiguous
    like a copy (so the same numba type), its bytes ``other``'s (all-Tokyo: arrays holding one value throughout,
    the pickup and drop-off flags, all 1, seat capacities, all -1, wheelchair and booking flags and in-seat
    to-positions, all 0: 2.8 MiB of a second day's 21, resident, as a model comes back from its build's child).
    The view keeps ``other``'s array alive, however long, after ``other`` itself is dropped."""
    if model is other or realtime_of(model) is not None or realtime_of(other) is not None \
            or type(model) is not type(other):
        return []
    shared = []
    for f in fields(model):
        if f.name in _OWN_FIELDS:
            continue
        a, b = getattr(model, f.name), getattr(other, f.name)
        if a is b:
            continue
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            same = isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype \
                and a.shape == b.shape and np.array_equal(a, b)
            if not same and _is_prefix_of(a, b):
                same, b = True, b[:len(a)]
        else:
            same = type(a) is type(b) and isinstance(a, (list, str)) and a == b
        if same:
            setattr(model, f.name, b)
            shared.append(f.name)
    return shared


def _is_prefix_of(a, b) -> bool:
    """``a`` (numeric, not empty) equals the first ``len(a)`` entries of ``b`` (one dimension each, the same type,
    ``b`` C-contiguous: its prefix is a view numba types as it types ``a``) (`share_equal_fields`)."""
    return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype \
        and a.dtype.kind in "biuf" and a.ndim == 1 == b.ndim and 0 < len(a) <= len(b) and b.flags.c_contiguous \
        and np.array_equal(a, b[:len(a)])


def _reversed_dep_by_pos(model) -> np.ndarray:
    """The reversed timetable's `Timetable.dep_by_pos` (cached per model): the model's arrivals written as its
    departures (negated, each pattern's trips and stops in reverse order), grouped by pattern position as the
    model's own departures are (`TransitModel.dep_by_pos`), with no trip-major copy of those made: the kernels
    read departures only from there."""
    out = model.__dict__.get("_dep_by_pos_reversed")
    if out is None:
        times = np.asarray(model.st_arr)
        out = np.empty(len(times), times.dtype)
        _reversed_times(model.pattern_stops_start, model.pattern_trips_start,
                        np.asarray(model.pattern_times_start, np.int64), times, out, True)
        model.__dict__["_dep_by_pos_reversed"] = out
    return out


def _ordered_of(model) -> np.ndarray:
    """`Timetable.pattern_ordered` (cached per model; the same both ways: backwards each dwell and each hop of a
    trip is checked on the same two times, negated)."""
    out = model.__dict__.get("_ordered")
    if out is None:
        out = np.empty(model.n_patterns, np.bool_)
        _patterns_where(np.asarray(model.pattern_stops_start), np.asarray(model.pattern_trips_start),
                        np.asarray(model.pattern_times_start, np.int64), np.asarray(model.st_arr),
                        np.asarray(model.dep_by_pos), True, out)
        model.__dict__["_ordered"] = out
    return out


def _open_of(model, st_pickup: np.ndarray, st_dropoff: np.ndarray) -> np.ndarray:
    """`Timetable.pattern_open` (cached per model; the same both ways, pickup and drop-off swap backwards)."""
    out = model.__dict__.get("_open_patterns")
    if out is None:
        out = np.empty(model.n_patterns, np.bool_)
        _patterns_where(np.asarray(model.pattern_stops_start), np.asarray(model.pattern_trips_start),
                        np.asarray(model.pattern_times_start, np.int64), np.asarray(st_pickup), np.asarray(st_dropoff),
                        False, out)
        model.__dict__["_open_patterns"] = out
    return out


@njit(nogil=True, cache=True)
def _patterns_where(pattern_stops_start, pattern_trips_start, pattern_times_start, a, b, ordered, out):
    """out[p]: every stop time of pattern p passes the check. ``ordered`` (a arrivals by trip, b departures by
    position, `_dep_at`): every trip leaves each stop no earlier than it arrives and arrives at the next stop no
    earlier than it left (then a trip's arrivals along the pattern grow at least by the StopGraph's hop times).
    Else (a pickup, b drop-off types, both by trip): both regular (1) everywhere."""
    for p in range(len(pattern_times_start)):
        L = pattern_stops_start[p + 1] - pattern_stops_start[p]
        nt = pattern_trips_start[p + 1] - pattern_trips_start[p]
        t0 = pattern_times_start[p]
        ok = True
        for x in range(t0, t0 + nt * L):
            if ordered:
                j, i = (x - t0) // L, (x - t0) % L
                d = b[_dep_at(t0, nt, j, i)]
                bad = d < a[x] or (i < L - 1 and a[x + 1] < d)
            else:
                bad = a[x] != 1 or b[x] != 1
            if bad:
                ok = False
                break
        out[p] = ok


@njit(nogil=True, cache=True)
def _reversed_times(pattern_stops_start, pattern_trips_start, pattern_times_start, src, out, to_position):
    """``out``: the times ``src`` on the reversed clock (trip j' = nt-1-j, position i' = L-1-i, time negated),
    from trip-major (index t0 + j*L + i) to by pattern position (`_dep_at`) when ``to_position``, else from by
    position to trip-major."""
    for p in range(len(pattern_times_start)):
        L = pattern_stops_start[p + 1] - pattern_stops_start[p]
        nt = pattern_trips_start[p + 1] - pattern_trips_start[p]
        t0 = pattern_times_start[p]
        for j in range(nt):
            for i in range(L):
                if to_position:
                    out[_dep_at(t0, nt, nt - 1 - j, L - 1 - i)] = -src[t0 + j * L + i]
                else:
                    out[t0 + (nt - 1 - j) * L + (L - 1 - i)] = -src[_dep_at(t0, nt, j, i)]


@dataclass(frozen=True)
class Reversal:
    """How the reversed timetable maps back: trip' → trip (patterns keep their index, position i' ↔ L-1-i'). Each
    pattern's trips are its own read backwards, so trip' of pattern p is pts[p] + pts[p+1] - 1 - trip' (`trip`,
    from the model's own arrays: no trip-indexed array kept per model, 0.6 MiB a day on all-Tokyo)."""

    trip_pattern: np.ndarray
    pattern_trips_start: np.ndarray

    def trip(self, t: int) -> int:
        """The real trip of the reversed timetable's trip ``t`` (a backward search's ride legs, `_backward_legs`)."""
        pts = self.pattern_trips_start
        p = self.trip_pattern.item(t)
        return pts.item(p) + pts.item(p + 1) - 1 - t


def _trip_of(trip_pattern, pattern_trips_start) -> np.ndarray:
    """`Reversal.trip` of every reversed trip, as an array (an involution: within each pattern the trips in reverse
    order), for the reversed timetable's per-trip arrays and in-seat links."""
    pts = np.asarray(pattern_trips_start, np.int64)
    trip_p = np.asarray(trip_pattern, np.int64)
    return (pts[trip_p] + pts[trip_p + 1] - 1 - np.arange(len(trip_p))).astype(np.int32)


def reversed_timetable(model, inseat: bool = False) -> tuple[Timetable, Reversal]:
    """The model with time running backwards (cached per model): each pattern's stops reversed, each trip's
    times negated (departure' = -arrival), trips in reverse order (FIFO still holds), pickup ↔ drop-off,
    footpaths transposed. A forward search on it from the targets is a backward search: its arrival is minus
    the latest departure. ``inseat``: with the in-seat links reversed (`_reversed_links`)."""
    key = _REVERSED[inseat]
    hit = model.__dict__.get(key)
    return hit if hit is not None else _cached(model, key, lambda m: _reversed(m, inseat))


def clock_of(model, tt: Timetable) -> int | None:
    """0 for one of the model's cached forward timetables, 1 for a reversed one, None for another timetable."""
    d = model.__dict__
    if any(tt is d.get(k) for k in _FORWARD):
        return 0
    if any((hit := d.get(k)) is not None and tt is hit[0] for k in _REVERSED):
        return 1
    return None


def _reversed(model, inseat: bool) -> tuple[Timetable, Reversal]:
    head, plen = _cached(model, "_reversed_parts", _reversed_parts)
    links = _reversed_links(model, _trip_of(model.trip_pattern, model.pattern_trips_start), plen) if inseat \
        else _no_links(model)
    tt = Timetable(*head, *links, _reversed_dep_by_pos(model),
                   _ordered_of(model), _open_of(model, model.st_pickup, model.st_dropoff))
    return tt, Reversal(model.trip_pattern, model.pattern_trips_start)


def _reversed_parts(model) -> tuple[tuple, np.ndarray]:
    """The reversed timetable's fields before its in-seat links (cached per model: its timetables with and
    without links share them, all-Tokyo: 7.4 MiB of arrivals a day for a server asked both ways) and
    its patterns' lengths. Its departures are `_reversed_dep_by_pos`'s only."""
    pss = np.asarray(model.pattern_stops_start, np.int64)
    pts = np.asarray(model.pattern_trips_start, np.int64)
    ptimes = np.asarray(model.pattern_times_start, np.int64)
    n_pat = len(pss) - 1
    plen = np.diff(pss)
    pn = np.diff(pts)
    # stops: position i' of p is position L-1-i'
    hop_p = np.repeat(np.arange(n_pat), plen)
    hop_i = np.arange(len(model.pattern_stops)) - pss[hop_p]
    stops_rev = np.asarray(model.pattern_stops)[pss[hop_p] + plen[hop_p] - 1 - hop_i]
    # trips: j' = n-1-j
    trip_of = _trip_of(model.trip_pattern, pts)  # trip' → original (an involution; `Reversal`, not kept)
    # stop times: (p, j', i') is (p, n-1-j', L-1-i'), i.e. each pattern's trip-major block read backwards (no
    # flat index arrays: int64 temporaries of 15 MiB each on all-Tokyo, whose freed pages a serving process kept)
    st_arr = np.empty(len(model.st_arr), np.int32)  # (the model's departures negated, read by position)
    _reversed_times(model.pattern_stops_start, model.pattern_trips_start, ptimes, np.asarray(model.dep_by_pos),
                    st_arr, False)
    blocks = list(zip(ptimes.tolist(), (plen * pn).tolist()))

    def rev(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a)
        out = np.empty_like(a)
        for t0, size in blocks:
            out[t0:t0 + size] = a[t0:t0 + size][::-1]
        return out

    sp_pat = np.asarray(model.sp_pattern)
    sp_pos = (plen[sp_pat] - 1 - np.asarray(model.sp_pos)).astype(np.int32)
    # footpaths transposed
    n = model.n_stops
    fa = np.repeat(np.arange(n), np.diff(model.fp_start))
    order = np.lexsort((fa, np.asarray(model.fp_to)))
    fp_start = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(np.asarray(model.fp_to), minlength=n), out=fp_start[1:])
    # arrays equal to the model's (flags where every stop time allows both, symmetric footpaths) are the model's:
    # one copy each (all-Tokyo rail: -3.7 MiB a day)
    from routing.timetable import _shared_if_equal as same

    pickup = same(rev(model.st_dropoff), model.st_pickup, model.st_dropoff)
    dropoff = same(rev(model.st_pickup), model.st_dropoff, model.st_pickup, pickup)
    head = (model.pattern_stops_start, stops_rev.astype(np.int32), model.pattern_trips_start, ptimes,
            st_arr, pickup, dropoff,
            model.trip_pattern, same(np.asarray(model.trip_wheelchair)[trip_of], model.trip_wheelchair),
            model.sp_start, sp_pat, sp_pos, same(fp_start, model.fp_start),
            same(fa[order].astype(np.int32), model.fp_to), same(np.asarray(model.fp_dist)[order], model.fp_dist),
            same(np.asarray(model.fp_fixed_s)[order], model.fp_fixed_s),
            np.asarray(model.stop_min_transfer, np.int32), model.stop_wheelchair)
    return head, plen


def _reversed_links(model, trip_of: np.ndarray, plen: np.ndarray) -> tuple:
    """In-seat links with time running backwards: the forward link a (its last stop) → b (at position q) is
    b' (at position len(b)-1-q) → a' (its first position, i.e. a's last stop). The kernel follows links from a
    trip's last stop (as GTFS defines them forwards), so only links onto b's first stop are kept (every link of
    the real feeds; a to_stop_id later in b is followed forwards only). In-seat classes as the model's
    (`routing.timetable._inseat_classes`), on the reversed trip order."""
    from types import SimpleNamespace

    from routing.timetable import _inseat_classes

    n_trips = model.n_trips
    a = np.repeat(np.arange(n_trips), np.diff(np.asarray(model.inseat_start, np.int64)))
    b = np.asarray(model.inseat_to_trip, np.int64)
    fpos = np.asarray(model.inseat_from_pos, np.int64)
    tpos = np.asarray(model.inseat_to_pos, np.int64)
    trip_pattern = np.asarray(model.trip_pattern, np.int64)
    keep = tpos == 0
    a, b, fpos = a[keep], b[keep], fpos[keep]
    ra, rb = trip_of[b].astype(np.int64), trip_of[a].astype(np.int64)  # from b', to a'
    rfpos = plen[trip_pattern[b]] - 1  # b's first stop is the last of b'
    rtpos = plen[trip_pattern[a]] - 1 - fpos  # a's last stop is the first of a'
    order = np.lexsort((rfpos, ra))
    ra, rb, rfpos, rtpos = ra[order], rb[order], rfpos[order], rtpos[order]
    start = np.zeros(n_trips + 1, np.int32)
    np.cumsum(np.bincount(ra, minlength=n_trips), out=start[1:])
    ns = SimpleNamespace(n_trips=n_trips, n_patterns=model.n_patterns, inseat_start=start,
                         inseat_to_trip=rb.astype(np.int32), inseat_to_pos=rtpos.astype(np.int32),
                         trip_pattern=model.trip_pattern, pattern_trips_start=model.pattern_trips_start)
    cls, per_pattern, after = _inseat_classes(ns)
    # (where every link joins a trip's last stop to the next one's first, as on all real feeds, the to-positions
    # are all 0 both ways: one copy)
    from routing.timetable import _shared_if_equal as same

    return (start, rb.astype(np.int32), rfpos.astype(np.int32), same(rtpos.astype(np.int32), model.inseat_to_pos),
            cls, per_pattern, after)


def reverse_mask(model, mask: ClosureMask) -> ClosureMask:
    """A closure mask on the reversed timetable's clock: [f, u) becomes [1-u, 1-f), hop pos ↔ L-2-pos."""
    def flip(f, u):
        f, u = np.asarray(f, np.int64), np.asarray(u, np.int64)
        shut = f != u
        return np.where(shut, 1 - u, 0).astype(np.int64), np.where(shut, 1 - f, 0).astype(np.int64)

    pss = np.asarray(model.pattern_stops_start, np.int64)
    plen = np.diff(pss)
    hop_p = np.repeat(np.arange(len(plen)), plen)
    hop_i = np.arange(len(model.pattern_stops)) - pss[hop_p]
    src = pss[hop_p] + np.maximum(plen[hop_p] - 2 - hop_i, 0)  # the last position has no hop
    sf, su = flip(mask.stop_from, mask.stop_until)
    hf, hu = flip(np.asarray(mask.hop_from)[src], np.asarray(mask.hop_until)[src])
    last = hop_i == plen[hop_p] - 1
    hf[last], hu[last] = 0, 0
    return ClosureMask(sf, su, hf, hu, mask.street_edge_closed)
