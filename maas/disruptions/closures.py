"""The closure service: accept disaster warnings, keep them stored and shared, and hand the planner its masks.

Accepting is all-or-nothing: parse (`feeds/`), check every id against the current model, resolve CAP
Update/Cancel references, write to the store in one step, then swap the in-memory state and bump `version`.
Any error leaves the active closures exactly as they were. Masks are cached per (model, walker) and rebuilt only
when the version (or the set of not-yet-expired closures) changes; resolution of each closure to model elements
is cached separately, so a change costs only the new closure's geometry work plus a numpy merge.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

import orjson

from feeds.cap import CapMessage, cap_closure_id
from feeds.closure_json import TOKYO_TZ, Closure, ClosureError, closure_to_json
from feeds.gtfsrt_alerts import AlertsUpdate, alerts_feed, alerts_feed_json
from feeds.jma import JmaTelegram
from maas.disruptions.closure_masks import ClosureIndex, area_members
from maas.disruptions.closure_parse import (CHILD_BYTES, ChildParser, build_stored, closures_of, content_kind,
                                            parse_payload, wants_child)
from maas.disruptions.closure_store import ClosureStore, MemoryClosureStore
from routing.masks import ClosureMask
from routing.realtime import base_of, realtime_of

log = logging.getLogger("maas.disruptions.closures")

__all__ = ["AcceptResult", "Closure", "ClosureError", "ClosureService", "content_kind"]

MAX_CLOSURES = 10_000
KEEP_EXPIRED = dt.timedelta(days=1)  # ended closures stay listed a day (for late bookings' history), then go
Listener = Callable[[list[Closure]], Awaitable[None]]
XML_SNIFF = "sniff JMA namespace"


@dataclass(frozen=True)
class AcceptResult:
    accepted: tuple[Closure, ...]
    lifted: tuple[str, ...]
    version: int
    unknown_areas: tuple[dict, ...] = ()  # JMA area codes with no polygon (reported, not applied)
    removed: tuple[Closure, ...] = ()  # the lifted closures themselves (for `restored` events)


class ClosureService:
    """Holds the closures of this worker (a copy of the store's), validates and applies changes, builds masks.

    ``model_provider`` returns the model ids are checked against (today's), or None before one is built;
    ``clock`` returns "now" (aware), injectable for tests.
    """

    def __init__(self, store: ClosureStore | None = None,
                 model_provider: Callable[[], Any] | None = None,
                 clock: Callable[[], dt.datetime] | None = None, jma: Any = None):
        self.store: ClosureStore = store or MemoryClosureStore()
        self.jma = jma  # maas.disruptions.jma_intake.JmaIntake, or None when no municipality file is configured
        self.model_provider = model_provider
        self.clock = clock or (lambda: dt.datetime.now(TOKYO_TZ))
        self._state: dict[str, tuple[Closure, int]] = {}  # id → (closure, revision); replaced, never mutated
        self.version = 0
        self._write = asyncio.Lock()
        self._lock = threading.Lock()  # guards the index / mask caches (planner threads)
        self._indexes: dict[tuple[int, int], tuple[weakref.ref, Any, ClosureIndex]] = {}
        self._masks: dict[tuple[int, int], tuple[weakref.ref, tuple, ClosureMask | None]] = {}
        self.listeners: list[Listener] = []  # async callbacks given each batch of newly accepted closures
        self.lift_listeners: list[Listener] = []  # async callbacks given each batch of lifted closures
        self._tasks: set[asyncio.Task] = set()
        # big payloads are parsed in a child process (None: in a worker thread like the others)
        self.child: ChildParser | None = ChildParser()
        self._encoded: dict[str, tuple[weakref.ref, bytes]] = {}  # the last big payload's closures, encoded
        self._child_start: asyncio.Task | None = None
        # id → (the closure held, its stored bytes): reloads compare them, answers embed them
        self._stored: dict[str, tuple[Closure, bytes]] = {}

    # ---- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load what the store holds and follow other workers' changes."""
        await self.reload()
        await self.store.subscribe(self.reload)

    async def child_started(self) -> None:
        """Start the child parser now and wait for it (or its failure: then big payloads are parsed in threads).
        Without this call it is spawned by the first big payload: most servers never get one, and a child costs
        ~50 MiB and a second of CPU per worker."""
        if self.child is not None and self._child_start is None:
            self._child_start = asyncio.get_running_loop().create_task(self._start_child(), name="closure-child")
        if self._child_start is not None:
            await asyncio.shield(self._child_start)

    async def _start_child(self) -> None:
        try:
            await self.child.start()
        except Exception:  # no child processes here (a sandbox): big payloads are parsed in a thread
            log.warning("closure parser child process unavailable; parsing in threads", exc_info=True)
            self.child = None

    async def aclose(self) -> None:
        await self.drain()
        await self.store.aclose()
        if self._child_start is not None:
            self._child_start.cancel()
        if self.child is not None:
            self.child.close()

    async def reload(self) -> None:
        """Replace the in-memory closures by the store's (unchanged ones keep their revision and caches)."""
        async with self._write:
            await self._reload()

    async def _reload(self) -> None:
        """Closures whose stored bytes are those this worker holds stay as they are (no decode, no re-encode:
        a reload follows every change, this worker's own too); the others are built off the loop, in the child
        process when they are big."""
        raw = await self.store.load_raw()
        state, stored = self._state, self._stored
        fresh = {k: v for k, v in raw.items() if k not in state or k not in stored or stored[k][1] != v}
        built: dict[str, Closure] = {}
        if fresh:
            errors: dict[str, str]
            if self.child is not None and sum(len(v) for v in fresh.values()) >= CHILD_BYTES:
                built, errors = await self._build_in_child(fresh)
            else:
                built, errors = await asyncio.to_thread(build_stored, fresh)
            for cid, err in errors.items():
                log.error("stored closure %s is unreadable (%s); ignored", cid, err)
        if not built and set(raw) - set(fresh) == set(state):
            return  # nothing new, nothing gone
        rev = self.version + 1
        new = {k: state[k] for k in raw if k not in fresh}
        new.update((k, (c, rev)) for k, c in built.items())
        self._stored = {k: (new[k][0], raw[k]) for k in new}
        self._install(new, rev)

    async def _build_in_child(self, fresh: dict[str, bytes]) -> tuple[dict[str, Closure], dict[str, str]]:
        try:
            return await self.child.build(fresh)
        except Exception as e:  # BrokenProcessPool, OSError: as for payloads
            log.warning("closure parser child process failed (%s); parsing in threads", e)
            self.child = None
            return await asyncio.to_thread(build_stored, fresh)

    def _install(self, state: dict[str, tuple[Closure, int]], version: int) -> None:
        self._state = state
        self.version = version

    # ---- reading ------------------------------------------------------------------------------------------
    def get(self, closure_id: str) -> Closure | None:
        hit = self._state.get(closure_id)
        return hit[0] if hit else None

    def list_all(self) -> list[Closure]:
        return sorted((c for c, _ in self._state.values()), key=lambda c: (c.start, c.id))

    def list_active(self, at: dt.datetime | None = None) -> list[Closure]:
        at = at or self.clock()
        return [c for c in self.list_all() if c.active_at(at)]

    def live(self, now: dt.datetime | None = None) -> tuple[int, list[tuple[Closure, int]]]:
        """(version, [(closure, revision)]) of every closure not yet ended, whatever its strength."""
        state, version = self._state, self.version
        now = now or self.clock()
        return version, [(c, rev) for c, rev in state.values() if c.end is None or c.end > now]

    def list_current(self, now: dt.datetime | None = None) -> list[Closure]:
        """Active now or starting later: what a GTFS-RT consumer should know about."""
        now = now or self.clock()
        return [c for c in self.list_all() if c.end is None or c.end > now]

    # ---- writing ------------------------------------------------------------------------------------------
    def parse(self, payload: Any, content_type: str | None = None, *, namespace: str | None = None,
              source: str | None = None) -> list[Closure] | CapMessage | AlertsUpdate | JmaTelegram:
        return parse_payload(payload, content_type, namespace=namespace, source=source, now=self.clock())

    def json_form(self, c: Closure) -> Any:
        """The closure's JSON form: its stored bytes (or the child process's encoding of a big payload's) as an
        `orjson.Fragment` (embedded as is, never re-encoded), else `closure_to_json`. Call it off the loop."""
        held = self._stored.get(c.id)
        if held is not None and held[0] is c:
            return orjson.Fragment(held[1])
        hit = self._encoded.get(c.id)
        if hit is not None and hit[0]() is c:
            return orjson.Fragment(hit[1])
        return closure_to_json(c)

    async def accept(self, payload: Any, content_type: str | None = None, *, namespace: str | None = None,
                     source: str | None = None) -> AcceptResult:
        """Validate and apply a closure payload (our JSON, CAP 1.2 XML, JMA XML, GTFS-RT Alerts) or Closure
        objects. Parsing and geometry checks run in a worker thread: a large polygon never stalls the loop."""
        if isinstance(payload, (Closure, list)):
            parsed = self.parse(payload, content_type, namespace=namespace, source=source)
        elif self.child is not None and wants_child(payload, content_type):
            parsed = await self._parse_in_child(payload, content_type, namespace, source)
        else:
            parsed = await asyncio.to_thread(self.parse, payload, content_type, namespace=namespace, source=source)
        unknown: list[dict] = []
        async with self._write:
            state = self._state
            puts: list[Closure]
            deletes: set[str] = set()
            if isinstance(parsed, JmaTelegram):
                if self.jma is None:
                    raise ClosureError("JMA XML is not accepted here: no municipality file is configured "
                                       "(settings jma_areas / MAAS_JMA_AREAS)", "body")
                changes = self.jma.changes(parsed, {k: c for k, (c, _) in state.items()})
                puts, deletes, unknown = changes.puts, set(changes.deletes), changes.unknown_areas
            elif isinstance(parsed, CapMessage):
                puts, deletes = self._resolve_cap(parsed, state)
            elif isinstance(parsed, AlertsUpdate):
                puts = list(parsed.closures)
                deletes = {d for d in parsed.deleted if d in state}
                deletes |= {cid for d in parsed.deleted for cid in state if cid.startswith(d + "/p")}
                if parsed.full_dataset:  # the feed is the whole truth for its source and operator
                    fresh = {c.id for c in puts}
                    deletes |= {cid for cid in state if cid.startswith(parsed.prefix + ":") and cid not in fresh}
            else:
                puts = parsed
            if len({c.id for c in puts}) != len(puts):
                raise ClosureError("two closures in one payload share an id", "id")
            await asyncio.to_thread(self._check, puts)  # may build today's model: never on the loop
            now = self.clock()
            deletes |= {cid for cid, (c, _) in state.items() if c.end is not None and c.end < now - KEEP_EXPIRED}
            deletes -= {c.id for c in puts}
            if len(set(state) - deletes | {c.id for c in puts}) > MAX_CLOSURES:
                raise ClosureError(f"too many closures (at most {MAX_CLOSURES} stored)")
            result = await self._commit(puts, sorted(deletes))
            if unknown:
                result = _replace(result, unknown_areas=tuple(unknown))
        await asyncio.to_thread(self._warm, puts, result.version)
        self._notify(result.accepted)
        self._notify(tuple(c for c in result.removed if c.end is None or c.end > now), self.lift_listeners)
        return result

    async def _parse_in_child(self, payload: Any, content_type: str | None, namespace: str | None,
                              source: str | None):
        try:
            parsed, encoded = await self.child.parse(payload, content_type, namespace=namespace, source=source,
                                                     now=self.clock())
        except ClosureError:
            raise
        except Exception as e:  # the child died or cannot start (BrokenProcessPool, OSError): parse here instead
            log.warning("closure parser child process failed (%s); parsing in threads", e)
            self.child = None
            return await asyncio.to_thread(self.parse, payload, content_type, namespace=namespace, source=source)
        by_id = {c.id: c for c in closures_of(parsed)}
        self._encoded = {k: (weakref.ref(by_id[k]), v) for k, v in encoded.items() if k in by_id}
        return parsed

    async def lift(self, closure_id: str) -> bool:
        """Remove a closure (routes come back on the next query); False when it was not there."""
        async with self._write:
            if closure_id not in self._state:
                return False
            result = await self._commit([], [closure_id])
        self._notify(result.removed, self.lift_listeners)
        return True

    async def _commit(self, puts: list[Closure], deletes: list[str]) -> AcceptResult:
        rev = self.version + 1
        body = await asyncio.to_thread(lambda: {c.id: self.json_form(c) for c in puts})
        stored = await self.store.apply(body, deletes)  # raises: nothing changed
        removed = tuple(self._state[k][0] for k in deletes if k in self._state)
        state = {k: v for k, v in self._state.items() if k not in deletes}
        for c in puts:
            state[c.id] = (c, rev)
        kept = {k: v for k, v in self._stored.items() if k in state and state[k][0] is v[0]}
        by_id = {c.id: c for c in puts}
        # a store that does not say what it wrote: those are rebuilt on the next reload
        kept.update((k, (by_id[k], b)) for k, b in (stored or {}).items() if k in by_id)
        self._stored = kept
        self._install(state, rev)
        return AcceptResult(tuple(puts), tuple(deletes), rev, removed=removed)

    def _notify(self, accepted: tuple[Closure, ...], listeners: list[Listener] | None = None) -> None:
        """Run listeners (re-planning of booked trips) in the background, outside the write lock: an accepted
        closure is in force at once, and a failing listener never undoes it."""
        listeners = self.listeners if listeners is None else listeners
        if not accepted or not listeners:
            return

        async def run() -> None:
            for cb in list(listeners):
                try:
                    await cb(list(accepted))
                except Exception:
                    log.exception("closure listener failed")

        task = asyncio.get_running_loop().create_task(run(), name="closure-listeners")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the listeners of every accepted change so far (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _resolve_cap(self, msg: CapMessage, state: dict[str, tuple[Closure, int]]
                     ) -> tuple[list[Closure], set[str]]:
        """Update replaces and Cancel lifts every stored closure of the referenced alerts' chain."""
        hit: set[str] = set()
        for ref in msg.references:
            cid = cap_closure_id(ref.sender, ref.identifier)
            if cid in state:
                hit.add(cid)
            hit |= {k for k, (c, _) in state.items()
                    if c.cap is not None and c.cap.sender == ref.sender and ref.identifier in c.cap.supersedes}
        if msg.msg_type == "Cancel":
            return [], hit
        c = msg.closure
        assert c is not None and c.cap is not None
        chain = list(c.cap.supersedes)
        for k in sorted(hit):
            old = state[k][0].cap
            if old is not None:
                chain += [old.identifier, *old.supersedes]
        cap = type(c.cap)(c.cap.sender, c.cap.identifier, c.cap.sent, c.cap.msg_type, tuple(dict.fromkeys(chain)))
        return [_replace(c, cap=cap)], hit

    # ---- models and masks ---------------------------------------------------------------------------------
    def _check(self, closures: Iterable[Closure]) -> None:
        model = self.model_provider() if self.model_provider else None
        if model is None:
            return
        idx = self.index_for(model)
        for i, c in enumerate(closures):
            try:
                idx.check(c)
            except ClosureError as e:
                raise ClosureError(e.detail, (f"closures[{i}]." if i else "") + (e.field or "")) from None

    def _warm(self, closures: list[Closure], rev: int) -> None:
        """Resolve new closures now in every known model, so the next query only merges arrays (and the
        warnings attached to answers find them resolved). Runs in a worker thread."""
        for _, _, idx in list(self._indexes.values()):
            for c in closures:
                idx.resolve(c, rev)

    def index_for(self, model, walker: Any = None) -> ClosureIndex:
        model = base_of(model)  # a realtime model's stops and hops are its base model's (plus copies)
        key = (id(model), id(walker))
        with self._lock:
            hit = self._indexes.get(key)
            if hit is not None and hit[0]() is model:
                return hit[2]
            same_model = [v[2] for v in self._indexes.values() if v[0]() is model]
            geometry = same_model[0].geometry if same_model else None
            like = None  # else another day's with its geometry built: its lines where the patterns are the same
            for _, _, other in [] if same_model else self._indexes.values():  # another day's, if the same hops
                geometry = other.geometry_for(model)
                if geometry is not None:
                    break
                like = like or (other if other._geom is not None else None)
            idx = ClosureIndex(model, walker, geometry, None if geometry is not None else like)
            self._indexes = {k: v for k, v in self._indexes.items() if v[0]() is not None}
            self._indexes[key] = (weakref.ref(model), walker, idx)
            return idx

    def forget_model(self, model) -> None:
        """The indexes and masks of ``model`` dropped (`TransitService.drop_listeners`: the service no longer
        holds it). Each index holds its model: without this every day's model a server ever built stays."""
        with self._lock:
            self._indexes = {k: v for k, v in self._indexes.items() if v[0]() is not model}
            self._masks = {k: v for k, v in self._masks.items() if v[0]() is not model}

    def prepare(self, model, walker: Any = None) -> None:
        """Build the model's hop geometry and resolve the stored closures ahead of the first query."""
        idx = self.index_for(model, walker)
        _ = idx.geometry
        for c, rev in list(self._state.values()):
            idx.resolve(c, rev)

    def mask_for(self, model, walker: Any = None, restricting: bool = False) -> ClosureMask | None:
        """The `TransitService.mask_provider`: None when nothing blocks, else the cached mask for this version.
        ``restricting`` adds the `avoid` closures (the mask of a plan that stays out of warned areas). On a
        realtime model: the base model's mask, extended to the hops the overlay added (cached there)."""
        overlay = realtime_of(model)
        if overlay is not None:
            return overlay.extend_mask(self.mask_for(overlay.base, walker, restricting))
        state, version = self._state, self.version
        now = self.clock()
        live = [(c, rev) for c, rev in state.values()
                if (c.restricting if restricting else c.blocking) and (c.end is None or c.end > now)]
        if not live:
            return None
        key = (version, tuple(sorted(c.id for c, _ in live)))
        mkey = (id(model), id(walker), restricting)
        hit = self._masks.get(mkey)
        if hit is not None and hit[0]() is model and hit[1] == key:
            return hit[2]
        idx = self.index_for(model, walker)
        mask = idx.mask(live, model.service_date, restricting=restricting)
        mask = None if mask.empty else mask
        with self._lock:
            self._masks = {k: v for k, v in self._masks.items() if v[0]() is not None}
            self._masks[mkey] = (weakref.ref(model), key, mask)
            idx.forget((c.id, rev) for c, rev in state.values())
        return mask

    # ---- output -------------------------------------------------------------------------------------------
    def alerts(self, model=None, now: dt.datetime | None = None):
        """The current closures as a GTFS-RT Alerts FeedMessage (areas listed as the stops/routes they touch)."""
        closures = self.list_current(now)
        area_stops: dict[str, list[str]] = {}
        area_routes: dict[str, list[str]] = {}
        if model is not None:
            idx = self.index_for(model)
            for c in closures:
                if c.areas:
                    area_stops[c.id], area_routes[c.id] = area_members(idx, c, self._state[c.id][1])
        return alerts_feed(closures, area_stops=area_stops, area_routes=area_routes)

    def alerts_json(self, model=None, now: dt.datetime | None = None) -> dict:
        return alerts_feed_json(self.alerts(model, now))


def _replace(c: Closure, **kw) -> Closure:
    from dataclasses import replace

    return replace(c, **kw)
