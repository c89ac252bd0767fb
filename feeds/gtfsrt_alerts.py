"""GTFS-Realtime Alerts (protobuf) → closures, and closures → a GTFS-Realtime Alerts feed (protobuf and JSON).

In: each alert with at least one stop, route or trip informed entity becomes a closure; one closure per
`active_period` (an alert without one is active from the epoch until removed). Raw feed ids get the operator's
namespace so they match the model's ids. Only NO_SERVICE, DETOUR and STOP_MOVED change routes
(`Closure.blocking`); REDUCED_SERVICE and the rest are kept and republished but do not close anything.
Out: the active closures, with the stops inside each area listed as informed entities when the caller gives them.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as pb

from feeds.closure_json import (EPOCH, ID_RE, LATEST_TIME, MAX_IDS, MAX_PAYLOAD_BYTES, MAX_TEXT, Closure,
                                ClosureError)

MAX_ENTITIES = 10_000
SEVERITY_IN = {pb.Alert.SEVERE: "severe", pb.Alert.WARNING: "warning", pb.Alert.INFO: "info"}
SEVERITY_OUT = {"severe": pb.Alert.SEVERE, "warning": pb.Alert.WARNING, "info": pb.Alert.INFO}


@dataclass(frozen=True)
class AlertsUpdate:
    """A parsed Alerts feed: its closures, the entity ids it deletes, and whether it is the full dataset."""

    closures: tuple[Closure, ...]
    deleted: tuple[str, ...]
    full_dataset: bool
    source: str
    prefix: str  # every closure id from this feed starts with prefix + ":" (source and operator namespace)


def _ts(seconds: int, where: str) -> dt.datetime:
    """POSIX seconds (uint64 on the wire) → aware UTC time, range-checked before any date arithmetic."""
    if not 0 <= seconds <= LATEST_TIME.timestamp():
        raise ClosureError(f"{seconds} is not a POSIX time between 1970 and {LATEST_TIME:%Y-%m-%d}", where)
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def read_feed_message(payload: bytes, error: type[ValueError] = ClosureError, *,
                      max_bytes: int = MAX_PAYLOAD_BYTES, max_entities: int = MAX_ENTITIES) -> pb.FeedMessage:
    """Binary protobuf → FeedMessage, refusing oversize payloads, garbage, missing required fields, a header
    without a version and too many entities; shared by the alerts and the trip update / vehicle position intake.
    ``error(detail, field)`` is raised (each parser keeps its own error type)."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise error("a GTFS-Realtime feed is binary protobuf", "body")
    if len(payload) > max_bytes:
        raise error(f"GTFS-Realtime payload too large ({len(payload)} bytes; at most {max_bytes})", "body")
    msg = pb.FeedMessage()
    try:
        msg.ParseFromString(bytes(payload))
    except DecodeError as e:
        raise error(f"not a GTFS-Realtime FeedMessage: {e}", "body") from None
    check_feed_message(msg, error, max_entities=max_entities)
    return msg


def check_feed_message(msg: pb.FeedMessage, error: type[ValueError] = ClosureError, *,
                       max_entities: int = MAX_ENTITIES) -> None:
    """Required fields, a ``d.d`` version and the entity count of an already parsed FeedMessage."""
    if not msg.IsInitialized():
        missing = ", ".join(msg.FindInitializationErrors()[:5])
        raise error(f"not a GTFS-Realtime FeedMessage: missing required fields ({missing})", missing.split(",")[0])
    if not re.fullmatch(r"\d+\.\d+", msg.header.gtfs_realtime_version):
        raise error(f"not a GTFS-Realtime FeedMessage: header.gtfs_realtime_version is "
                    f"{msg.header.gtfs_realtime_version!r:.20}, expected e.g. '2.0'", "header.gtfs_realtime_version")
    if len(msg.entity) > max_entities:
        raise error(f"too many entities ({len(msg.entity)}; at most {max_entities})", "entity")


def _translation(ts: pb.TranslatedString) -> tuple[str, str]:
    """(ja, en) texts; an untagged text counts as Japanese when it has non-ASCII characters."""
    ja = en = ""
    for t in ts.translation:
        lang = t.language.lower()
        text = t.text[:MAX_TEXT]
        if lang.startswith("ja") or (not lang and not text.isascii()):
            ja = ja or text
        elif lang.startswith("en") or not lang:
            en = en or text
    return ja, en


def _entity_id(namespace: str | None, raw: str, where: str) -> str:
    val = f"{namespace}:{raw}" if namespace else raw
    if not ID_RE.match(val):
        raise ClosureError(f"{raw!r:.60} is not a valid id", where)
    return val


def parse_gtfsrt_alerts(payload: bytes, *, namespace: str | None = None,
                        source: str = "gtfs-rt") -> AlertsUpdate:
    """Decode a FeedMessage of alerts; raises `ClosureError` for anything that is not one."""
    msg = read_feed_message(payload, ClosureError)
    prefix = f"{source}:{namespace}" if namespace else source
    closures: list[Closure] = []
    deleted: list[str] = []
    for i, ent in enumerate(msg.entity):
        w = f"entity[{i}]"
        eid = f"{prefix}:{ent.id}"
        if not ID_RE.match(eid) or len(eid) > 190:  # keep any feed's entity id usable as our id (and in stores)
            eid = f"{prefix}:h-" + hashlib.sha256(ent.id.encode()).hexdigest()[:24]
        if ent.is_deleted:
            deleted.append(eid)
            continue
        if not ent.HasField("alert"):
            continue  # trip updates / positions in a mixed feed are not ours
        closures += _alert_closures(ent.alert, eid, namespace, source, w)
    incremental = msg.header.incrementality == pb.FeedHeader.DIFFERENTIAL
    return AlertsUpdate(tuple(closures), tuple(deleted), not incremental, source, prefix)


