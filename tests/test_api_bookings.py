"""Offers, bookings, cancellations, payments and settlement over HTTP: good input, bad input, wrong role,
wrong owner, and Idempotency-Key replay."""
from __future__ import annotations

import pytest

from api_support import auth, booking_client, booking_transit  # noqa: F401 (shared fixtures)
from booking_support import GOOD_CARD, itinerary, subway_leg, walk_leg

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
A, B = auth("pk-alpha"), auth("pk-beta")


@pytest.fixture
def client(booking_client):
    return booking_client


async def offer(client, headers=A, key="k-offer-1", it=None) -> dict:
    r = await client.post("/v1/offers", json={"itinerary": it or itinerary(walk_leg(), subway_leg()),
                                              "passengers": {"adult": 1}},
                          headers={**headers, "Idempotency-Key": key})
    assert r.status == 201, await r.text()
    return await r.json()


async def book(client, offer_id: str, headers=A, key="k-book-1"):
    return await client.post("/v1/bookings", json={"offer_id": offer_id, "payment": GOOD_CARD},
                             headers={**headers, "Idempotency-Key": key})


async def test_offer_book_get_cancel_settle(client):
    o = await offer(client)
    assert o["quote"]["total"] > 0 and o["id"]
    r = await book(client, o["id"])
    assert r.status == 201, await r.text()
    b = await r.json()
    assert b["state"] == "CONFIRMED" and r.headers["Location"] == f"/v1/bookings/{b['id']}"
    got = await (await client.get(f"/v1/bookings/{b['id']}", headers=A)).json()
    assert got["id"] == b["id"] and got["total"] == o["quote"]["total"]

    pay = await client.get(f"/v1/payments/{b['id']}", headers=A)
    body = await pay.json()
    assert pay.status == 200 and body["status"] == "captured" and body["captured"] == b["total"]
    by_auth = await client.get(f"/v1/payments/{body['id']}", headers=A)  # the authorization id works too
    assert by_auth.status == 200 and (await by_auth.json())["booking_id"] == b["id"]
    assert (await client.get(f"/v1/payments/{body['id']}", headers=B)).status == 404

    s = await client.get("/v1/operators/toei-subway/settlement", params={"date": "2026-11-24"},
                         headers=auth("adm-root"))
    row = await s.json()
    assert s.status == 200 and row["sales"] == b["total"] and row["payable"] == row["sales"] - row["commission"]

    r = await client.post(f"/v1/bookings/{b['id']}/cancel", json={"leg_index": None},
                          headers={**A, "Idempotency-Key": "k-cancel-1"})
    assert r.status == 200, await r.text()
    assert (await r.json())["state"] == "CANCELLED"


async def test_idempotency_key_replays_and_conflicts(client):
    it = itinerary(walk_leg(), subway_leg())
    o1 = await offer(client, key="same", it=it)
    o2 = await offer(client, key="same", it=it)
    assert o1["id"] == o2["id"]
    r = await client.post("/v1/offers", json={"itinerary": itinerary(subway_leg()),
                                              "passengers": {"adult": 2}}, headers={**A, "Idempotency-Key": "same"})
    assert r.status == 409 and (await r.json(content_type=None))["code"] == "idempotency_conflict"
    b1 = await (await book(client, o1["id"], key="bk")).json()
    b2 = await (await book(client, o1["id"], key="bk")).json()
    assert b1["id"] == b2["id"]
    r = await book(client, o1["id"], key="another-key")
    assert r.status == 409


async def test_partner_never_sees_another_partners_booking(client):
    o = await offer(client)
    b = await (await book(client, o["id"])).json()
    for path in (f"/v1/bookings/{b['id']}", f"/v1/payments/{b['id']}"):
        r = await client.get(path, headers=B)
        assert r.status == 404 and r.content_type == "application/problem+json"
    r = await client.post(f"/v1/bookings/{b['id']}/cancel", headers={**B, "Idempotency-Key": "x"})
    assert r.status == 404
    r = await book(client, o["id"], headers=B, key="steal")  # another partner's offer is unknown to them
    assert r.status == 404
    assert (await client.get(f"/v1/bookings/{b['id']}", headers=A)).status == 200
    admin = auth("adm-root")  # admins see every booking and payment
    assert (await (await client.get(f"/v1/bookings/{b['id']}", headers=admin)).json())["id"] == b["id"]
    assert (await client.get(f"/v1/payments/{b['id']}", headers=admin)).status == 200
    assert (await client.get("/v1/bookings/bk_missing", headers=admin)).status == 404


@pytest.mark.parametrize("body, field, status", [
    ({}, "itinerary", 422),
    ({"itinerary": "x"}, "itinerary", 422),
    ({"itinerary": {"legs": "nope"}}, None, 422),
    ({"itinerary": {"legs": [subway_leg()]}, "passengers": {"adult": 0}}, "passengers", 422),
    ({"itinerary": {"legs": [subway_leg()]}, "passengers": {"adult": "one"}}, "passengers.adult", 422),
    ({"itinerary": {"legs": [subway_leg()]}, "medium": "gold"}, "medium", 422),
    ([1, 2], "body", 422),
])
async def test_offer_bad_input(client, body, field, status):
    r = await client.post("/v1/offers", json=body, headers=A)
    problem = await r.json(content_type=None)
    assert r.status == status and r.content_type == "application/problem+json", problem
    if field:
        assert problem["field"] == field


