"""One RAPTOR run (`raptor_run`): round 0 labels the sources and one footpath from each, then each round k runs
three phases: `scan_routes` (board the earliest trip from the stops improved in round k-1 and ride it),
`follow_inseat_links` (continue a ride in the same vehicle, transfers.txt type 4), `relax_footpaths` (same-stop
changes and one footpath from each stop reached by a ride); `_collect_routes` queues the patterns through the
stops round k-1 improved.
Transfer rule (one for every change): after a ride arriving at s at time a, the next vehicle may leave
  s itself at a + max(min_transfer_s, the feed's same-stop time for s)
  u ≠ s    at a + max(min_transfer_s, walk(s, u))
where walk(s, u) = max(the feed's min_transfer_time for the pair, distance / walking speed): a feed time never
makes a walker faster than the speed asked for (and, with closures, no earlier than the walk can end, `walk_end`).
A walk that ends a journey (or starts it) is just walk(s, u).
Closures (`ClosureMask`) are windows checked against the times actually used: a closed stop is not boarded,
alighted, passed, left or reached on foot while closed, and a walk waits beside it for it to open (`walk_end`:
so leaving later never arrives earlier, both clocks); mode filter, wheelchair and closures hold on in-seat
continuations too. When the trip being ridden meets a closed hop or stop, the scan moves on to the
first later trip that can be ridden there, boarded where the first was or at any stop after it that the traveller
reaches in time (`_board_later_trip`).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.core.extending import intrinsic

from routing.raptor.state import (_HELD, _HELD_RIDES, BOARD_CHANGE, BOARD_SOURCE, BOARD_WALK, C_CUT, C_IMPROVED,
                                  C_LATE, C_ROUNDS, C_ROUTES, C_RUNS, C_STOPS, KIND_RIDE, KIND_SOURCE, KIND_WALK,
                                  NONE32, RIDE_APOS, RIDE_BPOS, RIDE_BROUND, RIDE_PAT, RIDE_SEG, RIDE_TRIP, _blk,
                                  _dep_at, _keep_rows, _label, _touch, walk_end)


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


@njit(nogil=True, cache=True, inline="always")
def _closures_matter(span, p, before):
    """Pattern p has a closure (on it or where its trips go on in-seat: `Rules.pattern_span`) that can change a
    label before ``before`` (the round's result: a later label is dropped anyway, and whatever a closure blocks
    happens after it starts). Else the pattern is scanned as without closures. (Given the array: see `_blk`.)"""
    return span[p, 0] < span[p, 1] and span[p, 0] < before


@njit(nogil=True, cache=True, _nrt=False)
def _trip_ok_from(tt, rules, times0, L, nt, j, bpos, upto, base):
    """Trip j of a pattern (``nt`` trips of L stops) can be ridden from bpos to upto under the closures (boarding
    checked separately)."""
    for m in range(bpos, upto):
        off = times0 + j * L + m
        d = tt.dep_by_pos[_dep_at(times0, nt, j, m)]
        s = tt.pattern_stops[base + m]
        if m > bpos and (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s], tt.st_arr[off], d)):
            return False
        h = base + m
        if (rules.closures and _blk(rules.hop_from[h], rules.hop_until[h], d, tt.st_arr[off + 1])):
            return False
    return True


@njit(nogil=True, cache=True, _nrt=False)
def _board_later_trip(tt, rules, lab, k, times0, L, nt, base, t0, jj, bpos, i):
    """The first position from ``bpos`` on (before i) where trip jj, later than the one the scan rides, can be
    boarded with round k-1's board labels and ridden to i under the query's rules (wheelchair, closures); -1 if
    none. Not just ``bpos``: a closure on the way may stop jj there, yet a stop after it that the traveller
    reaches in time boards it (the in-seat links at i then go on from jj).
    One pass back from i: the positions jj rides on from to i are those after the last closure in its way (a
    closed hop from there, or a closed stop it would pass), so the answer is the first boardable one after it
    (linear in the stops, where trying each position forwards rode on from each: a scan among 100 closures on
    Toei 1.3x slower)."""
    if rules.wheelchair and tt.trip_wheelchair[t0 + jj] != 1:
        return -1
    found = -1
    for m in range(i - 1, bpos - 1, -1):
        off = times0 + jj * L + m
        d = np.int64(tt.dep_by_pos[_dep_at(times0, nt, jj, m)])
        h = base + m
        if rules.closures and _blk(rules.hop_from[h], rules.hop_until[h], d, tt.st_arr[off + 1]):
            break  # (nor from any position before)
        s = tt.pattern_stops[base + m]
        if lab.board_t[k - 1, s] <= d and tt.st_pickup[off] == 1 \
                and not (rules.wheelchair and tt.stop_wheelchair[s] != 1) \
                and not (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s], d, d)):
            found = m
        if rules.closures and _blk(rules.stop_from[s], rules.stop_until[s], tt.st_arr[off], d):
            break  # (passing it is closed: boarding before it is no way on)
    return found


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
        nt_b = tt.pattern_trips_start[pb + 1] - tt.pattern_trips_start[pb]
        offb = times_b + jb * Lb + pos
        d = np.int64(tt.dep_by_pos[_dep_at(times_b, nt_b, jb, pos)])
        sb = tt.pattern_stops[base_b + pos]
        if d < a or d + rules.lb_board[sb] >= lab.res_t[k] \
                or (rules.closures and _blk(rules.stop_from[sb], rules.stop_until[sb], d, d)):
            continue
        last = tt.pattern_stops[base_b + Lb - 1]
        earlier = lab.dom_stamp[pb] != stamp or (jb <= lab.dom_j[pb] and pos <= lab.dom_pos[pb])
        if earlier and (not (rules.closures and _closures_matter(rules.pattern_span, pb, lab.res_t[k])) or (
                _trip_ok_from(tt, rules, times_b, Lb, nt_b, jb, pos, Lb - 1, base_b)
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
        # (what `follow_inseat_links` reads first of it, after this round's route scans: the trip's row and
        # stops from the next position, on lines no route scan needs)
        _prefetch(tt.st_arr, offb + 1)
        _prefetch(tt.pattern_stops, base_b + pos + 1)
    return n_cont


@njit(nogil=True, cache=True, inline="always")
def _links_pending(inseat_start, inseat_from_pos, inseat_to_trip, inseat_to_pos, trip_pattern, pattern_trips_start,
                   pattern_allowed, seat_stamp, seat_pos, dom_stamp, dom_j, dom_pos, e0, e1, i, stamp):
    """Whether `_seat_links` would look further at any of the links e0..e1 leaving position i: one to a trip of
    an allowed pattern not queued this round from as early, nor dominated without links of its own (the cheap
    part of its checks: when none is left it queues nothing, and the call is skipped).
    (Arrays, not records: see `_blk`.)"""
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
def _alight_later(tt, rules, lab, k, p, j, bpos, i):
    """The first trip after j of pattern p that can be boarded at bpos or a stop after it (before i, round k-1's
    board labels, `_board_later_trip`), ridden to i and left there with the stop open (closures only), when its
    arrival improves the ride label at round k: (trip, position boarded); else (-1, -1)."""
    base = tt.pattern_stops_start[p]
    L = tt.pattern_stops_start[p + 1] - base
    t0 = tt.pattern_trips_start[p]
    nt = tt.pattern_trips_start[p + 1] - t0
    times0 = tt.pattern_times_start[p]
    s = tt.pattern_stops[base + i]
    for jj in range(j + 1, nt):
        off = times0 + jj * L + i
        a = np.int64(tt.st_arr[off])
        if a >= lab.ride_t[k, s] or a >= lab.res_t[k] or a > rules.ride_until:
            return -1, -1
        if tt.st_dropoff[off] != 1 or (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s], a, a)):
            continue
        m = _board_later_trip(tt, rules, lab, k, times0, L, nt, base, t0, jj, bpos, i)
        if m >= 0:
            return jj, m
    return -1, -1


# `scan_routes` asks for the first lines of the route this many places on in its queue (`_prefetch`): a queue's
# routes are scanned one after another, each starting mostly on lines no recent scan touched (all-Tokyo: the
# timetable arrays are 7.7 MB each, a range search reads ~2 MB of them). A range search takes 0.87x the cycles
# one route ahead, 0.85x two (the same searches repeated, with and without)
_AHEAD = 2


@njit(nogil=True, cache=True, _nrt=False, inline="always")
def scan_routes(tt, rules, lab, seg, k, stamp, nq):
    """Round k, phase 1: ride every queued pattern from its earliest improved stop, boarding the earliest trip
    one can catch with at most k-1 rides; ride labels at round k. Returns the in-seat queue length.

    Target pruning along the route: past the last stop the pattern was queued from (``lab.qlast``), boarding
    brings nothing new (such a stop's board label was scanned with this pattern before, in an earlier round or
    run, or the target bound dropped it then: the trip it catches arrives no earlier than the labels already
    held), so the scan stops there once it rides no trip, or once the trip's arrival plus the stop's lower
    bound cannot beat the target: with times that never go back (``tt.pattern_ordered``) no later stop of the
    trip can, as the ride labels' bound along a hop falls by at most the trip's time from arrival to arrival. Not
    for patterns with in-seat links (their last stop's trip is followed on) nor for one with closures of its own
    (a later trip may be taken on from a closure; its span, `Rules.pattern_span`)."""
    n_cont = 0
    n_dom = len(lab.dom_stamp)
    for qi in range(nq):
        p = lab.queue[qi]
        start = lab.qpos[p]
        last = lab.qlast[p]
        # (the route _AHEAD on: its departures near the trip its hint names, where `_first_departing` looks first,
        # and the one before's, beside them; the rows of both trips from the queued position, which the ride and
        # the look for an earlier trip read, and its stops. all-Tokyo, perf: their first reads were ~4 % of the
        # samples; 300 plans x 3, CPU per plan ~1.015x each of: the stops, the rows' end; measured one at a time)
        if qi + _AHEAD < nq:
            p2 = lab.queue[qi + _AHEAD]
            nt2 = tt.pattern_trips_start[p2 + 1] - tt.pattern_trips_start[p2]
            L2 = tt.pattern_stops_start[p2 + 1] - tt.pattern_stops_start[p2]
            x = min(max(lab.board_hint[k, p2], 1), nt2 - 1)
            _prefetch(tt.dep_by_pos, _dep_at(tt.pattern_times_start[p2], nt2, x, lab.qpos[p2]))
            _prefetch(tt.st_arr, tt.pattern_times_start[p2] + x * L2 + lab.qpos[p2])
            _prefetch(tt.st_arr, tt.pattern_times_start[p2] + (x - 1) * L2 + lab.qpos[p2])
            _prefetch(tt.st_arr, tt.pattern_times_start[p2] + x * L2 + L2 - 1)  # (the rest of the two rows)
            _prefetch(tt.pattern_stops, tt.pattern_stops_start[p2] + lab.qpos[p2])  # (its stops from there)
            if tt.pattern_inseat_classes[p2] > 0:  # (and what its links at the end read first, by trip from there)
                t2 = tt.pattern_trips_start[p2] + x
                _prefetch(tt.trip_inseat_classes_after, t2)
                _prefetch(tt.trip_inseat_class, t2)
                _prefetch(tt.inseat_start, t2)
        lab.qpos[p] = -1
        lab.counters[C_ROUTES] += 1
        base = tt.pattern_stops_start[p]
        L = tt.pattern_stops_start[p + 1] - base
        t0 = tt.pattern_trips_start[p]
        nt = tt.pattern_trips_start[p + 1] - t0
        times0 = tt.pattern_times_start[p]
        j = -1
        bpos = -1
        # (closures on this pattern or its in-seat chain that can matter, `_closures_matter`; none read when the
        # query has none)
        closed = rules.closures and _closures_matter(rules.pattern_span, p, lab.res_t[k])
        prunable = tt.pattern_inseat_classes[p] == 0 and not closed
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
            # the departure of the trip before j that the check below reads two stops on (by position, each stop's
            # is on another cache line): all-Tokyo, 300 plans x 3, CPU per plan 0.96x with it (one stop on: the same)
            if j > 0:
                _prefetch(tt.dep_by_pos, _dep_at(times0, nt, j - 1, i + 2))
            if j >= 0 and stop_ok:
                off = times0 + j * L + i
                a = np.int64(tt.st_arr[off])
                if (open_ or tt.st_dropoff[off] == 1) and a < lab.ride_t[k, s] and a + rules.lb[s] < lab.res_t[k] \
                        and a <= rules.ride_until:
                    ja = j
                    pa = bpos
                    if closed and _blk(rules.stop_from[s], rules.stop_until[s], a, a):
                        # closed when this trip calls: a later one, boarded there or further on, may alight after
                        ja, pa = _alight_later(tt, rules, lab, k, p, j, bpos, i)
                        a = np.int64(tt.st_arr[times0 + ja * L + i]) if ja >= 0 else a
                    if ja >= 0:  # the ride label (`_label`, then the ride's own fields)
                        _label(lab.ride_t, lab.ride_round, k, s, a, lab.scalars[6])
                        lab.ride[k, s, RIDE_PAT] = p
                        lab.ride[k, s, RIDE_TRIP] = t0 + ja
                        lab.ride[k, s, RIDE_BPOS] = pa
                        lab.ride[k, s, RIDE_APOS] = i
                        lab.ride[k, s, RIDE_BROUND] = k - 1
                        lab.ride[k, s, RIDE_SEG] = -1
                        lab.counters[C_IMPROVED] += 1
                        if not lab.ride_marked[s]:
                            lab.ride_marked[s] = True
                            lab.ride_list[lab.scalars[4]] = s
                            lab.scalars[4] += 1
            bt = lab.board_t[k - 1, s]
            # an earlier trip than j is caught here only if the one before j leaves no earlier than bt (one look,
            # no search, in the common case); a boarding no earlier than the target's best arrival is useless.
            # When times never go back that trip leaves i no later than it reaches i+1: its arrival there, beside
            # the row being ridden, answers most looks without the departure, on another line at every stop
            if i < L - 1 and bt != NONE32 and bt + rules.lb_board[s] < lab.res_t[k] and stop_ok \
                    and (j < 0 or (j > 0 and not (ordered and bt > tt.st_arr[times0 + (j - 1) * L + i + 1])
                                   and bt <= tt.dep_by_pos[_dep_at(times0, nt, j - 1, i)])):
                # the first trip departing at or after bt: near the one boarded first in this pattern's last
                # scan in round k (runs go latest first: a little earlier, mostly), or just before j
                if j < 0:
                    hi = nt
                    jj = _first_departing(tt.dep_by_pos, _dep_at(times0, nt, 0, i), hi, bt, lab.board_hint[k, p])
                    lab.board_hint[k, p] = jj
                else:
                    hi = j
                    jj = _first_departing(tt.dep_by_pos, _dep_at(times0, nt, 0, i), hi, bt, j - 1)
                while jj < hi:
                    off = times0 + jj * L + i
                    if (open_ or tt.st_pickup[off] == 1) \
                            and (not rules.wheelchair or tt.trip_wheelchair[t0 + jj] == 1) \
                            and not (closed and _blk(rules.stop_from[s], rules.stop_until[s],
                                                     tt.dep_by_pos[_dep_at(times0, nt, jj, i)],
                                                     tt.dep_by_pos[_dep_at(times0, nt, jj, i)])):
                        break
                    jj += 1
                if jj < hi:
                    j = jj
                    bpos = i
            # can the trip go on to i+1? else the first later trip that can ride bpos..i+1 (when times never go
            # back, not asked where the trip is at i and i+1 outside the pattern's closures: what they block lies
            # between its arrivals there)
            if j >= 0 and i < L - 1 and closed and not (
                    ordered and (tt.st_arr[times0 + j * L + i + 1] < rules.pattern_span[p, 0]
                                 or tt.st_arr[times0 + j * L + i] >= rules.pattern_span[p, 1])):
                if not _trip_ok_from(tt, rules, times0, L, nt, j, max(bpos, i), i + 1, base) \
                        or (i > bpos and (rules.closures and _blk(rules.stop_from[s], rules.stop_until[s],
                                                                  tt.st_arr[times0 + j * L + i],
                                                                  tt.dep_by_pos[_dep_at(times0, nt, j, i)]))):
                    # (boarded at bpos or at any stop since that the traveller reaches in time: a later trip
                    # closed at bpos may still be caught further on)
                    jj = j + 1
                    m = -1
                    while jj < nt:
                        m = _board_later_trip(tt, rules, lab, k, times0, L, nt, base, t0, jj, bpos, i + 1)
                        if m >= 0:
                            break
                        jj += 1
                    if jj < nt:
                        j = jj
                        bpos = m
                    else:
                        j = -1
        lab.counters[C_STOPS] += stop_end - start
        # it dominates in-seat rides on later trips from bpos (a scan cut short may not end on its earliest trip:
        # then nothing is recorded, the in-seat rides it would skip improve nothing either)
        if n_dom > 0 and j >= 0 and not closed and not cut_short:
            lab.main_stamp[p] = stamp
            lab.main_j[p] = j
            lab.main_pos[p] = bpos
        if tt.pattern_inseat_classes[p] == 0 or j < 0 or bpos >= L - 1:
            continue
        # In-seat links at the last stop: the earliest trip no longer dominates (a later one may run through),
        # so every later trip catchable from bpos on counts, one per chain class unless closures or wheelchair
        # make trips of a class differ (then each is boarded where it can be, `_board_later_trip`). (Written out
        # here, `_seat_links` called only for a link still to follow.)
        i = L - 1
        s = tt.pattern_stops[base + i]
        lab.scalars[1] += 1
        cstamp = lab.scalars[1]
        n_seen = 0
        n_want = tt.trip_inseat_classes_after[t0 + j]
        differ = rules.wheelchair or closed  # (the span covers the patterns its trips go on to)
        for jj in range(j, nt):
            c = tt.trip_inseat_class[t0 + jj]
            if c < 0 or (lab.class_stamp[c] == cstamp and not differ):
                continue
            if tt.st_arr[times0 + jj * L + i] + rules.lb[s] >= lab.res_t[k]:
                break
            jpos = bpos  # (where trip jj is boarded)
            if jj > j and differ:  # then trips of one class may differ
                jpos = _board_later_trip(tt, rules, lab, k, times0, L, nt, base, t0, jj, bpos, i)
                if jpos < 0:
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
                n_cont = _seat_links(tt, rules, lab, seg, n_cont, t0 + jj, i, p, jpos, k - 1, -1,
                                     times0 + jj * L + i, k, stamp, s)
            if n_seen == n_want and not differ:  # (every class seen: later trips are all skipped above)
                break
    return n_cont


@njit(nogil=True, cache=True, _nrt=False, inline="always")
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
        nt = tt.pattern_trips_start[p + 1] - tt.pattern_trips_start[p]
        times0 = tt.pattern_times_start[p]
        closed = rules.closures and _closures_matter(rules.pattern_span, p, lab.res_t[k])  # (`scan_routes`)
        if lab.main_stamp[p] == stamp and lab.main_j[p] <= j and lab.main_pos[p] <= pos0:
            if tt.inseat_start[tb] == tt.inseat_start[tb + 1]:
                continue
            links_only = 1
        if links_only:
            for e in range(tt.inseat_start[tb], tt.inseat_start[tb + 1]):
                i = tt.inseat_from_pos[e]
                if i <= pos0 or (e > tt.inseat_start[tb] and tt.inseat_from_pos[e - 1] == i):
                    continue  # (links sorted by from-position: each position once)
                if closed and not _trip_ok_from(tt, rules, times0, L, nt, j, pos0, i, base):
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
            if (i - 1 > pos0 and (closed and _blk(rules.stop_from[sprev], rules.stop_until[sprev],
                                                  tt.st_arr[off - 1], tt.dep_by_pos[_dep_at(times0, nt, j, i - 1)]))) \
                    or (closed and _blk(rules.hop_from[base + i - 1], rules.hop_until[base + i - 1],
                                        tt.dep_by_pos[_dep_at(times0, nt, j, i - 1)], tt.st_arr[off])):
                break
            a = np.int64(tt.st_arr[off])
            # (nor can any later stop, its links included, when times never go back: see `scan_routes`)
            if a + (rules.lb[s] if ordered else 0) >= lab.res_t[k]:
                break
            if tt.st_dropoff[off] == 1 and a < lab.ride_t[k, s] and a + rules.lb[s] < lab.res_t[k] \
                    and a <= rules.ride_until and ((not rules.wheelchair) or tt.stop_wheelchair[s] == 1) \
                    and not (closed and _blk(rules.stop_from[s], rules.stop_until[s], a, a)):
                # the ride label of a continued ride (as in `scan_routes`, with the seat segment)
                _label(lab.ride_t, lab.ride_round, k, s, a, lab.scalars[6])
                lab.ride[k, s, RIDE_PAT] = p
                lab.ride[k, s, RIDE_TRIP] = tb
                lab.ride[k, s, RIDE_BPOS] = pos0
                lab.ride[k, s, RIDE_APOS] = i
                lab.ride[k, s, RIDE_BROUND] = k
                lab.ride[k, s, RIDE_SEG] = sg
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


@njit(nogil=True, cache=True, _nrt=False, inline="always")
def relax_footpaths(tt, rules, lab, k, track):
    """Round k, phase 3: from each stop reached by a ride, a same-stop change and one footpath (the transfer
    rule in the module docstring); board labels of round k, improved stops marked for round k+1; targets.
    ``track``: a run that cuts keeps `Labels.board_low` (for the cut's copy, `profile._board_copy`).
    (`_touch` takes the labels record, which costs nothing here: compiled without reference counting.)"""
    run = lab.scalars[3]
    n_walk = 0
    for r in range(lab.scalars[4]):
        s = lab.ride_list[r]
        lab.ride_marked[s] = False
        _touch(lab, s, run)
        a = lab.ride_t[k, s]
        bt = a + max(rules.min_transfer_s, np.int64(tt.stop_min_transfer[s]))  # the change time at s
        if bt < lab.board_t[k, s] and bt + rules.lb_board[s] < lab.res_t[k]:
            _label(lab.board_t, lab.board_round, k, s, bt, lab.scalars[6])
            if track and k < lab.board_low[s]:
                lab.board_low[s] = k
            lab.board_kind[k, s] = BOARD_CHANGE
            lab.board_from[k, s] = s
            lab.marked[s] = True
        if not lab.walk_seen[s]:
            lab.walk_seen[s] = True
            lab.walk_list[n_walk] = s
            n_walk += 1
        for e in range(tt.fp_start[s], tt.fp_start[s + 1]):
            u = tt.fp_to[e]
            w = np.int64(rules.walk_s[e])
            wt = a + w
            if rules.closures:
                wt = walk_end(rules.stop_from[s], rules.stop_until[s], rules.stop_from[u], rules.stop_until[u], a,
                               w)
            if wt + rules.lb_walk[u] >= lab.res_t[k]:
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
            bt = max(wt, a + rules.min_transfer_s)  # (boarding there checks the stop is open when it leaves)
            if bt < lab.board_t[k, u]:
                _label(lab.board_t, lab.board_round, k, u, bt, lab.scalars[6])
                if track and k < lab.board_low[u]:
                    lab.board_low[u] = k
                lab.board_kind[k, u] = BOARD_WALK
                lab.board_from[k, u] = s
                lab.marked[u] = True
                lab.counters[C_IMPROVED] += 1
                improved = True
            if improved:
                _touch(lab, u, run)
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


@njit(nogil=True, cache=True, _nrt=False, inline="always")
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
        if until > bt and not hold:
            # the cut looks up each pattern's departures from s, mostly on lines no recent search touched: ask for
            # them all first (`_prefetch`, where `_first_departing` looks first), so their latencies overlap
            # (tokyo4, whose slowest plans spend a third of their runs here: this phase 0.83x, plans' CPU 0.97x)
            for e in range(tt.sp_start[s], tt.sp_start[s + 1]):
                p = tt.sp_pattern[e]
                nt = tt.pattern_trips_start[p + 1] - tt.pattern_trips_start[p]
                _prefetch(tt.dep_by_pos, _dep_at(tt.pattern_times_start[p], nt,
                                                 min(max(lab.board_hint[k, p], 0), nt - 1), tt.sp_pos[e]))
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
                col = _dep_at(tt.pattern_times_start[p], nt, 0, pos)
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
    # (a source is entered at its time even when closed: boarding there, or leaving on foot, waits for it)
    for i in range(len(src_stops)):
        s = src_stops[i]
        t = np.int64(src_times[i])
        if t < lab.board_t[0, s]:
            _label(lab.board_t, lab.board_round, 0, s, t, lab.scalars[6])
            if cut:  # (for the cut's copy, `profile._board_copy`)
                lab.board_low[s] = 0
            lab.board_kind[0, s] = BOARD_SOURCE
            lab.board_from[0, s] = s
            lab.marked[s] = True
            _touch(lab, s, run)
    # each source walks on from its own time, even where another source's walk reached it earlier (then its
    # board label is that walk's, but a second walk from there is not one footpath from a source)
    for i in range(len(src_stops)):
        s = src_stops[i]
        t = np.int64(src_times[i])
        if t > lab.board_t[0, s] and lab.board_kind[0, s] == BOARD_SOURCE:
            continue  # (a source stop listed twice: from its earlier time)
        if rules.report_walks and lab.egress[s] >= 0 and t + lab.egress[s] < lab.res_t[0]:
            _set_result(lab, 0, t + lab.egress[s], s, KIND_SOURCE, run)
        for e in range(tt.fp_start[s], tt.fp_start[s + 1]):
            u = tt.fp_to[e]
            w = np.int64(rules.walk_s[e])
            wt = t + w
            if rules.closures:
                wt = walk_end(rules.stop_from[s], rules.stop_until[s], rules.stop_from[u], rules.stop_until[u], t,
                               w)
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
                if cut:
                    lab.board_low[u] = 0
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
        # (the phases are inlined here: a call given the three records passes each of their ~90 arrays field
        # by field, ~0.3 µs, and a run makes three or four a round. Compiled without reference counting, inlining
        # them costs nothing else)
        if n_cont > 0:
            follow_inseat_links(tt, rules, lab, seg, k, stamp, n_cont)
        relax_footpaths(tt, rules, lab, k, cut)
    for r in range(lab.scalars[0]):
        lab.marked[lab.touched[r]] = False
