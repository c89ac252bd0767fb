"""Toei subway: distance-band fares (zone-pair fares from the feed when present), no seat inventory."""
from __future__ import annotations

from maas.store.base import Store
from operators.adapter import StoreAdapter
from operators.base import LegPrice, LegRef, Passengers, RefundRule, TicketSigner
from operators.fares import FareTable, distance_band_fare, ticket_fares


class ToeiSubwayAdapter(StoreAdapter):
    """Prices by the feed's fare_rules (origin/destination zone) when it covers the pair, else by distance band."""

    refund_rule = RefundRule(full_before_min=0, late_bp=0, fee=0)  # unused digital ticket: full refund until departure

    def __init__(self, store: Store, *, fares: FareTable | None = None, operator_id: str = "toei-subway",
                 signer: TicketSigner | None = None):
        super().__init__(store, signer=signer)
        self.operator_id = operator_id
        self.fares = fares or FareTable()

    def price(self, leg: LegRef, passengers: Passengers, medium: str = "ticket") -> LegPrice:
        ic = self.fares.lookup(leg.from_stop, leg.to_stop)
        if ic is not None:
            basis = f"feed fare_rules {self.fares.zone_of(leg.from_stop)}→{self.fares.zone_of(leg.to_stop)}"
        else:
            ic, km = distance_band_fare(leg.distance_m)
            basis = f"distance band {km} km"
        adult, child = ticket_fares(ic, medium)
        return LegPrice(self.operator_id, adult, child, adult * passengers.adult + child * passengers.child,
                        medium, basis)
