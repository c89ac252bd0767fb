"""What a RAPTOR search reads and writes, as three typed records of arrays (numba named tuples), so each phase
reads like the paper:
  Timetable – the model's arrays the search reads (`arrays.timetable_of`; `arrays.reversed_timetable` for
              backward search)
  Rules     – one query's filters: closures, allowed patterns (modes), wheelchair, change time, walking speed
  Labels    – the search state, one row per round k (k = rides): every label means "best with at most k rides"
Per round and stop three labels are kept:
  ride  – arrived by vehicle (pattern, trip, boarding and alighting positions, the boarding label's round)
  walk  – arrived on foot by one footpath from a ride of the same round (round 0: from a source)
  board – earliest time one may board there: a source, a ride plus the change time, or a walk plus it
Here too: the constants the kernels share, the scalar helpers every phase inlines (a closure window, a walk's
seconds, writing a label) and the labels' housekeeping (`new_labels`, `clear_labels` between searches,
`_keep_rows` as a search reaches deeper rounds).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


INF = np.int64(1 << 40)
NONE32 = np.int32((1 << 31) - 1)  # no label yet, in the int32 label times (Labels.ride_t, walk_t, board_t)
KIND_RIDE, KIND_WALK, KIND_SOURCE = 0, 1, 2  # result kinds
BOARD_SOURCE, BOARD_CHANGE, BOARD_WALK = 0, 1, 2  # how a board label was reached
# counters (Labels.counters)
C_ROUNDS, C_ROUTES, C_IMPROVED, C_RUNS, C_CUT, C_STOPS, C_LATE = 0, 1, 2, 3, 4, 5, 6
# a ride label's details (Labels.ride[k, s]): pattern, trip, boarding and alighting positions, the boarding
# label's round, the seat segment it continues (-1: none)
RIDE_PAT, RIDE_TRIP, RIDE_BPOS, RIDE_APOS, RIDE_BROUND, RIDE_SEG = 0, 1, 2, 3, 4, 5
_HELD = np.int32(1 << 30)  # Labels.qpos of a pattern queued only to keep its place (`_collect_routes`): the cut
_HELD_RIDES = np.int32((1 << 30) + 1)  # the same, held by a stop that needs more rides than the bound allows


class Timetable(NamedTuple):
    """The model's arrays the search reads (see TransitModel for their meaning). Departures only by position
    (``dep_by_pos``, read through `_dep_at`), arrivals and flags only by trip (``st_arr``..., trip j of pattern p
    at position i at pattern_times_start[p] + j*L + i): one copy of each time per clock (a second order of the
    departures would cost 7.4 MiB a clock and service day on all-Tokyo)."""

    pattern_stops_start: np.ndarray
    pattern_stops: np.ndarray
    pattern_trips_start: np.ndarray
    pattern_times_start: np.ndarray
    st_arr: np.ndarray
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
    dep_by_pos: np.ndarray  # departures by pattern position: trip j's at stop i at pattern_times_start[p] + i*n + j
    #                         (n trips; `_dep_at`)
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
    one can); ``report_walks``: a journey without a ride counts as an answer (round 0 results); ``latest``: the
    latest-boarding cut (`Cutter`). A closed stop is not boarded, alighted, passed, left or reached on foot while
    it is closed; waiting beside it is free (`walk_end`)."""

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
    lb: np.ndarray  # per stop: a lower bound on the seconds from arriving there by vehicle (a ride label, or on
    #                 board) to a target's result (INF: none; `lower_bounds`)
    rides: np.ndarray  # per stop: the fewest rides from boarding there to a target's result (`fewest_rides`)
    lb_board: np.ndarray  # per stop: the same from a board label there (ready to board: no change time left)
    lb_walk: np.ndarray  # per stop: the same from a walk label there (end the journey there, or board)
    late: np.ndarray  # rounds × stops: the latest board label at s of round k that may still beat a result
    #                   (`late_bounds`, time-dependent); 0 × 0 when the search has none
    walk_s: np.ndarray  # per footpath: its seconds at ``walk_speed`` (`walk_seconds`, worked out once per
    #                     timetable and speed, `search._walk_secs`), what every relaxation reads
    ride_until: np.int64  # the search horizon on this clock: no ride arrives after it (`RaptorQuery.rides_until`;
    #                       a backward search's: no ride leaves before ``rides_since``, in real time)
    pattern_span: np.ndarray  # patterns × 2, with closures: [from, until) covers every closure window of the
    #                           pattern's stops and hops and of the patterns its trips go on to in-seat (from ==
    #                           until: none; `search._pattern_spans`), so a scan reads no closure where none can be
    latest: Cutter


