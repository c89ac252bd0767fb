"""Operators' published GTFS feeds: versions, validation reports, the list."""
from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from api.models.common import Model

NAMESPACE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # feeds.gtfs.check_namespace
Operator = Annotated[str, Meta(pattern=NAMESPACE_PATTERN, max_length=200, examples=["toei-bus"],
                               description="operator id, the feed's namespace")]


class FeedVersion(Model, kw_only=True):
    operator: Operator
    version: Annotated[str, Meta(description="version id, newest sorts last", examples=["20261124T063000Z-3f1c2a9b"])]
    sha256: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
    created: Annotated[str, Meta(description="ISO-8601, UTC")]
    errors: Annotated[int, Meta(ge=0)]
    warnings: Annotated[int, Meta(ge=0)]
    active: bool
    size: Annotated[int, Meta(ge=0, description="bytes of the uploaded zip")]


class ReportProblem(Model, kw_only=True):
    """One finding of the GTFS validator, located by file, row and field."""

    severity: Literal["error", "warning"]
    file: Annotated[str, Meta(examples=["stop_times.txt"])]
    row: Annotated[int, Meta(description="1-based data row")] | None
    field: str | None
    message: str


class ValidationReport(Model, kw_only=True):
    feed: str
    ok: Annotated[bool, Meta(description="no errors: the feed can go live")]
    errors: Annotated[int, Meta(ge=0)]
    warnings: Annotated[int, Meta(ge=0)]
    problems: list[ReportProblem]


class Published(Model, kw_only=True):
    """A version made live (publish or rollback) and what it did."""

    version: FeedVersion
    report: ValidationReport
    swap_s: Annotated[float, Meta(ge=0, description="seconds to build and swap in the new network")]
    disrupted: Annotated[int, Meta(ge=0, description="bookings told their trip vanished or was retimed")]


class ValidationSummary(Model, kw_only=True):
    errors: Annotated[int, Meta(ge=0)]
    warnings: Annotated[int, Meta(ge=0)]


class FeedSummary(Model, kw_only=True):
    operator: Operator
    live: Annotated[bool, Meta(description="the feed is part of the network the planner uses now")]
    active_version: FeedVersion | None
    source: Literal["published", "configured"]
    validation: ValidationSummary | None


class FeedList(Model, kw_only=True):
    feeds: list[FeedSummary]


class VersionList(Model, kw_only=True):
    operator: Operator
    versions: list[FeedVersion]


class FeedUpload(Model, kw_only=True):
    """A multipart upload: the GTFS zip in the field `file`."""

    file: Annotated[bytes, Meta(extra_json_schema={"type": "string", "format": "binary"})]
