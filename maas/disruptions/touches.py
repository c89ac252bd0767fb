"""Which warnings and closures an itinerary touches, leg by leg and stop by stop, for the answers we give.

A `TouchIndex` is built once per (model, closure version): each closure resolved to the stops it covers and the
hops it crosses (maas/disruptions/closure_masks.py), turned into dicts keyed by stop id and by (from stop, to stop, route), plus
an STRtree over the closures' areas for walking legs. Checking an itinerary is then dictionary look-ups, and only
for the time window in which the traveller is at the stop or on the hop.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

import shapely

from zoneinfo import ZoneInfo

from feeds.closure_json import Closure
from maas.disruptions.closure_masks import ClosureIndex


def summary(c: Closure) -> dict:
    """The short form attached to itineraries, legs, stops and departures."""
    w = c.warning
    lines_ja = (c.message_ja or "").split("\n", 1)
    return {
        "id": c.id, "kind": w.kind if w else "closure", "kind_en": w.kind_en if w else "closure",
        "strength": c.strength, "severity": c.severity,
        "headline": {"ja": w.headline_ja if w else lines_ja[0], "en": w.headline_en if w else c.message_en},
        "area": ({"code": w.area_code, "name": w.area_name, "name_en": w.area_name_en} if w else None),
        "valid_from": c.start.isoformat(), "valid_until": c.end.isoformat() if c.end else None,
        "source": c.source,
    }


def _iso(t: dt.datetime, zone: ZoneInfo) -> str:
    return t.astimezone(zone).isoformat()


class _Window:
    """A closure's window as ISO strings on the model's clock (its feeds' zone, +09:00 for Tokyo's): itineraries
    carry their times as such strings (one offset), so comparing strings compares times and no time is parsed per
    stop. (Across a daylight-saving change the offsets differ for an hour: such a window is compared as local time.)"""

    __slots__ = ("start", "end")

    def __init__(self, c: Closure, zone: ZoneInfo):
        self.start, self.end = _iso(c.start, zone), (_iso(c.end, zone) if c.end is not None else None)

    def covers(self, t0: str | None, t1: str | None) -> bool:
        """Does the window meet ``[t0, t1)`` (or the instant ``t0`` when ``t1`` is not after it)?"""
        if not t0:
            return True
        if t1 and t1 > t0:
            return self.start < t1 and (self.end is None or self.end > t0)
        return self.start <= t0 and (self.end is None or self.end > t0)


@dataclass
class TouchIndex:
    closures: list[Closure]
    by_stop: dict[str, list[int]]
    by_hop: dict[tuple[str, str, str], list[int]]
    tree: shapely.STRtree | None
    tree_owner: list[int]
    windows: list[_Window]
    bounds: tuple[float, float, float, float] | None = None  # of every area: walks outside skip the tree

    @classmethod
    def build(cls, index: ClosureIndex, closures: Iterable[tuple[Closure, int]]) -> "TouchIndex":
        model = index.model
        cl: list[Closure] = []
        by_stop: dict[str, list[int]] = {}
        by_hop: dict[tuple[str, str, str], list[int]] = {}
        geoms, owner = [], []
        g = index.geometry
        for c, rev in closures:
            k = len(cl)
            cl.append(c)
            r = index.resolve(c, rev)
            for s in r.stops:
                by_stop.setdefault(model.stop_ids[s], []).append(k)
            for h in r.hops:
                key = (model.stop_ids[g.a[h]], model.stop_ids[g.b[h]], model.route_ids[g.route[h]])
                by_hop.setdefault(key, []).append(k)
            for a in c.areas:
                geoms.append(a.geometry)
                owner.append(k)
        tree = shapely.STRtree(geoms) if geoms else None
        bounds = tuple(float(x) for x in shapely.total_bounds(geoms)) if geoms else None
        zone = ZoneInfo(model.timezone)  # the itineraries' times are on the model's clock, not Tokyo's
        return cls(cl, by_stop, by_hop, tree, owner, [_Window(c, zone) for c in cl], bounds)

    def __len__(self) -> int:
        return len(self.closures)

    # ---- per itinerary --------------------------------------------------------------------------------------
    def _always(self, itinerary: dict) -> frozenset[int]:
        """Closures whose window covers the whole itinerary: their hits need no time test (the usual case: a
        warning in force for hours, an itinerary of minutes)."""
        t0, t1 = itinerary.get("departure"), itinerary.get("arrival")
        if not t0 or not t1:
            return frozenset()
        return frozenset(k for k, w in enumerate(self.windows) if w.start <= t0 and (w.end is None or w.end > t1))

    def _stop_hits(self, sid: str | None, t0: str | None, t1: str | None, always: frozenset[int] = frozenset()
                   ) -> list[int]:
        return [k for k in self.by_stop.get(sid or "", ()) if k in always or self.windows[k].covers(t0, t1)]

    def _near(self, coords: list) -> bool:
        """Does the walk's bounding box meet the areas' (a few comparisons instead of a tree query)?"""
        x0, y0, x1, y1 = self.bounds
        xs, ys = [p[0] for p in coords], [p[1] for p in coords]
        return min(xs) <= x1 and max(xs) >= x0 and min(ys) <= y1 and max(ys) >= y0

    def leg_touches(self, leg: dict, always: frozenset[int] = frozenset()
                    ) -> tuple[set[int], list[tuple[dict, list[int]]]]:
        """(closures the leg touches, [(stop dict, closures at that stop)]). Times are parsed only where a
        closure covers the stop or hop and its window does not cover the whole itinerary (``always``): most legs
        touch nothing and cost a few dictionary look-ups."""
        hit: set[int] = set()
        stops: list[tuple[dict, list[int]]] = []
        by_stop = self.by_stop
        if leg.get("mode") == "WALK":
            for end, t in ((leg.get("from") or {}, leg.get("departure")), (leg.get("to") or {}, leg.get("arrival"))):
                ks = self._stop_hits(end.get("stop_id"), t, None, always) if end.get("stop_id") in by_stop else []
                stops.append((end, ks))
                hit.update(ks)
            coords = (leg.get("geometry") or {}).get("coordinates") or []
            if self.tree is not None and len(coords) >= 2 and self._near(coords):
                line = shapely.linestrings(coords)
                found = self.tree.query(line, predicate="intersects")
                if len(found):
                    t0, t1 = leg.get("departure"), leg.get("arrival")
                    hit.update(k for k in (self.tree_owner[int(i)] for i in found)
                               if k in always or self.windows[k].covers(t0, t1))
            return hit, stops
        seq = [leg.get("from") or {}, *(leg.get("intermediate_stops") or ()), leg.get("to") or {}]
        ids = [s.get("stop_id") or "" for s in seq]
        route = (leg.get("route") or {}).get("id") or ""

        def when(i: int) -> tuple[str | None, str | None]:
            if i == 0:
                return leg.get("departure"), leg.get("departure")
            if i == len(seq) - 1:
                return leg.get("arrival"), leg.get("arrival")
            arr = seq[i].get("arrival") or seq[i].get("departure")
            return arr, seq[i].get("departure") or arr

        for i, (stop, sid) in enumerate(zip(seq, ids)):
            ks = by_stop.get(sid)
            if ks is None:
                stops.append((stop, []))
                continue
            if not always.issuperset(ks):
                ks = self._stop_hits(sid, *when(i), always)
            stops.append((stop, ks))
            hit.update(ks)
        if self.by_hop:
            for i in range(len(ids) - 1):
                for k in self.by_hop.get((ids[i], ids[i + 1], route), ()):
                    if k in always or self.windows[k].covers(when(i)[1], when(i + 1)[0]):
                        hit.add(k)
        return hit, stops

    def legs(self, itinerary: dict) -> list[tuple[set[int], list[tuple[dict, list[int]]]]]:
        """`leg_touches` of every leg: compute once, then pass to `touched`, `touched_closures` and `annotate`."""
        always = self._always(itinerary) if self.closures else frozenset()
        return [self.leg_touches(leg, always) for leg in itinerary.get("legs", ())]

    def touched(self, itinerary: dict, legs: list | None = None) -> set[int]:
        out: set[int] = set()
        for hit, _ in (self.legs(itinerary) if legs is None else legs):
            out |= hit
        return out

    def touched_closures(self, itinerary: dict, legs: list | None = None) -> list[Closure]:
        return [self.closures[k] for k in sorted(self.touched(itinerary, legs))]

    def annotate(self, itinerary: dict, avoided: Iterable[Closure] = (), legs: list | None = None) -> dict:
        """Add ``warnings`` (itinerary and leg: summaries; stops: ids) and ``avoided`` to an itinerary dict
        (``legs``: its `legs` when already computed)."""
        if not self.closures:  # nothing in force: every list is empty, no leg need be looked at (most plans)
            for leg in itinerary.get("legs", ()):
                leg["warnings"] = []
            itinerary["warnings"] = []
            itinerary["avoided"] = [summary(c) for c in avoided]
            return itinerary
        all_hit: set[int] = set()
        for leg, (hit, stops) in zip(itinerary.get("legs", ()), self.legs(itinerary) if legs is None else legs):
            leg["warnings"] = [summary(self.closures[k]) for k in sorted(hit)]
            for stop, ks in stops:
                if ks:
                    stop["warnings"] = [self.closures[k].id for k in ks]
            all_hit |= hit
        itinerary["warnings"] = [summary(self.closures[k]) for k in sorted(all_hit)]
        touched_ids = {self.closures[k].id for k in all_hit}
        itinerary["avoided"] = [summary(c) for c in avoided if c.id not in touched_ids]
        return itinerary
