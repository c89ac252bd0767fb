"""Fare files of a feed → typed, namespaced fare tables, every problem located by file, row and field.

GTFS fares v1 (``fare_attributes``, ``fare_rules``; GTFS-JP's ``ic_price`` column) and GTFS Fares v2 (``fare_media``,
``rider_categories``, ``fare_products``, ``fare_leg_rules``, ``fare_transfer_rules``, ``networks``,
``route_networks``, ``areas``, ``stop_areas``, ``timeframes``), plus our documented extensions (docs/fares.md):
``fare_distance_bands.txt`` (a leg's distance picks a fare product) and ``fare_transfer_rules.transfer_area_id``
(the change must happen at a stop of that area). Ids are namespaced like every id of the `Feed`; a value written
``other-operator::id`` names another operator's id (cross-operator transfer rules, designated transfer stations),
and ``other-operator::*`` is the implicit leg group of every leg of that operator.

The pricing itself is in ``operators/fare_engine.py``; this module only reads and checks.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from feeds.problems import ValidationReport

if TYPE_CHECKING:
    import pandas as pd

V2_FILES = ("fare_media", "rider_categories", "fare_products", "fare_leg_rules", "fare_transfer_rules", "networks",
            "route_networks", "areas", "stop_areas", "timeframes", "fare_distance_bands")
FARE_FILES = ("fare_attributes", "fare_rules", *V2_FILES)
MEDIA_TYPES = {0: "none", 1: "paper ticket", 2: "transit card", 3: "contactless bank card", 4: "mobile app"}
IC_MEDIA_TYPES = frozenset({2, 3, 4})  # what our "ic" medium means: a stored-value card or its equivalents
TICKET_MEDIA_TYPES = frozenset({0, 1})  # "ticket": paper ticket, or cash paid on board (no medium)
ALL_LEGS = "*"  # the implicit leg group of every leg of an operator: ``{operator}:*``
MAX_PROBLEMS_PER_FILE = 20


@dataclass(frozen=True)
class FareAttribute:
    """GTFS v1 fare: ``price`` is what ``payment_method`` pays; ``ic_price`` (GTFS-JP) the IC-card price."""

    fare_id: str
    price: int
    ic_price: int | None = None
    transfers: int | None = None  # None = unlimited
    transfer_duration: int | None = None  # seconds from the first departure


@dataclass(frozen=True)
class FareRule:
    fare_id: str
    route_id: str = ""
    origin_id: str = ""
    destination_id: str = ""
    contains_id: str = ""


@dataclass(frozen=True)
class FareProduct:
    fare_product_id: str
    amount: int  # integer JPY; negative = a discount
    rider_category_id: str = ""
    fare_media_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class FareLegRule:
    fare_product_id: str
    leg_group_id: str = ""
    network_id: str = ""
    from_area_id: str = ""
    to_area_id: str = ""
    from_timeframe_group_id: str = ""
    to_timeframe_group_id: str = ""
    rule_priority: int = 0


@dataclass(frozen=True)
class FareTransferRule:
    from_leg_group_id: str = ""
    to_leg_group_id: str = ""
    transfer_count: int | None = None  # -1 unlimited; only when from == to leg group
    duration_limit: int | None = None  # seconds
    duration_limit_type: int | None = None  # 0 dep→arr, 1 dep→dep, 2 arr→dep, 3 arr→arr (current → next leg)
    fare_transfer_type: int = 0  # 0 A + AB, 1 A + AB + B, 2 AB
    fare_product_id: str = ""  # empty: the transfer itself costs nothing
    transfer_area_id: str = ""  # extension: the change must happen inside this area


@dataclass(frozen=True)
class Timeframe:
    timeframe_group_id: str
    start_s: int  # seconds since midnight, inclusive
    end_s: int  # exclusive
    service_id: str


@dataclass(frozen=True)
class DistanceBand:
    """Extension: legs of ``network_id`` (empty = any) whose distance in whole km (rounded up) lies in
    ``[min_km, max_km]`` cost ``fare_product_id``."""

    network_id: str
    min_km: int
    max_km: int
    fare_product_id: str


@dataclass
class FareTables:
    """One operator's fares, typed; ids namespaced. Empty tables mean the feed has no fares."""

    namespace: str
    attributes: dict[str, FareAttribute] = field(default_factory=dict)
    rules: list[FareRule] = field(default_factory=list)
    stop_zone: dict[str, str] = field(default_factory=dict)
    stop_parent: dict[str, str] = field(default_factory=dict)
    media: dict[str, int] = field(default_factory=dict)  # fare_media_id → fare_media_type
    rider_categories: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id → (name, is_default)
    products: dict[str, list[FareProduct]] = field(default_factory=dict)
    leg_rules: list[FareLegRule] = field(default_factory=list)
    leg_rules_prioritised: bool = False  # fare_leg_rules.txt has rule_priority: empty fields then match anything
    transfer_rules: list[FareTransferRule] = field(default_factory=list)
    networks: dict[str, str] = field(default_factory=dict)  # network_id → name
    route_network: dict[str, str] = field(default_factory=dict)
    areas: set[str] = field(default_factory=set)
    stop_areas: dict[str, frozenset[str]] = field(default_factory=dict)
    timeframes: dict[str, list[Timeframe]] = field(default_factory=dict)
    service_dates: dict[str, frozenset[dt.date]] = field(default_factory=dict)  # services timeframes name
    distance_bands: list[DistanceBand] = field(default_factory=list)
    timezone: str = "Asia/Tokyo"  # the feed's agency zone: timeframes are local times (and service days) there

    @property
    def has_v1(self) -> bool:
        return bool(self.attributes)

    @property
    def has_v2(self) -> bool:
        return bool(self.leg_rules or self.distance_bands)

    @property
    def empty(self) -> bool:
        return not (self.has_v1 or self.has_v2 or self.transfer_rules)

    def areas_of(self, stop_id: str) -> frozenset[str]:
        """Areas of a stop, or of its parent station."""
        own = self.stop_areas.get(stop_id, frozenset())
        parent = self.stop_parent.get(stop_id)
        return own | self.stop_areas.get(parent, frozenset()) if parent else own


