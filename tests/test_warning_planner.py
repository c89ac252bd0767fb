"""The warning-aware planner searches once in the common case: the unmasked plan is the answer when the warned
areas are not in the way, and no avoiding search runs when the areas cut origin and destination apart
(`maas.disruptions.reach`); the answers are those of the full rule (restricted plan, reference, much worse)."""
from __future__ import annotations

import datetime as dt

import pytest
import shapely

from conftest import shared_file
from feeds.closure_json import closure_from_dict
from feeds.jma_areas import MunicipalityAreas
from jma_support import JST, SHINJUKU, warning_xml
from maas.disruptions.avoid import WarningPlanner
from maas.disruptions.closure_masks import build_mask
from maas.disruptions.closures import ClosureService
from maas.disruptions.jma_intake import JmaIntake
from maas.disruptions.reach import Reach
from routing.planner import Planner
from tokyo_mini import DAY, STOPS, mini_transit

BUNKYO = ("1310500", "文京区")  # 春日 (KSG): the slow route's way round 新宿区
HACHIOJI = ("1320100", "八王子市")  # far from every stop of the mini network
T0 = dt.datetime(2026, 11, 24, 7, 0, tzinfo=JST)
AT = dt.datetime(2026, 11, 24, 8, 0, tzinfo=JST)
ARRIVE = dt.datetime(2026, 11, 24, 9, 30, tzinfo=JST)


@pytest.fixture(scope="module")
def areas():
    return MunicipalityAreas.load(shared_file("tokyo-municipalities.geojson"))


@pytest.fixture(scope="module")
def transit(tmp_path_factory, areas):
    point = {k: shapely.Point(lon, lat) for k, (_, lat, lon) in STOPS.items()}
    assert shapely.covers(areas.get(BUNKYO[0]).geometry, point["KSG"])
    assert not any(shapely.intersects(areas.get(HACHIOJI[0]).geometry, p) for p in point.values())
    t = mini_transit(tmp_path_factory.mktemp("warning-planner"))
    yield t
    t.close()


@pytest.fixture
def count_plans(monkeypatch):
    calls: list[bool] = []  # one entry per Planner.plan: was a mask given?
    real = Planner.plan

    def plan(self, *a, **kw):
        calls.append(kw.get("mask") is not None)
        return real(self, *a, **kw)

    monkeypatch.setattr(Planner, "plan", plan)
    return calls


async def warned(transit, areas, wards, issued: dt.datetime = T0) -> tuple[ClosureService, WarningPlanner]:
    svc = ClosureService(None, lambda: transit.model_for(DAY), clock=lambda: T0, jma=JmaIntake(areas))
    xml = warning_xml([(*w, [("大雨警報", "03", "発表")]) for w in wards], issued)
    assert (await svc.accept(xml.encode(), "application/xml")).accepted
    transit.mask_provider = svc.mask_for
    return svc, WarningPlanner(transit, svc)


def routes(its) -> list[str]:
    return [",".join(leg["route"]["id"] for leg in it["legs"] if leg["mode"] != "WALK") for it in its]


@pytest.mark.parametrize("arrive_by", [False, True])
async def test_areas_out_of_the_way_cost_one_search(transit, areas, count_plans, arrive_by):
    when = ARRIVE if arrive_by else AT
    plain = transit.planner_for(DAY).plan("mini:SBY", "mini:IKB", when, arrive_by=arrive_by)
    _, wp = await warned(transit, areas, [HACHIOJI])
    count_plans.clear()
    its = wp.plan_sync("mini:SBY", "mini:IKB", when, arrive_by=arrive_by)
    assert count_plans == [False]  # the unmasked plan only
    assert routes(its) == routes([it.to_dict() for it in plain])
    assert all(it["avoided"] == [] and it["warnings"] == [] and not it.get("enters_warning_area") for it in its)
    transit.mask_provider = None


@pytest.mark.parametrize("arrive_by", [False, True])
async def test_areas_that_cut_the_way_skip_the_avoiding_search(transit, areas, count_plans, arrive_by):
    when = ARRIVE if arrive_by else AT
    # in force since two days (arriving by a time, the previous day's trips are in reach too)
    svc, wp = await warned(transit, areas, [SHINJUKU, BUNKYO], T0 - dt.timedelta(days=2))
    planner = transit.planner_for(DAY)
    restrict = svc.mask_for(planner.model, planner.walker, restricting=True)
    # what the skipped search would have found: nothing stays out of both wards
    assert planner.plan("mini:SBY", "mini:IKB", when, arrive_by=arrive_by, mask=restrict) == []
    count_plans.clear()
    its = wp.plan_sync("mini:SBY", "mini:IKB", when, arrive_by=arrive_by)
    assert count_plans == [False]
    assert len(its) == 1 and its[0]["enters_warning_area"] is True and routes(its) == ["mini:FAST"]
    assert [w["id"] for w in its[0]["entered"]] == ["jma:warn:130000:1310400:03"]
    transit.mask_provider = None


