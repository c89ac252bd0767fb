"""End-to-end booking throughput and latency: Redis store and embedded store, against naive baselines.

Each booking is the full flow (3 operator legs: subway, bus, shuttle seat; authorize, 3 tickets, capture, ledger).
Figures: bookings/s at a given concurrency, p50/p95/p99 latency of `book`, peak RSS. Baselines measured in the same
run: (1) the same flow run one booking at a time (no concurrency), (2) seat holds through a naive global lock
(SET NX spin + read-modify-write in Python) instead of the Lua script, (3) offers made the old way, trusting the
client's legs (before issue 10), against offers whose rides the server re-derives from the timetable, (4) booking
records written with a plain SET (last writer wins, as before fencing) instead of the compare-and-set on the
version: the price of fencing.

Server-side leg re-derivation on its own: p50/p99 per leg on the real Toei rail feed (shapes, 100+ stop trips;
../shared/data, skipped when absent) and on the booking test timetable, for legs as the planner returns them.

With Redis, also over HTTP from several processes: `maas serve --workers 2 --redis` and 4 client processes, each
offering and booking a subway journey (no seat limit, so every booking confirms); latency is the POST /v1/bookings
request as the client sees it.

    .venv/bin/python benchmarks/bench_booking.py [--n 400] [--concurrency 32] [--redis-url redis://...] [--legs 5000]
        [--no-http]
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
from maas.itineraries.derive import DerivedItinerary, derive_ride  # noqa: E402
from maas.booking.offers import parse_itinerary  # noqa: E402
from maas.store.base import ReserveResult, free_seats  # noqa: E402
from maas.store.redis_store import RedisStore  # noqa: E402
from operators.base import LegRef  # noqa: E402

DATA = Path(os.environ.get("MAAS_SHARED_DATA", ROOT.parent / "shared" / "data"))


class TrustingTimetable:
    """Baseline: the offer path before issue 10, which took every leg as the client sent it (trip, sequences,
    times, distance) and priced and held exactly that."""

    async def derive(self, rides, today):
        return DerivedItinerary([_Trusted(LegRef(
            index=r.index, operator=r.operator, mode=r.mode, trip_id=r.trip_id, route_id=r.route_id or "",
            service_date=r.service_date.isoformat(), from_stop=r.board.stop_id, to_stop=r.alight.stop_id,
            from_seq=r.board.sequence, to_seq=r.alight.sequence, departure=r.departure, arrival=r.arrival,
            distance_m=r.distance_m or 0)) for r in rides], [])

    async def recheck(self, legs, today):
        return None  # the old path booked whatever the offer held


class _Trusted:
    def __init__(self, leg: LegRef):
        self.leg = leg


class UnfencedStore(RedisStore):
    """Baseline: booking records overwritten with a plain SET (no version check), as before fencing."""

    async def replace_versioned(self, key, value, expected_version):
        return await self.set(key, value)


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


async def run(store, n: int, concurrency: int, trusting: bool = False) -> dict:
    svc = make_service(store, Clock(), seats=n + 10, idempotency_wait_s=120)
    if trusting:
        svc.timetable = TrustingTimetable()
    it = itinerary(subway_leg(), bus_leg(), shuttle_leg())
    sem = asyncio.Semaphore(concurrency)
    offer_lat: list[float] = []

    async def offer(i):
        async with sem:
            s = time.perf_counter()
            o = await svc.create_offer(it, {"adult": 1}, f"o{i}", f"u{i}")
            offer_lat.append(time.perf_counter() - s)
            return o

    t0 = time.perf_counter()
    offers = await asyncio.gather(*[offer(i) for i in range(n)])
    offer_s = time.perf_counter() - t0
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
            "p99": pct(lat, 99) * 1e3, "mean": statistics.fmean(lat) * 1e3, "offers_per_s": n / offer_s,
            "offer_p50": pct(offer_lat, 50) * 1e3, "offer_p99": pct(offer_lat, 99) * 1e3,
            "journeys_per_s": n / (wall + offer_s)}


async def http_processes(redis_url: str, n: int, procs: int = 4, conc: int = 16) -> None:
    """Bookings over HTTP from ``procs`` client processes against two server workers sharing Redis."""
    import datetime as dt
    import json
    import tempfile

    from api_support_http import get, serve, wait_ready
    from redis_support import serve_redis_args
    from test_booking_processes import run_clients

    prefix = f"bench:{uuid.uuid4().hex}:"
    os.environ["MAAS_REDIS_PREFIX"] = prefix  # the server's booking keys, dropped at the end
    keys = {"pk-bench": {"role": "partner", "name": "bench", "rate": 1000000, "burst": 1000000}}
    with tempfile.TemporaryDirectory() as d:
        served = serve(Path(d), ["--workers", "2", *serve_redis_args(redis_url)], keys)
        try:
            wait_ready(served, timeout=180, pids=2)
            base = served.base
            jst = dt.timezone(dt.timedelta(hours=9))
            when = (dt.datetime.now(jst) + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
            status, body = get(f"{base}/v1/plan?from=toei-subway:P-nishi-magome&to=toei-subway:P-asakusa"
                               f"&depart_at={when.isoformat().replace('+', '%2B')}&num=1", "pk-bench")
            its = [it for it in body.get("itineraries", []) if all(leg["mode"] in ("WALK", "SUBWAY")
                                                                  for leg in it["legs"])
                   and any(leg["mode"] == "SUBWAY" for leg in it["legs"])]
            if status != 200 or not its:
                print(f"HTTP run skipped: no subway itinerary in the sample ({status})")
                return
            per = max(1, n // procs)
            t0 = time.perf_counter()
            res = run_clients(base, "book", json.dumps(its[0]), procs=procs, count=per, conc=conc, key="pk-bench")
            wall = time.perf_counter() - t0
            ok = [r for r in res if r["status"] == 201]
            lat = [r["ms"] for r in ok]
            if not ok:
                print("HTTP run: no booking confirmed:", {(r["status"], r.get("code")) for r in res})
                return
            print(f"{'HTTP, 4 client procs -> 2 workers':<38} {len(ok) / wall:8.0f} bookings/s  "
                  f"p50 {pct(lat, 50):6.2f} ms  p95 {pct(lat, 95):6.2f} ms  p99 {pct(lat, 99):6.2f} ms  "
                  f"(n={len(res)}, {procs}x{conc} in flight, offers included in wall time; "
                  f"{len(res) - len(ok)} not confirmed)")
        finally:
            served.stop()
            os.environ.pop("MAAS_REDIS_PREFIX", None)
            await drop_test_store(RedisStore.from_url(redis_url, prefix=prefix))


def show(name: str, r: dict) -> None:
    print(f"{name:<38} {r['per_s']:8.0f} bookings/s  p50 {r['p50']:6.2f} ms  p95 {r['p95']:6.2f} ms  "
          f"p99 {r['p99']:6.2f} ms  (n={r['n']}, concurrency={r['conc']}; offers {r['offers_per_s']:.0f}/s, "
          f"offer p50 {r['offer_p50']:.2f} ms p99 {r['offer_p99']:.2f} ms; offer+book {r['journeys_per_s']:.0f}/s)")


def planner_like_rides(model, n: int, seed: int = 1) -> list:
    """``n`` rides as the planner would describe them (every claim filled in from ``ride_leg``), on random trips
    of ``model`` between random positions: what a client sends back to be re-derived."""
    import random

    from routing.itinerary import ride_leg
    from routing.raptor import RideLeg

    rng = random.Random(seed)
    today = [t for t in range(model.n_trips) if int(model.trip_day_offset[t]) == 0]
    out = []
    while len(out) < n:
        t = rng.choice(today)
        off, k = model.trip_times_offset(t)
        if k < 2:
            continue
        b = rng.randrange(0, k - 1)
        a = rng.randrange(b + 1, k)
        if not (model.st_pickup[off + b] and model.st_dropoff[off + a]):
            continue
        p = int(model.trip_pattern[t])
        stops = model.pattern_stops[model.pattern_stops_start[p]:]
        leg = ride_leg(model, RideLeg(p, t, b, a, int(stops[b]), int(stops[a]),
                                      int(model.departures_of_trip(t)[b]),
                                      int(model.st_arr[off + a]))).to_dict()
        out.append(parse_itinerary({"legs": [leg]})[0])
    return out


def bench_derivation(name: str, model, n: int) -> None:
    """p50/p99 of re-deriving one leg (``derive_ride``), against parsing it alone (the old path's whole cost)."""
    rides = planner_like_rides(model, n)
    for r in rides[:50]:  # warm the trip index and shape cuts as a running server has them
        derive_ride(model, r)
    lat, cpu = [], []
    for r in rides:
        t, c = time.perf_counter(), time.thread_time()
        derive_ride(model, r)
        cpu.append(time.thread_time() - c)
        lat.append(time.perf_counter() - t)
    legs = [{"legs": [{"mode": r.mode, "trip_id": r.trip_id, "service_date": r.service_date.isoformat(),
                       "from": {"sequence": r.board.sequence, "stop_id": r.board.stop_id},
                       "to": {"sequence": r.alight.sequence, "stop_id": r.alight.stop_id}}]} for r in rides]
    parse = []
    for it in legs:
        t = time.perf_counter()
        parse_itinerary(it)
        parse.append(time.perf_counter() - t)
    print(f"leg re-derivation, {name}: {len(lat)} legs  wall p50 {pct(lat, 50) * 1e6:.0f} us  "
          f"p99 {pct(lat, 99) * 1e6:.0f} us  max {max(lat) * 1e6:.0f} us; thread CPU p50 {pct(cpu, 50) * 1e6:.0f} us "
          f"p99 {pct(cpu, 99) * 1e6:.0f} us  (parsing only: p50 {pct(parse, 50) * 1e6:.0f} us, p99 "
          f"{pct(parse, 99) * 1e6:.0f} us)  {'OK' if pct(cpu, 99) < 1e-3 else 'OVER'} the 1 ms p99 target (CPU; "
          f"wall also counts other processes on this machine)")


def derivation_benchmarks(n: int) -> None:
    import datetime as dt

    from booking_support import booking_transit

    bench_derivation("booking test timetable", booking_transit().model_for(dt.date(2026, 11, 24)), n)
    path = DATA / "toei-rail-gtfs.zip"
    if not path.exists():
        print(f"{path} not found: the real-feed leg figures are skipped")
        return
    from feeds.feed import Network
    from feeds.gtfs import load_feed
    from routing.timetable import build_model

    model = build_model(Network([load_feed(path, "toei-subway")]), dt.date(2026, 11, 24))
    bench_derivation(f"Toei rail ({model.n_trips} trips)", model, n)


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
    ap.add_argument("--legs", type=int, default=5000, help="legs to re-derive for the per-leg figures")
    ap.add_argument("--only-offers", action="store_true", help="leg re-derivation and trusting/derived only")
    ap.add_argument("--no-http", dest="http", action="store_false", help="skip the multi-process HTTP run")
    a = ap.parse_args()
    derivation_benchmarks(a.legs)
    results = {}
    rounds: dict[bool, list[dict]] = {True: [], False: []}
    for _ in range(3):  # before/after issue 10 in one run, alternated so a busy machine hits both alike
        for trusting in (True, False):
            store = await open_test_store("embedded")
            r = await run(store, a.n, a.concurrency, trusting=trusting)
            rounds[trusting].append(r)
            show("embedded, offers " + ("trusting client legs (old)" if trusting else "derived from timetable"), r)
            await drop_test_store(store)

    def med(trusting: bool, key: str) -> float:
        return statistics.median(r[key] for r in rounds[trusting])
    print("ratio derived / trusting (medians of 3 alternated rounds): "
          + ", ".join(f"{label} {med(False, key) / med(True, key):.2f}x" for label, key in (
              ("offers/s", "offers_per_s"), ("bookings/s", "per_s"), ("offer+book/s", "journeys_per_s"),
              ("offer p50", "offer_p50"), ("book p50", "p50"))))
    if a.only_offers:
        return
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
        store = UnfencedStore.from_url(a.redis_url, prefix=f"bench:{uuid.uuid4().hex}:")
        unfenced = await run(store, a.n, a.concurrency)
        show("redis, unfenced record writes (SET)", unfenced)
        await drop_test_store(store)
        fenced = results[("redis", a.concurrency)]
        print(f"ratio fenced (CAS) / unfenced writes: {fenced['per_s'] / unfenced['per_s']:.2f}x throughput, "
              f"p99 {fenced['p99'] / unfenced['p99']:.2f}x")
        store = NaiveLockStore.from_url(a.redis_url, prefix=f"bench:{uuid.uuid4().hex}:")
        naive = await run(store, a.n, a.concurrency)
        show("redis, naive global-lock seat holds", naive)
        await drop_test_store(store)
        lua = results[("redis", a.concurrency)]
        print(f"ratio Lua seat holds / naive lock: {lua['per_s'] / naive['per_s']:.2f}x throughput, "
              f"p99 {naive['p99'] / lua['p99']:.2f}x lower")
    if a.http and ("redis", a.concurrency) in results:
        await http_processes(a.redis_url, n=a.n)
    for kind in ("embedded", "redis"):
        if (kind, a.concurrency) in results and (kind, 1) in results:
            print(f"ratio {kind} concurrent / one-at-a-time: "
                  f"{results[(kind, a.concurrency)]['per_s'] / results[(kind, 1)]['per_s']:.2f}x")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
