"""Planner throughput across threads, and that routing stays off the event loop (Toei rail, stop to stop).

    .venv/bin/python benchmarks/bench_parallel.py [--queries 1000] [--threads 2] [--concurrency 16]

Prints queries/s for the same seeded queries run (1) serially, (2) in a ThreadPoolExecutor (the RAPTOR kernel is
numba nogil, so threads overlap while it runs), (3) through `TransitService.plan` from an asyncio loop with a
bounded number in flight, while a 1 ms asyncio ticker records how late it wakes up (event-loop lag). The naive
baseline is the same load calling the planner directly on the event loop: the ticker's lag then shows what a
blocking route computation does to every other request.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("MAAS_SHARED_DATA", ROOT.parent / "shared" / "data"))

from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
from maas.transit import TransitService  # noqa: E402
from routing.planner import Planner  # noqa: E402
from routing.raptor import RaptorQuery, run_raptor  # noqa: E402

JST = dt.timezone(dt.timedelta(hours=9))
DATE = dt.date(2026, 12, 1)
TICK_S = 0.001

Query = tuple[str, str, dt.datetime]


def make_queries(stop_ids: list[str], n: int, seed: int) -> list[Query]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(stop_ids), n)
    b = (a + rng.integers(1, len(stop_ids), n)) % len(stop_ids)  # never the same stop
    t = rng.integers(6 * 3600, 21 * 3600, n)
    base = dt.datetime.combine(DATE, dt.time(), tzinfo=JST)
    return [(stop_ids[i], stop_ids[j], base + dt.timedelta(seconds=int(s))) for i, j, s in zip(a, b, t)]


def pct(seconds: list[float]) -> str:
    a = np.asarray(seconds) * 1000
    return f"p50 {np.percentile(a, 50):7.2f} ms  p95 {np.percentile(a, 95):7.2f} ms  p99 {np.percentile(a, 99):7.2f} ms"


class TimedPlanner(Planner):
    """The planner with the time spent in its RAPTOR searches (kernel + Pareto journeys) summed: the part of a
    query that can release the GIL is at most this share. Single-threaded use only."""

    def __init__(self, model, walker):
        super().__init__(model, walker)
        self.search_s = 0.0

    def _ranges(self, *a, **kw):
        t = time.perf_counter()
        try:
            return super()._ranges(*a, **kw)
        finally:
            self.search_s += time.perf_counter() - t


def serial(planner: Planner, queries: list[Query]) -> tuple[float, list[float], int]:
    lat, found = [], 0
    t0 = time.perf_counter()
    for o, d, w in queries:
        t = time.perf_counter()
        found += bool(planner.plan(o, d, w))
        lat.append(time.perf_counter() - t)
    return time.perf_counter() - t0, lat, found


def threaded(planner: Planner, queries: list[Query], threads: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        found = sum(bool(r) for r in pool.map(lambda q: planner.plan(*q), queries))
    return time.perf_counter() - t0, found


def kernel_only(planner: Planner, queries: list[Query], threads: int) -> tuple[float, float]:
    """Seconds for one bare RAPTOR search per query (no journeys, no itineraries), serially and in threads."""
    m = planner.model
    rq = [RaptorQuery(np.array([m.stop_index(o)], np.int32), np.array([planner.model_seconds(w)], np.int64),
                      np.array([m.stop_index(d)], np.int32), np.zeros(1, np.int64), max_rides=5)
          for o, d, w in queries]
    run_raptor(m, rq[0])

    def search(chunk: list[RaptorQuery]) -> None:
        for q in chunk:
            run_raptor(m, q)

    t0 = time.perf_counter()
    search(rq)
    serial_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:  # one chunk per thread: no per-task overhead
        list(pool.map(search, [rq[i::threads] for i in range(threads)]))
    return serial_s, time.perf_counter() - t0


def throughput(name: str, planner: Planner, queries: list[Query], threads: int, seed: int) -> int:
    """Serial vs thread-pool queries/s for the same queries, with the share of time the GIL can be released."""
    n = len(queries)
    timed = TimedPlanner(planner.model, planner.walker)
    s_elapsed, s_lat, s_found = serial(timed, queries)
    print(f"\n{name}: {n} stop-to-stop Planner.plan calls (seed {seed}, 06:00-21:00, 3 itineraries each; "
          f"{s_found} with itineraries)")
    print(f"serial                         {n / s_elapsed:7.1f} queries/s   per query {pct(s_lat)}")
    print(f"  RAPTOR searches (numba kernel, GIL released, + Pareto journey rebuild) take "
          f"{100 * timed.search_s / sum(s_lat):.0f}% of Planner.plan; the rest (itinerary legs, shapes, JSON-ready "
          f"strings) holds the GIL")
    t_elapsed, t_found = threaded(planner, queries, threads)
    assert t_found == s_found, "threads must give the same answers"
    print(f"ThreadPoolExecutor({threads})          {n / t_elapsed:7.1f} queries/s   "
          f"speed-up {s_elapsed / t_elapsed:.2f}x over serial")
    k_serial, k_threads = kernel_only(planner, queries, threads)
    print(f"RAPTOR search alone (run_raptor): serial {n / k_serial:7.1f} queries/s, {threads} threads "
          f"{n / k_threads:7.1f} queries/s, speed-up {k_serial / k_threads:.2f}x")
    return s_found


class Ticker:
    """Sleeps 1 ms in a loop and records how late each wake-up is: the event loop's responsiveness."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.lags.append(time.perf_counter() - t - TICK_S)

    def stop(self) -> None:
        self._stop.set()

    def summary(self) -> str:
        a = np.asarray(self.lags) * 1000
        return (f"{len(a)} ticks, lag p50 {np.percentile(a, 50):.2f} ms, p99 {np.percentile(a, 99):.2f} ms, "
                f"max {a.max():.2f} ms")


