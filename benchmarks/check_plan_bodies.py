"""Plan response bodies of this tree against those of an older commit, byte for byte: the same queries (Toei and
all-Tokyo by default, depart-at and arrive-by) planned the way /v1/plan does (`TransitService.plan_sync`, fares by
the fare engine for two rider/medium mixes, the page cursors, English names on every other query, the body
encoded by `api.respond.dumps`), each plan run twice in a row so that a cached dict changed in place by an earlier
answer (fares, localised names) shows. Exits non-zero when any body differs.

    .venv/bin/python benchmarks/check_plan_bodies.py [--queries 90] [--feeds toei,tokyo] [--old-commit main]
        [--old-tree DIR] [--week-after] [--tomorrow]

``--queries`` per feed and direction (90 × 2 feeds × 2 directions = 360 plans). ``--old-tree``: an extracted
tree of the old commit (``git archive``) to reuse, so numba's cache there spares the kernels' compilation.
``--week-after``: this tree's service plans on the same weekday a week later first, so the day's model shares that
one's arrays and timetables (`share_timetables`; printed); the old tree's answers are a fresh model's.
``--tomorrow``: both trees build the model of the day before first, so where one model serves two days (since
3 December) the day's plans are answered by the day before's model; the old tree's, by the day's own.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MAAS_SHARED_DATA", ROOT.parent / "shared" / "data"))
FEEDS = {"toei": ("toei-rail-gtfs.zip", "toei-subway"), "tokyo": ("tokyo-rail-gtfs.zip", "tokyo-rail")}

# Run in a subprocess with the tree under test first on sys.path: prints one JSON line, the bodies' digests (and
# the bodies of the first plans, to show a difference).
_EMIT = r"""
import datetime as dt, hashlib, json, random, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from api.respond import dumps
from api.search import plan_page
from feeds.feed import Network
from feeds.gtfs import load_feed
from maas.pricing.plan_fares import parse_riders
try:
    from maas.pricing.plan_fares import PlanFares
    add_fares = PlanFares().add  # (as the service: one for every request)
except ImportError:  # a tree before PlanFares
    from maas.pricing.plan_fares import add_fares
from maas.transit import TransitService
from operators.catalog import setup_for_feed
from routing.names import NameIndex, localise_itinerary
from routing.planner import PlanError, PlanOptions

spec = json.loads(sys.stdin.read())
date = dt.date.fromisoformat(spec["date"])
feed = load_feed(spec["feed"], spec["ns"])
svc = TransitService(Network([feed]), threads=1)
catalog = {feed.namespace: setup_for_feed(feed).fares}
names = NameIndex.from_network(svc.network)
if spec.get("week_after"):  # the same weekday a week later planned on first: this day's model shares its arrays
    svc.planner_for(date + dt.timedelta(days=7)).warm_up()
if spec.get("tomorrow"):  # the day before's model first: where it serves this day too, it answers
    svc.planner_for(date - dt.timedelta(days=1)).warm_up()
model = svc.planner_for(date).model
print(json.dumps({"shares_arrays": "_same_arrays" in model.__dict__, "model_date": model.date}))
midnight = model.datetime_of(0) - dt.timedelta(days=(model.service_date - date).days)
svc.planner_for(date).warm_up()
rng = random.Random(spec["seed"])
stations = list(model.station_ids)
out = []
for i in range(spec["n"]):
    for arrive in (False, True):
        a, b = rng.sample(stations, 2)
        t = rng.choice([rng.randint(6 * 3600, 22 * 3600)] * 8 + [rng.randint(22 * 3600 + 1800, 24 * 3600 + 1800),
                                                                  rng.randint(4 * 3600 + 1800, 6 * 3600)])
        when = midnight + dt.timedelta(seconds=t)  # (on the date asked for, whichever model answers)
        riders, medium = (parse_riders("adult:1"), "ic") if i % 2 else (parse_riders("adult:1,child:1"), "ticket")
        for rep in range(2):  # the same plan again: nothing cached may have been changed by the first answer
            t0 = time.perf_counter()
            try:
                its = svc.plan_sync(a, b, when, arrive_by=arrive, options=PlanOptions())
            except PlanError as exc:
                body = json.dumps({"error": str(exc)}).encode()
            else:
                add_fares(catalog, its, riders, medium)
                if i % 2:
                    for it in its:
                        localise_itinerary(it, "en", names)
                body = dumps({"itineraries": its, "page": plan_page(its)})
                body = body if isinstance(body, bytes) else body.encode()
            el = time.perf_counter() - t0
            out.append([a, b, when.isoformat(), arrive, rep, hashlib.sha1(body).hexdigest(),
                        body.decode() if len(out) < spec["keep"] else None, el])
