"""RAPTOR against an independent brute-force reference on random networks, plus closures, filters and loops.

The reference (`tests/raptor_reference.py`) reads the raw Feed tables and shares no code with the model builder or
the kernel; it models every rule at once: runs of the day before, the day and the day after (midnight both sides),
in-seat links with mode filters, wheelchair, closures, and the transfer rule (a change takes at least
min_transfer_s, walking or not; a walk is never faster than the requested speed, nor than the feed's time).
"""
from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pandas as pd
import pytest

from feeds.feed import Network
from raptor_reference import Closures, Reference
from routing.masks import ClosureMask
from routing.raptor import RaptorQuery, RideLeg, WalkLeg, range_raptor, run_raptor
from routing.raptor.rounds import _first_departing
from routing.timetable import DAY, BuildSettings, build_model
from test_timetable import DATE, grid_stops, line_rows, make_feed

INF = math.inf


# ---- random networks --------------------------------------------------------------------------------------
def random_feed(seed: int):
    rng = random.Random(seed)
    n = rng.randint(6, 14)
    stops = [{"id": f"S{i}", "lat": 35.68 + rng.random() * 0.012, "lon": 139.76 + rng.random() * 0.012,
              "wheelchair": rng.choice([0, 1, 1, 2])} for i in range(n)]
    routes, trips, rows, freqs = [], [], [], []
    for r in range(rng.randint(2, 6)):
        rid = f"R{r}"
        routes.append({"id": rid, "type": rng.choice([1, 1, 3, 0])})
        seq = rng.sample([s["id"] for s in stops], rng.randint(2, min(6, n)))
        if rng.random() < 0.25:
            seq = seq + [seq[0]]  # a loop calling at its first stop again (the Oedo "6")
        for j in range(rng.randint(1, 6)):
            tid = f"{rid}T{j}"
            svc = rng.choice(["S", "S", "S", "MON", "TUE", "WED", "SUN"])
            trips.append({"id": tid, "route": rid, "service": svc, "wheelchair": rng.choice([0, 1, 1])})
            start = rng.choice([rng.randint(7 * 3600, 9 * 3600), rng.randint(23 * 3600, 25 * 3600),
                                rng.randint(4 * 3600, 6 * 3600)])
            t = start
            for k, s in enumerate(seq):
                dwell = rng.choice([0, 0, 30, 60]) if 0 < k < len(seq) - 1 else 0
                rows.append({"trip": tid, "seq": k + 1, "stop": s, "arr": t, "dep": t + dwell,
                             "pickup": int(rng.random() < 0.1), "dropoff": int(rng.random() < 0.1)})
                t += dwell + rng.choice([0, 60, 120, 180, 300, 600])
            if j == 0 and rng.random() < 0.3:
                freqs.append({"trip": tid, "start": start, "end": start + rng.randint(600, 3600),
                              "headway": rng.choice([300, 420, 600])})
    transfers = []
    ids = [s["id"] for s in stops]
    pairs = [tuple(rng.sample(ids, 2)) for _ in range(rng.randint(0, 5))]
    pairs = list(dict.fromkeys(pairs))  # GTFS gives no meaning to a repeated pair
    for a, b in pairs[1:]:
        transfers.append({"from": a, "to": b, "time": rng.choice([30, 120, 400])})
    if pairs and rng.random() < 0.5:
        transfers.append({"from": pairs[0][0], "to": pairs[0][1], "type": 3})
    if rng.random() < 0.5:
        s = rng.choice(ids)
        transfers.append({"from": s, "to": s, "time": rng.choice([0, 180])})
    feed = make_feed("r", stops, routes, trips, rows, transfers=transfers, frequencies=freqs,
                     services={"S": list(range(7)), "MON": [0], "TUE": [1], "WED": [2], "SUN": [6]})
    return feed, rng


def with_links(feed, rows: list[dict]):
    ns = feed.namespace
    extra = pd.DataFrame([{"from_stop_id": "", "to_stop_id": "", "transfer_type": r.get("type", 4),
                           "min_transfer_time": np.nan, "from_route_id": "", "to_route_id": "",
                           "from_trip_id": f"{ns}:{r['from_trip']}", "to_trip_id": f"{ns}:{r['to_trip']}"}
                          for r in rows])
    base = feed.transfers.assign(from_route_id="", to_route_id="", from_trip_id="", to_trip_id="")
    return dataclasses.replace(feed, transfers=pd.concat([base, extra], ignore_index=True))


def random_world(seed: int):
    """A random feed with in-seat links, and random closures (reference form and model mask)."""
    feed, rng = random_feed(seed)
    trips = feed.trips["trip_id"].str.split(":", n=1).str[1].tolist()
    st = feed.stop_times
    first = st.groupby("trip_id")["departure"].min()
    last = st.groupby("trip_id")["arrival"].max()
    links = []
    for a in trips:
        for b in trips:
            if a != b and rng.random() < 0.08 and first[f"r:{b}"] >= last[f"r:{a}"]:
                links.append({"from_trip": a, "to_trip": b})
    return with_links(feed, links), rng


