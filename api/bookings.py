"""Reservations and money: offers, bookings, cancellations, payments and per-operator settlement.

The BookingService owns the rules (idempotency, holds, payment, ledger); these handlers check the caller's role
and ownership, validate the body's shape and map ``BookingError`` to problem+json.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid

import msgspec
from aiohttp import web

from api import params, respond, typed
from api.endpoint import add, principal
from api.keys import SERVICES
from api.models.bookings import (Booking, BookingPage, BookingRequest, CancelRequest, Offer, OfferRequest, Payment,
                                 Settlement)
from api.openapi import json_body, ok, path_param, problem, query
from api.problems import TYPE_BASE, ApiProblem, read_json
from maas.platform.auth import Role
from maas.booking.offers import BookingError
from maas.booking.payments import TOKEN_RE, PaymentError
from maas.store.booking_index import STATES as BOOKING_STATES

PARTNER = frozenset({Role.PARTNER})
OPERATOR = frozenset({Role.OPERATOR})
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "description": "retries with the same key replay the first result; another body with the same key "
                              "is a 409", "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                      "pattern": "^[!-~]([ -~]*[!-~])?$"}}


def _bookings(request: web.Request):
    svc = request.app[SERVICES].bookings
    if svc is None:
        raise ApiProblem(503, "reservations are not configured on this server")
    return svc


def _booking_problem(err: BookingError) -> ApiProblem:
    status = err.status if 400 <= err.status <= 599 else 502
    return ApiProblem(status, err.detail, field=err.field, type_=TYPE_BASE + err.code, extra={"code": err.code})


def _idempotency_key(request: web.Request) -> str:
    """The client's key, or a fresh one: without a key a retry is a new request (documented, not an error)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return "auto-" + uuid.uuid4().hex
    if not key.strip() or len(key) > 255 or any(ord(c) < 0x20 for c in key):
        raise ApiProblem(422, "Idempotency-Key must be 1-255 printable characters", field="Idempotency-Key")
    return key


async def _owner(request: web.Request, booking_id: str) -> str:
    """Whose booking to look in: the caller's own, or for an admin whoever made it (admins see every booking)."""
    who = principal(request)
    if who.role is Role.ADMIN:
        raw = await _bookings(request).store.get(f"booking:{booking_id}")
        if raw:
            return json.loads(raw).get("owner", who.owner)
    return who.owner


def _object(body: object) -> dict:
    if not isinstance(body, dict):
        raise ApiProblem(422, "the body must be a JSON object", field="body")
    return body


async def create_offer(request: web.Request) -> web.Response:
    body = _object(await read_json(request))
    itinerary = body.get("itinerary")
    if not isinstance(itinerary, dict):
        raise ApiProblem(422, "itinerary is required: one itinerary object as returned by GET /v1/plan",
                         field="itinerary")
    key = _idempotency_key(request)
    offer = typed.check(body, OfferRequest)  # shapes and bounds; the service re-derives every ride from the timetable
    passengers = body.get("passengers", {"adult": 1})
    if offer.passengers is not msgspec.UNSET:  # as typed: 2.0 adults are 2
        passengers = msgspec.to_builtins(offer.passengers)
    medium = body.get("medium", "ticket")
    try:
        offer = await _bookings(request).create_offer(itinerary, passengers, key, principal(request).owner,
                                                      medium=medium)
    except BookingError as err:
        raise _booking_problem(err) from None
    return respond.json(offer, status=201)


async def create_booking(request: web.Request) -> web.Response:
    body = _object(await read_json(request))
    offer_id = body.get("offer_id")
    if not isinstance(offer_id, str) or not offer_id:
        raise ApiProblem(422, "offer_id is required (from POST /v1/offers)", field="offer_id")
    key = _idempotency_key(request)
    typed.check(body, BookingRequest)
    payment = await _payment_token(request, body.get("payment"))
    try:
        booking = await _bookings(request).book(offer_id, payment, key, principal(request).owner)
    except BookingError as err:
        raise _booking_problem(err) from None
    return respond.json(booking, status=201, headers={"Location": f"/v1/bookings/{booking['id']}"})


