"""Publishing a feed into a running service: rebuild-and-swap time, and planner latency during a swap.

Figures:
  * publish: unpack + validate + import (``stage``), rebuild today's model and swap (``swap``), total.
  * planner latency (p50/p95/p99) of random station-to-station queries from 2 threads: steady state, during our
    hot swap (the model is built beside the live one, then swapped in one assignment), and during the naive
    baseline measured in the same run: drop the cached models and let the next query rebuild under the lock
    (stop-the-world), the ratio of the two p99s.
Peak RSS at the end.

    .venv/bin/python benchmarks/bench_feed_swap.py [--feed toei-rail|tokyo-rail] [--queries 200]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
from maas.publishing.feed_registry import FeedRegistry  # noqa: E402
from maas.publishing.feed_swap import FeedManager  # noqa: E402
from maas.transit import TOKYO, TransitService  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
FEEDS = {"toei-rail": ("toei-rail-gtfs.zip", "toei"), "tokyo-rail": ("tokyo-rail-gtfs.zip", "tokyo-rail")}
DAY = dt.date(2026, 11, 24)


def pct(xs: list[float]) -> str:
    if not xs:
        return "no samples"
    a = np.asarray(xs) * 1000
    return (f"n {len(a):4d}  p50 {np.percentile(a, 50):8.2f} ms  p95 {np.percentile(a, 95):8.2f} ms  "
            f"p99 {np.percentile(a, 99):8.2f} ms  max {a.max():8.2f} ms")


class Load:
    """Two threads planning random queries until stopped; latencies and errors recorded."""

    def __init__(self, transit: TransitService, pairs: list[tuple[str, str, dt.datetime]]):
        self.transit, self.pairs = transit, pairs
        self.lat: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(2)]

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self._stop.is_set():
            o, d, when = rng.choice(self.pairs)
            t = time.perf_counter()
            try:
                self.transit.plan_sync(o, d, when)
            except ValueError:
                pass  # unroutable pair: a normal answer
            except Exception as exc:  # noqa: BLE001 - what the benchmark counts
                self.errors.append(repr(exc))
            self.lat.append(time.perf_counter() - t)

    def __enter__(self) -> "Load":
        for th in self._threads:
            th.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for th in self._threads:
            th.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feed", choices=sorted(FEEDS), default="toei-rail")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    name, ns = FEEDS[args.feed]
    path = SHARED / name
    if not path.exists():
        raise SystemExit(f"{path} is missing (see /work/shared/data/README.md)")
    data = path.read_bytes()
    t = time.perf_counter()
    feed = load_feed(path, ns)
    print(f"{args.feed}: import {time.perf_counter() - t:.2f} s")
    transit = TransitService(Network([feed]), threads=2)
    t = time.perf_counter()
    model = transit.model_for(DAY)
    print(f"{model.describe()} (first build {time.perf_counter() - t:.2f} s)")
    rng = random.Random(7)
    stations = [s for s in model.stop_ids]
    pairs = [(rng.choice(stations), rng.choice(stations),
              dt.datetime.combine(DAY, dt.time(rng.randrange(6, 22), rng.randrange(60)), TOKYO))
             for _ in range(args.queries)]

    with Load(transit, pairs) as steady:
        time.sleep(max(3.0, min(10.0, args.queries * 0.02)))
    print(f"steady state            {pct(steady.lat)}  errors {len(steady.errors)}")

    with tempfile.TemporaryDirectory() as tmp:
        manager = FeedManager(FeedRegistry(Path(tmp)), transit, clock=lambda: dt.datetime.combine(
            DAY, dt.time(7), TOKYO))
        with Load(transit, pairs) as during:
            time.sleep(0.5)
            t = time.perf_counter()
            out = asyncio.run(manager.publish(ns, data))
            total = time.perf_counter() - t
            time.sleep(0.5)
        assert out.accepted, out.report
        print(f"publish: total {total:.2f} s (stage+validate {total - out.swap_s:.2f} s, rebuild+swap "
              f"{out.swap_s:.2f} s), version {out.version.version}")
        print(f"during hot swap         {pct(during.lat)}  errors {len(during.errors)}")

    # naive baseline: reload in place, stop-the-world (import + validate + rebuild while holding the model lock)
    with Load(transit, pairs) as naive:
        time.sleep(0.5)
        t = time.perf_counter()
        with transit._lock:
            transit.network, transit._models = Network([load_feed(path, ns)]), type(transit._models)()
        transit.model_for(DAY)
        naive_s = time.perf_counter() - t
        time.sleep(0.5)
    print(f"naive stop-the-world    {pct(naive.lat)}  errors {len(naive.errors)} (rebuild {naive_s:.2f} s)")
    if during.lat and naive.lat and steady.lat:
        p99 = lambda xs: float(np.percentile(xs, 99))  # noqa: E731
        print(f"p99 during swap / steady: {p99(during.lat) / p99(steady.lat):.2f}x; "
              f"naive / hot swap: p99 {p99(naive.lat) / p99(during.lat):.2f}x, "
              f"worst query {max(naive.lat) / max(during.lat):.2f}x")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")
    transit.close()


if __name__ == "__main__":
    main()
