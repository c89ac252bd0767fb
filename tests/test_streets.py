"""Walking on OSM streets: filtering, snapping, distances, geometry, closures, cache, and no network access."""
from __future__ import annotations

import csv
import io
import socket
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely

from routing import streets as streets_mod
from routing.geo import haversine_m
from routing.streets import BLOCKED, StreetNetwork, build_street_graph, is_walkable
from routing.walking import StraightLineWalker
from conftest import shared_file

# Tiny hand-made town. A-B-C is an L of residential street; a motorway, a private service road, a foot=no footway,
# a railway and a building all run the short diagonal A-C and must never be walked. A-D-C is a longer detour.
NODES = {
    1: (35.000, 139.000),  # A
    2: (35.000, 139.002),  # B (the corner of the L)
    3: (35.002, 139.002),  # C
    4: (35.003, 139.000),  # D (detour)
    5: (35.001, 139.001),  # on the diagonal (motorway, railway, ...)
    6: (35.0012, 139.0009),  # building corners
    7: (35.0012, 139.0011),
    8: (35.0010, 139.0011),
    9: (35.010, 139.010),  # an isolated footway far away, with 10
    10: (35.010, 139.011),
}
WAYS = [
    (100, [1, 2, 3], {"highway": "residential", "name": "L street"}),
    (101, [1, 4, 3], {"highway": "footway"}),
    (102, [1, 5, 3], {"highway": "motorway"}),
    (103, [1, 5, 3], {"highway": "service", "access": "private"}),
    (104, [1, 5, 3], {"highway": "footway", "foot": "no"}),
    (105, [1, 5, 3], {"railway": "rail"}),
    (106, [6, 7, 8, 6], {"building": "yes"}),
    (107, [9, 10], {"highway": "footway"}),
]
A, B, C, D, MID = NODES[1], NODES[2], NODES[3], NODES[4], NODES[5]


def write_osm(path: Path) -> Path:
    root = ET.Element("osm", version="0.6", generator="test")
    for nid, (lat, lon) in NODES.items():
        ET.SubElement(root, "node", id=str(nid), lat=str(lat), lon=str(lon), version="1")
    for wid, refs, tags in WAYS:
        way = ET.SubElement(root, "way", id=str(wid), version="1")
        for r in refs:
            ET.SubElement(way, "nd", ref=str(r))
        for k, v in tags.items():
            ET.SubElement(way, "tag", k=k, v=v)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def hav(p, q) -> float:
    return float(haversine_m(p[0], p[1], q[0], q[1]))


def refuse_network(mp: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket, "create_connection", refuse)
    mp.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def no_network(monkeypatch):
    refuse_network(monkeypatch)


@pytest.fixture
def tiny(tmp_path, no_network) -> StreetNetwork:
    osm = write_osm(tmp_path / "tiny.osm")
    stops = [A, C, (35.0005, 139.002), (35.05, 139.05)]  # last stop: 7 km away, off the network
    return StreetNetwork.from_osm_xml(osm, np.array([s[0] for s in stops]), np.array([s[1] for s in stops]))


L_LEN = hav(A, B) + hav(B, C)
DETOUR_LEN = hav(A, D) + hav(D, C)


def test_walkable_rules():
    assert is_walkable({"highway": "footway"})
    assert is_walkable({"highway": "residential", "access": "private", "foot": "yes"})
    assert not is_walkable({"highway": "motorway"})
    assert not is_walkable({"highway": "trunk"})
    assert is_walkable({"highway": "trunk", "foot": "yes"})
    assert not is_walkable({"highway": "service", "access": "private"})
    assert not is_walkable({"highway": "footway", "foot": "no"})
    assert not is_walkable({"building": "yes"})
    assert not is_walkable({"railway": "rail"})


def test_tiny_graph_keeps_only_walkable_ways(tiny):
    g = tiny.graph
    assert set(g.edge_highway.tolist()) <= {"residential", "footway"}
    assert not set(g.edge_osmid.tolist()) & {102, 103, 104, 105, 106}
    pts = set(zip(np.round(g.geom_lat, 6).tolist(), np.round(g.geom_lon, 6).tolist()))
    assert MID not in pts and NODES[6] not in pts  # diagonal and building points are never part of a street
    assert NODES[9] not in pts  # isolated footway dropped (largest connected part only)
    assert B in pts and D in pts


