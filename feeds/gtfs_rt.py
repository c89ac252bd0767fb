"""GTFS-Realtime TripUpdates and VehiclePositions: decode (protobuf or its JSON mapping) into typed, namespaced,
range-checked structs, and encode the platform's merged state back to a FeedMessage.

Decoding derives nothing: a stop update keeps what the feed gave (often only stop_sequence and times, no stop_id and
no delay, as Toei sends), so the overlay (routing/realtime.py) computes delays against the static times. Ids that
name the static model (trip, route, stop) get the operator namespace (``op:raw``) like every id in the model; entity
and vehicle ids stay raw. Hostile input is refused whole with `RealtimeError(detail, field)`: size, entity count,
every number and every timestamp (far past / future relative to ``now``) is checked before anything is returned.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import re
import time
from collections.abc import Iterable

import msgspec
import numpy as np
import orjson
from google.protobuf import json_format
from google.transit import gtfs_realtime_pb2 as pb

from feeds.closure_json import ID_RE
from feeds.gtfs import check_namespace
from feeds.gtfsrt_alerts import MAX_ENTITIES, check_feed_message, read_feed_message
from feeds.validate import MAX_STOP_SEQUENCE

# Limits. The full Toei rail TripUpdates feed (118 trips) is ~1 MB as indented JSON and ~85 kB as protobuf.
MAX_RT_PAYLOAD_BYTES = 8_000_000
MAX_STOP_TIME_UPDATES = 250_000  # over the whole message
MAX_STOPS_PER_TRIP = 1_000
MAX_AGE_S = 7 * 86_400  # a header older than this (relative to now) is refused as far in the past
MAX_AHEAD_S = 600  # a header newer than now + this (clock skew) is refused as in the future
MAX_TIME_SPREAD_S = 3 * 86_400  # stop times / entity timestamps this far from the header are refused
MAX_DELAY_S = 86_400
MAX_SPEED_MS = 150.0  # ~540 km/h: no bus or train in the model is faster
MAX_ENTITY_ID = 200
# start_date bounds: the same as maas/platform/bounds.py (feeds may not import maas)
EARLIEST_DATE, LATEST_DATE = dt.date(2000, 1, 1), dt.date(2100, 12, 31)

JSON_TYPES = frozenset({"application/json"})
PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf", "application/octet-stream",
                            "application/vnd.google.protobuf"})
_TRIP_REL = {v: k for k, v in pb.TripDescriptor.ScheduleRelationship.items()}
_TRIP_REL_OUT = {"SCHEDULED", "CANCELED", "ADDED", "DUPLICATED", "DELETED", "UNSCHEDULED"}
_STOP_STATUS = {v: k for k, v in pb.VehiclePosition.VehicleStopStatus.items()}
_START_TIME = re.compile(r"^(\d{1,2}):([0-5]\d):([0-5]\d)$")
_JSON_PATH = re.compile(r'at "FeedMessage\.?([^"]*)"')


class RealtimeError(ValueError):
    """A GTFS-Realtime message we refuse: ``detail`` in words a sender can act on, ``field`` where (dotted path)."""

    def __init__(self, detail: str, field: str | None = None):
        super().__init__(detail if field is None else f"{field}: {detail}")
        self.detail = detail
        self.field = field


class StopTimeUpdate(msgspec.Struct, frozen=True):
    """One stop of a trip update, as the feed gave it (no derivation here)."""

    stop_sequence: int | None
    stop_id: str | None  # namespaced "op:raw" when present
    arrival_time: int | None  # POSIX seconds
    arrival_delay: int | None  # seconds
    departure_time: int | None
    departure_delay: int | None
    skipped: bool  # schedule_relationship == SKIPPED
    no_data: bool  # NO_DATA


class TripUpdate(msgspec.Struct, frozen=True):
    entity_id: str
    trip_id: str | None  # namespaced "op:raw"; None for ADDED trips without id
    route_id: str | None
    direction_id: int | None
    start_date: str | None  # YYYYMMDD as in the feed
    start_time: str | None  # HH:MM:SS (may be >24h)
    relationship: str  # "SCHEDULED" | "CANCELED" | "ADDED" | "DUPLICATED" | "DELETED" | "UNSCHEDULED"
    delay: int | None  # trip-level delay
    timestamp: int | None
    stop_time_updates: tuple[StopTimeUpdate, ...]  # sorted by stop_sequence where known


class VehiclePosition(msgspec.Struct, frozen=True):
    entity_id: str
    trip_id: str | None
    route_id: str | None
    start_date: str | None
    vehicle_id: str | None
    label: str | None
    lat: float
    lon: float
    bearing: float | None
    speed: float | None
    stop_id: str | None
    current_stop_sequence: int | None
    current_status: str | None  # None: not given (the spec's default is IN_TRANSIT_TO)
    timestamp: int | None


class RealtimeMessage(msgspec.Struct, frozen=True):
    operator: str
    timestamp: int  # header timestamp
    full_dataset: bool  # missing incrementality = FULL_DATASET
    trip_updates: tuple[TripUpdate, ...]
    vehicles: tuple[VehiclePosition, ...]
    deleted: tuple[str, ...]  # entity ids with is_deleted (DIFFERENTIAL)


# ------------------------------------------------------------------------------------------------------ decode

def media_kind(content_type: str | None, payload: bytes) -> str:
    """"json" or "protobuf" from the Content-Type; without one, a body starting with ``{`` is JSON."""
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if ct in JSON_TYPES or ct.endswith("+json"):
        return "json"
    if ct in PROTOBUF_TYPES:
        return "protobuf"
    if not ct:
        return "json" if bytes(payload[:64]).lstrip()[:1] == b"{" else "protobuf"
    raise RealtimeError(f"unsupported Content-Type {ct!r:.60}: send application/x-protobuf (or "
                        f"application/octet-stream) or application/json", "Content-Type")


def _from_json(payload: bytes) -> pb.FeedMessage:
    """protobuf's JSON mapping (what MessageToJson writes: camelCase or proto names, int64 as strings)."""
    if len(payload) > MAX_RT_PAYLOAD_BYTES:
        raise RealtimeError(f"GTFS-Realtime payload too large ({len(payload)} bytes; at most "
                            f"{MAX_RT_PAYLOAD_BYTES})", "body")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise RealtimeError(f"not JSON: {e}", "body") from None
    if not isinstance(obj, dict):
        raise RealtimeError("a GTFS-Realtime JSON message is an object with 'header' and 'entity'", "body")
    ents = obj.get("entity", [])
    if isinstance(ents, list) and len(ents) > MAX_ENTITIES:  # count before the (slow) mapping walks them
        raise RealtimeError(f"too many entities ({len(ents)}; at most {MAX_ENTITIES})", "entity")
    msg = pb.FeedMessage()
    try:
        json_format.ParseDict(obj, msg, ignore_unknown_fields=False, max_recursion_depth=40)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as e:
        text = str(e)
        m = _JSON_PATH.search(text)
        raise RealtimeError(f"not a GTFS-Realtime FeedMessage: {text[:300]}",
                            (m.group(1) or "body") if m else "body") from None
    check_feed_message(msg, RealtimeError, max_entities=MAX_ENTITIES)
    return msg


def decode(payload: bytes, content_type: str | None, operator: str, *, now: float | None = None,
           max_age_s: int = MAX_AGE_S) -> RealtimeMessage:
    """Bytes of a TripUpdates / VehiclePositions FeedMessage (protobuf or JSON) → `RealtimeMessage`.

    ``now`` (default: the clock) anchors the timestamp checks: the header must lie within ``max_age_s`` before and
    `MAX_AHEAD_S` after it (pass the capture's time to decode an old capture). Alerts in a mixed feed are skipped
    (they go through `feeds.gtfsrt_alerts`); a vehicle without a position is skipped (nothing to show)."""
    try:
        check_namespace(operator)
    except ValueError as e:
        raise RealtimeError(str(e), "operator") from None
    if media_kind(content_type, payload) == "json":
        msg = _from_json(bytes(payload))
    else:
        msg = read_feed_message(payload, RealtimeError, max_bytes=MAX_RT_PAYLOAD_BYTES, max_entities=MAX_ENTITIES)
        try:
            return from_feed_message(msg, operator, now=now, max_age_s=max_age_s, wire=bytes(payload))
        except _WireMismatch:
            pass  # the wire rows disagree with the objects (never seen): read the objects
    return from_feed_message(msg, operator, now=now, max_age_s=max_age_s)


class _WireMismatch(Exception):
    pass


def from_feed_message(msg: pb.FeedMessage, operator: str, *, now: float | None = None,
                      max_age_s: int = MAX_AGE_S, wire: bytes | None = None) -> RealtimeMessage:
    """``wire``: the bytes ``msg`` was parsed from; their stop updates are then read in one numba pass
    (`feeds.gtfs_rt_wire`) when every value is in range, else through the objects (which name the bad field)."""
    now = time.time() if now is None else now
    if not msg.header.HasField("timestamp"):
        raise RealtimeError("the header has no timestamp: it orders messages and ages the data", "header.timestamp")
    ts = msg.header.timestamp
    if ts < now - max_age_s:
        raise RealtimeError(f"header timestamp {ts} ({_iso(ts)}) is more than {max_age_s} s in the past",
                            "header.timestamp")
    if ts > now + MAX_AHEAD_S:
        raise RealtimeError(f"header timestamp {ts} ({_iso(ts)}) is in the future (more than {MAX_AHEAD_S} s "
                            f"ahead of this server's clock)", "header.timestamp")
    d = _Decoder(operator, ts)
    if wire is not None and len(msg.entity):
        d.use_wire(wire)
    trips: list[TripUpdate] = []
    vehicles: list[VehiclePosition] = []
    deleted: list[str] = []
    for i, ent in enumerate(msg.entity):
        w = f"entity[{i}]"
        eid = d.entity_id(ent.id, w + ".id")
        if ent.is_deleted:
            deleted.append(eid)
            continue
        if ent.HasField("trip_update"):
            trips.append(d.trip_update(ent.trip_update, eid, w + ".trip_update", i))
        if ent.HasField("vehicle") and ent.vehicle.HasField("position"):
            vehicles.append(d.vehicle(ent.vehicle, eid, w + ".vehicle"))
    full = not (msg.header.HasField("incrementality")
                and msg.header.incrementality == pb.FeedHeader.DIFFERENTIAL)
    return RealtimeMessage(operator, ts, full, tuple(trips), tuple(vehicles), tuple(deleted))


_STU = pb.TripUpdate.StopTimeUpdate.DESCRIPTOR.fields_by_name
_STU_SEQ, _STU_ARR, _STU_DEP, _STU_STOP, _STU_REL = (_STU[k].number for k in (
    "stop_sequence", "arrival", "departure", "stop_id", "schedule_relationship"))
_EV = pb.TripUpdate.StopTimeEvent.DESCRIPTOR.fields_by_name
_EV_TIME, _EV_DELAY = _EV["time"].number, _EV["delay"].number
_SKIPPED, _NO_DATA = pb.TripUpdate.StopTimeUpdate.SKIPPED, pb.TripUpdate.StopTimeUpdate.NO_DATA


@functools.lru_cache(maxsize=256)  # a message repeats a handful of service days
def _valid_day(text: str) -> bool:
    if len(text) != 8 or not text.isdigit():
        return False
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return EARLIEST_DATE <= day <= LATEST_DATE


def _f32(x: float) -> float:
    """A float field (32-bit on the wire) as the decimal the producer wrote: 35.70856, not 35.708560943603516."""
    return float(str(np.float32(x))) if math.isfinite(x) else x


def _iso(ts: int) -> str:
    try:
        return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return "out of range"


class _Decoder:
    """Per-message checks; ``where`` strings are the proto field paths a sender can find."""

    def __init__(self, operator: str, header_ts: int):
        self.op = operator
        self.lo, self.hi = header_ts - MAX_TIME_SPREAD_S, header_ts + MAX_TIME_SPREAD_S
        self.stus = 0
        self.wire: tuple | None = None  # (entity → (first, end) row, column lists, payload) when all rows are valid

    def use_wire(self, payload: bytes) -> None:
        from feeds import gtfs_rt_wire as gw

        got = gw.read_rows(payload)
        if got is None:
            return
        rows, n = got
        if n == 0:
            return
        f = rows[:, gw.FLAGS]
        seq, at, dt_ = rows[:, gw.SEQ], rows[:, gw.ARR_T], rows[:, gw.DEP_T]
        ad, dd = rows[:, gw.ARR_D], rows[:, gw.DEP_D]
        has = lambda bit: (f & bit) != 0  # noqa: E731
        bad = (has(gw.HAS_SEQ) & ((seq < 0) | (seq > MAX_STOP_SEQUENCE)))
        bad |= has(gw.HAS_ARR_T) & ((at < self.lo) | (at > self.hi))
        bad |= has(gw.HAS_DEP_T) & ((dt_ < self.lo) | (dt_ > self.hi))
        bad |= has(gw.HAS_ARR_D) & (np.abs(ad) > MAX_DELAY_S)
        bad |= has(gw.HAS_DEP_D) & (np.abs(dd) > MAX_DELAY_S)
        bad |= has(gw.HAS_ARR_T) & has(gw.HAS_DEP_T) & (dt_ < at)
        bad |= ~has(gw.HAS_SEQ) & ~has(gw.HAS_SID)
        if bad.any():
            return  # the object walk raises the precise error
        ent = rows[:, gw.ENT]
        cols = [rows[:, c].tolist() for c in range(gw.NCOLS)]
        self.wire = (ent, cols, payload)

    def wire_stus(self, entity: int, expected: int, ws: str) -> list[StopTimeUpdate]:
        from feeds import gtfs_rt_wire as gw

        ent, cols, payload = self.wire
        a, b = int(np.searchsorted(ent, entity, "left")), int(np.searchsorted(ent, entity, "right"))
        if b - a != expected:
            raise _WireMismatch(entity)
        out = []
        seq, at, ad, dt_, dd = cols[gw.SEQ], cols[gw.ARR_T], cols[gw.ARR_D], cols[gw.DEP_T], cols[gw.DEP_D]
        rel, off, ln, flags = cols[gw.REL], cols[gw.SID_OFF], cols[gw.SID_LEN], cols[gw.FLAGS]
        for r in range(a, b):
            f = flags[r]
            stop = None
            if f & gw.HAS_SID:
                try:
                    raw = payload[off[r]:off[r] + ln[r]].decode("utf-8")
                except UnicodeDecodeError:
                    raise _WireMismatch(entity) from None
                stop = self.ns(raw, f"{ws}[{r - a}].stop_id")
            out.append(StopTimeUpdate(
                seq[r] if f & gw.HAS_SEQ else None, stop,
                at[r] if f & gw.HAS_ARR_T else None, ad[r] if f & gw.HAS_ARR_D else None,
                dt_[r] if f & gw.HAS_DEP_T else None, dd[r] if f & gw.HAS_DEP_D else None,
                rel[r] == _SKIPPED, rel[r] == _NO_DATA))
        return out

    def entity_id(self, raw: str, where: str) -> str:
        if not raw or len(raw) > MAX_ENTITY_ID or not raw.isprintable():
            raise RealtimeError(f"entity id {raw!r:.40} must be 1 to {MAX_ENTITY_ID} printable characters", where)
        return raw

    def ns(self, raw: str, where: str) -> str | None:
        if not raw:
            return None
        val = f"{self.op}:{raw}"
        if not ID_RE.match(val):
            raise RealtimeError(f"{raw!r:.60} is not a valid id (letters, digits and _.:@/+- only, at most 200)",
                                where)
        return val

    def time(self, t: int, where: str) -> int:
        if not self.lo <= t <= self.hi:
            raise RealtimeError(f"{t} ({_iso(t)}) is more than {MAX_TIME_SPREAD_S // 86_400} days from the header "
                                f"timestamp", where)
        return t

    def delay(self, v: int, where: str) -> int:
        if not -MAX_DELAY_S <= v <= MAX_DELAY_S:
            raise RealtimeError(f"delay {v} s is outside ±{MAX_DELAY_S} s", where)
        return v

    def seq(self, v: int, where: str) -> int:
        if not 0 <= v <= MAX_STOP_SEQUENCE:
            raise RealtimeError(f"stop_sequence {v} is outside 0..{MAX_STOP_SEQUENCE}", where)
        return v

    def trip(self, td: pb.TripDescriptor, where: str):
        trip_id = self.ns(td.trip_id, where + ".trip_id") if td.HasField("trip_id") else None
        route_id = self.ns(td.route_id, where + ".route_id") if td.HasField("route_id") else None
        direction = None
        if td.HasField("direction_id"):
            if td.direction_id not in (0, 1):
                raise RealtimeError(f"direction_id {td.direction_id} is not 0 or 1", where + ".direction_id")
            direction = td.direction_id
        start_date = None
        if td.HasField("start_date") and td.start_date:
            if not _valid_day(td.start_date):
                raise RealtimeError(f"start_date {td.start_date!r:.20} is not a date YYYYMMDD between "
                                    f"{EARLIEST_DATE:%Y%m%d} and {LATEST_DATE:%Y%m%d}", where + ".start_date")
            start_date = td.start_date
        start_time = None
        if td.HasField("start_time") and td.start_time:
            m = _START_TIME.match(td.start_time)
            if not m or int(m.group(1)) > 47:
                raise RealtimeError(f"start_time {td.start_time!r:.20} is not HH:MM:SS (hours up to 47)",
                                    where + ".start_time")
            start_time = td.start_time
        rel = _TRIP_REL.get(td.schedule_relationship, "SCHEDULED")
        rel = {"NEW": "ADDED", "REPLACEMENT": "SCHEDULED"}.get(rel, rel)
        if rel not in _TRIP_REL_OUT:
            rel = "SCHEDULED"
        return trip_id, route_id, direction, start_date, start_time, rel

    def trip_update(self, tu: pb.TripUpdate, eid: str, w: str, entity: int = -1) -> TripUpdate:
        trip_id, route_id, direction, start_date, start_time, rel = self.trip(tu.trip, w + ".trip")
        if trip_id is None and rel not in ("ADDED", "DUPLICATED", "UNSCHEDULED") and route_id is None:
            raise RealtimeError("a trip update names neither a trip_id nor a route_id", w + ".trip.trip_id")
        if len(tu.stop_time_update) > MAX_STOPS_PER_TRIP:
            raise RealtimeError(f"too many stop_time_updates ({len(tu.stop_time_update)}; at most "
                                f"{MAX_STOPS_PER_TRIP})", w + ".stop_time_update")
        self.stus += len(tu.stop_time_update)
        if self.stus > MAX_STOP_TIME_UPDATES:
            raise RealtimeError(f"too many stop_time_updates in the message (at most {MAX_STOP_TIME_UPDATES})",
                                w + ".stop_time_update")
        ws = w + ".stop_time_update"
        if self.wire is not None and entity >= 0:
            stus = self.wire_stus(entity, len(tu.stop_time_update), ws)
        else:
            stu = self.stop_time_update
            stus = [stu(s, ws, k) for k, s in enumerate(tu.stop_time_update)]
        seqs = [s.stop_sequence for s in stus]
        if stus and None not in seqs and not all(a < b for a, b in zip(seqs, seqs[1:])):  # usually in order
            if len(set(seqs)) != len(seqs):
                raise RealtimeError("two stop_time_updates of one trip have the same stop_sequence",
                                    w + ".stop_time_update")
            stus.sort(key=lambda s: s.stop_sequence)
        return TripUpdate(
            entity_id=eid, trip_id=trip_id, route_id=route_id, direction_id=direction, start_date=start_date,
            start_time=start_time, relationship=rel,
            delay=self.delay(tu.delay, w + ".delay") if tu.HasField("delay") else None,
            timestamp=self.time(tu.timestamp, w + ".timestamp") if tu.HasField("timestamp") else None,
            stop_time_updates=tuple(stus))

    def stop_time_update(self, s: pb.TripUpdate.StopTimeUpdate, ws: str, k: int) -> StopTimeUpdate:
        """One stop update, read through ``ListFields`` (one call for what is set, instead of a HasField per
        field: a 118-train message has ~3,000 of them); the field path (``ws[k]``) is only built for an error."""
        seq = stop = at = ad = dt_ = dd = None
        rel = 0
        lo, hi = self.lo, self.hi
        for fd, val in s.ListFields():
            n = fd.number
            if n == _STU_SEQ:
                if not 0 <= val <= MAX_STOP_SEQUENCE:
                    raise RealtimeError(f"stop_sequence {val} is outside 0..{MAX_STOP_SEQUENCE}",
                                        f"{ws}[{k}].stop_sequence")
                seq = val
            elif n == _STU_ARR or n == _STU_DEP:
                t = d = None
                for efd, ev in val.ListFields():
                    en = efd.number
                    if en == _EV_TIME:
                        t = ev
                    elif en == _EV_DELAY:
                        d = ev
                if (t is not None and not lo <= t <= hi) or (d is not None and not -MAX_DELAY_S <= d <= MAX_DELAY_S):
                    where = f"{ws}[{k}]" + (".arrival" if n == _STU_ARR else ".departure")
                    if t is not None:
                        self.time(t, where + ".time")
                    self.delay(d, where + ".delay")
                if n == _STU_ARR:
                    at, ad = t, d
                else:
                    dt_, dd = t, d
            elif n == _STU_STOP:
                stop = self.ns(val, f"{ws}[{k}].stop_id")
            elif n == _STU_REL:
                rel = val
        if seq is None and stop is None:
            raise RealtimeError("a stop_time_update needs a stop_sequence or a stop_id", f"{ws}[{k}]")
        if at is not None and dt_ is not None and dt_ < at:
            raise RealtimeError(f"departure.time {dt_} is before arrival.time {at}", f"{ws}[{k}].departure.time")
        return StopTimeUpdate(seq, stop, at, ad, dt_, dd, rel == _SKIPPED, rel == _NO_DATA)

    def vehicle(self, v: pb.VehiclePosition, eid: str, w: str) -> VehiclePosition:
        trip_id = route_id = start_date = None
        if v.HasField("trip"):
            trip_id, route_id, _, start_date, _, _ = self.trip(v.trip, w + ".trip")
        p = v.position
        lat, lon = _f32(p.latitude), _f32(p.longitude)
        if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise RealtimeError(f"latitude {lat} is outside -90..90", w + ".position.latitude")
        if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
            raise RealtimeError(f"longitude {lon} is outside -180..180", w + ".position.longitude")
        bearing = speed = None
        if p.HasField("bearing"):
            bearing = _f32(p.bearing)
            if not (math.isfinite(bearing) and 0.0 <= bearing <= 360.0):
                raise RealtimeError(f"bearing {bearing} is outside 0..360", w + ".position.bearing")
        if p.HasField("speed"):
            speed = _f32(p.speed)
            if not (math.isfinite(speed) and 0.0 <= speed <= MAX_SPEED_MS):
                raise RealtimeError(f"speed {speed} m/s is outside 0..{MAX_SPEED_MS}", w + ".position.speed")
        vid = label = None
        if v.HasField("vehicle"):
            vid = v.vehicle.id[:MAX_ENTITY_ID] or None
            label = v.vehicle.label[:MAX_ENTITY_ID] or None
        return VehiclePosition(
            entity_id=eid, trip_id=trip_id, route_id=route_id, start_date=start_date, vehicle_id=vid, label=label,
            lat=lat, lon=lon, bearing=bearing, speed=speed,
            stop_id=self.ns(v.stop_id, w + ".stop_id") if v.HasField("stop_id") else None,
            current_stop_sequence=(self.seq(v.current_stop_sequence, w + ".current_stop_sequence")
                                   if v.HasField("current_stop_sequence") else None),
            current_status=_STOP_STATUS.get(v.current_status) if v.HasField("current_status") else None,
            timestamp=self.time(v.timestamp, w + ".timestamp") if v.HasField("timestamp") else None)


# ------------------------------------------------------------------------------------------------------ encode

def _trip_descriptor(td: pb.TripDescriptor, trip_id, route_id, direction_id, start_date, start_time, rel) -> None:
    if trip_id:
        td.trip_id = trip_id
    if route_id:
        td.route_id = route_id
    if direction_id is not None:
        td.direction_id = direction_id
    if start_date:
        td.start_date = start_date
    if start_time:
        td.start_time = start_time
    if rel and rel != "SCHEDULED":
        td.schedule_relationship = pb.TripDescriptor.ScheduleRelationship.Value(rel)


def _header(timestamp: float | None) -> pb.FeedMessage:
    msg = pb.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.incrementality = pb.FeedHeader.FULL_DATASET
    msg.header.timestamp = int(timestamp if timestamp is not None else time.time())
    return msg


def _entity_key(op_hint: str | None, eid: str) -> str:
    """Published ids keep the namespace (partners join them to our GTFS, which has it too); entity ids get it."""
    return f"{op_hint}:{eid}" if op_hint else eid


def trip_updates_feed(updates: Iterable[TripUpdate], *, timestamp: float | None = None) -> pb.FeedMessage:
    """A FULL_DATASET TripUpdates FeedMessage of the given (merged) updates; entity ids get the operator prefix
    taken from the trip / route id so two operators' entity ids never collide."""
    msg = _header(timestamp)
    for u in updates:
        ent = msg.entity.add()
        ent.id = _entity_key((u.trip_id or u.route_id or "").split(":", 1)[0] or None, u.entity_id)
        tu = ent.trip_update
        _trip_descriptor(tu.trip, u.trip_id, u.route_id, u.direction_id, u.start_date, u.start_time,
                         u.relationship)
        if u.delay is not None:
            tu.delay = u.delay
        if u.timestamp is not None:
            tu.timestamp = u.timestamp
        for s in u.stop_time_updates:
            st = tu.stop_time_update.add()
            if s.stop_sequence is not None:
                st.stop_sequence = s.stop_sequence
            if s.stop_id:
                st.stop_id = s.stop_id
            for ev, t, dl in ((st.arrival, s.arrival_time, s.arrival_delay),
                              (st.departure, s.departure_time, s.departure_delay)):
                if t is not None:
                    ev.time = t
                if dl is not None:
                    ev.delay = dl
            if s.skipped:
                st.schedule_relationship = pb.TripUpdate.StopTimeUpdate.SKIPPED
            elif s.no_data:
                st.schedule_relationship = pb.TripUpdate.StopTimeUpdate.NO_DATA
            # a SCHEDULED update with no event would be invalid: an empty StopTimeUpdate is dropped
            if not (st.HasField("arrival") or st.HasField("departure") or s.skipped or s.no_data):
                del tu.stop_time_update[-1]
    return msg


def vehicle_positions_feed(vehicles: Iterable[VehiclePosition], *, timestamp: float | None = None,
                           operators: dict[str, str] | None = None) -> pb.FeedMessage:
    """A FULL_DATASET VehiclePositions FeedMessage; ``operators`` maps entity ids with no trip/route/stop to their
    operator (for the entity id prefix)."""
    msg = _header(timestamp)
    for v in vehicles:
        op = (v.trip_id or v.route_id or v.stop_id or "").split(":", 1)[0] or (operators or {}).get(v.entity_id)
        ent = msg.entity.add()
        ent.id = _entity_key(op, v.entity_id)
        vp = ent.vehicle
        if v.trip_id or v.route_id:
            _trip_descriptor(vp.trip, v.trip_id, v.route_id, None, v.start_date, None, None)
        if v.vehicle_id or v.label:
            if v.vehicle_id:
                vp.vehicle.id = v.vehicle_id
            if v.label:
                vp.vehicle.label = v.label
        vp.position.latitude, vp.position.longitude = v.lat, v.lon
        if v.bearing is not None:
            vp.position.bearing = v.bearing
        if v.speed is not None:
            vp.position.speed = v.speed
        if v.stop_id:
            vp.stop_id = v.stop_id
        if v.current_stop_sequence is not None:
            vp.current_stop_sequence = v.current_stop_sequence
        if v.current_status:
            vp.current_status = pb.VehiclePosition.VehicleStopStatus.Value(v.current_status)
        if v.timestamp is not None:
            vp.timestamp = v.timestamp
    return msg


def feed_json(msg: pb.FeedMessage) -> dict:
    """protobuf's canonical JSON mapping with the .proto field names, like `GET /v1/alerts?format=json`."""
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)
