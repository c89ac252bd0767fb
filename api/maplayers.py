"""Map layers: the network's lines and stations, and the walkable streets, as GeoJSON (no tile server needed).

The map page at ``/`` draws these; an operator can check what its published feed looks like on a map. Each layer is
built once per transit model (off the event loop) and served as encoded bytes until the model changes.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from api import params
from api.endpoint import ANY_ROLE, add
from api.keys import SERVICES
from api.models.common import Notice
from api.openapi import ok, query
from api.search import outside_service
from maas.publishing.map_layers import network_geojson, streets_geojson

CACHE_MODELS = 3


@dataclass
class LayerCache:
    """Encoded layers keyed by the object they were made from (kept alive here so its id is never reused)."""

    entries: dict[tuple[str, int, str], tuple[object, bytes]] = field(default_factory=dict)

    def get(self, kind: str, source: object, variant: str = "") -> bytes | None:
        hit = self.entries.get((kind, id(source), variant))
        return hit[1] if hit is not None and hit[0] is source else None

    def put(self, kind: str, source: object, body: bytes, variant: str = "") -> None:
        self.entries[(kind, id(source), variant)] = (source, body)
        mine = [k for k in self.entries if k[0] == kind]
        for k in mine[:-CACHE_MODELS]:
            del self.entries[k]


LAYERS = web.AppKey("map_layers", LayerCache)


def _geojson(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/geo+json", charset="utf-8",
                        headers={"Cache-Control": "private, max-age=60"})


async def network(request: web.Request) -> web.Response:
    day = params.date_param(request.query, "date", request.app[SERVICES].today())  # the feeds' clock
    notice = outside_service(request, day, "date")
    if notice is not None:  # like /v1/plan: a valid question whose answer is empty, with the reason
        return _geojson(orjson.dumps({"type": "FeatureCollection", "service_date": day.isoformat(), "bbox": None,
                                      "features": [], "stops": {}, "notices": [notice]}))
    transit = request.app[SERVICES].transit
    loop = asyncio.get_running_loop()
    model = await loop.run_in_executor(transit.executor, transit.model_for, day)
    cache = request.app[LAYERS]
    body = cache.get("network", model, day.isoformat())  # (one model serves several days' maps)
    if body is None:
        body = await loop.run_in_executor(transit.executor, lambda: orjson.dumps(network_geojson(model, date=day)))
        cache.put("network", model, body, day.isoformat())
    return _geojson(body)


async def streets(request: web.Request) -> web.Response:
    transit = request.app[SERVICES].transit
    loop = asyncio.get_running_loop()
    if transit.walker is None:  # the walker is made with the first model
        await loop.run_in_executor(transit.executor, transit.model_for,
                                   request.app[SERVICES].today())
    graph = getattr(transit.walker, "graph", None)
    cache = request.app[LAYERS]
    body = cache.get("streets", graph)
    if body is None:
        body = await loop.run_in_executor(transit.executor, lambda: orjson.dumps(streets_geojson(graph)))
        cache.put("streets", graph, body)
    return _geojson(body)


_FEATURE = {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
    "type": {"const": "Feature"},
    "geometry": {"type": "object", "required": ["type", "coordinates"], "properties": {
        "type": {"enum": ["Point", "LineString", "MultiLineString"]},
        "coordinates": {"type": "array", "description": "GeoJSON [lon, lat] positions"}}},
    "properties": {"type": "object", "additionalProperties": True, "description": "routes: route_id, short_name, "
                   "long_name, color, mode, operator, stop_ids; stations: id, name, name_en, stop_ids; streets: "
                   "highway"}}}
_FC = {"type": "object", "required": ["type", "features"], "properties": {
    "type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": _FEATURE},
    "bbox": {"type": ["array", "null"], "items": {"type": "number"}}}}


_EXAMPLE_NETWORK = {
    "type": "FeatureCollection", "service_date": "2026-11-24", "bbox": [139.69, 35.62, 139.80, 35.72],
    "features": [{"type": "Feature", "geometry": {"type": "LineString", "coordinates": [
        [139.692677, 35.690607], [139.754855, 35.656455]]}, "properties": {
        "route_id": "toei-subway:E", "short_name": "E", "long_name": "大江戸線", "color": "B6007A", "mode": "SUBWAY",
        "operator": "toei-subway", "stop_ids": ["toei-subway:E-28-1", "toei-subway:E-20-1"]}}],
    "stops": {"toei-subway:E-28-1": [139.692677, 35.690607]}, "notices": []}


def add_routes(app: web.Application) -> None:
    app[LAYERS] = LayerCache()
    add(app, "GET", "/v1/map/network", network, roles=ANY_ROLE, spec={
        "operationId": "mapNetwork", "summary": "The network's lines and stations as GeoJSON", "tags": ["map"],
        "description": "A LineString per route and distinct stop sequence (properties: route_id, short_name, "
                       "long_name, color, mode, operator, stop_ids; the feed's shape when it has one), a Point per "
                       "station (id, name, name_en, stop_ids), and `stops`: every stop id → [lon, lat].",
        "parameters": [query("date", params.DATE_SCHEMA, "service day (default today on the feeds' clock)")],
        "responses": ok({**_FC, "properties": {**_FC["properties"], "service_date": {"type": "string"},
                                               "stops": {"type": "object", "description": "stop id → [lon, lat]",
                                                         "additionalProperties": {
                                                             "type": "array", "items": {"type": "number"},
                                                             "minItems": 2, "maxItems": 2}},
                                               "notices": {"type": "array", "items": Notice}}},
                        media="application/geo+json", example=_EXAMPLE_NETWORK)})
    add(app, "GET", "/v1/map/streets", streets, roles=ANY_ROLE, spec={
        "operationId": "mapStreets", "summary": "The walkable streets (from the OSM file) as GeoJSON",
        "tags": ["map"], "description": "One MultiLineString per highway class; no features when the server "
                                        "walks in straight lines (no OSM file loaded).",
        "responses": ok({**_FC, "properties": {**_FC["properties"], "source": {
            "type": "string", "enum": ["osm", "straight_line"]}}}, media="application/geo+json",
            example={"type": "FeatureCollection", "source": "osm", "features": [{
                "type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": [
                    [[139.6917, 35.6896], [139.6927, 35.6906]]]}, "properties": {"highway": "footway"}}]})})