def test_walk_is_the_L_not_the_diagonal(tiny):
    p = tiny.path(*A, *C)
    assert p.distance_m == pytest.approx(L_LEN, rel=1e-3)
    assert p.distance_m > 1.3 * hav(A, C)
    assert (B[1], B[0]) in [(round(x, 6), round(y, 6)) for x, y in p.coords]  # geometry turns at the corner
    assert p.coords[0] == (A[1], A[0]) and p.coords[-1] == (C[1], C[0])


def test_snap_adds_the_straight_distance_and_walks_along_the_edge(tiny):
    off = (35.0003, 139.001)  # ~33 m north of the A-B street, midway
    p = tiny.path(*off, *B)
    assert p.distance_m == pytest.approx(hav((35.0, 139.001), off) + hav((35.0, 139.001), B), rel=5e-3)
    assert tiny.path(*B, *off).distance_m == pytest.approx(p.distance_m, rel=1e-9)
    same_edge = tiny.path(35.0, 139.0005, 35.0, 139.0015)  # both on A-B: straight along it
    assert same_edge.distance_m == pytest.approx(hav((35.0, 139.0005), (35.0, 139.0015)), rel=1e-3)


def test_access_returns_stops_within_the_limit(tiny):
    idx, dist = tiny.access(*A, L_LEN + 5)
    got = dict(zip(idx.tolist(), dist.tolist()))
    assert got[0] == pytest.approx(0.0, abs=1e-6)
    assert got[1] == pytest.approx(L_LEN, rel=1e-3)
    assert got[2] == pytest.approx(hav(A, B) + hav(B, (35.0005, 139.002)), rel=1e-3)
    assert 3 not in got
    idx2, dist2 = tiny.access(*A, L_LEN - 5)
    assert 1 not in idx2.tolist() and 2 in idx2.tolist()
    assert np.all(dist2 <= L_LEN - 5)
    assert idx.dtype == np.int32


def test_off_network_point_falls_back_to_straight_line(tiny):
    far = (35.05, 139.05)
    near_far = (35.051, 139.05)
    p = tiny.path(*far, *near_far)
    assert p.distance_m == pytest.approx(hav(far, near_far) * tiny.detour)
    idx, dist = tiny.access(*near_far, 500)
    assert idx.tolist() == [3]
    assert dist[0] == pytest.approx(hav(far, near_far) * tiny.detour)


def test_stop_footpaths_use_street_distances_both_ways(tiny):
    a, b, d = tiny.stop_footpaths(L_LEN + 5)
    got = {(int(i), int(j)): float(x) for i, j, x in zip(a, b, d)}
    assert got[(0, 1)] == pytest.approx(L_LEN, rel=1e-3) and got[(1, 0)] == got[(0, 1)]
    assert got[(1, 2)] == pytest.approx(hav(C, (35.0005, 139.002)), rel=1e-3)
    assert all(i != j for i, j in got) and not any(3 in k for k in got)
    straight = StraightLineWalker(tiny.stop_lat, tiny.stop_lon, detour_factor=1.0)
    sa, sb, sd = straight.stop_footpaths(L_LEN + 5)
    sgot = {(int(i), int(j)): float(x) for i, j, x in zip(sa, sb, sd)}
    assert all(got[k] >= sgot[k] - 1e-6 for k in got)  # streets are never shorter than the straight line


def test_closing_edges_detours_then_blocks(tiny):
    l_edges = tiny.edges_within(shapely.Point(139.001, 35.0).buffer(1e-5))  # the middle of A-B
    assert l_edges.sum() == 1
    detour = tiny.with_closed_edges(l_edges)
    p = detour.path(*A, *C)
    assert p.distance_m == pytest.approx(DETOUR_LEN, rel=1e-3) and p.distance_m > L_LEN
    assert (D[1], D[0]) in [(round(x, 6), round(y, 6)) for x, y in p.coords]
    assert tiny.path(*A, *C).distance_m == pytest.approx(L_LEN, rel=1e-3)  # the base network is untouched
    everything = tiny.with_closed_edges(np.ones(tiny.graph.n_edges, bool))
    assert everything.path(*A, *C).distance_m == np.inf  # streets near but all closed: unreachable, no fallback
    assert everything.access(*A, 2000)[0].size == 0
    assert everything._stops.edge[0] == BLOCKED
    assert everything.stop_footpaths(2000)[0].size == 0
    with pytest.raises(ValueError):
        tiny.with_closed_edges(np.ones(3, bool))


