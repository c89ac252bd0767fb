"""Closures (disaster warnings) as typed data, and our JSON form of them.

The `Closure` dataclass lives here, not in `maas/`, because every parser in `feeds/` (JSON, CAP 1.2, GTFS-RT)
returns it and `feeds` never imports `maas`. The JSON form is also the storage form (`closure_to_json` /
`parse_closure_json` round-trip), so one validator guards both the API and what comes back from a store.

Input is hostile until checked: size, counts, numbers, coordinates and polygon validity are all verified and any
problem raises `ClosureError(detail, field)` before anything is applied.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from feeds.geo import EARTH_RADIUS_M

TOKYO_TZ = ZoneInfo("Asia/Tokyo")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
MAX_PAYLOAD_BYTES = 1_000_000
MAX_IDS = 5_000  # per target list
MAX_AREAS = 100
MAX_VERTICES = 20_000  # over all areas of one closure
MAX_RADIUS_M = 100_000.0
MAX_TEXT = 4_000
CIRCLE_SEGMENTS = 64
RING_CHUNK = 2_048  # positions converted per step of a large ring
ID_RE = re.compile(r"^[A-Za-z0-9_.:@/+\-]{1,200}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Closure times are range-checked before any date arithmetic (masks, alerts, storage): from the epoch (an alert
# with no active_period starts there) to the end of 2199 (producers write 2**32-1, year 2106, for "until lifted").
EARLIEST_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST_TIME = dt.datetime(2199, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)

SEVERITIES = ("info", "warning", "severe")
EFFECTS = ("NO_SERVICE", "REDUCED_SERVICE", "SIGNIFICANT_DELAYS", "DETOUR", "ADDITIONAL_SERVICE",
           "MODIFIED_SERVICE", "OTHER_EFFECT", "UNKNOWN_EFFECT", "STOP_MOVED", "NO_EFFECT", "ACCESSIBILITY_ISSUE")
CAUSES = ("UNKNOWN_CAUSE", "OTHER_CAUSE", "TECHNICAL_PROBLEM", "STRIKE", "DEMONSTRATION", "ACCIDENT", "HOLIDAY",
          "WEATHER", "MAINTENANCE", "CONSTRUCTION", "POLICE_ACTIVITY", "MEDICAL_EMERGENCY")
# Effects that keep people out of the named elements; the others are published but do not change routes.
BLOCKING_EFFECTS = frozenset({"NO_SERVICE", "DETOUR", "STOP_MOVED"})
# How hard a closure restricts: close (never board, alight, ride or walk through), avoid (plans stay out when they
# can; an entering itinerary is offered only as a flagged fallback, see maas/disruptions/avoid.py), inform (shown
# with the itineraries that touch it, never changes a route).
STRENGTHS = ("close", "avoid", "inform")


class ClosureError(ValueError):
    """Bad closure input: ``detail`` says what is wrong in words a sender can act on, ``field`` where."""

    def __init__(self, detail: str, field: str | None = None):
        super().__init__(detail if field is None else f"{field}: {detail}")
        self.detail = detail
        self.field = field


@dataclass(frozen=True, slots=True)
class Segment:
    """The track between two consecutive stops of a route (closed in both directions)."""

    route: str
    from_stop: str
    to_stop: str


@dataclass(frozen=True, slots=True)
class Circle:
    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True)
class Area:
    """A closed area. ``geometry`` is in lon/lat (a circle is kept as its circumscribed polygon, so tests against it
    are conservative); ``streets_only`` closes only the walking streets inside, not stops or transit through it."""

    geometry: BaseGeometry
    circle: Circle | None = None
    streets_only: bool = False
    geojson: dict | None = field(default=None, compare=False, repr=False)  # precomputed `area_to_json` (shared)


@dataclass(frozen=True)
class CapInfo:
    """Where a closure came from in CAP terms, so later Update/Cancel messages find it by reference."""

    sender: str
    identifier: str
    sent: str
    msg_type: str
    supersedes: tuple[str, ...] = ()  # identifiers of earlier alerts this one replaced (the whole chain)


@dataclass(frozen=True)
class WarningInfo:
    """Where a closure came from when a weather service issued it (a JMA warning for one municipality)."""

    series: str  # which later reports replace it: data-type family + region (e.g. "dosha:130000")
    data_type: str  # VPWW53, VXWW50, …
    kind: str  # 大雨特別警報
    kind_code: str
    kind_en: str
    level: int  # JMA 警戒レベル-like grade: 2 注意報, 3 警報, 4 危険警報/土砂災害警戒情報, 5 特別警報
    status: str  # the Kind/Status of the latest report (発表, 継続, 特別警報から警報, …)
    area_code: str
    area_name: str
    area_name_en: str = ""
    report_time: str = ""  # ISO 8601 of the latest report that kept it
    event_id: str = ""
    headline_ja: str = ""
    headline_en: str = ""

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class Closure:
    """What is closed, when, how badly, said by whom, with a message in Japanese and English."""

    id: str
    source: str
    start: dt.datetime  # aware
    end: dt.datetime | None = None  # None: until lifted
    stops: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    trips: tuple[str, ...] = ()  # GTFS-RT trip entities: listed and published; masks cannot express one trip
    segments: tuple[Segment, ...] = ()
    areas: tuple[Area, ...] = ()
    severity: str = "severe"
    message_ja: str = ""
    message_en: str = ""
    cause: str = "UNKNOWN_CAUSE"
    effect: str = "NO_SERVICE"
    cap: CapInfo | None = None
    strength: str = "close"  # close | avoid | inform (STRENGTHS)
    warning: WarningInfo | None = None

    @property
    def blocking(self) -> bool:
        """Closed outright: no plan may use what it names."""
        return self.effect in BLOCKING_EFFECTS and self.strength == "close"

    @property
    def restricting(self) -> bool:
        """Changes routes: closed, or to be avoided when another way exists."""
        return self.blocking or self.strength == "avoid"

    def active_at(self, when: dt.datetime) -> bool:
        return self.start <= when and (self.end is None or when < self.end)

    def overlaps(self, t0: dt.datetime, t1: dt.datetime) -> bool:
        """Does the closure's window meet ``[t0, t1)``?"""
        return self.start < t1 and (self.end is None or self.end > t0)

    @property
    def is_empty(self) -> bool:
        return not (self.stops or self.stations or self.routes or self.trips or self.segments or self.areas)


