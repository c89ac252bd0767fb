"""Closures over HTTP: JSON, CAP XML and GTFS-RT in, chosen by Content-Type; effect on /v1/plan with no rebuild;
listing, lifting, the GTFS-RT alerts feed; roles (disaster writes, operator only GTFS-RT for its own ids)."""
from __future__ import annotations

import orjson
import pytest
from google.transit import gtfs_realtime_pb2 as pb

from api_support import auth, client_for, services_for, tiny_tables, tiny_transit
from maas.disruptions.closure_store import MemoryClosureStore
from maas.services import closure_service
from maas.platform.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
D = auth("dis-jma")
PLAN = {"from": "test:A", "to": "test:C", "depart_at": "2026-11-24T07:50:00+09:00"}
CLOSE_B = {"id": "flood-b", "start": "2026-11-24T00:00:00+09:00", "targets": {"stops": ["test:B"]},
           "message": {"ja": "冠水", "en": "Flooding"}, "cause": "WEATHER"}

CAP = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>JMA-1</identifier><sender>jma.example</sender><sent>2026-11-24T06:00:00+09:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><category>Met</category><event>Flood</event><urgency>Immediate</urgency><severity>Severe</severity>
    <certainty>Observed</certainty><effective>2026-11-24T06:00:00+09:00</effective>
    <headline>Flood</headline>
    <area><areaDesc>Chuo</areaDesc><circle>35.6100,139.7100 0.2</circle></area></info>