async def _payment_token(request: web.Request, payment: object) -> dict:
    """The edge where card numbers stop: ``{"token": "tok_…"}`` passes as is; a raw test card number (sandbox
    clients) is exchanged for the provider's token here, so nothing behind the API ever sees it."""
    if not isinstance(payment, dict):
        raise ApiProblem(422, 'payment is required, e.g. {"token": "tok_visa"}', field="payment")
    if "token" in payment:
        token = payment["token"]
        if not isinstance(token, str) or not TOKEN_RE.match(token):
            raise ApiProblem(422, "payment.token must be a payment token such as tok_visa", field="payment.token")
        return {"token": token}
    number = payment.get("card_number")
    if not isinstance(number, str) or not number.replace(" ", "").isdigit():
        raise ApiProblem(422, 'payment needs a token ({"token": "tok_visa"}) or, on the sandbox, a test '
                              "card_number of digits", field="payment.card_number")
    tokenize = getattr(_bookings(request).payments, "tokenize", None)
    if tokenize is None:
        raise ApiProblem(422, "this payment provider accepts tokens only: send payment.token", field="payment.token")
    try:
        return {"token": await tokenize(number)}
    except PaymentError as err:
        raise ApiProblem(422, err.detail, field="payment.card_number", type_=TYPE_BASE + err.code,
                         extra={"code": err.code}) from None


async def get_booking(request: web.Request) -> web.Response:
    try:
        booking_id = request.match_info["id"]
        booking = await _bookings(request).get(booking_id, await _owner(request, booking_id))
    except BookingError as err:  # another partner's booking is "not found": existence is not disclosed
        raise _booking_problem(err) from None
    return respond.json(booking)


async def list_bookings(request: web.Request) -> web.Response:
    """The caller's own bookings, oldest first, a bounded page at a time (``next_cursor`` continues)."""
    q = request.query  # (only the parameters its spec lists reach here: `api.endpoint`)
    status = q.get("status")
    if status is not None:
        status = status.strip().upper()
        if status not in BOOKING_STATES:
            raise ApiProblem(422, f"status must be one of {', '.join(BOOKING_STATES)}; got {q['status']!r}",
                             field="status")
    since = params.datetime_param(q, "since")
    limit = params.int_param(q, "limit", 20, 1, 100)
    cursor = q.get("cursor")
    try:
        page = await _bookings(request).list_bookings(principal(request).owner, state=status, since=since,
                                                      cursor=cursor, limit=limit)
    except BookingError as err:
        raise _booking_problem(err) from None
    return respond.json(page)


async def cancel_booking(request: web.Request) -> web.Response:
    leg_index = None
    if request.can_read_body and request.content_length != 0:
        body = _object(await read_json(request))
        leg_index = typed.check(body, CancelRequest).leg_index
        if leg_index is not None and (isinstance(leg_index, bool) or not isinstance(leg_index, int)):
            raise ApiProblem(422, "leg_index must be an integer or null (null cancels the whole booking)",
                             field="leg_index")
    try:
        booking_id = request.match_info["id"]
        booking = await _bookings(request).cancel(booking_id, leg_index, _idempotency_key(request),
                                                  await _owner(request, booking_id))
    except BookingError as err:
        raise _booking_problem(err) from None
    return respond.json(booking)


async def get_payment(request: web.Request) -> web.Response:
    """A payment by its booking id (``bk_…``) or authorization id (``auth_…``), only for the booking's owner."""
    svc = _bookings(request)
    pid = request.match_info["id"]
    auth = None
    if pid.startswith("auth_"):
        getter = getattr(svc.payments, "get", None)
        auth = await getter(pid) if getter else None
    booking_id = auth.reference if auth is not None else pid
    owner = await _owner(request, booking_id)
    try:
        booking = await svc.get(booking_id, owner)  # the ownership check: 404 for someone else's
    except BookingError:
        raise ApiProblem(404, f"no payment {pid!r}", field="id") from None
    auth = auth or await svc.payments.find(booking_id)
    if auth is None:
        raise ApiProblem(404, f"booking {booking_id} has no payment yet", field="id")
    out = auth.to_dict()
    out.update(booking_id=booking["id"], currency=booking["currency"])
    return respond.json(out)


async def settlement(request: web.Request) -> web.Response:
    operator = request.match_info["id"]
    who = principal(request)
    if not who.may_act_for_operator(operator):
        raise ApiProblem(403, f"this key may only read the settlement of operator {who.operator!r}", field="id")
    services = request.app[SERVICES]
    known = {f.namespace for f in services.transit.network.feeds}
    svc = _bookings(request)
    known |= set(getattr(svc.operators, "pinned", {})) | set(svc.operators.setups())
    if operator not in known:
        raise ApiProblem(404, f"no operator {operator!r}", field="id")
    day = params.date_param(request.query, "date", dt.datetime.now(params.TOKYO).date())
    rows = [r for r in await svc.ledger.settlement(day.isoformat()) if r.operator == operator]
    totals = {k: sum(getattr(r, k) for r in rows) for k in ("sales", "refunds", "commission", "payable")}
    setup = svc.operators.setups().get(operator)
    identity = {"names": setup.profile.names, **setup.profile.settlement} if setup else {}
    return respond.json({"operator": operator, "date": day.isoformat(), "currency": "JPY", **totals,
                         "payee": identity})


