"""CAP 1.2 (OASIS Common Alerting Protocol) alerts → closures.

Parsed with defusedxml with DTDs refused, so entity expansion ("billion laughs") and external entities never run.
An Alert becomes one closure over the union of its `<area>`s (polygon "lat,lon …", circle "lat,lon radius_km";
CAP puts latitude first), `effective`/`onset` → start, `expires` → end. Update and Cancel name earlier alerts in
`references` ("sender,identifier,sent" triples); resolving them against stored closures is the service's job, so
the parser only reports them. Optional `<geocode>` entries with valueName `stop_id`, `station_id` or `route_id`
let a sender name transit elements directly.
"""
from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import defusedxml
import defusedxml.ElementTree as DET
from shapely.geometry import MultiPolygon, Polygon
from shapely.ops import unary_union

from feeds.closure_json import (ID_RE, MAX_AREAS, MAX_PAYLOAD_BYTES, MAX_RADIUS_M, MAX_TEXT, MAX_VERTICES, Area,
                                CapInfo, Circle, Closure, ClosureError, check_polygon, check_window,
                                circle_polygon, parse_time)

CAP_NAMESPACES = ("urn:oasis:names:tc:emergency:cap:1.2", "urn:oasis:names:tc:emergency:cap:1.1")
SEVERITY = {"Extreme": "severe", "Severe": "severe", "Moderate": "warning", "Minor": "info", "Unknown": "info"}
CAUSE = {"Met": "WEATHER", "Geo": "OTHER_CAUSE", "Health": "MEDICAL_EMERGENCY", "Security": "POLICE_ACTIVITY",
         "Safety": "OTHER_CAUSE", "Rescue": "OTHER_CAUSE", "Fire": "OTHER_CAUSE", "Env": "OTHER_CAUSE",
         "Transport": "TECHNICAL_PROBLEM", "Infra": "TECHNICAL_PROBLEM", "CBRNE": "POLICE_ACTIVITY",
         "Other": "OTHER_CAUSE"}
GEOCODE_TARGETS = {"stop_id": "stops", "station_id": "stations", "route_id": "routes"}


@dataclass(frozen=True)
class CapReference:
    sender: str
    identifier: str
    sent: str


@dataclass(frozen=True)
class CapMessage:
    """One CAP alert: its identity, what it refers to, and (for Alert/Update) the closure it asks for."""

    sender: str
    identifier: str
    sent: str
    msg_type: str  # Alert | Update | Cancel
    references: tuple[CapReference, ...]
    closure: Closure | None  # None for a Cancel


def cap_closure_id(sender: str, identifier: str) -> str:
    """A stable closure id for a CAP alert (the sender's own identifier when it fits our id alphabet)."""
    cid = f"cap:{sender}:{identifier}"
    if ID_RE.match(cid):
        return cid
    return "cap:" + hashlib.sha256(f"{sender}\x00{identifier}".encode()).hexdigest()[:32]


def _parse_xml(payload: bytes | str) -> ET.Element:
    raw = payload.encode() if isinstance(payload, str) else payload
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ClosureError(f"CAP payload too large ({len(raw)} bytes; at most {MAX_PAYLOAD_BYTES})")
    try:
        return DET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise ClosureError("CAP XML must not contain a DTD (<!DOCTYPE>): refused to prevent entity expansion") \
            from None
    except defusedxml.DefusedXmlException as e:
        raise ClosureError(f"CAP XML refused: {type(e).__name__} (entities and external references are not "
                           "allowed)") from None
    except ET.ParseError as e:
        raise ClosureError(f"CAP XML is not well-formed: {e}") from None


def _ns(root: ET.Element) -> str:
    m = re.match(r"^\{([^}]*)\}alert$", root.tag)
    if not m or m.group(1) not in CAP_NAMESPACES:
        raise ClosureError(f"not a CAP 1.2 alert: root element is {root.tag!r:.80}, expected "
                           f"{{{CAP_NAMESPACES[0]}}}alert")
    return m.group(1)


def _text(el: ET.Element, ns: str, name: str, required: bool = False, where: str = "") -> str:
    child = el.find(f"{{{ns}}}{name}")
    val = (child.text or "").strip() if child is not None else ""
    if required and not val:
        raise ClosureError(f"<{name}> is required", where + name)
    return val


