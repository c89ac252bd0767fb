"""GET /v1/plan, /v1/stops and /v1/stops/{id}/departures on a tiny real feed: good input, bad input
(422 naming the field), wrong role."""
from __future__ import annotations

import numpy as np
import pytest

from api_support import auth, client_for, services_for, tiny_transit
from routing.masks import ClosureMask

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
P = auth("pk-alpha")


@pytest.fixture(scope="module")
def transit(tmp_path_factory):
    t = tiny_transit(tmp_path_factory.mktemp("api-search"))
    yield t
    t.close()


@pytest.fixture
async def client(transit):
    transit.mask_provider = None
    async with client_for(services_for(transit)) as c:
        yield c
    transit.mask_provider = None


async def test_plan_station_to_stop(client):
    r = await client.get("/v1/plan", params={"from": "test:S", "to": "test:C",
                                              "depart_at": "2026-11-24T07:50:00+09:00"}, headers=P)
    assert r.status == 200, await r.text()
    its = (await r.json())["itineraries"]
    assert its and its[0]["departure"] == "2026-11-24T08:00:00+09:00"
    assert its[0]["arrival"] == "2026-11-24T08:10:00+09:00"
    assert [leg["mode"] for leg in its[0]["legs"] if leg["mode"] != "WALK"] == ["BUS"]


async def test_plan_arrive_by_and_coordinates(client):
    r = await client.get("/v1/plan", params={"from": "35.6001,139.7001", "to": "test:C",
                                              "arrive_by": "2026-11-24T09:30:00", "num": "1"}, headers=P)
    assert r.status == 200, await r.text()
    its = (await r.json())["itineraries"]
    assert len(its) == 1 and its[0]["arrival"] <= "2026-11-24T09:30:00+09:00"
    assert its[0]["arrival"] == "2026-11-24T09:10:00+09:00"  # the latest trip that still arrives in time


async def test_plan_operator_may_search_too(client):
    r = await client.get("/v1/plan", params={"from": "test:S", "to": "test:C",
                                              "depart_at": "2026-11-24T08:30:00+09:00"}, headers=auth("op-test"))
    assert r.status == 200 and (await r.json())["itineraries"][0]["departure"].endswith("09:00:00+09:00")


@pytest.mark.parametrize("params, field", [
    ({"to": "test:C"}, "from"),
    ({"from": "test:S"}, "to"),
    ({"from": "91,139", "to": "test:C"}, "from"),
    ({"from": "test:S", "to": "35.6,181"}, "to"),
    ({"from": "test:S", "to": "test:C", "depart_at": "tomorrow"}, "depart_at"),
    ({"from": "test:S", "to": "test:C", "num": "0"}, "num"),
    ({"from": "test:S", "to": "test:C", "num": "three"}, "num"),
    ({"from": "test:S", "to": "test:C", "max_transfers": "99"}, "max_transfers"),
    ({"from": "test:S", "to": "test:C", "max_walk_m": "nan"}, "max_walk_m"),
    ({"from": "test:S", "to": "test:C", "walk_speed": "0.01"}, "walk_speed"),
    ({"from": "test:S", "to": "test:C", "wheelchair": "maybe"}, "wheelchair"),
    ({"from": "test:S", "to": "test:C", "modes": "BUS,SPACESHIP"}, "modes"),
    ({"from": "test:S", "to": "test:C", "min_transfer_s": "-5"}, "min_transfer_s"),
    ({"from": "test:S", "to": "test:C", "depart": "2026-11-24T08:00:00+09:00"}, "depart"),  # (misspelt: not "now")
])
async def test_plan_bad_input_names_the_field(client, params, field):
    if "depart_at" not in params and "arrive_by" not in params:  # pin the day: "now" may be past the tiny feed
        params = {**params, "depart_at": "2026-11-24T08:00:00+09:00"}
    r = await client.get("/v1/plan", params=params, headers=P)
    assert r.status == 422, await r.text()
    assert r.content_type == "application/problem+json"
    body = await r.json(content_type=None)
    assert body["field"] == field and body["detail"]


@pytest.mark.parametrize("params, field", [
    ({"depart_at": "2031-01-01T08:00:00+09:00"}, "depart_at"),
    ({"depart_at": "2100-12-31T23:59:59-12:00"}, "depart_at"),
    ({"arrive_by": "2000-01-01T00:00:00+14:00"}, "arrive_by"),
])
async def test_plan_outside_the_timetables_is_empty_with_a_notice(client, params, field):
    """A date no timetable covers is a fine question with no trips: 200, no itineraries, a notice saying why."""
    r = await client.get("/v1/plan", params={"from": "test:S", "to": "test:C", **params}, headers=P)
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["itineraries"] == [] and body["notices"][0]["code"] == "outside_service_dates"
    assert body["notices"][0]["field"] == field


@pytest.mark.parametrize("place, field", [({"from": "test:NOPE", "to": "test:C"}, "from"),
                                          ({"from": "test:S", "to": "test:NOPE"}, "to")])