def test_cache_loads_identical_answers(tmp_path, no_network, monkeypatch):
    osm = write_osm(tmp_path / "tiny.osm")
    cache = tmp_path / "cache"
    lat, lon = np.array([A[0], C[0]]), np.array([A[1], C[1]])
    built = StreetNetwork.from_osm_xml(osm, lat, lon, cache_dir=cache)
    assert len(list(cache.glob("streets-*.npz"))) == 1

    def fail(*a, **k):
        raise AssertionError("rebuilt instead of loading the cache")

    monkeypatch.setattr(streets_mod, "build_street_graph", fail)
    loaded = StreetNetwork.from_osm_xml(osm, lat, lon, cache_dir=cache)
    for name in ("node_lat", "edge_u", "edge_v", "edge_len", "geom_lon", "edge_highway"):
        np.testing.assert_array_equal(getattr(built.graph, name), getattr(loaded.graph, name))
    assert loaded.path(*A, *C) == built.path(*A, *C)
    osm.write_text(osm.read_text().replace('"35.003"', '"35.004"'))  # new content: new key, rebuilt
    with pytest.raises(AssertionError, match="rebuilt"):
        StreetNetwork.from_osm_xml(osm, lat, lon, cache_dir=cache)


def test_corrupt_cache_is_rebuilt(tmp_path):
    osm = write_osm(tmp_path / "tiny.osm")
    cache = tmp_path / "cache"
    StreetNetwork.from_osm_xml(osm, np.array([A[0]]), np.array([A[1]]), cache_dir=cache)
    (f,) = cache.glob("streets-*.npz")
    f.write_bytes(b"not a zip")
    net = StreetNetwork.from_osm_xml(osm, np.array([A[0]]), np.array([A[1]]), cache_dir=cache)
    assert net.path(*A, *C).distance_m == pytest.approx(L_LEN, rel=1e-3)


def test_no_walkable_street_is_a_clear_error(tmp_path):
    osm = tmp_path / "empty.osm"
    osm.write_text('<?xml version="1.0"?><osm version="0.6"><node id="1" lat="35" lon="139" version="1"/>'
                   '<node id="2" lat="35.001" lon="139" version="1"/>'
                   '<way id="5" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="motorway"/></way></osm>')
    with pytest.raises(ValueError, match="no walkable street"):
        build_street_graph(osm)


# ---- real OSM extracts ------------------------------------------------------------------------------------------

def metro_stops_in(lat_range, lon_range) -> tuple[list[str], np.ndarray, np.ndarray]:
    with zipfile.ZipFile(shared_file("tokyo-metro-gtfs.zip")) as z:
        rows = list(csv.DictReader(io.TextIOWrapper(z.open("stops.txt"), "utf-8-sig")))
    rows = [r for r in rows if r["location_type"] == "0"
            and lat_range[0] <= float(r["stop_lat"]) <= lat_range[1]
            and lon_range[0] <= float(r["stop_lon"]) <= lon_range[1]]
    return ([r["stop_id"] for r in rows], np.array([float(r["stop_lat"]) for r in rows]),
            np.array([float(r["stop_lon"]) for r in rows]))


@pytest.fixture(scope="module")
def shibuya(tmp_path_factory):
    """Built once for the module, with the network refused and the working folder watched for osmnx writes."""
    osm = shared_file("osm/tokyo-shibuya.osm")
    ids, lat, lon = metro_stops_in((35.64, 35.68), (139.67, 139.72))
    cache = tmp_path_factory.mktemp("streets-cache")
    cwd = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as mp:
        refuse_network(mp)
        mp.chdir(cwd)  # osmnx would write ./cache and ./logs here
        t0 = time.perf_counter()
        net = StreetNetwork.from_osm_xml(osm, lat, lon, cache_dir=cache)
        build_s = time.perf_counter() - t0
    return net, ids, osm, cache, build_s, cwd


def test_shibuya_builds_offline_without_writing(shibuya):
    net, ids, osm, cache, build_s, cwd = shibuya
    assert net.graph.n_edges > 1000
    assert list(cwd.iterdir()) == []
    key = f"streets-{streets_mod.file_sha256(osm)[:24]}-v{streets_mod.CACHE_VERSION}.npz"
    assert [f.name for f in cache.iterdir()] == [key]
    g = net.graph  # every edge's geometry runs from its u node to its v node
    first, last = g.geom_start[:-1], g.geom_start[1:] - 1
    np.testing.assert_allclose(g.geom_lon[first], g.node_lon[g.edge_u])
    np.testing.assert_allclose(g.geom_lat[last], g.node_lat[g.edge_v])
    assert {"motorway", "trunk", "motorway_link", "trunk_link"}.isdisjoint(net.graph.edge_highway.tolist())


