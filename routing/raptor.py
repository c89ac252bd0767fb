"""RAPTOR (Delling, Pajor, Werneck 2012) over the TransitModel arrays, compiled with numba (nogil, cached).

Round k holds the best arrivals using exactly k rides; the result is the Pareto set over (arrival, rides).
Per round and stop we keep three labels so journeys can be rebuilt without extra search:
  ride  – arrived by vehicle (pattern, trip, boarding position, alighting position, round of the boarding label)
  walk  – arrived on foot by one footpath from a ride label of the same round (round 0: from a source)
  board – earliest time one may board there: source time, ride + same-stop change time, or walk
Closures (`ClosureMask`) are windows checked against the times actually used; wheelchair and mode filters are
applied while scanning. When the trip being ridden meets a closed hop or stop, the scan moves on to the first later
trip that can be ridden from the same boarding position (later boardings along the route are still tried as usual).
In-seat links (transfers.txt type 4, `TransitModel.inseat_*`): a trip ridden to a link's from-stop continues on
the linked trip from the link's to-stop in the same round (no extra ride, no change time), chaining; the ride
label then points at a "seat segment" (the earlier trip's pattern, trip, boarding and alighting positions), kept
beside the labels because the earlier trip's own label at its last stop may be beaten by another vehicle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from routing.masks import ClosureMask

INF = np.int64(1 << 40)
KIND_RIDE, KIND_WALK, KIND_SOURCE = 0, 1, 2  # result kinds; board kinds: 0 source, 1 same-stop change, 2 walk


@njit(nogil=True, cache=True, inline="always")
def _blk(f, u, a, b):
    """Interval [a, b] meets the blocked window [f, u) (f == u: open)."""
    return f < u and f <= b and a < u


@njit(nogil=True, cache=True)
def _trip_ok_from(times0, L, j, bpos, upto, pattern_base, pattern_stops, st_arr, st_dep,
                  stop_from, stop_until, hop_from, hop_until):
    """Trip j of a pattern can be ridden from bpos to upto under the closures (boarding checked separately)."""
    for m in range(bpos, upto):
        off = times0 + j * L + m
        s = pattern_stops[pattern_base + m]
        if m > bpos and _blk(stop_from[s], stop_until[s], st_arr[off], st_dep[off]):
            return False
        h = pattern_base + m
        if _blk(hop_from[h], hop_until[h], st_dep[off], st_arr[off + 1]):
            return False
    return True


@njit(nogil=True, cache=True)
def _seat_links(ta, i, p, bpos, bround, prev_seg, off, n_cont, n_seg, cont, seg, k, bound, st_arr, st_dep,
                stop_from, stop_until, hop_from, hop_until, s, trip_pattern, pattern_times_start,
                pattern_trips_start, pattern_stops_start, pattern_stops, inseat_start, inseat_to_trip,
                inseat_from_pos, inseat_to_pos, seat_round, seat_pos, dom_round, dom_j, dom_pos,
                trip_wheelchair, wheelchair, closures):
    """Queue the in-seat continuations of trip ``ta`` (pattern p, boarded at bpos) at position i (flat time
    ``off``, stop s): the linked trip must leave its to-stop no earlier, before ``bound``, with neither stop
    closed then. Each accepted one gets a seat segment recording the ride on ``ta``.

    A linked trip is dominated when an earlier trip of its (FIFO) pattern, free of closures to its end, was
    queued this round from the same or an earlier position: that one arrives no later everywhere. A dominated
    trip is dropped, or, when it has links of its own, queued only to follow them (flag 1, no stop scan).
    The caller checks that ``ta`` can be ridden from bpos to i."""
    a = np.int64(st_arr[off])
    if a >= bound or _blk(stop_from[s], stop_until[s], a, a):
        return n_cont, n_seg
    for e in range(inseat_start[ta], inseat_start[ta + 1]):
        if inseat_from_pos[e] != i:
            continue
        tb = inseat_to_trip[e]
        pos = inseat_to_pos[e]
        if seat_round[tb] == k and seat_pos[tb] <= pos:
            continue
        pb = trip_pattern[tb]
        jb = tb - pattern_trips_start[pb]
        dominated = dom_round[pb] == k and dom_j[pb] <= jb and dom_pos[pb] <= pos
        if dominated and inseat_start[tb] == inseat_start[tb + 1]:
            continue
        if wheelchair and trip_wheelchair[tb] != 1:
            continue
        base_b = pattern_stops_start[pb]
        Lb = pattern_stops_start[pb + 1] - base_b
        times_b = pattern_times_start[pb]
        offb = times_b + jb * Lb + pos
        d = np.int64(st_dep[offb])
        sb = pattern_stops[base_b + pos]
        if d < a or d >= bound or _blk(stop_from[sb], stop_until[sb], d, d):
            continue
        last = pattern_stops[base_b + Lb - 1]
        if (dom_round[pb] != k or (jb <= dom_j[pb] and pos <= dom_pos[pb])) and not closures:
            dom_round[pb] = k
            dom_j[pb] = jb
            dom_pos[pb] = pos
        elif (dom_round[pb] != k or (jb <= dom_j[pb] and pos <= dom_pos[pb])) \
                and _trip_ok_from(times_b, Lb, jb, pos, Lb - 1, base_b, pattern_stops, st_arr, st_dep,
                                  stop_from, stop_until, hop_from, hop_until) \
                and not _blk(stop_from[last], stop_until[last], st_arr[offb - pos + Lb - 1],
                             st_arr[offb - pos + Lb - 1]):
            dom_round[pb] = k
            dom_j[pb] = jb
            dom_pos[pb] = pos
        seg[n_seg, 0] = p
        seg[n_seg, 1] = ta
        seg[n_seg, 2] = bpos
        seg[n_seg, 3] = i
        seg[n_seg, 4] = bround
        seg[n_seg, 5] = prev_seg
        cont[n_cont, 0] = tb
        cont[n_cont, 1] = pos
        cont[n_cont, 2] = n_seg
        cont[n_cont, 3] = 1 if dominated else 0
        seat_round[tb] = k
        seat_pos[tb] = pos
        n_seg += 1
        n_cont += 1
    return n_cont, n_seg


@njit(nogil=True, cache=True)
def raptor_kernel(pattern_stops_start, pattern_stops, pattern_trips_start, pattern_times_start,
                  st_arr, st_dep, st_pickup, st_dropoff, trip_wheelchair,
                  sp_start, sp_pattern, sp_pos, fp_start, fp_to, fp_dist, fp_fixed_s,
                  stop_min_transfer, stop_wheelchair, stop_from, stop_until, hop_from, hop_until,
                  pattern_allowed, wheelchair, min_transfer_s, walk_speed, max_rides,
                  src_stops, src_times, tgt_stops, tgt_egress,
                  trip_pattern, inseat_start, inseat_to_trip, inseat_from_pos, inseat_to_pos,
                  trip_inseat_class, pattern_inseat_classes, trip_inseat_classes_after, closures):
    n = len(stop_min_transfer)
    n_pat = len(pattern_trips_start) - 1
    R = max_rides + 1
    big = np.int64(1 << 40)
    ride_t = np.full((R, n), big, np.int64)
    ride_pat = np.full((R, n), -1, np.int32)
    ride_trip = np.full((R, n), -1, np.int32)
    ride_bpos = np.full((R, n), -1, np.int32)
    ride_apos = np.full((R, n), -1, np.int32)
    ride_bround = np.full((R, n), -1, np.int8)
    walk_t = np.full((R, n), big, np.int64)
    walk_from = np.full((R, n), -1, np.int32)
    board_t = np.full((R, n), big, np.int64)
    board_kind = np.full((R, n), -1, np.int8)
    ride_seg = np.full((R, n), -1, np.int32)  # seat segment the ride continues (-1: boarded normally)
    # seat segments and the per-round continuation queue; a link is queued at most once a round (a trip only
    # again from an earlier position, i.e. by another link)
    n_links = len(inseat_to_trip)
    seg = np.empty((R * n_links + 1, 6), np.int32)  # pattern, trip, board pos, alight pos, board round, previous
    n_seg = 0
    cont = np.empty((n_links + 1, 4), np.int32)  # to-trip, to-pos, segment, 1 = dominated: only follow its links
    seat_round = np.full(len(inseat_start) - 1, -1, np.int32)
    seat_pos = np.zeros(len(inseat_start) - 1, np.int32)
    n_dom = n_pat if n_links > 0 else 0
    dom_round = np.full(n_dom, -1, np.int32)  # per pattern: earliest closure-free continuation queued this round
    dom_j = np.zeros(n_dom, np.int32)
    dom_pos = np.zeros(n_dom, np.int32)
    main_round = np.full(n_dom, -1, np.int32)  # per pattern: the trip its scan this round rode to the end
    main_j = np.zeros(n_dom, np.int32)
    main_pos = np.zeros(n_dom, np.int32)
    class_stamp = np.zeros(pattern_inseat_classes.sum() + 1, np.int64)  # classes are numbered 0..sum-1
    stamp = 0
    best_ride = np.full(n, big, np.int64)
    best_board = np.full(n, big, np.int64)
    best_board_round = np.full(n, -1, np.int8)
    egress = np.full(n, -1, np.int64)
    for i in range(len(tgt_stops)):
        s = tgt_stops[i]
        if egress[s] < 0 or tgt_egress[i] < egress[s]:
            egress[s] = tgt_egress[i]
    res_t = np.full(R, big, np.int64)
    res_stop = np.full(R, -1, np.int32)
    res_kind = np.full(R, -1, np.int8)
    bound = big

    # ---- round 0: sources and one footpath from them ----
    marked = np.zeros(n, np.bool_)
    touched = np.empty(n, np.int32)
    n_touched = 0
    for i in range(len(src_stops)):
        s = src_stops[i]
        t = np.int64(src_times[i])
        if _blk(stop_from[s], stop_until[s], t, t):
            continue
        if t < board_t[0, s]:
            board_t[0, s] = t
            board_kind[0, s] = 0
    for s in range(n):
        if board_t[0, s] < big:
            t = board_t[0, s]
            if egress[s] >= 0 and t + egress[s] < res_t[0]:
                res_t[0] = t + egress[s]
                res_stop[0] = s
                res_kind[0] = KIND_SOURCE
            for e in range(fp_start[s], fp_start[s + 1]):
                u = fp_to[e]
                d = fp_fixed_s[e] if fp_fixed_s[e] >= 0 else np.int64(np.ceil(fp_dist[e] / walk_speed))
                wt = t + d
                if _blk(stop_from[u], stop_until[u], wt, wt):
                    continue
                if wt < walk_t[0, u]:
                    walk_t[0, u] = wt
                    walk_from[0, u] = s
    for s in range(n):
        if walk_t[0, s] < big:
            if egress[s] >= 0 and walk_t[0, s] + egress[s] < res_t[0]:
                res_t[0] = walk_t[0, s] + egress[s]
                res_stop[0] = s
                res_kind[0] = KIND_WALK
            if walk_t[0, s] < board_t[0, s]:
                board_t[0, s] = walk_t[0, s]
                board_kind[0, s] = 2
        if board_t[0, s] < big:
            best_board[s] = board_t[0, s]
            best_board_round[s] = 0
            marked[s] = True
    bound = res_t[0]

    qpos = np.full(n_pat, -1, np.int32)
    queue = np.empty(n_pat, np.int32)
    ride_marked = np.zeros(n, np.bool_)
    ride_list = np.empty(n, np.int32)
    walk_list = np.empty(n, np.int32)
    walk_seen = np.zeros(n, np.bool_)

    for k in range(1, R):
        # collect patterns through marked stops, from their earliest marked position
        nq = 0
        any_marked = False
        for s in range(n):
            if not marked[s]:
                continue
            any_marked = True
            marked[s] = False
            for e in range(sp_start[s], sp_start[s + 1]):
                p = sp_pattern[e]
                if not pattern_allowed[p]:
                    continue
                pos = sp_pos[e]
                if qpos[p] < 0:
                    queue[nq] = p
                    nq += 1
                    qpos[p] = pos
                elif pos < qpos[p]:
                    qpos[p] = pos
        if not any_marked:
            break
        n_ride = 0
        n_cont = 0
        for qi in range(nq):
            p = queue[qi]
            start = qpos[p]
            qpos[p] = -1
            base = pattern_stops_start[p]
            L = pattern_stops_start[p + 1] - base
            t0 = pattern_trips_start[p]
            nt = pattern_trips_start[p + 1] - t0
            times0 = pattern_times_start[p]
            j = -1
            bpos = -1
            bround = -1
            for i in range(start, L):
                s = pattern_stops[base + i]
                stop_ok = (not wheelchair) or stop_wheelchair[s] == 1
                if j >= 0 and stop_ok:
                    off = times0 + j * L + i
                    a = np.int64(st_arr[off])
                    if st_dropoff[off] == 1 and a < best_ride[s] and a < bound \
                            and not _blk(stop_from[s], stop_until[s], a, a):
                        ride_t[k, s] = a
                        ride_pat[k, s] = p
                        ride_trip[k, s] = t0 + j
                        ride_bpos[k, s] = bpos
                        ride_apos[k, s] = i
                        ride_bround[k, s] = bround
                        best_ride[s] = a
                        if not ride_marked[s]:
                            ride_marked[s] = True
                            ride_list[n_ride] = s
                            n_ride += 1
                bt = best_board[s]
                if i < L - 1 and bt < big and stop_ok and (j < 0 or bt <= st_dep[times0 + j * L + i]):
                    hi = nt if j < 0 else j + 1
                    lo = 0
                    h2 = hi
                    while lo < h2:  # first trip departing at or after bt (FIFO: departures sorted)
                        mid = (lo + h2) // 2
                        if st_dep[times0 + mid * L + i] < bt:
                            lo = mid + 1
                        else:
                            h2 = mid
                    jj = lo
                    while jj < hi:
                        off = times0 + jj * L + i
                        if st_pickup[off] == 1 and (not wheelchair or trip_wheelchair[t0 + jj] == 1) \
                                and not _blk(stop_from[s], stop_until[s], st_dep[off], st_dep[off]):
                            break
                        jj += 1
                    if jj < hi and (j < 0 or jj < j):
                        j = jj
                        bpos = i
                        bround = best_board_round[s]
                if j >= 0 and i < L - 1:
                    # can the trip go on to i+1? else the first later trip that can ride bpos..i+1
                    if not _trip_ok_from(times0, L, j, max(bpos, i), i + 1, base, pattern_stops, st_arr, st_dep,
                                         stop_from, stop_until, hop_from, hop_until) \
                            or (i > bpos and _blk(stop_from[s], stop_until[s], st_arr[times0 + j * L + i],
                                                  st_dep[times0 + j * L + i])):
                        bs = pattern_stops[base + bpos]
                        jj = j + 1
                        while jj < nt:
                            off = times0 + jj * L + bpos
                            if st_pickup[off] == 1 and (not wheelchair or trip_wheelchair[t0 + jj] == 1) \
                                    and not _blk(stop_from[bs], stop_until[bs], st_dep[off], st_dep[off]) \
                                    and _trip_ok_from(times0, L, jj, bpos, i + 1, base, pattern_stops, st_arr,
                                                      st_dep, stop_from, stop_until, hop_from, hop_until):
                                break
                            jj += 1
                        j = jj if jj < nt else -1
            if n_dom > 0 and j >= 0 and not closures:  # it dominates in-seat rides on later trips from bpos
                main_round[p] = k
                main_j[p] = j
                main_pos[p] = bpos
            if pattern_inseat_classes[p] > 0 and j >= 0 and bpos < L - 1:
                # in-seat links at the last stop: the earliest trip no longer dominates (a later one may run
                # through), so every later trip catchable at bpos counts, one per chain class unless closures or
                # wheelchair filters make trips of a class differ
                i = L - 1
                s = pattern_stops[base + i]
                bs = pattern_stops[base + bpos]
                stamp += 1
                n_seen = 0
                n_want = trip_inseat_classes_after[t0 + j]
                for jj in range(j, nt):
                    c = trip_inseat_class[t0 + jj]
                    if c < 0 or (class_stamp[c] == stamp and not (closures or wheelchair)):
                        continue
                    if st_arr[times0 + jj * L + i] >= bound:
                        break
                    if jj > j and (closures or wheelchair):  # then trips of one class may differ
                        ob = times0 + jj * L + bpos
                        if st_pickup[ob] != 1 or (wheelchair and trip_wheelchair[t0 + jj] != 1) \
                                or _blk(stop_from[bs], stop_until[bs], st_dep[ob], st_dep[ob]) \
                                or not _trip_ok_from(times0, L, jj, bpos, i, base, pattern_stops, st_arr,
                                                     st_dep, stop_from, stop_until, hop_from, hop_until):
                            continue
                    if class_stamp[c] != stamp:
                        class_stamp[c] = stamp
                        n_seen += 1
                    need = False  # (a cheap look first: most links lead to trips already covered this round)
                    for e in range(inseat_start[t0 + jj], inseat_start[t0 + jj + 1]):
                        tb = inseat_to_trip[e]
                        pb = trip_pattern[tb]
                        jb = tb - pattern_trips_start[pb]
                        pos = inseat_to_pos[e]
                        if (seat_round[tb] == k and seat_pos[tb] <= pos) or (
                                inseat_start[tb] == inseat_start[tb + 1]
                                and ((dom_round[pb] == k and dom_j[pb] <= jb and dom_pos[pb] <= pos)
                                     or (main_round[pb] == k and main_j[pb] <= jb and main_pos[pb] <= pos))):
                            continue
                        need = True
                        break
                    if not need:
                        continue
                    n_cont, n_seg = _seat_links(
                        t0 + jj, i, p, bpos, bround, -1, times0 + jj * L + i, n_cont, n_seg, cont, seg, k, bound,
                        st_arr, st_dep, stop_from, stop_until, hop_from, hop_until, s, trip_pattern,
                        pattern_times_start, pattern_trips_start, pattern_stops_start, pattern_stops, inseat_start,
                        inseat_to_trip, inseat_from_pos, inseat_to_pos, seat_round, seat_pos, dom_round, dom_j,
                        dom_pos, trip_wheelchair, wheelchair, closures)
                    if n_seen == n_want and not (closures or wheelchair):
                        break
        # in-seat continuations of this round (a queue: a continued trip may link on again)
        ci = 0
        while ci < n_cont:
            tb, pos0, sg, links_only = cont[ci, 0], cont[ci, 1], cont[ci, 2], cont[ci, 3]
            ci += 1
            if seat_round[tb] == k and seat_pos[tb] < pos0:  # the same trip was queued from earlier on
                continue
            p = trip_pattern[tb]
            base = pattern_stops_start[p]
            L = pattern_stops_start[p + 1] - base
            j = tb - pattern_trips_start[p]
            times0 = pattern_times_start[p]
            if main_round[p] == k and main_j[p] <= j and main_pos[p] <= pos0:
                if inseat_start[tb] == inseat_start[tb + 1]:
                    continue
                links_only = 1
            if links_only:
                for e in range(inseat_start[tb], inseat_start[tb + 1]):
                    i = inseat_from_pos[e]
                    if i <= pos0 or (e > inseat_start[tb] and inseat_from_pos[e - 1] == i):
                        continue  # (links sorted by from-position: each position once)
                    if closures and not _trip_ok_from(times0, L, j, pos0, i, base, pattern_stops, st_arr, st_dep,
                                                      stop_from, stop_until, hop_from, hop_until):
                        break
                    n_cont, n_seg = _seat_links(
                        tb, i, p, pos0, k, sg, times0 + j * L + i, n_cont, n_seg, cont, seg, k, bound, st_arr,
                        st_dep, stop_from, stop_until, hop_from, hop_until, pattern_stops[base + i], trip_pattern,
                        pattern_times_start, pattern_trips_start, pattern_stops_start, pattern_stops, inseat_start,
                        inseat_to_trip, inseat_from_pos, inseat_to_pos, seat_round, seat_pos, dom_round, dom_j,
                        dom_pos, trip_wheelchair, wheelchair, closures)
                continue
            for i in range(pos0 + 1, L):
                off = times0 + j * L + i
                s = pattern_stops[base + i]
                sprev = pattern_stops[base + i - 1]
                if (i - 1 > pos0 and _blk(stop_from[sprev], stop_until[sprev], st_arr[off - 1], st_dep[off - 1])) \
                        or _blk(hop_from[base + i - 1], hop_until[base + i - 1], st_dep[off - 1], st_arr[off]):
                    break
                a = np.int64(st_arr[off])
                if a >= bound:
                    break
                if st_dropoff[off] == 1 and a < best_ride[s] and ((not wheelchair) or stop_wheelchair[s] == 1) \
                        and not _blk(stop_from[s], stop_until[s], a, a):
                    ride_t[k, s] = a
                    ride_pat[k, s] = p
                    ride_trip[k, s] = tb
                    ride_bpos[k, s] = pos0
                    ride_apos[k, s] = i
                    ride_bround[k, s] = k
                    ride_seg[k, s] = sg
                    best_ride[s] = a
                    if not ride_marked[s]:
                        ride_marked[s] = True
                        ride_list[n_ride] = s
                        n_ride += 1
                if inseat_start[tb] < inseat_start[tb + 1]:
                    n_cont, n_seg = _seat_links(
                        tb, i, p, pos0, k, sg, off, n_cont, n_seg, cont, seg, k, bound, st_arr, st_dep,
                        stop_from, stop_until, hop_from, hop_until, s, trip_pattern, pattern_times_start,
                        pattern_trips_start, pattern_stops_start, pattern_stops, inseat_start, inseat_to_trip,
                        inseat_from_pos, inseat_to_pos, seat_round, seat_pos, dom_round, dom_j, dom_pos,
                        trip_wheelchair, wheelchair, closures)
        # transfers: same-stop change and one footpath from each stop reached by a ride
        n_walk = 0
        for r in range(n_ride):
            s = ride_list[r]
            ride_marked[s] = False
            a = ride_t[k, s]
            mt = stop_min_transfer[s] if stop_min_transfer[s] >= 0 else min_transfer_s
            if a + mt < board_t[k, s]:
                board_t[k, s] = a + mt
                board_kind[k, s] = 1
            if not walk_seen[s]:
                walk_seen[s] = True
                walk_list[n_walk] = s
                n_walk += 1
            if _blk(stop_from[s], stop_until[s], a, a):
                continue
            for e in range(fp_start[s], fp_start[s + 1]):
                u = fp_to[e]
                d = fp_fixed_s[e] if fp_fixed_s[e] >= 0 else np.int64(np.ceil(fp_dist[e] / walk_speed))
                wt = a + d
                if wt >= bound or _blk(stop_from[u], stop_until[u], wt, wt):
                    continue
                if wt < walk_t[k, u]:
                    walk_t[k, u] = wt
                    walk_from[k, u] = s
                    if not walk_seen[u]:
                        walk_seen[u] = True
                        walk_list[n_walk] = u
                        n_walk += 1
        for r in range(n_walk):
            u = walk_list[r]
            walk_seen[u] = False
            if walk_t[k, u] < board_t[k, u]:
                board_t[k, u] = walk_t[k, u]
                board_kind[k, u] = 2
            if board_t[k, u] < best_board[u]:
                best_board[u] = board_t[k, u]
                best_board_round[u] = k
                marked[u] = True
            if egress[u] >= 0:
                if ride_t[k, u] + egress[u] < res_t[k]:
                    res_t[k] = ride_t[k, u] + egress[u]
                    res_stop[k] = u
                    res_kind[k] = KIND_RIDE
                if walk_t[k, u] + egress[u] < res_t[k]:
                    res_t[k] = walk_t[k, u] + egress[u]
                    res_stop[k] = u
                    res_kind[k] = KIND_WALK
        if res_t[k] < bound:
            bound = res_t[k]
    return (ride_t, ride_pat, ride_trip, ride_bpos, ride_apos, ride_bround, walk_t, walk_from, board_t,
            board_kind, res_t, res_stop, res_kind, ride_seg, seg[:n_seg].copy())


# ---- Python side: query, result, journey reconstruction --------------------------------------------------
@dataclass(frozen=True)
class RideLeg:
    pattern: int
    trip: int
    board_pos: int
    alight_pos: int
    from_stop: int
    to_stop: int
    departure: int
    arrival: int
    stay_seated: bool = False  # continues the previous ride in the same vehicle (in-seat link), no change


@dataclass(frozen=True)
class WalkLeg:
    from_stop: int
    to_stop: int
    departure: int
    arrival: int


@dataclass(frozen=True)
class Journey:
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


@dataclass
class RaptorResult:
    labels: tuple
    model: object
    src_times: dict

    def pareto(self) -> list[Journey]:
        """Journeys with strictly fewer arrivals as rides grow: the (arrival, rides) Pareto set."""
        res_t, res_stop, res_kind = self.labels[10], self.labels[11], self.labels[12]
        out: list[Journey] = []
        best = int(INF)
        for k in range(len(res_t)):
            if res_t[k] < best:
                best = int(res_t[k])
                out.append(self.journey(k, int(res_stop[k]), int(res_kind[k]), best))
        return out

    def journey(self, k: int, stop: int, kind: int, arrival: int) -> Journey:
        (ride_t, ride_pat, ride_trip, ride_bpos, ride_apos, ride_bround, walk_t, walk_from, board_t,
         board_kind) = self.labels[:10]
        ride_seg, segs = self.labels[13], self.labels[14]
        m = self.model
        legs: list = []
        target_arrival = int(ride_t[k, stop] if kind == KIND_RIDE else walk_t[k, stop] if kind == KIND_WALK
                             else board_t[0, stop])
        cur, rnd, state = stop, k, ("ride" if kind == KIND_RIDE else "walk" if kind == KIND_WALK else "source")
        while True:
            if state == "ride":
                p, trip = int(ride_pat[rnd, cur]), int(ride_trip[rnd, cur])
                bpos, apos = int(ride_bpos[rnd, cur]), int(ride_apos[rnd, cur])
                sg, rnd2 = int(ride_seg[rnd, cur]), int(ride_bround[rnd, cur])
                while True:  # the ride, then the seat segments it continues (latest first)
                    off, n = m.trip_times_offset(trip)
                    b = int(m.pattern_stops[m.pattern_stops_start[p] + bpos])
                    legs.append(RideLeg(p, trip, bpos, apos, b, cur, int(m.st_dep[off + bpos]),
                                        int(m.st_arr[off + apos]), sg >= 0))
                    if sg < 0:
                        break
                    p, trip, bpos, apos, rnd2, sg = (int(x) for x in segs[sg])
                    cur = int(m.pattern_stops[m.pattern_stops_start[p] + apos])
                cur, rnd = b, rnd2
                bk = int(board_kind[rnd, cur])
                state = "source" if bk == 0 else "ride" if bk == 1 else "walk"
            elif state == "walk":
                frm = int(walk_from[rnd, cur])
                dep = int(ride_t[rnd, frm]) if rnd > 0 else int(self.src_times[frm])
                legs.append(WalkLeg(frm, cur, dep, int(walk_t[rnd, cur])))
                cur = frm
                state = "ride" if rnd > 0 else "source"
            else:
                break
        legs.reverse()
        return Journey(k, cur, int(self.src_times.get(cur, board_t[0, cur])), stop, target_arrival, arrival,
                       tuple(legs))


def run_raptor(model, q: RaptorQuery) -> RaptorResult:
    """One earliest-arrival RAPTOR search; pure, thread-safe, the kernel releases the GIL."""
    mask = q.mask or ClosureMask.open(model.n_stops, model.n_hops)
    # any closure window at all? (without, a later trip of a pattern can ride wherever an earlier one can)
    closures = q.inseat and q.mask is not None and bool(np.any(mask.stop_from != mask.stop_until)
                                           or np.any(mask.hop_from != mask.hop_until))
    allowed = q.pattern_allowed if q.pattern_allowed is not None else np.ones(model.n_patterns, np.bool_)
    src_stops = np.asarray(q.src_stops, np.int32)
    if q.inseat:
        links = (model.inseat_start, model.inseat_to_trip, model.inseat_from_pos, model.inseat_to_pos,
                 model.trip_inseat_class, model.pattern_inseat_classes, model.trip_inseat_classes_after)
    else:  # no links: nothing of the in-seat machinery runs or is allocated
        none = np.empty(0, np.int32)
        links = (np.zeros(1, np.int32), none, none, none, none, np.zeros(model.n_patterns, np.int32), none)
    src_times = np.asarray(q.src_times, np.int64)
    labels = raptor_kernel(
        model.pattern_stops_start, model.pattern_stops, model.pattern_trips_start, model.pattern_times_start,
        model.st_arr, model.st_dep, model.st_pickup, model.st_dropoff, model.trip_wheelchair,
        model.sp_start, model.sp_pattern, model.sp_pos, model.fp_start, model.fp_to, model.fp_dist,
        model.fp_fixed_s, model.stop_min_transfer, model.stop_wheelchair,
        mask.stop_from, mask.stop_until, mask.hop_from, mask.hop_until,
        np.asarray(allowed, np.bool_), bool(q.wheelchair), np.int64(q.min_transfer_s), float(q.walk_speed),
        int(max(0, q.max_rides)), src_stops, src_times,
        np.asarray(q.tgt_stops, np.int32), np.asarray(q.tgt_egress, np.int64),
        model.trip_pattern, *links, closures)
    first: dict[int, int] = {}
    for s, t in zip(src_stops.tolist(), src_times.tolist()):
        first[s] = min(t, first.get(s, t))
    return RaptorResult(labels, model, first)


def earliest(model, q: RaptorQuery) -> list[Journey]:
    """Pareto set (arrival, rides) for one departure time."""
    return run_raptor(model, q).pareto()
