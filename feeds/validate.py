"""GTFS validation on raw string tables: every problem a publisher must fix, located by file, row and field.

Runs before normalisation so a bad feed is rejected whole (nothing half-loaded). Tables are the all-string frames
of `feeds.gtfs.read_tables` (``""`` for an empty cell, index = data row - 1). Every check is vectorised; repeated
problems of one kind are capped at `limit` rows plus one summary line with the full count.

Decisions: a trip whose service never runs is a *warning* (its trips are dead but harmless, and real feeds carry
such leftovers); an unknown enum value in an optional column (wheelchair, pickup type...) is a warning and reads as
the default; anything that would make a journey wrong (times backwards, dangling ids, bad coordinates) is an error.
"""
from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from feeds.problems import ValidationReport
from feeds.geo import EARTH_RADIUS_M
from feeds.neighbours import isolated

if TYPE_CHECKING:
    import pandas as pd

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_STOP_SEQUENCE = 2**31 - 1  # routing.timetable keeps st_seq as int32; larger would wrap silently

REQUIRED_FILES = ("agency", "stops", "routes", "trips", "stop_times")

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency": ("agency_name", "agency_url", "agency_timezone"),
    "stops": ("stop_id", "stop_name", "stop_lat", "stop_lon"),
    "routes": ("route_id", "route_type"),
    "trips": ("route_id", "service_id", "trip_id"),
    "stop_times": ("trip_id", "stop_id", "stop_sequence", "arrival_time", "departure_time"),
    "calendar": ("service_id", *WEEKDAYS, "start_date", "end_date"),
    "calendar_dates": ("service_id", "date", "exception_type"),
    "frequencies": ("trip_id", "start_time", "end_time", "headway_secs"),
    "transfers": ("from_stop_id", "to_stop_id", "transfer_type"),
    "shapes": ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
    "booking_rules": ("booking_rule_id", "booking_type"),
    "translations": ("table_name", "field_name", "language", "translation"),
    "fare_attributes": ("fare_id", "price", "currency_type", "payment_method", "transfers"),
    "fare_rules": ("fare_id",),
}

VALID_ROUTE_TYPES = frozenset(range(8)) | {11, 12}  # plus the extended 100-1799 range
FAR_STOP_KM = 100.0
DEFAULT_LIMIT = 10

_TIME_RE = r"[0-9]{1,3}:[0-5][0-9]:[0-5][0-9]"


# --------------------------------------------------------------------------- parsing (shared with feeds/gtfs.py)

def _per_unique(values: pd.Series, parse) -> tuple[np.ndarray, np.ndarray]:
    """Apply a (value array, bad mask) parser to the distinct strings only: 1.2M stop times hold ~3k distinct values."""
    import pandas as pd

    codes, uniques = pd.factorize(values.fillna("").astype(str), use_na_sentinel=False)
    out, bad = parse(pd.Series(np.asarray(uniques, dtype=object), dtype=str))
    return out[codes], bad[codes]


def _parse_times_unique(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    s = s.str.strip()
    empty = (s == "").to_numpy(dtype=bool)
    ok = s.str.fullmatch(_TIME_RE).to_numpy(dtype=bool)
    out = np.full(len(s), np.nan)
    if ok.any():
        fixed = s[ok].str.zfill(9).to_numpy().astype("S9")
        d = np.frombuffer(fixed.tobytes(), dtype=np.uint8).reshape(-1, 9).astype(np.int32) - 48
        out[ok] = ((d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]) * 3600 + (d[:, 4] * 10 + d[:, 5]) * 60
                   + d[:, 7] * 10 + d[:, 8])
    return out, ~ok & ~empty


