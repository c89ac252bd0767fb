"""The one in-house operator adapter, driven by data: an operator's profile (feeds/profile.py) and what its feed
says about seats and booking rules. Holds, tickets and cancellations are records in the shared store, idempotent
per ``hold_id``; seats (when the profile inventories them) are the store's atomic per-segment holds.

A passenger riding stops 2→5 occupies segments 2-3, 3-4 and 4-5 only; the seat is free again from stop 5 on.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from feeds.profile import OperatorProfile
from operators.base import (BookingTooEarly, BookingTooLate, Hold, HoldExpired, InvalidLeg, LegRef, Passengers,
                            Refund, SoldOut, Ticket, TicketSigner, refund_for)
from operators.inventory import OperatorStore

GRACE_S = 3600.0  # hold and ticket records outlive their expiry for inspection and recovery


@dataclass(frozen=True)
class SeatRules:
    """Seats per trip (trips.seat_capacity) and booking notice per trip (GTFS-Flex booking_rules), namespaced."""

    capacities: dict[str, int] = field(default_factory=dict)
    prior_notice_min: dict[str, int] = field(default_factory=dict)  # least notice, minutes
    prior_notice_max_min: dict[str, int] = field(default_factory=dict)  # furthest ahead bookable, minutes


class ProfileAdapter:
    """An operator as its profile describes it: hold (seats if inventoried), confirm (ticket), cancel (refund by
    the profile's windows)."""

    def __init__(self, store: OperatorStore, profile: OperatorProfile, seats: SeatRules = SeatRules(), *,
                 signer: TicketSigner | None = None):
        self.store = store
        self.profile = profile
        self.seats = seats
        self.signer = signer or TicketSigner()
        self.operator_id = profile.operator

    # -- checks ---------------------------------------------------------------------------------------------------
    def capacity(self, trip_id: str) -> int:
        cap = self.seats.capacities.get(trip_id)
        if cap is None or cap <= 0:
            raise InvalidLeg(f"{trip_id} is not a bookable {self.operator_id} trip (no seat_capacity)",
                             operator=self.operator_id)
        return cap

    def check_bookable(self, leg: LegRef, now: dt.datetime) -> None:
        if leg.departure <= now:
            raise InvalidLeg(f"leg {leg.index} departed at {leg.departure.isoformat()}",
                             operator=self.operator_id, leg_index=leg.index)
        if not self.profile.seat_inventory:
            return
        self.capacity(leg.trip_id)
        if leg.to_seq <= leg.from_seq:
            raise InvalidLeg(f"leg {leg.index}: alighting sequence {leg.to_seq} is not after boarding "
                             f"{leg.from_seq}", operator=self.operator_id, leg_index=leg.index)
        notice = self.seats.prior_notice_min.get(leg.trip_id, self.profile.default_prior_notice_min)
        ahead = leg.departure - now
        if ahead < dt.timedelta(minutes=notice):
            raise BookingTooLate(f"{self.operator_id} needs booking {notice} min before departure "
                                 f"({leg.departure.isoformat()})", operator=self.operator_id, leg_index=leg.index)
        furthest = self.seats.prior_notice_max_min.get(leg.trip_id)
        if furthest is not None and ahead > dt.timedelta(minutes=furthest):
            raise BookingTooEarly(f"{self.operator_id} takes bookings at most {furthest} min before departure "
                                  f"({leg.departure.isoformat()})", operator=self.operator_id, leg_index=leg.index)

    # -- inventory ------------------------------------------------------------------------------------------------
    @staticmethod
    def resource(leg: LegRef) -> str:
        """Seat inventory key: one trip on one service date."""
        return f"{leg.operator}|{leg.service_date}|{leg.trip_id}"

    async def _take(self, hold_id: str, leg: LegRef, passengers: Passengers, expires_at: float, now: float) -> int:
        if not self.profile.seat_inventory:
            return 0
        res = await self.store.reserve_seats(self.resource(leg), self.capacity(leg.trip_id), leg.from_seq,
                                             leg.to_seq, passengers.total, hold_id, expires_at, now)
        if not res.ok:
            raise SoldOut(f"{self.operator_id} trip {leg.trip_id} is sold out between stops {leg.from_seq} and "
                          f"{leg.to_seq} ({res.available} seat(s) left, {passengers.total} needed)",
                          operator=self.operator_id, leg_index=leg.index)
        return passengers.total

    async def _commit(self, hold: Hold, now: float) -> bool:
        if not self.profile.seat_inventory:
            return True
        return await self.store.commit_seats(self.resource(hold.leg), hold.hold_id, now)

    async def _free(self, hold: Hold) -> None:
        """Idempotent; a hold rebuilt by recovery (seats unknown) frees whatever the store holds for it."""
        if self.profile.seat_inventory:
            await self.store.release_seats(self.resource(hold.leg), hold.hold_id)

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

    def refund(self, fare: int, departure: dt.datetime, now: dt.datetime, void: bool = False) -> Refund:
        return refund_for(self.profile.refund_windows, fare, departure, now, void)

    async def cancel(self, hold: Hold, ticket: Ticket, now: dt.datetime, *, void: bool = False) -> Refund:
        key = f"ticket-cancel:{self.operator_id}:{ticket.ticket_id}"
        refund = self.refund(ticket.fare, hold.leg.departure, now, void=void)
        if not await self.store.set(key, json.dumps(refund.to_dict()), nx=True):
            refund = Refund(**json.loads(await self.store.get(key) or json.dumps(refund.to_dict())))
        await self._free(hold)  # idempotent: a retry after a crash still frees the seat
        return refund

    # -- tickets --------------------------------------------------------------------------------------------------
    def _issue(self, hold: Hold, fare: int) -> Ticket:
        digest = hashlib.sha256(f"{self.operator_id}|{hold.hold_id}".encode()).hexdigest()[:16].upper()
        ticket_id = f"{self.operator_id}-{digest}"
        leg = hold.leg
        valid_from = leg.departure - dt.timedelta(minutes=self.profile.ticket_valid_before_min)
        valid_until = leg.arrival + dt.timedelta(minutes=self.profile.ticket_valid_after_min)
        qr = self.signer.payload({"op": self.operator_id, "tid": ticket_id, "trip": leg.trip_id,
                                  "date": leg.service_date, "from": leg.from_stop, "to": leg.to_stop,
                                  "a": hold.passengers.adult, "c": hold.passengers.child,
                                  "vf": valid_from.isoformat(), "vu": valid_until.isoformat()})
        return Ticket(ticket_id=ticket_id, operator=self.operator_id, hold_id=hold.hold_id,
                      validation_code=self.signer.code(ticket_id), qr_payload=qr,
                      valid_from=valid_from.isoformat(), valid_until=valid_until.isoformat(), fare=fare)
