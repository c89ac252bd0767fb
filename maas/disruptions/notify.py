"""Booking events for warnings: `disrupted` (a `close` warning hits the booked trip), `warning` (an `avoid` one
does), each with a re-planned alternative, and `restored` when a warning that hit the trip is lifted.

Built on the closure → disrupted machinery of maas/disruptions/replan.py: an `avoid` warning is checked as if it closed its
area (the booked trip "enters" it exactly when it would be disrupted by such a closure), and the alternative is the
first plan (the service's, which stays out of avoided areas when it can) that does not enter it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Iterable

from feeds.closure_json import Closure
from maas.disruptions.closure_masks import ClosureIndex
from maas.disruptions.touches import summary
from maas.disruptions.replan import PlanFn, disrupted_events, find_disrupted


def as_closed(c: Closure) -> Closure:
    """The same warning as a closure, to ask "does this itinerary enter it?"."""
    return c if c.blocking else dataclasses.replace(c, strength="close", effect="NO_SERVICE")


def warning_events(bookings: list[tuple[str, dict]], closures: Iterable[Closure], model, plan: PlanFn, *,
                   now: dt.datetime | None = None) -> list[dict]:
    """One event per booking hit by the new ``closures``: `disrupted` for closing ones first, else `warning`."""
    closures = list(closures)
    by_id = {c.id: c for c in closures}
    idx = ClosureIndex(model)
    out = []
    for ev in disrupted_events(bookings, [c for c in closures if c.blocking], model, plan, now=now, index=idx):
        d = ev.to_dict()
        d["warning"] = summary(by_id[ev.disruption.closure_id])
        out.append(d)
    told = {d["booking_id"] for d in out}
    avoid = [as_closed(c) for c in closures if c.strength == "avoid"]
    rest = [(b, it) for b, it in bookings if b not in told]
    for ev in disrupted_events(rest, avoid, model, plan, now=now, index=idx) if avoid and rest else ():
        d = ev.to_dict()
        d["type"] = "warning"
        d["warning"] = summary(by_id[ev.disruption.closure_id])
        d["closure"]["strength"] = "avoid"
        out.append(d)
    return out


def restored_events(bookings: list[tuple[str, dict]], lifted: Iterable[Closure], model, *,
                    now: dt.datetime) -> list[dict]:
    """`restored` for each booking whose trip a lifted (closing or avoided) warning had hit."""
    lifted = [c for c in lifted if c.restricting]
    idx = ClosureIndex(model)
    out = []
    for booking_id, itinerary in bookings:
        for c in lifted:
            hit = find_disrupted(itinerary, as_closed(c), model, idx)
            if hit is not None:
                out.append({"type": "restored", "booking_id": booking_id, "closure": {"id": c.id},
                            "warning": summary(c), "leg_index": hit.leg_index, "at": now.isoformat(),
                            "detail": f"lifted: {c.message_en or c.message_ja or c.id}"[:300]})
                break
    return out