# ---------------------------------------------------------------------------------------------- geometry helpers

def circle_polygon(lat: float, lon: float, radius_m: float, n: int = CIRCLE_SEGMENTS) -> Polygon:
    """A polygon that contains the circle (circumscribed), in lon/lat, by a local equirectangular projection."""
    r = radius_m / math.cos(math.pi / n)
    ang = [2 * math.pi * k / n for k in range(n)]
    k_lat = 180.0 / (math.pi * EARTH_RADIUS_M)
    k_lon = k_lat / max(math.cos(math.radians(lat)), 1e-6)
    return Polygon([(lon + r * math.cos(a) * k_lon, lat + r * math.sin(a) * k_lat) for a in ang])


def check_polygon(geom: BaseGeometry, where: str) -> BaseGeometry:
    """Refuse self-intersecting or empty polygons with shapely's own explanation."""
    if not bool(shapely.is_valid(geom)):  # the function form releases the GIL (the property does not)
        raise ClosureError(f"the polygon is not valid ({explain_validity(geom)}); "
                           "rings must not cross themselves or each other", where)
    if geom.is_empty or geom.area <= 0:
        raise ClosureError("the polygon is empty or has no area", where)
    return geom


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ClosureError(f"expected a finite number, got {v!r:.40}", where)
    return float(v)


def _lonlat(p: Any, where: str) -> tuple[float, float]:
    if not isinstance(p, (list, tuple)) or len(p) not in (2, 3):
        raise ClosureError("a position is [lon, lat]", where)
    lon, lat = _num(p[0], where), _num(p[1], where)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ClosureError(f"position [{lon}, {lat}] is outside WGS 84 (GeoJSON order is [lon, lat])", where)
    return lon, lat


def _ring_fast(r: list) -> np.ndarray | None:
    """The ring as an (n, 2) array when every position is a valid [lon, lat(, alt)] and it is closed; None sends
    the caller to the per-position checks (which say exactly what is wrong). Vectorised: large areas are common."""
    parts = []
    for i in range(0, len(r), RING_CHUNK):  # chunks, yielding the GIL between them: an event loop may be waiting
        chunk = r[i:i + RING_CHUNK]
        if any(type(v) is bool for p in chunk if isinstance(p, (list, tuple)) for v in p):
            return None
        try:
            parts.append(np.asarray(chunk, dtype=np.float64))
        except (ValueError, TypeError):
            return None
        if len(r) > RING_CHUNK:
            time.sleep(0)
    if any(p.ndim != 2 or p.shape[1] != parts[0].shape[1] for p in parts):
        return None
    a = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if a.ndim != 2 or a.shape[1] not in (2, 3) or not np.isfinite(a).all():
        return None
    a = a[:, :2]
    if (np.abs(a[:, 0]) > 180).any() or (np.abs(a[:, 1]) > 90).any() or not (a[0] == a[-1]).all():
        return None
    return a


