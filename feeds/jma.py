"""JMA disaster-prevention XML (気象庁防災情報XML) → typed telegrams.

Four families are read: weather warnings (VPWW53/54 and the hazard-split R06 family VPWW55–61), landslide alerts
(VXWW50 土砂災害警戒情報), designated-river flood forecasts (VXKO 指定河川洪水予報) and record short-time heavy rain
(VPOA50 記録的短時間大雨情報). Parsing is defensive: defusedxml with DTDs, entities and external references refused
(so "billion laughs" and XXE never run), a size limit, namespaces matched by URI (prefixes vary between files), and
every problem raises `JmaError(detail, field)` naming the element, before anything is applied.

Only the municipality level (市町村等, 7-digit codes) of weather warnings is kept: the same warnings appear at three
coarser levels in one Body and would otherwise count several times. A weather or landslide report is *full state*
for the areas it lists (a later report replaces it area by area); `JmaItem.kinds` keeps every Kind with its Status,
including 解除 (lifted) and the "nothing" items, so the caller can lift what a report no longer names.
"""
from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import defusedxml
import defusedxml.ElementTree as DET

from feeds.closure_json import ClosureError

MAX_JMA_BYTES = 1_000_000  # the largest official sample (VPWW54, Tokyo, with time series) is 154 KB
MAX_ITEMS = 2_000
NS_JMX = "http://xml.kishou.go.jp/jmaxml1/"
NS_IB = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
NS_METE = "http://xml.kishou.go.jp/jmaxml1/body/meteorology1/"
NS_OTHER_BODIES = {"http://xml.kishou.go.jp/jmaxml1/body/seismology1/": "seismology",
                   "http://xml.kishou.go.jp/jmaxml1/body/volcanology1/": "volcanology"}

# Control/Title → (data type, family). Families: warning (気象警報・注意報), landslide, flood, rain.
DATA_TYPES = {
    "気象特別警報・警報・注意報": ("VPWW53", "warning"),
    "気象警報・注意報（Ｈ２７）": ("VPWW54", "warning"),
    "気象警報・注意報（Ｒ０６）（大雨）": ("VPWW55", "warning"),
    "気象警報・注意報（Ｒ０６）（土砂）": ("VPWW56", "warning"),
    "気象警報・注意報（Ｒ０６）（高潮）": ("VPWW57", "warning"),
    "気象警報・注意報（Ｒ０６）（暴風）": ("VPWW58", "warning"),
    "気象警報・注意報（Ｒ０６）（波浪）": ("VPWW59", "warning"),
    "気象警報・注意報（Ｒ０６）（大雪）": ("VPWW60", "warning"),
    "気象警報・注意報（Ｒ０６）（その他）": ("VPWW61", "warning"),
    "土砂災害警戒情報": ("VXWW50", "landslide"),
    "指定河川洪水予報": ("VXKO", "flood"),
    "記録的短時間大雨情報": ("VPOA50", "rain"),
}
INFO_TYPES = ("発表", "訂正", "取消")
CONTROL_STATUSES = ("通常", "訓練", "試験")
# Kind/Status values. ACTIVE: the warning is (still, or now at a lower grade) in force for the area.
ACTIVE_STATUSES = frozenset({"発表", "継続", "特別警報から警報", "特別警報から注意報", "警報から注意報",
                             "注意報から警報", "注意報から特別警報", "警報から特別警報", "対象地域"})
LIFTED_STATUSES = frozenset({"解除"})
NONE_STATUSES = frozenset({"なし", "発表警報・注意報はなし"})
KNOWN_STATUSES = ACTIVE_STATUSES | LIFTED_STATUSES | NONE_STATUSES
MUNICIPALITY_LEVEL = "気象警報・注意報（市町村等）"
CODE_RE = re.compile(r"^[0-9]{1,20}$")


class JmaError(ClosureError):
    """A telegram we refuse: ``detail`` says why in words a sender can act on, ``field`` where (a ClosureError,
    so every intake path reports it the same way)."""


@dataclass(frozen=True)
class JmaKind:
    """One warning kind for one area: name (大雨警報), code ("03"), status (発表/継続/解除/なし/…), condition."""

    name: str
    code: str
    status: str
    condition: str = ""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def lifted(self) -> bool:
        return self.status in LIFTED_STATUSES or self.name == "解除"


@dataclass(frozen=True)
class JmaItem:
    """The kinds in force (or lifted) for one area code."""

    area_code: str
    area_name: str
    kinds: tuple[JmaKind, ...]


