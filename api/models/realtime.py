"""GTFS-Realtime intake and output (docs/architecture.md "Realtime"): ingest reports, per-operator status,
current vehicle positions, and the merged TripUpdates / VehiclePositions feeds in protobuf's JSON mapping."""
from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from api.models.closures import FeedHeader
from api.models.common import Lat, Lon, Model

Stream = Literal["trip-updates", "vehicle-positions"]
Posix = Annotated[int, Meta(ge=0, description="POSIX seconds")]
PosixF = Annotated[float, Meta(ge=0, description="POSIX seconds")]


class UnmatchedEntity(Model, kw_only=True):
    """An entity that matches nothing in the operator's live feed: kept and republished, not applied."""

    entity_id: str
    kind: Literal["trip_update", "vehicle"]
    trip_id: str | None
    reason: str


class IngestReport(Model, kw_only=True):
    """What one pushed message did. `accepted: false` with `ignored_out_of_order: true` means the stored data
    is from a newer message (nothing changed)."""

    operator: str
    timestamp: Annotated[Posix, Meta(description="the message's header timestamp")]
    full_dataset: bool
    accepted: bool
    ignored_out_of_order: bool
    streams: list[Stream]
    trip_updates: Annotated[int, Meta(ge=0)]
    vehicles: Annotated[int, Meta(ge=0)]
    deleted: Annotated[int, Meta(ge=0)]
    matched_trip_updates: Annotated[int, Meta(ge=0)]
    matched_vehicles: Annotated[int, Meta(ge=0)]
    vehicles_at_stops: Annotated[int, Meta(ge=0, description="vehicles whose stop is known (given or from the "
                                                             "trip's stop at current_stop_sequence)")]
    unmatched_count: Annotated[int, Meta(ge=0)]
    unmatched: Annotated[list[UnmatchedEntity], Meta(description="the first 100")]
    version: Annotated[int, Meta(ge=0, description="this worker's realtime version after the message")]
    stale_on_arrival: bool = False
    detail: str | None = None


class StreamStatus(Model, kw_only=True):
    timestamp: Posix
    received_at: PosixF
    age_s: float
    entities: Annotated[int, Meta(ge=0)]
    unmatched: Annotated[int, Meta(ge=0)]
    stale: Annotated[bool, Meta(description="older than max_age_s: the schedule applies again")]


class PullStatus(Model, kw_only=True):
    url: Annotated[str, Meta(description="without its query string (it may hold a consumer key)")]
    interval_s: float
    fetches: int
    not_modified: int
    failures: Annotated[int, Meta(description="consecutive failures (the back-off doubles with each)")]
    last_status: int | None
    last_attempt: float | None
    last_success: float | None
    last_error: str | None
    next_in_s: float


class RealtimeStatus(Model, kw_only=True):
    operator: str
    known: Annotated[bool, Meta(description="the operator has a live feed")]
    last_message_at: PosixF | None
    stale: bool
    max_age_s: float
    streams: dict[Stream, StreamStatus]
    accepted: int
    rejected: int
    ignored_out_of_order: int
    last_error: str | None
    last_report: IngestReport | None
    pulls: list[PullStatus]
    version: int


class RealtimeStatusList(Model, kw_only=True):
    """Every operator with realtime data or a pull source, by operator id."""

    operators: list[RealtimeStatus]
    count: Annotated[int, Meta(ge=0)]


class VehicleStop(Model, kw_only=True):
    id: str
    name: str | None
    distance_m: Annotated[float | None, Meta(description="from the reported position to the stop (the Toei "
                                                         "feeds snap positions to stops: ~0)")]


class Vehicle(Model, kw_only=True):
    id: Annotated[str, Meta(description="operator:entity id")]
    operator: str
    vehicle_id: str | None
    label: str | None
    trip_id: str | None
    route_id: str | None
    start_date: str | None
    lat: Lat
    lon: Lon
    bearing: float | None
    speed: Annotated[float | None, Meta(description="m/s")]
    current_status: Literal["INCOMING_AT", "STOPPED_AT", "IN_TRANSIT_TO"]
    current_stop_sequence: int | None
    stop: VehicleStop | None
    timestamp: Posix | None


class VehicleList(Model, kw_only=True):
    vehicles: list[Vehicle]
    count: int
    stale: Annotated[list[str], Meta(description="operators whose data expired (their vehicles are not listed)")]
    expired: Annotated[int, Meta(ge=0, description="positions of current feeds left out because their own "
                                                   "timestamp is older than the max age (any operator)")]
    version: int


# GTFS-Realtime TripUpdates / VehiclePositions in protobuf's JSON mapping (field names as in the .proto).

class TripDescriptorRT(Model, kw_only=True):
    trip_id: str | UnsetType = UNSET
    route_id: str | UnsetType = UNSET
    direction_id: int | UnsetType = UNSET
    start_time: str | UnsetType = UNSET
    start_date: str | UnsetType = UNSET
    schedule_relationship: str | UnsetType = UNSET


class StopTimeEvent(Model, kw_only=True):
    delay: int | UnsetType = UNSET
    time: Annotated[str, Meta(description="int64 as a string (protobuf JSON)")] | UnsetType = UNSET


class StopTimeUpdateRT(Model, kw_only=True):
    stop_sequence: int | UnsetType = UNSET
    stop_id: str | UnsetType = UNSET
    arrival: StopTimeEvent | UnsetType = UNSET
    departure: StopTimeEvent | UnsetType = UNSET
    schedule_relationship: str | UnsetType = UNSET


class TripUpdateRT(Model, kw_only=True):
    trip: TripDescriptorRT
    stop_time_update: list[StopTimeUpdateRT] | UnsetType = UNSET
    timestamp: str | UnsetType = UNSET
    delay: int | UnsetType = UNSET


class VehicleDescriptorRT(Model, kw_only=True):
    id: str | UnsetType = UNSET
    label: str | UnsetType = UNSET


class PositionRT(Model, kw_only=True):
    latitude: float
    longitude: float
    bearing: float | UnsetType = UNSET
    speed: float | UnsetType = UNSET


class VehiclePositionRT(Model, kw_only=True):
    trip: TripDescriptorRT | UnsetType = UNSET
    vehicle: VehicleDescriptorRT | UnsetType = UNSET
    position: PositionRT | UnsetType = UNSET
    current_stop_sequence: int | UnsetType = UNSET
    stop_id: str | UnsetType = UNSET
    current_status: str | UnsetType = UNSET
    timestamp: str | UnsetType = UNSET


class RealtimeEntity(Model, kw_only=True):
    id: str
    trip_update: TripUpdateRT | UnsetType = UNSET
    vehicle: VehiclePositionRT | UnsetType = UNSET


class RealtimeFeedMessage(Model, kw_only=True):
    """GTFS-Realtime FeedMessage of trip updates or vehicle positions (the protobuf's JSON mapping)."""

    header: FeedHeader
    entity: list[RealtimeEntity] | UnsetType = UNSET
