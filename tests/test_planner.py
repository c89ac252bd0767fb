"""The planner: place resolution, itinerary JSON, range queries, arrive-by, filters, closures, threads."""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest

from feeds.feed import Network
from raptor_reference import Closures, plan_horizon
from routing.masks import ClosureMask
from routing.planner import PlanError, PlanOptions, Planner, SamePlace, Windows
from routing.timetable import build_model
from routing.walking import StraightLineWalker
from test_timetable import DATE, line_rows, make_feed

JST = dt.timezone(dt.timedelta(hours=9))


def at(h: int, m: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, 1, h, m, tzinfo=JST)


def _network() -> Network:
    # feed "sub": a line A0..A3 every 10 min from 08:00 (shaped), stations with en names; feed "bus": a bus
    # B0 → A3-station stop and a bookable shuttle; both feeds have a stop with bare id "X" (ambiguous).
    lat0, lon0 = 35.68, 139.70
    sub_stops = [{"id": "PA0", "lat": lat0, "lon": lon0, "location_type": 1, "name": "甲", "name_en": "Ko"},
                 {"id": "PA3", "lat": lat0, "lon": lon0 + 0.03, "location_type": 1, "name": "丁", "name_en": "Tei"}]
    sub_stops += [{"id": f"A{i}", "lat": lat0, "lon": lon0 + 0.01 * i, "name": n, "name_en": e,
                   "parent": p, "wheelchair": 1 if i != 2 else 2}
                  for i, (n, e, p) in enumerate([("甲", "Ko", "PA0"), ("乙", "Otsu", ""), ("丙", "Hei", ""),
                                                  ("丁", "Tei", "PA3")])]
    sub_stops += [{"id": "A3b", "lat": lat0 + 0.0005, "lon": lon0 + 0.03, "name": "丁", "name_en": "Tei",
                   "parent": "PA3"}, {"id": "X", "lat": lat0 + 0.05, "lon": lon0}]
    shape = [{"id": "shp", "lat": lat0 + (0.001 if k % 2 else 0), "lon": lon0 + 0.005 * k, "seq": k}
             for k in range(7)]
    trips, rows = [], []
    for j in range(6):
        tid = f"L{j}"
        trips.append({"id": tid, "route": "L", "shape": "shp", "headsign": "丁", "wheelchair": 1 if j % 2 else 2})
        rows += line_rows(tid, ["A0", "A1", "A2", "A3"], 8 * 3600 + 600 * j, hop=180, dwell=30)
    sub = make_feed("sub", sub_stops, [{"id": "L", "short": "L", "long": "Line", "color": "FF0000", "type": 1}],
                    trips, rows, shapes=shape)
    bus_stops = [{"id": "B0", "lat": lat0 - 0.01, "lon": lon0, "name": "戊", "name_en": "Bo"},
                 {"id": "B1", "lat": lat0 + 0.0006, "lon": lon0 + 0.0301, "name": "丁バス", "name_en": "Tei bus"},
                 {"id": "X", "lat": lat0 + 0.06, "lon": lon0}]
    bus_rows = line_rows("b1", ["B0", "B1"], 8 * 3600 + 300, hop=1500) + line_rows("s1", ["B0", "B1"], 9 * 3600, hop=900)
    bus = make_feed("bus", bus_stops, [{"id": "BR", "type": 3}, {"id": "SH", "type": 3}],
                    [{"id": "b1", "route": "BR"}, {"id": "s1", "route": "SH", "seats": 6}], bus_rows)
    return Network([sub, bus])


@pytest.fixture(scope="module")
def planner() -> Planner:
    model = build_model(_network(), DATE)
    return Planner(model, StraightLineWalker(model.stop_lat, model.stop_lon))


