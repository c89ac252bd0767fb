"""The realtime service: GTFS-Realtime trip updates and vehicle positions per operator, pushed or pulled, kept in
the store and shared by every worker; the planner reads an immutable `RealtimeSnapshot` (docs/architecture.md).

Per operator and stream ("trip-updates", "vehicle-positions"): a FULL_DATASET message replaces the stream, a
DIFFERENTIAL one merges (``is_deleted`` removes); a message whose header is older than the stored one is ignored
and reported. Entities that match no trip (or stop) of the operator's live feed are counted and reported, never
fatal: the overlay simply has nothing to apply them to. A stream whose header is older than ``max_age_s`` expires
back to the schedule: it leaves the snapshot and the operator is listed in ``snapshot.stale``.

Accepting is all-or-nothing: decode (feeds/gtfs_rt.py) and match off the loop, write the store in one atomic step
(refused when out of order), then swap this worker's state and snapshot; other workers reload the operator from
the store on the change notice (within about a second). Listeners get (old, new) snapshots.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, KeysView
from urllib.parse import urlsplit, urlunsplit

import msgspec
import numpy as np

from feeds.gtfs_rt import (MAX_RT_PAYLOAD_BYTES, RealtimeError, RealtimeMessage, TripUpdate, VehiclePosition,
                           decode, feed_json, trip_updates_feed, vehicle_positions_feed)
from feeds.geo import haversine_scalar_m
from maas.platform.child import CHILD_BUILD_MIN_ROWS
from maas.disruptions.realtime_store import (STREAMS, MemoryRealtimeStore, RealtimeStore, StoredStream,
                                             StreamChange)
from maas.disruptions.trip_stops import TripRoutes, TripStops
from routing.timetable import IdTable

log = logging.getLogger("maas.disruptions.realtime")

__all__ = ["IngestReport", "OperatorIndex", "PullSource", "RealtimeError", "RealtimePuller", "RealtimeService",
           "RealtimeSnapshot", "UnknownOperator", "parse_pull_spec"]

DEFAULT_MAX_AGE_S = 300.0
MAX_REPORTED = 100  # unmatched entities listed in a report (all are counted)
TRIP_UPDATES, VEHICLES = STREAMS
Listener = Callable[["RealtimeSnapshot", "RealtimeSnapshot"], Awaitable[None]]
_TU_DEC = msgspec.msgpack.Decoder(TripUpdate)
_VP_DEC = msgspec.msgpack.Decoder(VehiclePosition)
_ENC = msgspec.msgpack.Encoder()


class UnknownOperator(LookupError):
    """No live feed has this operator's namespace: nothing its realtime data could refer to."""


# ------------------------------------------------------------------------------------------------ matching

@dataclass(frozen=True)
class OperatorIndex:
    """What realtime entities are matched against: the operator's trips, their stops by stop_sequence, its stops
    (with positions and names) and routes. Built once per live feed object."""

    trip_route: TripRoutes  # trip id → route id; its keys: the operator's trips (`trips`)
    trip_stop: TripStops  # (trip_id, stop_sequence) → stop_id (empty without stop_times), on trip_route's ids
    stops: dict[str, tuple[float, float, str]]  # stop_id → (lat, lon, name)
    routes: frozenset[str]

    @classmethod
    def from_tables(cls, stops, trips, stop_times=None, routes=None) -> "OperatorIndex":
        """From the feed's typed tables (pandas; ids already namespaced). The trip ids are one `IdTable` for the
        index and its trip stops (the process's equal one when there is one: a one-feed network's models')."""
        import pandas as pd

        if trips["trip_id"].duplicated().any():  # the last row of a trip, as dict(zip(...)) kept
            trips = trips.drop_duplicates("trip_id", keep="last")
        id_list = trips["trip_id"].astype(str).tolist()
        ids = IdTable.of(id_list).canonical()
        code, route_ids = pd.factorize(trips["route_id"], use_na_sentinel=False)
        route_ids = route_ids.tolist()
        trip_route = TripRoutes(ids, code.astype(np.int16 if len(route_ids) <= 32767 else np.int32), route_ids)
        trip_stop = TripStops(stop_times, ids, id_list)  # arrays, not a dict of tuples: all-Tokyo rail 124 -> ~25 MiB
        stop_map = dict(zip(stops["stop_id"].tolist(),
                            zip(stops["stop_lat"].astype(float).tolist(), stops["stop_lon"].astype(float).tolist(),
                                stops["stop_name"].astype(str).tolist())))
        all_routes = set(route_ids)
        if routes is not None and len(routes):
            all_routes |= set(routes["route_id"].tolist())
        return cls(trip_route, trip_stop, stop_map, frozenset(all_routes))

    @classmethod
    def from_feed(cls, feed) -> "OperatorIndex":
        return cls.from_tables(feed.stops, feed.trips, feed.stop_times, feed.routes)

    @property
    def trips(self) -> "KeysView[str]":
        """The operator's trip ids (a set view of `trip_route`: one table for trips and their routes, not two)."""
        return self.trip_route.keys()

    def with_shared_ids(self) -> "OperatorIndex":
        """This index (built by another process) on this process's trip id table equal to its own, as a build
        here makes it (`IdTable.canonical`); its trip stops hold the same table (one object after unpickling)."""
        ids = self.trip_route.ids.canonical()
        self.trip_stop.ids = ids
        if ids is self.trip_route.ids:
            return self
        tr = self.trip_route
        return type(self)(TripRoutes(ids, tr.code, tr.route_ids), self.trip_stop, self.stops, self.routes)

    def vehicle_stop(self, v: VehiclePosition, k: int | None = None) -> str | None:
        """The stop a vehicle is at or heading to: the feed's stop_id when it names a known stop, else the stop of
        its trip at current_stop_sequence (Toei trains give only the sequence). ``k``: its trip's position
        (`TripRoutes.position`), when already looked up."""
        if v.stop_id is not None and v.stop_id in self.stops:
            return v.stop_id
        if v.trip_id is not None and v.current_stop_sequence is not None:
            if k is None:
                k = self.trip_route.position(v.trip_id)
            row = self.trip_stop.row(k, v.current_stop_sequence)
            return self.trip_stop.stop_at(row) if row >= 0 else None
        return None


