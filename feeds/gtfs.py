"""GTFS import: read a local zip or folder, validate, normalise to the typed, namespaced `Feed`.

Every file is read as plain strings (pandas C parser, UTF-8 with or without BOM, header names stripped) so that the
validator sees exactly what the publisher wrote: ids keep leading zeros, one bad cell becomes a located error instead
of a parser crash, and extension columns (``seat_capacity``, GTFS-Flex booking rule ids, GTFS-JP ``jp_*``) survive.
gtfs-kit's ``read_feed`` is not used for this: it types columns by their unstripped header, infers the dtype of every
non-standard column (``"01"`` → ``1``), raises on the first unparseable cell without naming the row, skips
``translations.txt``/``booking_rules.txt`` and cannot tell a missing file from a header-only one.
"""
from __future__ import annotations

import contextvars
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from feeds.fares import FARE_FILES, fare_coverage_gaps, parse_fares
from feeds.feed import WEEKDAYS, Feed, ns_id
from feeds.problems import FeedRejected, ValidationReport
from feeds.profile import PROFILE_FILE, OperatorProfile, parse_profile_bytes
from feeds.sellable import check_sellable_tables
from feeds.validate import parse_dates, parse_numbers, parse_times, validate_tables

if TYPE_CHECKING:
    import pandas as pd

KNOWN_FILES = frozenset({
    "agency", "stops", "routes", "trips", "stop_times", "calendar", "calendar_dates", "frequencies", "transfers",
    "shapes", "booking_rules", "translations", "feed_info", *FARE_FILES,
})
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_AGENCY = "agency"  # raw id given to the agency of a single-agency feed without agency_id


# --------------------------------------------------------------------------- feed specs and namespaces

def default_namespace(path: str | Path) -> str:
    """Namespace from the file name: ``/x/toei-rail-gtfs.zip`` → ``toei-rail`` (lower case, ``-gtfs`` dropped)."""
    name = Path(str(path).rstrip("/")).name
    stem = name[:-4] if name.lower().endswith(".zip") else name
    slug = re.sub(r"[^a-z0-9_.-]+", "-", stem.lower()).strip("-.")
    slug = re.sub(r"[-_.]gtfs$", "", slug) or slug
    if not slug or not _NAMESPACE.match(slug):
        raise ValueError(f"cannot derive a namespace from {path!r}: give one as NAMESPACE=PATH")
    return slug


def check_namespace(namespace: str) -> str:
    if not _NAMESPACE.match(namespace or ""):
        raise ValueError(f"namespace {namespace!r} must be letters, digits, '-', '_' or '.' (no ':'), "
                         f"e.g. toei-subway")
    return namespace


def parse_feed_spec(spec: str) -> tuple[str, Path]:
    """``"ns=path"`` → (ns, path); a bare path gets `default_namespace` of its file name."""
    head, sep, tail = spec.partition("=")
    if _URL.match(spec) or (sep and _URL.match(tail)):
        raise ValueError(f"feed spec {spec!r} is a URL: feeds are read from local files only; download it first")
    if sep and _NAMESPACE.match(head):
        return check_namespace(head), Path(tail)
    if sep and not head:
        raise ValueError(f"feed spec {spec!r} has an empty namespace: write NAMESPACE=PATH")
    return default_namespace(spec), Path(spec)


# --------------------------------------------------------------------------- reading

def _read_csv(raw: bytes, file: str, report: ValidationReport) -> pd.DataFrame | None:
    import pandas as pd

    if not raw or raw.isspace():
        return pd.DataFrame()
    try:
        df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_filter=False,
                         skip_blank_lines=True, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        report.error(file, f"{file} is not UTF-8 ({exc.reason} at byte {exc.start}): GTFS files must be UTF-8; "
                           f"re-save it as UTF-8")
        return None
    except (pd.errors.ParserError, ValueError) as exc:
        report.error(file, f"{file} is not valid CSV: {exc}".strip())
        return None
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    df = df.loc[:, ~pd.Index(df.columns).duplicated()]
    return df.fillna("")