def random_closures(model, rng) -> tuple[Closures, ClosureMask | None]:
    if rng.random() < 0.4:
        return Closures(), None
    cl = Closures()
    for _ in range(rng.randint(1, 3)):
        s = rng.randrange(model.n_stops)
        a = rng.choice([0, 7 * 3600, 8 * 3600, 23 * 3600, -3600])
        # (5 days: longer than any horizon, as a closure with no end is to a model: a walk to it waits forever)
        cl.stops[model.stop_ids[s]] = (a, a + rng.choice([600, 1800, 3 * 3600, 5 * DAY]))
    for _ in range(rng.randint(0, 3)):
        p = rng.randrange(model.n_patterns)
        L = model.pattern_len(p)
        pos = rng.randrange(L - 1)
        base = model.pattern_stops_start[p]
        key = (model.route_ids[model.pattern_route[p]], model.stop_ids[model.pattern_stops[base + pos]],
               model.stop_ids[model.pattern_stops[base + pos + 1]])
        a = rng.choice([0, 7 * 3600, 8 * 3600, 23 * 3600])
        cl.hops[key] = (a, a + rng.choice([600, 3600, 4 * 3600]))
    return cl, closure_mask(model, cl)


def closure_mask(model, cl: Closures) -> ClosureMask:
    """The model's mask of the reference's closures (stops and hops by id)."""
    sf, su = np.zeros(model.n_stops, np.int32), np.zeros(model.n_stops, np.int32)
    for sid, (a, b) in cl.stops.items():
        i = model.stop_index(sid)
        sf[i], su[i] = a, b
    hf, hu = np.zeros(model.n_hops, np.int32), np.zeros(model.n_hops, np.int32)
    for p in range(model.n_patterns):
        base = model.pattern_stops_start[p]
        route = model.route_ids[model.pattern_route[p]]
        for pos in range(model.pattern_len(p) - 1):
            w = cl.hops.get((route, model.stop_ids[model.pattern_stops[base + pos]],
                             model.stop_ids[model.pattern_stops[base + pos + 1]]))
            if w:
                hf[base + pos], hu[base + pos] = w
    return ClosureMask(sf, su, hf, hu)


def check_feasible(model, ref: Reference, journey, sources, targets, min_transfer, speed):
    """Every ride is a run of the raw data with those times; every walk and change respects the rules."""
    src = {}
    for s, t0 in sources:
        src[s] = min(t0, src.get(s, t0))
    assert journey.source_stop in src
    t = src[journey.source_stop]
    prev = ride_before = None
    for n, leg in enumerate(journey.legs):
        if isinstance(leg, RideLeg):
            run = ref.runs[f"{model.trip_ids[leg.trip]}#{int(model.trip_day_offset[leg.trip])}"]
            b, a = run.rows[leg.board_pos], run.rows[leg.alight_pos]
            nxt = journey.legs[n + 1] if n + 1 < len(journey.legs) else None
            seated_on = isinstance(nxt, RideLeg) and nxt.stay_seated  # not getting off here
            assert b[0] == model.stop_ids[leg.from_stop] and a[0] == model.stop_ids[leg.to_stop]
            assert a[4] or seated_on
            assert b[2] == leg.departure and a[1] == leg.arrival and leg.alight_pos > leg.board_pos
            if leg.stay_seated:
                assert isinstance(prev, RideLeg) and leg.departure >= prev.arrival
            elif isinstance(prev, RideLeg):
                assert b[3] and prev.to_stop == leg.from_stop
                assert leg.departure >= prev.arrival + max(min_transfer, ref.same_stop.get(b[0], 0))
            elif isinstance(prev, WalkLeg) and ride_before:
                assert leg.departure >= ride_before.arrival + max(min_transfer, prev.arrival - prev.departure)
            else:
                assert b[3] and leg.departure >= t
            ride_before = leg
            t = leg.arrival
        else:
            assert leg.departure >= t
            v = ref.fp[(model.stop_ids[leg.from_stop], model.stop_ids[leg.to_stop])]
            assert leg.arrival - leg.departure >= ref.walk_s(v, speed)
            t = leg.arrival
        prev = leg
    eg = {}
    for s, e in targets:
        eg[s] = min(e, eg.get(s, e))
    assert journey.target_stop in eg and journey.arrival == t + eg[journey.target_stop]


def _query(model, sources, targets, max_rides, **kw):
    return run_raptor(model, RaptorQuery(np.array([s for s, _ in sources], np.int32),
                                         np.array([t for _, t in sources], np.int64),
                                         np.array([s for s, _ in targets], np.int32),
                                         np.array([e for _, e in targets], np.int64), max_rides=max_rides, **kw))


