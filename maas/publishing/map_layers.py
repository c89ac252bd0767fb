"""The network and its streets as GeoJSON, for the map page and for operators checking what they published.

Pure functions of a transit model (one line per route and stop sequence, one point per station) and of a street
graph (its walkable edges, grouped by highway class). No tile server is needed: these layers are the map.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from routing.timetable import MODE_NAMES, TransitModel

# Drawn when a feed gives no route_color (GTFS default is white, which vanishes on a light map).
MODE_COLORS = {"SUBWAY": "3A5BA0", "RAIL": "4A4A4A", "TRAM": "2E8B57", "BUS": "2F7F3F", "SHUTTLE": "00A0E9",
               "MONORAIL": "8A2BE2", "FERRY": "1E90FF"}
DEFAULT_COLOR = "555555"
COORD_DECIMALS = 6  # ~0.1 m: finer than any stop position, and keeps the document small


def _color(model: TransitModel, r: int) -> str:
    c = (model.route_colors[r] or "").strip().lstrip("#").upper()
    if len(c) == 6 and c != "FFFFFF":
        return c
    return MODE_COLORS.get(MODE_NAMES[int(model.route_mode[r])], DEFAULT_COLOR)


def _pattern_coords(model: TransitModel, p: int, stops: np.ndarray) -> list[list[float]]:
    """The shape of the pattern's first trip when the feed has one, else its stops joined by straight lines."""
    t = int(model.pattern_trips_start[p])
    sh = int(model.trip_shape[t]) if t < int(model.pattern_trips_start[p + 1]) else -1
    if sh >= 0:
        a, b = int(model.shape_start[sh]), int(model.shape_start[sh + 1])
        lon, lat = model.shape_lon[a:b], model.shape_lat[a:b]
    else:
        lon, lat = model.stop_lon[stops], model.stop_lat[stops]
    return np.round(np.column_stack([lon, lat]), COORD_DECIMALS).tolist()


def _contains(longer: tuple, shorter: tuple) -> bool:
    """Is ``shorter`` a contiguous run of ``longer`` (either direction)?"""
    n = len(shorter)
    for seq in (shorter, shorter[::-1]):
        first = seq[0]
        for i in range(len(longer) - n + 1):
            if longer[i] == first and longer[i:i + n] == seq:
                return True
    return False


def _day_patterns(model: TransitModel, date: dt.date) -> np.ndarray:
    """Whether each pattern has a trip of the days around ``date`` (two before to one after, as a model of that
    date alone would join them): a model joins more days than one day's map shows."""
    day = model.day_of(date)
    offset = np.asarray(model.trip_day_offset)
    near = (offset >= day - 2) & (offset <= day + 1)
    seen = np.concatenate([[0], np.cumsum(near, dtype=np.int64)])
    pts = np.asarray(model.pattern_trips_start, np.int64)
    return seen[pts[1:]] > seen[pts[:-1]]


def route_runs(model: TransitModel, merge: bool = True, date: dt.date | None = None
               ) -> list[tuple[int, int, tuple[int, ...]]]:
    """(route, pattern, stop sequence) of the lines to draw (with ``date``: of the patterns running around that
    day, `_day_patterns`). With ``merge`` a route's reverse runs and short runs that lie along a longer run of the
    same route are left out: they would be drawn over it."""
    by_route: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
    running = _day_patterns(model, date) if date is not None else None
    for p in range(model.n_patterns):
        if running is not None and not running[p]:
            continue
        a, b = int(model.pattern_stops_start[p]), int(model.pattern_stops_start[p + 1])
        seq = tuple(model.pattern_stops[a:b].tolist())
        if len(seq) >= 2:
            by_route.setdefault(int(model.pattern_route[p]), []).append((p, seq))
    out = []
    for r, runs in by_route.items():
        kept: list[tuple[int, ...]] = []
        for p, seq in sorted(runs, key=lambda x: -len(x[1])) if merge else runs:
            if merge and any(_contains(k, seq) for k in kept):
                continue
            kept.append(seq)
            out.append((r, p, seq))
    return out


def network_geojson(model: TransitModel, merge: bool = True, date: dt.date | None = None) -> dict:
    """A FeatureCollection of service day ``date`` (default: the model's own): a LineString per route and distinct
    run (see `route_runs`), a Point per station with its stops; plus ``stops``: every stop id → [lon, lat], so
    closures that name stops or segments can be drawn."""
    date = date or model.service_date
    features: list[dict] = []
    for r, p, seq in route_runs(model, merge, date):
        stops = np.asarray(seq, dtype=np.int64)
        features.append({"type": "Feature", "geometry": {"type": "LineString",
                                                         "coordinates": _pattern_coords(model, p, stops)},
                         "properties": {"kind": "line", "route_id": model.route_ids[r],
                                        "short_name": model.route_short_names[r],
                                        "long_name": model.route_long_names[r], "color": _color(model, r),
                                        "text_color": model.route_text_colors[r] or "FFFFFF",
                                        "mode": MODE_NAMES[int(model.route_mode[r])],
                                        "operator": model.feed_namespaces[int(model.route_feed[r])],
                                        "stop_ids": [model.stop_ids[s] for s in seq]}})
    for st in range(len(model.station_ids)):
        members = model.station_stops[model.station_stops_start[st]:model.station_stops_start[st + 1]]
        ids = [model.stop_ids[int(s)] for s in members]
        operators = sorted({i.split(":", 1)[0] for i in ids})
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [
            round(float(model.station_lon[st]), COORD_DECIMALS), round(float(model.station_lat[st]), COORD_DECIMALS)]},
            "properties": {"kind": "station", "id": model.station_ids[st], "name": model.station_names[st],
                           "name_en": model.station_names_en[st] or None, "stop_ids": ids,
                           "operators": operators}})
    stops = {model.stop_ids[s]: [round(float(model.stop_lon[s]), COORD_DECIMALS),
                                 round(float(model.stop_lat[s]), COORD_DECIMALS)] for s in range(len(model.stop_ids))}
    lon, lat = model.stop_lon, model.stop_lat
    bbox = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())] if len(lon) else None
    return {"type": "FeatureCollection", "service_date": str(date), "bbox": bbox,
            "features": features, "stops": stops}


def streets_geojson(graph) -> dict:
    """The walkable street graph (``routing.streets.StreetGraph``) as one MultiLineString per highway class, or an
    empty collection when there is none (no OSM file loaded: walking is straight lines)."""
    if graph is None or graph.n_edges == 0:
        return {"type": "FeatureCollection", "features": [], "source": "straight_line"}
    by_class: dict[str, list] = {}
    lon = np.round(graph.geom_lon, COORD_DECIMALS)
    lat = np.round(graph.geom_lat, COORD_DECIMALS)
    start = graph.geom_start
    for e in range(graph.n_edges):
        a, b = int(start[e]), int(start[e + 1])
        if b - a < 2:
            continue
        line = np.column_stack([lon[a:b], lat[a:b]]).tolist()
        by_class.setdefault(str(graph.edge_highway[e]) or "other", []).append(line)
    features = [{"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": lines},
                 "properties": {"highway": hw, "edges": len(lines)}}
                for hw, lines in sorted(by_class.items(), key=lambda kv: -len(kv[1]))]
    bbox = [float(graph.geom_lon.min()), float(graph.geom_lat.min()),
            float(graph.geom_lon.max()), float(graph.geom_lat.max())]
    return {"type": "FeatureCollection", "features": features, "source": "osm", "bbox": bbox}
