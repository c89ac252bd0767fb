"""Shared machinery of our in-house adapters: hold records, idempotent ticket issue and cancellation in the store.

Operators differ in pricing, inventory and refund rules; the bookkeeping around them is the same, so it lives here
once. Subclasses override ``price``, ``check_bookable`` and the ``_take/_commit/_free`` inventory hooks.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

from maas.store.base import Store
from operators.base import (HoldExpired, Hold, InvalidLeg, LegPrice, LegRef, Passengers, Refund, RefundRule,
                            Ticket, TicketSigner)

GRACE_S = 3600.0  # hold and ticket records outlive their expiry for inspection and recovery


class StoreAdapter:
    """Base adapter: hold/confirm/release/cancel recorded in the store, idempotent per ``hold_id``."""

    operator_id: str = ""
    refund_rule: RefundRule = RefundRule()

    def __init__(self, store: Store, *, signer: TicketSigner | None = None):
        self.store = store
        self.signer = signer or TicketSigner()

    # -- to override ----------------------------------------------------------------------------------------------
    def price(self, leg: LegRef, passengers: Passengers, medium: str = "ticket") -> LegPrice:
        raise NotImplementedError

    def check_bookable(self, leg: LegRef, now: dt.datetime) -> None:
        if leg.departure <= now:
            raise InvalidLeg(f"leg {leg.index} departed at {leg.departure.isoformat()}",
                             operator=self.operator_id, leg_index=leg.index)

    async def _take(self, hold_id: str, leg: LegRef, passengers: Passengers, expires_at: float,
                    now: float) -> int:
        """Take inventory; return the seats taken. Raise SoldOut when there is none."""
        return 0

    async def _commit(self, hold: Hold, now: float) -> bool:
        return True

    async def _free(self, hold: Hold) -> None:
        return None

    # -- the interface --------------------------------------------------------------------------------------------
    async def hold(self, hold_id: str, leg: LegRef, passengers: Passengers, now: dt.datetime,
                   ttl_s: float) -> Hold:
        self.check_bookable(leg, now)
        expires_at = now.timestamp() + ttl_s
        seats = await self._take(hold_id, leg, passengers, expires_at, now.timestamp())  # idempotent per hold_id
        hold = Hold(hold_id, self.operator_id, leg, passengers, expires_at, seats)
        key = f"ophold:{self.operator_id}:{hold_id}"
        if await self.store.set(key, json.dumps(hold.to_dict()), ttl_s=ttl_s + GRACE_S, nx=True):
            return hold
        return Hold.from_dict(json.loads(await self.store.get(key)))  # a retry: the first hold stands

    async def confirm(self, hold: Hold, fare: int, now: dt.datetime) -> Ticket:
        key = f"ticket:{self.operator_id}:{hold.hold_id}"
        existing = await self.store.get(key)
        if existing is not None:
            return Ticket.from_dict(json.loads(existing))
        if now.timestamp() >= hold.expires_at or not await self._commit(hold, now.timestamp()):
            raise HoldExpired(f"the {self.operator_id} hold for leg {hold.leg.index} expired before payment",
                              operator=self.operator_id, leg_index=hold.leg.index)
        ticket = self._issue(hold, fare)
        if await self.store.set(key, json.dumps(ticket.to_dict()), nx=True):
            return ticket
        return Ticket.from_dict(json.loads(await self.store.get(key)))  # a concurrent confirm won

    async def release(self, hold: Hold) -> None:
        """Give the inventory back; a ticket already issued for the hold (its issue not yet recorded by the
        caller when a worker died) is voided too, so no ticket survives an unpaid booking."""
        raw = await self.store.get(f"ticket:{self.operator_id}:{hold.hold_id}")
        if raw is not None:
            ticket = Ticket.from_dict(json.loads(raw))
            await self.store.set(f"ticket-cancel:{self.operator_id}:{ticket.ticket_id}",
                                 json.dumps(Refund(ticket.fare, 0, "void before capture").to_dict()), nx=True)
        await self._free(hold)
        await self.store.delete(f"ophold:{self.operator_id}:{hold.hold_id}")

    async def ticket_status(self, ticket_id: str) -> str:
        """"valid" or "cancelled": what a gate or inspector would ask the operator."""
        return "cancelled" if await self.store.get(f"ticket-cancel:{self.operator_id}:{ticket_id}") else "valid"

    async def cancel(self, hold: Hold, ticket: Ticket, now: dt.datetime, *, void: bool = False) -> Refund:
        key = f"ticket-cancel:{self.operator_id}:{ticket.ticket_id}"
        refund = self.refund_rule.refund(ticket.fare, hold.leg.departure, now, void=void)
        if not await self.store.set(key, json.dumps(refund.to_dict()), nx=True):
            refund = Refund(**json.loads(await self.store.get(key) or json.dumps(refund.to_dict())))
        await self._free(hold)  # idempotent: a retry after a crash still frees the seat
        return refund

    # -- tickets --------------------------------------------------------------------------------------------------
    def _issue(self, hold: Hold, fare: int) -> Ticket:
        digest = hashlib.sha256(f"{self.operator_id}|{hold.hold_id}".encode()).hexdigest()[:16].upper()
        ticket_id = f"{self.operator_id}-{digest}"
        leg = hold.leg
        valid_from = leg.departure - dt.timedelta(minutes=30)
        valid_until = leg.arrival + dt.timedelta(hours=2)
        qr = self.signer.payload({"op": self.operator_id, "tid": ticket_id, "trip": leg.trip_id,
                                  "date": leg.service_date, "from": leg.from_stop, "to": leg.to_stop,
                                  "a": hold.passengers.adult, "c": hold.passengers.child,
                                  "vf": valid_from.isoformat(), "vu": valid_until.isoformat()})
        return Ticket(ticket_id=ticket_id, operator=self.operator_id, hold_id=hold.hold_id,
                      validation_code=self.signer.code(ticket_id), qr_payload=qr,
                      valid_from=valid_from.isoformat(), valid_until=valid_until.isoformat(), fare=fare)
