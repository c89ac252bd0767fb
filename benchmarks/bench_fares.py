"""The cost of prices in plans: pricing a plan's itineraries (3 per query) against planning them, same queries.

    .venv/bin/python benchmarks/bench_fares.py [--queries 300] [--sample]

Network: the official Toei rail feed (GTFS fares v1: 11,271 origin–destination pairs) and Tokyo Metro with its
distance fares and the Toei ↔ Metro transfer discount as Fares v2 data (tests/data/tokyo-metro-fares), or the
built-in sample (`--sample`, or when ../shared/data is absent). Prints p50/p95/p99 of the plan (RAPTOR +
itinerary JSON) and of pricing its itineraries for adult:1,child:1 (IC and ticket alternately), the ratio of medians (aim:
pricing < 10 % of planning), how many itineraries got a fare, and the one-off cost of the first pricing (the v1
rule index is built then).

``--old-commit C``: also the plan path's fares as ``maas/pricing/plan_fares.py`` at commit C has them, on the same
itineraries in this process (its own memo), old and new alternating per plan, in thread CPU: first sight of each
journey, then the same plans again (memo hits); the answers compared exactly.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import importlib.util
import io
import subprocess
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


def old_plan_fares(commit: str, tmp: Path):
    """``maas/pricing/plan_fares.py`` at ``commit`` as a module of its own (it imports the engine of this tree)."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:maas/pricing/plan_fares.py"],
                         capture_output=True, text=True, check=True).stdout
    path = tmp / "old_plan_fares.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("old_plan_fares", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def compare(old_mod, commit: str, catalog: dict, plans: list, riders: Passengers) -> None:
    """Old and new plan fares on the same plans, alternating per plan, thread CPU: a first pass (each journey
    seen for the first time, as far as the memo holds them) and a second (the same plans again)."""
    from api.respond import dumps

    memos = {"old": old_mod.PlanFares(), "new": PlanFares()}
    for n_pass in (1, 2):
        t: dict[str, list[float]] = {"old": [], "new": []}
        same = 0
        for i, (its, medium) in enumerate(plans):
            work = {k: copy.deepcopy(its) for k in memos}
            for k in (("old", "new") if i % 2 else ("new", "old")):
                c = time.thread_time()
                memos[k].add(catalog, work[k], riders, medium)
                t[k].append(time.thread_time() - c)
            same += dumps(work["old"]) == dumps(work["new"])
        o, n = np.asarray(t["old"]) * 1e6, np.asarray(t["new"]) * 1e6
        print(f"pass {n_pass} ({'first sight' if n_pass == 1 else 'the same plans again'}): plan fares thread CPU "
              f"per plan {commit} p50 {np.median(o):.1f} us mean {o.mean():.1f} us; this tree p50 {np.median(n):.1f} "
              f"us mean {n.mean():.1f} us; old/new p50 {np.median(o) / np.median(n):.2f}x mean "
              f"{o.mean() / n.mean():.2f}x; answers identical {same}/{len(plans)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--sample", action="store_true")
    ap.add_argument("--old-commit", default="", help="also the plan fares of this commit, same itineraries")
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        net = network(args.sample, Path(tmp))
        old_mod = old_plan_fares(args.old_commit, Path(tmp)) if args.old_commit else None
    kept: list = []  # (itineraries, medium) per plan, for --old-commit
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
        kept.append((its, medium))
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
    if old_mod is not None:
        compare(old_mod, args.old_commit, catalog, kept, riders)


if __name__ == "__main__":
    main()
