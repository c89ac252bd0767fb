"""Closures in effect: masks over the model, the planner routing around them, the service, and storage."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from types import SimpleNamespace

import numpy as np
import orjson
import pytest
import shapely
from google.transit import gtfs_realtime_pb2 as pb

from feeds.closure_json import ClosureError, closure_to_json, parse_closure_json
from maas.disruptions.closure_masks import ClosureIndex, build_mask, hop_geometry
from maas.disruptions.closure_store import MemoryClosureStore, RedisClosureStore, SqliteClosureStore
from maas.disruptions.closures import ClosureService
from conftest import shared_file
from test_closure_parsers import cap_xml

JST = dt.timezone(dt.timedelta(hours=9))
DATE = dt.date(2026, 11, 24)
T7, T8, T12, T13 = (dt.datetime(2026, 11, 24, h, tzinfo=JST) for h in (7, 8, 12, 13))


# ------------------------------------------------------------------------------------------------ a tiny model

class FakeModel(SimpleNamespace):
    """Only the arrays the closure code reads (a subclass, so the service can hold a weak reference)."""


def fake_model() -> FakeModel:
    """Stops 0-1-2-3 on a line east-west (route R: 0→1→2→3 and back), stop 4 off the line; 1 and 4 form station
    S1. Pattern 0 has a shape bending north between stops 1 and 2."""
    lat = np.array([35.0, 35.0, 35.0, 35.0, 35.001])
    lon = np.array([139.00, 139.01, 139.02, 139.03, 139.01])
    return FakeModel(
        stop_ids=[f"t:{i}" for i in range(5)], stop_lat=lat, stop_lon=lon,
        stop_station=np.array([0, 1, 2, 3, 1], np.int32), station_ids=["t:S0", "t:S1", "t:S2", "t:S3"],
        station_stops_start=np.array([0, 1, 3, 4, 5], np.int32), station_stops=np.array([0, 1, 4, 2, 3], np.int32),
        route_ids=["t:R", "t:Q"], pattern_route=np.array([0, 0, 1], np.int32),
        pattern_stops_start=np.array([0, 4, 8, 10], np.int32),
        pattern_stops=np.array([0, 1, 2, 3, 3, 2, 1, 0, 4, 1], np.int32),
        pattern_trips_start=np.array([0, 1, 2, 3], np.int32), trip_ids=["a", "b", "c"],
        trip_shape=np.array([0, -1, -1], np.int32), shape_start=np.array([0, 5], np.int32),
        shape_lon=np.array([139.00, 139.01, 139.015, 139.02, 139.03]),
        shape_lat=np.array([35.0, 35.0, 35.01, 35.0, 35.0]), service_date=DATE)


def closure(targets: dict, start="2026-11-24T07:00:00+09:00", end="2026-11-24T12:00:00+09:00", **kw):
    return parse_closure_json(orjson.dumps({"targets": targets, "start": start, "end": end, **kw}))[0]


def blocked(fr, un) -> set[int]:
    return set(np.flatnonzero(fr != un).tolist())


def box(lon0, lat0, lon1, lat1) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1],
                                                [lon0, lat0]]]}


def test_mask_stop_station_route_segment():
    m = fake_model()
    mk = build_mask(m, [closure({"stations": ["t:S1"]})], DATE)
    assert blocked(mk.stop_from, mk.stop_until) == {1, 4} and not blocked(mk.hop_from, mk.hop_until)
    assert mk.stop_from[1] == 7 * 3600 and mk.stop_until[1] == 12 * 3600
    mk = build_mask(m, [closure({"routes": ["t:R"]})], DATE)
    assert blocked(mk.hop_from, mk.hop_until) == {0, 1, 2, 4, 5, 6}  # every hop of R, not the last positions
    mk = build_mask(m, [closure({"segments": [{"route": "t:R", "from_stop": "t:1", "to_stop": "t:2"}]})], DATE)
    assert blocked(mk.hop_from, mk.hop_until) == {1, 5}  # both directions
    assert not blocked(mk.stop_from, mk.stop_until)


def test_mask_area_uses_shape_geometry_for_hops():
    m = fake_model()
    north = closure({"areas": [box(139.013, 35.008, 139.017, 35.012)]})  # only the shape's bend is inside
    mk = build_mask(m, [north], DATE)
    assert not blocked(mk.stop_from, mk.stop_until)
    assert blocked(mk.hop_from, mk.hop_until) == {1}  # pattern 0's hop 1→2 bends through; pattern 1 is straight
    g = hop_geometry(m)
    assert g.valid.tolist() == [True, True, True, False, True, True, True, False, True, False]
    around_2 = closure({"areas": [{"type": "Circle", "center": [139.02, 35.0], "radius_m": 100}]})
    mk = build_mask(m, [around_2], DATE)
    assert blocked(mk.stop_from, mk.stop_until) == {2}
    assert blocked(mk.hop_from, mk.hop_until) == {1, 2, 4, 5}  # every hop into or out of stop 2


def test_hop_geometry_of_another_day_reuses_its_lines_where_the_patterns_are_the_same():
    """Another service day's model with other patterns (here: one more, the first ones in another order) gets the
    same hop lines as its own build, those of the patterns both days have being the other day's objects."""
    m1 = fake_model()
    g1 = hop_geometry(m1)
    m2 = fake_model()  # patterns: 2 (Q), a new one R 0→1→2, 0 (R east, shaped), 1 (R west)
    m2.pattern_route = np.array([1, 0, 0, 0], np.int32)
    m2.pattern_stops_start = np.array([0, 2, 5, 9, 13], np.int32)
    m2.pattern_stops = np.array([4, 1, 0, 1, 2, 0, 1, 2, 3, 3, 2, 1, 0], np.int32)
    m2.pattern_trips_start = np.array([0, 1, 2, 3, 4], np.int32)
    m2.trip_shape = np.array([-1, -1, 0, -1], np.int32)
    own = hop_geometry(m2)
    shared = hop_geometry(m2, (m1, g1))
    assert own.valid.tolist() == shared.valid.tolist() and own.ids.tolist() == shared.ids.tolist()
    assert all(a.equals_exact(b, 0.0) for a, b in zip(own.tree.geometries, shared.tree.geometries))
    reused = {id(g) for g in g1.tree.geometries}
    assert [id(g) in reused for g in shared.tree.geometries] == [True] + [False] * 2 + [True] * 6
    assert not any(id(g) in reused for g in own.tree.geometries)


