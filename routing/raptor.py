"""RAPTOR (Delling, Pajor, Werneck 2012) over the TransitModel arrays, compiled with numba (nogil, cached).

The search works on three typed records of arrays (numba named tuples), so each phase reads like the paper:
  Timetable – the model's arrays the search reads (`timetable_of`; `reversed_timetable` for backward search)
  Rules     – one query's filters: closures, allowed patterns (modes), wheelchair, change time, walking speed
  Labels    – the search state, one row per round k (k = rides): every label means "best with at most k rides"
Each round k runs three phases: `scan_routes` (board the earliest trip from the stops improved in round k-1 and
ride it), `follow_inseat_links` (continue a ride in the same vehicle, transfers.txt type 4), `relax_footpaths`
(same-stop changes and one footpath from each stop reached by a ride). Per round and stop three labels are kept:
  ride  – arrived by vehicle (pattern, trip, boarding and alighting positions, the boarding label's round)
  walk  – arrived on foot by one footpath from a ride of the same round (round 0: from a source)
  board – earliest time one may board there: a source, a ride plus the change time, or a walk plus it
Transfer rule (one for every change): after a ride arriving at s at time a, the next vehicle may leave
  s itself at a + max(min_transfer_s, the feed's same-stop time for s)
  u ≠ s    at a + max(min_transfer_s, walk(s, u))
where walk(s, u) = max(the feed's min_transfer_time for the pair, distance / walking speed): a feed time never
makes a walker faster than the speed asked for. A walk that ends a journey (or starts it) is just walk(s, u).
Closures (`ClosureMask`) are windows checked against the times actually used; mode filter, wheelchair and closures
hold on in-seat continuations too. When the trip being ridden meets a closed hop or stop, the scan moves on to the
first later trip that can be ridden from the same boarding position.

Range RAPTOR (`raptor_range`): the departures from the sources within a window are searched latest first, the
labels kept between them (a later departure's arrivals bound an earlier one's); a journey is reported for a
departure only when it arrives strictly earlier, for its number of rides, than every later departure: so the
answers are the Pareto set over (departure, arrival, rides) and each leaves as late as it can. A last run at the
query time itself finds journeys that leave after the window (the first train of the morning). Arrive-by is the
same search on the time-reversed timetable (`reversed_timetable`): sources are the targets, time runs backwards.

Target pruning: a label is dropped when even the lower bound on the seconds from it to a target
(`lower_bounds`: per stop one for a ride label, one for a board label and one for a walk label, so a ride's bound
counts the change it needs and the dwell of staying on board) cannot beat the best result with its rides; a stop
whose board label needs more rides than that (`fewest_rides`) must beat the result of the round it would end in
(`_collect_routes`), and a route scan stops past its last queued stop once its trip cannot beat the target
(`scan_routes`). Those bounds ignore waiting; a range search with many runs (`LATE_BOUND_RUNS`) also gets a
time-dependent one after its first run (`late_bounds`: per round and stop the latest board label that may still
beat a result, from backward runs at the results found): most of its later runs then stop near the origin.

Reference counting: a numba function increfs every array of the records it is given on entry and decrefs them on
return (atomic operations: ~180 for Timetable, Rules and Labels), and a search makes about a hundred such calls
(phases per round, a run's emit). The functions that allocate nothing are compiled with ``_nrt=False``: no
reference counting at all, safe because their caller holds the records for the whole call and nothing they
make outlives it. Of a Toei plan this was half the kernel's time. A function that must allocate (a grown buffer,
a schedule) keeps NRT; one marked ``_nrt=False`` that allocates fails to compile, it does not misbehave.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.core.extending import intrinsic
from numba.experimental import structref

from routing.masks import ClosureMask

INF = np.int64(1 << 40)
NONE32 = np.int32((1 << 31) - 1)  # no label yet, in the int32 label times (Labels.ride_t, walk_t, board_t)
KIND_RIDE, KIND_WALK, KIND_SOURCE = 0, 1, 2  # result kinds
BOARD_SOURCE, BOARD_CHANGE, BOARD_WALK = 0, 1, 2  # how a board label was reached
LEG_RIDE, LEG_WALK = 0, 1
# counters (Labels.counters)
C_ROUNDS, C_ROUTES, C_IMPROVED, C_RUNS, C_CUT, C_STOPS, C_LATE = 0, 1, 2, 3, 4, 5, 6
_HELD = np.int32(1 << 30)  # Labels.qpos of a pattern queued only to keep its place (`_collect_routes`): the cut
_HELD_RIDES = np.int32((1 << 30) + 1)  # the same, held by a stop that needs more rides than the bound allows


class Timetable(NamedTuple):
    """The model's arrays the search reads (see TransitModel for their meaning)."""

    pattern_stops_start: np.ndarray
    pattern_stops: np.ndarray
    pattern_trips_start: np.ndarray
    pattern_times_start: np.ndarray
    st_arr: np.ndarray
    st_dep: np.ndarray
    st_pickup: np.ndarray
    st_dropoff: np.ndarray
    trip_pattern: np.ndarray
    trip_wheelchair: np.ndarray
    sp_start: np.ndarray
    sp_pattern: np.ndarray
    sp_pos: np.ndarray
    fp_start: np.ndarray
    fp_to: np.ndarray
    fp_dist: np.ndarray
    fp_fixed_s: np.ndarray
    stop_min_transfer: np.ndarray
    stop_wheelchair: np.ndarray
    inseat_start: np.ndarray
    inseat_to_trip: np.ndarray
    inseat_from_pos: np.ndarray
    inseat_to_pos: np.ndarray
    trip_inseat_class: np.ndarray
    pattern_inseat_classes: np.ndarray
    trip_inseat_classes_after: np.ndarray
    dep_by_pos: np.ndarray  # st_dep by pattern position: trip j's at stop i at pattern_times_start[p] + i*n + j
    pattern_ordered: np.ndarray  # per pattern: no trip's times go back (dwell and hops ≥ 0; `_patterns_where`)
    pattern_open: np.ndarray  # per pattern: every stop time allows pickup and drop-off (no flag to read)


class Cutter(NamedTuple):
    """The latest-boarding cut of a range search (`_collect_routes`). From run ``after`` on (0: never), a pattern
    is not queued from a marked stop s when none of its trips leaves s in [board_t[k-1, s], board[k-1, s]):
    ``board`` holds board labels of an earlier run of the same search, whose patterns were all scanned from
    there then, so boarding now catches a trip already ridden from s with no more rides (see `raptor_range`).
    ``board`` is rounds × stops, all INF between searches; the kernel fills it from run ``after`` - 1 on and
    sets it back to INF at the end (the dirty stops only)."""

    after: np.int64
    board: np.ndarray


class Rules(NamedTuple):
    """One query's rules. ``closures``: any closure window at all (else a later trip rides wherever an earlier
    one can); ``report_walks``: a journey without a ride counts as an answer (round 0 results);
    ``wait_out_closures``: a source closed at its time is entered when it opens (the backward search: arriving
    at the destination before it closes is arriving in time), else it is no source. ``latest``: the
    latest-boarding cut (`Cutter`)."""

    stop_from: np.ndarray
    stop_until: np.ndarray
    hop_from: np.ndarray
    hop_until: np.ndarray
    pattern_allowed: np.ndarray
    wheelchair: bool
    min_transfer_s: np.int64
    walk_speed: float
    closures: bool
    report_walks: bool
    wait_out_closures: bool
    lb: np.ndarray  # per stop: a lower bound on the seconds from arriving there by vehicle (a ride label, or on
    #                 board) to a target's result (INF: none; `lower_bounds`)
    rides: np.ndarray  # per stop: the fewest rides from boarding there to a target's result (`fewest_rides`)
    lb_board: np.ndarray  # per stop: the same from a board label there (ready to board: no change time left)
    lb_walk: np.ndarray  # per stop: the same from a walk label there (end the journey there, or board)
    late: np.ndarray  # rounds × stops: the latest board label at s of round k that may still beat a result
    #                   (`late_bounds`, time-dependent); 0 × 0 when the search has none
    latest: Cutter


class Labels(NamedTuple):
    """The search state: per round k (rows) and stop (columns) the best labels with at most k rides.

    A label improved in round k is written into the later rounds' rows too, up to the first row that holds one
    as good (rows only get better as k grows, so the rest do too): the paper copies every stop's labels into
    each new round; this writes only what improved, so a round (or a whole run) that improves nothing costs
    nothing, however many rounds the transfer limit allows. Only the rows a search's rounds have reached are kept
    so (`_keep_rows`): a deeper row joins as a copy of the last kept one. ``*_round`` says in which round a label
    was made; ride details are those of the round the ride was made in. ``res_*`` per round: the best arrival
    at a target with at most k rides. Scratch arrays (queues, marks) live here too so one allocation serves every
    run. Label times are int32 (model seconds fit; half the bytes a row), NONE32 where there is none."""

    ride_t: np.ndarray
    ride_round: np.ndarray
    ride_pat: np.ndarray
    ride_trip: np.ndarray
    ride_bpos: np.ndarray
    ride_apos: np.ndarray
    ride_bround: np.ndarray
    ride_seg: np.ndarray
    walk_t: np.ndarray
    walk_round: np.ndarray
    walk_from: np.ndarray
    board_t: np.ndarray
    board_round: np.ndarray
    board_kind: np.ndarray
    board_from: np.ndarray
    res_t: np.ndarray
    res_round: np.ndarray
    res_stop: np.ndarray
    res_kind: np.ndarray
    res_run: np.ndarray
    egress: np.ndarray
    marked: np.ndarray
    touched_run: np.ndarray
    touched: np.ndarray
    dirty: np.ndarray  # stops touched since the labels were last cleared (scalars[5] of them)
    ride_marked: np.ndarray
    ride_list: np.ndarray
    walk_seen: np.ndarray
    walk_list: np.ndarray
    qpos: np.ndarray
    qlast: np.ndarray  # per queued pattern: its last position queued from (a marked stop the cut kept)
    queue: np.ndarray
    cont: np.ndarray
    seat_stamp: np.ndarray
    seat_pos: np.ndarray
    dom_stamp: np.ndarray
    dom_j: np.ndarray
    dom_pos: np.ndarray
    main_stamp: np.ndarray
    main_j: np.ndarray
    main_pos: np.ndarray
    class_stamp: np.ndarray
    pattern_run: np.ndarray  # per pattern: the run whose departure time it has (range search, round 1 only)
    board_hint: np.ndarray  # per round and pattern: the trip its last scan in that round first boarded (any
    #                         search: only where `_first_departing` starts looking, never cleared)
    scalars: np.ndarray  # 0: touched count, 1: class stamp, 2: seat segments used, 3: run, 4: rides this round,
    #                      5: dirty count, 6: time-label rows kept (`_keep_rows`)
    counters: np.ndarray


@njit(nogil=True, cache=True, inline="always")
def _blk(f, u, a, b):
    """Interval [a, b] meets the blocked window [f, u) (f == u: open). Callers write
    ``rules.closures and _blk(rules.stop_from[s], ...)``: no array read when the query has no closure, and no
    record passed to an inlined function with branches (numba then keeps the reference counting of every array
    in it: 1.6x slower scans)."""
    return f < u and f <= b and a < u


@intrinsic
def _prefetch(typingctx, arr, i):
    """Ask the CPU to bring arr[i] into cache (a hint: no fault, no effect on results; any i). Where the next
    reads are known ahead but land on lines no recent search touched (a route's timetable rows and departure
    column, `scan_routes`), their latency then overlaps the work before them instead of stalling it."""
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        # (a read, kept in all cache levels, of data)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.void(arr, i), codegen


@njit(nogil=True, cache=True, inline="always")
def _walk_seconds(dist, fixed_s, speed):
    """Seconds to walk a footpath: the feed's time, never faster than the requested speed. (Scalars only: a
    helper given arrays or records costs 50–500 ns a call in numba, their reference counting; the hot loops
    therefore read the arrays themselves and call only scalar helpers, and `_label`, inlined, with two arrays.)"""
    return max(np.int64(np.ceil(dist / speed)), np.int64(fixed_s))


@njit(nogil=True, cache=True, _nrt=False)
def _walk_s(tt, rules, e):
    """Seconds to walk footpath e (see _walk_seconds; for the cold paths)."""
    return _walk_seconds(tt.fp_dist[e], tt.fp_fixed_s[e], rules.walk_speed)


@njit(nogil=True, cache=True, inline="always")
def _touch(lab, s, run):
    if lab.touched_run[s] != run:
        if lab.touched_run[s] < 0:  # first touch since the labels were cleared
            lab.dirty[lab.scalars[5]] = s
            lab.scalars[5] += 1
        lab.touched_run[s] = run
        lab.touched[lab.scalars[0]] = s
        lab.scalars[0] += 1


@njit(nogil=True, cache=True, inline="always")
def _label(t_arr, round_arr, k, s, t, top):
    """A label of time t at stop s made in round k: row k, and the later rounds' rows below ``top`` (the rows
    kept so far, `_keep_rows`) up to the first as good ("at most kk rides", see `Labels`): the one place the
    paper's copy of labels into later rounds is written. The caller writes the label's other fields in row k.
    (Given two arrays, not the record: see `_blk`.)"""
    t_arr[k, s] = t
    round_arr[k, s] = k
    for kk in range(k + 1, top):
        if t >= t_arr[kk, s]:
            break
        t_arr[kk, s] = t
        round_arr[kk, s] = k


@njit(nogil=True, cache=True, inline="always")
def _first_departing(dep, col, hi, t, hint):
    """The first trip j < hi leaving a pattern position at or after t (``dep[col + j]``: its departures by trip,
    sorted, FIFO), hi if none. The search gallops out from ``hint``, a trip caught near there before, then
    halves the last gap: one answer, as a binary search over [0, hi) gives, in a probe or two on one cache
    line when the hint is close instead of log2(hi) scattered ones (all-Tokyo: the route scans' boarding
    searches were a fifth of a range search's cycles, 5 probes each; 3 now). (Given the array, not the record:
    see `_blk`.)"""
    if hi <= 0:
        return hi
    x = min(max(hint, 0), hi - 1)
    lo = 0
    h = hi
    step = 1
    if dep[col + x] >= t:  # the answer is x or before
        h = x
        while x - step >= 0:
            if dep[col + x - step] < t:
                lo = x - step + 1
                break
            h = x - step
            step *= 2
    else:  # after x
        lo = x + 1
        while x + step < hi:
            if dep[col + x + step] >= t:
                h = x + step
                break
            lo = x + step + 1
            step *= 2
    while lo < h:
        mid = (lo + h) // 2
        if dep[col + mid] < t:
            lo = mid + 1
        else:
            h = mid
    return lo


