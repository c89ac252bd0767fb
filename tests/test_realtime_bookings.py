"""Realtime in answers and bookings, end to end through the API: plans and boards on realtime times (a transfer a
delay breaks is not offered, a cancelled trip is struck out), stale realtime said so, and a booked two-leg
journey whose transfer a delay breaks (or whose trip is cancelled) gets `disrupted` with a feasible new route,
then `restored` when the delay recovers."""
from __future__ import annotations

import datetime as dt

import pytest

from api_support import auth, client_for, read_events, services_for, subscribe
from booking_support import GOOD_CARD, Clock
from feeds.feed import Network
from feeds.gtfs import load_feed
from feeds.gtfs_rt import RealtimeMessage, StopTimeUpdate, TripUpdate
from gtfs_builders import hms, write_gtfs

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NS = "shuttle-rt"  # a shuttle namespace: the registry books it with a default seat count
JST = dt.timezone(dt.timedelta(hours=9))
DAY = dt.date(2026, 11, 25)
T0 = dt.datetime(2026, 11, 25, 7, 50, tzinfo=JST)
EVERY = {d: "1" for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}


def tables() -> dict:
    """Line R1 A→B→C (08:00, 08:30), line R2 B→D→E (08:15, 08:18:30, 08:45): A→E is R1 08:00 then R2 08:15 at
    B. t1 8 min late reaches B at 08:18: u3 (08:18:30) is then too close for a change, u2 is next."""
    stops = [("A", 35.60, 139.70), ("B", 35.61, 139.71), ("C", 35.62, 139.72), ("D", 35.615, 139.73),
             ("E", 35.62, 139.74)]
    st = []
    for trip, seq, start in (("t1", "ABC", 8 * 3600), ("t2", "ABC", 8 * 3600 + 1800), ("u1", "BDE", 8 * 3600 + 900),
                             ("u3", "BDE", 8 * 3600 + 1110), ("u2", "BDE", 8 * 3600 + 2700)):
        for i, s in enumerate(seq):
            st.append({"trip_id": trip, "stop_id": s, "stop_sequence": str(i + 1),
                       "arrival_time": hms(start + 600 * i), "departure_time": hms(start + 600 * i)})
    return {
        "agency": [{"agency_id": "ag", "agency_name": "RT Test", "agency_url": "https://example.org",
                    "agency_timezone": "Asia/Tokyo", "agency_lang": "ja"}],
        "stops": [{"stop_id": s, "stop_name": f"停留所{s}", "stop_lat": str(la), "stop_lon": str(lo)}
                  for s, la, lo in stops],
        "routes": [{"route_id": r, "agency_id": "ag", "route_short_name": r, "route_long_name": "", "route_type": "3"}
                   for r in ("R1", "R2")],
        "trips": [{"route_id": "R1" if t[0] == "t" else "R2", "service_id": "ALL", "trip_id": t}
                  for t in ("t1", "t2", "u1", "u2", "u3")],
        "stop_times": st,
        "calendar": [{"service_id": "ALL", **EVERY, "start_date": "20260101", "end_date": "20271231"}],
        "fare_attributes": [{"fare_id": "F", "price": "150", "currency_type": "JPY", "payment_method": "0",
                             "transfers": ""}],  # one flat fare, so offers are priced
    }


def at(h: int, m: int) -> int:
    return int(dt.datetime(2026, 11, 25, h, m, tzinfo=JST).timestamp())


def message(*updates: TripUpdate, ts: int | None = None) -> RealtimeMessage:
    return RealtimeMessage(NS, ts or at(8, 5), True, tuple(updates), (), ())


def delayed(trip: str, seconds: int) -> TripUpdate:
    """A trip late by ``seconds`` from its first stop (a departure delay, propagated downstream)."""
    return TripUpdate(trip, f"{NS}:{trip}", None, None, "20261125", None, "SCHEDULED", None, at(8, 5),
                      (StopTimeUpdate(1, None, None, None, None, seconds, False, False),))


def cancelled(trip: str) -> TripUpdate:
    return TripUpdate(trip, f"{NS}:{trip}", None, None, "20261125", None, "CANCELED", None, at(8, 5), ())


