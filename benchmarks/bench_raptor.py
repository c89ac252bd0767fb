"""RAPTOR query latency on real feeds, against a networkx Dijkstra over a time-expanded graph.

    .venv/bin/python benchmarks/bench_raptor.py [--queries 1000] [--baseline 100] [--skip-tokyo]

Prints, per feed: numba compile time and cache-load time (each measured in a fresh subprocess), p50/p95/p99 of
1,000 random stop-to-stop earliest-arrival queries (kernel + Pareto journey reconstruction), the same figures for
the baseline on a subset of the same queries, the speed-up ratio and how often both agree on the arrival time.
"""
from __future__ import annotations

import argparse
import bisect
import datetime as dt
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

from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
from routing.raptor import RaptorQuery, run_raptor  # noqa: E402
from routing.timetable import build_model  # noqa: E402

_FIRST_CALL = """
import time, numpy as np, sys
sys.path.insert(0, {root!r})
from routing.timetable import TransitModel
from routing.raptor import RaptorQuery, run_raptor
m = TransitModel.load({model!r})
t = time.perf_counter()
run_raptor(m, RaptorQuery(np.array([0]), np.array([8 * 3600]), np.array([1]), np.zeros(1, np.int64)))
print(time.perf_counter() - t)
"""


def first_call_seconds(model_dir: Path, cache_dir: Path) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", _FIRST_CALL.format(root=str(ROOT), model=str(model_dir))],
                         env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def pct(xs: list[float]) -> str:
    a = np.asarray(xs) * 1000
    return f"p50 {np.percentile(a, 50):7.3f} ms  p95 {np.percentile(a, 95):7.3f} ms  p99 {np.percentile(a, 99):7.3f} ms"


class TimeExpandedGraph:
    """The naive baseline: one node per arrival/departure event, waiting chains per stop, networkx Dijkstra."""

    def __init__(self, model, t_from: int, t_until: int, min_transfer: int = 60, speed: float = 1.2):
        import networkx as nx

        g = nx.DiGraph()
        m = model
        self.m, self.speed = model, speed
        dep_events: dict[int, list[tuple[int, tuple]]] = {}
        arr_events: list[tuple[int, int, tuple]] = []
        for t in range(m.n_trips):
            off, n = m.trip_times_offset(t)
            p = int(m.trip_pattern[t])
            stops = m.pattern_stops[m.pattern_stops_start[p]:m.pattern_stops_start[p] + n]
            arr, dep = m.st_arr[off:off + n], m.departures_of_trip(t)
            if dep[0] > t_until or arr[n - 1] < t_from:
                continue
            for i in range(n):
                s = int(stops[i])
                if i + 1 < n:
                    g.add_edge(("d", t, i), ("a", t, i + 1), weight=int(arr[i + 1] - dep[i]))
                if 0 < i < n - 1:
                    g.add_edge(("a", t, i), ("d", t, i), weight=int(dep[i] - arr[i]))
                if i + 1 < n and m.st_pickup[off + i]:
                    dep_events.setdefault(s, []).append((int(dep[i]), ("d", t, i)))
                if i > 0 and m.st_dropoff[off + i]:
                    arr_events.append((s, int(arr[i]), ("a", t, i)))
        self.wait: dict[int, tuple[list[int], list[tuple]]] = {}
        for s, evs in dep_events.items():
            evs.sort()
            times = [e[0] for e in evs]
            nodes = [("w", s, k) for k in range(len(evs))]
            for k, (tm, dnode) in enumerate(evs):
                g.add_edge(nodes[k], dnode, weight=0)
                if k + 1 < len(evs):
                    g.add_edge(nodes[k], nodes[k + 1], weight=evs[k + 1][0] - tm)
            self.wait[s] = (times, nodes)
        self.arr_nodes: dict[int, list[tuple[int, tuple]]] = {}
        for s, tm, anode in arr_events:
            self.arr_nodes.setdefault(s, []).append((tm, anode))
            # the planner's transfer rule: a change takes at least min_transfer, walking or not
            self._link(g, anode, s, tm + max(min_transfer, int(m.stop_min_transfer[s])), tm)
            for e in range(m.fp_start[s], m.fp_start[s + 1]):
                u = int(m.fp_to[e])
                w = max(int(m.fp_fixed_s[e]), int(np.ceil(m.fp_dist[e] / speed)))
                self._link(g, anode, u, tm + max(w, min_transfer), tm)
        self.g = g

    def _link(self, g, node, stop: int, ready: int, t0: int) -> None:
        w = self.wait.get(stop)
        if not w:
            return
        k = bisect.bisect_left(w[0], ready)
        if k < len(w[0]):
            g.add_edge(node, w[1][k], weight=w[0][k] - t0)

    def _walks(self, s: int) -> list[tuple[int, int]]:
        m = self.m
        return [(int(m.fp_to[e]), max(int(m.fp_fixed_s[e]), int(np.ceil(m.fp_dist[e] / self.speed))))
                for e in range(m.fp_start[s], m.fp_start[s + 1])]

    def earliest(self, src: int, tau: int, dst: int) -> float:
        """Earliest arrival at dst; like RAPTOR, one footpath may start the trip and one may end it."""
        import networkx as nx

        source, sink = ("source",), ("sink",)
        for u, w in [(src, 0)] + self._walks(src):
            if u == dst:
                self.g.add_edge(source, sink, weight=w)
            self._link(self.g, source, u, tau + w, tau)
        for tm, anode in self.arr_nodes.get(dst, []):
            self.g.add_edge(anode, sink, weight=0)
        for u, w in self._walks(dst):  # footpaths are symmetric: walk u → dst
            for tm, anode in self.arr_nodes.get(u, []):
                self.g.add_edge(anode, sink, weight=w)
        try:
            return tau + nx.dijkstra_path_length(self.g, source, sink)
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return float("inf")
        finally:
            for node in (source, sink):
                if node in self.g:
                    self.g.remove_node(node)


