"""A parsed JMA telegram → the closures to store and the ones to lift, against what is in force now.

One closure per (series, area, kind): id ``jma:{series}:{area code}:{kind code}``, the municipality polygon as its
area, strength from the policy table. Weather and landslide reports are full state for the areas they list, so an
area a new report lists without a kind that was in force lifts that kind (an explicit 解除 does the same); a flood
forecast or heavy-rain report is full state for its EventID. A continuation (継続) keeps the closure and its start.
A 取消 withdraws the series' closures as if never issued, and is refused when nothing of that series is in force.
A report older than the one in force is refused, so a late duplicate never undoes a newer state.

Area codes: a code with a polygon maps onto it; a code JMA uses for part of a municipality or a region (横浜市北部
1410011, 石狩地方 016010) with no polygon is reported back in ``unknown_areas``; a whole-municipality code of a
prefecture the file covers that the file lacks is an error (a typo or a forged code); a telegram none of whose areas
is known is refused.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping

from feeds.closure_json import MAX_TEXT, TOKYO_TZ, Area, Closure, WarningInfo, area_to_json
from feeds.jma import JmaError, JmaItem, JmaKind, JmaTelegram
from feeds.jma_areas import Municipality, MunicipalityAreas
from maas.disruptions.policy import WarningPolicy, kind_english, warning_level

SEVERITY = {"close": "severe", "avoid": "warning", "inform": "info"}
# Kind statuses that keep a warning in force, in English (the Japanese one stays in the ja text)
STATUS_EN = {"発表": "issued", "継続": "continued", "特別警報から警報": "downgraded from an emergency warning",
             "特別警報から注意報": "downgraded from an emergency warning", "警報から注意報": "downgraded from a warning",
             "注意報から警報": "upgraded from an advisory", "注意報から特別警報": "upgraded from an advisory",
             "警報から特別警報": "upgraded from a warning", "対象地域": "issued"}


@dataclass(frozen=True)
class JmaChanges:
    puts: list[Closure]
    deletes: set[str]
    unknown_areas: list[dict] = field(default_factory=list)  # {"code", "name"}


def closure_id(series: str, area_code: str, kind_code: str) -> str:
    return f"jma:{series}:{area_code}:{kind_code or 'x'}"


class JmaIntake:
    """Turns telegrams into closure changes with one municipality file and one policy table."""

    def __init__(self, areas: MunicipalityAreas, policy: WarningPolicy | None = None):
        self.areas = areas
        self.policy = policy or WarningPolicy()
        self._prefectures = areas.prefectures()
        self._area_cache: dict[str, Area] = {}  # one Area (and its GeoJSON form) per municipality, reused
        for m in areas.by_code.values():  # at start-up, so a Tokyo-wide telegram only reuses them
            self._area(m)

    def _area(self, m: Municipality) -> Area:
        a = self._area_cache.get(m.jma_code)
        if a is None:
            a = Area(m.geometry)
            a = Area(m.geometry, geojson=area_to_json(a))
            self._area_cache[m.jma_code] = a
        return a

    # ---- mapping ------------------------------------------------------------------------------------------
    def _map(self, tg: JmaTelegram) -> tuple[list[tuple[JmaItem, Municipality]], list[dict]]:
        mapped, unknown = [], []
        for i, it in enumerate(tg.items):
            m = self.areas.get(it.area_code)
            if m is not None:
                mapped.append((it, m))
            elif len(it.area_code) == 7 and it.area_code.endswith("00") and it.area_code[:2] in self._prefectures:
                raise JmaError(f"unknown area code {it.area_code} ({it.area_name}): not a municipality of the "
                               f"configured file", f"Body/Warning/Item[{i}]/Area/Code")
            else:
                unknown.append({"code": it.area_code, "name": it.area_name})
        if not mapped:
            sample = ", ".join(f"{u['code']} {u['name']}" for u in unknown[:5])
            raise JmaError(f"none of the telegram's {len(unknown)} areas is in the municipality file ({sample}"
                           f"{', …' if len(unknown) > 5 else ''}); this service covers prefecture(s) "
                           f"{', '.join(sorted(self._prefectures))}", "Body")
        return mapped, unknown

    def _display_kind(self, tg: JmaTelegram, k: JmaKind) -> str:
        if tg.family == "landslide":
            title = tg.title[len(tg.region_name):] if tg.region_name and tg.title.startswith(tg.region_name) \
                else tg.title
            return title or "土砂災害警戒情報"
        if tg.family == "flood":
            return tg.title or k.name
        if tg.family == "rain":
            return "記録的短時間大雨情報"
        return k.name

    def _closure(self, tg: JmaTelegram, it: JmaItem, m: Municipality, k: JmaKind,
                 old: Closure | None) -> Closure:
        level = warning_level(tg.family, k.name, k.code)
        strength = self.policy.action(tg.family, k.code, level)
        kind = self._display_kind(tg, k)
        kind_en = kind_english(tg.family, k.name)
        area_en = m.name_en or m.name
        head_ja = f"{m.name}に{kind}" + ("（継続）" if k.status == "継続" else "")
        head_en = f"{kind_en}: {area_en}"
        body = (tg.headline or "").strip()
        info = WarningInfo(series=tg.series, data_type=tg.data_type, kind=kind, kind_code=k.code, kind_en=kind_en,
                           level=level, status=k.status, area_code=m.jma_code, area_name=m.name,
                           area_name_en=m.name_en, report_time=tg.report_datetime.isoformat(),
                           event_id=tg.event_id, headline_ja=head_ja, headline_en=head_en)
        start = old.start if old is not None else tg.report_datetime.astimezone(TOKYO_TZ)
        return Closure(
            id=closure_id(tg.series, m.jma_code, k.code), source="jma", start=start,
            end=tg.valid_datetime.astimezone(TOKYO_TZ) if tg.valid_datetime else None,
            areas=(self._area(m),), severity=SEVERITY[strength],
            message_ja=(f"{head_ja}\n{body}" if body else head_ja)[:MAX_TEXT],
            message_en=f"{head_en} — {STATUS_EN.get(k.status, 'in force')} (Japan Meteorological Agency: "
                       f"{kind})"[:MAX_TEXT],
            cause="WEATHER", effect="NO_SERVICE" if strength == "close" else "OTHER_EFFECT",
            strength=strength, warning=info)

    # ---- the change -----------------------------------------------------------------------------------------
    def changes(self, tg: JmaTelegram, state: Mapping[str, Closure]) -> JmaChanges:
        """What ``tg`` stores and lifts, given the closures in force (id → closure). Raises `JmaError`."""
        if tg.control_status != "通常":
            raise JmaError(f"a {tg.control_status} (drill/test) telegram is not applied", "Control/Status")
        series = {cid: c for cid, c in state.items() if c.warning is not None and c.warning.series == tg.series}
        if tg.info_type == "取消":
            gone = {cid for cid, c in series.items() if not tg.event_id or c.warning.event_id == tg.event_id}
            if not gone:
                raise JmaError(f"取消 of a telegram that is not in force: no warning of series {tg.series}"
                               + (f" with EventID {tg.event_id}" if tg.event_id else "") + " is stored",
                               "Head/InfoType")
            return JmaChanges([], gone)
        newest = max((dt.datetime.fromisoformat(c.warning.report_time) for c in series.values()
                      if c.warning.report_time), default=None)
        if newest is not None and tg.report_datetime < newest:
            raise JmaError(f"this report ({tg.report_datetime.isoformat()}) is older than the one in force "
                           f"({newest.isoformat()}) for series {tg.series}", "Head/ReportDateTime")
        mapped, unknown = self._map(tg)
        puts: dict[str, Closure] = {}
        for it, m in mapped:
            for k in it.kinds:
                if not k.active:
                    continue
                cid = closure_id(tg.series, m.jma_code, k.code)
                puts[cid] = self._closure(tg, it, m, k, state.get(cid))
        if tg.family in ("flood", "rain"):
            listed = None  # full state for the whole EventID
        else:
            listed = {m.jma_code for _, m in mapped} | {u["code"] for u in unknown}
        deletes = {cid for cid, c in series.items()
                   if cid not in puts and (listed is None or c.warning.area_code in listed)}
        return JmaChanges(list(puts.values()), deletes, unknown)


def check_config(areas_path, policy_path) -> None:
    """Load the operator's municipality and policy files once at start-up, so a bad one is a one-line
    configuration error (`AreaFileError` / `PolicyError`, both ValueErrors) instead of a worker's traceback."""
    WarningPolicy.load(policy_path)
    if areas_path is not None:
        MunicipalityAreas.load(areas_path)