def test_resolve_places(planner):
    o = PlanOptions()
    assert planner.resolve("sub:A1", o).stop_id == "sub:A1"
    assert planner.resolve("A1", o).stop_id == "sub:A1"  # bare and unambiguous
    with pytest.raises(PlanError, match="ambiguous"):
        planner.resolve("X", o)
    tei = planner.resolve("Tei", o)  # English station name: every platform of the station
    assert sorted(planner.model.stop_ids[s] for s in tei.stops) == ["sub:A3", "sub:A3b"]
    assert sorted(planner.model.stop_ids[s] for s in planner.resolve("丁", o).stops) == ["sub:A3", "sub:A3b"]
    assert planner.resolve("sub:PA0", o).stops.tolist() == [planner.model.stop_index("sub:A0")]
    pt = planner.resolve("35.6801,139.7101", o)
    assert pt.is_point and planner.model.stop_index("sub:A1") in pt.stops.tolist()
    with pytest.raises(PlanError):
        planner.resolve("nowhere", o)
    with pytest.raises(PlanError):
        planner.resolve("135.0,139.0", o)


def test_bare_ids_are_tuples_of_every_stop_and_station_with_them(planner):
    """A bare id (namespace dropped) maps to every stop, and every station, with it, ascending, as a tuple (a list
    or a set each held ~3x the bytes); a bare station id names its station."""
    m, places = planner.model, planner.places
    for table, ids in ((places.stop_by_bare, m.stop_ids), (places.by_bare, m.station_ids)):
        want: dict = {}
        for i, sid in enumerate(ids):
            want.setdefault(sid.split(":", 1)[-1], []).append(i)
        assert table == {k: tuple(v) for k, v in want.items()}
        assert all(type(v) is tuple for v in table.values())
    assert places.stop_by_bare["X"] == (m.stop_index("sub:X"), m.stop_index("bus:X"))
    pa3 = planner.resolve("PA3", PlanOptions())
    assert sorted(m.stop_ids[s] for s in pa3.stops) == ["sub:A3", "sub:A3b"]


def test_itinerary_json_shape(planner):
    its = planner.plan("甲", "丁", at(7, 59), options=PlanOptions(num_itineraries=1))
    d = its[0].to_dict()
    assert d["departure"] == "2026-12-01T08:00:00+09:00" and d["arrival"] == "2026-12-01T08:10:00+09:00"
    assert d["duration_s"] == 600 and d["transfers"] == 0 and d["walking"] == "straight_line"
    leg = d["legs"][0]
    assert leg["mode"] == "SUBWAY" and leg["operator"] == "sub" and leg["trip_id"] == "sub:L0"
    assert leg["route"] == {"id": "sub:L", "short_name": "L", "long_name": "Line", "color": "FF0000",
                            "text_color": "", "type": 1}
    assert leg["agency"]["id"] == "sub:A" and leg["service_date"] == "2026-12-01" and leg["headsign"] == "丁"
    assert leg["from"]["stop_id"] == "sub:A0" and leg["from"]["name_en"] == "Ko" and leg["from"]["sequence"] == 1
    assert [s["stop_id"] for s in leg["intermediate_stops"]] == ["sub:A1", "sub:A2"]
    assert leg["intermediate_stops"][0]["departure"] == "2026-12-01T08:03:30+09:00"
    coords = leg["geometry"]["coordinates"]
    assert len(coords) == 7 and coords[0] == [139.7, 35.68]  # from shapes.txt, not the 4 stops
    assert leg["booking_required"] is False and leg["distance_m"] > 2500
    assert len(d["id"]) == 16


def test_coordinates_give_walking_legs(planner):
    its = planner.plan("35.6802,139.7002", "35.6803,139.7299", at(8, 0), options=PlanOptions(num_itineraries=1))
    legs = its[0].to_dict()["legs"]
    assert [leg["mode"] for leg in legs] == ["WALK", "SUBWAY", "WALK"]
    assert "stop_id" not in legs[0]["from"] and legs[0]["to"]["stop_id"] == "sub:A0"
    assert legs[0]["arrival"] <= legs[1]["departure"] and legs[1]["arrival"] <= legs[2]["departure"]
    assert its[0].walk_distance_m == pytest.approx(legs[0]["distance_m"] + legs[2]["distance_m"], abs=0.2)
    short = planner.plan("35.6802,139.7002", "35.6810,139.7010", at(8, 0))
    assert short[0].legs[0].mode == "WALK" and len(short[0].legs) == 1  # a direct walk