def _world(seed):
    feed, rng = random_world(seed)
    net = Network([feed])
    model = build_model(net, DATE, BuildSettings())
    ref = Reference(net, DATE)
    wheelchair = seed % 5 == 0
    modes = {1, 3} if seed % 4 == 0 else None
    pattern_allowed = None
    if modes:
        pattern_allowed = np.array([int(model.route_type[r]) in modes for r in model.pattern_route])
    cl, mask = random_closures(model, rng)
    return net, model, ref, rng, dict(wheelchair=wheelchair, modes=modes, pattern_allowed=pattern_allowed,
                                      closures=cl, mask=mask, min_transfer=rng.choice([0, 60, 300]),
                                      speed=rng.choice([0.8, 1.2, 1.5]))


def _query_time(rng):
    return rng.choice([rng.randint(6 * 3600, 10 * 3600), rng.randint(0, 3600), rng.randint(22 * 3600, DAY),
                       rng.randint(-3600, 0)])


@pytest.mark.parametrize("seed", range(60))
def test_random_networks_match_reference(seed):
    net, model, ref, rng, w = _world(seed)
    ids = model.stop_ids
    for _ in range(5):
        sources = [(rng.randrange(model.n_stops), _query_time(rng))]
        if rng.random() < 0.3:
            sources.append((rng.randrange(model.n_stops), sources[0][1] + rng.randint(0, 600)))
        targets = [(rng.randrange(model.n_stops), rng.choice([0, 0, 90]))]
        if rng.random() < 0.3:
            targets.append((rng.randrange(model.n_stops), 0))
        K = rng.randint(1, 4)
        want = ref.earliest([(ids[s], t) for s, t in sources], [(ids[s], e) for s, e in targets], K,
                            min_transfer=w["min_transfer"], speed=w["speed"], wheelchair=w["wheelchair"],
                            modes=w["modes"], closures=w["closures"])
        res = _query(model, sources, targets, K, wheelchair=w["wheelchair"], walk_speed=w["speed"],
                     pattern_allowed=w["pattern_allowed"], mask=w["mask"], min_transfer_s=w["min_transfer"],
                     inseat=True)
        got = [float(x) if x < (1 << 40) else INF for x in res.res_t]
        assert got == want, (seed, sources, targets, got, want)
        pareto = res.pareto()
        for a, b in zip(pareto, pareto[1:]):
            assert a.rides < b.rides and a.arrival > b.arrival
        for j in pareto:
            check_feasible(model, ref, j, sources, targets, w["min_transfer"], w["speed"])
            if w["wheelchair"]:
                for leg, after in zip(j.legs, [*j.legs[1:], None]):
                    if isinstance(leg, RideLeg):
                        assert model.trip_wheelchair[leg.trip] == 1
                        if not (isinstance(after, RideLeg) and after.stay_seated):  # (alights here)
                            assert model.stop_wheelchair[leg.to_stop] == 1
            if w["modes"]:
                for leg in j.legs:
                    if isinstance(leg, RideLeg):
                        assert int(model.route_type[model.pattern_route[leg.pattern]]) in w["modes"]


def test_each_source_walks_on_from_its_own_time():
    """Random network 74: sources S1 at 09:32:22 and S2 at 09:39:43, and S1's walk reaches S2 five seconds before
    S2's own time. S2 still walks on to S4 (arriving 09:40:56, a walk-only answer, and from there the rides
    after): the walk from S1 does not take S2's place as a source, and the walk leaves S2 at S2's time."""
    net, model, ref, _, w = _world(74)
    sources, targets = [("r:S1", 34342), ("r:S2", 34783)], [("r:S4", 0)]
    want = ref.earliest(sources, targets, 2, min_transfer=300, speed=1.5)
    res = _query(model, [(model.stop_index(s), t) for s, t in sources],
                 [(model.stop_index(s), e) for s, e in targets], 2, walk_speed=1.5, min_transfer_s=300, inseat=True)
    assert [float(x) if x < (1 << 40) else INF for x in res.res_t] == want == [34856] * 3
    (j,) = res.pareto()
    (leg,) = j.legs
    assert isinstance(leg, WalkLeg)
    assert (model.stop_ids[leg.from_stop], leg.departure, leg.arrival) == ("r:S2", 34783, 34856)


