"""One place per endpoint: the route, who may call it, its limits and its OpenAPI operation, registered together.

Registering through ``add`` is what makes "every endpoint checks the role" and "the OpenAPI document describes
every endpoint" true by construction: the guard wraps the handler and the spec is stored beside it.
"""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from aiohttp import web

from api.keys import ENDPOINTS, METRICS, PRINCIPAL, SERVICES
from api.problems import ApiProblem, invalid
from maas.platform.auth import AuthError, Principal, Role
from maas.platform.ratelimit import RateLimit

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ANY_ROLE = frozenset(Role)
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_BODY = 256 * 1024  # JSON requests are small; closure payloads get their own larger limit


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    roles: frozenset[Role] | None  # None: public (ops endpoints)
    spec: dict = field(default_factory=dict)  # the OpenAPI operation object
    timeout_s: float | None = DEFAULT_TIMEOUT_S  # None for streams
    max_body: int = DEFAULT_MAX_BODY
    # the query parameters its OpenAPI operation lists: any other is a 422 (a misspelt one would be ignored)
    query_names: frozenset[str] = field(default=frozenset())


def add(app: web.Application, method: str, path: str, handler: Handler, *, roles: frozenset[Role] | None,
        spec: dict, timeout_s: float | None = DEFAULT_TIMEOUT_S, max_body: int = DEFAULT_MAX_BODY) -> Endpoint:
    names = frozenset(p["name"] for p in spec.get("parameters", ()) if p.get("in") == "query")
    ep = Endpoint(method.upper(), path, handler, roles, spec, timeout_s, max_body, names)
    app[ENDPOINTS].append(ep)
    app.router.add_route(ep.method, path, _guarded(ep), name=spec.get("operationId"))
    return ep


def principal(request: web.Request) -> Principal:
    """The caller of a protected endpoint (the guard has already authenticated it)."""
    return request[PRINCIPAL]


async def _authorize(request: web.Request, ep: Endpoint) -> dict[str, str]:
    services = request.app[SERVICES]
    try:
        who = services.keys.authenticate(request.headers.get("Authorization"))
    except AuthError as exc:
        raise ApiProblem(401, str(exc), field="Authorization",
                         headers={"WWW-Authenticate": 'Bearer realm="maas"'}) from None
    request[PRINCIPAL] = who
    limit = RateLimit(who.rate.rate, who.rate.burst) if who.rate else services.rate_limit
    decision = await services.limiter.hit(who.key_id, limit)
    headers = {"RateLimit-Limit": str(decision.limit), "RateLimit-Remaining": str(decision.remaining),
               "RateLimit-Reset": str(math.ceil(decision.reset_s))}
    if not decision.allowed:
        request.app[METRICS].rate_limited()
        retry = max(1, math.ceil(decision.retry_after_s))
        raise ApiProblem(429, f"rate limit of {limit.rate:g} requests/s (burst {limit.burst}) exceeded for this "
                              f"key; retry in {retry} s", headers={**headers, "Retry-After": str(retry)})
    if ep.roles is not None and not who.has_role(ep.roles):
        allowed = ", ".join(sorted(r.value for r in ep.roles))
        raise ApiProblem(403, f"a {who.role.value} key may not call {ep.method} {ep.path} (needs: {allowed})",
                         field="Authorization")
    return headers


def _known_query(request: web.Request, ep: Endpoint) -> None:
    """A 422 naming the first query parameter the endpoint does not take, and the ones it does."""
    unknown = sorted(k for k in request.query if k not in ep.query_names)
    if unknown:
        takes = f"takes {', '.join(sorted(ep.query_names))}" if ep.query_names else "takes no query parameters"
        raise invalid(unknown[0], f"unknown query parameter {unknown[0]!r}; {ep.method} {ep.path} {takes}")


def _guarded(ep: Endpoint) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        headers = await _authorize(request, ep) if ep.roles is not None else {}
        if request.query:
            _known_query(request, ep)
        if request.content_length is not None and request.content_length > ep.max_body:
            raise ApiProblem(413, f"the request body has {request.content_length} bytes; {ep.method} {ep.path} "
                                  f"accepts at most {ep.max_body}", field="body")
        try:
            if ep.timeout_s is None:
                response = await ep.handler(request)
            else:
                async with asyncio.timeout(ep.timeout_s):
                    response = await ep.handler(request)
        except TimeoutError:
            raise ApiProblem(504, f"the request took longer than {ep.timeout_s:g} s and was abandoned") from None
        if headers and not response.prepared:
            response.headers.update(headers)
        return response

    guarded.__name__ = guarded.__qualname__ = getattr(ep.handler, "__name__", "handler")
    return guarded
