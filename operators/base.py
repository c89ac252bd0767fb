"""The one interface every operator adapter implements: price, hold (with expiry), confirm (ticket), cancel/refund.

Adapters are async because real operators sit behind an HTTP API (TOMP-API style); ours keep their state in the
shared store so any worker process, and the crash-recovery pass, sees the same holds and tickets.  Every
mutating call is keyed by the caller's ``hold_id`` and is idempotent, so a retried or recovered step never
double-books a seat or issues two tickets.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from feeds.feed import TOKYO

MAX_PASSENGERS = 9


def asdict(obj) -> dict:
    """Shallow field dict (``dataclasses.asdict`` deep-copies and dominated the booking profile)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


class OperatorError(Exception):
    """An operator refused or failed a call; ``code`` is stable and shown to the client."""

    code = "operator_error"

    def __init__(self, detail: str, *, operator: str = "", leg_index: int | None = None):
        super().__init__(detail)
        self.detail = detail
        self.operator = operator
        self.leg_index = leg_index


class SoldOut(OperatorError):
    code = "sold_out"


class HoldExpired(OperatorError):
    code = "hold_expired"


class BookingTooLate(OperatorError):
    code = "booking_too_late"


class BookingTooEarly(OperatorError):
    code = "booking_too_early"


class InvalidLeg(OperatorError):
    code = "invalid_leg"


class OperatorUnavailable(OperatorError):
    code = "operator_unavailable"


@dataclass(frozen=True)
class Passengers:
    """Who travels. Children pay child fares; everybody needs a seat on a shuttle."""

    adult: int = 1
    child: int = 0

    @property
    def total(self) -> int:
        return self.adult + self.child

    def to_dict(self) -> dict:
        return {"adult": self.adult, "child": self.child}


@dataclass(frozen=True)
class LegRef:
    """What an operator needs to know about one itinerary leg (parsed from the itinerary JSON)."""

    index: int
    operator: str
    mode: str
    trip_id: str
    route_id: str
    service_date: str
    from_stop: str
    to_stop: str
    from_seq: int
    to_seq: int
    departure: dt.datetime
    arrival: dt.datetime
    distance_m: int
    booking_required: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["departure"] = self.departure.isoformat()
        d["arrival"] = self.arrival.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LegRef":
        return cls(**{**d, "departure": dt.datetime.fromisoformat(d["departure"]),
                      "arrival": dt.datetime.fromisoformat(d["arrival"])})


@dataclass(frozen=True)
class LegPrice:
    """Fare of one leg for the whole party, integer JPY; ``basis`` says where the fare came from."""

    operator: str
    adult_fare: int
    child_fare: int | None  # None when no child travels and the operator sells no child fare
    total: int
    medium: str  # "ic" | "ticket"
    basis: str  # e.g. "feed fare_rules 101→110", "distance band 3 km", "flat fare"
    product: str = ""  # the fare (v1 fare_id, v2 fare_product_id) that priced the leg
    leg_index: int = -1  # the leg's index in the itinerary

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Hold:
    """Inventory held for one leg until ``expires_at`` (epoch seconds)."""

    hold_id: str
    operator: str
    leg: LegRef
    passengers: Passengers
    expires_at: float
    seats: int = 0  # seats taken from the operator's inventory (0 when the operator has none)

    def to_dict(self) -> dict:
        return {"hold_id": self.hold_id, "operator": self.operator, "leg": self.leg.to_dict(),
                "passengers": self.passengers.to_dict(), "expires_at": self.expires_at, "seats": self.seats}

    @classmethod
    def from_dict(cls, d: dict) -> "Hold":
        return cls(hold_id=d["hold_id"], operator=d["operator"], leg=LegRef.from_dict(d["leg"]),
                   passengers=Passengers(**d["passengers"]), expires_at=d["expires_at"], seats=d.get("seats", 0))


