"""RAPTOR against a brute-force reference on random networks, plus closures, filters and loops.

The reference (`reference_arrivals`) works on the raw Feed tables, not on the model: it expands trips itself
(today's, yesterday's shifted by -86400, frequencies) and relaxes every boarding of every trip per round, so it
checks the builder and the kernel together. Semantics shared by both: one footpath after each ride (or from a
source), same-stop change = min transfer time (transfers.txt self row overrides), transfers.txt pair time overrides
the walk, transfer_type 3 forbids the pair.
"""
from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import pytest

from feeds.feed import Network
from routing.masks import ClosureMask
from routing.raptor import RaptorQuery, RideLeg, WalkLeg, run_raptor
from routing.timetable import DAY, BuildSettings, build_model, mode_of_route_type
from routing.walking import StraightLineWalker
from test_timetable import DATE, grid_stops, line_rows, make_feed

INF = math.inf


# ---- the reference ---------------------------------------------------------------------------------------
def ref_instances(network: Network, date: dt.date, stop_pos: dict[str, int]) -> dict[str, list[tuple]]:
    """trip instance id → [(stop idx, arr, dep, pickup ok, dropoff ok)], and its route id, per the GTFS rules."""
    out: dict[str, tuple[str, list[tuple]]] = {}
    active_on = {day: network.service_ids_on(date + dt.timedelta(days=day)) for day in (-2, -1, 0, 1)}
    trips = network.table("trips")
    st = network.table("stop_times").sort_values(["trip_id", "stop_sequence"])
    rows_by_trip = {t: g for t, g in st.groupby("trip_id")}
    freq = network.table("frequencies")
    freq_trips = set(freq["trip_id"]) if len(freq) else set()
    for _, t in trips.iterrows():
        g = rows_by_trip.get(t.trip_id)
        if g is None:
            continue
        base = [(stop_pos[r.stop_id], int(r.arrival), int(r.departure), int(r.pickup_type) != 1,
                 int(r.drop_off_type) != 1) for r in g.itertuples()]
        starts = [(None, 0)]
        if t.trip_id in freq_trips:
            starts = []
            for f in freq[freq["trip_id"] == t.trip_id].itertuples():
                starts += [(s, s - base[0][2]) for s in range(int(f.start_time), int(f.end_time), int(f.headway_secs))]
        for day, active in active_on.items():
            if t.service_id not in active:
                continue
            for label, shift in starts:
                key = f"{t.trip_id}" if label is None else f"{t.trip_id}@{label // 3600:02d}:{label // 60 % 60:02d}:{label % 60:02d}"
                sh = shift + day * DAY
                out[f"{key}#{day}"] = (t.route_id, int(t.wheelchair_accessible),
                                       [(s, a + sh, d + sh, pu, do) for s, a, d, pu, do in base])
    return out


def ref_footpaths(network: Network, model, settings: BuildSettings) -> tuple[dict, dict]:
    """(pair → seconds or metres marker, stop → same-stop change override) from transfers.txt and the walker."""
    walker = StraightLineWalker(model.stop_lat, model.stop_lon, settings.detour_factor)
    a, b, d = walker.stop_footpaths(settings.footpath_radius_m)
    walk = {(int(x), int(y)): ("m", float(np.float32(z))) for x, y, z in zip(a, b, d)}
    self_override = {}
    tr = network.table("transfers")
    for r in tr.itertuples():
        x, y = model.stop_index(r.from_stop_id), model.stop_index(r.to_stop_id)
        if int(r.transfer_type) == 3:
            walk.pop((x, y), None)
            continue
        if x == y:
            if not math.isnan(r.min_transfer_time):
                self_override[x] = int(r.min_transfer_time)
            continue
        if not math.isnan(r.min_transfer_time):
            walk[(x, y)] = ("s", int(r.min_transfer_time))
        elif (x, y) not in walk:
            from routing.geo import haversine_m
            walk[(x, y)] = ("m", float(np.float32(haversine_m(model.stop_lat[x], model.stop_lon[x], model.stop_lat[y],
                                                                model.stop_lon[y]) * settings.detour_factor)))
    return walk, self_override


def fp_seconds(v, speed: float) -> int:
    return v[1] if v[0] == "s" else int(math.ceil(v[1] / speed))


