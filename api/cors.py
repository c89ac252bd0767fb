"""CORS: browser apps on the configured origins may call the API (Settings.cors_origins, `--cors-origin`).

Preflights (OPTIONS with Access-Control-Request-Method) are answered here, before routing and authentication,
because browsers send them without credentials. Origins not listed get no CORS headers at all, so the browser
refuses the response; non-browser clients are unaffected either way.
"""
from __future__ import annotations

from aiohttp import web

ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, Accept-Language, Last-Event-ID, X-Request-Id"
EXPOSE_HEADERS = ("Location, Retry-After, X-Request-Id, Content-Language, RateLimit-Limit, RateLimit-Remaining, "
                  "RateLimit-Reset, Idempotent-Replayed")
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
MAX_AGE_S = 600


def cors_middleware(origins: list[str]):
    """A middleware allowing ``origins`` ("*" allows any; an origin is scheme://host[:port], no trailing slash)."""
    allowed = {o.rstrip("/") for o in origins}
    any_origin = "*" in allowed

    def allow(origin: str | None) -> str | None:
        if not origin:
            return None
        if any_origin:
            return "*"
        return origin if origin in allowed else None

    @web.middleware
    async def cors(request: web.Request, handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        granted = allow(origin)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if granted is None:
                return web.Response(status=204, headers={"Vary": "Origin"})
            return web.Response(status=204, headers={
                "Access-Control-Allow-Origin": granted, "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ALLOW_HEADERS, "Access-Control-Max-Age": str(MAX_AGE_S),
                "Vary": "Origin"})
        response = await handler(request)
        if granted is not None and not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = granted
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            if granted != "*":
                response.headers.add("Vary", "Origin")
        return response

    return cors