def _ring(r: Any, where: str, budget: list[int]) -> Any:
    if not isinstance(r, list) or len(r) < 4:
        raise ClosureError("a polygon ring needs at least 4 positions (first = last)", where)
    budget[0] -= len(r)
    if budget[0] < 0:
        raise ClosureError(f"too many vertices (at most {MAX_VERTICES} per closure)", where)
    fast = _ring_fast(r)
    if fast is not None:
        return fast
    pts = [_lonlat(p, f"{where}[{i}]") for i, p in enumerate(r)]
    if pts[0] != pts[-1]:
        raise ClosureError("a polygon ring must be closed (first position = last)", where)
    return pts


def _polygon_coords(c: Any, where: str, budget: list[int]) -> Polygon:
    if not isinstance(c, list) or not c:
        raise ClosureError("Polygon coordinates are a list of rings", where)
    rings = [_ring(r, f"{where}[{i}]", budget) for i, r in enumerate(c)]
    return Polygon(rings[0], rings[1:]) if len(rings) > 1 else Polygon(rings[0])


def area_from_json(obj: Any, where: str, budget: list[int], streets_only: bool = False) -> Area:
    """A GeoJSON Polygon/MultiPolygon (or Feature of one), or ``{"type": "Circle", "center": [lon, lat],
    "radius_m": r}``."""
    if not isinstance(obj, dict):
        raise ClosureError("an area is a GeoJSON Polygon, MultiPolygon or Circle object", where)
    if obj.get("type") == "Feature":
        props = obj.get("properties") or {}
        streets_only = streets_only or bool(isinstance(props, dict) and props.get("streets_only"))
        obj = obj.get("geometry")
        if not isinstance(obj, dict):
            raise ClosureError("the Feature has no geometry", where)
    kind = obj.get("type")
    if kind == "Polygon":
        geom: BaseGeometry = _polygon_coords(obj.get("coordinates"), f"{where}.coordinates", budget)
        return Area(check_polygon(geom, where), None, streets_only)
    if kind == "MultiPolygon":
        cs = obj.get("coordinates")
        if not isinstance(cs, list) or not cs:
            raise ClosureError("MultiPolygon coordinates are a list of polygons", where)
        geom = MultiPolygon([_polygon_coords(c, f"{where}.coordinates[{i}]", budget) for i, c in enumerate(cs)])
        return Area(check_polygon(geom, where), None, streets_only)
    if kind == "Circle":
        lon, lat = _lonlat(obj.get("center"), f"{where}.center")
        r = _num(obj.get("radius_m"), f"{where}.radius_m")
        if not 0 < r <= MAX_RADIUS_M:
            raise ClosureError(f"radius_m must be in (0, {MAX_RADIUS_M:.0f}] metres", f"{where}.radius_m")
        return Area(circle_polygon(lat, lon, r), Circle(lat, lon, r), streets_only)
    raise ClosureError(f"unsupported area type {kind!r:.40}; use Polygon, MultiPolygon or Circle", where)


def area_to_json(a: Area) -> dict:
    if a.geojson is not None:  # e.g. a municipality polygon serialised once for all its warnings
        return a.geojson
    if a.circle is not None:
        out: dict = {"type": "Circle", "center": [a.circle.lon, a.circle.lat], "radius_m": a.circle.radius_m}
    else:  # lists, not tuples, so a stored closure compares equal to what comes back; numpy for speed
        def rings(p: Polygon) -> list:
            return [shapely.get_coordinates(r).tolist() for r in (p.exterior, *p.interiors)]

        g = a.geometry
        if isinstance(g, Polygon):
            out = {"type": "Polygon", "coordinates": rings(g)}
        elif isinstance(g, MultiPolygon):
            out = {"type": "MultiPolygon", "coordinates": [rings(p) for p in g.geoms]}
        else:
            out = orjson.loads(orjson.dumps(shapely.geometry.mapping(g)))
    return out


# ---------------------------------------------------------------------------------------------- field helpers

def parse_time(v: Any, where: str) -> dt.datetime:
    """ISO 8601; a time without offset is Tokyo time (the service's only zone)."""
    if not isinstance(v, str) or len(v) > 40:
        raise ClosureError("expected an ISO 8601 date-time such as 2026-11-24T08:00:00+09:00", where)
    try:
        t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ClosureError(f"{v!r} is not an ISO 8601 date-time", where) from None
    t = t.replace(tzinfo=TOKYO_TZ) if t.tzinfo is None else t
    if not 1970 <= t.year <= 2199 or not EARLIEST_TIME <= t <= LATEST_TIME:
        raise ClosureError(f"{v!r} is outside {EARLIEST_TIME:%Y-%m-%d}..{LATEST_TIME:%Y-%m-%d}", where)
    return t


