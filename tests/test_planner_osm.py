"""The planner on real data: Tokyo Metro + the Shibuya OSM extract. Walking legs must follow the streets.

Checks the street walk end to end (planner → itinerary JSON), not the walker alone (tests/test_streets.py does
that): geometry on the street graph, distance ≥ the straight line and equal to the drawn polyline, the walk-only
option, and that the straight-line walker reports itself as such on the same query.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import shapely

from conftest import shared_file
from feeds.feed import Network
from feeds.gtfs import load_feed
from routing.geo import haversine_m, local_xy_m
from routing.planner import PlanOptions, Planner
from routing.streets import StreetNetwork
from routing.timetable import TransitModel, build_model
from routing.walking import StraightLineWalker

JST = dt.timezone(dt.timedelta(hours=9))
WHEN = dt.datetime(2026, 12, 1, 8, 0, tzinfo=JST)  # a Tuesday
SHIBUYA = (35.6585, 139.7016)
WEST_OF_SHIBUYA = (35.6585, 139.6985)  # ≈ 280 m west of the station, inside the extract
ON_STREET_M = 1.0  # inner geometry vertices lie on street edges (they are street shape points or cuts of them)


@pytest.fixture(scope="module")
def metro() -> TransitModel:
    net = Network([load_feed(shared_file("tokyo-metro-gtfs.zip"), "metro")])
    return build_model(net, WHEN.date())


@pytest.fixture(scope="module")
def streets(metro, tmp_path_factory) -> StreetNetwork:
    osm = shared_file("osm/tokyo-shibuya.osm")
    return StreetNetwork.from_osm_xml(osm, metro.stop_lat, metro.stop_lon,
                                      cache_dir=tmp_path_factory.mktemp("streets-cache"))


@pytest.fixture(scope="module")
def street_lines(streets):
    """Every street edge as a line in local metres (an independent rebuild from the graph arrays)."""
    g = streets.graph
    lat0, lon0 = SHIBUYA
    x, y = local_xy_m(g.geom_lat, g.geom_lon, lat0, lon0)
    owner = np.repeat(np.arange(g.n_edges), np.diff(g.geom_start))
    lines = shapely.linestrings(np.column_stack([x, y]), indices=owner)
    return shapely.STRtree(lines), lines


def coord(p: tuple[float, float]) -> str:
    return f"{p[0]},{p[1]}"


def off_street_m(street_lines, coords: list[list[float]]) -> np.ndarray:
    """Metres from each (lon, lat) vertex to the nearest street edge."""
    tree, lines = street_lines
    a = np.asarray(coords, dtype=np.float64)
    x, y = local_xy_m(a[:, 1], a[:, 0], *SHIBUYA)
    pts = shapely.points(x, y)
    _, near = tree.query_nearest(pts, all_matches=False)
    return shapely.distance(pts, lines[near])


def polyline_m(coords: list[list[float]]) -> float:
    a = np.asarray(coords, dtype=np.float64)
    return float(haversine_m(a[:-1, 1], a[:-1, 0], a[1:, 1], a[1:, 0]).sum())


def assert_street_walk(leg: dict, street_lines) -> None:
    """A walk leg drawn along the streets: many vertices, the inner ones on street edges, consistent length."""
    geom = leg["geometry"]["coordinates"]
    start, end = leg["from"], leg["to"]
    assert len(geom) > 2, leg
    assert geom[0] == pytest.approx([start["lon"], start["lat"]], abs=1e-6)
    assert geom[-1] == pytest.approx([end["lon"], end["lat"]], abs=1e-6)
    off = off_street_m(street_lines, geom[1:-1])  # the ends are the place and the stop, off the street
    assert off.max() < ON_STREET_M, f"vertex {int(off.argmax()) + 1} is {off.max():.1f} m from any street"
    straight = float(haversine_m(start["lat"], start["lon"], end["lat"], end["lon"]))
    assert leg["distance_m"] >= straight - 0.1
    assert leg["distance_m"] == pytest.approx(polyline_m(geom), rel=0.02, abs=2.0)
    assert leg["duration_s"] > 0


def test_coordinate_trip_walks_along_streets(metro, streets, street_lines):
    its = [it.to_dict() for it in Planner(metro, streets).plan(coord(WEST_OF_SHIBUYA), "Aoyama-itchome", WHEN)]
    transit = [it for it in its if any(leg["mode"] != "WALK" for leg in it["legs"])]
    assert transit, "no transit itinerary from west of Shibuya to Aoyama-itchome"
    for it in transit:
        assert it["walking"] == "osm"
        first, ride = it["legs"][0], it["legs"][1]
        assert first["mode"] == "WALK" and "stop_id" not in first["from"]
        assert ride["mode"] == "SUBWAY" and ride["from"]["name_en"] == "Shibuya"
        assert first["to"]["stop_id"] == ride["from"]["stop_id"]
        assert_street_walk(first, street_lines)
        # the street walk is longer than the straight line the default detour factor would have guessed at
        straight = float(haversine_m(*WEST_OF_SHIBUYA, first["to"]["lat"], first["to"]["lon"]))
        assert first["distance_m"] > straight
        assert it["legs"][-1]["to"]["name_en"] == "Aoyama-itchome"
        assert it["departure"] >= WHEN.isoformat()
    assert len({it["departure"] for it in transit}) == len(transit)  # distinct departures, not copies


def test_direct_walk_follows_streets(metro, streets, street_lines):
    a = (35.6600, 139.6990)
    b = (35.6600, 139.6990 + 400.0 / (111_320.0 * np.cos(np.radians(35.66))))
    assert float(haversine_m(*a, *b)) == pytest.approx(400.0, abs=1.0)
    its = [it.to_dict() for it in Planner(metro, streets).plan(coord(a), coord(b), WHEN)]
    walks = [it for it in its if [leg["mode"] for leg in it["legs"]] == ["WALK"]]
    assert len(walks) == 1
    walk = walks[0]
    assert walk["walking"] == "osm" and walk["transfers"] == 0
    leg = walk["legs"][0]
    assert_street_walk(leg, street_lines)
    assert 400.0 <= leg["distance_m"] <= 800.0  # within max_walk_m, never shorter than the crow flies
    assert walk["walk_distance_m"] == pytest.approx(leg["distance_m"], abs=0.1)
    assert walk["duration_s"] == pytest.approx(leg["distance_m"] / PlanOptions().walk_speed, abs=1.0)
    assert walk["departure"] == WHEN.isoformat()


def test_straight_line_walker_says_so(metro):
    planner = Planner(metro, StraightLineWalker(metro.stop_lat, metro.stop_lon))
    its = [it.to_dict() for it in planner.plan(coord(WEST_OF_SHIBUYA), "Aoyama-itchome", WHEN)]
    assert its
    for it in its:
        assert it["walking"] == "straight_line"
        first = it["legs"][0]
        assert first["mode"] == "WALK" and len(first["geometry"]["coordinates"]) == 2
