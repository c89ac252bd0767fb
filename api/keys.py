"""Typed application and request state keys: aiohttp keeps state on the Application, never in module globals."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from maas.services import Services

if TYPE_CHECKING:  # only for the type parameters below; those modules import api.keys themselves  # noqa: F401
    from api.endpoint import Endpoint
    from api.events import EventHub
    from api.observe import Metrics
    from maas.platform.auth import Principal

SERVICES = web.AppKey("services", Services)
METRICS = web.AppKey("metrics", "Metrics")
ENDPOINTS = web.AppKey("endpoints", "list[Endpoint]")
EVENTS = web.AppKey("events", "EventHub")
SERVICE_WINDOW = web.AppKey("service_window", dict)  # network → (first, last) dates with service, ± 1 day

# Per-request state (set by the observe middleware and the endpoint guard).
REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", "Principal")