@njit(nogil=True, cache=True, _nrt=False)
def _trip_ok_from(tt, rules, times0, L, j, bpos, upto, base):
    """Trip j of a pattern can be ridden from bpos to upto under the closures (boarding checked separately)."""
    for m in range(bpos, upto):
        off = times0 + j * L + m
        s = tt.pattern_stops[base + m]
        if m > bpos and (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s],
                                                 tt.st_arr[off], tt.st_dep[off])):
            return False
        h = base + m
        if (rules.closures and _blk(rules.hop_from[h], rules.hop_until[h], tt.st_dep[off], tt.st_arr[off + 1])):
            return False
    return True


@njit(nogil=True, cache=True, _nrt=False)
def _seat_links(tt, rules, lab, seg, n_cont, ta, i, p, bpos, bround, prev_seg, off, k, stamp, s):
    """Queue the in-seat continuations of trip ``ta`` (pattern p, boarded at bpos) at position i (flat time
    ``off``, stop s): the linked trip must be of an allowed mode (and accessible when asked), leave its to-stop
    no earlier, before the target bound, with neither stop closed then. Each accepted one gets a seat segment
    recording the ride on ``ta``.

    A linked trip is dominated when an earlier trip of its (FIFO) pattern, free of closures to its end, was
    queued this round from the same or an earlier position: that one arrives no later everywhere. A dominated
    trip is dropped, or, when it has links of its own, queued only to follow them (flag 1, no stop scan).
    The caller checks that ``ta`` can be ridden from bpos to i. Returns the new queue length."""
    a = np.int64(tt.st_arr[off])
    if a + rules.lb[s] >= lab.res_t[k] or (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s], a, a)):
        return n_cont
    for e in range(tt.inseat_start[ta], tt.inseat_start[ta + 1]):
        if tt.inseat_from_pos[e] != i:
            continue
        tb = tt.inseat_to_trip[e]
        pos = tt.inseat_to_pos[e]
        if lab.seat_stamp[tb] == stamp and lab.seat_pos[tb] <= pos:
            continue
        pb = tt.trip_pattern[tb]
        if not rules.pattern_allowed[pb]:
            continue
        jb = tb - tt.pattern_trips_start[pb]
        dominated = lab.dom_stamp[pb] == stamp and lab.dom_j[pb] <= jb and lab.dom_pos[pb] <= pos
        if dominated and tt.inseat_start[tb] == tt.inseat_start[tb + 1]:
            continue
        if rules.wheelchair and tt.trip_wheelchair[tb] != 1:
            continue
        base_b = tt.pattern_stops_start[pb]
        Lb = tt.pattern_stops_start[pb + 1] - base_b
        times_b = tt.pattern_times_start[pb]
        offb = times_b + jb * Lb + pos
        d = np.int64(tt.st_dep[offb])
        sb = tt.pattern_stops[base_b + pos]
        if d < a or d + rules.lb_board[sb] >= lab.res_t[k] \
                or (rules.closures and _blk(rules.stop_from[sb], rules.stop_until[sb], d, d)):
            continue
        last = tt.pattern_stops[base_b + Lb - 1]
        earlier = lab.dom_stamp[pb] != stamp or (jb <= lab.dom_j[pb] and pos <= lab.dom_pos[pb])
        if earlier and (not rules.closures or (
                _trip_ok_from(tt, rules, times_b, Lb, jb, pos, Lb - 1, base_b)
                and not (rules.closures and _blk(rules.stop_from[last], rules.stop_until[last],
                                                 tt.st_arr[offb - pos + Lb - 1],
                             tt.st_arr[offb - pos + Lb - 1])))):
            lab.dom_stamp[pb] = stamp
            lab.dom_j[pb] = jb
            lab.dom_pos[pb] = pos
        n_seg = lab.scalars[2]
        seg[n_seg, 0] = p
        seg[n_seg, 1] = ta
        seg[n_seg, 2] = bpos
        seg[n_seg, 3] = i
        seg[n_seg, 4] = bround
        seg[n_seg, 5] = prev_seg
        lab.cont[n_cont, 0] = tb
        lab.cont[n_cont, 1] = pos
        lab.cont[n_cont, 2] = n_seg
        lab.cont[n_cont, 3] = 1 if dominated else 0
        lab.seat_stamp[tb] = stamp
        lab.seat_pos[tb] = pos
        lab.scalars[2] = n_seg + 1
        n_cont += 1
    return n_cont


@njit(nogil=True, cache=True, inline="always")
def _links_pending(inseat_start, inseat_from_pos, inseat_to_trip, inseat_to_pos, trip_pattern, pattern_trips_start,
                   pattern_allowed, seat_stamp, seat_pos, dom_stamp, dom_j, dom_pos, e0, e1, i, stamp):
    """Whether `_seat_links` would look further at any of the links e0..e1 leaving position i: one to a trip of
    an allowed pattern not queued this round from as early, nor dominated without links of its own (the cheap
    part of its checks: when none is left it queues nothing, and the call is skipped).
    (Arrays, not records: see `_walk_seconds`.)"""
    for e in range(e0, e1):
        if inseat_from_pos[e] != i:
            continue
        tb = inseat_to_trip[e]
        pos = inseat_to_pos[e]
        if seat_stamp[tb] == stamp and seat_pos[tb] <= pos:
            continue
        pb = trip_pattern[tb]
        if not pattern_allowed[pb]:
            continue
        jb = tb - pattern_trips_start[pb]
        if inseat_start[tb] == inseat_start[tb + 1] and dom_stamp[pb] == stamp and dom_j[pb] <= jb \
                and dom_pos[pb] <= pos:
            continue
        return True
    return False


@njit(nogil=True, cache=True, _nrt=False)
def _keep_rows(lab, top):
    """Rows 0 .. top-1 of the time labels kept from now on (``lab.scalars[6]`` rows so far). A row past the
    deepest round a search has reached is read by none of its rounds, so `_label` copies a label only into the
    rows kept; a row joins when its round first runs, as the copy of the row before for every stop written
    since the labels were cleared (its own entries are all empty: nothing writes past the kept rows), which is
    what copying every label into it would have left. (Only times and rounds: ride details stay in the row
    their ride was made in.)"""
    d = lab.scalars[6]
    while d < top and d < lab.ride_t.shape[0]:
        for r in range(lab.scalars[5]):
            s = lab.dirty[r]
            lab.ride_t[d, s] = lab.ride_t[d - 1, s]
            lab.ride_round[d, s] = lab.ride_round[d - 1, s]
            lab.walk_t[d, s] = lab.walk_t[d - 1, s]
            lab.walk_round[d, s] = lab.walk_round[d - 1, s]
            lab.board_t[d, s] = lab.board_t[d - 1, s]
            lab.board_round[d, s] = lab.board_round[d - 1, s]
        d += 1
    lab.scalars[6] = d


@njit(nogil=True, cache=True, _nrt=False)
def _alight_later(tt, rules, lab, k, p, j, bpos, i):
    """The first trip after j of pattern p that can be boarded at bpos, ridden to i and left there with the
    stop open (closures only), when its arrival improves the ride label at round k; else -1."""
    base = tt.pattern_stops_start[p]
    L = tt.pattern_stops_start[p + 1] - base
    t0 = tt.pattern_trips_start[p]
    nt = tt.pattern_trips_start[p + 1] - t0
    times0 = tt.pattern_times_start[p]
    s = tt.pattern_stops[base + i]
    bs = tt.pattern_stops[base + bpos]
    for jj in range(j + 1, nt):
        off = times0 + jj * L + i
        a = np.int64(tt.st_arr[off])
        if a >= lab.ride_t[k, s] or a >= lab.res_t[k]:
            return -1
        ob = times0 + jj * L + bpos
        if tt.st_dropoff[off] != 1 or tt.st_pickup[ob] != 1 \
                or (rules.wheelchair and tt.trip_wheelchair[t0 + jj] != 1) \
                or (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s], a, a)) \
                or (rules.closures and _blk(rules.stop_from[bs], rules.stop_until[bs], tt.st_dep[ob], tt.st_dep[ob])) \
                or not _trip_ok_from(tt, rules, times0, L, jj, bpos, i, base):
            continue
        return jj
    return -1


# `scan_routes` asks for the first lines of the route this many places on in its queue (`_prefetch`): a queue's
# routes are scanned one after another, each starting mostly on lines no recent scan touched (all-Tokyo: the
# timetable arrays are 7.7 MB each, a range search reads ~2 MB of them). A range search takes 0.87x the cycles
# one route ahead, 0.85x two (the same searches repeated, with and without)
_AHEAD = 2


@njit(nogil=True, cache=True, _nrt=False)
def scan_routes(tt, rules, lab, seg, k, stamp, nq):
    """Round k, phase 1: ride every queued pattern from its earliest improved stop, boarding the earliest trip
    one can catch with at most k-1 rides; ride labels at round k. Returns the in-seat queue length.

    Target pruning along the route: past the last stop the pattern was queued from (``lab.qlast``), boarding
    brings nothing new (such a stop's board label was scanned with this pattern before, in an earlier round or
    run, or the target bound dropped it then: the trip it catches arrives no earlier than the labels already
    held), so the scan stops there once it rides no trip, or once the trip's arrival plus the stop's lower
    bound cannot beat the target: with times that never go back (``tt.pattern_ordered``) no later stop of the
    trip can, as the ride labels' bound along a hop falls by at most the trip's time from arrival to arrival. Not
    for patterns with in-seat links (their last stop's trip is followed on) nor under closures (a later trip may
    be taken on from a closure)."""
    n_cont = 0
    n_dom = len(lab.dom_stamp)
    for qi in range(nq):
        p = lab.queue[qi]
        start = lab.qpos[p]
        last = lab.qlast[p]
        if qi + _AHEAD < nq:  # (its departures near the trip its hint names, where `_first_departing` looks
            p2 = lab.queue[qi + _AHEAD]  # first, that trip's arrivals, the departures of the one before)
            nt2 = tt.pattern_trips_start[p2 + 1] - tt.pattern_trips_start[p2]
            L2 = tt.pattern_stops_start[p2 + 1] - tt.pattern_stops_start[p2]
            x = min(max(lab.board_hint[k, p2], 1), nt2 - 1)
            at = tt.pattern_times_start[p2] + x * L2 + lab.qpos[p2]
            _prefetch(tt.dep_by_pos, tt.pattern_times_start[p2] + lab.qpos[p2] * nt2 + x)
            _prefetch(tt.st_arr, at)
            _prefetch(tt.st_dep, at - L2)
        lab.qpos[p] = -1
        lab.counters[C_ROUTES] += 1
        base = tt.pattern_stops_start[p]
        L = tt.pattern_stops_start[p + 1] - base
        t0 = tt.pattern_trips_start[p]
        nt = tt.pattern_trips_start[p + 1] - t0
        times0 = tt.pattern_times_start[p]
        j = -1
        bpos = -1
        prunable = tt.pattern_inseat_classes[p] == 0 and not rules.closures
        ordered = tt.pattern_ordered[p]
        open_ = tt.pattern_open[p]
        cut_short = False
        stop_end = L
        for i in range(start, L):
            s = tt.pattern_stops[base + i]
            if prunable and i > last and (j < 0 or (ordered and np.int64(tt.st_arr[times0 + j * L + i])
                                                    + rules.lb[s] >= lab.res_t[k])):
                cut_short = True
                stop_end = i
                break
            stop_ok = (not rules.wheelchair) or tt.stop_wheelchair[s] == 1
            if j >= 0 and stop_ok:
                off = times0 + j * L + i
                a = np.int64(tt.st_arr[off])
                if (open_ or tt.st_dropoff[off] == 1) and a < lab.ride_t[k, s] and a + rules.lb[s] < lab.res_t[k]:
                    ja = j
                    if rules.closures and _blk(rules.stop_from[s], rules.stop_until[s], a, a):
                        # closed when this trip calls: a later one from the same boarding may alight after
                        ja = _alight_later(tt, rules, lab, k, p, j, bpos, i)
                        a = np.int64(tt.st_arr[times0 + ja * L + i]) if ja >= 0 else a
                    if ja >= 0:  # the ride label (`_label`, then the ride's own fields)
                        _label(lab.ride_t, lab.ride_round, k, s, a, lab.scalars[6])
                        lab.ride_pat[k, s] = p
                        lab.ride_trip[k, s] = t0 + ja
                        lab.ride_bpos[k, s] = bpos
                        lab.ride_apos[k, s] = i
                        lab.ride_bround[k, s] = k - 1
                        lab.ride_seg[k, s] = -1
                        lab.counters[C_IMPROVED] += 1
                        if not lab.ride_marked[s]:
                            lab.ride_marked[s] = True
                            lab.ride_list[lab.scalars[4]] = s
                            lab.scalars[4] += 1
            bt = lab.board_t[k - 1, s]
            # an earlier trip than j is caught here only if the one before j leaves no earlier than bt (one look,
            # no search, in the common case); a boarding no earlier than the target's best arrival is useless
            if i < L - 1 and bt != NONE32 and bt + rules.lb_board[s] < lab.res_t[k] and stop_ok \
                    and (j < 0 or (j > 0 and bt <= tt.st_dep[times0 + (j - 1) * L + i])):
                # the first trip departing at or after bt: near the one boarded first in this pattern's last
                # scan in round k (runs go latest first: a little earlier, mostly), or just before j
                if j < 0:
                    hi = nt
                    jj = _first_departing(tt.dep_by_pos, times0 + i * nt, hi, bt, lab.board_hint[k, p])
                    lab.board_hint[k, p] = jj
                else:
                    hi = j
                    jj = _first_departing(tt.dep_by_pos, times0 + i * nt, hi, bt, j - 1)
                while jj < hi:
                    off = times0 + jj * L + i
                    if (open_ or tt.st_pickup[off] == 1) \
                            and (not rules.wheelchair or tt.trip_wheelchair[t0 + jj] == 1) \
                            and not (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s],
                                                             tt.st_dep[off], tt.st_dep[off])):
                        break
                    jj += 1
                if jj < hi:
                    j = jj
                    bpos = i
            if j >= 0 and i < L - 1 and rules.closures:
                # can the trip go on to i+1? else the first later trip that can ride bpos..i+1
                if not _trip_ok_from(tt, rules, times0, L, j, max(bpos, i), i + 1, base) \
                        or (i > bpos and (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s],
                                                                  tt.st_arr[times0 + j * L + i],
                                                                  tt.st_dep[times0 + j * L + i]))):
                    bs = tt.pattern_stops[base + bpos]
                    jj = j + 1
                    while jj < nt:
                        off = times0 + jj * L + bpos
                        if tt.st_pickup[off] == 1 and (not rules.wheelchair or tt.trip_wheelchair[t0 + jj] == 1) \
                                and not (rules.closures and _blk(rules.stop_from[bs], rules.stop_until[bs],
                                                                 tt.st_dep[off], tt.st_dep[off])) \
                                and _trip_ok_from(tt, rules, times0, L, jj, bpos, i + 1, base):
                            break
                        jj += 1
                    j = jj if jj < nt else -1
        lab.counters[C_STOPS] += stop_end - start
        # it dominates in-seat rides on later trips from bpos (a scan cut short may not end on its earliest trip:
        # then nothing is recorded, the in-seat rides it would skip improve nothing either)
        if n_dom > 0 and j >= 0 and not rules.closures and not cut_short:
            lab.main_stamp[p] = stamp
            lab.main_j[p] = j
            lab.main_pos[p] = bpos
        if tt.pattern_inseat_classes[p] == 0 or j < 0 or bpos >= L - 1:
            continue
        # In-seat links at the last stop: the earliest trip no longer dominates (a later one may run through),
        # so every later trip catchable at bpos counts, one per chain class unless closures or wheelchair make
        # trips of a class differ. (Written out here, `_seat_links` called only for a link still to follow.)
        i = L - 1
        s = tt.pattern_stops[base + i]
        bs = tt.pattern_stops[base + bpos]
        lab.scalars[1] += 1
        cstamp = lab.scalars[1]
        n_seen = 0
        n_want = tt.trip_inseat_classes_after[t0 + j]
        differ = rules.closures or rules.wheelchair
        for jj in range(j, nt):
            c = tt.trip_inseat_class[t0 + jj]
            if c < 0 or (lab.class_stamp[c] == cstamp and not differ):
                continue
            if tt.st_arr[times0 + jj * L + i] + rules.lb[s] >= lab.res_t[k]:
                break
            if jj > j and differ:  # then trips of one class may differ
                ob = times0 + jj * L + bpos
                if tt.st_pickup[ob] != 1 or (rules.wheelchair and tt.trip_wheelchair[t0 + jj] != 1) \
                        or (rules.closures and _blk(rules.stop_from[bs], rules.stop_until[bs],
                                                    tt.st_dep[ob], tt.st_dep[ob])) \
                        or not _trip_ok_from(tt, rules, times0, L, jj, bpos, i, base):
                    continue
            if lab.class_stamp[c] != cstamp:
                lab.class_stamp[c] = cstamp
                n_seen += 1
            need = False  # (a cheap look first: most links lead to trips already covered this round)
            for e in range(tt.inseat_start[t0 + jj], tt.inseat_start[t0 + jj + 1]):
                tb = tt.inseat_to_trip[e]
                pb = tt.trip_pattern[tb]
                jb = tb - tt.pattern_trips_start[pb]
                pos = tt.inseat_to_pos[e]
                if (lab.seat_stamp[tb] == stamp and lab.seat_pos[tb] <= pos) or (
                        tt.inseat_start[tb] == tt.inseat_start[tb + 1]
                        and ((lab.dom_stamp[pb] == stamp and lab.dom_j[pb] <= jb and lab.dom_pos[pb] <= pos)
                             or (lab.main_stamp[pb] == stamp and lab.main_j[pb] <= jb and lab.main_pos[pb] <= pos))):
                    continue
                need = True
                break
            if need:
                n_cont = _seat_links(tt, rules, lab, seg, n_cont, t0 + jj, i, p, bpos, k - 1, -1,
                                     times0 + jj * L + i, k, stamp, s)
            if n_seen == n_want and not differ:  # (every class seen: later trips are all skipped above)
                break
    return n_cont


