"""Validation: each class of broken feed is rejected whole, with a clear message located by file, row and field."""
from __future__ import annotations

import pytest
from gtfs_builders import minimal_feed_tables, write_gtfs

from feeds.gtfs import load_feed
from feeds.problems import FeedRejected, Problem, ValidationReport


def rejected(tmp_path, tables, raw=None) -> ValidationReport:
    """Load a feed that must be rejected; return its report (load_feed returns nothing)."""
    with pytest.raises(FeedRejected) as exc:
        load_feed(write_gtfs(tmp_path / "feed", tables, raw=raw), "bad")
    assert not exc.value.report.ok
    return exc.value.report


def find(report: ValidationReport, file: str, text: str, severity: str = "error") -> Problem:
    hits = [p for p in report.problems if p.file == file and text in p.message and p.severity == severity]
    assert hits, f"no {severity} in {file} containing {text!r}:\n{report.format()}"
    return hits[0]


@pytest.mark.parametrize("name", ["agency", "stops", "routes", "trips", "stop_times"])
def test_missing_required_file(tmp_path, name):
    tables = minimal_feed_tables()
    del tables[name]
    p = find(rejected(tmp_path, tables), f"{name}.txt", f"{name}.txt is missing")
    assert p.row is None


def test_missing_stop_times_says_no_timetable(tmp_path):
    tables = minimal_feed_tables()
    del tables["stop_times"]
    find(rejected(tmp_path, tables), "stop_times.txt", "the feed has no timetable")


def test_missing_calendar_and_calendar_dates(tmp_path):
    tables = minimal_feed_tables()
    del tables["calendar"]
    find(rejected(tmp_path, tables), "calendar.txt", "both missing")


def test_header_only_and_empty_required_file(tmp_path):
    tables = minimal_feed_tables()
    del tables["stop_times"]
    raw = {"stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"}
    find(rejected(tmp_path, tables, raw), "stop_times.txt", "has a header but no rows")
    tables = minimal_feed_tables()
    tables["routes"] = []  # 0 bytes
    find(rejected(tmp_path / "b", tables), "routes.txt", "empty (0 bytes")


def test_missing_required_column(tmp_path):
    tables = minimal_feed_tables()
    for row in tables["stops"]:
        del row["stop_lat"]
    p = find(rejected(tmp_path, tables), "stops.txt", "required column stop_lat is missing")
    assert p.field == "stop_lat"


def test_duplicate_ids(tmp_path):
    tables = minimal_feed_tables()
    tables["stops"][3]["stop_id"] = "B"
    tables["trips"][2]["trip_id"] = "T1"
    report = rejected(tmp_path, tables)
    assert find(report, "stops.txt", "duplicate stop_id 'B'").row == 4
    assert find(report, "trips.txt", "duplicate trip_id 'T1'").row == 3


def test_duplicate_stop_sequence(tmp_path):
    tables = minimal_feed_tables()
    tables["stop_times"][1]["stop_sequence"] = "1"
    find(rejected(tmp_path, tables), "stop_times.txt", "stop_sequence 1 twice")


@pytest.mark.parametrize("file,row,field,value,text", [
    ("trips", 0, "route_id", "NOPE", "route_id 'NOPE' refers to no route in routes.txt"),
    ("trips", 1, "service_id", "NOPE", "refers to no service"),
    ("stop_times", 4, "trip_id", "T404", "trip_id 'T404' refers to no trip"),
    ("stop_times", 2, "stop_id", "Z", "stop_id 'Z' refers to no stop"),
    ("stops", 1, "parent_station", "NOPE", "parent_station 'NOPE' refers to no stop"),
    ("trips", 0, "shape_id", "sh", "shape_id 'sh' refers to no shape in shapes.txt (shapes.txt is missing)"),
    ("stop_times", 0, "pickup_booking_rule_id", "br", "refers to no booking rule"),
])
def test_dangling_references(tmp_path, file, row, field, value, text):
    tables = minimal_feed_tables()
    tables[file][row][field] = value
    p = find(rejected(tmp_path, tables), f"{file}.txt", text)
    assert (p.row, p.field) == (row + 1, field)


def test_dangling_transfer_stop(tmp_path):
    tables = minimal_feed_tables()
    tables["transfers"] = [{"from_stop_id": "A", "to_stop_id": "B", "transfer_type": "0"},
                           {"from_stop_id": "A", "to_stop_id": "Q", "transfer_type": "0"}]
    p = find(rejected(tmp_path, tables), "transfers.txt", "to_stop_id 'Q' refers to no stop")
    assert p.row == 2


def test_times_going_backwards(tmp_path):
    tables = minimal_feed_tables()
    tables["stop_times"][1]["arrival_time"] = tables["stop_times"][1]["departure_time"] = "07:59:00"
    p = find(rejected(tmp_path, tables), "stop_times.txt", "times go backwards")
    assert p.row == 2 and "'T1'" in p.message


def test_departure_before_arrival(tmp_path):
    tables = minimal_feed_tables()
    tables["stop_times"][1]["departure_time"] = "08:04:00"
    p = find(rejected(tmp_path, tables), "stop_times.txt", "before it arrives")
    assert p.row == 2


def test_trip_with_one_stop_time(tmp_path):
    tables = minimal_feed_tables()
    tables["stop_times"] = [r for r in tables["stop_times"] if not (r["trip_id"] == "T3" and r["stop_sequence"] != "1")]
    p = find(rejected(tmp_path, tables), "trips.txt", "trip 'T3' has 1 stop time(s)")
    assert p.row == 3


