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
from raptor_reference import Reference, plan_horizon
from test_raptor import check_feasible

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


@pytest.fixture(scope="module")
def reference(toei):
    net, _, _ = toei
    return Reference(net, DATE)


def test_random_pairs_match_reference(toei, reference):
    """Daytime, late-night and early-morning queries against the independent brute force."""
    net, settings, m = toei
    rng = random.Random(7)
    for when in (rng.randint(5 * 3600, 22 * 3600), 23 * 3600 + 50 * 60, 24 * 3600 + 1800, 4 * 3600 + 1800,
                 rng.randint(5 * 3600, 22 * 3600), 23 * 3600 + 30 * 60):
        sources = [(rng.randrange(m.n_stops), when)]
        targets = [(rng.randrange(m.n_stops), 0)]
        K = 4
        want = reference.earliest([(m.stop_ids[s], t) for s, t in sources], [(m.stop_ids[s], e) for s, e in targets],
                                  K)
        res = run_raptor(m, RaptorQuery(np.array([sources[0][0]]), np.array([sources[0][1]]),
                                        np.array([targets[0][0]]), np.zeros(1, np.int64), max_rides=K))
        got = [float(x) if x < (1 << 40) else float("inf") for x in res.res_t]
        assert got == want, (sources, targets, got, want)
        for j in res.pareto():
            check_feasible(m, reference, j, sources, targets, 60, 1.2)


def test_late_night_finds_the_first_morning_train(toei):
    """23:58 from Nishi-magome: the last trains have gone; the answer is the first morning's (05:00), not none."""
    _, _, m = toei
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    its = planner.plan("西馬込", "光が丘", dt.datetime(2026, 12, 1, 23, 58, tzinfo=JST))
    assert its
    firsts = [it.to_dict()["legs"][0] for it in its]
    assert any(leg["departure"].startswith("2026-12-02T05:") and leg["service_date"] == "2026-12-02"
               for leg in firsts)
    for it in its:
        assert it.departure_s >= 23 * 3600 + 58 * 60


def test_arrive_by_after_midnight(toei):
    """Arrive by 00:10 on the next day: the day's late trains (service date the day before) qualify."""
    _, _, m = toei
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    its = planner.plan("西馬込", "光が丘", dt.datetime(2026, 12, 2, 0, 10, tzinfo=JST), arrive_by=True)
    assert its
    limit = m.seconds_of(dt.datetime(2026, 12, 2, 0, 10, tzinfo=JST))
    assert all(it.arrival_s <= limit for it in its)
    assert max(it.arrival_s for it in its) > limit - 3 * 3600  # the evening's trains, not the morning's
    # on Toei rail, arrive-by after midnight always has an answer when the stops are served
    rng = random.Random(3)
    for _ in range(10):
        a, b = rng.sample(range(m.n_stops), 2)
        when = dt.datetime(2026, 12, 2, 0, rng.randint(0, 59), tzinfo=JST)
        assert planner.plan(m.stop_ids[a], m.stop_ids[b], when, arrive_by=True,
                            options=PlanOptions(max_walk_m=0)), (m.stop_ids[a], m.stop_ids[b], when)


def test_itineraries_could_not_leave_later(toei, reference):
    """No returned itinerary could leave a second later and arrive as early with as many rides."""
    _, _, m = toei
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    rng = random.Random(11)
    for _ in range(4):
        a, b = rng.sample(range(m.n_stops), 2)
        t = rng.choice([rng.randint(6 * 3600, 21 * 3600), 23 * 3600 + 40 * 60])
        for it in planner.plan(m.stop_ids[a], m.stop_ids[b], m.datetime_of(t), options=PlanOptions(max_walk_m=0)):
            rides = sum(1 for leg in it.legs if leg.mode != "WALK" and not leg.stay_seated)
            later = reference.earliest([(m.stop_ids[a], it.departure_s + 1)], [(m.stop_ids[b], 0)], rides,
                                       report_walks=False, horizon=plan_horizon(t), whole=True)
            assert later[rides] > it.arrival_s, (m.stop_ids[a], m.stop_ids[b], t, it.departure_s)


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
