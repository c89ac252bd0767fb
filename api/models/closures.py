"""Closures (docs/closures.md): our JSON form in and out, and the GTFS-Realtime alerts feed as JSON."""
from __future__ import annotations

from typing import Annotated, Literal, Union

from msgspec import UNSET, Meta, Struct, UnsetType

from api.models.common import Model

ID_PATTERN = "^[A-Za-z0-9_.:@/+\\-]{1,200}$"  # feeds.closure_json.ID_RE
Id = Annotated[str, Meta(pattern=ID_PATTERN)]
Ids = Annotated[list[Id], Meta(max_length=5000)]
Text = Annotated[str, Meta(max_length=4000, pattern="^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$")]
Time = Annotated[str, Meta(description="ISO-8601; without an offset, Tokyo time; 1970-2199",
                           extra_json_schema={"format": "date-time"}, examples=["2026-11-24T08:00:00+09:00"])]
Position = Annotated[tuple[Annotated[float, Meta(ge=-180, le=180)], Annotated[float, Meta(ge=-90, le=90)]],
                     Meta(description="[lon, lat] (GeoJSON order)")]
Ring = Annotated[list[Position], Meta(min_length=4, description="closed: the first position again at the end; "
                                                               "may not cross itself")]
Severity = Literal["info", "warning", "severe"]
Effect = Literal["NO_SERVICE", "REDUCED_SERVICE", "SIGNIFICANT_DELAYS", "DETOUR", "ADDITIONAL_SERVICE",
                 "MODIFIED_SERVICE", "OTHER_EFFECT", "UNKNOWN_EFFECT", "STOP_MOVED", "NO_EFFECT",
                 "ACCESSIBILITY_ISSUE"]
Cause = Literal["UNKNOWN_CAUSE", "OTHER_CAUSE", "TECHNICAL_PROBLEM", "STRIKE", "DEMONSTRATION", "ACCIDENT",
                "HOLIDAY", "WEATHER", "MAINTENANCE", "CONSTRUCTION", "POLICE_ACTIVITY", "MEDICAL_EMERGENCY"]


class Segment(Model, kw_only=True):
    """The track between two consecutive stops of a route, closed in both directions."""

    route: Id
    from_stop: Id
    to_stop: Id


class PolygonArea(Model, kw_only=True, tag_field="type", tag="Polygon"):
    """GeoJSON Polygon: an outer ring, then holes."""

    coordinates: Annotated[list[Ring], Meta(min_length=1)]


class MultiPolygonArea(Model, kw_only=True, tag_field="type", tag="MultiPolygon"):
    coordinates: Annotated[list[Annotated[list[Ring], Meta(min_length=1)]], Meta(min_length=1)]


class CircleArea(Model, kw_only=True, tag_field="type", tag="Circle"):
    """A circle (kept as its circumscribed polygon)."""

    center: Position
    radius_m: Annotated[float, Meta(gt=0, le=100_000)]


class FeatureProperties(Struct, kw_only=True):
    streets_only: Annotated[bool, Meta(description="close only the walking streets inside")] = False


class FeatureArea(Model, kw_only=True, tag_field="type", tag="Feature"):
    """A GeoJSON Feature of a Polygon, MultiPolygon or Circle."""

    geometry: Union[PolygonArea, MultiPolygonArea, CircleArea]
    properties: FeatureProperties | None = None


Area = Union[PolygonArea, MultiPolygonArea, CircleArea, FeatureArea]
AreaOut = Union[PolygonArea, MultiPolygonArea, CircleArea]


class Targets(Model, kw_only=True):
    """What is closed: at least one non-empty list. Ids are the timetable's (namespaced)."""

    stops: Ids | UnsetType = UNSET
    stations: Annotated[Ids, Meta(description="every platform of each")] | UnsetType = UNSET
    routes: Annotated[Ids, Meta(description="every trip of each")] | UnsetType = UNSET
    trips: Ids | UnsetType = UNSET
    segments: Annotated[list[Segment], Meta(max_length=5000)] | UnsetType = UNSET
    areas: Annotated[list[Area], Meta(max_length=100, description="stops inside, rides through and the streets "
                                                                   "inside are closed")] | UnsetType = UNSET
    walk_areas: Annotated[list[Area], Meta(max_length=100, description="only the walking streets inside")] | \
        UnsetType = UNSET


class Message(Model, kw_only=True):
    ja: Text = ""
    en: Text = ""


class CapRef(Model, kw_only=True):
    """Set from a CAP alert: how later Update/Cancel messages find this closure."""

    sender: Text
    identifier: Text
    sent: Text
    msg_type: Text
    supersedes: list[Text] = []


Strength = Annotated[Literal["close", "avoid", "inform"], Meta(
    description="close: no plan may use it; avoid: plans stay out when they can (an entering itinerary is only a "
                "flagged fallback); inform: shown with the answers it touches, never changes a route")]