def read_tables(path: str | Path, report: ValidationReport) -> dict[str, pd.DataFrame]:
    """All known GTFS files of a local zip or folder as string frames (file stem → frame); others are ignored.

    Read problems (not UTF-8, broken CSV, bad zip) go into `report`; such a file is left out.
    """
    path = Path(path)
    tables: dict[str, pd.DataFrame] = {}
    if path.is_dir():
        members = {p.stem: p for p in sorted(path.iterdir()) if p.is_file() and p.suffix == ".txt"}
        for stem, p in members.items():
            if stem in KNOWN_FILES:
                df = _read_csv(p.read_bytes(), p.name, report)
                if df is not None:
                    tables[stem] = df
        return tables
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        report.error(path.name, f"{path.name} is neither a zip file nor a folder of GTFS .txt files")
        return tables
    with zf:
        chosen: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            p = PurePosixPath(info.filename)
            if info.is_dir() or p.suffix != ".txt" or p.stem not in KNOWN_FILES or "__MACOSX" in p.parts:
                continue
            if p.stem not in chosen or len(p.parts) < len(PurePosixPath(chosen[p.stem].filename).parts):
                chosen[p.stem] = info  # a zip of a folder works too; the shallowest copy wins
        for stem, info in chosen.items():
            df = _read_csv(zf.read(info), f"{stem}.txt", report)
            if df is not None:
                tables[stem] = df
    return tables


# --------------------------------------------------------------------------- loading

TableCheck = Callable[["dict[str, pd.DataFrame]", ValidationReport], None]


def load_feed(path: str | Path, namespace: str | None = None, *, extra_checks: Sequence[TableCheck] = ()) -> Feed:
    """Read, validate and normalise one operator's GTFS feed; raise `FeedRejected` if it has any error.

    ``namespace`` prefixes every id (``ns:raw``); default: `default_namespace` of the path. Local paths only.
    ``extra_checks`` run on the raw tables after the GTFS checks (e.g. `feeds.shuttle.check_shuttle_tables`).
    """
    text = str(path)
    if _URL.match(text):
        raise ValueError(f"load_feed reads local files only, not URLs ({text}): download the feed first, "
                         f"then load the file")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"GTFS feed not found: {path}")
    namespace = check_namespace(namespace) if namespace else default_namespace(path)
    report = ValidationReport(namespace)
    tables = read_tables(path, report)
    validate_tables(tables, namespace, report)
    check_sellable_tables(tables, report)
    for check in extra_checks:
        check(tables, report)
    profile = read_profile(path, namespace, report)
    if not report.ok:
        raise FeedRejected(report)
    feed = normalise(tables, namespace, report)
    feed.profile = profile
    feed.fares = parse_fares(tables, namespace, report, feed.dates_of_service)
    if feed.timezone:  # else Tokyo's, the default zone of a feed without one
        feed.fares.timezone = feed.timezone
    _warn_fare_gaps(feed, report)
    if not report.ok:
        raise FeedRejected(report)
    return feed


def read_profile(path: Path, namespace: str, report: ValidationReport) -> OperatorProfile | None:
    """The operator profile shipped in the feed (``operator.json`` at its root), checked; None when absent."""
    raw = None
    if path.is_dir():
        f = path / PROFILE_FILE
        raw = f.read_bytes() if f.is_file() else None
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = sorted((n for n in zf.namelist() if PurePosixPath(n).name == PROFILE_FILE
                            and "__MACOSX" not in n), key=lambda n: n.count("/"))
            raw = zf.read(names[0]) if names else None
    return None if raw is None else parse_profile_bytes(raw, namespace, report)


def _warn_fare_gaps(feed: Feed, report: ValidationReport) -> None:
    """An operator selling at fares from its feed must price every route: the gaps are warnings."""
    spec = feed.profile.fares if feed.profile is not None else None
    if spec is not None and (spec.source != "feed" or spec.flat or spec.bands):
        return  # not from the feed, or the profile's flat fare / bands price what the feed does not
    if spec is None and feed.fares.empty:
        return  # no fares and no profile: plans say fare_unknown; nothing was promised
    gaps = fare_coverage_gaps(feed.fares, [str(r) for r in feed.routes["route_id"]])
    if gaps:
        shown = ", ".join(g.split(":", 1)[-1] for g in gaps[:10]) + (" ..." if len(gaps) > 10 else "")
        report.warning("fare_rules.txt" if not feed.fares.has_v2 else "fare_leg_rules.txt",
                       f"{len(gaps)} route(s) have no fare though fares come from the feed: {shown}; plans on "
                       f"them say fare_unknown", field="route_id")