def test_mask_windows_merge_clip_and_effects():
    m = fake_model()
    a = closure({"stops": ["t:0"]}, start="2026-11-24T07:00:00+09:00", end="2026-11-24T08:00:00+09:00")
    b = closure({"stops": ["t:0"]}, start="2026-11-24T10:00:00+09:00", end="2026-11-24T11:00:00+09:00")
    mk = build_mask(m, [a, b], DATE)
    assert (mk.stop_from[0], mk.stop_until[0]) == (7 * 3600, 11 * 3600)  # covering window: conservative
    early = closure({"stops": ["t:1"]}, start="2026-11-20T00:00:00+09:00", end=None)
    mk = build_mask(m, [early], DATE)
    assert mk.stop_from[1] == -86400 and mk.stop_until[1] == 4 * 86400  # clipped to the model's reach
    tomorrow = closure({"stops": ["t:1"]}, start="2026-11-28T00:00:00+09:00", end=None)
    assert build_mask(m, [tomorrow], DATE).empty
    reduced = closure({"routes": ["t:R"]}, effect="REDUCED_SERVICE")
    detour = closure({"routes": ["t:R"], "stops": ["t:3"]}, effect="DETOUR")
    assert build_mask(m, [reduced], DATE).empty
    mk = build_mask(m, [detour], DATE)
    assert blocked(mk.stop_from, mk.stop_until) == {3} and not blocked(mk.hop_from, mk.hop_until)


def test_mask_street_edges_from_walker():
    class Streets:
        def edges_within(self, polygon):
            mids = shapely.points([139.005, 139.015, 139.025], [35.0, 35.0, 35.0])
            return shapely.intersects(polygon, mids)

    m = fake_model()
    walk = closure({"walk_areas": [box(139.010, 34.99, 139.020, 35.01)]})
    mk = ClosureIndex(m, Streets()).mask([(walk, 0)], DATE)
    assert mk.street_edge_closed.tolist() == [False, True, False]
    assert not blocked(mk.stop_from, mk.stop_until)  # streets only: transit untouched


def test_unknown_ids_are_refused_with_the_field():
    idx = ClosureIndex(fake_model())
    for targets, field in (({"stops": ["t:0", "t:99"]}, "targets.stops[1]"),
                           ({"routes": ["t:X"]}, "targets.routes[0]"),
                           ({"stations": ["t:nope"]}, "targets.stations[0]"),
                           ({"segments": [{"route": "t:R", "from_stop": "t:0", "to_stop": "t:3"}]},
                            "targets.segments[0]")):
        with pytest.raises(ClosureError) as e:
            idx.check(closure(targets))
        assert e.value.field == field