def operator_index(feed) -> OperatorIndex:
    """`OperatorIndex.from_feed` (a module function: what `NetworkIndexes` has a child process call)."""
    return OperatorIndex.from_feed(feed)


@dataclass(frozen=True)
class Unmatched:
    entity_id: str
    kind: str  # "trip_update" | "vehicle"
    trip_id: str | None
    reason: str


def match_trip_update(idx: OperatorIndex, u: TripUpdate) -> str | None:
    """None when the update applies to a trip of the feed, else why not."""
    if u.trip_id is None:
        return "no trip_id (an added trip the feed does not place)" if u.relationship in (
            "ADDED", "DUPLICATED", "UNSCHEDULED") else "no trip_id"
    k = idx.trip_route.position(u.trip_id)  # one lookup of the id for the trip and its stop_sequences
    if k < 0:
        if u.relationship == "ADDED":
            return None  # a new trip: nothing to match by design
        return "unknown trip_id"
    if idx.trip_stop:
        for s in u.stop_time_updates:
            if s.stop_sequence is not None and idx.trip_stop.row(k, s.stop_sequence) < 0:
                return f"trip has no stop_sequence {s.stop_sequence}"
            if s.stop_id is not None and s.stop_id not in idx.stops:
                return f"unknown stop_id {s.stop_id}"
    return None


def match_vehicle(idx: OperatorIndex, v: VehiclePosition, k: int | None = None) -> str | None:
    """None when the vehicle matches the feed, else why not. ``k``: its trip's position, when already looked up
    (`TripRoutes.position`)."""
    if v.trip_id is not None and (k if k is not None else idx.trip_route.position(v.trip_id)) < 0:
        return "unknown trip_id"
    if v.trip_id is None and v.route_id is not None and v.route_id not in idx.routes:
        return "unknown route_id"
    if v.stop_id is not None and v.stop_id not in idx.stops:
        return "unknown stop_id"
    return None



# ------------------------------------------------------------------------------------------------ state types

@dataclass(frozen=True)
class RealtimeSnapshot:
    version: int  # increases on every change seen by this worker
    trip_updates: tuple[TripUpdate, ...]  # current, merged over all operators, expired ones removed
    vehicles: tuple[VehiclePosition, ...]
    received_at: dict[str, float]  # operator → POSIX seconds of last accepted message
    stale: frozenset[str]  # operators whose data expired back to the schedule


EMPTY = RealtimeSnapshot(0, (), (), {}, frozenset())


@dataclass(frozen=True)
class IngestReport:
    """The answer to one message: what was accepted, what matched nothing, whether it was ignored."""

    operator: str
    timestamp: int
    full_dataset: bool
    accepted: bool
    ignored_out_of_order: bool
    streams: tuple[str, ...]
    trip_updates: int
    vehicles: int
    deleted: int
    matched_trip_updates: int
    matched_vehicles: int
    vehicles_at_stops: int
    unmatched_count: int
    unmatched: tuple[Unmatched, ...]
    version: int
    stale_on_arrival: bool = False
    detail: str | None = None


@dataclass
class _Stream:
    timestamp: int
    received_at: float
    raw: dict[str, bytes]
    entities: dict[str, Any]  # entity id → TripUpdate | VehiclePosition