_OUT_AND_BACK_STOPS = [
    {"id": "P", "lat": 35.68, "lon": 139.70, "location_type": 1, "name": "甲", "name_en": "Ko"},
    {"id": "P1", "lat": 35.68, "lon": 139.70, "name": "甲", "parent": "P"},
    {"id": "P2", "lat": 35.6805, "lon": 139.70, "name": "甲", "parent": "P"},
    {"id": "Q", "lat": 35.68, "lon": 139.71, "name": "乙", "name_en": "Otsu"}]


def _out_and_back() -> Planner:
    """Station 甲 (platforms P1, P2) and 乙 (Q, 900 m east): out P1 → Q and back Q → P2, every 10 min from 08:00."""
    trips, rows = [], []
    for j in range(6):
        trips += [{"id": f"o{j}", "route": "L"}, {"id": f"b{j}", "route": "L"}]
        rows += line_rows(f"o{j}", ["P1", "Q"], 8 * 3600 + 600 * j, hop=120)
        rows += line_rows(f"b{j}", ["Q", "P2"], 8 * 3600 + 300 + 600 * j, hop=120)
    model = build_model(Network([make_feed("f", _OUT_AND_BACK_STOPS, [{"id": "L", "type": 1}], trips, rows)]), DATE)
    return Planner(model, StraightLineWalker(model.stop_lat, model.stop_lon))


def test_one_station_to_itself_is_no_ride():
    """Between named places of one station nothing is ridden: the traveller is there. Before, 甲 → 甲 rode out to
    乙 and back (P1 08:00 → P2 08:07), and platform to platform gave that ride beside the walk."""
    p = _out_and_back()
    for o, d, arrive_by in [("甲", "甲", False), ("Ko", "f:P", True), ("f:P1", "f:P1", False)]:
        with pytest.raises(SamePlace, match="same station"):
            p.plan(o, d, at(8), arrive_by=arrive_by)
    for o, d in [("f:P", "f:P2"), ("f:P1", "f:P2"), ("f:P2", "甲")]:  # the walk between them, and nothing else
        for arrive_by in (False, True):
            its = p.plan(o, d, at(8, 30), arrive_by=arrive_by)
            assert [[leg.mode for leg in it.legs] for it in its] == [["WALK"]]
            assert its[0].legs[0].distance_m < 100
    with pytest.raises(SamePlace):  # no walk within the limit: still nothing to ride
        p.plan("f:P1", "f:P2", at(8), options=PlanOptions(max_walk_m=10))
    rides = p.plan("甲", "乙", at(8))  # other stations: rides as ever
    assert [leg.mode for leg in rides[0].legs] == ["SUBWAY"] and rides[0].to_dict()["departure"][11:16] == "08:00"
    # a loop line's ends are one station: no warm-up probe along it (it would ride nothing)
    loop = build_model(Network([make_feed("g", _OUT_AND_BACK_STOPS, [{"id": "L", "type": 1}],
                                          [{"id": "r0", "route": "L"}], line_rows("r0", ["P1", "Q", "P2"], 8 * 3600))]),
                       DATE)
    lp = Planner(loop, StraightLineWalker(loop.stop_lat, loop.stop_lon))
    assert lp.sample_trip() is None and lp.warm_up() == 0


def test_no_ride_that_takes_as_long_as_the_direct_walk():
    """The direct walk leaves when a journey does and arrives no later: such a journey is no answer beside it.
    Before, two points 55 m apart at 甲 got the walk and the ride out to 乙 and back (7 min). A ride faster than
    the walk stays."""
    p = _out_and_back()
    for arrive_by in (False, True):
        its = p.plan("35.68,139.70", "35.6805,139.70", at(8, 30), arrive_by=arrive_by)
        assert [[leg.mode for leg in it.legs] for it in its] == [["WALK"]]
    far = PlanOptions(max_walk_m=2000)  # 甲 → 乙 on foot: 900 m × 1.3 at 1.2 m/s, 16 min; the ride takes 2
    its = p.plan("35.68,139.70", "35.68,139.71", at(8, 30), options=far)
    assert [leg.mode for leg in its[0].legs] == ["WALK"] and its[0].duration_s > 900
    assert [[leg.mode for leg in it.legs] for it in its[1:]] == [["WALK", "SUBWAY", "WALK"]] * 3
    assert all(it.duration_s < its[0].duration_s for it in its[1:])


