"""Lower bounds for target pruning, from a stop graph of the timetable (`StopGraph`, no waiting, every trip).

A label is dropped when even the lower bound on the seconds from it to a target (`lower_bounds`: per stop one for
a ride label, one for a board label and one for a walk label, so a ride's bound counts the change it needs and the
dwell of staying on board) cannot beat the best result with its rides; a stop whose board label needs more rides
than that (`fewest_rides`) must beat the result of the round it would end in (`rounds._collect_routes`), and a
route scan stops past its last queued stop once its trip cannot beat the target (`rounds.scan_routes`). Those
bounds ignore waiting; a range search whose later runs would spare its cost (`search.LATE_BOUND_SAVES`) also gets
a time-dependent one after its first run (`profile.late_bounds`: per round and stop the latest board label that
may still beat a result, from backward runs at the results found): most of its later runs then stop near the
origin.

`lower_bounds` and `fewest_rides` run over the whole stop graph for each new target set (all-Tokyo ~0.2 ms the
pair), then are kept per model for every thread (`pools._bounds_for`). Settling only part of the graph would
not pay: a range search's pruning reads bounds up to its window plus its trip's length, which covers ~90 % of
all-Tokyo's stops for random queries, and a bound weaker than the exact one changes which stops queue their
patterns first, so ties between equal journeys can fall another way (bounds capped at 600 s: 1 of 300 random
all-Tokyo plans gets the other of two journeys with the same times and changes; at 1800 s none).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from routing.raptor.state import INF, Timetable, _dep_at


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
                d = np.int64(tt.st_arr[off + 1]) - np.int64(tt.dep_by_pos[_dep_at(times0, nt, j, i)])
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
                        + ready at u (the transfer rule of `rounds`' docstring); along a hop s → v staying on
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
                lb[v] = min(lb[v], lb_walk[s] + np.int64(rules.walk_s[f]))
    walk = rules.walk_s  # each footpath's seconds at this speed
    for f in range(len(walk)):
        w_max = max(w_max, max(np.int64(walk[f]), mt))
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
    cap = 2 * len(g.in_from) + 2 * n + 1  # (each state settles once: at most n starts, 2 a hop, n changes)
    nxt = np.empty(cap, np.int32)
    st = np.empty(cap, np.int32)  # the entry's state: 2 * stop (arrived) or 2 * stop + 1 (ready to board)
    used = 0
    for s in range(n):
        if lb[s] < INF:
            used = _bucket_push(head, nxt, st, used, lb[s], 2 * s, True)
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
        u = state >> 1
        if state & 1 == 0:  # arrived at u: a hop into u, riding on (arrived before) or boarding (ready before)
            if d > lb[u]:
                continue
            for x in range(g.in_start[u], g.in_other[u]):
                v = g.in_from[x]
                nd = d + g.in_ride[x]
                better = nd < lb[v]
                lb[v] = min(lb[v], nd)
                used = _bucket_push(head, nxt, st, used, nd, 2 * v, better)
                nd = d + g.in_w[x]
                better = nd < lb_board[v]
                lb_board[v] = min(lb_board[v], nd)
                used = _bucket_push(head, nxt, st, used, nd, 2 * v + 1, better)
        else:  # ready at u: a change at u, a walking change or an in-seat link into u (arrived before)
            if d > lb_board[u]:
                continue
            nd = d + max(mt, np.int64(tt.stop_min_transfer[u]))
            better = nd < lb[u]
            lb[u] = min(lb[u], nd)
            used = _bucket_push(head, nxt, st, used, nd, 2 * u, better)
            for x in range(g.in_other[u], g.in_start[u + 1]):
                f = g.in_fp[x]
                v = g.in_from[x]
                nd = d + (np.int64(0) if f == _LINK else max(np.int64(walk[f]), mt))
                better = nd < lb[v]
                lb[v] = min(lb[v], nd)
                used = _bucket_push(head, nxt, st, used, nd, 2 * v, better)
    for s in range(n):
        if lb_board[s] < lb_walk[s]:
            lb_walk[s] = lb_board[s]


@njit(nogil=True, cache=True, inline="always")
def _bucket_push(head, nxt, st, used, t, state, keep):
    """`lower_bounds`' bucket queue: entry ``used`` (state at time t) into the bucket of t (``head`` a power of
    two long) if ``keep``; returns the entries used. Written either way, kept by a select, not a branch: whether
    a relaxation improves is a coin toss to the CPU, and its mispredictions were a sixth of `lower_bounds`' time.
    (Arrays, not a record: see `_blk`.)"""
    b = t & (len(head) - 1)
    st[used] = state
    nxt[used] = head[b]
    head[b] = used if keep else head[b]
    return used + keep


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
    cur = np.empty(3 * n + 1, np.int64)  # this level's states as 3 * stop + (0 arrived, 1 on board, 2 boarding)
    nxt = np.empty(3 * n + 1, np.int64)  # (+ 1: a state is written past the last before it is known new)
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
        while i < nc:  # this level's states, each found once (no state gets fewer rides later); a state is
            s = cur[i] // 3  # appended by writing it and counting it if new, without a branch (`_bucket_push`)
            kind = cur[i] - 3 * s
            i += 1
            if kind == 0:  # arrived at s: alighted there
                new = onboard[s] > r
                onboard[s] = min(onboard[s], r)
                cur[nc] = 3 * s + 1
                nc += new
            elif kind == 1:  # on board at s: on board one hop or in-seat link before; boarding s takes one more
                for x in range(g.in_start[s], g.in_foot[s]):  # (hops and in-seat links)
                    v = g.in_from[x]
                    new = onboard[v] > r
                    onboard[v] = min(onboard[v], r)
                    cur[nc] = 3 * v + 1
                    nc += new
                new = rides[s] > r + 1
                rides[s] = min(rides[s], r + 1)
                nxt[nn] = 3 * s + 2
                nn += new
            else:  # boarding at s: arrived there (a change), or one footpath before (a walking change)
                new = arrived[s] > r
                arrived[s] = min(arrived[s], r)
                cur[nc] = 3 * s
                nc += new
                for x in range(g.in_foot[s], g.in_start[s + 1]):
                    v = g.in_from[x]
                    new = arrived[v] > r
                    arrived[v] = min(arrived[v], r)
                    cur[nc] = 3 * v
                    nc += new
        cur, nxt = nxt, cur
        nc = nn
        r += 1
