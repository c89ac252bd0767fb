"""Where a full plan's search work goes, per kind of RAPTOR run: each range search's first run (fresh labels, at its
latest departure) apart from its later runs (labels kept), for the planner's first window and its later windows
(`Planner._ranges`, windows of `Planner.windows`), the proof runs
(`Planner._prove`) and the time-dependent bound's backward runs (`late_bounds`, searches with more than
`LATE_BOUND_RUNS` runs). Prints per kind: calls, runs, route scans and seconds (share, per plan, per call).

    .venv/bin/python benchmarks/bench_plan_runs.py [--feeds tokyo] [--queries 150] [--ceiling] [--both]

A search's first run is measured by running it again alone (the same search at its first run's departure, no
window: the same run on fresh labels); its later runs are the rest of the search's route scans and time (the
departure schedule and the Python side included). ``--ceiling``: each first run also with the query's best
result as an upper bound from its start (as if an oracle gave every round the best arrival: not sound, a ceiling)
and with its fewest-rides result (sound for every round): how much any upper-bound seeding of fresh runs could
save. Same queries as bench_plan (`plan_queries`). ``--both``: every query planned both ways (depart-at and
arrive-by at its time: the same pairs, like with like; bench_plan's own mix asks 30 % of them arrive-by only),
the split printed per direction.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_plan import DATA, DATE, FEEDS, load_avg, plan_queries  # noqa: E402
from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
import routing.planner as planner_module  # noqa: E402
from routing.planner import PlanOptions, Planner  # noqa: E402
from routing.raptor import INF, range_raptor, search  # noqa: E402
from routing.timetable import build_model  # noqa: E402
from routing.walking import StraightLineWalker  # noqa: E402


class Tally:
    """Per kind of run: [calls, runs, route scans, seconds] (calls: searches, none for a search's later runs,
    searches that worked out `late_bounds`); the plan's search count so far."""

    def __init__(self):
        self.kinds: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(4))
        self.windows = 0  # range searches of the current plan so far (proof runs not counted)
        self.late_s = 0.0  # seconds in `late_bounds` so far
        self.ceiling = np.zeros(4)  # first runs: [count, scans fresh, with the fewest-rides bound, with the best]

    def add(self, kind: str, searches: int, runs: int, scans: int, seconds: float) -> None:
        self.kinds[kind] += [searches, runs, scans, seconds]


