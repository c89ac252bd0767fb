"""End-to-end planning with street walking: Tokyo Metro + the Shibuya OSM extract, coordinate to coordinate.

    .venv/bin/python benchmarks/bench_plan_walk.py [--queries 1000] [--baseline 100] [--seed 42]

Prints: street graph build time and cache-load time; numba compile and cache-load times of the first plan (each in
a fresh subprocess, RAPTOR and street kernels separately); p50/p95/p99 of `Planner.plan` on random point pairs
inside the extract (OSM walker, and the straight-line walker for comparison); the naive baseline on a subset of
the same queries (networkx Dijkstra on the osmnx street graph for access/egress, then networkx Dijkstra over a
time-expanded graph of the timetable) and the ratio; how often both find the same earliest arrival.

The planner returns up to 3 itineraries (a range search plus itinerary JSON and walking geometry); the baseline
answers one earliest arrival, so the ratio understates the gap. `Planner.plan` with num_itineraries=1 is measured
too, on the same queries.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("MAAS_SHARED_DATA", ROOT.parent / "shared" / "data"))

from benchmarks.bench_raptor import TimeExpandedGraph  # noqa: E402
from benchmarks.bench_streets import networkx_graph  # noqa: E402
from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
from routing.geo import haversine_m, local_xy_m  # noqa: E402
from routing.planner import PlanOptions, Planner  # noqa: E402
from routing.streets import StreetNetwork, build_street_graph  # noqa: E402
from routing.timetable import build_model  # noqa: E402
from routing.walking import StraightLineWalker  # noqa: E402

JST = dt.timezone(dt.timedelta(hours=9))
DATE = dt.date(2026, 12, 1)
BOUNDS = ((35.655, 35.665), (139.695, 139.710))  # the extract's bounding box
DEPART = (7 * 3600, 10 * 3600)  # query departure times
WINDOW = (6 * 3600 + 1800, 13 * 3600)  # the baseline's time-expanded graph covers these times

_FIRST_CALLS = """
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from routing.raptor import RaptorQuery, run_raptor
from routing.streets import StreetNetwork
from routing.timetable import TransitModel
m = TransitModel.load({model!r})
net = StreetNetwork.from_osm_xml({osm!r}, m.stop_lat, m.stop_lon, cache_dir={cache!r})
out = {{}}
t = time.perf_counter()
net.path(35.6585, 139.6985, 35.6600, 139.7040)
out["streets"] = time.perf_counter() - t
t = time.perf_counter()
run_raptor(m, RaptorQuery(np.array([0]), np.array([8 * 3600]), np.array([1]), np.zeros(1, np.int64)))
out["raptor"] = time.perf_counter() - t
print(json.dumps(out))
"""


def first_calls(model_dir: Path, osm: Path, street_cache: Path, numba_cache: Path) -> dict[str, float]:
    """First-call seconds of the street and RAPTOR kernels in a fresh interpreter with the given numba cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(numba_cache))
    code = _FIRST_CALLS.format(root=str(ROOT), model=str(model_dir), osm=str(osm), cache=str(street_cache))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def pct(seconds: list[float]) -> str:
    a = np.asarray(seconds) * 1000
    return f"p50 {np.percentile(a, 50):8.3f} ms  p95 {np.percentile(a, 95):8.3f} ms  p99 {np.percentile(a, 99):8.3f} ms"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class NaiveMultimodal:
    """The naive baseline: networkx walking (nearest street node, Dijkstra with a cutoff) to and from the stops,
    then networkx Dijkstra over the time-expanded timetable graph from a super-source to a super-sink."""

    def __init__(self, model, osm: Path, max_walk_m: float, speed: float):
        self.m, self.max_walk, self.speed = model, max_walk_m, speed
        self.ug = networkx_graph(osm)
        self.nodes = np.array(list(self.ug.nodes))
        nlat = np.array([self.ug.nodes[n]["y"] for n in self.nodes])
        nlon = np.array([self.ug.nodes[n]["x"] for n in self.nodes])
        self.lat0, self.lon0 = float(nlat.mean()), float(nlon.mean())
        self.tree = cKDTree(np.column_stack(local_xy_m(nlat, nlon, self.lat0, self.lon0)))
        snap, idx = self.tree.query(np.column_stack(local_xy_m(model.stop_lat, model.stop_lon, self.lat0, self.lon0)))
        self.stop_node, self.stop_snap = self.nodes[idx], snap
        self.teg = TimeExpandedGraph(model, *WINDOW, speed=speed)

    def _nearest(self, lat: float, lon: float) -> tuple[int, float]:
        d, i = self.tree.query(np.column_stack(local_xy_m(lat, lon, self.lat0, self.lon0))[0])
        return self.nodes[i], float(d)

    def walks(self, lat: float, lon: float) -> tuple[dict, int, float]:
        """Street metres from a point to every node within the walking limit, its node and snap distance."""
        node, snap = self._nearest(lat, lon)
        reach = nx.single_source_dijkstra_path_length(self.ug, node, cutoff=self.max_walk - snap, weight="length")
        return reach, node, snap

    def stops_within(self, reach: dict, snap: float) -> list[tuple[int, int]]:
        out = []
        for s in range(self.m.n_stops):
            d = reach.get(self.stop_node[s])
            if d is not None and d + snap + self.stop_snap[s] <= self.max_walk:
                out.append((s, int(np.ceil((d + snap + self.stop_snap[s]) / self.speed))))
        return out

    def earliest(self, o: tuple[float, float], d: tuple[float, float], tau: int) -> float:
        """Earliest arrival at ``d`` leaving ``o`` at ``tau`` (walk only, or walk + transit + walk)."""
        teg, g = self.teg, self.teg.g
        reach_o, _, snap_o = self.walks(*o)
        reach_d, node_d, snap_d = self.walks(*d)
        access = self.stops_within(reach_o, snap_o)
        egress = self.stops_within(reach_d, snap_d)
        source, sink = ("source",), ("sink",)
        g.add_node(source)
        g.add_node(sink)

        def edge(a, b, w: int) -> None:
            if not g.has_edge(a, b) or g[a][b]["weight"] > w:
                g.add_edge(a, b, weight=w)

        if node_d in reach_o and reach_o[node_d] + snap_o + snap_d <= self.max_walk:
            edge(source, sink, int(np.ceil((reach_o[node_d] + snap_o + snap_d) / self.speed)))
        for s, w in access:  # walk to the stop, then maybe one footpath, then board
            for u, fw in [(s, 0)] + teg._walks(s):
                teg._link(g, source, u, tau + w + fw, tau)
        for s, w in egress:  # alight, maybe one footpath, then walk to the destination
            for u, fw in [(s, 0)] + teg._walks(s):
                for _, anode in teg.arr_nodes.get(u, []):
                    edge(anode, sink, w + fw)
        try:
            return tau + nx.dijkstra_path_length(g, source, sink)
        except nx.NetworkXNoPath:
            return float("inf")
        finally:
            g.remove_node(source)
            g.remove_node(sink)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    osm, feed = DATA / "osm" / "tokyo-shibuya.osm", DATA / "tokyo-metro-gtfs.zip"
    if not osm.exists() or not feed.exists():
        sys.exit(f"{DATA} lacks the Shibuya extract or the Tokyo Metro feed: the shared data folder is absent")

    t = time.perf_counter()
    model = build_model(Network([load_feed(feed, "metro")]), DATE)
    print(f"Tokyo Metro model built in {time.perf_counter() - t:.2f} s: {model.describe()}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        graph = build_street_graph(osm)
        build_s = time.perf_counter() - t
        StreetNetwork.from_osm_xml(osm, model.stop_lat, model.stop_lon, cache_dir=tmp / "streets")  # writes cache
        loads = []
        for _ in range(5):
            t = time.perf_counter()
            walker = StreetNetwork.from_osm_xml(osm, model.stop_lat, model.stop_lon, cache_dir=tmp / "streets")
            loads.append(time.perf_counter() - t)
        print(f"street graph {graph.n_nodes:,} nodes, {graph.n_edges:,} edges: build from XML {build_s:.2f} s; "
              f"cache load + indexes {np.median(loads) * 1000:.1f} ms (median of 5), {build_s / np.median(loads):.0f}x")
        model.save(tmp / "model")
        compiled = first_calls(tmp / "model", osm, tmp / "streets", tmp / "numba")
        cached = first_calls(tmp / "model", osm, tmp / "streets", tmp / "numba")
    print(f"numba first call, compiling: street Dijkstra+trace {compiled['streets']:.2f} s, "
          f"RAPTOR {compiled['raptor']:.2f} s; from the cache: {cached['streets'] * 1000:.0f} ms, "
          f"{cached['raptor'] * 1000:.0f} ms")

    rng = np.random.default_rng(args.seed)
    n = args.queries
    pts = np.column_stack([rng.uniform(*BOUNDS[0], (n, 2)), rng.uniform(*BOUNDS[1], (n, 2))])  # lat1 lat2 lon1 lon2
    taus = rng.integers(*DEPART, n)
    queries = [((float(p[0]), float(p[2])), (float(p[1]), float(p[3])), int(tau)) for p, tau in zip(pts, taus)]
    when = [dt.datetime.combine(DATE, dt.time(), tzinfo=JST) + dt.timedelta(seconds=q[2]) for q in queries]
    straight = haversine_m(pts[:, 0], pts[:, 2], pts[:, 1], pts[:, 3])
    print(f"\n{n} random point pairs in the extract (seed {args.seed}), straight line median "
          f"{np.median(straight):.0f} m, departures 07:00-10:00")

    def run(planner: Planner, opts: PlanOptions, count: int) -> tuple[list[float], list[float], list]:
        planner.plan(f"{queries[0][0][0]},{queries[0][0][1]}", f"{queries[0][1][0]},{queries[0][1][1]}", when[0],
                     options=opts)  # warm up (kernels already compiled and cached on disk)
        lat, arr, its_all = [], [], []
        for (o, d, _), w in zip(queries[:count], when[:count]):
            t = time.perf_counter()
            its = planner.plan(f"{o[0]},{o[1]}", f"{d[0]},{d[1]}", w, options=opts)
            js = [it.to_dict() for it in its]
            lat.append(time.perf_counter() - t)
            arr.append(min((it.arrival_s for it in its), default=float("inf")))
            its_all.append(js)
        return lat, arr, its_all

    osm_planner = Planner(model, walker)
    lat_osm, arr_osm, its_osm = run(osm_planner, PlanOptions(), n)
    transit = sum(any(leg["mode"] != "WALK" for it in js for leg in it["legs"]) for js in its_osm)
    empty = sum(not js for js in its_osm)
    print(f"Planner.plan, OSM walker, 3 itineraries + JSON    {pct(lat_osm)}  ({n / sum(lat_osm):.0f} q/s)")
    print(f"  answers: {transit} with a transit itinerary, {n - transit - empty} a direct walk only, {empty} none "
          f"(walk > max_walk_m {PlanOptions().max_walk_m:.0f} m and no useful ride)")
    lat_one, arr_one, _ = run(osm_planner, PlanOptions(num_itineraries=1), n)
    print(f"Planner.plan, OSM walker, 1 itinerary + JSON      {pct(lat_one)}")
    lat_sl, _, _ = run(Planner(model, StraightLineWalker(model.stop_lat, model.stop_lon)), PlanOptions(), n)
    print(f"Planner.plan, straight-line walker, 3 itineraries {pct(lat_sl)}")
    print(f"peak RSS after the planner runs {rss_mb():.0f} MB")

    t = time.perf_counter()
    naive = NaiveMultimodal(model, osm, PlanOptions().max_walk_m, PlanOptions().walk_speed)
    print(f"\nbaseline built in {time.perf_counter() - t:.1f} s: streets {naive.ug.number_of_nodes():,} nodes; "
          f"time-expanded graph {naive.teg.g.number_of_nodes():,} nodes, {naive.teg.g.number_of_edges():,} edges "
          f"(06:30-13:00)")
    m = min(args.baseline, n)
    lat_base, agree, close, diffs, only_base, only_ours = [], 0, 0, [], 0, 0
    for i, (o, d, tau) in enumerate(queries[:m]):
        t = time.perf_counter()
        ref = naive.earliest(o, d, tau)
        lat_base.append(time.perf_counter() - t)
        ours = arr_one[i]
        if np.isfinite(ref) and np.isfinite(ours):
            diffs.append(ours - ref)
            agree += ours == ref
            close += abs(ours - ref) <= 60
        only_base += bool(np.isfinite(ref) and not np.isfinite(ours))
        only_ours += bool(np.isfinite(ours) and not np.isfinite(ref))
    print(f"baseline (networkx walk + time-expanded Dijkstra), {m} queries {pct(lat_base)}")
    ratio3 = np.median(lat_base) / np.median(lat_osm[:m])
    ratio1 = np.median(lat_base) / np.median(lat_one[:m])
    print(f"ratio baseline/planner at p50 on the same {m} queries: {ratio3:.1f}x (3 itineraries), "
          f"{ratio1:.1f}x (1 itinerary); at p95 {np.percentile(lat_base, 95) / np.percentile(lat_osm[:m], 95):.1f}x, "
          f"total time {sum(lat_base) / sum(lat_osm[:m]):.1f}x (3 itineraries)")
    if diffs:
        dd = np.asarray(diffs)
        print(f"earliest arrival, planner (1 itinerary) vs baseline on {len(dd)} comparable queries: identical "
              f"{agree}, within 60 s {close}; median difference {np.median(dd):+.0f} s "
              f"(street snapping differs: ours snaps to the nearest edge, the baseline to the nearest node)")
    print(f"answer from the baseline only: {only_base}, from the planner only: {only_ours} (the baseline rides out "
          f"and back when both ends are near one station; the planner drops journeys that return to a source stop)")
    print(f"peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
