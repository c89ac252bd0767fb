"""Publishing an operator's feed into the running service: validate, record the version, rebuild the merged
network off the event loop and swap it in atomically, then tell travellers whose booked trip vanished or moved.

One publish or rollback at a time (an asyncio lock): two operators publishing at once are applied one after the
other, each swap building on the network the previous one left.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from feeds.feed import Feed, Network
from maas.store import booking_index
from maas.publishing.feed_registry import FeedRegistry, FeedVersion
from maas.disruptions.replan import Disruption, DisruptedEvent, position_at
from maas.transit import TOKYO, TransitService

log = logging.getLogger("maas.feeds")


@dataclass
class PublishOutcome:
    accepted: bool
    report: dict
    version: FeedVersion | None = None
    swap_s: float = 0.0
    disrupted: int = 0


def replace_feed(network: Network, feed: Feed) -> Network:
    """The network with ``feed`` in place of its namespace's old feed (or added, for a new operator)."""
    return Network([f for f in network.feeds if f.namespace != feed.namespace] + [feed])


@dataclass
class FeedManager:
    registry: FeedRegistry
    transit: TransitService
    bookings: Any | None = None  # maas.booking.bookings.BookingService: its store holds bookings and the event streams
    clock: Any = field(default=lambda: dt.datetime.now(TOKYO), repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _live: dict[str, str] = field(default_factory=dict, repr=False)  # operator → published version in use here

    def load_active(self) -> list[str]:
        """Start-up: every operator's active version overrides (or extends) the configured feeds. Blocking."""
        network, loaded = self.transit.network, []
        for op in self.registry.operators():
            v = self.registry.active(op)
            if v is not None:
                network = replace_feed(network, self.registry.load(v))
                self._live[op] = v.version
                loaded.append(op)
        if loaded:
            self.transit.swap_network(network, [self.clock().date()])
        return loaded

    async def sync(self) -> list[str]:
        """Apply versions another worker published or rolled back (same data folder); returns the operators
        switched. Bookings are not notified here: the worker that accepted the feed did that."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            changed = [(op, v) for op in self.registry.operators()
                       if (v := self.registry.active(op)) is not None and self._live.get(op) != v.version]
            if not changed:
                return []
            network = self.transit.network
            for op, v in changed:
                network = replace_feed(network, await loop.run_in_executor(None, self.registry.load, v))
            await self._swap(network)
            for op, v in changed:
                self._live[op] = v.version
            return [op for op, _ in changed]

    async def follow(self, period_s: float = 2.0) -> None:
        """Keep this worker on the versions the others publish: poll the registry's generation counter."""
        seen = self.registry.generation()
        while True:
            await asyncio.sleep(period_s)
            gen = self.registry.generation()
            if gen == seen:
                continue
            seen = gen
            try:
                switched = await self.sync()
            except Exception:  # a bad read must not stop following; the next change retries
                log.exception("could not apply feeds published by another worker")
                continue
            if switched:
                log.info("switched to feeds published by another worker", extra={"fields": {"operators": switched}})

    def summary(self) -> list[dict]:
        """Every operator: the live namespace, the active published version and its validation summary."""
        live = {f.namespace: f for f in self.transit.network.feeds}
        out = []
        for op in sorted(set(live) | set(self.registry.operators())):
            v = self.registry.active(op)
            f = live.get(op)
            out.append({"operator": op, "live": f is not None,
                        "active_version": v.to_dict() if v else None,
                        "source": "published" if v else "configured",
                        "validation": ({"errors": len(f.report.errors), "warnings": len(f.report.warnings)}
                                       if f is not None else None)})
        return out

    async def publish(self, operator: str, data: bytes) -> PublishOutcome:
        """Validate and, if accepted, make live. UploadError propagates for a hostile or malformed zip."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            staged = await loop.run_in_executor(None, self.registry.stage, operator, data)
            if staged.feed is None:
                return PublishOutcome(False, staged.report.to_dict())
            try:
                swap_s = await self._swap(replace_feed(self.transit.network, staged.feed))
            except BaseException:  # the live network is untouched; do not keep an unrecorded version folder
                self.registry.discard(staged)
                raise
            version = self.registry.commit(staged)
            self._live[operator] = version.version
            sent = await self._notify(operator, version.version)
            return PublishOutcome(True, staged.report.to_dict(), version, swap_s, sent)

    async def rollback(self, operator: str) -> PublishOutcome | None:
        """Back to the version before the active one; None if there is none."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            prev = self.registry.previous(operator)
            if prev is None:
                return None
            feed = await loop.run_in_executor(None, self.registry.load, prev)
            swap_s = await self._swap(replace_feed(self.transit.network, feed))
            version = self.registry.activate(operator, prev.version)
            self._live[operator] = version.version
            sent = await self._notify(operator, version.version)
            return PublishOutcome(True, feed.report.to_dict(), version, swap_s, sent)

    async def _swap(self, network: Network) -> float:
        t0 = time.perf_counter()
        today = self.clock().date()
        dates = [d for d in self.transit.cached_dates() if d != today] + [today]
        await asyncio.get_running_loop().run_in_executor(None, self.transit.swap_network, network, dates)
        return time.perf_counter() - t0

    # ------------------------------------------------------------------ bookings on vanished or retimed trips
    async def _notify(self, operator: str, version: str) -> int:
        """Each confirmed, unfinished booking riding a trip of ``operator`` that the new feed removed or retimed
        gets a `disrupted` event (as a closure would give) with a re-planned alternative."""
        if self.bookings is None:
            return 0
        store, now, sent = self.bookings.store, self.clock(), 0
        prefix = operator + ":"
        loop = asyncio.get_running_loop()
        ids: set[str] = set()  # from the booking index: bookings on this operator's booked trips, yesterday on
        for day in await booking_index.booked_days(store, now.date() - dt.timedelta(days=1)):
            trips = {t for t in await booking_index.booked_trips(store, day) if t.startswith(prefix)}
            ids |= await booking_index.bookings_on(store, day, trips=trips)
        for booking_id, owner, legs in await booking_index.load_travelling(store, ids, now):
            if not any((leg.get("trip_id") or "").startswith(prefix) for leg in legs):
                continue
            ev = await loop.run_in_executor(self.transit.executor, self._check, booking_id, legs, prefix, version, now)
            if ev is not None:
                await store.publish(f"events:{owner}", json.dumps(ev.to_dict()))
                sent += 1
        return sent

    def _check(self, booking_id: str, legs: list[dict], prefix: str, version: str,
               now: dt.datetime) -> DisruptedEvent | None:
        from maas.services import booked_itinerary

        model = self.transit.model_for(dt.date.fromisoformat(legs[0]["service_date"]))
        for i, leg in enumerate(legs):
            if not (leg.get("trip_id") or "").startswith(prefix):
                continue
            reason = trip_change(model, leg)
            if reason is None:
                continue
            itinerary = booked_itinerary(model, legs)
            at = dt.datetime.fromisoformat(leg["departure"])
            pos = position_at(itinerary, max(now, at))
            destination = legs[-1]["to_stop"]
            alternative = None
            if pos.place != destination:
                try:
                    options = self.transit.plan_sync(pos.place, destination, pos.time)
                except ValueError:  # PlanError: the position or destination cannot be routed any more
                    options = []
                alternative = options[0] if options else None
            info = {"id": f"feed:{prefix}{version}", "severity": "info",
                    "message": {"ja": "時刻表が更新され、予約の便が変更されました",
                                "en": f"the timetable changed: the booked trip was {reason}"}}
            return DisruptedEvent(booking_id, Disruption(info["id"], i, f"trip {reason}", at), pos, alternative,
                                  info)
        return None


def trip_change(model, leg: dict) -> str | None:
    """'removed' if the leg's trip no longer runs that day, 'retimed' if its boarding/alighting times moved."""
    t = model.trip_index(leg["trip_id"])  # the run on the model's own date
    if t is None:
        return "removed"
    off, n = model.trip_times_offset(t)
    p = int(model.trip_pattern[t])
    start = model.pattern_stops_start[p]
    stops = [model.stop_ids[s] for s in model.pattern_stops[start:start + n]]
    if leg["from_stop"] not in stops or leg["to_stop"] not in stops:
        return "removed"
    i, j = stops.index(leg["from_stop"]), stops.index(leg["to_stop"])
    dep = model.datetime_of(int(model.st_dep[off + i]))  # on the model's clock (its feeds' agency zone)
    arr = model.datetime_of(int(model.st_arr[off + j]))
    if dep != dt.datetime.fromisoformat(leg["departure"]) or arr != dt.datetime.fromisoformat(leg["arrival"]):
        return "retimed"
    return None