# ------------------------------------------------------------------------------------------------ the service

def service(model=None, store=None, now=T8) -> ClosureService:
    return ClosureService(store or MemoryClosureStore(), (lambda: model) if model is not None else None,
                          clock=lambda: now)


async def test_accept_lift_and_version():
    m = fake_model()
    svc = service(m)
    body = orjson.dumps({"id": "c1", "targets": {"stops": ["t:2"]}, "start": "2026-11-24T07:00:00+09:00"})
    r = await svc.accept(body, "application/json")
    assert r.version == 1 and svc.version == 1 and [c.id for c in svc.list_active()] == ["c1"]
    mk = svc.mask_for(m)
    assert blocked(mk.stop_from, mk.stop_until) == {2}
    assert svc.mask_for(m) is mk  # cached until the version changes
    assert await svc.lift("c1") and svc.version == 2
    assert svc.mask_for(m) is None and not await svc.lift("c1")


@pytest.mark.parametrize("payload,ctype", [
    (orjson.dumps({"targets": {"stops": ["t:404"]}}), "application/json"),
    (b"<alert", "application/cap+xml"),
    (b"\xde\xad\xbe\xef", "application/x-protobuf"),
    (b"{}", "image/png"),
    (b"x" * 2_000_000, "application/json"),
    (orjson.dumps({"targets": {"areas": [{"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1],
                                                                              [0, 0]]]}]}}), "application/json"),
])
async def test_bad_input_leaves_active_closures_unchanged(payload, ctype):
    m = fake_model()
    svc = service(m)
    await svc.accept(closure({"stops": ["t:1"]}))
    before = (svc.version, [closure_to_json(c) for c in svc.list_all()], await svc.store.load())
    with pytest.raises(ClosureError):
        await svc.accept(payload, ctype)
    assert (svc.version, [closure_to_json(c) for c in svc.list_all()], await svc.store.load()) == before


async def test_store_failure_changes_nothing():
    class Broken(MemoryClosureStore):
        async def apply(self, puts, deletes):
            raise OSError("disk full")

    svc = service(fake_model(), Broken())
    with pytest.raises(OSError):
        await svc.accept(closure({"stops": ["t:1"]}))
    assert svc.version == 0 and svc.list_all() == []


async def test_cap_alert_update_cancel_sequence():
    svc = service(now=T8)
    sender = "bousai@metro.tokyo.jp"
    r1 = await svc.accept(cap_xml("EQ-1"), "application/cap+xml")
    (c1,) = r1.accepted
    assert [c.id for c in svc.list_active()] == [c1.id]
    update = cap_xml("EQ-2", "Update", refs=f"{sender},EQ-1,2026-11-24T06:55:00+09:00",
                     area="<circle>35.65687,139.754679 0.3</circle>")
    r2 = await svc.accept(update, "application/cap+xml")
    (c2,) = r2.accepted
    assert r2.lifted == (c1.id,) and [c.id for c in svc.list_active()] == [c2.id]
    assert c2.areas[0].circle is not None and c2.cap.supersedes == ("EQ-1",)
    # a Cancel naming only the original alert still lifts its update (the chain)
    r3 = await svc.accept(cap_xml("EQ-3", "Cancel", refs=f"{sender},EQ-1,2026-11-24T06:55:00+09:00"),
                          "application/cap+xml")
    assert r3.lifted == (c2.id,) and svc.list_active() == []


async def test_gtfsrt_no_service_on_route_and_stop_through_service():
    m = fake_model()
    svc = service(m)
    msg = pb.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    for eid, kind, val in (("r", "route_id", "R"), ("s", "stop_id", "4")):
        ent = msg.entity.add()
        ent.id = eid
        setattr(ent.alert.informed_entity.add(), kind, val)
        ent.alert.effect = pb.Alert.NO_SERVICE
    r = await svc.accept(msg.SerializeToString(), "application/x-protobuf", namespace="t")
    assert len(r.accepted) == 2
    mk = svc.mask_for(m)
    assert blocked(mk.stop_from, mk.stop_until) == {4}
    assert blocked(mk.hop_from, mk.hop_until) == {0, 1, 2, 4, 5, 6}
    # another operator's full feed leaves these alone; the next full dataset without the route alert lifts it
    other = pb.FeedMessage()
    other.header.gtfs_realtime_version = "2.0"
    r = await svc.accept(other.SerializeToString(), "application/x-protobuf", namespace="u")
    assert r.lifted == () and len(svc.list_all()) == 2
    del msg.entity[0]
    r = await svc.accept(msg.SerializeToString(), "application/x-protobuf", namespace="t")
    assert r.lifted == ("gtfs-rt:t:r",) and [c.id for c in svc.list_all()] == ["gtfs-rt:t:s"]
    feed = pb.FeedMessage.FromString(svc.alerts(m).SerializeToString())
    assert [e.alert.informed_entity[0].stop_id for e in feed.entity] == ["t:4"]


