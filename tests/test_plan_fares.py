"""The plan path's fares (maas/pricing/plan_fares.py, remembered per journey) against the fare engine's uncached
`price_journey` over the same legs: every itinerary, party and medium, asked again, and when times matter."""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import random

import pytest

from feeds.feed import Network
from feeds.gtfs import load_feed
from feeds.sample import sample_feed_paths
from gtfs_builders import write_gtfs
from maas.pricing.plan_fares import MEMOS_KEPT, PlanFares, parse_riders, plan_legs
from maas.transit import TransitService
from operators.base import Passengers
from operators.catalog import default_profile, setup_for_feed
from operators.fare_engine import FareUnknown, OperatorFares, price_journey, times_matter
from routing.planner import PlanError, PlanOptions
from test_fares import v2_tables

PARTIES = ("adult:1", "adult:1,child:1", "child:2", "adult:2,child:3")


def reference(catalog, itinerary: dict, riders: Passengers, medium: str) -> dict:
    """What the plan path answered before it remembered fares: the engine on freshly parsed legs."""
    if not any(leg["mode"] != "WALK" for leg in itinerary["legs"]):
        return {"fare": {"total": 0, "currency": "JPY", "medium": medium, "riders": riders.to_dict(),
                         "per_operator": {}, "legs": [], "transfers": []}}
    try:
        return {"fare": price_journey(catalog, plan_legs(itinerary), riders, medium).to_dict()}
    except FareUnknown as err:
        return {"fare": None, "fare_unknown": err.reason}


@pytest.fixture(scope="module")
def sample():
    net = Network([load_feed(p, ns) for ns, p in sample_feed_paths().items()])
    svc = TransitService(net, threads=1)
    yield svc, {f.namespace: setup_for_feed(f).fares for f in net.feeds}
    svc.close()


def sample_plans(svc, seed: int, n: int):
    """The itineraries of up to ``n`` random station-to-station plans on the sample, in the day."""
    model = svc.planner_for(dt.date(2026, 12, 1)).model
    rng = random.Random(seed)
    stations = list(model.station_ids)
    for _ in range(n):
        a, b = rng.sample(stations, 2)
        try:
            yield svc.plan_sync(a, b, model.datetime_of(rng.randint(7 * 3600, 21 * 3600)), options=PlanOptions())
        except PlanError:
            continue


def test_sample_plans_priced_as_the_engine_prices_them_every_party_and_medium(sample):
    fares = PlanFares()
    svc, catalog = sample
    plans, priced, unknown = 0, 0, 0
    for its in sample_plans(svc, 3, 40):
        plans += 1
        for text in PARTIES:
            riders = parse_riders(text)
            for medium in ("ic", "ticket"):
                for _ in range(2):  # the second time from the memo
                    got = fares.add(catalog, copy.deepcopy(its), riders, medium)
                    for it, before in zip(got, its):
                        assert {k: it[k] for k in ("fare", "fare_unknown") if k in it} == \
                            reference(catalog, before, riders, medium)
                        priced += it["fare"] is not None and bool(it["fare"]["legs"])
                        unknown += it["fare"] is None
    assert plans >= 20 and priced > 0


def test_answers_are_fresh_dicts(sample):
    """A response may be changed in place (names, paging): the memo must not hand out its own objects."""
    fares = PlanFares()
    svc, catalog = sample
    a, b, dep, _ = svc.planner_for(dt.date(2026, 12, 1)).sample_trip()  # (two ends of a line: a ride)
    its = svc.plan_sync(a, b, dep, options=PlanOptions())
    ride = next(it for it in its if any(leg["mode"] != "WALK" for leg in it["legs"]))
    first = fares.itinerary_fare(catalog, ride, Passengers(1, 1), "ic")
    want = copy.deepcopy(first)
    if first["fare"] is not None:
        first["fare"]["legs"].clear()
        first["fare"]["per_operator"]["x"] = 1
    assert fares.itinerary_fare(catalog, ride, Passengers(1, 1), "ic") == want


def _spoil(fare: dict | None) -> None:
    """Change every dict and list of a fare answer in place."""
    if fare is None:
        return
    fare["total"] = -1
    fare["riders"]["adult"] = 99
    fare["per_operator"]["x"] = 1
    for leg in fare["legs"]:
        leg["amount"] = -1
    for t in fare["transfers"]:
        t["amount"] = -1
        t["split"]["x"] = 1
    fare["legs"].append({})
    fare["transfers"].append({})