def test_range_query_gives_distinct_departures(planner):
    its = planner.plan("sub:A0", "sub:A3", at(8, 5), options=PlanOptions(num_itineraries=3))
    trips = [it.legs[0].trip_id for it in its]
    assert trips == ["sub:L1", "sub:L2", "sub:L3"]
    deps = [it.departure_s for it in its]
    assert deps == sorted(deps) and len(set(deps)) == 3


def test_arrive_by_latest_departure(planner):
    its = planner.plan("sub:A0", "sub:A3", at(8, 30), arrive_by=True, options=PlanOptions(num_itineraries=2))
    # L2 arrives 08:30, L1 08:20, L3 08:40: the latest departures arriving by 08:30
    assert [it.legs[0].trip_id for it in its] == ["sub:L1", "sub:L2"]
    assert all(it.arrival_s <= 8 * 3600 + 1800 for it in its)
    # nothing arrives by 08:05 that day: the backward search reaches the day before's trains (no fixed window)
    early = planner.plan("sub:A0", "sub:A3", at(8, 5), arrive_by=True)
    assert early and all(it.arrival_s <= 8 * 3600 + 300 and it.departure_s < 0 for it in early)
    assert early[0].to_dict()["legs"][0]["service_date"] == "2026-11-30"


def test_wheelchair_and_modes(planner):
    its = planner.plan("sub:A0", "sub:A3", at(8, 0), options=PlanOptions(wheelchair=True, num_itineraries=1))
    assert its[0].legs[0].trip_id == "sub:L1"  # L0 is not accessible
    # A2 is not accessible: no boarding or alighting there
    assert planner.plan("sub:A2", "sub:A3", at(8, 0), options=PlanOptions(wheelchair=True)) == []
    its = planner.plan("bus:B0", "丁", at(8, 0), options=PlanOptions(modes=["BUS"], num_itineraries=1))
    assert its[0].legs[0].mode == "BUS" and its[0].legs[0].trip_id == "bus:b1"
    assert planner.plan("bus:B0", "丁", at(8, 0), options=PlanOptions(modes=["SUBWAY"])) == []
    with pytest.raises(PlanError):
        planner.plan("bus:B0", "丁", at(8, 0), options=PlanOptions(modes=["HOVERCRAFT"]))


def test_shuttle_leg_needs_booking(planner):
    its = planner.plan("bus:B0", "bus:B1", at(8, 40), options=PlanOptions(num_itineraries=1))
    leg = its[0].to_dict()["legs"][0]
    assert leg["mode"] == "SHUTTLE" and leg["booking_required"] is True and leg["operator"] == "bus"


def test_closure_mask_reroutes(planner):
    m = planner.model
    mask = ClosureMask.open(m.n_stops, m.n_hops)
    sf, su = mask.stop_from.copy(), mask.stop_until.copy()
    a2 = m.stop_index("sub:A2")
    sf[a2], su[a2] = 0, 86400
    closed = ClosureMask(sf, su, mask.hop_from, mask.hop_until)
    # closed for the day: the search waits for the next morning's trains (its window spans midnight)
    its = planner.plan("sub:A0", "sub:A3", at(8, 0), mask=closed)
    assert its and all(it.departure_s >= 86400 for it in its)
    su[a2] = 3 * 86400
    assert planner.plan("sub:A0", "sub:A3", at(8, 0), mask=ClosureMask(sf, su, mask.hop_from, mask.hop_until)) == []
    its = planner.plan("sub:A0", "sub:A3", at(8, 0), mask=mask)  # an open mask changes nothing
    assert its[0].legs[0].trip_id == "sub:L0"