# --------------------------------------------------------------------------- reading and checking

class _Ctx:
    """Collects problems per file, capped so one broken column does not flood the report."""

    def __init__(self, report: ValidationReport, namespace: str):
        self.report, self.ns, self.counts = report, namespace, {}

    def add(self, severity: str, file: str, message: str, row: int | None = None, field: str | None = None):
        n = self.counts.get(file, 0) + 1
        self.counts[file] = n
        if n <= MAX_PROBLEMS_PER_FILE:
            (self.report.error if severity == "error" else self.report.warning)(file, message, row, field)
        elif n == MAX_PROBLEMS_PER_FILE + 1:
            self.report.warning(file, f"more problems in {file} are not listed (first {MAX_PROBLEMS_PER_FILE} "
                                      f"shown); fix these and publish again")

    def id(self, raw: str) -> str:
        """Namespace a raw id; ``other::id`` names another operator's id as is."""
        raw = raw.strip()
        if not raw:
            return ""
        if "::" in raw:
            op, _, rest = raw.partition("::")
            return f"{op}:{rest}"
        return f"{self.ns}:{raw}"


def _rows(tables: dict[str, pd.DataFrame], name: str) -> list[tuple[int, dict]]:
    df = tables.get(name)
    if df is None or df.empty:
        return []
    return [(i + 1, {k: str(v).strip() for k, v in r.items()}) for i, r in enumerate(df.to_dict("records"))]


def _need(ctx: _Ctx, tables, name: str, cols: tuple[str, ...]) -> bool:
    df = tables.get(name)
    if df is None:
        return False
    missing = [c for c in cols if c not in df.columns]
    for c in missing:
        ctx.add("error", f"{name}.txt", f"required column {c} is missing (header: {', '.join(df.columns)})", None, c)
    return not missing


def _int(ctx: _Ctx, file: str, row: int, r: dict, col: str, *, required: bool = False, lo: int | None = None,
         allowed: tuple[int, ...] | None = None, what: str = "a whole number") -> int | None:
    raw = r.get(col, "")
    if raw == "":
        if required:
            ctx.add("error", file, f"{col} is required", row, col)
        return None
    try:
        num = float(raw)
        if num != int(num):
            raise ValueError
        value = int(num)
    except (ValueError, OverflowError):
        ctx.add("error", file, f"{col} {raw!r} is not {what}", row, col)
        return None
    if allowed is not None and value not in allowed:
        ctx.add("error", file, f"{col} {raw!r} is not one of {list(allowed)}", row, col)
        return None
    if lo is not None and value < lo:
        ctx.add("error", file, f"{col} {raw!r} must be >= {lo}", row, col)
        return None
    return value


