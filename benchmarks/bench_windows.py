"""Window schedules of `Planner._ranges` on real feeds: the same queries planned with each schedule (interleaved
query by query, so load hits them alike), answers compared (the answer must not depend on the schedule: prints
how many differ from the first schedule's, and the first few), and per schedule p50/p99 latency, range searches
and proof runs per plan, and the kernel's counters (runs, rounds, routes scanned) per plan.

    .venv/bin/python benchmarks/bench_windows.py [--feeds tokyo] [--queries 300] [--schedules 900:2,2700:2,21600:2]
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import datetime as dt  # noqa: E402

from bench_plan import DATA, DATE, FEEDS, load_avg, plan_queries  # noqa: E402
from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
import routing.planner as planner_module  # noqa: E402
from routing.planner import PlanOptions, Planner, Windows  # noqa: E402
from routing.raptor import range_raptor  # noqa: E402
from routing.timetable import build_model  # noqa: E402
from routing.walking import StraightLineWalker  # noqa: E402


def pct(xs) -> str:
    a = np.array(xs) * 1000
    return f"p50 {np.percentile(a, 50):.2f} ms  p99 {np.percentile(a, 99):.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", default="tokyo")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--schedules", default="900:2,2700:2,21600:2")
    args = ap.parse_args()
    schedules = [Windows(int(f), float(g)) for f, g in (s.split(":") for s in args.schedules.split(","))]
    for key in args.feeds.split(","):
        fname, ns = FEEDS[key]
        m = build_model(Network([load_feed(DATA / fname, ns)]), DATE)
        planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
        planner.warm_up()
        gc.collect()
        gc.freeze()
        queries = plan_queries(m, args.queries)
        calls: list = []

        def counting(*a, **kw):
            r = range_raptor(*a, **kw)
            calls.append((kw.get("bound") is not None, r.counters))
            return r

        planner_module.range_raptor = counting
        lat = [[] for _ in schedules]
        stats = [np.zeros(5) for _ in schedules]  # searches, proofs, runs, rounds, routes
        answers = [[] for _ in schedules]
        print(f"\n== {key} == {len(queries)} queries, load average {load_avg()}")
        for q, (a, b, when, arrive) in enumerate(queries):
            w = dt.datetime.fromisoformat(when)
            # one untimed plan first (the places and the targets' lower bounds, which the pools keep, are then
            # warm for every schedule alike), then the schedules in an order that rotates from query to query
            planner.windows = schedules[0]
            planner.plan(a, b, w, arrive_by=arrive, options=PlanOptions())
            for i in [(q + r) % len(schedules) for r in range(len(schedules))]:
                sched = schedules[i]
                planner.windows = sched
                calls.clear()
                t = time.perf_counter()
                its = [it.to_dict() for it in planner.plan(a, b, w, arrive_by=arrive, options=PlanOptions())]
                lat[i].append(time.perf_counter() - t)
                answers[i].append(its)
                stats[i] += [sum(not p for p, _ in calls), sum(p for p, _ in calls),
                             sum(c.runs for _, c in calls), sum(c.rounds for _, c in calls),
                             sum(c.routes_scanned for _, c in calls)]
        n = len(queries)
        for i, sched in enumerate(schedules):
            s = stats[i] / n
            diff = [q for q, x, y in zip(queries, answers[i], answers[0]) if x != y]
            print(f"{sched}: {pct(lat[i])}  dep-at {pct([x for x, q in zip(lat[i], queries) if not q[3]])}  "
                  f"arr-by {pct([x for x, q in zip(lat[i], queries) if q[3]])}")
            print(f"    per plan: range searches {s[0]:.2f}, proofs {s[1]:.2f}, runs {s[2]:.1f}, rounds {s[3]:.1f}, "
                  f"routes scanned {s[4]:.0f}; answers differing from {schedules[0]}: {len(diff)}")
            for q in diff[:5]:
                print("     ", q)
        print(f"load average {load_avg()}")


if __name__ == "__main__":
    main()