@dataclass(frozen=True)
class Ticket:
    """The traveller's proof of purchase: an id, a short code for staff, and a signed QR payload."""

    ticket_id: str
    operator: str
    hold_id: str
    validation_code: str
    qr_payload: str
    valid_from: str
    valid_until: str
    fare: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Ticket":
        return cls(**d)


@dataclass(frozen=True)
class Refund:
    """What a cancellation gives back under the operator's rule (``amount`` ≤ fare, integer JPY)."""

    amount: int
    fee: int
    rule: str

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class OperatorAdapter(Protocol):
    """One operator. ``price`` is pure; the others are idempotent per ``hold_id``."""

    operator_id: str

    def price(self, leg: LegRef, passengers: Passengers, medium: str = "ic") -> LegPrice: ...

    def check_bookable(self, leg: LegRef, now: dt.datetime) -> None: ...

    async def hold(self, hold_id: str, leg: LegRef, passengers: Passengers, now: dt.datetime,
                   ttl_s: float) -> Hold: ...

    async def confirm(self, hold: Hold, fare: int, now: dt.datetime) -> Ticket: ...

    async def release(self, hold: Hold) -> None: ...

    async def cancel(self, hold: Hold, ticket: Ticket, now: dt.datetime, *, void: bool = False) -> Refund: ...

    async def ticket_status(self, ticket_id: str) -> str: ...


def refund_for(windows, fare: int, departure: dt.datetime, now: dt.datetime, void: bool = False) -> Refund:
    """A cancellation's refund under an operator's windows (`feeds.profile.RefundWindow`, latest-starting first):
    the first window that ``now`` is at least ``min_before_departure`` ahead of departure gives ``refund_percent``
    of the fare (rounded down) less its ``fee``; none once the vehicle has left. ``void`` (payment never
    captured) gives everything back."""
    if void:
        return Refund(amount=fare, fee=0, rule="void before capture")
    if now >= departure:
        return Refund(amount=0, fee=fare, rule="after departure: no refund")
    minutes = (departure - now).total_seconds() / 60
    for w in sorted(windows, key=lambda w: -w.min_before_departure):
        if minutes >= w.min_before_departure:
            amount = max(0, fare * w.refund_percent // 100 - w.fee)
            less = f" less a {w.fee} JPY fee" if w.fee else ""
            return Refund(amount=amount, fee=fare - amount,
                          rule=f"≥{w.min_before_departure} min before departure: {w.refund_percent}% refund{less}")
    latest = min(w.min_before_departure for w in windows) if windows else 0
    return Refund(amount=0, fee=fare, rule=f"<{latest} min before departure: no refund")


@dataclass
class TicketSigner:
    """Signs QR payloads with an HMAC so a gate can check a ticket offline. The key is the deployment's ticket
    signing key (maas.platform.secrets); without one a signer gets a random key of its own, never a fixed one."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def code(self, ticket_id: str) -> str:
        digest = hmac.new(self.key, ticket_id.encode(), hashlib.sha256).digest()
        return f"{int.from_bytes(digest[:4], 'big') % 1_000_000:06d}"

    def payload(self, fields: dict[str, Any]) -> str:
        body = "|".join(f"{k}={fields[k]}" for k in sorted(fields))
        sig = hmac.new(self.key, body.encode(), hashlib.sha256).digest()[:12]
        return "MAAS1:" + base64.urlsafe_b64encode(body.encode()).decode().rstrip("=") + "." + \
            base64.urlsafe_b64encode(sig).decode().rstrip("=")

    def verify(self, payload: str) -> dict[str, str] | None:
        """Fields of a genuine payload, None when forged or malformed."""
        try:
            head, sig = payload.removeprefix("MAAS1:").split(".")
            body = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
            want = hmac.new(self.key, body, hashlib.sha256).digest()[:12]
            if not hmac.compare_digest(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), want):
                return None
            return dict(part.split("=", 1) for part in body.decode().split("|"))
        except (ValueError, UnicodeDecodeError):
            return None
