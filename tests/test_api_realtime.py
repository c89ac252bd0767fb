"""The realtime API: push (roles, formats, bad messages change nothing), status, vehicles, merged GTFS-RT feeds."""
from __future__ import annotations

import msgspec
import orjson
import pytest
from google.transit import gtfs_realtime_pb2 as pb

from api.models.realtime import IngestReport, RealtimeFeedMessage, RealtimeStatus, RealtimeStatusList, VehicleList
from api_support import auth, client_for, services_for, tiny_transit
from feeds.gtfs_rt import feed_json
from maas.disruptions.realtime import NetworkIndexes, RealtimeService
from realtime_support import T0, message

PB = "application/x-protobuf"
OP = auth("op-test")


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture(scope="module")
def transit(tmp_path_factory):
    t = tiny_transit(tmp_path_factory.mktemp("rt-api"))
    yield t
    t.close()


@pytest.fixture
async def client(transit):
    clock = Clock(float(T0))
    rt = RealtimeService(index_provider=NetworkIndexes(transit), clock=clock, max_age_s=300)
    services = services_for(transit, realtime=rt)
    async with client_for(services) as c:
        c.clock = clock
        yield c
    await rt.aclose()


def trips_msg(ts=T0, **kw):
    return message(ts, trips={"e1": ("T1", [(1, T0 + 60, T0 + 60), (2, T0 + 400, T0 + 400)], "SCHEDULED"),
                              "e2": ("T2", [(1, T0 + 3600, T0 + 3600)], "SCHEDULED")}, **kw)


async def post(client, msg, key="op-test", ctype=PB, op="test", **params):
    body = msg if isinstance(msg, bytes) else msg.SerializeToString()
    return await client.post(f"/v1/realtime/{op}", data=body, params=params,
                             headers={**auth(key), "Content-Type": ctype})


async def test_push_protobuf_and_json_and_read_back(client):
    r = await post(client, trips_msg())
    assert r.status == 200, await r.text()
    rep = msgspec.convert(await r.json(), IngestReport)
    assert rep.accepted and rep.matched_trip_updates == 2 and rep.streams == ["trip-updates"]
    veh = message(T0 + 5, vehicles={"bus1": ("T1", 35.6100, 139.7100, "B"), "bus2": (None, 35.6200, 139.7200, "C")})
    r = await post(client, orjson.dumps(feed_json(veh)), ctype="application/json")
    rep = msgspec.convert(await r.json(), IngestReport)
    assert rep.accepted and rep.vehicles == 2 and rep.vehicles_at_stops == 2

    st = msgspec.convert(await (await client.get("/v1/realtime/test", headers=OP)).json(), RealtimeStatus)
    assert st.streams["trip-updates"].entities == 2 and st.streams["vehicle-positions"].entities == 2
    assert st.accepted == 2 and not st.stale and st.last_message_at == T0

    body = await (await client.get("/v1/vehicles", headers=auth("pk-alpha"))).json()
    vl = msgspec.convert(body, VehicleList)
    assert vl.count == 2 and {v.id for v in vl.vehicles} == {"test:bus1", "test:bus2"}
    bus1 = next(v for v in vl.vehicles if v.id == "test:bus1")
    assert bus1.route_id == "test:R1" and bus1.stop.id == "test:B" and bus1.stop.distance_m < 1
    only = await (await client.get("/v1/vehicles", params={"route": "test:R1"}, headers=OP)).json()
    assert [v["id"] for v in only["vehicles"]] == ["test:bus1"]  # bus2 has no trip, so no route
    box = await (await client.get("/v1/vehicles", params={"bbox": "139.715,35.615,139.725,35.625"},
                                  headers=OP)).json()
    assert [v["id"] for v in box["vehicles"]] == ["test:bus2"]
    none = await (await client.get("/v1/vehicles", params={"operator": "toei-bus"}, headers=OP)).json()
    assert none["count"] == 0

    r = await client.get("/v1/gtfs-rt/trip-updates", headers=OP)
    assert r.status == 200 and r.content_type == PB
    feed = pb.FeedMessage()
    feed.ParseFromString(await r.read())
    assert sorted(e.id for e in feed.entity) == ["test:e1", "test:e2"]
    e1 = next(e for e in feed.entity if e.id == "test:e1").trip_update
    assert e1.trip.trip_id == "test:T1" and [s.arrival.time for s in e1.stop_time_update] == [T0 + 60, T0 + 400]
    js = await (await client.get("/v1/gtfs-rt/vehicle-positions", params={"format": "json"}, headers=OP)).json()
    msgspec.convert(js, RealtimeFeedMessage)
    assert sorted(e["id"] for e in js["entity"]) == ["test:bus1", "test:bus2"]
    r = await client.get("/v1/gtfs-rt/vehicle-positions", headers={**OP, "Accept": "application/json"})
    assert r.content_type == "application/json"


