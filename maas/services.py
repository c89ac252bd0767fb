"""Everything a running instance holds, built once at start and handed to the API explicitly."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from maas.platform.auth import KeyRing
from maas.platform.ratelimit import MemoryRateLimiter, RateLimit, RateLimiter, make_rate_limiter
from maas.platform.settings import Settings
from maas.pricing.plan_fares import PlanFares
from maas.transit import TOKYO, TransitService

log = logging.getLogger("maas.services")
RECOVERY_PERIOD_S = 60.0


@dataclass
class Services:
    """The domain services of one process. ``bookings``/``closures`` may be None (the API then answers 503)."""

    settings: Settings
    transit: TransitService
    keys: KeyRing = field(default_factory=KeyRing)
    limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    rate_limit: RateLimit = field(default_factory=RateLimit)  # per key, unless the key file overrides it
    bookings: Any | None = None  # maas.booking.bookings.BookingService
    closures: Any | None = None  # maas.disruptions.closures.ClosureService
    feeds: Any | None = None  # maas.publishing.feed_swap.FeedManager: operators' published feeds
    realtime: Any | None = None  # maas.disruptions.realtime.RealtimeService: GTFS-RT trip updates and positions
    warnings: Any | None = None  # maas.disruptions.avoid.WarningPlanner, set by `start` when closures exist
    live: Any | None = None  # maas.disruptions.live_timetable.LiveTimetable, set by `start` when realtime exists
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(TOKYO), repr=False)
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(TOKYO))
    ready: bool = False  # set once `start` has loaded the closures and finished crash recovery
    _recovery_task: asyncio.Task | None = field(default=None, repr=False)
    _feeds_task: asyncio.Task | None = field(default=None, repr=False)
    _warm_task: asyncio.Task | None = field(default=None, repr=False)
    _days_task: asyncio.Task | None = field(default=None, repr=False)
    days: Any | None = field(default=None, repr=False)  # publishing.day_keeper.DayKeeper, made in __post_init__
    # more of a request's path to run in the warm-up, with the warm-up plan's itineraries (the API's: its
    # service window and response encoding); blocking, off the event loop
    warmers: list[Callable[[list[dict]], object]] = field(default_factory=list, repr=False)
    _catalog: Any | None = field(default=None, repr=False)
    plan_fares: PlanFares = field(default_factory=PlanFares, repr=False)  # the plan path's fares, remembered

    def __post_init__(self) -> None:
        if self.days is None:
            from maas.publishing.day_keeper import DayKeeper

            self.days = DayKeeper(self.transit, self.warm_days, clock=self.clock)
        if self.feeds is None:  # publishing always works; nothing is read or written until an operator publishes
            from maas.publishing.feed_registry import FeedRegistry
            from maas.publishing.feed_swap import FeedManager

            self.feeds = FeedManager(FeedRegistry(self.settings.data_dir / "feeds"), self.transit, self.bookings,
                                     clock=self.clock)
        if self.realtime is None:  # push always works (in memory unless `build` wires the store)
            from maas.disruptions.realtime import NetworkIndexes, RealtimeService

            self.realtime = RealtimeService(index_provider=NetworkIndexes(self.transit),
                                            max_age_s=self.settings.realtime_max_age_s)

    @classmethod
    def build(cls, settings: Settings, progress: bool = False, transit: TransitService | None = None) -> "Services":
        """Everything one process serves with; ``transit`` when it is already built (a supervisor builds it once
        and forks its workers from that copy)."""
        keys = KeyRing.load(settings.keys_file)
        if not len(keys):
            log.warning("no API keys configured (--keys FILE or MAAS_API_KEYS): every /v1 call will be refused")
        transit = transit or TransitService.from_settings(settings, progress=progress)
        transit.planner_for(transit.today())  # today's model (on the feeds' clock) built before serving
        limiter = make_rate_limiter(settings.redis_url, settings.redis_prefix)
        services = cls(settings=settings, transit=transit, keys=keys, limiter=limiter)
        services.bookings = booking_service(settings, transit)
        services.closures = closure_service(settings, transit)
        services.feeds = feed_manager(settings, transit, services.bookings)
        services.realtime = realtime_service(settings, transit)
        return services

    def today(self) -> dt.date:
        """Today's service date on the feeds' own clock (`TransitService.today` at this services' ``clock``): the
        day a request without a date means, for a New York feed as for a Tokyo one."""
        return self.transit.today(self.clock())

    async def start(self) -> None:
        """Async start-up inside the serving loop: load closures (and follow other workers'), install the mask
        provider, finish bookings a dead worker left half-done. A Redis store first checks it is crash-safe
        (refusing a volatile one unless ``allow_volatile_redis``) and picks its ``durable()`` strategy."""
        check = getattr(self.bookings.store, "check_durability", None) if self.bookings is not None else None
        if check is not None:
            await check(allow_volatile=self.settings.allow_volatile_redis)
        if self.closures is not None:
            await self.closures.start()
            from maas.disruptions.avoid import WarningPlanner

            self.warnings = WarningPlanner(self.transit, self.closures)
            self.transit.mask_provider = self.closures.mask_for
            self.transit.plan_hook = self.warnings.plan_sync
            self.transit.drop_listeners += [self.closures.forget_model, self.warnings.forget_model]
            if self.bookings is not None:
                self.closures.listeners.append(self.notify_disrupted)
                self.closures.lift_listeners.append(self.notify_restored)
        if self.realtime is not None:
            await self.realtime.start()
            self.use_realtime(self.realtime)
        if self.bookings is not None:
            await self._recover()
            self._recovery_task = asyncio.create_task(self._recover_periodically())
        await self.feeds.start()  # published versions and profiles from the store, before saying ready
        self.feeds.after_install = self.warm_after_install  # (the start's own installs: the warm-up follows)
        self._feeds_task = asyncio.create_task(self.feeds.follow())  # what other workers and replicas publish
        self._warm_task = asyncio.create_task(self._warm_planner())
        self.ready = True

    async def wait_warm(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) for the planner warm-up `start` began; True when it finished."""
        if self._warm_task is None:
            return self.transit.warm
        try:
            await asyncio.wait_for(asyncio.shield(self._warm_task), timeout_s)
        except TimeoutError:
            log.warning("planner still warming after %.0f s; serving anyway", timeout_s)
        return self.transit.warm

    def use_realtime(self, realtime) -> None:
        """Plans, legs and boards on realtime times (overlays per snapshot version), travellers told on change."""
        from maas.disruptions.live_timetable import LiveTimetable

        self.realtime = realtime
        self.live = LiveTimetable(realtime.snapshot)
        self.transit.realtime_provider = self.live.overlay_for
        self.transit.drop_listeners.append(self.live.forget_model)
        realtime.add_listener(self.on_realtime)

    async def on_realtime(self, old, new) -> None:
        """RealtimeService listener: rebuild the cached days' overlays off the loop, then tell the travellers
        whose booked trips the change touches (`disrupted` / `restored`, once across workers)."""
        await self.live.on_change(self.transit, old, new)
        if self.bookings is not None:
            try:
                await self.notify_realtime(old, new)
            except Exception:  # a failing notification never undoes the realtime change
                log.exception("realtime booking notification failed")

    async def notify_realtime(self, old, new) -> int:
        """Bookings with a confirmed leg on a trip whose update changed between ``old`` and ``new`` snapshots are
        checked on realtime times (maas/disruptions/realtime_events.py). Returns the events sent."""
        from maas.disruptions.realtime_events import changed_trips, tell
        from maas.store import booking_index
        from routing.realtime import build_overlay

        changed = {tid for tid, _ in changed_trips(old, new)}
        if not changed:
            return 0
        now = self.clock()
        store = self.bookings.store
        loop = asyncio.get_running_loop()

        def run(fn):
            return loop.run_in_executor(self.transit.executor, fn)

        def plan(origin: str, destination: str, when: dt.datetime) -> list[dict]:
            return self.transit.plan_sync(origin, destination, when)

        candidates: set[str] = set()
        for day in await booking_index.booked_days(store, self.transit.today(now) - dt.timedelta(days=1)):
            trips = changed & await booking_index.booked_trips(store, day)
            if trips:
                candidates |= await booking_index.bookings_on(store, day, trips=trips)
        by_day: dict[str, list] = {}  # checked on the model of the journey's first service day
        for item in await booking_index.load_travelling(store, candidates, now):
            by_day.setdefault(item[2][0]["service_date"], []).append(item)
        sent = 0
        for day, items in by_day.items():
            date = dt.date.fromisoformat(day)

            def overlay(date=date):
                model = self.transit.model_for(date)  # (one joining that day: legs are found at its offset)
                ov = self.transit.overlay_of(model)
                return ov if ov is not None else build_overlay(model, ())

            ov = await run(overlay)
            sent += len(await tell(store, ov, items, plan, now, run))
        return sent

    async def _warm_planner(self) -> None:
        """Planner kernels compiled, the days readiness waits for built and every one warmed on each thread and
        along a request's path (readiness waits for it; liveness does not); then the day keeper runs."""
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.warm_up)
        except Exception:  # a network without a plannable pair: plans compile on first use instead
            log.exception("planner warm-up failed")
            self.transit.warm = True
        self._days_task = asyncio.create_task(self.days.run())

    def warm_up(self) -> None:
        """Blocking (off the event loop): `TransitService.warm_up` of the days the keeper keeps, each also
        warmed along a request's path (`warm_days`)."""
        from maas.platform.kernels import ensure_kernels

        ensure_kernels()  # a cold numba cache is filled by a child: this process only loads the kernels
        self._warm_fares()
        self.transit.service_span()  # the API's service window: pandas over the calendars, not in a request
        days = self.days.wanted()
        self.transit.keep(days)
        self.warm_days(days)
        self.transit.warm = True

    def warm_days(self, dates: list) -> None:
        """The days' models built and warmed on every planner thread (`TransitService.warm_days`), then one plan
        a day along the path a /v1/plan request takes, so what that path builds lazily per model or per network
        is built here: the plan hook's closure index (`WarningPlanner`), the realtime overlay, the mask, the
        itineraries' dicts, the fares (the operator catalog and its memo) and the `warmers`. Blocking. Ends with
        `release_memory`: this thread's labels and the request path's temporaries, freed here after the transit's
        own last release, would otherwise stay resident in the heap."""
        from maas.platform.memory import release_memory
        from maas.pricing.plan_fares import parse_medium, parse_riders
        from routing.raptor import drop_thread_buffers

        for planner in self.transit.warm_days(dates):
            probe = planner.sample_trip()
            if probe is None:
                continue
            origin, destination, departure, _ = probe
            its = self.transit.plan_sync(origin, destination, departure)
            self.add_fares(its, parse_riders(None), parse_medium(None))
            for warm in self.warmers:
                warm(its)
        drop_thread_buffers()  # this thread plans nothing later: its search labels go
        release_memory()

    def warm_after_install(self) -> None:
        """After a publish, a rollback or another worker's version is installed (`FeedManager.after_install`):
        the new network's fare setups built and the kept days warmed along a request's path (`warm_days`; the swap
        built their models), so the first plan after a publish is as fast as the next, not the one that builds
        the new network's fares, closure geometry and each planner thread's labels. Blocking."""
        self._warm_fares()
        self.warm_days(self.days.wanted())

    def _warm_fares(self) -> None:
        """The live operators' fare setups (profiles, fare tables, seat rules: read off the feeds' packed trips)
        built before ready, on one thread, before the warm-up's last `release_memory`: built by the first plans
        instead, on the planner threads at once, they took ~0.7 s of the first plan and left ~30 MiB of freed
        temporaries scattered in those threads' heaps (all-Tokyo). A failure is left to the first plan to report."""
        try:
            self.fares()
        except Exception:
            log.exception("building the operators' fares before ready failed")

    async def _recover(self) -> None:
        from maas.booking.recovery import recover_service

        try:
            report = await recover_service(self.bookings)
        except Exception:  # recovery retries next period; it must never take the API down
            log.exception("booking recovery pass failed")
            return
        if report.finished or report.compensated or report.cancellations:
            log.warning("recovered unfinished bookings", extra={"fields": report.to_dict()})

    async def _recover_periodically(self) -> None:
        """Bookings left half-done by a worker that died while this one runs are finished or compensated."""
        while True:
            await asyncio.sleep(RECOVERY_PERIOD_S)
            await self._recover()

    async def notify_disrupted(self, closures: list) -> int:
        """Closure listener: every confirmed booking whose trip a new closure hits gets a `disrupted` event with
        a re-planned alternative on ``events:{owner}`` (the partner's SSE stream); an `avoid` warning gives a
        `warning` event instead (maas/disruptions/notify.py). Returns how many were sent.

        Only the worker that accepted the closure runs this, so each traveller is told once. The bookings read
        are those the booking index has on the trips (and at the stops) the closures touch on each booked
        service day from yesterday on; nobody else's booking is loaded.
        """
        from maas.disruptions.notify import warning_events

        def events(model, its, now):
            def plan(origin: str, destination: str, when: dt.datetime) -> list[dict]:
                return self.transit.plan_sync(origin, destination, when)

            return warning_events(its, closures, model, plan, now=now)

        return await self._tell_travellers(closures, events)

    async def notify_restored(self, closures: list) -> int:
        """Lift listener: bookings whose trip a lifted warning or closure had hit get a `restored` event."""
        from maas.disruptions.notify import restored_events

        return await self._tell_travellers(
            closures, lambda model, its, now: restored_events(its, closures, model, now=now))

    async def _tell_travellers(self, closures: list, make_events) -> int:
        """Run ``make_events(model, [(booking id, itinerary)], now)`` on the bookings the closures may touch
        (an `avoid` warning counts as closing its area for this look-up) and publish what it returns."""
        from maas.disruptions.affected import closure_targets, day_overlaps
        from routing.timetable import model_timezone
        from maas.disruptions.notify import as_closed
        from maas.store import booking_index

        closures = [as_closed(c) for c in closures if c.restricting]

        now = self.clock()
        store = self.bookings.store
        loop = asyncio.get_running_loop()
        candidates: set[str] = set()
        for day in await booking_index.booked_days(store, self.transit.today(now) - dt.timedelta(days=1)):
            date = dt.date.fromisoformat(day)
            if not day_overlaps(closures, date, model_timezone(self.transit.network)):
                continue
            booked = await booking_index.booked_trips(store, day)
            if not booked:
                continue
            trips, stops = await loop.run_in_executor(
                self.transit.executor, lambda d=date, b=booked: closure_targets(self.transit.model_for(d), closures, b, d))
            candidates |= await booking_index.bookings_on(store, day, trips=trips, stops=stops)
        by_day: dict[str, list[tuple[str, dict, str]]] = {}
        for booking_id, owner, legs in await booking_index.load_travelling(store, candidates, now):
            by_day.setdefault(legs[0]["service_date"], []).append((booking_id, legs, owner))
        sent = 0
        for day, items in by_day.items():
            def work(day=day, items=items):
                model = self.transit.model_for(dt.date.fromisoformat(day))
                its = [(bid, booked_itinerary(model, legs)) for bid, legs, _ in items]
                return make_events(model, its, now)

            events = await loop.run_in_executor(self.transit.executor, work)
            owners = {bid: owner for bid, _, owner in items}
            for ev in events:
                await store.publish(f"events:{owners[ev['booking_id']]}", json.dumps(ev))
                sent += 1
        return sent

    def fares(self) -> dict:
        """Every live operator's fares: the booking registry's, or read off the live feeds when bookings are off."""
        if self.bookings is not None:
            return self.bookings.operators.fares()
        if self._catalog is None:
            self._catalog = operator_catalog(self.settings, self.transit)
        return {op: s.fares for op, s in self._catalog().items()}

    def add_fares(self, itineraries: list[dict], riders, medium: str) -> list[dict]:
        """``fare`` on each planned itinerary, by the live operators' fares (`fares`)."""
        return self.plan_fares.add(self.fares(), itineraries, riders, medium)

    async def store_problem(self, timeout_s: float = 1.5) -> str | None:
        """None when the booking store answers a ping in time, else why it does not (readiness)."""
        if self.bookings is None:
            return None
        from maas.store.errors import transient_errors

        try:
            async with asyncio.timeout(timeout_s):
                await self.bookings.store.ping()
        except TimeoutError:
            return f"the store did not answer within {timeout_s:g} s"
        except transient_errors() as exc:
            return f"the store is unreachable: {exc}"
        return None

    def readiness(self) -> tuple[bool, dict]:
        """Ready when the feeds are loaded, start-up finished, the planner warm and the days a request may ask
        for next (today and tomorrow on the feeds' clock, `DayKeeper.required`) have their models built."""
        feeds = [f.namespace for f in self.transit.network.feeds]
        built = self.transit.cached_dates()
        days = self.days.required()
        warm = self.transit.warm and all(d in built for d in days)
        return bool(feeds) and self.ready and warm, {"feeds": feeds, "keys": len(self.keys), "pid": os.getpid(),
                                                     "planner": "warm" if warm else "warming",
                                                     "service_days": [d.isoformat() for d in sorted(built)],
                                                     "waiting_for": [d.isoformat() for d in days if d not in built],
                                                     "bookings": self.bookings is not None,
                                                     "closures": self.closures is not None}

    async def aclose(self) -> None:
        for task in (self._recovery_task, self._feeds_task, self._warm_task, self._days_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.limiter.aclose()
        await self.feeds.aclose()
        if self.realtime is not None:
            await self.realtime.aclose()
        if self.closures is not None:
            await self.closures.aclose()
        if self.bookings is not None:
            await self.bookings.store.aclose()
        self.transit.close()


def booked_itinerary(model, legs: list[dict]) -> dict:
    """A booked journey as an itinerary the re-planner can check: each ride with the stops it passes (from the
    model's timetable), since bookings keep only the operator's view of each leg."""
    out = []
    from maas.itineraries.derive import leg_day

    iso = model.iso  # model seconds → local time on the model's clock (its feeds' agency zone, not Tokyo's)
    for leg in legs:
        ride = {"mode": leg["mode"], "operator": leg["operator"], "trip_id": leg["trip_id"],
                "route": {"id": leg["route_id"]}, "from": {"stop_id": leg["from_stop"]},
                "to": {"stop_id": leg["to_stop"]}, "departure": leg["departure"], "arrival": leg["arrival"],
                "intermediate_stops": []}
        t = model.trip_on(leg["trip_id"], leg_day(model, leg))  # the run on the leg's day
        if t is None:
            out.append(ride)  # a trip not in this day's model: only its ends can be checked
            continue
        off, n = model.trip_times_offset(t)
        p = int(model.trip_pattern[t])
        deps = model.departures_of_trip(t)
        stops = [model.stop_ids[s] for s in model.pattern_stops[model.pattern_stops_start[p]:
                                                               model.pattern_stops_start[p] + n]]
        if leg["from_stop"] in stops and leg["to_stop"] in stops[stops.index(leg["from_stop"]) + 1:]:
            i = stops.index(leg["from_stop"])
            j = stops.index(leg["to_stop"], i + 1)
            ride["intermediate_stops"] = [{"stop_id": stops[k], "arrival": iso(model.st_arr[off + k]),
                                           "departure": iso(deps[k])} for k in range(i + 1, j)]
        out.append(ride)
    return {"legs": out, "departure": legs[0]["departure"], "arrival": legs[-1]["arrival"]}


def booking_service(settings: Settings, transit: TransitService, store=None,
                    clock: Callable[[], dt.datetime] | None = None):
    """Operators of the live feeds (profiles, fares and seats as data), sandbox payments, the ledger."""
    from maas.booking.bookings import BookingService
    from maas.itineraries.derive import LegDeriver
    from maas.booking.ledger import Ledger
    from maas.booking.payments import SandboxProvider
    from maas.platform.secrets import Secrets
    from operators.base import TicketSigner
    from maas.store import open_store
    from operators.registry import OperatorRegistry

    if store is None:
        if not settings.redis_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.redis_url, sqlite_path=settings.embedded_db, prefix=settings.redis_prefix)
    keys = settings.secrets or Secrets.ephemeral()
    registry = OperatorRegistry(store, operator_catalog(settings, transit),
                                signer=TicketSigner(keys.ticket_signing_key))
    extra = {"clock": clock} if clock else {}
    return BookingService(store, registry, SandboxProvider(store, card_key=keys.card_fingerprint_key),
                          Ledger(store, commission_bp=500), timetable=LegDeriver(transit), **extra)


def operator_catalog(settings: Settings, transit: TransitService):
    """Every live operator's setup (operators/catalog.py): the live feeds, with the profiles operators PUT."""
    from maas.publishing.profiles import ProfileStore
    from operators.catalog import FeedCatalog

    return FeedCatalog(lambda: transit.network.feeds, ProfileStore(settings.data_dir / "feeds").get)


def feed_manager(settings: Settings, transit: TransitService, bookings=None):
    """Operators' published feeds, kept in the booking store (Redis or the embedded store) with a local cache under
    data_dir/feeds; `Services.start` applies the active versions."""
    from maas.publishing.feed_registry import FeedRegistry
    from maas.publishing.feed_swap import FeedManager

    store = bookings.store if bookings is not None else None
    return FeedManager(FeedRegistry(settings.data_dir / "feeds", store), transit, bookings)


def closure_service(settings: Settings, transit: TransitService, store=None,
                    clock: Callable[[], dt.datetime] | None = None):
    """Closures kept in Redis (shared by workers) or a SQLite file next to the embedded store."""
    from maas.disruptions.closure_store import closure_store_for
    from maas.disruptions.closures import ClosureService

    if store is None:
        sqlite = None if settings.redis_url else settings.data_dir / "closures.sqlite3"
        store = closure_store_for(settings.redis_url, sqlite, settings.redis_prefix)
    clock = clock or (lambda: dt.datetime.now(TOKYO))
    # ids are checked against today's model: today on the feeds' clock (a New York feed's, not Tokyo's)
    return ClosureService(store, model_provider=lambda: transit.model_for(transit.today(clock())), clock=clock,
                          jma=jma_intake(settings))


def realtime_service(settings: Settings, transit: TransitService, store=None,
                     clock: Callable[[], float] | None = None):
    """GTFS-RT state in Redis (shared by workers) or a SQLite file; matched against the live feeds; the
    configured pull sources (`--realtime op=URL[,interval_s]`) started with the service."""
    from maas.disruptions.realtime import NetworkIndexes, RealtimePuller, RealtimeService, parse_pull_spec
    from maas.disruptions.realtime_store import realtime_store_for

    sources = [parse_pull_spec(s) for s in settings.realtime]  # ValueError: one clear line before serving
    if store is None:
        sqlite = None if settings.redis_url else settings.data_dir / "realtime.sqlite3"
        store = realtime_store_for(settings.redis_url, sqlite, settings.redis_prefix)
    service = RealtimeService(store, index_provider=NetworkIndexes(transit), clock=clock,
                              max_age_s=settings.realtime_max_age_s)
    if sources:
        service.puller = RealtimePuller(service, sources, timeout_s=settings.realtime_timeout_s)
    return service


def jma_intake(settings: Settings):
    """The JMA XML intake when a municipality file is configured (else JMA telegrams are refused with a 422)."""
    if settings.jma_areas is None:
        return None
    from feeds.jma_areas import MunicipalityAreas
    from maas.disruptions.jma_intake import JmaIntake
    from maas.disruptions.policy import WarningPolicy

    return JmaIntake(MunicipalityAreas.load(settings.jma_areas), WarningPolicy.load(settings.jma_policy))
