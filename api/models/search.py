"""Trip search: plans (Itinerary JSON, docs/architecture.md), stops, departure boards, trips."""
from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType, field

from routing.timetable import MODE_NAMES
from api.models.common import Date, Iso, Lat, LineString, Lon, Metres, Model, Notice, Seconds, WarningRef

Mode = Literal[MODE_NAMES]  # type: ignore[valid-type] - the model's own list


class Agency(Model, kw_only=True):
    id: str
    name: str


class Route(Model, kw_only=True):
    """The line a ride is on; `color`/`text_color` are GTFS hex RRGGBB ("" when the feed has none)."""

    id: str
    short_name: str
    long_name: str
    color: Annotated[str, Meta(pattern="^([0-9A-F]{6})?$", examples=["B6007A"])]
    text_color: Annotated[str, Meta(pattern="^([0-9A-F]{6})?$")]
    type: Annotated[int, Meta(description="GTFS route_type")] | UnsetType = UNSET


class Place(Model, kw_only=True):
    """Where a leg starts or ends: a stop (with id and names), or a bare coordinate (walks to/from a point)."""

    lat: Lat
    lon: Lon
    stop_id: str | UnsetType = UNSET
    name: Annotated[str | None, Meta(description="in the language asked for (Accept-Language)")] | UnsetType = UNSET
    name_en: str | None | UnsetType = UNSET
    name_ja: Annotated[str, Meta(description="the Japanese name, when `name` is English")] | UnsetType = UNSET
    sequence: Annotated[int, Meta(description="GTFS stop_sequence on the trip")] | UnsetType = UNSET
    warnings: Annotated[list[str], Meta(description="ids of the warnings covering this stop then (see the leg's "
                                                    "`warnings`)")] | UnsetType = UNSET


class StopCall(Model, kw_only=True):
    """A stop a ride passes, with its times."""

    stop_id: str
    name: str | None
    name_en: str | None
    name_ja: str | UnsetType = UNSET
    lat: Lat
    lon: Lon
    arrival: Iso
    departure: Iso
    skipped: Annotated[bool, Meta(description="realtime: the vehicle passes without stopping (SKIPPED)")] | \
        UnsetType = UNSET
    warnings: Annotated[list[str], Meta(description="ids of the warnings covering this stop then (see the leg's "
                                                    "`warnings`)")] | UnsetType = UNSET


class Leg(Model, kw_only=True):
    """A walk or a ride. Rides carry operator, route (with colours), trip, headsign and the stops passed."""

    mode: Mode
    operator: str | UnsetType = UNSET
    agency: Agency | None | UnsetType = UNSET
    route: Route | UnsetType = UNSET
    trip_id: str | UnsetType = UNSET
    service_date: Date | UnsetType = UNSET
    headsign: str | None | UnsetType = UNSET
    headsign_ja: str | UnsetType = UNSET
    from_: Place = field(name="from")
    to: Place
    departure: Annotated[str, Meta(description="ISO-8601; rides: the realtime time when `realtime` is true")]
    arrival: Iso
    scheduled_departure: Annotated[Iso | None, Meta(
        description="rides: the timetable's departure (null for a trip realtime added)")] | UnsetType = UNSET
    scheduled_arrival: Iso | None | UnsetType = UNSET
    delay_s: Annotated[int, Meta(description="rides: departure − scheduled departure (GTFS-Realtime)")] | \
        UnsetType = UNSET
    arrival_delay_s: Annotated[int, Meta(description="rides: arrival − scheduled arrival")] | UnsetType = UNSET
    realtime: Annotated[bool, Meta(description="rides: the times come from a GTFS-Realtime trip update")] | \
        UnsetType = UNSET
    added: Annotated[bool, Meta(description="a trip the timetable does not have (GTFS-Realtime ADDED or "
                                            "DUPLICATED)")] | UnsetType = UNSET
    realtime_stale: Annotated[bool, Meta(description="the operator's realtime expired: scheduled times")] | \
        UnsetType = UNSET
    intermediate_stops: list[StopCall] | UnsetType = UNSET
    distance_m: Metres
    duration_s: Seconds
    booking_required: bool
    booking_message: Annotated[str, Meta(description="shuttles: how to book (GTFS-Flex booking rule)")] | \
        UnsetType = UNSET
    stay_seated: Annotated[bool, Meta(description="continues the previous ride in the same vehicle (through "
                                                  "service): no change, no walk")] | UnsetType = UNSET
    geometry: LineString
    warnings: Annotated[list[WarningRef], Meta(description="warnings and closures this leg touches")] | \
        UnsetType = UNSET


