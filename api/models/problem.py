"""The body of every error: RFC 9457 problem details with the extension members our endpoints add."""
from __future__ import annotations

from typing import Annotated

from msgspec import UNSET, Meta, UnsetType

from api.models.common import FieldError, Model, Suggestion, WarningRef
from api.models.feeds import ValidationReport


class Problem(Model, kw_only=True):
    """RFC 9457 problem details, the body of every error (`application/problem+json`)."""

    type: Annotated[str, Meta(description="a URI naming the kind of problem; `about:blank` for plain HTTP ones")]
    title: str
    status: Annotated[int, Meta(ge=400, le=599)]
    detail: Annotated[str, Meta(description="what went wrong, for a person")]
    instance: str | UnsetType = UNSET
    request_id: Annotated[str, Meta(description="also in the X-Request-Id header and the server log")] | UnsetType \
        = UNSET
    field: Annotated[str, Meta(description="the input at fault: a parameter, header or body path")] | UnsetType \
        = UNSET
    errors: list[FieldError] | UnsetType = UNSET
    code: Annotated[str, Meta(description="machine-readable reason (bookings)")] | UnsetType = UNSET
    suggestions: Annotated[list[Suggestion], Meta(
        description="for an unknown or ambiguous place name: the stations it could mean")] | UnsetType = UNSET
    report: Annotated[ValidationReport, Meta(description="a rejected feed's validation report")] | UnsetType = UNSET
    closures: Annotated[list[WarningRef], Meta(
        description="no itinerary while these closures are in force (409 closed-by-closure)")] | UnsetType = UNSET



