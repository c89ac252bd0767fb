"""The OpenAPI document comes from the typed models, and the models hold what the server really sends: real
responses decode into them with no undeclared field, every example decodes, every schema has its fields, every
operation and every error has an example."""
from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from api.app import create_app
from api.models import search
from api.models.problem import Problem
from api.models.examples import EXAMPLES
from api.openapi import document
from api_support import auth, client_for, services_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
P = auth("pk-alpha")
WHEN = "2026-12-01T08:00:00+09:00"


@pytest.fixture
async def client(sample_transit):
    async with client_for(services_for(sample_transit)) as c:
        yield c


@pytest.fixture(scope="module")
def spec(sample_transit) -> dict:
    return document(create_app(services_for(sample_transit), close_services=False))


@pytest.mark.parametrize("model", list(EXAMPLES), ids=lambda m: m.__name__)
def test_every_example_decodes_into_its_model(model):
    msgspec.convert(EXAMPLES[model], model)


async def test_plans_conform_to_the_models(client):
    """Subway, bus, shuttle (booking message), walks from coordinates, English names: all declared."""
    cases = [
        {"from": "都庁前", "to": "大門", "depart_at": WHEN},
        {"from": "35.6895,139.6917", "to": "odaiba", "depart_at": WHEN, "num": "3"},
        {"from": "toei-subway:P-tochomae", "to": "shuttle-nishishinjuku:NS-01", "depart_at": WHEN},
    ]
    seen_modes, keys = set(), set()
    for q in cases:
        for lang in ("ja", "en"):
            r = await client.get("/v1/plan", params=q, headers={**P, "Accept-Language": lang})
            assert r.status == 200, await r.text()
            body = msgspec.convert(await r.json(), search.PlanResponse)
            assert body.itineraries, q
            for it in body.itineraries:
                for leg in it.legs:
                    seen_modes.add(leg.mode)
                    keys |= {f for f in leg.__struct_fields__ if getattr(leg, f) is not msgspec.UNSET}
    assert {"WALK", "SUBWAY"} <= seen_modes
    assert {"headsign_ja", "intermediate_stops", "geometry"} <= keys


async def test_stops_boards_and_trips_conform(client):
    for params in ({"q": "とちょうまえ"}, {"q": "Tochomea"}, {"near": "35.6906,139.6926", "radius": "800"}, {}):
        for lang in ("ja", "en"):
            r = await client.get("/v1/stops", params=params, headers={**P, "Accept-Language": lang})
            msgspec.convert(await r.json(), search.StopsResponse)
    r = await client.get("/v1/stops/toei-subway:P-tochomae/departures", params={"at": WHEN},
                         headers={**P, "Accept-Language": "en"})
    board = msgspec.convert(await r.json(), search.DeparturesResponse)
    assert board.departures
    r = await client.get(f"/v1/trips/{board.departures[0].trip_id}", params={"date": WHEN[:10]},
                         headers={**P, "Accept-Language": "en"})
    msgspec.convert(await r.json(), search.Trip)
    r = await client.get("/v1/plan", params={"from": "Tochomea", "to": "大門", "depart_at": WHEN}, headers=P)
    problem = msgspec.convert(await r.json(content_type=None), Problem)
    assert r.status == 404 and problem.suggestions


