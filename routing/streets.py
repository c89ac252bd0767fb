"""Walking on the OpenStreetMap street network: the `Walker` protocol with real street distances.

Built once from a local OSM XML file with osmnx (never the network) and kept as compact arrays, cached as .npz by
the file's SHA-256. Searches run a numba Dijkstra over CSR arrays that starts from a snapped point (two sources with
offsets), stops at a distance limit or once its targets are settled, and records the edge used: igraph's Python API
has neither a cutoff nor an early exit, so every igraph search settles the whole graph (`to_igraph` gives the graph
for analysis; the tests check our distances against it).

Points and stops snap to the nearest point of the nearest open street edge (shapely STRtree); the straight snap
distance is added to the walk. Points farther than ``max_snap_m`` from every street (outside the extract) walk as
straight line × detour factor, like `StraightLineWalker`, so one walker serves a whole city model; a point whose
nearby streets are all closed cannot walk at all.
"""
from __future__ import annotations

import hashlib
import heapq
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Iterator

import igraph as ig
import numpy as np
import shapely
from numba import njit
from scipy.spatial import cKDTree

from routing.geo import EARTH_RADIUS_M, haversine_m, local_xy_m
from routing.walking import DEFAULT_DETOUR_FACTOR, WalkPath

CACHE_VERSION = 1  # bump when the filter rules or the array layout change
DEFAULT_MAX_SNAP_M = 500.0  # farther than this from any street: outside the extract, walk the straight line
OFF_NETWORK, BLOCKED = -1, -2  # Snap.edge codes
MAX_CACHED_VIEWS = 8  # closure views kept per network

# Highways a pedestrian may use. motorway/trunk are left out (trunk only with an explicit foot=yes): in Tokyo their
# sidewalks are mapped as separate footways.
WALKABLE_HIGHWAYS = frozenset({
    "footway", "pedestrian", "path", "steps", "living_street", "residential", "service", "unclassified", "road",
    "tertiary", "tertiary_link", "secondary", "secondary_link", "primary", "primary_link", "track", "crossing",
    "cycleway", "bridleway", "corridor", "platform", "elevator", "sidewalk", "yes",
})
FOOT_ONLY_HIGHWAYS = frozenset({"trunk", "trunk_link"})
FOOT_ALLOWED = frozenset({"yes", "designated", "permissive", "official"})
FOOT_FORBIDDEN = frozenset({"no", "private", "use_sidepath"})
ACCESS_FORBIDDEN = frozenset({"no", "private"})
_WAY_TAGS = ("highway", "foot", "access", "area", "service", "name")


def is_walkable(tags: dict) -> bool:
    """Whether an OSM way (its tags as osmnx gives them) may be walked."""
    highway, foot, access = tags.get("highway"), tags.get("foot"), tags.get("access")
    if not isinstance(highway, str) or foot in FOOT_FORBIDDEN:
        return False
    if highway in FOOT_ONLY_HIGHWAYS:
        return foot in FOOT_ALLOWED
    if highway not in WALKABLE_HIGHWAYS:
        return False
    return not (access in ACCESS_FORBIDDEN and foot not in FOOT_ALLOWED)


@contextmanager
def offline_osmnx() -> Iterator[object]:
    """osmnx configured so nothing reaches the network or the disk, with the way tags we filter on.

    The settings are osmnx's module state: the no-network ones stay set (the project never downloads), the tag list
    is restored afterwards.
    """
    import osmnx as ox

    ox.settings.use_cache = False
    ox.settings.doh_url_template = None
    ox.settings.log_file = False
    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = sorted(set(saved) | set(_WAY_TAGS))
    try:
        yield ox
    finally:
        ox.settings.useful_tags_way = saved


