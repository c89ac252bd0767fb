"""Models every area shares: problem details, notices, geometry, names."""
from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

Iso = Annotated[str, Meta(description="ISO-8601 date-time with offset, e.g. 2026-11-24T08:30:00+09:00",
                          examples=["2026-11-24T08:30:00+09:00"])]
Date = Annotated[str, Meta(description="calendar date YYYY-MM-DD", examples=["2026-11-24"])]
Lat = Annotated[float, Meta(ge=-90, le=90, description="WGS 84 latitude", examples=[35.690607])]
Lon = Annotated[float, Meta(ge=-180, le=180, description="WGS 84 longitude", examples=[139.692677])]
Metres = Annotated[int, Meta(ge=0, description="metres (integer)")]
Seconds = Annotated[int, Meta(description="seconds")]


class Model(Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of the response models: an undeclared field is an error, so tests catch a field the description lacks."""


class FieldError(Model, kw_only=True):
    """One problem with one input."""

    field: str | None = None
    message: str


class Suggestion(Model, kw_only=True):
    """A station a name could mean ("did you mean")."""

    id: str
    name: str
    name_en: str | None = None


class Headline(Model, kw_only=True):
    ja: str
    en: str


class WarningArea(Model, kw_only=True):
    """The municipality (JMA area code) a weather warning covers."""

    code: str
    name: str
    name_en: str


class WarningRef(Model, kw_only=True):
    """A warning or closure an answer touches or was routed around (JMA warnings carry kind and area)."""

    id: str
    kind: Annotated[str, Meta(description="the warning's kind (大雨特別警報, 土砂災害警戒情報 …) or `closure`")]
    kind_en: str
    strength: Annotated[Literal["close", "avoid", "inform"], Meta(
        description="close: never used; avoid: plans stay out unless impossible or much worse; inform: shown only")]
    severity: str
    headline: Headline
    area: WarningArea | None
    valid_from: Iso
    valid_until: Iso | None
    source: str


class Notice(Model, kw_only=True):
    """Why an answer is empty or partial, though the request was fine."""

    code: Annotated[str, Meta(examples=["outside_service_dates"])]
    field: str | None = None
    message: str


class LineString(Model, kw_only=True):
    """GeoJSON LineString geometry: [lon, lat] pairs."""

    type: Literal["LineString"]
    coordinates: list[tuple[float, float]]


def example(model: type[Struct], **values) -> dict:
    """A model instance as JSON, for `examples` (checked: it must decode into the model)."""
    return msgspec.to_builtins(msgspec.convert(values, model))