class WarningInfo(Model, kw_only=True):
    """Where a closure came from when a weather service issued it (a JMA warning for one municipality)."""

    series: Annotated[str, Meta(description="which later reports replace it", examples=["dosha:130000"])]
    data_type: Annotated[str, Meta(examples=["VPWW54"])]
    kind: Annotated[str, Meta(examples=["大雨警報"])]
    kind_code: str
    kind_en: str
    level: Annotated[int, Meta(description="2 注意報, 3 警報, 4 危険警報/土砂災害警戒情報, 5 特別警報")]
    status: Annotated[str, Meta(examples=["発表"])]
    area_code: Annotated[str, Meta(description="7-digit municipality code")]
    area_name: str
    area_name_en: str = ""
    report_time: str = ""
    event_id: str = ""
    headline_ja: str = ""
    headline_en: str = ""


class ClosureIn(Struct, kw_only=True):
    """One closure as a sender writes it (defaults: start now, until lifted, severe, NO_SERVICE)."""

    id: Annotated[str, Meta(pattern=ID_PATTERN, description="sending an id again replaces that closure")] | None \
        = None
    source: Annotated[str, Meta(max_length=100)] | None = None
    start: Time | None = None
    end: Annotated[Time | None, Meta(description="null: until lifted")] = None
    severity: Severity | None = None
    effect: Annotated[Effect, Meta(description="only NO_SERVICE, DETOUR and STOP_MOVED change routes")] | None \
        = None
    cause: Cause | None = None
    strength: Strength | None = None
    message: Message | None = None
    targets: Annotated[Targets, Meta(extra_json_schema={"anyOf": [
        {"required": [k], "properties": {k: {"minItems": 1}}}
        for k in ("stops", "stations", "routes", "trips", "segments", "areas", "walk_areas")]})]


class ClosuresDocument(Struct, kw_only=True):
    closures: Annotated[list[ClosureIn], Meta(min_length=1)]


class Closure(Model, kw_only=True):
    """A closure as the service keeps it (the storage form; `GET /v1/closures`)."""

    id: Id
    source: str
    start: Time
    end: Time | None
    severity: Severity
    message: Message
    cause: Cause
    effect: Effect
    targets: Targets
    cap: CapRef | UnsetType = UNSET
    strength: Annotated[Strength, Meta(description="absent: close")] | UnsetType = UNSET
    warning: WarningInfo | UnsetType = UNSET


class ClosureList(Model, kw_only=True):
    closures: list[Closure]
    version: Annotated[int, Meta(ge=0, description="changes whenever a closure is added, replaced or lifted")]


class UnknownArea(Model, kw_only=True):
    code: str
    name: str


class Applied(Model, kw_only=True):
    accepted: list[Closure]
    lifted: Annotated[list[str], Meta(description="ids lifted by this payload (CAP Cancel/Update, GTFS-RT "
                                                  "deletions, a full dataset, a JMA report that no longer names "
                                                  "them)")]
    version: Annotated[int, Meta(ge=0)]
    unknown_areas: Annotated[list[UnknownArea], Meta(
        description="JMA area codes with no polygon on this server: reported, not applied")] | UnsetType = UNSET


# ---- GTFS-Realtime alerts, protobuf's JSON mapping (field names as in gtfs-realtime.proto) --------------------
class Translation(Model, kw_only=True):
    text: str
    language: str | UnsetType = UNSET


class TranslatedString(Model, kw_only=True):
    translation: list[Translation]


class TimeRange(Model, kw_only=True):
    start: Annotated[str, Meta(description="POSIX seconds (uint64 as a string)")] | UnsetType = UNSET
    end: str | UnsetType = UNSET


class TripDescriptor(Model, kw_only=True):
    trip_id: str | UnsetType = UNSET
    route_id: str | UnsetType = UNSET


class EntitySelector(Model, kw_only=True):
    agency_id: str | UnsetType = UNSET
    route_id: str | UnsetType = UNSET
    route_type: int | UnsetType = UNSET
    stop_id: str | UnsetType = UNSET
    trip: TripDescriptor | UnsetType = UNSET


class Alert(Model, kw_only=True):
    active_period: list[TimeRange] | UnsetType = UNSET
    informed_entity: list[EntitySelector] | UnsetType = UNSET
    cause: Cause | UnsetType = UNSET
    effect: Effect | UnsetType = UNSET
    severity_level: Literal["UNKNOWN_SEVERITY", "INFO", "WARNING", "SEVERE"] | UnsetType = UNSET
    header_text: TranslatedString | UnsetType = UNSET
    description_text: TranslatedString | UnsetType = UNSET


class FeedEntity(Model, kw_only=True):
    id: str
    is_deleted: bool | UnsetType = UNSET
    alert: Alert | UnsetType = UNSET


class FeedHeader(Model, kw_only=True):
    gtfs_realtime_version: str
    incrementality: Literal["FULL_DATASET", "DIFFERENTIAL"] | UnsetType = UNSET
    timestamp: Annotated[str, Meta(description="POSIX seconds (uint64 as a string)")] | UnsetType = UNSET


class FeedMessage(Model, kw_only=True):
    """GTFS-Realtime FeedMessage of alerts (the protobuf's JSON mapping)."""

    header: FeedHeader
    entity: list[FeedEntity] | UnsetType = UNSET
