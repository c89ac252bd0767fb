"""Booking identity and the crash windows at the end of each flow (issue 10, item 3).

* A booking id is random; hold, payment and cancellation ids derive from it, so an Idempotency-Key reused after
  its record expired makes a new booking and leaves the old (paid) one exactly as it was.
* A crash between writing a booking's final state and answering its Idempotency-Key (book, compensation and
  cancel) is repaired by recovery: the client's retry gets the original result instead of
  ``request_in_progress`` for 24 h.
"""
from __future__ import annotations

import asyncio
import json

import pytest

from booking_support import GOOD_CARD, SHUTTLE, SHUTTLE_TRIP, Clock, itinerary, make_service, shuttle_leg, subway_leg
from maas.booking.bookings import CANCEL_STARTING, OPEN
from maas.booking.offers import BookingError
from maas.booking.recovery import recover_service

RESOURCE = f"{SHUTTLE}|2026-11-24|{SHUTTLE_TRIP}"


class Crash(BaseException):
    """The worker dies here (a BaseException: nothing in the flow may catch and 'handle' it)."""


def crash_at(step: str, nth: int = 1):
    seen = {"n": 0}

    async def hook(s: str, booking: dict) -> None:
        if s == step:
            seen["n"] += 1
            if seen["n"] == nth:
                raise Crash(step)
    return hook


async def test_random_booking_ids_and_ids_derived_from_them(store):
    svc = make_service(store)
    ids = []
    for i in range(2):
        offer = await svc.create_offer(itinerary(subway_leg(), shuttle_leg()), {"adult": 1}, f"o{i}", "alice")
        ids.append((await svc.book(offer["id"], GOOD_CARD, "k" if i == 0 else "k2", "alice"))["id"])
    assert ids[0] != ids[1] and all(i.startswith("bk_") and len(i) == 27 for i in ids)
    rec = json.loads(await store.get(f"booking:{ids[0]}"))
    assert all(leg["hold_id"].startswith(ids[0] + ":") for leg in rec["legs"])
    idem = json.loads(await store.get("idem:book:alice:k"))
    assert idem["ref"] == ids[0] and idem["state"] == "done"  # the record points at the booking it created
    auth = await svc.payments.find(ids[0])
    assert auth is not None and auth.reference == ids[0]


async def test_reused_key_after_expiry_makes_a_new_booking_old_one_untouched(store):
    """The finding: a 1-adult booking (paid) became a 3-adult booking with the old capture replayed."""
    clock = Clock()
    svc = make_service(store, clock, idempotency_ttl_s=0.3)  # the 24 h record lifetime, shortened
    offer1 = await svc.create_offer(itinerary(subway_leg(), shuttle_leg()), {"adult": 1}, "o1", "alice")
    first = await svc.book(offer1["id"], GOOD_CARD, "reused", "alice")
    before = await store.get(f"booking:{first['id']}")
    await asyncio.sleep(0.5)  # the idempotency record has expired
    assert await store.get("idem:book:alice:reused") is None
    offer2 = await svc.create_offer(itinerary(subway_leg(), shuttle_leg()), {"adult": 3}, "o2", "alice")
    second = await svc.book(offer2["id"], GOOD_CARD, "reused", "alice")
    assert second["id"] != first["id"] and second["state"] == "CONFIRMED"
    assert second["payment"]["captured"] == second["total"] == 3 * first["total"]
    assert await store.get(f"booking:{first['id']}") == before  # byte for byte: nothing touched the old one
    assert (await svc.get(first["id"], "alice"))["payment"]["captured"] == first["total"]
    auths = {a.reference: a for a in await svc.payments.authorizations()}
    assert auths[first["id"]].captured == first["total"] and auths[second["id"]].captured == second["total"]
    assert sum(h.count for h in await store.seat_holds(RESOURCE)) == 4  # 1 + 3 seats, both held
    await svc.ledger.check_balanced()
    assert (await svc.ledger.balances())["psp_clearing"] == first["total"] + second["total"]


async def test_reused_cancel_key_after_expiry_refunds_again_with_its_own_ids(store):
    """Cancellation ids are random too: a reused cancel key on the same booking is a new cancellation whose
    refund is not mistaken for the first one's replay."""
    svc = make_service(store, Clock(), idempotency_ttl_s=0.3)
    offer = await svc.create_offer(itinerary(subway_leg(), shuttle_leg()), {"adult": 1}, "o", "alice")
    b = await svc.book(offer["id"], GOOD_CARD, "k", "alice")
    part = await svc.cancel(b["id"], 1, "c", "alice")
    await asyncio.sleep(0.5)
    full = await svc.cancel(b["id"], None, "c", "alice")
    assert full["state"] == "CANCELLED" and len({c["id"] for c in full["cancellations"]}) == 2
    assert full["payment"]["refunded"] == part["payment"]["refunded"] + full["legs"][0]["refund"]["amount"]
    assert (await svc.payments.find(b["id"])).refunded == full["payment"]["refunded"]
    await svc.ledger.check_balanced()


async def _recover_later(store, clock: Clock):
    clock.advance(300)  # the dead worker's booking is stale
    return await recover_service(make_service(store, clock), stale_after_s=30)


@pytest.mark.parametrize("card,expect", [(GOOD_CARD, "CONFIRMED"), ({"token": "tok_captureDeclined"},
                                                                     "payment_declined")])
