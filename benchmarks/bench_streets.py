"""Benchmark the OSM street walker on Shibuya: build vs cache load, `path` and `access` latency on random point
pairs, against networkx Dijkstra on the osmnx graph (nearest node + `nx.shortest_path_length`) on the same pairs.

    .venv/bin/python benchmarks/bench_streets.py [--pairs 1000] [--osm PATH]
"""
from __future__ import annotations

import argparse
import csv
import io
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routing.geo import haversine_m, local_xy_m  # noqa: E402
from routing.streets import StreetNetwork, build_street_graph, is_walkable, offline_osmnx  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
CENTRE = (35.6585, 139.7016)  # Shibuya station


def stops_near(lat_range, lon_range) -> tuple[np.ndarray, np.ndarray]:
    """Rail platforms of the all-Tokyo feed inside the extract (real stop positions)."""
    with zipfile.ZipFile(SHARED / "tokyo-rail-gtfs.zip") as z:
        rows = list(csv.DictReader(io.TextIOWrapper(z.open("stops.txt"), "utf-8-sig")))
    lat = np.array([float(r["stop_lat"]) for r in rows if r["location_type"] == "0"])
    lon = np.array([float(r["stop_lon"]) for r in rows if r["location_type"] == "0"])
    keep = (lat >= lat_range[0]) & (lat <= lat_range[1]) & (lon >= lon_range[0]) & (lon <= lon_range[1])
    return lat[keep], lon[keep]


def pct(ms: list[float]) -> str:
    a = np.asarray(ms)
    return f"p50 {np.percentile(a, 50):7.3f}  p95 {np.percentile(a, 95):7.3f}  p99 {np.percentile(a, 99):7.3f} ms"