print(json.dumps(out, ensure_ascii=False))
"""


def emit(tree: Path, feed: str, n: int, seed: int, keep: int, week_after: bool = False, tomorrow: bool = False
         ) -> list:
    fname, ns = FEEDS[feed]
    spec = json.dumps({"feed": str(DATA / fname), "ns": ns, "date": "2026-12-01", "n": n, "seed": seed,
                       "keep": keep, "week_after": week_after, "tomorrow": tomorrow})
    run = subprocess.run([sys.executable, "-c", _EMIT, str(tree)], input=spec, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree)
    if run.returncode:
        raise SystemExit(f"{tree}: {run.stderr[-3000:]}")
    lines = run.stdout.strip().splitlines()
    if len(lines) > 1:
        print(f"{feed} ({tree}): {lines[-2]}")
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=90, help="per feed and direction")
    ap.add_argument("--feeds", default="toei,tokyo")
    ap.add_argument("--old-commit", default="main")
    ap.add_argument("--old-tree", default="", help="an extracted tree of the old commit to reuse")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--week-after", action="store_true",
                    help="this tree plans on the day a week later first (the day's model shares its timetables)")
    ap.add_argument("--tomorrow", action="store_true",
                    help="both trees build the day before's model first (here it answers the day's plans)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(args.old_tree) if args.old_tree else Path(tmp)
        if not args.old_tree:
            arch = subprocess.run(["git", "-C", str(ROOT), "archive", args.old_commit], capture_output=True,
                                  check=True)
            subprocess.run(["tar", "-x", "-C", tmp], input=arch.stdout, check=True)
        bad = 0
        for feed in args.feeds.split(","):
            new_rows = emit(ROOT, feed, args.queries, args.seed, keep=4 * args.queries, week_after=args.week_after,
                            tomorrow=args.tomorrow)
            old_rows = emit(old, feed, args.queries, args.seed, keep=4 * args.queries, tomorrow=args.tomorrow)
            same = sum(x[:6] == y[:6] for x, y in zip(new_rows, old_rows))
            answered = sum(1 for x in new_rows if '"legs"' in (x[6] or ""))
            print(f"{feed}: {len(new_rows)} bodies ({len(new_rows) // 2} plans, each twice; {answered} with "
                  f"itineraries), identical to {args.old_commit}: {same} of {len(new_rows)}; digest of all "
                  f"{hashlib.sha1(''.join(x[5] for x in new_rows).encode()).hexdigest()[:12]}")
            for arrive in (False, True):  # the first of each pair: plan, fares, names, page and encoding
                tn = np.array([x[7] for x in new_rows if x[4] == 0 and x[3] == arrive]) * 1000
                to = np.array([x[7] for x in old_rows if x[4] == 0 and x[3] == arrive]) * 1000
                print(f"  {'arrive-by' if arrive else 'depart-at'} body ms: new p50 {np.median(tn):.3f} p95 "
                      f"{np.percentile(tn, 95):.3f}; old p50 {np.median(to):.3f} p95 {np.percentile(to, 95):.3f}; "
                      f"old/new p50 {np.median(to) / np.median(tn):.2f}x p95 "
                      f"{np.percentile(to, 95) / np.percentile(tn, 95):.2f}x")
            if same != len(new_rows) or len(new_rows) != len(old_rows):
                bad += 1
                for x, y in zip(new_rows, old_rows):
                    if x[:6] != y[:6]:
                        print("first difference:", x[:5])
                        print(" new:", (x[6] or "")[:2000])
                        print(" old:", (y[6] or "")[:2000])
                        break
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
