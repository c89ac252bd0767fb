"""What crash safety costs and how fast the platform heals.

1. Bookings/s and p50/p99 of the full booking flow on a private Redis with ``appendfsync always`` (checked at start,
   ``durable()`` verifying it) against the same on a Redis without AOF (the volatile baseline): same run, same n,
   rounds alternated after a warm-up, medians compared.
2. Worker replacement: `maas serve --workers 2`, kill -9 one worker, time until a new worker answers /readyz
   (median of ``--kills`` kills), with and without /v1/plan load; failed requests before/after one client retry.

    .venv/bin/python benchmarks/bench_durability.py [--n 300] [--concurrency 16] [--rounds 3] [--kills 3]
                                                    [--skip-workers]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from api_support_http import get, serve, wait_ready  # noqa: E402
from bench_booking import run  # noqa: E402
from redis_support import PrivateRedis  # noqa: E402
from maas.store.redis_store import RedisStore  # noqa: E402

PLAN = "/v1/plan?from=toei-subway:P-tochomae&to=toei-subway:P-shinjuku-nishiguchi&num=1"


async def bookings(url: str, n: int, concurrency: int, allow_volatile: bool) -> dict:
    store = RedisStore.from_url(url, prefix=f"bench:{uuid.uuid4().hex}:")
    await store.check_durability(allow_volatile=allow_volatile)
    try:
        return await run(store, n, concurrency)
    finally:
        await store.aclose()


def booking_figures(tmp: Path, n: int, concurrency: int, rounds: int) -> None:
    """Both Redis servers side by side; a warm-up first, then ``rounds`` alternated runs, medians compared."""
    names = {True: "AOF always (crash-safe)", False: "no AOF (volatile baseline)"}
    with PrivateRedis(tmp / "aof", aof=True) as safe, PrivateRedis(tmp / "volatile", aof=False) as volatile:
        urls = {True: safe.url, False: volatile.url}
        asyncio.run(bookings(urls[False], max(20, n // 10), concurrency, allow_volatile=True))  # warm-up
        runs: dict[bool, list[dict]] = {True: [], False: []}
        for _ in range(rounds):
            for aof in (True, False):
                runs[aof].append(asyncio.run(bookings(urls[aof], n, concurrency, allow_volatile=not aof)))
    med = {}
    for aof in (True, False):
        med[aof] = {k: statistics.median(r[k] for r in runs[aof]) for k in ("per_s", "p50", "p99")}
        print(f"{names[aof]:<30} median of {rounds}: {med[aof]['per_s']:7.1f} bookings/s  "
              f"p50 {med[aof]['p50']:7.1f} ms  p99 {med[aof]['p99']:7.1f} ms")
    print(f"crash safety costs: throughput x{med[True]['per_s'] / med[False]['per_s']:.2f}, "
          f"p50 x{med[True]['p50'] / med[False]['p50']:.2f}, p99 x{med[True]['p99'] / med[False]['p99']:.2f} "
          "(AOF always / volatile)")


def _plan(base: str) -> bool:
    import urllib.request

    req = urllib.request.Request(base + PLAN, headers={"Authorization": "Bearer pk", "Connection": "close"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status == 200
    except OSError:
        return False


def worker_figures(tmp: Path, kills: int) -> None:
    with PrivateRedis(tmp / "workers", aof=True) as redis:
        served = serve(tmp, ["--workers", "2", "--redis", redis.url],
                       {"pk": {"role": "partner", "name": "bench", "rate": 100000, "burst": 100000}})
        try:
            pids = wait_ready(served, pids=2)
            for loaded in (False, True):
                times, sent, failed, failed_retry = [], [0], [0], [0]
                stop = threading.Event()

                def client() -> None:
                    while not stop.is_set():
                        sent[0] += 1
                        if not _plan(served.base):
                            failed[0] += 1
                            for delay in (0.05, 0.1, 0.2):  # a client's retries of an idempotent GET
                                time.sleep(delay)
                                if _plan(served.base):
                                    break
                            else:
                                failed_retry[0] += 1

                threads = [threading.Thread(target=client) for _ in range(4 if loaded else 0)]
                for t in threads:
                    t.start()
                for _ in range(kills):
                    time.sleep(1.0)
                    victim = sorted(pids)[0]
                    t0 = time.monotonic()
                    os.kill(victim, signal.SIGKILL)
                    pids.discard(victim)
                    while True:
                        try:
                            status, body = get(f"{served.base}/readyz", timeout=2)
                            if status == 200 and body["pid"] not in pids and body["pid"] != victim:
                                pids.add(body["pid"])
                                times.append(time.monotonic() - t0)
                                break
                        except OSError:
                            pass
                        time.sleep(0.02)
                    time.sleep(31)  # past STABLE_S: the next kill starts the back-off again (0.2 s)
                stop.set()
                for t in threads:
                    t.join()
                label = "under /v1/plan load (4 clients)" if loaded else "idle"
                print(f"worker replacement {label}: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
                      f"over {kills} kills" + (f"; {sent[0]} requests, {failed[0]} failed on the dead worker's "
                                               f"socket, {failed_retry[0]} after up to 3 retries" if loaded else ""))
        finally:
            served.stop()


def main() -> None:
    logging.getLogger("maas.store").setLevel(logging.ERROR)  # the volatile baseline's warning is expected here
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-workers", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        booking_figures(Path(tmp), a.n, a.concurrency, a.rounds)
        if not a.skip_workers:
            worker_figures(Path(tmp), a.kills)


if __name__ == "__main__":
    main()
