"""Operator id (feed namespace) → adapter and fares, from the live operators' setups (operators/catalog.py)."""
from __future__ import annotations

from typing import Callable, Mapping

from operators.adapter import ProfileAdapter
from operators.base import LegRef, OperatorAdapter, OperatorError, Passengers, TicketSigner
from operators.catalog import OperatorSetup
from operators.fare_engine import JourneyFare, OperatorFares, price_journey
from operators.inventory import OperatorStore


class UnknownOperator(OperatorError):
    code = "unknown_operator"


class OperatorRegistry:
    """Adapters and fares of the operators ``setups()`` names; ``register`` pins an adapter (a remote operator's
    API client, or a test double) in place of the generic one."""

    def __init__(self, store: OperatorStore, setups: Callable[[], Mapping[str, OperatorSetup]] | Mapping,
                 *, signer: TicketSigner | None = None):
        self.store = store
        self.setups = setups if callable(setups) else (lambda s=dict(setups): s)
        self.signer = signer or TicketSigner()  # one key for every adapter (a random one unless given)
        self.pinned: dict[str, OperatorAdapter] = {}
        self._adapters: dict[str, tuple[OperatorSetup, ProfileAdapter]] = {}

    def register(self, adapter: OperatorAdapter) -> None:
        self.pinned[adapter.operator_id] = adapter

    def get(self, operator_id: str) -> OperatorAdapter:
        if operator_id in self.pinned:
            return self.pinned[operator_id]
        setup = self.setups().get(operator_id)
        if setup is None:
            raise UnknownOperator(f"no operator {operator_id!r} is live (known: {sorted(self.setups())})",
                                  operator=operator_id)
        hit = self._adapters.get(operator_id)
        if hit is None or hit[0] is not setup:
            hit = (setup, ProfileAdapter(self.store, setup.profile, setup.seats, signer=self.signer))
            self._adapters[operator_id] = hit
        return hit[1]

    def fares(self) -> dict[str, OperatorFares]:
        return {op: s.fares for op, s in self.setups().items()}

    def price(self, legs: list[LegRef], passengers: Passengers, medium: str) -> JourneyFare:
        """The journey's fare (raises `FareUnknown`); the one computation behind plans, offers and bookings."""
        return price_journey(self.fares(), legs, passengers, medium)