def test_plan_answers_changed_in_place_leave_the_memo_alone(sample):
    """`PlanFares.add` answers from ready-made dicts: every dict and list of an answer (riders, per operator,
    legs, transfers and their splits) is the itinerary's own, so changing them does not change the next plan's."""
    fares = PlanFares()
    svc, catalog = sample
    checked = 0
    for its in sample_plans(svc, 5, 30):
        for text in PARTIES[:2]:
            riders = parse_riders(text)
            want = [it.get("fare") for it in fares.add(catalog, copy.deepcopy(its), riders, "ic")]
            want = copy.deepcopy(want)
            got = fares.add(catalog, copy.deepcopy(its), riders, "ic")
            assert [it.get("fare") for it in got] == want
            for it in got:
                _spoil(it["fare"])
            again = fares.add(catalog, copy.deepcopy(its), riders, "ic")
            assert [it.get("fare") for it in again] == want
            checked += sum(it["fare"] is not None and bool(it["fare"]["legs"]) for it in again)
    assert checked > 0


def _bus_itinerary(dep: str, arr: str, to: str = "B") -> dict:
    leg = {"mode": "BUS", "operator": "v2", "trip_id": "v2:T", "route": {"id": "v2:R1"},
           "service_date": "2026-11-24", "from": {"stop_id": "v2:A", "sequence": 1},
           "to": {"stop_id": f"v2:{to}", "sequence": 2}, "departure": f"2026-11-24T{dep}:00+09:00",
           "arrival": f"2026-11-24T{arr}:00+09:00", "distance_m": 3000}
    return {"legs": [{"mode": "WALK"}, leg]}


def test_times_are_part_of_the_journey_when_fares_depend_on_them(tmp_path):
    """Fares v2 with a peak timeframe: the same ride costs more at 08:30 than at 10:00, memo or not."""
    fares = PlanFares()
    catalog = {"v2": setup_for_feed(load_feed(write_gtfs(tmp_path / "f", v2_tables()), "v2")).fares}
    assert times_matter(catalog)
    for _ in range(2):
        off, peak = _bus_itinerary("10:00", "10:10"), _bus_itinerary("08:30", "08:40")
        assert fares.itinerary_fare(catalog, off, Passengers(1, 0), "ic")["fare"]["total"] == 200
        assert fares.itinerary_fare(catalog, peak, Passengers(1, 0), "ic")["fare"]["total"] == 300
        assert fares.itinerary_fare(catalog, _bus_itinerary("10:00", "10:20", "C"), Passengers(1, 0),
                                    "ic")["fare"]["total"] == 500


def test_fares_v2_every_party_and_medium_as_the_engine(tmp_path):
    """Timeframes, an area, a transfer discount for IC only and a child product: the memo answers as the engine."""
    fares = PlanFares()
    catalog = {"v2": setup_for_feed(load_feed(write_gtfs(tmp_path / "f", v2_tables()), "v2")).fares}
    two = _bus_itinerary("10:00", "10:10")
    back = copy.deepcopy(two["legs"][1])
    back.update({"from": {"stop_id": "v2:B"}, "to": {"stop_id": "v2:A"}, "departure": "2026-11-24T10:30:00+09:00",
                 "arrival": "2026-11-24T10:40:00+09:00"})
    two["legs"].append(back)
    for it in (two, _bus_itinerary("08:30", "08:40"), _bus_itinerary("10:00", "10:20", "C")):
        for _ in range(2):
            for text in PARTIES:
                for medium in ("ic", "ticket"):
                    riders = parse_riders(text)
                    assert fares.itinerary_fare(catalog, it, riders, medium) == \
                        reference(catalog, it, riders, medium)
    assert fares.itinerary_fare(catalog, two, Passengers(1, 1), "ic")["fare"]["transfers"][0]["adult_amount"] == \
        -50


def test_operators_that_price_nothing_answer_as_the_engine(sample):
    """An operator missing from the catalog, and one whose fares come from a feed without fare files: the plan path
    answers at once, with the engine's reason."""
    fares = PlanFares()
    svc, catalog = sample
    feed = svc.network.feeds[0]
    no_files = setup_for_feed(dataclasses.replace(feed, fares=None), default_profile(feed)).fares
    seen = 0
    for its in sample_plans(svc, 5, 15):
        for broken in ({k: v for k, v in catalog.items() if k != feed.namespace},
                       {**catalog, feed.namespace: no_files}):
            for it in its:
                for riders in (Passengers(1, 0), Passengers(1, 2)):
                    for _ in range(2):
                        want = reference(broken, it, riders, "ic")
                        assert fares.itinerary_fare(broken, it, riders, "ic") == want
                        seen += want["fare"] is None
    assert seen > 0