def test_a_later_trip_boarded_past_a_closed_hop_runs_through_in_seat():
    """Random network 17: R1's runs go S13 → S4 → S10 → S6, the 07:14 one on in its seat as R3's next 00:41 run
    (S6 → S1 → S9), while the hop S4 → S10 is closed 07:00-08:00. From S13 and S4 (walking on to S10) the scan
    rides the 04:30 run from S13; the later run that goes on in-seat cannot be ridden from there (the closed hop),
    but it can be boarded at S10: so one ride reaches S9 (and S8 by a walk) at 00:58 the next night, as the
    reference finds, not a day later."""
    net, model, ref, _, w = _world(17)
    cl = Closures(hops={("r:R1", "r:S4", "r:S10"): (25200, 28800)})
    sources, targets = [("r:S13", -214), ("r:S4", -12)], [("r:S8", 90)]
    want = ref.earliest(sources, targets, 2, min_transfer=0, speed=1.5, closures=cl)
    res = _query(model, [(model.stop_index(s), t) for s, t in sources],
                 [(model.stop_index(s), e) for s, e in targets], 2, walk_speed=1.5, mask=closure_mask(model, cl),
                 min_transfer_s=0, inseat=True)
    assert [float(x) if x < (1 << 40) else INF for x in res.res_t] == want
    assert want[1] == 86400 + 3527  # (one ride: in-seat onto the next night's run)


@pytest.mark.parametrize("seed", range(40))
def test_range_matches_brute_force_profile(seed):
    """Depart-at over a window: the journeys are exactly the reference's profile, Pareto over (departure,
    arrival, rides), each reported at the latest departure that achieves it."""
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
        taus = ref.departures([(ids[o], 0)], t0, t0 + window, w["speed"], w["modes"], w["wheelchair"], w["closures"])
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