async def test_area_alert_lists_stops_inside_in_gtfsrt_output():
    m = fake_model()
    svc = service(m)
    await svc.accept(closure({"areas": [{"type": "Circle", "center": [139.02, 35.0], "radius_m": 100}]}))
    js = svc.alerts_json(m)
    ents = js["entity"][0]["alert"]["informed_entity"]
    assert {"stop_id": "t:2"} in ents and {"route_id": "t:R"} in ents


# ------------------------------------------------------------------------------------------------ storage

async def test_sqlite_store_survives_restart(tmp_path):
    path = tmp_path / "closures.sqlite3"
    svc = service(fake_model(), SqliteClosureStore(path))
    await svc.start()
    await svc.accept(closure({"stops": ["t:1"]}, id="keep"))
    await svc.accept(closure({"areas": [{"type": "Circle", "center": [139.02, 35.0], "radius_m": 100}]},
                             id="area"))
    await svc.lift("keep")
    await svc.aclose()
    again = service(fake_model(), SqliteClosureStore(path))
    await again.start()
    assert [c.id for c in again.list_all()] == ["area"]
    assert again.get("area").areas[0].circle.radius_m == 100
    await again.aclose()


async def test_every_kind_of_closure_round_trips_through_the_store(tmp_path):
    path = tmp_path / "closures.sqlite3"
    svc = service(None, SqliteClosureStore(path))
    msg = pb.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    ent = msg.entity.add()
    ent.id = "weird id with spaces"
    ent.alert.informed_entity.add().trip.trip_id = "T1"
    for start in (1_795_989_600, 1_795_999_600):
        p = ent.alert.active_period.add()
        p.start, p.end = start, start + 600
    await svc.accept(msg.SerializeToString(), "application/x-protobuf", namespace="t")
    await svc.accept(cap_xml("EQ-9"), "application/cap+xml")
    before = [closure_to_json(c) for c in svc.list_all()]
    assert len(before) == 3
    await svc.aclose()
    again = service(None, SqliteClosureStore(path))
    await again.start()
    assert [closure_to_json(c) for c in again.list_all()] == before
    await again.aclose()


