"""Generate the built-in Tokyo sample as GTFS folders, one per operator, byte-for-byte reproducible.

Timetables are ours, not copied: departures follow each line's declared headway bands and run times follow
distance at an average speed (min 1 min per hop). Everything is integer arithmetic on fixed data, so two runs write
identical bytes; nothing reads the clock.

Modelling choices: the Oedo loop trip calls at Tochomae twice, so Tochomae has two platform stops (E-28-1 where
Hikarigaoka trains pass onto the loop, E-28-2 where loop trips end) under one parent. Shuttles are route_type 3 with
``seat_capacity`` in trips.txt and a GTFS-Flex booking rule (booking_type 1) on every stop_time; pickup_type stays 0
so readers that ignore GTFS-Flex still route them (the model calls a route SHUTTLE when its trips are seated).
Weekdays on the weekend/holiday timetable (national holidays, Dec 30 – Jan 3) move via calendar_dates.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feeds.sample import stations as data
from routing.geo import haversine_m

FORMAT = "1"  # bump when the file layout changes in a way the source digest would not show
SERVICE_START = dt.date(2025, 1, 1)
SERVICE_END = dt.date(2027, 12, 31)
WEEKDAY, WEEKEND = "weekday", "weekend"
TIMEZONE = "Asia/Tokyo"
SUBWAY_NS, BUS_NS = "toei-subway", "toei-bus"
SUBWAY_DWELL_S = 30
TRANSFER_WALK_MPS = 1.2
TRANSFER_DETOUR = 1.4  # corridors and stairs: walked distance / straight-line distance
# Explicit interchanges between differently named stations (connected underground).
LINKED_STATIONS = (("E-01", "S-01"), ("E-01", "E-27"), ("A-15", "S-09"), ("A-10", "E-19"))


def sample_version() -> str:
    """Version of the generated sample: changes whenever the data table or this generator changes."""
    digest = hashlib.sha256()
    for name in ("stations.py", "generate.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    return f"{FORMAT}-{digest.hexdigest()[:12]}"


@dataclass
class Table:
    """One GTFS file: header and rows (strings or numbers), written as UTF-8 CSV with ``\\n`` line ends."""

    header: tuple[str, ...]
    rows: list[tuple]

    def to_bytes(self) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.header)
        w.writerows(self.rows)
        return buf.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------------- calendar


def _nth_monday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(7 - first.weekday()) % 7 + 7 * (n - 1))


def japanese_holidays(year: int) -> list[dt.date]:
    """National holidays by the current law (valid 2020–2099): fixed days, Happy Mondays, equinoxes, substitute
    holidays (a Sunday holiday moves to the next non-holiday) and sandwiched days (a day between two holidays)."""
    y = year - 1980
    vernal = int(20.8431 + 0.242194 * y - y // 4)
    autumnal = int(23.2488 + 0.242194 * y - y // 4)
    days = {
        dt.date(year, 1, 1), _nth_monday(year, 1, 2), dt.date(year, 2, 11), dt.date(year, 2, 23),
        dt.date(year, 3, vernal), dt.date(year, 4, 29), dt.date(year, 5, 3), dt.date(year, 5, 4),
        dt.date(year, 5, 5), _nth_monday(year, 7, 3), dt.date(year, 8, 11), _nth_monday(year, 9, 3),
        dt.date(year, 9, autumnal), _nth_monday(year, 10, 2), dt.date(year, 11, 3), dt.date(year, 11, 23),
    }
    for d in sorted(days):
        if d.weekday() == 6:
            sub = d + dt.timedelta(days=1)
            while sub in days:
                sub += dt.timedelta(days=1)
            days.add(sub)
    for d in sorted(days):
        mid = d + dt.timedelta(days=1)
        if mid not in days and mid + dt.timedelta(days=1) in days and mid.weekday() != 6:
            days.add(mid)
    return sorted(days)


def weekend_timetable_days() -> list[dt.date]:
    """Weekdays (Mon–Fri) that run the weekend/holiday timetable: national holidays and Dec 30 – Jan 3."""
    out: set[dt.date] = set()
    for year in range(SERVICE_START.year, SERVICE_END.year + 1):
        out.update(japanese_holidays(year))
        out.update(dt.date(year, 1, d) for d in (1, 2, 3))
        out.update(dt.date(year, 12, d) for d in (30, 31))
    return sorted(d for d in out if d.weekday() < 5 and SERVICE_START <= d <= SERVICE_END)


def calendar_tables() -> dict[str, Table]:
    start, end = SERVICE_START.strftime("%Y%m%d"), SERVICE_END.strftime("%Y%m%d")
    cal = Table(("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                 "start_date", "end_date"),
                [(WEEKDAY, 1, 1, 1, 1, 1, 0, 0, start, end), (WEEKEND, 0, 0, 0, 0, 0, 1, 1, start, end)])
    dates = Table(("service_id", "date", "exception_type"), [])
    for d in weekend_timetable_days():
        ds = d.strftime("%Y%m%d")
        dates.rows += [(WEEKDAY, ds, 2), (WEEKEND, ds, 1)]
    return {"calendar.txt": cal, "calendar_dates.txt": dates}


def feed_info(version: str, publisher: str, url: str) -> Table:
    return Table(("feed_publisher_name", "feed_publisher_url", "feed_lang", "feed_start_date", "feed_end_date",
                  "feed_version"),
                 [(publisher, url, "ja", SERVICE_START.strftime("%Y%m%d"), SERVICE_END.strftime("%Y%m%d"),
                   f"sample-{version}")])


# ---------------------------------------------------------------------------------------------- timetables


def hhmm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 3600 + int(m) * 60


def gtfs_time(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def departures(h: data.Headways, service: str) -> list[int]:
    """Departure times (s) from a terminus: each gap is the headway of the band the previous departure falls in.
    Weekdays: shoulder before 07:00 and after 22:30, peak 07:00–09:30 and 17:00–20:00, off-peak otherwise;
    weekends: shoulder before 07:00 and after 22:30, the weekend headway between."""
    first, last = hhmm(h.first), hhmm(h.last)
    out, t = [], first
    while t <= last:
        out.append(t)
        if t < 7 * 3600 or t >= 22 * 3600 + 1800:
            gap = h.shoulder
        elif service == WEEKEND:
            gap = h.weekend
        elif 7 * 3600 <= t < 9 * 3600 + 1800 or 17 * 3600 <= t < 20 * 3600:
            gap = h.peak
        else:
            gap = h.offpeak
        t += gap * 60
    return out


def hop_seconds(lats: np.ndarray, lons: np.ndarray, speed_kmh: float, factor: float = 1.0) -> np.ndarray:
    """Time per hop, dwell included, from distance at an average speed, rounded to 30 s."""
    d = haversine_m(lats[:-1], lons[:-1], lats[1:], lons[1:]) * factor
    return (np.round(d / (speed_kmh / 3.6) / 30.0) * 30).astype(np.int64)


def trip_offsets(hops: np.ndarray, dwell: int) -> tuple[np.ndarray, np.ndarray]:
    """Arrival and departure offsets from the first departure: each hop runs ``hop - dwell`` s but at least 60 s,
    then the train dwells ``dwell`` s at every intermediate stop."""
    running = np.maximum(hops - dwell, 60)
    n = len(hops) + 1
    arr = np.zeros(n, dtype=np.int64)
    arr[1:] = np.cumsum(running) + dwell * np.arange(n - 1)
    dep = arr.copy()
    dep[1:-1] += dwell
    return arr, dep


@dataclass
class Pattern:
    """One direction of one route: its stops in order and its run times."""

    route_id: str
    direction: int
    headsign: str
    headsign_en: str
    stop_ids: list[str]
    lats: np.ndarray
    lons: np.ndarray
    arr: np.ndarray
    dep: np.ndarray

    @property
    def shape_id(self) -> str:
        return f"{self.route_id}.{self.direction}"


def add_trips(tables: dict[str, Table], p: Pattern, service: str, starts: list[int], *, seat_capacity: int | None,
              booking_rule: str = "") -> None:
    """Append one trip per start time: trips.txt rows and their stop_times (no drop-off at the first stop, no
    pickup at the last)."""
    n = len(p.stop_ids)
    last = n - 1
    for i, t0 in enumerate(starts):
        trip_id = f"{p.route_id}.{service}.{p.direction}.{i:03d}"
        row = (p.route_id, service, trip_id, p.headsign, p.direction, p.shape_id, 1)
        tables["trips.txt"].rows.append(row + ((seat_capacity,) if seat_capacity is not None else ()))
        st = tables["stop_times.txt"].rows
        for k in range(n):
            base = (trip_id, gtfs_time(t0 + int(p.arr[k])), gtfs_time(t0 + int(p.dep[k])), p.stop_ids[k], k + 1,
                    1 if k == last else 0, 1 if k == 0 else 0, 1)
            st.append(base + ((booking_rule, booking_rule) if booking_rule else ()))


def shape_rows(p: Pattern) -> list[tuple]:
    return [(p.shape_id, f"{la:.6f}", f"{lo:.6f}", k + 1) for k, (la, lo) in enumerate(zip(p.lats, p.lons))]


def empty_tables(seated: bool = False) -> dict[str, Table]:
    trips = ("route_id", "service_id", "trip_id", "trip_headsign", "direction_id", "shape_id", "wheelchair_accessible")
    st = ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence", "pickup_type", "drop_off_type",
          "timepoint")
    return {
        "agency.txt": Table(("agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"), []),
        "stops.txt": Table(("stop_id", "stop_code", "stop_name", "stop_lat", "stop_lon", "location_type",
                            "parent_station", "wheelchair_boarding", "platform_code"), []),
        "routes.txt": Table(("route_id", "agency_id", "route_short_name", "route_long_name", "route_type",
                             "route_color", "route_text_color"), []),
        "trips.txt": Table(trips + (("seat_capacity",) if seated else ()), []),
        "stop_times.txt": Table(st + (("pickup_booking_rule_id", "drop_off_booking_rule_id") if seated else ()), []),
        "shapes.txt": Table(("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"), []),
        "translations.txt": Table(("table_name", "field_name", "language", "translation", "record_id",
                                   "record_sub_id", "field_value"), []),
        **calendar_tables(),
    }


def translate(tables: dict[str, Table], table: str, field: str, record_id: str, **langs: str) -> None:
    """Translation rows keyed by record_id; keyword ``ja_Hrkt`` stands for language ja-Hrkt."""
    for lang, text in langs.items():
        if text:
            tables["translations.txt"].rows.append((table, field, lang.replace("_", "-"), text, record_id, "", ""))


def translate_headsigns(tables: dict[str, Table], patterns: list[Pattern]) -> None:
    """Headsign translations keyed by field_value (one row per distinct headsign, not per trip)."""
    seen: dict[str, str] = {}
    for p in patterns:
        seen.setdefault(p.headsign, p.headsign_en)
    for ja, en in seen.items():
        tables["translations.txt"].rows.append(("trips", "trip_headsign", "en", en, "", "", ja))


def _coords(points) -> tuple[np.ndarray, np.ndarray]:
    return np.array([s.lat for s in points]), np.array([s.lon for s in points])


def _fmt(x: float) -> str:
    return f"{x:.6f}"


# ---------------------------------------------------------------------------------------------- subway


def transfer_seconds(d_m: float) -> int:
    """Minimum interchange time: 60 s for stairs plus the walk, rounded up to 30 s, at least 90 s."""
    walk = TRANSFER_DETOUR * d_m / TRANSFER_WALK_MPS
    return max(90, int(math.ceil((60 + walk) / 30.0)) * 30)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def subway_platforms() -> list[tuple[str, data.Station, str]]:
    """(stop_id, station, platform_code) for every platform; Tochomae has two (loop through and loop terminus)."""
    out = []
    for line in data.SUBWAY_LINES:
        for s in line.stations:
            if s.code == data.OEDO_LOOP_JUNCTION:
                out += [(f"{s.code}-1", s, "1"), (f"{s.code}-2", s, "2")]
            else:
                out.append((s.code, s, ""))
    return out


def subway_patterns() -> list[tuple[data.SubwayLine, Pattern]]:
    by_code = {s.code: s for line in data.SUBWAY_LINES for s in line.stations}
    out = []
    for line in data.SUBWAY_LINES:
        codes = [s.code for s in line.stations]
        if line.route_id == "E":
            j = codes.index(data.OEDO_LOOP_JUNCTION)
            loop, branch = codes[:j], codes[j + 1:]
            # Hikarigaoka → Tochomae (platform 1) → loop E-01 … E-27 → Tochomae (platform 2), and back.
            seqs = [list(reversed(branch)) + [f"{codes[j]}-1"] + loop + [f"{codes[j]}-2"],
                    [f"{codes[j]}-2"] + list(reversed(loop)) + [f"{codes[j]}-1"] + branch]
        else:
            seqs = [codes, list(reversed(codes))]
        for direction, seq in enumerate(seqs):
            stations = [by_code[c[:4]] for c in seq]
            lats, lons = _coords(stations)
            arr, dep = trip_offsets(hop_seconds(lats, lons, line.speed_kmh), SUBWAY_DWELL_S)
            out.append((line, Pattern(line.route_id, direction, stations[-1].name, stations[-1].name_en, seq,
                                      lats, lons, arr, dep)))
    return out


def build_subway(version: str) -> dict[str, Table]:
    t = empty_tables()
    t["agency.txt"].rows.append(("toei-subway", "都営地下鉄", "https://www.kotsu.metro.tokyo.jp/subway/", TIMEZONE,
                                 "ja"))
    translate(t, "agency", "agency_name", "toei-subway", ja="都営地下鉄", en="Toei Subway", ja_Hrkt="とえいちかてつ")
    platforms = subway_platforms()
    # One parent per station name: same-named stations of two lines form one interchange (Daimon, Kasuga, …).
    members: dict[str, list[tuple[str, data.Station, str]]] = {}
    for pl in platforms:
        members.setdefault(pl[1].name, []).append(pl)
    parent_of: dict[str, str] = {}
    for name, group in members.items():
        s0 = group[0][1]
        pid = f"P-{_slug(s0.name_en)}"
        lat = float(np.mean([g[1].lat for g in group]))
        lon = float(np.mean([g[1].lon for g in group]))
        wc = 2 if all(g[1].code in data.NO_STEP_FREE for g in group) else 1
        t["stops.txt"].rows.append((pid, "", name, _fmt(lat), _fmt(lon), 1, "", wc, ""))
        translate(t, "stops", "stop_name", pid, ja=name, en=s0.name_en, ja_Hrkt=s0.name_kana)
        for stop_id, _, _ in group:
            parent_of[stop_id] = pid
    for stop_id, s, plat in platforms:
        wc = 2 if s.code in data.NO_STEP_FREE else 1
        t["stops.txt"].rows.append((stop_id, s.code, s.name, _fmt(s.lat), _fmt(s.lon), 0, parent_of[stop_id], wc,
                                    plat))
        translate(t, "stops", "stop_name", stop_id, ja=s.name, en=s.name_en, ja_Hrkt=s.name_kana)
    t["transfers.txt"] = Table(("from_stop_id", "to_stop_id", "transfer_type", "min_transfer_time"),
                               _subway_transfers(platforms, parent_of))
    patterns = subway_patterns()
    for line in data.SUBWAY_LINES:
        t["routes.txt"].rows.append((line.route_id, "toei-subway", line.letter, line.name, 1, line.color,
                                     line.text_color))
        translate(t, "routes", "route_long_name", line.route_id, ja=line.name, en=line.name_en,
                  ja_Hrkt=line.name_kana)
    for line, p in patterns:
        for service in (WEEKDAY, WEEKEND):
            add_trips(t, p, service, departures(line.headways, service), seat_capacity=None)
        t["shapes.txt"].rows += shape_rows(p)
    translate_headsigns(t, [p for _, p in patterns])
    t["feed_info.txt"] = feed_info(version, "Tokyo MaaS sample (generated, not an official timetable)",
                                   "https://www.kotsu.metro.tokyo.jp/")
    return t


def _subway_transfers(platforms, parent_of) -> list[tuple]:
    where = {stop_id: (s.lat, s.lon) for stop_id, s, _ in platforms}
    pairs = [(a, b) for a in where for b in where if a != b and parent_of[a] == parent_of[b]]
    for x, y in LINKED_STATIONS:
        pairs += [(x, y), (y, x)]
    rows = []
    for a, b in pairs:
        d = float(haversine_m(*where[a], *where[b]))
        rows.append((a, b, 2, transfer_seconds(d)))
    return rows


# ---------------------------------------------------------------------------------------------- bus


def bus_patterns() -> list[tuple[data.BusRoute, Pattern]]:
    poles = {b.pole_id: b for b in data.BUS_STOPS}
    out = []
    for r in data.BUS_ROUTES:
        for direction, seq in enumerate((r.outbound, r.inbound)):
            stops = [poles[p] for p in seq]
            lats, lons = _coords(stops)
            arr, dep = trip_offsets(hop_seconds(lats, lons, data.BUS_SPEED_KMH, data.BUS_ROAD_FACTOR), 0)
            out.append((r, Pattern(r.route_id, direction, stops[-1].name, stops[-1].name_en, list(seq), lats, lons,
                                   arr, dep)))
    return out


def build_bus(version: str) -> dict[str, Table]:
    t = empty_tables()
    t["agency.txt"].rows.append(("toei-bus", "都営バス", "https://www.kotsu.metro.tokyo.jp/bus/", TIMEZONE, "ja"))
    translate(t, "agency", "agency_name", "toei-bus", ja="都営バス", en="Toei Bus", ja_Hrkt="とえいばす")
    groups: dict[str, list[data.BusStop]] = {}
    for b in data.BUS_STOPS:
        groups.setdefault(b.pole_id.split("-")[0], []).append(b)
    for pid, poles in sorted(groups.items()):
        b0 = poles[0]
        lat = float(np.mean([b.lat for b in poles]))
        lon = float(np.mean([b.lon for b in poles]))
        t["stops.txt"].rows.append((pid, "", b0.name, _fmt(lat), _fmt(lon), 1, "", 1, ""))
        translate(t, "stops", "stop_name", pid, ja=b0.name, en=b0.name_en, ja_Hrkt=b0.name_kana)
        for b in poles:
            t["stops.txt"].rows.append((b.pole_id, "", b.name, _fmt(b.lat), _fmt(b.lon), 0, pid, 1,
                                        b.pole_id.split("-")[1]))
            translate(t, "stops", "stop_name", b.pole_id, ja=b.name, en=b.name_en, ja_Hrkt=b.name_kana)
    patterns = bus_patterns()
    for r in data.BUS_ROUTES:
        t["routes.txt"].rows.append((r.route_id, "toei-bus", r.short_name, r.name, 3, r.color, r.text_color))
        translate(t, "routes", "route_long_name", r.route_id, ja=r.name, en=r.name_en)
    for r, p in patterns:
        for service in (WEEKDAY, WEEKEND):
            add_trips(t, p, service, departures(r.headways, service), seat_capacity=None)
        t["shapes.txt"].rows += shape_rows(p)
    translate_headsigns(t, [p for _, p in patterns])
    t["feed_info.txt"] = feed_info(version, "Tokyo MaaS sample (generated, not an official timetable)",
                                   "https://www.kotsu.metro.tokyo.jp/bus/")
    return t


# ---------------------------------------------------------------------------------------------- shuttles


def shuttle_patterns(svc: data.ShuttleService) -> list[Pattern]:
    lats, lons = _coords(svc.stops)
    seqs = [list(range(len(svc.stops)))]
    if not svc.loop:
        seqs.append(list(reversed(seqs[0])))
    out = []
    for direction, idx in enumerate(seqs):
        la, lo = lats[idx], lons[idx]
        arr, dep = trip_offsets(hop_seconds(la, lo, svc.speed_kmh, data.BUS_ROAD_FACTOR), svc.dwell_s)
        end = svc.stops[idx[-1]]
        head = svc.parents[0] if svc.loop and svc.parents else end
        out.append(Pattern(svc.route_id, direction, head.name, head.name_en, [svc.stops[i].stop_id for i in idx],
                           la, lo, arr, dep))
    return out


def build_shuttle(svc: data.ShuttleService, version: str) -> dict[str, Table]:
    t = empty_tables(seated=True)
    t["agency.txt"].rows.append((svc.agency_id, svc.agency_name, svc.agency_url, TIMEZONE, "ja"))
    translate(t, "agency", "agency_name", svc.agency_id, ja=svc.agency_name, en=svc.agency_name_en)
    for s in svc.parents:
        t["stops.txt"].rows.append((s.stop_id, "", s.name, _fmt(s.lat), _fmt(s.lon), 1, "", 1, ""))
        translate(t, "stops", "stop_name", s.stop_id, ja=s.name, en=s.name_en, ja_Hrkt=s.name_kana)
    for s in svc.stops:
        t["stops.txt"].rows.append((s.stop_id, "", s.name, _fmt(s.lat), _fmt(s.lon), 0, s.parent, 1, ""))
        translate(t, "stops", "stop_name", s.stop_id, ja=s.name, en=s.name_en, ja_Hrkt=s.name_kana)
    t["routes.txt"].rows.append((svc.route_id, svc.agency_id, svc.short_name, svc.name, 3, svc.color,
                                 svc.text_color))
    translate(t, "routes", "route_long_name", svc.route_id, ja=svc.name, en=svc.name_en)
    rule = f"{svc.route_id}-seat"
    t["booking_rules.txt"] = Table(
        ("booking_rule_id", "booking_type", "prior_notice_duration_min", "prior_notice_duration_max", "message",
         "info_url"),
        [(rule, 1, svc.notice_min, svc.notice_max,
          f"座席は予約制です。出発の{svc.notice_min}分前までにアプリで予約してください。", svc.agency_url)])
    translate(t, "booking_rules", "message", rule,
              en=f"Seats must be booked: reserve in the app at least {svc.notice_min} minutes before departure.")
    patterns = shuttle_patterns(svc)
    for p in patterns:
        for service, headway in ((WEEKDAY, svc.weekday_headway), (WEEKEND, svc.weekend_headway)):
            starts = list(range(hhmm(svc.first), hhmm(svc.last) + 1, headway * 60))
            add_trips(t, p, service, starts, seat_capacity=svc.seat_capacity, booking_rule=rule)
        t["shapes.txt"].rows += shape_rows(p)
    translate_headsigns(t, patterns)
    t["feed_info.txt"] = feed_info(version, "Tokyo MaaS sample (generated)", svc.agency_url)
    return t


# ---------------------------------------------------------------------------------------------- writing


def build_all(version: str | None = None) -> dict[str, dict[str, Table]]:
    """Every operator's tables, keyed by namespace."""
    version = version or sample_version()
    out = {SUBWAY_NS: build_subway(version), BUS_NS: build_bus(version)}
    for svc in data.SHUTTLES:
        out[svc.namespace] = build_shuttle(svc, version)
    return out


def write_feed(folder: Path, tables: dict[str, Table]) -> Path:
    """Write one GTFS folder; stale .txt files from an older layout are removed so the folder is exactly the feed."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.txt"):
        if old.name not in tables:
            old.unlink()
    for name in sorted(tables):
        (folder / name).write_bytes(tables[name].to_bytes())
    return folder


def write_sample(out_dir: Path) -> dict[str, Path]:
    """Write the sample network under ``out_dir``, one folder per operator namespace; returns namespace → folder."""
    out_dir = Path(out_dir)
    return {ns: write_feed(out_dir / ns, tables) for ns, tables in build_all().items()}
