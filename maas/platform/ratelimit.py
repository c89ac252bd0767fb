"""Per-key rate limiting by token bucket: in memory for one process, in Redis when several workers share the load.

Both limiters answer the same question (may this key spend one token now?) with a Decision the API turns into
``RateLimit-*`` headers or a 429. The Redis variant runs the whole bucket update in one Lua script, using the
Redis server's clock, so workers on different hosts agree and a burst spread across workers is still one bucket.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Protocol

log = logging.getLogger("maas.platform.ratelimit")


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float = 20.0  # tokens added per second
    burst: int = 40  # bucket capacity: how many requests may arrive at once


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int  # the bucket size
    remaining: int  # whole tokens left after this request
    retry_after_s: float  # 0 when allowed; else when one token will be there again
    reset_s: float  # seconds until the bucket is full again


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision: ...

    async def aclose(self) -> None: ...


def _decide(tokens: float, limit: RateLimit, cost: int) -> tuple[float, Decision]:
    if tokens >= cost:
        tokens -= cost
        return tokens, Decision(True, limit.burst, int(tokens), 0.0, (limit.burst - tokens) / limit.rate)
    retry = (cost - tokens) / limit.rate
    return tokens, Decision(False, limit.burst, int(tokens), retry, (limit.burst - tokens) / limit.rate)


class MemoryRateLimiter:
    """Token buckets in a bounded LRU dict: right for the embedded single-process mode and for tests."""

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        now = self._clock()
        tokens, ts = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + max(0.0, now - ts) * limit.rate)
        tokens, decision = _decide(tokens, limit, cost)
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:  # a full bucket forgotten is the same as a fresh one
            self._buckets.popitem(last=False)
        return decision

    async def aclose(self) -> None:
        self._buckets.clear()


# The bucket is not written to the append-only file nor to replicas (``set_repl(REPL_NONE)``): a Redis that keeps
# bookings fsyncs every AOF write (``appendfsync always``), which made each rate-limited request wait for a disk
# flush (3.2–4.1 ms per hit, 0.6–0.8 ms without; and ~40 % less client CPU). A bucket lost in a restart or a
# failover is a full bucket, which is what an idle key's expiry gives anyway. (Effects replication, which
# set_repl needs, is the default since Redis 5; ``replicate_commands`` turns it on in 3.2–4.)
_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
redis.set_repl(redis.REPL_NONE)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter:
    """Token buckets in Redis, one hash per key, expiring once full again so idle keys cost nothing.

    When Redis cannot be reached the request is let through and a warning logged: an outage of the limiter
    must not become an outage of trip search.

    On a plain server (``redis://``, ``unix://``) the script runs over one pipelined connection
    (`maas.platform.resp_pipe`) with each key's EVALSHA packed once: the hit is on every request's path, and
    redis-py's client cost ~3x its CPU (380 vs 123–133 µs per sequential hit on a busy 2-core machine). TLS and
    Redis Cluster URLs go through redis-py.
    """

    MAX_PACKED = 10_000  # packed commands kept (one per key and limit); beyond, the table starts again

    def __init__(self, url: str, prefix: str = "maas:rl:"):
        from maas.platform.resp_pipe import PLAIN_SCHEMES, RespPipe

        self._prefix = prefix
        self._redis = self._script = self._pipe = None
        if url.startswith(PLAIN_SCHEMES):
            self._pipe = RespPipe(url, timeout_s=0.5)
            self._sha = hashlib.sha1(_LUA.encode()).hexdigest()
            self._packed: dict[tuple, bytes] = {}
        else:
            from maas.store.redis_conn import connect

            # one key per bucket, so a Redis Cluster (redis+cluster://) needs nothing else
            self._redis = connect(url, max_connections=64, socket_timeout=0.5, socket_connect_timeout=0.5,
                                  retries=0)
            self._script = self._redis.register_script(_LUA)

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        import redis.exceptions

        try:
            if self._pipe is not None:
                allowed, tokens = await self._run_piped(key, limit, cost)
            else:
                allowed, tokens = await self._script(keys=[self._prefix + key], args=[limit.rate, limit.burst, cost])
        except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, OSError, TimeoutError) as exc:
            log.warning("rate limiter unavailable, letting the request through: %s", exc)
            return Decision(True, limit.burst, limit.burst, 0.0, 0.0)
        tokens = float(tokens)
        if int(allowed):
            return Decision(True, limit.burst, int(tokens), 0.0, (limit.burst - tokens) / limit.rate)
        retry = (cost - tokens) / limit.rate
        return Decision(False, limit.burst, int(math.floor(tokens)), retry, (limit.burst - tokens) / limit.rate)

    async def _run_piped(self, key: str, limit: RateLimit, cost: int) -> tuple:
        """EVALSHA of the bucket script; EVAL (which also caches it) when Redis does not have it (a restart, a
        SCRIPT FLUSH). Arguments as redis-py sends them, so the script sees the same strings."""
        from maas.platform.resp_pipe import ReplyError, pack

        k = (key, limit.rate, limit.burst, cost)
        command = self._packed.get(k)
        if command is None:
            if len(self._packed) >= self.MAX_PACKED:
                self._packed.clear()
            command = self._packed[k] = pack("EVALSHA", self._sha, 1, self._prefix + key, limit.rate, limit.burst,
                                             cost)
        reply = await self._pipe.call(command)
        if isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self._pipe.call(pack("EVAL", _LUA, 1, self._prefix + key, limit.rate, limit.burst, cost))
        if isinstance(reply, ReplyError):
            raise ConnectionError(f"the rate-limit script failed: {reply}")
        return reply[0], reply[1]

    async def aclose(self) -> None:
        if self._pipe is not None:
            await self._pipe.aclose()
        if self._redis is not None:
            await self._redis.aclose()


def make_rate_limiter(redis_url: str | None, prefix: str = "maas:") -> RateLimiter:
    """Redis-backed when the service runs against Redis (several workers, several hosts), in memory otherwise;
    buckets under ``{prefix}rl:`` (the deployment's key prefix)."""
    return RedisRateLimiter(redis_url, prefix + "rl:") if redis_url else MemoryRateLimiter()