@pytest.fixture
def world(tmp_path):
    from maas.disruptions.realtime import NetworkIndexes, RealtimeService
    from maas.store.embedded import EmbeddedStore
    from maas.transit import TransitService
    from operators.catalog import FeedCatalog
    from operators.registry import OperatorRegistry
    from booking_support import make_service

    transit = TransitService(Network([load_feed(write_gtfs(tmp_path / "feed", tables()), NS)]), threads=2)
    transit.planner_for(DAY)
    store = EmbeddedStore(":memory:")
    registry = OperatorRegistry(store, FeedCatalog(lambda: transit.network.feeds))
    clock = Clock(dt.datetime(2026, 11, 25, 7, 40, tzinfo=JST))
    box = {"now": float(at(8, 5))}
    realtime = RealtimeService(index_provider=NetworkIndexes(transit), clock=lambda: box["now"])
    services = services_for(transit, bookings=make_service(store, clock, registry=registry, transit=transit),
                            clock=clock, realtime=realtime)
    yield services, box
    transit.close()


async def _book(client, it: dict) -> dict:
    o = await (await client.post("/v1/offers", json={"itinerary": it}, headers=auth("pk-alpha"))).json()
    assert "id" in o, o
    r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": GOOD_CARD}, headers=auth("pk-alpha"))
    b = await r.json()
    assert r.status == 201 and b["state"] == "CONFIRMED", b
    return b


async def _plan(client, **q) -> list[dict]:
    q = {"from": f"{NS}:A", "to": f"{NS}:E", "depart_at": T0.isoformat(), "num": "2", **q}
    r = await client.get("/v1/plan", params=q, headers=auth("pk-alpha"))
    body = await r.json()
    assert r.status == 200, body
    return body


def _rides(it: dict) -> list[dict]:
    return [leg for leg in it["legs"] if leg["mode"] != "WALK"]


async def test_plan_and_board_on_realtime_times(world):
    services, box = world
    async with client_for(services) as client:
        body = await _plan(client)
        first = _rides(body["itineraries"][0])
        assert [leg["trip_id"] for leg in first] == [f"{NS}:t1", f"{NS}:u1"]
        assert first[0]["realtime"] is False and first[0]["delay_s"] == 0
        assert first[0]["scheduled_departure"] == first[0]["departure"]
        await services.realtime.apply(message(delayed("t1", 480), cancelled("t2")))
        await services.realtime.drain()
        body = await _plan(client)
        first = _rides(body["itineraries"][0])
        # t1 reaches B at 08:18, u1 left at 08:15: that transfer is not offered; u2 at 08:45 is
        assert [leg["trip_id"] for leg in first] == [f"{NS}:t1", f"{NS}:u2"]
        assert first[0]["departure"] == "2026-11-25T08:08:00+09:00" and first[0]["delay_s"] == 480
        assert first[0]["scheduled_departure"] == "2026-11-25T08:00:00+09:00" and first[0]["realtime"] is True
        assert first[0]["arrival"] == "2026-11-25T08:18:00+09:00" and first[0]["arrival_delay_s"] == 480
        assert first[1]["realtime"] is False and first[1]["delay_s"] == 0
        assert not any(leg["trip_id"] == f"{NS}:t2" for it in body["itineraries"] for leg in _rides(it))
        r = await client.get(f"/v1/stops/{NS}:A/departures", params={"at": T0.isoformat()},
                             headers=auth("pk-alpha"))
        board = await r.json()
        assert r.status == 200, board
        rows = {(d["trip_id"], d["status"]): d for d in board["departures"]}
        t1 = rows[(f"{NS}:t1", "scheduled")]
        assert t1["departure"] == "2026-11-25T08:08:00+09:00" and t1["delay_s"] == 480 and t1["realtime"] is True
        t2 = rows[(f"{NS}:t2", "cancelled")]  # struck out, at its scheduled time
        assert t2["departure"] == "2026-11-25T08:30:00+09:00" and t2["delay_s"] is None
        assert board["notices"] == []
        import msgspec
        from api.models.search import DeparturesResponse, PlanResponse

        msgspec.convert(board, DeparturesResponse)  # the typed models (OpenAPI) describe these answers
        msgspec.convert(body, PlanResponse)
        from api.models.search import Trip

        trip = await (await client.get(f"/v1/trips/{NS}:t1", params={"date": "2026-11-25"},
                                       headers=auth("pk-alpha"))).json()
        assert trip["realtime"] is True and trip["cancelled"] is False
        assert trip["stops"][0]["departure"] == "2026-11-25T08:08:00+09:00" and trip["stops"][0]["delay_s"] == 480
        assert trip["stops"][1]["scheduled_arrival"] == "2026-11-25T08:10:00+09:00"
        gone = await (await client.get(f"/v1/trips/{NS}:t2", params={"date": "2026-11-25"},
                                       headers=auth("pk-alpha"))).json()
        assert gone["cancelled"] is True and gone["stops"][0]["departure"] == "2026-11-25T08:30:00+09:00"
        msgspec.convert(trip, Trip)
        msgspec.convert(gone, Trip)
        box["now"] += 3600  # nothing new for an hour: the operator's realtime expires back to the schedule
        services.realtime.snapshot()
        await services.realtime.drain()
        body = await _plan(client)
        assert [n["code"] for n in body["notices"]] == ["realtime_stale"] and NS in body["notices"][0]["message"]
        first = _rides(body["itineraries"][0])
        assert [leg["trip_id"] for leg in first] == [f"{NS}:t1", f"{NS}:u1"] and first[0]["delay_s"] == 0