@njit(nogil=True, cache=True, _nrt=False)
def follow_inseat_links(tt, rules, lab, seg, k, stamp, n_cont):
    """Round k, phase 2: ride the queued in-seat continuations (a continued trip may link on again); their
    ride labels are of round k too (staying seated is no extra ride)."""
    ci = 0
    while ci < n_cont:
        tb, pos0, sg, links_only = lab.cont[ci, 0], lab.cont[ci, 1], lab.cont[ci, 2], lab.cont[ci, 3]
        ci += 1
        if lab.seat_stamp[tb] == stamp and lab.seat_pos[tb] < pos0:  # the same trip was queued from earlier on
            continue
        p = tt.trip_pattern[tb]
        base = tt.pattern_stops_start[p]
        L = tt.pattern_stops_start[p + 1] - base
        j = tb - tt.pattern_trips_start[p]
        times0 = tt.pattern_times_start[p]
        if lab.main_stamp[p] == stamp and lab.main_j[p] <= j and lab.main_pos[p] <= pos0:
            if tt.inseat_start[tb] == tt.inseat_start[tb + 1]:
                continue
            links_only = 1
        if links_only:
            for e in range(tt.inseat_start[tb], tt.inseat_start[tb + 1]):
                i = tt.inseat_from_pos[e]
                if i <= pos0 or (e > tt.inseat_start[tb] and tt.inseat_from_pos[e - 1] == i):
                    continue  # (links sorted by from-position: each position once)
                if rules.closures and not _trip_ok_from(tt, rules, times0, L, j, pos0, i, base):
                    break
                if _links_pending(tt.inseat_start, tt.inseat_from_pos, tt.inseat_to_trip, tt.inseat_to_pos,
                                  tt.trip_pattern, tt.pattern_trips_start, rules.pattern_allowed, lab.seat_stamp,
                                  lab.seat_pos, lab.dom_stamp, lab.dom_j, lab.dom_pos, e, tt.inseat_start[tb + 1], i,
                                  stamp):
                    n_cont = _seat_links(tt, rules, lab, seg, n_cont, tb, i, p, pos0, k, sg, times0 + j * L + i,
                                         k, stamp, tt.pattern_stops[base + i])
            continue
        e_next = tt.inseat_start[tb]
        e_end = tt.inseat_start[tb + 1]
        ordered = tt.pattern_ordered[p]
        for i in range(pos0 + 1, L):
            off = times0 + j * L + i
            s = tt.pattern_stops[base + i]
            sprev = tt.pattern_stops[base + i - 1]
            if (i - 1 > pos0 and (rules.closures and _blk(rules.stop_from[sprev], rules.stop_until[sprev],
                                                          tt.st_arr[off - 1],
                                      tt.st_dep[off - 1]))) \
                    or (rules.closures and _blk(rules.hop_from[base + i - 1], rules.hop_until[base + i - 1],
                                                tt.st_dep[off - 1],
                            tt.st_arr[off])):
                break
            a = np.int64(tt.st_arr[off])
            # (nor can any later stop, its links included, when times never go back: see `scan_routes`)
            if a + (rules.lb[s] if ordered else 0) >= lab.res_t[k]:
                break
            if tt.st_dropoff[off] == 1 and a < lab.ride_t[k, s] and a + rules.lb[s] < lab.res_t[k] \
                    and ((not rules.wheelchair) or tt.stop_wheelchair[s] == 1) \
                    and not (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s], a, a)):
                # the ride label of a continued ride (as in `scan_routes`, with the seat segment)
                _label(lab.ride_t, lab.ride_round, k, s, a, lab.scalars[6])
                lab.ride_pat[k, s] = p
                lab.ride_trip[k, s] = tb
                lab.ride_bpos[k, s] = pos0
                lab.ride_apos[k, s] = i
                lab.ride_bround[k, s] = k
                lab.ride_seg[k, s] = sg
                lab.counters[C_IMPROVED] += 1
                if not lab.ride_marked[s]:
                    lab.ride_marked[s] = True
                    lab.ride_list[lab.scalars[4]] = s
                    lab.scalars[4] += 1
            while e_next < e_end and tt.inseat_from_pos[e_next] < i:  # (links sorted by from-position)
                e_next += 1
            if e_next < e_end and tt.inseat_from_pos[e_next] == i \
                    and _links_pending(tt.inseat_start, tt.inseat_from_pos, tt.inseat_to_trip, tt.inseat_to_pos,
                                       tt.trip_pattern, tt.pattern_trips_start, rules.pattern_allowed, lab.seat_stamp,
                                       lab.seat_pos, lab.dom_stamp, lab.dom_j, lab.dom_pos, e_next, e_end, i, stamp):
                n_cont = _seat_links(tt, rules, lab, seg, n_cont, tb, i, p, pos0, k, sg, off, k, stamp, s)


@njit(nogil=True, cache=True, _nrt=False)
def relax_footpaths(tt, rules, lab, k):
    """Round k, phase 3: from each stop reached by a ride, a same-stop change and one footpath (the transfer
    rule in the module docstring); board labels of round k, improved stops marked for round k+1; targets.
    (Stops are added to the run's touched list inline, as in `_touch`: see `_walk_seconds`.)"""
    run = lab.scalars[3]
    n_walk = 0
    for r in range(lab.scalars[4]):
        s = lab.ride_list[r]
        lab.ride_marked[s] = False
        if lab.touched_run[s] != run:
            if lab.touched_run[s] < 0:
                lab.dirty[lab.scalars[5]] = s
                lab.scalars[5] += 1
            lab.touched_run[s] = run
            lab.touched[lab.scalars[0]] = s
            lab.scalars[0] += 1
        a = lab.ride_t[k, s]
        bt = a + max(rules.min_transfer_s, np.int64(tt.stop_min_transfer[s]))  # the change time at s
        if bt < lab.board_t[k, s] and bt + rules.lb_board[s] < lab.res_t[k]:
            _label(lab.board_t, lab.board_round, k, s, bt, lab.scalars[6])
            lab.board_kind[k, s] = BOARD_CHANGE
            lab.board_from[k, s] = s
            lab.marked[s] = True
        if not lab.walk_seen[s]:
            lab.walk_seen[s] = True
            lab.walk_list[n_walk] = s
            n_walk += 1
        if (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s], a, a)):
            continue
        for e in range(tt.fp_start[s], tt.fp_start[s + 1]):
            u = tt.fp_to[e]
            w = _walk_seconds(tt.fp_dist[e], tt.fp_fixed_s[e], rules.walk_speed)
            wt = a + w
            if wt + rules.lb_walk[u] >= lab.res_t[k] or (rules.closures and _blk(rules.stop_from[u],
                                                                                 rules.stop_until[u], wt, wt)):
                continue
            improved = False
            if wt < lab.walk_t[k, u]:
                _label(lab.walk_t, lab.walk_round, k, u, wt, lab.scalars[6])
                lab.walk_from[k, u] = s
                improved = True
                if not lab.walk_seen[u]:
                    lab.walk_seen[u] = True
                    lab.walk_list[n_walk] = u
                    n_walk += 1
            bt = a + max(w, rules.min_transfer_s)
            if bt < lab.board_t[k, u] and not (rules.closures and _blk(rules.stop_from[u], rules.stop_until[u],
                                                                       bt, bt)):
                _label(lab.board_t, lab.board_round, k, u, bt, lab.scalars[6])
                lab.board_kind[k, u] = BOARD_WALK
                lab.board_from[k, u] = s
                lab.marked[u] = True
                lab.counters[C_IMPROVED] += 1
                improved = True
            if improved and lab.touched_run[u] != run:
                if lab.touched_run[u] < 0:
                    lab.dirty[lab.scalars[5]] = u
                    lab.scalars[5] += 1
                lab.touched_run[u] = run
                lab.touched[lab.scalars[0]] = u
                lab.scalars[0] += 1
    lab.scalars[4] = 0
    for r in range(n_walk):
        u = lab.walk_list[r]
        lab.walk_seen[u] = False
        eg = lab.egress[u]
        if eg >= 0:
            if lab.ride_round[k, u] == k and lab.ride_t[k, u] + eg < lab.res_t[k]:
                _set_result(lab, k, lab.ride_t[k, u] + eg, u, KIND_RIDE, run)
            if lab.walk_round[k, u] == k and lab.walk_t[k, u] + eg < lab.res_t[k]:
                _set_result(lab, k, lab.walk_t[k, u] + eg, u, KIND_WALK, run)


@njit(nogil=True, cache=True, _nrt=False)
def _set_result(lab, k, t, u, kind, run):
    """The target's best with at most k rides, and so with at most kk ≥ k while it beats theirs."""
    for kk in range(k, lab.res_t.shape[0]):
        if kk > k and t >= lab.res_t[kk]:
            break
        lab.res_t[kk] = t
        lab.res_round[kk] = k
        lab.res_stop[kk] = u
        lab.res_kind[kk] = kind
        lab.res_run[kk] = run


