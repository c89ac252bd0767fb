"""Reservations and money: offer and booking requests, offers, bookings, payments, settlement."""
from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType, field

from api.models.common import Date, Iso, Model

Yen = Annotated[int, Meta(ge=0, description="integer JPY")]
BookingState = Literal["PENDING", "CONFIRMED", "REJECTED", "EXPIRED", "CANCELLED"]


# ---- requests --------------------------------------------------------------------------------------------
class StopRef(Struct, kw_only=True):
    stop_id: Annotated[str, Meta(min_length=1, max_length=200)] | UnsetType = UNSET
    sequence: Annotated[int, Meta(ge=0, le=2**31 - 1, description="GTFS stop_sequence on the trip")] | UnsetType \
        = UNSET


class RouteRef(Struct, kw_only=True):
    id: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET


class LegRef(Struct, kw_only=True):
    """A leg as GET /v1/plan gave it, or only its ride's reference (trip, service day, boarding and alighting)."""

    mode: Annotated[str, Meta(pattern="^[A-Za-z_]{1,20}$", description="WALK legs are not booked",
                              examples=["SUBWAY"])]
    trip_id: Annotated[str, Meta(min_length=1, max_length=200)] | UnsetType = UNSET
    service_date: Date | UnsetType = UNSET
    from_: StopRef | UnsetType = field(name="from", default=UNSET)
    to: StopRef | UnsetType = UNSET
    operator: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    route: RouteRef | UnsetType = UNSET
    departure: Iso | UnsetType = UNSET
    arrival: Iso | UnsetType = UNSET
    scheduled_departure: Annotated[Iso | None, Meta(
        description="a realtime leg books its timetable identity: when given, this (not `departure`) is the "
                    "claim checked against the timetable")] | UnsetType = UNSET
    scheduled_arrival: Iso | None | UnsetType = UNSET
    distance_m: Annotated[float, Meta(ge=0, le=500_000)] | UnsetType = UNSET
    booking_required: bool | UnsetType = UNSET
    stay_seated: bool | UnsetType = UNSET


class ItineraryRef(Struct, kw_only=True):
    """An itinerary from GET /v1/plan, sent back as it came, or only its rides' references: trip_id,
    service_date and from/to sequence (or stop_id). The server re-derives every ride from the timetable of its
    service day; any other field is checked against it (409 naming the leg and field when it differs). Other
    fields of the planner's legs are ignored."""

    id: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    legs: Annotated[list[LegRef], Meta(min_length=1, max_length=20)]


class Passengers(Model, kw_only=True):
    adult: Annotated[int, Meta(ge=0, le=9)] = 1
    child: Annotated[int, Meta(ge=0, le=9)] = 0


class OfferRequest(Struct, kw_only=True):
    itinerary: ItineraryRef
    passengers: Passengers | UnsetType = UNSET
    medium: Annotated[Literal["ticket", "ic"], Meta(description="IC card fares or paper tickets")] = "ticket"


class PaymentMethod(Struct, kw_only=True):
    """A payment token, or on the sandbox a test card number (exchanged for a token at the API edge)."""

    token: Annotated[str, Meta(pattern="^tok_[A-Za-z0-9_]{1,64}$", examples=["tok_visa"],
                               description="a payment token (tok_visa, tok_chargeDeclined, …)")] | UnsetType = UNSET
    card_number: Annotated[str, Meta(pattern="^[0-9 ]{12,23}$", examples=["4242424242424242"],
                                     description="sandbox only: a test card number")] | UnsetType = UNSET
    exp_month: Annotated[int, Meta(ge=1, le=12)] | UnsetType = UNSET
    exp_year: Annotated[int, Meta(ge=2000, le=2100)] | UnsetType = UNSET


class BookingRequest(Struct, kw_only=True):
    offer_id: Annotated[str, Meta(min_length=1, max_length=200, description="from POST /v1/offers")]
    payment: Annotated[PaymentMethod, Meta(extra_json_schema={"oneOf": [{"required": ["token"]},
                                                                         {"required": ["card_number"]}]})]


