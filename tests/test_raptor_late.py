"""The time-dependent target bound of range RAPTOR (`routing.raptor.late_bounds`): after a search's first run, one
backward run per distinct result gives per stop and round the latest board label that may still beat a result,
and `_collect_routes` holds the stops later than that. It must change no journey. Each search runs with the bound
off and with it from the first run (``LATE_BOUND_RUNS`` 0, far below the default), on random networks (in-seat
links, loops, frequencies, wheelchair, modes, closures: the bound stays off with closures) both ways, against the
brute-force profile, and on a real feed; the journeys, legs included, must be equal, and the bound must hold
some labels (else nothing was compared)."""
from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

import routing.raptor as raptor
from conftest import shared_file
from feeds.feed import Network
from feeds.gtfs import load_feed
from routing.raptor import INF, RaptorQuery, range_raptor
from routing.timetable import build_model
from test_raptor import _query_time, _world

OFF = 1 << 62


def _both(monkeypatch, model, q, t0, window, backward):
    """(the search without the bound, the search with it from its first run on)."""
    monkeypatch.setattr(raptor, "LATE_BOUND_RUNS", OFF)
    off = range_raptor(model, q, t0, window, backward=backward)
    assert off.counters.late_held == 0
    monkeypatch.setattr(raptor, "LATE_BOUND_RUNS", 0)
    on = range_raptor(model, q, t0, window, backward=backward)
    return off, on


@pytest.mark.parametrize("seeds", [range(0, 30), range(30, 60)])
def test_late_bound_changes_no_journey(monkeypatch, seeds):
    held = 0
    for seed in seeds:
        net, model, ref, rng, w = _world(seed)
        for _ in range(6):
            o, d = rng.sample(range(model.n_stops), 2)
            backward = rng.random() < 0.4
            t0 = _query_time(rng) + (3600 if backward else 0)
            window = rng.choice([1800, 3600, 4 * 3600])
            K = rng.randint(1, 4)
            src, tgt = (d, o) if backward else (o, d)
            q = RaptorQuery(np.array([src]), np.array([rng.choice([0, 0, 120])]), np.array([tgt]), np.array([0]),
                            max_rides=K, wheelchair=w["wheelchair"], walk_speed=w["speed"],
                            pattern_allowed=w["pattern_allowed"], mask=w["mask"], min_transfer_s=w["min_transfer"],
                            inseat=rng.random() < 0.7, report_walks=False)
            off, on = _both(monkeypatch, model, q, t0, window, backward)
            assert on.journeys == off.journeys, (seed, o, d, t0, window, backward)
            assert on.departures == off.departures and on.first_run == off.first_run
            assert list(on.res_t) == list(off.res_t)
            if w["mask"] is not None:
                assert on.counters.late_held == 0
            held += on.counters.late_held
    assert held > 0


@pytest.mark.parametrize("seed", range(40))
def test_range_with_late_bound_matches_brute_force_profile(monkeypatch, seed):
    """As test_raptor.test_range_matches_brute_force_profile, the bound on from the first run."""
    monkeypatch.setattr(raptor, "LATE_BOUND_RUNS", 0)
    net, model, ref, rng, w = _world(seed)
    ids = model.stop_ids
    for _ in range(3):
        o, d = rng.sample(range(model.n_stops), 2)
        t0 = _query_time(rng)
        window = rng.choice([1800, 3600, 2 * 3600])
        K = rng.randint(1, 3)
        kw = dict(min_transfer=w["min_transfer"], speed=w["speed"], wheelchair=w["wheelchair"], modes=w["modes"],
                  closures=w["closures"], report_walks=False)
        q = RaptorQuery(np.array([o]), np.array([0]), np.array([d]), np.array([0]), max_rides=K,
                        wheelchair=w["wheelchair"], walk_speed=w["speed"], pattern_allowed=w["pattern_allowed"],
                        mask=w["mask"], min_transfer_s=w["min_transfer"], inseat=True, report_walks=False)
        got = sorted({(j.start, j.rides, j.arrival) for j in range_raptor(model, q, t0, window).journeys})
        taus = ref.departures([(ids[o], 0)], t0, t0 + window, w["speed"], w["modes"], w["wheelchair"])
        if t0 not in taus:
            taus.append(t0)
        want, best = [], [INF] * (K + 1)
        for tau in sorted(taus, reverse=True):
            arr = ref.earliest([(ids[o], tau)], [(ids[d], 0)], K, **kw)
            for k in range(K + 1):
                if arr[k] < best[k] and (k == 0 or arr[k] < arr[k - 1]):
                    want.append((tau, k, arr[k]))
                best[k] = min(best[k], arr[k])
        assert got == sorted(want), (seed, o, d, t0, window)


def test_late_bound_changes_no_journey_on_toei(monkeypatch):
    """A real feed (Toei rail, in-seat links on), windows of 2 h both ways from many stops at once (a place's
    stops, with access and egress seconds): the same journeys, and the bound holds many labels."""
    m = build_model(Network([load_feed(shared_file("toei-rail-gtfs.zip"), "toei-subway")]), dt.date(2026, 12, 1))
    rng = random.Random(11)
    held = 0
    for i in range(16):
        a = rng.sample(range(m.n_stops), 3)
        b = rng.sample(range(m.n_stops), 2)
        t0 = rng.randint(5 * 3600, 23 * 3600)
        backward = i % 2 == 1
        q = RaptorQuery(np.array(a), np.array([0, 90, 240]), np.array(b), np.array([0, 60]), max_rides=6,
                        inseat=True, report_walks=False)
        off, on = _both(monkeypatch, m, q, t0, 2 * 3600, backward)
        assert on.journeys == off.journeys, (a, b, t0, backward)
        held += on.counters.late_held
    assert held > 100


def test_late_bound_is_only_for_long_searches(monkeypatch):
    """By default a search works the bound out only beyond ``LATE_BOUND_RUNS`` runs (a small one would pay more
    for its backward runs than it saves): a 15 min window on Toei holds nothing, a threshold below its runs does."""
    m = build_model(Network([load_feed(shared_file("toei-rail-gtfs.zip"), "toei-subway")]), dt.date(2026, 12, 1))
    q = RaptorQuery(np.array([0, 1]), np.array([0, 0]), np.array([m.n_stops - 1]), np.array([0]), max_rides=6,
                    inseat=True, report_walks=False)
    base = range_raptor(m, q, 8 * 3600, 900)
    assert 1 < base.counters.runs <= raptor.LATE_BOUND_RUNS and base.counters.late_held == 0
    monkeypatch.setattr(raptor, "LATE_BOUND_RUNS", 1)
    low = range_raptor(m, q, 8 * 3600, 900)
    assert low.journeys == base.journeys
    assert low.counters.late_held > 0
