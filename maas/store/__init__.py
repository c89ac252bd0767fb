"""Storage engines behind one interface: `open_store(url)` picks Redis for ``redis://`` URLs, else embedded."""
from __future__ import annotations

from pathlib import Path

from maas.store.base import ReserveResult, SeatHold, Store, Subscription


def open_store(url: str | None = None, *, sqlite_path: str | Path = ":memory:", prefix: str = "maas:") -> Store:
    """Redis store for a ``redis://``/``rediss://``/``unix://`` URL or a Redis Cluster's ``redis+cluster://``,
    otherwise the embedded store (SQLite file or memory). Without a URL redis is not even imported (~7 MiB)."""
    if url:
        from maas.store.redis_conn import is_redis_url

        if is_redis_url(url):
            from maas.store.redis_store import RedisStore

            return RedisStore.from_url(url, prefix=prefix)
    from maas.store.embedded import EmbeddedStore

    return EmbeddedStore(sqlite_path)


__all__ = ["open_store", "Store", "SeatHold", "ReserveResult", "Subscription"]
