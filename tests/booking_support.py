"""Helpers shared by the booking, store and crash tests: a settable clock, itineraries, a wired service."""
from __future__ import annotations

import atexit
import datetime as dt
import functools
import shutil
import tempfile
import uuid
from pathlib import Path

from gtfs_builders import hms, write_gtfs
from maas.booking.bookings import BookingService
from maas.itineraries.derive import LegDeriver
from maas.booking.ledger import Ledger
from maas.booking.payments import SandboxProvider
from maas.store.base import Store
from feeds.fares import FareTables
from feeds.profile import FareSpec, OperatorProfile, RefundWindow
from operators.adapter import SeatRules
from operators.base import TOKYO, LegRef
from operators.catalog import OperatorSetup, builtin_profile
from operators.registry import OperatorRegistry

START = dt.datetime(2026, 11, 24, 8, 0, tzinfo=TOKYO)
SHUTTLE = "shuttle-nishishinjuku"
SHUTTLE_TRIP = f"{SHUTTLE}:T1"
GOOD_CARD = {"token": "tok_visa"}  # the API edge turns test card numbers into tokens


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
            "booking_required": False}


def shuttle_leg(from_seq: int = 1, to_seq: int = 4, trip: str = SHUTTLE_TRIP) -> dict:
    def at(seq: int) -> str:  # the shuttle leaves S1 at 10:45 and takes 200 s per stop
        return (dt.datetime(2026, 11, 24, 10, 45, tzinfo=TOKYO) + dt.timedelta(seconds=200 * (seq - 1))).isoformat()
    return {"mode": "SHUTTLE", "operator": SHUTTLE, "route": {"id": f"{SHUTTLE}:R1"}, "trip_id": trip,
            "service_date": "2026-11-24", "from": {"stop_id": f"{SHUTTLE}:S{from_seq}", "sequence": from_seq},
            "to": {"stop_id": f"{SHUTTLE}:S{to_seq}", "sequence": to_seq}, "departure": at(from_seq),
            "arrival": at(to_seq), "booking_required": True}


def leg_ref(d: dict, index: int = 0) -> LegRef:
    """A helper leg as an operator sees it, for adapter unit tests that price or hold a leg directly (the booking
    service itself only ever hands operators legs derived from the timetable)."""
    return LegRef(index=index, operator=d["operator"], mode=d["mode"], trip_id=d["trip_id"],
                  route_id=d["route"]["id"], service_date=d["service_date"], from_stop=d["from"]["stop_id"],
                  to_stop=d["to"]["stop_id"], from_seq=d["from"]["sequence"], to_seq=d["to"]["sequence"],
                  departure=dt.datetime.fromisoformat(d["departure"]), arrival=dt.datetime.fromisoformat(d["arrival"]),
                  distance_m=d.get("distance_m", 0), booking_required=d["booking_required"])


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


