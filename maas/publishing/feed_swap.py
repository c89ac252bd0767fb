"""Publishing an operator's feed into the running service: validate, record the version, rebuild the merged
network off the event loop and swap it in atomically, then tell travellers whose booked trip vanished or moved.

Versions live in the store (``maas.publishing.feed_registry``), so every worker of every replica follows a publish
or rollback within a second or two. One publish or rollback at a time per worker (an asyncio lock): two operators publishing at once are applied one after the
other, each swap building on the network the previous one left.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from feeds.feed import Feed, Network
from maas.store import booking_index
from maas.store.errors import transient_errors
from feeds.problems import FeedRejected
from feeds.upload import UploadError
from maas.publishing.feed_registry import CHANGED, BlobMissing, FeedRegistry, FeedVersion
from maas.publishing.profiles import ProfileStore
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
class Prepared:
    """A version another worker announced, built here ahead of its recording: installed as is when the live
    network is still ``base``; otherwise its parsed ``feed`` saves the parse."""

    sha: str
    base: Network
    feed: Feed
    built: Any  # maas.transit.BuiltNetwork
    at: float


@dataclass
class FeedManager:
    """Publish and roll back here; follow what other workers and replicas publish (``follow``).

    The store is the truth (``FeedRegistry``): a publish stores the zip and report, swaps the network in, then
    moves the operator's active pointer (compare-and-set) and announces it; every other worker, on this host or
    another, hears ``feeds:changed`` (or sees ``feeds:generation`` move on its next poll) and ``sync``s: it builds
    the new version from its local cache (fetched from the store by content hash) and swaps it in."""

    registry: FeedRegistry
    transit: TransitService
    bookings: Any | None = None  # maas.booking.bookings.BookingService: its store holds bookings and the event streams
    clock: Any = field(default=lambda: dt.datetime.now(TOKYO), repr=False)
    after_install: Any | None = field(default=None, repr=False)  # blocking, run off the loop after each install
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _live: dict[str, str] = field(default_factory=dict, repr=False)  # operator → published version in use here
    _failed: set[str] = field(default_factory=set, repr=False)  # operators whose version could not be applied yet
    _profiles: dict[str, int] = field(default_factory=dict, repr=False)  # operator → profile version cached here
    _id: str = field(default_factory=lambda: uuid.uuid4().hex, repr=False)  # tells our own announcements apart
    _prepared: dict[str, "Prepared"] = field(default_factory=dict, repr=False)  # operator → version built ahead
    _preparing: dict[str, asyncio.Task] = field(default_factory=dict, repr=False)

    _store: ProfileStore | None = field(default=None, repr=False)

    @property
    def profiles(self) -> ProfileStore:
        """The operator profiles, one store kept (its cache serves every profile request after the first)."""
        if self._store is None:
            self._store = ProfileStore(self.registry.root, self.registry)
        return self._store

    async def start(self) -> list[str]:
        """Start-up: clean the cache, import a pre-store data folder once, then apply every operator's active
        version (overriding or extending the configured feeds) and cache the profiles. Never fatal: an operator
        whose version cannot be loaded keeps its configured feed and is retried by ``follow``."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.registry.sweep)
        try:
            migrated = await self.registry.migrate()
        except Exception:
            log.exception("could not import the old feed registry; it stays on disk for the next start")
            migrated = []
        if migrated:
            log.info("feed registry imported into the store", extra={"fields": {"operators": migrated}})
        loaded = await self.sync()
        if loaded:
            log.info("published feeds loaded", extra={"fields": {"operators": loaded}})
        return loaded

    async def sync(self) -> list[str]:
        """Apply the versions the store says are active where they differ from the ones live here (published or
        rolled back by another worker or replica), and refresh the profile cache; returns the operators switched.
        Bookings are not notified here: the worker that accepted the feed did that."""
        async with self._lock:
            await self._sync_profiles()
            changed = []
            for op in await self.registry.operators():
                v = await self.registry.active(op)
                if v is not None and self._live.get(op) != v.version:
                    changed.append((op, v))
            if not changed:
                return []
            if len(changed) == 1:  # the usual case: built ahead while the publishing worker swapped
                op, v = changed[0]
                prep = await self._take_prepared(op, await self.registry.blob_of(v))
                if prep is not None and prep.built is not None and prep.base is self.transit.network:
                    self.transit.install(prep.built)
                    log.info("installed feed %s version %s, built ahead", op, v.version)
                    await self._installed()
                    self._live[op] = v.version
                    self._failed.discard(op)
                    return [op]
            network, done = self.transit.network, []
            for op, v in changed:
                try:
                    prep = await self._take_prepared(op, await self.registry.blob_of(v))
                    feed = prep.feed if prep is not None else await self.registry.load(v)
                    network = replace_feed(network, feed)
                except Exception:  # a missing blob or a bad parse: keep the rest, retry this one later
                    log.exception("cannot load feed %s version %s", op, v.version)
                    self._failed.add(op)
                    continue
                done.append((op, v))
            if not done:
                return []
            await self._swap(network)
            for op, v in done:
                self._live[op] = v.version
                self._failed.discard(op)
            return [op for op, _ in done]

    # ------------------------------------------------------------------ building ahead
    def _announced(self, message: str) -> None:
        """A ``feeds:changed`` message: another worker has stored a version it is now swapping in; start building
        it here too, so that when it is recorded this worker only has to install it."""
        try:
            msg = json.loads(message)
        except ValueError:
            return
        if not isinstance(msg, dict) or not msg.get("staged") or msg.get("by") == self._id:
            return
        op, sha = str(msg.get("operator")), str(msg["staged"])
        old = self._preparing.pop(op, None)
        if old is not None:
            old.cancel()
        self._prepared.pop(op, None)
        self._preparing[op] = asyncio.create_task(self._prepare(op, sha))

    async def _prepare(self, operator: str, sha: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            feed = await self.registry.load_blob(operator, sha)
            base = self.transit.network
            built = await loop.run_in_executor(None, self.transit.build_network, replace_feed(base, feed),
                                               self._days_to_build())
            self._prepared[operator] = Prepared(sha, base, feed, built, time.monotonic())
        except asyncio.CancelledError:
            raise
        except (FeedRejected, UploadError, BlobMissing):  # refused by the publisher too: never recorded
            log.info("feed %s (%s…) announced but not buildable here", operator, sha[:12])
        except Exception:  # only an optimisation: sync loads it the ordinary way
            log.warning("could not build feed %s (%s…) ahead", operator, sha[:12], exc_info=True)
        finally:
            if self._preparing.get(operator) is asyncio.current_task():
                del self._preparing[operator]

    async def _take_prepared(self, operator: str, sha: str) -> "Prepared | None":
        """The version built ahead for ``operator`` when it is ``sha`` (waiting for a build still running)."""
        task = self._preparing.get(operator)
        if task is not None:  # wait() neither raises the build's error nor swallows our own cancellation
            await asyncio.wait({task})
        prep = self._prepared.pop(operator, None)
        return prep if prep is not None and prep.sha == sha else None

    def _expire_prepared(self, max_age_s: float = 120.0) -> None:
        """A version announced but never recorded (its publish failed) is not kept in memory for long."""
        now = time.monotonic()
        for op in [op for op, p in self._prepared.items() if now - p.at > max_age_s]:
            del self._prepared[op]

    async def _sync_profiles(self) -> None:
        loop = asyncio.get_running_loop()
        for op in await self.registry.operators():
            rec = await self.registry.profile_record(op)
            want = None if rec is None else int(rec["version"])
            have = await loop.run_in_executor(None, self.registry.cached_profile_version, op)
            if want != have:
                await loop.run_in_executor(None, self.registry.write_profile_cache, op, rec)
            if want != have or want != self._profiles.get(op):  # (the file may be another worker's write)
                ProfileStore.changed()
            if want is not None:
                self._profiles[op] = want

    async def follow(self, period_s: float = 0.5) -> None:
        """Keep this worker on what the others publish: react to ``feeds:changed`` at once, and poll
        ``feeds:generation`` every ``period_s`` (a lost message, a store without cross-process pub/sub such as
        the embedded one, a dropped subscription); the profile cache is re-checked on every poll."""
        sub, seen = None, None  # None: the first poll syncs whatever changed since start-up
        while True:
            if sub is None:
                sub = await self._subscribe()
            try:
                if sub is not None:
                    item = await sub.get(timeout=period_s)  # a message or the poll period, whichever first
                    if item is not None:
                        self._announced(item[1])
                else:
                    await asyncio.sleep(period_s)
            except asyncio.CancelledError:
                if sub is not None:
                    await sub.aclose()
                raise
            except Exception:  # the subscription broke (store restarted): poll, subscribe again next round
                log.warning("feed change subscription lost; polling", exc_info=True)
                with contextlib.suppress(Exception):
                    await sub.aclose()
                sub = None
                await asyncio.sleep(period_s)
            self._expire_prepared()
            try:
                gen = await self._generation()
                if gen == seen and not self._failed and not self._profile_cache_lost():
                    continue
                seen = gen
                switched = await self.sync()
            except transient_errors() as exc:  # the store is down or failing over: readiness says so already
                log.warning("store unavailable while following published feeds (%s); retrying", exc)
                continue
            except Exception:  # a bad read must not stop following; the next change or poll retries
                log.exception("could not apply feeds published by another worker")
                continue
            if switched:
                log.info("switched to feeds published by another worker", extra={"fields": {"operators": switched}})

    async def _generation(self) -> int:
        try:
            return await self.registry.generation()
        except Exception:
            log.warning("cannot read the feed generation", exc_info=True)
            return -1

    async def _subscribe(self):
        try:
            store = self.registry._reader()
            return None if store is None else await store.subscribe(CHANGED)
        except Exception:
            log.warning("cannot subscribe to feed changes; polling", exc_info=True)
            return None

    def _profile_cache_lost(self) -> bool:
        """A cached profile file went missing or was found damaged (and removed) since it was written."""
        return any(not self.registry.profile_cache(op).exists() for op in self._profiles)

    async def summary(self) -> list[dict]:
        """Every operator: the live namespace, the active published version and its validation summary."""
        live = {f.namespace: f for f in self.transit.network.feeds}
        published = await self.registry.operators()
        out = []
        for op in sorted(set(live) | set(published)):
            v = await self.registry.active(op) if op in published else None
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
            up = await loop.run_in_executor(None, self.registry.unpack, operator, data)
            try:  # a store that cannot take the zip: nothing swapped, nothing recorded
                await self.registry.store_blob(operator, up.sha256, data)
                # the other workers start building it now, in parallel with our validation and build
                await self.registry.announce(operator, up.sha256, by=self._id)
            except BaseException:
                self.registry.discard(up)
                raise
            staged = await loop.run_in_executor(None, self.registry.validate, up)  # removes the folder
            if staged.feed is None:
                await self.registry.forget_blob(operator, up.sha256)
                return PublishOutcome(False, staged.report.to_dict())
            before = self.transit.network
            swap_s = await self._swap(replace_feed(before, staged.feed))
            try:
                version = await self.registry.commit(staged)
            except BaseException:  # not recorded: the other replicas would never follow, so neither do we
                await self._swap(before)
                raise
            self._live[operator] = version.version
            sent = await self._notify(operator, version.version)
            return PublishOutcome(True, staged.report.to_dict(), version, swap_s, sent)

    async def rollback(self, operator: str) -> PublishOutcome | None:
        """Back to the version before the active one; None if there is none."""
        async with self._lock:
            prev = await self.registry.previous(operator)
            if prev is None:
                return None
            feed = await self.registry.load(prev)
            before = self.transit.network
            swap_s = await self._swap(replace_feed(before, feed))
            try:
                version = await self.registry.activate(operator, prev.version)
            except BaseException:
                await self._swap(before)
                raise
            self._live[operator] = version.version
            sent = await self._notify(operator, version.version)
            return PublishOutcome(True, feed.report.to_dict(), version, swap_s, sent)

    async def aclose(self) -> None:
        for task in list(self._preparing.values()):
            task.cancel()
        await self.registry.aclose()

    def _days_to_build(self) -> list:
        """The days a new network's models are built for: the cached ones, and today (on the feeds' own clock, that
        of the live network, not Tokyo's) last, so a cut to the cache's size keeps it."""
        today = self.transit.today(self.clock())
        return [d for d in self.transit.cached_dates() if d != today] + [today]

    async def _swap(self, network: Network) -> float:
        t0 = time.perf_counter()
        await asyncio.get_running_loop().run_in_executor(None, self.transit.swap_network, network,
                                                         self._days_to_build())
        await self._installed()
        return time.perf_counter() - t0

    async def _installed(self) -> None:
        """After a network is installed: ``after_install`` (`Services.warm_after_install`: the new network's fare
        setups, planner threads and request path warmed), off the loop, so the first plan after a publish,
        rollback or another worker's version is as fast as the next. A failure leaves that to the first plans."""
        if self.after_install is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.after_install)
        except Exception:
            log.exception("warming the installed network failed")

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
        for day in await booking_index.booked_days(store, self.transit.today(now) - dt.timedelta(days=1)):
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
    from maas.itineraries.derive import leg_day

    t = model.trip_on(leg["trip_id"], leg_day(model, leg))  # the run on the leg's day
    if t is None:
        return "removed"
    off, n = model.trip_times_offset(t)
    p = int(model.trip_pattern[t])
    start = model.pattern_stops_start[p]
    stops = [model.stop_ids[s] for s in model.pattern_stops[start:start + n]]
    if leg["from_stop"] not in stops or leg["to_stop"] not in stops:
        return "removed"
    i, j = stops.index(leg["from_stop"]), stops.index(leg["to_stop"])
    dep = model.datetime_of(int(model.departures_of_trip(t)[i]))  # on the model's clock (its feeds' agency zone)
    arr = model.datetime_of(int(model.st_arr[off + j]))
    if dep != dt.datetime.fromisoformat(leg["departure"]) or arr != dt.datetime.fromisoformat(leg["arrival"]):
        return "retimed"
    return None
