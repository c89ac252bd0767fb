"""End-to-end booking throughput and latency: Redis store and embedded store, against naive baselines.

Each booking is the full flow (3 operator legs: subway, bus, shuttle seat; authorize, 3 tickets, capture, ledger).
Figures: bookings/s at a given concurrency, p50/p95/p99 latency of `book`, peak RSS. Baselines measured in the same
run: (1) the same flow run one booking at a time (no concurrency), (2) seat holds through a naive global lock
(SET NX spin + read-modify-write in Python) instead of the Lua script.

    .venv/bin/python benchmarks/bench_booking.py [--n 400] [--concurrency 32] [--redis-url redis://...]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from booking_support import (GOOD_CARD, SHUTTLE, SHUTTLE_TRIP, Clock, bus_leg, drop_test_store,  # noqa: E402
                             itinerary, make_service, open_test_store, shuttle_leg, subway_leg)
from maas.store.base import ReserveResult, free_seats  # noqa: E402
from maas.store.redis_store import RedisStore  # noqa: E402


class NaiveLockStore(RedisStore):
    """Baseline: seat holds under one global lock with the check done client-side (what Lua replaces)."""

    async def reserve_seats(self, resource, capacity, start, end, count, hold_id, expires_at, now):
        lock, token = self._k("naive-lock:" + resource), uuid.uuid4().hex
        while not await self.r.set(lock, token, nx=True, px=5000):
            await asyncio.sleep(0.001)
        try:
            holds = await self.seat_holds(resource)
            if any(h.hold_id == hold_id for h in holds):
                return ReserveResult(True, free_seats(holds, capacity, start, end, now), True)
            avail = free_seats(holds, capacity, start, end, now)
            if avail < count:
                return ReserveResult(False, max(avail, 0))
            await self.r.hset(self._seat_key(resource), hold_id, f"{start},{end},{count},{expires_at!r}")
            return ReserveResult(True, avail - count)
        finally:
            await self._delete_if(keys=[lock], args=[token])


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def run(store, n: int, concurrency: int) -> dict:
    svc = make_service(store, Clock(), seats=n + 10, idempotency_wait_s=120)
    it = itinerary(subway_leg(), bus_leg(), shuttle_leg())
    t0 = time.perf_counter()
    offers = await asyncio.gather(*[svc.create_offer(it, {"adult": 1}, f"o{i}", f"u{i}") for i in range(n)])
    offer_s = time.perf_counter() - t0
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []

    async def one(i):
        async with sem:
            s = time.perf_counter()
            b = await svc.book(offers[i]["id"], GOOD_CARD, f"b{i}", f"u{i}")
            lat.append(time.perf_counter() - s)
            return b["state"]

    t0 = time.perf_counter()
    states = await asyncio.gather(*[one(i) for i in range(n)])
    wall = time.perf_counter() - t0
    assert states.count("CONFIRMED") == n, "every booking must confirm"
    await svc.ledger.check_balanced()
    holds = await store.seat_holds(f"{SHUTTLE}|2026-11-24|{SHUTTLE_TRIP}")
    assert sum(h.count for h in holds) == n
    return {"n": n, "conc": concurrency, "per_s": n / wall, "p50": pct(lat, 50) * 1e3, "p95": pct(lat, 95) * 1e3,
            "p99": pct(lat, 99) * 1e3, "mean": statistics.fmean(lat) * 1e3, "offers_per_s": n / offer_s}


def show(name: str, r: dict) -> None:
    print(f"{name:<38} {r['per_s']:8.0f} bookings/s  p50 {r['p50']:6.2f} ms  p95 {r['p95']:6.2f} ms  "
          f"p99 {r['p99']:6.2f} ms  (n={r['n']}, concurrency={r['conc']}; offers {r['offers_per_s']:.0f}/s)")


async def redis_ok(url: str) -> bool:
    try:
        s = RedisStore.from_url(url)
        await s.r.ping()
        info = await s.r.info("persistence")
        cfg = await s.r.config_get("appendfsync")
        print(f"Redis {url}: aof_enabled={info.get('aof_enabled')} appendfsync={cfg.get('appendfsync')}")
        await s.aclose()
        return True
    except Exception as err:  # noqa: BLE001 - any failure means: no Redis to measure
        print(f"Redis at {url} unreachable ({err}); Redis figures skipped")
        return False


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--redis-url", default=os.environ.get("MAAS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    a = ap.parse_args()
    results = {}
    for kind in ("embedded", "redis"):
        if kind == "redis" and not await redis_ok(a.redis_url):
            continue
        for conc in (a.concurrency, 1):
            store = await open_test_store(kind, a.redis_url)
            results[(kind, conc)] = r = await run(store, a.n if conc > 1 else max(50, a.n // 4), conc)
            show(f"{kind} store, concurrency {conc}", r)
            await drop_test_store(store)
        if kind == "embedded":
            import tempfile

            with tempfile.TemporaryDirectory() as d:  # durable file: WAL + synchronous=FULL, an fsync per write
                store = await open_test_store("embedded", sqlite_path=f"{d}/s.sqlite3")
                show("embedded store on SQLite file (fsync)", await run(store, max(50, a.n // 4), a.concurrency))
                await store.aclose()
    if ("redis", a.concurrency) in results:
        store = NaiveLockStore.from_url(a.redis_url, prefix=f"bench:{uuid.uuid4().hex}:")
        naive = await run(store, a.n, a.concurrency)
        show("redis, naive global-lock seat holds", naive)
        await drop_test_store(store)
        lua = results[("redis", a.concurrency)]
        print(f"ratio Lua seat holds / naive lock: {lua['per_s'] / naive['per_s']:.2f}x throughput, "
              f"p99 {naive['p99'] / lua['p99']:.2f}x lower")
    for kind in ("embedded", "redis"):
        if (kind, a.concurrency) in results and (kind, 1) in results:
            print(f"ratio {kind} concurrent / one-at-a-time: "
                  f"{results[(kind, a.concurrency)]['per_s'] / results[(kind, 1)]['per_s']:.2f}x")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