@njit(nogil=True, cache=True, _nrt=False)
def _collect_routes(tt, rules, lab, k, only_departing, cut):
    """Patterns through the stops improved in round k-1, each from its earliest such position (round 1 of a
    range run: only the patterns leaving at this run's time, the others catch what they caught a run ago).
    A stop whose board label cannot beat the target's best with the lower bound queues nothing.

    ``cut`` (the latest-boarding cut, `Cutter`): nor does a pattern none of whose trips leaves s from the new
    board label until the one of an earlier run, ``rules.latest.board[k-1, s]``. From either time the first
    trip one can board is the same, and that earlier label was scanned (every pattern through s, in the round
    after it was made, at most k): the ride labels of row k already hold that trip's arrivals and whatever
    followed them (or the target bound dropped them, and it has only tightened since). Boardings further on
    the pattern are at stops either queued themselves (marked) or scanned before as well. A pattern cut at one
    stop and queued from another keeps the place in the queue the first gave it: patterns are scanned in the
    same order as without the cut, so ties in arrival time fall the same way (the first scan writes the label).
    Counted (``C_CUT``): the patterns left unscanned. ``lab.qlast``: each queued pattern's last position
    queued from (the end of its boardings that may matter, `scan_routes`)."""
    nq = 0
    run = lab.scalars[3]
    R = lab.res_t.shape[0]
    held = cut
    late = rules.late.shape[0] > 0
    for r in range(lab.scalars[0]):
        s = lab.touched[r]
        if not lab.marked[s]:
            continue
        lab.marked[s] = False
        bt = lab.board_t[k - 1, s]
        if bt + rules.lb_board[s] >= lab.res_t[k]:
            continue  # (target pruning: the scan would board nothing here, as the bound has tightened since)
        # rides-aware target pruning: a journey boarding here has at least k - 1 + rides[s] rides, so it must
        # beat the result of that round (or cannot be one: more rides than the search allows)
        need = k - 1 + rules.rides[s]
        hold = need >= R or (need > k and bt + rules.lb_board[s] >= lab.res_t[need])
        if not hold and late and bt > rules.late[k - 1, s]:  # (the time-dependent bound, `late_bounds`)
            hold = True
            lab.counters[C_LATE] += 1
        until = rules.latest.board[k - 1, s] if cut else bt
        for e in range(tt.sp_start[s], tt.sp_start[s + 1]):
            p = tt.sp_pattern[e]
            if not rules.pattern_allowed[p] or (only_departing and lab.pattern_run[p] != run):
                continue
            if hold:  # (its place in the queue kept, as for the cut)
                if lab.qpos[p] < 0:
                    lab.queue[nq] = p
                    nq += 1
                    lab.qpos[p] = _HELD_RIDES
                    lab.qlast[p] = -1
                    held = True
                continue
            pos = tt.sp_pos[e]
            if until > bt:
                nt = tt.pattern_trips_start[p + 1] - tt.pattern_trips_start[p]
                col = tt.pattern_times_start[p] + pos * nt
                lo = _first_departing(tt.dep_by_pos, col, nt, bt, lab.board_hint[k, p])
                if lo == nt or tt.dep_by_pos[col + lo] >= until:
                    if lab.qpos[p] < 0:  # (its place in the queue kept, in case another stop queues it)
                        lab.queue[nq] = p
                        nq += 1
                        lab.qpos[p] = _HELD
                        lab.qlast[p] = -1
                    continue
            if lab.qpos[p] < 0:
                lab.queue[nq] = p
                nq += 1
                lab.qpos[p] = pos
                lab.qlast[p] = pos
            else:
                if pos < lab.qpos[p]:
                    lab.qpos[p] = pos
                if pos > lab.qlast[p]:
                    lab.qlast[p] = pos
    if held:  # patterns only held leave the queue; the others keep their order, as without the cut (the
        m = 0  # first pattern scanned wins a tie in arrival time: another order would pick other journeys)
        for i in range(nq):
            p = lab.queue[i]
            if lab.qpos[p] >= _HELD:
                if lab.qpos[p] == _HELD:
                    lab.counters[C_CUT] += 1
                lab.qpos[p] = -1
            else:
                lab.queue[m] = p
                m += 1
        nq = m
    return nq


@njit(nogil=True, cache=True, _nrt=False)
def raptor_run(tt, rules, lab, seg, src_stops, src_times, run, only_departing, cut):
    """One RAPTOR search from the sources (stop, time there) on top of the labels already in ``lab`` (empty for
    a plain search; a later departure's in a range search). ``only_departing``: round 1 scans only the patterns
    marked with this run in ``lab.pattern_run``; ``cut``: the latest-boarding cut (`_collect_routes`). ``seg``
    has room for a run's seat segments (`_seg_room`: the caller grows it, this allocates nothing)."""
    R = lab.ride_t.shape[0]
    lab.scalars[0] = 0
    lab.scalars[3] = run
    lab.counters[C_RUNS] += 1
    # ---- round 0: sources and one footpath from them (a walk, not a transfer) ----
    for i in range(len(src_stops)):
        s = src_stops[i]
        t = np.int64(src_times[i])
        if (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s], t, t)):
            if not rules.wait_out_closures:
                continue
            t = np.int64(rules.stop_until[s])  # (backward: reach the destination before it closes)
        if t < lab.board_t[0, s]:
            _label(lab.board_t, lab.board_round, 0, s, t, lab.scalars[6])
            lab.board_kind[0, s] = BOARD_SOURCE
            lab.board_from[0, s] = s
            lab.marked[s] = True
            _touch(lab, s, run)
    n_src = lab.scalars[0]
    for r in range(n_src):
        s = lab.touched[r]
        t = lab.board_t[0, s]
        if lab.board_kind[0, s] != BOARD_SOURCE:
            continue
        if rules.report_walks and lab.egress[s] >= 0 and t + lab.egress[s] < lab.res_t[0]:
            _set_result(lab, 0, t + lab.egress[s], s, KIND_SOURCE, run)
        for e in range(tt.fp_start[s], tt.fp_start[s + 1]):
            u = tt.fp_to[e]
            wt = t + _walk_seconds(tt.fp_dist[e], tt.fp_fixed_s[e], rules.walk_speed)
            if (rules.closures and _blk(rules.stop_from[u], rules.stop_until[u], wt, wt)):
                continue
            # (walk labels serve only walk-only answers: without those, a walk to the target must not hide
            # the ride that gets there later)
            if rules.report_walks and wt < lab.walk_t[0, u]:
                _label(lab.walk_t, lab.walk_round, 0, u, wt, lab.scalars[6])
                lab.walk_from[0, u] = s
                _touch(lab, u, run)
                if lab.egress[u] >= 0 and wt + lab.egress[u] < lab.res_t[0]:
                    _set_result(lab, 0, wt + lab.egress[u], u, KIND_WALK, run)
            if wt < lab.board_t[0, u]:
                _label(lab.board_t, lab.board_round, 0, u, wt, lab.scalars[6])
                lab.board_kind[0, u] = BOARD_WALK
                lab.board_from[0, u] = s
                lab.marked[u] = True
                _touch(lab, u, run)
    # ---- rounds ----
    for k in range(1, R):
        nq = _collect_routes(tt, rules, lab, k, only_departing and k == 1, cut)
        if nq == 0:
            break
        if lab.scalars[6] <= k:
            _keep_rows(lab, k + 1)
        lab.counters[C_ROUNDS] += 1
        stamp = run * 64 + k
        n_cont = scan_routes(tt, rules, lab, seg, k, stamp, nq)
        # (each phase call increfs and decrefs every array of its records, ~170 atomic operations: none
        # when there is nothing to do)
        if n_cont > 0:
            follow_inseat_links(tt, rules, lab, seg, k, stamp, n_cont)
        relax_footpaths(tt, rules, lab, k)
    for r in range(lab.scalars[0]):
        lab.marked[lab.touched[r]] = False


@njit(nogil=True, cache=True, _nrt=False)
def _journey_legs(tt, rules, lab, seg, k, out):
    """The legs of the result of round k (latest first) appended to ``out`` as (kind, from, to, pattern, trip,
    board pos, alight pos, stay seated, departure, arrival); returns the source stop."""
    stop = lab.res_stop[k]
    rnd = lab.res_round[k]
    kind = lab.res_kind[k]
    if kind == KIND_SOURCE:
        return stop
    cur = stop
    state = KIND_RIDE if kind == KIND_RIDE else KIND_WALK
    while True:
        if state == KIND_WALK:
            r0 = lab.walk_round[rnd, cur]
            frm = lab.walk_from[r0, cur]
            dep = lab.ride_t[r0, frm] if r0 > 0 else lab.board_t[0, frm]
            _leg(out, LEG_WALK, frm, cur, -1, -1, -1, -1, 0, dep, lab.walk_t[r0, cur])
            cur = frm
            if r0 == 0:
                return cur
            rnd = r0
            state = KIND_RIDE
            continue
        r0 = lab.ride_round[rnd, cur]
        p = lab.ride_pat[r0, cur]
        trip = lab.ride_trip[r0, cur]
        bpos = lab.ride_bpos[r0, cur]
        apos = lab.ride_apos[r0, cur]
        sg = lab.ride_seg[r0, cur]
        bround = lab.ride_bround[r0, cur]
        b = cur
        while True:  # the ride, then the seat segments it continues (latest first)
            base = tt.pattern_stops_start[p]
            L = tt.pattern_stops_start[p + 1] - base
            off = tt.pattern_times_start[p] + (trip - tt.pattern_trips_start[p]) * L
            b = tt.pattern_stops[base + bpos]
            _leg(out, LEG_RIDE, b, cur, p, trip, bpos, apos, 1 if sg >= 0 else 0, tt.st_dep[off + bpos],
                 tt.st_arr[off + apos])
            if sg < 0:
                break
            p, trip, bpos, apos, bround, sg = seg[sg, 0], seg[sg, 1], seg[sg, 2], seg[sg, 3], seg[sg, 4], seg[sg, 5]
            cur = tt.pattern_stops[tt.pattern_stops_start[p] + apos]
        cur = b
        r1 = lab.board_round[bround, cur]
        bk = lab.board_kind[r1, cur]
        if bk == BOARD_SOURCE:
            return cur
        if bk == BOARD_CHANGE:
            rnd = r1
            state = KIND_RIDE
            continue
        frm = lab.board_from[r1, cur]  # a walk to the boarding stop, from a ride (or a source in round 0)
        dep = lab.ride_t[r1, frm] if r1 > 0 else lab.board_t[0, frm]
        _leg(out, LEG_WALK, frm, cur, -1, -1, -1, -1, 0, dep, dep + _fp_seconds(tt, rules, frm, cur))
        cur = frm
        if r1 == 0:
            return cur
        rnd = r1
        state = KIND_RIDE


@njit(nogil=True, cache=True, _nrt=False)
def _fp_seconds(tt, rules, frm, to):
    """A walk's own duration (a board label after it may include waiting out the change time)."""
    for e in range(tt.fp_start[frm], tt.fp_start[frm + 1]):
        if tt.fp_to[e] == to:
            return _walk_s(tt, rules, e)
    return np.int64(0)


class Output(NamedTuple):
    """Journeys a search reports, as rows: journeys (run, rides, departure time, first leg row, legs, source
    stop, target stop, arrival) and legs (kind, from, to, pattern, trip, board pos, alight pos, stay seated,
    departure, arrival), latest leg first; ``used``: rows filled (journeys, legs)."""

    journeys: np.ndarray
    legs: np.ndarray
    used: np.ndarray


def new_output(journeys: int, legs: int) -> Output:
    return Output(np.empty((journeys, 8), np.int64), np.empty((legs, 10), np.int64), np.zeros(2, np.int64))


@njit(nogil=True, cache=True, _nrt=False)
def _leg(out, kind, frm, to, p, trip, bpos, apos, seated, dep, arr):
    r = out.used[1]
    out.used[1] = r + 1
    if r >= out.legs.shape[0]:  # full: counted, not written (the caller asks again with room for all)
        return
    row = out.legs[r]
    row[0] = kind
    row[1] = frm
    row[2] = to
    row[3] = p
    row[4] = trip
    row[5] = bpos
    row[6] = apos
    row[7] = seated
    row[8] = dep
    row[9] = arr


@njit(nogil=True, cache=True, _nrt=False)
def _emit(tt, rules, lab, seg, run, tau, out):
    """Journeys of the run just finished: one per round whose target result this run improved."""
    R = lab.res_t.shape[0]
    for k in range(R):
        if lab.res_run[k] != run or lab.res_round[k] != k:
            continue
        j = out.used[0]
        start = out.used[1]
        src = _journey_legs(tt, rules, lab, seg, k, out)
        out.used[0] = j + 1
        if j >= out.journeys.shape[0]:
            continue
        row = out.journeys[j]
        row[0] = run
        row[1] = k
        row[2] = tau
        row[3] = start
        row[4] = out.used[1] - start
        row[5] = src
        row[6] = lab.res_stop[k]
        row[7] = lab.res_t[k]


@njit(nogil=True, cache=True, inline="always")
def _board_copy(board, board_t, stops, n, reset, top):
    """The cut's copy of the board labels (`Cutter`) at the first ``n`` of ``stops``: ``board_t``'s, every
    round (a row not kept yet as the last kept one, `_keep_rows`), or (``reset``) INF."""
    for x in range(n):
        s = stops[x]
        for k in range(board_t.shape[0]):
            board[k, s] = INF if reset else board_t[min(k, top - 1), s]


@njit(nogil=True, cache=True)
def _seg_room(seg, used, rounds, n_links):
    """``seg`` with room for one more run's seat segments (``rounds`` × ``n_links`` in-seat links beyond the
    ``used`` ones): itself, or a bigger copy (`raptor_run`, compiled without reference counting, allocates
    nothing). Scalars, not the records: a call with them increfs and decrefs every array in them."""
    if n_links > 0 and seg.shape[0] - used < rounds * n_links + 1:
        grown = np.empty((max(2 * seg.shape[0], used + rounds * n_links + 1), 6), np.int32)
        grown[:used] = seg[:used]
        return grown
    return seg


@njit(nogil=True, cache=True)
def raptor_range(tt, rules, lab, seg, src_stops, src_access, taus, tau_start, tau_patterns, out, r0, pause):
    """Range RAPTOR: one run per departure time in ``taus`` (latest first), labels kept between runs; each run
    reports the journeys that beat every later departure for their number of rides. The patterns leaving at
    taus[r] are tau_patterns[tau_start[r]:tau_start[r+1]] (none listed: scan all); after the first run, round 1
    scans only those (a pattern that does not leave then catches the trip it caught in the run before).

    From run ``rules.latest.after`` on (closures aside: a closed stop or hop makes the scan leave the first
    trip), the latest-boarding cut (`Cutter`, `_collect_routes`): ``rules.latest.board`` holds the board labels
    as they were when the run began (every stop touched since the labels were cleared copied after run
    ``after`` - 1, then the stops each run touches), and is set back to INF after the last run.

    Runs from ``r0`` on (a search resumed, its labels kept); ``pause``: stop after the first run when it found a
    result (the caller works out the time-dependent bound, `late_bounds`, and resumes from run 1). Returns (seg,
    paused)."""
    after = rules.latest.after
    board = rules.latest.board
    cutting = after > 0 and len(taus) > after and not rules.closures and board.shape[0] >= lab.board_t.shape[0]
    for r in range(r0, len(taus)):
        tau = taus[r]
        run = lab.scalars[3] + 1
        restrict = r > 0 and tau_start[r + 1] > tau_start[r]
        for i in range(tau_start[r], tau_start[r + 1]):
            lab.pattern_run[tau_patterns[i]] = run
        seg = _seg_room(seg, lab.scalars[2], lab.ride_t.shape[0], len(tt.inseat_to_trip))
        raptor_run(tt, rules, lab, seg, src_stops, src_access + tau, run, restrict, cutting and r >= after)
        if cutting and after - 1 <= r < len(taus) - 1:  # the next run cuts: the board labels as they are now
            if r == after - 1:  # every stop written since the labels were cleared
                _board_copy(board, lab.board_t, lab.dirty, lab.scalars[5], False, lab.scalars[6])
            else:  # then those this run touched
                _board_copy(board, lab.board_t, lab.touched, lab.scalars[0], False, lab.scalars[6])
        _emit(tt, rules, lab, seg, run, tau, out)
        if pause and r == 0 and len(taus) > 1 and lab.res_t[lab.res_t.shape[0] - 1] < INF:
            return seg, True
    if cutting:  # all INF again for the next search
        _board_copy(board, lab.board_t, lab.dirty, lab.scalars[5], True, lab.scalars[6])
    return seg, False


