"""The real Toei rail feed: known answers, random stop pairs against the brute-force reference, the Oedo loop."""
from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from conftest import shared_file
from feeds.feed import Network
from routing.planner import PlanOptions, Planner
from routing.raptor import RaptorQuery, RideLeg, run_raptor
from routing.timetable import BuildSettings, build_model
from routing.walking import StraightLineWalker
from test_raptor import check_feasible, ref_footpaths, ref_instances, reference_arrivals

pytestmark = pytest.mark.shared_data
DATE = dt.date(2026, 12, 1)
JST = dt.timezone(dt.timedelta(hours=9))
NS = "toei-subway"


@pytest.fixture(scope="module")
def toei():
    from feeds.gtfs import load_feed

    net = Network([load_feed(shared_file("toei-rail-gtfs.zip"), NS)])
    settings = BuildSettings()
    model = build_model(net, DATE, settings)
    return net, settings, model


def test_model_counts(toei):
    _, _, m = toei
    # 2,818 weekday trips on the day, the day before (a Monday) and the day after; from the Sunday before only
    # the trains still running after its midnight
    for day in (-1, 0, 1):
        assert int((m.trip_day_offset == day).sum()) == 2818
    assert 0 < int((m.trip_day_offset == -2).sum()) < 200
    assert m.n_stops == 150 and len(m.st_arr) > 60000
    s = m.stop_index(f"{NS}:Toei.Oedo.Tochomae")
    s1 = m.stop_index(f"{NS}:Toei.Oedo.Tochomae.1")
    assert m.stop_station[s] == m.stop_station[s1]


def test_known_answers_from_hikarigaoka(toei):
    """From the data README: Hikarigaoka 08:00 → Tochomae 08:23, Daimon (Oedo) 08:43."""
    _, _, m = toei
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    when = dt.datetime(2026, 12, 1, 8, 0, tzinfo=JST)
    its = planner.plan(f"{NS}:Toei.Oedo.Hikarigaoka", "都庁前", when, options=PlanOptions(num_itineraries=1))
    assert its[0].to_dict()["arrival"] == "2026-12-01T08:23:00+09:00"
    its = planner.plan("光が丘", f"{NS}:Toei.Oedo.Daimon", when, options=PlanOptions(num_itineraries=1))
    d = its[0].to_dict()
    assert d["arrival"] == "2026-12-01T08:43:00+09:00" and d["transfers"] == 0
    assert d["legs"][0]["mode"] == "SUBWAY" and d["legs"][0]["operator"] == NS


def test_random_pairs_match_reference(toei):
    net, settings, m = toei
    inst = ref_instances(net, DATE, {s: i for i, s in enumerate(m.stop_ids)})
    walk, self_override = ref_footpaths(net, m, settings)
    rng = random.Random(7)
    for _ in range(12):
        sources = [(rng.randrange(m.n_stops), rng.randint(5 * 3600, 24 * 3600 + 1800))]
        targets = [(rng.randrange(m.n_stops), 0)]
        K = 4
        ref = reference_arrivals(m.n_stops, inst, walk, self_override, sources, targets, K)
        res = run_raptor(m, RaptorQuery(np.array([sources[0][0]]), np.array([sources[0][1]]),
                                        np.array([targets[0][0]]), np.zeros(1, np.int64), max_rides=K)).pareto()
        for k in range(K + 1):
            got = min([j.arrival for j in res if j.rides <= k], default=float("inf"))
            assert got == ref[k], (sources, targets, k, got, ref)
        for j in res:
            check_feasible(m, j, inst, walk, self_override, 60, 1.2, sources, targets)


def test_oedo_loop_rides_through_tochomae(toei):
    """Nerima side → Shinjuku-nishiguchi: the loop train passes Tochomae and calls at its second platform."""
    _, _, m = toei
    a = m.stop_index(f"{NS}:Toei.Oedo.Hikarigaoka")
    b = m.stop_index(f"{NS}:Toei.Oedo.ShinjukuNishiguchi")
    res = run_raptor(m, RaptorQuery(np.array([a]), np.array([8 * 3600]), np.array([b]), np.zeros(1, np.int64),
                                    max_rides=3)).pareto()
    assert res and isinstance(res[0].legs[0], RideLeg)
    leg = res[0].legs[0]
    stops = m.pattern_stops[m.pattern_stops_start[leg.pattern]:m.pattern_stops_start[leg.pattern + 1]]
    passed = {m.stop_ids[s] for s in stops[leg.board_pos:leg.alight_pos + 1]}
    assert f"{NS}:Toei.Oedo.Tochomae" in passed or f"{NS}:Toei.Oedo.Tochomae.1" in passed
