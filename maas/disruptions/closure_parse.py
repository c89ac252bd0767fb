"""Closure payloads → parsed closures, and the same for big payloads in a child process.

A 20,000-vertex area is ~0.5 MB of JSON: decoding it, building its polygon and encoding it back to our JSON
form are single C calls (orjson, shapely from Python lists) that hold the GIL for milliseconds each, and far
longer when the machine is busy and the OS preempts the thread inside them: the event loop stalls whatever
thread runs them. A payload of `CHILD_BYTES` or more is therefore parsed in a child process (spawned once, on
first use), which also returns each area closure's stored JSON form already encoded; only pickled polygons
(WKB) cross back.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import orjson

from feeds.cap import CapMessage, parse_cap
from feeds.closure_json import (MAX_PAYLOAD_BYTES, Closure, ClosureError, closure_from_dict, closure_to_json,
                                parse_closure_json)
from feeds.gtfsrt_alerts import parse_gtfsrt_alerts
from feeds.jma import looks_like_jma, parse_jma

JSON_TYPES = ("application/json", "application/geo+json", "text/json")
CAP_TYPES = ("application/cap+xml", "application/xml", "text/xml", "application/common-alerting-protocol+xml")
PB_TYPES = ("application/x-protobuf", "application/protobuf", "application/octet-stream",
            "application/vnd.google.protobuf")
CHILD_BYTES = 128 * 1024  # a ~5,000-vertex area: below it a worker thread's GIL holds stay under a millisecond


def content_kind(content_type: str | None) -> str:
    """"json", "cap" or "gtfs-rt" for a Content-Type (parameters ignored); ClosureError when unsupported."""
    ct = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if ct in JSON_TYPES:
        return "json"
    if ct in CAP_TYPES:
        return "cap"
    if ct in PB_TYPES:
        return "gtfs-rt"
    raise ClosureError(f"unsupported content type {ct!r}: send application/json, application/cap+xml or "
                       "application/x-protobuf (GTFS-Realtime Alerts)", "content-type")


def parse_payload(payload: Any, content_type: str | None, *, namespace: str | None, source: str | None,
                  now: dt.datetime):
    """list[Closure] | CapMessage | AlertsUpdate | JmaTelegram, or ClosureError."""
    if isinstance(payload, Closure):
        return [payload]
    if isinstance(payload, list) and all(isinstance(c, Closure) for c in payload):
        return list(payload)
    if not isinstance(payload, (bytes, bytearray, memoryview, str)):
        raise ClosureError("payload must be bytes, text or Closure objects")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ClosureError(f"payload too large ({len(payload)} bytes; at most {MAX_PAYLOAD_BYTES})")
    kind = content_kind(content_type)
    if kind == "json":
        return parse_closure_json(bytes(payload) if not isinstance(payload, str) else payload,
                                  source=source or "json", now=now)
    if kind == "cap":  # XML: JMA 防災情報XML when its namespace is declared, else CAP
        raw = bytes(payload) if not isinstance(payload, str) else payload
        return parse_jma(raw) if looks_like_jma(raw) else parse_cap(raw)
    if isinstance(payload, str):
        raise ClosureError("a GTFS-Realtime feed is binary protobuf, not text")
    return parse_gtfsrt_alerts(bytes(payload), namespace=namespace, source=source or "gtfs-rt")


def closures_of(parsed: Any) -> list[Closure]:
    if isinstance(parsed, list):
        return parsed
    if isinstance(parsed, CapMessage):
        return [parsed.closure] if parsed.closure is not None else []
    return list(getattr(parsed, "closures", ()))


def _parse_encoded(payload: bytes, content_type: str | None, namespace: str | None, source: str | None,
                   now: dt.datetime) -> tuple:
    """In the child: ("ok", parsed, {closure id: stored JSON bytes of each area closure}) or ("error", detail,
    field) (an exception with extra attributes does not survive pickling whole)."""
    try:
        parsed = parse_payload(payload, content_type, namespace=namespace, source=source, now=now)
    except ClosureError as e:
        return ("error", e.detail, e.field)
    encoded = {c.id: orjson.dumps(closure_to_json(c)) for c in closures_of(parsed) if c.areas}
    return ("ok", parsed, encoded)


def build_stored(rows: dict[str, bytes]) -> tuple[dict[str, Closure], dict[str, str]]:
    """Stored closures (id → JSON bytes) → (closures, {id: why unreadable})."""
    built: dict[str, Closure] = {}
    errors: dict[str, str] = {}
    for cid, raw in rows.items():
        try:
            built[cid] = closure_from_dict(orjson.loads(raw))
        except (ClosureError, orjson.JSONDecodeError) as e:
            errors[cid] = str(e)
    return built, errors


def wants_child(payload: Any, content_type: str | None) -> bool:
    """Big JSON or CAP bodies (their areas are in the payload); JMA telegrams name areas by code, and GTFS-RT
    carries none."""
    if not isinstance(payload, (bytes, bytearray, memoryview)) or len(payload) < CHILD_BYTES:
        return False
    try:
        kind = content_kind(content_type)
    except ClosureError:
        return False
    return kind == "json" or (kind == "cap" and not looks_like_jma(bytes(payload[:4096])))


def _ready() -> bool:
    return True


class ChildParser:
    """One spawned child process, started in the background by `start` (the service's start-up), else on first
    use."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            return self._pool

    async def start(self) -> None:
        """Spawn the child and let it import the parsers now, off the loop (a second or two of a busy machine's
        time that the first big payload would otherwise wait for)."""
        fut = await asyncio.to_thread(lambda: self._executor().submit(_ready))
        await asyncio.wrap_future(fut)

    async def parse(self, payload: bytes, content_type: str | None, *, namespace: str | None,
                    source: str | None, now: dt.datetime) -> tuple[Any, dict[str, bytes]]:
        """(parsed, encoded JSON forms) as `parse_payload` would give, ClosureError alike."""
        # submitting may spawn the child and pickles the payload: a worker thread's job, not the loop's
        fut = await asyncio.to_thread(lambda: self._executor().submit(_parse_encoded, bytes(payload), content_type,
                                                                      namespace, source, now))
        out = await asyncio.wrap_future(fut)
        if out[0] == "error":
            raise ClosureError(out[1], out[2])
        return out[1], out[2]

    async def build(self, rows: dict[str, bytes]) -> tuple[dict[str, Closure], dict[str, str]]:
        """`build_stored` in the child."""
        fut = await asyncio.to_thread(lambda: self._executor().submit(build_stored, rows))
        return await asyncio.wrap_future(fut)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
