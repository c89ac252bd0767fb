"""The API's cross-cutting behaviour: ops endpoints, problem+json, auth and roles, rate limits, body limits,
request ids, metrics and the OpenAPI document (the pages: test_api_pages.py)."""
from __future__ import annotations

import asyncio

import pytest

from api_support import auth, client_for, services_for, tiny_transit
from maas.platform.auth import Role

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def transit(tmp_path_factory):
    t = tiny_transit(tmp_path_factory.mktemp("api-app"))
    yield t
    t.close()


@pytest.fixture
async def client(transit):
    async with client_for(services_for(transit)) as c:
        yield c


async def problem(resp, status: int) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json(content_type=None)
    assert body["status"] == status and body["title"] and body["detail"] and body["instance"]
    return body


async def test_health_ready_and_request_id(client):
    r = await client.get("/healthz")
    assert r.status == 200 and (await r.json()) == {"status": "ok"}
    assert len(r.headers["X-Request-ID"]) == 32
    r = await client.get("/readyz", headers={"X-Request-ID": "abc-123"})
    body = await r.json()
    if r.status == 503:  # not ready until the planner has run once per thread (kernels compiled or loaded)
        assert body["status"] == "starting" and body["planner"] == "warming"
    for _ in range(3000):
        if body["status"] == "ready":
            break
        await asyncio.sleep(0.1)
        r = await client.get("/readyz", headers={"X-Request-ID": "abc-123"})
        body = await r.json()
    assert r.status == 200 and body["status"] == "ready" and body["feeds"] == ["test"] and body["planner"] == "warm"
    assert r.headers["X-Request-ID"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["X-Request-ID"] != "bad id with spaces"


async def test_unknown_path_and_wrong_method_are_problems(client):
    body = await problem(await client.get("/v1/nothing-here", headers={"X-Request-ID": "rid-1"}), 404)
    assert body["request_id"] == "rid-1" and "/v1/nothing-here" in body["detail"]
    r = await client.post("/v1/plan", headers=auth("pk-alpha"))
    body = await problem(r, 405)
    assert "GET" in r.headers["Allow"] and "POST" in body["detail"]


@pytest.mark.parametrize("headers, reason", [
    ({}, "missing Authorization"), (auth("nope"), "unknown API key"), ({"Authorization": "Basic eDp5"}, "Bearer"),
])
async def test_protected_endpoints_need_a_known_key(client, headers, reason):
    r = await client.get("/v1/stops", params={"q": "eki"}, headers=headers)
    body = await problem(r, 401)
    assert reason in body["detail"] and body["field"] == "Authorization"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


async def test_wrong_role_is_forbidden(client):
    body = await problem(await client.get("/v1/plan", params={"from": "test:S", "to": "test:C"},
                                          headers=auth("dis-jma")), 403)
    assert "disaster" in body["detail"] and "partner" in body["detail"]


async def test_rate_limit_per_key(client):
    codes = [(await client.get("/v1/stops", params={"q": "eki"}, headers=auth("pk-slow"))).status
             for _ in range(3)]
    assert codes == [200, 200, 429]
    r = await client.get("/v1/stops", params={"q": "eki"}, headers=auth("pk-slow"))
    body = await problem(r, 429)
    assert int(r.headers["Retry-After"]) >= 1 and r.headers["RateLimit-Remaining"] == "0"
    assert "rate limit" in body["detail"]
    ok = await client.get("/v1/stops", params={"q": "eki"}, headers=auth("pk-alpha"))  # other keys unaffected
    assert ok.status == 200 and int(ok.headers["RateLimit-Remaining"]) > 0


async def test_metrics_count_requests_by_route_and_status(client):
    await client.get("/healthz")
    await client.get("/v1/stops/test:S/departures", params={"at": "2026-11-24T07:30:00+09:00"},
                     headers=auth("pk-alpha"))
    await client.get("/no/such/path")
    text = await (await client.get("/metrics")).text()
    assert 'maas_http_requests_total{method="GET",route="/healthz",status="200"} 1' in text
    assert 'route="/v1/stops/{id}/departures",status="200"' in text
    assert 'maas_http_requests_total{method="GET",route="unmatched",status="404"} 1' in text
    assert '# TYPE maas_http_request_duration_seconds histogram' in text
    assert 'maas_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"} 1' in text


async def test_openapi_document_describes_every_route(client):
    r = await client.get("/openapi.json")
    doc = await r.json()
    assert doc["openapi"].startswith("3.1")
    registered = {(res.canonical, route.method.lower()) for res in client.app.router.resources()
                  for route in res if route.method != "HEAD" and not res.canonical.startswith("/static")}
    documented = {(p, m) for p, item in doc["paths"].items() for m in item}
    assert registered == documented
    plan = doc["paths"]["/v1/plan"]["get"]
    assert plan["security"] == [{"bearer": []}] and {"401", "403", "422", "429"} <= set(plan["responses"])
    assert {p["name"] for p in plan["parameters"]} >= {"from", "to", "depart_at", "arrive_by", "num"}
    assert "security" not in doc["paths"]["/healthz"]["get"]


async def test_slow_handler_times_out_as_504_problem(transit):
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from api.app import create_app
    from api.endpoint import add

    async def slow(request):
        await asyncio.sleep(5)
        return web.Response(text="late")

    app = create_app(services_for(transit), close_services=False)
    add(app, "GET", "/v1/slow", slow, roles=frozenset({Role.PARTNER}), timeout_s=0.1, spec={"summary": "slow"})
    async with TestClient(TestServer(app)) as c:
        r = await c.get("/v1/slow", headers=auth("pk-alpha"))
        body = await problem(r, 504)
        assert "0.1 s" in body["detail"]


def test_json_log_lines_carry_the_request_id():
    import json
    import logging

    from api.observe import CURRENT_REQUEST_ID, JsonFormatter

    token = CURRENT_REQUEST_ID.set("rid-42")
    try:
        rec = logging.LogRecord("maas.x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        rec.fields = {"status": 200}
        line = json.loads(JsonFormatter().format(rec))
    finally:
        CURRENT_REQUEST_ID.reset(token)
    assert line["msg"] == "hello world" and line["request_id"] == "rid-42" and line["status"] == 200
    assert line["level"] == "info" and line["logger"] == "maas.x"


async def test_metrics_report_memory_per_loaded_service_day(client):
    """Sizing a replica: the worker's resident/PSS bytes, the network's tables and each loaded service day's
    model (issue 16), as gauges that follow what is loaded."""
    import os
    import re

    await client.get("/v1/stops/test:S/departures", params={"at": "2026-11-24T07:30:00+09:00"},
                     headers=auth("pk-alpha"))  # the model of the 24th is loaded now
    text = await (await client.get("/metrics")).text()
    pid = f'pid="{os.getpid()}"'  # the test app runs in this process
    gauges = dict(re.findall(r"^(maas_(?:process_(?:resident|pss|anonymous)|transit)_[a-z_]+\{[^}]*\}) (\d+)$",
                             text, re.M))
    assert int(gauges[f"maas_process_resident_bytes{{{pid}}}"]) > 10 * 2**20
    assert int(gauges[f"maas_transit_network_bytes{{{pid}}}"]) > 0
    days = {k: int(v) for k, v in gauges.items() if k.startswith("maas_transit_model_bytes")}
    assert f'maas_transit_model_bytes{{{pid},service_date="2026-11-24"}}' in days and all(v > 0 for v in days.values())
    assert int(gauges[f"maas_transit_service_days{{{pid}}}"]) == len(days)


def test_the_embedded_store_serves_without_importing_redis(tmp_path):
    """Redis is imported only where it is used (~7 MiB a worker): the app built and started the way `maas serve`
    does with the embedded store, ready, never loads it (nor counts its errors as the store's)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from api_support import tiny_tables
    from gtfs_builders import write_gtfs

    feed = write_gtfs(tmp_path / "tiny", tiny_tables())
    script = f"""
import asyncio, json, sys
from pathlib import Path
from aiohttp.test_utils import TestClient, TestServer
from api.app import create_app
from maas.platform.settings import Settings
from maas.services import Services
from maas.store.errors import transient_errors

async def main():
    settings = Settings(feeds=["test={feed}"], data_dir=Path({str(tmp_path / "d")!r}),
                        cache_dir=Path({str(tmp_path / "c")!r}))
    services = Services.build(settings)
    async with TestClient(TestServer(create_app(services))) as client:
        for _ in range(600):  # (ready once the planner is warm)
            ready = (await client.get("/readyz")).status
            if ready == 200:
                break
            await asyncio.sleep(0.1)
    print(json.dumps({{"ready": ready, "errors": len(transient_errors()),
                      "redis": sorted(m for m in sys.modules if m == "redis" or m.startswith("redis."))}}))

asyncio.run(main())
"""
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=root,
                         env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got == {"ready": 200, "errors": 2, "redis": []}
