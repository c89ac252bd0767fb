"""Per-key token buckets: in memory (embedded mode) and in Redis (shared by workers)."""
from __future__ import annotations

import uuid

import pytest

from maas.platform.ratelimit import MemoryRateLimiter, RateLimit, RedisRateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_memory_bucket_allows_burst_then_refills():
    clock = Clock()
    rl = MemoryRateLimiter(clock=clock)
    limit = RateLimit(rate=2.0, burst=3)
    decisions = [await rl.hit("k", limit) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[2].remaining == 0 and decisions[3].retry_after_s == pytest.approx(0.5)
    assert (await rl.hit("other", limit)).allowed  # buckets are per key
    clock.t += 0.5
    assert (await rl.hit("k", limit)).allowed
    assert not (await rl.hit("k", limit)).allowed
    clock.t += 100  # refills up to the burst, never beyond
    assert [(await rl.hit("k", limit)).allowed for _ in range(4)] == [True, True, True, False]


async def test_memory_bucket_is_bounded():
    rl = MemoryRateLimiter(max_keys=10, clock=Clock())
    for i in range(50):
        await rl.hit(f"k{i}", RateLimit(1, 1))
    assert len(rl._buckets) == 10


async def test_redis_bucket_is_shared_between_limiters(any_redis_url):
    """Two limiters (as in two workers) spend from one bucket, on one Redis and on a cluster."""
    redis_url = any_redis_url
    a, b = RedisRateLimiter(redis_url), RedisRateLimiter(redis_url)
    key, limit = f"test-{uuid.uuid4().hex}", RateLimit(rate=0.5, burst=4)
    try:
        allowed = [(await (a if i % 2 else b).hit(key, limit)).allowed for i in range(6)]
        assert allowed == [True, True, True, True, False, False]
        refused = await a.hit(key, limit)
        assert not refused.allowed and 0 < refused.retry_after_s <= 2.0 and refused.limit == 4
    finally:
        await a.aclose()
        await b.aclose()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "redis+cluster://127.0.0.1:1"])
async def test_redis_down_lets_requests_through(url):
    rl = RedisRateLimiter(url)
    try:
        d = await rl.hit("k", RateLimit(1, 1))
        assert d.allowed
    finally:
        await rl.aclose()


async def test_redis_bucket_writes_skip_the_append_only_file(redis_url):
    """Rate-limit hits change the bucket but append nothing to the AOF (no fsync per request on a Redis that
    keeps bookings with appendfsync always); a booking-style write on the same server still does."""
    import redis.asyncio as aioredis

    rl = RedisRateLimiter(redis_url)
    probe = aioredis.from_url(redis_url)
    key, limit = f"test-{uuid.uuid4().hex}", RateLimit(rate=0.5, burst=40)
    try:
        if (await probe.info("persistence")).get("aof_enabled") != 1:
            pytest.skip("the test Redis runs without an append-only file")

        async def aof_size() -> int:
            return int((await probe.info("persistence"))["aof_current_size"])

        before = await aof_size()
        decisions = [await rl.hit(key, limit) for _ in range(30)]
        assert all(d.allowed for d in decisions) and decisions[-1].remaining == 10  # the bucket is kept
        assert await aof_size() == before
        await probe.set(f"test-aof-{key}", "x", ex=60)
        assert await aof_size() > before
    finally:
        await probe.delete(f"test-aof-{key}")
        await probe.aclose()
        await rl.aclose()


def test_resp_pack_and_parse():
    """The pipe's RESP: commands packed as redis-py packs them; replies (nested, partial, errors) parsed."""
    from maas.platform.resp_pipe import ReplyError, pack, parse

    assert pack("EVALSHA", "ab", 1, "k", 0.5, 40, 1) == (b"*7\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$1\r\nk\r\n"
                                                          b"$3\r\n0.5\r\n$2\r\n40\r\n$1\r\n1\r\n")
    reply = b"*2\r\n:1\r\n$4\r\n39.5\r\n+OK\r\n"
    assert parse(reply) == ([1, b"39.5"], len(reply) - 5)
    assert parse(reply, len(reply) - 5) == (b"OK", len(reply))
    for cut in range(1, len(reply) - 5):  # a reply split anywhere is incomplete, not wrong
        assert parse(reply[:cut]) == (None, -1)
    err, end = parse(b"-NOSCRIPT No matching script\r\n")
    assert isinstance(err, ReplyError) and str(err).startswith("NOSCRIPT") and end == 30
    assert parse(b"$-1\r\n") == (None, 5)


async def test_redis_limiter_reloads_a_flushed_script_and_uses_the_urls_database(redis_url):
    """After SCRIPT FLUSH (a Redis restart) the limiter's EVALSHA is answered NOSCRIPT: it runs the script
    whole and goes on; its buckets are in the URL's database; concurrent hits on one connection are answered
    in order."""
    import asyncio

    import redis.asyncio as aioredis

    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    url = f"{base}/3"
    rl, probe = RedisRateLimiter(url, "test-rl:"), aioredis.from_url(url)
    key, limit = f"test-{uuid.uuid4().hex}", RateLimit(rate=0.5, burst=40)
    try:
        assert (await rl.hit(key, limit)).remaining == 39
        await probe.script_flush()
        assert (await rl.hit(key, limit)).remaining == 38
        assert await probe.exists(f"test-rl:{key}") == 1
        decisions = await asyncio.gather(*(rl.hit(key, limit) for _ in range(40)))
        assert sorted(d.remaining for d in decisions if d.allowed) == list(range(38))
        assert sum(not d.allowed for d in decisions) == 2
    finally:
        await probe.delete(f"test-rl:{key}")
        await probe.aclose()
        await rl.aclose()


async def test_redis_that_stops_answering_lets_requests_through():
    """A server that accepts but never replies (a hung Redis): each hit waits at most the timeout, is let through,
    and the connection is dropped so the next hit connects again instead of queueing behind it."""
    import asyncio
    import time

    connections = []

    async def silent(reader, writer):
        connections.append(writer)
        await reader.read(1 << 16)
        await asyncio.sleep(10)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rl = RedisRateLimiter(f"redis://127.0.0.1:{port}/0")
    try:
        t0 = time.monotonic()
        decisions = await asyncio.gather(*(rl.hit("k", RateLimit(1, 1)) for _ in range(3)))
        assert all(d.allowed for d in decisions) and time.monotonic() - t0 < 2.0
        assert (await rl.hit("k", RateLimit(1, 1))).allowed
        assert len(connections) == 2  # one for the three hits at once, a new one after the timeout
    finally:
        await rl.aclose()
        for w in connections:
            w.close()
        server.close()
