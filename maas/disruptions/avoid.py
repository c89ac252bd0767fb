"""Planning around warnings: `close` areas are never used, `avoid` areas only when staying out is impossible or
much worse, and every answer says what it touches and what it was routed around.

Uses only the planner's public API (`Planner.plan` with a `ClosureMask`). With restricting closures in force:

1. **main**: plan with the *restricting* mask (close + avoid closures closed).
2. **reference** (planned at the same time, in another thread; one RAPTOR run, no departure range): the single
   fastest plan with no mask at all: what the traveller would do without warnings. The
   closures it touches that the answer does not are the answer's ``avoided`` list; when *main* is empty and the
   reference touches a `close` closure, there is no route *because of* that closure (`ClosedByClosure`).
3. **entering fallback** (only when avoid closures are in force): the fastest plan that respects the `close`
   closures only (the reference itself when it touches none). It is added, flagged ``"enters_warning_area": true``
   with the warnings it enters, when it touches an `avoid` closure and either *main* is empty or *main* is much
   worse.

**Much worse** (depart-at): the best avoiding itinerary arrives more than ``max(20 min, 50 % of the entering
itinerary's duration)`` after the entering one; for arrive-by, the same bound on how much earlier it must leave.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from feeds.feed import TOKYO
from maas.disruptions.touches import TouchIndex, summary
from routing.planner import PlanError, PlanOptions

MUCH_WORSE_MIN_S = 20 * 60
MUCH_WORSE_RATIO = 0.5


class ClosedByClosure(PlanError):
    """No itinerary exists while these closures are in force (one would without them)."""

    def __init__(self, closures: list):
        self.closures = closures
        names = "; ".join(f"{c.id} ({summary(c)['headline']['en'] or summary(c)['headline']['ja']})"
                          for c in closures[:3])
        super().__init__(f"no itinerary avoids the closures in force: {names}")


def _ts(s: str) -> float:
    return dt.datetime.fromisoformat(s).timestamp()


def much_worse(avoiding: dict | None, entering: dict, arrive_by: bool) -> bool:
    """The documented rule (module docstring): is staying out of the area too costly to offer alone?"""
    if avoiding is None:
        return True
    if arrive_by:
        extra = _ts(entering["departure"]) - _ts(avoiding["departure"])
    else:
        extra = _ts(avoiding["arrival"]) - _ts(entering["arrival"])
    return extra > max(MUCH_WORSE_MIN_S, MUCH_WORSE_RATIO * entering["duration_s"])


def _best(its: list[dict], arrive_by: bool) -> dict | None:
    rides = [it for it in its if any(leg.get("mode") != "WALK" for leg in it["legs"])] or its
    if not rides:
        return None
    if arrive_by:
        return max(rides, key=lambda it: (_ts(it["departure"]), -_ts(it["arrival"])))
    return min(rides, key=lambda it: (_ts(it["arrival"]), -_ts(it["departure"])))


class WarningPlanner:
    """Installed as the `TransitService.plan_hook`: every plan of the service goes through it."""

    def __init__(self, transit: Any, closures: Any):
        self.transit = transit
        self.closures = closures
        self._lock = threading.Lock()
        self._touch: dict[tuple[int, int], tuple[weakref.ref, TouchIndex]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def _reference_pool(self) -> ThreadPoolExecutor:
        """Reference plans run next to the main one, in their own threads (never the planner pool the main plan
        runs in: waiting on that pool from inside it could deadlock)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reference-plan")
            return self._pool

    def touch_index(self, model, walker=None) -> TouchIndex:
        """Every live closure resolved for touch tests, cached per (model, closure version)."""
        version, live = self.closures.live()
        key = (id(model), version)
        hit = self._touch.get(key)
        if hit is not None and hit[0]() is model:
            return hit[1]
        ti = TouchIndex.build(self.closures.index_for(model, walker), live)
        with self._lock:
            self._touch = {k: v for k, v in self._touch.items() if v[0]() is not None and k[1] == version}
            self._touch[key] = (weakref.ref(model), ti)
        return ti

    def plan_sync(self, origin: str, destination: str, when: dt.datetime, *, arrive_by: bool = False,
                  options: PlanOptions | None = None) -> list[dict] | None:
        """The answer, or None when this planner's closures are no longer the installed ones (then the
        transit service plans as before)."""
        if self.transit.mask_provider != self.closures.mask_for:
            return None
        local_date = getattr(self.transit, "local_date", None)
        date = local_date(when) if local_date else when.astimezone(TOKYO).date()
        live = getattr(self.transit, "live_planner_for", None)  # realtime times when an overlay applies
        planner = live(date) if live is not None else self.transit.planner_for(date)
        model, walker = planner.model, planner.walker
        opts = options or PlanOptions()
        ti = self.touch_index(model, walker)
        close_mask = self.closures.mask_for(model, walker)
        restrict_mask = self.closures.mask_for(model, walker, restricting=True)

        def run(mask, num: int | None = None) -> list[dict]:
            # a single answer needs no range of departures: one RAPTOR run from the query time (window 0)
            o = opts if num is None else dataclasses.replace(opts, num_itineraries=num, range_window_s=0)
            return [it.to_dict() for it in planner.plan(origin, destination, when, arrive_by=arrive_by,
                                                        options=o, mask=mask)]

        if restrict_mask is None:  # nothing closes or is avoided: one plan, warnings (inform) still attached
            return [ti.annotate(it) for it in run(None)]
        ref_future = self._reference_pool().submit(run, None, 1)  # alongside: the kernel releases the GIL
        try:
            main = run(restrict_mask)
        finally:
            ref_its = ref_future.result()
        reference = _best(ref_its, arrive_by)
        ref_hits = ti.touched_closures(reference) if reference else []
        restricting = [c for c in ref_hits if c.restricting]
        entering = None
        if any(c.strength == "avoid" for c in ref_hits):
            if not any(c.blocking for c in ref_hits):
                candidate = reference
            else:
                candidate = _best(run(close_mask, 1), arrive_by) if close_mask is not None else reference
            if candidate is not None and any(c.strength == "avoid" for c in ti.touched_closures(candidate)) \
                    and much_worse(_best(main, arrive_by), candidate, arrive_by):
                entering = candidate
        if not main and entering is None:
            blocking = [c for c in ref_hits if c.blocking]
            if blocking:
                raise ClosedByClosure(blocking)
            return []
        out = [ti.annotate(it, restricting) for it in main]
        if entering is not None:
            ti.annotate(entering)
            entering["enters_warning_area"] = True
            entering["entered"] = [w for w in entering["warnings"] if w["strength"] == "avoid"]
            ids = {it["id"] for it in out}
            if entering["id"] not in ids:
                out.append(entering)
        return out