def test_first_and_last_stop_must_be_timed(tmp_path):
    tables = minimal_feed_tables()
    tables["stop_times"][2]["arrival_time"] = tables["stop_times"][2]["departure_time"] = ""
    p = find(rejected(tmp_path, tables), "stop_times.txt", "first and last stop of a trip must have")
    assert p.row == 3


@pytest.mark.parametrize("file,row,field,value,text", [
    ("stop_times", 1, "arrival_time", "8h05", "arrival_time '8h05' is not a time"),
    ("stop_times", 1, "departure_time", "08:61:00", "is not a time"),
    ("stops", 2, "stop_lat", "abc", "stop_lat 'abc' is not a number"),
    ("stops", 2, "stop_lat", "95.1", "stop_lat 95.1 is out of range"),
    ("stops", 3, "stop_lon", "", "stop_lon is empty"),
    ("routes", 0, "route_type", "99", "route_type '99' is not a GTFS route type"),
    ("routes", 0, "route_type", "bus", "route_type 'bus' is not a GTFS route type"),
    ("calendar", 1, "end_date", "2026-12-31", "end_date '2026-12-31' is not a date"),
    ("calendar", 0, "monday", "yes", "monday 'yes' is not one of [0, 1]"),
    ("agency", 0, "agency_timezone", "Tokyo", "not an IANA time zone"),
    ("stop_times", 0, "stop_sequence", "first", "stop_sequence 'first' is not a whole number"),
])
def test_unparseable_values(tmp_path, file, row, field, value, text):
    tables = minimal_feed_tables()
    tables[file][row][field] = value
    p = find(rejected(tmp_path, tables), f"{file}.txt", text)
    assert (p.row, p.field) == (row + 1, field)


def test_repeated_problems_are_capped_with_a_count(tmp_path):
    tables = minimal_feed_tables()
    tables["stop_times"] += [{"trip_id": "T1", "arrival_time": "09:00:00", "departure_time": "09:00:00",
                              "stop_id": f"GHOST{i}", "stop_sequence": str(10 + i)} for i in range(50)]
    report = rejected(tmp_path, tables)
    ghosts = [p for p in report.errors if "GHOST" in p.message]
    assert len(ghosts) == 11
    assert [p.row for p in ghosts[:10]] == list(range(10, 20))
    assert ghosts[10].row is None and "40 more rows" in ghosts[10].message and "(50 in all)" in ghosts[10].message


def test_service_without_days_is_a_warning(tmp_path):
    tables = minimal_feed_tables()
    tables["calendar"][1].update(saturday="0", sunday="0")
    feed = load_feed(write_gtfs(tmp_path / "f", tables), "x")
    p = find(feed.report, "trips.txt", "service 'WE' has no service days: its 1 trip(s) never run", "warning")
    assert p.field == "service_id"
    # removing every day by calendar_dates counts too
    tables = minimal_feed_tables()
    tables["calendar"][1].update(start_date="20261205", end_date="20261206")
    tables["calendar_dates"] = [{"service_id": "WE", "date": d, "exception_type": "2"} for d in ("20261205", "20261206")]
    feed = load_feed(write_gtfs(tmp_path / "g", tables), "x")
    find(feed.report, "trips.txt", "service 'WE' has no service days", "warning")


def test_warnings_for_zero_hops_and_far_stops(tmp_path):
    tables = minimal_feed_tables()
    tables["stop_times"][1]["arrival_time"] = tables["stop_times"][1]["departure_time"] = "08:00:00"
    tables["stops"][3].update(stop_lat="34.70", stop_lon="135.50")  # Osaka, 400 km away
    feed = load_feed(write_gtfs(tmp_path / "f", tables), "x")
    assert feed.report.ok
    find(feed.report, "stop_times.txt", "1 of 6 hops take 0 seconds", "warning")
    assert find(feed.report, "stops.txt", "more than 100 km from any other stop", "warning").row == 4


def test_not_utf8_and_broken_csv(tmp_path):
    tables = minimal_feed_tables()
    stops = tables.pop("stops")
    text = "stop_id,stop_name,stop_lat,stop_lon\n" + "\n".join(
        f"{s['stop_id']},{s['stop_name']},{s['stop_lat']},{s['stop_lon']}" for s in stops) + "\n"
    find(rejected(tmp_path, tables, {"stops.txt": text.encode("shift_jis")}), "stops.txt", "is not UTF-8")
    broken = text + "X,too,many,fields,here\n"
    find(rejected(tmp_path / "b", dict(tables), {"stops.txt": broken}), "stops.txt", "is not valid CSV")


def test_not_a_zip(tmp_path):
    bogus = tmp_path / "feed.zip"
    bogus.write_text("not a zip")
    with pytest.raises(FeedRejected) as exc:
        load_feed(bogus, "x")
    assert "neither a zip file nor a folder" in exc.value.report.errors[0].message


def test_report_format_and_dict(tmp_path):
    tables = minimal_feed_tables()
    tables["trips"][0]["route_id"] = "NOPE"
    report = rejected(tmp_path, tables)
    assert "REJECTED" in report.format() and "trips.txt row 1 [route_id]" in report.format()
    d = report.to_dict()
    assert d["ok"] is False and d["errors"] == 1 and d["problems"][0]["row"] == 1