@njit(nogil=True, cache=True, _nrt=False)
def _departures_into(tt, rules, src_stops, src_access, t0, t1, buf, pats):
    """Fill ``buf`` with the departure times (see departure_schedule); returns how many there are (they may be
    more than ``buf`` holds: the caller then asks again with a bigger one)."""
    n = 0
    for i in range(len(src_stops)):
        s = src_stops[i]
        acc = np.int64(src_access[i])
        for f in range(tt.fp_start[s] - 1, tt.fp_start[s + 1]):
            if f < tt.fp_start[s]:
                u = s
                w = np.int64(0)
            else:
                u = tt.fp_to[f]
                w = _walk_seconds(tt.fp_dist[f], tt.fp_fixed_s[f], rules.walk_speed)
            if rules.wheelchair and tt.stop_wheelchair[u] != 1:
                continue
            for e in range(tt.sp_start[u], tt.sp_start[u + 1]):
                p = tt.sp_pattern[e]
                if not rules.pattern_allowed[p]:
                    continue
                pos = tt.sp_pos[e]
                base = tt.pattern_stops_start[p]
                L = tt.pattern_stops_start[p + 1] - base
                if pos >= L - 1:
                    continue
                t_first = tt.pattern_trips_start[p]
                nt = tt.pattern_trips_start[p + 1] - t_first
                times0 = tt.pattern_times_start[p]
                lo = 0
                hi = nt
                lim = t0 + acc + w
                while lo < hi:
                    mid = (lo + hi) // 2
                    if tt.dep_by_pos[times0 + pos * nt + mid] < lim:
                        lo = mid + 1
                    else:
                        hi = mid
                for j in range(lo, nt):
                    off = times0 + j * L + pos
                    tau = np.int64(tt.st_dep[off]) - acc - w
                    if tau > t1:
                        break
                    if tt.st_pickup[off] == 1 and (not rules.wheelchair or tt.trip_wheelchair[t_first + j] == 1):
                        if n < len(buf):
                            buf[n] = tau
                            pats[n] = p
                        n += 1
    return n


@njit(nogil=True, cache=True)
def _group_departures(buf, pats):
    """Distinct times latest first, with the patterns leaving at each (CSR, each pattern once per time)."""
    n = len(buf)
    order = np.argsort(-buf * (len(buf) + 1) - np.arange(n))  # latest first, stable
    taus = np.empty(n, np.int64)
    start = np.empty(n + 1, np.int64)
    out_p = np.empty(n, np.int64)
    start[0] = 0
    m = 0
    q = 0
    for r in range(n):
        i = order[r]
        if m == 0 or buf[i] != taus[m - 1]:
            taus[m] = buf[i]
            start[m] = q
            m += 1
        dup = False
        for x in range(start[m - 1], q):
            if out_p[x] == pats[i]:
                dup = True
                break
        if not dup:
            out_p[q] = pats[i]
            q += 1
    start[m] = q
    return taus[:m], start[:m + 1], out_p[:q]


@njit(nogil=True, cache=True)
def departure_schedule(tt, rules, src_stops, src_access, t0, t1):
    """The runs of a range search: the times in [t0, t1] at which leaving the sources catches a vehicle just in
    time (at a source stop, or one footpath from it: a walk, not a transfer), distinct and latest first, with
    the patterns leaving at each as CSR (start[len+1], patterns); then a last run at t0 itself when no departure
    is at t0 (it scans every pattern: what leaves after the window, the first train of the morning). None in
    the window when t1 < t0 (a plain search: the run at t0 only). Returns (times, start, patterns, departures
    in the window)."""
    n = 0
    buf = np.empty(0, np.int64)
    pats = np.empty(0, np.int64)
    if t1 >= t0:
        buf = np.empty(1024, np.int64)
        pats = np.empty(1024, np.int64)
        n = _departures_into(tt, rules, src_stops, src_access, t0, t1, buf, pats)
        if n > len(buf):
            buf = np.empty(n, np.int64)
            pats = np.empty(n, np.int64)
            n = _departures_into(tt, rules, src_stops, src_access, t0, t1, buf, pats)
    taus, start, patterns = _group_departures(buf[:n], pats[:n])
    m = len(taus)
    if m > 0 and taus[m - 1] == t0:
        return taus, start, patterns, m
    taus2 = np.empty(m + 1, np.int64)
    taus2[:m] = taus
    taus2[m] = t0
    start2 = np.empty(m + 2, np.int64)
    start2[:m + 1] = start
    start2[m + 1] = start[m]
    return taus2, start2, patterns, m


@njit(nogil=True, cache=True)
def range_search(tt, rules, g, lab, seg, out, src_stops, src_access, tgt_stops, tgt_egress, bounds_known, t0, t1,
                 bound, resume, pause_runs):
    """A whole range search in one call (a call from Python unboxes every array of its records, ~20 µs, so
    the steps are not separate calls): clear the labels, set the targets' egress, their lower bounds into
    ``rules.lb`` unless ``bounds_known``, the runs (`departure_schedule`), `raptor_range`, then the targets
    cleared again. ``out`` is grown (and the search repeated) when the journeys do not fit. ``bound`` (INF:
    none): the result times start there, as if a journey arriving then had been found for every number of rides.
    ``pause_runs``: with more runs than that (and no ``bound``), the search stops after its first run if that
    found a result, the targets' egress left set (`raptor_range`); called again with ``resume`` it goes on from
    run 1 on the labels as they are (the caller may have given ``rules.late`` meanwhile, `late_bounds`).
    Returns (seg, out, departures in the window, the window's latest departure: its first run, paused)."""
    if not bounds_known and not resume:
        lower_bounds(tt, rules, g, tgt_stops, tgt_egress, rules.lb, rules.lb_board, rules.lb_walk)
        fewest_rides(g, tgt_stops, rules.rides)
    taus, tau_start, tau_patterns, n_departures = departure_schedule(tt, rules, src_stops, src_access, t0, t1)
    R = lab.res_t.shape[0]
    need = max(len(taus), 1) * R
    if out.journeys.shape[0] < need and not resume:
        out = Output(np.empty((need, 8), np.int64), np.empty((need * (3 * R + 16), 10), np.int64),
                     np.zeros(2, np.int64))
    pause = bound == INF and len(taus) > pause_runs and not resume
    r0 = 1 if resume else 0
    while True:
        if r0 == 0:
            clear_labels(lab)
            if bound < INF:
                lab.res_t[:] = bound
            for i in range(len(tgt_stops)):
                s = tgt_stops[i]
                e = np.int64(tgt_egress[i])
                if lab.egress[s] < 0 or e < lab.egress[s]:
                    lab.egress[s] = e
            out.used[0] = 0
            out.used[1] = 0
        seg, paused = raptor_range(tt, rules, lab, seg, src_stops, src_access, taus, tau_start, tau_patterns, out,
                                   r0, pause)
        if paused:
            return seg, out, n_departures, taus[0], True
        for i in range(len(tgt_stops)):
            lab.egress[tgt_stops[i]] = -1
        if out.used[0] <= out.journeys.shape[0] and out.used[1] <= out.legs.shape[0]:
            return seg, out, n_departures, taus[0], False
        out = Output(np.empty((2 * out.used[0], 8), np.int64), np.empty((2 * out.used[1], 10), np.int64),
                     np.zeros(2, np.int64))
        r0 = 0  # (all again from the first run, into the bigger output: the same journeys)
        pause = False



# ---- the call from Python: the records a search works on, boxed as one object ------------------------------
@structref.register
class SearchRecordsType(types.StructRef):
    """numba's type of `SearchRecords` (its fields typed as given)."""

    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


class SearchRecords(structref.StructRefProxy):
    """The records one thread's searches on one timetable work on: ``tt`` (Timetable), ``g`` (its StopGraph) and
    ``lab`` (this thread's Labels), boxed as one numba object (`search_records`). A call from Python unboxes
    every array of a record given to it, ~40 ns apiece (82 for these three, with their type matched in the
    dispatcher too), but this object as one pointer: it is made once per thread, timetable and round count
    (`_labels_and_records`) and every search's kernel call (`range_search_flat`, `late_bounds_flat`) reads the
    records from it. Nothing of it is read from Python."""


structref.define_proxy(SearchRecords, SearchRecordsType, ["tt", "g", "lab"])


@njit(nogil=True, cache=True)
def search_records(tt, g, lab):
    """A `SearchRecords` holding these records (their arrays, not copies)."""
    return SearchRecords(tt, g, lab)


@njit(nogil=True, cache=True)
def range_search_flat(recs, rules, seg, out, src_stops, src_access, tgt_stops, tgt_egress, bounds_known, t0, t1,
                      bound, resume, pause_runs):
    """`range_search` as called from Python: the timetable, stop graph and labels from one `SearchRecords`, the
    query's rules a plain tuple (`_flat_rules`; its Cutter a plain tuple at the end: numba types a plain tuple of
    arrays from a fingerprint in C, a named tuple through Python) and ``out`` a plain tuple, made records again
    here. The records are the same types as when passed directly: every kernel below is the same.
    Returns `range_search`'s answer with None for ``seg`` and ``out`` unless they were grown (new arrays, bigger):
    boxing them for Python costs ~3 µs a call, and the caller keeps the ones it gave."""
    rl = _rules_of(rules)
    seg2, out2, n_departures, first_tau, paused = range_search(
        recs.tt, rl, recs.g, recs.lab, seg, Output(*out), src_stops, src_access, tgt_stops, tgt_egress,
        bounds_known, t0, t1, bound, resume, pause_runs)
    grown_out = out2.journeys.shape[0] != out[0].shape[0] or out2.legs.shape[0] != out[1].shape[0]
    return (seg2 if seg2.shape[0] != seg.shape[0] else None), (out2 if grown_out else None), n_departures, \
        first_tau, paused


@njit(nogil=True, cache=True, inline="always")
def _rules_of(rules):
    """`Rules` from the plain tuple `_flat_rules` makes (its Cutter a plain tuple at the end)."""
    lt = rules[16]
    return Rules(rules[0], rules[1], rules[2], rules[3], rules[4], rules[5], rules[6], rules[7], rules[8], rules[9],
                 rules[10], rules[11], rules[12], rules[13], rules[14], rules[15], Cutter(lt[0], lt[1]))

@njit(nogil=True, cache=True)
def late_bounds(tt, rules, g, lab, seg, tgt_stops, tgt_egress, org_stops, org_access, res_t, rides, t_start, late):
    """The time-dependent target bound of a range search whose first run found the results ``res_t`` (per round:
    the best arrival with at most that many rides): ``late[r, s]``, the latest board label at stop s of round r
    (r rides so far) from which a journey may still beat a result. For each distinct finite result A, one plain
    RAPTOR run on the other clock (``tt`` is the search's timetable reversed: the targets are its sources, at
    A - 1 less their egress, on the other clock) gives per stop s and rides j the latest departure from s that
    still arrives by A - 1 with at most j rides (the ride label of row j there). A board label at s of round r
    that can improve the result of round r + j arrives there before it with at most j more rides, so it is later
    than none of those departures, for some j ≥ ``rides[s]`` (fewest_rides); ``late[r, s]`` is their latest,
    INF when a round r + j has no result yet (anything may become one), -INF when no departure does.

    The runs are relaxations of the search's own: ``rules`` has no closures, no wheelchair rule and change time 0
    (the feed's same-stop times stay: the same both ways), the query's patterns; their labels are pruned only by
    the lower bounds towards the search's sources (``org_stops``, access ``org_access``) against its earliest
    departure ``t_start`` (on the other clock 1 - t_start: a departure at t_start or later arrives by -t_start),
    with no results to tighten that (no targets set), so every journey from a source departing at t_start or later
    through s to a target keeps its latest departure from s. Results only improve, so the bound stays valid for
    the rest of the search. ``rules.rides`` is overwritten (1: no rides-aware pruning). Returns seg."""
    n = len(rules.lb)
    R = res_t.shape[0]
    lower_bounds(tt, rules, g, org_stops, org_access, rules.lb, rules.lb_board, rules.lb_walk)
    for s in range(n):
        rules.rides[s] = 1
    for r in range(R):
        for s in range(n):
            late[r, s] = -INF
    src_times = np.empty(len(tgt_stops), np.int64)
    done = np.empty(R, np.int64)
    nd = 0
    for kk in range(R):
        a = res_t[kk]
        dup = a >= INF
        for x in range(nd):
            if done[x] == a:
                dup = True
        if dup:
            continue
        done[nd] = a
        nd += 1
        clear_labels(lab)
        for x in range(lab.res_t.shape[0]):
            lab.res_t[x] = 1 - t_start
        seg = _seg_room(seg, 0, lab.ride_t.shape[0], len(tt.inseat_to_trip))
        for i in range(len(tgt_stops)):
            src_times[i] = np.int64(tgt_egress[i]) - (a - 1)
        raptor_run(tt, rules, lab, seg, tgt_stops, src_times, lab.scalars[3] + 1, False, False)
        top = lab.scalars[6]
        for x in range(lab.scalars[5]):
            s = lab.dirty[x]
            for r in range(R - 1):
                for j in range(max(1, rides[s]), R - r):
                    if res_t[r + j] != a:
                        continue
                    t = lab.ride_t[min(j, top - 1), s]
                    if t != NONE32 and -np.int64(t) > late[r, s]:
                        late[r, s] = -np.int64(t)
    for s in range(n):  # rounds with no result yet: no bound
        j0 = max(1, rides[s])
        for r in range(R):
            if r + j0 < R and res_t[r + j0] >= INF:
                late[r, s] = INF
    return seg


