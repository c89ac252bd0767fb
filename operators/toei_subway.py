"""Toei rail (subway, plus the Arakawa tram in the same feed): distance-band fares, zone-pair fares from the feed
when present, a flat fare for the tram; no seat inventory."""
from __future__ import annotations

from maas.store.base import Store
from operators.adapter import StoreAdapter
from operators.base import LegPrice, LegRef, Passengers, RefundRule, TicketSigner
from operators.fares import FareTable, distance_band_fare, ticket_fares


class ToeiSubwayAdapter(StoreAdapter):
    """Prices by the feed's fare_rules (origin/destination zone) when it covers the pair, else by distance band."""

    refund_rule = RefundRule(full_before_min=0, late_bp=0, fee=0)  # unused digital ticket: full refund until departure

    def __init__(self, store: Store, *, fares: FareTable | None = None, operator_id: str = "toei-subway",
                 flat_ic_by_mode: dict[str, int] | None = None, signer: TicketSigner | None = None):
        super().__init__(store, signer=signer)
        self.operator_id = operator_id
        self.fares = fares or FareTable()
        # Toden Arakawa line: one fare whatever the distance (IC 168; ticket 170, child 90 / IC 84 by the rules)
        self.flat_ic_by_mode = {"TRAM": 168} if flat_ic_by_mode is None else flat_ic_by_mode

    def price(self, leg: LegRef, passengers: Passengers, medium: str = "ticket") -> LegPrice:
        ic = self.fares.lookup(leg.from_stop, leg.to_stop)
        if ic is None and leg.mode in self.flat_ic_by_mode:
            ic, basis = self.flat_ic_by_mode[leg.mode], f"flat {leg.mode.lower()} fare"
        elif ic is not None:
            basis = f"feed fare_rules {self.fares.zone_of(leg.from_stop)}→{self.fares.zone_of(leg.to_stop)}"
        else:
            ic, km = distance_band_fare(leg.distance_m)
            basis = f"distance band {km} km"
        adult, child = ticket_fares(ic, medium)
        return LegPrice(self.operator_id, adult, child, adult * passengers.adult + child * passengers.child,
                        medium, basis)