def reference_arrivals(n_stops, instances, walk, self_override, sources, targets, max_rides, min_transfer=60,
                       speed=1.2, wheelchair=False, stop_wc=None, route_ok=None) -> list[float]:
    """best[k] = earliest arrival (incl. egress) with at most k rides, k = 0..max_rides."""
    by_from: dict[int, list] = {}
    for (x, y), v in walk.items():
        by_from.setdefault(x, []).append((y, fp_seconds(v, speed)))
    ready = [INF] * n_stops
    for s, t in sources:
        ready[s] = min(ready[s], t)
    arrive_walk = [INF] * n_stops
    for s in range(n_stops):
        if ready[s] < INF:
            for y, w in by_from.get(s, []):
                arrive_walk[y] = min(arrive_walk[y], ready[s] + w)
    best_k = []
    cur = min([ready[t] + e for t, e in targets] + [arrive_walk[t] + e for t, e in targets])
    best_k.append(cur)
    ready = [min(r, w) for r, w in zip(ready, arrive_walk)]
    for _k in range(1, max_rides + 1):
        arrive = [INF] * n_stops
        for route, twc, rows in instances.values():
            if route_ok is not None and not route_ok(route):
                continue
            if wheelchair and twc != 1:
                continue
            on = False
            for s, a, d, pu, do in rows:
                ok_stop = not wheelchair or stop_wc[s] == 1
                if on and do and ok_stop:
                    arrive[s] = min(arrive[s], a)
                if not on and pu and ok_stop and d >= ready[s]:
                    on = True
        walk_arr = [INF] * n_stops
        for s in range(n_stops):
            if arrive[s] < INF:
                for y, w in by_from.get(s, []):
                    walk_arr[y] = min(walk_arr[y], arrive[s] + w)
        cur = min([cur] + [arrive[t] + e for t, e in targets] + [walk_arr[t] + e for t, e in targets])
        best_k.append(cur)
        for s in range(n_stops):
            mt = self_override.get(s, min_transfer)
            ready[s] = min(ready[s], arrive[s] + mt, walk_arr[s])
    return best_k


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
            svc = rng.choice(["S", "S", "S", "MON", "TUE"])
            trips.append({"id": tid, "route": rid, "service": svc, "wheelchair": rng.choice([0, 1, 1])})
            start = rng.choice([rng.randint(7 * 3600, 9 * 3600), rng.randint(23 * 3600, 25 * 3600)])
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
                     services={"S": list(range(7)), "MON": [0], "TUE": [1]})
    return feed, rng


def check_feasible(model, journey, instances, walk, self_override, min_transfer, speed, sources, targets):
    """Every ride exists with those times in the raw data; every walk and change respects its minimum."""
    src: dict[int, int] = {}
    for s, t0 in sources:
        src[s] = min(t0, src.get(s, t0))
    assert journey.source_stop in src
    t = src[journey.source_stop]
    prev = None
    for leg in journey.legs:
        if isinstance(leg, RideLeg):
            tid = model.trip_ids[leg.trip]
            day = int(model.trip_day_offset[leg.trip])
            route, _, rows = instances[f"{tid}#{day}"]
            b = rows[leg.board_pos]
            a = rows[leg.alight_pos]
            assert b[0] == leg.from_stop and a[0] == leg.to_stop and b[3] and a[4]
            assert b[2] == leg.departure and a[1] == leg.arrival and leg.alight_pos > leg.board_pos
            need = t
            if isinstance(prev, RideLeg):
                assert prev.to_stop == leg.from_stop
                need = t + self_override.get(leg.from_stop, min_transfer)
            assert leg.departure >= need
            t = leg.arrival
        else:
            assert isinstance(leg, WalkLeg)
            assert leg.departure >= t
            assert leg.arrival - leg.departure >= fp_seconds(walk[(leg.from_stop, leg.to_stop)], speed)
            t = leg.arrival
        prev = leg
    eg: dict[int, int] = {}
    for s, e in targets:
        eg[s] = min(e, eg.get(s, e))
    assert journey.target_stop in eg and journey.arrival == t + eg[journey.target_stop]


def _query(model, sources, targets, max_rides, **kw):
    return run_raptor(model, RaptorQuery(np.array([s for s, _ in sources], np.int32),
                                         np.array([t for _, t in sources], np.int64),
                                         np.array([s for s, _ in targets], np.int32),
                                         np.array([e for _, e in targets], np.int64), max_rides=max_rides, **kw))


