"""CORS: browser apps on the configured origins may call the API (Settings.cors_origins, `--cors-origin`).

Preflights (OPTIONS with Access-Control-Request-Method) are answered by the middleware, before routing and
authentication, because browsers send them without credentials. The response headers are added when a response is
prepared (`on_response_prepare`), so streams (the SSE events) and errors carry them too. Origins not listed get no
CORS headers at all, so the browser refuses the response; non-browser clients are unaffected either way.
"""
from __future__ import annotations

from aiohttp import web

ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, Accept-Language, Last-Event-ID, X-Request-Id"
EXPOSE_HEADERS = ("Location, Retry-After, X-Request-Id, Content-Language, RateLimit-Limit, RateLimit-Remaining, "
                  "RateLimit-Reset, Idempotent-Replayed")
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
MAX_AGE_S = 600


class Cors:
    """The allowed origins ("*" allows any; an origin is scheme://host[:port], no trailing slash)."""

    def __init__(self, origins: list[str]):
        self.allowed = {o.rstrip("/") for o in origins}
        self.any = "*" in self.allowed

    def grant(self, origin: str | None) -> str | None:
        if not origin or not self.allowed:
            return None
        if self.any:
            return "*"
        return origin if origin in self.allowed else None

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.preflight)
        app.on_response_prepare.append(self.add_headers)

    @web.middleware
    async def preflight(self, request: web.Request, handler) -> web.StreamResponse:
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            granted = self.grant(request.headers.get("Origin"))
            headers = {"Vary": "Origin"}
            if granted is not None:
                headers.update({"Access-Control-Allow-Origin": granted, "Access-Control-Allow-Methods": ALLOW_METHODS,
                                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                                "Access-Control-Max-Age": str(MAX_AGE_S)})
            return web.Response(status=204, headers=headers)
        return await handler(request)

    async def add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        granted = self.grant(request.headers.get("Origin"))
        if granted is None or "Access-Control-Allow-Origin" in response.headers:
            return
        response.headers["Access-Control-Allow-Origin"] = granted
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        if granted != "*":
            response.headers.add("Vary", "Origin")