@dataclass(frozen=True)
class JmaTelegram:
    data_type: str  # VPWW53, VXWW50, VXKO, …
    family: str  # warning | landslide | flood | rain
    control_title: str
    control_status: str  # 通常 | 訓練 | 試験
    control_datetime: dt.datetime
    editorial_office: str
    title: str
    report_datetime: dt.datetime
    target_datetime: dt.datetime | None
    valid_datetime: dt.datetime | None
    event_id: str
    info_type: str  # 発表 | 訂正 | 取消
    serial: str
    info_kind: str
    info_kind_version: str
    headline: str
    region_code: str  # the prefecture-level area the report covers (130000), or the EventID for VXKO/VPOA50
    region_name: str
    items: tuple[JmaItem, ...]  # empty for a 取消

    @property
    def series(self) -> str:
        """Which earlier reports this one replaces: the same data-type family and region (ASCII, id-safe)."""
        kind = {"warning": "warn" + ("" if self.data_type in ("VPWW53", "VPWW54") else self.data_type[-2:]),
                "landslide": "dosha", "flood": "flood", "rain": "rain"}[self.family]
        return f"{kind}:{_id_safe(self.region_code)}"

    @property
    def area_codes(self) -> list[str]:
        return [it.area_code for it in self.items]


def _id_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text)[:80] or "_"


def looks_like_jma(payload: bytes | str) -> bool:
    """Cheap sniff: is the JMA root namespace declared near the top? (The full check is `parse_jma`'s.)"""
    head = payload[:4096]
    return (NS_JMX.encode() if isinstance(head, bytes) else NS_JMX) in head


def _parse_xml(payload: bytes | str) -> ET.Element:
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    if len(raw) > MAX_JMA_BYTES:
        raise JmaError(f"JMA XML too large ({len(raw)} bytes; at most {MAX_JMA_BYTES})")
    try:
        return DET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise JmaError("JMA XML must not contain a DTD (<!DOCTYPE>): refused to prevent entity expansion") from None
    except defusedxml.DefusedXmlException as e:
        raise JmaError(f"JMA XML refused: {type(e).__name__} (entities and external references are not "
                       "allowed)") from None
    except ET.ParseError as e:
        raise JmaError(f"JMA XML is not well-formed: {e}") from None


def _child(el: ET.Element, ns: str, name: str) -> ET.Element | None:
    return el.find(f"{{{ns}}}{name}")


def _text(el: ET.Element | None, ns: str, name: str, required: bool = False, where: str = "") -> str:
    child = None if el is None else _child(el, ns, name)
    val = (child.text or "").strip() if child is not None else ""
    if required and not val:
        raise JmaError(f"<{name}> is required", f"{where}{name}")
    return val


def _time(text: str, where: str, required: bool = True) -> dt.datetime | None:
    if not text:
        if required:
            raise JmaError("a date-time is required", where)
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise JmaError(f"{text!r:.40} is not an ISO 8601 date-time", where) from None
    if t.tzinfo is None:
        raise JmaError(f"{text!r:.40} has no time zone (JMA writes Z or +09:00)", where)
    return t


def _code(text: str, where: str) -> str:
    if not CODE_RE.match(text):
        raise JmaError(f"area code {text!r:.30} is not a JMA numeric code", where)
    return text


def _kind(k: ET.Element, where: str, status_default: str = "") -> JmaKind:
    name = _text(k, NS_METE, "Name")
    code = _text(k, NS_METE, "Code")
    status = _text(k, NS_METE, "Status") or status_default
    if not status:
        raise JmaError("<Kind> needs a <Status>", where + "Status")
    if status not in KNOWN_STATUSES:  # an unknown status would silently lift what the area had
        raise JmaError(f"unknown <Kind> status {status!r:.30}: expected one of {', '.join(sorted(KNOWN_STATUSES))}",
                       where + "Status")
    if not name and status not in NONE_STATUSES:
        raise JmaError(f"<Kind> with status {status!r} needs a <Name>", where + "Name")
    if code and not CODE_RE.match(code):
        raise JmaError(f"kind code {code!r:.20} is not numeric", where + "Code")
    return JmaKind(name, code, status, _text(k, NS_METE, "Condition"))


