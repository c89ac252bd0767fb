"""Where the realtime state (GTFS-RT trip updates and vehicle positions) lives so every worker sees it.

State is kept per operator and per stream ("trip-updates", "vehicle-positions"): the header timestamp of the last
accepted message, when it was received, and the entities by entity id (msgpack of the `feeds.gtfs_rt` structs).
`apply` is atomic per operator and refuses an out-of-order message (a header older than the stored one) without
changing anything, so two workers racing on the same operator cannot move it back in time.

Backends, as for closures (closure_store.py): `MemoryRealtimeStore` (tests), `SqliteRealtimeStore` (embedded,
single process, one transaction per message) and `RedisRealtimeStore` (one Lua script per message; every key of
an operator carries the hash tag ``{op}`` so a Redis Cluster keeps them in one slot; the script bumps the
operator's version and publishes the operator on the change channel; subscribers also poll the versions every
second, so a lost message delays a change by about a second, never loses it).
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Protocol

from maas.store.listener import PubSubListener
from maas.store.sqlite import open_sqlite

OnChange = Callable[[str], Awaitable[None]]  # called with the operator whose state changed
STREAMS = ("trip-updates", "vehicle-positions")


@dataclass
class StoredStream:
    timestamp: int  # header timestamp of the last accepted message
    received_at: float  # our clock when it was accepted
    entities: dict[str, bytes] = field(default_factory=dict)  # entity id → msgpack struct


@dataclass(frozen=True)
class StreamChange:
    """What one message does to one stream: ``full`` replaces every entity, else puts and deletes merge."""

    stream: str
    full: bool
    puts: dict[str, bytes]
    deletes: tuple[str, ...]


class RealtimeStore(Protocol):
    async def load(self, operator: str) -> dict[str, StoredStream]: ...

    async def operators(self) -> list[str]: ...

    async def apply(self, operator: str, timestamp: int, received_at: float,
                    changes: list[StreamChange]) -> tuple[bool, str | None]:
        """(True, None) when applied; (False, stream) when that stream holds a newer header (nothing changed)."""

    async def subscribe(self, on_change: OnChange) -> None: ...

    async def try_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        """True when this worker may do the named periodic job (a pull) now; one worker at a time per name."""

    async def aclose(self) -> None: ...


class MemoryRealtimeStore:
    """In-process only: tests and throwaway runs."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, StoredStream]] = {}

    async def load(self, operator: str) -> dict[str, StoredStream]:
        return {s: StoredStream(v.timestamp, v.received_at, dict(v.entities))
                for s, v in self._data.get(operator, {}).items()}

    async def operators(self) -> list[str]:
        return sorted(self._data)

    async def apply(self, operator, timestamp, received_at, changes):
        cur = self._data.setdefault(operator, {})
        for ch in changes:
            if ch.stream in cur and cur[ch.stream].timestamp > timestamp:
                return False, ch.stream
        for ch in changes:
            old = cur.get(ch.stream)
            ents = {} if ch.full or old is None else dict(old.entities)
            for k in ch.deletes:
                ents.pop(k, None)
            ents.update(ch.puts)
            cur[ch.stream] = StoredStream(timestamp, received_at, ents)
        return True, None

    async def subscribe(self, on_change: OnChange) -> None:
        return None

    async def try_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class SqliteRealtimeStore:
    """The embedded store: one SQLite file (WAL); each message one transaction."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._db = open_sqlite(self.path, synchronous="NORMAL")  # realtime data is re-sent every few seconds
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS rt_stream (op TEXT, stream TEXT, ts INTEGER, "
                             "received REAL, PRIMARY KEY (op, stream))")
            self._db.execute("CREATE TABLE IF NOT EXISTS rt_entity (op TEXT, stream TEXT, id TEXT, body BLOB, "
                             "PRIMARY KEY (op, stream, id))")

    async def load(self, operator: str) -> dict[str, StoredStream]:
        return await asyncio.to_thread(self._load, operator)

    def _load(self, operator: str) -> dict[str, StoredStream]:
        with self._lock:
            meta = self._db.execute("SELECT stream, ts, received FROM rt_stream WHERE op = ?", (operator,)).fetchall()
            rows = self._db.execute("SELECT stream, id, body FROM rt_entity WHERE op = ?", (operator,)).fetchall()
        out = {s: StoredStream(ts, rx) for s, ts, rx in meta}
        for s, k, body in rows:
            if s in out:
                out[s].entities[k] = bytes(body)
        return out

    async def operators(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT op FROM rt_stream ORDER BY op")]

    async def apply(self, operator, timestamp, received_at, changes):
        return await asyncio.to_thread(self._apply, operator, timestamp, received_at, changes)

    def _apply(self, operator, timestamp, received_at, changes):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for ch in changes:
                    row = self._db.execute("SELECT ts FROM rt_stream WHERE op = ? AND stream = ?",
                                           (operator, ch.stream)).fetchone()
                    if row is not None and row[0] > timestamp:
                        self._db.execute("ROLLBACK")
                        return False, ch.stream
                for ch in changes:
                    if ch.full:
                        self._db.execute("DELETE FROM rt_entity WHERE op = ? AND stream = ?", (operator, ch.stream))
                    else:
                        self._db.executemany("DELETE FROM rt_entity WHERE op = ? AND stream = ? AND id = ?",
                                             [(operator, ch.stream, k) for k in ch.deletes])
                    self._db.executemany("INSERT OR REPLACE INTO rt_entity (op, stream, id, body) VALUES (?,?,?,?)",
                                         [(operator, ch.stream, k, v) for k, v in ch.puts.items()])
                    self._db.execute("INSERT OR REPLACE INTO rt_stream (op, stream, ts, received) VALUES (?,?,?,?)",
                                     (operator, ch.stream, timestamp, received_at))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return True, None

    async def subscribe(self, on_change: OnChange) -> None:
        return None  # single process: the service applied the change itself

    async def try_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        return True

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()


# KEYS: meta hash, version counter, then one entity hash per changed stream (all tagged {op}).
# ARGV: timestamp, received_at, channel, operator, n_streams, then per stream: name, full, n_puts, n_dels,
#       puts as id, body pairs, then the deleted ids.
APPLY_LUA = r"""
local ts, rx, channel, op, n = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local streams, i = {}, 6
for s = 1, n do
  local name, full, np, nd = ARGV[i], ARGV[i + 1] == '1', tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  streams[s] = {name = name, full = full, p0 = i + 4, np = np, d0 = i + 4 + 2 * np, nd = nd, key = KEYS[2 + s]}
  i = i + 4 + 2 * np + nd