async def test_broken_transfer_is_disrupted_then_restored(world):
    services, box = world
    async with client_for(services) as client:
        it = (await _plan(client))["itineraries"][0]
        booking = await _book(client, it)
        alpha = await subscribe(client, "pk-alpha")
        await services.realtime.apply(message(delayed("t1", 60)))  # 1 min late: 4 min left at B, still fine
        await services.realtime.drain()
        with pytest.raises(TimeoutError):
            await read_events(alpha, 1, timeout=0.8)
        await services.realtime.apply(message(delayed("t1", 480), ts=at(8, 6)))
        await services.realtime.drain()
        [(name, ev)] = await read_events(alpha, 1, timeout=10)
        assert name == "disrupted" and ev["booking_id"] == booking["id"] and ev["cause"] == "realtime"
        assert ev["code"] == "missed_transfer" and ev["leg_index"] == 1 and f"{NS}:B" in ev["reason"]
        assert ev["position"] == {"place": f"{NS}:B", "time": "2026-11-25T08:18:00+09:00"}
        alt = _rides(ev["alternative"])
        assert alt[0]["trip_id"] == f"{NS}:u2" and alt[0]["from"]["stop_id"] == f"{NS}:B"
        assert alt[0]["departure"] >= "2026-11-25T08:19:00+09:00"  # feasible: after the change time (60 s)
        assert ev["alternative"]["arrival"] == "2026-11-25T09:05:00+09:00"
        assert ev["realtime"]["legs"][0]["arrival_delay_s"] == 480
        await services.realtime.apply(message(delayed("t1", 480), ts=at(8, 7)))  # the same state: not told again
        await services.realtime.drain()
        with pytest.raises(TimeoutError):
            await read_events(alpha, 1, timeout=0.8)
        await services.realtime.apply(message(delayed("t1", 0), ts=at(8, 8)))  # the delay recovered
        await services.realtime.drain()
        [(name, ev)] = await read_events(alpha, 1, timeout=10)
        assert name == "restored" and ev["booking_id"] == booking["id"] and ev["cause"] == "realtime"
        alpha.close()


async def test_booked_cancelled_trip_is_disrupted_with_an_alternative(world):
    services, box = world
    async with client_for(services) as client:
        it = (await _plan(client))["itineraries"][0]
        booking = await _book(client, it)
        beta_booking_free = await subscribe(client, "pk-beta")
        alpha = await subscribe(client, "pk-alpha")
        await services.realtime.apply(message(cancelled("u1")))
        await services.realtime.drain()
        [(name, ev)] = await read_events(alpha, 1, timeout=10)
        assert name == "disrupted" and ev["booking_id"] == booking["id"] and ev["code"] == "cancelled"
        assert ev["leg_index"] == 1 and "u1" in ev["reason"]
        alt = ev["alternative"]
        assert alt is not None and not any(leg.get("trip_id") == f"{NS}:u1" for leg in alt["legs"])
        assert _rides(alt)[-1]["trip_id"] == f"{NS}:u3" and alt["arrival"] == "2026-11-25T08:38:30+09:00"
        with pytest.raises(TimeoutError):
            await read_events(beta_booking_free, 1, timeout=0.8)
        r = await client.post("/v1/offers", json={"itinerary": it}, headers=auth("pk-beta"))
        problem = await r.json()  # the cancelled trip is not sold any more
        assert r.status == 409 and problem["type"].endswith("trip_cancelled") and "u1" in problem["detail"]
        alpha.close()
        beta_booking_free.close()


