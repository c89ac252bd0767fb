"""The live timetable: realtime overlays (routing/realtime.py) of the service days' models, per realtime version.

Like closure masks, an overlay is an overlay, not a rebuild: it is built from the `RealtimeService` snapshot
(maas/disruptions/realtime.py) the first time a query of a model needs it after the snapshot changed (in the
planner thread that asks, never on the event loop), cached per (model, snapshot version) and replaced in one
assignment, so a query holding the previous overlay finishes on it. A change also rebuilds the overlays of the
cached days ahead of the next query (`refresh`, run in the transit pool), which is what makes a message take
effect within milliseconds instead of at the next query.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
import weakref
from typing import Any, Callable, Iterable

from feeds.feed import TOKYO
from routing.realtime import RealtimeOverlay, base_of, build_overlay

Snapshot = Any  # maas.disruptions.realtime.RealtimeSnapshot: version, trip_updates, received_at, stale


class LiveTimetable:
    """The `TransitService.realtime_provider`: ``overlay_for(model)`` is the model's overlay for the current
    snapshot, None when no trip update applies (the scheduled model is then the live one)."""

    def __init__(self, snapshot: Callable[[], Snapshot | None]):
        self.snapshot = snapshot
        # id(model) → (model ref, snapshot version, overlay, (trip updates, stale) it was built from)
        self._cache: dict[int, tuple[weakref.ref, int, RealtimeOverlay | None, tuple]] = {}
        self._lock = threading.Lock()  # one build at a time: concurrent queries wait for it instead of repeating it
        self.builds = 0

    def overlay_for(self, model) -> RealtimeOverlay | None:
        model = base_of(model)
        snap = self.snapshot()
        if snap is None:
            return None
        key = id(model)
        hit = self._cache.get(key)
        if hit is not None and hit[0]() is model and hit[1] == snap.version:
            return hit[2]
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0]() is model and hit[1] == snap.version:
                return hit[2]
            if hit is not None and hit[0]() is model and hit[3] == (snap.trip_updates, snap.stale):
                # only vehicles moved: the same overlay serves the new version (no new model, caches kept)
                self._cache = {**self._cache, key: (hit[0], snap.version, hit[2], hit[3])}
                return hit[2]
            ov = None
            if snap.trip_updates:
                ov = build_overlay(model, snap.trip_updates, version=snap.version, stale=snap.stale)
                self.builds += 1
                if not (ov.counts.matched or ov.counts.added):
                    ov = None  # nothing of this day: the scheduled model is the live one
            cache = {k: v for k, v in self._cache.items() if v[0]() is not None}
            cache[key] = (weakref.ref(model), snap.version, ov, (snap.trip_updates, snap.stale))
            self._cache = cache  # swapped in one step
            return ov

    def forget_model(self, model) -> None:
        """``model``'s overlay dropped (`TransitService.drop_listeners`; an overlay holds its base model)."""
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[0]() is not model}

    def peek(self, model) -> RealtimeOverlay | None:
        """The overlay of ``model`` for the current snapshot when already built, else None (never builds)."""
        snap = self.snapshot()
        hit = self._cache.get(id(base_of(model)))
        if snap is None or hit is None or hit[0]() is not base_of(model) or hit[1] != snap.version:
            return None
        return hit[2]

    def refresh(self, models: list) -> int:
        """Build the overlays of ``models`` for the current snapshot now (blocking: a worker thread)."""
        return sum(1 for m in models if self.overlay_for(m) is not None)

    async def on_change(self, transit, old: Snapshot | None = None, new: Snapshot | None = None) -> None:
        """RealtimeService listener: the cached days' overlays rebuilt off the event loop."""
        loop = asyncio.get_running_loop()
        models = transit.cached_models()  # (one model serves two days: its overlay is built once)
        await loop.run_in_executor(transit.executor, self.refresh, models)


def stale_notices(snapshot: Snapshot | None, operators: Iterable[str | None]) -> list[dict]:
    """Answer notices for the ``operators`` of an answer (its trips, a board's stop) whose realtime expired back to
    the schedule (their times are scheduled). Other operators' staleness says nothing about this answer."""
    if snapshot is None or not snapshot.stale:  # (the usual case: the answer's legs are not even read)
        return []
    out = []
    for op in sorted(snapshot.stale.intersection(operators)):
        at = (snapshot.received_at or {}).get(op)
        since = f" (last message {dt.datetime.fromtimestamp(at, TOKYO).isoformat()})" if at else ""
        out.append({"code": "realtime_stale", "field": None,
                    "message": f"realtime data of {op} is stale{since}: its trips are shown on the timetable"})
    return out