@dataclass
class _OpStats:
    accepted: int = 0
    ignored_out_of_order: int = 0
    rejected: int = 0
    last_error: str | None = None
    last_report: IngestReport | None = None


# ------------------------------------------------------------------------------------------------ the service

class RealtimeService:
    """Realtime state of this worker (a copy of the store's), ingest, expiry and the snapshot the planner reads.

    ``index_provider(operator)`` gives the `OperatorIndex` of the operator's live feed, or None for an operator
    with no feed (refused as unknown); ``clock`` returns POSIX seconds (injectable for tests)."""

    def __init__(self, store: RealtimeStore | None = None, *,
                 index_provider: Callable[[str], OperatorIndex | None] | None = None,
                 clock: Callable[[], float] | None = None, max_age_s: float = DEFAULT_MAX_AGE_S):
        self.store: RealtimeStore = store or MemoryRealtimeStore()
        self.index_provider = index_provider or (lambda op: None)
        self.clock = clock or time.time
        self.max_age_s = float(max_age_s)
        self._ops: dict[str, dict[str, _Stream]] = {}
        self._stats: dict[str, _OpStats] = {}
        self._snap = EMPTY
        self._vehicle_ops: tuple[RealtimeSnapshot, tuple[str, ...]] = (EMPTY, ())  # operator of each vehicle
        self._snap_lock = threading.Lock()
        self._stale_key: frozenset[tuple[str, str]] = frozenset()
        self._next_expiry = math.inf
        self._write = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._chain: asyncio.Future | None = None
        self._tasks: set[asyncio.Task] = set()
        self._expiry_task: asyncio.Task | None = None
        self._warm_task: asyncio.Task | None = None
        self._feed_cache: dict[tuple[str, int], bytes] = {}
        self.puller: RealtimePuller | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load every stored operator, follow other workers' changes, watch for expiry, start pulls."""
        self._loop = asyncio.get_running_loop()
        for op in await self.store.operators():
            await self.reload(op)
        await self.store.subscribe(self.reload)
        self._expiry_task = asyncio.create_task(self._watch_expiry(), name="realtime-expiry")
        self._warm_task = asyncio.create_task(asyncio.to_thread(_warm_decoder), name="realtime-warm")
        if self.puller is not None:
            self.puller.start()

    async def aclose(self) -> None:
        if self.puller is not None:
            await self.puller.aclose()
        if self._expiry_task is not None:
            self._expiry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry_task
        if self._warm_task is not None:
            with contextlib.suppress(Exception):
                await self._warm_task
        await self.drain()
        await self.store.aclose()

    async def drain(self) -> None:
        """Wait for every listener call scheduled so far (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _watch_expiry(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, max(0.05, self._next_expiry - self.clock())))
            self.snapshot()

    # ---- reading ------------------------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def snapshot(self) -> RealtimeSnapshot:
        """The current merged state. Cheap and non-blocking; rebuilt here only when a stream just expired."""
        if self.clock() >= self._next_expiry:
            self._rebuild()
        return self._snap

    def operators(self) -> list[str]:
        return sorted(self._ops)

    def known_operator(self, operator: str) -> bool:
        return self.index_provider(operator) is not None

    def _rebuild(self, force: bool = False) -> None:
        """Recompute the snapshot from ``_ops`` (called with the state already swapped); bump the version and
        schedule the listeners when anything visible changed."""
        with self._snap_lock:
            now = self.clock()
            stale_key = frozenset((op, s) for op, streams in self._ops.items() for s, st in streams.items()
                                  if now - st.timestamp > self.max_age_s)
            nxt = min((st.timestamp + self.max_age_s for op, streams in self._ops.items()
                       for s, st in streams.items() if (op, s) not in stale_key), default=math.inf)
            self._next_expiry = nxt
            if not force and stale_key == self._stale_key:
                return
            self._stale_key = stale_key
            tus: list[TripUpdate] = []
            vps: list[VehiclePosition] = []
            vp_ops: list[str] = []
            for op in sorted(self._ops):
                for s, st in self._ops[op].items():
                    if (op, s) in stale_key:
                        continue
                    if s == TRIP_UPDATES:
                        tus.extend(st.entities.values())
                    else:
                        vps.extend(st.entities.values())
                        vp_ops.extend([op] * len(st.entities))
            old = self._snap
            new = RealtimeSnapshot(
                version=old.version + 1, trip_updates=tuple(tus), vehicles=tuple(vps),
                received_at={op: max(st.received_at for st in streams.values())
                             for op, streams in self._ops.items() if streams},
                stale=frozenset(op for op, _ in stale_key))
            self._snap, self._vehicle_ops = new, (new, tuple(vp_ops))
        self._notify(old, new)

    def _notify(self, old: RealtimeSnapshot, new: RealtimeSnapshot) -> None:
        if not self._listeners or self._loop is None:
            return
        loop = self._loop

        def schedule() -> None:
            prev = self._chain

            async def run() -> None:
                if prev is not None:
                    with contextlib.suppress(Exception):
                        await prev
                for cb in list(self._listeners):
                    try:
                        await cb(old, new)
                    except Exception:
                        log.exception("realtime listener failed")

            task = loop.create_task(run(), name="realtime-listeners")
            self._chain = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            schedule()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(schedule)  # a planner thread noticed an expiry

    # ---- writing ------------------------------------------------------------------------------------------
    def _index(self, operator: str) -> OperatorIndex:
        idx = self.index_provider(operator)
        if idx is None:
            raise UnknownOperator(operator)
        return idx

    async def ingest(self, payload: bytes, content_type: str | None, operator: str, *,
                     feed: str | None = None) -> IngestReport:
        """Decode, match and apply one message for ``operator``. ``feed`` ("trip-updates" / "vehicle-positions")
        names the stream a message belongs to even when it is empty; without it, the streams are those the
        message has entities of. Raises `RealtimeError` (bad message, nothing changed) or `UnknownOperator`."""
        if feed is not None and feed not in STREAMS:
            raise RealtimeError(f"feed must be one of {', '.join(STREAMS)}", "feed")
        have = set(self._ops.get(operator, {}))
        now = self.clock()

        def work():  # one thread hop for index, decode and matching: each hop costs ms on a loaded machine
            idx = self._index(operator)  # may build the index of a fresh feed
            msg = decode(payload, content_type, operator, now=now)
            return msg, idx, _prepare(msg, idx, feed, have)

        try:
            msg, idx, prepared = await asyncio.to_thread(work)
        except RealtimeError as e:  # the operator is known (the index came first): count it
            stats = self._stats.setdefault(operator, _OpStats())
            stats.rejected += 1
            stats.last_error = f"{e.field}: {e.detail}" if e.field else e.detail
            raise
        return await self.apply(msg, idx, feed=feed, prepared=prepared)

    async def apply(self, msg: RealtimeMessage, idx: OperatorIndex | None = None, *,
                    feed: str | None = None, prepared: tuple | None = None) -> IngestReport:
        """Apply a decoded message (ingest's second half; the benchmark and rt-plan's tests call it directly)."""
        op = msg.operator
        idx = idx or await asyncio.to_thread(self._index, op)
        stats = self._stats.setdefault(op, _OpStats())
        if prepared is None:
            prepared = await asyncio.to_thread(_prepare, msg, idx, feed, set(self._ops.get(op, {})))
        changes, unmatched, n_unmatched, matched_tu, matched_vp, at_stops = prepared
        received = self.clock()
        base = dict(operator=op, timestamp=msg.timestamp, full_dataset=msg.full_dataset,
                    streams=tuple(c.stream for c in changes), trip_updates=len(msg.trip_updates),
                    vehicles=len(msg.vehicles), deleted=len(msg.deleted), matched_trip_updates=matched_tu,
                    matched_vehicles=matched_vp, vehicles_at_stops=at_stops, unmatched_count=n_unmatched,
                    unmatched=tuple(unmatched))
        if not changes:
            report = IngestReport(**base, accepted=False, ignored_out_of_order=False, version=self._snap.version,
                                  detail="the message has no trip updates or vehicle positions: name its stream "
                                         "with feed=trip-updates|vehicle-positions to apply an empty dataset")
            stats.last_report = report
            return report
        async with self._write:
            ok, stream = await self.store.apply(op, msg.timestamp, received, changes)
            if not ok:
                stats.ignored_out_of_order += 1
                last = self._ops.get(op, {}).get(stream)
                report = IngestReport(**base, accepted=False, ignored_out_of_order=True, version=self._snap.version,
                                      detail=f"ignored: the stored {stream} are from a newer message"
                                             + (f" (header {last.timestamp})" if last else ""))
                stats.last_report = report
                return report
            streams = dict(self._ops.get(op, {}))
            for ch in changes:
                old = streams.get(ch.stream)
                raw = {} if ch.full or old is None else dict(old.raw)
                ents = {} if ch.full or old is None else dict(old.entities)
                for k in ch.deletes:
                    raw.pop(k, None)
                    ents.pop(k, None)
                raw.update(ch.puts)
                ents.update(_entities_of(msg, ch.stream))
                streams[ch.stream] = _Stream(msg.timestamp, received, raw, ents)
            self._ops = {**self._ops, op: streams}
            self._rebuild(force=True)
        stats.accepted += 1
        stats.last_error = None
        report = IngestReport(**base, accepted=True, ignored_out_of_order=False, version=self._snap.version,
                              stale_on_arrival=received - msg.timestamp > self.max_age_s)
        stats.last_report = report
        return report

    async def reload(self, operator: str) -> None:
        """Replace this worker's state of ``operator`` by the store's (another worker changed it)."""
        async with self._write:  # serialised with our own writes: a load never lands after a newer write
            stored = await self.store.load(operator)
            cur = self._ops.get(operator, {})
            if set(stored) == set(cur) and all(
                    stored[s].timestamp == cur[s].timestamp and stored[s].entities == cur[s].raw for s in stored):
                return
            streams = await asyncio.to_thread(_decode_stored, stored)
            self._ops = {**self._ops, operator: streams}
            self._rebuild(force=True)

    # ---- views --------------------------------------------------------------------------------------------
    def status(self, operator: str) -> dict:
        """What `GET /v1/realtime/{operator}` answers: per stream its header time, age, counts and staleness,
        how many current entities match nothing in the live feed, and this worker's ingest counters."""
        now = self.clock()
        idx = self.index_provider(operator)
        streams = self._ops.get(operator, {})
        stats = self._stats.get(operator, _OpStats())
        out_streams = {}
        for s in STREAMS:
            st = streams.get(s)
            if st is None:
                continue
            unmatched = 0
            if idx is not None:
                check = match_trip_update if s == TRIP_UPDATES else match_vehicle
                unmatched = sum(1 for e in st.entities.values() if check(idx, e) is not None)
            out_streams[s] = {"timestamp": st.timestamp, "received_at": st.received_at,
                              "age_s": round(now - st.timestamp, 3), "entities": len(st.entities),
                              "unmatched": unmatched, "stale": now - st.timestamp > self.max_age_s}
        last = stats.last_report
        return {"operator": operator, "known": idx is not None,
                "last_message_at": max((st.received_at for st in streams.values()), default=None),
                "stale": any(v["stale"] for v in out_streams.values()), "max_age_s": self.max_age_s,
                "streams": out_streams, "accepted": stats.accepted, "rejected": stats.rejected,
                "ignored_out_of_order": stats.ignored_out_of_order, "last_error": stats.last_error,
                "last_report": report_dict(last) if last else None,
                "pulls": self.puller.status(operator) if self.puller else [],
                "version": self._snap.version}

    def statuses(self) -> list[dict]:
        """`status` of every operator with realtime: data received (kept in the store) or a pull source."""
        ops = set(self._ops) | ({st.source.operator for st in self.puller.states} if self.puller else set())
        return [self.status(op) for op in sorted(ops)]

    def vehicles(self, *, operator: str | None = None, route: str | None = None,
                 bbox: tuple[float, float, float, float] | None = None) -> list[dict]:
        """Current (not expired) vehicle positions, each with its operator, route (from its trip when the feed
        gives only the trip) and the stop it is at or heading to, with the distance to that stop's pole."""
        self.snapshot()
        _, pairs = self._current_vehicles()
        out = []
        indexes: dict[str, OperatorIndex | None] = {}
        for v, op in pairs:
            if operator is not None and op != operator:
                continue
            if bbox is not None and not (bbox[0] <= v.lon <= bbox[2] and bbox[1] <= v.lat <= bbox[3]):
                continue
            if op not in indexes:
                indexes[op] = self.index_provider(op)
            idx = indexes[op]
            k = idx.trip_route.position(v.trip_id) if idx and v.trip_id else -1
            route_id = v.route_id or (idx.trip_route.route_at(k) if k >= 0 else None)
            if route is not None and route_id != route:
                continue
            stop_id = idx.vehicle_stop(v, k) if idx else v.stop_id
            stop = None
            if stop_id is not None and idx is not None and stop_id in idx.stops:
                lat, lon, name = idx.stops[stop_id]
                stop = {"id": stop_id, "name": name, "distance_m": round(haversine_scalar_m(v.lat, v.lon, lat, lon), 1)}
            elif stop_id is not None:
                stop = {"id": stop_id, "name": None, "distance_m": None}
            out.append({"id": f"{op}:{v.entity_id}", "operator": op, "vehicle_id": v.vehicle_id, "label": v.label,
                        "trip_id": v.trip_id, "route_id": route_id, "start_date": v.start_date,
                        "lat": v.lat, "lon": v.lon, "bearing": v.bearing, "speed": v.speed,
                        "current_status": v.current_status or "IN_TRANSIT_TO",
                        "current_stop_sequence": v.current_stop_sequence, "stop": stop, "timestamp": v.timestamp})
        return out

    def _current_vehicles(self) -> tuple[int, list[tuple[VehiclePosition, str]]]:
        """(how many positions expired, the others with their operator). A position whose own timestamp is older
        than ``max_age_s`` is left out even while its stream is current: the Toei bus feed repeats a bus's last
        position for minutes after it stopped reporting, with a fresh header."""
        snap, ops = self._vehicle_ops  # one pair: a rebuild in between cannot misalign them
        cutoff = self.clock() - self.max_age_s
        pairs = [(v, op) for v, op in zip(snap.vehicles, ops) if v.timestamp is None or v.timestamp >= cutoff]
        return len(snap.vehicles) - len(pairs), pairs

    def vehicles_expired(self) -> int:
        """How many positions of current streams `vehicles` leaves out as too old."""
        return self._current_vehicles()[0]

    def feed_bytes(self, kind: str, fmt: str) -> tuple[bytes | dict, int]:
        """The merged GTFS-RT feed of one kind as protobuf bytes (cached per snapshot version and, for vehicles,
        how many positions aged out: for one version that only grows) or its JSON."""
        snap = self.snapshot()
        pairs: list[tuple[VehiclePosition, str]] = []
        key: tuple = (kind, snap.version)
        if kind != TRIP_UPDATES:
            expired, pairs = self._current_vehicles()
            key = (kind, snap.version, expired)
        ts = int(max(snap.received_at.values(), default=self.clock()))
        if fmt == "json" or key not in self._feed_cache:
            if kind == TRIP_UPDATES:
                msg = trip_updates_feed(snap.trip_updates, timestamp=ts)
            else:
                msg = vehicle_positions_feed([v for v, _ in pairs], timestamp=ts,
                                             operators={v.entity_id: op for v, op in pairs})
            if fmt == "json":
                return feed_json(msg), snap.version
            self._feed_cache = {k: v for k, v in self._feed_cache.items() if k[1] == snap.version and k[0] != kind}
            self._feed_cache[key] = msg.SerializeToString()
        return self._feed_cache[key], snap.version


