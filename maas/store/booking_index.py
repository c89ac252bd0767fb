"""Indexes over stored bookings, so nothing has to scan every booking ever made.

* **Per partner, by creation time** (``bk:owner:{owner}`` and ``bk:owner:{owner}:{STATE}``): lex-ordered members
  ``"{created µs since epoch, 16 digits}|{booking id}"``, which give stable cursor pages (``GET /v1/bookings``)
  and a ``since`` lower bound without reading the records.
* **Confirmed travel, by (service day, trip) and by (service day, stop)** (``bk:trip:{day}|{trip}``,
  ``bk:stop:{day}|{stop}``), plus which trips have bookings on a day (``bk:daytrips:{day}``) and which days have
  any (``bk:days``): a closure, a GTFS-RT alert or a feed swap looks up the trips it touches instead of reading
  every booking. Legs leave the trip and stop sets when they are cancelled or the booking ends unconfirmed.

``reindex`` derives every membership from the booking record alone and is idempotent, so a crash between the
state change and the index update is repaired by the recovery pass calling it again.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Iterable

from maas.store.base import Store

STATES = ("PENDING", "CONFIRMED", "REJECTED", "EXPIRED", "CANCELLED")
DAYS = "bk:days"
BUILT = "bk:index-built"  # set once the bookings stored before the indexes existed were indexed
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def owner_key(owner: str, state: str | None = None) -> str:
    return f"bk:owner:{owner}" if state is None else f"bk:owner:{owner}:{state}"


def trip_key(day: str, trip_id: str) -> str:
    return f"bk:trip:{day}|{trip_id}"


def stop_key(day: str, stop_id: str) -> str:
    return f"bk:stop:{day}|{stop_id}"


def daytrips_key(day: str) -> str:
    return f"bk:daytrips:{day}"


def member(b: dict) -> str:
    """The ordered-set member of a booking: creation time (µs, fixed width) then id, so byte order is time order."""
    return f"{time_member(dt.datetime.fromisoformat(b['created_at']))}|{b['id']}"


def time_member(t: dt.datetime) -> str:
    """The smallest member at or after ``t`` (a ``since`` bound)."""
    us = (t - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{min(max(0, us), 10**16 - 1):016d}"  # fixed width through year 2286: byte order is time order


def _travel(b: dict) -> set[tuple[str, str]]:
    """(set key, booking id) pairs of the confirmed legs of a confirmed booking."""
    if b["state"] != "CONFIRMED":
        return set()
    out = set()
    for leg in b["legs"]:
        if leg.get("state") != "confirmed":
            continue
        ref = leg["leg"]
        day = ref["service_date"]
        out |= {(trip_key(day, ref["trip_id"]), b["id"]), (stop_key(day, ref["from_stop"]), b["id"]),
                (stop_key(day, ref["to_stop"]), b["id"]), (daytrips_key(day), ref["trip_id"]), (DAYS, day)}
    return out


def _every_travel_key(b: dict) -> set[tuple[str, str]]:
    out = set()
    for leg in b["legs"]:
        ref = leg["leg"]
        day = ref["service_date"]
        out |= {(trip_key(day, ref["trip_id"]), b["id"]), (stop_key(day, ref["from_stop"]), b["id"]),
                (stop_key(day, ref["to_stop"]), b["id"])}
    return out


async def index_created(store: Store, b: dict) -> None:
    m = member(b)
    await store.zadd_lex(owner_key(b["owner"]), m)
    await store.zadd_lex(owner_key(b["owner"], b["state"]), m)


async def reindex(store: Store, b: dict, was: str | None = None) -> None:
    """Bring every index in line with the booking record. ``was``: the state the booking was indexed under (None:
    unknown, every other state is cleared — what recovery uses)."""
    m, owner = member(b), b["owner"]
    await store.zadd_lex(owner_key(owner), m)
    await store.zadd_lex(owner_key(owner, b["state"]), m)
    for state in STATES if was is None else (was,):
        if state != b["state"]:
            await store.zrem_lex(owner_key(owner, state), m)
    keep = _travel(b)
    drop = {pair for pair in _every_travel_key(b) if pair not in keep}
    await store.sets_update(add=sorted(keep), remove=sorted(drop))


async def page(store: Store, owner: str, *, state: str | None, after: str, limit: int) -> list[str]:
    """Booking ids of ``owner`` (optionally in ``state``) whose member sorts after ``after``, oldest first."""
    return [m.split("|", 1)[1] for m in await store.zrange_lex(owner_key(owner, state), after, limit)]


async def booked_days(store: Store, first: dt.date) -> list[str]:
    """Service days from ``first`` on that have (or had) confirmed bookings."""
    return sorted(d for d in await store.smembers(DAYS) if d >= first.isoformat())


async def booked_trips(store: Store, day: str) -> set[str]:
    return await store.smembers(daytrips_key(day))


async def bookings_on(store: Store, day: str, *, trips: Iterable[str] = (), stops: Iterable[str] = ()) -> set[str]:
    """Ids of bookings with a confirmed leg on one of ``trips`` or boarding/alighting at one of ``stops`` that day."""
    keys = [trip_key(day, t) for t in trips] + [stop_key(day, s) for s in stops]
    return await store.sunion(keys) if keys else set()


async def load_travelling(store: Store, ids: Iterable[str], now: dt.datetime) -> list[tuple[str, str, list[dict]]]:
    """Of the bookings ``ids``, the confirmed ones whose journey has not ended at ``now``, as (id, owner,
    confirmed legs): the ones a closure or a timetable change can still disrupt."""
    out = []
    for booking_id in sorted(ids):
        raw = await store.get(f"booking:{booking_id}")
        b = json.loads(raw) if raw else None
        if not b or b.get("state") != "CONFIRMED":
            continue
        legs = [leg["leg"] for leg in b["legs"] if leg.get("state") == "confirmed"]
        if legs and dt.datetime.fromisoformat(legs[-1]["arrival"]) >= now:
            out.append((b["id"], b["owner"], legs))
    return out


async def ensure_built(store: Store) -> int:
    """Index the bookings stored before these indexes existed: one scan, once per store (the recovery pass calls
    it at start; concurrent calls are harmless, ``reindex`` is idempotent). Returns how many were indexed."""
    if await store.get(BUILT) is not None:
        return 0
    n = 0
    for key in await store.keys("booking:"):
        raw = await store.get(key)
        b = json.loads(raw) if raw else None
        if isinstance(b, dict) and {"id", "owner", "state", "created_at", "legs"} <= set(b):
            await reindex(store, b)
            n += 1
    await store.set(BUILT, "1")
    return n
