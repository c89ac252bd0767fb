"""Store failures the API answers with 503 + Retry-After (transient: the store is down, restarting or cannot
promise durability right now), as opposed to bugs (500) or bad input (4xx)."""
from __future__ import annotations

RETRY_AFTER_S = 2


class StoreUnavailable(Exception):
    """The store cannot be reached or cannot make a write crash-safe right now; retrying later may succeed."""

    retry_after_s = RETRY_AFTER_S


class NotDurable(StoreUnavailable):
    """``durable()`` could not confirm that preceding writes reached disk (or a replica)."""


class VolatileStore(Exception):
    """At start: the store's server is configured so that confirmed bookings could be lost in a crash."""


def transient_errors() -> tuple[type[BaseException], ...]:
    """Exception types meaning "the store is unavailable", whichever engine raised them."""
    import sqlite3

    # the embedded store: "database is locked" (another process's write outlasted busy_timeout), disk I/O errors
    errors: list[type[BaseException]] = [StoreUnavailable, sqlite3.OperationalError]
    try:
        import redis.exceptions as rx

        errors += [rx.ConnectionError, rx.TimeoutError, rx.BusyLoadingError, rx.TryAgainError,
                   # a Redis Cluster in a failover: slots without a master, a read-only (just demoted) master, no
                   # node reachable at all (the client's RedisClusterException)
                   rx.ClusterDownError, rx.ReadOnlyError, rx.ClusterError, rx.RedisClusterException]
    except ImportError:  # pragma: no cover - redis is a dependency, but the embedded store does not need it
        pass
    return tuple(errors)