def test_a_walk_waiting_out_a_closure_past_the_horizon_makes_no_journey():
    """A stop closed to the end of the model's reach (a closure with no end, `closure_masks.model_window`) or
    since before its start (one that began days ago): the walk from the next platform to it waits out the closure,
    past the plan's horizon. Such a journey is no answer (it once arrived at the reach's end, four days on, after
    a ride on the last day within the horizon; arrive-by, it left before the day before). Open, both plans have
    their rides; closed for one morning, the walk waits for the reopening, as a person would."""
    from maas.disruptions.closure_masks import HI, LO
    from test_raptor import closure_mask

    stops = [{"id": "A", "lat": 35.60, "lon": 139.70}, {"id": "C", "lat": 35.62, "lon": 139.72},
             {"id": "C2", "lat": 35.6203, "lon": 139.7203}]
    rows = (line_rows("t1", ["A", "C"], 8 * 3600, hop=600) + line_rows("u1", ["A", "C2"], 8 * 3600 + 600, hop=600)
            + line_rows("u2", ["C2", "A"], 11 * 3600, hop=600))
    feed = make_feed("f", stops, [{"id": "R1", "type": 3}, {"id": "R2", "type": 3}],
                     [{"id": "t1", "route": "R1"}, {"id": "u1", "route": "R2"}, {"id": "u2", "route": "R2"}], rows)
    m = build_model(Network([feed]), DATE)
    p = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))

    def closed(since: int, until: int) -> ClosureMask:
        return closure_mask(m, Closures(stops={"f:C": (since, until)}))

    def times(frm, to, when, arrive_by=False, mask=None) -> list[tuple[int, int]]:
        return [(it.departure_s, it.arrival_s) for it in p.plan(frm, to, when, arrive_by=arrive_by, mask=mask)]

    assert (8 * 3600 + 600, 8 * 3600 + 1200 + 47) in times("f:A", "f:C", at(7, 50))  # (u1 to C2, 47 s to C)
    assert (11 * 3600 - 47, 11 * 3600 + 600) in times("f:C", "f:A", at(12), arrive_by=True)
    assert times("f:A", "f:C", at(7, 50), mask=closed(0, HI)) == []
    assert times("f:C", "f:A", at(12), arrive_by=True, mask=closed(LO, 12 * 3600)) == []
    # closed until 10:00: the 08:20 arrival at C2 waits there and reaches C as it opens; arrive-by leaves after
    assert (8 * 3600 + 600, 10 * 3600) in times("f:A", "f:C", at(7, 50), mask=closed(0, 10 * 3600))
    assert times("f:C", "f:A", at(12), arrive_by=True, mask=closed(0, 10 * 3600))[-1] == (11 * 3600 - 47,
                                                                                         11 * 3600 + 600)


def test_bad_options_and_dates(planner):
    with pytest.raises(PlanError):
        planner.plan("sub:A0", "sub:A3", at(8, 0), options=PlanOptions(max_transfers=-1))
    with pytest.raises(PlanError):
        planner.plan("sub:A0", "sub:A3", dt.datetime(2026, 12, 5, 8, 0, tzinfo=JST))


def test_thread_safe(planner):
    queries = [("sub:A0", "sub:A3", at(8, m)) for m in range(0, 60, 5)] * 4
    serial = [[it.to_dict() for it in planner.plan(o, d, w)] for o, d, w in queries]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda q: [it.to_dict() for it in planner.plan(*q)], queries))
    assert parallel == serial


def _random_case(seed: int):
    """A random network's model, planner, independent reference and a seeded random source."""
    import random

    from raptor_reference import Reference
    from routing.timetable import BuildSettings
    from test_raptor import random_world

    feed, _ = random_world(seed)
    net = Network([feed])
    m = build_model(net, DATE, BuildSettings())
    return m, Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon)), Reference(net, DATE), random.Random(seed)