def _bare_objects(node, path="") -> list[str]:
    out = []
    if isinstance(node, dict):
        if node.get("type") == "object" and not ({"properties", "additionalProperties", "oneOf", "anyOf",
                                                  "$ref", "patternProperties"} & set(node)):
            out.append(path)
        for k, v in node.items():
            out += _bare_objects(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _bare_objects(v, f"{path}[{i}]")
    return out


def test_search_schemas_have_their_fields(spec):
    """No bare `object` in the search operations or the shared components they use."""
    search_paths = {p: v for p, v in spec["paths"].items() if p.startswith(("/v1/plan", "/v1/stops", "/v1/trips"))}
    assert _bare_objects(search_paths) == []
    for name in ("Itinerary", "Leg", "Place", "Stop", "Departure", "Trip", "Problem", "PlanResponse"):
        assert _bare_objects(spec["components"]["schemas"][name]) == [], name
    leg = spec["components"]["schemas"]["Leg"]["properties"]
    assert {"route", "headsign", "geometry", "from", "to", "intermediate_stops"} <= set(leg)
    assert spec["components"]["schemas"]["Route"]["properties"]["color"]["pattern"]


def test_search_operations_and_their_errors_have_examples(spec):
    for path in ("/v1/plan", "/v1/stops", "/v1/stops/{id}/departures", "/v1/trips/{id}"):
        op = spec["paths"][path]["get"]
        for status, response in op["responses"].items():
            for media, content in response.get("content", {}).items():
                assert "example" in content or "examples" in content, (path, status, media)


async def test_feed_answers_conform(tmp_path):
    """Publish, list, versions, rollback and a rejected upload, each decoded into its model."""

    from api_support import DAY, TOKYO, tiny_transit
    from api.models import feeds as fm
    from maas.publishing.feed_registry import FeedRegistry
    from maas.publishing.feed_swap import FeedManager
    from test_names import feed_zip_bytes

    transit = tiny_transit(tmp_path)
    clock = lambda: dt.datetime.combine(DAY, dt.time(7, 0), TOKYO)  # noqa: E731
    services = services_for(transit, feeds=FeedManager(FeedRegistry(tmp_path / "feeds"), transit, clock=clock))
    op = auth("op-test")
    try:
        async with client_for(services) as c:
            for _ in range(2):
                r = await c.post("/v1/feeds/test", data=feed_zip_bytes(),
                                 headers={**op, "Content-Type": "application/zip"})
                assert r.status == 201, await r.text()
                msgspec.convert(await r.json(), fm.Published)
            msgspec.convert(await (await c.get("/v1/feeds", headers=P)).json(), fm.FeedList)
            msgspec.convert(await (await c.get("/v1/feeds/test/versions", headers=P)).json(), fm.VersionList)
            r = await c.post("/v1/feeds/test/rollback", headers=op)
            msgspec.convert(await r.json(), fm.Published)
            r = await c.post("/v1/feeds/test", data=b"PK\x05\x06" + b"\0" * 18,
                             headers={**op, "Content-Type": "application/zip"})
            assert r.status in (400, 422)
            msgspec.convert(await r.json(content_type=None), Problem)
            from test_api_feeds import feed_zip

            r = await c.post("/v1/feeds/test", data=feed_zip(drop="stops"),
                             headers={**op, "Content-Type": "application/zip"})
            rejected = msgspec.convert(await r.json(content_type=None), Problem)
            assert r.status == 422 and rejected.report.errors >= 1
    finally:
        transit.close()


async def test_closure_answers_and_examples_conform(sample_transit):
    """The documented JSON and CAP examples are accepted as written, and every closure answer fits its model."""
    from api.models import closures as cm
    from api.models.examples import CAP_EXAMPLE
    from maas.disruptions.closure_store import MemoryClosureStore
    from maas.services import closure_service
    from maas.platform.settings import Settings

    dis = auth("dis-jma")
    services = services_for(sample_transit,
                            closures=closure_service(Settings(), sample_transit, store=MemoryClosureStore()))
    async with client_for(services) as c:
        r = await c.post("/v1/closures", json=EXAMPLES[cm.ClosureIn], headers=dis)
        assert r.status == 201, await r.text()
        msgspec.convert(await r.json(), cm.Applied)
        r = await c.post("/v1/closures", data=CAP_EXAMPLE.encode(),
                         headers={**dis, "Content-Type": "application/cap+xml"})
        assert r.status == 201, await r.text()
        applied = msgspec.convert(await r.json(), cm.Applied)
        assert applied.accepted[0].cap is not msgspec.UNSET
        listed = msgspec.convert(await (await c.get("/v1/closures", headers=dis)).json(), cm.ClosureList)
        assert listed.closures and listed.version >= 2
        r = await c.get("/v1/alerts", headers={**dis, "Accept": "application/json"})
        msgspec.convert(await r.json(), cm.FeedMessage)
        r = await c.post("/v1/closures", json={"targets": {"stops": ["toei-subway:NOPE"]}}, headers=dis)
        assert r.status == 422
        msgspec.convert(await r.json(content_type=None), Problem)


# Free-form parts the document leaves open on purpose, with the reason.
OPEN_OBJECTS = {
    "/paths//v1/operators/{id}/profile": "an operator profile's sections are checked by the fare engine "
                                         "(docs/fares.md), not by the document",
}


def test_every_schema_has_its_fields(spec):
    left = [p for p in _bare_objects(spec) if not any(p.startswith(k) for k in OPEN_OBJECTS)]
    assert left == []


def test_every_operation_and_every_error_has_an_example(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            found = 0
            bodies = [("body", op["requestBody"])] if "requestBody" in op else []
            for status, part in list(op["responses"].items()) + bodies:
                for media, content in part.get("content", {}).items():
                    has = "example" in content or "examples" in content
                    found += has
                    if media == "application/problem+json" or media == "application/json":
                        assert has, (method, path, status, media)
            assert found, (method, path)
