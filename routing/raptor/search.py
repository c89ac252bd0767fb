"""The Python side of a search: `run_raptor` (one earliest-arrival search) and `range_raptor` (Range RAPTOR over a
departure window; backward, arrive-by), each one kernel call (`profile.range_search_flat`) with the query's rules
as a plain tuple and this thread's pooled labels and buffers (`pools`), its journey rows made Journeys in real
time. Tuning read at each search: `CUT_AFTER_RUNS` (the latest-boarding cut), `LATE_BOUND_RUNS`,
`LATE_BOUND_ROUTES` and `LATE_BOUND_SAVES` (when the time-dependent bound pays).
"""
from __future__ import annotations

import numpy as np

from routing.masks import ClosureMask
from routing.raptor.arrays import Reversal, reverse_mask, reversed_timetable, timetable_of
from routing.raptor.journeys import LEG_WALK, new_output
from routing.raptor.pools import _POOL, _bounds_for, _keep_bounds, _labels_and_records, _lru_get, _lru_put, _pooled
from routing.raptor.profile import late_bounds_flat, range_search_flat
from routing.raptor.query import Counters, Journey, RaptorQuery, RaptorResult, RideLeg, WalkLeg
from routing.raptor.state import (C_CUT, C_IMPROVED, C_LATE, C_ROUNDS, C_ROUTES, C_RUNS, C_STOPS, INF, Cutter, Labels,
                                  Timetable, walk_seconds)


# Runs of a range search before the latest-boarding cut starts (`Cutter`; 0: never). Its copies of the board labels
# cost about what the routes it leaves unqueued would in a window's first runs
CUT_AFTER_RUNS = 16


def _cutter(n_stops: int, rounds: int) -> Cutter:
    """The latest-boarding cut with this thread's board array for this size (all INF between searches: the
    kernel sets back what it wrote), ``CUT_AFTER_RUNS`` as read now."""
    after = int(CUT_AFTER_RUNS)
    if after <= 0:
        return Cutter(np.int64(0), _NO_BOARD)
    pool = _pooled("cut", dict)
    cut = _lru_get(pool, (n_stops, rounds))  # (the Cutter kept with its board: a search asks for the same one)
    if cut is None:
        cut = _lru_put(pool, (n_stops, rounds), Cutter(np.int64(after), np.full((rounds, n_stops), INF, np.int64)))
    elif cut.after != after:
        cut = _lru_put(pool, (n_stops, rounds), Cutter(np.int64(after), cut.board))
    return cut


_NO_BOARD = np.empty((0, 0), np.int64)
_NO_LATE = np.empty((0, 0), np.int64)

