"""The slow tail of full plans: what the slowest plans' range searches do (per search: direction, window, bound,
departures, the kernel's counters, whether it paused for the time-dependent bound and what that cost), and an
in-process A/B of the search's tuning constants on the same queries, alternating, answers compared.

    .venv/bin/python benchmarks/bench_plan_tail.py [--feeds tokyo,tokyo4] [--queries 200] [--slow 5]
        [--ab search.LATE_BOUND_RUNS=32:16] [--reps 3] [--set search.CUT_AFTER_RUNS=8] [--model-cache /tmp/models]
        [--near 35.68,139.76] [--cpu] [--repeat]

Same queries as bench_plan (`plan_queries`). ``--ab MODULE.NAME=A:B`` (module under routing.raptor, or
``planner``): each rep runs every query with A then B (then B, A in the next rep: neither always runs first), and
prints per variant the medians over reps of p50 / p95 / p99, the ratio B / A of each rep's percentiles, and how
many plans' JSON dicts differ between the variants (tuning constants must not change answers). Several ``--ab``
may be given (all A, then all B). ``--model-cache``: keep each feed's model there (`TransitModel.save`), so a
second run skips the build (tokyo4: ~30 s). ``--repeat``: what a plan to new places costs more than the same plan
again, split (`repeats`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_plan import DATA, DATE, FEEDS, _digest, load_avg, plan_queries, tiled_network  # noqa: E402
from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
import routing.planner as planner_module  # noqa: E402
from routing.planner import PlanOptions, Planner  # noqa: E402
from routing.raptor import pools, range_raptor, search as search_module  # noqa: E402
from routing.timetable import TransitModel, build_model  # noqa: E402
from routing.walking import StraightLineWalker  # noqa: E402

CLOCK = time.perf_counter  # (--cpu: this thread's CPU time, which a machine shared with other work inflates less)
_FIELDS = ("rounds", "routes_scanned", "labels_improved", "runs", "routes_cut", "stops_visited", "late_held")


def model_for(key: str, cache: Path | None) -> TransitModel:
    fname, ns = FEEDS[key]
    where = cache / f"{key}-{DATE.isoformat()}" if cache else None
    if where is not None and (where / "model.json").exists():
        return TransitModel.load(where)
    path = DATA / fname
    m = build_model(tiled_network(path, ns) if key == "tokyo4" else Network([load_feed(path, ns)]), DATE)
    if where is not None:
        m.save(where)
    return m


class Recorder:
    """Each range search a plan makes (the planner's calls) with its seconds, and the seconds and calls of
    `late_bounds` inside it (`search._late_for`)."""

    def __init__(self):
        self.searches: list[dict] = []
        self._late = [0, 0.0]

    def install(self) -> None:
        late_for = search_module._late_for

        def timed_late(*a, **kw):
            t = CLOCK()
            try:
                return late_for(*a, **kw)
            finally:
                self._late[0] += 1
                self._late[1] += CLOCK() - t

        def counting(model, q, t0, window_s, backward=False, bound=None):
            self._late = [0, 0.0]
            t = CLOCK()
            r = range_raptor(model, q, t0, window_s, backward=backward, bound=bound)
            el = CLOCK() - t
            self.searches.append({"s": el, "back": backward, "width": window_s, "bound": bound is not None,
                                  "deps": r.departures, "late_calls": self._late[0], "late_s": self._late[1],
                                  **{f: getattr(r.counters, f) for f in _FIELDS}})
            return r

        search_module._late_for = timed_late
        planner_module.range_raptor = counting
        self._undo = (late_for,)

    def uninstall(self) -> None:
        search_module._late_for = self._undo[0]
        planner_module.range_raptor = range_raptor


def run_all(planner: Planner, queries: list, rec: Recorder | None = None) -> tuple[list[float], list[str], list]:
    """Seconds, JSON digests and (with ``rec``) per plan its searches."""
    opts = PlanOptions()
    lat, dig, per = [], [], []
    for a, b, when, arrive in queries:
        w = dt.datetime.fromisoformat(when)
        if rec is not None:
            rec.searches = []
        t = CLOCK()
        its = [it.to_dict() for it in planner.plan(a, b, w, arrive_by=arrive, options=opts)]
        lat.append(CLOCK() - t)
        dig.append(_digest(its))
        if rec is not None:
            per.append(rec.searches)
    return lat, dig, per


def central_queries(m, n: int, near: str) -> list[tuple[str, str, str, bool]]:
    """Depart-at queries between stations within 5 km of ``near`` at 06:00-22:00 (bench_api's ``central`` mix:
    short urban trips from dense stations, whose 15 min windows hold the most departures)."""
    lat, lon = (float(x) for x in near.split(","))
    dy = (np.asarray(m.station_lat) - lat) * 111_320
    dx = (np.asarray(m.station_lon) - lon) * 111_320 * np.cos(np.radians(lat))
    ids = [m.station_ids[i] for i in np.flatnonzero(np.hypot(dx, dy) <= 5000).tolist()]
    rng = random.Random(7)
    return [(*rng.sample(ids, 2), m.datetime_of(rng.randint(6 * 3600, 22 * 3600)).isoformat(), False)
            for _ in range(n)]


def pcts(xs) -> np.ndarray:
    return np.percentile(np.asarray(xs) * 1000, [50, 95, 99])


def describe_tail(queries: list, lat: list[float], per: list, n_slow: int) -> None:
    """The slowest plans search by search; the slowest 5 % beside the rest, per search kind."""
    order = sorted(range(len(lat)), key=lambda i: -lat[i])
    for i in order[:n_slow]:
        a, b, when, arrive = queries[i]
        print(f"  slow {lat[i] * 1000:.1f} ms {'arrive-by' if arrive else 'depart-at'} {a} → {b} {when}")
        for s in per[i]:
            kind = "proof" if s["bound"] else f"window {s['width']:>5} s"
            late = f", late bound {s['late_s'] * 1000:.1f} ms" if s["late_calls"] else ""
            print(f"    {'back' if s['back'] else 'fwd '} {kind:<15} {s['s'] * 1000:6.1f} ms: departures "
                  f"{s['deps']:>3}, runs {s['runs']:>3}, rounds {s['rounds']:>3}, routes {s['routes_scanned']:>6}, "
                  f"stops {s['stops_visited']:>7}, improved {s['labels_improved']:>6}, cut {s['routes_cut']:>5}, "
                  f"held {s['late_held']:>5}{late}")
    ss = [s for x in per for s in x]
    print(f"  totals: searches {len(ss)}, runs {sum(s['runs'] for s in ss)}, routes scanned "
          f"{sum(s['routes_scanned'] for s in ss)}, held by the time-dependent bound {sum(s['late_held'] for s in ss)},"
          f" late bounds {sum(s['late_calls'] for s in ss)} taking {sum(s['late_s'] for s in ss) * 1000:.0f} ms of "
          f"{sum(s['s'] for s in ss) * 1000:.0f} ms in searches")
    tail = set(order[:max(1, len(lat) // 20)])
    for name, group in (("slowest 5 %", [i for i in range(len(lat)) if i in tail]),
                        ("the rest", [i for i in range(len(lat)) if i not in tail])):
        ss = [s for i in group for s in per[i]]
        n = len(group)
        win = [s for s in ss if not s["bound"]]
        pr = [s for s in ss if s["bound"]]
        print(f"  {name} ({n} plans): ms/plan {sum(lat[i] for i in group) * 1000 / n:.1f}, searches/plan "
              f"{len(win) / n:.2f} + proofs {len(pr) / n:.2f}; per plan: window searches "
              f"{sum(s['s'] for s in win) * 1000 / n:.1f} ms, proofs {sum(s['s'] for s in pr) * 1000 / n:.1f} ms, "
              f"late bounds {sum(s['late_s'] for s in ss) * 1000 / n:.1f} ms ({sum(s['late_calls'] for s in ss) / n:.2f}"
              f" calls); runs {sum(s['runs'] for s in ss) / n:.0f}, routes {sum(s['routes_scanned'] for s in ss) / n:.0f},"
              f" rounds {sum(s['rounds'] for s in ss) / n:.0f}, window widths searched "
              f"{sum(s['width'] for s in win) / n:.0f} s, arrive-by {sum(queries[i][3] for i in group) / n:.0%}")
        rs = sum(s["routes_scanned"] for s in ss)
        if rs:
            print(f"    µs per route scanned {sum(s['s'] for s in ss) * 1e6 / rs:.2f}, stops per route "
                  f"{sum(s['stops_visited'] for s in ss) / rs:.1f}, routes per round "
                  f"{rs / max(1, sum(s['rounds'] for s in ss)):.0f}")


def _setting(spec: str) -> tuple[object, str, object, object]:
    """``MODULE.NAME=A:B`` → (module, name, A, B), values as Python literals."""
    target, values = spec.split("=", 1)
    mod, name = target.rsplit(".", 1)
    module = importlib.import_module(f"routing.{mod}" if mod == "planner" else f"routing.raptor.{mod}")
    a, b = values.split(":")
    return module, name, eval(a), eval(b)  # noqa: S307 (numbers typed on the command line)


def ab(planner: Planner, queries: list, specs: list[str], reps: int) -> None:
    settings = [_setting(s) for s in specs]

    def put(which: int) -> None:
        for module, name, a, b in settings:
            setattr(module, name, (a, b)[which])

    res = {0: [], 1: []}
    digs = {}
    for r in range(reps):
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            put(which)
            lat, dig, _ = run_all(planner, queries)
            res[which].append(pcts(lat))
            digs[which] = dig
    put(0)
    label = ", ".join(specs)
    for which in (0, 1):
        med = np.median(res[which], axis=0)
        print(f"  {'AB'[which]}: p50 {med[0]:.2f} ms, p95 {med[1]:.2f}, p99 {med[2]:.2f} (medians of {reps} reps)")
    ratios = np.array(res[1]) / np.array(res[0])
    print(f"  B / A per rep (p50, p95, p99): {'; '.join(' '.join(f'{x:.2f}' for x in row) for row in ratios)}; "
          f"median {' '.join(f'{x:.2f}' for x in np.median(ratios, axis=0))}  [{label}]")
    diff = sum(x != y for x, y in zip(digs[0], digs[1]))
    print(f"  answers differing between A and B: {diff} of {len(queries)}  (load average {load_avg()})")


def repeats(planner: Planner, queries: list) -> None:
    """Each query planned with no lower bounds kept (its targets new), at once again (bounds kept, the memory it
    read still in the CPU's caches), again with the bounds dropped (the bounds alone), and again after reading
    256 MiB (bounds kept, the CPU's caches cold: what is left of first against again)."""
    shared = pools._shared_bounds(planner.model)
    opts = PlanOptions()
    junk = np.ones(256 << 20, np.uint8)
    kinds = ("first", "again", "again, bounds dropped", "again, caches flushed")
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    for a, b, when, arrive in queries:
        w = dt.datetime.fromisoformat(when)
        for kind in kinds:
            if kind in ("first", "again, bounds dropped"):
                shared.clear()
            if kind == "again, caches flushed":
                junk.sum()
            t = CLOCK()
            planner.plan(a, b, w, arrive_by=arrive, options=opts)
            lat[kind].append(CLOCK() - t)
    for kind in kinds:
        p = pcts(lat[kind])
        print(f"  {kind:<23} p50 {p[0]:.2f} ms, p95 {p[1]:.2f}, p99 {p[2]:.2f}, mean {np.mean(lat[kind]) * 1000:.2f}")
    print(f"  (load average {load_avg()})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", default="tokyo")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--slow", type=int, default=5, help="slowest plans printed search by search")
    ap.add_argument("--ab", action="append", default=[], help="MODULE.NAME=A:B (module under routing.raptor)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cpu", action="store_true", help="time plans by this thread's CPU time, not wall time")
    ap.add_argument("--set", action="append", default=[], help="MODULE.NAME=V for the whole run")
    ap.add_argument("--model-cache", type=Path, default=None)
    ap.add_argument("--repeat", action="store_true", help="first plans against the same plans again (`repeats`)")
    ap.add_argument("--near", default="", help="LAT,LON: depart-at pairs of stations within 5 km of it, 06:00-22:00 "
                                               "(bench_api's central mix) instead of bench_plan's queries")
    args = ap.parse_args()
    if args.cpu:
        global CLOCK
        CLOCK = time.thread_time
    for spec in args.set:
        module, name, v, _ = _setting(spec + ":0")
        setattr(module, name, v)
    for key in args.feeds.split(","):
        t = time.perf_counter()
        m = model_for(key, args.model_cache)
        print(f"\n== {key} ==  model {time.perf_counter() - t:.1f} s: {m.describe()}; load average {load_avg()}")
        planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
        planner.warm_up()
        gc.collect()
        gc.freeze()
        queries = plan_queries(m, args.queries) if not args.near else central_queries(m, args.queries, args.near)
        run_all(planner, queries[:20])  # (pools filled, caches warm)
        if args.slow:
            rec = Recorder()
            rec.install()
            try:
                lat, _, per = run_all(planner, queries, rec)
            finally:
                rec.uninstall()
            p = pcts(lat)
            print(f"  {len(lat)} plans: p50 {p[0]:.2f} ms, p95 {p[1]:.2f}, p99 {p[2]:.2f}")
            describe_tail(queries, lat, per, args.slow)
        if args.repeat:
            repeats(planner, queries)
        if args.ab:
            ab(planner, queries, args.ab, args.reps)


if __name__ == "__main__":
    main()
