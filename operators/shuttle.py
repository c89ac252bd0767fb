"""Autonomous shuttles: booking required with prior notice, seats per trip and per stop-to-stop segment.

A passenger riding stops 2→5 occupies segments 2-3, 3-4 and 4-5 only; the seat is free again from stop 5 on.
Seat accounting is the store's atomic ``reserve_seats`` (Lua in Redis) so concurrent workers never oversell.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from maas.store.base import Store
from operators.adapter import StoreAdapter
from operators.base import (BookingTooEarly, BookingTooLate, Hold, InvalidLeg, LegPrice, LegRef, Passengers,
                            RefundRule, SoldOut, TicketSigner)


@dataclass(frozen=True)
class ShuttleConfig:
    """What the feed says about one shuttle operator: seats per trip and booking prior notice (minutes)."""

    capacities: dict[str, int] = field(default_factory=dict)  # namespaced trip_id → seats
    prior_notice_min: dict[str, int] = field(default_factory=dict)  # trip_id → minutes (booking_rules)
    default_prior_notice_min: int = 0
    prior_notice_max_min: dict[str, int] = field(default_factory=dict)  # trip_id → furthest ahead bookable
    default_capacity: int | None = None  # used for trips missing from ``capacities``; None = unknown trip error
    adult_fare: int = 200
    child_fare: int = 100
    refund_rule: RefundRule = RefundRule(full_before_min=60, late_bp=5000)


class ShuttleAdapter(StoreAdapter):
    def __init__(self, store: Store, operator_id: str, config: ShuttleConfig, *,
                 signer: TicketSigner | None = None):
        super().__init__(store, signer=signer)
        if not operator_id.startswith("shuttle-"):
            raise ValueError(f"shuttle operator ids start with 'shuttle-', got {operator_id!r}")
        self.operator_id = operator_id
        self.config = config
        self.refund_rule = config.refund_rule

    def price(self, leg: LegRef, passengers: Passengers, medium: str = "ticket") -> LegPrice:
        c = self.config
        return LegPrice(self.operator_id, c.adult_fare, c.child_fare,
                        c.adult_fare * passengers.adult + c.child_fare * passengers.child, medium, "flat fare")

    def capacity(self, trip_id: str) -> int:
        cap = self.config.capacities.get(trip_id, self.config.default_capacity)
        if cap is None or cap <= 0:
            raise InvalidLeg(f"{trip_id} is not a bookable {self.operator_id} trip", operator=self.operator_id)
        return cap

    def check_bookable(self, leg: LegRef, now: dt.datetime) -> None:
        super().check_bookable(leg, now)
        self.capacity(leg.trip_id)
        if leg.to_seq <= leg.from_seq:
            raise InvalidLeg(f"leg {leg.index}: alighting sequence {leg.to_seq} is not after boarding "
                             f"{leg.from_seq}", operator=self.operator_id, leg_index=leg.index)
        notice = self.config.prior_notice_min.get(leg.trip_id, self.config.default_prior_notice_min)
        ahead = leg.departure - now
        if ahead < dt.timedelta(minutes=notice):
            raise BookingTooLate(f"{self.operator_id} needs booking {notice} min before departure "
                                 f"({leg.departure.isoformat()})", operator=self.operator_id, leg_index=leg.index)
        furthest = self.config.prior_notice_max_min.get(leg.trip_id)
        if furthest is not None and ahead > dt.timedelta(minutes=furthest):
            raise BookingTooEarly(f"{self.operator_id} takes bookings at most {furthest} min before departure "
                                  f"({leg.departure.isoformat()})", operator=self.operator_id, leg_index=leg.index)

    @staticmethod
    def resource(leg: LegRef) -> str:
        """Seat inventory key: one trip on one service date."""
        return f"{leg.operator}|{leg.service_date}|{leg.trip_id}"

    async def _take(self, hold_id: str, leg: LegRef, passengers: Passengers, expires_at: float,
                    now: float) -> int:
        res = await self.store.reserve_seats(self.resource(leg), self.capacity(leg.trip_id), leg.from_seq,
                                             leg.to_seq, passengers.total, hold_id, expires_at, now)
        if not res.ok:
            raise SoldOut(f"{self.operator_id} trip {leg.trip_id} is sold out between stops {leg.from_seq} and "
                          f"{leg.to_seq} ({res.available} seat(s) left, {passengers.total} needed)",
                          operator=self.operator_id, leg_index=leg.index)
        return passengers.total

    async def _commit(self, hold: Hold, now: float) -> bool:
        return await self.store.commit_seats(self.resource(hold.leg), hold.hold_id, now)

    async def _free(self, hold: Hold) -> None:
        await self.store.release_seats(self.resource(hold.leg), hold.hold_id)