class CancelRequest(Struct, kw_only=True):
    leg_index: Annotated[Annotated[int, Meta(ge=0, le=19)] | None, Meta(description="null or absent: the whole booking")] \
        = None


# ---- answers ---------------------------------------------------------------------------------------------
class RideStop(Model, kw_only=True):
    stop_id: str
    sequence: int


class Ride(Model, kw_only=True):
    """The ride the server derived from the timetable and priced."""

    trip_id: str
    service_date: Date
    route_id: str
    from_: RideStop = field(name="from")
    to: RideStop
    departure: Iso
    arrival: Iso
    distance_m: int


class QuotedLeg(Model, kw_only=True):
    index: Annotated[int, Meta(description="position of the leg in the itinerary")]
    operator: str
    mode: str
    adult_fare: Yen
    child_fare: Yen
    amount: Annotated[Yen, Meta(description="for the whole party")]
    medium: Literal["ticket", "ic"]
    basis: Annotated[str, Meta(description="where the fare came from", examples=["distance band 7 km"])]
    ride: Ride


class Quote(Model, kw_only=True):
    total: Yen
    currency: Literal["JPY"]
    per_operator: dict[str, Yen]
    legs: list[QuotedLeg]


class Offer(Model, kw_only=True):
    id: str
    itinerary_id: str | None
    created_at: Iso
    expires_at: Annotated[Iso, Meta(description="the price is held until then")]
    passengers: Passengers
    quote: Quote


class Ticket(Model, kw_only=True):
    ticket_id: str
    operator: str
    hold_id: str
    validation_code: Annotated[str, Meta(description="short code for staff")]
    qr_payload: Annotated[str, Meta(description="signed payload for the QR code")]
    valid_from: Iso
    valid_until: Iso
    fare: Yen


class Refund(Model, kw_only=True):
    amount: Yen
    fee: Yen
    rule: str


class BookedLeg(Model, kw_only=True):
    index: int
    operator: str
    state: Literal["new", "held", "confirmed", "released", "cancelled"]
    amount: Yen
    departure: Iso
    ticket: Ticket | None
    refund: Refund | None


class PaymentSummary(Model, kw_only=True):
    status: Annotated[str, Meta(examples=["captured"])]
    captured: Yen
    refunded: Yen


class Cancellation(Model, kw_only=True):
    id: str
    legs: list[int]
    refund_total: Yen | None
    state: Annotated[str, Meta(examples=["done"])]


class Reason(Model, kw_only=True):
    """Why a booking did not confirm (the problem it answered with)."""

    code: str
    detail: str
    status: int


class Booking(Model, kw_only=True):
    id: str
    state: BookingState
    offer_id: str
    reason: Reason | None
    created_at: Iso
    updated_at: Iso
    total: Yen
    currency: Literal["JPY"]
    per_operator: dict[str, Yen]
    passengers: Passengers
    payment: PaymentSummary
    legs: list[BookedLeg]
    cancellations: list[Cancellation]


class BookingPage(Model, kw_only=True):
    bookings: list[Booking]
    next_cursor: Annotated[str | None, Meta(description="pass back as `cursor`; null on the last page")]


class Payment(Model, kw_only=True):
    id: Annotated[str, Meta(description="authorization id (auth_…)")]
    reference: str
    amount: Yen
    status: str
    captured: Yen
    refunded: Yen
    card_last4: str | None | UnsetType = UNSET
    booking_id: str
    currency: Literal["JPY"]


class Settlement(Model, kw_only=True):
    """What the platform owes one operator for one day."""

    operator: str
    date: Date
    currency: Literal["JPY"]
    sales: Yen
    refunds: Yen
    commission: Yen
    payable: Annotated[int, Meta(description="sales − refunds − commission")]