def _warm_decoder() -> None:
    from feeds.gtfs_rt_wire import warm
    from maas.platform.kernels import ensure_kernels
    from maas.platform.memory import drop_clean_pages

    ensure_kernels()  # on a cold cache: after the child compiled it (with the planner's), not in this process
    warm()
    drop_clean_pages()  # LLVM's code pages loading the decoder mapped back (it may finish after the planner's warm-up)


def _operator_of(v: VehiclePosition | TripUpdate) -> str | None:
    for ref in (v.trip_id, v.route_id, getattr(v, "stop_id", None)):
        if ref:
            return ref.split(":", 1)[0]
    return None


def _entities_of(msg: RealtimeMessage, stream: str) -> dict[str, Any]:
    return {e.entity_id: e for e in (msg.trip_updates if stream == TRIP_UPDATES else msg.vehicles)}


def _prepare(msg: RealtimeMessage, idx: OperatorIndex, feed: str | None, have: set[str]):
    """Off the loop: which streams the message changes, their msgpack bodies, and the matching report."""
    kinds = {TRIP_UPDATES: msg.trip_updates, VEHICLES: msg.vehicles}
    if feed is not None:
        other = next(o for o in STREAMS if o != feed)
        if kinds[other]:
            raise RealtimeError(f"feed={feed} but the message has {other} entities", "feed")
        streams = [feed]
    else:
        streams = [s for s in STREAMS if kinds[s]]
        if not streams and msg.deleted:
            streams = [s for s in STREAMS if s in have]
    changes = []
    for s in streams:
        ents = kinds[s]
        if len({e.entity_id for e in ents}) != len(ents):
            raise RealtimeError(f"two {s} entities share an id", "entity.id")
        changes.append(StreamChange(s, msg.full_dataset, {e.entity_id: _ENC.encode(e) for e in ents},
                                    () if msg.full_dataset else msg.deleted))
    unmatched: list[Unmatched] = []
    n = matched_tu = matched_vp = at_stops = 0
    for u in msg.trip_updates:
        why = match_trip_update(idx, u)
        if why is None:
            matched_tu += 1
        else:
            n += 1
            if len(unmatched) < MAX_REPORTED:
                unmatched.append(Unmatched(u.entity_id, "trip_update", u.trip_id, why))
    for v in msg.vehicles:
        k = idx.trip_route.position(v.trip_id) if v.trip_id is not None else -1  # one lookup for both
        why = match_vehicle(idx, v, k)
        if idx.vehicle_stop(v, k) is not None:
            at_stops += 1
        if why is None:
            matched_vp += 1
        else:
            n += 1
            if len(unmatched) < MAX_REPORTED:
                unmatched.append(Unmatched(v.entity_id, "vehicle", v.trip_id, why))
    return changes, unmatched, n, matched_tu, matched_vp, at_stops


