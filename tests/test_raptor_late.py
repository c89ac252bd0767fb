"""The time-dependent target bound of range RAPTOR (`raptor.profile.late_bounds`): after a search's first run, one
backward run per distinct result gives per stop and round the latest board label that may still beat a result,
and `_collect_routes` holds the stops later than that. It must change no journey. Each search runs with the bound
off and with it from the first run (``LATE_BOUND_RUNS`` 0, far below the default), on random networks (in-seat
links, loops, frequencies, wheelchair, modes, closures: the bound stays off with closures) both ways, against the
brute-force profile, and on a real feed; the journeys, legs included, must be equal, and the bound must hold
some labels (else nothing was compared)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from conftest import shared_file
from feeds.feed import Network
from feeds.gtfs import load_feed
from routing.raptor import RaptorQuery, range_raptor, search
from routing.timetable import build_model
import test_raptor
from test_raptor_cut import random_windows, toei_windows

OFF = 1 << 62


def _both(monkeypatch, model, q, t0, window, backward):
    """(the search without the bound, the search with it from its first run on)."""
    monkeypatch.setattr(search, "LATE_BOUND_RUNS", OFF)
    off = range_raptor(model, q, t0, window, backward=backward)
    assert off.counters.late_held == 0
    monkeypatch.setattr(search, "LATE_BOUND_RUNS", 0)
    monkeypatch.setattr(search, "LATE_BOUND_ROUTES", 0)
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
            if w["mask"] is not None:
                assert on.counters.late_held == 0
            held += on.counters.late_held
    assert held > 0


@pytest.mark.parametrize("seed", range(40))
def test_range_with_late_bound_matches_brute_force_profile(monkeypatch, seed):
    """As test_raptor.test_range_matches_brute_force_profile (exactly the reference's profile), with the bound on
    from the first run."""
    monkeypatch.setattr(search, "LATE_BOUND_RUNS", 0)
    monkeypatch.setattr(search, "LATE_BOUND_ROUTES", 0)
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


def test_late_bound_is_only_for_long_searches(monkeypatch):
    """By default a search works the bound out only beyond ``LATE_BOUND_RUNS`` runs and ``LATE_BOUND_ROUTES``
    routes scanned by its first run (a small one would pay more for its backward runs than it saves): a 15 min window on Toei holds nothing, a threshold below its runs does."""
    m = build_model(Network([load_feed(shared_file("toei-rail-gtfs.zip"), "toei-subway")]), dt.date(2026, 12, 1))
    q = RaptorQuery(np.array([0, 1]), np.array([0, 0]), np.array([m.n_stops - 1]), np.array([0]), max_rides=6,
                    inseat=True, report_walks=False)
    base = range_raptor(m, q, 8 * 3600, 900)
    assert 1 < base.counters.runs <= search.LATE_BOUND_RUNS and base.counters.late_held == 0
    monkeypatch.setattr(search, "LATE_BOUND_RUNS", 1)
    monkeypatch.setattr(search, "LATE_BOUND_ROUTES", 0)
    low = range_raptor(m, q, 8 * 3600, 900)
    assert low.journeys == base.journeys
    assert low.counters.late_held > 0
    # nor for a search whose first run scanned fewer routes than ``LATE_BOUND_ROUTES`` (its backward runs would
    # cost about as much as that run each): the same journeys, nothing held
    first = range_raptor(m, q, base.first_run, 0).counters.routes_scanned  # (the window's first run alone)
    monkeypatch.setattr(search, "LATE_BOUND_ROUTES", first + 1)
    few = range_raptor(m, q, 8 * 3600, 900)
    assert few.journeys == base.journeys and few.counters.late_held == 0
    monkeypatch.setattr(search, "LATE_BOUND_ROUTES", first)
    assert range_raptor(m, q, 8 * 3600, 900).counters.late_held == low.counters.late_held


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