def _alert_closures(a: pb.Alert, eid: str, namespace: str | None, source: str, w: str) -> list[Closure]:
    stops: list[str] = []
    routes: list[str] = []
    trips: list[str] = []
    if len(a.informed_entity) > MAX_IDS:
        raise ClosureError(f"too many informed entities (at most {MAX_IDS})", w + ".alert.informed_entity")
    for j, sel in enumerate(a.informed_entity):
        ws = f"{w}.alert.informed_entity[{j}]"
        if sel.stop_id:  # a stop, alone or on one route: the stop is closed (conservative)
            stops.append(_entity_id(namespace, sel.stop_id, ws + ".stop_id"))
        elif sel.HasField("trip") and sel.trip.trip_id:
            trips.append(_entity_id(namespace, sel.trip.trip_id, ws + ".trip.trip_id"))
        elif sel.route_id or (sel.HasField("trip") and sel.trip.route_id):
            routes.append(_entity_id(namespace, sel.route_id or sel.trip.route_id, ws + ".route_id"))
    if not (stops or routes or trips):
        raise ClosureError("the alert names no stop, route or trip (agency- or route_type-wide alerts are not "
                           "supported)", w + ".alert.informed_entity")
    effect = pb.Alert.Effect.Name(a.effect) if a.HasField("effect") else "UNKNOWN_EFFECT"
    cause = pb.Alert.Cause.Name(a.cause) if a.HasField("cause") else "UNKNOWN_CAUSE"
    severity = SEVERITY_IN.get(a.severity_level, "severe" if effect == "NO_SERVICE" else "warning")
    ja, en = _translation(a.header_text)
    dja, den = _translation(a.description_text)
    ja = f"{ja}: {dja}" if ja and dja else ja or dja
    en = f"{en}: {den}" if en and den else en or den
    periods = [(p.start if p.HasField("start") else 0, p.end if p.HasField("end") and p.end else None)
               for p in a.active_period] or [(0, None)]
    out = []
    for k, (s, e) in enumerate(periods):
        if e is not None and e <= s:
            raise ClosureError("active_period end must be after start", f"{w}.alert.active_period[{k}]")
        out.append(Closure(
            id=eid if len(periods) == 1 else f"{eid}/p{k}", source=source,
            start=_ts(s, f"{w}.alert.active_period[{k}].start") if s else EPOCH,
            end=_ts(e, f"{w}.alert.active_period[{k}].end") if e else None,
            stops=tuple(dict.fromkeys(stops)), routes=tuple(dict.fromkeys(routes)),
            trips=tuple(dict.fromkeys(trips)), severity=severity, message_ja=ja[:MAX_TEXT], message_en=en[:MAX_TEXT],
            cause=cause, effect=effect))
    return out


# ------------------------------------------------------------------------------------------------------ output

def _translated(ts: pb.TranslatedString, ja: str, en: str) -> None:
    for lang, text in (("ja", ja), ("en", en)):
        if text:
            t = ts.translation.add()
            t.text, t.language = text, lang


def alerts_feed(closures: Iterable[Closure], *, area_stops: Mapping[str, Sequence[str]] | None = None,
                area_routes: Mapping[str, Sequence[str]] | None = None,
                timestamp: float | None = None) -> pb.FeedMessage:
    """A FULL_DATASET Alerts FeedMessage. Stations are published as their id (GTFS allows a parent station in
    stop_id); segments as route + both stops; areas as the stops (and routes) the caller found inside them."""
    msg = pb.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.incrementality = pb.FeedHeader.FULL_DATASET
    msg.header.timestamp = int(timestamp if timestamp is not None else time.time())
    for c in closures:
        ent = msg.entity.add()
        ent.id = c.id
        a = ent.alert
        p = a.active_period.add()
        if c.start > EPOCH:
            p.start = int(c.start.timestamp())
        if c.end is not None:
            p.end = int(c.end.timestamp())
        stops = list(c.stops) + list(c.stations) + list((area_stops or {}).get(c.id, ()))
        for s in dict.fromkeys(stops):
            a.informed_entity.add().stop_id = s
        for r in dict.fromkeys(list(c.routes) + list((area_routes or {}).get(c.id, ()))):
            a.informed_entity.add().route_id = r
        for t in c.trips:
            a.informed_entity.add().trip.trip_id = t
        for sg in c.segments:
            for s in (sg.from_stop, sg.to_stop):
                sel = a.informed_entity.add()
                sel.route_id, sel.stop_id = sg.route, s
        a.cause = pb.Alert.Cause.Value(c.cause)
        a.effect = pb.Alert.Effect.Value(c.effect)
        a.severity_level = SEVERITY_OUT.get(c.severity, pb.Alert.UNKNOWN_SEVERITY)
        head_ja, head_en = c.message_ja.split(": ", 1)[0], c.message_en.split(": ", 1)[0]
        if c.warning is not None:  # a weather service's warning: its headline names kind and area
            head_ja, head_en = c.warning.headline_ja, c.warning.headline_en
        _translated(a.header_text, head_ja, head_en)
        _translated(a.description_text, c.message_ja, c.message_en)
    return msg


def alerts_feed_json(msg: pb.FeedMessage) -> dict:
    """The same feed for humans: protobuf's canonical JSON mapping, field names as in the .proto."""
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)
