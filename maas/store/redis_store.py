"""Redis store (production): redis.asyncio, Lua scripts for everything that must be atomic.

Durability is checked, not assumed. ``check_durability()`` (run by `maas serve` before it accepts traffic) reads
the server's persistence settings and picks how ``durable()`` makes a confirmed booking crash-safe before the API
answers CONFIRMED:

* ``waitaof`` — AOF on and Redis >= 7.2: ``WAITAOF 1 0`` fsyncs the AOF; its answer (local fsyncs) is checked.
* ``aof-always`` — AOF on with ``appendfsync always`` (Redis < 7.2): every acknowledged write is already on disk;
  the setting and the last AOF write status are re-verified (at most once a second).
* ``replicas`` — no usable AOF but connected replicas: ``WAIT 1`` must report one replica that has the writes.
* ``volatile`` — none of these: a crash loses confirmed bookings. `maas serve` refuses to start unless told
  ``--allow-volatile-redis``, and then warns loudly; ``durable()`` is a no-op.

When ``durable()`` cannot confirm durability it raises ``NotDurable`` (a 503 to the client; the booking stays in
the open set and the recovery pass finishes it). Pooled connections retry with a short back-off and are health
checked, so the store recovers by itself after a Redis restart; while Redis is down calls raise
``redis.exceptions.ConnectionError``, which the API answers with 503 + Retry-After.

On a Redis Cluster (``redis+cluster://``) the same modes hold per master: ``durable()`` waits on every master,
and where a master has a connected replica it also waits for that replica (a failover promotes it, so a booking
confirmed only on the dead master would be lost). Every multi-key script keeps its keys in one slot (the ledger's
id set is tagged with its entries key), SCAN and INFO go to every master, and pub/sub uses one plain connection
to a live node (see ``maas.store.redis_conn``).

Seat holds live in one hash per trip (``hold_id → start,end,count,expires``); the reserve script purges expired
holds, checks every segment of the requested range and adds the hold in one step, so two workers can never sell
the same seat. Every key carries ``prefix`` so tests and tenants isolate.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis
import redis.exceptions as rx
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from maas.store.base import (ReserveResult, SeatHold, Store, Subscription, blob_manifest, check_seat_request,
                             checked_blob)
from maas.store.errors import NotDurable, VolatileStore
from maas.store.redis_conn import connect, masters, next_message, node_client, same_slot, subscribed

log = logging.getLogger("maas.store")
WAIT_TIMEOUT_MS = 2000  # how long durable() waits for an fsync / a replica before answering 503
RECHECK_S = 1.0  # aof-always mode: re-verify the server's settings at most this often

RESERVE_LUA = r"""
local key = KEYS[1]
local capacity, s, e, count = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local hold_id, now = ARGV[5], tonumber(ARGV[7])
local all = redis.call('HGETALL', key)
local live, mine = {}, false
for i = 1, #all, 2 do
  local hs, he, hc, hx = string.match(all[i + 1], '^(-?%d+),(-?%d+),(%d+),(.+)$')
  hs, he, hc, hx = tonumber(hs), tonumber(he), tonumber(hc), tonumber(hx)
  if hx ~= 0 and hx <= now then
    redis.call('HDEL', key, all[i])
  else
    if all[i] == hold_id then mine = true end
    if hs < e and he > s then live[#live + 1] = {hs, he, hc} end
  end
end
local function occ(p)
  local t = 0
  for _, h in ipairs(live) do if h[1] <= p and p < h[2] then t = t + h[3] end end
  return t
end
local worst = occ(s)
for _, h in ipairs(live) do
  if h[1] > s and h[1] < e then local o = occ(h[1]); if o > worst then worst = o end end
end
local avail = capacity - worst
if mine then return {1, avail, 1} end
if avail < count then return {0, math.max(avail, 0), 0} end
redis.call('HSET', key, hold_id, s .. ',' .. e .. ',' .. count .. ',' .. ARGV[6])
return {1, avail - count, 0}
"""

COMMIT_LUA = r"""
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local hs, he, hc, hx = string.match(v, '^(-?%d+),(-?%d+),(%d+),(.+)$')
hx = tonumber(hx)
if hx ~= 0 and hx <= tonumber(ARGV[2]) then redis.call('HDEL', KEYS[1], ARGV[1]); return 0 end
redis.call('HSET', KEYS[1], ARGV[1], hs .. ',' .. he .. ',' .. hc .. ',0')
return 1
"""

PURGE_LUA = r"""
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
  local hx = tonumber(string.match(all[i + 1], ',([^,]+)$'))
  if hx ~= 0 and hx <= tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], all[i]); n = n + 1 end
