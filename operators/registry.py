"""Operator id (feed namespace) → adapter. Shuttle operators are every namespace starting with ``shuttle-``."""
from __future__ import annotations

from dataclasses import dataclass, field

from maas.store.base import Store
from operators.base import OperatorAdapter, OperatorError, TicketSigner
from operators.fares import FareTable
from operators.shuttle import ShuttleAdapter, ShuttleConfig
from operators.toei_bus import ToeiBusAdapter
from operators.toei_subway import ToeiSubwayAdapter


class UnknownOperator(OperatorError):
    code = "unknown_operator"


@dataclass
class OperatorRegistry:
    """Adapters by operator id; unknown ``shuttle-*`` ids get an adapter built from ``shuttle_default`` when set."""

    store: Store
    adapters: dict[str, OperatorAdapter] = field(default_factory=dict)
    shuttle_default: ShuttleConfig | None = None
    signer: TicketSigner | None = None

    def register(self, adapter: OperatorAdapter) -> None:
        self.adapters[adapter.operator_id] = adapter

    def get(self, operator_id: str) -> OperatorAdapter:
        adapter = self.adapters.get(operator_id)
        if adapter is None and operator_id.startswith("shuttle-") and self.shuttle_default is not None:
            adapter = ShuttleAdapter(self.store, operator_id, self.shuttle_default, signer=self.signer)
            self.adapters[operator_id] = adapter
        if adapter is None:
            raise UnknownOperator(f"no operator adapter for {operator_id!r} (known: {sorted(self.adapters)})",
                                  operator=operator_id)
        return adapter

    @classmethod
    def tokyo(cls, store: Store, *, subway_fares: FareTable | None = None,
              shuttles: dict[str, ShuttleConfig] | None = None, shuttle_default: ShuttleConfig | None = None,
              signer: TicketSigner | None = None) -> "OperatorRegistry":
        """Toei subway, Toei bus and the given shuttle operators (``{namespace: ShuttleConfig}``), all signing
        tickets with ``signer`` (one random key shared by them when none is given)."""
        signer = signer or TicketSigner()
        reg = cls(store, shuttle_default=shuttle_default, signer=signer)
        reg.register(ToeiSubwayAdapter(store, fares=subway_fares, signer=signer))
        reg.register(ToeiBusAdapter(store, signer=signer))
        for ns, config in (shuttles or {}).items():
            reg.register(ShuttleAdapter(store, ns, config, signer=signer))
        return reg


def shuttle_config_from_feed(feed, **overrides) -> ShuttleConfig:
    """Seats per trip (trips.seat_capacity) and prior notice per trip (booking_rules via the trip's first
    pickup_booking_rule_id) from a normalised shuttle ``Feed`` (feeds/feed.py)."""
    trips = feed.trips
    caps = {str(t): int(c) for t, c in zip(trips["trip_id"], trips["seat_capacity"]) if int(c) > 0}
    notice: dict[str, int] = {}
    furthest: dict[str, int] = {}
    rules = feed.booking_rules
    if len(rules) and "prior_notice_duration_min" in rules and len(feed.stop_times):
        def per_rule(column: str) -> dict[str, int]:
            if column not in rules:
                return {}
            return {str(r): int(m) for r, m in zip(rules["booking_rule_id"], rules[column])
                    if m == m and int(m) >= 0}  # NaN and -1 mean "not stated"
        least, most = per_rule("prior_notice_duration_min"), per_rule("prior_notice_duration_max")
        st = feed.stop_times
        firsts = st[st["pickup_booking_rule_id"].astype(str) != ""].drop_duplicates("trip_id")
        for trip, rule in zip(firsts["trip_id"], firsts["pickup_booking_rule_id"]):
            if str(rule) in least:
                notice[str(trip)] = least[str(rule)]
            if str(rule) in most:
                furthest[str(trip)] = most[str(rule)]
    return ShuttleConfig(capacities=caps, prior_notice_min=notice, prior_notice_max_min=furthest, **overrides)
