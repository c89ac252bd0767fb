"""Range RAPTOR (`raptor_range`): the departures from the sources within a window are searched latest first, the
labels kept between them (a later departure's arrivals bound an earlier one's); a journey is reported for a
departure only when it arrives strictly earlier, for its number of rides, than every later departure: so the
answers are the Pareto set over (departure, arrival, rides) and each leaves as late as it can. A last run at the
query time itself finds journeys that leave after the window (the first train of the morning). Arrive-by is the
same search on the time-reversed timetable (`arrays.reversed_timetable`): sources are the targets, time runs
backwards.

A whole search is one kernel call from Python (`range_search_flat`: the runs of `departure_schedule`, the lower
bounds, the latest-boarding cut), given the timetable, its stop graph and the thread's labels as one
`SearchRecords`; `late_bounds` works out the time-dependent target bound of a search paused after its first run.
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.core import types
from numba.experimental import structref

from routing.raptor.bounds import fewest_rides, lower_bounds
from routing.raptor.journeys import Output, _emit
from routing.raptor.rounds import raptor_run
from routing.raptor.state import C_ROUTES, INF, NONE32, Cutter, Rules, _dep_at, walk_start, clear_labels


_UNCHANGED = np.int8(127)  # Labels.board_low of a stop whose board labels are all as the cut last copied them


@njit(nogil=True, cache=True, inline="always")
def _board_copy(board, board_t, low, stops, n, mode, top):
    """The cut's copy of the board labels (`Cutter`) at the first ``n`` of ``stops``: ``board_t``'s, every
    round but the last (a row not kept yet as the last kept one, `_keep_rows`), or (``mode`` 2) INF. The last
    round's row is never read (round k reads row k - 1), so it stays INF: a tenth of the copies with the default
    9 transfers, which on Toei cost as much as the routes the cut spares.

    ``mode`` 0 copies every row; 1 only the rows from ``low[s]`` on (`Labels.board_low`: at most the lowest
    round whose board label was written at s since its last copy, kept by the runs that cut; 0 for a stop not
    copied since the labels were cleared, so every row of it then). The rows
    below are still equal: call E(k, s) = board_t[min(k, top - 1), s] what row k would hold were every row kept;
    a copy leaves board[k, s] = E(k, s) for k < R, and between copies E changes only at rows ≥ low[s]: `_label`
    in round k writes rows k .. top - 1 (E from k on), `_keep_rows` makes row top a copy of row top - 1 (E
    unchanged), and clearing happens only between searches. Modes 0 and 1 set ``low`` back to unchanged."""
    R = board_t.shape[0] - 1
    kept = min(top, R)
    for x in range(n):
        s = stops[x]
        if mode == 2:
            for k in range(R):
                board[k, s] = INF
            continue
        f = 0 if mode == 0 else np.int64(low[s])
        low[s] = _UNCHANGED
        if f >= top:
            continue
        for k in range(f, kept):
            board[k, s] = board_t[k, s]
        last = board_t[top - 1, s]
        for k in range(max(f, kept), R):
            board[k, s] = last


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


@njit(nogil=True, cache=True, inline="always")
def _late_pays(res_t, first, runs_left, min_routes, saved, many_runs, many_routes):
    """Whether the time-dependent bound (`late_bounds`) is worth working out after a first run that found the
    results ``res_t`` (some) scanning ``first`` routes, with ``runs_left`` runs to go: its cost is one backward run
    per distinct result, each about as many routes as the first run; what it spares is about ``saved`` routes a
    later run (the later runs of a long trip scan a few thousand routes whatever the network's size, and the bound
    holds most of them). So: ``runs_left`` × ``saved`` ≥ results × ``first``, and ``first`` ≥ ``min_routes`` (a
    short trip's later runs scan little, so its bound spares little however many runs there are); or, whatever
    that says, more than ``many_runs`` runs in all after a first run of at least ``many_routes`` routes (the many
    cheap later runs of a long trip on a big network: a second window's, or hundreds of departures)."""
    if runs_left < 1 or res_t[res_t.shape[0] - 1] >= INF:
        return False
    if runs_left >= many_runs and first >= many_routes:
        return True
    if first < min_routes:
        return False
    n_res = 0
    for k in range(res_t.shape[0]):
        if res_t[k] < INF and (k == 0 or res_t[k] != res_t[k - 1]):
            n_res += 1
    return runs_left * saved >= n_res * first


@njit(nogil=True, cache=True)
def raptor_range(tt, rules, lab, seg, src_stops, src_access, taus, tau_start, tau_patterns, out, r0, pause,
                 tune):
    """Range RAPTOR: one run per departure time in ``taus`` (latest first), labels kept between runs; each run
    reports the journeys that beat every later departure for their number of rides. The patterns leaving at
    taus[r] are tau_patterns[tau_start[r]:tau_start[r+1]] (none listed: scan all); after the first run, round 1
    scans only those (a pattern that does not leave then catches the trip it caught in the run before).

    From run ``rules.latest.after`` on, the latest-boarding cut (`Cutter`, `_collect_routes`):
    ``rules.latest.board`` holds the board labels as they were when the run began (every stop touched since the
    labels were cleared copied after run ``after`` - 1, then the stops each run touches, from the lowest round it
    wrote there: `_board_copy`), and is set back to INF after the last run.

    Runs from ``r0`` on (a search resumed, its labels kept); ``pause``: stop after the first run when the
    time-dependent bound pays (`_late_pays`, with ``tune``'s thresholds: (runs, min routes, saved, many runs, many
    routes)); the caller works it out (`late_bounds`) and resumes from run 1 (decided here, as a return to Python
    only to go on costs a call).
    Returns (seg, paused)."""
    after = rules.latest.after
    board = rules.latest.board
    cutting = after > 0 and len(taus) > after and board.shape[0] >= lab.board_t.shape[0]
    src_times = np.empty(len(src_stops), np.int64)  # (each run's source times, in one array for all runs)
    for r in range(r0, len(taus)):
        tau = taus[r]
        run = lab.scalars[3] + 1
        restrict = r > 0 and tau_start[r + 1] > tau_start[r]
        for i in range(tau_start[r], tau_start[r + 1]):
            lab.pattern_run[tau_patterns[i]] = run
        if len(tt.inseat_to_trip) > 0:
            seg = _seg_room(seg, lab.scalars[2], lab.ride_t.shape[0], len(tt.inseat_to_trip))
        for i in range(len(src_stops)):
            src_times[i] = src_access[i] + tau
        raptor_run(tt, rules, lab, seg, src_stops, src_times, run, restrict, cutting and r >= after)
        if cutting and after - 1 <= r < len(taus) - 1:  # the next run cuts: the board labels as they are now
            if r == after - 1:  # every stop written since the labels were cleared
                _board_copy(board, lab.board_t, lab.board_low, lab.dirty, lab.scalars[5], 0, lab.scalars[6])
            else:  # then those this run touched
                _board_copy(board, lab.board_t, lab.board_low, lab.touched, lab.scalars[0], 1, lab.scalars[6])
        # journeys only from a run that improved a result: most improve none, and a call given the records
        # costs ~0.3 µs (their arrays passed field by field)
        for k in range(lab.res_run.shape[0]):
            if lab.res_run[k] == run:
                _emit(tt, rules, lab, seg, run, tau, out)
                break
        if pause and r == 0 and _late_pays(lab.res_t, lab.counters[C_ROUTES], len(taus) - 1, tune[1], tune[2], tune[3],
                                          tune[4]):
            return seg, True
    if cutting:  # all INF again for the next search
        _board_copy(board, lab.board_t, lab.board_low, lab.dirty, lab.scalars[5], 2, lab.scalars[6])
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
                w = np.int64(rules.walk_s[f])
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
                col = _dep_at(times0, nt, 0, pos)
                while lo < hi:
                    mid = (lo + hi) // 2
                    if tt.dep_by_pos[col + mid] < lim:
                        lo = mid + 1
                    else:
                        hi = mid
                for j in range(lo, nt):
                    off = times0 + j * L + pos
                    tau = np.int64(tt.dep_by_pos[col + j]) - acc - w
                    if rules.closures and u != s:  # (as late as the walk may leave, `walk_start`: never later)
                        tau = walk_start(rules.stop_from[s], rules.stop_until[s], rules.stop_from[u],
                                          rules.stop_until[u], tau + acc, w) - acc
                    if tau > t1:
                        break
                    if tau < t0:
                        continue
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
    time (at a source stop, or one footpath from it: a walk, not a transfer, leaving as late as closures let
    it), distinct and latest first, with the patterns leaving at each as CSR (start[len+1], patterns); then a
    last run at t0 itself when no departure is at t0 (it scans every pattern: what leaves after the window, the
    first train of the morning). None in the window when t1 < t0 (a plain search: the run at t0 only). Returns
    (times, start, patterns, departures in the window)."""
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
                 bound, resume, tune):
    """A whole range search in one call (a call from Python unboxes every array of its records, ~20 µs, so
    the steps are not separate calls): clear the labels, set the targets' egress, their lower bounds into
    ``rules.lb`` unless ``bounds_known``, the runs (`departure_schedule`), `raptor_range`, then the targets
    cleared again. ``out`` is grown (and the search repeated) when the journeys do not fit. ``bound`` (INF:
    none): the result times start there, as if a journey arriving then had been found for every number of rides.
    ``tune[0]``: with more runs than that (and no ``bound``), the search stops after its first run if the
    time-dependent bound pays (`_late_pays`, the rest of ``tune``), the targets' egress left set (`raptor_range`);
    called again with ``resume`` it goes on from run 1 on the labels as they are (the caller may have given
    ``rules.late`` meanwhile, `late_bounds`).
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
    pause = bound == INF and len(taus) > tune[0] and not resume
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
                                   r0, pause, tune)
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
                      bound, resume, tune):
    """`range_search` as called from Python: the timetable, stop graph and labels from one `SearchRecords`, the
    query's rules a plain tuple (`_flat_rules`; its Cutter a plain tuple at the end: numba types a plain tuple of
    arrays from a fingerprint in C, a named tuple through Python) and ``out`` a plain tuple, made records again
    here. The records are the same types as when passed directly: every kernel below is the same.
    Returns `range_search`'s answer with None for ``seg`` and ``out`` unless they were grown (new arrays, bigger):
    boxing them for Python costs ~3 µs a call, and the caller keeps the ones it gave."""
    rl = _rules_of(rules)
    seg2, out2, n_departures, first_tau, paused = range_search(
        recs.tt, rl, recs.g, recs.lab, seg, Output(*out), src_stops, src_access, tgt_stops, tgt_egress,
        bounds_known, t0, t1, bound, resume, tune)
    grown_out = out2.journeys.shape[0] != out[0].shape[0] or out2.legs.shape[0] != out[1].shape[0]
    return (seg2 if seg2.shape[0] != seg.shape[0] else None), (out2 if grown_out else None), n_departures, \
        first_tau, paused


