"""The aiohttp application factory: small and explicit, state on the Application."""
from __future__ import annotations

from aiohttp import web

from api import (bookings, closures, events, feeds, maplayers, operators, ops, openapi, pages, realtime, search,
                 tickets, trips)
from api.compress import compression_middleware
from api.cors import Cors
from api.keys import ENDPOINTS, METRICS, SERVICES
from api.observe import Metrics, observe_middleware
from api.problems import problem_middleware
from maas.services import Services

MAX_BODY = 2 * 1024 * 1024  # the largest any endpoint accepts (closure payloads); JSON endpoints allow less


def create_app(services: Services, *, close_services: bool = True) -> web.Application:
    """The API over ``services``. Middlewares, outermost first: request id/log/metrics, compression, CORS
    preflight, problem+json (so errors are compressed too); CORS headers go on every prepared response.

    Authentication, roles, rate limits, body limits and timeouts are per endpoint (api.endpoint.add).
    """
    settings = services.settings
    app = web.Application(middlewares=[observe_middleware, compression_middleware(settings.compress_min_bytes)],
                          client_max_size=MAX_BODY)
    Cors(settings.cors_origins).install(app)  # preflights, and CORS headers on every prepared response
    app.middlewares.append(problem_middleware)
    app[SERVICES] = services
    app[METRICS] = Metrics()
    app[ENDPOINTS] = []
    ops.add_routes(app)
    openapi.add_routes(app)
    search.add_routes(app)
    trips.add_routes(app)
    bookings.add_routes(app)
    closures.add_routes(app)
    realtime.add_routes(app)
    events.add_routes(app)
    feeds.add_routes(app)
    tickets.add_routes(app)
    operators.add_routes(app)
    maplayers.add_routes(app)
    pages.add_routes(app)

    async def _start(app: web.Application) -> None:
        if not services.ready:
            await services.start()

    app.on_startup.append(_start)
    if close_services:
        async def _close(app: web.Application) -> None:
            await services.aclose()

        app.on_cleanup.append(_close)
    return app