# -- the timetable the leg helpers above ride on -------------------------------------------------------------------
HOP_LAT = 0.0111515725  # 1240 m of latitude: subway stops 1→6 are 6200 m apart
LON0 = 139.70
_AGENCY = {"agency_url": "https://example.org", "agency_timezone": "Asia/Tokyo", "agency_lang": "ja"}
_EVERY_DAY = {d: "1" for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
_WEEKDAYS = {**_EVERY_DAY, "saturday": "0", "sunday": "0"}


def _calendar(days: dict) -> list[dict]:
    return [{"service_id": "WD", **days, "start_date": "20260101", "end_date": "20271231"}]


def _stop(stop_id: str, lat: float, lon: float) -> dict:
    return {"stop_id": stop_id, "stop_name": stop_id, "stop_lat": f"{lat:.7f}", "stop_lon": f"{lon:.7f}",
            "location_type": "0"}


def _times(trip: str, stops: list[str], first: int, hop_s: int, **extra) -> list[dict]:
    return [{"trip_id": trip, "arrival_time": hms(first + k * hop_s), "departure_time": hms(first + k * hop_s),
             "stop_id": sid, "stop_sequence": str(k + 1), **extra} for k, sid in enumerate(stops)]


def _bus_times(bus_ids: list[str]) -> list[dict]:
    """B77: sequence 2 only sets down (pickup_type 1), sequence 8 only picks up (drop_off_type 1)."""
    rows = _times("B77", bus_ids, 10 * 3600 + 15 * 60, 150)
    rows[1]["pickup_type"], rows[7]["drop_off_type"] = "1", "1"
    return rows


def booking_tables() -> dict[str, dict[str, list[dict]]]:
    """Three operators whose trips the leg helpers name, on weekdays of 2026-2027 (shuttles every day):
    subway A1001 (101 … 110 at sequence 6, 1240 m apart, 10:00 → 10:14), bus B77 (0001_01 at sequence 3 next
    to subway 110, 10:20 → 0042_02 at sequence 9, 10:35), shuttles T1 (10 seats) and T2 (2 seats) S1 … S6
    (10:45 → S4 10:55), booked 30 min ahead."""
    sub_ids = ["101", "102", "103", "104", "105", "110", "111", "112", "113", "114"]
    sub_stops = [_stop(s, 35.60 + k * HOP_LAT, LON0) for k, s in enumerate(sub_ids)]
    top = 35.60 + 5 * HOP_LAT + 0.0009  # 100 m north of subway 110
    bus_ids = ["b01", "b02", "0001_01", "b04", "b05", "b06", "b07", "b08", "0042_02", "b10"]
    bus_stops = [_stop(s, top, LON0 + (k - 2) * 0.0025) for k, s in enumerate(bus_ids)]
    sh_ids = [f"S{k}" for k in range(1, 7)]
    sh_stops = [_stop(s, top + 0.0009 * (k + 1), LON0 + 6 * 0.0025) for k, s in enumerate(sh_ids)]
    return {
        "toei-subway": {
            "agency": [{"agency_id": "toei", "agency_name": "都営地下鉄", **_AGENCY}], "stops": sub_stops,
            "routes": [{"route_id": "1", "agency_id": "toei", "route_short_name": "A", "route_type": "1"}],
            "trips": [{"route_id": "1", "service_id": "WD", "trip_id": "A1001"}],
            "stop_times": _times("A1001", sub_ids, 10 * 3600, 168), "calendar": _calendar(_WEEKDAYS)},
        "toei-bus": {
            "agency": [{"agency_id": "toei", "agency_name": "都営バス", **_AGENCY}], "stops": bus_stops,
            "routes": [{"route_id": "都01", "agency_id": "toei", "route_short_name": "都01", "route_type": "3"}],
            "trips": [{"route_id": "都01", "service_id": "WD", "trip_id": "B77"}],
            "stop_times": _bus_times(bus_ids), "calendar": _calendar(_WEEKDAYS)},
        SHUTTLE: {
            "agency": [{"agency_id": "ns", "agency_name": "西新宿シャトル", **_AGENCY}], "stops": sh_stops,
            "routes": [{"route_id": "R1", "agency_id": "ns", "route_short_name": "NS", "route_type": "3"}],
            "trips": [{"route_id": "R1", "service_id": "WD", "trip_id": t, "seat_capacity": c}
                      for t, c in (("T1", "10"), ("T2", "2"))],
            "stop_times": [row for t in ("T1", "T2") for row in _times(
                t, sh_ids, 10 * 3600 + 45 * 60, 200, pickup_type="2", drop_off_type="0",
                pickup_booking_rule_id="B30")],
            "booking_rules": [{"booking_rule_id": "B30", "booking_type": "1", "prior_notice_duration_min": "30"}],
            "calendar": _calendar(_EVERY_DAY)},
    }


@functools.lru_cache(maxsize=1)
def booking_transit():
    """The transit service of ``booking_tables``, shared by a test process: never publish feeds into it (use
    ``new_booking_transit``)."""
    return new_booking_transit()


def new_booking_transit():
    """A transit service of its own on ``booking_tables``."""
    from feeds.feed import Network
    from feeds.gtfs import load_feed
    from maas.transit import TransitService

    folder = Path(tempfile.mkdtemp(prefix="maas-booking-feeds-"))
    atexit.register(shutil.rmtree, folder, True)
    feeds = [load_feed(write_gtfs(folder / ns, tables), ns) for ns, tables in booking_tables().items()]
    return TransitService(Network(feeds), threads=2)


def make_service(store: Store, clock: Clock | None = None, *, seats: int = 10, commission_bp: int = 500,
                 on_step=None, registry: OperatorRegistry | None = None, transit=None, **kw) -> BookingService:
    """A booking service on ``store`` whose offers are derived from ``transit`` (default ``booking_transit()``)."""
    registry = registry or OperatorRegistry(store, tokyo_setups(seats))
    return BookingService(store, registry, SandboxProvider(store), Ledger(store, commission_bp=commission_bp),
                          clock or Clock(), on_step=on_step, timetable=LegDeriver(transit or booking_transit()),
                          **kw)


async def open_test_store(kind: str, redis_url: str | None = None, sqlite_path: str = ":memory:") -> Store:
    """A fresh store: embedded (SQLite) or Redis (one server or a cluster: ``redis_url`` says which) under a random
    key prefix so parallel tests never meet."""
    if kind == "embedded":
        from maas.store.embedded import EmbeddedStore

        return EmbeddedStore(sqlite_path)
    from maas.store.redis_store import RedisStore

    store = RedisStore.from_url(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    await store.ping()  # a cluster client learns the slot map here, not inside a test's timed window
    return store


async def drop_test_store(store: Store) -> None:
    """Delete a Redis test store's keys (its prefix only) and close it."""
    from maas.store.redis_store import RedisStore

    if isinstance(store, RedisStore):
        keys = [k async for k in store.r.scan_iter(match=store.prefix + "*", count=1000)]
        keys += [k async for k in store.r.scan_iter(match="{" + store.prefix + "*", count=1000)]  # same_slot keys
        for k in keys:  # one at a time: on a cluster the keys are in many slots
            await store.r.delete(k)
    await store.aclose()
