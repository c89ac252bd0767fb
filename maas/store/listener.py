"""A background task following a Redis pub/sub channel: reconnects with back-off and ends promptly on close.

Shared by the closure store and the realtime store. On a lost connection (a cluster node died) it subscribes
again, on a live node, and tells its owner, who reloads what it may have missed.

redis-py's ``PubSub.get_message(timeout=…)`` can swallow a task cancel (the loop reads through
`redis_conn.next_message`, which raises it again); the loop also checks ``closing``, and `stop` waits at most a few
read time-outs, so a close never hangs on a lost cancel.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Awaitable, Callable

log = logging.getLogger("maas.store.listener")
STOP_WAIT_S = 3.0  # more than one get_message(timeout=1.0) plus the work after it
POLL_S = 1.0  # the owner hears from the loop at least this often (None when no message came)


class PubSubListener:
    """`subscribe` once (its errors reach the caller), then `start`: every message, and every ``POLL_S`` without
    one (as None), goes to ``on_message``; after a reconnect ``on_resubscribed`` runs. `stop` sets ``closing``,
    cancels, waits at most ``STOP_WAIT_S`` and closes the subscription."""

    def __init__(self, name: str, open_pubsub: Callable[[], Awaitable[Any]]) -> None:
        self.name = name
        self.closing = False
        self.task: asyncio.Task | None = None
        self.pubsub: Any = None
        self._open = open_pubsub

    async def subscribe(self) -> None:
        self.pubsub = await self._open()

    def start(self, on_message: Callable[[dict | None], Awaitable[None]],
              on_resubscribed: Callable[[], Awaitable[None]]) -> None:
        self.task = asyncio.create_task(self._listen(on_message, on_resubscribed), name=self.name)

    async def _listen(self, on_message, on_resubscribed) -> None:
        from maas.store.redis_conn import next_message  # (here: only Redis subscribes; embedded never loads redis)

        backoff = 0.1
        while not self.closing:  # belt and braces beside next_message (see the module docstring)
            try:
                if self.pubsub is None:
                    self.pubsub = await self._open()
                    await on_resubscribed()
                await on_message(await next_message(self.pubsub, POLL_S))
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:  # connection dropped (or a cluster node died): subscribe again
                log.warning("%s: channel lost; resubscribing", self.name, exc_info=True)
                await self._close_pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _close_pubsub(self) -> None:
        ps, self.pubsub = self.pubsub, None
        if ps is not None:
            with contextlib.suppress(Exception):
                await ps.aclose()

    async def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        self.closing = True
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=wait_s)
            if not done:
                log.warning("%s did not stop within %.1f s; left behind", self.name, wait_s)
            elif not task.cancelled() and task.exception() is not None:
                log.warning("%s ended with an error", self.name, exc_info=task.exception())
        await self._close_pubsub()
