"""RFC 9457 problem details: every error the API returns, and the middleware that guarantees no bare 500."""
from __future__ import annotations

import logging

import orjson
from aiohttp import web

from api.keys import REQUEST_ID
from maas.store.errors import RETRY_AFTER_S, transient_errors

log = logging.getLogger("maas.api")

PROBLEM_CT = "application/problem+json"
TYPE_BASE = "https://tokyo-maas.example/problems/"  # stable identifiers, not fetched by anyone

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          406: "Not Acceptable", 409: "Conflict", 410: "Gone", 413: "Content Too Large",
          415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests",
          500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}


class ApiProblem(Exception):
    """Raise anywhere in a handler to answer with problem+json; ``field`` names the offending input."""

    def __init__(self, status: int, detail: str, *, field: str | None = None, title: str | None = None,
                 type_: str | None = None, errors: list[dict] | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field
        self.title = title or TITLES.get(status, "Error")
        self.type = type_ or "about:blank"
        self.errors, self.headers, self.extra = errors, headers or {}, extra or {}


def invalid(field: str, detail: str) -> ApiProblem:
    """422 for a well-formed request whose ``field`` has a bad value."""
    return ApiProblem(422, detail, field=field, type_=TYPE_BASE + "invalid-parameter")


def problem_response(request: web.Request | None, status: int, detail: str, *, title: str | None = None,
                     field: str | None = None, type_: str = "about:blank", errors: list[dict] | None = None,
                     headers: dict | None = None, extra: dict | None = None) -> web.Response:
    body: dict = {"type": type_, "title": title or TITLES.get(status, "Error"), "status": status, "detail": detail}
    if request is not None:
        body["instance"] = request.path
        rid = request.get(REQUEST_ID)
        if rid:
            body["request_id"] = rid
    if field:
        body["field"] = field
        body["errors"] = [{"field": field, "message": detail}]
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return web.Response(status=status, body=orjson.dumps(body), content_type=PROBLEM_CT, headers=headers)


def _http_detail(exc: web.HTTPException, request: web.Request) -> str:
    if exc.status == 404:
        return f"no resource at {request.path}"
    if exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        return f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    text = exc.text or ""
    return text if text and not text.startswith(f"{exc.status}:") else exc.reason


@web.middleware
async def problem_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiProblem as p:
        return problem_response(request, p.status, p.detail, title=p.title, field=p.field, type_=p.type,
                                errors=p.errors, headers=p.headers, extra=p.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        keep = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after", "www-authenticate")}
        return problem_response(request, exc.status, _http_detail(exc, request), headers=keep)
    except transient_errors() as exc:  # Redis down or restarting, durability not confirmed: transient, retry later
        log.warning("store unavailable on %s %s: %s", request.method, request.path, exc)
        return problem_response(request, 503, "the booking store is unavailable right now; retry after "
                                              f"{RETRY_AFTER_S} s", type_=TYPE_BASE + "store-unavailable",
                                headers={"Retry-After": str(RETRY_AFTER_S)})
    except Exception:  # a bug: log it with the request id, answer without leaking internals
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(request, 500, "The server failed to handle this request; it has been logged.")


async def read_json(request: web.Request, *, what: str = "object") -> object:
    """The request body as JSON, or a 415/400 problem naming what is wrong (never a 500)."""
    ctype = request.content_type
    if ctype not in ("application/json", "") and not ctype.endswith("+json"):
        raise ApiProblem(415, f"send the body as application/json, not {ctype}", field="Content-Type")
    raw = await request.read()  # raises 413 past client_max_size, turned into problem+json above
    if not raw:
        raise ApiProblem(400, f"a JSON {what} body is required", field="body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiProblem(400, f"the body is not valid JSON: {exc}", field="body",
                         type_=TYPE_BASE + "malformed-json") from None