def test_shibuya_walks_are_sane(shibuya):
    net, ids, *_ = shibuya
    i, j = ids.index("TokyoMetro.Chiyoda.MeijiJingumae"), ids.index("TokyoMetro.Hanzomon.Shibuya")
    assert net._stops.dist[i] < 200 and net._stops.dist[j] < 30  # Meiji-jingumae is at the extract's edge
    p = net.path(net.stop_lat[i], net.stop_lon[i], net.stop_lat[j], net.stop_lon[j])
    straight = hav((net.stop_lat[i], net.stop_lon[i]), (net.stop_lat[j], net.stop_lon[j]))
    assert straight <= p.distance_m <= 1.5 * straight
    assert 1000 < p.distance_m < 1500  # osmnx + networkx on the same file: 1,221 m node to node
    rng = np.random.default_rng(7)
    for _ in range(40):  # random pairs near Shibuya station
        la1, la2 = 35.6585 + rng.uniform(-0.004, 0.004, 2)
        lo1, lo2 = 139.7016 + rng.uniform(-0.004, 0.004, 2)
        w = net.path(la1, lo1, la2, lo2)
        d = hav((la1, lo1), (la2, lo2))
        assert d - 1e-6 <= w.distance_m <= 3.0 * d + 250
        line = np.array(w.coords)
        assert hav(line[0][::-1], (la1, lo1)) < 1e-6 and hav(line[-1][::-1], (la2, lo2)) < 1e-6
        seg = haversine_m(line[:-1, 1], line[:-1, 0], line[1:, 1], line[1:, 0]).sum()
        assert seg == pytest.approx(w.distance_m, rel=0.02)  # geometry length matches the distance


def test_shibuya_geometry_follows_street_nodes(shibuya):
    net, ids, *_ = shibuya
    i, j = ids.index("TokyoMetro.Chiyoda.MeijiJingumae"), ids.index("TokyoMetro.Hanzomon.Shibuya")
    p = net.path(net.stop_lat[i], net.stop_lon[i], net.stop_lat[j], net.stop_lon[j])
    g = net.graph
    street_pts = set(zip(g.geom_lon.round(7).tolist(), g.geom_lat.round(7).tolist()))
    inner = [(round(x, 7), round(y, 7)) for x, y in p.coords[2:-2]]  # minus the points and their snaps
    assert len(inner) > 10
    assert sum(q in street_pts for q in inner) >= len(inner) - 2  # allow the two partial-edge cut points


def test_shibuya_access_and_closure(shibuya):
    net, ids, *_ = shibuya
    j = ids.index("TokyoMetro.Hanzomon.Shibuya")
    origin = (35.6620, 139.6990)
    idx, dist = net.access(*origin, 800)
    assert j in idx.tolist() and np.all(dist <= 800)
    straight = haversine_m(origin[0], origin[1], net.stop_lat[idx], net.stop_lon[idx])
    assert np.all(dist >= straight - 1e-6)
    base = dict(zip(idx.tolist(), dist.tolist()))[j]
    p = net.path(*origin, net.stop_lat[j], net.stop_lon[j])
    assert p.distance_m == pytest.approx(base, rel=1e-6)  # access and path agree
    # close a band across the route's middle: longer or impossible, never shorter
    mid = shapely.LineString(p.coords).interpolate(0.5, normalized=True)
    closed = net.edges_within(mid.buffer(0.0008))
    assert closed.any()
    view = net.with_closed_edges(closed)
    assert view.path(*origin, net.stop_lat[j], net.stop_lon[j]).distance_m > p.distance_m + 1
    idx2, dist2 = view.access(*origin, 800)
    after = dict(zip(idx2.tolist(), dist2.tolist()))
    assert after.get(j, np.inf) > base