def _decode_stored(stored: dict[str, StoredStream]) -> dict[str, _Stream]:
    out = {}
    for s, st in stored.items():
        dec = _TU_DEC if s == TRIP_UPDATES else _VP_DEC
        ents = {}
        for k, body in st.entities.items():
            try:
                ents[k] = dec.decode(body)
            except msgspec.DecodeError:
                log.error("stored realtime entity %s/%s is unreadable; ignored", s, k)
        out[s] = _Stream(st.timestamp, st.received_at, dict(st.entities), ents)
    return out


def report_dict(r: IngestReport) -> dict:
    d = {k: getattr(r, k) for k in r.__dataclass_fields__ if k != "unmatched"}
    d["streams"] = list(r.streams)
    d["unmatched"] = [{"entity_id": u.entity_id, "kind": u.kind, "trip_id": u.trip_id, "reason": u.reason}
                      for u in r.unmatched]
    return d


# ------------------------------------------------------------------------------------------------ pulling

@dataclass(frozen=True)
class PullSource:
    operator: str
    url: str
    interval_s: float = 30.0

    @property
    def shown_url(self) -> str:
        """The URL without its query (ODPT URLs carry the consumer key there)."""
        p = urlsplit(self.url)
        return urlunsplit((p.scheme, p.netloc, p.path, "…" if p.query else "", ""))


