"""Operational answers: liveness and readiness."""
from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from api.models.common import Model


class Health(Model, kw_only=True):
    status: Literal["ok"]


class Readiness(Model, kw_only=True):
    """Whether this worker takes traffic, and what it has loaded."""

    status: Annotated[Literal["ready", "starting", "store_unavailable"], Meta(
        description="503 unless ready: start-up not finished, or the store does not answer")]
    detail: Annotated[str, Meta(description="why the store is unavailable")] | UnsetType = UNSET
    feeds: Annotated[list[str], Meta(description="namespaces of the loaded feeds")]
    keys: Annotated[int, Meta(ge=0, description="API keys configured")]
    pid: int
    bookings: Annotated[bool, Meta(description="reservations are configured")]
    closures: Annotated[bool, Meta(description="closures are configured")]
    planner: Annotated[Literal["warm", "warming"], Meta(
        description="warm once the kernels are compiled or loaded and the models of `waiting_for`'s days are "
                    "built and have run a plan on every planner thread and along a request's path; 503 until then")]
    service_days: Annotated[list[str], Meta(
        description="service days (YYYY-MM-DD, the feeds' own clock) with a transit model built: a plan for one "
                    "of these builds nothing; today and tomorrow are kept built, the day after from an hour "
                    "before midnight")]
    waiting_for: Annotated[list[str], Meta(
        description="of today and tomorrow, the days whose model is not built yet (503 until none)")]
