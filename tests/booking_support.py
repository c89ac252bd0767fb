"""Helpers shared by the booking, store and crash tests: a settable clock, itineraries, a wired service."""
from __future__ import annotations

import datetime as dt
import uuid

from maas.booking import BookingService
from maas.ledger import Ledger
from maas.payments import SandboxProvider
from maas.store.base import Store
from operators.base import TOKYO
from feeds.fares import FareTables
from feeds.profile import FareSpec, OperatorProfile, RefundWindow
from operators.adapter import SeatRules
from operators.catalog import OperatorSetup, builtin_profile
from operators.registry import OperatorRegistry

START = dt.datetime(2026, 11, 24, 8, 0, tzinfo=TOKYO)
SHUTTLE = "shuttle-nishishinjuku"
SHUTTLE_TRIP = f"{SHUTTLE}:T1"
GOOD_CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030}


class Clock:
    """A settable Tokyo clock for deterministic expiry tests."""

    def __init__(self, start: dt.datetime = START):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _t(h: int, m: int) -> str:
    return dt.datetime(2026, 11, 24, h, m, tzinfo=TOKYO).isoformat()


def subway_leg(from_stop: str = "toei-subway:101", to_stop: str = "toei-subway:110", distance_m: int = 6200) -> dict:
    return {"mode": "SUBWAY", "operator": "toei-subway", "route": {"id": "toei-subway:1"},
            "trip_id": "toei-subway:A1001", "service_date": "2026-11-24",
            "from": {"stop_id": from_stop, "sequence": 1}, "to": {"stop_id": to_stop, "sequence": 6},
            "departure": _t(10, 0), "arrival": _t(10, 14), "distance_m": distance_m, "booking_required": False}


def bus_leg() -> dict:
    return {"mode": "BUS", "operator": "toei-bus", "route": {"id": "toei-bus:都01"}, "trip_id": "toei-bus:B77",
            "service_date": "2026-11-24", "from": {"stop_id": "toei-bus:0001_01", "sequence": 3},
            "to": {"stop_id": "toei-bus:0042_02", "sequence": 9}, "departure": _t(10, 20), "arrival": _t(10, 35),
            "distance_m": 2400, "booking_required": False}


def shuttle_leg(from_seq: int = 1, to_seq: int = 4, trip: str = SHUTTLE_TRIP) -> dict:
    return {"mode": "SHUTTLE", "operator": SHUTTLE, "route": {"id": f"{SHUTTLE}:R1"}, "trip_id": trip,
            "service_date": "2026-11-24", "from": {"stop_id": f"{SHUTTLE}:S{from_seq}", "sequence": from_seq},
            "to": {"stop_id": f"{SHUTTLE}:S{to_seq}", "sequence": to_seq}, "departure": _t(10, 45),
            "arrival": _t(10, 55), "distance_m": 1800, "booking_required": True}


def walk_leg() -> dict:
    return {"mode": "WALK", "from": {"lat": 35.69, "lon": 139.69}, "to": {"lat": 35.691, "lon": 139.692},
            "departure": _t(9, 55), "arrival": _t(10, 0), "distance_m": 300}


def itinerary(*legs: dict) -> dict:
    return {"id": "it-" + uuid.uuid4().hex[:8], "legs": list(legs) or [walk_leg(), subway_leg(), bus_leg(),
                                                                       shuttle_leg()]}


SHUTTLE_PROFILE = OperatorProfile(
    SHUTTLE, {"ja": "西新宿シャトル", "en": "Nishi-Shinjuku Shuttle"},
    FareSpec("flat", flat={"ic": 200, "ticket": 200}, flat_child={"ic": 100, "ticket": 100}),
    seat_inventory=True, default_prior_notice_min=30,
    refund_windows=(RefundWindow(60, 100), RefundWindow(0, 50)), settlement={"account": "acct-shuttle"})


def tokyo_setups(seats: int = 10) -> dict[str, OperatorSetup]:
    """Toei subway and bus by their built-in profiles (no feed fares: bands and flat fare), the shuttle by its
    profile with seats on T1 and T2."""
    return {"toei-subway": OperatorSetup(builtin_profile("toei-subway"), FareTables("toei-subway")),
            "toei-bus": OperatorSetup(builtin_profile("toei-bus"), FareTables("toei-bus")),
            SHUTTLE: OperatorSetup(SHUTTLE_PROFILE, FareTables(SHUTTLE),
                                   SeatRules({SHUTTLE_TRIP: seats, f"{SHUTTLE}:T2": 2}))}


def make_service(store: Store, clock: Clock | None = None, *, seats: int = 10, commission_bp: int = 500,
                 on_step=None, registry: OperatorRegistry | None = None, **kw) -> BookingService:
    registry = registry or OperatorRegistry(store, tokyo_setups(seats))
    return BookingService(store, registry, SandboxProvider(store), Ledger(store, commission_bp=commission_bp),
                          clock or Clock(), on_step=on_step, **kw)


async def open_test_store(kind: str, redis_url: str | None = None, sqlite_path: str = ":memory:") -> Store:
    """A fresh store: embedded (SQLite) or Redis under a random key prefix so parallel tests never meet."""
    if kind == "embedded":
        from maas.store.embedded import EmbeddedStore

        return EmbeddedStore(sqlite_path)
    from maas.store.redis_store import RedisStore

    return RedisStore.from_url(redis_url, prefix=f"test:{uuid.uuid4().hex}:")


async def drop_test_store(store: Store) -> None:
    """Delete a Redis test store's keys (its prefix only) and close it."""
    from maas.store.redis_store import RedisStore

    if isinstance(store, RedisStore):
        keys = [k async for k in store.r.scan_iter(match=store.prefix + "*", count=1000)]
        if keys:
            await store.r.delete(*keys)
    await store.aclose()