@njit(nogil=True, cache=True, inline="always")
def _rules_of(rules):
    """`Rules` from the plain tuple `_flat_rules` makes (its Cutter a plain tuple at the end)."""
    lt = rules[18]
    return Rules(rules[0], rules[1], rules[2], rules[3], rules[4], rules[5], rules[6], rules[7], rules[8], rules[9],
                 rules[10], rules[11], rules[12], rules[13], rules[14], rules[15], rules[16], rules[17],
                 Cutter(lt[0], lt[1]))


@njit(nogil=True, cache=True)
def late_bounds(tt, rules, g, lab, seg, tgt_stops, tgt_egress, org_stops, org_access, res_t, rides, t_start, late,
                lb_known):
    """The time-dependent target bound of a range search whose first run found the results ``res_t`` (per round:
    the best arrival with at most that many rides): ``late[r, s]``, the latest board label at stop s of round r
    (r rides so far) from which a journey may still beat a result. For each distinct finite result A, one plain
    RAPTOR run on the other clock (``tt`` is the search's timetable reversed: the targets are its sources, at
    A - 1 less their egress, on the other clock) gives per stop s and rides j the latest departure from s that
    still arrives by A - 1 with at most j rides (the ride label of row j there). The runs go earliest A first on
    labels kept from the run before, as range RAPTOR's runs do (on the other clock a later A is an earlier
    departure: whatever arrives by the earlier A arrives by it too, and its run only adds what improves). A board
    label at s of round r that can improve the result of round r + j arrives there before it with at most j more
    rides, so it is later than none of those departures, for some j ≥ ``rides[s]`` (fewest_rides); ``late[r, s]``
    is their latest, INF when a round r + j has no result yet (anything may become one), -INF when no departure
    does. The rounds whose result is A are k_lo..k_hi (results only fall as rides grow) and rows only get better
    as j grows (`Labels`), so that latest is row k_hi - r's.

    The runs are relaxations of the search's own: ``rules`` has no closures, no wheelchair rule and change time 0
    (the feed's same-stop times stay: the same both ways), the query's patterns. Their labels are pruned as a
    search towards the search's sources (``org_stops``, access ``org_access``) whose result with at most x rides is
    1 - t_start for x ≤ k_hi and -INF (nothing) beyond: by the lower bounds towards the sources against the
    earliest departure ``t_start`` (on the other clock a departure at t_start or later arrives by -t_start), and by
    the fewest rides from a board label to the sources (``rules.rides``, on the other clock) against k_hi. A
    journey J that can beat a result A (J leaves a source at t_start or later, boards at s after r rides, arrives by
    A - 1 after j more, r + j ≤ k_hi) is pruned at none of its stops: on the other clock each of its labels
    reaches the sources by -t_start, and at a board label there after i of its rides the sources are at least
    ``rules.rides`` rides away and at most r + j - i for J; so row j at s holds J's departure from s or a later
    one. What the pruning drops are labels of no such journey, or rows no round with this result reads: the
    stops and rounds it leaves at -INF (or earlier) hold only board labels from which no journey beats a result.
    The runs, earliest A first, have k_hi falling: their pruning only tightens, which labels kept between runs
    allow (as results tightening in range RAPTOR; a run never reads rows past its k_hi, which the runs after it
    do not either). Results only improve, so the bound stays valid for the rest of the search. tokyo4 (200
    plans, interleaved with the plain runs, the same answers): late bounds 4,764 → 2,609 ms, every plan's CPU
    12,196 ms against 14,456 (later results' runs: a few rounds each instead of as many routes as the first).
    ``lb_known``: ``rules.lb`` and ``rules.rides`` hold these bounds already (a later window of the same plan: the
    same origin). Returns seg."""
    n = len(rules.lb)
    R = res_t.shape[0]
    if not lb_known:
        lower_bounds(tt, rules, g, org_stops, org_access, rules.lb, rules.lb_board, rules.lb_walk)
        fewest_rides(g, org_stops, rules.rides)
    for r in range(R):
        for s in range(n):
            late[r, s] = -INF
    src_times = np.empty(len(tgt_stops), np.int64)
    done = np.empty(R, np.int64)  # the distinct finite results, earliest first
    nd = 0
    for kk in range(R):
        a = res_t[kk]
        dup = a >= INF
        for x in range(nd):
            if done[x] == a:
                dup = True
        if not dup:
            done[nd] = a
            nd += 1
    done[:nd].sort()
    clear_labels(lab)
    for y in range(nd):
        a = done[y]
        k_hi = R - 1  # the most rides whose result is a (results only fall as rides grow: they are k_lo..k_hi)
        while res_t[k_hi] != a:
            k_hi -= 1
        for x in range(R):  # rows past k_hi: nothing (-INF prunes every label, and holds the stops whose
            lab.res_t[x] = 1 - t_start if x <= k_hi else -INF  # fewest rides to the sources need them)
        lab.scalars[2] = 0  # (seat segments: read only to make journeys, which these runs do not)
        seg = _seg_room(seg, 0, lab.ride_t.shape[0], len(tt.inseat_to_trip))
        for i in range(len(tgt_stops)):
            src_times[i] = np.int64(tgt_egress[i]) - (a - 1)
        raptor_run(tt, rules, lab, seg, tgt_stops, src_times, lab.scalars[3] + 1, False, False)
        # late[r, s] from the ride label of row k_hi - r: the most rides j with r + j a round whose result is
        # a (rows only get better as j grows, `Labels`: the latest departure of any such j), when j is at
        # least the fewest rides from s to a target
        top = lab.scalars[6]
        for x in range(lab.scalars[5]):
            s = lab.dirty[x]
            for r in range(k_hi - max(1, rides[s]) + 1):
                t = lab.ride_t[min(k_hi - r, top - 1), s]
                if t != NONE32 and -np.int64(t) > late[r, s]:
                    late[r, s] = -np.int64(t)
    for s in range(n):  # rounds with no result yet: no bound
        j0 = max(1, rides[s])
        for r in range(R):
            if r + j0 < R and res_t[r + j0] >= INF:
                late[r, s] = INF
    return seg


@njit(nogil=True, cache=True)
def late_bounds_flat(recs, rules, seg, tgt_stops, tgt_egress, org_stops, org_access, res_t, rides, t_start, late,
                     lb_known):
    """`late_bounds` with its records from one `SearchRecords` and its rules a plain tuple (see
    `range_search_flat`)."""
    return late_bounds(recs.tt, _rules_of(rules), recs.g, recs.lab, seg, tgt_stops, tgt_egress, org_stops,
                       org_access, res_t, rides, t_start, late, lb_known)
