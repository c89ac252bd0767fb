"""The latest-boarding cut of range RAPTOR (`raptor.state.Cutter`): it leaves patterns unqueued, and must change
no journey. Each search runs with the cut off and with it from the second (or third) run on, which exercises it
far more than the default threshold would on these small networks; the journeys, legs included, must be equal."""
from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from conftest import shared_file
from feeds.feed import Network
from feeds.gtfs import load_feed
from routing.raptor import RaptorQuery, pools, range_raptor, search
from routing.timetable import build_model
from test_raptor import _query_time, _world


def _both(monkeypatch, model, q, t0, window, backward, after):
    """(journeys without the cut, journeys with it from run ``after``, patterns it cut)."""
    monkeypatch.setattr(search, "CUT_AFTER_RUNS", 0)
    off = range_raptor(model, q, t0, window, backward=backward)
    assert off.counters.routes_cut == 0
    monkeypatch.setattr(search, "CUT_AFTER_RUNS", after)
    on = range_raptor(model, q, t0, window, backward=backward)
    return off, on


@pytest.mark.parametrize("seeds", [range(0, 30), range(30, 60)])
def test_latest_boarding_cut_changes_no_journey(monkeypatch, seeds):
    """Random networks (in-seat links, loops, frequencies, wheelchair, modes, closures), forward and backward
    windows: the same journeys with the cut as without; and it does cut."""
    cut = sum(_random_cuts(monkeypatch, seed) for seed in seeds)
    assert cut > 0  # (some networks dense enough to cut: the comparisons compared something)


def random_windows(seed, n: int = 6):
    """``n`` random range searches on random network ``seed`` (`test_raptor._world`): (model, its world, the rng,
    query, t0, window, backward), forward and backward, in-seat links mostly on (the rng is the caller's too)."""
    net, model, ref, rng, w = _world(seed)
    for _ in range(n):
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
        yield model, w, rng, q, t0, window, backward


def _random_cuts(monkeypatch, seed) -> int:
    cut = 0
    for model, w, rng, q, t0, window, backward in random_windows(seed):
        off, on = _both(monkeypatch, model, q, t0, window, backward, rng.choice([1, 1, 2]))
        assert on.journeys == off.journeys, (seed, q.src_stops, q.tgt_stops, t0, window, backward)
        assert on.departures == off.departures and on.first_run == off.first_run
        assert on.counters.routes_scanned <= off.counters.routes_scanned
        cut += on.counters.routes_cut
    return cut


def toei_windows(seed: int, n: int = 16):
    """``n`` range searches on Toei rail (in-seat links on) from three stops with access seconds to two with egress
    seconds, every other one backward: (model, query, t0, backward); windows of 2 h are the caller's."""
    m = build_model(Network([load_feed(shared_file("toei-rail-gtfs.zip"), "toei-subway")]), dt.date(2026, 12, 1))
    rng = random.Random(seed)
    for i in range(n):
        a = rng.sample(range(m.n_stops), 3)
        b = rng.sample(range(m.n_stops), 2)
        t0 = rng.randint(5 * 3600, 23 * 3600)
        q = RaptorQuery(np.array(a), np.array([0, 90, 240]), np.array(b), np.array([0, 60]), max_rides=6,
                        inseat=True, report_walks=False)
        yield m, q, t0, i % 2 == 1


def test_latest_boarding_cut_changes_no_journey_on_toei(monkeypatch):
    """A real feed (Toei rail, in-seat links on), windows of 2 h both ways from many stops at once (a place's
    stops): the same journeys, and the cut leaves many patterns unqueued."""
    cut = 0
    for m, q, t0, backward in toei_windows(5):
        off, on = _both(monkeypatch, m, q, t0, 2 * 3600, backward, 2)
        assert on.journeys == off.journeys, (q.src_stops, q.tgt_stops, t0, backward)
        cut += on.counters.routes_cut
    assert cut > 100