@dataclass(frozen=True, eq=False)
class StreetGraph:
    """The undirected walkable street graph as arrays: what is built from OSM and cached.

    Edge e runs from ``edge_u[e]`` to ``edge_v[e]``; its geometry (u → v) is points
    ``geom_start[e]:geom_start[e+1]`` of ``geom_lon/geom_lat``.
    """

    source_sha256: str
    node_osmid: np.ndarray  # int64[n]
    node_lat: np.ndarray  # float64[n]
    node_lon: np.ndarray  # float64[n]
    edge_u: np.ndarray  # int32[m]
    edge_v: np.ndarray  # int32[m]
    edge_len: np.ndarray  # float64[m], metres
    edge_osmid: np.ndarray  # int64[m], the first OSM way of the (simplified) edge
    edge_highway: np.ndarray  # str[m], the first highway value
    geom_start: np.ndarray  # int64[m + 1]
    geom_lon: np.ndarray  # float64[k]
    geom_lat: np.ndarray  # float64[k]

    @property
    def n_nodes(self) -> int:
        return len(self.node_lat)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    def save(self, path: Path) -> None:
        """Write atomically as .npz (no pickle: a cache file is never code)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        arrays["source_sha256"] = np.array(self.source_sha256)
        arrays["cache_version"] = np.array(CACHE_VERSION)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> "StreetGraph":
        with np.load(path, allow_pickle=False) as z:
            if int(z["cache_version"]) != CACHE_VERSION:
                raise ValueError(f"{path}: cache version {int(z['cache_version'])} != {CACHE_VERSION}")
            kw = {f.name: z[f.name] for f in fields(cls)}
        kw["source_sha256"] = str(kw["source_sha256"])
        return cls(**kw)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _first(value, default):
    """osmnx merges attributes of simplified edges into lists; keep the first."""
    if isinstance(value, list):
        return value[0] if value else default
    return default if value is None else value


def build_street_graph(osm_path: Path) -> StreetGraph:
    """Parse the OSM XML with osmnx, keep walkable ways, the largest connected part, simplified and undirected."""
    osm_path = Path(osm_path)
    with offline_osmnx() as ox:
        import networkx as nx

        g = ox.graph_from_xml(osm_path, bidirectional=True, simplify=False, retain_all=True)
        g.remove_edges_from([(u, v, k) for u, v, k, d in g.edges(keys=True, data=True) if not is_walkable(d)])
        if g.number_of_edges() == 0:
            raise ValueError(f"{osm_path}: no walkable street in the file")
        g = g.subgraph(max(nx.weakly_connected_components(g), key=len)).copy()
        g = ox.simplify_graph(g, remove_rings=False)  # an isolated loop is still a street
        gu = ox.convert.to_undirected(g)

    osmids = np.fromiter(gu.nodes, dtype=np.int64, count=gu.number_of_nodes())
    index = {int(n): i for i, n in enumerate(osmids)}
    node_lat = np.array([gu.nodes[n]["y"] for n in gu.nodes], dtype=np.float64)
    node_lon = np.array([gu.nodes[n]["x"] for n in gu.nodes], dtype=np.float64)
    eu, ev, elen, eosm, ehw, counts, lons, lats = [], [], [], [], [], [], [], []
    for _, _, d in gu.edges(data=True):
        a, b = index[int(d["from"])], index[int(d["to"])]  # geometry runs from "from" to "to"
        coords = np.asarray(d["geometry"].coords, dtype=np.float64)
        eu.append(a)
        ev.append(b)
        elen.append(float(d["length"]))
        eosm.append(int(_first(d.get("osmid"), -1)))
        ehw.append(str(_first(d.get("highway"), "")))
        counts.append(len(coords))
        lons.append(coords[:, 0])
        lats.append(coords[:, 1])
    geom_start = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=geom_start[1:])
    return StreetGraph(
        source_sha256=file_sha256(osm_path), node_osmid=osmids, node_lat=node_lat, node_lon=node_lon,
        edge_u=np.array(eu, np.int32), edge_v=np.array(ev, np.int32), edge_len=np.array(elen, np.float64),
        edge_osmid=np.array(eosm, np.int64), edge_highway=np.array(ehw, dtype=str), geom_start=geom_start,
        geom_lon=np.concatenate(lons), geom_lat=np.concatenate(lats),
    )


def load_or_build(osm_path: Path, cache_dir: Path | None) -> StreetGraph:
    """The street graph of an OSM file, from ``cache_dir`` when a cache of the same file content exists."""
    osm_path = Path(osm_path)
    if cache_dir is None:
        return build_street_graph(osm_path)
    cache = Path(cache_dir) / f"streets-{file_sha256(osm_path)[:24]}-v{CACHE_VERSION}.npz"
    if cache.exists():
        try:
            return StreetGraph.load(cache)
        except (OSError, ValueError, KeyError):
            cache.unlink(missing_ok=True)  # corrupt or stale: rebuild below
    graph = build_street_graph(osm_path)
    graph.save(cache)
    return graph


@dataclass(frozen=True, slots=True)
class Snap:
    """Points snapped onto edges. Edge −1 (OFF_NETWORK): farther than the snap limit from every street, walk the
    straight line. Edge −2 (BLOCKED): streets are near but all of them within the limit are closed: unreachable."""

    edge: np.ndarray  # int32, original edge id
    to_u: np.ndarray  # float64, metres along the edge to its u node
    to_v: np.ndarray  # float64, metres along the edge to its v node
    dist: np.ndarray  # float64, straight metres from the point to the street
    frac: np.ndarray  # float64, position along the edge geometry in [0, 1]


class StreetNetwork:
    """The `Walker` over OSM streets for a model's stops, optionally with some street edges closed.

    `with_closed_edges` returns a new view over the same arrays (the OSM data is never re-parsed): the search
    structures (CSR adjacency, STRtree, stop snaps) are rebuilt from the open edges in milliseconds and the view is
    memoised per mask. Apart from that memo an instance is read-only after construction: threads may share one.
    """

    source = "osm"

    def __init__(self, graph: StreetGraph, stop_lat: np.ndarray, stop_lon: np.ndarray,
                 closed_edges: np.ndarray | None = None, detour_factor: float = DEFAULT_DETOUR_FACTOR,
                 max_snap_m: float = DEFAULT_MAX_SNAP_M):
        self.graph = graph
        self.stop_lat = np.asarray(stop_lat, dtype=np.float64)
        self.stop_lon = np.asarray(stop_lon, dtype=np.float64)
        self.detour = float(detour_factor)
        self.max_snap_m = float(max_snap_m)
        m = graph.n_edges
        closed = np.zeros(m, bool) if closed_edges is None else np.asarray(closed_edges, dtype=bool)
        if closed.shape != (m,):
            raise ValueError(f"closed_edges must be bool[{m}], got shape {closed.shape}")
        self.closed_edges = closed
        self._lat0 = float(graph.node_lat.mean())
        self._lon0 = float(graph.node_lon.mean())
        gx, gy = local_xy_m(graph.geom_lat, graph.geom_lon, self._lat0, self._lon0)
        self._geom_xy = np.column_stack([gx, gy])
        self._open = np.flatnonzero(~closed).astype(np.int32)
        self._lines = self._edge_lines(self._geom_xy)  # all edges, local metres
        self._tree = shapely.STRtree(self._lines[self._open])
        self._tree_all = shapely.STRtree(self._lines) if closed.any() else None  # tells blocked from off-network
        self._adj = AdjacencyCSR.of(graph, self._open)
        self._views: dict[bytes, StreetNetwork] = {}
        self._stops = self.snap(self.stop_lat, self.stop_lon)
        sx, sy = local_xy_m(self.stop_lat, self.stop_lon, self._lat0, self._lon0)
        self._stop_tree = cKDTree(np.column_stack([sx, sy])) if len(self.stop_lat) else None

    @property
    def n_edges(self) -> int:
        """Number of street edges: the length of closure masks (`ClosureMask.street_edge_closed`)."""
        return self.graph.n_edges

    def to_igraph(self) -> ig.Graph:
        """The open street graph in igraph (edge attributes ``weight`` = metres, ``eid`` = our edge id)."""
        g = self.graph
        u, v = g.edge_u[self._open], g.edge_v[self._open]
        graph = ig.Graph(n=g.n_nodes, edges=np.column_stack([u, v]).tolist(), directed=False)
        graph.es["weight"] = g.edge_len[self._open].tolist()
        graph.es["eid"] = self._open.tolist()
        return graph

    # construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_osm_xml(cls, osm_path: Path | str, stop_lat: np.ndarray, stop_lon: np.ndarray,
                     cache_dir: Path | None = None, **kw) -> "StreetNetwork":
        """Build from a local OSM XML file (cached in ``cache_dir`` by the file's SHA-256)."""
        return cls(load_or_build(Path(osm_path), cache_dir), stop_lat, stop_lon, **kw)

    def with_closed_edges(self, mask: np.ndarray | None) -> "StreetNetwork":
        """A view with the edges of ``mask`` (bool per edge, e.g. from `edges_within`) closed, plus those already
        closed. Stops re-snap to open edges."""
        if mask is None or not np.any(mask):
            return self
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.closed_edges.shape:
            raise ValueError(f"closed_edges must be bool[{self.n_edges}], got shape {mask.shape}")
        if not np.any(mask & ~self.closed_edges):
            return self  # nothing new to close
        closed = self.closed_edges | mask
        key = hashlib.blake2b(np.packbits(closed).tobytes(), digest_size=16).digest()
        view = self._views.get(key)  # the same closures come back query after query: build their view once
        if view is None:
            view = StreetNetwork(self.graph, self.stop_lat, self.stop_lon, closed_edges=closed,
                                 detour_factor=self.detour, max_snap_m=self.max_snap_m)
            if len(self._views) >= MAX_CACHED_VIEWS:
                self._views.pop(next(iter(self._views)))
            self._views[key] = view
        return view

    def edges_within(self, polygon: shapely.Geometry) -> np.ndarray:
        """bool[n_edges]: edges inside or crossing ``polygon`` (lon/lat, GeoJSON order), for area closures."""
        shapely.prepare(polygon)
        return np.asarray(shapely.intersects(polygon, self._lonlat_lines), dtype=bool)

    @cached_property
    def _lonlat_lines(self) -> np.ndarray:
        return self._edge_lines(np.column_stack([self.graph.geom_lon, self.graph.geom_lat]))

    def _edge_lines(self, coords: np.ndarray) -> np.ndarray:
        g = self.graph
        owner = np.repeat(np.arange(g.n_edges), np.diff(g.geom_start))
        return shapely.linestrings(coords, indices=owner)

    # snapping -----------------------------------------------------------------------------------------------
    def snap(self, lat, lon) -> Snap:
        """Snap points to the nearest point of the nearest open edge (vectorised)."""
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        n = len(lat)
        x, y = local_xy_m(lat, lon, self._lat0, self._lon0)
        edge = np.full(n, OFF_NETWORK, np.int32)
        dist = np.full(n, np.inf)
        frac = np.zeros(n)
        pts = shapely.points(x, y)
        if n and len(self._open):
            (qi, ti), d = self._tree.query_nearest(pts, max_distance=self.max_snap_m, return_distance=True,
                                                   all_matches=False)
            e = self._open[ti]
            edge[qi], dist[qi] = e, d
            frac[qi] = shapely.line_locate_point(self._lines[e], pts[qi], normalized=True)
        missed = np.flatnonzero(edge < 0)
        if self._tree_all is not None and len(missed):
            near = self._tree_all.query(pts[missed], predicate="dwithin", distance=self.max_snap_m)[0]
            edge[missed[np.unique(near)]] = BLOCKED
        length = np.where(edge >= 0, self.graph.edge_len[np.maximum(edge, 0)], 0.0)
        return Snap(edge, frac * length, (1.0 - frac) * length, dist, frac)

    # searches -----------------------------------------------------------------------------------------------
    def _from_snap(self, edge: int, to_u: float, to_v: float, limit: float,
                   targets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Street metres from a snapped point to nodes (inf beyond ``limit`` or, with ``targets``, possibly to nodes
        not needed to settle them), and the CSR slot each node was reached by (−1 at the sources)."""
        g, a = self.graph, self._adj
        src = np.array([g.edge_u[edge], g.edge_v[edge]], np.int64)
        tg = np.empty(0, np.int64) if targets is None else np.asarray(targets, np.int64)
        return _dijkstra(a.indptr, a.adj, a.weight, src, np.array([to_u, to_v]), tg, float(limit))

    def _to_stops(self, node_dist: np.ndarray, q_edge: int, q_frac: float, stops: np.ndarray) -> np.ndarray:
        """Street metres from a snapped point (node distances given) to snapped stops, snap legs excluded."""
        g, s = self.graph, self._stops
        e = s.edge[stops]
        d = np.minimum(node_dist[g.edge_u[e]] + s.to_u[stops], node_dist[g.edge_v[e]] + s.to_v[stops])
        same = e == q_edge  # on the same edge: walk along it directly
        d[same] = np.minimum(d[same], np.abs(s.frac[stops][same] - q_frac) * g.edge_len[q_edge])
        return d

    def access(self, lat: float, lon: float, max_dist_m: float) -> tuple[np.ndarray, np.ndarray]:
        if self._stop_tree is None:
            return np.empty(0, np.int32), np.empty(0, np.float64)
        x, y = local_xy_m(lat, lon, self._lat0, self._lon0)
        cand = np.asarray(self._stop_tree.query_ball_point([float(x), float(y)], max_dist_m), dtype=np.int32)
        cand.sort()
        dist = haversine_m(lat, lon, self.stop_lat[cand], self.stop_lon[cand]) * self.detour  # off-network rule
        q = self.snap(lat, lon)
        if q.edge[0] == BLOCKED:
            return np.empty(0, np.int32), np.empty(0, np.float64)
        on = self._stops.edge[cand] >= 0
        dist[self._stops.edge[cand] == BLOCKED] = np.inf
        if q.edge[0] >= 0 and on.any():
            qe = int(q.edge[0])
            budget = max_dist_m - q.dist[0]
            node, _ = self._from_snap(qe, q.to_u[0], q.to_v[0], budget)
            stops = cand[on]
            dist[on] = self._to_stops(node, qe, q.frac[0], stops) + q.dist[0] + self._stops.dist[stops]
        keep = dist <= max_dist_m
        return cand[keep], dist[keep]

    def path(self, lat1: float, lon1: float, lat2: float, lon2: float) -> WalkPath:
        s = self.snap([lat1, lat2], [lon1, lon2])
        e1, e2 = int(s.edge[0]), int(s.edge[1])
        if BLOCKED in (e1, e2):
            return WalkPath(float("inf"), [])
        if e1 < 0 or e2 < 0:
            d = float(haversine_m(lat1, lon1, lat2, lon2)) * self.detour
            return WalkPath(d, [(lon1, lat1), (lon2, lat2)])
        g = self.graph
        u1, v1, u2, v2 = g.edge_u[e1], g.edge_v[e1], int(g.edge_u[e2]), int(g.edge_v[e2])
        dist, pred = self._from_snap(e1, s.to_u[0], s.to_v[0], np.inf, np.array([u2, v2]))
        via_u, via_v = dist[u2] + s.to_u[1], dist[v2] + s.to_v[1]
        best = min(via_u, via_v)
        along = abs(s.frac[0] - s.frac[1]) * g.edge_len[e1] if e1 == e2 else np.inf
        if not np.isfinite(min(best, along)):
            return WalkPath(float("inf"), [])
        if along <= best:
            best, xy = along, [self._partial(e1, s.frac[0], s.frac[1])]
        else:
            end, f_b = (u2, 0.0) if via_u <= via_v else (v2, 1.0)
            edges, nodes = _trace(pred, self._adj.slot_from, self._adj.slot_edge, end)
            root = int(nodes[0])
            f_a = 0.0 if root == u1 and (root != v1 or s.to_u[0] <= s.to_v[0]) else 1.0
            xy = [self._partial(e1, s.frac[0], f_a)]
            for e, node in zip(edges.tolist(), nodes[:-1].tolist()):
                pts = self._geom_xy[g.geom_start[e]:g.geom_start[e + 1]]
                xy.append(pts if g.edge_u[e] == node else pts[::-1])
            xy.append(self._partial(e2, f_b, s.frac[1]))
        lat, lon = self._unproject(np.concatenate(xy))
        coords = [(lon1, lat1)] + list(zip(lon.tolist(), lat.tolist())) + [(lon2, lat2)]
        dedup = [coords[0]] + [c for p, c in zip(coords, coords[1:]) if c != p]
        return WalkPath(float(best + s.dist[0] + s.dist[1]), dedup)

    def _partial(self, edge: int, f0: float, f1: float) -> np.ndarray:
        """The part of an edge between two fractions of its length (reversed when f0 > f1), local metres."""
        pts = self._geom_xy[self.graph.geom_start[edge]:self.graph.geom_start[edge + 1]]
        if f0 > f1:
            return self._partial(edge, f1, f0)[::-1]
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
        t0, t1 = f0 * cum[-1], f1 * cum[-1]
        inner = pts[(cum > t0) & (cum < t1)]
        ends = np.column_stack([np.interp([t0, t1], cum, pts[:, 0]), np.interp([t0, t1], cum, pts[:, 1])])
        return np.concatenate([ends[:1], inner, ends[1:]])

    def _unproject(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lat = self._lat0 + np.degrees(xy[:, 1] / EARTH_RADIUS_M)
        lon = self._lon0 + np.degrees(xy[:, 0] / (EARTH_RADIUS_M * np.cos(np.radians(self._lat0))))
        return lat, lon

    def stop_footpaths(self, radius_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._stop_tree is None:
            return np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float64)
        pairs = self._stop_tree.query_pairs(radius_m, output_type="ndarray").astype(np.int32)
        a, b = pairs[:, 0], pairs[:, 1]
        dist = haversine_m(self.stop_lat[a], self.stop_lon[a], self.stop_lat[b], self.stop_lon[b]) * self.detour
        s, g = self._stops, self.graph
        dist[(s.edge[a] == BLOCKED) | (s.edge[b] == BLOCKED)] = np.inf
        on = np.flatnonzero((s.edge[a] >= 0) & (s.edge[b] >= 0))
        on = on[np.argsort(a[on], kind="stable")]
        bounds = np.flatnonzero(np.diff(a[on], prepend=-1, append=len(self.stop_lat) + 1))
        for lo, hi in zip(bounds[:-1], bounds[1:]):  # one bounded search per source stop, exits when targets settle
            sel = on[lo:hi]
            i, j = int(a[sel[0]]), b[sel]
            ej = s.edge[j]
            node, _ = self._from_snap(int(s.edge[i]), s.to_u[i], s.to_v[i], radius_m - s.dist[i],
                                      np.concatenate([g.edge_u[ej], g.edge_v[ej]]))
            d = np.minimum(node[g.edge_u[ej]] + s.to_u[j], node[g.edge_v[ej]] + s.to_v[j])
            same = ej == s.edge[i]
            d[same] = np.minimum(d[same], np.abs(s.frac[i] - s.frac[j][same]) * g.edge_len[ej[same]])
            dist[sel] = d + s.dist[i] + s.dist[j]
        keep = dist <= radius_m
        a, b, dist = a[keep], b[keep], dist[keep]
        return np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([dist, dist])


@dataclass(frozen=True, slots=True)
class AdjacencyCSR:
    """Both directions of the open, non-loop edges, grouped by their start node (parallel edges kept)."""

    indptr: np.ndarray  # int64[n + 1]
    adj: np.ndarray  # int64[2m], the node a slot leads to
    weight: np.ndarray  # float64[2m], metres
    slot_from: np.ndarray  # int64[2m], the node a slot starts at
    slot_edge: np.ndarray  # int64[2m], the street edge id

    @classmethod
    def of(cls, g: StreetGraph, open_edges: np.ndarray) -> "AdjacencyCSR":
        e = open_edges[g.edge_u[open_edges] != g.edge_v[open_edges]]  # a loop never shortens a walk
        frm = np.concatenate([g.edge_u[e], g.edge_v[e]]).astype(np.int64)
        to = np.concatenate([g.edge_v[e], g.edge_u[e]]).astype(np.int64)
        eid = np.concatenate([e, e]).astype(np.int64)
        order = np.argsort(frm, kind="stable")
        indptr = np.zeros(g.n_nodes + 1, np.int64)
        np.cumsum(np.bincount(frm, minlength=g.n_nodes), out=indptr[1:])
        return cls(indptr, to[order], g.edge_len[eid[order]].astype(np.float64), frm[order], eid[order])


@njit(nogil=True, cache=True)
def _dijkstra(indptr, adj, weight, src, src_dist, targets, limit):
    """Dijkstra from several sources with start offsets, up to ``limit`` metres, ending early once every target is
    settled. Returns (metres, slot) per node: inf for nodes not settled, slot −1 at the sources."""
    n = len(indptr) - 1
    dist = np.full(n, np.inf)
    slot = np.full(n, -1, np.int64)
    done = np.zeros(n, np.bool_)
    wanted = np.zeros(n, np.bool_)
    remaining = 0
    for t in targets:
        if not wanted[t]:
            wanted[t] = True
            remaining += 1
    heap = [(0.0, np.int64(0))]
    heap.pop()
    for i in range(len(src)):
        if src_dist[i] < dist[src[i]] and src_dist[i] <= limit:
            dist[src[i]] = src_dist[i]
            heapq.heappush(heap, (src_dist[i], np.int64(src[i])))
    while heap:
        d, u = heapq.heappop(heap)
        if done[u]:
            continue
        done[u] = True
        if wanted[u]:
            remaining -= 1
            if remaining == 0:
                break
        for k in range(indptr[u], indptr[u + 1]):
            v = adj[k]
            nd = d + weight[k]
            if nd < dist[v] and nd <= limit:
                dist[v] = nd
                slot[v] = k
                heapq.heappush(heap, (nd, v))
    for v in range(n):
        if not done[v]:
            dist[v] = np.inf
    return dist, slot


@njit(nogil=True, cache=True)
def _trace(slot, slot_from, slot_edge, node):
    """The edges (in walking order) and nodes (first = the source reached from) of the search tree's path to
    ``node``."""
    n_steps = 0
    v = node
    while slot[v] >= 0:
        v = slot_from[slot[v]]
        n_steps += 1
    edges = np.empty(n_steps, np.int64)
    nodes = np.empty(n_steps + 1, np.int64)
    v = node
    nodes[n_steps] = v
    for i in range(n_steps - 1, -1, -1):
        k = slot[v]
        edges[i] = slot_edge[k]
        v = slot_from[k]
        nodes[i] = v
    return edges, nodes
