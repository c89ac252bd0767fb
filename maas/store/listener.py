"""A background task reading a Redis pub/sub subscription that ends promptly on close.

redis-py's ``PubSub.get_message(timeout=…)`` can swallow a task cancel: when the cancel lands as its read time-out
fires, the CancelledError becomes the time-out and the call returns None, so ``task.cancel()`` alone may never end
the loop and ``await task`` hangs shutdown. The loop therefore also checks ``closing``, and `stop` waits at most a
few get_message time-outs. Shared by the closure store and the realtime store.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger("maas.store.listener")
STOP_WAIT_S = 3.0  # more than one get_message(timeout=1.0) plus the work after it


class PubSubListener:
    """Owns the listening task: the loop body runs ``while not listener.closing`` (its own try/except for
    reconnects); `stop` sets the flag, cancels, and waits at most ``STOP_WAIT_S``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closing = False
        self.task: asyncio.Task | None = None

    def start(self, loop: Callable[[], Awaitable[None]]) -> None:
        self.task = asyncio.create_task(loop(), name=self.name)

    async def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        self.closing = True
        task, self.task = self.task, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=wait_s)
        if not done:
            log.warning("%s did not stop within %.1f s; left behind", self.name, wait_s)
        elif not task.cancelled() and task.exception() is not None:
            log.warning("%s ended with an error", self.name, exc_info=task.exception())
