"""Operator profiles over HTTP: ``PUT /v1/operators/{id}/profile`` (the operator's own key, or admin) stores a
validated profile that takes effect at once (no code change, no restart); ``GET`` shows the profile in effect."""
from __future__ import annotations

from aiohttp import web

from api import respond
from api.endpoint import ANY_ROLE, add, principal
from api.keys import SERVICES
from api.models.feeds import NAMESPACE_PATTERN
from api.openapi import json_body, ok, path_param, problem
from api.problems import TYPE_BASE, ApiProblem, read_json
from feeds.gtfs import check_namespace
from maas.auth import Role
from maas.publishing.profiles import ProfileStore

PUBLISHERS = frozenset({Role.OPERATOR, Role.ADMIN})
MAX_OPERATOR_ID = 64  # a folder name under the data folder


def _operator(request: web.Request, *, write: bool) -> str:
    op = request.match_info["id"]
    if len(op) > MAX_OPERATOR_ID:
        raise ApiProblem(422, f"an operator id has at most {MAX_OPERATOR_ID} characters", field="id")
    try:
        check_namespace(op)
    except ValueError as exc:
        raise ApiProblem(422, str(exc), field="id") from None
    if write and not principal(request).may_act_for_operator(op):
        raise ApiProblem(403, f"this key may not act for operator {op!r}: an operator key sets only its own "
                              f"profile", field="id")
    return op


def _store(request: web.Request) -> ProfileStore:
    return ProfileStore(request.app[SERVICES].settings.data_dir / "feeds")


def _effective(request: web.Request, op: str) -> dict:
    services = request.app[SERVICES]
    if services.bookings is not None:
        setup = services.bookings.operators.setups().get(op)
        if setup is not None:
            return setup.profile.to_dict()
    stored = _store(request).get(op)
    if stored is None:
        raise ApiProblem(404, f"operator {op!r} has no profile and no live feed", field="id")
    return stored.to_dict()


async def put_profile(request: web.Request) -> web.Response:
    op = _operator(request, write=True)
    body = await read_json(request)
    profile, report = _store(request).put(op, body)
    if profile is None:
        first = report.errors[0]
        raise ApiProblem(422, f"the profile has {len(report.errors)} error(s); first: {first.message}",
                         field=first.field or "body", type_=TYPE_BASE + "invalid-profile",
                         errors=[{"field": p.field, "message": p.message} for p in report.errors],
                         extra={"report": report.to_dict()})
    return respond.json({"operator": op, "profile": profile.to_dict()})


async def get_profile(request: web.Request) -> web.Response:
    op = _operator(request, write=False)
    return respond.json({"operator": op, "profile": _effective(request, op)})


_PROFILE = {"type": "object", "description": "docs/fares.md: names, fares, seats, ticket, cancellation, settlement",
            "properties": {"operator": {"type": "string"}, "names": {"type": "object"}, "fares": {"type": "object"},
                           "seats": {"type": "object"}, "ticket": {"type": "object"}, "cancellation": {"type": "object"},
                           "settlement": {"type": "object"}}}


_EXAMPLE_PROFILE = {  # examples/shuttle-minami-osawa/operator.json
    "names": {"ja": "南大沢自動運転シャトル", "en": "Minami-Osawa Autonomous Shuttle"},
    "fares": {"source": "flat", "flat": {"ic": 200, "ticket": 200}, "flat_child": {"ic": 100, "ticket": 100}},
    "seats": {"inventory": True},
    "ticket": {"kind": "qr", "valid_before_min": 30, "valid_after_min": 120},
    "cancellation": {"windows": [{"min_before_departure": 60, "refund_percent": 100},
                                 {"min_before_departure": 0, "refund_percent": 50}]},
    "settlement": {"account": "acct-minami-osawa", "legal_name": "南大沢自動運転シャトル"}}


def add_routes(app: web.Application) -> None:
    op = path_param("id", "operator id (the feed namespace), e.g. chiibus-minato", NAMESPACE_PATTERN)
    add(app, "PUT", "/v1/operators/{id}/profile", put_profile, roles=PUBLISHERS, spec={
        "operationId": "putOperatorProfile", "summary": "Set how an operator sells (profile)", "tags": ["feeds"],
        "description": "Validated with field errors (422, `errors`); in effect at once for plans, offers and "
                       "bookings. Operator keys: their own operator only.",
        "parameters": [op], "requestBody": json_body({**_PROFILE, "additionalProperties": False},
                                                     example=_EXAMPLE_PROFILE),
        "responses": {**ok({"type": "object", "properties": {"operator": {"type": "string"},
                                                             "profile": _PROFILE}},
                           example={"operator": "shuttle-minami-osawa", "profile": _EXAMPLE_PROFILE}),
                      "403": problem("Not this operator"), "422": problem("Invalid profile")}})
    add(app, "GET", "/v1/operators/{id}/profile", get_profile, roles=ANY_ROLE, spec={
        "operationId": "getOperatorProfile", "summary": "The profile in effect for an operator", "tags": ["feeds"],
        "parameters": [op],
        "responses": {**ok({"type": "object", "properties": {"operator": {"type": "string"},
                                                             "profile": _PROFILE}},
                           example={"operator": "shuttle-minami-osawa", "profile": _EXAMPLE_PROFILE}),
                      "404": problem("No such operator")}})
