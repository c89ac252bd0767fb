"""The booking indexes (maas.store.booking_index): what a closure or a feed swap reads to find travellers, and
what a partner's booking list pages through. Memberships follow the booking's state: confirmed legs are on their
(day, trip) and stops, cancelled legs and unconfirmed bookings are not."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from booking_support import GOOD_CARD, SHUTTLE, SHUTTLE_TRIP, Clock, itinerary, make_service, shuttle_leg, subway_leg
from maas.booking.offers import BookingError
from maas.store import booking_index as bix

DAY = "2026-11-24"


async def test_confirmed_legs_are_indexed_by_day_trip_and_stop(store):
    svc = make_service(store, Clock())
    offer = await svc.create_offer(itinerary(subway_leg(), shuttle_leg()), {"adult": 1}, "o", "alice")
    b = await svc.book(offer["id"], GOOD_CARD, "k", "alice")
    assert await bix.booked_days(store, dt.date(2026, 11, 23)) == [DAY]
    assert await bix.booked_trips(store, DAY) == {"toei-subway:A1001", SHUTTLE_TRIP}
    assert await bix.bookings_on(store, DAY, trips=[SHUTTLE_TRIP]) == {b["id"]}
    assert await bix.bookings_on(store, DAY, stops=["toei-subway:110"]) == {b["id"]}
    assert await bix.bookings_on(store, "2026-11-25", trips=[SHUTTLE_TRIP]) == set()
    await svc.cancel(b["id"], 1, "c1", "alice")  # the shuttle leg: off its trip and stops, the subway stays
    assert await bix.bookings_on(store, DAY, trips=[SHUTTLE_TRIP], stops=[f"{SHUTTLE}:S1"]) == set()
    assert await bix.bookings_on(store, DAY, trips=["toei-subway:A1001"]) == {b["id"]}
    await svc.cancel(b["id"], None, "c2", "alice")
    assert await bix.bookings_on(store, DAY, trips=["toei-subway:A1001"], stops=["toei-subway:101"]) == set()
    assert await bix.page(store, "alice", state="CANCELLED", after="", limit=10) == [b["id"]]
    assert await bix.page(store, "alice", state="CONFIRMED", after="", limit=10) == []


async def test_rejected_bookings_are_listed_but_not_travelling(store):
    svc = make_service(store, Clock())
    offer = await svc.create_offer(itinerary(shuttle_leg()), {"adult": 1}, "o", "alice")
    with pytest.raises(BookingError) as e:
        await svc.book(offer["id"], {"token": "tok_chargeDeclined"}, "k", "alice")
    assert e.value.code == "payment_declined"
    [bid] = await bix.page(store, "alice", state="REJECTED", after="", limit=10)
    assert await bix.page(store, "alice", state="PENDING", after="", limit=10) == []
    assert await bix.bookings_on(store, DAY, trips=[SHUTTLE_TRIP]) == set()
    listed = await svc.list_bookings("alice")
    assert [x["id"] for x in listed["bookings"]] == [bid] and listed["next_cursor"] is None


async def test_bookings_from_before_the_index_are_indexed_once(store):
    """A store written before the indexes existed: the first recovery pass indexes its bookings."""
    from maas.booking.recovery import recover_service

    svc = make_service(store, Clock())
    offer = await svc.create_offer(itinerary(shuttle_leg()), {"adult": 1}, "o", "alice")
    b = await svc.book(offer["id"], GOOD_CARD, "k", "alice")
    raw = json.loads(await store.get(f"booking:{b['id']}"))
    for key in ("version", "holder"):  # as an old release wrote it, and no index entries
        raw.pop(key)
    await store.set(f"booking:{b['id']}", json.dumps(raw))
    await store.sets_update(remove=[(bix.trip_key(DAY, SHUTTLE_TRIP), b["id"])])
    await store.zrem_lex(bix.owner_key("alice"), bix.member(raw))
    await store.delete(bix.BUILT)
    await recover_service(svc)
    assert await bix.bookings_on(store, DAY, trips=[SHUTTLE_TRIP]) == {b["id"]}
    assert [x["id"] for x in (await svc.list_bookings("alice"))["bookings"]] == [b["id"]]
    out = await svc.cancel(b["id"], None, "c", "alice")  # and the versionless record is still writable
    assert out["state"] == "CANCELLED"