def _lat_lon(pair: str, where: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = pair.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise ClosureError(f"{pair!r:.40} is not a 'lat,lon' pair", where) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ClosureError(f"{pair!r:.40} is outside WGS 84 (CAP writes latitude first)", where)
    return lat, lon


def _polygon(text: str, where: str, budget: list[int]) -> Polygon:
    pairs = text.split()
    budget[0] -= len(pairs)
    if budget[0] < 0:
        raise ClosureError(f"too many polygon points (at most {MAX_VERTICES})", where)
    pts = [_lat_lon(p, where) for p in pairs]
    if len(pts) < 4 or pts[0] != pts[-1]:
        raise ClosureError("a CAP polygon needs at least 4 'lat,lon' pairs, first = last", where)
    return check_polygon(Polygon([(lon, lat) for lat, lon in pts]), where)


def _circle(text: str, where: str) -> Area:
    try:
        centre, radius = text.split()
        r_m = float(radius) * 1000.0
    except ValueError:
        raise ClosureError(f"{text!r:.60} is not 'lat,lon radius_km'", where) from None
    lat, lon = _lat_lon(centre, where)
    if not 0 < r_m <= MAX_RADIUS_M:
        raise ClosureError(f"circle radius must be in (0, {MAX_RADIUS_M / 1000:.0f}] km", where)
    return Area(circle_polygon(lat, lon, r_m), Circle(lat, lon, r_m))


def _lang(info: ET.Element, ns: str) -> str:
    lang = _text(info, ns, "language") or "en-US"  # CAP's default language
    return "ja" if lang.lower().startswith("ja") else "en" if lang.lower().startswith("en") else lang


def _references(text: str) -> tuple[CapReference, ...]:
    refs = []
    for triple in text.split():
        parts = triple.split(",")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise ClosureError(f"{triple!r:.80} is not a 'sender,identifier,sent' triple", "references")
        refs.append(CapReference(*parts))
    return tuple(refs)


def parse_cap(payload: bytes | str) -> CapMessage:
    """Parse and validate one CAP alert; raises `ClosureError` on anything malformed, hostile or not applicable."""
    root = _parse_xml(payload)
    ns = _ns(root)
    sender = _text(root, ns, "sender", True)
    identifier = _text(root, ns, "identifier", True)
    sent_s = _text(root, ns, "sent", True)
    sent = parse_time(sent_s, "sent")
    status = _text(root, ns, "status", True)
    if status != "Actual":
        raise ClosureError(f"status {status!r:.20}: only Actual alerts close anything", "status")
    msg_type = _text(root, ns, "msgType", True)
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise ClosureError(f"msgType {msg_type!r:.20} is not applied (Alert, Update or Cancel)", "msgType")
    refs = _references(_text(root, ns, "references"))
    if msg_type != "Alert" and not refs:
        raise ClosureError(f"a {msg_type} must name the alert it replaces in <references>", "references")
    if msg_type == "Cancel":
        return CapMessage(sender, identifier, sent_s, msg_type, refs, None)

    infos = root.findall(f"{{{ns}}}info")
    if not infos:
        raise ClosureError("an Alert or Update needs at least one <info>", "info")
    areas: list[Area] = []
    polys: list[Polygon] = []
    ids: dict[str, list[str]] = {"stops": [], "stations": [], "routes": []}
    budget = [MAX_VERTICES]
    starts, ends, sev, cause = [], [], "info", "OTHER_CAUSE"
    texts: dict[str, str] = {}
    for i, info in enumerate(infos):
        w = f"info[{i}]."
        start_s = _text(info, ns, "onset") or _text(info, ns, "effective")
        starts.append(parse_time(start_s, w + "onset") if start_s else sent)
        exp = _text(info, ns, "expires")
        ends.append(parse_time(exp, w + "expires") if exp else None)
        s = SEVERITY.get(_text(info, ns, "severity", True, w), "info")
        sev = max(sev, s, key=("info", "warning", "severe").index)
        cat = _text(info, ns, "category")
        cause = CAUSE.get(cat, cause) if cause == "OTHER_CAUSE" else cause
        headline = _text(info, ns, "headline") or _text(info, ns, "event")
        desc = _text(info, ns, "description")
        texts.setdefault(_lang(info, ns), (f"{headline}: {desc}" if desc else headline)[:MAX_TEXT])
        for j, area in enumerate(info.findall(f"{{{ns}}}area")):
            wa = f"{w}area[{j}]."
            _text(area, ns, "areaDesc", True, wa)
            for k, p in enumerate(area.findall(f"{{{ns}}}polygon")):
                polys.append(_polygon(p.text or "", f"{wa}polygon[{k}]", budget))
            for k, c in enumerate(area.findall(f"{{{ns}}}circle")):
                areas.append(_circle((c.text or "").strip(), f"{wa}circle[{k}]"))
            for g in area.findall(f"{{{ns}}}geocode"):
                key = GEOCODE_TARGETS.get(_text(g, ns, "valueName"))
                val = _text(g, ns, "value")
                if key and val:
                    if not ID_RE.match(val):
                        raise ClosureError(f"{val!r:.60} is not a valid id", wa + "geocode")
                    ids[key].append(val)
            if len(areas) + len(polys) > MAX_AREAS:
                raise ClosureError(f"too many areas (at most {MAX_AREAS})", wa)
    if polys:  # one geometry for all polygons: overlapping areas from several <info>s are fine
        merged = unary_union(polys)
        merged = merged if isinstance(merged, (Polygon, MultiPolygon)) else MultiPolygon(polys)
        areas.insert(0, Area(check_polygon(merged, "area"), None))
    start = min(starts)
    end = None if any(e is None for e in ends) else max(ends)
    check_window(start, end, "expires")
    closure = Closure(
        id=cap_closure_id(sender, identifier), source=f"cap:{sender}"[:100], start=start, end=end,
        stops=tuple(dict.fromkeys(ids["stops"])), stations=tuple(dict.fromkeys(ids["stations"])),
        routes=tuple(dict.fromkeys(ids["routes"])), areas=tuple(areas), severity=sev,
        message_ja=texts.get("ja", ""), message_en=texts.get("en", ""), cause=cause, effect="NO_SERVICE",
        cap=CapInfo(sender, identifier, sent_s, msg_type, tuple(r.identifier for r in refs)))
    if closure.is_empty:
        raise ClosureError("the alert has no <area> polygon or circle (nor a stop/station/route geocode)", "area")
    return CapMessage(sender, identifier, sent_s, msg_type, refs, closure)


