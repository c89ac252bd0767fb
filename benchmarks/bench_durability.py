"""What crash safety costs and how fast the platform heals.

1. Bookings/s and p50/p99 of the full booking flow on a private Redis with ``appendfsync always`` (checked at start,
   ``durable()`` verifying it) against the same on a Redis without AOF (the volatile baseline), same run, same n.
2. Worker replacement: `maas serve --workers 2`, kill -9 one worker, time until a new worker answers /readyz
   (median of ``--kills`` kills), with and without /v1/plan load; failed requests before/after one client retry.

    .venv/bin/python benchmarks/bench_durability.py [--n 300] [--concurrency 16] [--kills 3] [--skip-workers]
"""
from __future__ import annotations

import argparse
import asyncio
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
from bench_booking import run, show  # noqa: E402
from redis_support import PrivateRedis  # noqa: E402
from maas.store.redis_store import RedisStore  # noqa: E402

PLAN = "/v1/plan?from=toei-subway:P-tochomae&to=toei-subway:P-shinjuku-nishiguchi&num=1"


async def bookings(url: str, n: int, concurrency: int, allow_volatile: bool) -> dict:
    store = RedisStore.from_url(url, prefix=f"bench:{uuid.uuid4().hex}:")
    p = await store.check_durability(allow_volatile=allow_volatile)
    print(f"  {p.explain()} -> durable() mode {p.mode}")
    try:
        return await run(store, n, concurrency)
    finally:
        await store.aclose()


def booking_figures(tmp: Path, n: int, concurrency: int) -> None:
    results = {}
    for name, aof in (("AOF always (crash-safe)", True), ("no AOF (volatile baseline)", False)):
        with PrivateRedis(tmp / name.split()[0], aof=aof) as redis:
            results[name] = asyncio.run(bookings(redis.url, n, concurrency, allow_volatile=not aof))
            show(name, results[name])
    safe, volatile = results["AOF always (crash-safe)"], results["no AOF (volatile baseline)"]
    print(f"crash safety costs: throughput x{safe['per_s'] / volatile['per_s']:.2f}, "
          f"p99 x{safe['p99'] / volatile['p99']:.2f} (AOF always / volatile)")


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
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--skip-workers", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        booking_figures(Path(tmp), a.n, a.concurrency)
        if not a.skip_workers:
            worker_figures(Path(tmp), a.kills)


if __name__ == "__main__":
    main()
