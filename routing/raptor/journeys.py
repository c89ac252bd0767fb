"""The journeys of a run read back out of the labels: for each round whose target result the run improved, its
legs from the target back to a source (`_journey_legs`, latest first), as rows of an `Output` (`_emit`). The
Python side (`search`) makes them Journeys in real time.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from routing.raptor.state import (BOARD_CHANGE, BOARD_SOURCE, KIND_RIDE, KIND_SOURCE, KIND_WALK, RIDE_APOS, RIDE_BPOS,
                                  RIDE_BROUND, RIDE_PAT, RIDE_SEG, RIDE_TRIP, _dep_at, walk_end,
                                  walk_start)


LEG_RIDE, LEG_WALK = 0, 1


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
            dep = lab.walk_t[r0, cur] - _fp_seconds(tt, rules, frm, cur)  # (after a wait a closure made)
            _leg(out, LEG_WALK, frm, cur, -1, -1, -1, -1, 0, dep, lab.walk_t[r0, cur])
            cur = frm
            if r0 == 0:
                return cur
            rnd = r0
            state = KIND_RIDE
            continue
        r0 = lab.ride_round[rnd, cur]
        p = lab.ride[r0, cur, RIDE_PAT]
        trip = lab.ride[r0, cur, RIDE_TRIP]
        bpos = lab.ride[r0, cur, RIDE_BPOS]
        apos = lab.ride[r0, cur, RIDE_APOS]
        sg = lab.ride[r0, cur, RIDE_SEG]
        bround = lab.ride[r0, cur, RIDE_BROUND]
        b = cur
        while True:  # the ride, then the seat segments it continues (latest first)
            base = tt.pattern_stops_start[p]
            L = tt.pattern_stops_start[p + 1] - base
            j = trip - tt.pattern_trips_start[p]
            nt = tt.pattern_trips_start[p + 1] - tt.pattern_trips_start[p]
            times0 = tt.pattern_times_start[p]
            b = tt.pattern_stops[base + bpos]
            leaves = np.int64(tt.dep_by_pos[_dep_at(times0, nt, j, bpos)])
            _leg(out, LEG_RIDE, b, cur, p, trip, bpos, apos, 1 if sg >= 0 else 0, leaves,
                 tt.st_arr[times0 + j * L + apos])
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
        walk = _fp_seconds(tt, rules, frm, cur)
        if r1 == 0:  # the walk from the source, as late as it may leave for the ride (`walk_start`)
            dep = leaves - walk
            if rules.closures:
                dep = walk_start(rules.stop_from[frm], rules.stop_until[frm], rules.stop_from[cur],
                                  rules.stop_until[cur], dep, walk)
        elif rules.closures:  # (the board label may include the change time: the walk's own end, `walk_end`)
            dep = walk_end(rules.stop_from[frm], rules.stop_until[frm], rules.stop_from[cur], rules.stop_until[cur],
                            lab.ride_t[r1, frm], walk) - walk
        else:
            dep = lab.ride_t[r1, frm]
        _leg(out, LEG_WALK, frm, cur, -1, -1, -1, -1, 0, dep, dep + walk)
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
            return np.int64(rules.walk_s[e])
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
