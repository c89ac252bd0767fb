"""Helpers to write small GTFS feeds in a test's tmp_path: start from `minimal_feed_tables()`, change rows, write.

    tables = minimal_feed_tables()
    tables["stop_times"][1]["arrival_time"] = "07:59:00"      # break something
    path = write_gtfs(tmp_path / "feed", tables)              # a folder; zip=True for a .zip
"""
from __future__ import annotations

import copy
import csv
import io
import zipfile
from pathlib import Path

Tables = dict[str, list[dict]]


def to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """CSV text of rows; columns are the union of the rows' keys in first-seen order (missing cells empty)."""
    if columns is None:
        columns = []
        for row in rows:
            columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_gtfs(path: Path, tables: Tables, zip: bool = False, raw: dict[str, str] | None = None) -> Path:
    """Write `tables` (file stem → rows) as a GTFS folder at `path`, or as a zip at `path` with zip=True.

    A table given as an empty list is written header-less and empty (0 bytes). `raw` adds files verbatim
    (file name → text), for BOMs, odd headers or broken CSV.
    """
    files = {f"{name}.txt": to_csv(rows) if rows else "" for name, rows in tables.items()}
    files.update(raw or {})
    path = Path(path)
    if zip:
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text in files.items():
                zf.writestr(name, text.encode("utf-8") if isinstance(text, str) else text)
        return path
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = path / name
        target.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def minimal_feed_tables() -> Tables:
    """A valid tiny feed: one agency (Asia/Tokyo), a station with two platforms and two more stops, one bus
    route A→B→C, a weekday and a weekend service (2026), two weekday trips and one weekend trip.
    Returns fresh copies, so tests may mutate them."""
    tables: Tables = {
        "agency": [{"agency_id": "ag", "agency_name": "Test Transit", "agency_url": "https://example.org",
                    "agency_timezone": "Asia/Tokyo", "agency_lang": "ja"}],
        "stops": [
            {"stop_id": "S", "stop_name": "駅", "stop_lat": "35.6000", "stop_lon": "139.7000",
             "location_type": "1", "parent_station": "", "wheelchair_boarding": "1"},
            {"stop_id": "A", "stop_name": "駅1番", "stop_lat": "35.6001", "stop_lon": "139.7001",
             "location_type": "0", "parent_station": "S", "wheelchair_boarding": ""},
            {"stop_id": "B", "stop_name": "中央", "stop_lat": "35.6100", "stop_lon": "139.7100",
             "location_type": "0", "parent_station": "", "wheelchair_boarding": "2"},
            {"stop_id": "C", "stop_name": "終点", "stop_lat": "35.6200", "stop_lon": "139.7200",
             "location_type": "0", "parent_station": "", "wheelchair_boarding": "0"},
        ],
        "routes": [{"route_id": "R1", "agency_id": "ag", "route_short_name": "1", "route_long_name": "本線",
                    "route_type": "3", "route_color": "00AA00", "route_text_color": "FFFFFF"}],
        "trips": [
            {"route_id": "R1", "service_id": "WD", "trip_id": "T1", "trip_headsign": "終点", "direction_id": "0"},
            {"route_id": "R1", "service_id": "WD", "trip_id": "T2", "trip_headsign": "終点", "direction_id": "0"},
            {"route_id": "R1", "service_id": "WE", "trip_id": "T3", "trip_headsign": "終点", "direction_id": "0"},
        ],
        "stop_times": [],
        "calendar": [
            {"service_id": "WD", "monday": "1", "tuesday": "1", "wednesday": "1", "thursday": "1", "friday": "1",
             "saturday": "0", "sunday": "0", "start_date": "20260101", "end_date": "20261231"},
            {"service_id": "WE", "monday": "0", "tuesday": "0", "wednesday": "0", "thursday": "0", "friday": "0",
             "saturday": "1", "sunday": "1", "start_date": "20260101", "end_date": "20261231"},
        ],
    }
    for trip, start in (("T1", 8 * 3600), ("T2", 9 * 3600), ("T3", 10 * 3600)):
        for seq, (stop, offset) in enumerate((("A", 0), ("B", 300), ("C", 600)), start=1):
            hhmmss = hms(start + offset)
            tables["stop_times"].append({"trip_id": trip, "arrival_time": hhmmss, "departure_time": hhmmss,
                                         "stop_id": stop, "stop_sequence": str(seq)})
    return copy.deepcopy(tables)


def hms(seconds: int) -> str:
    """Seconds → GTFS H:MM:SS (hours may pass 24)."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
