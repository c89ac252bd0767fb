"""Toei bus (23 wards): one flat fare paid per boarding; no seat inventory."""
from __future__ import annotations

from dataclasses import dataclass

from maas.store.base import Store
from operators.adapter import StoreAdapter
from operators.base import LegPrice, LegRef, Passengers, RefundRule, TicketSigner


@dataclass(frozen=True)
class FlatFare:
    """Adult and child fares per medium, int JPY."""

    adult_ticket: int = 210
    adult_ic: int = 210
    child_ticket: int = 110
    child_ic: int = 105

    def fares(self, medium: str) -> tuple[int, int]:
        if medium == "ic":
            return self.adult_ic, self.child_ic
        if medium == "ticket":
            return self.adult_ticket, self.child_ticket
        raise ValueError(f"unknown fare medium {medium!r} (use 'ic' or 'ticket')")


class ToeiBusAdapter(StoreAdapter):
    refund_rule = RefundRule(full_before_min=0)

    def __init__(self, store: Store, *, fare: FlatFare = FlatFare(), operator_id: str = "toei-bus",
                 signer: TicketSigner | None = None):
        super().__init__(store, signer=signer)
        self.operator_id = operator_id
        self.fare = fare

    def price(self, leg: LegRef, passengers: Passengers, medium: str = "ticket") -> LegPrice:
        adult, child = self.fare.fares(medium)
        return LegPrice(self.operator_id, adult, child, adult * passengers.adult + child * passengers.child,
                        medium, "flat fare")
