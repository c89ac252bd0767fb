"""Planning around warnings: `close` areas are never used, `avoid` areas only when staying out is impossible or
much worse, and every answer says what it touches and what it was routed around.

Uses only the planner's public API (`Planner.plan` with a `ClosureMask`). With restricting closures (close or
avoid) in force, one search in the common case:

1. **free**: the plan with no mask at all: what the traveller would do without warnings. When none of its
   itineraries touches a restricting closure (the areas do not lie between origin and destination, or the
   journeys pass them by), every one is allowed under every mask and the best avoiding itinerary *is* the
   fastest: that plan is the answer, nothing was routed around and nothing is much worse.
2. Otherwise the area is in the way. The **reference** is the fastest itinerary of *free* (`_best`); the
   closures it touches that the answer does not are the answer's ``avoided`` list.
3. **main**: the plan with the *restricting* mask (close + avoid closures closed). Skipped when the mask cuts
   origin and destination apart for every journey from the query time (`maas.disruptions.reach`: connected
   components of the stop graph without what stays closed, cached per mask) and they are too far apart to walk:
   the range search would scan two hours of departures to find nothing. When *main* is empty and the reference
   touches a `close` closure, there is no route *because of* that closure (`ClosedByClosure`).
4. **entering fallback** (only when avoid closures are in force): the fastest plan that respects the `close`
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
from typing import Any

from feeds.feed import TOKYO
from feeds.geo import haversine_m
from maas.disruptions.reach import Reach
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
        self.reach = Reach()

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

    def forget_model(self, model) -> None:
        """``model``'s touch indexes dropped (`TransitService.drop_listeners`; each holds its model)."""
        with self._lock:
            self._touch = {k: v for k, v in self._touch.items() if v[0]() is not model}

    def _avoiding(self, planner, run, mask, origin: str, destination: str, when: dt.datetime, arrive_by: bool,
                  opts: PlanOptions) -> list[dict]:
        """The plan with the restricting mask, unless nothing can stay out: when the mask cuts origin and
        destination apart (`Reach`) and they are too far apart to walk, the range search would scan its whole
        window (two hours of departures) in vain."""
        o, d = planner.resolve(origin, opts), planner.resolve(destination, opts)
        if float(haversine_m(o.lat, o.lon, d.lat, d.lon)) > opts.max_walk_m \
                and self.reach.apart(planner.model, mask, planner.model_seconds(when), arrive_by, o.stops, d.stops):
            return []
        return run(mask)

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
            # a single answer needs no range of departures: one RAPTOR run from the query time (window 0), then
            # the planner's own search for the latest departure of what it found
            o = opts if num is None else dataclasses.replace(opts, num_itineraries=num, range_window_s=0)
            return [it.to_dict() for it in planner.plan(origin, destination, when, arrive_by=arrive_by,
                                                        options=o, mask=mask)]

        if restrict_mask is None:  # nothing closes or is avoided: one plan, warnings (inform) still attached
            return [ti.annotate(it) for it in run(None)]
        free = run(None)
        legs: dict[int, tuple[dict, list]] = {}  # per itinerary dict: its legs' touches, computed once

        def leg_hits(it: dict) -> list:
            hit = legs.get(id(it))
            if hit is None or hit[0] is not it:
                hit = legs[id(it)] = (it, ti.legs(it))
            return hit[1]

        def hits(it: dict) -> list:
            return ti.touched_closures(it, leg_hits(it))

        reference = _best(free, arrive_by)
        ref_hits = hits(reference) if reference is not None else []
        restricting = [c for c in ref_hits if c.restricting]
        if not restricting and not any(c.restricting for it in free if it is not reference for c in hits(it)):
            # the areas are not in the way: every itinerary is allowed under every mask
            return [ti.annotate(it, (), leg_hits(it)) for it in free]
        if restricting:
            main = self._avoiding(planner, run, restrict_mask, origin, destination, when, arrive_by, opts)
        else:  # the reference stays out, so the best avoiding itinerary is as good: only the others differ
            main = run(restrict_mask)

        entering = None
        if any(c.strength == "avoid" for c in ref_hits):
            if not any(c.blocking for c in ref_hits):
                candidate = reference
            else:
                candidate = _best(run(close_mask, 1), arrive_by) if close_mask is not None else reference
            if candidate is not None and any(c.strength == "avoid" for c in hits(candidate)) \
                    and much_worse(_best(main, arrive_by), candidate, arrive_by):
                entering = candidate
        if not main and entering is None:
            blocking = [c for c in ref_hits if c.blocking]
            if blocking:
                raise ClosedByClosure(blocking)
            return []
        out = [ti.annotate(it, restricting) for it in main]
        if entering is not None:
            ti.annotate(entering, (), leg_hits(entering))
            entering["enters_warning_area"] = True
            entering["entered"] = [w for w in entering["warnings"] if w["strength"] == "avoid"]
            ids = {it["id"] for it in out}
            if entering["id"] not in ids:
                out.append(entering)
        return out