# The time-dependent target bound (`late_bounds`: plain runs on the reversed timetable, one per distinct result) is
# worked out after a range search's first run when it pays for itself (`profile._late_pays`): the runs to go times
# LATE_BOUND_SAVES (the routes a later run of a long trip scans, which the bound mostly spares: alike on all-Tokyo
# and tokyo4, ~1.5k) at least the backward runs' cost (distinct results × the first run's routes), the first run
# having scanned at least LATE_BOUND_ROUTES routes per pattern of the timetable (all-Tokyo 3,966, tokyo4 15,862: a
# long trip; a short one's later runs scan little, so its bound spares little however many; the central mix's first
# runs stay below); or, as before, more than LATE_BOUND_MANY_RUNS runs after a first run of LATE_BOUND_MANY_ROUTES
# (many cheap later runs: tokyo4's second windows and arrive-by windows of hundreds of departures, which the cost
# rule alone leaves out: tokyo4 p95 1.11x-1.16x). LATE_BOUND_RUNS: with no more runs, never. Each window search of
# 300 all-Tokyo and 200 tokyo4 plans replayed with and without the bound (CPU, min of 3): it loses on 2-7 runs
# whatever the routes and wins from ~9 runs on all-Tokyo's long country trips (later runs ~0.3 of a first run), but
# on tokyo4 (first runs ~20k routes, later ones ~0.08 of it) needs 14+: so a cost ratio, not a run count, nor runs ×
# routes (at best 0.97x all-Tokyo search time, 1.00x tokyo4). Against "more than 16 runs, 3000 routes" (the same
# answers), per plan the least CPU of 3 (an untimed plan first, variants' order rotated), p50 / p95 / p99: all-Tokyo
# 1.00x / 0.85x / 0.83x (300 plans; its slowest 5 % 0.81x), central mix 1.01x / 0.99x / 1.01x (600), tokyo4 1.00x /
# 1.03x / 1.04x (200; slowest 5 % 0.99x); bench_plan_tail --ab --cpu (medians of 5 / 5 / 3 reps, noisier): all-Tokyo
# 1.00x / 0.94x / 1.03x, central 0.99x / 0.96x / 0.94x, tokyo4 0.98x / 0.97x / 0.95x. Deciding after the second run
# from its routes instead (the later runs' work seen): all-Tokyo 1.02x / 1.01x / 1.00x, tokyo4 p99 1.69x (a cheap
# second run hides costly later ones). Starting the latest-boarding cut (`CUT_AFTER_RUNS`) at run 1 instead of 16
# (the window searches replayed): all-Tokyo CPU 1.01x, tokyo4 (with the bound) 1.00x; so it stays
LATE_BOUND_RUNS = 1
LATE_BOUND_ROUTES = 1.75
LATE_BOUND_SAVES = 2000
LATE_BOUND_MANY_RUNS = 16
LATE_BOUND_MANY_ROUTES = 3000


def _mask_arrays(model, mask: ClosureMask | None, reverse: bool) -> tuple[bool, tuple]:
    """(any closure at all, the four window arrays as int64 on the search's clock), cached per mask object: a
    service's masks live until the closures change, and every plan (and each of its searches) asks again."""
    if mask is None:
        closures = False
    else:
        cache = model.__dict__.setdefault("_mask_arrays", {})
        hit = _lru_get(cache, (id(mask), reverse), mask)
        if hit is not None:
            return hit
        closures = bool(np.any(mask.stop_from != mask.stop_until) or np.any(mask.hop_from != mask.hop_until))
    if not closures:
        opened = model.__dict__.get("_open_mask64")
        if opened is None:
            z_s, z_h = np.zeros(model.n_stops, np.int64), np.zeros(model.n_hops, np.int64)
            opened = model.__dict__["_open_mask64"] = (z_s, z_s, z_h, z_h)
        out = (False, opened)
    else:
        m = reverse_mask(model, mask) if reverse else mask
        out = (True, tuple(np.asarray(a, np.int64) for a in (m.stop_from, m.stop_until, m.hop_from, m.hop_until)))
    if mask is not None:
        _lru_put(cache, (id(mask), reverse), out, mask)
    return out


def _walk_secs(model, tt: Timetable, speed: float) -> np.ndarray:
    """`walk_seconds` of the timetable's footpaths at this speed, cached per model, footpath arrays and speed
    (the forward and reversed timetables share the model's when their order is the same): every search of a
    plan asks again, with the same speed."""
    cache = model.__dict__.setdefault("_walk_secs", {})
    key = (id(tt.fp_dist), id(tt.fp_fixed_s), float(speed))
    hit = _lru_get(cache, key, tt.fp_dist)
    if hit is None:
        hit = _lru_put(cache, key, walk_seconds(tt.fp_dist, tt.fp_fixed_s, speed), tt.fp_dist)
    return hit