@njit(nogil=True, cache=True)
def late_bounds_flat(recs, rules, seg, tgt_stops, tgt_egress, org_stops, org_access, res_t, rides, t_start, late):
    """`late_bounds` with its records from one `SearchRecords` and its rules a plain tuple (see
    `range_search_flat`)."""
    return late_bounds(recs.tt, _rules_of(rules), recs.g, recs.lab, seg, tgt_stops, tgt_egress, org_stops,
                       org_access, res_t, rides, t_start, late)


# ---- lower bounds (target pruning) -------------------------------------------------------------------------
class StopGraph(NamedTuple):
    """Incoming edges per stop, for lower bounds on the time to the targets (`lower_bounds`, `fewest_rides`):
    each hop between consecutive stops (``in_fp`` -1) at its fastest trip from departure to arrival (``in_w``,
    dwell left out) and from arrival to arrival (``in_ride``: staying on board through the stop it leaves, dwell
    included), each in-seat link (``in_fp`` -2, 0 s) and each footpath (its time depends on the query's walking
    speed: ``in_fp`` is its index). No waiting, every pattern, all trips: any journey takes at least as long.
    Per stop the hops come first, then the in-seat links from ``in_other[s]`` on, then the footpaths from
    ``in_foot[s]`` on (`lower_bounds` and `fewest_rides` read each kind apart)."""

    in_start: np.ndarray
    in_from: np.ndarray
    in_w: np.ndarray
    in_fp: np.ndarray
    in_ride: np.ndarray
    in_other: np.ndarray
    in_foot: np.ndarray


_HOP, _LINK = -1, -2  # StopGraph.in_fp of the edges that are not footpaths


@njit(nogil=True, cache=True)
def _hop_edges(tt):
    """(from, to, seconds departure to arrival, seconds arrival to arrival, kind) of every hop at its fastest
    trip, then every in-seat link (0 s, `_LINK`). Arrival to arrival only where no trip's times go back
    (`Timetable.pattern_ordered`), else the hop's own time."""
    n_pat = len(tt.pattern_stops_start) - 1
    n = len(tt.pattern_stops) + len(tt.inseat_to_trip)
    u = np.empty(n, np.int32)
    v = np.empty(n, np.int32)
    w = np.empty(n, np.int64)
    w_ride = np.empty(n, np.int64)
    kind = np.empty(n, np.int32)
    m = 0
    for p in range(n_pat):
        base = tt.pattern_stops_start[p]
        L = tt.pattern_stops_start[p + 1] - base
        nt = tt.pattern_trips_start[p + 1] - tt.pattern_trips_start[p]
        times0 = tt.pattern_times_start[p]
        if nt == 0:
            continue
        for i in range(L - 1):
            best = INF
            best_ride = INF
            for j in range(nt):
                off = times0 + j * L + i
                d = np.int64(tt.st_arr[off + 1]) - np.int64(tt.st_dep[off])
                if d < best:
                    best = d
                d = np.int64(tt.st_arr[off + 1]) - np.int64(tt.st_arr[off])
                if d < best_ride:
                    best_ride = d
            u[m] = tt.pattern_stops[base + i]
            v[m] = tt.pattern_stops[base + i + 1]
            w[m] = max(best, np.int64(0))
            w_ride[m] = max(best_ride, np.int64(0)) if tt.pattern_ordered[p] else w[m]
            kind[m] = _HOP
            m += 1
    for ta in range(len(tt.inseat_start) - 1):
        pa = tt.trip_pattern[ta]
        for e in range(tt.inseat_start[ta], tt.inseat_start[ta + 1]):
            tb = tt.inseat_to_trip[e]
            pb = tt.trip_pattern[tb]
            u[m] = tt.pattern_stops[tt.pattern_stops_start[pa] + tt.inseat_from_pos[e]]
            v[m] = tt.pattern_stops[tt.pattern_stops_start[pb] + tt.inseat_to_pos[e]]
            w[m] = 0
            w_ride[m] = 0
            kind[m] = _LINK
            m += 1
    return u[:m], v[:m], w[:m], w_ride[:m], kind[:m]


def stop_graph(tt: Timetable) -> StopGraph:
    """The timetable's StopGraph (deduplicated: per stop pair and kind, the fastest of parallel edges)."""
    n = len(tt.fp_start) - 1
    u, v, w, w_ride, kind = _hop_edges(tt)
    if len(u):
        order = np.lexsort((kind, u, v))
        u, v, w, w_ride, kind = u[order], v[order], w[order], w_ride[order], kind[order]
        first = np.ones(len(u), np.bool_)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1]) | (kind[1:] != kind[:-1])
        at = np.flatnonzero(first)
        w, w_ride = np.minimum.reduceat(w, at), np.minimum.reduceat(w_ride, at)
        u, v, kind = u[first], v[first], kind[first]
    fa = np.repeat(np.arange(n, dtype=np.int32), np.diff(np.asarray(tt.fp_start, np.int64)))
    fe = np.arange(len(tt.fp_to), dtype=np.int32)
    frm = np.concatenate([u, fa]).astype(np.int32)
    to = np.concatenate([v, np.asarray(tt.fp_to, np.int32)])
    wt = np.concatenate([w, np.zeros(len(fe), np.int64)])
    wr = np.concatenate([w_ride, np.zeros(len(fe), np.int64)])
    fp = np.concatenate([kind.astype(np.int32), fe])
    order = np.lexsort((np.where(fp == _HOP, 0, np.where(fp == _LINK, 1, 2)), to))  # by stop: hops, links, walks
    start = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(to, minlength=n), out=start[1:])
    other = (start[:-1] + np.bincount(to[fp == _HOP], minlength=n)).astype(np.int32)
    foot = (other + np.bincount(to[fp == _LINK], minlength=n)).astype(np.int32)
    return StopGraph(start, frm[order], wt[order], fp[order], wr[order], other, foot)


@njit(nogil=True, cache=True)
def lower_bounds(tt, rules, g, tgt_stops, tgt_egress, lb, lb_board, lb_walk):
    """Dijkstra backwards from the targets (their egress seconds) over ``g`` with two states per stop: arrived
    there by vehicle (``lb``: alight, or stay on board) and ready to board (``lb_board``). Each bounds the seconds
    any journey needs from such a label to a target's result (INF: none can be reached):
      arrived at s  ≤  egress(s) if s is a target; walk(s, u) + egress(u) to a target u; the change at s
                        (max(min_transfer_s, the feed's time for s)) + ready at s; max(walk(s, u), min_transfer_s)
                        + ready at u (the transfer rule of the module docstring); along a hop s → v staying on
                        board, its fastest arrival-to-arrival time + arrived at v; an in-seat link + ready at its
                        to-stop (the linked trip leaves no earlier than the ride arrives)
      ready at s    ≤  along a hop s → v, its fastest departure-to-arrival time + arrived at v
    Every pattern, every trip, no waiting: each is at most what a real journey takes, whichever trips and rules
    it keeps to. ``lb_walk``: from a walk label (walked to u by one footpath): end there (egress) or board, the
    least of the two. Bounding each kind of label by its own state counts the change time and the dwell of a
    seated passenger, which one bound for all states (the least of them) cannot."""
    n = len(lb)
    for s in range(n):
        lb[s] = INF
        lb_board[s] = INF
        lb_walk[s] = INF
    mt = rules.min_transfer_s
    for i in range(len(tgt_stops)):
        s = tgt_stops[i]
        lb_walk[s] = min(lb_walk[s], np.int64(tgt_egress[i]))  # (a walk label's egress)
    # the starts: a target's egress, one footpath into a target (a walk ends a journey too); the longest edge
    w_max = np.int64(0)
    for i in range(len(tgt_stops)):
        s = tgt_stops[i]
        lb[s] = min(lb[s], lb_walk[s])
        for x in range(g.in_start[s], g.in_start[s + 1]):
            f = g.in_fp[x]
            if f >= 0:
                v = g.in_from[x]
                lb[v] = min(lb[v], lb_walk[s] + _walk_seconds(tt.fp_dist[f], tt.fp_fixed_s[f], rules.walk_speed))
    walk = np.empty(len(tt.fp_to), np.int64)  # each footpath's seconds at this speed, worked out once
    for f in range(len(walk)):
        walk[f] = _walk_seconds(tt.fp_dist[f], tt.fp_fixed_s[f], rules.walk_speed)
        w_max = max(w_max, max(walk[f], mt))
    for x in range(len(g.in_from)):
        w_max = max(w_max, max(g.in_w[x], g.in_ride[x]))
    for s in range(n):
        w_max = max(w_max, max(mt, np.int64(tt.stop_min_transfer[s])))
    lo = INF
    hi = np.int64(0)
    for s in range(n):
        if lb[s] < INF:
            lo = min(lo, lb[s])
            hi = max(hi, lb[s])
    if lo == INF:
        return
    # a bucket queue (Dial): one bucket per second, used round and round; every entry waiting lies within the
    # longest edge (or the spread of the starts) of the time being settled, so with more buckets than that each
    # holds entries of one time only: O(1) a push or pop and one look per second, no heap
    ring = np.int64(1)
    while ring <= max(w_max, hi - lo):  # (a power of two: the bucket of t is t & (ring - 1), no division)
        ring *= 2
    head = np.full(ring, -1, np.int32)
    cap = 2 * len(g.in_from) + 2 * n + 1
    nxt = np.empty(cap, np.int32)
    st = np.empty(cap, np.int32)  # the entry's state: 2 * stop (arrived) or 2 * stop + 1 (ready to board)
    used = 0
    for s in range(n):
        if lb[s] < INF:
            used = _bucket_push(head, nxt, st, used, lb[s], 2 * s)
    popped = 0
    d = lo
    while popped < used:
        b = d & (ring - 1)
        e = head[b]
        if e < 0:
            d += 1
            continue
        head[b] = nxt[e]
        popped += 1
        state = st[e]
        u = state // 2
        if state % 2 == 0:  # arrived at u: a hop into u, riding on (arrived before) or boarding (ready before)
            if d > lb[u]:
                continue
            for x in range(g.in_start[u], g.in_other[u]):
                v = g.in_from[x]
                nd = d + g.in_ride[x]
                if nd < lb[v]:
                    lb[v] = nd
                    used = _bucket_push(head, nxt, st, used, nd, 2 * v)
                nd = d + g.in_w[x]
                if nd < lb_board[v]:
                    lb_board[v] = nd
                    used = _bucket_push(head, nxt, st, used, nd, 2 * v + 1)
        else:  # ready at u: a change at u, a walking change or an in-seat link into u (arrived before)
            if d > lb_board[u]:
                continue
            nd = d + max(mt, np.int64(tt.stop_min_transfer[u]))
            if nd < lb[u]:
                lb[u] = nd
                used = _bucket_push(head, nxt, st, used, nd, 2 * u)
            for x in range(g.in_other[u], g.in_start[u + 1]):
                f = g.in_fp[x]
                v = g.in_from[x]
                nd = d + (np.int64(0) if f == _LINK else max(walk[f], mt))
                if nd < lb[v]:
                    lb[v] = nd
                    used = _bucket_push(head, nxt, st, used, nd, 2 * v)
    for s in range(n):
        if lb_board[s] < lb_walk[s]:
            lb_walk[s] = lb_board[s]


@njit(nogil=True, cache=True, inline="always")
def _bucket_push(head, nxt, st, used, t, state):
    """`lower_bounds`' bucket queue: entry ``used`` (state at time t) into the bucket of t (``head`` a power of
    two long); returns the entries used. (Arrays, not a record: see `_walk_seconds`.)"""
    b = t & (len(head) - 1)
    st[used] = state
    nxt[used] = head[b]
    head[b] = used
    return used + 1


@njit(nogil=True, cache=True)
def fewest_rides(g, tgt_stops, rides):
    """Breadth-first backwards from the targets over ``g``, by rides: ``rides[s]`` ≤ the rides of any journey
    from a board label at s to a target's result (≥ 1; a large number when none can reach one). Three states
    per stop, each reached with the fewest rides still to go: arrived (after a ride: 0 at a target or one
    footpath from one), on board (at s with a ride under way: it may alight there, or have come along a hop
    or in-seat link; patterns are not told apart, so this may only undercount) and boarding (one ride more
    than on board, reached from arriving there or one footpath before)."""
    n = len(rides)
    far = np.int64(1 << 20)
    arrived = np.full(n, far, np.int64)
    onboard = np.full(n, far, np.int64)
    for s in range(n):
        rides[s] = far
    cur = np.empty(3 * n, np.int64)  # this level's states as 3 * stop + (0 arrived, 1 on board, 2 boarding)
    nxt = np.empty(3 * n, np.int64)
    nc = 0
    for i in range(len(tgt_stops)):
        u = tgt_stops[i]
        if arrived[u] > 0:
            arrived[u] = 0
            cur[nc] = 3 * u
            nc += 1
        for x in range(g.in_foot[u], g.in_start[u + 1]):  # one footpath into a target ends a journey too
            v = g.in_from[x]
            if arrived[v] > 0:
                arrived[v] = 0
                cur[nc] = 3 * v
                nc += 1
    r = np.int64(0)
    while nc > 0:
        nn = 0
        i = 0
        while i < nc:  # this level's states, each found once (no state gets fewer rides later)
            s = cur[i] // 3
            kind = cur[i] % 3
            i += 1
            if kind == 0:  # arrived at s: alighted there
                if onboard[s] > r:
                    onboard[s] = r
                    cur[nc] = 3 * s + 1
                    nc += 1
            elif kind == 1:  # on board at s: on board one hop or in-seat link before; boarding s takes one more
                for x in range(g.in_start[s], g.in_foot[s]):  # (hops and in-seat links)
                    v = g.in_from[x]
                    if onboard[v] > r:
                        onboard[v] = r
                        cur[nc] = 3 * v + 1
                        nc += 1
                if rides[s] > r + 1:
                    rides[s] = r + 1
                    nxt[nn] = 3 * s + 2
                    nn += 1
            else:  # boarding at s: arrived there (a change), or one footpath before (a walking change)
                if arrived[s] > r:
                    arrived[s] = r
                    cur[nc] = 3 * s
                    nc += 1
                for x in range(g.in_foot[s], g.in_start[s + 1]):
                    v = g.in_from[x]
                    if arrived[v] > r:
                        arrived[v] = r
                        cur[nc] = 3 * v
                        nc += 1
        cur, nxt = nxt, cur
        nc = nn
        r += 1


