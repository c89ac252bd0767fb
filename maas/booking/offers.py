"""Errors, input validation, and offers: a planned itinerary priced per operator with a price fixed for minutes.

Validation is pure and runs before anything is stored, so bad input never leaves a trace.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
import secrets
from dataclasses import dataclass
from types import MappingProxyType

from operators.money import CURRENCY
from maas.platform.bounds import EARLIEST_DATE as EARLIEST, LATEST_DATE as LATEST, MAX_ID_LEN
from maas.platform.bounds import MAX_STOP_SEQUENCE as MAX_SEQUENCE
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


class UnknownTrip(InvalidItinerary):
    """The leg names a trip, stop or position the timetable does not have at all."""

    code = "unknown_trip"


class TimetableMismatch(BookingError):
    """The leg names a real trip but says something the timetable of its service day does not (day, times,
    distance, operator...): the client's copy is stale or made up."""

    code, status = "timetable_mismatch", 409


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


MAX_LEGS = 20
MAX_DISTANCE_M = 500_000
_MODE = re.compile(r"[A-Z_]{1,20}")


def _req(d: dict, key: str, typ, path: str):
    v = d.get(key) if isinstance(d, dict) else None
    if typ is int:
        ok = isinstance(v, int) and not isinstance(v, bool)
    else:
        ok = isinstance(v, typ) and (typ is not str or bool(v))
    if not ok:
        raise InvalidItinerary(f"{path}.{key} is required ({typ.__name__})", field=f"{path}.{key}")
    return v


def _opt_id(d: dict, key: str, path: str) -> str | None:
    """An optional id string: 1..MAX_ID_LEN printable characters."""
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v or len(v) > MAX_ID_LEN or not v.isprintable():
        raise InvalidItinerary(f"{path}.{key} must be 1-{MAX_ID_LEN} printable characters",
                               field=f"{path}.{key}")
    return v


def _opt_seq(d: dict, path: str) -> int | None:
    v = d.get("sequence")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_SEQUENCE:
        raise InvalidItinerary(f"{path}.sequence must be a stop_sequence of the trip, an integer 0..{MAX_SEQUENCE}",
                               field=f"{path}.sequence")
    return v


def bounded_date(raw: object, field: str) -> dt.date:
    """A calendar date from a request, ISO ``YYYY-MM-DD`` within 2000..2100 (so no date arithmetic overflows)."""
    if not isinstance(raw, str) or len(raw) > 10:
        raise InvalidItinerary(f"{field} must be a date YYYY-MM-DD", field=field)
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidItinerary(f"{field} is not a date: {raw!r}", field=field) from None
    if not EARLIEST <= day <= LATEST:
        raise InvalidItinerary(f"{field} {raw} is outside {EARLIEST}..{LATEST}", field=field)
    return day


def bounded_datetime(raw: object, field: str) -> dt.datetime:
    """An ISO-8601 time with a UTC offset, its date within 2000..2100."""
    if not isinstance(raw, str) or not raw or len(raw) > 40:
        raise InvalidItinerary(f"{field} must be an ISO-8601 time like 2026-11-24T08:30:00+09:00", field=field)
    try:
        t = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidItinerary(f"{field} is not an ISO-8601 time: {raw!r}", field=field) from None
    if t.tzinfo is None:
        raise InvalidItinerary(f"{field} needs a UTC offset (e.g. +09:00)", field=field)
    if not EARLIEST <= t.date() <= LATEST:
        raise InvalidItinerary(f"{field} {raw} is outside {EARLIEST}..{LATEST}", field=field)
    return t


@dataclass(frozen=True, slots=True)
class StopRef:
    """Where a ride boards or alights, as the client names it: the trip's stop_sequence and/or the stop id."""

    stop_id: str | None
    sequence: int | None


@dataclass(frozen=True, slots=True)
class RideRequest:
    """One ride the client wants, parsed and bounded but not trusted: ``trip_id``, ``service_date`` and the two
    stop references say *what*; every other field is a claim the server checks against the timetable."""

    index: int
    trip_id: str
    service_date: dt.date
    board: StopRef
    alight: StopRef
    operator: str | None = None
    mode: str | None = None
    route_id: str | None = None
    departure: dt.datetime | None = None
    arrival: dt.datetime | None = None
    distance_m: int | None = None
    stay_seated: bool = False


def _distance(leg: dict, path: str) -> int | None:
    distance = leg.get("distance_m")
    if distance is None:
        return None
    if isinstance(distance, float) and math.isfinite(distance) and abs(distance) <= MAX_DISTANCE_M + 1:
        distance = int(round(distance))  # metres: a client may send the planner's value through a float
    if isinstance(distance, bool) or not isinstance(distance, int) or not 0 <= distance <= MAX_DISTANCE_M:
        raise InvalidItinerary(f"{path}.distance_m must be a number of metres 0..{MAX_DISTANCE_M}",
                               field=f"{path}.distance_m")
    return distance


