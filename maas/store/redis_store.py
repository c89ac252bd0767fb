"""Redis store (production): redis.asyncio, Lua scripts for everything that must be atomic.

Production Redis runs with ``appendonly yes`` and ``appendfsync always`` (the private Redis `make test` starts
does): every acknowledged write — a confirmed booking, a ledger transaction — is on disk before the reply.
``durable()`` additionally issues ``WAITAOF 1 0`` on Redis ≥ 7.2 so a server configured with ``everysec`` still
fsyncs before we report a booking as confirmed. Seat holds live in one hash per trip (``hold_id → start,end,
count,expires``); the reserve script purges expired holds, checks every segment of the requested range and adds
the hold in one step, so two workers can never sell the same seat. Every key carries ``prefix`` so tests and
tenants isolate.
"""
from __future__ import annotations

import asyncio
import json
import re

import redis.asyncio as aioredis

from maas.store.base import ReserveResult, SeatHold, Store, Subscription

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

LEDGER_LUA = r"""
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
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


class _RedisSubscription(Subscription):
    def __init__(self, pubsub, prefix: str):
        self._ps, self._prefix = pubsub, prefix

    async def get(self, timeout: float | None = None) -> tuple[str, str] | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = 1.0 if deadline is None else max(0.0, deadline - loop.time())
            msg = await self._ps.get_message(ignore_subscribe_messages=True, timeout=left)
            if msg is not None and msg["type"] == "message":
                ch = msg["channel"].decode()
                return ch[len(self._prefix):], msg["data"].decode()
            if deadline is not None and loop.time() >= deadline:
                return None

    async def aclose(self) -> None:
        await self._ps.aclose()


class RedisStore(Store):
    """Store on a Redis server; ``prefix`` namespaces every key and channel."""

    def __init__(self, client: aioredis.Redis, prefix: str = "maas:"):
        self.r = client
        self.prefix = prefix
        self._reserve = client.register_script(RESERVE_LUA)
        self._commit = client.register_script(COMMIT_LUA)
        self._purge = client.register_script(PURGE_LUA)
        self._ledger = client.register_script(LEDGER_LUA)
        self._delete_if = client.register_script(DELETE_IF_LUA)
        self._replace_if = client.register_script(REPLACE_IF_LUA)
        self._replace_versioned = client.register_script(REPLACE_VERSIONED_LUA)
        self._waitaof: bool | None = None

    @classmethod
    def from_url(cls, url: str, prefix: str = "maas:", max_connections: int = 64) -> "RedisStore":
        """A client whose pool makes callers wait for a free connection (bursts queue instead of failing)."""
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=30)
        return cls(aioredis.Redis(connection_pool=pool), prefix)

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
        args = [txn_id] + [json.dumps(e, sort_keys=True) for e in entries]
        return bool(await self._ledger(keys=[self._k("ledger:txns"), self._k("ledger:entries")], args=args))

    async def ledger_entries(self) -> list[dict]:
        return [json.loads(x) for x in await self.r.lrange(self._k("ledger:entries"), 0, -1)]

    # -- pub/sub --------------------------------------------------------------------------------------------------
    async def publish(self, channel: str, message: str) -> None:
        await self.r.publish(self._k(channel), message)

    async def subscribe(self, *channels: str) -> Subscription:
        ps = self.r.pubsub()
        await ps.subscribe(*[self._k(c) for c in channels])
        return _RedisSubscription(ps, self.prefix)

    # -- lifecycle ------------------------------------------------------------------------------------------------
    async def persistence(self) -> dict:
        """AOF settings as the server reports them, for a start-up warning when bookings are not fsynced on write
        (managed Redis may refuse CONFIG GET: then only ``aof_enabled`` is known)."""
        out = {"aof_enabled": bool((await self.r.info("persistence")).get("aof_enabled", 0)), "appendfsync": None}
        try:
            out["appendfsync"] = (await self.r.config_get("appendfsync")).get("appendfsync")
        except aioredis.ResponseError:
            pass
        out["crash_safe"] = out["aof_enabled"] and out["appendfsync"] == "always"
        return out

    async def durable(self) -> None:
        """fsync the AOF before returning when the server can be asked to (WAITAOF, Redis ≥ 7.2)."""
        if self._waitaof is None:
            info = await self.r.info("server")
            major, minor = (int(x) for x in str(info.get("redis_version", "0.0")).split(".")[:2])
            aof = (await self.r.info("persistence")).get("aof_enabled", 0)
            self._waitaof = bool(aof) and (major, minor) >= (7, 2)
        if self._waitaof:
            await self.r.execute_command("WAITAOF", 1, 0, 1000)

    async def aclose(self) -> None:
        await self.r.aclose(close_connection_pool=True)