end
return n
"""

# KEYS: the transaction ids, the entries (one hash slot), and on one server the id set of earlier versions
# (``ledger:txns``, in another slot), still read so a transaction posted before the rename is never posted twice.
LEDGER_LUA = r"""
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
if KEYS[3] and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
for i = 2, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
return 1
"""

DELETE_IF_LUA = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

REPLACE_IF_LUA = r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""

# the fencing compare-and-set: the stored JSON's version must still be the writer's
REPLACE_VERSIONED_LUA = r"""
local cur = redis.call('GET', KEYS[1])
local want = tonumber(ARGV[2])
if cur == false then
  if want ~= 0 then return 0 end
else
  local ok, rec = pcall(cjson.decode, cur)
  if not ok or type(rec) ~= 'table' or (tonumber(rec['version']) or 0) ~= want then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

_GLOB = re.compile(r"([*?\[\]\\])")


def _fmt_float(x: float) -> str:
    return "0" if x == 0 else repr(float(x))


@dataclass(frozen=True)
class Persistence:
    """What the server says about its persistence, and the ``durable()`` mode that follows from it."""

    version: str
    aof_enabled: bool
    appendfsync: str | None  # None when CONFIG GET is refused (managed Redis)
    aof_write_ok: bool
    replicas: int  # on a cluster: the fewest any master has
    masters: int = 1  # shards: 1 on one server

    @property
    def mode(self) -> str:
        major_minor = tuple(int(x) for x in (self.version.split(".") + ["0", "0"])[:2])
        if self.aof_enabled and major_minor >= (7, 2):
            return "waitaof"
        if self.aof_enabled and self.appendfsync == "always":
            return "aof-always"
        if self.replicas > 0:
            return "replicas"
        return "volatile"

    @property
    def crash_safe(self) -> bool:
        return self.mode != "volatile" and (self.mode != "aof-always" or self.aof_write_ok)

    def to_dict(self) -> dict:
        return {**asdict(self), "mode": self.mode, "crash_safe": self.crash_safe}

    def explain(self) -> str:
        return (f"Redis {self.version}: appendonly {'yes' if self.aof_enabled else 'no'}, appendfsync "
                f"{self.appendfsync or 'unknown'}, {self.replicas} replica(s)")


class _RedisSubscription(Subscription):
    def __init__(self, pubsub, prefix: str):
        self._ps, self._prefix = pubsub, prefix

    async def get(self, timeout: float | None = None) -> tuple[str, str] | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = 1.0 if deadline is None else max(0.0, deadline - loop.time())
            msg = await next_message(self._ps, left)
            if msg is not None and msg["type"] in ("message", "pmessage"):
                ch = msg["channel"].decode()
                return ch[len(self._prefix):], msg["data"].decode()
            if deadline is not None and loop.time() >= deadline:
                return None

    async def aclose(self) -> None:
        await self._ps.aclose()


