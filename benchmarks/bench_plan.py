"""Full plans (3 itineraries, depart-at and arrive-by, the itineraries as the API's JSON dicts) on real feeds and
on a synthetic network 4× all-Tokyo: this planner against the planner at an older commit (run from git in a
subprocess on the same queries; how many answers are identical, JSON dicts compared exactly), and a plain
connection scan with target pruning (pure Python). Prints p50/p95/p99 per direction, the arrive-by / depart-at
ratio, ratios in the same run, how often each answers, the kernel's counters (rounds, routes scanned, labels
improved, departures searched) and the load average (the machine may be shared: quote medians of repeated runs).

    .venv/bin/python benchmarks/bench_plan.py [--queries 300] [--feeds toei,tokyo,tokyo4] [--old-commit 616624b]

``tokyo4`` is all-Tokyo four times over (four namespaced copies, each shifted 55 m from the last, so every stop
has its twins within walking range and the builder joins the copies by footpaths): 4× the stops, trips and stop
times, one connected network.
"""
from __future__ import annotations

import argparse
import bisect
import datetime as dt
import hashlib
import inspect
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("MAAS_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATE = dt.date(2026, 12, 1)
JST = dt.timezone(dt.timedelta(hours=9))
FEEDS = {"toei": ("toei-rail-gtfs.zip", "toei-subway"), "tokyo": ("tokyo-rail-gtfs.zip", "tokyo-rail"),
         "metro": ("tokyo-metro-gtfs.zip", "tokyo-metro"), "tokyo4": ("tokyo-rail-gtfs.zip", "tokyo-rail")}

import dataclasses  # noqa: E402
import gc  # noqa: E402

from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
import routing.planner as planner_module  # noqa: E402
from routing.planner import PlanOptions, Planner  # noqa: E402
from routing.raptor import range_raptor  # noqa: E402
from routing.timetable import build_model  # noqa: E402
from routing.walking import StraightLineWalker  # noqa: E402

# the planner as it was: same queries, its own process and code (from git), default options
_OLD = r"""
import hashlib, json, sys, time, datetime as dt
sys.path.insert(0, sys.argv[1])
from feeds.feed import Network
from feeds.gtfs import load_feed
from routing.timetable import build_model
from routing.planner import Planner, PlanOptions
from routing.walking import StraightLineWalker
spec = json.loads(sys.stdin.read())
if spec.get("tiled_source"):  # bench_plan.tiled_network's own source, run on the old tree's feed loader
    import dataclasses
    from pathlib import Path
    exec(spec["tiled_source"])
    net = tiled_network(Path(spec["feed"]), spec["ns"])
else:
    net = Network([load_feed(spec["feed"], spec["ns"])])
m = build_model(net, dt.date.fromisoformat(spec["date"]))
del net
def listed(its):  # the itineraries as the API returns them
    return [it.to_dict() for it in its]
p = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
tz = dt.timezone(dt.timedelta(hours=9))
def one(q):
    try:
        return listed(p.plan(q[0], q[1], dt.datetime.fromisoformat(q[2]), arrive_by=q[3]))
    except Exception:
        return []
if hasattr(p, "warm_up"):  # (else its first arrive-by plan compiles the backward kernels: a 50 s p99)
    p.warm_up()
import gc
gc.collect()
gc.freeze()  # (as the server after start-up, and as bench())
one(spec["queries"][0])
out = []
for q in spec["queries"]:
    t = time.perf_counter()
    its = one(q)
    el = time.perf_counter() - t
    out.append([el, len(its), hashlib.sha1(json.dumps(its, ensure_ascii=False).encode()).hexdigest()])
print(json.dumps(out))
"""


def pct(xs) -> str:
    a = np.asarray(xs) * 1000
    return f"p50 {np.percentile(a, 50):7.2f} ms  p95 {np.percentile(a, 95):7.2f} ms  p99 {np.percentile(a, 99):7.2f} ms"


def _digest(its: list[dict]) -> str:
    return hashlib.sha1(json.dumps(its, ensure_ascii=False).encode()).hexdigest()


def old_planner(commit: str, feed: Path, ns: str, queries: list, tiled: bool = False) -> list | None:
    """Latencies of the planner at ``commit`` (its routing/ and feeds/ from git) on the same queries. The tree
    goes to a folder named by the commit's sha that later runs reuse, so numba's cache next to its sources is
    kept: a fresh folder per run would compile every kernel again (5-10 min)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                         capture_output=True, text=True)
    if sha.returncode:
        print(f"old planner: unknown commit {commit}: {sha.stderr.strip()}")
        return None
    tree = Path(tempfile.gettempdir()) / f"bench-plan-{sha.stdout.strip()}"
    if not (tree / "routing").is_dir():
        arch = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "routing", "feeds"], capture_output=True)
        if arch.returncode:
            print(f"old planner: git archive {commit} failed: {arch.stderr.decode().strip()}")
            return None
        part = Path(tempfile.mkdtemp(prefix=tree.name + "."))
        subprocess.run(["tar", "-x", "-C", str(part)], input=arch.stdout, check=True)
        try:
            part.rename(tree)  # (whole or not at all: another run may extract the same commit)
        except OSError:
            subprocess.run(["rm", "-rf", str(part)], check=False)
    spec = json.dumps({"feed": str(feed), "ns": ns, "date": DATE.isoformat(), "queries": queries,
                       "tiled_source": inspect.getsource(tiled_network) if tiled else ""})
    run = subprocess.run([sys.executable, "-c", _OLD, str(tree)], input=spec, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tree)})
    if run.returncode:
        print(f"old planner failed: {run.stderr[-2000:]}")
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


class ConnectionScan:
    """The plain baseline: every (trip, hop) as a connection sorted by departure, scanned once from the query
    time with target pruning; one footpath after each arrival, a change takes min_transfer_s."""

    def __init__(self, m, min_transfer: int = 60, speed: float = 1.2):
        conns = []
        for t in range(m.n_trips):
            off, n = m.trip_times_offset(t)
            p = int(m.trip_pattern[t])
            stops = m.pattern_stops[m.pattern_stops_start[p]:m.pattern_stops_start[p] + n].tolist()
            deps = m.departures_of_trip(t).tolist()
            for i in range(n - 1):
                conns.append((deps[i], int(m.st_arr[off + i + 1]), stops[i], stops[i + 1], t))
        conns.sort()
        self.conns, self.deps = conns, [c[0] for c in conns]
        self.walk = [[(int(m.fp_to[e]), max(int(m.fp_fixed_s[e]), int(np.ceil(m.fp_dist[e] / speed))))
                      for e in range(m.fp_start[s], m.fp_start[s + 1])] for s in range(m.n_stops)]
        self.mt = min_transfer

    def earliest(self, src: int, tau: int, dst: int) -> float:
        ready = {src: tau}
        for u, w in self.walk[src]:
            ready[u] = min(ready.get(u, 1 << 40), tau + w)
        best = ready.get(dst, float("inf"))
        on = set()
        for dep, arr, a, b, trip in self.conns[bisect.bisect_left(self.deps, tau):]:
            if dep >= best:
                break
            if trip in on or ready.get(a, 1 << 40) <= dep:
                on.add(trip)
                if arr < ready.get(b, 1 << 40) - self.mt:
                    ready[b] = arr + self.mt
                    best = min(best, arr if b == dst else best)
                    for u, w in self.walk[b]:
                        ready[u] = min(ready.get(u, 1 << 40), arr + max(w, self.mt))
                        if u == dst:
                            best = min(best, arr + w)
        return best


def tiled_network(path: Path, ns: str) -> Network:
    """Four namespaced copies of a feed, each shifted 0.0005° (55 m) north of the last: every stop's twins are
    within walking range, so the copies form one network 4× the size (a disjoint tiling would leave most queries
    without an answer)."""
    feeds = []
    for i in range(4):
        f = load_feed(path, f"{ns}{i}")
        dy = 0.0005 * i
        shapes = f.shapes
        if len(shapes):
            shapes = shapes.assign(shape_pt_lat=shapes["shape_pt_lat"] + dy)
        feeds.append(dataclasses.replace(f, stops=f.stops.assign(stop_lat=f.stops["stop_lat"] + dy), shapes=shapes))
    return Network(feeds)


def load_avg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def plan_queries(m, n: int) -> list[tuple[str, str, str, bool]]:
    """The benchmark's queries on model ``m``: (origin station, destination station, ISO time, arrive-by), random
    pairs at random times (mostly 06:00-22:00, some late at night and early in the morning), 30 % arrive-by; the
    same for the same model and ``n`` (seed 42), so runs and trees compare."""
    rng = random.Random(42)
    stations = [m.station_ids[i] for i in range(len(m.station_ids))]
    queries = []
    for _ in range(n):
        a, b = rng.sample(stations, 2)
        when = rng.choice([rng.randint(6 * 3600, 22 * 3600)] * 7 + [rng.randint(22 * 3600 + 1800, 24 * 3600 + 1800),
                                                                     rng.randint(4 * 3600 + 1800, 6 * 3600)] * 1
                          + [rng.randint(6 * 3600, 22 * 3600)])
        queries.append((a, b, m.datetime_of(when).isoformat(), rng.random() < 0.3))
    return queries


def like_with_like(planner: Planner, queries: list, opts: PlanOptions) -> str:
    """The arrive-by / depart-at ratio on the same pairs: every query planned both ways once more (places known,
    order alternating). The mix's ratio compares different pairs (30 % asked arrive-by), and a plan's runs follow
    its source side's service (depart-at: departures at the origin; arrive-by: arrivals at the destination): on
    all-Tokyo 150 queries the 45 arrive-by ones cost 1.2x the others as depart-at too, and their destinations see
    more trains than their origins: mixed 1.4-1.75 from run to run, these queries both ways ~1.1 (median per query), and
    ~1.0 with each pair also asked swapped (`bench_plan_ab --both`, `bench_plan_runs --both`)."""
    took: dict[bool, list[float]] = {False: [], True: []}
    for i, (a, b, when, _) in enumerate(queries):
        w = dt.datetime.fromisoformat(when)
        for way in ((False, True) if i % 2 == 0 else (True, False)):
            t = time.perf_counter()
            planner.plan(a, b, w, arrive_by=way, options=opts)
            took[way].append(time.perf_counter() - t)
    dep, arr = np.array(took[False]), np.array(took[True])
    return (f"the same {len(queries)} queries both ways: arrive-by / depart-at p50 ratio "
            f"{np.median(arr) / np.median(dep):.2f}, median per query {np.median(arr / dep):.2f}")


def bench(key: str, n: int, old_commit: str | None) -> None:
    fname, ns = FEEDS[key]
    path = DATA / fname
    print(f"\n== {key} ({fname}{', four copies' if key == 'tokyo4' else ''}) ==  load average {load_avg()}")
    t = time.perf_counter()
    network = tiled_network(path, ns) if key == "tokyo4" else Network([load_feed(path, ns)])
    m = build_model(network, DATE)
    del network
    print(f"build {time.perf_counter() - t:.1f} s: {m.describe()}")
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    t = time.perf_counter()
    planner.warm_up()
    print(f"warm-up (kernels compiled or loaded, one plan of each kind) {time.perf_counter() - t:.2f} s")
    # as the server does after start-up (api/server.py): else a full collection over the model's ~250k objects
    # (87 ms on all-Tokyo) lands in whichever plan crosses the threshold, always the same one of these queries
    gc.collect()
    gc.freeze()
    queries = plan_queries(m, n)
    opts = PlanOptions()
    lat = {False: [], True: []}
    digests = []  # of each plan's JSON dicts: the same answers as the older planner, to the byte?
    answered = {False: 0, True: 0}
    counters = []
    calls: list = []  # the counters of every range search a plan makes (the planner's own calls)
    proofs: list[int] = []  # per plan: proof runs (the planner's searches with a bound, `Planner._prove`)

    searching: list[float] = []  # per plan: seconds inside range searches (kernel and its Python wrapper)
    in_order: list[float] = []  # per plan: all its seconds

    def counting(*a, **kw):
        t0 = time.perf_counter()
        r = range_raptor(*a, **kw)
        searching[-1] += time.perf_counter() - t0
        proofs[-1] += kw.get("bound") is not None
        calls.append(r.counters)
        return r

    planner_module.range_raptor = counting
    for a, b, when, arrive in queries:
        w = dt.datetime.fromisoformat(when)
        calls.clear()
        searching.append(0.0)
        proofs.append(0)
        t = time.perf_counter()
        its = [it.to_dict() for it in planner.plan(a, b, w, arrive_by=arrive, options=opts)]
        lat[arrive].append(time.perf_counter() - t)
        in_order.append(lat[arrive][-1])
        digests.append(_digest(its))
        answered[arrive] += bool(its)
        counters.append([sum(getattr(c, f) for c in calls) for f in
                         ("rounds", "routes_scanned", "labels_improved", "runs",
                                          "routes_cut", "stops_visited", "late_held")] + [len(calls)])
    planner_module.range_raptor = range_raptor
    every = lat[False] + lat[True]
    print(f"this planner, all {len(every)}: {pct(every)}  (plan + JSON dicts; load average {load_avg()})")
    print(f"this planner, depart-at {len(lat[False])}: {pct(lat[False])}  answered {answered[False]}")
    print(f"this planner, arrive-by {len(lat[True])}: {pct(lat[True])}  answered {answered[True]}")
    rest = [x - y for x, y in zip(in_order, searching)]
    print(f"of which range searches: {pct(searching)}; everything else (places, choosing, itineraries, JSON dicts): "
          f"{pct(rest)}")
    print(f"arrive-by / depart-at p50 ratio {np.median(lat[True]) / np.median(lat[False]):.2f}")
    print(f"  {like_with_like(planner, queries, opts)}")
    c = np.array(counters)
    print("kernel counters per plan (median / p99): rounds {:.0f}/{:.0f}, routes scanned {:.0f}/{:.0f}, "
          "labels improved {:.0f}/{:.0f}, runs (departure times) {:.0f}/{:.0f}, patterns cut {:.0f}/{:.0f}, "
          "stops visited by route scans {:.0f}/{:.0f}, board labels held by the time-dependent bound {:.0f}/{:.0f}, "
          "range searches {:.0f}/{:.0f}".format(*[v for col in c.T for v in (np.median(col), np.percentile(col, 99))]))
    for i in sorted(range(len(in_order)), key=lambda i: -in_order[i])[:3]:
        print(f"  slow: {in_order[i] * 1000:.1f} ms {'arrive-by' if queries[i][3] else 'depart-at'} {queries[i][0]} → "
              f"{queries[i][1]} {queries[i][2]}: searches {searching[i] * 1000:.1f} ms, counters {counters[i]}, "
              f"proof runs {proofs[i]}")
    print(f"totals over the {len(c)} plans: rounds {c[:, 0].sum()}, routes scanned {c[:, 1].sum()}, "
          f"runs {c[:, 3].sum()}, patterns cut {c[:, 4].sum()}, stops visited {c[:, 5].sum()}, "
          f"held by the time-dependent bound {c[:, 6].sum()}, range searches {c[:, 7].sum()}, "
          f"of which proof runs {sum(proofs)}")
    if old_commit:
        old = old_planner(old_commit, path, ns, [list(q) for q in queries], key == "tokyo4")
        if old:
            olat = [x[0] for x in old]
            same = sum(x[2] == d for x, d in zip(old, digests))
            print(f"answers identical to {old_commit} (JSON dicts compared exactly): {same} of {len(digests)}")
            print(f"planner at {old_commit} (same queries): {pct(olat)}  answered {sum(1 for x in old if x[1])}")
            for arrive in (False, True):
                o = [x[0] for x, q in zip(old, queries) if q[3] == arrive]
                print(f"  {'arrive-by' if arrive else 'depart-at'}: old {pct(o)}; old / this p50 "
                      f"{np.median(o) / np.median(lat[arrive]):.2f}x, p99 "
                      f"{np.percentile(o, 99) / np.percentile(lat[arrive], 99):.2f}x")
            print(f"ratio old / this: p50 {np.median(olat) / np.median(every):.2f}x, "
                  f"p99 {np.percentile(olat, 99) / np.percentile(every, 99):.2f}x")
    if key == "tokyo4":
        return  # (the pure-Python scan over 7.7M connections takes minutes to set up)
    csa = ConnectionScan(m)
    rng2 = random.Random(7)
    pairs = [(rng2.randrange(m.n_stops), rng2.randrange(m.n_stops), rng2.randint(6 * 3600, 21 * 3600))
             for _ in range(min(n, 200))]
    clat = []
    for a, b, tau in pairs:
        t = time.perf_counter()
        csa.earliest(a, tau, b)
        clat.append(time.perf_counter() - t)
    print(f"connection scan (pure Python, target pruning, earliest arrival only) {len(pairs)}: {pct(clat)}")
    print(f"ratio connection scan / this planner's full plan: p50 {np.median(clat) / np.median(every):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--feeds", default="toei,tokyo")
    ap.add_argument("--old-commit", default="616624b",
                    help="git commit of the planner to compare (default: before the plan-speed work; '' = skip)")
    args = ap.parse_args()
    for key in args.feeds.split(","):
        bench(key, args.queries, args.old_commit or None)


if __name__ == "__main__":
    main()
