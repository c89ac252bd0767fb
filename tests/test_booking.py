"""Booking flow across operators with one payment: happy path, idempotency, failures, cancellation, bad input.

Runs on both stores; the 200-bookings race runs on the real Redis (and on the embedded store for parity).
"""
from __future__ import annotations

import asyncio
import json

import pytest

from booking_support import (GOOD_CARD, SHUTTLE, SHUTTLE_TRIP, Clock, bus_leg, drop_test_store, itinerary,
                             make_service, open_test_store, shuttle_leg, subway_leg, tokyo_setups, walk_leg)
from maas.booking.offers import BookingError
from operators.base import OperatorUnavailable
from operators.adapter import ProfileAdapter
from operators.catalog import builtin_profile
from operators.registry import OperatorRegistry

RESOURCE = f"{SHUTTLE}|2026-11-24|{SHUTTLE_TRIP}"


async def offer_and_book(svc, key="k", owner="alice", card=GOOD_CARD, legs=None, pax=None):
    offer = await svc.create_offer(itinerary(*(legs or [])), pax or {"adult": 1}, f"offer-{key}", owner)
    return offer, await svc.book(offer["id"], card, key, owner)


async def held_seats(store) -> int:
    return sum(h.count for h in await store.seat_holds(RESOURCE))


async def test_quote_split_per_operator_in_integer_yen(store):
    svc = make_service(store)
    offer = await svc.create_offer(itinerary(), {"adult": 2, "child": 1}, "q1", "alice")
    q = offer["quote"]
    assert q["currency"] == "JPY" and q["per_operator"] == {"toei-subway": 550, "toei-bus": 530,
                                                           SHUTTLE: 500}
    assert q["total"] == 1580 == sum(q["per_operator"].values())
    assert [leg["index"] for leg in q["legs"]] == [1, 2, 3]  # the walk (index 0) is free and not booked
    assert all(isinstance(leg["amount"], int) for leg in q["legs"])


async def test_happy_path_confirms_every_leg_and_balances(store):
    svc = make_service(store)
    sub = await store.subscribe("events:alice")
    offer, b = await offer_and_book(svc, pax={"adult": 1, "child": 1})
    assert b["state"] == "CONFIRMED" and b["payment"] == {"status": "captured", "captured": 950, "refunded": 0}
    assert all(leg["state"] == "confirmed" and leg["ticket"]["qr_payload"].startswith("MAAS1:")
               for leg in b["legs"])
    assert await held_seats(store) == 2
    assert await svc.get(b["id"], "alice") == b
    with pytest.raises(BookingError) as e:
        await svc.get(b["id"], "mallory")
    assert e.value.code == "not_found"
    await svc.ledger.check_balanced()
    assert (await svc.ledger.balances())["psp_clearing"] == 950
    states = [json.loads((await sub.get(timeout=2))[1])["state"] for _ in range(2)]
    assert states == ["PENDING", "CONFIRMED"]
    await sub.aclose()
    with pytest.raises(BookingError) as e:  # an offer is booked once
        await svc.book(offer["id"], GOOD_CARD, "another-key", "alice")
    assert e.value.code == "offer_already_booked"


async def test_sequential_retry_returns_first_result_one_charge(store):
    svc = make_service(store)
    offer, first = await offer_and_book(svc, key="same")
    again = await svc.book(offer["id"], GOOD_CARD, "same", "alice")
    assert again == first
    auths = await svc.payments.authorizations()
    assert len(auths) == 1 and auths[0].captured == first["total"]
    assert {e["txn"] for e in await svc.ledger.entries()} == {f"capture:{first['id']}"}
    with pytest.raises(BookingError) as e:  # same key, different request
        await svc.book(offer["id"], {"token": "tok_mastercard"}, "same", "alice")
    assert e.value.code == "idempotency_conflict"


async def test_concurrent_retries_one_booking_one_charge(store):
    svc = make_service(store)
    offer = await svc.create_offer(itinerary(), {"adult": 1}, "o", "alice")
    results = await asyncio.gather(*[svc.book(offer["id"], GOOD_CARD, "dup", "alice") for _ in range(15)])
    assert len({r["id"] for r in results}) == 1 and all(r["state"] == "CONFIRMED" for r in results)
    assert len(await svc.payments.authorizations()) == 1
    assert await held_seats(store) == 1
    assert len([e for e in await svc.ledger.entries() if e["account"] == "psp_clearing"]) == 1