@pytest.mark.parametrize("seed", range(12))
def test_arrive_by_is_latest_departure_on_random_networks(seed):
    """Arrive-by leaves at the latest time the independent reference can still make T (any day, no window; in-seat
    links followed backwards too)."""
    m, p, ref, rng = _random_case(seed)
    opts = PlanOptions(max_transfers=2, num_itineraries=1, max_walk_m=0)
    for _ in range(5):
        a, b = rng.sample(range(m.n_stops), 2)
        T = rng.choice([rng.randint(7 * 3600, 10 * 3600), rng.randint(0, 3600)])
        its = p.plan(m.stop_ids[a], m.stop_ids[b], at(0) + dt.timedelta(seconds=T), arrive_by=True, options=opts)
        rides = [it for it in its if any(leg.mode != "WALK" for leg in it.legs)]
        taus = ref.departures([(m.stop_ids[a], 0)], -2 * 86400, T)
        kw = dict(inseat=True, report_walks=False, horizon=plan_horizon(T), whole=True)
        latest = next((t for t in taus if ref.earliest([(m.stop_ids[a], t)], [(m.stop_ids[b], 0)], 3, **kw)[3] <= T),
                      None)
        if not rides:
            assert latest is None, (seed, a, b, T)
            continue
        assert rides[0].arrival_s <= T and rides[0].departure_s == latest, (seed, a, b, T)


@pytest.mark.parametrize("seed", range(12))
def test_depart_at_itineraries_could_not_leave_later(seed):
    """No itinerary could leave a second later and arrive as early with as many rides (reference check)."""
    m, p, ref, rng = _random_case(seed)
    opts = PlanOptions(max_transfers=2, max_walk_m=0)
    for _ in range(5):
        a, b = rng.sample(range(m.n_stops), 2)
        t = rng.choice([rng.randint(7 * 3600, 9 * 3600), rng.randint(23 * 3600, 86400)])
        for it in p.plan(m.stop_ids[a], m.stop_ids[b], at(0) + dt.timedelta(seconds=t), options=opts):
            rides = sum(1 for leg in it.legs if leg.mode != "WALK" and not leg.stay_seated)
            assert it.departure_s >= t
            later = ref.earliest([(m.stop_ids[a], it.departure_s + 1)], [(m.stop_ids[b], 0)], 3, report_walks=False,
                                 horizon=plan_horizon(t), whole=True)
            assert later[rides] > it.arrival_s, (seed, a, b, t, it.departure_s)



def test_early_stop_changes_no_answer(monkeypatch):
    """`_settled` stops the windows before the range's end when later ones cannot change the answer: on random
    networks the answers are those of searching to the end (depart-at and arrive-by), and the stop does happen."""
    import routing.planner as planner_module

    stopped = []
    settled = planner_module._settled

    def spy(*args):
        stopped.append(settled(*args))
        return stopped[-1]

    for seed in range(16):
        m, p, _ref, rng = _random_case(seed)
        cases = []
        for _ in range(8):
            a, b = rng.sample(range(m.n_stops), 2)
            t = rng.choice([rng.randint(6 * 3600, 10 * 3600), rng.randint(22 * 3600, 86400), rng.randint(0, 3600)])
            opts = PlanOptions(max_transfers=rng.choice([1, 2, 3]), num_itineraries=rng.choice([1, 2, 3]),
                               max_walk_m=rng.choice([0, 800]))
            cases.append((m.stop_ids[a], m.stop_ids[b], at(0) + dt.timedelta(seconds=t), rng.random() < 0.4, opts))
        monkeypatch.setattr(planner_module, "_settled", spy)
        got = [[it.to_dict() for it in p.plan(a, b, w, arrive_by=ab, options=o)] for a, b, w, ab, o in cases]
        monkeypatch.setattr(planner_module, "_settled", lambda *args: False)
        want = [[it.to_dict() for it in p.plan(a, b, w, arrive_by=ab, options=o)] for a, b, w, ab, o in cases]
        assert got == want, seed
    assert sum(stopped) > 10, stopped  # (only asked before the range's end: each True stopped early)