def _flat_rules(model, q: RaptorQuery, reverse: bool, bounds: np.ndarray, latest: Cutter,
                late: np.ndarray | None = None, tt: Timetable | None = None) -> tuple:
    """The query's `Rules` as `range_search_flat` takes them: a plain tuple of its fields, the Cutter a plain
    tuple at the end. ``bounds``: `_bounds_for`'s rows; ``late``: `late_bounds`' (none: 0 × 0); ``tt``: the
    search's timetable (none: the model's of that clock, for the query's in-seat choice)."""
    closures, arrays = _mask_arrays(model, q.mask, reverse)
    if q.pattern_allowed is not None:
        allowed = np.asarray(q.pattern_allowed, np.bool_)
    else:
        allowed = model.__dict__.get("_all_patterns")
        if allowed is None:
            allowed = model.__dict__["_all_patterns"] = np.ones(model.n_patterns, np.bool_)
    if tt is None:
        tt = reversed_timetable(model, q.inseat)[0] if reverse else timetable_of(model, q.inseat)
    return (*arrays, allowed, bool(q.wheelchair), np.int64(q.min_transfer_s), float(q.walk_speed), closures,
            bool(q.report_walks), bounds[0], bounds[1], bounds[2], bounds[3],
            _NO_LATE if late is None else late, _walk_secs(model, tt, q.walk_speed),
            np.int64(-q.rides_since if reverse else q.rides_until), _pattern_spans(model, closures, arrays, tt),
            (latest.after, latest.board))


def _pattern_spans(model, closures: bool, arrays: tuple, tt: Timetable) -> np.ndarray:
    """`Rules.pattern_span` of the mask's window arrays (``arrays``, on ``tt``'s clock): per pattern the span of
    its stops' and hops' windows joined, along the in-seat links, with those of every pattern its trips go on to.
    Cached per mask arrays and timetable (every plan asks again until the closures change). A scan of a pattern
    whose span its trip does not meet, or that starts after the round's result, reads no closure: with a few
    closures most patterns have none (all-Tokyo, 10 closures: plans' p50 0.7x, p99 0.35x)."""
    n_pat = len(tt.pattern_stops_start) - 1
    if not closures:
        hit = model.__dict__.get("_open_spans")
        if hit is None or len(hit) != n_pat:
            hit = model.__dict__["_open_spans"] = np.zeros((n_pat, 2), np.int64)
        return hit
    cache = model.__dict__.setdefault("_pattern_spans", {})
    key = (id(arrays[0]), id(tt.pattern_stops_start), id(tt.inseat_start))
    hit = _lru_get(cache, key, arrays)
    if hit is None:
        lo, hi = _spans(arrays, np.asarray(tt.pattern_stops), np.asarray(tt.pattern_stops_start, np.int64))
        # a pattern whose times may go back spans all time: a ride on it may come back before a closure it met
        # (`rounds._closures_matter` leaves closures out only where they start after the round's result)
        unordered = ~np.asarray(tt.pattern_ordered, np.bool_)
        lo[unordered], hi[unordered] = np.iinfo(np.int64).min, np.iinfo(np.int64).max
        lo, hi = _chain_spans(tt, lo, hi)
        none = lo >= hi
        hit = _lru_put(cache, key, np.stack([np.where(none, 0, lo), np.where(none, 0, hi)], 1), arrays)
    return hit


