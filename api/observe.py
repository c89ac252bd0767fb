"""Request ids, structured JSON access logs and Prometheus metrics: what every request leaves behind.

The request id comes from a well-formed ``X-Request-ID`` header or is made here; it is echoed back, put in every
log record written while the request runs (a ContextVar, so planner threads started by it carry it too) and in
problem bodies, so one id ties a client's report to the server's logs.
"""
from __future__ import annotations

import contextvars
import logging
import os
import re
import time

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
    """JSON lines on stderr for the whole process (called once by the server, never by the app factory). A record
    no longer looks up its caller's file and line, thread, process or multiprocessing names (the logging HOWTO's
    optimisations): `JsonFormatter` writes none of them, and the access log's record cost a third of it (every
    request's, on the event loop)."""
    logging._srcfile = None  # (documented: no sys._getframe walk per record)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LABEL_ORDER = {"method": 0, "route": 1, "status": 2, "pid": 3, "le": 9}


class Metrics:
    """Request counts by (method, route, status), a latency histogram by (method, route), requests in flight and
    rate-limit refusals — for the whole host when ``PROMETHEUS_MULTIPROC_DIR`` is set (the supervisor of
    `maas serve --workers N` sets it to a fresh folder): each worker writes its figures to its own files there
    (prometheus-client's multiprocess mode) and ``/metrics`` on any worker reads and adds up every worker's,
    the dead ones' counters included (in-flight counts only the live). Without it: this process's figures.

    Routes are the route templates (``/v1/stops/{id}/departures``), unmatched paths count as ``unmatched``, so
    the number of series stays bounded whatever clients send.
    """

    def __init__(self, multiproc_dir: str | None = None):
        # (method, route, status) → its request counter and latency histogram: `labels` checks and locks on every
        # call (two per request on the event loop); the children it returns are the same for the same labels
        self._children: dict[tuple[str, str, int], tuple] = {}
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

        self.dir = multiproc_dir or os.environ.get(MULTIPROC_ENV) or None
        if self.dir and os.environ.get(MULTIPROC_ENV) != self.dir:
            os.environ[MULTIPROC_ENV] = self.dir
        if self.dir and values.ValueClass is values.MutexValue:  # prometheus_client imported before the env was set
            values.ValueClass = values.get_value_class()
        self._registry = None if self.dir else CollectorRegistry(auto_describe=True)
        reg = self._registry
        self._requests = Counter("maas_http_requests", "HTTP requests by method, route and status.",
                                 ("method", "route", "status"), registry=reg)
        self._latency = Histogram("maas_http_request_duration_seconds", "Time to answer, by method and route.",
                                  ("method", "route"), buckets=BUCKETS, registry=reg)
        self._in_flight = Gauge("maas_http_requests_in_flight", "Requests being handled now.", registry=reg,
                                multiprocess_mode="livesum")
        self._limited = Counter("maas_rate_limited", "Requests refused by the per-key rate limit.", registry=reg)
        info = Gauge("maas_process_info", "The worker processes serving (one series per live worker).",
                     () if self.dir else ("pid",), registry=reg, multiprocess_mode="liveall")
        (info if self.dir else info.labels(str(os.getpid()))).set(1)

    def started(self) -> None:
        self._in_flight.inc()

    def finished(self, method: str, route: str, status: int, seconds: float) -> None:
        self._in_flight.dec()
        self.observe(method, route, status, seconds)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self._requests.labels(method, route, str(status)),
                                              self._latency.labels(method, route))
        count, latency = children
        count.inc()
        latency.observe(seconds)

    def rate_limited(self) -> None:
        self._limited.inc()

    def _families(self):
        if self._registry is not None:
            return list(self._registry.collect())
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.dir)
        return list(registry.collect())

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4 (integers where the figure is a count)."""
        lines = []
        for fam in sorted(self._families(), key=lambda f: f.name):
            name = fam.name + "_total" if fam.type == "counter" else fam.name
            lines += [f"# HELP {name} {fam.documentation}", f"# TYPE {name} {fam.type}"]
            samples = [s for s in fam.samples if not s.name.endswith("_created")]
            for s in sorted(samples, key=_sample_order):
                labels = ",".join(f'{k}="{_esc(str(v))}"' for k, v in
                                  sorted(s.labels.items(), key=lambda kv: _LABEL_ORDER.get(kv[0], 5)))
                value = (f"{s.value:.6f}" if s.name.endswith("_sum")
                         else str(int(s.value)) if float(s.value).is_integer() else repr(s.value))
                lines.append(f"{s.name}{{{labels}}} {value}" if labels else f"{s.name} {value}")
        return "\n".join(lines) + "\n"


def _sample_order(s) -> tuple:
    """Series by their labels; a histogram's buckets by bound, then its sum and count."""
    le = s.labels.get("le")
    rest = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
    kind = 0 if s.name.endswith("_bucket") else 1 if s.name.endswith("_sum") else 2
    bound = float("inf") if le in (None, "+Inf") else float(le)
    return rest, kind, bound


def mark_worker_dead(pid: int, multiproc_dir: str) -> None:
    """The supervisor's part when a worker dies: its live-only series (in flight) stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, multiproc_dir)


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
    # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID (a third of its cost)
    rid = incoming if incoming and _GOOD_ID.match(incoming) else os.urandom(16).hex()
    request[REQUEST_ID_KEY] = rid
    token = CURRENT_REQUEST_ID.set(rid)
    metrics = request.app[METRICS]
    metrics.started()
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
        route = route_label(request)
        metrics.finished(request.method, route, status, elapsed)
        principal = request.get(PRINCIPAL)
        access_log.info("%s %s %s", request.method, request.path, status, extra={"fields": {
            "method": request.method, "path": request.path, "route": route, "status": status,
            "duration_ms": round(elapsed * 1000, 2), "remote": request.remote,
            "key_id": principal.key_id if principal else None}})
        CURRENT_REQUEST_ID.reset(token)
