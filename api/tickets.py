"""POST /v1/tickets/verify: what a gate or an inspector asks when it scans a QR code — was this ticket signed with
this deployment's ticket key (anything else, the key that used to sit in the source code included, is not), whose
is it, and is it still valid (not cancelled)? Operators check their own tickets, admins any."""
from __future__ import annotations

from aiohttp import web

from api import respond
from api.endpoint import add, principal
from api.keys import SERVICES
from api.openapi import json_body, ok
from api.problems import ApiProblem, read_json
from maas.platform.auth import Role
from operators.base import OperatorError

MAX_QR = 4096


async def verify_ticket(request: web.Request) -> web.Response:
    body = await read_json(request)
    payload = body.get("qr_payload") if isinstance(body, dict) else None
    if not isinstance(payload, str) or not 0 < len(payload) <= MAX_QR or not (payload.isascii()
                                                                             and payload.isprintable()):
        raise ApiProblem(422, f"qr_payload must be the scanned QR text: 1 to {MAX_QR} printable ASCII characters",
                         field="qr_payload")
    bookings = request.app[SERVICES].bookings
    if bookings is None:
        raise ApiProblem(503, "tickets need the booking service, which is not configured on this server")
    registry = bookings.operators
    fields = registry.signer.verify(payload)
    if fields is None or not fields.get("op") or not fields.get("tid"):
        return respond.json({"valid": False, "reason": "not a ticket signed by this platform"})
    if not principal(request).may_act_for_operator(fields["op"]):
        raise ApiProblem(403, f"this key may only verify tickets of its own operator, not {fields['op']!r}",
                         field="qr_payload")
    try:
        status = await registry.get(fields["op"]).ticket_status(fields["tid"])
    except OperatorError:
        return respond.json({"valid": False, "reason": f"operator {fields['op']} is no longer served",
                             "ticket": fields})
    return respond.json({"valid": status == "valid", "status": status, "ticket": fields})


def add_routes(app: web.Application) -> None:
    add(app, "POST", "/v1/tickets/verify", verify_ticket, roles=frozenset({Role.OPERATOR}), spec={
        "operationId": "verifyTicket", "summary": "Check a scanned ticket QR code (gates, inspectors)",
        "tags": ["tickets"],
        "requestBody": json_body({"type": "object", "required": ["qr_payload"], "properties": {
            "qr_payload": {"type": "string", "minLength": 1, "maxLength": MAX_QR, "pattern": "^[ -~]+$"}}},
            example={"qr_payload": "MAAS1:YT0xfGM9MXxkYXRlPTIwMjYtMTItMDE.XMdtpUcSyDiKMywM"}),
        "responses": ok({"type": "object", "required": ["valid"], "properties": {
            "valid": {"type": "boolean"}, "status": {"type": "string", "enum": ["valid", "cancelled"]},
            "reason": {"type": "string"}, "ticket": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "Genuine and valid, genuine but cancelled, or not genuine (valid false with a reason)",
            example={"valid": True, "status": "valid", "ticket": {"ticket_id": "toei-subway-41956F1386490CBF",
                                                                   "operator": "toei-subway"}})})