def networkx_graph(osm: Path) -> nx.Graph:
    """The naive baseline: the osmnx graph (same walkable filter), undirected, as networkx keeps it."""
    with offline_osmnx() as ox:
        g = ox.graph_from_xml(osm, bidirectional=True, simplify=False, retain_all=True)
        g.remove_edges_from([(u, v, k) for u, v, k, d in g.edges(keys=True, data=True) if not is_walkable(d)])
        g = g.subgraph(max(nx.weakly_connected_components(g), key=len)).copy()
        g = ox.simplify_graph(g, remove_rings=False)
    ug = nx.Graph()
    for u, v, d in g.edges(data=True):
        if not ug.has_edge(u, v) or ug[u][v]["length"] > d["length"]:
            ug.add_edge(u, v, length=d["length"])
    for n in ug.nodes:
        ug.nodes[n].update(y=g.nodes[n]["y"], x=g.nodes[n]["x"])
    return ug


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--osm", type=Path, default=SHARED / "osm" / "tokyo-shibuya.osm")
    ap.add_argument("--access-m", type=float, default=800.0)
    args = ap.parse_args()
    if not args.osm.exists():
        sys.exit(f"{args.osm} not found: the shared data folder is absent")
    slat, slon = stops_near((35.645, 35.675), (139.675, 139.715))
    print(f"OSM {args.osm.name}, {len(slat)} rail platforms in the extract, {args.pairs} random pairs")

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        t = time.perf_counter()
        graph = build_street_graph(args.osm)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        net = StreetNetwork.from_osm_xml(args.osm, slat, slon, cache_dir=cache)  # builds again and saves
        build_save_s = time.perf_counter() - t
        loads = []
        for _ in range(5):
            t = time.perf_counter()
            net = StreetNetwork.from_osm_xml(args.osm, slat, slon, cache_dir=cache)
            loads.append(time.perf_counter() - t)
        cache_kb = sum(f.stat().st_size for f in cache.iterdir()) / 1024
    print(f"graph: {graph.n_nodes:,} nodes, {graph.n_edges:,} undirected edges, {len(graph.geom_lon):,} shape points")
    print(f"build from XML {build_s:.2f} s (build + save to cache {build_save_s:.2f} s); cache load + index "
          f"{np.median(loads) * 1000:.1f} ms median of 5 ({cache_kb:.0f} kB): {build_s / np.median(loads):.0f}x faster")

    rng = np.random.default_rng(42)
    lat = CENTRE[0] + rng.uniform(-0.006, 0.006, (args.pairs, 2))
    lon = CENTRE[1] + rng.uniform(-0.007, 0.007, (args.pairs, 2))

    path_ms, dists = [], np.empty(args.pairs)
    for i in range(args.pairs):
        t = time.perf_counter()
        p = net.path(lat[i, 0], lon[i, 0], lat[i, 1], lon[i, 1])
        path_ms.append((time.perf_counter() - t) * 1000)
        dists[i] = p.distance_m
    access_ms, n_found = [], []
    for i in range(args.pairs):
        t = time.perf_counter()
        idx, _ = net.access(lat[i, 0], lon[i, 0], args.access_m)
        access_ms.append((time.perf_counter() - t) * 1000)
        n_found.append(len(idx))
    t = time.perf_counter()
    fa, _, _ = net.stop_footpaths(600)
    fp_ms = (time.perf_counter() - t) * 1000
    ig_graph = net.to_igraph()  # igraph, as the brief first planned: full Dijkstra from both ends of the edge
    ig_ms = []
    for i in range(args.pairs):
        t = time.perf_counter()
        s = net.snap(lat[i], lon[i])
        g = net.graph
        ig_graph.distances([int(g.edge_u[s.edge[0]]), int(g.edge_v[s.edge[0]])],
                           [int(g.edge_u[s.edge[1]]), int(g.edge_v[s.edge[1]])], weights="weight")
        ig_ms.append((time.perf_counter() - t) * 1000)
    closed = net.edges_within(__import__("shapely").Point(CENTRE[1], CENTRE[0]).buffer(0.002))
    t = time.perf_counter()
    view = net.with_closed_edges(closed)
    view_ms = (time.perf_counter() - t) * 1000
    closed_ms = []
    for i in range(min(200, args.pairs)):
        t = time.perf_counter()
        view.path(lat[i, 0], lon[i, 0], lat[i, 1], lon[i, 1])
        closed_ms.append((time.perf_counter() - t) * 1000)

    # baseline: networkx on the osmnx graph, nearest node by KD-tree (snapping not timed for the baseline)
    t = time.perf_counter()
    ug = networkx_graph(args.osm)
    nx_build_s = time.perf_counter() - t
    nodes = np.array(list(ug.nodes))
    nlat = np.array([ug.nodes[n]["y"] for n in nodes])
    nlon = np.array([ug.nodes[n]["x"] for n in nodes])
    lat0, lon0 = float(nlat.mean()), float(nlon.mean())
    tree = cKDTree(np.column_stack(local_xy_m(nlat, nlon, lat0, lon0)))
    _, near = tree.query(np.column_stack(local_xy_m(lat.ravel(), lon.ravel(), lat0, lon0)))
    near = nodes[near].reshape(-1, 2)
    _, stop_near = tree.query(np.column_stack(local_xy_m(slat, slon, lat0, lon0)))
    stop_nodes = nodes[stop_near]
    nx_ms, nx_d = [], np.empty(args.pairs)
    for i in range(args.pairs):
        t = time.perf_counter()
        try:
            nx_d[i] = nx.shortest_path_length(ug, near[i, 0], near[i, 1], weight="length")
        except nx.NetworkXNoPath:
            nx_d[i] = np.inf
        nx_ms.append((time.perf_counter() - t) * 1000)
    nx_access_ms = []
    for i in range(args.pairs):
        t = time.perf_counter()
        reach = nx.single_source_dijkstra_path_length(ug, near[i, 0], cutoff=args.access_m, weight="length")
        _ = [k for k, n in enumerate(stop_nodes) if n in reach]
        nx_access_ms.append((time.perf_counter() - t) * 1000)

    straight = haversine_m(lat[:, 0], lon[:, 0], lat[:, 1], lon[:, 1])
    ok = np.isfinite(dists) & np.isfinite(nx_d)
    print(f"path   (ours, snap to edge + numba Dijkstra, early exit) {pct(path_ms)}")
    print(f"path   (networkx shortest_path_length, node to node) {pct(nx_ms)}")
    print(f"  ratio networkx/ours at p50: {np.median(nx_ms) / np.median(path_ms):.2f}x")
    print(f"  walk/straight median {np.median(dists[ok] / straight[ok]):.3f}; ours vs networkx distance: median "
          f"{np.median(dists[ok] - nx_d[ok]):+.1f} m (ours adds the snap legs, networkx starts at the nearest node)")
    print(f"path   (igraph distances between the snapped edges' ends, distance only) {pct(ig_ms)}")
    print(f"access {args.access_m:.0f} m (ours, bounded numba Dijkstra) {pct(access_ms)}; "
          f"{np.mean(n_found):.1f} stops found on average")
    print(f"access (networkx single_source_dijkstra cutoff) {pct(nx_access_ms)}")
    print(f"  ratio networkx/ours at p50: {np.median(nx_access_ms) / np.median(access_ms):.2f}x")
    print(f"stop_footpaths(600 m) {fp_ms:.1f} ms for {len(fa)} directed pairs")
    print(f"with_closed_edges ({int(closed.sum())} edges closed around Shibuya station) {view_ms:.1f} ms; "
          f"path on the view {pct(closed_ms)}")
    print(f"networkx graph build (osmnx + conversion) {nx_build_s:.2f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
