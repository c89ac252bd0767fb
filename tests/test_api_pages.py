"""The pages (map at /, Swagger UI at /docs, their static files) and the map layers they draw (GeoJSON)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from api.pages import STATIC, missing_assets
from api_support import DAY, KEYS, auth, client_for, services_for, tiny_transit
from maas.platform.auth import KeyRing
from maas.publishing.map_layers import streets_geojson
from routing.streets import StreetGraph

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CONFIG_RE = re.compile(r'<script id="maas-config" type="application/json">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def transit(tmp_path_factory):
    t = tiny_transit(tmp_path_factory.mktemp("api-pages"))
    yield t
    t.close()


@pytest.fixture
async def client(transit):
    async with client_for(services_for(transit)) as c:
        yield c


def _config(html: str) -> dict:
    return json.loads(CONFIG_RE.search(html).group(1))


async def test_map_page_is_served_at_root_with_local_assets_only(client):
    r = await client.get("/")
    html = await r.text()
    assert r.status == 200 and r.content_type == "text/html"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith(("/", "data:")), f"{src} is not served by this server"
        if src.startswith("/static/map/"):
            assert (await client.get(src)).status == 200, src
    # real keys are never prefilled: this key ring marks none as a demo key
    assert _config(html)["demo_keys"] == {}
    for path in (STATIC / "map").iterdir():  # our own scripts fetch nothing from elsewhere
        assert not re.search(r"https?://", path.read_text(encoding="utf-8")), path


async def test_demo_keys_are_prefilled_only_when_the_key_file_marks_them(transit):
    keys = {**KEYS, "dev-demo": {"role": "partner", "name": "demo", "demo": True}}
    services = services_for(transit)
    services.keys = KeyRing.from_mapping(keys)
    async with client_for(services) as c:
        html = await (await c.get("/")).text()
    assert _config(html)["demo_keys"] == {"partner": "dev-demo"}
    ring = KeyRing.from_json(open(STATIC.parents[1] / "examples" / "dev-keys.json", "rb").read())
    assert set(ring.demo) == {"partner", "disaster", "operator"} and ring.demo["partner"] == "dev-partner-key"


async def test_docs_page_is_swagger_ui_served_locally(client):
    r = await client.get("/docs")
    html = await r.text()
    assert r.status == 200 and r.content_type == "text/html"
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html and "http" not in html.replace("/openapi.json", "")
    js = await (await client.get("/static/docs/docs.js")).text()
    assert 'url: "/openapi.json"' in js
    if missing_assets():
        pytest.skip(f"vendored libraries not installed ({missing_assets()}): run scripts/ensure-assets.sh")
    bundle = await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status == 200 and "SwaggerUIBundle" in await bundle.text()
    assert (await client.get("/static/vendor/leaflet/leaflet.js")).status == 200


async def test_static_files_cannot_escape_the_static_folder(client):
    r = await client.get("/static/../app.py")
    assert r.status in (403, 404)
    r = await client.get("/static/%2e%2e/app.py")
    assert r.status in (403, 404)


async def test_network_layer_has_lines_in_route_colours_and_stations(client):
    r = await client.get("/v1/map/network", params={"date": DAY.isoformat()}, headers=auth("pk-alpha"))
    assert r.status == 200 and r.content_type == "application/geo+json"
    doc = await r.json(content_type=None)
    lines = [f for f in doc["features"] if f["properties"]["kind"] == "line"]
    stations = {f["properties"]["id"]: f for f in doc["features"] if f["properties"]["kind"] == "station"}
    assert len(lines) == 1  # the tiny feed's one route A→B→C (both its trips share the stop sequence)
    line = lines[0]
    assert line["properties"]["route_id"] == "test:R1" and line["properties"]["color"] == "00AA00"
    assert line["properties"]["stop_ids"] == ["test:A", "test:B", "test:C"]
    assert line["geometry"]["coordinates"][0] == [139.7001, 35.6001]
    assert stations["test:S"]["properties"]["name"] == "駅"
    assert set(stations["test:S"]["properties"]["stop_ids"]) >= {"test:A"}
    assert doc["stops"]["test:C"] == [139.72, 35.62] and doc["service_date"] == DAY.isoformat()


async def test_map_layers_need_a_key_and_a_served_date(client):
    assert (await client.get("/v1/map/network")).status == 401
    r = await client.get("/v1/map/network", params={"date": "2001-01-01"}, headers=auth("dis-jma"))
    body = await r.json(content_type=None)
    assert r.status == 200 and body["features"] == [] and body["notices"][0]["code"] == "outside_service_dates"
    r = await client.get("/v1/map/network", params={"date": "tomorrow"}, headers=auth("pk-alpha"))
    assert r.status == 422 and (await r.json(content_type=None))["field"] == "date"


async def test_streets_layer_is_empty_when_walking_in_straight_lines(client):
    r = await client.get("/v1/map/streets", headers=auth("op-test"))
    assert r.status == 200
    assert await r.json(content_type=None) == {"type": "FeatureCollection", "features": [],
                                                "source": "straight_line"}


def test_streets_layer_groups_edges_by_highway_class():
    g = StreetGraph(
        source_sha256="x", node_osmid=np.array([1, 2, 3]), node_lat=np.array([35.0, 35.001, 35.002]),
        node_lon=np.array([139.0, 139.001, 139.002]), edge_u=np.array([0, 1], np.int32),
        edge_v=np.array([1, 2], np.int32), edge_len=np.array([140.0, 140.0]), edge_osmid=np.array([10, 11]),
        edge_highway=np.array(["footway", "residential"]), geom_start=np.array([0, 3, 5]),
        geom_lon=np.array([139.0, 139.0005, 139.001, 139.001, 139.002]),
        geom_lat=np.array([35.0, 35.0004, 35.001, 35.001, 35.002]))
    doc = streets_geojson(g)
    by = {f["properties"]["highway"]: f["geometry"] for f in doc["features"]}
    assert doc["source"] == "osm" and set(by) == {"footway", "residential"}
    assert by["footway"] == {"type": "MultiLineString",
                             "coordinates": [[[139.0, 35.0], [139.0005, 35.0004], [139.001, 35.001]]]}
    assert doc["bbox"] == [139.0, 35.0, 139.002, 35.002]


def test_streets_layer_of_a_real_osm_file_has_every_edge(tmp_path):
    from conftest import shared_file
    from routing.streets import load_or_build

    graph = load_or_build(shared_file("osm/tokyo-shibuya.osm"), tmp_path)
    doc = streets_geojson(graph)
    drawn = sum(len(f["geometry"]["coordinates"]) for f in doc["features"])
    assert drawn == graph.n_edges and doc["source"] == "osm"
    assert {"footway", "residential"} <= {f["properties"]["highway"] for f in doc["features"]}
    west, south, east, north = doc["bbox"]  # the extract's ways reach 35.648–35.672 N, 139.679–139.711 E
    assert 139.67 < west < east < 139.72 and 35.64 < south < north < 35.68


def test_every_run_of_a_route_lies_along_a_drawn_line():
    """Merging drops only reverse and short runs that a drawn line of the same route already covers."""
    from maas.publishing.network import load_network
    from maas.publishing.map_layers import _contains, route_runs
    from routing.timetable import build_model

    model = build_model(load_network([], None, progress=False), DAY)
    drawn = route_runs(model)
    everything = route_runs(model, merge=False)
    assert len(drawn) < len(everything) == sum(1 for p in range(model.n_patterns) if model.pattern_len(p) >= 2)
    for r, _, seq in everything:
        assert any(dr == r and _contains(dseq, seq) for dr, _, dseq in drawn), (model.route_ids[r], seq)
    assert _contains((1, 2, 3, 4), (3, 2)) and not _contains((1, 2, 3, 4), (1, 3))


async def test_vendored_libraries_are_served_compressed(client):
    if missing_assets():
        pytest.skip(f"vendored libraries not installed ({missing_assets()}): run scripts/ensure-assets.sh")
    plain = await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js", headers={"Accept-Encoding": "identity"})
    packed = await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"},
                              auto_decompress=False)
    assert plain.status == packed.status == 200 and packed.headers["Content-Encoding"] == "gzip"
    assert int(packed.headers["Content-Length"]) < int(plain.headers["Content-Length"]) / 2