def _s(df: pd.DataFrame, col: str, default: str = "") -> pd.Series:
    """A string column, or `default` everywhere when the file lacks it."""
    import pandas as pd

    if col in df.columns:
        return df[col].astype(str)
    return pd.Series(default, index=df.index, dtype=str)


# While `normalise` runs: every namespaced id made so far, so a trip id in trips, stop_times and transfers (or a stop
# id in stops, stop_times and transfers) is one string object, not one per table (all-Tokyo: ~15 MiB of copies)
_IDS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("feed_ids", default=None)


def _ns(df: pd.DataFrame, col: str, namespace: str, default: str = "", category: bool = False) -> pd.Series:
    """Namespaced id column; empty stays empty (no parent, no shape...). ``category``: a pandas Categorical
    (int codes into the sorted distinct ids) for the long tables a server keeps (stop_times, trips, shapes,
    transfers): one small int per row instead of one string reference per row (see `_cat`)."""
    import pandas as pd

    raw = _s(df, col, default)
    codes, uniques = pd.factorize(raw, use_na_sentinel=False, sort=category)  # prefix the few distinct ids
    u = pd.Series(np.asarray(uniques, dtype=object), dtype=str)
    prefixed = np.where(u == "", "", (namespace + ":" + u).to_numpy(dtype=object)).astype(object)
    memo = _IDS.get()
    if memo is not None:  # one string object per id across the feed's tables
        prefixed = np.array([memo.setdefault(v, v) for v in prefixed.tolist()], dtype=object)
    if category:  # "" sorts first and one prefix keeps the order: categories stay sorted like the strings
        return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(prefixed, dtype=str)),
                         index=df.index)
    return pd.Series(prefixed[codes] if len(codes) else np.array([], dtype=object), index=df.index, dtype=str)


def _cat(s: pd.Series) -> pd.Series:
    """A repetitive text column (headsigns) as a Categorical with sorted categories, so ordering, comparison,
    ``.str`` and ``astype(str)`` behave as on the strings while a row costs one small int."""
    import pandas as pd

    codes, uniques = pd.factorize(s.astype(str), use_na_sentinel=False, sort=True)
    return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=str)), index=s.index)


def _int(df: pd.DataFrame, col: str, default: int, dtype, valid=None) -> np.ndarray:
    """Small integer column with `default` for empty, missing or (when `valid` given) unknown values."""
    if col not in df.columns:
        return np.full(len(df), default, dtype=dtype)
    v, _ = parse_numbers(df[col], integer=True)
    if valid is not None:
        v = np.where(np.isin(v, list(valid)), v, np.nan)
    return np.where(np.isnan(v), default, v).astype(dtype)


def _float(df: pd.DataFrame, col: str) -> np.ndarray:
    return parse_numbers(df[col])[0] if col in df.columns else np.full(len(df), np.nan)


def normalise(tables: dict[str, pd.DataFrame], namespace: str, report: ValidationReport) -> Feed:
    """Validated string tables → `Feed` with the typed columns of docs/architecture.md and namespaced ids."""
    token = _IDS.set({})
    try:
        return _normalise(tables, namespace, report)
    finally:
        _IDS.reset(token)