Yen = Annotated[int, Meta(description="integer JPY")]


class FareLeg(Model, kw_only=True):
    """One ride's share of the fare, after transfer discounts (what its operator is paid)."""

    index: Annotated[int, Meta(description="the leg's index in `legs`")]
    operator: str
    product: Annotated[str, Meta(description="the fare that priced it: v1 fare_id, v2 fare_product_id, flat")]
    basis: Annotated[str, Meta(description="how it was priced, e.g. 'feed fare_rules 101→120'")]
    adult_fare: Yen
    child_fare: Yen | None
    amount: Annotated[int, Meta(description="for the whole party, JPY")]


class FareTransfer(Model, kw_only=True):
    """A fare_transfer_rule applied between two rides (negative amounts are discounts)."""

    from_leg: int
    to_leg: int
    rule: str
    adult_amount: int
    child_amount: int | None
    amount: int
    split: Annotated[dict[str, int], Meta(description="each operator's share of `amount` (docs/fares.md)")]


class Fare(Model, kw_only=True):
    """The journey's price for `riders` with `medium` (docs/fares.md)."""

    total: Annotated[int, Meta(ge=0)]
    currency: Literal["JPY"]
    medium: Literal["ic", "ticket"]
    riders: dict[str, int]
    per_operator: dict[str, int]
    legs: list[FareLeg]
    transfers: list[FareTransfer]


class Itinerary(Model, kw_only=True):
    """One way to make the trip (the shape an offer takes back)."""

    id: Annotated[str, Meta(min_length=1, max_length=64)]
    departure: Iso
    arrival: Iso
    duration_s: Annotated[int, Meta(ge=0)]
    transfers: Annotated[int, Meta(ge=0)]
    walk_distance_m: Metres
    walking: Annotated[Literal["osm", "straight_line"], Meta(description="how walks were measured")]
    legs: Annotated[list[Leg], Meta(min_length=1)]
    fare: Annotated[Fare | None, Meta(description="null when it cannot be priced: see fare_unknown")] | \
        UnsetType = UNSET
    fare_unknown: Annotated[str, Meta(description="why `fare` is null")] | UnsetType = UNSET
    warnings: Annotated[list[WarningRef], Meta(description="warnings and closures the itinerary touches")] | \
        UnsetType = UNSET
    avoided: Annotated[list[WarningRef], Meta(description="warnings and closures it was routed around")] | \
        UnsetType = UNSET
    enters_warning_area: Annotated[bool, Meta(description="offered although it enters an `avoid` area: staying "
                                                          "out is impossible or much worse")] | UnsetType = UNSET
    entered: Annotated[list[WarningRef], Meta(description="the `avoid` warnings it goes into")] | UnsetType = UNSET


class PlanPage(Model, kw_only=True):
    """Cursors for the neighbouring pages: pass one back as `cursor` with the same other parameters."""

    earlier: str | None
    later: str | None


class PlanResponse(Model, kw_only=True):
    itineraries: list[Itinerary]
    page: PlanPage
    notices: list[Notice]


class Stop(Model, kw_only=True):
    """A stop (platform, pole) or station, as /v1/stops finds it."""

    id: str
    name: Annotated[str, Meta(description="in the language asked for (Accept-Language)")]
    name_en: str | None
    name_kana: Annotated[str | None, Meta(description="reading (translations.txt ja-Hrkt, else generated)")]
    name_romaji: Annotated[str | None, Meta(description="Hepburn reading")]
    name_ja: str | UnsetType = UNSET
    lat: Lat
    lon: Lon
    type: Literal["stop", "station"]
    parent_station: str | None
    operator: str
    match: Annotated[Literal["exact", "prefix", "substring", "fuzzy"], Meta(
        description="how the name matched `q` (fuzzy: a near miss, only when nothing matched literally)")]
    distance_m: Annotated[float, Meta(ge=0)] | UnsetType = UNSET


class StopsResponse(Model, kw_only=True):
    stops: list[Stop]


class DepartureRoute(Model, kw_only=True):
    id: str
    short_name: str
    long_name: str
    color: str
    text_color: str


class ClosureHit(Model, kw_only=True):
    """What closed a departure: its stop, or the hop to the next stop."""

    stop: bool
    next_hop: bool
    next_stop_id: Annotated[str, Meta(description="with `next_hop`: the stop the closed hop leads to")] | \
        UnsetType = UNSET
    closures: Annotated[list[str], Meta(description="ids of the area closures in force at this stop (`stop`) "
                                                    "or the next one (`next_hop`); listed in the answer's "
                                                    "`warnings`")] | UnsetType = UNSET