class RedisStore(Store):
    """Store on a Redis server or a Redis Cluster; ``prefix`` namespaces every key and channel."""

    def __init__(self, client: aioredis.Redis | RedisCluster, prefix: str = "maas:"):
        self.r = client
        self.prefix = prefix
        self.cluster = isinstance(client, RedisCluster)
        self._nodes: dict[str, aioredis.Redis] = {}  # cluster: a plain client per master (durable(), INFO)
        self._durable_keys: dict[str, str] = {}  # cluster: master name -> the durable() key in its slots
        self._replicas: dict[str, int] = {}  # connected replicas per master at the last check
        self._reserve = client.register_script(RESERVE_LUA)
        self._commit = client.register_script(COMMIT_LUA)
        self._purge = client.register_script(PURGE_LUA)
        self._ledger = client.register_script(LEDGER_LUA)
        self._delete_if = client.register_script(DELETE_IF_LUA)
        self._replace_if = client.register_script(REPLACE_IF_LUA)
        self._replace_versioned = client.register_script(REPLACE_VERSIONED_LUA)
        self._mode: str | None = None  # durable() strategy, set by check_durability (or lazily)
        self._strict = False  # raise NotDurable when durability cannot be confirmed (set by check_durability)
        self._verified_at = 0.0

    @classmethod
    def from_url(cls, url: str, prefix: str = "maas:", max_connections: int = 64) -> "RedisStore":
        """A client whose pool makes callers wait for a free connection (bursts queue instead of failing) and
        whose connections reconnect by themselves: a dead pooled connection (Redis restarted) is retried on a
        fresh one with a short back-off instead of failing the first call after the restart. A
        ``redis+cluster://`` URL gives a cluster client (``maas.store.redis_conn``)."""
        return cls(connect(url, max_connections=max_connections), prefix)

    def _k(self, key: str) -> str:
        return self.prefix + key

    # -- KV -------------------------------------------------------------------------------------------------------
    async def get(self, key: str) -> str | None:
        v = await self.r.get(self._k(key))
        return None if v is None else v.decode()

    async def set(self, key: str, value: str, *, ttl_s: float | None = None, nx: bool = False) -> bool:
        px = max(1, int(ttl_s * 1000)) if ttl_s else None
        return bool(await self.r.set(self._k(key), value, px=px, nx=nx))

    async def delete(self, key: str) -> bool:
        return bool(await self.r.delete(self._k(key)))

    async def delete_if(self, key: str, value: str) -> bool:
        return bool(await self._delete_if(keys=[self._k(key)], args=[value]))

    async def keys(self, prefix: str) -> list[str]:
        pattern = _GLOB.sub(r"\\\1", self._k(prefix)) + "*"
        n = len(self.prefix)
        return [k.decode()[n:] async for k in self.r.scan_iter(match=pattern, count=1000)]

    async def replace_if(self, key: str, expected: str, value: str, *, ttl_s: float | None = None) -> bool:
        px = str(max(1, int(ttl_s * 1000))) if ttl_s else ""
        return bool(await self._replace_if(keys=[self._k(key)], args=[expected, value, px]))

    async def replace_versioned(self, key: str, value: str, expected_version: int) -> bool:
        return bool(await self._replace_versioned(keys=[self._k(key)], args=[value, int(expected_version)]))

    # -- sets -----------------------------------------------------------------------------------------------------
    async def sadd(self, key: str, member: str) -> None:
        await self.r.sadd(self._k(key), member)

    async def srem(self, key: str, member: str) -> None:
        await self.r.srem(self._k(key), member)

    async def smembers(self, key: str) -> set[str]:
        return {m.decode() for m in await self.r.smembers(self._k(key))}

    async def sets_update(self, add: list[tuple[str, str]] = (), remove: list[tuple[str, str]] = ()) -> None:
        if not add and not remove:
            return
        async with self.r.pipeline(transaction=False) as pipe:
            for key, m in add:
                pipe.sadd(self._k(key), m)
            for key, m in remove:
                pipe.srem(self._k(key), m)
            await pipe.execute()

    async def sunion(self, keys: list[str]) -> set[str]:
        out: set[str] = set()
        if self.cluster:  # the sets live in many slots: one SMEMBERS each, pipelined per node
            for i in range(0, len(keys), 1000):
                async with self.r.pipeline() as pipe:
                    for k in keys[i:i + 1000]:
                        pipe.smembers(self._k(k))
                    for members in await pipe.execute():
                        out.update(m.decode() for m in members)
            return out
        for i in range(0, len(keys), 1000):
            chunk = [self._k(k) for k in keys[i:i + 1000]]
            if chunk:
                out.update(m.decode() for m in await self.r.sunion(chunk))
        return out

    # -- ordered sets ---------------------------------------------------------------------------------------------
    async def zadd_lex(self, key: str, member: str) -> None:
        await self.r.zadd(self._k(key), {member: 0})

    async def zrem_lex(self, key: str, member: str) -> None:
        await self.r.zrem(self._k(key), member)

    async def zrange_lex(self, key: str, after: str = "", limit: int = 100) -> list[str]:
        lo = "(" + after if after else "-"
        return [m.decode() for m in await self.r.zrangebylex(self._k(key), lo, "+", start=0, num=max(0, int(limit)))]

    # -- seats ----------------------------------------------------------------------------------------------------
    def _seat_key(self, resource: str) -> str:
        return self._k("seats:" + resource)

    async def reserve_seats(self, resource: str, capacity: int, start: int, end: int, count: int,
                            hold_id: str, expires_at: float, now: float) -> ReserveResult:
        check_seat_request(capacity, start, end, count, expires_at, now)
        ok, avail, already = await self._reserve(
            keys=[self._seat_key(resource)],
            args=[capacity, start, end, count, hold_id, _fmt_float(expires_at), repr(float(now))])
        return ReserveResult(ok=bool(ok), available=int(avail), already=bool(already))

    async def commit_seats(self, resource: str, hold_id: str, now: float) -> bool:
        return bool(await self._commit(keys=[self._seat_key(resource)], args=[hold_id, repr(float(now))]))

    async def release_seats(self, resource: str, hold_id: str) -> bool:
        return bool(await self.r.hdel(self._seat_key(resource), hold_id))

    async def seat_holds(self, resource: str) -> list[SeatHold]:
        raw = await self.r.hgetall(self._seat_key(resource))
        out = []
        for hid, v in raw.items():
            s, e, c, x = v.decode().split(",")
            out.append(SeatHold(hid.decode(), int(s), int(e), int(c), float(x)))
        return out

    async def purge_expired_seats(self, resource: str, now: float) -> int:
        return int(await self._purge(keys=[self._seat_key(resource)], args=[repr(float(now))]))

    # -- ledger ---------------------------------------------------------------------------------------------------
    async def ledger_append(self, txn_id: str, entries: list[dict]) -> bool:
        """The id set sits in the entries' hash slot (``{…ledger:entries}:txns``) so the script works on a
        cluster; on one server the set of earlier versions (``ledger:txns``) is read as well."""
        args = [txn_id] + [json.dumps(e, sort_keys=True) for e in entries]
        entries_key = self._k("ledger:entries")
        keys = [same_slot(entries_key, ":txns"), entries_key]
        if not self.cluster:
            keys.append(self._k("ledger:txns"))
        return bool(await self._ledger(keys=keys, args=args))

    async def ledger_entries(self) -> list[dict]:
        return [json.loads(x) for x in await self.r.lrange(self._k("ledger:entries"), 0, -1)]

    # -- counters and blobs ---------------------------------------------------------------------------------------
    async def incr(self, key: str) -> int:
        return int(await self.r.incr(self._k(key)))

    async def put_blob(self, key: str, data: bytes) -> None:
        """Raw bytes in pieces of ``BLOB_CHUNK`` under ``{key}:chunk:{i}`` (same hash tag as ``key``, so one slot on
        a cluster), one piece per command; the manifest last."""
        n = max(1, -(-len(data) // self.BLOB_CHUNK))
        for i in range(n):
            await self.r.set(self._k(f"{key}:chunk:{i}"), data[i * self.BLOB_CHUNK:(i + 1) * self.BLOB_CHUNK])
        await self.r.set(self._k(key), blob_manifest(data, n))

    async def get_blob(self, key: str) -> bytes | None:
        raw = await self.r.get(self._k(key))
        if raw is None:
            return None
        meta = json.loads(raw)
        pieces = []
        for i in range(int(meta["chunks"])):
            piece = await self.r.get(self._k(f"{key}:chunk:{i}"))
            if piece is None:
                return None
            pieces.append(piece)
        return checked_blob(b"".join(pieces), meta)

    async def has_blob(self, key: str) -> bool:
        return bool(await self.r.exists(self._k(key)))

    # -- pub/sub --------------------------------------------------------------------------------------------------
    async def publish(self, channel: str, message: str) -> None:
        await self.r.publish(self._k(channel), message)

    async def subscribe(self, *channels: str) -> Subscription:
        """On a cluster, one plain connection to a live node: PUBLISH is broadcast to every node."""
        return _RedisSubscription(await subscribed(self.r, *[self._k(c) for c in channels]), self.prefix)

    async def subscribe_prefix(self, prefix: str) -> Subscription:
        ps = await subscribed(self.r, pattern=_GLOB.sub(r"\\\1", self._k(prefix)) + "*")
        return _RedisSubscription(ps, self.prefix)

    # -- lifecycle ------------------------------------------------------------------------------------------------
    async def ping(self) -> None:
        """On a cluster: any master answering is enough (readiness must not take every replica out of the load
        balancer while one shard fails over; that shard's calls answer 503 by themselves)."""
        if not self.cluster:
            await self.r.ping()
            return
        await self.r.initialize()
        tasks = [asyncio.ensure_future(self.r.ping(target_nodes=n)) for n in self.r.get_primaries()]
        last: BaseException | None = None
        try:
            for done in asyncio.as_completed(tasks):
                try:
                    await done
                    return
                except (rx.RedisError, OSError) as exc:
                    last = exc
        finally:
            for t in tasks:
                if t.done() and not t.cancelled():
                    t.exception()  # retrieved: no "never retrieved" warning for the slower failures
                t.cancel()
        raise rx.ConnectionError(f"no Redis Cluster master answers: {last}")

    async def _masters(self) -> list[tuple[str, aioredis.Redis]]:
        """``(name, client)`` per master, each client on that master alone (a cluster's per-node clients are
        kept while the node stays a master; one that was demoted or died is closed)."""
        if not self.cluster:
            return [("server", self.r)]
        found = await masters(self.r)
        names = {name for name, _, _ in found}
        for name in [n for n in self._nodes if n not in names]:
            old = self._nodes.pop(name)
            self._durable_keys.pop(name, None)
            await old.aclose()
        for name, _, node in found:
            if name not in self._nodes:
                self._nodes[name] = node_client(self.r, node)
        return [(name, self._nodes[name]) for name, _, _ in found]

    def _durable_key(self, name: str) -> str | None:
        """A key in a slot master ``name`` serves (one server: any key), written before WAIT/WAITAOF so the
        wait covers this connection's offset, hence every write the master acknowledged before it. None when no
        key of ours can live there (a prefix with its own hash tag keeps every key on one master)."""
        if not self.cluster:
            return self._k("durable")
        slots = self.r.nodes_manager.slots_cache

        def owner(key: str) -> str | None:
            nodes = slots.get(key_slot(key.encode()))
            return nodes[0].name if nodes else None

        key = self._durable_keys.get(name)
        if key is None or owner(key) != name:
            key = next((k for k in (self._k(f"durable:{{d{i}}}") for i in range(20_000)) if owner(k) == name), None)
            if key is None:
                return None
            self._durable_keys[name] = key
        return key

    async def _persistence_of(self, client: aioredis.Redis) -> Persistence:
        info = await client.info("persistence")
        server = await client.info("server")
        replication = await client.info("replication")
        try:
            fsync = (await client.config_get("appendfsync")).get("appendfsync")
        except rx.ResponseError:
            fsync = None
        fsync = fsync.decode() if isinstance(fsync, bytes) else fsync
        return Persistence(version=str(server.get("redis_version", "0.0")), aof_enabled=bool(info.get("aof_enabled")),
                           appendfsync=fsync, aof_write_ok=info.get("aof_last_write_status", "ok") == "ok",
                           replicas=int(replication.get("connected_slaves", 0)))

    async def persistence(self) -> Persistence:
        """The server's persistence settings (managed Redis may refuse CONFIG GET: appendfsync is then unknown).
        On a cluster, the weakest master's: the oldest version, AOF only when every master has it, the fewest
        replicas; each master's replica count is kept for ``durable()``."""
        found = await self._masters()
        each = await asyncio.gather(*(self._persistence_of(c) for _, c in found))
        self._replicas = {name: p.replicas for (name, _), p in zip(found, each)}
        if len(each) == 1:
            return each[0]

        def vkey(p: Persistence) -> tuple:
            return tuple(int(x) for x in (p.version.split(".") + ["0", "0"])[:2])

        fsyncs = {p.appendfsync for p in each}
        return Persistence(version=min(each, key=vkey).version, aof_enabled=all(p.aof_enabled for p in each),
                           appendfsync=fsyncs.pop() if len(fsyncs) == 1 else None,
                           aof_write_ok=all(p.aof_write_ok for p in each),
                           replicas=min(p.replicas for p in each), masters=len(each))

    async def check_durability(self, *, allow_volatile: bool = False) -> Persistence:
        """At start: refuse (``VolatileStore``) a server that could lose confirmed bookings, unless
        ``allow_volatile`` — then warn loudly. Sets the ``durable()`` strategy."""
        p = await self.persistence()
        self._mode, self._verified_at = p.mode, time.monotonic()
        if not p.crash_safe:
            message = (f"{p.explain()}: confirmed bookings and payments would be lost if Redis crashed. "
                       "Run Redis with `appendonly yes` and `appendfsync always` (or Redis >= 7.2 with AOF, "
                       "or a replica)")
            if not allow_volatile:
                raise VolatileStore(message + "; or pass --allow-volatile-redis to accept the risk (tests, demos)")
            log.warning("VOLATILE REDIS: %s. Serving anyway because --allow-volatile-redis was given.", message,
                        extra={"fields": p.to_dict()})
            self._mode, self._strict = "volatile", False
        else:
            self._strict = True
            log.info("redis durability: %s", p.mode, extra={"fields": p.to_dict()})
        return p

    async def durable(self) -> None:
        """Make the writes before this call crash-safe, or raise ``NotDurable`` (see the module docstring).

        Each master (one server: the server) gets, on one connection, a write followed by WAITAOF/WAIT: those
        wait for *that connection's* writes, and its offset covers every write the master acknowledged before.
        On a cluster a master with a connected replica must also have the writes on it (``WAIT 1``, or
        ``WAITAOF 1 1``): a failover promotes that replica, and a booking confirmed only on the dead master's
        disk would be gone. A master without a replica at the last check (one just failed over) counts on its
        own AOF until one attaches again."""
        if self._mode is None:  # no start-up check (library use, tests): best effort, never refuse
            self._mode, self._verified_at = (await self.persistence()).mode, time.monotonic()
        elif self._mode == "waitaof" and self.cluster and time.monotonic() - self._verified_at >= RECHECK_S:
            self._replicas = await self._replica_counts()  # (aof-always re-reads them with the settings below)
        if self._mode == "aof-always" and time.monotonic() - self._verified_at >= RECHECK_S:
            p = await self.persistence()
            if p.mode != "aof-always" or not p.aof_write_ok:
                if self._strict:
                    raise NotDurable(f"{p.explain()}, last AOF write "
                                     f"{'ok' if p.aof_write_ok else 'FAILED'}: writes are no longer crash-safe")
                self._mode = p.mode
            self._verified_at = time.monotonic()
        if self._mode in ("waitaof", "replicas") or (self.cluster and self._mode == "aof-always"):
            found = await self._masters()
            await asyncio.gather(*(self._durable_on(name, client) for name, client in found))

    async def _replica_counts(self) -> dict[str, int]:
        found = await self._masters()
        infos = await asyncio.gather(*(c.info("replication") for _, c in found))
        self._verified_at = time.monotonic()
        return {name: int(i.get("connected_slaves", 0)) for (name, _), i in zip(found, infos)}

    async def _durable_on(self, name: str, client: aioredis.Redis) -> None:
        want_replica = 1 if (self.cluster and self._replicas.get(name, 0) > 0) or self._mode == "replicas" else 0
        if self._mode == "aof-always" and not want_replica:
            return  # every acknowledged write is on disk already
        key = self._durable_key(name)
        if key is None:
            return  # no key of ours lives on this master
        where = f" (master {name})" if self.cluster else ""
        command = ("WAITAOF", 1, want_replica, WAIT_TIMEOUT_MS) if self._mode == "waitaof" else \
            ("WAIT", 1, WAIT_TIMEOUT_MS)
        try:
            answer = await self._wait_after_write(client, key, *command)
        except rx.ResponseError as exc:  # AOF switched off since the start-up check, or the slot moved
            self._durable_keys.pop(name, None)
            if self._strict:
                raise NotDurable(f"Redis{where} refused {command[0]} ({exc}): writes are not crash-safe") from None
            self._mode = None  # best effort (no start-up check): look again next time
            return
        if self._mode == "waitaof":
            local, replicas = (int(x) for x in answer)
            if local < 1:
                raise NotDurable(f"Redis{where} did not fsync its AOF within {WAIT_TIMEOUT_MS} ms (WAITAOF "
                                 f"answered {local} local fsyncs)")
            if replicas < want_replica:
                raise NotDurable(f"no Redis replica{where} fsynced the writes within {WAIT_TIMEOUT_MS} ms")
        elif int(answer) < 1:
            raise NotDurable(f"no Redis replica{where} acknowledged the writes within {WAIT_TIMEOUT_MS} ms")

    @staticmethod
    async def _wait_after_write(client: aioredis.Redis, key: str, *command):
        """``INCR key`` then ``command`` on one connection (a pipeline): the wait covers that write's offset."""
        async with client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.execute_command(*command)
            return (await pipe.execute())[1]

    async def aclose(self) -> None:
        for c in self._nodes.values():
            await c.aclose()
        self._nodes.clear()
        if self.cluster:
            await self.r.aclose()
        else:
            await self.r.aclose(close_connection_pool=True)
