"""GET /v1/events: a Server-Sent Events stream of a partner's own events (booking status changes, `disrupted`
trips with their re-planned route), published on the store's ``events:{owner}`` channels so every worker sees
every event.

Streams cost no store connection each: a worker holds ONE prefix subscription to ``events:*`` (opened with the
first stream, reopened with back-off when the store restarts) and fans each message out to the in-process queues
of that owner's streams. Streams are capped per API key and per worker (429 problem+json beyond), so one partner
cannot starve the others; a stream that stops reading is closed once its queue is full. Streams end cleanly on
shutdown so graceful shutdown is not held up by idle listeners.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from api.endpoint import add, principal
from api.keys import EVENTS, REQUEST_ID, SERVICES
from api.observe import REQUEST_ID_HEADER
from api.openapi import ok, problem
from api.problems import TYPE_BASE, ApiProblem
from maas.platform.auth import Role

log = logging.getLogger("maas.events")
HEARTBEAT_S = 15.0
POLL_S = 0.5  # how often an idle stream notices a shutdown
QUEUE_MAX = 256  # events buffered per stream before a stream that does not read is dropped
RESUBSCRIBE_MAX_S = 2.0
CHANNEL_PREFIX = "events:"


@dataclass
class EventHub:
    """This worker's open streams, its one shared store subscription, and the caps."""

    per_key: int = 16
    per_worker: int = 1000
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    open_streams: int = 0
    by_key: Counter = field(default_factory=Counter)
    listeners: dict[str, set[asyncio.Queue]] = field(default_factory=dict)  # owner -> stream queues
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)  # the shared subscription is live
    _pump: asyncio.Task | None = None

    def admit(self, key_id: str) -> None:
        """Count a new stream, or raise 429 when the key or the worker is at its cap."""
        if self.open_streams >= self.per_worker:
            raise ApiProblem(429, f"this server has {self.open_streams} event streams open, its limit; retry later",
                             type_=TYPE_BASE + "too-many-streams", headers={"Retry-After": "5"})
        if self.by_key[key_id] >= self.per_key:
            raise ApiProblem(429, f"this key already has {self.by_key[key_id]} event streams open, the limit per "
                                  "key; close one (every stream of a key carries the same events)",
                             type_=TYPE_BASE + "too-many-streams", headers={"Retry-After": "5"})
        self.open_streams += 1
        self.by_key[key_id] += 1

    def release(self, key_id: str) -> None:
        self.open_streams -= 1
        self.by_key[key_id] -= 1
        if self.by_key[key_id] <= 0:
            del self.by_key[key_id]

    def listen(self, owner: str) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(QUEUE_MAX)
        self.listeners.setdefault(owner, set()).add(q)
        return q

    def unlisten(self, owner: str, q: asyncio.Queue) -> None:
        queues = self.listeners.get(owner)
        if queues is not None:
            queues.discard(q)
            if not queues:
                del self.listeners[owner]

    def dispatch(self, channel: str, message: str) -> None:
        owner = channel[len(CHANNEL_PREFIX):]
        for q in list(self.listeners.get(owner, ())):
            try:
                q.put_nowait(message)
            except asyncio.QueueFull:  # the client stopped reading: end its stream rather than buffer forever
                self.unlisten(owner, q)
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
                q.put_nowait(None)

    def ensure_pump(self, store) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run(store), name="events-pump")

    async def _run(self, store) -> None:
        """The worker's single subscription: read ``events:*`` and dispatch; reconnect with back-off."""
        delay = 0.1
        while not self.closing.is_set():
            try:
                sub = await store.subscribe_prefix(CHANNEL_PREFIX)
            except Exception as exc:  # store down: retry (streams stay open and get events once it is back)
                log.warning("event subscription failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(RESUBSCRIBE_MAX_S, delay * 2)
                continue
            self.subscribed.set()
            delay = 0.1
            try:
                while not self.closing.is_set():
                    item = await sub.get(timeout=POLL_S)
                    if item is not None:
                        self.dispatch(*item)
            except Exception as exc:
                log.warning("event subscription lost (%s); resubscribing", exc)
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await sub.aclose()

    async def aclose(self) -> None:
        self.closing.set()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump


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
    who = principal(request)
    hub.admit(who.key_id)
    queue = hub.listen(who.owner)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no", REQUEST_ID_HEADER: request[REQUEST_ID]})
    try:
        hub.ensure_pump(services.bookings.store)
        with contextlib.suppress(TimeoutError):  # events published from now on reach this stream
            async with asyncio.timeout(2.0):
                await hub.subscribed.wait()
        await resp.prepare(request)
        await resp.write(b"retry: 3000\n: subscribed\n\n")
        seq, idle = 0, 0.0
        while not hub.closing.is_set():
            try:
                async with asyncio.timeout(POLL_S):
                    message = await queue.get()
            except TimeoutError:
                idle += POLL_S
                if idle >= HEARTBEAT_S:
                    await resp.write(b": keep-alive\n\n")
                    idle = 0.0
                continue
            if message is None:  # dropped for not reading
                return resp
            seq += 1
            idle = 0.0
            await resp.write(format_event(message, seq))
        await resp.write(b"event: shutdown\ndata: {}\n\n")
    except ConnectionResetError:
        pass  # the client went away
    finally:
        hub.unlisten(who.owner, queue)
        hub.release(who.key_id)
    return resp


async def _on_shutdown(app: web.Application) -> None:
    await app[EVENTS].aclose()


def add_routes(app: web.Application) -> None:
    settings = app[SERVICES].settings
    app[EVENTS] = EventHub(per_key=settings.sse_per_key, per_worker=settings.sse_per_worker)
    app.on_shutdown.append(_on_shutdown)
    add(app, "GET", "/v1/events", events, roles=frozenset({Role.PARTNER}), timeout_s=None, spec={
        "operationId": "events", "summary": "Your events as Server-Sent Events", "tags": ["events"],
        "description": "`event: booking.status` when one of your bookings changes state; `event: disrupted` "
                       "when a closure hits a booked trip, or realtime makes the journey infeasible (`cause: "
                       "realtime`, `code` missed_transfer | cancelled | skipped_stop), with the re-planned "
                       "itinerary from where the traveller is; `event: warning` when "
                       "an `avoid` warning's area is on it (with an itinerary that stays out); `event: restored` "
                       "when a warning or closure that hit it is lifted, or a realtime delay recovered. Heartbeat comments every 15 s. At most a few streams per key and per server (429 beyond).",
        "responses": {**ok({"type": "string"}, "An endless text/event-stream", media="text/event-stream",
                           example='event: booking.status\ndata: {"type": "booking.status", "booking_id": '
                                   '"bk_3b1066772fd31201bb78e66a", "state": "CONFIRMED", '
                                   '"at": "2026-11-24T08:00:11+09:00", "reason": null}\n\n'),
                      "429": problem("Too many event streams open for this key or this server")}})

