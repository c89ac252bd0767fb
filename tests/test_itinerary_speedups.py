"""The fast paths of itinerary building against plain reference versions: the shape cut on one distance grid
against the per-stop greedy match, the one-pass Pareto front against the all-pairs definition, and the cuts
made in advance at warm-up against those made on a plan's first use."""
from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

import numpy as np

from routing.geo import haversine_m
from routing.itinerary import _match_shape, _shape_cut, precompute_tables
from routing.planner import _front
from test_planner import at, planner  # noqa: F401  (fixture: a small shaped network)


def _reference_cut(lat, lon, stop_lat, stop_lon) -> list[int]:
    """Each stop matched to the earliest point (after the previous match) within 30 m of the closest."""
    out, prev = [], 0
    for s in range(len(stop_lat)):
        d = [float(haversine_m(stop_lat[s], stop_lon[s], lat[k], lon[k])) for k in range(prev, len(lat))]
        prev += next(k for k, x in enumerate(d) if x <= min(d) + 30.0)
        out.append(prev)
    return out


def test_shape_cut_grid_matches_per_stop_greedy_match():
    rng = random.Random(5)
    for _ in range(200):
        n = rng.randint(2, 40)
        # a wiggly line, sometimes closing on itself (a loop line whose ends share a place)
        lat = np.cumsum([35.6] + [rng.uniform(-2e-4, 6e-4) for _ in range(n - 1)])
        lon = np.cumsum([139.7] + [rng.uniform(-2e-4, 6e-4) for _ in range(n - 1)])
        if rng.random() < 0.3:
            lat[-1], lon[-1] = lat[0], lon[0]
        picks = sorted(rng.sample(range(n), rng.randint(2, min(n, 12))))
        stop_lat = lat[picks] + np.array([rng.uniform(-1e-4, 1e-4) for _ in picks])
        stop_lon = lon[picks] + np.array([rng.uniform(-1e-4, 1e-4) for _ in picks])
        model = SimpleNamespace(shape_start=np.array([0, n]), shape_lat=lat, shape_lon=lon,
                                stop_lat=stop_lat, stop_lon=stop_lon)
        got = _match_shape(model, 0, np.arange(len(picks)))
        assert got == _reference_cut(lat, lon, stop_lat, stop_lon)


def test_pareto_front_matches_all_pairs_definition():
    rng = random.Random(11)
    for _ in range(300):
        keyed = [(rng.randint(0, 6), rng.randint(0, 6), rng.randint(0, 3), object()) for _ in range(rng.randint(0, 25))]
        expect = [k for k in keyed if not any(b[0] >= k[0] and b[1] <= k[1] and b[2] <= k[2] and b[:3] != k[:3]
                                              for b in keyed)]
        front = {id(k) for k in _front(keyed)}
        assert [k for k in keyed if id(k) in front] == expect


def test_cuts_made_at_warm_up_are_those_of_first_use(planner):  # noqa: F811
    m = planner.model
    m._shape_cuts.clear()
    pairs = precompute_tables(m)
    made = dict(m._shape_cuts)
    assert pairs == len(made) > 0
    m._shape_cuts.clear()
    for (sh, p), cut in made.items():
        trip = next(t for t in range(m.n_trips) if int(m.trip_shape[t]) == sh and int(m.trip_pattern[t]) == p)
        base = int(m.pattern_stops_start[p])
        assert _shape_cut(m, trip, p, m.pattern_stops[base:base + m.pattern_len(p)]) == cut


def test_itineraries_from_tables_filled_at_warm_up_are_those_of_first_use():
    """`precompute_tables` (patterns, routes, shape lines, the timetable's ISO times) fills the tables with what a
    plan's first use would put there: the same JSON, on trips whose stop_sequences differ from their pattern's
    first trip (no shared row) as on those that share one, with intermediate stops and stay-seated rides."""
    from routing.itinerary import _tables
    from routing.planner import Planner
    from routing.timetable import build_model
    from routing.walking import StraightLineWalker
    from test_planner import _network

    net = _network()
    sub = net.feeds[0]
    st = sub.stop_times.copy()  # one trip of the line with its own stop_sequence values: no row shared per pattern
    first = st["trip_id"] == sub.trips["trip_id"].iloc[1]
    st.loc[first, "stop_sequence"] = st.loc[first, "stop_sequence"] * 10 + 5
    net = type(net)([dataclasses.replace(sub, stop_times=st), *net.feeds[1:]])
    answers = []
    for warm in (False, True):
        m = build_model(net, at(8).date())
        p = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
        if warm:
            precompute_tables(m)
            assert all(x is not None for x in _tables(m).patterns) and _tables(m).isos
            assert all(x is not None for x in _tables(m).rides)  # (a small model: every trip's `_Ride` too)
        answers.append([[it.to_dict() for it in p.plan(a, b, at(h, mm), arrive_by=arrive)]
                        for a, b in (("甲", "丁"), ("乙", "丁"), ("戊", "甲")) for h, mm in ((7, 55), (8, 12), (8, 31))
                        for arrive in (False, True)])
    assert answers[0] == answers[1]
    seqs = {leg["from"]["sequence"] for plan in answers[1] for it in plan for leg in it["legs"]
            if leg["mode"] != "WALK"}
    assert any(s % 10 == 5 for s in seqs) and any(s % 10 != 5 for s in seqs)  # both kinds of trip were ridden
    assert any(leg.get("intermediate_stops") for plan in answers[1] for it in plan for leg in it["legs"])


