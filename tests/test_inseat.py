"""In-seat transfers (transfers.txt transfer_type 4, trip to trip): model links, RAPTOR, itineraries.

A small network: trip A ends at X1 at 10:00; trips B1 (10:00) and B2 (10:10) leave X2, a platform of the same
station, for Y. Changing X1 → X2 takes 3 minutes (transfers.txt), so only an in-seat link A → B1 makes B1.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import random

import numpy as np
import pandas as pd
import pytest

from conftest import shared_file
from feeds.feed import Network
from routing.masks import ClosureMask
from routing.planner import PlanOptions, Planner
from routing.raptor import RaptorQuery, RideLeg, run_raptor
from routing.timetable import build_model
from routing.walking import StraightLineWalker
from test_timetable import DATE, line_rows, make_feed, trip_of_day

H = 3600
TEN = 10 * H
JST = dt.timezone(dt.timedelta(hours=9))


def with_links(feed, rows: list[dict]):
    """The feed with trip-to-trip transfers.txt rows (un-namespaced ids) added to its stop-level ones."""
    ns = feed.namespace
    extra = pd.DataFrame([{"from_stop_id": f"{ns}:{r['from']}" if r.get("from") else "",
                           "to_stop_id": f"{ns}:{r['to']}" if r.get("to") else "",
                           "transfer_type": r.get("type", 4), "min_transfer_time": np.nan,
                           "from_route_id": "", "to_route_id": "",
                           "from_trip_id": f"{ns}:{r['from_trip']}", "to_trip_id": f"{ns}:{r['to_trip']}"}
                          for r in rows])
    base = feed.transfers.assign(from_route_id="", to_route_id="", from_trip_id="", to_trip_id="")
    return dataclasses.replace(feed, transfers=pd.concat([base, extra], ignore_index=True))


def small_feed(links: list[dict] | None = None, early_a: bool = False):
    stops = [{"id": "S", "lat": 35.00, "lon": 139.0},
             {"id": "X", "lat": 35.02, "lon": 139.0, "location_type": 1},
             {"id": "X1", "lat": 35.02, "lon": 139.0, "parent": "X"},
             {"id": "X2", "lat": 35.0201, "lon": 139.0, "parent": "X"},
             {"id": "Y", "lat": 35.04, "lon": 139.0, "location_type": 1},
             {"id": "Y1", "lat": 35.04, "lon": 139.0, "parent": "Y"},
             {"id": "Y2", "lat": 35.0401, "lon": 139.0, "parent": "Y"},
             {"id": "Z", "lat": 35.06, "lon": 139.0}]
    routes = [{"id": "RA"}, {"id": "RB"}, {"id": "RC"}]
    trips = [{"id": "A", "route": "RA"}, {"id": "B1", "route": "RB"}, {"id": "B2", "route": "RB"},
             {"id": "C", "route": "RC"}]
    rows = (line_rows("A", ["S", "X1"], TEN - 600, hop=600) + line_rows("B1", ["X2", "Y1"], TEN, hop=600)
            + line_rows("B2", ["X2", "Y1"], TEN + 600, hop=600) + line_rows("C", ["Y2", "Z"], TEN + 600, hop=600))
    if early_a:  # an earlier run of A's route without a link: the earliest trip no longer dominates
        trips.append({"id": "A0", "route": "RA"})
        rows += line_rows("A0", ["S", "X1"], TEN - 900, hop=600)
    transfers = [{"from": "X1", "to": "X2", "type": 2, "time": 180}, {"from": "Y1", "to": "Y2", "type": 2, "time": 180}]
    feed = make_feed("t", stops, routes, trips, rows, transfers=transfers)
    return with_links(feed, links or [])


LINK_AB = {"from": "X1", "to": "X2", "from_trip": "A", "to_trip": "B1"}


def query(model, src="t:S", tgt="t:Y1", t=TEN - 1200, mask=None, wheelchair=False, inseat=True):
    q = RaptorQuery(np.array([model.stop_index(src)]), np.array([t]), np.array([model.stop_index(tgt)]),
                    np.zeros(1, np.int64), mask=mask, wheelchair=wheelchair, inseat=inseat)
    return run_raptor(model, q).pareto()


def test_model_has_link_between_trips_and_stops():
    m = build_model(Network([small_feed([LINK_AB])]), DATE)
    a, b = trip_of_day(m, "t:A"), trip_of_day(m, "t:B1")
    assert m.inseat_start[a + 1] - m.inseat_start[a] == 1
    assert len(m.inseat_to_trip) == 4  # one per service day the model joins whole (the day before, the day, the next two)
    e = m.inseat_start[a]
    assert m.inseat_to_trip[e] == b
    assert m.stop_ids[m.inseat_from_stop[e]] == "t:X1" and m.stop_ids[m.inseat_to_stop[e]] == "t:X2"
    assert (m.inseat_from_pos[e], m.inseat_to_pos[e]) == (1, 0)
    # not on a day the trips do not run, and not without the row
    assert len(build_model(Network([small_feed()]), DATE).inseat_to_trip) == 0


def test_stay_seated_journey_has_no_transfer_and_arrives_with_b():
    m = build_model(Network([small_feed([LINK_AB])]), DATE)
    js = query(m)
    best = js[-1]
    assert best.arrival == TEN + 600 and best.rides == 1 and best.transfers == 0
    a, b = best.legs
    assert isinstance(a, RideLeg) and isinstance(b, RideLeg)
    assert m.trip_ids[a.trip] == "t:A" and m.trip_ids[b.trip] == "t:B1"
    assert not a.stay_seated and b.stay_seated
    assert m.stop_ids[a.to_stop] == "t:X1" and m.stop_ids[b.from_stop] == "t:X2"
    assert (a.arrival, b.departure) == (TEN, TEN)
    # the search only follows links when asked to (RaptorQuery.inseat, off by default)
    assert query(m, inseat=False)[-1].arrival == TEN + 1200


def test_without_link_the_change_takes_the_minimum_time():
    for links in ([], [dict(LINK_AB, type=5)], [LINK_AB, dict(LINK_AB, type=5)]):
        m = build_model(Network([small_feed(links)]), DATE)
        assert len(m.inseat_to_trip) == 0
        best = query(m)[-1]
        assert best.arrival == TEN + 1200 and best.rides == 2 and best.transfers == 1
        assert m.trip_ids[best.legs[-1].trip] == "t:B2"


def test_closure_applies_on_the_continued_trip():
    m = build_model(Network([small_feed([LINK_AB])]), DATE)
    p = int(m.trip_pattern[trip_of_day(m, "t:B1")])
    hop_from, hop_until = np.zeros(m.n_hops, np.int32), np.zeros(m.n_hops, np.int32)
    hop_from[m.pattern_stops_start[p]], hop_until[m.pattern_stops_start[p]] = TEN, TEN + 60  # B1's hop, not B2's
    z = np.zeros(m.n_stops, np.int32)
    mask = ClosureMask(z, z, hop_from, hop_until)
    best = query(m, mask=mask)[-1]
    assert best.arrival == TEN + 1200 and best.transfers == 1
    assert not any(l.stay_seated for l in best.legs if isinstance(l, RideLeg))
    # wheelchair users need the continued trip to be accessible too (all trips here are "unknown")
    assert all(j.arrival > TEN + 600 for j in query(m, wheelchair=True))


def test_links_chain_and_later_through_trip_is_found():
    links = [LINK_AB, {"from": "Y1", "to": "Y2", "from_trip": "B1", "to_trip": "C"}]
    m = build_model(Network([small_feed(links, early_a=True)]), DATE)
    js = query(m, tgt="t:Z")
    assert js[0].rides == 1 and js[0].arrival == TEN + 1200
    assert [m.trip_ids[l.trip] for l in js[0].legs] == ["t:A", "t:B1", "t:C"]
    assert [l.stay_seated for l in js[0].legs] == [False, True, True]
    # to Y: A0 arrives first at X1, but only the later A stays seated; one ride suffices
    js = query(m)
    assert js[0].rides == 1 and js[0].arrival == TEN + 600


def test_itinerary_marks_the_stay_seated_leg():
    m = build_model(Network([small_feed([LINK_AB])]), DATE)
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    its = planner.plan("t:S", "t:Y1", dt.datetime(2026, 12, 1, 9, 40, tzinfo=JST),
                       options=PlanOptions(stay_seated=True))
    d = its[0].to_dict()
    assert d["transfers"] == 0 and d["arrival"].startswith("2026-12-01T10:10")
    legs = [leg for leg in d["legs"] if leg["mode"] != "WALK"]
    assert [leg.get("stay_seated", False) for leg in legs] == [False, True]
    assert legs[0]["to"]["stop_id"] == "t:X1" and legs[1]["from"]["stop_id"] == "t:X2"


def test_arrive_by_follows_the_link_backwards():
    """Arriving at Y1 by 10:10 is possible only seated from A into B1 (the change takes 3 minutes): the backward
    search finds it, leaving S at 09:50, with no transfer; without links it must leave on an earlier A."""
    m = build_model(Network([small_feed([LINK_AB])]), DATE)
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    when = dt.datetime(2026, 12, 1, 10, 10, tzinfo=JST)
    its = [it.to_dict() for it in planner.plan("t:S", "t:Y1", when, arrive_by=True,
                                               options=PlanOptions(stay_seated=True))]
    seated = [d for d in its if d["transfers"] == 0 and len([x for x in d["legs"] if x["mode"] != "WALK"]) == 2]
    assert seated, its
    d = max(seated, key=lambda d: d["departure"])  # (the day before's runs are answers too, leaving earlier)
    assert d["departure"].startswith("2026-12-01T09:50") and d["arrival"].startswith("2026-12-01T10:10")
    legs = [leg for leg in d["legs"] if leg["mode"] != "WALK"]
    assert [leg.get("stay_seated", False) for leg in legs] == [False, True]
    assert [leg["trip_id"] for leg in legs] == ["t:A", "t:B1"]
    off = [it.to_dict() for it in planner.plan("t:S", "t:Y1", when, arrive_by=True,
                                               options=PlanOptions(stay_seated=False))]
    assert all(not any(leg.get("stay_seated") for leg in d["legs"]) for d in off)
    assert all(d["arrival"] <= "2026-12-01T10:10:00+09:00" for d in off)
    assert not any(d["departure"].startswith("2026-12-01T09:50") for d in off)


def random_feed(rng: random.Random):
    """Random lines over 12 stops (4 stations of 3 platforms) and random in-seat links between trips."""
    stops = []
    for g in range(4):
        stops.append({"id": f"P{g}", "lat": 35.0 + 0.02 * g, "lon": 139.0, "location_type": 1})
        stops += [{"id": f"S{g}{i}", "lat": 35.0 + 0.02 * g, "lon": 139.0 + 0.0001 * i, "parent": f"P{g}"}
                  for i in range(3)]
    plats = [s["id"] for s in stops if "parent" in s]
    routes, trips, rows = [], [], []
    for r in range(6):
        seq = rng.sample(plats, rng.randint(2, 4))
        routes.append({"id": f"R{r}"})
        for j in range(rng.randint(1, 4)):
            tid = f"R{r}T{j}"
            start = TEN + rng.randrange(0, 3600, 60)
            trips.append({"id": tid, "route": f"R{r}"})
            rows += line_rows(tid, seq, start, hop=rng.choice([120, 300, 600]), dwell=0)
    first = {x["trip"]: x["dep"] for x in rows if x["seq"] == 1}
    last = {}
    for x in rows:
        last[x["trip"]] = x["arr"]
    ids = list(first)
    links = [{"from_trip": a, "to_trip": b} for a in ids for b in ids
             if a != b and first[b] >= last[a] and rng.random() < 0.3]
    feed = make_feed("t", stops, routes, trips, rows)
    return feed, links, plats


@pytest.mark.parametrize("seed", range(12))
def test_adding_links_never_makes_an_arrival_later(seed):
    rng = random.Random(seed)
    feed, links, plats = random_feed(rng)
    m0 = build_model(Network([with_links(feed, [])]), DATE)
    m1 = build_model(Network([with_links(feed, links)]), DATE)
    for _ in range(15):
        s, t = rng.sample(plats, 2)
        tau = TEN + rng.randrange(-600, 3600, 60)
        q = [RaptorQuery(np.array([m.stop_index(f"t:{s}")]), np.array([tau]), np.array([m.stop_index(f"t:{t}")]),
                         np.zeros(1, np.int64), max_rides=4, inseat=True) for m in (m0, m1)]
        r0, r1 = run_raptor(m0, q[0]), run_raptor(m1, q[1])
        best0 = r0.res_t
        best1 = r1.res_t
        assert np.all(best1 <= best0), (s, t, tau, best0, best1)
        for j in r1.pareto():  # every journey is feasible in the model
            rides = [l for l in j.legs if isinstance(l, RideLeg)]
            assert j.transfers == max(sum(not l.stay_seated for l in rides) - 1, 0)
            for prev, cur in zip(j.legs, j.legs[1:]):
                assert cur.departure >= prev.arrival
                if isinstance(cur, RideLeg) and cur.stay_seated:
                    a = prev.trip
                    assert cur.trip in m1.inseat_to_trip[m1.inseat_start[a]:m1.inseat_start[a + 1]].tolist()


@pytest.mark.shared_data
def test_all_tokyo_keikyu_airport_to_oshiage_in_one_seat():
    """Keikyu trains from Haneda run through Sengakuji onto the Toei Asakusa line: no change needed."""
    from feeds.gtfs import load_feed

    model = build_model(Network([load_feed(shared_file("tokyo-rail-gtfs.zip"), "tokyo-rail")]), DATE)
    assert len(model.inseat_to_trip) > 1000
    src = model.stop_index("tokyo-rail:Keikyu.Airport.HanedaAirportTerminal1and2")
    tgt = model.stop_index("tokyo-rail:Toei.Asakusa.Oshiage")
    for tau in (10 * H, 14 * H):
        q = RaptorQuery(np.array([src]), np.array([tau]), np.array([tgt]), np.zeros(1, np.int64), inseat=True)
        js = run_raptor(model, q).pareto()
        one = [j for j in js if j.rides == 1]
        assert one, js
        j = one[0]
        assert j.transfers == 0 and j.arrival - tau < 2 * H
        ids = [(model.stop_ids[l.from_stop], model.stop_ids[l.to_stop], l.stay_seated) for l in j.legs]
        assert ids[0][0].endswith("Keikyu.Airport.HanedaAirportTerminal1and2") and not ids[0][2]
        assert ids[-1] == ("tokyo-rail:Toei.Asakusa.Sengakuji", "tokyo-rail:Toei.Asakusa.Oshiage", True)
        assert ids[-2][1] == "tokyo-rail:Keikyu.Main.Sengakuji"
        assert j.legs[-1].departure >= j.legs[-2].arrival
        assert all(isinstance(l, RideLeg) for l in j.legs)
        # without the links the same trip chain is at least one change and never arrives earlier in one ride
        js0 = run_raptor(model, dataclasses.replace(q, inseat=False)).pareto()
        assert not any(x.rides == 1 for x in js0)
        assert min(x.arrival for x in js0) >= min(x.arrival for x in js)


def reference_by_rounds(m, src: int, tau: int, tgt: int, max_rides: int, min_transfer_s: int = 60,
                        walk_speed: float = 1.2) -> np.ndarray:
    """Brute force over the model's trips: best arrival at ``tgt`` with at most k rides, k = 0..max_rides.

    Round k rides every trip catchable from the round k-1 boarding times, and every trip linked in-seat from a
    trip ridden through the link's from-stop (no change time, same round); then one footpath or a same-stop
    change gives the next boarding times.
    """
    INF = 1 << 40
    n = m.n_stops

    def walks(t_at: np.ndarray, least: int = 0) -> np.ndarray:
        """One walk from each reached stop (never faster than walk_speed nor the feed's time), taking at least
        ``least`` seconds (a change of vehicle)."""
        out = t_at.copy()
        for a in range(n):
            if t_at[a] < INF:
                for e in range(m.fp_start[a], m.fp_start[a + 1]):
                    d = max(int(m.fp_fixed_s[e]), int(np.ceil(m.fp_dist[e] / walk_speed)), least)
                    out[m.fp_to[e]] = min(out[m.fp_to[e]], t_at[a] + d)
        return out

    start = np.full(n, INF, np.int64)
    start[src] = tau
    reach = walks(start)
    board = reach.copy()
    res = [int(reach[tgt])]
    for _k in range(max_rides):
        first = {}  # trip → earliest position ridden from
        for t in range(m.n_trips):
            off, L = m.trip_times_offset(t)
            stops = m.pattern_stops[m.pattern_stops_start[m.trip_pattern[t]]:][:L]
            deps = m.departures_of_trip(t)
            for i in range(L - 1):
                if m.st_pickup[off + i] and deps[i] >= board[stops[i]]:
                    first[t] = i
                    break
        work = list(first.items())
        while work:
            t, i = work.pop()
            off, L = m.trip_times_offset(t)
            for e in range(m.inseat_start[t], m.inseat_start[t + 1]):
                b, fp, tp = int(m.inseat_to_trip[e]), int(m.inseat_from_pos[e]), int(m.inseat_to_pos[e])
                if fp > i and m.departures_of_trip(b)[tp] >= m.st_arr[off + fp] and tp < first.get(b, L + 99):
                    first[b] = tp
                    work.append((b, tp))
        arr = np.full(n, INF, np.int64)
        for t, i in first.items():
            off, L = m.trip_times_offset(t)
            stops = m.pattern_stops[m.pattern_stops_start[m.trip_pattern[t]]:][:L]
            for q in range(i + 1, L):
                if m.st_dropoff[off + q]:
                    arr[stops[q]] = min(arr[stops[q]], m.st_arr[off + q])
        walked = walks(arr)
        res.append(int(walked[tgt]))
        mt = np.maximum(m.stop_min_transfer, min_transfer_s)
        changed = np.where(arr < INF, arr + mt, INF)
        changed_on_foot = walks(arr, min_transfer_s)
        board = np.minimum(board, np.minimum(changed, np.where(changed_on_foot < arr, changed_on_foot, INF)))
    return np.minimum.accumulate(np.array(res, np.int64))


@pytest.mark.parametrize("seed", range(6))
def test_raptor_matches_brute_force_with_links(seed):
    rng = random.Random(100 + seed)
    feed, links, plats = random_feed(rng)
    m = build_model(Network([with_links(feed, links)]), DATE)
    for _ in range(15):
        s, t = rng.sample(plats, 2)
        tau = TEN + rng.randrange(-600, 3600, 60)
        si, ti = m.stop_index(f"t:{s}"), m.stop_index(f"t:{t}")
        r = run_raptor(m, RaptorQuery(np.array([si]), np.array([tau]), np.array([ti]), np.zeros(1, np.int64),
                                      max_rides=3, inseat=True))
        got = np.minimum(r.res_t, 1 << 40)
        want = np.minimum(reference_by_rounds(m, si, tau, ti, 3), 1 << 40)
        assert got.tolist() == want.tolist(), (seed, s, t, tau)