def parse_times(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """GTFS ``H:MM:SS`` (hours may pass 24) → float seconds (NaN when empty) and a mask of unparseable cells."""
    return _per_unique(values, _parse_times_unique)


def _parse_numbers_unique(s: pd.Series, integer: bool) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    s = s.str.strip()
    empty = (s == "").to_numpy(dtype=bool)
    num = pd.to_numeric(s.where(~empty, None), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = (np.isnan(num) & ~empty) | np.isinf(num)
    if integer:
        bad |= ~np.isnan(num) & (np.floor(num) != num)
    return np.where(bad, np.nan, num), bad


def parse_numbers(values: pd.Series, integer: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Numbers → float array (NaN when empty) and a mask of cells that are not a (whole) number."""
    return _per_unique(values, lambda s: _parse_numbers_unique(s, integer))


def parse_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``YYYYMMDD`` → datetime64 Series (NaT when empty or bad) and a mask of unparseable cells."""
    import pandas as pd

    s = values.astype(str).str.strip()
    empty = (s == "").to_numpy(dtype=bool)
    shaped = s.str.fullmatch("[0-9]{8}").to_numpy(dtype=bool)
    out = pd.to_datetime(s.where(shaped, None), format="%Y%m%d", errors="coerce")
    return pd.Series(out, index=values.index), ~empty & pd.isna(out)


# --------------------------------------------------------------------------- reporting helpers

@dataclass
class RowFlagger:
    """The report plus the cap; `flag` adds one problem per row up to the cap, then a summary with the count."""

    report: ValidationReport
    limit: int

    def flag(self, severity: str, file: str, df: pd.DataFrame, mask, describe: Callable[[pd.Series], str],
             field: str | None = None) -> int:
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        if not n:
            return 0
        hits = df[mask]
        add = self.report.error if severity == "error" else self.report.warning
        for idx, row in hits.head(self.limit).iterrows():
            add(file, describe(row), row=int(idx) + 1, field=field)
        if n > self.limit:
            add(file, f"... and {n - self.limit} more rows like the above ({n} in all): "
                      f"{describe(hits.iloc[self.limit])}", field=field)
        return n


def _cols(tables: dict[str, pd.DataFrame], name: str) -> set[str]:
    return set(tables[name].columns) if name in tables else set()


def _usable(tables: dict[str, pd.DataFrame], usable: set[str], name: str, *cols: str) -> bool:
    return name in usable and set(cols) <= _cols(tables, name)


# --------------------------------------------------------------------------- the checks

def validate_tables(tables: dict[str, pd.DataFrame], feed: str, report: ValidationReport | None = None,
                    limit: int = DEFAULT_LIMIT) -> ValidationReport:
    """Check raw string tables (file stem → frame; absent = file missing) and return the report."""
    report = report if report is not None else ValidationReport(feed)
    ctx = RowFlagger(report, limit)
    usable = _check_files(tables, ctx)
    ids = _check_ids(tables, usable, ctx)
    _check_agency(tables, usable, ctx)
    _check_stops(tables, usable, ctx, ids)
    _check_routes(tables, usable, ctx, ids)
    _check_calendar(tables, usable, ctx)
    _check_trips(tables, usable, ctx, ids)
    _check_stop_times(tables, usable, ctx, ids)
    _check_frequencies(tables, usable, ctx, ids)
    _check_transfers(tables, usable, ctx, ids)
    _check_shapes(tables, usable, ctx)
    _check_booking_rules(tables, usable, ctx, ids)
    _check_fares(tables, usable, ctx, ids)
    return report


def _check_files(tables: dict[str, pd.DataFrame], ctx: RowFlagger) -> set[str]:
    """Required files present and non-empty, required columns present; returns the tables fit for row checks."""
    import pandas as pd

    rep = ctx.report
    for name in REQUIRED_FILES:
        if name not in tables:
            if name == "stop_times":
                rep.error("stop_times.txt", "stop_times.txt is missing: the feed has no timetable (no trip calls at "
                                            "any stop), so nothing in it can be routed; publish stop_times.txt")
            else:
                rep.error(f"{name}.txt", f"{name}.txt is missing: it is required by GTFS")
        elif len(tables[name].columns) == 0:
            rep.error(f"{name}.txt", f"{name}.txt is empty (0 bytes, not even a header): it is required by GTFS")
        elif tables[name].empty:
            what = "the feed has no timetable" if name == "stop_times" else "it is required by GTFS"
            rep.error(f"{name}.txt", f"{name}.txt has a header but no rows: {what}")
    if "calendar" not in tables and "calendar_dates" not in tables:
        rep.error("calendar.txt", "calendar.txt and calendar_dates.txt are both missing: no service has any day")
    elif all(tables.get(n, pd.DataFrame()).empty for n in ("calendar", "calendar_dates")):
        rep.error("calendar.txt", "calendar.txt and calendar_dates.txt have no rows: no service has any day")
    usable = set()
    for name, df in tables.items():
        if len(df.columns) == 0:
            if name not in REQUIRED_FILES:
                rep.warning(f"{name}.txt", f"{name}.txt is empty (0 bytes): ignored")
            continue
        missing = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in df.columns]
        if name == "translations" and {"trans_id", "lang", "translation"} <= set(df.columns):
            missing = []  # GTFS-JP v1 form, keyed by the Japanese text
        for col in missing:
            rep.error(f"{name}.txt", f"required column {col} is missing (header: {', '.join(df.columns)})",
                      field=col)
        if not missing:
            usable.add(name)
    return usable


def _check_ids(tables, usable, ctx) -> dict[str, pd.Index]:
    """Empty and duplicate primary keys; returns the set of ids of each kind for the reference checks."""
    import pandas as pd

    keys = {"agency": ("agency_id",), "stops": ("stop_id",), "routes": ("route_id",), "trips": ("trip_id",),
            "calendar": ("service_id",), "calendar_dates": ("service_id", "date"),
            "shapes": ("shape_id", "shape_pt_sequence"), "booking_rules": ("booking_rule_id",),
            "fare_attributes": ("fare_id",), "stop_times": ("trip_id", "stop_sequence")}
    ids: dict[str, pd.Index] = {}
    for name, key in keys.items():
        if not _usable(tables, usable, name, *key):
            continue
        df = tables[name]
        if name == "agency" and len(df) > 1:
            ctx.flag("error", "agency.txt", df, df["agency_id"] == "",
                     lambda r: "agency_id is empty: it is required when the feed has several agencies",
                     "agency_id")
        elif name != "agency":  # the other key parts (dates, sequences) are checked with their values
            ctx.flag("error", f"{name}.txt", df, df[key[0]] == "", lambda r, c=key[0]: f"{c} is empty", key[0])
        if name == "stop_times":
            continue  # (trip_id, stop_sequence) duplicates are reported with numeric sequences below
        dup = df.duplicated(list(key), keep="first").to_numpy()
        ctx.flag("error", f"{name}.txt", df, dup,
                 lambda r, k=key: "duplicate " + ", ".join(f"{c} {r[c]!r}" for c in k), key[0])
    for name, col in (("agency", "agency_id"), ("stops", "stop_id"), ("routes", "route_id"),
                      ("trips", "trip_id"), ("booking_rules", "booking_rule_id"), ("fare_attributes", "fare_id"),
                      ("shapes", "shape_id")):
        if _usable(tables, usable, name, col):
            ids[name] = pd.Index(tables[name][col].unique())
    services = [tables[n]["service_id"] for n in ("calendar", "calendar_dates") if _usable(tables, usable, n, "service_id")]
    if services:
        ids["services"] = pd.Index(pd.concat(services).unique())
    return ids


def _dangling(ctx, tables, child, col, parent_ids: pd.Index | None, parent_file: str, what: str,
              severity: str = "error") -> None:
    if col not in _cols(tables, child):
        return
    if parent_ids is None and parent_file.split(".")[0] in (*REQUIRED_FILES, "calendar"):
        return  # the missing (or unreadable) required file is already an error; don't repeat it per row
    df = tables[child]
    vals = df[col]
    mask = (vals != "").to_numpy() & (~vals.isin(parent_ids).to_numpy() if parent_ids is not None else True)
    missing_file = "" if parent_ids is not None else f" ({parent_file} is missing)"
    ctx.flag(severity, f"{child}.txt", df, mask,
             lambda r: f"{col} {r[col]!r} refers to no {what} in {parent_file}{missing_file}", col)


def _enum(ctx, tables, name, col, allowed, severity="warning", note="read as the default") -> np.ndarray | None:
    """Parse an optional small-integer column; values outside `allowed` are flagged. Returns the floats."""
    if col not in _cols(tables, name):
        return None
    df = tables[name]
    num, bad = parse_numbers(df[col], integer=True)
    out = ~np.isnan(num) & ~np.isin(num, list(allowed))
    ctx.flag(severity, f"{name}.txt", df, bad | out,
             lambda r: f"{col} {r[col]!r} is not one of {sorted(allowed)}" + (f": {note}" if severity == "warning"
                                                                                else ""), col)
    return num


def _is_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return bool(name)


def _check_agency(tables, usable, ctx) -> None:
    if not _usable(tables, usable, "agency", "agency_timezone"):
        return
    df = tables["agency"]
    tz = df["agency_timezone"].str.strip()
    known = [z for z in tz.unique() if _is_timezone(z)]
    ctx.flag("error", "agency.txt", df, ~tz.isin(known).to_numpy(),
             lambda r: f"agency_timezone {r['agency_timezone']!r} is not an IANA time zone (e.g. Asia/Tokyo)",
             "agency_timezone")
    if len(df) and (tz.nunique() > 1):
        ctx.report.error("agency.txt", "agencies of one feed must share one agency_timezone", field="agency_timezone")
    ctx.flag("warning", "agency.txt", df, (df["agency_name"].str.strip() == "").to_numpy(),
             lambda r: "agency_name is empty", "agency_name")


def _check_stops(tables, usable, ctx, ids) -> None:
    if "stops" not in usable:
        return
    df = tables["stops"]
    lt = _enum(ctx, tables, "stops", "location_type", range(5), "error")
    lt = np.zeros(len(df)) if lt is None else np.nan_to_num(lt)
    needs_coords = lt <= 2
    lat, bad_lat = parse_numbers(df["stop_lat"])
    lon, bad_lon = parse_numbers(df["stop_lon"])
    for col, val, bad, bound in (("stop_lat", lat, bad_lat, 90), ("stop_lon", lon, bad_lon, 180)):
        ctx.flag("error", "stops.txt", df, bad, lambda r, c=col: f"{c} {r[c]!r} is not a number", col)
        out = ~np.isnan(val) & (np.abs(val) > bound)
        ctx.flag("error", "stops.txt", df, out, lambda r, c=col, b=bound: f"{c} {r[c]} is out of range ±{b}", col)
        ctx.flag("error", "stops.txt", df, needs_coords & (df[col] == "").to_numpy(),
                 lambda r, c=col: f"{c} is empty: stops, stations and entrances need coordinates", col)
    ctx.flag("warning", "stops.txt", df, needs_coords & (df["stop_name"].str.strip() == "").to_numpy(),
             lambda r: f"stop {r['stop_id']!r} has no stop_name", "stop_name")
    _enum(ctx, tables, "stops", "wheelchair_boarding", range(3))
    _dangling(ctx, tables, "stops", "parent_station", ids.get("stops"), "stops.txt", "stop")
    if "parent_station" in df.columns:
        entrance = (lt >= 2) & (df["parent_station"] == "").to_numpy()
        ctx.flag("error", "stops.txt", df, entrance,
                 lambda r: f"stop {r['stop_id']!r} (location_type {r['location_type']}) needs a parent_station",
                 "parent_station")
    good = ~np.isnan(lat) & ~np.isnan(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    if good.sum() >= 3:
        far = np.zeros(len(df), bool)
        far[good] = far_from_others(lat[good], lon[good], FAR_STOP_KM)
        ctx.flag("warning", "stops.txt", df, far,
                 lambda r: f"stop {r['stop_id']!r} at ({r['stop_lat']}, {r['stop_lon']}) is more than "
                           f"{FAR_STOP_KM:.0f} km from any other stop of the feed: wrong or swapped coordinates?",
                 "stop_lat")


def far_from_others(lat: np.ndarray, lon: np.ndarray, km: float) -> np.ndarray:
    """True for each point more than ``km`` from every other (chord on unit-sphere vectors, exact on a grid)."""
    la, lo = np.radians(lat), np.radians(lon)
    xyz = np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])
    return isolated(xyz, 2 * np.sin(min(km * 1000 / (2 * EARTH_RADIUS_M), np.pi / 2)))


def _check_routes(tables, usable, ctx, ids) -> None:
    import pandas as pd

    if "routes" not in usable:
        return
    df = tables["routes"]
    rt, bad = parse_numbers(df["route_type"], integer=True)
    valid = np.isin(rt, list(VALID_ROUTE_TYPES)) | ((rt >= 100) & (rt < 1800))
    ctx.flag("error", "routes.txt", df, bad | (df["route_type"].str.strip() == "").to_numpy() |
             (~np.isnan(rt) & ~valid),
             lambda r: f"route_type {r['route_type']!r} is not a GTFS route type (0-7, 11, 12 or 100-1799)",
             "route_type")
    if "agency_id" in df.columns and "agency" in ids:
        agencies = tables["agency"]
        if len(agencies) > 1:
            ctx.flag("error", "routes.txt", df, (df["agency_id"] == "").to_numpy(),
                     lambda r: "agency_id is empty: required when the feed has several agencies", "agency_id")
        _dangling(ctx, tables, "routes", "agency_id", ids["agency"], "agency.txt", "agency")
    for col in ("route_color", "route_text_color"):
        if col in df.columns:
            c = df[col].str.strip().str.lstrip("#")
            ctx.flag("warning", "routes.txt", df, ((c != "") & ~c.str.fullmatch("[0-9A-Fa-f]{6}")).to_numpy(),
                     lambda r, k=col: f"{k} {r[k]!r} is not a 6-digit hex colour: ignored", col)
    names = pd.Series("", index=df.index)
    for col in ("route_short_name", "route_long_name"):
        if col in df.columns:
            names = names + df[col].str.strip()
    ctx.flag("warning", "routes.txt", df, (names == "").to_numpy(),
             lambda r: f"route {r['route_id']!r} has neither route_short_name nor route_long_name", "route_long_name")


def service_day_counts(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """Number of days each service runs (calendar weekdays in range - removed + added), by raw service_id."""
    import pandas as pd

    frames = []
    if "calendar" in tables and len(tables["calendar"]):
        cal = tables["calendar"]
        start, _ = parse_dates(cal["start_date"])
        end, _ = parse_dates(cal["end_date"])
        days = np.stack([parse_numbers(cal[d], integer=True)[0] == 1 for d in WEEKDAYS], axis=1)
        valid = (start.notna() & end.notna()).to_numpy()
        n = np.zeros(len(cal), dtype=np.int64)
        s64 = start.to_numpy(dtype="datetime64[D]")
        e64 = end.to_numpy(dtype="datetime64[D]")
        masks = days.astype(np.int8) @ (1 << np.arange(7))
        for m in np.unique(masks[valid]):
            if m == 0:
                continue
            sel = valid & (masks == m)
            wm = [bool(m >> i & 1) for i in range(7)]
            n[sel] = np.busday_count(s64[sel], e64[sel] + np.timedelta64(1, "D"), weekmask=wm)
        frames.append(pd.Series(n, index=cal["service_id"].to_numpy()))
        cal_range = pd.DataFrame({"service_id": cal["service_id"].to_numpy(), "start": s64, "end": e64,
                                  "mask": masks})
    else:
        cal_range = pd.DataFrame({"service_id": pd.Series([], dtype=str),
                                  "start": np.array([], dtype="datetime64[D]"),
                                  "end": np.array([], dtype="datetime64[D]"), "mask": np.array([], dtype=np.int64)})
    if "calendar_dates" in tables and len(tables["calendar_dates"]):
        cd = tables["calendar_dates"].drop_duplicates(["service_id", "date"])
        date, _ = parse_dates(cd["date"])
        et, _ = parse_numbers(cd["exception_type"], integer=True)
        added = cd["service_id"][(et == 1) & date.notna().to_numpy()]
        frames.append(pd.Series(1, index=added.to_numpy()))
        removed = pd.DataFrame({"service_id": cd["service_id"].to_numpy(),
                                "date": date.to_numpy(dtype="datetime64[D]")})[(et == 2) & date.notna().to_numpy()]
        hit = removed.merge(cal_range, on="service_id")
        if len(hit):
            wd = hit["date"].dt.day_of_week.to_numpy().astype(np.int64)
            inside = ((hit["date"] >= hit["start"]) & (hit["date"] <= hit["end"])).to_numpy(copy=True)
            inside &= ((hit["mask"].to_numpy().astype(np.int64) >> wd) & 1) == 1
            frames.append(pd.Series(-1, index=hit["service_id"][inside].to_numpy()))
        frames.append(pd.Series(0, index=cd["service_id"].unique()))
    if not frames:
        return pd.Series([], dtype=np.int64)
    return pd.concat(frames).groupby(level=0).sum()


def _check_calendar(tables, usable, ctx) -> None:
    if "calendar" in usable:
        df = tables["calendar"]
        for d in WEEKDAYS:
            _enum(ctx, tables, "calendar", d, (0, 1), "error")
        start, bad_s = parse_dates(df["start_date"])
        end, bad_e = parse_dates(df["end_date"])
        for col, bad in (("start_date", bad_s), ("end_date", bad_e)):
            ctx.flag("error", "calendar.txt", df, bad | (df[col].str.strip() == "").to_numpy(),
                     lambda r, c=col: f"{c} {r[c]!r} is not a date YYYYMMDD", col)
        ctx.flag("error", "calendar.txt", df, (end < start).to_numpy(),
                 lambda r: f"end_date {r['end_date']} is before start_date {r['start_date']}", "end_date")
    if "calendar_dates" in usable:
        df = tables["calendar_dates"]
        _, bad = parse_dates(df["date"])
        ctx.flag("error", "calendar_dates.txt", df, bad | (df["date"].str.strip() == "").to_numpy(),
                 lambda r: f"date {r['date']!r} is not a date YYYYMMDD", "date")
        et = _enum(ctx, tables, "calendar_dates", "exception_type", (1, 2), "error")
        ctx.flag("error", "calendar_dates.txt", df, np.isnan(et) & (df["exception_type"].str.strip() == "").to_numpy(),
                 lambda r: "exception_type is empty (1 = added, 2 = removed)", "exception_type")


def _check_trips(tables, usable, ctx, ids) -> None:
    if "trips" not in usable:
        return
    df = tables["trips"]
    _dangling(ctx, tables, "trips", "route_id", ids.get("routes"), "routes.txt", "route")
    _dangling(ctx, tables, "trips", "service_id", ids.get("services"), "calendar.txt or calendar_dates.txt", "service")
    if "shape_id" in df.columns:
        _dangling(ctx, tables, "trips", "shape_id", ids.get("shapes"), "shapes.txt", "shape")
    _enum(ctx, tables, "trips", "direction_id", (0, 1))
    _enum(ctx, tables, "trips", "wheelchair_accessible", range(3))
    if "seat_capacity" in df.columns:
        cap, bad = parse_numbers(df["seat_capacity"], integer=True)
        ctx.flag("error", "trips.txt", df, bad | (cap < 0),
                 lambda r: f"seat_capacity {r['seat_capacity']!r} is not a whole number of seats >= 0",
                 "seat_capacity")
    days = service_day_counts({k: tables[k] for k in ("calendar", "calendar_dates") if k in usable})
    dead_services = days.index[days <= 0]
    dead = df["service_id"].isin(dead_services).to_numpy()
    if dead.any():
        per = df.loc[dead, "service_id"].value_counts()
        for sid, n in per.head(ctx.limit).items():
            ctx.report.warning("trips.txt", f"service {sid!r} has no service days: its {n} trip(s) never run",
                               field="service_id")
        if len(per) > ctx.limit:
            ctx.report.warning("trips.txt", f"... and {len(per) - ctx.limit} more services with no service days",
                               field="service_id")


def _check_stop_times(tables, usable, ctx, ids) -> None:
    import pandas as pd

    if "stop_times" not in usable:
        return
    st = tables["stop_times"]
    F = "stop_times.txt"
    _dangling(ctx, tables, "stop_times", "trip_id", ids.get("trips"), "trips.txt", "trip")
    _dangling(ctx, tables, "stop_times", "stop_id", ids.get("stops"), "stops.txt", "stop")
    for col in ("pickup_booking_rule_id", "drop_off_booking_rule_id"):
        _dangling(ctx, tables, "stop_times", col, ids.get("booking_rules"), "booking_rules.txt", "booking rule")
    _enum(ctx, tables, "stop_times", "pickup_type", range(4))
    _enum(ctx, tables, "stop_times", "drop_off_type", range(4))
    _enum(ctx, tables, "stop_times", "timepoint", (0, 1))
    seq, bad_seq = parse_numbers(st["stop_sequence"], integer=True)
    ctx.flag("error", F, st, bad_seq | (seq < 0) | (st["stop_sequence"].str.strip() == "").to_numpy(),
             lambda r: f"stop_sequence {r['stop_sequence']!r} is not a whole number >= 0", "stop_sequence")
    ctx.flag("error", F, st, ~bad_seq & (seq > MAX_STOP_SEQUENCE),
             lambda r: f"stop_sequence {r['stop_sequence']} is beyond {MAX_STOP_SEQUENCE} (a 32-bit integer, as the "
                       f"model and seat bookings keep it)", "stop_sequence")
    arr, bad_a = parse_times(st["arrival_time"])
    dep, bad_d = parse_times(st["departure_time"])
    ctx.flag("error", F, st, bad_a, lambda r: f"arrival_time {r['arrival_time']!r} is not a time H:MM:SS",
             "arrival_time")
    ctx.flag("error", F, st, bad_d, lambda r: f"departure_time {r['departure_time']!r} is not a time H:MM:SS",
             "departure_time")
    if "shape_dist_traveled" in st.columns:
        _, bad = parse_numbers(st["shape_dist_traveled"])
        ctx.flag("error", F, st, bad, lambda r: f"shape_dist_traveled {r['shape_dist_traveled']!r} is not a number",
                 "shape_dist_traveled")
    arr = np.where(np.isnan(arr), dep, arr)
    dep = np.where(np.isnan(dep), arr, dep)
    ctx.flag("error", F, st, dep < arr,
             lambda r: f"trip {r['trip_id']!r} leaves stop {r['stop_id']!r} at {r['departure_time']}, before it "
                       f"arrives at {r['arrival_time']}", "departure_time")

    # Per-trip order: sort by (trip, sequence) keeping the file row in the index.
    trip_codes, trip_uniques = pd.factorize(st["trip_id"])
    order = np.lexsort((np.nan_to_num(seq, nan=-1), trip_codes))
    t = trip_codes[order]
    s = seq[order]
    a, d = arr[order], dep[order]
    same = np.zeros(len(t), dtype=bool)
    same[1:] = t[1:] == t[:-1]
    first = ~same
    last = np.ones(len(t), dtype=bool)
    last[:-1] = ~same[1:]
    sorted_st = st.iloc[order]
    dup = same.copy()
    dup[1:] &= s[1:] == s[:-1]
    ctx.flag("error", F, sorted_st, dup & ~np.isnan(s),
             lambda r: f"trip {r['trip_id']!r} has stop_sequence {r['stop_sequence']} twice", "stop_sequence")
    timed = ~np.isnan(a)
    ctx.flag("error", F, sorted_st, (first | last) & ~timed,
             lambda r: f"trip {r['trip_id']!r}: the first and last stop of a trip must have arrival and departure "
                       f"times (stop_sequence {r['stop_sequence']} has none)", "arrival_time")
    prev_dep = np.array(pd.Series(np.where(timed, d, np.nan)).shift(1))
    prev_dep[first] = np.nan
    prev_dep = pd.Series(prev_dep).groupby(t).ffill().to_numpy()
    back = timed & same & (a < prev_dep)
    ctx.flag("error", F, sorted_st, back,
             lambda r: f"trip {r['trip_id']!r} arrives at stop {r['stop_id']!r} (stop_sequence "
                       f"{r['stop_sequence']}) at {r['arrival_time'] or r['departure_time']}, before it left the "
                       f"previous stop: times go backwards", "arrival_time")
    prev_timed = np.zeros(len(t), dtype=bool)
    prev_timed[1:] = timed[:-1]
    zero = same & timed & prev_timed & ~back
    zero[1:] &= a[1:] == d[:-1]
    n_zero = int(zero.sum())
    if n_zero:
        hops = int(same.sum())
        ex = sorted_st[zero].iloc[0]
        ctx.report.warning(F, f"{n_zero} of {hops} hops take 0 seconds (e.g. trip {ex['trip_id']!r} to stop_sequence "
                              f"{ex['stop_sequence']}): times are probably rounded to the minute", field="arrival_time")
    if "trips" in ids:
        counts = pd.Series(trip_codes).value_counts()
        per_trip = pd.Series(counts.to_numpy(), index=trip_uniques[counts.index.to_numpy()])
        trips = tables["trips"]
        n = trips["trip_id"].map(per_trip).fillna(0).astype(int).to_numpy()
        ctx.flag("error", "trips.txt", trips, n < 2,
                 lambda r: f"trip {r['trip_id']!r} has {int(per_trip.get(r['trip_id'], 0))} stop time(s): a trip "
                           f"needs at least 2", "trip_id")


def _check_frequencies(tables, usable, ctx, ids) -> None:
    if "frequencies" not in usable:
        return
    df = tables["frequencies"]
    _dangling(ctx, tables, "frequencies", "trip_id", ids.get("trips"), "trips.txt", "trip")
    start, bad_s = parse_times(df["start_time"])
    end, bad_e = parse_times(df["end_time"])
    head, bad_h = parse_numbers(df["headway_secs"], integer=True)
    for col, bad, val in (("start_time", bad_s, start), ("end_time", bad_e, end)):
        ctx.flag("error", "frequencies.txt", df, bad | np.isnan(val), lambda r, c=col: f"{c} {r[c]!r} is not a time",
                 col)
    ctx.flag("error", "frequencies.txt", df, end <= start,
             lambda r: f"end_time {r['end_time']} is not after start_time {r['start_time']}", "end_time")
    ctx.flag("error", "frequencies.txt", df, bad_h | ~(head > 0),
             lambda r: f"headway_secs {r['headway_secs']!r} is not a whole number of seconds > 0", "headway_secs")
    _enum(ctx, tables, "frequencies", "exact_times", (0, 1))


def _check_transfers(tables, usable, ctx, ids) -> None:
    if "transfers" not in usable:
        return
    df = tables["transfers"]
    for col in ("from_stop_id", "to_stop_id"):
        _dangling(ctx, tables, "transfers", col, ids.get("stops"), "stops.txt", "stop")
    for col in ("from_trip_id", "to_trip_id"):
        _dangling(ctx, tables, "transfers", col, ids.get("trips"), "trips.txt", "trip")
    for col in ("from_route_id", "to_route_id"):
        _dangling(ctx, tables, "transfers", col, ids.get("routes"), "routes.txt", "route")
    _enum(ctx, tables, "transfers", "transfer_type", range(6), "error")
    if "min_transfer_time" in df.columns:
        mt, bad = parse_numbers(df["min_transfer_time"], integer=True)
        ctx.flag("error", "transfers.txt", df, bad | (mt < 0),
                 lambda r: f"min_transfer_time {r['min_transfer_time']!r} is not a whole number of seconds >= 0",
                 "min_transfer_time")


def _check_shapes(tables, usable, ctx) -> None:
    if "shapes" not in usable:
        return
    df = tables["shapes"]
    for col, bound in (("shape_pt_lat", 90), ("shape_pt_lon", 180)):
        v, bad = parse_numbers(df[col])
        ctx.flag("error", "shapes.txt", df, bad | np.isnan(v) | (np.abs(np.nan_to_num(v)) > bound),
                 lambda r, c=col: f"{c} {r[c]!r} is not a coordinate", col)
    _, bad = parse_numbers(df["shape_pt_sequence"], integer=True)
    ctx.flag("error", "shapes.txt", df, bad, lambda r: f"shape_pt_sequence {r['shape_pt_sequence']!r} is not a "
                                                       f"whole number", "shape_pt_sequence")


def _check_booking_rules(tables, usable, ctx, ids) -> None:
    if "booking_rules" not in usable:
        return
    df = tables["booking_rules"]
    bt = _enum(ctx, tables, "booking_rules", "booking_type", (0, 1, 2), "error")
    ctx.flag("error", "booking_rules.txt", df, np.isnan(bt),
             lambda r: "booking_type is empty (0 real time, 1 same day, 2 prior days)", "booking_type")
    for col in ("prior_notice_duration_min", "prior_notice_duration_max", "prior_notice_last_day",
                "prior_notice_start_day"):
        if col in df.columns:
            v, bad = parse_numbers(df[col], integer=True)
            ctx.flag("error", "booking_rules.txt", df, bad | (v < 0),
                     lambda r, c=col: f"{c} {r[c]!r} is not a whole number >= 0", col)
    if "prior_notice_duration_min" in df.columns:
        v, _ = parse_numbers(df["prior_notice_duration_min"], integer=True)
        ctx.flag("error", "booking_rules.txt", df, (bt == 1) & np.isnan(v),
                 lambda r: "booking_type 1 (same day) needs prior_notice_duration_min", "prior_notice_duration_min")
    for col in ("prior_notice_last_time", "prior_notice_start_time"):
        if col in df.columns:
            _, bad = parse_times(df[col])
            ctx.flag("error", "booking_rules.txt", df, bad, lambda r, c=col: f"{c} {r[c]!r} is not a time", col)
    if "prior_notice_service_id" in df.columns:
        _dangling(ctx, tables, "booking_rules", "prior_notice_service_id", ids.get("services"),
                  "calendar.txt or calendar_dates.txt", "service")


def _check_fares(tables, usable, ctx, ids) -> None:
    if "fare_attributes" in usable:
        df = tables["fare_attributes"]
        price, bad = parse_numbers(df["price"])
        ctx.flag("error", "fare_attributes.txt", df, bad | np.isnan(price) | (price < 0),
                 lambda r: f"price {r['price']!r} is not an amount >= 0", "price")
        _enum(ctx, tables, "fare_attributes", "payment_method", (0, 1), "error")
        _enum(ctx, tables, "fare_attributes", "transfers", (0, 1, 2), "error")
    if "fare_rules" in usable:
        _dangling(ctx, tables, "fare_rules", "fare_id", ids.get("fare_attributes"), "fare_attributes.txt", "fare")
        _dangling(ctx, tables, "fare_rules", "route_id", ids.get("routes"), "routes.txt", "route", "warning")