def _warning_items(body: ET.Element, wtype: str | None, where: str) -> list[JmaItem]:
    """Items of the Body's `<Warning type=wtype>` (the first Warning when ``wtype`` is None)."""
    warnings = body.findall(f"{{{NS_METE}}}Warning")
    w = next((x for x in warnings if wtype is None or x.get("type") == wtype), None)
    if w is None:
        raise JmaError(f"the Body has no <Warning type=\"{wtype}\">", where + "Warning")
    items = w.findall(f"{{{NS_METE}}}Item")
    if len(items) > MAX_ITEMS:
        raise JmaError(f"too many items ({len(items)}; at most {MAX_ITEMS})", where + "Warning")
    out = []
    for i, item in enumerate(items):
        wi = f"{where}Warning/Item[{i}]/"
        area = _child(item, NS_METE, "Area")
        if area is None:
            raise JmaError("an <Item> needs an <Area>", wi + "Area")
        code = _code(_text(area, NS_METE, "Code", True, wi + "Area/"), wi + "Area/Code")
        kinds = tuple(_kind(k, f"{wi}Kind[{j}]/") for j, k in enumerate(item.findall(f"{{{NS_METE}}}Kind")))
        if not kinds:
            raise JmaError("an <Item> needs at least one <Kind>", wi + "Kind")
        out.append(JmaItem(code, _text(area, NS_METE, "Name"), kinds))
    return out


def _flood_items(head: ET.Element, body: ET.Element, where: str) -> list[JmaItem]:
    """VXKO: the forecast's kind is in the Headline (Kind with Condition `洪水警報（発表）`); the affected
    municipalities are the `CityCode`s of the Body's 浸水想定地区 item."""
    kind = None
    hl = _child(head, NS_IB, "Headline")
    for info in ([] if hl is None else hl.findall(f"{{{NS_IB}}}Information")):
        k = info.find(f"{{{NS_IB}}}Item/{{{NS_IB}}}Kind")
        if k is not None:
            cond = _text(k, NS_IB, "Condition")
            m = re.search(r"（(発表|継続|解除)）", cond)
            name = _text(k, NS_IB, "Name", True, "Head/Headline/Information/Item/Kind/")
            status = m.group(1) if m else ("解除" if "解除" in name else "発表")
            kind = JmaKind(name, _text(k, NS_IB, "Code"), status, cond)
            break
    if kind is None:
        raise JmaError("a flood forecast needs a Headline/Information/Item/Kind", "Head/Headline")
    cities: dict[str, str] = {}
    w = _child(body, NS_METE, "Warning")
    for i, item in enumerate([] if w is None else w.findall(f"{{{NS_METE}}}Item")):
        for j, area in enumerate(item.findall(f"{{{NS_METE}}}Areas/{{{NS_METE}}}Area")):
            city = _text(area, NS_METE, "CityCode")
            if city:
                cities.setdefault(_code(city, f"{where}Warning/Item[{i}]/Areas/Area[{j}]/CityCode"),
                                  _text(area, NS_METE, "City"))
    return [JmaItem(code, name, (kind,)) for code, name in cities.items()]