async def test_offer_creation_is_idempotent(store):
    svc = make_service(store)
    it = itinerary()
    a = await svc.create_offer(it, {"adult": 1}, "ok", "alice")
    b = await svc.create_offer(it, {"adult": 1}, "ok", "alice")
    assert a == b
    with pytest.raises(BookingError) as e:
        await svc.create_offer(it, {"adult": 2}, "ok", "alice")
    assert e.value.code == "idempotency_conflict"


@pytest.mark.parametrize("card,code,status", [("tok_chargeDeclined", "payment_declined", 402),
                                              ("tok_insufficientFunds", "payment_declined", 402),
                                              ("tok_processingError", "payment_failed", 502),
                                              ("tok_captureDeclined", "payment_declined", 402),
                                              ("tok_doesNotExist", "invalid_card", 422)])
async def test_payment_failures_compensate(store, card, code, status):
    svc = make_service(store)
    offer = await svc.create_offer(itinerary(), {"adult": 1}, "o", "alice")
    with pytest.raises(BookingError) as e:
        await svc.book(offer["id"], {"token": card}, "k", "alice")
    assert (e.value.code, e.value.status) == (code, status)
    assert await held_seats(store) == 0
    assert all(a.status in ("voided",) for a in await svc.payments.authorizations())
    assert await svc.ledger.entries() == []
    with pytest.raises(BookingError) as again:  # the retry replays the error, books nothing
        await svc.book(offer["id"], {"token": card}, "k", "alice")
    assert again.value.code == code
    b = await svc.book(offer["id"], GOOD_CARD, "k2", "alice")  # the same offer with a good card works
    assert b["state"] == "CONFIRMED"


class FlakyBus(ProfileAdapter):
    """Toei bus whose API fails at one step: the 2nd of 3 legs breaks."""

    def __init__(self, store, fail_at: str):
        super().__init__(store, builtin_profile("toei-bus"))
        self.fail_at = fail_at

    async def hold(self, *a, **kw):
        if self.fail_at == "hold":
            raise OperatorUnavailable("toei-bus booking API timed out", operator="toei-bus", leg_index=2)
        return await super().hold(*a, **kw)

    async def confirm(self, *a, **kw):
        if self.fail_at == "confirm":
            raise OperatorUnavailable("toei-bus refused to issue", operator="toei-bus", leg_index=2)
        return await super().confirm(*a, **kw)


@pytest.mark.parametrize("fail_at", ["hold", "confirm"])
async def test_operator_failure_on_second_leg_rolls_back(store, fail_at):
    reg = OperatorRegistry(store, tokyo_setups())
    reg.register(FlakyBus(store, fail_at))
    svc = make_service(store, registry=reg)
    offer = await svc.create_offer(itinerary(subway_leg(), bus_leg(), shuttle_leg()), {"adult": 1}, "o", "alice")
    with pytest.raises(BookingError) as e:
        await svc.book(offer["id"], GOOD_CARD, "k", "alice")
    assert e.value.code == "operator_unavailable" and e.value.status == 502
    bid = (await svc.store.keys("booking:"))[0].split(":", 1)[1]
    b = await svc.get(bid, "alice")
    assert b["state"] == "REJECTED" and b["reason"]["code"] == "operator_unavailable"
    assert all(leg["state"] == "released" for leg in b["legs"])
    assert await held_seats(store) == 0
    for leg in b["legs"]:
        if leg["ticket"]:
            assert await reg.get(leg["operator"]).ticket_status(leg["ticket"]["ticket_id"]) == "cancelled"
    auths = await svc.payments.authorizations()
    assert [a.status for a in auths] == (["voided"] if fail_at == "confirm" else [])
    assert await svc.ledger.entries() == []


