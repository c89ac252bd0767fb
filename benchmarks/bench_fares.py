"""The cost of prices in plans: pricing a plan's itineraries (3 per query) against planning them, same queries.

    .venv/bin/python benchmarks/bench_fares.py [--queries 300] [--sample]

Network: the official Toei rail feed (GTFS fares v1: 11,271 origin–destination pairs) and Tokyo Metro with its
distance fares and the Toei ↔ Metro transfer discount as Fares v2 data (tests/data/tokyo-metro-fares), or the
built-in sample (`--sample`, or when ../shared/data is absent). Prints p50/p95/p99 of the plan (RAPTOR +
itinerary JSON) and of pricing its itineraries for adult:1,child:1 (IC and ticket alternately), the ratio of medians (aim:
pricing < 10 % of planning), how many itineraries got a fare, and the one-off cost of the first pricing (the v1
rule index is built then).
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import io
import os
import random
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("MAAS_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATE = dt.date(2026, 12, 1)
TOKYO = dt.timezone(dt.timedelta(hours=9))

from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
from maas.pricing.plan_fares import PlanFares  # noqa: E402
from maas.transit import TransitService  # noqa: E402
from operators.base import Passengers  # noqa: E402
from operators.catalog import FeedCatalog  # noqa: E402
from routing.planner import PlanOptions  # noqa: E402


def metro_with_fares(tmp: Path) -> Path:
    out = tmp / "tokyo-metro-with-fares.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(DATA / "tokyo-metro-gtfs.zip") as src, zipfile.ZipFile(buf, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        for f in (ROOT / "tests" / "data" / "tokyo-metro-fares").glob("*.txt"):
            dst.writestr(f.name, f.read_bytes())
    out.write_bytes(buf.getvalue())
    return out


def network(sample: bool, tmp: Path) -> Network:
    if sample or not (DATA / "toei-train-official-gtfs.zip").exists():
        from feeds.sample import sample_feed_paths

        return Network([load_feed(p, ns) for ns, p in sample_feed_paths().items()])
    return Network([load_feed(DATA / "toei-train-official-gtfs.zip", "toei-subway"),
                    load_feed(metro_with_fares(tmp), "tokyo-metro")])


def pct(xs: list[float]) -> str:
    a = np.asarray(xs) * 1000
    return (f"p50 {np.percentile(a, 50):8.3f} ms  p95 {np.percentile(a, 95):8.3f} ms  "
            f"p99 {np.percentile(a, 99):8.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--sample", action="store_true")
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        net = network(args.sample, Path(tmp))
    transit = TransitService(net, threads=1)
    model = transit.model_for(DATE)
    catalog = {op: s.fares for op, s in FeedCatalog(lambda: net.feeds)().items()}
    stations = [model.stop_ids[i] for i in range(len(model.stop_ids)) if model.stop_ids[i].count(":") >= 1]
    rng = random.Random(7)
    riders = Passengers(1, 1)
    options = PlanOptions(num_itineraries=3)
    plan_t, price_t, priced, total, legs = [], [], 0, 0, 0
    fares = PlanFares()  # as the service: one for every request
    first = None
    for _ in range(args.queries):
        a, b = rng.sample(stations, 2)
        when = dt.datetime.combine(DATE, dt.time(rng.randrange(7, 20), rng.randrange(60)), TOKYO)
        t0 = time.perf_counter()
        try:
            its = transit.plan_sync(a, b, when, options=options)
        except ValueError:
            continue
        t1 = time.perf_counter()
        if not its:
            continue
        work = copy.deepcopy(its)
        medium = "ic" if len(plan_t) % 2 else "ticket"  # as the API: one medium per request, both measured
        t2 = time.perf_counter()
        fares.add(catalog, work, riders, medium)
        t3 = time.perf_counter()
        if first is None:
            first = t3 - t2
            continue  # the first pricing builds the v1 rule index: reported apart
        plan_t.append(t1 - t0)
        price_t.append(t3 - t2)
        total += len(work)
        priced += sum(it["fare"] is not None for it in work)
        legs += sum(len(it["legs"]) for it in work)
    transit.close()
    print(f"network: {', '.join(f.namespace for f in net.feeds)}; {len(plan_t)} plans of up to 3 itineraries "
          f"({total} itineraries, {legs} legs), riders adult:1,child:1, ic and ticket alternately")
    print(f"plan (RAPTOR + JSON)          {pct(plan_t)}")
    print(f"price its itineraries          {pct(price_t)}")
    ratio = np.median(price_t) / np.median(plan_t)
    print(f"pricing / planning, medians: {ratio:.1%} (aim < 10 %); p99 ratio "
          f"{np.percentile(price_t, 99) / np.percentile(plan_t, 99):.1%}")
    print(f"itineraries with a fare: {priced}/{total}; first pricing (builds the v1 index): {first * 1000:.1f} ms")


if __name__ == "__main__":
    main()
