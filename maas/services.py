"""Everything a running instance holds, built once at start and handed to the API explicitly."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from maas.auth import KeyRing
from maas.ratelimit import MemoryRateLimiter, RateLimit, RateLimiter, make_rate_limiter
from maas.settings import Settings
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
    bookings: Any | None = None  # maas.booking.BookingService
    closures: Any | None = None  # maas.closures.ClosureService
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(TOKYO))
    ready: bool = False  # set once `start` has loaded the closures and finished crash recovery
    _recovery_task: asyncio.Task | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings, progress: bool = False) -> "Services":
        keys = KeyRing.load(settings.keys_file)
        if not len(keys):
            log.warning("no API keys configured (--keys FILE or MAAS_API_KEYS): every /v1 call will be refused")
        transit = TransitService.from_settings(settings, progress=progress)
        transit.planner_for(dt.datetime.now(TOKYO).date())  # warm today's model before accepting traffic
        services = cls(settings=settings, transit=transit, keys=keys, limiter=make_rate_limiter(settings.redis_url))
        services.bookings = booking_service(settings, transit)
        services.closures = closure_service(settings, transit)
        return services

    async def start(self) -> None:
        """Async start-up inside the serving loop: load closures (and follow other workers'), install the mask
        provider, finish bookings a dead worker left half-done."""
        if self.closures is not None:
            await self.closures.start()
            self.transit.mask_provider = self.closures.mask_for
        if self.bookings is not None:
            await self._recover()
            self._recovery_task = asyncio.create_task(self._recover_periodically())
        self.ready = True

    async def _recover(self) -> None:
        from maas.recovery import recover_service

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

    def readiness(self) -> tuple[bool, dict]:
        feeds = [f.namespace for f in self.transit.network.feeds]
        return bool(feeds) and self.ready, {"feeds": feeds, "keys": len(self.keys), "pid": os.getpid(),
                                            "bookings": self.bookings is not None,
                                            "closures": self.closures is not None}

    async def aclose(self) -> None:
        if self._recovery_task is not None:
            self._recovery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery_task
        await self.limiter.aclose()
        if self.closures is not None:
            await self.closures.aclose()
        if self.bookings is not None:
            await self.bookings.store.aclose()
        self.transit.close()


def booking_service(settings: Settings, transit: TransitService, store=None):
    """Operators of the loaded feeds (fares and shuttle seats from the feeds), sandbox payments, the ledger."""
    from maas.booking import BookingService
    from maas.ledger import Ledger
    from maas.payments import SandboxProvider
    from maas.store import open_store
    from operators.fares import FareTable
    from operators.registry import OperatorRegistry, shuttle_config_from_feed

    if store is None:
        if not settings.redis_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.redis_url, sqlite_path=settings.embedded_db)
    feeds = {f.namespace: f for f in transit.network.feeds}
    fares = FareTable.from_feed(feeds["toei-subway"]) if "toei-subway" in feeds else None
    shuttles = {ns: shuttle_config_from_feed(f) for ns, f in feeds.items() if ns.startswith("shuttle-")}
    registry = OperatorRegistry.tokyo(store, subway_fares=fares, shuttles=shuttles)
    return BookingService(store, registry, SandboxProvider(store), Ledger(store, commission_bp=500))


def closure_service(settings: Settings, transit: TransitService, store=None):
    """Closures kept in Redis (shared by workers) or a SQLite file next to the embedded store."""
    from maas.closure_store import closure_store_for
    from maas.closures import ClosureService

    if store is None:
        sqlite = None if settings.redis_url else settings.data_dir / "closures.sqlite3"
        store = closure_store_for(settings.redis_url, sqlite)
    return ClosureService(store, model_provider=lambda: transit.model_for(dt.datetime.now(TOKYO).date()))
