"""Checks `maas serve` runs before anything listens: a store that can reach its server and keep confirmed
bookings through a crash (see ``maas.store.redis_store`` for the durability modes)."""
from __future__ import annotations

import asyncio
import logging
import sys

from maas.platform.settings import Settings
from maas.store.errors import VolatileStore, transient_errors

log = logging.getLogger("maas.startup")

BANNER = "!" * 100


class StartupRefused(Exception):
    """The configuration cannot be served; the message is one line saying what to change."""


async def check_redis(url: str, allow_volatile: bool):
    """The Redis server's persistence (``Persistence``), or ``VolatileStore`` / a connection error."""
    from maas.store.redis_store import RedisStore

    store = RedisStore.from_url(url, max_connections=2)
    try:
        return await store.check_durability(allow_volatile=allow_volatile)
    finally:
        await store.aclose()


def check_store(settings: Settings) -> None:
    """Refuse (``StartupRefused``) a Redis that is unreachable or could lose confirmed bookings; with
    ``allow_volatile_redis`` serve anyway, with a warning nobody can miss (log and a banner on stderr)."""
    if not settings.redis_url:
        return  # the embedded store fsyncs every commit (SQLite WAL, synchronous=FULL)
    try:
        p = asyncio.run(check_redis(settings.redis_url, settings.allow_volatile_redis))
    except VolatileStore as exc:
        raise StartupRefused(str(exc)) from None
    except transient_errors() as exc:
        from maas.store.redis_conn import redacted

        raise StartupRefused(f"cannot reach Redis at {redacted(settings.redis_url)}: {exc}") from None
    if not p.crash_safe:
        print(f"{BANNER}\nWARNING: VOLATILE REDIS ({p.explain()}): a Redis crash LOSES CONFIRMED BOOKINGS AND "
              f"PAYMENTS.\nServing anyway because --allow-volatile-redis was given. Never do this in production."
              f"\n{BANNER}", file=sys.stderr, flush=True)