def _chain_spans(tt: Timetable, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pattern's span joined with those of the patterns its trips go on to in-seat (pattern of the to-trip →
    pattern of the from-trip), links of links too: until nothing changes. (Spans as `_spans` gives them.)"""
    starts = np.asarray(tt.inseat_start, np.int64)
    to_trip = np.asarray(tt.inseat_to_trip, np.int64)
    if len(to_trip) == 0:
        return lo, hi
    trip_pattern = np.asarray(tt.trip_pattern, np.int64)
    edges = np.unique(np.stack([trip_pattern[np.repeat(np.arange(len(starts) - 1), np.diff(starts))],
                                trip_pattern[to_trip]], 1), axis=0)
    while True:
        lo2, hi2 = lo.copy(), hi.copy()
        np.minimum.at(lo2, edges[:, 0], lo[edges[:, 1]])
        np.maximum.at(hi2, edges[:, 0], hi[edges[:, 1]])
        if (lo2 == lo).all() and (hi2 == hi).all():
            break
        lo, hi = lo2, hi2
    return lo, hi


def _spans(arrays: tuple, stops: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pattern the least start and the greatest end of its stops' and hops' windows, int64 (none: the
    greatest int64 and its negation, which the minimum and maximum of a join pass over)."""
    if not len(stops):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    sf, su, hf, hu = arrays
    big = np.iinfo(np.int64).max
    s_open, h_open = sf >= su, hf >= hu
    last = start[1:] - 1  # (no hop from a pattern's last stop: its slot is not read)
    h_lo, h_hi = np.where(h_open, big, hf)[:len(stops)], np.where(h_open, -big, hu)[:len(stops)]
    h_lo[last], h_hi[last] = big, -big
    lo = np.minimum(np.where(s_open, big, sf)[stops], h_lo)
    hi = np.maximum(np.where(s_open, -big, su)[stops], h_hi)
    return np.minimum.reduceat(lo, start[:-1]), np.maximum.reduceat(hi, start[:-1])


_new = tuple.__new__  # a named tuple from a plain one without its Python-level __new__ (80 ns, not 190)


def _journeys_legs(rows: list, raw: list, rev: Reversal | None, model) -> list[tuple]:
    """Each journey row's legs in real time, earliest first: kernel leg rows (each journey's latest first) →
    RideLeg and WalkLeg. Forward, all rows are decoded in one pass and each journey's legs are a slice of them
    reversed; backward, see `_backward_legs`."""
    if rev is not None:
        return [_backward_legs(raw[s:s + n], rev, model) for _run, _k, _tau, s, n, _src, _tgt, _arr in rows]
    built = [_new(WalkLeg, (frm, to, dep, arv)) if kind == LEG_WALK
             else _new(RideLeg, (p, trip, bpos, apos, frm, to, dep, arv, seated == 1))
             for kind, frm, to, p, trip, bpos, apos, seated, dep, arv in reversed(raw)]
    end = len(built)  # (row r of ``raw`` is entry end - 1 - r of ``built``)
    return [tuple(built[end - s - n:end - s]) for _run, _k, _tau, s, n, _src, _tgt, _arr in rows]


def _backward_legs(raw: list, rev: Reversal, model) -> tuple:
    """A backward search's leg rows of one journey: latest first in reversed time is earliest first in real
    time; positions and trips mapped back (`reversed_timetable`)."""
    built = []
    seated_next = False  # a ride continued in its seat backwards: the next leg in real time stays seated
    plen = _pattern_lens(model)
    trip_of = rev.trip
    for kind, frm, to, p, trip, bpos, apos, seated, dep, arv in raw:
        if kind == LEG_WALK:
            built.append(_new(WalkLeg, (to, frm, -arv, -dep)))
            seated_next = False
        else:
            L = plen[p]
            built.append(_new(RideLeg, (p, trip_of(trip), L - 1 - apos, L - 1 - bpos, to, frm, -arv, -dep,
                                        seated_next)))
            seated_next = seated == 1
    return tuple(built)


def _pattern_lens(model) -> list[int]:
    """Each pattern's number of stops (`TransitModel.pattern_len`) as a list, cached per model: a backward
    search's every ride leg asks."""
    lens = model.__dict__.get("_pattern_lens")
    if lens is None:
        lens = model.__dict__["_pattern_lens"] = np.diff(np.asarray(model.pattern_stops_start, np.int64)).tolist()
    return lens


def _counters(lab: Labels) -> Counters:
    return _new(Counters, lab.counters.tolist()[:_N_COUNTERS])  # (one tuple, no per-field reads)


_N_COUNTERS = len(Counters._fields)
if (C_ROUNDS, C_ROUTES, C_IMPROVED, C_RUNS, C_CUT, C_STOPS, C_LATE) != tuple(range(_N_COUNTERS)):
    raise ImportError("the kernel's counter row (state.C_*) is not in the order of Counters' fields")


