"""Request ids, structured JSON access logs and Prometheus metrics: what every request leaves behind.

The request id comes from a well-formed ``X-Request-ID`` header or is made here; it is echoed back, put in every
log record written while the request runs (a ContextVar, so planner threads started by it carry it too) and in
problem bodies, so one id ties a client's report to the server's logs.
"""
from __future__ import annotations

import bisect
import contextvars
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from api.keys import METRICS, PRINCIPAL, REQUEST_ID as REQUEST_ID_KEY  # noqa: N811

CURRENT_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
REQUEST_ID_HEADER = "X-Request-ID"
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("maas.access")

# Latency buckets in seconds: planner answers sit in the low milliseconds, slow paths in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        rid = getattr(record, "request_id", None) or CURRENT_REQUEST_ID.get()
        if rid:
            out["request_id"] = rid
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the whole process (called once by the server, never by the app factory)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    n: int = 0


@dataclass
class Metrics:
    """Request counts by (method, route, status) and a latency histogram by (method, route), per process.

    Routes are the route templates (``/v1/stops/{id}/departures``), unmatched paths count as ``unmatched``, so
    the number of series stays bounded whatever clients send.
    """

    requests: dict[tuple[str, str, int], int] = field(default_factory=dict)
    latency: dict[tuple[str, str], _Histogram] = field(default_factory=dict)
    in_flight: int = 0
    rate_limited: int = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        h = self.latency.get((method, route))
        if h is None:
            h = self.latency[(method, route)] = _Histogram()
        h.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        h.total += seconds
        h.n += 1

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        lines = ["# HELP maas_http_requests_total HTTP requests by method, route and status.",
                 "# TYPE maas_http_requests_total counter"]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(f'maas_http_requests_total{{method="{method}",route="{_esc(route)}",status="{status}"}} {n}')
        lines += ["# HELP maas_http_request_duration_seconds Time to answer, by method and route.",
                  "# TYPE maas_http_request_duration_seconds histogram"]
        for (method, route), h in sorted(self.latency.items()):
            labels = f'method="{method}",route="{_esc(route)}"'
            cum = 0
            for le, c in zip(BUCKETS, h.counts):
                cum += c
                lines.append(f'maas_http_request_duration_seconds_bucket{{{labels},le="{le}"}} {cum}')
            lines.append(f'maas_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {h.n}')
            lines.append(f"maas_http_request_duration_seconds_sum{{{labels}}} {h.total:.6f}")
            lines.append(f"maas_http_request_duration_seconds_count{{{labels}}} {h.n}")
        lines += ["# HELP maas_http_requests_in_flight Requests being handled now.",
                  "# TYPE maas_http_requests_in_flight gauge", f"maas_http_requests_in_flight {self.in_flight}",
                  "# HELP maas_rate_limited_total Requests refused by the per-key rate limit.",
                  "# TYPE maas_rate_limited_total counter", f"maas_rate_limited_total {self.rate_limited}",
                  "# HELP maas_process_info This worker process (each worker keeps its own counters).",
                  "# TYPE maas_process_info gauge", f'maas_process_info{{pid="{os.getpid()}"}} 1']
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def route_label(request: web.Request) -> str:
    info = request.match_info
    if info.http_exception is not None or info.route.resource is None:
        return "unmatched"
    return info.route.resource.canonical


@web.middleware
async def observe_middleware(request: web.Request, handler):
    """Outermost: assign the request id, time the request, count it and write one access log line."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    rid = incoming if _GOOD_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID_KEY] = rid
    token = CURRENT_REQUEST_ID.set(rid)
    metrics = request.app[METRICS]
    metrics.in_flight += 1
    t0 = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:  # streams (SSE) set it themselves before their headers go out
            response.headers[REQUEST_ID_HEADER] = rid
        return response
    except web.HTTPException as exc:  # redirects and the like pass through here untouched
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = rid
        raise
    finally:
        elapsed = time.perf_counter() - t0
        metrics.in_flight -= 1
        route = route_label(request)
        metrics.observe(request.method, route, status, elapsed)
        principal = request.get(PRINCIPAL)
        access_log.info("%s %s %s", request.method, request.path, status, extra={"fields": {
            "method": request.method, "path": request.path, "route": route, "status": status,
            "duration_ms": round(elapsed * 1000, 2), "remote": request.remote,
            "key_id": principal.key_id if principal else None}})
        CURRENT_REQUEST_ID.reset(token)