def _yen(ctx: _Ctx, file: str, row: int, r: dict, col: str, currency_col: str, *, negative_ok: bool) -> int | None:
    cur = r.get(currency_col, "JPY") or "JPY"
    if cur.upper() != "JPY":  # the feed still routes; its fares are left out
        ctx.add("warning", file, f"{currency_col} {cur!r}: this platform prices in JPY only; the fare is ignored",
                row, currency_col)
        return None
    value = _int(ctx, file, row, r, col, required=True, what="a whole number of yen")
    if value is not None and value < 0 and not negative_ok:
        ctx.add("error", file, f"{col} {r[col]!r} must not be negative", row, col)
        return None
    return value


def _time_s(ctx: _Ctx, file: str, row: int, r: dict, col: str, default: int) -> int | None:
    raw = r.get(col, "")
    if raw == "":
        return default
    parts = raw.split(":")
    try:
        h, m, s = (int(p) for p in parts)
        if len(parts) != 3 or not (0 <= m < 60 and 0 <= s < 60 and 0 <= h <= 24):
            raise ValueError
    except ValueError:
        ctx.add("error", file, f"{col} {raw!r} is not a time HH:MM:SS (00:00:00 to 24:00:00)", row, col)
        return None
    return h * 3600 + m * 60 + s


def _ref(ctx: _Ctx, file: str, row: int, r: dict, col: str, known: set[str] | dict, what: str, target: str,
         *, required: bool = False) -> str:
    """A namespaced reference checked against ``known`` (other operators' ids are checked when priced)."""
    value = ctx.id(r.get(col, ""))
    if not value:
        if required:
            ctx.add("error", file, f"{col} is required", row, col)
        return ""
    if value.startswith(ctx.ns + ":") and value not in known:
        ctx.add("error", file, f"{col} {r[col]!r} refers to no {what} in {target}", row, col)
    return value


def parse_fares(tables: dict[str, pd.DataFrame], namespace: str, report: ValidationReport,
                service_dates=None) -> FareTables:
    """Check and read every fare file present. ``service_dates(service_id) -> frozenset[date]`` resolves the
    services timeframes name (None: timeframes with a service_id never match)."""
    ctx = _Ctx(report, namespace)
    ft = FareTables(namespace)
    routes = {ctx.id(r.get("route_id", "")) for _, r in _rows(tables, "routes")}
    stops = _rows(tables, "stops")
    stop_ids = {ctx.id(r.get("stop_id", "")) for _, r in stops}
    for _, r in stops:
        sid = ctx.id(r.get("stop_id", ""))
        if r.get("zone_id"):
            ft.stop_zone[sid] = ctx.id(r["zone_id"])
        if r.get("parent_station"):
            ft.stop_parent[sid] = ctx.id(r["parent_station"])
    _v1(ctx, tables, ft, routes)
    _media_and_riders(ctx, tables, ft)
    _products(ctx, tables, ft)
    _networks(ctx, tables, ft, routes)
    _areas(ctx, tables, ft, stop_ids)
    _timeframes(ctx, tables, ft, service_dates)
    _leg_rules(ctx, tables, ft)
    _transfer_rules(ctx, tables, ft)
    _distance_bands(ctx, tables, ft)
    return ft


def _v1(ctx: _Ctx, tables, ft: FareTables, routes: set[str]) -> None:
    f = "fare_attributes.txt"
    if _need(ctx, tables, "fare_attributes", ("fare_id", "price")):
        for row, r in _rows(tables, "fare_attributes"):
            fid = ctx.id(r.get("fare_id", ""))
            price = _yen(ctx, f, row, r, "price", "currency_type", negative_ok=False)
            ic = None
            if r.get("ic_price", "") not in ("", "-1"):  # GTFS-JP: -1 = no IC fare
                ic = _yen(ctx, f, row, r, "ic_price", "currency_type", negative_ok=False)
            transfers = _int(ctx, f, row, r, "transfers", allowed=(0, 1, 2))
            duration = _int(ctx, f, row, r, "transfer_duration", lo=0, what="a number of seconds")
            if fid and price is not None:
                ft.attributes[fid] = FareAttribute(fid, price, ic, transfers, duration)
    f = "fare_rules.txt"
    if _need(ctx, tables, "fare_rules", ("fare_id",)):
        for row, r in _rows(tables, "fare_rules"):
            fid = ctx.id(r.get("fare_id", ""))  # dangling ids and routes: feeds/validate.py reports them
            rid = ctx.id(r.get("route_id", ""))
            if fid in ft.attributes:  # fares in another currency were left out above
                ft.rules.append(FareRule(fid, rid, ctx.id(r.get("origin_id", "")), ctx.id(r.get("destination_id", "")),
                                         ctx.id(r.get("contains_id", ""))))