def _min_by_stop(stops, values) -> dict[int, int]:
    out: dict[int, int] = {}
    for s, v in zip(np.asarray(stops).tolist(), np.asarray(values).tolist()):
        out[s] = min(v, out.get(s, v))
    return out


def _search(model, tt: Timetable, q: RaptorQuery, reverse: bool, src_stops: np.ndarray, access: np.ndarray,
            t0: int, t1: int, bound: int = INF) -> tuple[Labels, list, list, int, int]:
    """One `range_search` with this thread's pooled labels and buffers: (labels, journey rows, leg rows,
    departures in the window, the first run's departure)."""
    tgt, egress = _target_arrays(q)
    lb, known = _bounds_for(model, tt, q, tgt, egress)
    rounds = int(max(0, q.max_rides)) + 1
    rules = _flat_rules(model, q, reverse, lb, _cutter(model.n_stops, rounds), tt=tt)
    lab, recs = _labels_and_records(model, tt, rounds)
    # seat segments: the kernel grows them to rounds × in-seat links (on all-Tokyo 11 MB, too much to allocate
    # and fault in per search)
    seg = getattr(_POOL, "seg", None)
    if seg is None:
        seg = np.empty((1, 6), np.int32)
    out = getattr(_POOL, "out", None)
    if out is None:
        out = new_output(64, 1024)
    tune = (int(LATE_BOUND_RUNS) if bound >= INF and _late_ok(model, q, reverse) else 1 << 62,
            int(round(LATE_BOUND_ROUTES * model.n_patterns)), int(LATE_BOUND_SAVES), int(LATE_BOUND_MANY_RUNS),
            int(LATE_BOUND_MANY_ROUTES))
    seg2, out2, n_departures, first_tau, paused = range_search_flat(
        recs, rules, seg, tuple(out), src_stops, access, tgt, egress, known, int(t0), int(t1), int(bound), False,
        tune)  # (Python ints: typed int64 as np.int64 is, without making numpy scalars a call)
    if out2 is not None:  # (grown: the kernel's new arrays, else the ones it filled)
        out = out2
    seg = seg if seg2 is None else seg2
    if paused:  # the first run found results, scanning routes enough: the time-dependent bound, then the other runs
        late = _late_for(model, tt, q, reverse, lb[1], lab.res_t, src_stops, access, tgt, egress, t0, rounds)
        rules = _flat_rules(model, q, reverse, lb, _cutter(model.n_stops, rounds), late, tt)
        seg2, out2, n_departures, first_tau, _ = range_search_flat(
            recs, rules, seg, tuple(out), src_stops, access, tgt, egress, True, int(t0), int(t1), int(bound), True,
            tune)
        if out2 is not None:
            out = out2
        seg = seg if seg2 is None else seg2
    _POOL.seg, _POOL.out = seg, out
    if not known:
        _keep_bounds(model, tt, q, tgt, egress, lb)
    used_j, used_l = out.used.tolist()
    return lab, out.journeys[:used_j].tolist(), out.legs[:used_l].tolist(), n_departures, int(first_tau)


def _late_ok(model, q: RaptorQuery, reverse: bool) -> bool:
    """Whether `late_bounds` may run for this query: the other clock's in-seat links include this one's (the
    reversed timetable keeps the links onto a trip's first stop only, `_reversed_links`). Closures do not matter:
    the bound is worked out without them, and they only take journeys away or make them later (a walk waits)."""
    if not q.inseat or reverse:
        return True
    ok = model.__dict__.get("_late_links_ok")
    if ok is None:
        ok = model.__dict__["_late_links_ok"] = not bool(np.any(np.asarray(model.inseat_to_pos) != 0))
    return ok


