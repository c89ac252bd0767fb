"""Store failures the API answers with 503 + Retry-After (transient: the store is down, restarting or cannot
promise durability right now), as opposed to bugs (500) or bad input (4xx)."""
from __future__ import annotations

import sqlite3
import sys

RETRY_AFTER_S = 2


class StoreUnavailable(Exception):
    """The store cannot be reached or cannot make a write crash-safe right now; retrying later may succeed."""

    retry_after_s = RETRY_AFTER_S


class NotDurable(StoreUnavailable):
    """``durable()`` could not confirm that preceding writes reached disk (or a replica)."""


class VolatileStore(Exception):
    """At start: the store's server is configured so that confirmed bookings could be lost in a crash."""


# the embedded store: "database is locked" (another process's write outlasted busy_timeout), disk I/O errors
_EMBEDDED: tuple[type[BaseException], ...] = (StoreUnavailable, sqlite3.OperationalError)


def transient_errors() -> tuple[type[BaseException], ...]:
    """Exception types meaning "the store is unavailable", whichever engine raised them. Redis's only once
    ``redis`` is loaded: no Redis error can be raised before, and the embedded store then never pays for importing
    it (~7 MiB). So ask at ``except`` time (``except transient_errors()``), not once at import."""
    rx = sys.modules.get("redis.exceptions")
    if rx is None:
        return _EMBEDDED
    # a Redis Cluster in a failover: slots without a master, a read-only (just demoted) master, no node reachable
    # at all (the client's RedisClusterException)
    return _EMBEDDED + (rx.ConnectionError, rx.TimeoutError, rx.BusyLoadingError, rx.TryAgainError,
                        rx.ClusterDownError, rx.ReadOnlyError, rx.ClusterError, rx.RedisClusterException)