def _media_and_riders(ctx: _Ctx, tables, ft: FareTables) -> None:
    f = "fare_media.txt"
    if _need(ctx, tables, "fare_media", ("fare_media_id", "fare_media_type")):
        for row, r in _rows(tables, "fare_media"):
            t = _int(ctx, f, row, r, "fare_media_type", required=True, allowed=tuple(MEDIA_TYPES))
            mid = ctx.id(r.get("fare_media_id", ""))
            if not mid:
                ctx.add("error", f, "fare_media_id is required", row, "fare_media_id")
            elif mid in ft.media:
                ctx.add("error", f, f"fare_media_id {r['fare_media_id']!r} is defined twice", row, "fare_media_id")
            elif t is not None:
                ft.media[mid] = t
    f = "rider_categories.txt"
    if _need(ctx, tables, "rider_categories", ("rider_category_id", "rider_category_name")):
        defaults = 0
        for row, r in _rows(tables, "rider_categories"):
            cid = ctx.id(r.get("rider_category_id", ""))
            is_default = _int(ctx, f, row, r, "is_default_fare_category", allowed=(0, 1)) == 1
            defaults += is_default
            if not cid:
                ctx.add("error", f, "rider_category_id is required", row, "rider_category_id")
            elif cid in ft.rider_categories:
                ctx.add("error", f, f"rider_category_id {r['rider_category_id']!r} is defined twice", row,
                        "rider_category_id")
            else:
                ft.rider_categories[cid] = (r.get("rider_category_name", ""), is_default)
        if defaults > 1:
            ctx.add("error", f, f"{defaults} rider categories say is_default_fare_category=1: at most one may",
                    None, "is_default_fare_category")


def _products(ctx: _Ctx, tables, ft: FareTables) -> None:
    f = "fare_products.txt"
    if not _need(ctx, tables, "fare_products", ("fare_product_id", "amount")):
        return
    seen: set[tuple[str, str, str]] = set()
    for row, r in _rows(tables, "fare_products"):
        pid = ctx.id(r.get("fare_product_id", ""))
        if not pid:
            ctx.add("error", f, "fare_product_id is required", row, "fare_product_id")
            continue
        amount = _yen(ctx, f, row, r, "amount", "currency", negative_ok=True)
        rider = _ref(ctx, f, row, r, "rider_category_id", ft.rider_categories, "rider category",
                     "rider_categories.txt")
        media = _ref(ctx, f, row, r, "fare_media_id", ft.media, "fare medium", "fare_media.txt")
        key = (pid, rider, media)
        if key in seen:
            ctx.add("error", f, f"fare product {r['fare_product_id']!r} is defined twice for the same rider "
                                f"category and medium", row, "fare_product_id")
            continue
        seen.add(key)
        if amount is not None:
            ft.products.setdefault(pid, []).append(FareProduct(pid, amount, rider, media,
                                                               r.get("fare_product_name", "")))


def _networks(ctx: _Ctx, tables, ft: FareTables, routes: set[str]) -> None:
    if _need(ctx, tables, "networks", ("network_id",)):
        for row, r in _rows(tables, "networks"):
            nid = ctx.id(r.get("network_id", ""))
            if nid:
                ft.networks[nid] = r.get("network_name", "")
            else:
                ctx.add("error", "networks.txt", "network_id is required", row, "network_id")
    f = "route_networks.txt"
    if _need(ctx, tables, "route_networks", ("network_id", "route_id")):
        for row, r in _rows(tables, "route_networks"):
            nid = _ref(ctx, f, row, r, "network_id", ft.networks, "network", "networks.txt", required=True)
            rid = _ref(ctx, f, row, r, "route_id", routes, "route", "routes.txt", required=True)
            if rid in ft.route_network and ft.route_network[rid] != nid:
                ctx.add("error", f, f"route {r['route_id']!r} is in two networks", row, "route_id")
            elif nid and rid:
                ft.route_network[rid] = nid
    df = tables.get("routes")
    if df is not None and "network_id" in df.columns:  # the other way: routes.network_id
        if "route_networks" in tables:
            ctx.add("error", "routes.txt", "routes.network_id and route_networks.txt are both given: use one",
                    None, "network_id")
        for _, r in _rows(tables, "routes"):
            if r.get("network_id"):
                nid = ctx.id(r["network_id"])
                ft.route_network[ctx.id(r["route_id"])] = nid
                ft.networks.setdefault(nid, "")


