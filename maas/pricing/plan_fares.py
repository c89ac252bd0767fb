"""``fare`` on every itinerary of a plan, by the same engine offers and bookings use; ``fare_unknown`` with the
reason when a leg cannot be priced. Riders and medium come from the request (``?riders=adult:1,child:1``,
``?fare_media=ic|ticket``)."""
from __future__ import annotations

import datetime as dt

from operators.base import MAX_PASSENGERS, LegRef, Passengers
from operators.fare_engine import (MEDIA, FareUnknown, OperatorFares, party_fare, price_riders, times_matter,
                                   unpriceable)


class RidersError(ValueError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def parse_riders(text: str | None) -> Passengers:
    """``adult:1,child:1`` → Passengers; default one adult."""
    if text is None or not text.strip():
        return Passengers(1, 0)
    counts = {"adult": 0, "child": 0}
    for part in text.split(","):
        cat, sep, n = part.strip().partition(":")
        if cat not in counts:
            raise RidersError(f"riders: unknown category {cat!r}; use adult and child, e.g. adult:1,child:1",
                              "riders")
        if not sep or not n.isdigit():
            raise RidersError(f"riders: {part.strip()!r} needs a count, e.g. {cat}:1", "riders")
        counts[cat] += int(n)
    total = counts["adult"] + counts["child"]
    if not 1 <= total <= MAX_PASSENGERS:
        raise RidersError(f"riders: 1 to {MAX_PASSENGERS} travellers (got {total})", "riders")
    return Passengers(**counts)


def parse_medium(text: str | None) -> str:
    medium = (text or "ic").strip().lower()
    if medium not in MEDIA:
        raise RidersError(f"fare_media must be one of {list(MEDIA)} (got {text!r})", "fare_media")
    return medium


def plan_legs(itinerary: dict) -> list[LegRef]:
    """The rides of an itinerary the planner just made (trusted: no client input), as the engine's legs."""
    out = []
    for i, leg in enumerate(itinerary["legs"]):
        if leg["mode"] == "WALK":
            continue
        out.append(LegRef(i, leg["operator"], leg["mode"], leg["trip_id"], leg["route"]["id"], leg["service_date"],
                          leg["from"]["stop_id"], leg["to"]["stop_id"], leg["from"].get("sequence", 0),
                          leg["to"].get("sequence", 0), dt.datetime.fromisoformat(leg["departure"]),
                          dt.datetime.fromisoformat(leg["arrival"]), int(round(leg.get("distance_m", 0))),
                          bool(leg.get("booking_required"))))
    return out


# journeys remembered per fare catalog, the least recently used dropped when full (clearing it whole would price
# the popular journeys again after every MEMO_SIZE new ones): ~4.1 KB each (legs and riders' fares, measured
# on the sample) and ~1 KB per party answered (`_answer`: a party is 1-9 riders, a few are common), so ~5 MB at
# most; memos of at most MEMOS_KEPT catalogs (the live one and the one a publish just replaced): an old catalog's
# memo, and the fare tables it holds, go with the next publish
MEMO_SIZE, MEMOS_KEPT = 1024, 2


def _journey_key(itinerary: dict, medium: str, times: bool) -> tuple:
    """What a journey's riders' fares depend on (`price_riders`), read off the planner's legs without parsing."""
    key: list = [medium]
    for i, leg in enumerate(itinerary["legs"]):
        if leg["mode"] == "WALK":
            continue
        key.append((i, leg["operator"], leg["route"]["id"], leg["from"]["stop_id"], leg["to"]["stop_id"],
                    int(round(leg.get("distance_m", 0)))))
        if times:
            key.append((leg["departure"], leg["arrival"]))
    return tuple(key)


def _make_room(memo: dict) -> None:
    """Drop the least recently used journeys (first in the memo's order) until one more fits in MEMO_SIZE. Planner
    threads share the memo: one that another thread changes meanwhile is left as it is (a journey more or less)."""
    try:
        while len(memo) >= MEMO_SIZE:
            memo.pop(next(iter(memo)), None)
    except (RuntimeError, StopIteration):  # (changed or emptied during the iteration by another thread)
        pass


def _answer(hit: tuple, riders: Passengers, medium: str) -> dict:
    """``{"fare": ...}`` (or ``fare_unknown``) for a party on a remembered journey (``hit``: its legs, riders'
    fares and answers so far), made once per party and kept in ``hit``, never handed out itself (`_fare` copies
    it): a copy of the ready dicts costs a fifth of `party_fare` and its ``to_dict`` again."""
    try:
        out = {"fare": party_fare(hit[0], hit[1], hit[2], riders, medium).to_dict()}
    except FareUnknown as err:  # a child in the party, and no child fare
        out = {"fare": None, "fare_unknown": err.reason}
    hit[3][riders] = out
    return out


class PlanFares:
    """Fares of planned itineraries, the riders' fares of each journey remembered per fare catalog. One per
    service (`maas.services.Services.plan_fares`; the CLI makes its own), shared by its planner threads: a
    memo is a plain dict, and two threads pricing the same journey at once both store the same answer."""

    def __init__(self) -> None:
        self._memos: dict[tuple, tuple[list, bool, dict, dict]] = {}  # (see `_memo`)

    def _memo(self, catalog: dict[str, OperatorFares]) -> tuple[bool, dict, dict]:
        """(times matter, memo, operator → why none of its legs can be priced) for this catalog's fare tables
        and profiles. Keyed by their identity, not the `OperatorFares`: ``services.fares()`` wraps the same
        profile and tables in new ones per request (`OperatorSetup.fares`); both are swapped whole when a feed
        or profile changes (a new memo then)."""
        parts = [(op, of.profile, of.tables) for op, of in catalog.items()]
        key = tuple((op, id(profile), id(tables)) for op, profile, tables in parts)
        memos = self._memos
        hit = memos.get(key)
        if hit is None or any(x[1] is not y[1] or x[2] is not y[2] for x, y in zip(hit[0], parts)):
            if len(memos) >= MEMOS_KEPT:
                memos.clear()
            hit = memos[key] = (parts, times_matter(catalog), {}, {})
        return hit[1], hit[2], hit[3]

    def memos(self) -> int:
        """How many catalogs' memos are held (at most MEMOS_KEPT)."""
        return len(self._memos)

    def itinerary_fare(self, catalog: dict[str, OperatorFares], itinerary: dict, riders: Passengers,
                       medium: str) -> dict:
        """``{"fare": {...}}`` or ``{"fare": None, "fare_unknown": reason}`` for one planned itinerary. The
        riders' fares of a journey are pure in what `_journey_key` holds: remembered per catalog, so popular
        journeys, the itineraries sharing legs and every party and medium after the first cost a dict lookup and
        the party's sum."""
        return self._fare(catalog, self._memo(catalog), itinerary, riders, medium)

    def _fare(self, catalog: dict[str, OperatorFares], memos: tuple[bool, dict, dict], itinerary: dict,
              riders: Passengers, medium: str) -> dict:
        """`itinerary_fare` with the catalog's memo (`_memo`) looked up by the caller: once per plan (`add`). A
        remembered journey's answer for the party is copied from a ready one (`_answer`), not priced again."""
        times, memo, why = memos
        op = next((leg["operator"] for leg in itinerary.get("legs", ()) if leg.get("mode") != "WALK"), None)
        if op is None:  # (a walk: the first ride's operator and the walk-only test in one pass)
            return {"fare": {"total": 0, "currency": "JPY", "medium": medium, "riders": riders.to_dict(),
                             "per_operator": {}, "legs": [], "transfers": []}}
        if medium not in MEDIA:
            raise ValueError(f"unknown fare medium {medium!r} (use 'ic' or 'ticket')")
        if op not in why:  # (the operators of a catalog are few; one not in it is remembered too)
            why[op] = unpriceable(catalog.get(op), op)
        if why[op] is not None:  # the journey's first ride fails whatever its legs (`price_riders`: in order)
            return {"fare": None, "fare_unknown": why[op]}
        key = _journey_key(itinerary, medium, times)
        hit = memo.pop(key, None)  # (put back last: the memo's order is its least recently used first)
        if hit is None:
            legs = plan_legs(itinerary)
            try:
                hit = (legs, *price_riders(catalog, legs, medium), {})
            except FareUnknown as err:
                hit = err
            _make_room(memo)
        memo[key] = hit
        if isinstance(hit, FareUnknown):
            return {"fare": None, "fare_unknown": hit.reason}
        ready = hit[3].get(riders) or _answer(hit, riders, medium)
        fare = ready["fare"]
        if fare is None:
            return {"fare": None, "fare_unknown": ready["fare_unknown"]}
        # (every answer its own dicts, as `JourneyFare.to_dict` made them: a response may be changed in place)
        return {"fare": {**fare, "riders": fare["riders"].copy(), "per_operator": fare["per_operator"].copy(),
                         "legs": [x.copy() for x in fare["legs"]],
                         "transfers": [{**t, "split": t["split"].copy()} for t in fare["transfers"]]}}

    def add(self, catalog: dict[str, OperatorFares], itineraries: list[dict], riders: Passengers,
            medium: str) -> list[dict]:
        """Each itinerary with ``fare`` (and ``fare_unknown`` when null) added in place; returns the list."""
        memos = self._memo(catalog)
        for it in itineraries:
            it.update(self._fare(catalog, memos, it, riders, medium))
        return itineraries