async def test_crash_between_final_state_and_key_completes_in_recovery(store, card, expect):
    """Book (and the compensation of a declined capture): died after writing the final state, before answering
    the key. Recovery answers it; the retry gets the original outcome; nothing is charged twice."""
    clock = Clock()
    svc = make_service(store, clock, on_step=crash_at("done"), idempotency_wait_s=0.5)
    offer = await svc.create_offer(itinerary(subway_leg(), shuttle_leg()), {"adult": 1}, "o", "alice")
    with pytest.raises(Crash):
        await svc.book(offer["id"], card, "k", "alice")
    assert json.loads(await store.get("idem:book:alice:k"))["state"] == "running"  # stuck, before recovery
    with pytest.raises(BookingError) as stuck:
        await make_service(store, clock, idempotency_wait_s=0.2).book(offer["id"], card, "k", "alice")
    assert stuck.value.code == "request_in_progress"
    report = await _recover_later(store, clock)
    assert report.finished and await store.smembers(OPEN) == set()
    retry = make_service(store, clock)
    if expect == "CONFIRMED":
        again = await retry.book(offer["id"], card, "k", "alice")
        assert again["state"] == "CONFIRMED" and again["payment"]["captured"] == again["total"]
        assert (await retry.list_bookings("alice", state="CONFIRMED"))["bookings"][0]["id"] == again["id"]
    else:
        with pytest.raises(BookingError) as e:
            await retry.book(offer["id"], card, "k", "alice")
        assert e.value.code == expect
        assert await store.get(f"offer-booked:{offer['id']}") is None  # the offer may be booked again
    assert len(await retry.payments.authorizations()) == 1
    await retry.ledger.check_balanced()


@pytest.mark.parametrize("step", ["done", "cancel-claimed"])
async def test_crash_in_cancel_completes_or_clears_the_key(store, step):
    """Cancel: died after the final state and before answering the key ("done"), or after claiming the key and
    before logging the cancellation ("cancel-claimed"). Either way the retry with the same key succeeds."""
    clock = Clock()
    svc = make_service(store, clock, idempotency_wait_s=0.5)
    offer = await svc.create_offer(itinerary(subway_leg(), shuttle_leg()), {"adult": 2}, "o", "alice")
    b = await svc.book(offer["id"], GOOD_CARD, "k", "alice")
    svc.on_step = crash_at(step)
    with pytest.raises(Crash):
        await svc.cancel(b["id"], 1, "cancel-1", "alice")
    assert json.loads(await store.get("idem:cancel:alice:cancel-1"))["state"] == "running"
    report = await _recover_later(store, clock)
    assert await store.smembers(OPEN) == set() and await store.smembers(CANCEL_STARTING) == set(), report
    retry = make_service(store, clock)
    out = await retry.cancel(b["id"], 1, "cancel-1", "alice")
    assert [leg["state"] for leg in out["legs"]] == ["confirmed", "cancelled"]
    assert out["payment"]["refunded"] == out["legs"][1]["refund"]["amount"] > 0
    assert (await retry.payments.find(b["id"])).refunded == out["payment"]["refunded"]  # refunded once
    assert await retry.cancel(b["id"], 1, "cancel-1", "alice") == out  # and replays from now on
    assert sum(h.count for h in await store.seat_holds(RESOURCE)) == 0
    await retry.ledger.check_balanced()


async def test_late_effects_of_a_frozen_worker_are_undone_by_later_passes(store):
    """Recovery rolled back a booking whose worker was frozen before authorizing; the worker resumed, authorized and
    held a seat late, then died before undoing them. The next recovery passes void and release them."""
    from maas.booking.bookings import SETTLING
    from maas.booking.recovery import SETTLE_S
    from operators.base import LegRef, Passengers

    clock = Clock()
    svc = make_service(store, clock, on_step=crash_at("authorize"))
    offer = await svc.create_offer(itinerary(shuttle_leg()), {"adult": 2}, "o", "alice")
    with pytest.raises(Crash):
        await svc.book(offer["id"], GOOD_CARD, "k", "alice")
    report = await _recover_later(store, clock)
    [bid] = report.compensated
    b = json.loads(await store.get(f"booking:{bid}"))
    assert b["state"] == "REJECTED" and await store.smembers(SETTLING) == {bid}
    # the frozen worker resumes: its calls were idempotent per booking, so they reuse the booking's ids
    late = await svc.payments.authorize(b["total"], GOOD_CARD, reference=bid, idempotency_key=f"{bid}:authorize")
    leg = b["legs"][0]
    await svc.operators.get(SHUTTLE).hold(leg["hold_id"], LegRef.from_dict(leg["leg"]), Passengers(adult=2),
                                          clock(), 120)
    assert sum(h.count for h in await store.seat_holds(RESOURCE)) == 2
    clock.advance(60)
    report = await recover_service(make_service(store, clock), stale_after_s=30)
    assert report.settled == [bid]
    assert (await svc.payments.get(late.id)).status == "voided"
    assert await store.seat_holds(RESOURCE) == []
    assert json.loads(await store.get(f"booking:{bid}"))["state"] == "REJECTED"
    clock.advance(SETTLE_S)
    await recover_service(make_service(store, clock), stale_after_s=30)
    assert await store.smembers(SETTLING) == set()  # settled for good