def _late_for(model, tt: Timetable, q: RaptorQuery, reverse: bool, rides: np.ndarray, res_t: np.ndarray,
              src_stops: np.ndarray, access: np.ndarray, tgt: np.ndarray, egress: np.ndarray, t0: int,
              rounds: int) -> np.ndarray:
    """`late_bounds` for a paused range search on ``tt`` (the search's own clock): this thread's array, filled."""
    if reverse:
        other = timetable_of(model, q.inseat)
    else:
        other = reversed_timetable(model, q.inseat)[0]
    relaxed = RaptorQuery(q.src_stops, q.src_times, q.tgt_stops, q.tgt_egress, q.max_rides, q.pattern_allowed,
                          wheelchair=False, min_transfer_s=0, walk_speed=q.walk_speed, mask=None, inseat=q.inseat,
                          report_walks=False)
    pool = _pooled("late", dict)
    n = model.n_stops
    # the lower bounds and fewest rides towards the search's sources on the other clock: the same for each window of
    # a plan
    key = (id(other), src_stops.tobytes(), access.tobytes(), float(q.walk_speed))
    hit = _lru_get(pool, ("bounds", n), other)  # [key of the bounds filled, the array]
    if hit is None:
        hit = _lru_put(pool, ("bounds", n), [None, np.empty((4, n), np.int64)], other)
    known, bounds = hit[0] == key, hit[1]
    hit[0] = None  # (filled again below, unless the kernel call fails)
    late = _lru_get(pool, ("late", n, rounds))
    if late is None:
        late = _lru_put(pool, ("late", n, rounds), np.empty((rounds, n), np.int64))
    rules_o = _flat_rules(model, relaxed, not reverse, bounds, Cutter(np.int64(0), _NO_BOARD), tt=other)
    _, recs_o = _labels_and_records(model, other, rounds)
    # seat segments: grown by the kernel for this call and dropped after it (not pooled: on all-Tokyo they would
    # keep another 11 MB a planner thread, for the few long searches that work the bound out)
    late_bounds_flat(recs_o, rules_o, np.empty((1, 6), np.int32), tgt, egress, src_stops, access,
                     np.asarray(res_t, np.int64).copy(), rides, np.int64(t0), late, known)
    hit[0] = key
    return late


def warm_late_bounds(model, q: RaptorQuery, t: int) -> None:
    """Compile (or load from numba's cache) `late_bounds` on both clocks: a bound for one result at t + 1 h with
    ``q`` (a plan's warm-up: few of its searches have runs enough to work it out, so it would compile in the
    first long search a server answers)."""
    rounds = int(max(0, q.max_rides)) + 1
    res = np.full(rounds, INF, np.int64)
    res[-1] = int(t) + 3600
    rides = np.ones(model.n_stops, np.int64)
    for reverse in (False, True):
        tt = reversed_timetable(model, q.inseat)[0] if reverse else timetable_of(model, q.inseat)
        _late_for(model, tt, q, reverse, rides, res, np.asarray(q.src_stops, np.int64),
                  np.asarray(q.src_times, np.int64), np.asarray(q.tgt_stops, np.int64),
                  np.asarray(q.tgt_egress, np.int64), int(t), rounds)


def run_raptor(model, q: RaptorQuery) -> RaptorResult:
    """One earliest-arrival RAPTOR search; pure, thread-safe, the kernel releases the GIL."""
    tt = timetable_of(model, q.inseat)
    src_stops = np.asarray(q.src_stops, np.int64)
    src_times = np.asarray(q.src_times, np.int64)
    t0 = int(src_times.min()) if len(src_times) else 0
    lab, rows, legs, _, _ = _search(model, tt, q, False, src_stops, src_times - t0, t0, t0 - 1)
    first = _min_by_stop(src_stops, src_times)
    egress = _min_by_stop(q.tgt_stops, q.tgt_egress)
    res = []
    for (_run, k, _tau, _s, _n, src, tgt, arr), lg in zip(rows, _journeys_legs(rows, legs, None, model)):
        res.append(_new(Journey, (k, src, first.get(src, 0), tgt, arr - egress[tgt], arr, lg)))
    return RaptorResult(res, _counters(lab), lab.res_t.copy())