async def test_differential_out_of_order_and_expiry_through_the_api(client):
    await post(client, trips_msg())
    r = await post(client, message(T0 + 10, full=False, deleted=("e1",)))
    assert (await r.json())["accepted"]
    r = await post(client, trips_msg(T0 - 100))
    body = await r.json()
    assert r.status == 200 and body["ignored_out_of_order"] and not body["accepted"]
    feed = pb.FeedMessage()
    feed.ParseFromString(await (await client.get("/v1/gtfs-rt/trip-updates", headers=OP)).read())
    assert [e.id for e in feed.entity] == ["test:e2"]
    client.clock.t = T0 + 400  # older than max_age_s: back to the schedule
    st = await (await client.get("/v1/realtime/test", headers=OP)).json()
    assert st["stale"] and st["ignored_out_of_order"] == 1
    feed.ParseFromString(await (await client.get("/v1/gtfs-rt/trip-updates", headers=OP)).read())
    assert len(feed.entity) == 0
    assert (await (await client.get("/v1/vehicles", headers=OP)).json())["stale"] == ["test"]


async def test_old_vehicle_positions_are_left_out_while_the_feed_is_current(client):
    """The Toei bus feed repeats a bus's last position for minutes under a fresh header: a position whose own
    timestamp is older than max_age_s is left out of /v1/vehicles (counted in `expired`) and of the GTFS-RT feed."""
    veh = message(T0, vehicles={"bus1": ("T1", 35.6100, 139.7100, "B"), "bus2": (None, 35.6200, 139.7200, "C")})
    next(e for e in veh.entity if e.id == "bus1").vehicle.timestamp = T0 - 700  # 12 min old, header fresh
    next(e for e in veh.entity if e.id == "bus2").vehicle.timestamp = T0 - 10
    r = await post(client, veh)
    assert (await r.json())["accepted"]

    async def current() -> tuple[list[str], int, list[str]]:
        vl = msgspec.convert(await (await client.get("/v1/vehicles", headers=OP)).json(), VehicleList)
        assert vl.stale == [] and vl.count == len(vl.vehicles)
        feed = pb.FeedMessage()
        feed.ParseFromString(await (await client.get("/v1/gtfs-rt/vehicle-positions", headers=OP)).read())
        js = await (await client.get("/v1/gtfs-rt/vehicle-positions", params={"format": "json"}, headers=OP)).json()
        assert sorted(e["id"] for e in js.get("entity", [])) == sorted(e.id for e in feed.entity)
        return sorted(v.id for v in vl.vehicles), vl.expired, sorted(e.id for e in feed.entity)

    assert await current() == (["test:bus2"], 1, ["test:bus2"])
    client.clock.t = T0 + 280  # the header is still current (280 s), bus2's own position is 290 s old
    assert await current() == (["test:bus2"], 1, ["test:bus2"])
    client.clock.t = T0 + 295  # bus2's position is now 305 s old: gone from both, though the stream is current
    assert await current() == ([], 2, [])
    st = await (await client.get("/v1/realtime/test", headers=OP)).json()
    assert not st["stale"] and st["streams"]["vehicle-positions"]["entities"] == 2