def bench(key: str, n: int, ceiling: bool, both: bool = False) -> None:
    fname, ns = FEEDS[key]
    print(f"\n== {key} ({fname}) ==  load average {load_avg()}")
    m = build_model(Network([load_feed(DATA / fname, ns)]), DATE)
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    planner.warm_up()
    gc.collect()
    gc.freeze()
    tallies = {False: Tally(), True: Tally()}
    tally = tallies[False]
    late_for = search._late_for

    def timed_late_for(*a):
        t = time.perf_counter()
        try:
            return late_for(*a)
        finally:
            tally.late_s += time.perf_counter() - t

    def counting(model, q, t0, window_s, backward=False, bound=None):
        late0 = tally.late_s
        t = time.perf_counter()
        res = range_raptor(model, q, t0, window_s, backward=backward, bound=bound)
        el = time.perf_counter() - t
        c = res.counters
        if bound is not None:
            tally.add("proof runs", 1, c.runs, c.routes_scanned, el)
            return res
        kind = "first window" if tally.windows == 0 else "later windows"
        tally.windows += 1
        late_s = tally.late_s - late0
        first_scans, first_s = c.routes_scanned, el - late_s
        if res.first_run is not None and c.runs > 1:
            t = time.perf_counter()
            alone = range_raptor(model, q, res.first_run, 0, backward=backward)
            first_s = min(time.perf_counter() - t, el - late_s)
            first_scans = alone.counters.routes_scanned
            if ceiling:
                done = alone.res_t[alone.res_t < INF]
                if len(done):
                    sign = -1 if backward else 1
                    worst, best = (int(done.max()), int(done.min())) if sign > 0 else (-int(done.max()),
                                                                                       -int(done.min()))
                    fewest = range_raptor(model, q, res.first_run, 0, backward=backward, bound=worst + sign)
                    oracle = range_raptor(model, q, res.first_run, 0, backward=backward, bound=best + sign)
                    tally.ceiling += [1, first_scans, fewest.counters.routes_scanned, oracle.counters.routes_scanned]
        tally.add(f"{kind}: first run", 1, 1, first_scans, first_s)
        tally.add(f"{kind}: later runs", 0, c.runs - 1, c.routes_scanned - first_scans, max(0.0, el - late_s - first_s))
        if late_s:
            tally.add(f"{kind}: late_bounds", 1, 0, 0, late_s)  # (the searches that worked the bound out)
        return res

    planner_module.range_raptor, search._late_for = counting, timed_late_for
    lats: dict[bool, list[float]] = {False: [], True: []}
    try:
        for a, b, when, arrive in plan_queries(m, n):
            for way in ((False, True) if both else (arrive,)):
                tally = tallies[way if both else False]
                tally.windows = 0
                t = time.perf_counter()
                planner.plan(a, b, dt.datetime.fromisoformat(when), arrive_by=way, options=PlanOptions())
                lats[way if both else False].append(time.perf_counter() - t)
    finally:
        planner_module.range_raptor, search._late_for = range_raptor, late_for
    for way in ((False, True) if both else (False,)):
        if both:
            print(f"-- {'arrive-by' if way else 'depart-at'} (every query) --")
        _report(tallies[way], lats[way], ceiling)


def _report(tally: Tally, lat: list[float], ceiling: bool) -> None:
    n = len(lat)
    rows = tally.kinds
    scans = sum(v[2] for v in rows.values())
    secs = sum(v[3] for v in rows.values())
    print(f"{n} plans (each first run measured again alone: plan p50 {np.median(lat) * 1000:.2f} ms with that); "
          f"route scans {scans / n:.0f} a plan, searching {secs * 1000 / n:.2f} ms a plan")
    order = ["first window", "later windows"]
    names = [f"{k}: {part}" for k in order for part in ("first run", "later runs", "late_bounds")] + ["proof runs"]
    for name in names:
        if name not in rows:
            continue
        s_, r_, sc, el = rows[name]
        calls = s_ or rows[name.split(":")[0] + ": first run"][0]
        print(f"  {name:28s} calls {s_ / n:4.2f}/plan  runs {r_ / n:5.2f}/plan  route scans {sc / n:6.0f}/plan "
              f"({100 * sc / scans:4.1f} %)  time {el * 1000 / n:5.2f} ms/plan ({100 * el / secs:4.1f} %, "
              f"{el * 1e6 / max(calls, 1):5.0f} µs a call)")
    if ceiling and tally.ceiling[0]:
        k, fresh, fewest, oracle = tally.ceiling
        print(f"  first runs ({k:.0f}) seeded with an upper bound: fresh {fresh / k:.0f} route scans; with the "
              f"fewest-rides result as bound (sound) {fewest / k:.0f} ({100 * (fewest / fresh - 1):+.0f} %); "
              f"with the best result for every round (an oracle, not sound) {oracle / k:.0f} "
              f"({100 * (oracle / fresh - 1):+.0f} %)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", default="tokyo")
    ap.add_argument("--queries", type=int, default=150)
    ap.add_argument("--ceiling", action="store_true", help="also first runs seeded with upper bounds (see above)")
    ap.add_argument("--both", action="store_true", help="every query both ways, the split per direction")
    a = ap.parse_args()
    for key in a.feeds.split(","):
        if key not in FEEDS or key == "tokyo4":
            ap.error(f"unknown feed {key} (one of {', '.join(k for k in FEEDS if k != 'tokyo4')})")
        bench(key, a.queries, a.ceiling, a.both)


if __name__ == "__main__":
    main()