end
for s = 1, n do
  local last = redis.call('HGET', KEYS[1], streams[s].name .. ':ts')
  if last and tonumber(last) > ts then return {0, streams[s].name} end
end
for s = 1, n do
  local st = streams[s]
  if st.full then redis.call('DEL', st.key) end
  for j = st.d0, st.d0 + st.nd - 1, 500 do
    redis.call('HDEL', st.key, unpack(ARGV, j, math.min(j + 499, st.d0 + st.nd - 1)))
  end
  for j = st.p0, st.p0 + 2 * st.np - 1, 1000 do
    redis.call('HSET', st.key, unpack(ARGV, j, math.min(j + 999, st.p0 + 2 * st.np - 1)))
  end
  redis.call('HSET', KEYS[1], st.name .. ':ts', ts, st.name .. ':rx', rx)
end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', channel, op .. ' ' .. v)
return {1, v}
"""


LOAD_LUA = r"""
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out
"""


class RedisRealtimeStore:
    """Keys ``{prefix}rt:{op}:meta`` (stream → ts / received), ``{prefix}rt:{op}:version`` and
    ``{prefix}rt:{op}:<stream>`` (entity id → msgpack); the set ``{prefix}rt:operators`` lists the operators and
    the channel ``{prefix}rt:changes`` carries the operator of each change."""

    def __init__(self, url: str, prefix: str = ""):
        from maas.store.redis_conn import connect, subscribed

        self.url, self.prefix = url, prefix
        self.channel = f"{prefix}rt:changes"
        self.ops_key = f"{prefix}rt:operators"
        self._redis = connect(url, max_connections=16)  # one server or a cluster (redis+cluster://)
        self._apply = self._redis.register_script(APPLY_LUA)
        self._load = self._redis.register_script(LOAD_LUA)
        # on a cluster a plain connection to a live node, chosen again after each failure (plain PUBLISH, from the
        # script too, reaches every node)
        self._listener = PubSubListener("realtime-subscriber", lambda: subscribed(self._redis, self.channel))
        self._written: dict[str, bytes] = {}  # operator → version this store wrote on top of what it had loaded
        self._known: dict[str, int] = {}  # operator → the last version seen (written, announced or polled)

    def _key(self, op: str, part: str) -> str:
        return f"{self.prefix}rt:{{{op}}}:{part}"

    async def load(self, operator: str) -> dict[str, StoredStream]:
        """Meta and every stream in one script (same slot; a script, unlike MULTI, runs the same way on one
        server and on a cluster): never a header from one message with another's entities."""
        flat = await self._load(keys=[self._key(operator, "meta")] + [self._key(operator, s) for s in STREAMS])
        raw_meta, *raw_streams = [dict(zip(h[::2], h[1::2])) for h in flat]
        meta = {k.decode(): v.decode() for k, v in raw_meta.items()}
        out: dict[str, StoredStream] = {}
        for s, raw in zip(STREAMS, raw_streams):
            if f"{s}:ts" in meta:
                out[s] = StoredStream(int(meta[f"{s}:ts"]), float(meta.get(f"{s}:rx", 0)),
                                      {k.decode(): bytes(v) for k, v in raw.items()})
        return out

    async def operators(self) -> list[str]:
        return sorted(m.decode() for m in await self._redis.smembers(self.ops_key))

    async def apply(self, operator, timestamp, received_at, changes):
        keys = [self._key(operator, "meta"), self._key(operator, "version")]
        args: list = [timestamp, repr(received_at), self.channel, operator, len(changes)]
        for ch in changes:
            keys.append(self._key(operator, ch.stream))
            args += [ch.stream, 1 if ch.full else 0, len(ch.puts), len(ch.deletes)]
            for k, v in ch.puts.items():
                args += [k, v]
            args += list(ch.deletes)
        ok, what = await self._apply(keys=keys, args=args)
        if not ok:
            return False, what.decode() if isinstance(what, bytes) else what
        v = int(what)
        if self._known.get(operator) == v - 1:  # nobody wrote in between: our state is the store's, no reload
            self._written[operator] = str(v).encode()
        self._known[operator] = v
        await self._redis.sadd(self.ops_key, operator)  # another slot: outside the script (a listing aid only)
        return True, None

    async def versions(self, operators: list[str]) -> list[bytes | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for op in operators:
                pipe.get(self._key(op, "version"))
            return await pipe.execute()

    async def subscribe(self, on_change: OnChange) -> None:
        """Follow other workers' changes in a background task: a message reloads its operator; every second the
        version counters are compared too (a lost message, a reconnect), and changed operators are reloaded."""
        if self._listener.task is not None:
            return
        await self._listener.subscribe()
        seen: dict[str, bytes | None] = {}

        async def poll_versions() -> None:
            ops = await self.operators()
            for op, v in zip(ops, await self.versions(ops)):
                if seen.get(op, b"") != v:
                    seen[op] = v
                    if v is None or self._written.get(op) != v:
                        if v is not None:
                            self._known[op] = int(v)
                        await on_change(op)

        await poll_versions()

        async def on_message(msg: dict | None) -> None:
            if msg is None:
                await poll_versions()
                return
            op, _, version = msg["data"].decode().partition(" ")
            seen[op] = version.encode()
            if self._written.get(op) != seen[op]:  # another worker's change (ours is applied)
                self._known[op] = max(self._known.get(op, 0), int(version or 0))
                await on_change(op)

        self._listener.start(on_message, on_resubscribed=poll_versions)

    async def try_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        """SET NX PX: the first worker to ask holds the job for ``ttl_s``; it renews while it keeps winning."""
        key = f"{self.prefix}rt:lease:{name}"
        if await self._redis.set(key, owner, nx=True, px=max(1, int(ttl_s * 1000))):
            return True
        cur = await self._redis.get(key)
        if cur is not None and cur.decode() == owner:
            await self._redis.pexpire(key, max(1, int(ttl_s * 1000)))
            return True
        return False

    async def aclose(self) -> None:
        await self._listener.stop()
        await self._redis.aclose()


def realtime_store_for(redis_url: str | None, sqlite_path: Path | None, prefix: str = "maas:") -> RealtimeStore:
    """Redis when configured, else the SQLite file, else memory (the same choice as closures)."""
    if redis_url:
        return RedisRealtimeStore(redis_url, prefix)
    if sqlite_path is not None:
        return SqliteRealtimeStore(sqlite_path)
    return MemoryRealtimeStore()
