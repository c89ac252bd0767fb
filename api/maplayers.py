"""Map layers: the network's lines and stations, and the walkable streets, as GeoJSON (no tile server needed).

The map page at ``/`` draws these; an operator can check what its published feed looks like on a map. Each layer is
built once per transit model (off the event loop) and served as encoded bytes until the model changes.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from api import params
from api.endpoint import ANY_ROLE, add
from api.keys import SERVICES
from api.openapi import ok, query
from api.search import outside_service
from maas.publishing.map_layers import network_geojson, streets_geojson

CACHE_MODELS = 3


@dataclass
class LayerCache:
    """Encoded layers keyed by the object they were made from (kept alive here so its id is never reused)."""

    entries: dict[tuple[str, int], tuple[object, bytes]] = field(default_factory=dict)

    def get(self, kind: str, source: object) -> bytes | None:
        hit = self.entries.get((kind, id(source)))
        return hit[1] if hit is not None and hit[0] is source else None

    def put(self, kind: str, source: object, body: bytes) -> None:
        self.entries[(kind, id(source))] = (source, body)
        mine = [k for k in self.entries if k[0] == kind]
        for k in mine[:-CACHE_MODELS]:
            del self.entries[k]


LAYERS = web.AppKey("map_layers", LayerCache)


def _geojson(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/geo+json", charset="utf-8",
                        headers={"Cache-Control": "private, max-age=60"})


async def network(request: web.Request) -> web.Response:
    day = params.date_param(request.query, "date", dt.datetime.now(params.TOKYO).date())
    notice = outside_service(request, dt.datetime.combine(day, dt.time(12), params.TOKYO), "date")
    if notice is not None:  # like /v1/plan: a valid question whose answer is empty, with the reason
        return _geojson(orjson.dumps({"type": "FeatureCollection", "service_date": day.isoformat(), "bbox": None,
                                      "features": [], "stops": {}, "notices": [notice]}))
    transit = request.app[SERVICES].transit
    loop = asyncio.get_running_loop()
    model = await loop.run_in_executor(transit.executor, transit.model_for, day)
    cache = request.app[LAYERS]
    body = cache.get("network", model)
    if body is None:
        body = await loop.run_in_executor(transit.executor, lambda: orjson.dumps(network_geojson(model)))
        cache.put("network", model, body)
    return _geojson(body)


async def streets(request: web.Request) -> web.Response:
    transit = request.app[SERVICES].transit
    loop = asyncio.get_running_loop()
    if transit.walker is None:  # the walker is made with the first model
        await loop.run_in_executor(transit.executor, transit.model_for, dt.datetime.now(params.TOKYO).date())
    graph = getattr(transit.walker, "graph", None)
    cache = request.app[LAYERS]
    body = cache.get("streets", graph)
    if body is None:
        body = await loop.run_in_executor(transit.executor, lambda: orjson.dumps(streets_geojson(graph)))
        cache.put("streets", graph, body)
    return _geojson(body)


_FC = {"type": "object", "required": ["type", "features"], "properties": {
    "type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": {"type": "object"}},
    "bbox": {"type": ["array", "null"], "items": {"type": "number"}}}}


def add_routes(app: web.Application) -> None:
    app[LAYERS] = LayerCache()
    add(app, "GET", "/v1/map/network", network, roles=ANY_ROLE, spec={
        "operationId": "mapNetwork", "summary": "The network's lines and stations as GeoJSON", "tags": ["map"],
        "description": "A LineString per route and distinct stop sequence (properties: route_id, short_name, "
                       "long_name, color, mode, operator, stop_ids; the feed's shape when it has one), a Point per "
                       "station (id, name, name_en, stop_ids), and `stops`: every stop id → [lon, lat].",
        "parameters": [query("date", {"type": "string", "format": "date"}, "service day (default today, Tokyo)")],
        "responses": ok({**_FC, "properties": {**_FC["properties"], "service_date": {"type": "string"},
                                               "stops": {"type": "object"},
                                               "notices": {"type": "array", "items": {"type": "object"}}}},
                        media="application/geo+json")})
    add(app, "GET", "/v1/map/streets", streets, roles=ANY_ROLE, spec={
        "operationId": "mapStreets", "summary": "The walkable streets (from the OSM file) as GeoJSON",
        "tags": ["map"], "description": "One MultiLineString per highway class; no features when the server "
                                        "walks in straight lines (no OSM file loaded).",
        "responses": ok({**_FC, "properties": {**_FC["properties"], "source": {
            "type": "string", "enum": ["osm", "straight_line"]}}}, media="application/geo+json")})