class Labels(NamedTuple):
    """The search state: per round k (rows) and stop (columns) the best labels with at most k rides.

    A label improved in round k is written into the later rounds' rows too, up to the first row that holds one
    as good (rows only get better as k grows, so the rest do too): the paper copies every stop's labels into
    each new round; this writes only what improved, so a round (or a whole run) that improves nothing costs
    nothing, however many rounds the transfer limit allows. Only the rows a search's rounds have reached are kept
    so (`_keep_rows`): a deeper row joins as a copy of the last kept one. ``*_round`` says in which round a label
    was made; ride details are those of the round the ride was made in, one record per label (``ride[k, s]``, 24
    bytes: writing a ride label touches one cache line for them, not six). ``res_*`` per round: the best arrival
    at a target with at most k rides. Scratch arrays (queues, marks) live here too so one allocation serves every
    run. Label times are int32 (model seconds fit; half the bytes a row), NONE32 where there is none."""

    ride_t: np.ndarray
    ride_round: np.ndarray
    ride: np.ndarray  # rounds × stops × 6: a ride label's details, one record (RIDE_PAT .. RIDE_SEG)
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
    board_low: np.ndarray  # per stop: at most the lowest round whose board label was written there since the
    #                        latest-boarding cut last copied it (`profile._board_copy`: written only by the runs
    #                        that cut; 0 after `clear_labels`, so a stop never copied copies every row)
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


@njit(nogil=True, cache=True, inline="always")
def walk_end(fs, us, fu, uu, a, w):
    """The earliest end of a walk of w seconds, ready to leave at a, from a stop closed over [fs, us) to one
    closed over [fu, uu): it leaves the one and reaches the other while each is open, waiting before it as long
    as needed (a closure stops being at a stop, not waiting beside it). Leaving later never arrives earlier, so
    RAPTOR's labels stay right; on the reversed clock (windows mirrored) the same rule is the latest start.
    One window a stop: two moves at most."""
    t = np.int64(a)
    while True:
        if _blk(fs, us, t, t):
            t = np.int64(us)
        elif _blk(fu, uu, t + w, t + w):
            t = np.int64(uu) - w
        else:
            return t + w


@njit(nogil=True, cache=True, inline="always")
def walk_start(fs, us, fu, uu, t, w):
    """The latest start, at or before t, of the walk of `walk_end` (a journey's departure from its first
    stop, a departure the range search tries)."""
    t = np.int64(t)
    while True:
        if _blk(fu, uu, t + w, t + w):
            t = np.int64(fu) - 1 - w
        elif _blk(fs, us, t, t):
            t = np.int64(fs) - 1
        else:
            return t


@njit(nogil=True, cache=True, inline="always")
def _dep_at(times0, nt, j, i):
    """Where trip j's departure at position i of a pattern (its times from ``times0``, ``nt`` trips) is in
    `Timetable.dep_by_pos`: by position, so the boarding search reads one contiguous column of a stop's
    departures and the trip before j's is beside j's. (Scalars only: a helper given arrays or records costs
    50–500 ns a call in numba, their reference counting; the hot loops read the arrays themselves.)"""
    return times0 + i * nt + j


def walk_seconds(dist: np.ndarray, fixed_s: np.ndarray, speed: float) -> np.ndarray:
    """Seconds to walk each footpath: the feed's time, never faster than the requested speed (the distance
    divided in float64, rounded up), int32. Worked out once per timetable and speed (`search._walk_secs`) and
    read by the kernels (`Rules.walk_s`): a division and rounding at every relaxation cost more than the read
    (tokyo4, 67,736 footpaths: footpath relaxation is a seventh of a range search's runs)."""
    w = np.maximum(np.ceil(np.asarray(dist, np.float64) / np.float64(speed)), np.asarray(fixed_s, np.float64))
    return w.astype(np.int32)


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


def new_labels(n_stops: int, n_patterns: int, n_trips: int, n_classes: int, rounds: int, n_links: int) -> Labels:
    R = rounds
    full = lambda dt_, v: np.full((R, n_stops), v, dt_)  # noqa: E731
    n_dom = n_patterns if n_links > 0 else 0
    n_seat = n_trips if n_links > 0 else 0
    return Labels(
        full(np.int32, NONE32), full(np.int8, -1), np.full((R, n_stops, 6), -1, np.int32),
        full(np.int32, NONE32), full(np.int8, -1), full(np.int32, -1),
        full(np.int32, NONE32), full(np.int8, -1), full(np.int8, -1), full(np.int32, -1),
        np.full(R, INF, np.int64), np.full(R, -1, np.int8), np.full(R, -1, np.int32), np.full(R, -1, np.int8),
        np.full(R, -1, np.int64), np.full(n_stops, -1, np.int64),
        np.zeros(n_stops, np.bool_), np.full(n_stops, -1, np.int64), np.empty(n_stops, np.int32),
        np.empty(n_stops, np.int32), np.zeros(n_stops, np.int8), np.zeros(n_stops, np.bool_),
        np.empty(n_stops, np.int32),
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
        lab.board_low[:] = 0
    else:
        for r in range(n_dirty):
            s = lab.dirty[r]
            lab.touched_run[s] = -1
            lab.board_low[s] = 0
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