async def test_hold_expiry_before_payment(store):
    clock = Clock()

    async def slow_payment(step, booking):
        if step == "confirm":
            clock.advance(121)  # the card network took longer than the 120 s hold

    svc = make_service(store, clock, on_step=slow_payment)
    offer = await svc.create_offer(itinerary(shuttle_leg()), {"adult": 1}, "o", "alice")
    with pytest.raises(BookingError) as e:
        await svc.book(offer["id"], GOOD_CARD, "k", "alice")
    assert e.value.code == "hold_expired"
    bid = (await store.keys("booking:"))[0].split(":", 1)[1]
    assert (await svc.get(bid, "alice"))["state"] == "EXPIRED"
    assert [a.status for a in await svc.payments.authorizations()] == ["voided"]
    assert await held_seats(store) == 0


async def test_partial_then_full_cancellation_refunds_by_rule(store):
    clock = Clock()
    svc = make_service(store, clock)
    _, b = await offer_and_book(svc, pax={"adult": 2})
    shuttle_idx = next(leg["index"] for leg in b["legs"] if leg["operator"] == SHUTTLE)
    part = await svc.cancel(b["id"], shuttle_idx, "c1", "alice")
    assert part["state"] == "CONFIRMED" and part["payment"]["refunded"] == 400
    assert await held_seats(store) == 0
    assert await svc.cancel(b["id"], shuttle_idx, "c1", "alice") == part  # retry replays
    with pytest.raises(BookingError) as e:
        await svc.cancel(b["id"], shuttle_idx, "c2", "alice")
    assert e.value.code == "invalid_request"
    clock.now = clock.now.replace(hour=10, minute=10)  # subway left at 10:00, bus leaves 10:20
    full = await svc.cancel(b["id"], None, "c3", "alice")
    assert full["state"] == "CANCELLED"
    refunds = {leg["operator"]: leg["refund"]["amount"] for leg in full["legs"]}
    assert refunds == {"toei-subway": 0, "toei-bus": 420, SHUTTLE: 400}
    assert full["payment"]["refunded"] == 820
    await svc.ledger.check_balanced()
    rows = {r.operator: r for r in await svc.ledger.settlement("2026-11-24")}
    assert rows["toei-subway"].payable == 440 - 22 and rows["toei-bus"].payable == 0
    assert rows[SHUTTLE].sales == rows[SHUTTLE].refunds == 400
    assert (await svc.ledger.balances())["psp_clearing"] == b["total"] - 820
    with pytest.raises(BookingError) as e:
        await svc.cancel(b["id"], None, "c4", "alice")
    assert e.value.code == "not_cancellable"


BAD_PASSENGERS = [{"adult": -1}, {"adult": 10}, {"adult": 10**12}, {"adult": 0, "child": 0}, {"adult": 1.5},
                  {"adult": True}, {"adult": 1, "dog": 1}, [1], "2", None, {"adult": 0, "child": 2}]


@pytest.mark.parametrize("pax", BAD_PASSENGERS)
async def test_bad_passengers_rejected_nothing_stored(store, pax):
    svc = make_service(store)
    with pytest.raises(BookingError) as e:
        await svc.create_offer(itinerary(), pax, "k", "alice")
    assert e.value.code == "invalid_passengers" and e.value.status == 422 and e.value.field.startswith("passengers")
    assert await store.keys("") == []


def _broken(**changes):
    leg = {**subway_leg(), **changes}
    return {"legs": [leg]}


BAD_ITINERARIES = [None, [], {}, {"legs": []}, {"legs": [walk_leg()]}, {"legs": ["x"]}, _broken(operator=42),
                   _broken(departure="yesterday"), _broken(departure="2026-11-24T10:00:00"),
                   _broken(arrival="2026-11-24T09:00:00+09:00"), _broken(distance_m=-5), _broken(**{"from": {}}),
                   _broken(service_date="24/11/2026"), _broken(operator="tokyo-metro"),
                   _broken(departure="2026-11-24T07:00:00+09:00", arrival="2026-11-24T07:10:00+09:00")]


@pytest.mark.parametrize("it", BAD_ITINERARIES)
async def test_malformed_itinerary_rejected_nothing_stored(store, it):
    svc = make_service(store)
    with pytest.raises(BookingError) as e:
        await svc.create_offer(it, {"adult": 1}, "k", "alice")
    assert e.value.status in (400, 404, 409, 422) and e.value.detail
    assert await store.keys("") == []