async def with_ticker(work) -> tuple[float, Ticker, object]:
    ticker = Ticker()
    task = asyncio.create_task(ticker.run())
    await asyncio.sleep(0.05)  # let the ticker start
    t0 = time.perf_counter()
    result = await work()
    elapsed = time.perf_counter() - t0
    ticker.stop()
    await task
    return elapsed, ticker, result


async def via_service(service: TransitService, queries: list[Query], concurrency: int) -> int:
    sem = asyncio.Semaphore(concurrency)

    async def one(q: Query) -> bool:
        async with sem:
            return bool(await service.plan(*q))

    return sum(await asyncio.gather(*(one(q) for q in queries)))


async def on_the_loop(service: TransitService, queries: list[Query], concurrency: int) -> int:
    """The naive way: the same coroutines, but each computes its route on the event loop thread."""
    sem = asyncio.Semaphore(concurrency)

    async def one(q: Query) -> bool:
        async with sem:
            await asyncio.sleep(0)
            return bool(service.plan_sync(*q))

    return sum(await asyncio.gather(*(one(q) for q in queries)))


async def idle() -> None:
    await asyncio.sleep(1.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--tokyo-queries", type=int, default=300, help="all-Tokyo rail comparison (0: skip)")
    args = ap.parse_args()
    feed = DATA / "toei-rail-gtfs.zip"
    if not feed.exists():
        sys.exit(f"{feed} not found: the shared data folder is absent")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (the machine is shared: figures are noisy)")

    service = TransitService(Network([load_feed(feed, "toei")]), threads=args.threads)
    t = time.perf_counter()
    planner = service.planner_for(DATE)
    print(f"Toei rail model built in {time.perf_counter() - t:.2f} s: {planner.model.describe()}")
    queries = make_queries(planner.model.stop_ids, args.queries, args.seed)
    t = time.perf_counter()
    planner.plan(*queries[0])  # numba: compile or load from the cache
    print(f"first plan (numba compile or cache load) {time.perf_counter() - t:.2f} s")

    s_found = throughput("Toei rail", planner, queries, args.threads, args.seed)

    n = len(queries)

    async def scenario() -> None:
        _, idle_ticker, _ = await with_ticker(idle)
        print(f"\nevent loop idle (1 s)          {idle_ticker.summary()}")
        a_elapsed, a_ticker, a_found = await with_ticker(lambda: via_service(service, queries, args.concurrency))
        assert a_found == s_found
        print(f"TransitService.plan, {args.concurrency} in flight, {args.threads} planner threads: "
              f"{n / a_elapsed:.1f} queries/s")
        print(f"  ticker during the load        {a_ticker.summary()}")
        b_elapsed, b_ticker, b_found = await with_ticker(lambda: on_the_loop(service, queries, args.concurrency))
        assert b_found == s_found
        print(f"baseline: planner called on the event loop: {n / b_elapsed:.1f} queries/s")
        print(f"  ticker during the load        {b_ticker.summary()}")
        print(f"max-lag ratio on-loop / TransitService: {max(b_ticker.lags) / max(a_ticker.lags):.0f}x; "
              f"ticks served during the load: {len(a_ticker.lags)} vs {len(b_ticker.lags)}")

    asyncio.run(scenario())
    service.close()
    big = DATA / "tokyo-rail-gtfs.zip"
    if args.tokyo_queries and big.exists():  # a network where one search costs milliseconds, not microseconds
        t = time.perf_counter()
        tokyo = TransitService(Network([load_feed(big, "tokyo")]), threads=args.threads)
        planner = tokyo.planner_for(DATE)
        print(f"\nall-Tokyo rail model built in {time.perf_counter() - t:.1f} s: {planner.model.describe()}")
        tq = make_queries(planner.model.stop_ids, args.tokyo_queries, args.seed)
        planner.plan(*tq[0])
        throughput("all-Tokyo rail", planner, tq, args.threads, args.seed)
        tokyo.close()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