MIN_INTERVAL_S, MAX_INTERVAL_S = 1.0, 3600.0
MAX_BACKOFF_S = 600.0


def parse_pull_spec(spec: str) -> PullSource:
    """``op=URL[,interval_s]`` (the `maas serve --realtime` form) → `PullSource`; ValueError with one clear line."""
    from feeds.gtfs import check_namespace

    op, sep, rest = spec.partition("=")
    if not sep or not op or not rest:
        raise ValueError(f"realtime source {spec!r:.80} must be OPERATOR=URL[,INTERVAL_S]")
    check_namespace(op)
    url, interval = rest, ""
    head, comma, tail = rest.rpartition(",")
    if comma and re.fullmatch(r"\s*[0-9.eE+-]+\s*|\s*(inf|nan)\s*", tail, re.I):
        url, interval = head, tail.strip()
    p = urlsplit(url)
    if p.scheme not in ("http", "https") or not p.netloc:
        raise ValueError(f"realtime source URL {url!r:.80} must be http:// or https://")
    try:
        iv = float(interval) if interval else 30.0
    except ValueError:
        raise ValueError(f"realtime pull interval {interval!r:.20} is not a number of seconds") from None
    if not (math.isfinite(iv) and MIN_INTERVAL_S <= iv <= MAX_INTERVAL_S):
        raise ValueError(f"realtime pull interval must be {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g} s, not {iv:g}")
    return PullSource(op, url, iv)