def bench(name: str, path: Path, namespace: str, n_queries: int, n_base: int, window: tuple[int, int] | None):
    print(f"\n== {name} ({path.name}) ==")
    t = time.perf_counter()
    net = Network([load_feed(path, namespace)])
    print(f"load_feed {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    model = build_model(net, DATE)
    print(f"build_model {time.perf_counter() - t:.2f} s: {model.describe()}")
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model")
        cache = Path(tmp) / "numba-cache"
        compile_s = first_call_seconds(Path(tmp) / "model", cache)
        cached_s = first_call_seconds(Path(tmp) / "model", cache)
    print(f"numba first call: compile {compile_s:.2f} s, from cache {cached_s:.2f} s")
    run_raptor(model, RaptorQuery(np.array([0]), np.array([8 * 3600]), np.array([1]), np.zeros(1, np.int64)))
    rng = random.Random(42)
    lo, hi = window or (6 * 3600, 22 * 3600)
    queries = [(rng.randrange(model.n_stops), rng.randrange(model.n_stops), rng.randint(lo, hi - 3 * 3600))
               for _ in range(n_queries)]
    lat, answers, counters = [], [], []
    for a, b, tau in queries:
        t = time.perf_counter()
        r = run_raptor(model, RaptorQuery(np.array([a], np.int32), np.array([tau], np.int64),
                                          np.array([b], np.int32), np.zeros(1, np.int64), max_rides=8))
        res = r.pareto()
        lat.append(time.perf_counter() - t)
        counters.append((r.counters.rounds, r.counters.routes_scanned, r.counters.labels_improved))
        answers.append(min((j.arrival for j in res), default=float("inf")))
    print(f"RAPTOR   {len(queries)} queries: {pct(lat)}  ({len(queries) / sum(lat):.0f} queries/s)")
    c = np.array(counters)
    print("kernel counters (median/p99): rounds {:.0f}/{:.0f}, routes scanned {:.0f}/{:.0f}, labels improved "
          "{:.0f}/{:.0f}".format(*[v for col in c.T for v in (np.median(col), np.percentile(col, 99))]))
    t = time.perf_counter()
    teg = TimeExpandedGraph(model, *(window or (0, 2 * 86400)))
    print(f"baseline graph: {teg.g.number_of_nodes()} nodes, {teg.g.number_of_edges()} edges, "
          f"built in {time.perf_counter() - t:.1f} s")
    blat, agree, beyond = [], 0, 0
    end = window[1] if window else 2 * 86400
    for (a, b, tau), ans in list(zip(queries, answers))[:n_base]:
        t = time.perf_counter()
        ref = teg.earliest(a, tau, b)
        blat.append(time.perf_counter() - t)
        if ans > end and ref == float("inf"):
            beyond += 1  # RAPTOR's arrival lies after the end of the baseline's time window
        agree += (ref == ans) or (a == b)
    print(f"baseline {len(blat)} queries: {pct(blat)}")
    if beyond:
        print(f"{beyond} answers arrive after the baseline graph's window end: not comparable")
    ratio = np.median(blat) / np.median(lat[:len(blat)])
    print(f"speed-up (median baseline / median RAPTOR on the same queries): {ratio:.0f}x; "
          f"same arrival in {agree}/{len(blat) - beyond} comparable queries")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=100)
    ap.add_argument("--skip-tokyo", action="store_true")
    args = ap.parse_args()
    bench("Toei rail", DATA / "toei-rail-gtfs.zip", "toei-subway", args.queries, args.baseline, None)
    if not args.skip_tokyo:
        # the baseline graph of the whole day would not fit in memory with networkx: 07:00-12:00 only
        bench("all-Tokyo rail", DATA / "tokyo-rail-gtfs.zip", "tokyo", args.queries, max(args.baseline // 3, 10),
              (7 * 3600, 12 * 3600))


if __name__ == "__main__":
    main()