def _areas(ctx: _Ctx, tables, ft: FareTables, stop_ids: set[str]) -> None:
    areas = ft.areas
    if _need(ctx, tables, "areas", ("area_id",)):
        for row, r in _rows(tables, "areas"):
            aid = ctx.id(r.get("area_id", ""))
            if aid:
                areas.add(aid)
            else:
                ctx.add("error", "areas.txt", "area_id is required", row, "area_id")
    f = "stop_areas.txt"
    members: dict[str, set[str]] = {}
    if _need(ctx, tables, "stop_areas", ("area_id", "stop_id")):
        for row, r in _rows(tables, "stop_areas"):
            aid = _ref(ctx, f, row, r, "area_id", areas, "area", "areas.txt", required=True)
            sid = _ref(ctx, f, row, r, "stop_id", stop_ids, "stop", "stops.txt", required=True)
            if aid and sid:
                members.setdefault(sid, set()).add(aid)
    ft.stop_areas = {s: frozenset(a) for s, a in members.items()}


def _timeframes(ctx: _Ctx, tables, ft: FareTables, service_dates) -> None:
    f = "timeframes.txt"
    if not _need(ctx, tables, "timeframes", ("timeframe_group_id", "service_id")):
        return
    for row, r in _rows(tables, "timeframes"):
        gid = ctx.id(r.get("timeframe_group_id", ""))
        sid = ctx.id(r.get("service_id", ""))
        if not gid or not sid:
            ctx.add("error", f, "timeframe_group_id and service_id are required", row,
                    "timeframe_group_id" if not gid else "service_id")
            continue
        if (r.get("start_time", "") == "") != (r.get("end_time", "") == ""):
            ctx.add("error", f, "start_time and end_time go together: give both or neither", row, "end_time")
            continue
        start = _time_s(ctx, f, row, r, "start_time", 0)
        end = _time_s(ctx, f, row, r, "end_time", 86400)
        if start is None or end is None:
            continue
        if end <= start:
            ctx.add("error", f, f"end_time {r.get('end_time')} is not after start_time {r.get('start_time')}", row,
                    "end_time")
            continue
        ft.timeframes.setdefault(gid, []).append(Timeframe(gid, start, end, sid))
        if sid not in ft.service_dates:
            dates = service_dates(sid) if service_dates is not None else None
            if dates is None:
                ctx.add("error", f, f"service_id {r['service_id']!r} refers to no service in calendar.txt or "
                                    f"calendar_dates.txt", row, "service_id")
            ft.service_dates[sid] = frozenset(dates or ())


def _leg_rules(ctx: _Ctx, tables, ft: FareTables) -> None:
    f = "fare_leg_rules.txt"
    if not _need(ctx, tables, "fare_leg_rules", ("fare_product_id",)):
        return
    areas = ft.areas
    ft.leg_rules_prioritised = "rule_priority" in tables["fare_leg_rules"].columns
    for row, r in _rows(tables, "fare_leg_rules"):
        pid = _ref(ctx, f, row, r, "fare_product_id", ft.products, "fare product", "fare_products.txt",
                   required=True)
        net = _ref(ctx, f, row, r, "network_id", ft.networks, "network", "networks.txt or routes.network_id")
        fa = _ref(ctx, f, row, r, "from_area_id", areas, "area", "areas.txt")
        ta = _ref(ctx, f, row, r, "to_area_id", areas, "area", "areas.txt")
        ftf = _ref(ctx, f, row, r, "from_timeframe_group_id", ft.timeframes, "timeframe group", "timeframes.txt")
        ttf = _ref(ctx, f, row, r, "to_timeframe_group_id", ft.timeframes, "timeframe group", "timeframes.txt")
        prio = _int(ctx, f, row, r, "rule_priority", lo=0)
        if pid in ft.products:
            ft.leg_rules.append(FareLegRule(pid, ctx.id(r.get("leg_group_id", "")), net, fa, ta, ftf, ttf,
                                            prio or 0))