async def test_plan_unknown_place_is_404(client, place, field):
    r = await client.get("/v1/plan", params={**place, "depart_at": "2026-11-24T08:00:00+09:00"}, headers=P)
    body = await r.json(content_type=None)
    assert r.status == 404 and body["field"] == field and "suggestions" in body


async def test_plan_between_depart_at_and_arrive_by(client):
    """Both bounds: leave at or after depart_at, arrive by arrive_by."""
    q = {"from": "test:S", "to": "test:C", "depart_at": "2026-11-24T07:50:00+09:00"}
    r = await client.get("/v1/plan", params={**q, "arrive_by": "2026-11-24T09:30:00+09:00"}, headers=P)
    its = (await r.json())["itineraries"]
    rides = [it for it in its if any(leg["mode"] == "BUS" for leg in it["legs"])]
    assert r.status == 200 and rides and all(it["arrival"] <= "2026-11-24T09:30:00+09:00" for it in its)
    r = await client.get("/v1/plan", params={**q, "arrive_by": "2026-11-24T07:00:00+09:00"}, headers=P)
    body = await r.json()
    assert body["itineraries"] == [] and body["notices"][0]["code"] == "arrive_before_depart"


async def test_plan_within_one_station_rides_nothing(client):
    """A station to itself: no itinerary, a `same_place` notice (a valid question, not an error); the station to
    its platform: the walk between them, no ride."""
    q = {"from": "test:S", "to": "Eki", "depart_at": "2026-11-24T07:50:00+09:00"}
    r = await client.get("/v1/plan", params=q, headers=P)
    body = await r.json()
    assert r.status == 200 and body["itineraries"] == [] and body["page"] == {"earlier": None, "later": None}
    assert [(n["code"], n["field"]) for n in body["notices"]] == [("same_place", "to")]
    assert "same station" in body["notices"][0]["message"] and "test:S" in body["notices"][0]["message"]
    r = await client.get("/v1/plan", params={**q, "to": "test:A"}, headers=P)
    its = (await r.json())["itineraries"]
    assert r.status == 200 and [[leg["mode"] for leg in it["legs"]] for it in its] == [["WALK"]]
    assert its[0]["legs"][0]["to"]["stop_id"] == "test:A" and its[0]["legs"][0]["distance_m"] < 50


async def test_plan_respects_modes_and_closures(client, transit):
    q = {"from": "test:A", "to": "test:C", "depart_at": "2026-11-24T07:50:00+09:00"}
    r = await client.get("/v1/plan", params={**q, "modes": "SUBWAY"}, headers=P)
    assert r.status == 200 and all(all(leg["mode"] == "WALK" for leg in it["legs"])
                                   for it in (await r.json())["itineraries"])
    model = transit.model_for(transit_day())
    b = model.stop_index("test:B")
    stop_from, stop_until = np.zeros(model.n_stops, np.int32), np.zeros(model.n_stops, np.int32)
    stop_from[b], stop_until[b] = 7 * 3600, 8 * 3600 + 1800  # B closed 07:00-08:30: the 08:00 bus cannot pass
    mask = ClosureMask(stop_from, stop_until, np.zeros(model.n_hops, np.int32), np.zeros(model.n_hops, np.int32))
    transit.mask_provider = lambda m, w: mask
    its = (await (await client.get("/v1/plan", params=q, headers=P)).json())["itineraries"]
    rides = [leg for it in its for leg in it["legs"] if leg["mode"] == "BUS"]
    assert rides and all(leg["departure"] >= "2026-11-24T09:00:00+09:00" for leg in rides)


def transit_day():
    from api_support import DAY
    return DAY


@pytest.mark.parametrize("q, expected", [
    ("駅", ["test:S", "test:A"]),      # Japanese: the station first, then its platform
    ("eki", ["test:S", "test:A"]),     # the platform inherits its station's translations
    ("EKI", ["test:S", "test:A"]),
    ("chuo", ["test:B"]),              # macron folded
    ("ちゅうおう", ["test:B"]),         # hiragana query, katakana reading
    ("シュウテン", ["test:C"]),         # katakana query, hiragana reading
    ("zzz", []),
])
async def test_stops_by_name(client, q, expected):
    r = await client.get("/v1/stops", params={"q": q}, headers=P)
    assert r.status == 200
    assert [s["id"] for s in (await r.json())["stops"]] == expected


async def test_stops_without_query_browse_stations_first(client):
    r = await client.get("/v1/stops", params={"limit": "3"}, headers=P)
    stops = (await r.json())["stops"]
    assert r.status == 200 and [s["id"] for s in stops] == ["test:S", "test:A", "test:B"]


