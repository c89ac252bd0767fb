"""``fare`` on every itinerary of a plan, by the same engine offers and bookings use; ``fare_unknown`` with the
reason when a leg cannot be priced. Riders and medium come from the request (``?riders=adult:1,child:1``,
``?fare_media=ic|ticket``)."""
from __future__ import annotations

import datetime as dt

from operators.base import MAX_PASSENGERS, LegRef, Passengers
from operators.fare_engine import MEDIA, FareUnknown, OperatorFares, price_journey


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


def itinerary_fare(catalog: dict[str, OperatorFares], itinerary: dict, riders: Passengers, medium: str) -> dict:
    """``{"fare": {...}}`` or ``{"fare": None, "fare_unknown": reason}`` for one planned itinerary."""
    if not any(leg.get("mode") != "WALK" for leg in itinerary.get("legs", ())):
        return {"fare": {"total": 0, "currency": "JPY", "medium": medium, "riders": riders.to_dict(),
                         "per_operator": {}, "legs": [], "transfers": []}}
    try:
        legs = plan_legs(itinerary)
        return {"fare": price_journey(catalog, legs, riders, medium).to_dict()}
    except FareUnknown as err:
        return {"fare": None, "fare_unknown": err.reason}


def add_fares(catalog: dict[str, OperatorFares], itineraries: list[dict], riders: Passengers,
              medium: str) -> list[dict]:
    """Each itinerary with ``fare`` (and ``fare_unknown`` when null) added in place; returns the list."""
    for it in itineraries:
        it.update(itinerary_fare(catalog, it, riders, medium))
    return itineraries