async def test_booked_stop_skipped_is_disrupted(world):
    services, box = world
    async with client_for(services) as client:
        booking = await _book(client, (await _plan(client))["itineraries"][0])
        alpha = await subscribe(client, "pk-alpha")
        skip_b = TripUpdate("t1", f"{NS}:t1", None, None, "20261125", None, "SCHEDULED", None, at(8, 5),
                            (StopTimeUpdate(2, None, None, None, None, None, True, False),))
        await services.realtime.apply(message(skip_b))
        await services.realtime.drain()
        [(name, ev)] = await read_events(alpha, 1, timeout=10)
        assert name == "disrupted" and ev["booking_id"] == booking["id"] and ev["code"] == "skipped_stop"
        assert ev["leg_index"] == 0 and f"{NS}:B" in ev["reason"]
        assert ev["alternative"] is not None and ev["alternative"]["legs"][0]["from"]["stop_id"] == f"{NS}:A"
        alpha.close()


FAR = "shuttle-far"  # a second operator, far from the first (no walk between them)


@pytest.fixture
def two_operators(tmp_path):
    from maas.disruptions.realtime import NetworkIndexes, RealtimeService
    from maas.transit import TransitService

    far = tables()
    far["stops"] = [{**s, "stop_lat": str(float(s["stop_lat"]) + 1.0)} for s in far["stops"]]
    transit = TransitService(Network([load_feed(write_gtfs(tmp_path / "feed", tables()), NS),
                                      load_feed(write_gtfs(tmp_path / "far", far), FAR)]), threads=2)
    transit.planner_for(DAY)
    box = {"now": float(at(8, 5))}
    realtime = RealtimeService(index_provider=NetworkIndexes(transit), clock=lambda: box["now"])
    yield services_for(transit, realtime=realtime), box
    transit.close()


async def test_stale_notices_name_only_the_operators_of_the_answer(two_operators):
    """One operator's realtime expired, the other's is current: only answers with the stale operator's trips
    (or a board at its stop) say so."""
    services, box = two_operators
    far_update = TripUpdate("t1", f"{FAR}:t1", None, None, "20261125", None, "SCHEDULED", None, at(8, 1),
                            (StopTimeUpdate(1, None, None, None, None, 60, False, False),))
    await services.realtime.apply(RealtimeMessage(FAR, at(8, 1), True, (far_update,), (), ()))
    await services.realtime.apply(message(delayed("t1", 60)))  # NS, header 08:05
    box["now"] = float(at(8, 7))  # FAR's header is 6 min old (> 300 s), NS's 2 min
    services.realtime.snapshot()
    await services.realtime.drain()
    assert services.realtime.snapshot().stale == frozenset({FAR})
    async with client_for(services) as client:
        body = await _plan(client)
        assert body["itineraries"] and all(leg["operator"] == NS for it in body["itineraries"] for leg in _rides(it))
        assert body["notices"] == []  # FAR's staleness says nothing about NS's trips
        body = await _plan(client, **{"from": f"{FAR}:A", "to": f"{FAR}:E"})
        assert body["itineraries"] and [n["code"] for n in body["notices"]] == ["realtime_stale"]
        assert FAR in body["notices"][0]["message"] and NS not in body["notices"][0]["message"].replace(FAR, "")
        for stop, expected in ((f"{NS}:A", []), (f"{FAR}:A", [FAR]), (f"{FAR}:E", [FAR])):  # E: no departures
            r = await client.get(f"/v1/stops/{stop}/departures", params={"at": T0.isoformat()},
                                 headers=auth("pk-alpha"))
            board = await r.json()
            assert r.status == 200, board
            assert [n["message"].split()[3] for n in board["notices"]] == expected, (stop, board["notices"])