async def _eventually(pred, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def _swallows_cancel(ignore_subscribe_messages=False, timeout=0.0):
    """redis-py's get_message when a cancel lands as its read time-out fires: the cancel is lost, None returned."""
    try:
        await asyncio.sleep(timeout)
    except asyncio.CancelledError:
        pass
    return None


@pytest.mark.parametrize("kind", ["closures", "realtime"])
async def test_redis_subscriber_stops_promptly_when_get_message_swallows_the_cancel(any_redis_url, kind):
    redis_url = any_redis_url
    from maas.disruptions.realtime_store import RedisRealtimeStore

    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    store = RedisClosureStore(redis_url, prefix) if kind == "closures" else RedisRealtimeStore(redis_url, prefix)
    calls = []

    async def on_change(*args):
        calls.append(args)

    await store.subscribe(on_change)
    store._listener.pubsub.get_message = _swallows_cancel
    task = store._listener.task
    await asyncio.sleep(0.2)  # the listener is inside get_message
    t0 = asyncio.get_running_loop().time()
    await asyncio.wait_for(store.aclose(), 10)  # a lost cancel used to hang here for ever
    assert asyncio.get_running_loop().time() - t0 < 2.5 and task.done()


async def test_redis_store_reaches_every_worker(any_redis_url):
    redis_url = any_redis_url  # one server, then the cluster (hash and version counter in one slot there)
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    m = fake_model()
    a = service(m, RedisClosureStore(redis_url, prefix))
    b = service(m, RedisClosureStore(redis_url, prefix))
    await a.start()
    await b.start()
    try:
        await a.accept(closure({"stops": ["t:3"]}, id="shared"))
        assert await _eventually(lambda: b.get("shared") is not None)
        mk = b.mask_for(m)
        assert blocked(mk.stop_from, mk.stop_until) == {3}
        await b.lift("shared")
        assert await _eventually(lambda: a.get("shared") is None)
        assert a.mask_for(m) is None
        # a change whose message was lost still arrives (version counter polled every second)
        lost = closure({"stops": ["t:2"]}, id="lost")
        await a.store._redis.hset(f"{prefix}closures", "lost", orjson.dumps(closure_to_json(lost)))
        await a.store._redis.incr(a.store.version_key)
        assert await _eventually(lambda: b.get("lost") is not None, timeout=4.0)
        await b.lift("lost")
        c = service(m, RedisClosureStore(redis_url, prefix))  # a restarted worker loads what is stored
        await a.accept(closure({"stops": ["t:0"]}, id="later"))
        await c.start()
        assert [x.id for x in c.list_all()] == ["later"]
        await c.aclose()
    finally:
        await a.store._redis.delete(f"{prefix}closures")
        await a.store._redis.delete(a.store.version_key)
        await a.aclose()
        await b.aclose()


# ------------------------------------------------------------------------------------------------ with the planner

def _visits(it: dict):
    """(stop_id, time) for every stop an itinerary boards, alights, passes or walks to/from."""
    for leg in it["legs"]:
        for end, key in (("from", "departure"), ("to", "arrival")):
            sid = leg[end].get("stop_id")
            if sid:
                yield sid, dt.datetime.fromisoformat(leg[key])
        for s in leg.get("intermediate_stops") or ():
            yield s["stop_id"], dt.datetime.fromisoformat(s.get("arrival") or s["departure"])


def _closed_touches(its: list[dict], closed: set[str], t0: dt.datetime, t1: dt.datetime) -> list:
    return [(sid, t) for it in its for sid, t in _visits(it) if sid in closed and t0 <= t < t1]


def _station_stops(model, stop_id: str) -> set[str]:
    st = model.stop_station[model.stop_index(stop_id)]
    a, b = model.station_stops_start[st], model.station_stops_start[st + 1]
    return {model.stop_ids[i] for i in model.station_stops[a:b]}


def _square_around(model, stop_id: str, half_m: float = 150.0) -> dict:
    i = model.stop_index(stop_id)
    lat, lon = float(model.stop_lat[i]), float(model.stop_lon[i])
    dlat, dlon = half_m / 111_320, half_m / (111_320 * np.cos(np.radians(lat)))
    return box(float(lon - dlon), lat - dlat, float(lon + dlon), lat + dlat)


@pytest.fixture(scope="module")
def transit():
    from maas.publishing.network import load_network
    from maas.transit import TransitService

    ts = TransitService(load_network([], None, progress=False), threads=1)
    yield ts
    ts.close()


@pytest.fixture(scope="module")
def sample_planner(transit):
    return transit.planner_for(DATE)


async def test_transit_service_query_right_after_accept(transit):
    """Through the real service path: mask_provider hooked in, a closure accepted, the very next query obeys."""
    m = transit.model_for(DATE)
    svc = service(m, now=T8)
    transit.mask_provider = svc.mask_for
    try:
        before = await transit.plan("toei-subway:A-01", "toei-subway:E-01", T8)
        assert _closed_touches(before, {"toei-subway:A-09"}, T7, T12)
        await svc.accept(closure({"stops": ["toei-subway:A-09"]}))
        during = await transit.plan("toei-subway:A-01", "toei-subway:E-01", T8)
        assert during and not _closed_touches(during, {"toei-subway:A-09"}, T7, T12)
        await svc.lift(svc.list_all()[0].id)
        assert _closed_touches(await transit.plan("toei-subway:A-01", "toei-subway:E-01", T8),
                               {"toei-subway:A-09"}, T7, T12)
    finally:
        transit.mask_provider = None


async def test_polygon_around_sample_station_routes_around_and_back(sample_planner):
    pl = sample_planner
    m = pl.model
    daimon = _station_stops(m, "toei-subway:A-09")
    assert daimon == {"toei-subway:A-09", "toei-subway:E-20"}
    before = [it.to_dict() for it in pl.plan("toei-subway:A-01", "toei-subway:E-01", T8)]
    assert _closed_touches(before, daimon, T7, T12)  # the usual route changes at Daimon
    svc = service(m, now=T8)
    svc.prepare(m, pl.walker)
    await svc.accept(closure({"areas": [_square_around(m, "toei-subway:A-09")]}, id="daimon"))
    mask = svc.mask_for(m, pl.walker)
    assert daimon <= {m.stop_ids[i] for i in blocked(mask.stop_from, mask.stop_until)}
    during = [it.to_dict() for it in pl.plan("toei-subway:A-01", "toei-subway:E-01", T8, mask=mask)]
    assert during and not _closed_touches(during, daimon, T7, T12)
    # after the window the planner may use Daimon again
    after = [it.to_dict() for it in pl.plan("toei-subway:A-01", "toei-subway:E-01", T13, mask=mask)]
    assert _closed_touches(after, daimon, T12, T13 + dt.timedelta(hours=3))
    await svc.lift("daimon")
    assert svc.mask_for(m, pl.walker) is None
    lifted = [it.to_dict() for it in pl.plan("toei-subway:A-01", "toei-subway:E-01", T8)]
    assert _closed_touches(lifted, daimon, T7, T12)


async def test_expired_closure_no_longer_masks(sample_planner):
    m = sample_planner.model
    svc = service(m, now=T13)
    await svc.accept(closure({"stations": ["toei-subway:A-09"]}, end="2026-11-24T12:00:00+09:00"))
    assert svc.mask_for(m) is None and svc.list_active() == []


def test_polygon_on_toei_rail_feed_routes_around():
    from feeds.feed import Network
    from feeds.gtfs import load_feed
    from routing.planner import Planner
    from routing.timetable import build_model
    from routing.walking import StraightLineWalker

    day = dt.date(2026, 12, 1)
    model = build_model(Network([load_feed(shared_file("toei-rail-gtfs.zip"), "toei")]), day)
    pl = Planner(model, StraightLineWalker(model.stop_lat, model.stop_lon))
    t7, t8, t12 = (dt.datetime(2026, 12, 1, h, tzinfo=JST) for h in (7, 8, 12))
    daimon = _station_stops(model, "toei:Toei.Oedo.Daimon")
    assert len(daimon) == 2
    o, d = "toei:Toei.Oedo.Hikarigaoka", "toei:Toei.Asakusa.Sengakuji"
    assert _closed_touches([it.to_dict() for it in pl.plan(o, d, t8)], daimon, t7, t12)
    c = closure({"areas": [_square_around(model, "toei:Toei.Oedo.Daimon", 200)]},
                start="2026-12-01T07:00:00+09:00", end="2026-12-01T12:00:00+09:00")
    mask = build_mask(model, [c], day)
    its = [it.to_dict() for it in pl.plan(o, d, t8, mask=mask)]
    assert its and not _closed_touches(its, daimon, t7, t12)
    assert all(it["legs"][-1]["to"].get("stop_id") == d for it in its)


def test_walk_area_closes_osm_street_edges_and_walks_avoid_it():
    from routing.streets import StreetNetwork

    lat, lon = np.array([35.6580, 35.6620]), np.array([139.7016, 139.7000])
    streets = StreetNetwork.from_osm_xml(shared_file("osm/tokyo-shibuya.osm"), lat, lon)
    m = FakeModel(stop_ids=["s:0", "s:1"], stop_lat=lat, stop_lon=lon, stop_station=np.array([0, 1], np.int32),
                  station_ids=["s:0", "s:1"], station_stops_start=np.array([0, 1, 2], np.int32),
                  station_stops=np.array([0, 1], np.int32), route_ids=["s:R"], pattern_route=np.array([0], np.int32),
                  pattern_stops_start=np.array([0, 2], np.int32), pattern_stops=np.array([0, 1], np.int32),
                  pattern_trips_start=np.array([0, 0], np.int32), service_date=DATE)
    area = box(139.7003, 35.6595, 139.7013, 35.6605)
    before = streets.path(35.6580, 139.7016, 35.6620, 139.7000)
    assert shapely.intersects(shapely.Polygon(area["coordinates"][0]), shapely.LineString(before.coords))
    mk = ClosureIndex(m, streets).mask([(closure({"walk_areas": [area]}), 0)], DATE)
    assert mk.street_edge_closed is not None and 10 < mk.street_edge_closed.sum() < streets.graph.n_edges // 10
    after = streets.with_closed_edges(mk.street_edge_closed).path(35.6580, 139.7016, 35.6620, 139.7000)
    assert after.distance_m > before.distance_m
    assert not shapely.intersects(shapely.Polygon(area["coordinates"][0]), shapely.LineString(after.coords))