def _normalise(tables: dict[str, pd.DataFrame], namespace: str, report: ValidationReport) -> Feed:
    import pandas as pd

    empty = pd.DataFrame()
    tr = tables.get("translations")
    agencies = _agencies(tables["agency"], namespace)
    stops = _stops(tables["stops"], namespace, tr, report)
    routes = _routes(tables["routes"], namespace, tr, str(agencies["agency_id"].iloc[0]))
    trips = _trips(tables["trips"], namespace, tr)
    stop_times = _stop_times(tables["stop_times"], namespace)
    calendar = _calendar(tables.get("calendar", empty), namespace)
    calendar_dates = _calendar_dates(tables.get("calendar_dates", empty), namespace)
    feed_info = tables["feed_info"].iloc[0].to_dict() if len(tables.get("feed_info", empty)) else {}
    return Feed(
        namespace=namespace,
        timezone=str(agencies["agency_timezone"].iloc[0]),
        report=report,
        agencies=agencies,
        stops=stops,
        routes=routes,
        trips=trips,
        stop_times=stop_times,
        calendar=calendar,
        calendar_dates=calendar_dates,
        frequencies=_frequencies(tables.get("frequencies", empty), namespace),
        transfers=_transfers(tables.get("transfers", empty), namespace),
        shapes=_shapes(tables.get("shapes", empty), namespace),
        booking_rules=_booking_rules(tables.get("booking_rules", empty), namespace),
        fare_attributes=_fare_attributes(tables.get("fare_attributes", empty), namespace),
        fare_rules=_fare_rules(tables.get("fare_rules", empty), namespace),
        feed_info=feed_info,
    )


def _agencies(df: pd.DataFrame, ns: str) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({
        "agency_id": _ns(df, "agency_id", ns).replace("", ns_id(ns, DEFAULT_AGENCY)),
        "agency_name": _s(df, "agency_name").str.strip(),
        "agency_url": _s(df, "agency_url").str.strip(),
        "agency_timezone": _s(df, "agency_timezone").str.strip(),
        "agency_lang": _s(df, "agency_lang").str.strip(),
    }).reset_index(drop=True)


def translate(tr: pd.DataFrame | None, table: str, field: str, languages: tuple[str, ...],
              ids: pd.Series, values: pd.Series) -> pd.Series:
    """Translations of one field, in every translations.txt form: keyed by ``record_id`` (GTFS), by
    ``field_value`` (GTFS-JP v2) or by ``trans_id`` (GTFS-JP v1, applies to every field).
    ``languages`` are lower-case tags; ``"en"`` also matches ``en-US``. "" where none."""
    import pandas as pd

    out = pd.Series("", index=ids.index, dtype=str)
    if tr is not None and "table_name" not in tr.columns and {"trans_id", "lang", "translation"} <= set(tr.columns):
        tr = pd.DataFrame({"table_name": table, "field_name": field, "language": tr["lang"],
                           "translation": tr["translation"], "field_value": tr["trans_id"]})  # GTFS-JP v1
    if tr is None or tr.empty or not {"table_name", "field_name", "language", "translation"} <= set(tr.columns):
        return out
    lang = tr["language"].str.strip().str.lower()
    pick = (tr["table_name"] == table) & (tr["field_name"] == field)
    pick &= lang.isin(languages) | lang.str.split("-").str[0].isin([x for x in languages if "-" not in x])
    rows = tr[pick]
    if rows.empty:
        return out
    rank = rows["language"].str.strip().str.lower().map({l: i for i, l in enumerate(languages)}).fillna(len(languages))
    rows = rows.assign(_rank=rank).sort_values("_rank", kind="stable")
    if "record_id" in rows.columns:
        by_id = rows[rows["record_id"] != ""].drop_duplicates("record_id").set_index("record_id")["translation"]
        out = ids.map(by_id).astype(object).fillna("").astype(str)
    if "field_value" in rows.columns:
        by_value = rows[rows["field_value"] != ""].drop_duplicates("field_value").set_index("field_value")
        missing = out == ""
        out[missing] = values[missing].map(by_value["translation"]).astype(object).fillna("").astype(str)
    return out


