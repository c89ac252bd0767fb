"""Operator profiles over HTTP: ``PUT /v1/operators/{id}/profile`` (the operator's own key, or admin) stores a
validated profile that takes effect at once (no code change, no restart); ``GET`` shows the profile in effect."""
from __future__ import annotations

from aiohttp import web

from api import respond
from api.endpoint import ANY_ROLE, add, principal
from api.keys import SERVICES
from api.openapi import json_body, ok, path_param, problem
from api.problems import TYPE_BASE, ApiProblem, read_json
from feeds.gtfs import check_namespace
from maas.platform.auth import Role
from maas.publishing.profiles import ProfileStore

PUBLISHERS = frozenset({Role.OPERATOR, Role.ADMIN})
MAX_OPERATOR_ID = 64  # a folder name under the data folder
OPERATOR_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # feeds.gtfs.check_namespace, at most 64 characters


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
    return request.app[SERVICES].feeds.profiles


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
    profile, report = await _store(request).put(op, body)
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


_TEXT = {"type": "string", "minLength": 1, "maxLength": 200,
         "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"}
_YEN = {"type": "integer", "minimum": 0, "maximum": 100000}
_MEDIA_YEN = {"oneOf": [_YEN, {"type": "object", "additionalProperties": False, "minProperties": 1,
                               "properties": {"ic": _YEN, "ticket": _YEN}}]}
_ROUNDING = {"type": "object", "additionalProperties": False, "properties": {
    "step": {"type": "integer", "minimum": 1, "maximum": 1000}, "round": {"enum": ["up", "down", "nearest"]}}}
_PROFILE = {
    "type": "object", "additionalProperties": False,
    "description": "How the operator sells (docs/fares.md). Cross-field rules no schema states are refused with "
                   "422 and field errors: bands ascending, a flat fare when the source is flat, bands when it is "
                   "distance_bands, distinct cancellation windows.",
    "properties": {
        "operator": {"type": "string", "description": "must equal the path's id when given"},
        "names": {"type": "object", "additionalProperties": False, "required": ["ja", "en"],
                  "properties": {lang: _TEXT for lang in ("ja", "en", "ja-Hrkt", "zh", "ko")}},
        "fares": {"type": "object", "additionalProperties": False, "properties": {
            "source": {"enum": ["feed", "flat", "distance_bands"]}, "feed_prices": {"enum": ["ic", "ticket"]},
            "ticket_rounding": {"type": "integer", "minimum": 1, "maximum": 1000},
            "child": {"type": "object", "additionalProperties": False, "properties": {
                "percent": {"type": "integer", "minimum": 0, "maximum": 100}, "ic": _ROUNDING,
                "ticket": _ROUNDING}},
            "flat": _MEDIA_YEN, "flat_child": _MEDIA_YEN,
            "bands": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                 "required": ["up_to_km", "ic"], "properties": {
                "up_to_km": {"type": "integer", "minimum": 1, "maximum": 1000}, "ic": _YEN, "ticket": _YEN}}}}},
        "seats": {"type": "object", "additionalProperties": False, "properties": {
            "inventory": {"type": "boolean"},
            "default_prior_notice_min": {"type": "integer", "minimum": 0, "maximum": 86400}}},
        "ticket": {"type": "object", "additionalProperties": False, "properties": {
            "kind": {"enum": ["qr", "ic_tap", "paper", "none"]},
            "valid_before_min": {"type": "integer", "minimum": 0, "maximum": 1440},
            "valid_after_min": {"type": "integer", "minimum": 0, "maximum": 10080}}},
        "cancellation": {"type": "object", "additionalProperties": False, "properties": {
            "windows": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False,
                "required": ["min_before_departure", "refund_percent"], "properties": {
                    "min_before_departure": {"type": "integer", "minimum": 0, "maximum": 525600},
                    "refund_percent": {"type": "integer", "minimum": 0, "maximum": 100},
                    "fee": {"type": "integer", "minimum": 0, "maximum": 100000}}}}}},
        "settlement": {"type": "object", "additionalProperties": False, "properties": {
            k: _TEXT for k in ("account", "legal_name", "invoice_id")}},
    }}


_EFFECTIVE = {"type": "object", "description": "the profile in effect, every field filled in (defaults included) "
                                             "and `source`: api, operator.json, built-in or default",
              "required": ["operator", "names", "fares", "seats", "ticket", "cancellation", "settlement", "source"]}


_EXAMPLE_PROFILE = {  # examples/shuttle-minami-osawa/operator.json
    "names": {"ja": "南大沢自動運転シャトル", "en": "Minami-Osawa Autonomous Shuttle"},
    "fares": {"source": "flat", "flat": {"ic": 200, "ticket": 200}, "flat_child": {"ic": 100, "ticket": 100}},
    "seats": {"inventory": True},
    "ticket": {"kind": "qr", "valid_before_min": 30, "valid_after_min": 120},
    "cancellation": {"windows": [{"min_before_departure": 60, "refund_percent": 100},
                                 {"min_before_departure": 0, "refund_percent": 50}]},
    "settlement": {"account": "acct-minami-osawa", "legal_name": "南大沢自動運転シャトル"}}

_EFFECTIVE_EXAMPLE = {"operator": "shuttle-minami-osawa", **_EXAMPLE_PROFILE, "source": "operator.json"}


def add_routes(app: web.Application) -> None:
    op = path_param("id", "operator id (the feed namespace), e.g. chiibus-minato", OPERATOR_ID_PATTERN)
    add(app, "PUT", "/v1/operators/{id}/profile", put_profile, roles=PUBLISHERS, spec={
        "operationId": "putOperatorProfile", "summary": "Set how an operator sells (profile)", "tags": ["feeds"],
        "description": "Validated with field errors (422, `errors`); in effect at once for plans, offers and "
                       "bookings. Operator keys: their own operator only.",
        "parameters": [op], "requestBody": json_body({**_PROFILE, "additionalProperties": False},
                                                     example=_EXAMPLE_PROFILE),
        "responses": {**ok({"type": "object", "properties": {"operator": {"type": "string"},
                                                             "profile": _EFFECTIVE}},
                           example={"operator": "shuttle-minami-osawa", "profile": _EFFECTIVE_EXAMPLE}),
                      "403": problem("Not this operator"), "422": problem("Invalid profile")}})
    add(app, "GET", "/v1/operators/{id}/profile", get_profile, roles=ANY_ROLE, spec={
        "operationId": "getOperatorProfile", "summary": "The profile in effect for an operator", "tags": ["feeds"],
        "parameters": [op],
        "responses": {**ok({"type": "object", "properties": {"operator": {"type": "string"},
                                                             "profile": _EFFECTIVE}},
                           example={"operator": "shuttle-minami-osawa", "profile": _EFFECTIVE_EXAMPLE}),
                      "404": problem("No such operator")}})