# ---- Python side: timetables, query, result, journeys ------------------------------------------------------
def timetable_of(model, inseat: bool = True) -> Timetable:
    """The model's arrays as a Timetable (cached per model; without in-seat links when ``inseat`` is False)."""
    key = "_timetable_inseat" if inseat else "_timetable_plain"
    cached = model.__dict__.get(key)
    if cached is not None:
        return cached
    if inseat:
        links = (model.inseat_start, model.inseat_to_trip, model.inseat_from_pos, model.inseat_to_pos,
                 model.trip_inseat_class, model.pattern_inseat_classes, model.trip_inseat_classes_after)
    else:
        none = np.empty(0, np.int32)
        links = (np.zeros(model.n_trips + 1, np.int32), none, none, none, np.full(model.n_trips, -1, np.int32),
                 np.zeros(model.n_patterns, np.int32), np.zeros(model.n_trips, np.int32))
    tt = Timetable(model.pattern_stops_start, model.pattern_stops, model.pattern_trips_start,
                   np.asarray(model.pattern_times_start, np.int64), model.st_arr, model.st_dep, model.st_pickup,
                   model.st_dropoff, model.trip_pattern, model.trip_wheelchair, model.sp_start, model.sp_pattern,
                   model.sp_pos, model.fp_start, model.fp_to, model.fp_dist, model.fp_fixed_s,
                   np.asarray(model.stop_min_transfer, np.int32), model.stop_wheelchair, *links,
                   _dep_by_pos_of(model, "_dep_by_pos", model.st_dep),
                   _ordered_of(model, "_ordered", model.st_arr, model.st_dep),
                   _open_of(model, model.st_pickup, model.st_dropoff))
    model.__dict__[key] = tt
    return tt


def _dep_by_pos_of(model, key: str, st_dep: np.ndarray) -> np.ndarray:
    """Departures grouped by pattern position (cached per model and clock): the earliest-trip search at a stop
    then reads one contiguous column instead of one cache line per trip."""
    out = model.__dict__.get(key)
    if out is None:
        st_dep = np.asarray(st_dep)
        out = np.empty(len(st_dep), st_dep.dtype)
        _by_position(model.pattern_stops_start, model.pattern_trips_start,
                     np.asarray(model.pattern_times_start, np.int64), st_dep, out)
        model.__dict__[key] = out
    return out


def _ordered_of(model, key: str, st_arr: np.ndarray, st_dep: np.ndarray) -> np.ndarray:
    """`Timetable.pattern_ordered` for these times (cached per model and clock)."""
    out = model.__dict__.get(key)
    if out is None:
        out = np.empty(model.n_patterns, np.bool_)
        _patterns_where(np.asarray(model.pattern_stops_start), np.asarray(model.pattern_trips_start),
                        np.asarray(model.pattern_times_start, np.int64), np.asarray(st_arr), np.asarray(st_dep), True,
                        out)
        model.__dict__[key] = out
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
    """out[p]: every stop time of pattern p passes the check. ``ordered`` (a arrivals, b departures): every trip
    leaves each stop no earlier than it arrives and arrives at the next stop no earlier than it left (then a trip's
    arrivals along the pattern grow at least by the StopGraph's hop times). Else (a pickup, b drop-off types):
    both regular (1) everywhere."""
    for p in range(len(pattern_times_start)):
        L = pattern_stops_start[p + 1] - pattern_stops_start[p]
        nt = pattern_trips_start[p + 1] - pattern_trips_start[p]
        t0 = pattern_times_start[p]
        ok = True
        for x in range(t0, t0 + nt * L):
            if ordered:
                bad = b[x] < a[x] or ((x - t0) % L < L - 1 and a[x + 1] < b[x])
            else:
                bad = a[x] != 1 or b[x] != 1
            if bad:
                ok = False
                break
        out[p] = ok


@njit(nogil=True, cache=True)
def _by_position(pattern_stops_start, pattern_trips_start, pattern_times_start, st, out):
    for p in range(len(pattern_times_start)):
        L = pattern_stops_start[p + 1] - pattern_stops_start[p]
        nt = pattern_trips_start[p + 1] - pattern_trips_start[p]
        t0 = pattern_times_start[p]
        for j in range(nt):
            for i in range(L):
                out[t0 + i * nt + j] = st[t0 + j * L + i]


@dataclass(frozen=True)
class Reversal:
    """How the reversed timetable maps back: trip' → trip (patterns keep their index, position i' ↔ L-1-i')."""

    trip_of: np.ndarray


def reversed_timetable(model, inseat: bool = False) -> tuple[Timetable, Reversal]:
    """The model with time running backwards (cached per model): each pattern's stops reversed, each trip's
    times negated (departure' = -arrival), trips in reverse order (FIFO still holds), pickup ↔ drop-off,
    footpaths transposed. A forward search on it from the targets is a backward search: its arrival is minus
    the latest departure. ``inseat``: with the in-seat links reversed (`_reversed_links`)."""
    key = "_timetable_reversed_inseat" if inseat else "_timetable_reversed"
    cached = model.__dict__.get(key)
    if cached is not None:
        return cached
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
    trip_p = np.asarray(model.trip_pattern, np.int64)
    trip_j = np.arange(model.n_trips) - pts[trip_p]
    trip_of = (pts[trip_p] + pn[trip_p] - 1 - trip_j).astype(np.int32)  # trip' → original (an involution)
    # stop times: flat index of (p, j', i') ← (p, n-1-j', L-1-i')
    st_p = np.repeat(np.arange(n_pat), plen * pn)
    k = np.arange(len(model.st_arr)) - ptimes[st_p]
    L = plen[st_p]
    jr, ir = k // L, k % L
    src = ptimes[st_p] + (pn[st_p] - 1 - jr) * L + (L - 1 - ir)
    st_arr = (-np.asarray(model.st_dep)[src]).astype(np.int32)
    st_dep = (-np.asarray(model.st_arr)[src]).astype(np.int32)
    sp_pat = np.asarray(model.sp_pattern)
    sp_pos = (plen[sp_pat] - 1 - np.asarray(model.sp_pos)).astype(np.int32)
    # footpaths transposed
    n = model.n_stops
    fa = np.repeat(np.arange(n), np.diff(model.fp_start))
    order = np.lexsort((fa, np.asarray(model.fp_to)))
    fp_start = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(np.asarray(model.fp_to), minlength=n), out=fp_start[1:])
    if inseat:
        links = _reversed_links(model, trip_of, plen)
    else:
        none = np.empty(0, np.int32)
        links = (np.zeros(model.n_trips + 1, np.int32), none, none, none, np.full(model.n_trips, -1, np.int32),
                 np.zeros(n_pat, np.int32), np.zeros(model.n_trips, np.int32))
    # arrays equal to the model's (flags where every stop time allows both, symmetric footpaths) are the model's:
    # one copy each (all-Tokyo rail: -3.7 MiB a day)
    from routing.timetable import _shared_if_equal as same

    pickup = same(np.asarray(model.st_dropoff)[src], model.st_pickup, model.st_dropoff)
    dropoff = same(np.asarray(model.st_pickup)[src], model.st_dropoff, model.st_pickup, pickup)
    tt = Timetable(model.pattern_stops_start, stops_rev.astype(np.int32), model.pattern_trips_start, ptimes,
                   st_arr, st_dep, pickup, dropoff,
                   model.trip_pattern, same(np.asarray(model.trip_wheelchair)[trip_of], model.trip_wheelchair),
                   model.sp_start, sp_pat, sp_pos, same(fp_start, model.fp_start),
                   same(fa[order].astype(np.int32), model.fp_to), same(np.asarray(model.fp_dist)[order], model.fp_dist),
                   same(np.asarray(model.fp_fixed_s)[order], model.fp_fixed_s),
                   np.asarray(model.stop_min_transfer, np.int32),
                   model.stop_wheelchair, *links, _dep_by_pos_of(model, "_dep_by_pos_reversed", st_dep),
                   _ordered_of(model, "_ordered_reversed", st_arr, st_dep),
                   _open_of(model, model.st_pickup, model.st_dropoff))
    out = (tt, Reversal(trip_of))
    model.__dict__[key] = out
    return out


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
    return (start, rb.astype(np.int32), rfpos.astype(np.int32), rtpos.astype(np.int32), cls, per_pattern, after)


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


def new_labels(n_stops: int, n_patterns: int, n_trips: int, n_classes: int, rounds: int, n_links: int) -> Labels:
    R = rounds
    full = lambda dt_, v: np.full((R, n_stops), v, dt_)  # noqa: E731
    n_dom = n_patterns if n_links > 0 else 0
    n_seat = n_trips if n_links > 0 else 0
    return Labels(
        full(np.int32, NONE32), full(np.int8, -1), full(np.int32, -1), full(np.int32, -1), full(np.int32, -1),
        full(np.int32, -1), full(np.int8, -1), full(np.int32, -1),
        full(np.int32, NONE32), full(np.int8, -1), full(np.int32, -1),
        full(np.int32, NONE32), full(np.int8, -1), full(np.int8, -1), full(np.int32, -1),
        np.full(R, INF, np.int64), np.full(R, -1, np.int8), np.full(R, -1, np.int32), np.full(R, -1, np.int8),
        np.full(R, -1, np.int64), np.full(n_stops, -1, np.int64),
        np.zeros(n_stops, np.bool_), np.full(n_stops, -1, np.int64), np.empty(n_stops, np.int32),
        np.empty(n_stops, np.int32), np.zeros(n_stops, np.bool_), np.empty(n_stops, np.int32),
        np.zeros(n_stops, np.bool_), np.empty(n_stops, np.int32), np.full(n_patterns, -1, np.int32),
        np.full(n_patterns, -1, np.int32),
        np.empty(n_patterns, np.int32), np.empty((n_links + 1, 4), np.int32),
        np.full(n_seat, -1, np.int64), np.zeros(n_seat, np.int32),
        np.full(n_dom, -1, np.int64), np.zeros(n_dom, np.int32), np.zeros(n_dom, np.int32),
        np.full(n_dom, -1, np.int64), np.zeros(n_dom, np.int32), np.zeros(n_dom, np.int32),
        np.zeros(n_classes + 1, np.int64), np.full(n_patterns, -1, np.int64), np.zeros((R, n_patterns), np.int32),
        np.zeros(8, np.int64), np.zeros(7, np.int64))


@njit(nogil=True, cache=True, _nrt=False)
def clear_labels(lab):
    """Clear what the last search wrote (the stops on its dirty list), so one Labels serves many searches. The
    run counter and the class stamp keep counting, so the in-seat stamps of old runs never match new ones.
    (Targets' egress is cleared by the search that set it.)"""
    R = lab.ride_t.shape[0]
    n = len(lab.touched_run)
    n_dirty = lab.scalars[5]
    if 8 * n_dirty > n:  # most stops: row by row is faster than stop by stop (one cache line per label)
        for k in range(R):
            lab.ride_t[k, :] = NONE32
            lab.ride_round[k, :] = -1
            lab.walk_t[k, :] = NONE32
            lab.walk_round[k, :] = -1
            lab.board_t[k, :] = NONE32
            lab.board_round[k, :] = -1
        lab.touched_run[:] = -1
    else:
        for r in range(n_dirty):
            s = lab.dirty[r]
            lab.touched_run[s] = -1
            for k in range(R):
                lab.ride_t[k, s] = NONE32
                lab.ride_round[k, s] = -1
                lab.walk_t[k, s] = NONE32
                lab.walk_round[k, s] = -1
                lab.board_t[k, s] = NONE32
                lab.board_round[k, s] = -1
    for k in range(R):
        lab.res_t[k] = INF
        lab.res_round[k] = -1
        lab.res_run[k] = -1
        lab.res_stop[k] = -1
    lab.scalars[0] = 0
    lab.scalars[2] = 0
    lab.scalars[4] = 0
    lab.scalars[5] = 0
    lab.scalars[6] = 1
    for i in range(len(lab.counters)):
        lab.counters[i] = 0


_POOL = threading.local()


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
    board = _lru_get(pool, (n_stops, rounds))
    if board is None:
        board = _lru_put(pool, (n_stops, rounds), np.full((rounds, n_stops), INF, np.int64))
    return Cutter(np.int64(after), board)


_NO_BOARD = np.empty((0, 0), np.int64)
_NO_LATE = np.empty((0, 0), np.int64)

# Runs of a range search beyond which it works out the time-dependent target bound after its first run
# (`late_bounds`: one plain run per distinct result, on the reversed timetable)
LATE_BOUND_RUNS = 32


# The Labels arrays with one row (or entry) per round: a search with fewer rounds runs on their first rows
_ROUND_FIELDS = frozenset(("ride_t", "ride_round", "ride_pat", "ride_trip", "ride_bpos", "ride_apos", "ride_bround",
                           "ride_seg", "walk_t", "walk_round", "walk_from", "board_t", "board_round", "board_kind",
                           "board_from", "res_t", "res_round", "res_stop", "res_kind", "res_run", "board_hint"))


def _first_rounds(lab: Labels, rounds: int) -> Labels:
    """``lab`` cut to its first ``rounds`` rounds: views (the first rows of a C-ordered array are C-ordered, the
    same numba type), every other array shared."""
    if lab.ride_t.shape[0] == rounds:
        return lab
    return Labels(*(a[:rounds] if name in _ROUND_FIELDS else a for name, a in zip(Labels._fields, lab)))


def _labels_for(model, tt: Timetable, rounds: int) -> Labels:
    """`_labels_and_records`' Labels."""
    return _labels_and_records(model, tt, rounds)[0]