def _stops(df: pd.DataFrame, ns: str, tr: pd.DataFrame | None, report: ValidationReport) -> pd.DataFrame:
    import pandas as pd

    raw_id, name, parent = _s(df, "stop_id"), _s(df, "stop_name"), _s(df, "parent_station")
    en = translate(tr, "stops", "stop_name", ("en",), raw_id, name)
    kana = translate(tr, "stops", "stop_name", ("ja-hrkt", "ja-kana"), raw_id, name)
    wb = _int(df, "wheelchair_boarding", 0, np.int8, range(3))
    # A platform without its own translation or wheelchair info inherits its station's (GTFS rule for wheelchair).
    pos = pd.Series(np.arange(len(df)), index=raw_id.to_numpy())
    pos = pos[~pos.index.duplicated()]
    ppos = parent.map(pos).to_numpy(dtype=float, na_value=np.nan)
    has_parent = ~np.isnan(ppos)
    pidx = np.where(has_parent, ppos, 0).astype(np.int64)
    if len(df):
        en = en.where((en != "") | ~has_parent, en.to_numpy()[pidx])
        kana = kana.where((kana != "") | ~has_parent, kana.to_numpy()[pidx])
        wb = np.where((wb == 0) & has_parent, wb[pidx], wb).astype(np.int8)
    lt = _int(df, "location_type", 0, np.int8, range(5))
    if len(df) and tr is not None and (en == "").any():
        named = (lt <= 1) & (en == "").to_numpy()
        if named.any():
            share = "none of the" if named.sum() == ((lt <= 1).sum()) else f"{int(named.sum())} of {int((lt <= 1).sum())}"
            report.warning("translations.txt", f"{share} stops and stations have an English name "
                                               f"(e.g. {name[named].iloc[0]!r}): stop_name_en is empty for them",
                           field="stop_name")
    elif len(df) and tr is None:
        report.warning("translations.txt", "translations.txt is missing: no English or kana stop names")
    return pd.DataFrame({
        "stop_id": _ns(df, "stop_id", ns),
        "stop_code": _s(df, "stop_code"),
        "stop_name": name,
        "stop_name_en": en,
        "stop_name_kana": kana,
        "stop_lat": _float(df, "stop_lat"),
        "stop_lon": _float(df, "stop_lon"),
        "location_type": lt,
        "parent_station": _ns(df, "parent_station", ns),
        "wheelchair_boarding": wb,
        "platform_code": _s(df, "platform_code"),
        "zone_id": _ns(df, "zone_id", ns),
    }).reset_index(drop=True)


def _routes(df: pd.DataFrame, ns: str, tr: pd.DataFrame | None, default_agency: str) -> pd.DataFrame:
    import pandas as pd

    long_name = _s(df, "route_long_name")

    def colour(col: str) -> pd.Series:
        c = _s(df, col).str.strip().str.lstrip("#").str.upper()
        return c.where(c.str.fullmatch("[0-9A-F]{6}"), "")

    return pd.DataFrame({
        "route_id": _ns(df, "route_id", ns),
        "agency_id": _ns(df, "agency_id", ns).replace("", default_agency),  # optional with one agency
        "route_short_name": _s(df, "route_short_name"),
        "route_long_name": long_name,
        "route_long_name_en": translate(tr, "routes", "route_long_name", ("en",), _s(df, "route_id"), long_name),
        "route_type": _int(df, "route_type", 3, np.int16),
        "route_color": colour("route_color"),
        "route_text_color": colour("route_text_color"),
    }).reset_index(drop=True)


def _trips(df: pd.DataFrame, ns: str, tr: pd.DataFrame | None = None) -> pd.DataFrame:
    import pandas as pd

    headsign = _s(df, "trip_headsign")
    return pd.DataFrame({
        "trip_id": _ns(df, "trip_id", ns),
        "route_id": _ns(df, "route_id", ns, category=True),
        "service_id": _ns(df, "service_id", ns, category=True),
        "trip_headsign": _cat(headsign),
        "trip_headsign_en": _cat(translate(tr, "trips", "trip_headsign", ("en",), _s(df, "trip_id"), headsign)),
        "trip_short_name": _s(df, "trip_short_name"),
        "direction_id": _int(df, "direction_id", -1, np.int8, (0, 1)),
        "block_id": _ns(df, "block_id", ns, category=True),
        "shape_id": _ns(df, "shape_id", ns, category=True),
        "wheelchair_accessible": _int(df, "wheelchair_accessible", 0, np.int8, range(3)),
        "seat_capacity": _int(df, "seat_capacity", -1, np.int32),
    }).reset_index(drop=True)


