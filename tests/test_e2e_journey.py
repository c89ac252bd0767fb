"""End to end on the built-in sample, as a partner app lives it: plan a subway + bus + shuttle journey, buy it with
one payment, a disaster closure hits the shuttle, the traveller gets `disrupted` with a new route, cancels, is
refunded, and each operator's settlement shows it."""
from __future__ import annotations

import datetime as dt

import pytest

from api_support import TOKYO, auth, client_for, read_events, services_for, subscribe
from booking_support import GOOD_CARD, Clock
from maas.disruptions.closure_store import MemoryClosureStore
from maas.publishing.network import load_network
from maas.services import booking_service, closure_service
from maas.platform.settings import Settings
from maas.store.embedded import EmbeddedStore
from maas.transit import TransitService

DAY = "2026-11-25"  # a Wednesday: weekday service everywhere
P, OTHER = auth("pk-alpha"), auth("pk-beta")


@pytest.fixture(scope="module")
def transit(tmp_path_factory):
    t = TransitService(load_network([], cache_dir=tmp_path_factory.mktemp("sample"), progress=False))
    yield t
    t.close()


@pytest.fixture
async def client(transit):
    clock = Clock(dt.datetime(2026, 11, 25, 8, 0, tzinfo=TOKYO))
    store = EmbeddedStore(":memory:")
    services = services_for(transit, clock=clock,
                            bookings=booking_service(Settings(), transit, store=store, clock=clock),
                            closures=closure_service(Settings(), transit, store=MemoryClosureStore(), clock=clock))
    async with client_for(services) as c:
        yield c
    await store.aclose()


async def test_plan_book_disrupt_cancel_refund_settle(client):
    # 1. plan: Shinjuku Central Park (Nishi-Shinjuku shuttle) → Ariake (Bay Area shuttle)
    q = {"from": "shuttle-nishishinjuku:NS-04", "to": "shuttle-bayarea:BA-05",
         "depart_at": f"{DAY}T10:00:00+09:00", "num": "1"}
    r = await client.get("/v1/plan", params=q, headers=P)
    assert r.status == 200, await r.text()
    [it] = (await r.json())["itineraries"]
    rides = [leg for leg in it["legs"] if leg["mode"] != "WALK"]
    assert {leg["mode"] for leg in rides} >= {"SUBWAY", "BUS", "SHUTTLE"}
    assert all(leg["booking_required"] for leg in rides if leg["mode"] == "SHUTTLE")
    operators = {leg["operator"] for leg in rides}

    # 2. offer: one price, split per operator, integer yen
    r = await client.post("/v1/offers", json={"itinerary": it, "passengers": {"adult": 1}},
                          headers={**P, "Idempotency-Key": "e2e-offer"})
    assert r.status == 201, await r.text()
    offer = await r.json()
    split = offer["quote"]["per_operator"]
    assert set(split) == operators and sum(split.values()) == offer["quote"]["total"] > 0
    assert all(isinstance(v, int) for v in split.values())

    # 3. book: one payment for the whole journey
    alpha, beta = await subscribe(client, "pk-alpha"), await subscribe(client, "pk-beta")
    r = await client.post("/v1/bookings", json={"offer_id": offer["id"], "payment": GOOD_CARD},
                          headers={**P, "Idempotency-Key": "e2e-book"})
    assert r.status == 201, await r.text()
    booking = await r.json()
    assert booking["state"] == "CONFIRMED" and booking["total"] == offer["quote"]["total"]
    status = await read_events(alpha, 2)
    assert [(n, e["booking_id"], e["state"]) for n, e in status] == [
        ("booking.status", booking["id"], "PENDING"), ("booking.status", booking["id"], "CONFIRMED")]

    # 4. a disaster system closes the Bay Area shuttle's boarding stop for the afternoon
    bay = next(leg for leg in rides if leg["operator"] == "shuttle-bayarea")
    closed = bay["from"]["stop_id"]
    closure = {"id": "e2e-flood", "start": f"{DAY}T10:30:00+09:00", "end": f"{DAY}T18:00:00+09:00",
               "targets": {"stops": [closed]}, "severity": "SEVERE",
               "message": {"ja": "冠水のため閉鎖", "en": "closed by flooding"}}
    r = await client.post("/v1/closures", json=closure, headers=auth("dis-jma"))
    assert r.status == 201, await r.text()

    # 5. the traveller (and only they) hears `disrupted`, with a route that avoids the closed stop
    [(name, ev)] = await read_events(alpha, 1, timeout=10)
    assert name == "disrupted" and ev["booking_id"] == booking["id"] and ev["closure"]["id"] == "e2e-flood"
    alt = ev["alternative"]
    assert alt is not None and alt["legs"]
    touched = {s for leg in alt["legs"] for s in
               [leg["from"].get("stop_id"), leg["to"].get("stop_id")]
               + [x["stop_id"] for x in leg.get("intermediate_stops", [])]}
    assert closed not in touched
    with pytest.raises(TimeoutError):
        await read_events(beta, 1, timeout=0.5)

    # 6. cancel the whole booking: refunded by the operators' rules (all before departure: in full)
    r = await client.post(f"/v1/bookings/{booking['id']}/cancel", json={"leg_index": None},
                          headers={**P, "Idempotency-Key": "e2e-cancel"})
    assert r.status == 200, await r.text()
    assert (await r.json())["state"] == "CANCELLED"
    pay = await (await client.get(f"/v1/payments/{booking['id']}", headers=P)).json()
    assert pay["captured"] == booking["total"] and pay["refunded"] == booking["total"]

    # 7. each operator's settlement for the day shows the sale and the refund, and nets to zero
    for op in operators:
        r = await client.get(f"/v1/operators/{op}/settlement", params={"date": DAY}, headers=auth("adm-root"))
        assert r.status == 200, await r.text()
        row = await r.json()
        assert row["sales"] == split[op] and row["refunds"] == split[op], row
    alpha.close()
    beta.close()
