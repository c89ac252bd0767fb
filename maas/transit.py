"""The transit side of the service: one network, a transit model per service day, planners run off the event loop."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo
from typing import Callable

from feeds.feed import TOKYO, Network  # noqa: F401  (TOKYO: re-exported for maas.services)
from maas.platform.memory import arrays_nbytes, process_memory, release_memory
from maas.platform.progress import step
from maas.platform.settings import Settings
from routing.masks import ClosureMask
from routing.names import BuiltNames, NameIndex, adopt_names
from routing.itinerary import share_day_tables
from routing.planner import PlanOptions, Planner
from routing.raptor import drop_thread_buffers, share_equal_fields, share_timetables
from routing.realtime import RealtimeOverlay
from routing.timetable import SERVED_DAYS, WHOLE_DAYS, BuildSettings, TransitModel, build_model, model_timezone
from routing.walking import StraightLineWalker, Walker

log = logging.getLogger("maas.transit")
MaskProvider = Callable[[TransitModel, "Walker"], ClosureMask | None]
# The realtime overlay of a (scheduled) model, None when no realtime applies (maas/disruptions/live_timetable.py)
RealtimeProvider = Callable[[TransitModel], "RealtimeOverlay | None"]
# Plans the whole answer instead (avoid-planning and warnings, maas/disruptions/avoid.py); None = not applicable
PlanHook = Callable[..., "list[dict] | None"]


@dataclass(frozen=True)
class BuiltNetwork:
    """A network with its models built, not yet live (``TransitService.build_network``/``install``)."""

    network: Network
    models: "OrderedDict[dt.date, tuple[TransitModel, Planner]]"
    walker: Walker | None
    names: NameIndex
    span: "tuple[dt.date | None, dt.date | None]" = (None, None)  # `service_span` of the network


def service_span(network: Network) -> tuple[dt.date | None, dt.date | None]:
    """The first and last date any feed of ``network`` has service on ((None, None): none). From each feed's
    `FeedFacts` (pandas over its calendars, ~14 ms on the sample, when not yet taken): computed once per network,
    off the event loop (`TransitService.build_network`, `TransitService.service_span`)."""
    first, last = [], []
    for feed in network.feeds:
        a, b = feed.service_dates()
        if a is not None:
            first.append(a)
            last.append(b)
    return (min(first), max(last)) if first else (None, None)


ONE_DAY = dt.timedelta(days=1)


def bases_for(dates) -> list[dt.date]:
    """The model dates that serve the plans of ``dates`` (a model answers its own day's and the next's,
    `SERVED_DAYS`): a day by the model of the day before when that day is asked for too, else by its own. Today
    and tomorrow: today's model; within the hour before midnight, when the day after tomorrow joins them, today's
    and tomorrow's (tomorrow's then serves the next two days alone)."""
    days = set(dates)
    return sorted({d - ONE_DAY if d - ONE_DAY in days else d for d in days})


def served_by(bases) -> set[dt.date]:
    """The days whose plans the models of dates ``bases`` answer (`SERVED_DAYS` of each)."""
    return {b + dt.timedelta(days=d) for b in bases for d in SERVED_DAYS}


def _shared_ids(model: TransitModel) -> TransitModel:
    """A model built by another process with its trip ids on this process's table of the network's trip ids, as
    a build here makes them (`TripIds.canonical`): one table for every service day's model, not one per unpickled
    model."""
    model.trip_ids = model.trip_ids.canonical()
    return model


class _Build:
    """One model build in progress (`TransitService.planner_for`): those asking for a day it serves wait on
    ``done``."""

    def __init__(self, generation: int):
        self.generation = generation
        self.done = threading.Event()
        self.error: BaseException | None = None


class TransitService:
    """Holds the network and builds models lazily per service date (a small LRU), shared by all requests. A model
    answers the plans of two days (its date's and the next, `SERVED_DAYS`) and holds the trips of the days around
    (`DAYS`), so it is cached under its date and found for either day (`planner_for`, `model_for`).

    The planner itself is pure and releases the GIL (numba nogil), so queries run in a thread pool and the
    aiohttp event loop never computes a route.
    """

    def __init__(self, network: Network, *, build_settings: BuildSettings | None = None,
                 osm_path: Path | None = None, cache_dir: Path | None = None, threads: int = 2,
                 max_models: int = 3, progress: bool = False, child_model_min_rows: int | None = None):
        self.network = network
        # a network with at least this many stop_times rows has its models built by a child process (`_build`);
        # None: always here
        self.child_model_min_rows = child_model_min_rows
        self.build_settings = build_settings or BuildSettings()
        self.osm_path = osm_path
        self.cache_dir = cache_dir
        self.progress = progress
        self.max_models = max_models
        self.mask_provider: MaskProvider | None = None
        self.plan_hook: PlanHook | None = None
        self.realtime_provider: RealtimeProvider | None = None
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="planner")
        self._models: OrderedDict[dt.date, tuple[TransitModel, Planner]] = OrderedDict()  # by model date
        self._lock = threading.Lock()
        # builds in progress, one per model date: a request for a day it serves waits for it, others are not held up
        self._building: dict[dt.date, "_Build"] = {}
        self._generation = 0  # bumped by `install`: a build of the network before a swap is not cached
        self._keep: frozenset[dt.date] = frozenset()  # model dates the LRU never drops (`keep`: today's)
        self._keep_days: frozenset[dt.date] = frozenset()  # the days they serve (`keep`: today, tomorrow)
        # called with each model the cache drops (LRU, swap): what other services cache per model is forgotten
        # with it (a server running for weeks builds a model a day; cycles frozen by gc.freeze are never freed)
        self.drop_listeners: list[Callable[[TransitModel], object]] = []
        self._dropped: list[TransitModel] = []
        self._walker: Walker | None = None
        self.warm = False  # every planner thread has run a plan (kernels compiled or loaded): see warm_up
        self._warm_barrier: threading.Barrier | None = None  # broken by close(): no thread waits for a cancelled task
        self._warming = threading.Lock()  # one `warm_days` on the planner threads at a time
        self._names: NameIndex | None = None
        self._span: tuple[Network, tuple[dt.date | None, dt.date | None]] | None = None  # (network, its span)

    @classmethod
    def from_settings(cls, settings: Settings, progress: bool = False) -> "TransitService":
        from maas.platform.child import CHILD_BUILD_MIN_ROWS
        from maas.publishing.network import ISOLATE_MIN_BYTES, load_network_and_model

        build = BuildSettings()
        # the big tables compressed (only a model build, a feed's realtime trip index and its seat rules read them
        # again); today's model built by the child that loads big feeds, when its straight-line footpaths are
        # the ones this service uses (no OSM streets)
        loaded = load_network_and_model(settings.feeds, settings.cache_dir, progress=progress,
                                        isolate_min_bytes=ISOLATE_MIN_BYTES, pack=True,
                                        build=build if settings.osm is None else None)
        release_memory()  # the raw string tables parsed on the way are garbage now
        service = cls(loaded.network, build_settings=build, osm_path=settings.osm, cache_dir=settings.cache_dir,
                      threads=settings.planner_threads, progress=progress,
                      child_model_min_rows=CHILD_BUILD_MIN_ROWS)
        if loaded.model is not None:
            service.adopt(loaded.model, loaded.names)
        return service

    def adopt(self, model: TransitModel, names: BuiltNames | None = None) -> Planner:
        """A model of this network built elsewhere (`from_settings`: by the feed-loading child) cached for its
        date as if `planner_for` had built it: the walker over its stops, the name index (``names``, built with
        it, else here), a planner. Only for a model built from this network with this service's build settings
        and no street walker."""
        with self._lock:
            if self.osm_path is not None:
                raise ValueError("a service with OSM streets builds its own models (street footpaths)")
            if names is not None and self._names is None:
                self._names = adopt_names(names)
            if self._walker is None:
                self._walker = self._make_walker(model)
            planner = self._cache_locked(model.service_date, _shared_ids(model))
        self._tell_dropped()
        return planner

    def _make_walker(self, model: TransitModel) -> Walker:
        if self.osm_path is None:
            return StraightLineWalker(model.stop_lat, model.stop_lon, self.build_settings.detour_factor)
        from routing.streets import StreetNetwork

        cache = self.cache_dir / "streets" if self.cache_dir else None
        return StreetNetwork.from_osm_xml(self.osm_path, model.stop_lat, model.stop_lon, cache_dir=cache)

    def _build(self, network: Network, date: dt.date, walker: Walker | None) -> tuple[TransitModel, Walker]:
        """One day's model, and the walker over its stops (made from the first model: stops don't vary by date).

        The first model of an OSM network is built again once the street walker exists, so its stop-to-stop
        footpaths are street distances too, not straight lines. Without streets, a big network's model is built
        by a child process (`model_in_child`: the same model, without the build's temporaries in this heap)."""
        if self.osm_path is None and self.child_model_min_rows is not None \
                and sum(f.rows("stop_times") for f in network.feeds) >= self.child_model_min_rows:
            from maas.publishing.network import model_in_child

            model = model_in_child(network, date, self.build_settings)
            if model is not None:
                return _shared_ids(model), walker if walker is not None else self._make_walker(model)
        model = build_model(network, date, self.build_settings, walker=walker)
        if walker is None:
            walker = self._make_walker(model)
            if walker.source != StraightLineWalker.source:
                model = build_model(network, date, self.build_settings, walker=walker)
        return model, walker

    def _plan_bases(self, date: dt.date) -> list[dt.date]:
        """The model dates whose model answers plans of ``date``, the first preferred: a kept one (the day
        keeper's), else the day before's (it joins the days up to the day after ``date``, as a model of that day
        alone did: the same answers), else the day's own."""
        bases = [date - dt.timedelta(days=d) for d in reversed(SERVED_DAYS)]
        return sorted(bases, key=lambda b: b not in self._keep)

    def planner_for(self, date: dt.date) -> Planner:
        """The planner of service day ``date``'s plans (`_plan_bases`: a model of that day or of the day before),
        built on first use when none is cached or being built: the kept one of the two (the day keeper's choice,
        before it built it), else the day's own."""
        bases = self._plan_bases(date)
        return self._planner(bases, bases[0] if bases[0] in self._keep else date)

    def planners_for(self, dates) -> list[Planner]:
        """The planners serving ``dates``, one per model (`bases_for`: today's for today and tomorrow), each
        model built if not cached."""
        return [self._planner([base], base) for base in bases_for(dates)]

    def _planner(self, bases: list[dt.date], own: dt.date) -> Planner:
        """The planner of the first of ``bases`` cached, else of the first being built (waited for), else of a
        model of date ``own`` built here. The build runs outside the lock (all-Tokyo: seconds, in a child
        process): a request for another day is answered meanwhile, one the same build serves waits for it
        instead of starting its own."""
        while True:
            with self._lock:
                for base in bases:
                    hit = self._models.get(base)
                    if hit is not None:
                        self._models.move_to_end(base)
                        return hit[1]
                date = next((b for b in bases if b in self._building), own)
                build = self._building.get(date)
                mine = build is None
                if mine:
                    build = self._building[date] = _Build(self._generation)
                network, walker = self.network, self._walker
            if not mine:
                build.done.wait()  # then the cache has it, or the build failed (raised there) or was swapped
                if build.error is not None:
                    raise build.error
                continue
            try:
                if self.progress:
                    with step(f"building the transit model for {date}"):
                        model, walker = self._build(network, date, walker)
                else:
                    model, walker = self._build(network, date, walker)
                with self._lock:
                    if build.generation != self._generation:
                        continue  # a publish swapped the network meanwhile: this day is built on the new one
                    if self._walker is None:
                        self._walker = walker
                    planner = self._cache_locked(date, model)
            except BaseException as exc:
                build.error = exc
                raise
            finally:
                with self._lock:
                    if self._building.get(date) is build:
                        del self._building[date]
                build.done.set()
            self._tell_dropped()
            release_memory()  # the build's pandas temporaries (several times the model) back to the system
            return planner

    def _cache_locked(self, date: dt.date, model: TransitModel) -> Planner:
        """A planner for ``model`` (this service's walker and names), cached as ``date``'s, the least recently used
        models beyond ``max_models`` dropped, never one of the days kept (`keep`). A model the same as another
        cached day's but for its date uses that one's arrays and timetables (`share_timetables`); else the fields
        it holds equal to the last day's (`share_equal_fields`), and its itinerary tables share another day's
        stops, routes and shapes where those are the same (`share_day_tables`)."""
        cached = [m for m, _ in reversed(self._models.values())]
        for other in cached:
            if share_timetables(model, other):
                break
        else:
            for other in cached[:1]:  # the last day's copies of what the days hold equal (stops, shapes, names)
                share_equal_fields(model, other)
        for other in cached:
            if share_day_tables(model, other):
                break
        planner = Planner(model, self._walker, self._names_locked())
        self._models[date] = (model, planner)
        self._models.move_to_end(date)
        self._evict_locked()
        return planner

    def _evict_locked(self) -> None:
        """Least recently used first, never a kept model nor the one used last (so a day asked for while the kept
        days fill the cache is cached, not built again on every request): at most ``max_models``, or the kept
        ones and one more. Before that, a model older than the kept ones whose kept days the kept models serve
        goes at once, not when the cache fills (a server running for weeks would hold yesterday's beside today's;
        yesterday's trips are in today's model too, `model_for`)."""
        others = [d for d in list(self._models)[:-1] if d not in self._keep]
        if self._keep:
            served = served_by(b for b in self._keep if b in self._models)
            first = min(self._keep)
            for old in [d for d in others if d < first]:
                if all(day in served or day not in self._keep_days for day in served_by([old])):
                    self._dropped.append(self._models.pop(old)[0])
                    others.remove(old)
        for old in others[:max(0, len(self._models) - self.max_models)]:
            self._dropped.append(self._models.pop(old)[0])

    def _tell_dropped(self) -> None:
        """The `drop_listeners` told of the models dropped so far (outside the lock)."""
        with self._lock:
            dropped, self._dropped = self._dropped, []
        for model in dropped:
            for listener in self.drop_listeners:
                try:
                    listener(model)
                except Exception:  # a cache that cannot forget keeps a model; plans go on
                    log.exception("a listener of dropped models failed")

    def keep(self, dates) -> None:
        """The days whose models stay cached whatever else is asked for (the day keeper's: today, tomorrow; their
        models `bases_for`); more models than ``max_models`` are kept all the same (`_evict_locked`)."""
        with self._lock:
            self._keep, self._keep_days = frozenset(bases_for(dates)), frozenset(dates)
            self._evict_locked()
        self._tell_dropped()

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The service date of ``now`` (default: the clock) on the network's own clock."""
        return self.local_date(now or dt.datetime.now(dt.timezone.utc))

    def swap_network(self, network: Network, dates: list[dt.date] | None = None) -> None:
        """Hot swap: build models of ``network`` for ``dates`` (default: the cached ones) without the lock, then
        replace network, walker and model cache in one step. Queries holding an old planner finish on it; new
        ones get the new model. Blocking: call it from a worker thread."""
        self.install(self.build_network(network, dates))
        release_memory()  # the old network and models, once no query holds them, and the builds' temporaries

    def build_network(self, network: Network, dates: list[dt.date] | None = None) -> "BuiltNetwork":
        """The first half of a swap: ``network``'s models serving ``dates`` (`bases_for`; default: the cached
        models' dates) built beside the live ones (nothing live changes), to ``install`` now or later (a replica
        prepares a version another one is publishing)."""
        with self._lock:
            dates = bases_for(dates) if dates is not None else list(self._models)
            keep = sorted(self._keep)
        # the kept models (today's) are built whatever was asked, last so the cut below keeps them
        dates = [d for d in dates if d not in keep] + keep
        built: OrderedDict[dt.date, tuple[TransitModel, Planner]] = OrderedDict()
        walker: Walker | None = None
        names = NameIndex.from_network(network)
        for date in dates[-max(self.max_models, len(keep)):]:
            model, walker = self._build(network, date, walker)
            built[date] = (model, Planner(model, walker, names))
            try:  # the model's own tables and timetables made now, not by the first plans after the swap
                built[date][1].warm_up()
            except Exception:  # a network without a plannable pair: plans make them on first use
                log.exception("warming the model of %s before the swap failed", date)
        drop_thread_buffers()  # this (swapping) thread's search labels
        span = service_span(network)  # here, off the loop: not by the first request after the swap
        network.pack()  # as at start (from_settings): a published feed's big tables compressed once it is built
        return BuiltNetwork(network, built, walker, names, span)

    def install(self, built: "BuiltNetwork") -> None:
        """The second half: network, walker, names and models replaced in one step."""
        with self._lock:
            self._dropped += [m for m, _ in self._models.values()]
            self.network, self._models, self._walker, self._names = (built.network, built.models, built.walker,
                                                                     built.names)
            self._span = (built.network, built.span)
            self._generation += 1
            self._evict_locked()
        self._tell_dropped()

    def service_span(self) -> tuple[dt.date | None, dt.date | None]:
        """`service_span` of the live network: made by `build_network` with each published network (in the swap's
        thread), so reading it is cheap; computed here only for the network the service started with (the
        warm-up does that, off the loop)."""
        network, held = self.network, self._span
        if held is not None and held[0] is network:
            return held[1]
        span = service_span(network)
        self._span = (network, span)
        return span

    def _names_locked(self) -> NameIndex:
        if self._names is None:
            self._names = NameIndex.from_network(self.network)
        return self._names

    @property
    def names(self) -> NameIndex:
        """The one name matcher over the current network (rebuilt with it on every publish or rollback).
        Blocking on first use (pykakasi readings): call it from a worker thread or warm it at start."""
        names = self._names  # built: no lock, so the event loop never waits for a model being built
        if names is not None:
            return names
        with self._lock:
            return self._names_locked()

    def warm_up(self, dates: "list[dt.date] | dt.date | None" = None) -> None:
        """Before saying ready: build the days' models (default: today and tomorrow on the network's clock, see
        `maas.publishing.day_keeper`) and run a plan of each kind on each of them on every planner thread, so numba's
        kernels are compiled (or loaded from its cache), each model's tables and timetables are made and each thread's
        search state for each is allocated — the first query after ready is as fast as the hundredth, for any of these
        days. Blocking: call it off the event loop, not from a planner thread."""
        from maas.platform.kernels import ensure_kernels

        ensure_kernels()  # a cold numba cache is filled by a child: this process only loads the kernels
        if dates is None:
            today = self.today()
            dates = [today, today + dt.timedelta(days=1)]
        self.warm_days([dates] if isinstance(dates, dt.date) else list(dates))
        self.warm = True

    def warm_days(self, dates: list[dt.date]) -> list[Planner]:
        """The days' models built (`planner_for`) and warmed on this thread, then on every planner thread (one
        task per thread, see `warm_up`). Returns their planners. Blocking: off the event loop, not on a planner
        thread."""
        from maas.platform.kernels import drop_linking_ir

        planners = self.planners_for(dates)
        # once here first, alone: what all threads share (numba's kernels and typing, the reversed timetable, the
        # itinerary tables) is made once, in this thread's heap, not raced for by every planner thread in its own
        # malloc arena (all-Tokyo with 2 threads: ~45 MiB more resident after the warm-up); then each thread fills
        # its own label pool. This thread is no planner thread: its labels and buffers are dropped.
        for planner in planners:
            planner.warm_up()
        drop_thread_buffers()
        release_memory()
        n = self.executor._max_workers

        def one() -> None:
            try:
                barrier.wait(timeout=300)  # one task per thread: each holds its thread until all have started
            except threading.BrokenBarrierError:
                pass
            for planner in planners:
                planner.warm_up()

        # one warm-up at a time (start, the day keeper, a publish's `after_install`): two sets of barrier tasks
        # interleaved in the pool would each hold a thread waiting for the other set's, until the timeout
        with self._warming:
            barrier = self._warm_barrier = threading.Barrier(n)
            for fut in [self.executor.submit(one) for _ in range(n)]:
                fut.result()
        drop_linking_ir()  # the loaded kernels' LLVM IR no caller will link
        release_memory()  # the searches' scratch, freed in each planner thread's own malloc arena
        return planners

    def cached_dates(self) -> list[dt.date]:
        """The days whose plans a cached model answers (`SERVED_DAYS` of each: a request for them builds
        nothing)."""
        with self._lock:
            bases = list(self._models)
        return sorted(served_by(bases))

    def cached_models(self) -> list[TransitModel]:
        with self._lock:
            return [m for m, _ in self._models.values()]

    def _cached_locked(self, date: dt.date) -> "tuple[TransitModel, Planner] | None":
        """The cached model holding ``date``'s trips: one answering its plans (`_plan_bases`), else one joining
        the whole day (tomorrow's holds today's trips; today's those of the day after tomorrow)."""
        others = [date - dt.timedelta(days=d) for d in WHOLE_DAYS if d not in SERVED_DAYS]
        return next((self._models[b] for b in self._plan_bases(date) + others if b in self._models), None)

    def memory_report(self) -> dict:
        """What this process holds, for /metrics and benchmarks: process RSS/PSS/anonymous bytes, the network's
        tables, and per cached service day the bytes of its model's arrays (with the cached forward and reversed
        timetables) — the per-replica memory per loaded service day."""
        with self._lock:
            network, models = self.network, [(d, m) for d, (m, _) in self._models.items()]
        sized = self.__dict__.get("_network_bytes")
        if sized is None or sized[0] is not network:  # once per network: deep sizes walk its id strings
            sized = self.__dict__["_network_bytes"] = (network, network.nbytes())
        return {"process": process_memory(), "network_bytes": sized[1],
                "service_days": {d.isoformat(): arrays_nbytes(m) for d, m in models}}

    def model_for(self, date: dt.date) -> TransitModel:
        """A scheduled model joining service day ``date`` (`_cached_locked`; else the one `planner_for` builds):
        what offers, bookings, trips and closures are checked against, at the day's offset (`TransitModel.day_of`,
        `TransitModel.trip_on`)."""
        with self._lock:
            hit = self._cached_locked(date)
        return hit[0] if hit is not None else self.planner_for(date).model

    def overlay_of(self, model: TransitModel) -> RealtimeOverlay | None:
        """The realtime overlay of a cached scheduled model (built on first use per realtime version), None without
        one. Blocking on first use: call it off the event loop."""
        return self.realtime_provider(model) if self.realtime_provider is not None else None

    def overlay_for(self, date: dt.date) -> RealtimeOverlay | None:
        """The realtime overlay of `model_for` ``date`` (see `overlay_of`)."""
        return self.overlay_of(self.model_for(date))

    def cached_overlay(self, date: dt.date) -> RealtimeOverlay | None:
        """`model_for` ``date``'s overlay only when it is built already for the current realtime (never builds:
        cheap)."""
        peek = getattr(self.realtime_provider, "__self__", None)
        with self._lock:
            hit = self._cached_locked(date)
        if hit is None or peek is None or not hasattr(peek, "peek"):
            return None
        return peek.peek(hit[0])

    def live_planner_for(self, date: dt.date) -> Planner:
        """The day's planner on realtime times (the scheduled one when no realtime applies)."""
        planner = self.planner_for(date)
        ov = self.realtime_provider(planner.model) if self.realtime_provider is not None else None
        return ov.planner(planner) if ov is not None else planner

    def live_model_for(self, date: dt.date) -> TransitModel:
        """The day's model on realtime times: departure boards and plans read it."""
        return self.live_planner_for(date).model

    @property
    def walker(self) -> Walker | None:
        return self._walker

    def local_date(self, when: dt.datetime) -> dt.date:
        """The service date of a moment on the network's clock (its first feed's zone; a naive time is read there)."""
        zone = ZoneInfo(model_timezone(self.network))
        return (when.astimezone(zone) if when.tzinfo else when.replace(tzinfo=zone)).date()

    def plan_sync(self, origin: str, destination: str, when: dt.datetime, *, arrive_by: bool = False,
                  options: PlanOptions | None = None) -> list[dict]:
        when = when.astimezone(ZoneInfo(model_timezone(self.network))) if when.tzinfo else when
        if self.plan_hook is not None:
            out = self.plan_hook(origin, destination, when, arrive_by=arrive_by, options=options)
            if out is not None:
                return out
        planner = self.live_planner_for(self.local_date(when))
        mask = self.mask_provider(planner.model, planner.walker) if self.mask_provider else None
        itineraries = planner.plan(origin, destination, when, arrive_by=arrive_by,
                                   options=options or PlanOptions(), mask=mask)
        return [it.to_dict() for it in itineraries]

    async def plan(self, origin: str, destination: str, when: dt.datetime, *, arrive_by: bool = False,
                   options: PlanOptions | None = None) -> list[dict]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, lambda: self.plan_sync(origin, destination, when, arrive_by=arrive_by, options=options))

    def close(self) -> None:
        if self._warm_barrier is not None:
            self._warm_barrier.abort()  # the warm-up tasks still queued are cancelled below: free those waiting
        self.executor.shutdown(wait=False, cancel_futures=True)