def _ride(i: int, leg: dict, mode: str) -> RideRequest:
    path = f"itinerary.legs[{i}]"
    trip_id = _opt_id(leg, "trip_id", path)
    if trip_id is None:
        raise InvalidItinerary(f"{path}.trip_id is required: the trip the planner returned", field=f"{path}.trip_id")
    service_date = bounded_date(_req(leg, "service_date", str, path), f"{path}.service_date")
    ends = []
    for end in ("from", "to"):
        ref = _req(leg, end, dict, path)
        stop = StopRef(_opt_id(ref, "stop_id", f"{path}.{end}"), _opt_seq(ref, f"{path}.{end}"))
        if stop.stop_id is None and stop.sequence is None:
            raise InvalidItinerary(f"{path}.{end} needs the sequence (or stop_id) the planner returned",
                                   field=f"{path}.{end}.sequence")
        ends.append(stop)
    # a planned leg on realtime times books its scheduled identity: the timetable times are the claims
    # (maas/itineraries/derive.py checks them); `departure`/`arrival` then only show the realtime
    dk = "scheduled_departure" if leg.get("scheduled_departure") is not None else "departure"
    ak = "scheduled_arrival" if leg.get("scheduled_arrival") is not None else "arrival"
    dep = bounded_datetime(leg[dk], f"{path}.{dk}") if leg.get(dk) is not None else None
    arr = bounded_datetime(leg[ak], f"{path}.{ak}") if leg.get(ak) is not None else None
    if dep is not None and arr is not None and arr < dep:
        raise InvalidItinerary(f"{path} arrives before it departs", field=f"{path}.arrival")
    route = leg.get("route")
    if route is not None and not isinstance(route, dict):
        raise InvalidItinerary(f"{path}.route must be an object", field=f"{path}.route")
    return RideRequest(index=i, trip_id=trip_id, service_date=service_date, board=ends[0], alight=ends[1],
                       operator=_opt_id(leg, "operator", path), mode=mode,
                       route_id=_opt_id(route, "id", f"{path}.route") if route else None,
                       departure=dep, arrival=arr, distance_m=_distance(leg, path),
                       stay_seated=leg.get("stay_seated") is True)


def _opt_bool(leg: dict, key: str, path: str) -> None:
    if leg.get(key) is not None and not isinstance(leg[key], bool):
        raise InvalidItinerary(f"{path}.{key} must be true or false", field=f"{path}.{key}")


def _walk(i: int, leg: dict) -> None:
    """A walking leg is derived by the server (``maas.itineraries.derive``); what the client says of it is only
    checked for shape, so no value of any type or size goes further."""
    path = f"itinerary.legs[{i}]"
    for end in ("from", "to"):
        ref = leg.get(end)
        if ref is None:
            continue
        if not isinstance(ref, dict):
            raise InvalidItinerary(f"{path}.{end} must be an object", field=f"{path}.{end}")
        for key, bound in (("lat", 90.0), ("lon", 180.0)):
            v = ref.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                                  or abs(v) > bound):
                raise InvalidItinerary(f"{path}.{end}.{key} must be degrees within ±{bound:g}",
                                       field=f"{path}.{end}.{key}")
        _opt_id(ref, "stop_id", f"{path}.{end}")
    for key in ("departure", "arrival"):
        if leg.get(key) is not None:
            bounded_datetime(leg[key], f"{path}.{key}")
    _distance(leg, path)


def parse_itinerary(itinerary: object) -> list[RideRequest]:
    """The rides of an itinerary (walking legs are derived by the server, not booked), each field typed and
    bounded. Nothing here is trusted: ``maas.itineraries.derive`` re-derives every ride from the timetable."""
    if not isinstance(itinerary, dict) or not isinstance(itinerary.get("legs"), list) or not itinerary["legs"]:
        raise InvalidItinerary("itinerary must be an object with a non-empty legs list", field="itinerary.legs")
    if len(itinerary["legs"]) > MAX_LEGS:
        raise InvalidItinerary(f"an itinerary has at most {MAX_LEGS} legs", field="itinerary.legs")
    _opt_id(itinerary, "id", "itinerary")
    rides: list[RideRequest] = []
    for i, leg in enumerate(itinerary["legs"]):
        path = f"itinerary.legs[{i}]"
        if not isinstance(leg, dict):
            raise InvalidItinerary(f"{path} must be an object", field=path)
        mode = _req(leg, "mode", str, path).upper()
        if not _MODE.fullmatch(mode):  # TRAM, SUBWAY, CABLE_CAR, ...
            raise InvalidItinerary(f"{path}.mode is not a mode", field=f"{path}.mode")
        for flag in ("booking_required", "stay_seated"):
            _opt_bool(leg, flag, path)
        if mode == "WALK":
            _walk(i, leg)
        else:
            rides.append(_ride(i, leg, mode))
    if not rides:
        raise InvalidItinerary("the itinerary has no leg to book (walking only)", field="itinerary.legs")
    return rides


# -- offers ---------------------------------------------------------------------------------------------------------
def quote(prices: list[LegPrice], legs: list[LegRef]) -> dict:
    """The journey price: total and split per operator, int JPY."""
    per_op: dict[str, int] = {}
    for p in prices:
        per_op[p.operator] = per_op.get(p.operator, 0) + p.total
    return {"total": sum(p.total for p in prices), "currency": CURRENCY, "per_operator": per_op,
            "legs": [{"index": leg.index, "operator": p.operator, "mode": leg.mode, "adult_fare": p.adult_fare,
                      "child_fare": p.child_fare, "amount": p.total, "medium": p.medium, "basis": p.basis,
                      "ride": ride_summary(leg)}
                     for leg, p in zip(legs, prices)]}


def ride_summary(leg: LegRef) -> dict:
    """What was priced, as the server derived it from the timetable (not as the client described it)."""
    return {"trip_id": leg.trip_id, "service_date": leg.service_date, "route_id": leg.route_id,
            "from": {"stop_id": leg.from_stop, "sequence": leg.from_seq},
            "to": {"stop_id": leg.to_stop, "sequence": leg.to_seq}, "departure": leg.departure.isoformat(),
            "arrival": leg.arrival.isoformat(), "distance_m": leg.distance_m}


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
