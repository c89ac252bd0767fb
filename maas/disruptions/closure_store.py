"""Where closures live so they survive a restart and reach every worker.

Closures are stored as our JSON form (`feeds.closure_json.closure_to_json`), keyed by id. Three backends behind
one small async interface: `MemoryClosureStore` (tests), `SqliteClosureStore` (the embedded, single-process mode;
one file, one transaction per change) and `RedisClosureStore` (a hash of closures plus a pub/sub channel that
tells every worker to reload; a change, its version bump and its notice go in one Lua script so no worker misses a
committed change — on a Redis Cluster too, where the hash and its version counter share a hash slot).
"""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Awaitable, Callable, Protocol

import orjson

from maas.store.listener import PubSubListener
from maas.store.sqlite import open_sqlite

OnChange = Callable[[], Awaitable[None]]


def _encode(puts: dict[str, dict]) -> dict[str, bytes]:
    return {k: orjson.dumps(v) for k, v in puts.items()}


def _decode(rows) -> dict[str, dict]:
    return {(k.decode() if isinstance(k, bytes) else k): orjson.loads(v) for k, v in rows}


def _raw(rows) -> dict[str, bytes]:
    return {(k.decode() if isinstance(k, bytes) else k): bytes(v) for k, v in rows}


# Encoding and decoding run in a worker thread: one closure may be a 20,000-vertex area (~0.5 MB of JSON), and
# every worker reloads the whole set on each change; on the loop that stalls every request for milliseconds.


class ClosureStore(Protocol):
    async def load(self) -> dict[str, dict]:
        """Every stored closure: id → JSON form."""

    async def load_raw(self) -> dict[str, bytes]:
        """Every stored closure: id → its JSON form encoded, as stored (what `apply` returned)."""

    async def apply(self, puts: dict[str, dict], deletes: list[str]) -> dict[str, bytes]:
        """Store and delete in one atomic step, then tell the other workers; the puts as stored."""

    async def subscribe(self, on_change: OnChange) -> None:
        """Call ``on_change`` whenever another worker changed the closures (no-op when single-process)."""

    async def aclose(self) -> None: ...


class MemoryClosureStore:
    """In-process only: for tests and throwaway runs."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    async def load(self) -> dict[str, dict]:
        return await asyncio.to_thread(_decode, list(self._data.items()))

    async def load_raw(self) -> dict[str, bytes]:
        return dict(self._data)

    async def apply(self, puts: dict[str, dict], deletes: list[str]) -> dict[str, bytes]:
        encoded = await asyncio.to_thread(_encode, puts)  # encode first: a failure changes nothing
        for k in deletes:
            self._data.pop(k, None)
        self._data.update(encoded)
        return encoded

    async def subscribe(self, on_change: OnChange) -> None:
        return None

    async def aclose(self) -> None:
        return None


class SqliteClosureStore:
    """The embedded store: one SQLite file (WAL), each change one transaction, so a crash loses nothing committed."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._db = open_sqlite(self.path)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS closures (id TEXT PRIMARY KEY, body BLOB NOT NULL)")

    async def load(self) -> dict[str, dict]:
        return _decode((await self.load_raw()).items())

    async def load_raw(self) -> dict[str, bytes]:
        return await asyncio.to_thread(self._load)

    def _load(self) -> dict[str, bytes]:
        with self._lock:
            rows = self._db.execute("SELECT id, body FROM closures").fetchall()
        return _raw(rows)

    async def apply(self, puts: dict[str, dict], deletes: list[str]) -> dict[str, bytes]:
        return await asyncio.to_thread(self._apply, puts, deletes)  # a synchronous fsync must not stall the loop

    def _apply(self, puts: dict[str, dict], deletes: list[str]) -> dict[str, bytes]:
        encoded = _encode(puts)
        rows = list(encoded.items())
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM closures WHERE id = ?", [(k,) for k in deletes])
                self._db.executemany("INSERT OR REPLACE INTO closures (id, body) VALUES (?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return encoded

    async def subscribe(self, on_change: OnChange) -> None:
        return None  # single process: the service applied the change itself

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()


_APPLY_LUA = """
local n = tonumber(ARGV[3])
for i = 4, 3 + n do redis.call('HDEL', KEYS[1], ARGV[i]) end
for i = 4 + n, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
"""


class RedisClosureStore:
    """Closures in the hash ``{prefix}closures``; every change is announced on the channel ``{prefix}closures``.
    ``url`` is one server or a cluster (``redis+cluster://``, see ``maas.store.redis_conn``)."""

    def __init__(self, url: str, prefix: str = ""):
        from maas.store.redis_conn import connect, same_slot, subscribed

        self.url = url
        self.prefix = prefix
        self.key = f"{prefix}closures"
        self.channel = f"{prefix}closures"
        # bumped with every change (catches missed messages); in the hash's slot. Earlier versions kept it at
        # "{prefix}closures:version": a counter only, nothing is lost by starting a new one
        self.version_key = same_slot(self.key, ":version")
        self._redis = connect(url, max_connections=16)
        self._apply = self._redis.register_script(_APPLY_LUA)
        # on a cluster: a live node, chosen again after each failure
        self._listener = PubSubListener("closure-subscriber", lambda: subscribed(self._redis, self.channel))

    async def load(self) -> dict[str, dict]:
        raw = await self._redis.hgetall(self.key)
        return await asyncio.to_thread(_decode, list(raw.items()))

    async def load_raw(self) -> dict[str, bytes]:
        return _raw((await self._redis.hgetall(self.key)).items())

    async def apply(self, puts: dict[str, dict], deletes: list[str]) -> dict[str, bytes]:
        rows = await asyncio.to_thread(_encode, puts)
        notice = orjson.dumps({"put": list(rows), "del": deletes})
        args = [self.channel, notice, len(deletes), *deletes]
        for k, v in rows.items():
            args += [k, v]
        await self._apply(keys=[self.key, self.version_key], args=args)
        return rows

    async def subscribe(self, on_change: OnChange) -> None:
        """Listen in a background task. Every message, every reconnect, and every second in which the version
        counter moved without a message trigger a full reload (idempotent, tens of closures): a lost message only
        delays a change by about a second, it never loses it."""
        if self._listener.task is not None:
            return
        await self._listener.subscribe()
        seen = [await self._redis.get(self.version_key)]

        async def changed() -> None:
            seen[0] = await self._redis.get(self.version_key)
            await on_change()

        async def on_message(msg: dict | None) -> None:
            if msg is not None or await self._redis.get(self.version_key) != seen[0]:
                await changed()

        self._listener.start(on_message, on_resubscribed=changed)

    async def aclose(self) -> None:
        await self._listener.stop()
        await self._redis.aclose()


def closure_store_for(redis_url: str | None, sqlite_path: Path | None, prefix: str = "maas:") -> ClosureStore:
    """The backend a deployment asks for: Redis when configured, else the SQLite file, else memory."""
    if redis_url:
        return RedisClosureStore(redis_url, prefix)
    if sqlite_path is not None:
        return SqliteClosureStore(sqlite_path)
    return MemoryClosureStore()