async def test_areas_in_the_way_with_a_way_round_plan_both(transit, areas, count_plans):
    _, wp = await warned(transit, areas, [SHINJUKU])
    count_plans.clear()
    its = wp.plan_sync("mini:SBY", "mini:IKB", AT)
    assert count_plans == [False, True]  # the unmasked plan (the reference), then the avoiding one
    assert set(routes(its)) == {"mini:SLOW"} and [w["id"] for w in its[0]["avoided"]] == ["jma:warn:130000:1310400:03"]
    transit.mask_provider = None


def test_reach_components_follow_the_closure_windows(transit):
    model = transit.model_for(DAY)
    idx = {s: i for i, s in enumerate(model.stop_ids)}
    sby, ikb = [idx["mini:SBY"]], [idx["mini:IKB"]]
    t8 = model.seconds_of(AT)

    def mask(stops, start=None, end=None):
        body = {"id": "c", "targets": {"stops": stops}}
        body.update({k: v.isoformat() for k, v in (("start", start), ("end", end)) if v is not None})
        return build_mask(model, [closure_from_dict(body, now=T0)], DAY)

    reach = Reach()
    long_ago = T0 - dt.timedelta(days=2)
    assert not reach.apart(model, mask(["mini:TCM"], long_ago), t8, False, sby, ikb)  # the slow route is left
    both = mask(["mini:TCM", "mini:KSG"], long_ago)
    assert reach.apart(model, both, t8, False, sby, ikb) and reach.apart(model, both, t8, True, sby, ikb)
    assert reach.apart(model, both, t8, False, ikb, sby)  # whichever way round
    # closed since 07:00: leaving at 08:00 cannot get through, arriving by 08:00 can (the previous day's trips)
    today = mask(["mini:TCM", "mini:KSG"], T0)
    assert reach.apart(model, today, t8, False, sby, ikb) and not reach.apart(model, today, t8, True, sby, ikb)
    # closed only from 09:00: leaving at 08:00 may get through before
    later = mask(["mini:TCM", "mini:KSG"], AT + dt.timedelta(hours=1))
    assert not reach.apart(model, later, t8, False, sby, ikb) and not reach.apart(model, later, t8, True, sby, ikb)
    # closed until 09:00: leaving at 10:00 gets through, arriving by 08:30 does not
    until9 = mask(["mini:TCM", "mini:KSG"], long_ago, AT + dt.timedelta(hours=1))
    assert not reach.apart(model, until9, t8 + 7200, False, sby, ikb)
    assert reach.apart(model, until9, t8 + 1800, True, sby, ikb)
    # a closed stop is apart from everything, itself included
    assert reach.apart(model, both, t8, False, [idx["mini:TCM"]], [idx["mini:TCM"]])


def test_annotate_without_closures_matches_the_full_walk():
    """With nothing in force `annotate` skips the legs; what it writes is what the full walk over the legs writes
    when no closure touches them (one at a stop the itinerary never visits), keys in the same order."""
    import copy

    from zoneinfo import ZoneInfo

    from maas.disruptions.touches import TouchIndex, _Window

    far = closure_from_dict({"id": "far", "targets": {"stops": ["x:nowhere"]}, "start": T0.isoformat()}, now=T0)
    avoided = closure_from_dict({"id": "gone", "targets": {"stops": ["x:elsewhere"]}, "start": T0.isoformat()},
                                now=T0)
    walk = {"mode": "WALK", "from": {"stop_id": "a"}, "to": {"stop_id": "b"}, "departure": "2026-11-24T08:00:00+09:00",
            "arrival": "2026-11-24T08:05:00+09:00", "geometry": {"coordinates": [[139.7, 35.6], [139.71, 35.61]]}}
    ride = {"mode": "SUBWAY", "from": {"stop_id": "b"}, "to": {"stop_id": "c"}, "route": {"id": "r"},
            "intermediate_stops": [{"stop_id": "m", "arrival": "2026-11-24T08:08:00+09:00"}],
            "departure": "2026-11-24T08:06:00+09:00", "arrival": "2026-11-24T08:10:00+09:00"}
    it = {"legs": [walk, ride], "departure": walk["departure"], "arrival": ride["arrival"]}
    empty = TouchIndex([], {}, {}, None, [], [])
    full = TouchIndex([far], {"x:nowhere": [0]}, {("x:nowhere", "x:n2", "r"): [0]}, None, [],
                      [_Window(far, ZoneInfo("Asia/Tokyo"))])
    for given in ((), (avoided,)):
        fast, slow = empty.annotate(copy.deepcopy(it), given), full.annotate(copy.deepcopy(it), given)
        assert fast == slow and repr(fast) == repr(slow)
        assert len(fast["avoided"]) == len(given) and all(leg["warnings"] == [] for leg in fast["legs"])