def parse_jma(payload: bytes | str) -> JmaTelegram:
    """Parse and validate one JMA telegram of a supported type; raises `JmaError` on anything else."""
    root = _parse_xml(payload)
    if root.tag != f"{{{NS_JMX}}}Report":
        raise JmaError(f"not a JMA XML report: root element is {root.tag!r:.80}, expected {{{NS_JMX}}}Report")
    control = _child(root, NS_JMX, "Control")
    head = _child(root, NS_IB, "Head")
    if control is None:
        raise JmaError("<Control> is missing", "Control")
    if head is None:
        raise JmaError(f"<Head> (namespace {NS_IB}) is missing", "Head")
    ctitle = _text(control, NS_JMX, "Title", True, "Control/")
    if ctitle not in DATA_TYPES:
        raise JmaError(f"unsupported JMA telegram {ctitle!r:.60}: accepted are weather warnings (VPWW53/54/55–61), "
                       "土砂災害警戒情報 (VXWW50), 指定河川洪水予報 (VXKO) and 記録的短時間大雨情報 (VPOA50)",
                       "Control/Title")
    data_type, family = DATA_TYPES[ctitle]
    cstatus = _text(control, NS_JMX, "Status", True, "Control/")
    if cstatus not in CONTROL_STATUSES:
        raise JmaError(f"Control/Status {cstatus!r:.20} is not 通常, 訓練 or 試験", "Control/Status")
    info_type = _text(head, NS_IB, "InfoType", True, "Head/")
    if info_type not in INFO_TYPES:
        raise JmaError(f"InfoType {info_type!r:.20} is not applied (発表, 訂正 or 取消)", "Head/InfoType")
    hl = _child(head, NS_IB, "Headline")
    common = dict(
        data_type=data_type, family=family, control_title=ctitle, control_status=cstatus,
        control_datetime=_time(_text(control, NS_JMX, "DateTime"), "Control/DateTime"),
        editorial_office=_text(control, NS_JMX, "EditorialOffice"),
        title=_text(head, NS_IB, "Title", True, "Head/"),
        report_datetime=_time(_text(head, NS_IB, "ReportDateTime"), "Head/ReportDateTime"),
        target_datetime=_time(_text(head, NS_IB, "TargetDateTime"), "Head/TargetDateTime", False),
        valid_datetime=_time(_text(head, NS_IB, "ValidDateTime"), "Head/ValidDateTime", False),
        event_id=_text(head, NS_IB, "EventID"), info_type=info_type, serial=_text(head, NS_IB, "Serial"),
        info_kind=_text(head, NS_IB, "InfoKind"), info_kind_version=_text(head, NS_IB, "InfoKindVersion"),
        headline=_text(hl, NS_IB, "Text") if hl is not None else "")
    body = _child(root, NS_METE, "Body")
    if body is None:
        other = next((NS_OTHER_BODIES[c.tag[1:].split("}")[0]] for c in root
                      if c.tag.startswith("{") and c.tag[1:].split("}")[0] in NS_OTHER_BODIES), None)
        if other:
            raise JmaError(f"a {other} Body is not a weather, flood or landslide telegram", "Body")
        if info_type != "取消":
            raise JmaError(f"<Body> (namespace {NS_METE}) is missing", "Body")
    region_code, region_name = "", ""
    items: list[JmaItem] = []
    if family in ("flood", "rain"):
        region_code = common["event_id"]
        if not region_code:
            raise JmaError("a flood forecast or heavy-rain report needs an EventID", "Head/EventID")
    if info_type == "取消":
        if family in ("warning", "landslide") and body is not None:
            region_code, region_name = _region(body, family)
        elif family in ("warning", "landslide"):
            raise JmaError("a 取消 of a warning or landslide report needs its Body to say which region",
                           "Body")
        return JmaTelegram(**common, region_code=region_code, region_name=region_name, items=())
    assert body is not None
    if family == "warning":
        region_code, region_name = _region(body, family)
        items = _warning_items(body, MUNICIPALITY_LEVEL, "Body/")
    elif family == "landslide":
        region_code, region_name = _region(body, family)
        items = _warning_items(body, "土砂災害警戒情報", "Body/")
    elif family == "rain":
        items = _warning_items(body, None, "Body/")
    else:
        items = _flood_items(head, body, "Body/")
    if not items:
        raise JmaError("the telegram names no area", "Body")
    codes = [it.area_code for it in items]
    if len(set(codes)) != len(codes):
        dup = next(c for c in codes if codes.count(c) > 1)
        raise JmaError(f"area {dup} is listed twice", "Body")
    return JmaTelegram(**common, region_code=region_code, region_name=region_name, items=tuple(items))


def _region(body: ET.Element, family: str) -> tuple[str, str]:
    """The prefecture-level area: VXWW50's TargetArea, or the single item of the 府県予報区等 level."""
    if family == "landslide":
        ta = _child(body, NS_METE, "TargetArea")
        if ta is None:
            raise JmaError("a landslide alert needs a <TargetArea>", "Body/TargetArea")
        return _code(_text(ta, NS_METE, "Code", True, "Body/TargetArea/"), "Body/TargetArea/Code"), \
            _text(ta, NS_METE, "Name")
    for w in body.findall(f"{{{NS_METE}}}Warning"):
        if w.get("type") == "気象警報・注意報（府県予報区等）":
            area = w.find(f"{{{NS_METE}}}Item/{{{NS_METE}}}Area")
            if area is not None:
                return _code(_text(area, NS_METE, "Code", True, "Body/Warning/Item/Area/"),
                             "Body/Warning/Item/Area/Code"), _text(area, NS_METE, "Name")
    raise JmaError("a weather warning needs its 府県予報区等 level (which prefecture it covers)", "Body/Warning")


__all__ = ["ACTIVE_STATUSES", "DATA_TYPES", "JmaError", "JmaItem", "JmaKind", "JmaTelegram", "MAX_JMA_BYTES",
           "looks_like_jma", "parse_jma"]