async def test_stops_near_sorted_by_distance(client):
    r = await client.get("/v1/stops", params={"near": "35.6100,139.7100", "radius": "2000"}, headers=P)
    stops = (await r.json())["stops"]
    assert stops[0]["id"] == "test:B" and stops[0]["distance_m"] < 1
    assert [s["distance_m"] for s in stops] == sorted(s["distance_m"] for s in stops)
    assert {s["id"] for s in stops} == {"test:B", "test:S", "test:A", "test:C"}
    r = await client.get("/v1/stops", params={"near": "35.6100,139.7100", "radius": "100"}, headers=P)
    assert [s["id"] for s in (await r.json())["stops"]] == ["test:B"]
    r = await client.get("/v1/stops", params={"near": "35.6100,139.7100", "radius": "5000", "q": "eki"}, headers=P)
    assert [s["id"] for s in (await r.json())["stops"]] == ["test:A", "test:S"]
    assert (await (await client.get("/v1/stops", params={"q": "eki"}, headers=auth("dis-jma"))).json())["stops"]


@pytest.mark.parametrize("params, field", [
    ({"near": "somewhere"}, "near"), ({"near": "35.6,139.7", "radius": "0"}, "radius"),
    ({"q": "eki", "limit": "1000"}, "limit"), ({"q": "x" * 101}, "q"),
])
async def test_stops_bad_input(client, params, field):
    r = await client.get("/v1/stops", params=params, headers=P)
    assert r.status == 422 and (await r.json(content_type=None))["field"] == field


async def test_departures_of_a_station_and_its_closures(client, transit):
    at = {"at": "2026-11-24T07:30:00+09:00"}
    r = await client.get("/v1/stops/test:S/departures", params=at, headers=P)
    body = await r.json()
    assert r.status == 200, body
    assert [d["departure"][11:19] for d in body["departures"]] == ["08:00:00", "09:00:00"]
    first = body["departures"][0]
    assert first["stop_id"] == "test:A" and first["trip_id"] == "test:T1" and first["mode"] == "BUS"
    assert first["route"]["short_name"] == "1" and first["operator"] == "test" and first["status"] == "scheduled"
    r = await client.get("/v1/stops/test:C/departures", params=at, headers=P)
    assert (await r.json())["departures"] == []  # terminus: arrivals only
    r = await client.get("/v1/stops/test:B/departures", params={**at, "window_min": "60"}, headers=P)
    assert [d["departure"][11:16] for d in (await r.json())["departures"]] == ["08:05"]

    model = transit.model_for(transit_day())
    hop_from, hop_until = np.zeros(model.n_hops, np.int32), np.zeros(model.n_hops, np.int32)
    hop_from[:], hop_until[:] = 8 * 3600, 8 * 3600 + 600  # every hop closed 08:00-08:10
    z = np.zeros(model.n_stops, np.int32)
    transit.mask_provider = lambda m, w: ClosureMask(z, z, hop_from, hop_until)
    deps = (await (await client.get("/v1/stops/test:S/departures", params=at, headers=P)).json())["departures"]
    assert [d["status"] for d in deps] == ["closed", "scheduled"]
    assert deps[0]["closure"] == {"stop": False, "next_hop": True, "next_stop_id": "test:B"}


@pytest.mark.parametrize("path, params, status, field", [
    ("/v1/stops/test:NOPE/departures", {}, 404, "id"),
    ("/v1/stops/test:S/departures", {"at": "noon"}, 422, "at"),
    ("/v1/stops/test:S/departures", {"window_min": "0"}, 422, "window_min"),
    ("/v1/stops/test:S/departures", {"limit": "x"}, 422, "limit"),
])
async def test_departures_bad_input(client, path, params, status, field):
    params = {"at": "2026-11-24T07:30:00+09:00", **params}  # pin the day: "now" may be past the tiny feed
    r = await client.get(path, params=params, headers=P)
    assert r.status == status and (await r.json(content_type=None))["field"] == field


async def test_search_wrong_role(client):
    r = await client.get("/v1/stops/test:S/departures", params={"at": "2026-11-24T07:30:00+09:00"},
                         headers=auth("adm-root"))
    assert r.status == 200  # admin may do everything
    r = await client.get("/v1/plan", params={"from": "test:S", "to": "test:C"}, headers=auth("dis-jma"))
    assert r.status == 403


@pytest.mark.parametrize("path, params, field", [
    ("/v1/stops", {"q": "S", "limt": "5"}, "limt"),  # misspelt: would have been ignored
    ("/v1/plan", {"from": "test:S", "to": "test:C", "departure": "2026-11-24T08:00:00+09:00"}, "departure"),
    ("/openapi.json", {"x": "1"}, "x"),
])
async def test_a_query_parameter_no_endpoint_lists_is_a_422_naming_it(client, path, params, field):
    """Every endpoint takes the query parameters its OpenAPI operation lists, and only those."""
    r = await client.get(path, params=params, headers=P)
    assert r.status == 422, await r.text()
    body = await r.json(content_type=None)
    assert body["field"] == field and f"unknown query parameter {field!r}" in body["detail"]