async def test_bad_booking_requests_store_nothing(store):
    clock = Clock()
    svc = make_service(store, clock)
    offer = await svc.create_offer(itinerary(), {"adult": 1}, "o", "alice")
    before = sorted(await store.keys(""))
    cases = [("off_nope", GOOD_CARD, "k", "unknown_offer"), (offer["id"], GOOD_CARD, "", "invalid_request"),
             (offer["id"], {"card": "x"}, "k", "invalid_request"), (offer["id"], "4242", "k", "invalid_request"),
             (offer["id"], {"card_number": "4242424242424242"}, "k", "invalid_request"),
             (offer["id"], {"token": "tok_"}, "k", "invalid_request"), (None, GOOD_CARD, "k", "invalid_request")]
    for offer_id, card, key, code in cases:
        with pytest.raises(BookingError) as e:
            await svc.book(offer_id, card, key, "alice")
        assert e.value.code == code, (offer_id, card, key)
    with pytest.raises(BookingError) as e:  # somebody else's offer is unknown to you
        await svc.book(offer["id"], GOOD_CARD, "k", "mallory")
    assert e.value.code == "unknown_offer"
    clock.advance(301)
    with pytest.raises(BookingError) as e:
        await svc.book(offer["id"], GOOD_CARD, "k", "alice")
    assert e.value.code == "offer_expired" and e.value.status == 410
    assert sorted(await store.keys("")) == before


async def _race(store, n: int, seats: int):
    clock = Clock()
    svc = make_service(store, clock, seats=seats, idempotency_wait_s=60)
    offers = await asyncio.gather(*[svc.create_offer(itinerary(subway_leg(), shuttle_leg()), {"adult": 1},
                                                     f"o{i}", f"user{i}") for i in range(n)])

    async def one(i):
        try:
            return await svc.book(offers[i]["id"], GOOD_CARD, f"b{i}", f"user{i}")
        except BookingError as err:
            return err

    results = await asyncio.gather(*[one(i) for i in range(n)])
    ok = [r for r in results if isinstance(r, dict)]
    errors = [r for r in results if isinstance(r, BookingError)]
    assert len(ok) == seats and all(r["state"] == "CONFIRMED" for r in ok)
    assert len(errors) == n - seats and {e.code for e in errors} == {"sold_out"}
    assert all("sold out" in e.detail for e in errors)
    await svc.ledger.check_balanced()
    assert (await svc.ledger.balances())["psp_clearing"] == sum(r["total"] for r in ok)
    assert sorted(a.status for a in await svc.payments.authorizations()) == ["captured"] * seats
    clock.advance(3600)  # every hold that was never confirmed has expired by now
    await store.purge_expired_seats(RESOURCE, clock().timestamp())
    holds = await store.seat_holds(RESOURCE)
    assert len(holds) == seats and all(h.expires_at == 0 for h in holds)
    assert await store.smembers("bookings:open") == set()


async def test_200_concurrent_bookings_for_10_seats_redis(any_redis_url):
    store = await open_test_store("redis", any_redis_url)  # one server, then the cluster
    try:
        await _race(store, 200, 10)
    finally:
        await drop_test_store(store)


async def test_concurrent_bookings_embedded():
    store = await open_test_store("embedded")
    await _race(store, 60, 10)
    await drop_test_store(store)


async def test_concurrent_cancels_of_one_leg_refund_once(store):
    svc = make_service(store)
    _, b = await offer_and_book(svc)
    results = await asyncio.gather(*[svc.cancel(b["id"], 3, f"c{i}", "alice") for i in range(6)],
                                   return_exceptions=True)
    done = [r for r in results if isinstance(r, dict)]
    assert len(done) == 1 and done[0]["payment"]["refunded"] == 200
    assert {r.code for r in results if isinstance(r, BookingError)} <= {"booking_busy", "invalid_request"}
    assert (await svc.payments.authorizations())[0].refunded == 200
    await svc.ledger.check_balanced()