@pytest.mark.parametrize("seed", range(60))
def test_random_networks_match_reference(seed):
    feed, rng = random_feed(seed)
    net = Network([feed])
    settings = BuildSettings()
    model = build_model(net, DATE, settings)
    stop_pos = {s: i for i, s in enumerate(model.stop_ids)}
    inst = ref_instances(net, DATE, stop_pos)
    walk, self_override = ref_footpaths(net, model, settings)
    wheelchair = seed % 5 == 0
    allowed_types = {1, 3} if seed % 7 == 0 else None
    route_type = dict(zip(net.table("routes")["route_id"], net.table("routes")["route_type"]))
    route_ok = (lambda r: int(route_type[r]) in allowed_types) if allowed_types else None
    pattern_allowed = None
    if allowed_types:
        modes = {mode_of_route_type(t) for t in allowed_types}
        pattern_allowed = np.array([model.route_modes[r] in modes for r in model.pattern_route])
    speed = rng.choice([0.8, 1.2, 1.5])
    for _ in range(6):
        sources = [(rng.randrange(model.n_stops), rng.choice([rng.randint(6 * 3600, 10 * 3600),
                                                              rng.randint(0, 3600)]))]
        if rng.random() < 0.3:
            sources.append((rng.randrange(model.n_stops), sources[0][1] + rng.randint(0, 600)))
        targets = [(rng.randrange(model.n_stops), rng.choice([0, 0, 90]))]
        if rng.random() < 0.3:
            targets.append((rng.randrange(model.n_stops), 0))
        K = rng.randint(1, 4)
        ref = reference_arrivals(model.n_stops, inst, walk, self_override, sources, targets, K, 60, speed,
                                 wheelchair, model.stop_wheelchair, route_ok)
        res = _query(model, sources, targets, K, wheelchair=wheelchair, walk_speed=speed,
                     pattern_allowed=pattern_allowed)
        pareto = res.pareto()
        for k in range(K + 1):
            got = min([j.arrival for j in pareto if j.rides <= k], default=INF)
            assert got == ref[k], (seed, sources, targets, k, got, ref)
        for a, b in zip(pareto, pareto[1:]):
            assert a.rides < b.rides and a.arrival > b.arrival
        for j in pareto:
            check_feasible(model, j, inst, walk, self_override, 60, speed, sources, targets)
            if wheelchair:
                for leg in j.legs:
                    if isinstance(leg, RideLeg):
                        assert model.trip_wheelchair[leg.trip] == 1
                        assert model.stop_wheelchair[leg.from_stop] == 1 and model.stop_wheelchair[leg.to_stop] == 1


# ---- targeted cases ---------------------------------------------------------------------------------------
def _line_model():
    """Two trips along S0..S4, a parallel bus S0→S4 that is slower, and a stop pair within walking range."""
    stops = grid_stops(5, step=0.005) + [{"id": "W", "lat": 35.68 + 0.0005, "lon": 139.76 + 0.015}]
    rows = (line_rows("t1", ["S0", "S1", "S2", "S3", "S4"], 8 * 3600)
            + line_rows("t2", ["S0", "S1", "S2", "S3", "S4"], 8 * 3600 + 900)
            + line_rows("bus", ["S0", "S4"], 8 * 3600 + 60, hop=3000))
    feed = make_feed("l", stops, [{"id": "R", "type": 1}, {"id": "B", "type": 3}],
                     [{"id": "t1", "route": "R"}, {"id": "t2", "route": "R"}, {"id": "bus", "route": "B"}], rows)
    return build_model(Network([feed]), DATE)


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
    # cannot start at, or travel to, a closed stop
    assert not _query(m, [(s2, 8 * 3600)], [(s4, 0)], 2, mask=_mask(m, stops=[(s2, 0, DAY)])).pareto()
    assert not _query(m, [(s0, 8 * 3600)], [(s2, 0)], 2, mask=_mask(m, stops=[(s2, 0, DAY)])).pareto()


def test_closure_of_a_hop_during_its_window():
    m = _line_model()
    s0, s4 = m.stop_index("l:S0"), m.stop_index("l:S4")
    h = _hop(m, "l:t1", 1)  # S1 → S2 for the R pattern (t1 and t2 share it)
    res = _query(m, [(s0, 8 * 3600)], [(s4, 0)], 2, mask=_mask(m, hops=[(h, 8 * 3600, 8 * 3600 + 600)])).pareto()
    assert res[0].arrival == 8 * 3600 + 900 + 4 * 120 + 3 * 30  # t1 is stopped, t2 runs after the window
    res = _query(m, [(s0, 8 * 3600)], [(m.stop_index("l:S1"), 0)], 2,
                 mask=_mask(m, hops=[(h, 8 * 3600, DAY)])).pareto()
    assert res[0].arrival == 8 * 3600 + 120  # riding up to the closed hop is fine


def test_footpaths_not_to_closed_stops():
    m = _line_model()
    s3, w = m.stop_index("l:S3"), m.stop_index("l:W")
    assert _query(m, [(s3, 8 * 3600)], [(w, 0)], 1).pareto()[0].rides == 0  # a walk
    assert not _query(m, [(s3, 8 * 3600)], [(w, 0)], 1, mask=_mask(m, stops=[(w, 0, DAY)])).pareto()


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