async def test_every_operators_status_is_listed(client, transit):
    assert (await (await client.get("/v1/realtime", headers=auth("pk-alpha"))).json()) == {"operators": [],
                                                                                          "count": 0}
    await post(client, trips_msg())
    body = await (await client.get("/v1/realtime", headers=auth("pk-alpha"))).json()
    listing = msgspec.convert(body, RealtimeStatusList)
    one = await (await client.get("/v1/realtime/test", headers=OP)).json()
    assert listing.count == 1 and body["operators"] == [one]  # the same fields as the per-operator status
    assert listing.operators[0].streams["trip-updates"].entities == 2
    # a pull source with nothing received yet is listed too (its pulls say how it is doing)
    from maas.disruptions.realtime import PullSource, RealtimePuller

    rt = RealtimeService(index_provider=NetworkIndexes(transit), clock=client.clock, max_age_s=300)
    rt.puller = RealtimePuller(rt, [PullSource("zz-pulled", "https://example.org/rt?key=secret", 30.0)])
    async with client_for(services_for(transit, realtime=rt)) as other:
        body = await (await other.get("/v1/realtime", headers=OP)).json()
    await rt.aclose()
    [st] = msgspec.convert(body, RealtimeStatusList).operators
    assert st.operator == "zz-pulled" and not st.known and st.streams == {} and st.pulls[0].url.endswith("rt?…")


def _huge() -> bytes:
    msg = pb.FeedMessage()
    msg.header.gtfs_realtime_version, msg.header.timestamp = "2.0", T0
    for i in range(100_000):
        msg.entity.add(id=str(i), is_deleted=True)
    return msg.SerializeToString()


@pytest.mark.parametrize("body, ctype, status, field", [
    (b"\x0a\xff\xff\xff garbage", PB, 422, "body"),
    (b"{oops", "application/json", 422, "body"),
    (b"", PB, 400, "body"),
    (b"hello", "text/plain", 415, "Content-Type"),
    ("huge", PB, 422, "entity"),
    ("past", PB, 422, "header.timestamp"),
    ("future", "application/octet-stream", 422, "header.timestamp"),
])
async def test_bad_pushes_are_4xx_and_change_nothing(client, body, ctype, status, field):
    await post(client, trips_msg())
    before = await (await client.get("/v1/gtfs-rt/trip-updates", headers=OP)).read()
    if body == "huge":
        body = _huge()
    elif body == "past":
        body = trips_msg(T0 - 30 * 86400).SerializeToString()
    elif body == "future":
        body = trips_msg(T0 + 7200).SerializeToString()
    r = await post(client, body, ctype=ctype)
    problem = await r.json(content_type=None)
    assert r.status == status and r.content_type == "application/problem+json", problem
    assert problem["field"] == field
    assert await (await client.get("/v1/gtfs-rt/trip-updates", headers=OP)).read() == before
    st = await (await client.get("/v1/realtime/test", headers=OP)).json()
    assert st["streams"]["trip-updates"]["entities"] == 2


async def test_roles_and_unknown_operators(client):
    assert (await post(client, trips_msg(), key="pk-alpha")).status == 403  # a partner may not push
    r = await post(client, trips_msg(), key="op-other")  # another operator's key
    assert r.status == 403 and (await r.json())["field"] == "operator"
    assert (await post(client, trips_msg(), key="adm-root")).status == 200  # admin: any operator
    r = await post(client, trips_msg(), key="adm-root", op="nobody")
    assert r.status == 404 and (await r.json())["field"] == "operator"
    assert (await post(client, trips_msg(), key="adm-root", op="bad:op")).status == 422
    assert (await client.get("/v1/realtime/nobody", headers=OP)).status == 404
    assert (await post(client, trips_msg(), feed="alerts")).status == 422
    r = await client.get("/v1/vehicles", params={"bbox": "1,2,3"}, headers=OP)
    assert r.status == 422 and (await r.json())["field"] == "bbox"
    r = await client.get("/v1/vehicles", params={"bbox": "10,50,0,40"}, headers=OP)
    assert r.status == 422
    r = await client.get("/v1/gtfs-rt/trip-updates", params={"format": "xml"}, headers=OP)
    assert r.status == 422 and (await r.json())["field"] == "format"
    assert (await client.get("/v1/vehicles")).status == 401
