"""Operational endpoints: liveness, readiness and Prometheus metrics (public, outside /v1)."""
from __future__ import annotations

from aiohttp import web

from api import respond
from api.endpoint import add
from api.keys import METRICS, SERVICES
from api.models.ops import Health, Readiness
from api.openapi import ok
from maas.store.errors import RETRY_AFTER_S

async def healthz(request: web.Request) -> web.Response:
    return respond.model(Health(status="ok"))


async def readyz(request: web.Request) -> web.Response:
    """Ready when feeds are loaded, start-up finished, the planner warm with today's and tomorrow's models built
    (`Services.readiness`) and the store answers: a load balancer stops sending traffic to a worker whose Redis is
    unreachable, and resumes once it answers again."""
    services = request.app[SERVICES]
    ready, detail = services.readiness()
    if not ready:
        return respond.model(Readiness(status="starting", **detail), status=503)
    problem = await services.store_problem()
    if problem is not None:
        return respond.model(Readiness(status="store_unavailable", detail=problem, **detail), status=503,
                             headers={"Retry-After": str(RETRY_AFTER_S)})
    return respond.model(Readiness(status="ready", **detail))


def memory_lines(report: dict) -> list[str]:
    """Prometheus gauges of the answering worker's memory (`TransitService.memory_report`; labelled by pid, as the
    other series add up the host's workers): resident, proportional (PSS: shared pages split between the workers
    sharing them) and anonymous bytes, the network's tables, and the model bytes per loaded service day — what
    sizing a replica needs (docs/deployment.md)."""
    import os

    pid = f'pid="{os.getpid()}"'
    proc = report["process"]
    lines = []
    for key, name, text in (("rss", "maas_process_resident_bytes", "Resident memory of this worker."),
                            ("pss", "maas_process_pss_bytes", "Proportional set size: shared pages split between "
                                                              "the processes sharing them."),
                            ("anon", "maas_process_anonymous_bytes", "Resident memory not backed by a file.")):
        if key in proc:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name}{{{pid}}} {proc[key]}"]
    days = report["service_days"]
    lines += ["# HELP maas_transit_network_bytes The loaded feeds' tables.", "# TYPE maas_transit_network_bytes gauge",
              f"maas_transit_network_bytes{{{pid}}} {report['network_bytes']}",
              "# HELP maas_transit_service_days Transit models in memory (each answers the plans of its service "
              "day and the next).",
              "# TYPE maas_transit_service_days gauge", f"maas_transit_service_days{{{pid}}} {len(days)}",
              "# HELP maas_transit_model_bytes Arrays of one loaded model, by its service date (with its cached "
              "forward and reversed timetables).", "# TYPE maas_transit_model_bytes gauge"]
    lines += [f'maas_transit_model_bytes{{{pid},service_date="{d}"}} {n}' for d, n in sorted(days.items())]
    return lines


async def metrics(request: web.Request) -> web.Response:
    text = request.app[METRICS].render() + "\n".join(memory_lines(request.app[SERVICES].transit.memory_report())) + "\n"
    return web.Response(text=text, content_type="text/plain",
                        headers={"X-Content-Type-Options": "nosniff"}, charset="utf-8")


def add_routes(app: web.Application) -> None:
    add(app, "GET", "/healthz", healthz, roles=None, spec={
        "operationId": "healthz", "summary": "Liveness", "tags": ["ops"], "responses": ok(Health)})
    add(app, "GET", "/readyz", readyz, roles=None, spec={
        "operationId": "readyz", "summary": "Readiness: feeds loaded, services wired, today's and tomorrow's models "
                                            "built and warm, store reachable", "tags": ["ops"],
        "responses": {**ok(Readiness), "503": {"description": "Not ready yet, or the store is unreachable",
                                               "content": {"application/json": {"schema": Readiness}}}}})
    add(app, "GET", "/metrics", metrics, roles=None, spec={
        "operationId": "metrics", "summary": "Prometheus metrics (text format 0.0.4)", "tags": ["ops"],
        "responses": ok({"type": "string", "description": "Prometheus text: maas_http_requests_total{method, "
                                                          "route, status}, latency histograms, …"},
                        media="text/plain", example='maas_http_requests_total{method="GET",route="/v1/plan",'
                                                    'status="200"} 42\n')})
