"""Operators publish their GTFS feeds; the network is rebuilt in the background and swapped in with no downtime.

An operator key may publish and roll back only its own operator's feed (its id from the keys file; a first publish
creates the feed); an admin key may act for any operator. Every upload is validated by the GTFS importer and the
report is returned: with errors the feed is refused (422, report in the problem body) and the live one stays.
"""
from __future__ import annotations

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from api import respond
from api.endpoint import ANY_ROLE, add, principal
from api.keys import SERVICES
from api.models.feeds import (NAMESPACE_PATTERN, FeedList, FeedUpload, FeedVersion, Published, ValidationReport,
                              VersionList)
from api.openapi import ok, path_param, problem
from api.problems import TYPE_BASE, ApiProblem
from feeds.gtfs import check_namespace
from feeds.upload import UploadError, UploadLimits, zip_from_multipart_or_body
from maas.platform.auth import Role

PUBLISHERS = frozenset({Role.OPERATOR, Role.ADMIN})
MAX_UPLOAD = UploadLimits().max_compressed
_MULTIPART_SLACK = 64 * 1024  # headers and boundaries around the file part
def _manager(request: web.Request):
    mgr = request.app[SERVICES].feeds
    if mgr is None:
        raise ApiProblem(503, "feed publishing is not configured on this server")
    return mgr


def _operator(request: web.Request) -> str:
    op = request.match_info["operator"]
    try:
        check_namespace(op)
    except ValueError as exc:
        raise ApiProblem(422, str(exc), field="operator") from None
    if not principal(request).may_act_for_operator(op):
        raise ApiProblem(403, f"this key may not act for operator {op!r}: an operator key publishes only its own "
                              f"feed", field="operator")
    return op


async def _read_limited(read, limit: int) -> bytes:
    """Read with ``read(n)`` until EOF, refusing past ``limit`` without buffering more than one chunk extra."""
    chunks, size = [], 0
    while chunk := await read(1 << 16):
        size += len(chunk)
        if size > limit:
            raise ApiProblem(413, f"the feed is larger than {limit} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


async def _multipart_file(request: web.Request) -> bytes:
    """The `file` part of a multipart form; a malformed form (bad boundary, part headers) is a 400, not a 500."""
    try:
        reader = await request.multipart()
        async for part in reader:
            if part.filename is not None or part.name == "file":
                return await _read_limited(part.read_chunk, MAX_UPLOAD)
    except (ValueError, AssertionError, HttpProcessingError) as exc:  # aiohttp's parser errors
        raise ApiProblem(400, f"the multipart form is malformed: {getattr(exc, 'message', None) or exc}",
                         field="body") from None
    raise ApiProblem(400, "the multipart form has no file part: send the zip as the field 'file'", field="file")


async def _upload(request: web.Request) -> bytes:
    try:
        kind = zip_from_multipart_or_body(request.headers.get("Content-Type", ""))
    except UploadError as err:
        raise ApiProblem(415, err.detail, field="Content-Type") from None
    if kind == "zip":
        data = await _read_limited(request.content.read, MAX_UPLOAD)
    else:
        data = await _multipart_file(request)
    if not data:
        raise ApiProblem(400, "an empty upload: send the GTFS zip", field="body")
    return data


async def publish(request: web.Request) -> web.Response:
    mgr = _manager(request)
    op = _operator(request)
    data = await _upload(request)
    try:
        out = await mgr.publish(op, data)
    except UploadError as err:
        raise ApiProblem(422, err.detail, field="body", type_=TYPE_BASE + "unsafe-upload") from None
    if not out.accepted:
        n = out.report["errors"]
        raise ApiProblem(422, f"the feed has {n} error{'s' * (n != 1)}: it was not published and the active "
                              f"feed stays live", field="body", type_=TYPE_BASE + "invalid-feed",
                         extra={"report": out.report})
    return respond.model(_published(out), status=201)


async def rollback(request: web.Request) -> web.Response:
    mgr = _manager(request)
    op = _operator(request)
    out = await mgr.rollback(op)
    if out is None:
        raise ApiProblem(409, f"operator {op!r} has no earlier published version to roll back to",
                         field="operator")
    return respond.model(_published(out))


def _published(out) -> Published:
    return Published(version=msgspec.convert(out.version.to_dict(), FeedVersion),
                     report=msgspec.convert(out.report, ValidationReport), swap_s=round(out.swap_s, 3),
                     disrupted=out.disrupted)


async def list_feeds(request: web.Request) -> web.Response:
    return respond.model(msgspec.convert({"feeds": await _manager(request).summary()}, FeedList))


async def list_versions(request: web.Request) -> web.Response:
    mgr = _manager(request)
    op = request.match_info["operator"]
    try:
        check_namespace(op)
    except ValueError as exc:
        raise ApiProblem(422, str(exc), field="operator") from None
    versions = await mgr.registry.versions(op)
    if not versions:
        raise ApiProblem(404, f"operator {op!r} has published no feed", field="operator")
    return respond.model(VersionList(operator=op, versions=[msgspec.convert(v.to_dict(), FeedVersion)
                                                            for v in reversed(versions)]))


def add_routes(app: web.Application) -> None:
    op_param = path_param("operator", "operator id (the feed namespace), e.g. toei-bus", NAMESPACE_PATTERN)
    add(app, "POST", "/v1/feeds/{operator}", publish, roles=PUBLISHERS, timeout_s=300.0,
        max_body=MAX_UPLOAD + _MULTIPART_SLACK, spec={
            "operationId": "publishFeed", "summary": "Publish an operator's GTFS feed", "tags": ["feeds"],
            "description": "The GTFS zip as the raw body (application/zip) or as the multipart form field "
                           "`file`. Validated by the importer: errors → 422 with the report, the live feed stays; "
                           "warnings are accepted and returned. The network is rebuilt and swapped with no "
                           "downtime. Operator keys: their own operator only.",
            "parameters": [op_param],
            "requestBody": {"required": True, "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary", "minLength": 22,
                                               "description": "a GTFS zip (at least an end-of-archive record)"}},
                "multipart/form-data": {"schema": FeedUpload}}},
            "responses": {**ok(Published, "Published and live", status="201"),
                          "403": problem("Not this operator"), "413": problem("Too large"),
                          "415": problem("Not a zip upload"),
                          "422": problem("Rejected: unsafe zip or validation errors (report included)")}})
    add(app, "GET", "/v1/feeds", list_feeds, roles=ANY_ROLE, spec={
        "operationId": "listFeeds", "summary": "Operators' feeds: active version and validation summary",
        "tags": ["feeds"],
        "responses": ok(FeedList)})
    add(app, "GET", "/v1/feeds/{operator}/versions", list_versions, roles=ANY_ROLE, spec={
        "operationId": "listFeedVersions", "summary": "Published versions of an operator's feed, newest first",
        "tags": ["feeds"], "parameters": [op_param],
        "responses": {**ok(VersionList), "404": problem("Nothing published")}})
    add(app, "POST", "/v1/feeds/{operator}/rollback", rollback, roles=PUBLISHERS, timeout_s=300.0, spec={
        "operationId": "rollbackFeed", "summary": "Make the previous published version live again",
        "tags": ["feeds"], "parameters": [op_param],
        "responses": {**ok(Published, "Rolled back"), "409": problem("No earlier version")}})