class Departure(Model, kw_only=True):
    departure: Iso
    stop_id: str
    trip_id: str
    headsign: str
    headsign_ja: str | UnsetType = UNSET
    mode: Mode
    operator: str
    route: DepartureRoute
    booking_required: bool
    status: Annotated[Literal["scheduled", "closed", "cancelled", "skipped"], Meta(
        description="closed by a closure in force; cancelled (GTFS-Realtime CANCELED) or skipped (the trip does "
                    "not stop here): struck out, shown at the scheduled time")]
    closure: ClosureHit | None
    scheduled_departure: Annotated[Iso | None, Meta(description="the timetable's time (null: an added trip)")] | \
        UnsetType = UNSET
    delay_s: Annotated[int | None, Meta(description="departure − scheduled departure (null: not running or "
                                                    "added)")] | UnsetType = UNSET
    realtime: Annotated[bool, Meta(description="the time comes from a GTFS-Realtime trip update")] | \
        UnsetType = UNSET
    added: bool | UnsetType = UNSET
    warnings: Annotated[list[str], Meta(description="ids of the warnings covering this stop")] | UnsetType = UNSET


class BoardPage(Model, kw_only=True):
    later: Annotated[str | None, Meta(description="the board's next page (`cursor`)")]


class DeparturesResponse(Model, kw_only=True):
    stop_id: str
    at: Iso
    departures: list[Departure]
    closed: Annotated[bool, Meta(description="every departure listed is closed")]
    affected: Annotated[bool, Meta(description="a warning or closure covers the stop in the window")] | \
        UnsetType = UNSET
    warnings: list[WarningRef] | UnsetType = UNSET
    page: BoardPage
    notices: list[Notice]


class TripStop(Model, kw_only=True):
    stop_id: str
    name: str
    name_en: str | None
    name_ja: str | UnsetType = UNSET
    lat: Lat
    lon: Lon
    sequence: int
    arrival: Iso
    departure: Iso
    pickup: bool
    drop_off: bool
    scheduled_arrival: Annotated[Iso, Meta(description="realtime: the timetable's time")] | UnsetType = UNSET
    scheduled_departure: Iso | UnsetType = UNSET
    delay_s: Annotated[int, Meta(description="realtime: departure − scheduled departure")] | UnsetType = UNSET
    skipped: Annotated[bool, Meta(description="realtime: the trip does not stop here (SKIPPED)")] | \
        UnsetType = UNSET


class Trip(Model, kw_only=True):
    """A trip as it runs on one service day."""

    trip_id: str
    service_date: Date
    mode: Mode
    operator: str
    agency: Agency | None
    route: Route
    headsign: str
    headsign_ja: str | UnsetType = UNSET
    booking_required: bool
    departure: Iso
    arrival: Iso
    distance_m: Metres
    stops: list[TripStop]
    geometry: LineString
    realtime: Annotated[bool, Meta(description="the times come from a GTFS-Realtime trip update")] | \
        UnsetType = UNSET
    cancelled: Annotated[bool, Meta(description="GTFS-Realtime: the trip does not run (times: the timetable's)")] \
        | UnsetType = UNSET


# ---- query strings (decoded through these: see api.typed.query) ------------------------------------------------
class PlanQuery(Struct, kw_only=True, forbid_unknown_fields=False):
    num: Annotated[int, Meta(ge=1, le=10, description="number of itineraries")] | None = None
    max_transfers: Annotated[int, Meta(ge=0, le=8, description="most transfers")] | None = None
    max_walk_m: Annotated[float, Meta(ge=0, le=5000, description="longest walk, metres")] | None = None
    walk_speed: Annotated[float, Meta(ge=0.3, le=3.0, description="metres per second")] | None = None
    min_transfer_s: Annotated[int, Meta(ge=0, le=1800, description="minimum change time")] | None = None
    wheelchair: Annotated[bool, Meta(description="only step-free stops and accessible trips")] | None = None


class StopsQuery(Struct, kw_only=True, forbid_unknown_fields=False):
    radius: Annotated[float, Meta(ge=1, le=5000, description="metres around `near` (500)")] = 500.0
    limit: Annotated[int, Meta(ge=1, le=200, description="most results (20)")] = 20


class BoardQuery(Struct, kw_only=True, forbid_unknown_fields=False):
    window_min: Annotated[int, Meta(ge=1, le=1440, description="minutes ahead (120)")] = 120
    limit: Annotated[int, Meta(ge=1, le=200, description="most departures (20)")] = 20
