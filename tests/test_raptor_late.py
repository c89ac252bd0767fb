"""The time-dependent target bound of range RAPTOR (`raptor.profile.late_bounds`): after a search's first run, one
backward run per distinct result gives per stop and round the latest board label that may still beat a result,
and `_collect_routes` holds the stops later than that. It must change no journey. Each search runs with the bound
off and with it from the first run whatever it costs (``LATE_BOUND_RUNS`` and ``_ROUTES`` 0, ``_SAVES`` past any
cost), on random networks (in-seat links, loops, frequencies, wheelchair, modes, closures: the bound is worked
out without them, a relaxation: closures only take journeys away or make them later) both ways, against the brute-force profile, and on a real feed; the journeys, legs included, must be
equal, and the bound must hold some labels (else nothing was compared)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from numba import njit

from conftest import shared_file
from feeds.feed import Network
from feeds.gtfs import load_feed
from routing.raptor import RaptorQuery, range_raptor, search
from routing.raptor.arrays import reversed_timetable, timetable_of
from routing.raptor.bounds import lower_bounds
from routing.raptor.pools import _labels_and_records
from routing.raptor.profile import _rules_of, _seg_room
from routing.raptor.rounds import raptor_run
from routing.raptor.search import _NO_BOARD
from routing.raptor.state import INF, NONE32, Cutter, clear_labels
from routing.timetable import build_model
import test_raptor
from test_raptor_cut import random_windows, toei_windows

OFF = 1 << 62
ALWAYS = 1 << 40  # (LATE_BOUND_SAVES: routes a later run spares, past any first run's cost; times runs, no overflow)


def _bound_always(monkeypatch) -> None:
    """Every search with more than one run works the bound out after its first, whatever it costs."""
    monkeypatch.setattr(search, "LATE_BOUND_RUNS", 0)
    monkeypatch.setattr(search, "LATE_BOUND_ROUTES", 0)
    monkeypatch.setattr(search, "LATE_BOUND_SAVES", ALWAYS)


def _both(monkeypatch, model, q, t0, window, backward):
    """(the search without the bound, the search with it from its first run on)."""
    monkeypatch.setattr(search, "LATE_BOUND_RUNS", OFF)
    off = range_raptor(model, q, t0, window, backward=backward)
    assert off.counters.late_held == 0
    _bound_always(monkeypatch)
    on = range_raptor(model, q, t0, window, backward=backward)
    return off, on


@pytest.mark.parametrize("seeds", [range(0, 30), range(30, 60)])
def test_late_bound_changes_no_journey(monkeypatch, seeds):
    held = 0
    for seed in seeds:
        for model, w, rng, q, t0, window, backward in random_windows(seed):
            off, on = _both(monkeypatch, model, q, t0, window, backward)
            assert on.journeys == off.journeys, (seed, t0, window, backward)
            assert on.departures == off.departures and on.first_run == off.first_run
            assert list(on.res_t) == list(off.res_t)
            held += on.counters.late_held
    assert held > 0


@pytest.mark.parametrize("seed", range(40))
def test_range_with_late_bound_matches_brute_force_profile(monkeypatch, seed):
    """As test_raptor.test_range_matches_brute_force_profile (exactly the reference's profile), with the bound on
    from the first run."""
    _bound_always(monkeypatch)
    test_raptor.test_range_matches_brute_force_profile(seed)


def test_late_bound_changes_no_journey_on_toei(monkeypatch):
    """A real feed (Toei rail, in-seat links on), windows of 2 h both ways from many stops at once (a place's
    stops, with access and egress seconds): the same journeys, and the bound holds many labels."""
    held = 0
    for m, q, t0, backward in toei_windows(11):
        off, on = _both(monkeypatch, m, q, t0, 2 * 3600, backward)
        assert on.journeys == off.journeys, (q.src_stops, q.tgt_stops, t0, backward)
        held += on.counters.late_held
    assert held > 100


def test_late_bound_is_only_where_it_pays(monkeypatch):
    """By default a search works the bound out only when its runs to go spare more than the bound's backward runs
    cost (`profile._late_pays`: runs left × ``LATE_BOUND_SAVES`` ≥ distinct results × routes of the first run)
    and that first run scanned at least ``LATE_BOUND_ROUTES`` routes per pattern, or it has more than
    ``LATE_BOUND_MANY_RUNS`` runs: a 15 min window on Toei from two stops does not, each threshold just met does,
    just missed does not."""
    m = build_model(Network([load_feed(shared_file("toei-rail-gtfs.zip"), "toei-subway")]), dt.date(2026, 12, 1))
    q = RaptorQuery(np.array([0, 1]), np.array([0, 0]), np.array([m.n_stops - 1]), np.array([0]), max_rides=6,
                    inseat=True, report_walks=False)
    base = range_raptor(m, q, 8 * 3600, 900)
    assert base.counters.runs > 2 and base.counters.late_held == 0
    monkeypatch.setattr(search, "LATE_BOUND_ROUTES", 0)
    monkeypatch.setattr(search, "LATE_BOUND_SAVES", ALWAYS)
    low = range_raptor(m, q, 8 * 3600, 900)
    assert low.journeys == base.journeys
    assert low.counters.late_held > 0
    one = range_raptor(m, q, base.first_run, 0)  # (the window's first run alone)
    first = one.counters.routes_scanned
    results = len({int(t) for t in one.res_t if t < INF})
    cost = results * first  # the backward runs', in routes; spared by the runs to go
    saves = -(-cost // (base.counters.runs - 1))
    for value, held in ((saves - 1, 0), (saves, low.counters.late_held)):
        monkeypatch.setattr(search, "LATE_BOUND_SAVES", value)
        r = range_raptor(m, q, 8 * 3600, 900)
        assert r.journeys == base.journeys and r.counters.late_held == held, value
    monkeypatch.setattr(search, "LATE_BOUND_SAVES", ALWAYS)
    for value, held in (((first + 1) / m.n_patterns, 0), (first / m.n_patterns, low.counters.late_held)):
        monkeypatch.setattr(search, "LATE_BOUND_ROUTES", value)
        r = range_raptor(m, q, 8 * 3600, 900)
        assert r.journeys == base.journeys and r.counters.late_held == held, value
    # or, the cost aside, more than ``LATE_BOUND_MANY_RUNS`` runs after a first run of ``_MANY_ROUTES``
    monkeypatch.setattr(search, "LATE_BOUND_SAVES", saves - 1)
    monkeypatch.setattr(search, "LATE_BOUND_MANY_RUNS", base.counters.runs - 1)
    for value, held in ((first + 1, 0), (first, low.counters.late_held)):
        monkeypatch.setattr(search, "LATE_BOUND_MANY_ROUTES", value)
        r = range_raptor(m, q, 8 * 3600, 900)
        assert r.journeys == base.journeys and r.counters.late_held == held, value


def test_late_bound_keeps_its_lower_bounds_per_origin():
    """`search._late_for` keeps the lower bounds towards the search's origin for the next bound with the same one (a
    plan's later window): the bound is the one worked out afresh, and another walking speed (other bounds) or
    origin gets its own."""
    from routing.raptor.arrays import timetable_of
    from routing.raptor.state import INF

    m = build_model(Network([load_feed(shared_file("toei-rail-gtfs.zip"), "toei-subway")]), dt.date(2026, 12, 1))
    tt = timetable_of(m, True)
    t, rounds = 8 * 3600, 7
    res = np.full(rounds, INF, np.int64)
    res[2], res[4], res[6] = t + 3000, t + 2700, t + 2400

    def late(src: list[int], speed: float, fresh: bool) -> np.ndarray:
        if fresh:
            search._POOL.__dict__.pop("late", None)
        q = RaptorQuery(np.array(src), np.zeros(len(src), np.int64), np.array([m.n_stops - 1]), np.array([0]),
                        max_rides=rounds - 1, walk_speed=speed, inseat=True, report_walks=False)
        return search._late_for(m, tt, q, False, np.ones(m.n_stops, np.int64), res, np.array(src, np.int64),
                                np.zeros(len(src), np.int64), np.array([m.n_stops - 1], np.int64),
                                np.zeros(1, np.int64), t, rounds).copy()

    walks = [s for s in range(m.n_stops) if m.fp_start[s + 1] > m.fp_start[s]][:2]  # (speed matters there)
    a = late(walks, 1.2, True)
    slow = late(walks, 0.3, False)
    other = late([5], 1.2, False)
    assert not np.array_equal(a, slow) and not np.array_equal(a, other)  # (else the test would show nothing)
    assert np.array_equal(late(walks, 1.2, False), a)  # after another speed and origin: worked out again
    assert np.array_equal(late(walks, 1.2, False), a)  # the same origin again: the kept bounds
    assert np.array_equal(late(walks, 0.3, True), slow) and np.array_equal(late([5], 1.2, True), other)


# ---- the backward runs' pruning (`late_bounds`: rows past each result's rides, rides to the sources) --------
@njit(cache=False)
def _late_plain(recs, rules, seg, tgt_stops, tgt_egress, org_stops, org_access, res_t, rides, t_start, late):
    """The bound as first written, the reference: each distinct result's run on every row, pruned only by the
    lower bounds towards the sources; per stop and round the latest ride label of any row whose round has the
    result."""
    tt, lab, rl = recs.tt, recs.lab, _rules_of(rules)
    lower_bounds(tt, rl, recs.g, org_stops, org_access, rl.lb, rl.lb_board, rl.lb_walk)
    rl.rides[:] = 1
    R = res_t.shape[0]
    late[:, :] = -INF
    clear_labels(lab)
    lab.res_t[:] = 1 - t_start
    for a in np.unique(res_t[res_t < INF]):
        seg = _seg_room(seg, lab.scalars[2], R, len(tt.inseat_to_trip))
        raptor_run(tt, rl, lab, seg, tgt_stops, tgt_egress - (a - 1), lab.scalars[3] + 1, False, False)
        top = lab.scalars[6]
        for x in range(lab.scalars[5]):
            s = lab.dirty[x]
            for r in range(R - 1):
                for j in range(max(1, rides[s]), R - r):
                    t = lab.ride_t[min(j, top - 1), s]
                    if res_t[r + j] == a and t != NONE32 and -np.int64(t) > late[r, s]:
                        late[r, s] = -np.int64(t)
    for s in range(late.shape[1]):
        for r in range(R):
            if r + max(1, rides[s]) < R and res_t[r + max(1, rides[s])] >= INF:
                late[r, s] = INF


@njit(cache=False)
def _earliest_boards(recs, rules, seg, src_stops, src_times):
    """One plain run with no target pruning (lower bounds 0): every stop's earliest board label per round."""
    lab = recs.lab
    clear_labels(lab)
    seg = _seg_room(seg, 0, lab.ride_t.shape[0], len(recs.tt.inseat_to_trip))
    raptor_run(recs.tt, _rules_of(rules), lab, seg, src_stops, src_times, lab.scalars[3] + 1, False, False)
    return lab.board_t.copy(), lab.scalars[6]


def _check_pruning(monkeypatch, model, q, t0, window, backward) -> tuple[int, int]:
    """The bound of a search paused after its first run against `_late_plain`'s: never looser (its runs only
    prune more), and the same wherever a board label of that round can be there in time (the earliest one from
    the window's first departure, relaxed as the backward runs are, is no later than the plain bound): the stops
    and rounds the pruning drops are those from which no journey it keeps out can beat a result. Returns (bound
    entries compared, entries tighter than the plain bound's)."""
    calls = []
    late_for = search._late_for

    def keep(model_, tt, q_, reverse, rides, res_t, src, acc, tgt, egress, t_start, rounds):
        out = late_for(model_, tt, q_, reverse, rides, res_t, src, acc, tgt, egress, t_start, rounds)
        calls.append((tt, reverse, rides.copy(), np.asarray(res_t, np.int64).copy(), src, acc, tgt, egress,
                      t_start, rounds, out.copy()))
        return out

    monkeypatch.setattr(search, "_late_for", keep)
    _bound_always(monkeypatch)
    range_raptor(model, q, t0, window, backward=backward)
    compared = tighter = 0
    relaxed = RaptorQuery(q.src_stops, q.src_times, q.tgt_stops, q.tgt_egress, q.max_rides, q.pattern_allowed,
                          min_transfer_s=0, walk_speed=q.walk_speed, inseat=q.inseat, report_walks=False)
    for tt, reverse, rides, res_t, src, acc, tgt, egress, t_start, rounds, new in calls:
        other = timetable_of(model, q.inseat) if reverse else reversed_timetable(model, q.inseat)[0]
        plain = np.empty_like(new)
        bounds = np.empty((4, model.n_stops), np.int64)
        _, recs = _labels_and_records(model, other, rounds)
        _late_plain(recs, search._flat_rules(model, relaxed, not reverse, bounds, Cutter(np.int64(0), _NO_BOARD)),
                    np.empty((1, 6), np.int32), tgt, egress, src, acc, res_t, rides, np.int64(t_start), plain)
        zero = np.zeros((4, model.n_stops), np.int64)
        zero[1] = 1
        _, recs = _labels_and_records(model, tt, rounds)
        board, top = _earliest_boards(recs, search._flat_rules(model, relaxed, reverse, zero,
                                                               Cutter(np.int64(0), _NO_BOARD)),
                                      np.empty((1, 6), np.int32), src, acc + t_start)
        assert (new <= plain).all()
        board = board[np.minimum(np.arange(rounds), top - 1)].astype(np.int64)
        in_time = (board != NONE32) & (board <= plain) & (plain > -INF)
        assert (new[in_time] == plain[in_time]).all(), (q.src_stops, q.tgt_stops, t0, backward)
        compared += int(in_time.sum())
        tighter += int((new < plain).sum())
    return compared, tighter


@pytest.mark.parametrize("seeds", [range(0, 30), range(30, 60)])
def test_late_bound_pruning_drops_only_what_no_journey_needs(monkeypatch, seeds):
    """Random networks (`random_windows`, closures included: the search's results are theirs), both ways."""
    compared = 0
    for seed in seeds:
        for model, w, rng, q, t0, window, backward in random_windows(seed):
            compared += _check_pruning(monkeypatch, model, q, t0, window, backward)[0]
    assert compared > 0


def test_late_bound_pruning_on_toei(monkeypatch):
    """Toei rail with up to 6 rides: the same, and the pruning makes the bound tighter somewhere."""
    compared = tighter = 0
    for m, q, t0, backward in toei_windows(5):
        c, t = _check_pruning(monkeypatch, m, q, t0, 2 * 3600, backward)
        compared, tighter = compared + c, tighter + t
    assert compared > 1000 and tighter > 0