_NOT_FOUND = {"404": problem("Unknown id, or not yours")}


def add_routes(app: web.Application) -> None:
    add(app, "POST", "/v1/offers", create_offer, roles=PARTNER, spec={
        "operationId": "createOffer", "summary": "Price an itinerary for booking", "tags": ["reservations"],
        "description": "Offers are made from the timetable: each ride is re-derived (the trip runs on its service "
                       "day, boards and alights at real stops of it with pickup and drop-off allowed; times, "
                       "distance, operator and route are the timetable's) and priced from server-side data only.",
        "parameters": [IDEMPOTENCY],
        "requestBody": json_body(OfferRequest),
        "responses": {**ok(Offer, "The offer (price held until expires_at)", status="201"),
                      "409": problem("A leg disagrees with the timetable (the field is named), or the "
                                     "Idempotency-Key was reused with another body"),
                      "422": problem("A leg names no real trip, stop or position, or a value is out of range")}})
    add(app, "POST", "/v1/bookings", create_booking, roles=PARTNER, spec={
        "operationId": "createBooking", "summary": "Book an offer and pay once for every leg",
        "tags": ["reservations"], "parameters": [IDEMPOTENCY],
        "requestBody": json_body(BookingRequest),
        "responses": {**ok(Booking, "The confirmed booking", status="201"), **_NOT_FOUND,
                      "402": problem("Payment declined"), "409": problem("Offer already booked, or key reused"),
                      "410": problem("Offer expired")}})
    add(app, "GET", "/v1/bookings", list_bookings, roles=PARTNER, spec={
        "operationId": "listBookings", "summary": "Your bookings, oldest first, one page at a time",
        "tags": ["reservations"],
        "description": "Only the calling partner's own bookings, read from a per-partner index (never a scan). "
                       "Pass `next_cursor` back as `cursor` for the next page; it is null on the last page.",
        "parameters": [
            query("status", {"type": "string", "enum": list(BOOKING_STATES)}, "only bookings in this state"),
            query("since", params.DATE_TIME_SCHEMA,
                  "only bookings created at or after this time (no offset: Tokyo time)"),
            query("cursor", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,200}$"},
                  "next_cursor of the previous page, as returned (anything else is a 422 naming cursor)"),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "page size")],
        "responses": {**ok(BookingPage, "One page of your bookings"),
            "422": problem("Bad status, since, cursor or limit")}})
    add(app, "GET", "/v1/bookings/{id}", get_booking, roles=PARTNER, spec={
        "operationId": "getBooking", "summary": "One of your bookings", "tags": ["reservations"],
        "parameters": [path_param("id", "booking id")], "responses": {**ok(Booking), **_NOT_FOUND}})
    add(app, "POST", "/v1/bookings/{id}/cancel", cancel_booking, roles=PARTNER, spec={
        "operationId": "cancelBooking", "summary": "Cancel a booking, or one leg of it", "tags": ["reservations"],
        "parameters": [path_param("id", "booking id"), IDEMPOTENCY],
        "requestBody": json_body(CancelRequest, "omit to cancel everything", False),
        "responses": {**ok(Booking), **_NOT_FOUND, "409": problem("Not cancellable now")}})
    add(app, "GET", "/v1/payments/{id}", get_payment, roles=PARTNER, spec={
        "operationId": "getPayment", "summary": "The payment of one of your bookings", "tags": ["payments"],
        "parameters": [path_param("id", "booking id (bk_…) or authorization id (auth_…)")],
        "responses": {**ok(Payment), **_NOT_FOUND}})
    add(app, "GET", "/v1/operators/{id}/settlement", settlement, roles=OPERATOR, spec={
        "operationId": "settlement", "summary": "What the platform owes an operator for a day",
        "tags": ["payments"], "description": "An operator key reads its own operator only.",
        "parameters": [path_param("id", "operator id, e.g. toei-bus"),
                       query("date", params.DATE_SCHEMA, "service day (default today, Tokyo)")],
        "responses": {**ok(Settlement), **_NOT_FOUND}})