def interpolate_times(arrival: np.ndarray, departure: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Times of untimed rows (NaN) between the surrounding timed rows of rows sorted by (trip, sequence).

    Linear in shape_dist_traveled when the row and both neighbours have it (and it increases), else in stop
    order. The first and last row of each trip are timed (validated), so no fill crosses a trip boundary.
    Returns the filled times (arrival = departure on interpolated rows).
    """
    n = len(arrival)
    timed = ~np.isnan(arrival)
    if timed.all():
        return arrival
    pos = np.arange(n)
    prev = np.maximum.accumulate(np.where(timed, pos, -1))
    nxt = np.minimum.accumulate(np.where(timed, pos, n)[::-1])[::-1]
    gap = np.flatnonzero(~timed)
    p, q = prev[gap], nxt[gap]
    t0, t1 = departure[p], arrival[q]
    d0, d1, d = dist[p], dist[q], dist[gap]
    by_dist = ~np.isnan(d0) & ~np.isnan(d1) & ~np.isnan(d) & (d1 > d0)
    frac = np.where(by_dist, (d - np.where(by_dist, d0, 0)) / np.where(by_dist, d1 - d0, 1), (gap - p) / (q - p))
    out = arrival.copy()
    out[gap] = np.round(t0 + np.clip(frac, 0.0, 1.0) * (t1 - t0))
    return out


def _stop_times(df: pd.DataFrame, ns: str) -> pd.DataFrame:
    """Sorted by (trip, sequence); id and text columns are Categoricals (the table a server keeps is 1.2M rows
    on all-Tokyo: int codes cost a few bytes a row, string references 8 and their objects more)."""
    import pandas as pd

    seq, _ = parse_numbers(df["stop_sequence"], integer=True)
    arr, _ = parse_times(df["arrival_time"])
    dep, _ = parse_times(df["departure_time"])
    arr, dep = np.where(np.isnan(arr), dep, arr), np.where(np.isnan(dep), arr, dep)
    codes, _ = pd.factorize(df["trip_id"], sort=True)  # namespacing keeps raw order, so sort on raw ids
    order = np.lexsort((seq, codes))
    arr, dep, seq = arr[order], dep[order], seq[order]
    sdt = _float(df, "shape_dist_traveled")[order]
    timed = ~np.isnan(arr)
    filled = interpolate_times(arr, dep, sdt)
    dep = np.where(timed, dep, filled)
    tp = _int(df, "timepoint", 1, np.int8, (0, 1))[order]
    tp = np.where(timed, tp, 0).astype(np.int8)

    def ids(col: str) -> pd.Categorical:  # namespaced on the raw rows, then put in order (codes only)
        return _ns(df, col, ns, category=True).array.take(order)

    return pd.DataFrame({
        "trip_id": ids("trip_id"),
        "stop_sequence": seq.astype(np.int32),
        "stop_id": ids("stop_id"),
        "arrival": filled.astype(np.int32),
        "departure": dep.astype(np.int32),
        "pickup_type": _int(df, "pickup_type", 0, np.int8, range(4))[order],
        "drop_off_type": _int(df, "drop_off_type", 0, np.int8, range(4))[order],
        "timepoint": tp,
        "pickup_booking_rule_id": ids("pickup_booking_rule_id"),
        "drop_off_booking_rule_id": ids("drop_off_booking_rule_id"),
        "shape_dist_traveled": sdt.astype(np.float32),  # the model keeps float32 too: same values
        "stop_headsign": _cat(_s(df, "stop_headsign")).array.take(order),
    })


def _dates(s: pd.Series) -> pd.Series:
    return parse_dates(s)[0].dt.date.astype(object)


def _calendar(df: pd.DataFrame, ns: str) -> pd.DataFrame:
    import pandas as pd

    out = pd.DataFrame({"service_id": _ns(df, "service_id", ns)})
    for day in WEEKDAYS:
        out[day] = _int(df, day, 0, np.int8)
    out["start_date"] = _dates(_s(df, "start_date"))
    out["end_date"] = _dates(_s(df, "end_date"))
    return out.reset_index(drop=True)


def _calendar_dates(df: pd.DataFrame, ns: str) -> pd.DataFrame:
    import pandas as pd

    out = pd.DataFrame({"service_id": _ns(df, "service_id", ns, category=True), "date": _dates(_s(df, "date")),
                        "exception_type": _int(df, "exception_type", 0, np.int8)})
    return out.drop_duplicates(["service_id", "date"]).reset_index(drop=True)


def _frequencies(df: pd.DataFrame, ns: str) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({
        "trip_id": _ns(df, "trip_id", ns),
        "start_time": parse_times(_s(df, "start_time"))[0].astype(np.int32),
        "end_time": parse_times(_s(df, "end_time"))[0].astype(np.int32),
        "headway_secs": _int(df, "headway_secs", 0, np.int32),
        "exact_times": _int(df, "exact_times", 0, np.int8, (0, 1)),
    }).reset_index(drop=True)


def _transfers(df: pd.DataFrame, ns: str) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({
        "from_stop_id": _ns(df, "from_stop_id", ns, category=True),
        "to_stop_id": _ns(df, "to_stop_id", ns, category=True),
        "transfer_type": _int(df, "transfer_type", 0, np.int8),
        "min_transfer_time": _float(df, "min_transfer_time"),
        "from_route_id": _ns(df, "from_route_id", ns, category=True),
        "to_route_id": _ns(df, "to_route_id", ns, category=True),
        "from_trip_id": _ns(df, "from_trip_id", ns, category=True),
        "to_trip_id": _ns(df, "to_trip_id", ns, category=True),
    }).reset_index(drop=True)


def _shapes(df: pd.DataFrame, ns: str) -> pd.DataFrame:
    import pandas as pd

    out = pd.DataFrame({
        "shape_id": _ns(df, "shape_id", ns, category=True),
        "shape_pt_lat": _float(df, "shape_pt_lat"),
        "shape_pt_lon": _float(df, "shape_pt_lon"),
        "shape_pt_sequence": _int(df, "shape_pt_sequence", 0, np.int32),
        "shape_dist_traveled": _float(df, "shape_dist_traveled"),
    })
    return out.sort_values(["shape_id", "shape_pt_sequence"], kind="stable").reset_index(drop=True)


def _booking_rules(df: pd.DataFrame, ns: str) -> pd.DataFrame:
    """GTFS-Flex booking rules; durations in minutes and day counts are int32 with -1 for none."""
    import pandas as pd

    def secs(col: str) -> np.ndarray:
        v = parse_times(_s(df, col))[0]
        return np.where(np.isnan(v), -1, v).astype(np.int32)

    return pd.DataFrame({
        "booking_rule_id": _ns(df, "booking_rule_id", ns),
        "booking_type": _int(df, "booking_type", 0, np.int8),
        "prior_notice_duration_min": _int(df, "prior_notice_duration_min", -1, np.int32),
        "prior_notice_duration_max": _int(df, "prior_notice_duration_max", -1, np.int32),
        "prior_notice_last_day": _int(df, "prior_notice_last_day", -1, np.int32),
        "prior_notice_last_time": secs("prior_notice_last_time"),
        "prior_notice_start_day": _int(df, "prior_notice_start_day", -1, np.int32),
        "prior_notice_start_time": secs("prior_notice_start_time"),
        "prior_notice_service_id": _ns(df, "prior_notice_service_id", ns),
        "message": _s(df, "message"),
        "pickup_message": _s(df, "pickup_message"),
        "drop_off_message": _s(df, "drop_off_message"),
        "phone_number": _s(df, "phone_number"),
        "info_url": _s(df, "info_url"),
        "booking_url": _s(df, "booking_url"),
    }).reset_index(drop=True)


def _fare_attributes(df: pd.DataFrame, ns: str) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({
        "fare_id": _ns(df, "fare_id", ns),
        "price": _float(df, "price"),
        "currency_type": _s(df, "currency_type"),
        "payment_method": _int(df, "payment_method", 0, np.int8),
        "transfers": _float(df, "transfers"),  # NaN = unlimited
        "agency_id": _ns(df, "agency_id", ns),
        "transfer_duration": _float(df, "transfer_duration"),
    }).reset_index(drop=True)


def _fare_rules(df: pd.DataFrame, ns: str) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({col: _ns(df, col, ns) for col in
                         ("fare_id", "route_id", "origin_id", "destination_id", "contains_id")}).reset_index(drop=True)
