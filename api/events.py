"""GET /v1/events: a Server-Sent Events stream of a partner's own events (booking status changes, `disrupted`
trips with their re-planned route), read from the store's ``events:{owner}`` channel so every worker sees every
event. Streams end cleanly on shutdown so graceful shutdown is not held up by idle listeners."""
from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field

from aiohttp import web

from api.endpoint import add, principal
from api.keys import EVENTS, REQUEST_ID, SERVICES
from api.observe import REQUEST_ID_HEADER
from api.openapi import ok
from api.problems import ApiProblem
from maas.auth import Role

HEARTBEAT_S = 15.0
POLL_S = 0.5  # how often an idle stream notices a shutdown


@dataclass
class EventHub:
    """The open streams of this worker, so shutdown can end them."""

    closing: asyncio.Event = field(default_factory=asyncio.Event)
    open_streams: int = 0


def format_event(message: str, seq: int) -> bytes:
    """One SSE record; the event name is the message's ``type`` (``booking.status``, ``disrupted``)."""
    try:
        kind = json.loads(message).get("type", "message")
    except (ValueError, AttributeError):
        kind = "message"
    data = "\n".join(f"data: {line}" for line in message.splitlines() or [""])
    return f"id: {seq}\nevent: {kind}\n{data}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    if services.bookings is None:
        raise ApiProblem(503, "events need the booking store, which is not configured on this server")
    hub = request.app[EVENTS]
    owner = principal(request).owner
    sub = await services.bookings.store.subscribe(f"events:{owner}")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no", REQUEST_ID_HEADER: request[REQUEST_ID]})
    hub.open_streams += 1
    try:
        await resp.prepare(request)
        await resp.write(b"retry: 3000\n: subscribed\n\n")
        seq, idle = 0, 0.0
        while not hub.closing.is_set():
            item = await sub.get(timeout=POLL_S)
            if item is None:
                idle += POLL_S
                if idle >= HEARTBEAT_S:
                    await resp.write(b": keep-alive\n\n")
                    idle = 0.0
                continue
            seq += 1
            idle = 0.0
            await resp.write(format_event(item[1], seq))
        await resp.write(b"event: shutdown\ndata: {}\n\n")
    except ConnectionResetError:
        pass  # the client went away
    finally:
        hub.open_streams -= 1
        with contextlib.suppress(Exception):
            await sub.aclose()
    return resp


async def _on_shutdown(app: web.Application) -> None:
    app[EVENTS].closing.set()


def add_routes(app: web.Application) -> None:
    app[EVENTS] = EventHub()
    app.on_shutdown.append(_on_shutdown)
    add(app, "GET", "/v1/events", events, roles=frozenset({Role.PARTNER}), timeout_s=None, spec={
        "operationId": "events", "summary": "Your events as Server-Sent Events", "tags": ["events"],
        "description": "`event: booking.status` when one of your bookings changes state; `event: disrupted` "
                       "when a closure hits a booked trip, with the re-planned itinerary; `event: warning` when "
                       "an `avoid` warning's area is on it (with an itinerary that stays out); `event: restored` "
                       "when a warning or closure that hit it is lifted. Heartbeat comments "
                       "every 15 s.",
        "responses": ok({"type": "string"}, "An endless text/event-stream", media="text/event-stream")})
