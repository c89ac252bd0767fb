"""Booking across operators with one payment per journey (TOMP-API vocabulary).

offer → ``book``: hold every leg with its operator, authorize one payment for the total, confirm each leg (issue
tickets), capture, post the ledger. Any failure compensates (release holds / void tickets, void the
authorization) and the caller gets a ``BookingError`` with a stable code. Every step is written to the store
*before* it is attempted (a write-ahead step log on the booking record), and every call to an operator or the
payment provider is idempotent per booking, so ``maas.booking.recovery`` can finish or compensate a booking whose worker
died between any two steps: nobody is charged without a ticket or holds a ticket without paying.

States: PENDING → CONFIRMED | REJECTED | EXPIRED; CONFIRMED → CANCELLED (whole booking; a partly cancelled
booking stays CONFIRMED with its cancelled legs marked). Status changes are published on ``events:{owner}``.

Identity: a booking id is random; hold, payment and cancellation ids derive from it (never from the client's
Idempotency-Key), and the idempotency record points at the booking it created — a key reused after its record
expired makes a new booking and cannot touch the old one.

Fencing: the booking record carries a ``version``; every write is a compare-and-set on it
(``Store.replace_versioned``). The recovery pass takes a booking over only by such a write, so a worker that was
merely slow finds its next write refused (``Fenced``), stops, undoes any effect it made after losing the booking
(all idempotent per booking) and answers its client with the outcome the new owner reached.

Order of the last steps (each crash window is closed by recovery): terminal state written → idempotency key
completed → indexes → removed from the open set. A booking still in the open set is visited by recovery, which
re-does the steps after the state idempotently.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
import secrets
from typing import Awaitable, Callable

import orjson

from maas.booking.ledger import Ledger
from maas.booking.offers import (PAYMENT_STATUS, BookingError, Conflict, IdempotencyConflict, InvalidInput, InvalidItinerary,
                         NotFound,
                         Offer, OfferExpired, UnknownOffer, from_operator_error, new_offer_id, parse_itinerary,
                         parse_passengers, validate_key)
from maas.booking.payments import TOKEN_RE, PaymentError, PaymentProvider
from maas.store import booking_index
from maas.store.base import Store
from maas.store.idempotency import TTL_S as IDEMPOTENCY_TTL_S
from maas.store.idempotency import IdempotencyConflictError, IdempotencyStore, fingerprint
from operators.base import TOKYO, Hold, LegRef, OperatorError, Passengers, Ticket
from operators.fare_engine import FareUnknown
from operators.registry import OperatorRegistry

OPEN = "bookings:open"  # booking ids whose flow (or cancellation) has not finished: recovery's work list
STARTING = "bookings:starting"  # markers of bookings between idempotency claim and their first record
TERMINAL = {"CONFIRMED", "REJECTED", "EXPIRED", "CANCELLED"}
CANCEL_STARTING = "cancels:starting"  # markers of cancellations between idempotency claim and their logged step
SETTLING = "bookings:settling"  # rolled back by recovery: re-undone for a while in case the fenced worker acted late
StepHook = Callable[[str, dict], Awaitable[None]]
Clock = Callable[[], dt.datetime]


def tokyo_now() -> dt.datetime:
    return dt.datetime.now(TOKYO)


MAX_PAGE = 100


def encode_cursor(member: str) -> str:
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: object) -> str:
    """The index member a cursor stands for; anything else is a 422 naming ``cursor``."""
    try:
        if not isinstance(cursor, str) or len(cursor) > 200:
            raise ValueError
        member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, booking_id = member.split("|", 1)
        if len(stamp) != 16 or not stamp.isdigit() or not booking_id.startswith("bk_"):
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is not a next_cursor this API returned", field="cursor") from None
    return member


def new_booking_id() -> str:
    return "bk_" + secrets.token_hex(12)


class Fenced(Exception):
    """Somebody else (the recovery pass) wrote the booking since we read it: we no longer own it."""


def payment_error(err: PaymentError) -> BookingError:
    return BookingError(err.detail, code=err.code, status=PAYMENT_STATUS.get(err.code, 502), field="payment")


class BookingService:
    """Offers, bookings and cancellations. ``on_step(step, booking)`` runs after each step is logged and before
    it executes: tests use it for fault injection (advance a clock, sleep so a worker can be killed)."""

    def __init__(self, store: Store, operators: OperatorRegistry, payments: PaymentProvider, ledger: Ledger,
                 clock: Clock = tokyo_now, *, offer_ttl_s: float = 300.0, hold_ttl_s: float = 120.0,
                 on_step: StepHook | None = None, idempotency_wait_s: float = 30.0,
                 idempotency_ttl_s: float = IDEMPOTENCY_TTL_S, timetable=None):
        self.store, self.operators, self.payments, self.ledger = store, operators, payments, ledger
        self.timetable = timetable  # maas.itineraries.derive.LegDeriver: offers are made from it only
        self.clock = clock
        self.offer_ttl_s, self.hold_ttl_s = offer_ttl_s, hold_ttl_s
        self.on_step = on_step
        self.idem = IdempotencyStore(store, ttl_s=idempotency_ttl_s)
        self.holder = f"worker:{os.getpid()}:{secrets.token_hex(4)}"  # who writes: shown in the step history
        self.idempotency_wait_s = idempotency_wait_s

    # ==== offers ===================================================================================================
    async def create_offer(self, itinerary: dict, passengers: dict, idempotency_key: str, owner: str,
                           medium: str = "ticket") -> dict:
        """Re-derive every ride from the timetable (``maas.itineraries``), then price the derived legs (walking is
        free and not booked); the price holds for ``offer_ttl_s``."""
        key = validate_key(idempotency_key)
        pax = parse_passengers(passengers)
        rides = parse_itinerary(itinerary)
        if medium not in ("ic", "ticket"):
            raise InvalidInput("medium must be 'ic' or 'ticket'", field="medium")
        if self.timetable is None:
            raise BookingError("offers are not available: this service has no timetable", code="no_timetable",
                               status=503)
        now = self.clock()
        legs = (await self.timetable.derive(rides, self.timetable.today(now))).legs
        try:
            for leg in legs:
                self.operators.get(leg.operator).check_bookable(leg, now)
            prices = self.operators.price(legs, pax, medium).prices  # the journey's fare, transfers included
        except OperatorError as err:
            raise from_operator_error(err) from None
        except FareUnknown as err:
            raise InvalidItinerary(f"no fare can be computed: {err.reason}",
                                   field="itinerary.legs" if err.leg_index is None
                                   else f"itinerary.legs[{err.leg_index}]", code="fare_unknown") from None
        fp = fingerprint("offer", itinerary, pax.to_dict(), medium)
        replay = await self._replay_if_known(owner, "offer", key, fp)
        if replay is not None:
            return replay
        offer = Offer(id=new_offer_id(), owner=owner, created_at=now,
                      expires_at=now + dt.timedelta(seconds=self.offer_ttl_s), passengers=pax, medium=medium,
                      legs=legs, prices=prices, itinerary_id=itinerary.get("id") if isinstance(
                          itinerary.get("id"), str) else None)
        # the offer first: a claim never points at a missing offer; a dead worker's claim lapses in a minute
        await self.store.set(f"offer:{offer.id}", offer.to_json(), ttl_s=self.offer_ttl_s + 3600)
        if not await self.idem.claim(owner, "offer", key, fp, offer.id, ttl_s=60):
            return await self._replay(owner, "offer", key, fp)
        result = offer.public()
        await self.idem.complete(owner, "offer", key, fp, offer.id, result=result)
        return result

    async def _load_offer(self, offer_id: object, owner: str) -> Offer:
        if not isinstance(offer_id, str) or not offer_id:
            raise InvalidInput("offer_id must be a non-empty string", field="offer_id")
        raw = await self.store.get(f"offer:{offer_id}")
        offer = Offer.from_json(raw) if raw else None
        if offer is None or offer.owner != owner:
            raise UnknownOffer(f"no offer {offer_id!r}", field="offer_id")
        return offer

    # ==== idempotency ==============================================================================================
    async def _replay_if_known(self, owner: str, op: str, key: str, fp: str) -> dict | None:
        try:
            rec = await self.idem.lookup(owner, op, key, fp)
        except IdempotencyConflictError as err:
            raise IdempotencyConflict(str(err), field="Idempotency-Key") from None
        return None if rec is None else await self._replay(owner, op, key, fp)

    async def _replay(self, owner: str, op: str, key: str, fp: str) -> dict:
        try:
            rec = await self.idem.wait(owner, op, key, fp, self.idempotency_wait_s)
        except IdempotencyConflictError as err:
            raise IdempotencyConflict(str(err), field="Idempotency-Key") from None
        if rec is None or rec["state"] != "done":
            raise Conflict(f"the request with Idempotency-Key {key!r} is still in progress; retry later",
                           code="request_in_progress")
        if rec.get("error"):
            raise BookingError.from_dict(rec["error"])
        return rec["result"]

    # ==== booking ==================================================================================================
    async def book(self, offer_id: str, payment: dict, idempotency_key: str, owner: str) -> dict:
        """Book an offer and pay for it once. Returns the CONFIRMED booking or raises ``BookingError``."""
        key = validate_key(idempotency_key)
        card = self._payment(payment)
        fp = fingerprint("book", offer_id, card["token"])
        replay = await self._replay_if_known(owner, "book", key, fp)
        if replay is not None:
            return replay
        offer = await self._load_offer(offer_id, owner)
        now = self.clock()
        if now >= offer.expires_at:
            raise OfferExpired(f"offer {offer.id} expired at {offer.expires_at.isoformat()}; request a new one",
                               field="offer_id")
        if self.timetable is not None:  # sell only what the timetable still has (a feed may have been published)
            await self.timetable.recheck(offer.legs, self.timetable.today(now))
        booking_id = new_booking_id()
        # Until the booking record exists, a "starting" marker lets recovery free the claims of a dead worker.
        marker = json.dumps({"id": booking_id, "owner": owner, "key": key, "offer_id": offer.id,
                             "at": now.isoformat(), "nonce": secrets.token_hex(4)})
        # The marker goes only once the key is answered or the booking logged: an error in between leaves it for
        # recovery, which answers the key (never a claim stuck for 24 h).
        await self.store.sadd(STARTING, marker)
        if not await self.idem.claim(owner, "book", key, fp, booking_id):
            await self.store.srem(STARTING, marker)
            return await self._replay(owner, "book", key, fp)
        if self.on_step is not None:
            await self.on_step("claimed", {"id": booking_id})
        if not await self.store.set(f"offer-booked:{offer.id}", booking_id, nx=True):
            other = await self.store.get(f"offer-booked:{offer.id}")
            err = Conflict(f"offer {offer.id} is already booked (booking {other})",
                           code="offer_already_booked", field="offer_id")
            await self.idem.complete(owner, "book", key, fp, booking_id, error=err.to_dict())
            await self.store.srem(STARTING, marker)
            raise err
        b = self._new_booking(booking_id, offer, key, fp, now)
        await self.store.sadd(OPEN, booking_id)
        await self._save(b, "created")
        await self.store.srem(STARTING, marker)
        await booking_index.index_created(self.store, b)
        await self._publish(b)
        try:
            return await self._run(b, card)
        except Fenced:
            return await self._yield_booking(b["id"])

    @staticmethod
    def _payment(payment: object) -> dict:
        """Only a payment token goes past this point (card numbers are tokenized at the API edge)."""
        token = payment.get("token") if isinstance(payment, dict) else None
        if not isinstance(token, str) or not TOKEN_RE.match(token):
            raise InvalidInput('payment must be {"token": "tok_…"}, a token from the payment provider',
                               field="payment.token")
        return {"token": token}

    def _new_booking(self, booking_id: str, offer: Offer, key: str, fp: str, now: dt.datetime) -> dict:
        q = offer.quote
        return {"id": booking_id, "version": 0, "holder": self.holder, "owner": offer.owner, "offer_id": offer.id,
                "idempotency_key": key, "fp": fp,
                "state": "PENDING", "step": "created", "reason": None, "created_at": now.isoformat(),
                "updated_at": now.isoformat(), "total": q["total"], "currency": q["currency"],
                "per_operator": q["per_operator"], "passengers": offer.passengers.to_dict(),
                "legs": [{"index": leg.index, "operator": leg.operator, "leg": leg.to_dict(),
                          "price": p.to_dict(), "hold_id": f"{booking_id}:{leg.index}", "hold": None,
                          "ticket": None, "state": "new", "refund": None}
                         for leg, p in zip(offer.legs, offer.prices)],
                "payment": {"auth_id": None, "status": "none", "captured": 0, "refunded": 0},
                "cancellations": [], "history": []}

    async def _save(self, b: dict, step: str) -> None:
        """Log ``step`` on the booking (write-ahead, compare-and-set on its version), then give the
        fault-injection hook its chance. Raises ``Fenced`` when the booking was taken over since we wrote it."""
        now = self.clock().isoformat()
        b["step"], b["updated_at"] = step, now
        b["history"].append({"at": now, "state": b["state"], "step": step, "by": b.get("holder")})
        await self._write(b)
        if self.on_step is not None:
            await self.on_step(step, b)

    async def _write(self, b: dict) -> None:
        expected = b.get("version", 0)  # records from before versions count as version 0
        b["version"] = expected + 1
        if not await self.store.replace_versioned(f"booking:{b['id']}", orjson.dumps(b).decode(), expected):
            b["version"] = expected
            raise Fenced(b["id"])

    async def take_over(self, b: dict, holder: str) -> None:
        """Become the booking's owner (recovery): one compare-and-set write; ``Fenced`` if somebody wrote first.
        From then on the previous owner's writes are refused."""
        b["holder"] = holder
        b["history"].append({"at": self.clock().isoformat(), "state": b["state"], "step": b["step"],
                             "taken_over_by": holder})
        await self._write(b)

    async def _load_raw(self, booking_id: str) -> dict | None:
        raw = await self.store.get(f"booking:{booking_id}")
        return json.loads(raw) if raw else None

    async def _settled(self, booking_id: str, done) -> dict | None:
        """Poll the booking until ``done(b)`` holds (the new owner finished), up to the idempotency wait."""
        loop = asyncio.get_running_loop()
        deadline, poll = loop.time() + self.idempotency_wait_s, 0.02
        while True:
            b = await self._load_raw(booking_id)
            if b is None or done(b):
                return b
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(poll)
            poll = min(poll * 1.5, 0.25)

    async def _yield_booking(self, booking_id: str) -> dict:
        """We were fenced off a booking: wait for its new owner's outcome, undo whatever we did after losing it
        (a late hold, authorization or ticket: every undo is idempotent per booking), answer with the outcome."""
        b = await self._settled(booking_id, lambda x: x["state"] in TERMINAL)
        if b is None or b["state"] not in TERMINAL:
            raise Conflict(f"booking {booking_id} was taken over by crash recovery and is still being finished; "
                           "retry with the same Idempotency-Key", code="request_in_progress")
        if b["state"] in ("REJECTED", "EXPIRED"):  # rolled back: our late effects too (never a later cancel's)
            await self._undo(b, self.clock())
            r = b["reason"] or {"code": "interrupted", "detail": "the booking was rolled back", "status": 503}
            raise BookingError(r["detail"], code=r["code"], status=r.get("status", 409))
        return self.public(b)

    async def _publish(self, b: dict) -> None:
        event = {"type": "booking.status", "booking_id": b["id"], "state": b["state"], "at": b["updated_at"],
                 "reason": b["reason"]}
        await self.store.publish(f"events:{b['owner']}", json.dumps(event))

    async def _run(self, b: dict, card: dict) -> dict:
        """Holds (all operators at once), one authorization, tickets (all at once), then capture."""
        try:
            await self._save(b, "hold")
            await self._each_leg(b, self._hold)
            await self._save(b, "authorize")
            auth = await self.payments.authorize(b["total"], card, reference=b["id"],
                                                 idempotency_key=f"{b['id']}:authorize")
            b["payment"].update(auth_id=auth.id, status="authorized")
            await self._save(b, "confirm")
            await self._each_leg(b, self._confirm)
        except OperatorError as err:
            state = "EXPIRED" if err.code == "hold_expired" else "REJECTED"
            return await self._compensate(b, from_operator_error(err), state)
        except PaymentError as err:
            return await self._compensate(b, payment_error(err), "REJECTED")
        return await self._finish(b)

    @staticmethod
    async def _each_leg(b: dict, call) -> None:
        """Run ``call`` on every leg concurrently (operators are independent remote APIs); raise the first leg's
        error only after all calls settled, so every success is recorded for compensation."""
        results = await asyncio.gather(*[call(b, leg) for leg in b["legs"]], return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _hold(self, b: dict, leg: dict) -> None:
        adapter = self.operators.get(leg["operator"])
        hold = await adapter.hold(leg["hold_id"], LegRef.from_dict(leg["leg"]), Passengers(**b["passengers"]),
                                  self.clock(), self.hold_ttl_s)
        leg["hold"], leg["state"] = hold.to_dict(), "held"

    async def _confirm(self, b: dict, leg: dict) -> None:
        adapter = self.operators.get(leg["operator"])
        ticket = await adapter.confirm(Hold.from_dict(leg["hold"]), leg["price"]["total"], self.clock())
        leg["ticket"], leg["state"] = ticket.to_dict(), "confirmed"

    async def _finish(self, b: dict) -> dict:
        """Capture and post the ledger; both idempotent, so recovery may call this again."""
        try:
            await self._save(b, "capture")
            auth = await self.payments.capture(b["payment"]["auth_id"], b["total"],
                                               idempotency_key=f"{b['id']}:capture")
        except PaymentError as err:
            return await self._compensate(b, payment_error(err), "REJECTED")
        b["payment"].update(status="captured", captured=auth.captured)
        await self.ledger.post_capture(b["id"], b["per_operator"], dt.datetime.fromisoformat(b["updated_at"]))
        b["state"] = "CONFIRMED"
        await self._save(b, "done")
        await self.store.durable()
        result = self.public(b)
        await self.idem.complete(b["owner"], "book", b["idempotency_key"], b["fp"], b["id"], result=result)
        await booking_index.reindex(self.store, b, "PENDING")
        await self.store.srem(OPEN, b["id"])
        await self._publish(b)
        return result

    async def _compensate(self, b: dict, err: BookingError, state: str) -> dict:
        """Undo every effect of a failed booking (each undo idempotent), record why, and raise ``err``."""
        if b.get("reason") is None:
            b["reason"] = {"code": err.code, "detail": err.detail, "status": err.status}
        await self._save(b, "compensate")
        await self._undo(b, self.clock())
        b["state"] = state
        await self._save(b, "done")
        r = b["reason"]  # the first cause: a recovery finishing this compensation replays it, not "interrupted"
        error = BookingError(r["detail"], code=r["code"], status=r.get("status", err.status),
                             field=err.field if r["code"] == err.code else None)
        await self.idem.complete(b["owner"], "book", b["idempotency_key"], b["fp"], b["id"], error=error.to_dict())
        await self.store.delete_if(f"offer-booked:{b['offer_id']}", b["id"])  # the offer may be tried again
        await booking_index.reindex(self.store, b, "PENDING")
        await self.store.srem(OPEN, b["id"])
        await self._publish(b)
        raise error

    async def _undo(self, b: dict, now: dt.datetime) -> None:
        """Release every hold, void every ticket and the authorization (refund a capture): idempotent per booking,
        and found from the booking id even where the record never learnt the operator's or provider's answer."""
        for leg in reversed(b["legs"]):  # every undo is idempotent, so legs never held are harmless
            adapter = self.operators.get(leg["operator"])
            hold = self._hold_of(b, leg)
            if leg["ticket"] is not None:
                await adapter.cancel(hold, Ticket.from_dict(leg["ticket"]), now, void=True)
            else:
                await adapter.release(hold)
            leg["state"] = "released"
        pay = b["payment"]
        found = await self.payments.find(b["id"])  # also finds an authorization we never got to record
        if found is not None:
            if found.status == "captured" and found.captured > found.refunded:
                await self.payments.refund(found.id, found.captured - found.refunded,
                                           idempotency_key=f"{b['id']}:refund-all")
                pay["status"] = "refunded"
            elif found.status == "authorized":
                await self.payments.void(found.id, idempotency_key=f"{b['id']}:void")
                pay["status"] = "voided"
            pay["auth_id"] = found.id

    def _hold_of(self, b: dict, leg: dict) -> Hold:
        """The leg's hold, rebuilt from the leg when the worker died before recording the operator's answer."""
        if leg["hold"] is not None:
            return Hold.from_dict(leg["hold"])
        return Hold(leg["hold_id"], leg["operator"], LegRef.from_dict(leg["leg"]), Passengers(**b["passengers"]),
                    expires_at=0.0)

    # ==== reading ==================================================================================================
    async def _load(self, booking_id: object, owner: str) -> dict:
        if not isinstance(booking_id, str) or not booking_id:
            raise InvalidInput("booking id must be a non-empty string", field="booking_id")
        raw = await self.store.get(f"booking:{booking_id}")
        b = json.loads(raw) if raw else None
        if b is None or b["owner"] != owner:
            raise NotFound(f"no booking {booking_id!r}", field="booking_id")
        return b

    async def get(self, booking_id: str, owner: str) -> dict:
        return self.public(await self._load(booking_id, owner))

    @staticmethod
    def public(b: dict) -> dict:
        """What the traveller sees: state, money, legs with tickets and refunds (no internal step log)."""
        return {"id": b["id"], "state": b["state"], "offer_id": b["offer_id"], "reason": b["reason"],
                "created_at": b["created_at"], "updated_at": b["updated_at"], "total": b["total"],
                "currency": b["currency"], "per_operator": b["per_operator"], "passengers": b["passengers"],
                "payment": {k: b["payment"][k] for k in ("status", "captured", "refunded")},
                "legs": [{"index": leg["index"], "operator": leg["operator"], "state": leg["state"],
                          "amount": leg["price"]["total"], "departure": leg["leg"]["departure"],
                          "ticket": leg["ticket"], "refund": leg["refund"]} for leg in b["legs"]],
                "cancellations": [{k: c[k] for k in ("id", "legs", "refund_total", "state")}
                                  for c in b["cancellations"]]}

    async def list_bookings(self, owner: str, *, state: str | None = None, since: dt.datetime | None = None,
                            cursor: str | None = None, limit: int = 20) -> dict:
        """One page of ``owner``'s bookings, oldest first, from the per-partner index (no scan): optionally only
        those in ``state`` and created at or after ``since``; ``next_cursor`` continues after the last one."""
        if state is not None and state not in booking_index.STATES:
            raise InvalidInput(f"status must be one of {', '.join(booking_index.STATES)}", field="status")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be an integer 1..{MAX_PAGE}", field="limit")
        after = ""
        if since is not None:
            if since.tzinfo is None:
                raise InvalidInput("since needs a UTC offset (e.g. 2026-11-24T00:00:00+09:00)", field="since")
            after = booking_index.time_member(since) + "|"  # "stamp|bk_…" sorts after "stamp|": inclusive
        if cursor is not None:
            after = max(after, decode_cursor(cursor))
        ids = await booking_index.page(self.store, owner, state=state, after=after, limit=limit)
        out = []
        for booking_id in ids:
            b = await self._load_raw(booking_id)
            if b is not None and b["owner"] == owner:
                out.append(self.public(b))
        last = f"{booking_index.member(out[-1])}" if len(ids) == limit and out else None
        return {"bookings": out, "next_cursor": encode_cursor(last) if last else None}

    # ==== cancellation =============================================================================================
    async def cancel(self, booking_id: str, leg_index: int | None, idempotency_key: str, owner: str) -> dict:
        """Cancel the whole booking (``leg_index`` None) or one leg; refund by each operator's rule."""
        key = validate_key(idempotency_key)
        if leg_index is not None and (isinstance(leg_index, bool) or not isinstance(leg_index, int)):
            raise InvalidInput("leg_index must be an integer or null", field="leg_index")
        fp = fingerprint("cancel", booking_id, leg_index)
        replay = await self._replay_if_known(owner, "cancel", key, fp)
        if replay is not None:
            return replay
        self._cancellable(await self._load(booking_id, owner), leg_index)  # fail fast, nothing stored
        # Until the cancellation is logged on the booking, a marker lets recovery clear a dead worker's claim.
        marker = json.dumps({"id": booking_id, "owner": owner, "key": key, "at": self.clock().isoformat(),
                             "nonce": secrets.token_hex(4)})
        await self.store.sadd(CANCEL_STARTING, marker)  # removed once the key is released or the cancel logged
        if not await self.idem.claim(owner, "cancel", key, fp, booking_id):
            await self.store.srem(CANCEL_STARTING, marker)
            return await self._replay(owner, "cancel", key, fp)
        if self.on_step is not None:
            await self.on_step("cancel-claimed", {"id": booking_id})
        lock, token = f"lock:booking:{booking_id}", secrets.token_hex(8)
        if not await self.store.set(lock, token, ttl_s=60, nx=True):
            await self.idem.release(owner, "cancel", key)
            await self.store.srem(CANCEL_STARTING, marker)
            raise Conflict(f"booking {booking_id} is being changed by another request; retry", code="booking_busy")
        try:
            b = await self._load(booking_id, owner)  # again, under the lock: another cancel may have won
            b["holder"] = self.holder
            try:
                live = self._cancellable(b, leg_index)
            except BookingError:
                await self.idem.release(owner, "cancel", key)
                await self.store.srem(CANCEL_STARTING, marker)
                raise
            cid = "c_" + secrets.token_hex(6)  # refund and ledger ids derive from it, never from the client's key
            b["cancellations"].append({"id": cid, "key": key, "fp": fp, "legs": [leg["index"] for leg in live],
                                       "refund_total": None, "state": "running", "lock": token})
            await self.store.sadd(OPEN, b["id"])
            try:
                await self._save(b, f"cancel:{cid}")
            except Fenced:  # recovery wrote the booking since we read it: nothing of ours was logged
                await self.idem.release(owner, "cancel", key)
                await self.store.srem(CANCEL_STARTING, marker)
                raise Conflict(f"booking {booking_id} is being changed by another request; retry",
                               code="booking_busy") from None
            await self.store.srem(CANCEL_STARTING, marker)
            try:
                return await self._finish_cancel(b, cid)
            except Fenced:
                return await self._yield_cancel(booking_id, cid)
        finally:
            await self.store.delete_if(lock, token)

    async def _yield_cancel(self, booking_id: str, cid: str) -> dict:
        """Fenced off a cancellation: its steps are idempotent, so the new owner's result is ours to return."""
        def done(b: dict) -> bool:
            return any(c["id"] == cid and c["state"] == "done" for c in b["cancellations"])

        b = await self._settled(booking_id, done)
        if b is None or not done(b):
            raise Conflict(f"the cancellation of {booking_id} was taken over by crash recovery and is still being "
                           "finished; retry with the same Idempotency-Key", code="request_in_progress")
        return self.public(b)

    @staticmethod
    def _cancellable(b: dict, leg_index: int | None) -> list[dict]:
        """The legs a cancel request would cancel, or the reason it cannot."""
        if b["state"] != "CONFIRMED":
            raise Conflict(f"booking {b['id']} is {b['state']}; only CONFIRMED bookings can be cancelled",
                           code="not_cancellable", field="booking_id")
        live = [leg for leg in b["legs"] if leg["state"] == "confirmed"]
        if leg_index is not None:
            live = [leg for leg in live if leg["index"] == leg_index]
            if not live:
                known = [leg["index"] for leg in b["legs"] if leg["state"] == "confirmed"]
                raise InvalidInput(f"leg {leg_index} is not a booked, uncancelled leg of {b['id']} "
                                   f"(cancellable legs: {known})", field="leg_index")
        return live

    async def _finish_cancel(self, b: dict, cid: str) -> dict:
        """Cancel each leg with its operator, refund the sum once, post the ledger. Idempotent (recovery)."""
        c = next(x for x in b["cancellations"] if x["id"] == cid)
        now = self.clock()
        shares: dict[str, int] = {}
        for leg in b["legs"]:
            if leg["index"] not in c["legs"]:
                continue
            if leg["state"] != "cancelled":
                adapter = self.operators.get(leg["operator"])
                refund = await adapter.cancel(self._hold_of(b, leg), Ticket.from_dict(leg["ticket"]), now)
                leg["refund"], leg["state"] = refund.to_dict(), "cancelled"
            shares[leg["operator"]] = shares.get(leg["operator"], 0) + leg["refund"]["amount"]
        total = sum(shares.values())
        c["refund_total"] = total
        await self._save(b, f"refund:{cid}")
        if total:
            auth = await self.payments.refund(b["payment"]["auth_id"], total, idempotency_key=f"{b['id']}:{cid}")
            b["payment"]["refunded"] = auth.refunded
            await self.ledger.post_refund(b["id"], cid, shares, now)
        c["state"] = "done"
        if all(leg["state"] == "cancelled" for leg in b["legs"]):
            b["state"] = "CANCELLED"
        await self._save(b, "done")
        await self.store.durable()
        result = self.public(b)
        await self.idem.complete(b["owner"], "cancel", c["key"], c["fp"], b["id"], result=result)
        await booking_index.reindex(self.store, b, "CONFIRMED")
        await self.store.srem(OPEN, b["id"])
        await self._publish(b)
        return result