@pytest.mark.parametrize("inseat", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_backward_search_finds_the_latest_departure(seed, inseat):
    """Arrive-by: for each number of rides, the latest departure (reference: over every candidate departure)
    that arrives by the limit; no fixed window. With in-seat links followed backwards too."""
    net, model, ref, rng, w = _world(seed)
    ids = model.stop_ids
    for _ in range(3):
        o, d = rng.sample(range(model.n_stops), 2)
        limit = _query_time(rng) + rng.choice([0, 3600])
        K = rng.randint(1, 3)
        kw = dict(min_transfer=w["min_transfer"], speed=w["speed"], wheelchair=w["wheelchair"], modes=w["modes"],
                  closures=w["closures"], report_walks=False, inseat=inseat, horizon=(-DAY, INF))
        q = RaptorQuery(np.array([d]), np.array([0]), np.array([o]), np.array([0]), max_rides=K,
                        wheelchair=w["wheelchair"], walk_speed=w["speed"], pattern_allowed=w["pattern_allowed"],
                        mask=w["mask"], min_transfer_s=w["min_transfer"], report_walks=False, inseat=inseat,
                        rides_since=-DAY)  # (the reference's runs start there: no ride before it, both)
        res = range_raptor(model, q, limit, 0, backward=True)
        got = {}
        for j in res.journeys:
            assert j.arrival <= limit and j.source_stop == o and j.target_stop == d
            dep = j.first_departure
            got[j.rides] = max(got.get(j.rides, -INF), dep)
            check_feasible(model, ref, j, [(o, dep)], [(d, 0)], w["min_transfer"], w["speed"])
        taus = ref.departures([(ids[o], 0)], -DAY - 3600, limit, w["speed"], w["modes"], w["wheelchair"],
                              w["closures"])  # (a walk may leave before -DAY for a ride after it)
        want = {}
        for k in range(1, K + 1):
            for tau in taus:  # latest first
                if ref.earliest([(ids[o], tau)], [(ids[d], 0)], k, **kw)[k] <= limit:
                    want[k] = tau
                    break
        best_got = {k: max([got[r] for r in got if r <= k], default=None) for k in range(1, K + 1)}
        assert {k: v for k, v in best_got.items() if v is not None} == want, (seed, o, d, limit)


# ---- targeted cases ---------------------------------------------------------------------------------------
def _line_model():
    """Two trips along S0..S4, a parallel bus S0→S4 that is slower, and a stop pair within walking range."""
    return build_model(_line_network(), DATE)


def _line_network():
    stops = grid_stops(5, step=0.005) + [{"id": "W", "lat": 35.68 + 0.0005, "lon": 139.76 + 0.015}]
    rows = (line_rows("t1", ["S0", "S1", "S2", "S3", "S4"], 8 * 3600)
            + line_rows("t2", ["S0", "S1", "S2", "S3", "S4"], 8 * 3600 + 900)
            + line_rows("bus", ["S0", "S4"], 8 * 3600 + 60, hop=3000))
    feed = make_feed("l", stops, [{"id": "R", "type": 1}, {"id": "B", "type": 3}],
                     [{"id": "t1", "route": "R"}, {"id": "t2", "route": "R"}, {"id": "bus", "route": "B"}], rows)
    return Network([feed])


def _mask(model, stops=(), hops=()):
    m = ClosureMask.open(model.n_stops, model.n_hops)
    sf, su, hf, hu = m.stop_from.copy(), m.stop_until.copy(), m.hop_from.copy(), m.hop_until.copy()
    for s, a, b in stops:
        sf[s], su[s] = a, b
    for h, a, b in hops:
        hf[h], hu[h] = a, b
    return ClosureMask(sf, su, hf, hu)


def _hop(model, trip_id, pos):
    t = model.trip_ids.index(trip_id)
    p = model.trip_pattern[t]
    return int(model.pattern_stops_start[p] + pos)


def test_closure_of_a_stop_blocks_riding_through_it():
    m = _line_model()
    s0, s2, s4 = m.stop_index("l:S0"), m.stop_index("l:S2"), m.stop_index("l:S4")
    open_ = _query(m, [(s0, 8 * 3600)], [(s4, 0)], 2).pareto()
    assert open_[0].arrival == 8 * 3600 + 4 * 120 + 3 * 30  # t1
    blocked = _query(m, [(s0, 8 * 3600)], [(s4, 0)], 2, mask=_mask(m, stops=[(s2, 0, 2 * DAY)])).pareto()
    assert [j.arrival for j in blocked] == [8 * 3600 + 60 + 3000]  # only the bus avoids S2
    assert all(m.trip_ids[leg.trip] == "l:bus" for j in blocked for leg in j.legs)
    # a window that ends before t2 passes lets t2 through
    later = _query(m, [(s0, 8 * 3600)], [(s4, 0)], 2, mask=_mask(m, stops=[(s2, 8 * 3600, 8 * 3600 + 900)])).pareto()
    assert later[0].arrival == 8 * 3600 + 900 + 4 * 120 + 3 * 30
    # nothing leaves a closed stop: from S2 closed all day, the next day's first train
    waited = _query(m, [(s2, 8 * 3600)], [(s4, 0)], 2, mask=_mask(m, stops=[(s2, 0, DAY)])).pareto()
    assert [j.arrival for j in waited] == [DAY + 8 * 3600 + 4 * 120 + 3 * 30]
    # nothing reaches a closed stop either
    assert not _query(m, [(s0, 8 * 3600)], [(s2, 0)], 2, mask=_mask(m, stops=[(s2, 0, 3 * DAY)])).pareto()
    # closed for the rest of the day: the next day's first train (the search looks past midnight)
    nxt = _query(m, [(s0, 8 * 3600)], [(s2, 0)], 2, mask=_mask(m, stops=[(s2, 0, DAY)])).pareto()
    assert [j.arrival for j in nxt] == [DAY + 8 * 3600 + 2 * 120 + 30]


def test_closure_of_a_hop_during_its_window():
    m = _line_model()
    s0, s4 = m.stop_index("l:S0"), m.stop_index("l:S4")
    h = _hop(m, "l:t1", 1)  # S1 → S2 for the R pattern (t1 and t2 share it)
    res = _query(m, [(s0, 8 * 3600)], [(s4, 0)], 2, mask=_mask(m, hops=[(h, 8 * 3600, 8 * 3600 + 600)])).pareto()
    assert res[0].arrival == 8 * 3600 + 900 + 4 * 120 + 3 * 30  # t1 is stopped, t2 runs after the window
    res = _query(m, [(s0, 8 * 3600)], [(m.stop_index("l:S1"), 0)], 2,
                 mask=_mask(m, hops=[(h, 8 * 3600, DAY)])).pareto()
    assert res[0].arrival == 8 * 3600 + 120  # riding up to the closed hop is fine


def test_a_later_trip_closed_where_the_scan_boarded_is_caught_further_on():
    """t1 is boarded at S0 (reached at 08:00), S1 is reached at 08:10 by another way (a second source here; a
    walk or an earlier ride alike); S0 is closed 08:10-08:20, so t2 (S0 08:15, S1 08:17:30) cannot be boarded
    there, but it can at S1. When t1 cannot go on (the hop S2 → S3 closed as it passes) the scan moves on to t2
    boarded at S1, and when t1 calls at S2 while it is closed, t2 from S1 alights there: one ride each, as the
    reference finds (the scan once looked for later trips boarded where it had boarded t1 only: the bus, 08:51,
    and t1's S2 call the next day)."""
    net = _line_network()
    m, ref = build_model(net, DATE), Reference(net, DATE)
    s0, s1, s2, s4 = (m.stop_index(f"l:S{i}") for i in (0, 1, 2, 4))
    h = _hop(m, "l:t1", 2)  # S2 → S3
    sources = [(s0, 8 * 3600), (s1, 8 * 3600 + 600)]
    cases = [(s4, Closures(stops={"l:S0": (8 * 3600 + 600, 8 * 3600 + 1200)}, hops={("l:R", "l:S2", "l:S3"):
                                                                                   (8 * 3600, 8 * 3600 + 600)}),
              _mask(m, stops=[(s0, 8 * 3600 + 600, 8 * 3600 + 1200)], hops=[(h, 8 * 3600, 8 * 3600 + 600)]),
              8 * 3600 + 1470),
             (s2, Closures(stops={"l:S0": (8 * 3600 + 600, 8 * 3600 + 1200), "l:S2": (8 * 3600 + 200, 8 * 3600 + 400)}),
              _mask(m, stops=[(s0, 8 * 3600 + 600, 8 * 3600 + 1200), (s2, 8 * 3600 + 200, 8 * 3600 + 400)]),
              8 * 3600 + 1170)]
    for tgt, cl, mask, arrival in cases:
        want = ref.earliest([(m.stop_ids[s], t) for s, t in sources], [(m.stop_ids[tgt], 0)], 2, closures=cl)
        res = _query(m, sources, [(tgt, 0)], 2, mask=mask)
        assert [float(x) if x < (1 << 40) else INF for x in res.res_t] == want == [INF, arrival, arrival]
        (j,) = res.pareto()
        (leg,) = j.legs
        assert (m.trip_ids[leg.trip], m.stop_ids[leg.from_stop], leg.arrival) == ("l:t2", "l:S1", arrival)


def test_a_closure_where_a_pattern_runs_on_in_seat_counts_for_that_pattern():
    """A (S0 → S1) runs on in-seat as B (S1 → S2): a1 08:00 as b1 08:05, a2 08:10 as b2 08:15, one chain class.
    B's hop is closed 08:00-08:10, so b1 stops and the one ride to S2 is a2 on as b2 (08:17). A has no closure of
    its own, but its span (`Rules.pattern_span`) takes B's: the scan must look past a1 for a later trip of the
    class (without the in-seat spread of the spans the one-ride answer was lost)."""
    h0 = 8 * 3600
    rows = (line_rows("a1", ["S0", "S1"], h0) + line_rows("a2", ["S0", "S1"], h0 + 600)
            + line_rows("b1", ["S1", "S2"], h0 + 300) + line_rows("b2", ["S1", "S2"], h0 + 900))
    feed = make_feed("c", grid_stops(4), [{"id": "A", "type": 1}, {"id": "B", "type": 1}],
                     [{"id": t, "route": t[0].upper()} for t in ("a1", "a2", "b1", "b2")], rows)
    net = Network([with_links(feed, [{"from_trip": "a1", "to_trip": "b1"}, {"from_trip": "a2", "to_trip": "b2"}])])
    m, ref = build_model(net, DATE), Reference(net, DATE)
    hop = int(m.pattern_stops_start[m.trip_pattern[m.trip_ids.index("c:b1")]])
    want = ref.earliest([("c:S0", h0 - 60)], [("c:S2", 0)], 2,
                        closures=Closures(hops={("c:B", "c:S1", "c:S2"): (h0, h0 + 600)}))
    res = _query(m, [(m.stop_index("c:S0"), h0 - 60)], [(m.stop_index("c:S2"), 0)], 2,
                 mask=_mask(m, hops=[(hop, h0, h0 + 600)]), inseat=True)
    assert [float(x) if x < (1 << 40) else INF for x in res.res_t] == want == [INF, h0 + 1020, h0 + 1020]
    (j,) = [j for j in res.pareto() if j.rides == 1]
    assert [m.trip_ids[leg.trip] for leg in j.legs] == ["c:a2", "c:b2"]


def test_closure_windows_at_their_edges_stop_the_trip_they_meet():
    """A scan checks a trip's way on only where its times meet the pattern's closure span (`scan_routes`): so the
    windows that just meet t1 (its S2 call 08:04:30-08:05:00, the hop to S3 08:05:00-08:07:00) must stop it, and
    those that just miss must not, as the reference says (t1 reaches S4 at 08:09:30, t2 at 08:24:30)."""
    net = _line_network()
    m, ref = build_model(net, DATE), Reference(net, DATE)
    s0, s2, s4 = m.stop_index("l:S0"), m.stop_index("l:S2"), m.stop_index("l:S4")
    h = _hop(m, "l:t1", 2)  # S2 → S3
    at = 8 * 3600
    cases = [("hop", at + 420, at + 421, at + 1470), ("hop", at + 421, at + 3600, at + 570),
             ("hop", at - 3600, at + 301, at + 1470), ("hop", at - 3600, at + 300, at + 570),
             ("stop", at + 300, at + 301, at + 1470), ("stop", at + 301, at + 900, at + 570),
             ("stop", at - 3600, at + 270, at + 570), ("stop", at - 3600, at + 271, at + 1470)]
    for kind, a, b, arrival in cases:
        cl = Closures(hops={("l:R", "l:S2", "l:S3"): (a, b)}) if kind == "hop" else Closures(stops={"l:S2": (a, b)})
        mask = _mask(m, hops=[(h, a, b)]) if kind == "hop" else _mask(m, stops=[(s2, a, b)])
        want = ref.earliest([("l:S0", at)], [("l:S4", 0)], 1, closures=cl)
        got = [float(x) if x < (1 << 40) else INF for x in _query(m, [(s0, at)], [(s4, 0)], 1, mask=mask).res_t]
        assert got == want == [INF, arrival], (kind, a - at, b - at)


def test_closures_on_a_pattern_whose_times_go_back_count_whatever_the_result():
    """A scan leaves out a pattern's closures that start after the round's result (`rounds._closures_matter`):
    what they block comes later. Not where a trip's times go back (a feed's error the model keeps): a1 leaves S0
    at 09:00 and reaches S1 at 08:30. With S0 closed 08:55-09:05 and the 08:40 → 08:50 ride on b1 found first
    (the range search's later run), a1 at 09:00 must still not be boarded (it was, arriving "08:30")."""
    h0 = 8 * 3600
    rows = [{"trip": "a1", "seq": 1, "stop": "S0", "arr": h0 + 3600, "dep": h0 + 3600},
            {"trip": "a1", "seq": 2, "stop": "S1", "arr": h0 + 1800, "dep": h0 + 1800},
            {"trip": "b1", "seq": 1, "stop": "S0", "arr": h0 + 2400, "dep": h0 + 2400},
            {"trip": "b1", "seq": 2, "stop": "S1", "arr": h0 + 3000, "dep": h0 + 3000}]
    m = build_model(Network([make_feed("u", grid_stops(4), [{"id": "A", "type": 1}, {"id": "B", "type": 1}],
                                       [{"id": "a1", "route": "A"}, {"id": "b1", "route": "B"}], rows)]), DATE)
    s0, s1 = m.stop_index("u:S0"), m.stop_index("u:S1")
    q = RaptorQuery(np.array([s0]), np.array([0]), np.array([s1]), np.array([0]), max_rides=1, inseat=False,
                    mask=_mask(m, stops=[(s0, h0 + 3300, h0 + 3900)]), report_walks=False)
    got = [(j.first_departure - h0, j.arrival - h0, m.trip_ids[j.legs[0].trip])
           for j in range_raptor(m, q, h0, 3600).journeys]
    assert (2400, 3000, "u:b1") in got and not any(dep == 3600 for dep, _, _ in got)


def test_footpaths_not_to_closed_stops():
    """A walk reaches a stop, or leaves one, only while it is open: it waits beside it (so leaving later never
    arrives earlier)."""
    m = _line_model()
    s3, w = m.stop_index("l:S3"), m.stop_index("l:W")
    walk = _query(m, [(s3, 8 * 3600)], [(w, 0)], 1).pareto()
    assert walk[0].rides == 0 and walk[0].arrival < 8 * 3600 + 300  # a walk
    secs = walk[0].arrival - 8 * 3600
    waits = _query(m, [(s3, 8 * 3600)], [(w, 0)], 1, mask=_mask(m, stops=[(w, 0, 9 * 3600)])).pareto()
    assert [(j.rides, j.arrival, j.legs[0].departure) for j in waits] == [(0, 9 * 3600, 9 * 3600 - secs)]
    left = _query(m, [(s3, 8 * 3600)], [(w, 0)], 1, mask=_mask(m, stops=[(s3, 0, 9 * 3600)])).pareto()
    assert [(j.arrival, j.legs[0].departure) for j in left] == [(9 * 3600 + secs, 9 * 3600)]


def test_mode_filter_and_max_rides():
    m = _line_model()
    s0, s4 = m.stop_index("l:S0"), m.stop_index("l:S4")
    bus_only = np.array([m.route_modes[r] == "BUS" for r in m.pattern_route])
    res = _query(m, [(s0, 8 * 3600)], [(s4, 0)], 3, pattern_allowed=bus_only).pareto()
    assert [m.trip_ids[leg.trip] for leg in res[0].legs] == ["l:bus"]
    assert not _query(m, [(s0, 8 * 3600)], [(s4, 0)], 0).pareto()


def test_past_midnight_uses_yesterdays_trip():
    stops = grid_stops(3)
    rows = line_rows("night", ["S0", "S1", "S2"], 24 * 3600 + 600)  # 24:10 on the previous service day
    feed = make_feed("n", stops, [{"id": "R"}], [{"id": "night", "route": "R"}], rows)
    m = build_model(Network([feed]), DATE)
    res = _query(m, [(m.stop_index("n:S0"), 300)], [(m.stop_index("n:S2"), 0)], 1).pareto()
    leg = res[0].legs[0]
    assert leg.departure == 600 and m.trip_day_offset[leg.trip] == -1


def test_loop_line_reaches_its_start_again():
    stops = grid_stops(4)
    rows = line_rows("loop", ["S0", "S1", "S2", "S3", "S0", "S1"], 8 * 3600)
    feed = make_feed("o", stops, [{"id": "E"}], [{"id": "loop", "route": "E"}], rows)
    m = build_model(Network([feed]), DATE)
    s0, s3 = m.stop_index("o:S0"), m.stop_index("o:S3")
    res = _query(m, [(s3, 8 * 3600)], [(s0, 0)], 1).pareto()  # board at S3 (pos 3), alight at pos 4
    leg = res[0].legs[0]
    assert (leg.board_pos, leg.alight_pos) == (3, 4)
    res = _query(m, [(s0, 8 * 3600)], [(m.stop_index("o:S1"), 0)], 1).pareto()
    assert res[0].legs[0].alight_pos == 1  # the first visit, not the second


def test_pooled_labels_shared_by_round_counts_answer_as_fresh_ones(sample_transit):
    """One Labels per timetable serves searches with fewer rounds on its first rows (`pools._labels_for`). A
    search clears only its own rows, so a long search, a short one elsewhere, then a long one again from where
    the first began, later in the day, would meet the first one's (earlier) labels in the rows past the short
    search's rounds unless they are cleared: each answers as a search on labels of its own."""
    import datetime as dt

    from routing.raptor import pools

    model = sample_transit.model_for(dt.date(2026, 12, 1))
    rng = random.Random(3)

    def query(s, t, when, rides, inseat):
        return RaptorQuery(np.array([s], np.int32), np.array([when], np.int64), np.array([t], np.int32),
                           np.array([0], np.int64), max_rides=rides, inseat=inseat)

    def answer(q, backward):
        res = range_raptor(model, q, int(q.src_times[0]), 1800, backward=True) if backward else run_raptor(model, q)
        return sorted(res.journeys), res.res_t.tolist()

    seqs = []
    for i in range(30):
        x, y, z = rng.sample(range(model.n_stops), 3)
        back, inseat = i % 3 == 2, i % 2 == 1
        seqs += [(query(x, z, 6 * 3600, 6, inseat), back), (query(y, x, 7 * 3600, 1, inseat), back),
                 (query(x, z, 12 * 3600, 6, inseat), back)]
    fresh = []
    for q, back in seqs:
        pools.drop_thread_buffers()
        fresh.append(answer(q, back))
    pools.drop_thread_buffers()
    assert [answer(q, back) for q, back in seqs] == fresh
    assert len(pools._POOL.labels) <= 4  # one per timetable (forward/backward, with/without in-seat links)


def test_service_days_share_one_label_store_per_clock_and_answer_as_fresh_labels(sample_transit):
    """The timetables of one clock share a thread's label arrays across service days whose models differ (more
    trips on one day than another: the store grows, its views are made again): searches alternating between the
    days, both ways, with and without in-seat links and with different round counts, answer as searches on labels
    of their own; one store per clock holds them."""
    import datetime as dt

    from routing.raptor import pools

    # each day's own model: Saturday's (Friday to Monday), Thursday's (Wednesday to Saturday), Tuesday's (weekdays)
    models = [sample_transit.planners_for([dt.date(2026, 12, d)])[0].model for d in (5, 3, 1)]
    assert len({m.n_trips for m in models}) == 3
    rng = random.Random(5)

    def query(m, s, t, when, rides, inseat):
        return RaptorQuery(np.array([s], np.int32), np.array([when], np.int64), np.array([t], np.int32),
                           np.array([0], np.int64), max_rides=rides, inseat=inseat)

    def answer(m, q, backward):
        res = range_raptor(m, q, int(q.src_times[0]), 1800, backward=backward)
        return sorted(res.journeys), res.res_t.tolist()

    seqs = []
    for i in range(60):
        m = models[i % 3]
        x, y = rng.sample(range(m.n_stops), 2)
        seqs.append((m, query(m, x, y, rng.randrange(5, 23) * 3600, rng.choice((1, 3, 6)), i % 2 == 0),
                     i % 4 >= 2))
    fresh = []
    for m, q, back in seqs:
        pools.drop_thread_buffers()
        fresh.append(answer(m, q, back))
    pools.drop_thread_buffers()
    assert [answer(m, q, back) for m, q, back in seqs] == fresh
    assert sorted(k[1] for k in pools._POOL.label_stores) == [0, 1]  # one store a clock, for the three days
    pools.drop_thread_buffers()


@pytest.mark.parametrize("seed", range(3))
def test_first_departing_is_the_binary_search_answer_from_any_hint(seed):
    """The galloping search from a hint answers as np.searchsorted over the first hi trips, whatever the hint
    (before the trips, on, between or after them) and with ties in departure times."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(0, 40))
        col = int(rng.integers(0, 5))
        dep = np.concatenate([rng.integers(-9, 9, col), np.sort(rng.integers(0, 30, n)),
                              rng.integers(-9, 9, 3)]).astype(np.int32)
        hi = int(rng.integers(0, n + 1))
        t = int(rng.integers(-2, 33))
        want = int(np.searchsorted(dep[col:col + hi], t, side="left"))
        for hint in (-3, 0, hi // 2, hi - 1, hi, hi + 7, int(rng.integers(-2, n + 3))):
            assert _first_departing(dep, col, hi, t, hint) == want
