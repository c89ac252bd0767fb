"""Errors, input validation, and offers: a planned itinerary priced per operator with a price fixed for minutes.

Validation is pure and runs before anything is stored, so bad input never leaves a trace.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import secrets
from dataclasses import dataclass
from types import MappingProxyType

from maas.money import CURRENCY
from operators.base import MAX_PASSENGERS, LegPrice, LegRef, OperatorError, Passengers

MAX_KEY_LEN = 255


class BookingError(Exception):
    """A failure the client can act on; the API maps it to problem+json (``code`` → type, ``status``)."""

    code = "booking_error"
    status = 400

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None,
                 status: int | None = None):
        super().__init__(detail)
        self.detail, self.field = detail, field
        if code:
            self.code = code
        if status:
            self.status = status

    def to_dict(self) -> dict:
        return {"code": self.code, "detail": self.detail, "field": self.field, "status": self.status}

    @classmethod
    def from_dict(cls, d: dict) -> "BookingError":
        return BookingError(d["detail"], field=d.get("field"), code=d["code"], status=d["status"])

    def __repr__(self) -> str:
        return f"BookingError({self.code!r}, {self.detail!r})"


class InvalidInput(BookingError):
    code, status = "invalid_request", 422


class InvalidPassengers(InvalidInput):
    code = "invalid_passengers"


class InvalidItinerary(InvalidInput):
    code = "invalid_itinerary"


class UnknownOffer(BookingError):
    code, status = "unknown_offer", 404


class OfferExpired(BookingError):
    code, status = "offer_expired", 410


class NotFound(BookingError):
    code, status = "not_found", 404


class Conflict(BookingError):
    code, status = "conflict", 409


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


OPERATOR_STATUS = MappingProxyType({"sold_out": 409, "hold_expired": 409, "booking_too_late": 422,
                                    "booking_too_early": 422, "invalid_leg": 422, "unknown_operator": 422,
                                    "operator_unavailable": 502})
PAYMENT_STATUS = MappingProxyType({"payment_declined": 402, "payment_failed": 502, "invalid_card": 422})


def from_operator_error(err: OperatorError) -> BookingError:
    return BookingError(err.detail, code=err.code, status=OPERATOR_STATUS.get(err.code, 502),
                        field=None if err.leg_index is None else f"itinerary.legs[{err.leg_index}]")


# -- validation -----------------------------------------------------------------------------------------------------
def validate_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LEN:
        raise InvalidInput(f"Idempotency-Key must be a non-empty string of at most {MAX_KEY_LEN} characters",
                           field="Idempotency-Key")
    return key


def parse_passengers(value: object) -> Passengers:
    """``{"adult": n, "child": n}`` with integer counts, 1..MAX_PASSENGERS travellers in all."""
    if not isinstance(value, dict):
        raise InvalidPassengers('passengers must be an object like {"adult": 1, "child": 0}', field="passengers")
    extra = set(value) - {"adult", "child"}
    if extra:
        raise InvalidPassengers(f"unknown passenger categories {sorted(extra)}; use adult and child",
                                field="passengers")
    counts = {}
    for cat in ("adult", "child"):
        n = value.get(cat, 0)
        if isinstance(n, bool) or not isinstance(n, int):
            raise InvalidPassengers(f"passengers.{cat} must be an integer", field=f"passengers.{cat}")
        if n < 0:
            raise InvalidPassengers(f"passengers.{cat} must not be negative (got {n})", field=f"passengers.{cat}")
        counts[cat] = n
    total = counts["adult"] + counts["child"]
    if not 1 <= total <= MAX_PASSENGERS:
        raise InvalidPassengers(f"a booking is for 1 to {MAX_PASSENGERS} passengers (got {total})",
                                field="passengers")
    if counts["adult"] == 0:
        raise InvalidPassengers("children travel with at least one adult", field="passengers.adult")
    return Passengers(**counts)


def _req(d: dict, key: str, typ, path: str):
    v = d.get(key) if isinstance(d, dict) else None
    if typ is int:
        ok = isinstance(v, int) and not isinstance(v, bool)
    else:
        ok = isinstance(v, typ) and (typ is not str or bool(v))
    if not ok:
        raise InvalidItinerary(f"{path}.{key} is required ({typ.__name__})", field=f"{path}.{key}")
    return v


def _time(d: dict, key: str, path: str) -> dt.datetime:
    raw = _req(d, key, str, path)
    try:
        t = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidItinerary(f"{path}.{key} is not an ISO-8601 time: {raw!r}", field=f"{path}.{key}") from None
    if t.tzinfo is None:
        raise InvalidItinerary(f"{path}.{key} needs a UTC offset (e.g. +09:00)", field=f"{path}.{key}")
    return t


def parse_itinerary(itinerary: object) -> list[LegRef]:
    """The bookable legs of an itinerary (walking legs dropped), each checked field by field."""
    if not isinstance(itinerary, dict) or not isinstance(itinerary.get("legs"), list) or not itinerary["legs"]:
        raise InvalidItinerary("itinerary must be an object with a non-empty legs list", field="itinerary.legs")
    if len(itinerary["legs"]) > 20:
        raise InvalidItinerary("an itinerary has at most 20 legs", field="itinerary.legs")
    legs: list[LegRef] = []
    for i, leg in enumerate(itinerary["legs"]):
        path = f"itinerary.legs[{i}]"
        if not isinstance(leg, dict):
            raise InvalidItinerary(f"{path} must be an object", field=path)
        mode = _req(leg, "mode", str, path).upper()
        if mode == "WALK":
            continue
        frm, to = _req(leg, "from", dict, path), _req(leg, "to", dict, path)
        dep, arr = _time(leg, "departure", path), _time(leg, "arrival", path)
        if arr < dep:
            raise InvalidItinerary(f"{path} arrives before it departs", field=f"{path}.arrival")
        distance = leg.get("distance_m", 0)
        if isinstance(distance, float) and math.isfinite(distance):
            distance = int(round(distance))  # metres: a client may send the planner's value through a float
        if isinstance(distance, bool) or not isinstance(distance, int) or not 0 <= distance <= 500_000:
            raise InvalidItinerary(f"{path}.distance_m must be a number of metres 0..500000", field=f"{path}.distance_m")
        service_date = _req(leg, "service_date", str, path)
        try:
            dt.date.fromisoformat(service_date)
        except ValueError:
            raise InvalidItinerary(f"{path}.service_date is not a date: {service_date!r}",
                                   field=f"{path}.service_date") from None
        route = leg.get("route") if isinstance(leg.get("route"), dict) else {}
        legs.append(LegRef(
            index=i, operator=_req(leg, "operator", str, path), mode=mode, trip_id=_req(leg, "trip_id", str, path),
            route_id=str(route.get("id", "")), service_date=service_date,
            from_stop=_req(frm, "stop_id", str, f"{path}.from"), to_stop=_req(to, "stop_id", str, f"{path}.to"),
            from_seq=_req(frm, "sequence", int, f"{path}.from"), to_seq=_req(to, "sequence", int, f"{path}.to"),
            departure=dep, arrival=arr, distance_m=distance, booking_required=bool(leg.get("booking_required"))))
    if not legs:
        raise InvalidItinerary("the itinerary has no leg to book (walking only)", field="itinerary.legs")
    return legs


# -- offers ---------------------------------------------------------------------------------------------------------
def quote(prices: list[LegPrice], legs: list[LegRef]) -> dict:
    """The journey price: total and split per operator, int JPY."""
    per_op: dict[str, int] = {}
    for p in prices:
        per_op[p.operator] = per_op.get(p.operator, 0) + p.total
    return {"total": sum(p.total for p in prices), "currency": CURRENCY, "per_operator": per_op,
            "legs": [{"index": leg.index, "operator": p.operator, "mode": leg.mode, "adult_fare": p.adult_fare,
                      "child_fare": p.child_fare, "amount": p.total, "medium": p.medium, "basis": p.basis}
                     for leg, p in zip(legs, prices)]}


@dataclass(frozen=True)
class Offer:
    id: str
    owner: str
    created_at: dt.datetime
    expires_at: dt.datetime
    passengers: Passengers
    medium: str
    legs: list[LegRef]
    prices: list[LegPrice]
    itinerary_id: str | None = None

    @property
    def quote(self) -> dict:
        return quote(self.prices, self.legs)

    def public(self) -> dict:
        return {"id": self.id, "itinerary_id": self.itinerary_id, "created_at": self.created_at.isoformat(),
                "expires_at": self.expires_at.isoformat(), "passengers": self.passengers.to_dict(),
                "quote": self.quote}

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "owner": self.owner, "created_at": self.created_at.isoformat(),
                           "expires_at": self.expires_at.isoformat(), "passengers": self.passengers.to_dict(),
                           "medium": self.medium, "legs": [leg.to_dict() for leg in self.legs],
                           "prices": [p.to_dict() for p in self.prices], "itinerary_id": self.itinerary_id})

    @classmethod
    def from_json(cls, raw: str) -> "Offer":
        d = json.loads(raw)
        return cls(id=d["id"], owner=d["owner"], created_at=dt.datetime.fromisoformat(d["created_at"]),
                   expires_at=dt.datetime.fromisoformat(d["expires_at"]), passengers=Passengers(**d["passengers"]),
                   medium=d["medium"], legs=[LegRef.from_dict(x) for x in d["legs"]],
                   prices=[LegPrice(**p) for p in d["prices"]], itinerary_id=d.get("itinerary_id"))


def new_offer_id() -> str:
    return "off_" + secrets.token_hex(10)