def _transfer_rules(ctx: _Ctx, tables, ft: FareTables) -> None:
    f = "fare_transfer_rules.txt"
    if not _need(ctx, tables, "fare_transfer_rules", ("fare_transfer_type",)):
        return
    groups = {r.leg_group_id for r in ft.leg_rules if r.leg_group_id} | {f"{ft.namespace}:{ALL_LEGS}"}
    areas = ft.areas
    for row, r in _rows(tables, "fare_transfer_rules"):
        frm = _ref(ctx, f, row, r, "from_leg_group_id", groups, "leg group", "fare_leg_rules.txt")
        to = _ref(ctx, f, row, r, "to_leg_group_id", groups, "leg group", "fare_leg_rules.txt")
        count = _int(ctx, f, row, r, "transfer_count", lo=-1)
        if count == 0:
            ctx.add("error", f, "transfer_count 0 is not allowed: -1 (no limit) or at least 1", row,
                    "transfer_count")
        if count is not None and frm != to:
            ctx.add("error", f, "transfer_count is only allowed when from_leg_group_id equals to_leg_group_id", row,
                    "transfer_count")
        if count is None and frm and frm == to:
            ctx.add("error", f, "transfer_count is required when from_leg_group_id equals to_leg_group_id", row,
                    "transfer_count")
        limit = _int(ctx, f, row, r, "duration_limit", lo=1, what="a number of seconds")
        limit_type = _int(ctx, f, row, r, "duration_limit_type", allowed=(0, 1, 2, 3))
        if (limit is None) != (limit_type is None) and r.get("duration_limit", "") != "":
            ctx.add("error", f, "duration_limit needs duration_limit_type (0-3)", row, "duration_limit_type")
        kind = _int(ctx, f, row, r, "fare_transfer_type", required=True, allowed=(0, 1, 2))
        pid = _ref(ctx, f, row, r, "fare_product_id", ft.products, "fare product", "fare_products.txt")
        area = _ref(ctx, f, row, r, "transfer_area_id", areas, "area", "areas.txt")
        if kind is not None:
            ft.transfer_rules.append(FareTransferRule(frm, to, count, limit, limit_type, kind, pid, area))


def _distance_bands(ctx: _Ctx, tables, ft: FareTables) -> None:
    f = "fare_distance_bands.txt"
    if not _need(ctx, tables, "fare_distance_bands", ("min_km", "max_km", "fare_product_id")):
        return
    for row, r in _rows(tables, "fare_distance_bands"):
        net = _ref(ctx, f, row, r, "network_id", ft.networks, "network", "networks.txt or routes.network_id")
        lo = _int(ctx, f, row, r, "min_km", required=True, lo=0, what="a whole number of km")
        hi = _int(ctx, f, row, r, "max_km", required=True, lo=0, what="a whole number of km")
        pid = _ref(ctx, f, row, r, "fare_product_id", ft.products, "fare product", "fare_products.txt",
                   required=True)
        if lo is not None and hi is not None and hi < lo:
            ctx.add("error", f, f"max_km {hi} is below min_km {lo}", row, "max_km")
            continue
        clash = next((b for b in ft.distance_bands if b.network_id == net and lo is not None and hi is not None
                      and not (hi < b.min_km or lo > b.max_km)), None)
        if clash is not None:
            ctx.add("error", f, f"the band {lo}-{hi} km overlaps {clash.min_km}-{clash.max_km} km", row, "min_km")
            continue
        if lo is not None and hi is not None and pid in ft.products:
            ft.distance_bands.append(DistanceBand(net, lo, hi, pid))
    ft.distance_bands.sort(key=lambda b: (b.network_id, b.min_km))


def fare_coverage_gaps(ft: FareTables, route_ids: list[str]) -> list[str]:
    """Routes no fare of the feed can price (v1 rules name other routes, no v2 rule or band for their network)."""
    if ft.has_v2:
        nets_ruled = {r.network_id for r in ft.leg_rules} | {b.network_id for b in ft.distance_bands}
        if "" in nets_ruled:
            return []
        return [r for r in route_ids if ft.route_network.get(r, "") not in nets_ruled]
    if not ft.has_v1:
        return list(route_ids)
    if not ft.rules or any(not r.route_id for r in ft.rules):
        return []  # a fare without route rules applies to every route
    covered = {r.route_id for r in ft.rules}
    return [r for r in route_ids if r not in covered]
