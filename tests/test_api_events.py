"""GET /v1/events: a partner's Server-Sent Events stream carries its own booking status changes, never
another partner's; wrong roles are refused; shutdown ends the stream."""
from __future__ import annotations

import asyncio

import pytest

from api_support import (auth, booking_client, booking_transit, client_for, read_events,  # noqa: F401
                         services_for, subscribe, tiny_transit)
from booking_support import GOOD_CARD, Clock, itinerary, make_service, subway_leg
from maas.store.embedded import EmbeddedStore

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def client(booking_client):
    return booking_client


async def test_partner_receives_its_own_booking_events_only(client):
    alpha, beta = await subscribe(client, "pk-alpha"), await subscribe(client, "pk-beta")
    o = await (await client.post("/v1/offers", json={"itinerary": itinerary(subway_leg())},
                                 headers=auth("pk-alpha"))).json()
    r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": GOOD_CARD}, headers=auth("pk-alpha"))
    booking = await r.json()
    events = await read_events(alpha, 2)
    assert [e[0] for e in events] == ["booking.status", "booking.status"]
    assert [e[1]["state"] for e in events] == ["PENDING", "CONFIRMED"]
    assert all(e[1]["booking_id"] == booking["id"] for e in events)
    with pytest.raises(TimeoutError):
        await read_events(beta, 1, timeout=0.8)
    alpha.close()
    beta.close()


async def test_events_roles(client):
    for key in ("op-test", "dis-jma"):
        r = await client.get("/v1/events", headers=auth(key))
        assert r.status == 403 and r.content_type == "application/problem+json"
    assert (await client.get("/v1/events")).status == 401


async def test_shutdown_ends_streams(client):
    from api.keys import EVENTS

    resp = await subscribe(client, "pk-alpha")
    client.app[EVENTS].closing.set()
    assert await read_events(resp, 1) == [("shutdown", {})]


async def test_closure_on_a_booked_trip_sends_disrupted_with_a_new_route(tmp_path):
    """Book the 08:00 bus, close a stop it passes until 08:30: the owner's stream gets `disrupted` with the
    09:00 bus as the alternative; another partner hears nothing."""
    from maas.disruptions.closure_store import MemoryClosureStore
    from maas.services import closure_service
    from maas.platform.settings import Settings
    from operators.catalog import FeedCatalog
    from operators.registry import OperatorRegistry

    ns = "shuttle-tiny"  # a shuttle namespace, so the registry books it with a default seat count
    transit = tiny_transit(tmp_path, ns)
    store = EmbeddedStore(":memory:")
    registry = OperatorRegistry(store, FeedCatalog(lambda: transit.network.feeds))
    clock = Clock()  # the booked day is "today" for bookings, closures and re-planning alike
    services = services_for(transit, bookings=make_service(store, clock, registry=registry, transit=transit), clock=clock,
                            closures=closure_service(Settings(), transit, store=MemoryClosureStore(), clock=clock))
    try:
        async with client_for(services) as client:
            q = {"from": f"{ns}:S", "to": f"{ns}:C", "depart_at": "2026-11-25T07:50:00+09:00", "num": "1"}
            it = (await (await client.get("/v1/plan", params=q, headers=auth("pk-alpha"))).json())["itineraries"][0]
            o = await (await client.post("/v1/offers", json={"itinerary": it}, headers=auth("pk-alpha"))).json()
            r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": GOOD_CARD},
                                  headers=auth("pk-alpha"))
            booking = await r.json()
            assert r.status == 201, booking
            for i in range(3):  # beta's bookings on the same bus, cancelled: off the index, never read again
                o = await (await client.post("/v1/offers", json={"itinerary": it}, headers=auth("pk-beta"))).json()
                r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": GOOD_CARD},
                                      headers=auth("pk-beta"))
                gone = await r.json()
                r = await client.post(f"/v1/bookings/{gone['id']}/cancel", headers=auth("pk-beta"))
                assert r.status == 200 and (await r.json())["state"] == "CANCELLED"
            reads: list[str] = []
            real_get = store.get

            async def counting_get(key: str):
                if key.startswith("booking:"):
                    reads.append(key)
                return await real_get(key)

            store.get = counting_get
            alpha, beta = await subscribe(client, "pk-alpha"), await subscribe(client, "pk-beta")
            closure = {"id": "b-closed", "start": "2026-11-25T07:00:00+09:00", "end": "2026-11-25T08:30:00+09:00",
                       "targets": {"stops": [f"{ns}:B"]}, "message": {"en": "fire"}}
            r = await client.post("/v1/closures", json=closure, headers=auth("dis-jma"))
            assert r.status == 201, await r.text()
            [(name, ev)] = await read_events(alpha, 1, timeout=10)
            assert name == "disrupted" and ev["booking_id"] == booking["id"]
            assert ev["closure"]["id"] == "b-closed" and ev["reason"].startswith(f"stop {ns}:B")
            rides = [leg for leg in ev["alternative"]["legs"] if leg["mode"] != "WALK"]
            assert rides and rides[0]["departure"] == "2026-11-25T09:00:00+09:00"
            with pytest.raises(TimeoutError):
                await read_events(beta, 1, timeout=0.8)
            assert reads == [f"booking:{booking['id']}"]  # the index led to the one traveller: no scan
            alpha.close()
            beta.close()
    finally:
        transit.mask_provider = None
        transit.close()
        await store.aclose()


async def test_streams_are_capped_per_key_and_per_worker(client):
    from api.keys import EVENTS

    hub = client.app[EVENTS]
    hub.per_key, hub.per_worker = 2, 3
    a1, a2 = await subscribe(client, "pk-alpha"), await subscribe(client, "pk-alpha")
    r = await client.get("/v1/events", headers=auth("pk-alpha"))
    body = await r.json(content_type=None)
    assert r.status == 429 and r.content_type == "application/problem+json" and "this key" in body["detail"]
    assert r.headers["Retry-After"]
    b1 = await subscribe(client, "pk-beta")  # another key still gets in, up to the worker's cap
    r = await client.get("/v1/events", headers=auth("pk-beta"))
    assert r.status == 429 and "this server" in (await r.json(content_type=None))["detail"]
    a1.close()
    for _ in range(50):  # the server notices the closed stream and frees its place
        if hub.by_key and sum(hub.by_key.values()) < 3:
            break
        await asyncio.sleep(0.1)
    a3 = await subscribe(client, "pk-alpha")
    for resp in (a2, b1, a3):
        resp.close()


def test_a_stream_that_stops_reading_is_dropped_not_buffered():
    from api.events import QUEUE_MAX, EventHub

    hub = EventHub()
    slow, fast = hub.listen("partner:a"), hub.listen("partner:a")
    for i in range(QUEUE_MAX):
        hub.dispatch("events:partner:a", str(i))
        fast.get_nowait()
    hub.dispatch("events:partner:a", "one too many")
    assert fast.get_nowait() == "one too many" and hub.listeners["partner:a"] == {fast}
    items = [slow.get_nowait() for _ in range(slow.qsize())]
    assert items[-1] is None and len(items) == QUEUE_MAX  # ends with the "you are dropped" marker