def test_plans_identical_with_the_cut(monkeypatch):
    """Full plans on Toei rail (depart-at and arrive-by, default options: the cut from run 16 of a window on):
    the same itineraries as with no cut, for two window schedules (`Planner.windows`)."""
    from routing.planner import PlanOptions, Planner, Windows
    from routing.walking import StraightLineWalker

    m = build_model(Network([load_feed(shared_file("toei-rail-gtfs.zip"), "toei-subway")]), dt.date(2026, 12, 1))
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    rng = random.Random(11)
    stations = list(m.station_ids)
    queries = []
    for _ in range(40):
        a, b = rng.sample(stations, 2)
        queries.append((a, b, m.datetime_of(rng.randint(5 * 3600, 24 * 3600)), rng.random() < 0.4))

    def plans():
        return [[it.to_dict() for it in planner.plan(a, b, w, arrive_by=ab, options=PlanOptions())]
                for a, b, w, ab in queries]

    new = plans()
    planner.windows = Windows(900)
    assert plans() == new
    monkeypatch.setattr(search, "CUT_AFTER_RUNS", 0)
    assert plans() == new
    assert sum(map(len, new)) > 60


def test_latest_boarding_cut_keeps_ties_on_all_tokyo(monkeypatch):
    """All-Tokyo (in-seat links on, 9 rides): the same journeys, legs included, where two routes reach a stop at
    the same second. From Hana-Koganei at 23:39 two Yamanote trains reach Ueno at 05:10 the next morning, one
    boarded at Akihabara, one at Yoyogi: whichever pattern is scanned first writes the label. A cut that let a
    pattern it skipped at one stop join the queue later, from another, picked the other train (the patterns
    cut keep their place in the queue, `_collect_routes`). And random station pairs both ways."""
    m = build_model(Network([load_feed(shared_file("tokyo-rail-gtfs.zip"), "tokyo-rail")]), dt.date(2026, 12, 1))
    ids = {s: i for i, s in enumerate(m.stop_ids)}
    q = RaptorQuery(np.array([ids["tokyo-rail:Seibu.Shinjuku.HanaKoganei"]]), np.array([0]),
                    np.array([ids["tokyo-rail:KantoRailway.Ryugasaki.Ireji"]]), np.array([0]), max_rides=9,
                    inseat=True, report_walks=False)
    off, on = _both(monkeypatch, m, q, 85188, 3600, False, 2)
    assert on.journeys == off.journeys and on.counters.routes_cut > 0
    akihabara = m.trip_index("tokyo-rail:JR-East.Yamanote.402G.Weekday", 1)  # (the next morning's)
    assert any(any(getattr(leg, "trip", -1) == akihabara for leg in j.legs) for j in on.journeys)
    rng = random.Random(3)
    for i in range(24):
        a, b = rng.sample(range(m.n_stops), 2)
        q = RaptorQuery(np.array([a]), np.array([0]), np.array([b]), np.array([0]), max_rides=9, inseat=True,
                        report_walks=False)
        off, on = _both(monkeypatch, m, q, rng.randint(5 * 3600, 24 * 3600), 3600, i % 3 == 0, 2)
        assert on.journeys == off.journeys, (a, b)


def test_cut_boards_are_pooled_least_recently_used_first(monkeypatch):
    """The cut's board arrays per (stops, rounds) share the labels' LRU pool (`_lru_put`): the board a thread
    keeps using stays however many other sizes come and go (the pool was once cleared whole when full, and the
    next search allocated again); and an ``id()`` key whose object is gone is no hit for a new one."""
    monkeypatch.setattr(search, "CUT_AFTER_RUNS", 4)
    monkeypatch.setattr(pools._POOL, "cut", {}, raising=False)
    first = search._cutter(10, 3)
    assert first.after == 4 and first.board.shape == (3, 10) and (first.board == search.INF).all()
    for n in range(11, 30):
        assert search._cutter(n, 3).board.shape == (3, n)
        assert search._cutter(10, 3).board is first.board
    assert len(pools._POOL.cut) == 8 and (11, 3) not in pools._POOL.cut and (29, 3) in pools._POOL.cut
    pool: dict = {}
    old, new = object(), object()
    pools._lru_put(pool, 7, "seven", old)
    assert pools._lru_get(pool, 7, old) == "seven"
    assert pools._lru_get(pool, 7, new) is None and pools._lru_get(pool, 7, old) is None  # (a miss drops it)