</alert>"""


def gtfs_rt(stop: str, eid: str = "a1") -> bytes:
    msg = pb.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.incrementality = pb.FeedHeader.DIFFERENTIAL
    msg.header.timestamp = 1795000000
    ent = msg.entity.add()
    ent.id = eid
    ent.alert.informed_entity.add().stop_id = stop
    ent.alert.effect = pb.Alert.NO_SERVICE
    ent.alert.header_text.translation.add(text="closed", language="en")
    return msg.SerializeToString()


@pytest.fixture(scope="module")
def transit(tmp_path_factory):
    t = tiny_transit(tmp_path_factory.mktemp("api-closures"))
    yield t
    t.close()


@pytest.fixture
async def client(transit):
    services = services_for(transit, closures=closure_service(Settings(), transit, store=MemoryClosureStore()))
    async with client_for(services) as c:
        yield c
    transit.mask_provider = None


async def bus_departures(client) -> list[str]:
    r = await client.get("/v1/plan", params=PLAN, headers=auth("pk-alpha"))
    body = await r.json()
    if r.status == 409:  # no itinerary because of a closure: the problem names it (issue 14)
        assert body["type"].endswith("closed-by-closure") and body["closures"][0]["id"], body
        return []
    its = body["itineraries"]
    return sorted({leg["departure"][11:16] for it in its for leg in it["legs"] if leg["mode"] == "BUS"})


async def test_json_closure_takes_effect_and_lifts(client):
    assert "08:00" in await bus_departures(client)
    r = await client.post("/v1/closures", json=CLOSE_B, headers=D)
    assert r.status == 201, await r.text()
    body = await r.json()
    assert [c["id"] for c in body["accepted"]] == ["flood-b"] and body["version"] >= 1
    assert await bus_departures(client) == []  # every bus passes B: no bus itinerary any more
    listed = await (await client.get("/v1/closures", headers=auth("pk-alpha"))).json()
    assert [c["id"] for c in listed["closures"]] == ["flood-b"]
    assert [c["id"] for c in (await (await client.get("/v1/closures", params={"active": "true"},
                                                        headers=D)).json())["closures"]] == ["flood-b"]
    r = await client.delete("/v1/closures/flood-b", headers=D)
    assert r.status == 204
    assert "08:00" in await bus_departures(client)
    assert (await client.delete("/v1/closures/flood-b", headers=D)).status == 404


async def test_cap_xml_closure(client):
    r = await client.post("/v1/closures", data=CAP.encode(), headers={**D, "Content-Type": "application/cap+xml"})
    assert r.status == 201, await r.text()
    c = (await r.json())["accepted"][0]
    assert c["id"].startswith("cap:") and c["targets"]["areas"]
    assert await bus_departures(client) == []  # the circle covers B
    r = await client.post("/v1/closures", data=CAP.encode(), headers={**D, "Content-Type": "application/xml"})
    assert r.status == 201


async def test_alerts_feed_protobuf_and_json(client):
    await client.post("/v1/closures", json=CLOSE_B, headers=D)
    r = await client.get("/v1/alerts", headers=auth("pk-alpha"))
    assert r.status == 200 and r.content_type == "application/x-protobuf"
    msg = pb.FeedMessage()
    msg.ParseFromString(await r.read())
    assert [e.alert.informed_entity[0].stop_id for e in msg.entity] == ["test:B"]
    r = await client.get("/v1/alerts", headers={**auth("pk-alpha"), "Accept": "application/json"})
    body = await r.json()
    assert body["entity"][0]["alert"]["informed_entity"][0]["stop_id"] == "test:B"


async def test_operator_sends_gtfs_rt_for_its_own_ids_only(client):
    op = auth("op-test")
    r = await client.post("/v1/closures", data=gtfs_rt("B"), headers={**op, "Content-Type": "application/x-protobuf"})
    assert r.status == 201, await r.text()
    c = (await r.json())["accepted"][0]
    assert c["targets"]["stops"] == ["test:B"] and c["source"] == "operator:test"
    r = await client.post("/v1/closures", json=CLOSE_B, headers=op)
    assert r.status == 403  # JSON is for disaster systems
    other = auth("op-other")  # toei-bus: its ids are namespaced toei-bus:B, unknown here
    r = await client.post("/v1/closures", data=gtfs_rt("B", "x"),
                          headers={**other, "Content-Type": "application/x-protobuf"})
    assert r.status == 422
    r = await client.delete(f"/v1/closures/{c['id']}", headers=other)
    assert r.status == 403  # not its closure
    assert (await client.delete(f"/v1/closures/{c['id']}", headers=op)).status == 204


@pytest.mark.parametrize("data, ctype, status, field", [
    (orjson.dumps({**CLOSE_B, "targets": {"stops": ["test:NOPE"]}}), "application/json", 422, None),
    (orjson.dumps({"id": "x", "targets": {}}), "application/json", 422, "targets"),
    (b"{broken", "application/json", 422, "body"),
    (b"<alert>", "application/cap+xml", 422, None),
    (b"\x00\x01garbage", "application/x-protobuf", 422, None),
    (b"hello", "text/plain", 415, "Content-Type"),
    (b"", "application/json", 400, "body"),
])
async def test_bad_closures_are_refused_and_change_nothing(client, data, ctype, status, field):
    r = await client.post("/v1/closures", data=data, headers={**D, "Content-Type": ctype})
    problem = await r.json(content_type=None)
    assert r.status == status and r.content_type == "application/problem+json", problem
    if field:
        assert problem["field"] == field
    assert (await (await client.get("/v1/closures", headers=D)).json())["closures"] == []


async def test_closure_roles(client):
    r = await client.post("/v1/closures", json=CLOSE_B, headers=auth("pk-alpha"))
    assert r.status == 403
    assert (await client.delete("/v1/closures/x", headers=auth("pk-alpha"))).status == 403
    assert (await client.post("/v1/closures", json=CLOSE_B, headers=auth("adm-root"))).status == 201
    assert (await client.get("/v1/closures", params={"at": "soon"}, headers=D)).status == 422


@pytest.fixture(scope="module")
def spur(tmp_path_factory):
    """The tiny feed plus a platform C2 a walk from C, with a line of its own to and from A."""
    tables = tiny_tables()
    tables["stops"].append({"stop_id": "C2", "stop_name": "終点2番", "stop_lat": "35.6203", "stop_lon": "139.7203",
                            "location_type": "0", "parent_station": "", "wheelchair_boarding": ""})
    tables["routes"].append({**tables["routes"][0], "route_id": "R2", "route_short_name": "2"})
    for trip, rows in (("U1", (("A", "08:10:00"), ("C2", "08:20:00"))),
                       ("U2", (("C2", "11:00:00"), ("A", "11:10:00")))):
        tables["trips"].append({"route_id": "R2", "service_id": "WD", "trip_id": trip, "direction_id": "0"})
        tables["stop_times"] += [{"trip_id": trip, "arrival_time": t, "departure_time": t, "stop_id": s,
                                  "stop_sequence": str(i)} for i, (s, t) in enumerate(rows, start=1)]
    transit = tiny_transit(tmp_path_factory.mktemp("spur"), tables=tables)
    yield transit
    transit.close()


async def test_a_closure_with_no_end_leaves_no_way_in_or_out(spur):
    """A stop closed since days before, with no end, is reached by no ride and left by none: a walk that waits
    out the closure would wait past any horizon (such a plan answered with a ride on the last day within reach
    and a walk to C ending days after). With walks long enough for the direct one (so the plan is searched, not
    refused as cut off), the walk is the only answer. Lifted, the plans have their rides again."""
    services = services_for(spur, closures=closure_service(Settings(), spur, store=MemoryClosureStore()))
    to_c = {"from": "test:A", "to": "test:C", "depart_at": "2026-11-24T07:50:00+09:00", "max_walk_m": "5000"}
    from_c = {"from": "test:C", "to": "test:A", "arrive_by": "2026-11-24T12:00:00+09:00", "max_walk_m": "5000"}
    try:
        async with client_for(services) as c:
            async def rides(params) -> list[tuple[str, str]]:
                r = await c.get("/v1/plan", params=params, headers=auth("pk-alpha"))
                body = await r.json()
                assert r.status == 200 and body["itineraries"], body
                return sorted((it["departure"][:16], it["arrival"][:16]) for it in body["itineraries"]
                              if any(leg["mode"] != "WALK" for leg in it["legs"]))

            open_ = (await rides(to_c), await rides(from_c))
            assert ("2026-11-24T08:10", "2026-11-24T08:20") in open_[0], open_  # (U1 to C2, a walk to C)
            assert ("2026-11-24T10:59", "2026-11-24T11:10") in open_[1], open_  # (a walk from C to C2, U2)
            r = await c.post("/v1/closures", json={"id": "c-days", "start": "2026-11-18T00:00:00+09:00",
                                                   "targets": {"stops": ["test:C"]}, "cause": "WEATHER"}, headers=D)
            assert r.status == 201, await r.text()
            assert (await rides(to_c), await rides(from_c)) == ([], [])
            assert (await c.delete("/v1/closures/c-days", headers=D)).status == 204
            assert (await rides(to_c), await rides(from_c)) == open_
    finally:
        spur.mask_provider = None
