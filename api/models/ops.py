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
        description="warm once every planner thread has run a plan (kernels compiled or loaded); 503 until then")]