def test_shibuya_footpaths_and_cache(shibuya):
    net, ids, osm, cache, build_s, _ = shibuya
    a, b, d = net.stop_footpaths(600)
    ginza, hanzomon = ids.index("TokyoMetro.Ginza.Shibuya"), ids.index("TokyoMetro.Hanzomon.Shibuya")
    pairs = {(int(x), int(y)): float(z) for x, y, z in zip(a, b, d)}
    assert pairs[(ginza, hanzomon)] == pytest.approx(pairs[(hanzomon, ginza)])
    assert pairs[(ginza, hanzomon)] >= hav((net.stop_lat[ginza], net.stop_lon[ginza]),
                                           (net.stop_lat[hanzomon], net.stop_lon[hanzomon]))
    assert np.all(d <= 600)
    t0 = time.perf_counter()
    loaded = StreetNetwork.from_osm_xml(osm, net.stop_lat, net.stop_lon, cache_dir=cache)
    load_s = time.perf_counter() - t0
    assert load_s < 1.0 and load_s < build_s
    la, lb, ld = loaded.stop_footpaths(600)
    np.testing.assert_array_equal(la, a)
    np.testing.assert_array_equal(lb, b)
    np.testing.assert_allclose(ld, d)


def test_nerima_buildings_and_railways_are_not_walkable(no_network):
    osm = shared_file("osm/tokyo-nerima-hikawadai.osm")
    root = ET.parse(osm).getroot()
    coords = {n.get("id"): (float(n.get("lat")), float(n.get("lon"))) for n in root.iter("node")}
    walk_nodes, other_nodes, other_ways = set(), set(), set()
    for way in root.iter("way"):
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        refs = {nd.get("ref") for nd in way.iter("nd")}
        if is_walkable(tags):
            walk_nodes |= refs
        elif "building" in tags or "railway" in tags:
            other_nodes |= refs
            other_ways.add(int(way.get("id")))
    assert other_ways, "the Nerima extract should hold buildings and railways"
    only_other = {coords[n] for n in other_nodes - walk_nodes if n in coords}
    assert only_other
    ids, lat, lon = metro_stops_in((35.74, 35.76), (139.65, 139.69))
    net = StreetNetwork.from_osm_xml(osm, lat, lon)
    g = net.graph
    pts = set(zip(g.geom_lat.tolist(), g.geom_lon.tolist()))
    assert not pts & only_other
    assert not set(g.edge_osmid.tolist()) & other_ways
    assert set(g.edge_highway.tolist()) <= streets_mod.WALKABLE_HIGHWAYS
    assert np.all(net._stops.dist < 30)  # Hikawadai and Kotake-mukaihara are on the map
    i, j = ids.index("TokyoMetro.Yurakucho.Hikawadai"), ids.index("TokyoMetro.Yurakucho.KotakeMukaihara")
    w = net.path(lat[i], lon[i], lat[j], lon[j])
    assert hav((lat[i], lon[i]), (lat[j], lon[j])) <= w.distance_m < 2.0 * hav((lat[i], lon[i]), (lat[j], lon[j]))


def test_search_matches_igraph_and_views_are_reused(shibuya):
    net, *_ = shibuya
    ig_graph = net.to_igraph()
    g = net.graph
    rng = np.random.default_rng(3)
    for _ in range(30):
        e = int(rng.integers(g.n_edges))
        src, tgt = int(g.edge_u[e]), int(rng.integers(g.n_nodes))
        ours, _ = net._from_snap(e, 0.0, g.edge_len[e], np.inf, np.array([tgt]))
        ref = ig_graph.distances(src, tgt, weights="weight")[0][0]
        assert ours[tgt] == pytest.approx(ref, rel=1e-9)
    mask = np.zeros(g.n_edges, bool)
    mask[:10] = True
    view = net.with_closed_edges(mask)
    assert net.with_closed_edges(mask.copy()) is view and view.with_closed_edges(mask) is view
    assert net.with_closed_edges(np.zeros(g.n_edges, bool)) is net
    assert view.to_igraph().ecount() == g.n_edges - 10


def test_access_footpaths_and_path_agree(shibuya):
    net, *_ = shibuya
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(15):
        la, lo = 35.6585 + rng.uniform(-0.005, 0.005), 139.7016 + rng.uniform(-0.005, 0.005)
        idx, dist = net.access(la, lo, 1000)
        for i, d in zip(idx.tolist(), dist.tolist()):
            assert net.path(la, lo, net.stop_lat[i], net.stop_lon[i]).distance_m == pytest.approx(d, rel=1e-6)
            checked += 1
    assert checked > 20
    a, b, d = net.stop_footpaths(700)
    for i, j, x in list(zip(a.tolist(), b.tolist(), d.tolist()))[:40]:
        assert net.path(net.stop_lat[i], net.stop_lon[i], net.stop_lat[j], net.stop_lon[j]).distance_m == \
            pytest.approx(x, rel=1e-6)