def range_raptor(model, q: RaptorQuery, t0: int, window_s: int, backward: bool = False,
                 bound: int | None = None) -> RaptorResult:
    """Range RAPTOR: ``q.src_stops`` with ``q.src_times`` as access seconds, departures in [t0, t0 + window_s]
    and a last run at t0 itself: every journey no later departure beats (Pareto over departure, arrival and
    rides; each leaves as late as it can).

    ``backward``: the same on the reversed timetable, for arrive-by: ``q.src_*`` are the destination's stops
    with their egress seconds, ``q.tgt_*`` the origin's with their access seconds, ``t0`` the latest arrival and
    the window runs back from it; each journey arrives as early as it can for its departure. Journeys come back
    in real time, legs from the origin.

    ``bound``: only journeys strictly better than it, arriving before it (backward: leaving after it), for
    every number of rides: the kernel prunes against it as against a journey already found (the labels' result
    times start there instead of infinity)."""
    if backward:
        tt, rev = reversed_timetable(model, q.inseat)
        start = -int(t0)
    else:
        tt, rev = timetable_of(model, q.inseat), None
        start = int(t0)
    src_stops, access, src_extra, tgt_extra = _query_arrays(q)
    lab, rows, legs, n_departures, first_tau = _search(model, tt, q, backward, src_stops, access, start,
                                                       start + max(0, int(window_s)),
                                                       INF if bound is None else (-int(bound) if backward
                                                                                  else int(bound)))
    # src_extra: access (forward) or egress (backward) of the run's sources
    res = []
    for (_run, k, tau, _s, _n, src, tgt, arr), lg in zip(rows, _journeys_legs(rows, legs, rev, model)):
        if rev is None:
            res.append(_new(Journey, (k, src, tau + src_extra[src], tgt, arr - tgt_extra[tgt], arr, lg)))
        else:  # the run went from the destination stop ``src`` back to the origin stop ``tgt``
            at_origin = -arr + tgt_extra[tgt]
            reach = lg[-1].arrival if lg else at_origin
            res.append(_new(Journey, (k, tgt, at_origin, src, reach, reach + src_extra[src], lg)))
    first = None if n_departures == 0 else (-first_tau if backward else first_tau)
    return RaptorResult(res, _counters(lab), lab.res_t.copy(), n_departures, first)


def _query_arrays(q: RaptorQuery) -> tuple[np.ndarray, np.ndarray, dict[int, int], dict[int, int]]:
    """(source stops, their times as int64, the least time per source stop, the least egress per target stop),
    worked out once per query (`RaptorQuery._arrays`): a plan searches the same query in several windows.
    Kept while the query holds the same four arrays."""
    return _arrays_of(q)[0]


def _target_arrays(q: RaptorQuery) -> tuple[np.ndarray, np.ndarray]:
    """(target stops, their egress seconds) as int64, cached as `_query_arrays`."""
    return _arrays_of(q)[1]


def _arrays_of(q: RaptorQuery) -> tuple[tuple, tuple]:
    hit = q._arrays
    if hit is None or hit[0][0] is not q.src_stops or hit[0][1] is not q.src_times or \
            hit[0][2] is not q.tgt_stops or hit[0][3] is not q.tgt_egress:
        src_stops = np.asarray(q.src_stops, np.int64)
        access = np.asarray(q.src_times, np.int64)
        hit = q._arrays = ((q.src_stops, q.src_times, q.tgt_stops, q.tgt_egress),
                           ((src_stops, access, _min_by_stop(src_stops, access),
                             _min_by_stop(q.tgt_stops, q.tgt_egress)),
                            (np.asarray(q.tgt_stops, np.int64), np.asarray(q.tgt_egress, np.int64))))
    return hit[1]


def earliest(model, q: RaptorQuery) -> list[Journey]:
    """Pareto set (arrival, rides) for one departure time."""
    return run_raptor(model, q).pareto()