def test_one_memo_across_requests_that_wrap_the_same_tables_anew(sample):
    """``services.fares()`` builds new `OperatorFares` per request over the same profile and tables: one memo."""
    fares = PlanFares()
    svc, catalog = sample
    its = next(sample_plans(svc, 7, 10))
    fresh = lambda: {op: OperatorFares(of.profile, of.tables) for op, of in catalog.items()}  # noqa: E731
    fares.add(fresh(), copy.deepcopy(its), Passengers(1, 0), "ic")
    before = fares.memos()
    for _ in range(3):
        assert fares.add(fresh(), copy.deepcopy(its), Passengers(1, 0), "ic") == \
            fares.add(catalog, copy.deepcopy(its), Passengers(1, 0), "ic")
    assert fares.memos() == before


def test_memos_of_replaced_catalogs_are_dropped(sample):
    """Each publish swaps a profile or fare tables for new objects (a new memo): the memos of the catalogs
    replaced before the last one are dropped, with the fare tables they hold, so publishes do not pile up memory."""
    import gc
    import weakref

    fares = PlanFares()
    svc, catalog = sample
    its = next(sample_plans(svc, 7, 10))
    published = []
    for _ in range(MEMOS_KEPT + 3):  # a publish: the same fares in new profile objects
        published.append({op: OperatorFares(copy.copy(of.profile), of.tables) for op, of in catalog.items()})
        fares.add(published[-1], copy.deepcopy(its), Passengers(1, 0), "ic")
        assert fares.memos() <= MEMOS_KEPT
    first = weakref.ref(next(iter(published[0].values())).profile)
    published.clear()
    gc.collect()
    assert first() is None  # no memo holds the first publish's profile any more


def test_each_service_keeps_its_own_memos(sample):
    """The memos belong to the service that priced (no process-wide state): another service's publishes do not
    evict them, and a service's memos go with it."""
    import gc
    import weakref

    svc, catalog = sample
    its = next(sample_plans(svc, 7, 10))
    mine, other = PlanFares(), PlanFares()
    want = mine.add(catalog, copy.deepcopy(its), Passengers(1, 0), "ic")
    for _ in range(MEMOS_KEPT + 2):
        other.add({op: OperatorFares(copy.copy(of.profile), of.tables) for op, of in catalog.items()},
                  copy.deepcopy(its), Passengers(1, 0), "ic")
    assert mine.memos() == 1 and other.memos() <= MEMOS_KEPT
    assert mine.add(catalog, copy.deepcopy(its), Passengers(1, 0), "ic") == want
    gone = weakref.ref(other)
    del other
    gc.collect()
    assert gone() is None


def test_a_full_memo_keeps_the_journeys_asked_for_most_recently(sample, monkeypatch):
    """When the memo is full the least recently used journey goes, not the whole memo: a popular journey asked
    between new ones is priced once."""
    import maas.pricing.plan_fares as plan_fares

    svc, catalog = sample
    journeys = {}
    for its in sample_plans(svc, 11, 40):
        for it in its:
            if any(leg["mode"] != "WALK" for leg in it["legs"]):
                journeys.setdefault(plan_fares._journey_key(it, "ic", False), it)
    hot, *others = journeys.values()
    assert len(others) >= 8
    priced = []
    real = plan_fares.price_riders
    monkeypatch.setattr(plan_fares, "price_riders", lambda c, legs, m: priced.append(legs) or real(c, legs, m))
    monkeypatch.setattr(plan_fares, "MEMO_SIZE", 4)
    fares = PlanFares()
    for it in others:
        for one in (hot, it):
            got = fares.add(catalog, [copy.deepcopy(one)], Passengers(1, 0), "ic")[0]
            assert {k: got[k] for k in ("fare", "fare_unknown") if k in got} == \
                reference(catalog, one, Passengers(1, 0), "ic")
    assert len(priced) == 1 + len(others)  # the hot journey once, each other once
    assert len(fares._memos[next(iter(fares._memos))][2]) <= 4