def _labels_and_records(model, tt: Timetable, rounds: int) -> tuple[Labels, SearchRecords]:
    """A Labels for this model, timetable and round count, reused per thread (allocating and filling the
    per-round arrays costs more than a small search); `range_search` clears it first. One Labels per timetable
    (a small LRU, `_lru_get`), with the most rounds asked for: a search with fewer rounds (a plan's proof runs) runs
    on its first rows (`_first_rounds`), so the per-trip and per-pattern arrays are not held twice (all-Tokyo: ~3 MiB
    a timetable and planner thread). A search clears only the rows it uses, of the stops the last one touched, so
    the rows beyond are kept clear: after a search with more rounds, the whole Labels is cleared before one with
    fewer rounds runs. With it the `SearchRecords` the kernel is called with (the timetable, its StopGraph and
    these labels); both kept per round count, as the views are (a plan asks for the same few round counts again
    and again)."""
    pool = _pooled("labels", dict)
    hit = _lru_get(pool, id(tt), tt)  # [labels, rounds of the last search, {rounds: (labels' view, records)}]
    if hit is None or hit[0].ride_t.shape[0] < rounds:
        hit = _lru_put(pool, id(tt), [new_labels(model.n_stops, model.n_patterns, model.n_trips,
                                                 int(tt.pattern_inseat_classes.sum()), rounds,
                                                 len(tt.inseat_to_trip)), rounds, {}], tt)
    elif rounds < hit[1]:
        clear_labels(hit[0])  # every row of what the last search touched: rows past ``rounds`` stay clear
    hit[1] = rounds
    view = hit[2].get(rounds)
    if view is None:
        lab = _first_rounds(hit[0], rounds)
        view = hit[2][rounds] = (lab, search_records(tt, _graph_of(model, tt), lab))
    return view


class RideLeg(NamedTuple):
    """A ride (named tuples, not dataclasses: a plan builds hundreds of legs, 0.3 µs each instead of 2 µs)."""

    pattern: int
    trip: int
    board_pos: int
    alight_pos: int
    from_stop: int
    to_stop: int
    departure: int
    arrival: int
    stay_seated: bool = False  # continues the previous ride in the same vehicle (in-seat link), no change


class WalkLeg(NamedTuple):
    from_stop: int
    to_stop: int
    departure: int
    arrival: int


class Journey(NamedTuple):
    """One Pareto-optimal journey between a source stop and a target stop (times in model seconds).

    ``start`` is when the traveller is at ``source_stop`` (the query's source time); ``arrival`` includes the
    target's egress time, ``target_arrival`` is at ``target_stop``.
    """

    rides: int
    source_stop: int
    start: int
    target_stop: int
    target_arrival: int
    arrival: int
    legs: tuple

    @property
    def first_departure(self) -> int:
        """Latest time one may leave the source: the first ride's departure minus the walks before it."""
        walked = 0
        for leg in self.legs:
            if isinstance(leg, RideLeg):
                return leg.departure - walked
            walked += leg.arrival - leg.departure
        return self.start

    @property
    def transfers(self) -> int:
        """Vehicle changes: rides minus one, in-seat continuations not counted."""
        return max(sum(1 for leg in self.legs if isinstance(leg, RideLeg) and not leg.stay_seated) - 1, 0)

    @property
    def trip_key(self) -> tuple:
        return tuple(leg.trip for leg in self.legs if isinstance(leg, RideLeg))


@dataclass
class RaptorQuery:
    """Sources (stop, time at the stop) and targets (stop, egress seconds); filters and walking parameters."""

    src_stops: np.ndarray
    src_times: np.ndarray
    tgt_stops: np.ndarray
    tgt_egress: np.ndarray
    max_rides: int = 5
    pattern_allowed: np.ndarray | None = None
    wheelchair: bool = False
    min_transfer_s: int = 60
    walk_speed: float = 1.2
    mask: ClosureMask | None = None
    inseat: bool = False  # follow in-seat links (off by default: costs ~2x latency on the all-Tokyo feed)
    report_walks: bool = True  # a journey without a ride is an answer (the planner offers its own direct walk)
    # (`_query_arrays`' answer with the arrays it was worked out from; not copied by dataclasses.replace)
    _arrays: tuple | None = field(default=None, init=False, repr=False, compare=False)


@dataclass(frozen=True)
class Counters:
    """What the search did: rounds run, routes scanned, labels improved, runs (departure times searched),
    patterns the latest-boarding cut left unqueued (`Cutter`), stops visited by the route scans."""

    rounds: int
    routes_scanned: int
    labels_improved: int
    runs: int
    routes_cut: int = 0
    stops_visited: int = 0
    late_held: int = 0  # board labels the time-dependent bound left unqueued (`late_bounds`)


@dataclass
class RaptorResult:
    """The journeys one search found (Pareto over arrival and rides, per departure in a range search)."""

    journeys: list[Journey]
    counters: Counters
    res_t: np.ndarray = field(repr=False, default=None)  # best arrival with at most k rides, per k
    departures: int = 0  # departure times inside a range search's window (its last run at the start aside)
    # the window's latest departure (earliest arrival, backward) in real time: its first run, a plain search from
    # there, whose journeys are not known to leave (arrive, backward) as late (early) as they can; None: no run
    first_run: int | None = None

    def pareto(self) -> list[Journey]:
        """Journeys with strictly fewer arrivals as rides grow: the (arrival, rides) Pareto set of the search
        (for a range search, of its last departure)."""
        out: list[Journey] = []
        best = int(INF)
        for j in sorted(self.journeys, key=lambda j: j.rides):
            if j.arrival < best:
                best = j.arrival
                out.append(j)
        return out


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


def _flat_rules(model, q: RaptorQuery, reverse: bool, bounds: np.ndarray, latest: Cutter,
                late: np.ndarray | None = None) -> tuple:
    """The query's `Rules` as `range_search_flat` takes them: a plain tuple of its fields, the Cutter a plain
    tuple at the end. ``bounds``: `_bounds_for`'s rows; ``late``: `late_bounds`' (none: 0 × 0)."""
    closures, arrays = _mask_arrays(model, q.mask, reverse)
    if q.pattern_allowed is not None:
        allowed = np.asarray(q.pattern_allowed, np.bool_)
    else:
        allowed = model.__dict__.get("_all_patterns")
        if allowed is None:
            allowed = model.__dict__["_all_patterns"] = np.ones(model.n_patterns, np.bool_)
    return (*arrays, allowed, bool(q.wheelchair), np.int64(q.min_transfer_s), float(q.walk_speed), closures,
            bool(q.report_walks), bool(reverse), bounds[0], bounds[1], bounds[2], bounds[3],
            _NO_LATE if late is None else late, (latest.after, latest.board))


def _graph_of(model, tt: Timetable) -> StopGraph:
    """The StopGraph of a timetable of this model (cached with it)."""
    cache = model.__dict__.setdefault("_stop_graphs", {})
    g = _lru_get(cache, id(tt), tt)
    if g is None:
        g = _lru_put(cache, id(tt), stop_graph(tt), tt)
    return g


def _bounds_for(tt: Timetable, q: RaptorQuery, tgt: np.ndarray, egress: np.ndarray) -> tuple[np.ndarray, bool]:
    """The bounds for these targets, rows ``Rules.lb``, ``Rules.rides``, ``Rules.lb_board`` and ``Rules.lb_walk``,
    and whether they are filled already: the last few per thread are kept, since a plan searches the same targets
    in several windows (the bounds depend only on `_bounds_key`). A new array is filled by the search, then
    kept (`_keep_bounds`; the kernel only reads it afterwards)."""
    lb = _lru_get(_pooled("bounds", dict), _bounds_key(tt, q, tgt, egress), tt)
    if lb is not None:
        return lb, True
    return np.empty((4, len(tt.fp_start) - 1), np.int64), False


def _keep_bounds(tt: Timetable, q: RaptorQuery, tgt: np.ndarray, egress: np.ndarray, lb: np.ndarray) -> None:
    _lru_put(_pooled("bounds", dict), _bounds_key(tt, q, tgt, egress), lb, tt, size=4)


def _bounds_key(tt: Timetable, q: RaptorQuery, tgt: np.ndarray, egress: np.ndarray) -> tuple:
    """What the lower bounds depend on: the timetable, the targets with their egress, the walking speed and the
    least change time."""
    return id(tt), tgt.tobytes(), egress.tobytes(), float(q.walk_speed), int(q.min_transfer_s)


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
    trip_of = rev.trip_of.item
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
    c = lab.counters.tolist()
    return Counters(c[C_ROUNDS], c[C_ROUTES], c[C_IMPROVED], c[C_RUNS], c[C_CUT], c[C_STOPS], c[C_LATE])


def _pooled(name: str, make):
    """This thread's reusable buffer ``name`` (made by ``make`` the first time)."""
    buf = getattr(_POOL, name, None)
    if buf is None:
        buf = make()
        setattr(_POOL, name, buf)
    return buf


def _lru_get(pool: dict, key, owner=None):
    """The value `_lru_put` stored under ``key`` with this very ``owner`` (a key holding an ``id()`` outlives
    its object: a new one may get the same id), now the most recently used; None when there is none."""
    hit = pool.pop(key, None)
    if hit is None or hit[0] is not owner:
        return None
    pool[key] = hit
    return hit[1]


def _lru_put(pool: dict, key, value, owner=None, size: int = 8):
    """Store ``value`` under ``key`` (see `_lru_get`), dropping the least recently used beyond ``size``: a
    small pool of what a thread or model reuses, where clearing it whole when full would make the next searches
    allocate again. Returns ``value``."""
    while len(pool) >= size:
        pool.pop(next(iter(pool)))
    pool[key] = (owner, value)
    return value


def drop_thread_buffers() -> int:
    """Forget this thread's pooled labels, buffers and lower bounds (all `_pooled`); returns the bytes of the
    arrays dropped. For a thread that planned once and will not plan again (a server's warm-up runs a plan on
    the calling thread first, then on every planner thread): on all-Tokyo its labels alone are tens of MiB. A
    later search on this thread simply allocates them again."""
    seen: set[int] = set()
    total = 0

    def count(v) -> None:
        nonlocal total
        if isinstance(v, np.ndarray):
            base = v.base if isinstance(v.base, np.ndarray) else v
            if id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
        elif isinstance(v, (tuple, list)) and not isinstance(v, Timetable):  # a timetable is the model's
            for x in v:
                count(x)
        elif isinstance(v, dict):
            for x in v.values():
                count(x)

    pool = vars(_POOL)
    for v in pool.values():
        count(v)
    pool.clear()
    return total


def _min_by_stop(stops, values) -> dict[int, int]:
    out: dict[int, int] = {}
    for s, v in zip(np.asarray(stops).tolist(), np.asarray(values).tolist()):
        out[s] = min(v, out.get(s, v))
    return out


def _search(model, tt: Timetable, q: RaptorQuery, reverse: bool, src_stops: np.ndarray, access: np.ndarray,
            t0: int, t1: int, bound: int = INF) -> tuple[Labels, list, list, int, int]:
    """One `range_search` with this thread's pooled labels and buffers: (labels, journey rows, leg rows,
    departures in the window, the first run's departure)."""
    tgt = np.asarray(q.tgt_stops, np.int64)
    egress = np.asarray(q.tgt_egress, np.int64)
    lb, known = _bounds_for(tt, q, tgt, egress)
    rounds = int(max(0, q.max_rides)) + 1
    rules = _flat_rules(model, q, reverse, lb, _cutter(model.n_stops, rounds))
    lab, recs = _labels_and_records(model, tt, rounds)
    # seat segments: the kernel grows them to rounds × in-seat links (on all-Tokyo 11 MB, too much to allocate
    # and fault in per search)
    seg = getattr(_POOL, "seg", None)
    if seg is None:
        seg = np.empty((1, 6), np.int32)
    out = getattr(_POOL, "out", None)
    if out is None:
        out = new_output(64, 1024)
    pause_runs = int(LATE_BOUND_RUNS) if bound >= INF and _late_ok(model, q, reverse) else 1 << 62
    seg2, out2, n_departures, first_tau, paused = range_search_flat(
        recs, rules, seg, tuple(out), src_stops, access, tgt, egress, known, int(t0), int(t1), int(bound), False,
        pause_runs)  # (Python ints: typed int64 as np.int64 is, without making three numpy scalars a call)
    if out2 is not None:  # (grown: the kernel's new arrays, else the ones it filled)
        out = out2
    seg = seg if seg2 is None else seg2
    if paused:  # the first run found results: the time-dependent bound from them, then the other runs
        late = _late_for(model, tt, q, reverse, lb[1], lab.res_t, src_stops, access, tgt, egress, t0, rounds)
        rules = _flat_rules(model, q, reverse, lb, _cutter(model.n_stops, rounds), late)
        seg2, out2, n_departures, first_tau, _ = range_search_flat(
            recs, rules, seg, tuple(out), src_stops, access, tgt, egress, True, int(t0), int(t1), int(bound), True,
            pause_runs)
        if out2 is not None:
            out = out2
        seg = seg if seg2 is None else seg2
    _POOL.seg, _POOL.out = seg, out
    if not known:
        _keep_bounds(tt, q, tgt, egress, lb)
    used_j, used_l = out.used.tolist()
    return lab, out.journeys[:used_j].tolist(), out.legs[:used_l].tolist(), n_departures, int(first_tau)


def _late_ok(model, q: RaptorQuery, reverse: bool) -> bool:
    """Whether `late_bounds` may run for this query: no closures, and the other clock's in-seat links include
    this one's (the reversed timetable keeps the links onto a trip's first stop only, `_reversed_links`)."""
    if q.mask is not None:
        return False
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
    bounds = _lru_get(pool, ("bounds", n))
    if bounds is None:
        bounds = _lru_put(pool, ("bounds", n), np.empty((4, n), np.int64))
    late = _lru_get(pool, ("late", n, rounds))
    if late is None:
        late = _lru_put(pool, ("late", n, rounds), np.empty((rounds, n), np.int64))
    rules_o = _flat_rules(model, relaxed, not reverse, bounds, Cutter(np.int64(0), _NO_BOARD))
    _, recs_o = _labels_and_records(model, other, rounds)
    # seat segments: grown by the kernel for this call and dropped after it (not pooled: on all-Tokyo they would
    # keep another 11 MB a planner thread, for the few long searches that work the bound out)
    late_bounds_flat(recs_o, rules_o, np.empty((1, 6), np.int32), tgt, egress, src_stops, access,
                     np.asarray(res_t, np.int64).copy(), rides, np.int64(t0), late)
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
    key = (q.src_stops, q.src_times, q.tgt_stops, q.tgt_egress)
    hit = q._arrays
    if hit is None or any(a is not b for a, b in zip(hit[0], key)):
        src_stops = np.asarray(q.src_stops, np.int64)
        access = np.asarray(q.src_times, np.int64)
        hit = q._arrays = (key, (src_stops, access, _min_by_stop(src_stops, access),
                                 _min_by_stop(q.tgt_stops, q.tgt_egress)))
    return hit[1]


def earliest(model, q: RaptorQuery) -> list[Journey]:
    """Pareto set (arrival, rides) for one departure time."""
    return run_raptor(model, q).pareto()