def check_window(start: dt.datetime, end: dt.datetime | None, where: str = "end") -> None:
    if end is not None and end <= start:
        raise ClosureError("end must be after start", where)


def _ids(v: Any, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        raise ClosureError("expected a list of ids", where)
    if len(v) > MAX_IDS:
        raise ClosureError(f"too many ids ({len(v)}; at most {MAX_IDS})", where)
    for i, x in enumerate(v):
        if not isinstance(x, str) or not ID_RE.match(x):
            raise ClosureError(f"{x!r:.60} is not a valid id", f"{where}[{i}]")
    return tuple(dict.fromkeys(v))


def _text(v: Any, where: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, str):
        raise ClosureError("expected a string", where)
    if len(v) > MAX_TEXT:
        raise ClosureError(f"text too long ({len(v)} characters; at most {MAX_TEXT})", where)
    if _CONTROL.search(v):
        raise ClosureError("text may not hold control characters (other than tab and line breaks)", where)
    return v


def _choice(v: Any, allowed: tuple[str, ...], default: str, where: str, upper: bool) -> str:
    if v is None:
        return default
    if not isinstance(v, str) or (v.upper() if upper else v.lower()) not in allowed:
        raise ClosureError(f"must be one of {', '.join(allowed)}", where)
    return v.upper() if upper else v.lower()


def new_closure_id() -> str:
    return "cl-" + uuid.uuid4().hex[:16]


# ---------------------------------------------------------------------------------------------- JSON in / out

def closure_from_dict(d: Any, *, source: str = "json", now: dt.datetime | None = None) -> Closure:
    """Validate one closure object of our JSON form (see `closure_to_json`)."""
    if not isinstance(d, dict):
        raise ClosureError("a closure is a JSON object")
    cid = d["id"] if d.get("id") is not None else new_closure_id()
    if not isinstance(cid, str) or not ID_RE.match(cid):
        raise ClosureError("id may hold letters, digits and _.:@/+- (1-200 characters)", "id")
    t = d.get("targets")
    if not isinstance(t, dict):
        raise ClosureError("targets is an object with stops, stations, routes, segments, areas, walk_areas",
                           "targets")
    segs = t["segments"] if t.get("segments") is not None else []
    if not isinstance(segs, list) or len(segs) > MAX_IDS:
        raise ClosureError(f"segments is a list (at most {MAX_IDS})", "targets.segments")
    segments = []
    for i, s in enumerate(segs):
        w = f"targets.segments[{i}]"
        if not isinstance(s, dict):
            raise ClosureError("a segment is {route, from_stop, to_stop}", w)
        r, a, b = (_ids([s.get(k)], f"{w}.{k}")[0] if s.get(k) is not None else None
                   for k in ("route", "from_stop", "to_stop"))
        if not (r and a and b) or a == b:
            raise ClosureError("a segment needs route, from_stop and to_stop (two different stops)", w)
        segments.append(Segment(r, a, b))
    areas: list[Area] = []
    budget = [MAX_VERTICES]
    for key, streets_only in (("areas", False), ("walk_areas", True)):
        lst = t[key] if t.get(key) is not None else []
        if not isinstance(lst, list) or len(lst) > MAX_AREAS:
            raise ClosureError(f"{key} is a list (at most {MAX_AREAS})", f"targets.{key}")
        areas += [area_from_json(a, f"targets.{key}[{i}]", budget, streets_only) for i, a in enumerate(lst)]
    start = parse_time(d["start"], "start") if d.get("start") is not None else (now or dt.datetime.now(TOKYO_TZ))
    end = parse_time(d["end"], "end") if d.get("end") is not None else None
    check_window(start, end)
    msg = d["message"] if d.get("message") is not None else {}
    if not isinstance(msg, dict):
        raise ClosureError("message is {ja, en}", "message")
    cap = d.get("cap")
    cap_info = None
    if cap is not None:
        if not isinstance(cap, dict):
            raise ClosureError("cap is {sender, identifier, sent, msg_type, supersedes}", "cap")
        sup = cap["supersedes"] if cap.get("supersedes") is not None else []
        if not isinstance(sup, list) or len(sup) > MAX_IDS:
            raise ClosureError(f"supersedes is a list of identifiers (at most {MAX_IDS})", "cap.supersedes")
        cap_info = CapInfo(_text(cap.get("sender"), "cap.sender"), _text(cap.get("identifier"), "cap.identifier"),
                           _text(cap.get("sent"), "cap.sent"), _text(cap.get("msg_type"), "cap.msg_type") or "Alert",
                           tuple(_text(x, f"cap.supersedes[{i}]") for i, x in enumerate(sup)))
    src = d.get("source", source)
    warning = None
    w = d.get("warning")
    if w is not None:
        if not isinstance(w, dict):
            raise ClosureError("warning is an object", "warning")
        try:
            warning = WarningInfo(**{k: (int(v) if k == "level" else _text(v, f"warning.{k}"))
                                     for k, v in w.items()})
        except (TypeError, ValueError):
            raise ClosureError("warning has unknown or missing fields", "warning") from None
    c = Closure(
        id=cid, source=_text(src, "source")[:100] or source, start=start, end=end,
        stops=_ids(t.get("stops"), "targets.stops"), stations=_ids(t.get("stations"), "targets.stations"),
        routes=_ids(t.get("routes"), "targets.routes"), trips=_ids(t.get("trips"), "targets.trips"),
        segments=tuple(segments), areas=tuple(areas),
        severity=_choice(d.get("severity"), SEVERITIES, "severe", "severity", upper=False),
        message_ja=_text(msg.get("ja"), "message.ja"), message_en=_text(msg.get("en"), "message.en"),
        cause=_choice(d.get("cause"), CAUSES, "UNKNOWN_CAUSE", "cause", upper=True),
        effect=_choice(d.get("effect"), EFFECTS, "NO_SERVICE", "effect", upper=True),
        cap=cap_info, strength=_choice(d.get("strength"), STRENGTHS, "close", "strength", upper=False),
        warning=warning)
    if c.is_empty:
        raise ClosureError("a closure must name at least one stop, station, route, trip, segment or area",
                           "targets")
    return c


def parse_closure_json(payload: bytes | str, *, source: str = "json",
                       now: dt.datetime | None = None) -> list[Closure]:
    """One closure object, a list of them, or ``{"closures": [...]}``; the whole payload is refused on any error."""
    raw = payload.encode() if isinstance(payload, str) else payload
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ClosureError(f"payload too large ({len(raw)} bytes; at most {MAX_PAYLOAD_BYTES})")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ClosureError(f"not valid JSON: {e}") from None
    items = doc.get("closures") if isinstance(doc, dict) and "closures" in doc else doc
    items = items if isinstance(items, list) else [items]
    if not items:
        raise ClosureError("no closure in the payload")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(closure_from_dict(item, source=source, now=now))
        except ClosureError as e:
            if len(items) == 1:
                raise
            raise ClosureError(e.detail, f"closures[{i}]" + (f".{e.field}" if e.field else "")) from None
    return out


def closure_to_json(c: Closure) -> dict:
    """Our JSON form; `closure_from_dict` reads it back to an equal closure (this is also the storage form)."""
    targets: dict = {}
    for key, val in (("stops", c.stops), ("stations", c.stations), ("routes", c.routes), ("trips", c.trips)):
        if val:
            targets[key] = list(val)
    if c.segments:
        targets["segments"] = [{"route": s.route, "from_stop": s.from_stop, "to_stop": s.to_stop}
                               for s in c.segments]
    areas = [area_to_json(a) for a in c.areas if not a.streets_only]
    walk = [area_to_json(a) for a in c.areas if a.streets_only]
    if areas:
        targets["areas"] = areas
    if walk:
        targets["walk_areas"] = walk
    out = {"id": c.id, "source": c.source, "start": c.start.isoformat(),
           "end": c.end.isoformat() if c.end else None, "severity": c.severity,
           "message": {"ja": c.message_ja, "en": c.message_en}, "cause": c.cause, "effect": c.effect,
           "targets": targets}
    if c.strength != "close":
        out["strength"] = c.strength
    if c.warning is not None:
        out["warning"] = c.warning.to_dict()
    if c.cap is not None:
        out["cap"] = {"sender": c.cap.sender, "identifier": c.cap.identifier, "sent": c.cap.sent,
                      "msg_type": c.cap.msg_type, "supersedes": list(c.cap.supersedes)}
    return out


__all__ = ["Area", "BLOCKING_EFFECTS", "STRENGTHS", "WarningInfo", "CapInfo", "Circle", "Closure", "ClosureError", "Segment", "EPOCH",
           "TOKYO_TZ", "MAX_PAYLOAD_BYTES", "area_from_json", "check_polygon", "circle_polygon",
           "closure_from_dict", "closure_to_json", "parse_closure_json", "parse_time", "new_closure_id"]