def test_rides_made_at_warm_up_only_for_models_of_few_trips(monkeypatch):
    """`precompute_tables` makes every trip's `_Ride` when the model has at most RIDES_AHEAD trips, none
    beyond (all-Tokyo's 148k are made on first use)."""
    import routing.itinerary as itinerary
    from routing.timetable import build_model
    from test_planner import _network

    for limit, made in ((None, True), (0, False)):
        m = build_model(_network(), at(8).date())
        if limit is not None:
            monkeypatch.setattr(itinerary, "RIDES_AHEAD", min(limit, m.n_trips - 1))
        precompute_tables(m)
        rides = itinerary._tables(m).rides
        assert m.n_trips > 0 and all((x is not None) == made for x in rides)


def test_front_with_facts_kept_across_windows_is_the_front_afresh(planner):  # noqa: F811
    """`_Keys.front` with the search's facts from earlier windows (and journeys dropped) gives exactly what a fresh
    `_Keys` gives, however the journeys grow between calls; the facts are those of `_facts`."""
    from routing.planner import PlanOptions, _facts, _Keys
    from routing.raptor import range_raptor

    opts = PlanOptions()
    o, d = planner.resolve("甲", opts), planner.resolve("丁", opts)
    q = planner._query(o, d, opts, None, None, True)
    t = planner.model_seconds(at(7))
    found = []
    for start in range(t, t + 3 * 3600, 900):
        found += range_raptor(planner.model, q, start, 900).journeys
    assert len(found) >= 4
    rng = random.Random(3)
    for sign in (1, -1):
        edge = q.rides_until if sign > 0 else q.rides_since
        keys = _Keys(o, sign, edge)
        js: list = []
        for j in found:
            js.append(j)
            dropped = {id(x) for x in js if rng.random() < 0.2}
            assert keys.front(js, dropped) == _Keys(o, sign, edge).front(js, dropped)
        for j in found:
            first, arrival, transfers, tie = _facts(j)
            assert keys.departure(j) == first - o.seconds_to(j.source_stop) and keys.arrival(j) == arrival
            assert tuple(x[0] for x in tie if x[0] >= 0) == j.trip_key and transfers == j.transfers



def test_surely_too_far_only_when_the_walkers_walk_is_longer(planner):  # noqa: F811
    """`_surely_too_far` (scalar math, 0.1 % margin) says "too far" only of places the walker's own path finds
    longer than the limit: random places around the network, limits near their distance included."""
    from routing.places import Place
    from routing.planner import _surely_too_far

    rng = random.Random(17)
    walker = planner.walker
    said = 0
    for _ in range(2000):
        a = Place("a", 35.68 + rng.uniform(-0.02, 0.02), 139.70 + rng.uniform(-0.02, 0.04), np.empty(0, np.int32),
                  np.empty(0, np.int64), np.empty(0), True)
        b = Place("b", a.lat + rng.uniform(-0.01, 0.01), a.lon + rng.uniform(-0.01, 0.01), a.stops, a.seconds,
                  a.metres, True)
        dist = walker.path(a.lat, a.lon, b.lat, b.lon).distance_m
        for limit in (dist * rng.uniform(0.9, 1.1), dist * 0.9995, dist * 0.998, 800.0):
            if _surely_too_far(walker, a, b, limit):
                said += 1
                assert dist > limit
    assert said > 1000  # (it does answer "too far" for most)
    assert not _surely_too_far(object(), a, b, 0.0)  # another walker: never decided here


def test_walks_to_a_coordinates_stops_shared_by_a_plans_itineraries_are_the_walkers(planner):  # noqa: F811
    """A plan between coordinates builds each access and egress walk once (``paths``, shared by its
    itineraries): its itineraries are those built one by one, each walk asking the walker."""
    from routing.itinerary import build_itinerary
    from routing.planner import PlanOptions

    opts = PlanOptions()
    o, d = planner.resolve("35.6801,139.7001", opts), planner.resolve("35.6803,139.7302", opts)
    journeys = planner.depart_at(o, d, planner.model_seconds(at(7, 50)), opts, None, None)
    assert len(journeys) >= 2
    paths: dict = {}
    shared = [build_itinerary(planner.model, planner.walker, j, o, d, paths).to_dict() for j in journeys]
    alone = [build_itinerary(planner.model, planner.walker, j, o, d).to_dict() for j in journeys]
    assert shared == alone and paths
    assert all(it["legs"][0]["mode"] == "WALK" and it["legs"][-1]["mode"] == "WALK" for it in shared)