async def test_malformed_bodies(client):
    r = await client.post("/v1/offers", data=b"{not json", headers={**A, "Content-Type": "application/json"})
    assert r.status == 400 and (await r.json(content_type=None))["field"] == "body"
    r = await client.post("/v1/offers", data=b"<x/>", headers={**A, "Content-Type": "application/xml"})
    assert r.status == 415
    r = await client.post("/v1/offers", data=b"x" * 300_000, headers={**A, "Content-Type": "application/json"})
    assert r.status == 413
    r = await client.post("/v1/offers", json={"itinerary": {}}, headers={**A, "Idempotency-Key": ""})
    assert r.status == 422 and (await r.json(content_type=None))["field"] == "Idempotency-Key"


@pytest.mark.parametrize("body, field", [
    ({}, "offer_id"), ({"offer_id": "of_x"}, "payment"),
    ({"offer_id": "of_nope", "payment": GOOD_CARD}, "offer_id"),
    ({"offer_id": "X", "payment": {"card_number": "12"}}, "payment.card_number"),
])
async def test_booking_bad_input(client, body, field):
    r = await client.post("/v1/bookings", json=body, headers=A)
    assert r.status in (404, 422) and (await r.json(content_type=None))["field"] == field


async def test_declined_card_is_402_and_cancel_bad_leg(client):
    o = await offer(client)
    r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": {"card_number": "4000000000000002"}},
                          headers={**A, "Idempotency-Key": "dec"})
    assert r.status == 402 and (await r.json(content_type=None))["field"] == "payment"
    o = await offer(client, key="k2")
    b = await (await book(client, o["id"], key="b2")).json()
    r = await client.post(f"/v1/bookings/{b['id']}/cancel", json={"leg_index": "first"}, headers=A)
    assert r.status == 422 and (await r.json(content_type=None))["field"] == "leg_index"
    r = await client.post(f"/v1/bookings/{b['id']}/cancel", json={"leg_index": 7}, headers=A)
    assert r.status == 422 and (await r.json(content_type=None))["field"] == "leg_index"


async def test_roles_and_operator_ownership(client):
    r = await client.post("/v1/offers", json={"itinerary": itinerary()}, headers=auth("op-test"))
    assert r.status == 403
    r = await client.get("/v1/bookings/bk_x", headers=auth("dis-jma"))
    assert r.status == 403
    r = await client.get("/v1/operators/toei-bus/settlement", headers=auth("op-other"))
    assert r.status == 200 and (await r.json())["operator"] == "toei-bus"
    r = await client.get("/v1/operators/toei-subway/settlement", headers=auth("op-other"))
    assert r.status == 403  # another operator's settlement
    r = await client.get("/v1/operators/toei-bus/settlement", headers=A)
    assert r.status == 403
    r = await client.get("/v1/operators/nobody/settlement", headers=auth("adm-root"))
    assert r.status == 404
    r = await client.get("/v1/operators/toei-bus/settlement", params={"date": "yesterday"},
                         headers=auth("op-other"))
    assert r.status == 422 and (await r.json(content_type=None))["field"] == "date"


async def test_list_own_bookings_paged_filtered_and_owned(client):
    """GET /v1/bookings: a partner pages through its own bookings (oldest first) with a cursor, filters by status
    and creation time, and never sees another partner's."""
    from api.keys import SERVICES

    clock = client.server.app[SERVICES].bookings.clock
    made = []
    for i in range(5):
        o = await offer(client, key=f"lo-{i}")
        made.append(await (await book(client, o["id"], key=f"lb-{i}")).json())
        clock.advance(60)
    assert (await client.post(f"/v1/bookings/{made[1]['id']}/cancel", headers=A)).status == 200
    ob = await offer(client, headers=B, key="beta-o")
    theirs = await (await book(client, ob["id"], headers=B, key="beta-b")).json()

    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/bookings", params=params, headers=A)
        assert r.status == 200, await r.text()
        page = await r.json()
        assert len(page["bookings"]) <= 2
        seen += [b["id"] for b in page["bookings"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [b["id"] for b in made] and theirs["id"] not in seen  # all mine, oldest first, once each
    r = await client.get("/v1/bookings", params={"status": "cancelled"}, headers=A)
    assert [b["id"] for b in (await r.json())["bookings"]] == [made[1]["id"]]
    r = await client.get("/v1/bookings", params={"status": "CONFIRMED"}, headers=A)
    assert [b["id"] for b in (await r.json())["bookings"]] == [b["id"] for b in made if b is not made[1]]
    r = await client.get("/v1/bookings", params={"since": made[3]["created_at"]}, headers=A)
    assert [b["id"] for b in (await r.json())["bookings"]] == [made[3]["id"], made[4]["id"]]
    r = await client.get("/v1/bookings", headers=B)
    assert [b["id"] for b in (await r.json())["bookings"]] == [theirs["id"]]


@pytest.mark.parametrize("query,field", [("status=LOST", "status"), ("limit=0", "limit"), ("limit=101", "limit"),
                                         ("limit=ten", "limit"), ("limit=99999999999999999999", "limit"),
                                         ("cursor=not-a-cursor", "cursor"), ("cursor=MTIz", "cursor"),
                                         ("since=yesterday", "since"), ("owner=pk-beta", "owner")])
async def test_list_bookings_bad_input_is_422(client, query, field):
    r = await client.get(f"/v1/bookings?{query}", headers=A)
    assert r.status == 422 and r.content_type == "application/problem+json", await r.text()
    body = await r.json()
    assert body["field"] == field and body["detail"]


async def test_list_bookings_roles(client):
    assert (await client.get("/v1/bookings")).status == 401
    for key in ("op-test", "dis-jma"):
        r = await client.get("/v1/bookings", headers=auth(key))
        assert r.status == 403 and r.content_type == "application/problem+json"
    for extreme in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+09:00"):  # outside the request bounds
        r = await client.get("/v1/bookings", params={"since": extreme}, headers=A)
        assert r.status == 422 and (await r.json())["field"] == "since"