@dataclass
class _PullState:
    source: PullSource
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    fetches: int = 0
    not_modified: int = 0
    last_status: int | None = None
    last_attempt: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    next_delay_s: float = 0.0
    streams: set[str] = field(default_factory=set)


class RealtimePuller:
    """Fetch each configured source on its interval with conditional requests (ETag / Last-Modified), a time-out
    and exponential back-off (doubling from the interval up to `MAX_BACKOFF_S`, with jitter) after failures.
    With Redis one worker at a time pulls a source (a lease); the others get its result through the store."""

    def __init__(self, service: RealtimeService, sources: Iterable[PullSource], *, timeout_s: float = 10.0,
                 max_backoff_s: float = MAX_BACKOFF_S, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.service = service
        self.states = [_PullState(s) for s in sources]
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._tasks: list[asyncio.Task] = []
        self._session = None
        self._owner = f"{os.getpid()}-{random.getrandbits(32):08x}"

    def start(self) -> None:
        for st in self.states:
            self._tasks.append(asyncio.create_task(self._run(st), name=f"realtime-pull-{st.source.operator}"))

    async def aclose(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    def status(self, operator: str) -> list[dict]:
        return [{"url": st.source.shown_url, "interval_s": st.source.interval_s, "fetches": st.fetches,
                 "not_modified": st.not_modified, "failures": st.failures, "last_status": st.last_status,
                 "last_attempt": st.last_attempt, "last_success": st.last_success, "last_error": st.last_error,
                 "next_in_s": st.next_delay_s}
                for st in self.states if st.source.operator == operator]

    def backoff(self, st: _PullState) -> float:
        if st.failures == 0:
            return st.source.interval_s
        base = min(self.max_backoff_s, st.source.interval_s * 2 ** min(st.failures, 20))
        return base * (0.9 + 0.2 * random.random())

    async def _run(self, st: _PullState) -> None:
        lease = f"pull:{st.source.operator}:{abs(hash(st.source.url)) % 10**12}"
        while True:
            try:
                if await self.service.store.try_lease(lease, self._owner, st.source.interval_s * 3):
                    await self.pull_once(st)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down: try again later, never stop pulling
                st.failures += 1
                st.last_error = f"store: {exc}"
                log.warning("realtime pull of %s failed", st.source.shown_url, exc_info=True)
            st.next_delay_s = self.backoff(st)
            await self._sleep(st.next_delay_s)

    async def _client(self):
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._session

    async def pull_once(self, st: _PullState) -> IngestReport | None:
        """One conditional GET; a 304 changes nothing, a 200 is ingested. Failures count towards the back-off."""
        import aiohttp

        st.last_attempt = self.service.clock()
        st.fetches += 1
        headers = {"Accept": "application/x-protobuf, application/octet-stream;q=0.9, application/json;q=0.5"}
        if st.etag:
            headers["If-None-Match"] = st.etag
        if st.last_modified:
            headers["If-Modified-Since"] = st.last_modified
        session = await self._client()
        try:
            async with session.get(st.source.url, headers=headers, allow_redirects=True) as r:
                st.last_status = r.status
                if r.status == 304:
                    st.not_modified += 1
                    st.failures, st.last_error = 0, None
                    st.last_success = self.service.clock()
                    return None
                if r.status != 200:
                    raise _PullFailed(f"HTTP {r.status}")
                if r.content_length is not None and r.content_length > MAX_RT_PAYLOAD_BYTES:
                    raise _PullFailed(f"{r.content_length} bytes is more than {MAX_RT_PAYLOAD_BYTES}")
                body = await r.content.read(MAX_RT_PAYLOAD_BYTES + 1)
                if len(body) > MAX_RT_PAYLOAD_BYTES:
                    raise _PullFailed(f"more than {MAX_RT_PAYLOAD_BYTES} bytes")
                ctype = r.headers.get("Content-Type")
                etag, modified = r.headers.get("ETag"), r.headers.get("Last-Modified")
            feed = next(iter(st.streams)) if len(st.streams) == 1 else None
            report = await self.service.ingest(body, ctype, st.source.operator, feed=feed)
            st.streams |= set(report.streams)
            st.etag, st.last_modified = etag, modified
            st.failures, st.last_error = 0, None
            st.last_success = self.service.clock()
            return report
        except (_PullFailed, RealtimeError, UnknownOperator, aiohttp.ClientError, TimeoutError) as exc:
            st.failures += 1
            st.last_error = (f"{exc.field}: {exc.detail}" if isinstance(exc, RealtimeError) and exc.field
                             else f"unknown operator {exc}" if isinstance(exc, UnknownOperator)
                             else f"timed out after {self.timeout_s:g} s" if isinstance(exc, TimeoutError)
                             else str(exc) or type(exc).__name__)
            log.warning("realtime pull %s: %s", st.source.shown_url, st.last_error)
            return None


class _PullFailed(Exception):
    pass


# ------------------------------------------------------------------------------------------------ wiring

class NetworkIndexes:
    """`OperatorIndex` per live feed of a TransitService's network, rebuilt when a feed is swapped."""

    def __init__(self, transit, child_min_rows: int | None = CHILD_BUILD_MIN_ROWS) -> None:
        self.transit = transit
        self.child_min_rows = child_min_rows  # a feed with this many stop_times rows: its index built by a child
        self._cache: dict[str, tuple[weakref.ref, OperatorIndex]] = {}
        self._lock = threading.Lock()

    def __call__(self, operator: str) -> OperatorIndex | None:
        try:
            feed = self.transit.network.feed(operator)
        except KeyError:
            return None
        hit = self._cache.get(operator)
        if hit is not None and hit[0]() is feed:
            return hit[1]
        with self._lock:
            hit = self._cache.get(operator)
            if hit is not None and hit[0]() is feed:
                return hit[1]
            idx = None
            if self.child_min_rows is not None and feed.rows("stop_times") >= self.child_min_rows:
                # a big feed's index built by a child: unpacking its stop_times and trips here leaves their freed
                # pages scattered in this heap (all-Tokyo rail: +53 MiB resident for a ~29 MiB index built here)
                from maas.platform.child import call_in_child

                idx = call_in_child("maas.disruptions.realtime:operator_index", feed)
                idx = idx.with_shared_ids() if isinstance(idx, OperatorIndex) else None
            if idx is None:
                idx = OperatorIndex.from_feed(feed)
            self._cache[operator] = (weakref.ref(feed), idx)
        # once per live feed object: the build's freed temporaries back to the system (all-Tokyo rail, in a warm
        # server: +96 MiB resident kept without this, +22 MiB with it)
        from maas.platform.memory import release_memory

        release_memory()
        return idx
