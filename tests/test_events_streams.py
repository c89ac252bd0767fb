"""SSE under pressure against a real `maas serve` on Redis: one key opening 70 event streams gets its cap and 429
problem+json for the rest, the worker holds one shared subscription instead of a Redis connection per stream,
the open streams still receive their events, and another partner's booking stays fast (not a 504)."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from api_support_http import book_on_sample, post, sample_itinerary, serve, wait_ready
from redis_support import serve_redis_args

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
KEYS = {"pk-many": {"role": "partner", "name": "many", "rate": 1000, "burst": 1000},
        "pk-other": {"role": "partner", "name": "other", "rate": 1000, "burst": 1000}}
PER_KEY = 16  # Settings.sse_per_key


async def _open(session: aiohttp.ClientSession, base: str):
    resp = await session.get(f"{base}/v1/events", headers={"Authorization": "Bearer pk-many"})
    if resp.status == 200:
        assert await resp.content.readline() == b"retry: 3000\n"
    return resp


async def _subscribers(r) -> int:
    """Redis connections on the test's database holding a subscription (each one a connection taken for good)."""
    db = str(r.connection_pool.connection_kwargs.get("db", 0))
    return sum(1 for c in await r.client_list()
               if str(c.get("db")) == db and int(c.get("sub", 0)) + int(c.get("psub", 0)) > 0)


async def _next_event(resp, timeout: float = 10.0) -> str:
    async with asyncio.timeout(timeout):
        while True:
            line = (await resp.content.readline()).decode()
            if line.startswith("data: "):
                return line[6:]


async def test_70_streams_from_one_key_leave_other_partners_fast(tmp_path, redis_url):
    import redis.asyncio as aioredis

    served = serve(tmp_path, serve_redis_args(redis_url), KEYS)
    try:
        await asyncio.to_thread(wait_ready, served)
        base = served.base
        r = aioredis.Redis.from_url(redis_url)
        before = await _subscribers(r)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=60)) as session:
            streams = await asyncio.gather(*[_open(session, base) for _ in range(70)])
            accepted = [s for s in streams if s.status == 200]
            refused = [s for s in streams if s.status != 200]
            assert len(accepted) == PER_KEY and {s.status for s in refused} == {429}
            problem = await refused[0].json(content_type=None)
            assert refused[0].content_type == "application/problem+json" and "streams" in problem["detail"]
            assert refused[0].headers["Retry-After"]
            grown = await _subscribers(r) - before
            assert grown == 1, f"{grown} more subscribed Redis connections with {PER_KEY} streams open"

            itinerary = await asyncio.to_thread(sample_itinerary, base, "pk-other")
            status, offer = await asyncio.to_thread(post, f"{base}/v1/offers", {"itinerary": itinerary}, "pk-other")
            assert status == 201, offer
            start = time.perf_counter()
            status, booking = await asyncio.to_thread(
                post, f"{base}/v1/bookings", {"offer_id": offer["id"], "payment": {"token": "tok_visa"}},
                "pk-other")
            took = time.perf_counter() - start
            print(f"\nanother partner's booking with {PER_KEY} streams open (54 refused): {took * 1000:.0f} ms")
            assert status == 201 and booking["state"] == "CONFIRMED", booking
            assert took < 5.0  # not starved: a booking waiting on an exhausted Redis pool fails after its 10 s timeout

            mine = await asyncio.to_thread(book_on_sample, base, "pk-many")  # every open stream hears it
            events = await asyncio.gather(*[_next_event(s) for s in accepted])
            assert all(mine["id"] in e for e in events)
            for s in streams:
                s.close()
        await r.aclose()
    finally:
        served.stop()