@pytest.mark.parametrize("range_s", [3300, 7200])
def test_arrive_by_stops_no_earlier_than_a_later_departure_allows(range_s):
    """Arrive-by's own early stop (`_settled`): by 12:00 (window 1: arrivals from 11:15), a slow direct line
    every 10 min (90 min) gives journeys leaving up to 10:30 that arrive in window 1; two fast ones with a change
    (20 min) leave at 10:50 and 10:45 and arrive at 11:11 and 11:06, before window 1. Window 1's first run (11:20)
    finds only the 10:50 one (the latest departure with two rides); the 10:45 one leaves after the third
    direct and arrives in range, so windows go on until it is found, and only that far: a first run's journey
    arriving before the range's end bounds none (``range_s`` 3300: the range ends at 11:05, between the two)."""
    stops = [{"id": s, "lat": 35.60 + 0.02 * i, "lon": 139.70} for i, s in enumerate(["A", "X", "B"])]
    trips, rows = [], []
    for k in range(21):  # direct A → B from 08:20, every 10 min, 90 min
        trips.append({"id": f"D{k}", "route": "D"})
        rows += line_rows(f"D{k}", ["A", "B"], 30000 + 600 * k, hop=5400)
    for k, (first, second) in enumerate([(38700, 39360), (39000, 39660)]):  # A → X, change, X → B
        trips += [{"id": f"F{k}", "route": "F"}, {"id": f"G{k}", "route": "G"}]
        rows += line_rows(f"F{k}", ["A", "X"], first, hop=600) + line_rows(f"G{k}", ["X", "B"], second, hop=600)
    feed = make_feed("w", stops, [{"id": r, "type": 2} for r in "DFG"], trips, rows)
    m = build_model(Network([feed]), DATE)
    p = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    opts = PlanOptions(range_window_s=range_s, max_walk_m=0)
    for first_s in (2700, 900, 6 * 3600):
        p.windows = Windows(first_s)
        its = p.plan("w:A", "w:B", at(12), arrive_by=True, options=opts)
        assert sorted(it.departure_s for it in its) == [37800, 38700, 39000], first_s


def test_skipping_to_the_first_later_journey_changes_no_answer(monkeypatch):
    """Depart-at windows after the first start at the first journey found from the last window's first run on when
    it is inside them, and the search ends when none was (`_first_later`, arrive-by too): on random and feeder
    networks (sparse onward routes: gaps of hours) the answers are those of windows where the schedule puts them,
    and the skip does happen."""
    import routing.planner as planner_module

    first_later = planner_module._first_later
    skipped = []

    def spy(front, fr):
        x = first_later(front, fr)
        skipped.append(x is None or x > fr)
        return x

    for seed in range(12):
        m, p, _ref, rng = (_random_case if seed % 2 else _feeder_case)(seed)
        cases = []
        for _ in range(8):
            a, b = rng.sample(range(m.n_stops), 2)
            t = rng.choice([rng.randint(5 * 3600, 10 * 3600), rng.randint(22 * 3600, 86400), rng.randint(0, 3600)])
            opts = PlanOptions(max_transfers=rng.choice([1, 2, 3]), num_itineraries=rng.choice([1, 2, 3]),
                               max_walk_m=rng.choice([0, 800]), range_window_s=rng.choice([900, 3600, 7200]))
            cases.append((m.stop_ids[a], m.stop_ids[b], at(0) + dt.timedelta(seconds=t), rng.random() < 0.3, opts))
        monkeypatch.setattr(planner_module, "_first_later", spy)
        got = [[it.to_dict() for it in p.plan(a, b, w, arrive_by=ab, options=o)] for a, b, w, ab, o in cases]
        monkeypatch.setattr(planner_module, "_first_later", lambda front, fr: fr)  # (never later than the schedule)
        want = [[it.to_dict() for it in p.plan(a, b, w, arrive_by=ab, options=o)] for a, b, w, ab, o in cases]
        assert got == want, seed
    assert sum(skipped) > 10, skipped


def _feeder_case(seed: int):
    """A random network where the latest departure for an arrival can lie hours after the first: frequent
    feeder lines (every 2–10 min for 1–3 h) into sparse onward routes (1–3 trips), some overtaking. The networks
    of `_random_case` have at most 6 trips a route spread over the day, so a chosen journey's latest departure was
    never more than the late search's 900 s from where it started: the "could not leave later" checks passed."""
    import random

    from raptor_reference import Reference
    from routing.timetable import BuildSettings

    rng = random.Random(1000 + seed)
    n = rng.randint(7, 11)
    stops = [{"id": f"S{i}", "lat": 35.60 + 0.01 * i + rng.random() * 0.003, "lon": 139.70 + rng.random() * 0.05}
             for i in range(n)]  # ≥ 800 m apart: no footpaths beyond the feed's
    ids = [s["id"] for s in stops]
    routes, trips, rows = [], [], []

    def add_trip(rid: str, tid: str, seq: list[str], start: int, hops: list[int]):
        trips.append({"id": tid, "route": rid, "service": "S"})
        t = start
        for k, s in enumerate(seq):
            rows.append({"trip": tid, "seq": k + 1, "stop": s, "arr": t, "dep": t})
            if k < len(seq) - 1:
                t += hops[k]

    for r in range(rng.randint(1, 3)):  # feeders
        rid = f"F{r}"
        routes.append({"id": rid, "type": 1})
        seq = rng.sample(ids, rng.randint(2, 4))
        hops = [rng.choice([60, 120, 300, 600]) for _ in seq[1:]]
        head, t0 = rng.choice([120, 300, 600]), rng.randint(6 * 3600, 8 * 3600)
        for j in range(rng.randint(600, 3 * 3600) // head + 1):
            slow = rng.random() < 0.2  # a slower run now and then (overtaken by the next)
            add_trip(rid, f"{rid}T{j}", seq, t0 + j * head, [h * (2 if slow else 1) for h in hops])
    for r in range(rng.randint(2, 5)):  # sparse onward routes
        rid = f"R{r}"
        routes.append({"id": rid, "type": rng.choice([1, 3])})
        seq = rng.sample(ids, rng.randint(2, 5))
        hops = [rng.choice([120, 300, 600, 1200]) for _ in seq[1:]]
        for j in range(rng.randint(1, 3)):
            add_trip(rid, f"{rid}T{j}", seq, rng.randint(7 * 3600, 11 * 3600), hops)
    feed = make_feed("f", stops, routes, trips, rows, services={"S": list(range(7))})
    net = Network([feed])
    m = build_model(net, DATE, BuildSettings())
    return m, Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon)), Reference(net, DATE), rng


@pytest.mark.parametrize("seed", range(16))
def test_no_itinerary_could_leave_later_on_feeder_networks(seed):
    """Depart-at and arrive-by, 1–3 itineraries: leaving a second later, the independent reference arrives
    strictly later with as many rides, and leaving when the itinerary does it arrives no earlier (each returned
    itinerary is Pareto-optimal over departure, arrival and rides, not just among the planner's own finds)."""
    m, p, ref, rng = _feeder_case(seed)
    checked = 0
    for _ in range(8):
        # (drawn in the feed's order, not the model's stop numbering: the same queries whatever the model does)
        a, b = (m.stop_index(x) for x in rng.sample(list(ref.stop_rows), 2))
        arrive_by = rng.random() < 0.4
        t = rng.randint(9 * 3600, 13 * 3600) if arrive_by else rng.randint(5 * 3600 + 1800, 9 * 3600)
        opts = PlanOptions(max_transfers=rng.choice([1, 2]), num_itineraries=rng.choice([1, 2, 3]), max_walk_m=0)
        k = opts.max_transfers + 1
        for it in p.plan(m.stop_ids[a], m.stop_ids[b], at(0) + dt.timedelta(seconds=t), arrive_by=arrive_by,
                         options=opts):
            rides = sum(1 for leg in it.legs if leg.mode != "WALK" and not leg.stay_seated)
            src, tgt = m.stop_ids[a], [(m.stop_ids[b], 0)]
            later = ref.earliest([(src, it.departure_s + 1)], tgt, k, inseat=True, report_walks=False,
                                 horizon=plan_horizon(t), whole=True)
            now = ref.earliest([(src, it.departure_s)], tgt, k, inseat=True, report_walks=False,
                               horizon=plan_horizon(t), whole=True)
            why = (seed, m.stop_ids[a], m.stop_ids[b], t, arrive_by, opts.num_itineraries, it.departure_s,
                   it.arrival_s, rides)
            assert later[rides] > it.arrival_s, why
            assert now[rides] == it.arrival_s, why
            checked += 1
    assert checked, seed
