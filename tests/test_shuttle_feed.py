"""Shuttle feed format: GTFS + seat_capacity + GTFS-Flex booking rules; the shipped example and the stricter rules."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from gtfs_builders import minimal_feed_tables, write_gtfs

from feeds.gtfs import load_feed, read_tables
from feeds.problems import FeedRejected, ValidationReport
from feeds.shuttle import load_shuttle_feed, seats_by_trip

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shuttle-minami-osawa"
NS = "shuttle-minami-osawa"


def shuttle_tables() -> dict:
    """The minimal feed turned into a shuttle feed: seats on every trip, booking required to board."""
    tables = minimal_feed_tables()
    for trip in tables["trips"]:
        trip["seat_capacity"] = "6"
    tables["booking_rules"] = [{"booking_rule_id": "BR", "booking_type": "1", "prior_notice_duration_min": "15"}]
    for row in tables["stop_times"]:
        row.update(pickup_type="2", pickup_booking_rule_id="BR")
    return tables


def test_example_feed_loads_with_seats_and_booking_rules():
    feed = load_shuttle_feed(EXAMPLE, NS)
    assert feed.report.ok and not feed.report.warnings, feed.report.format()
    assert feed.timezone == "Asia/Tokyo"
    assert seats_by_trip(feed).to_dict() == {f"{NS}:WD-0800": 8, f"{NS}:WD-0830": 8, f"{NS}:WD-1200": 8,
                                             f"{NS}:WD-1730": 8, f"{NS}:WE-1000": 6, f"{NS}:WE-1400": 6}
    rules = feed.booking_rules.set_index("booking_rule_id")
    assert rules.loc[f"{NS}:SAME-DAY", "booking_type"] == 1
    assert rules.loc[f"{NS}:SAME-DAY", "prior_notice_duration_min"] == 10
    assert rules.loc[f"{NS}:DAY-BEFORE", "prior_notice_last_time"] == 18 * 3600
    st = feed.stop_times
    boarding = st[st["pickup_type"] == 2]
    assert len(boarding) and (boarding["pickup_booking_rule_id"] != "").all()
    assert set(boarding["pickup_booking_rule_id"]) == set(rules.index)


def test_example_weekday_weekend_and_holiday_service():
    feed = load_shuttle_feed(EXAMPLE, NS)
    assert feed.service_ids_on(dt.date(2026, 11, 24)) == {f"{NS}:WEEKDAY"}  # Tuesday
    assert feed.service_ids_on(dt.date(2026, 11, 28)) == {f"{NS}:WEEKEND"}  # Saturday
    assert feed.service_ids_on(dt.date(2026, 11, 23)) == {f"{NS}:WEEKEND"}  # holiday Monday
    assert feed.service_ids_on(dt.date(2027, 5, 6)) == set()  # after the feed's end


def test_example_stops_are_real_places_with_english_and_kana():
    stops = load_shuttle_feed(EXAMPLE, NS).stops
    assert (stops["stop_name_en"] != "").all() and (stops["stop_name_kana"] != "").all()
    station = stops.set_index("stop_id").loc[f"{NS}:MOS"]
    assert abs(station["stop_lat"] - 35.61408) < 1e-4 and abs(station["stop_lon"] - 139.37983) < 1e-4
    assert stops["stop_lat"].between(35.60, 35.63).all() and stops["stop_lon"].between(139.36, 139.40).all()


def test_a_shuttle_feed_is_also_a_plain_gtfs_feed(tmp_path):
    feed = load_feed(write_gtfs(tmp_path / "f", shuttle_tables()), "s")
    assert (feed.trips["seat_capacity"] == 6).all()
    assert (feed.stop_times["pickup_booking_rule_id"] == "s:BR").all()


def test_missing_seat_capacity_rejected(tmp_path):
    tables = shuttle_tables()
    for trip in tables["trips"]:
        del trip["seat_capacity"]
    with pytest.raises(FeedRejected, match="seat_capacity"):
        load_shuttle_feed(write_gtfs(tmp_path / "f", tables), "s")
    tables = shuttle_tables()
    tables["trips"][1]["seat_capacity"] = "0"
    with pytest.raises(FeedRejected) as exc:
        load_shuttle_feed(write_gtfs(tmp_path / "g", tables), "s")
    (p,) = exc.value.report.errors
    assert (p.file, p.row, p.field) == ("trips.txt", 2, "seat_capacity")


def test_bad_seat_capacity_rejected_even_as_plain_gtfs(tmp_path):
    tables = shuttle_tables()
    tables["trips"][0]["seat_capacity"] = "many"
    with pytest.raises(FeedRejected, match="seat_capacity 'many'"):
        load_feed(write_gtfs(tmp_path / "f", tables), "s")


def test_booking_required_without_rule_rejected(tmp_path):
    tables = shuttle_tables()
    tables["stop_times"][4]["pickup_booking_rule_id"] = ""
    with pytest.raises(FeedRejected) as exc:
        load_shuttle_feed(write_gtfs(tmp_path / "f", tables), "s")
    (p,) = exc.value.report.errors
    assert p.row == 5 and "needs pickup_booking_rule_id" in p.message


def test_booking_rules_file_missing_or_broken(tmp_path):
    tables = shuttle_tables()
    del tables["booking_rules"]
    with pytest.raises(FeedRejected) as exc:
        load_shuttle_feed(write_gtfs(tmp_path / "f", tables), "s")
    assert any("booking_rules.txt is missing" in p.message for p in exc.value.report.errors)
    assert any("refers to no booking rule" in p.message for p in exc.value.report.errors)
    tables = shuttle_tables()
    tables["booking_rules"][0].update(booking_type="1", prior_notice_duration_min="")
    with pytest.raises(FeedRejected, match="needs prior_notice_duration_min"):
        load_shuttle_feed(write_gtfs(tmp_path / "g", tables), "s")
    tables["booking_rules"][0].update(booking_type="7", prior_notice_duration_min="5")
    with pytest.raises(FeedRejected, match="booking_type '7'"):
        load_shuttle_feed(write_gtfs(tmp_path / "h", tables), "s")


def test_shuttle_without_bookable_stops_warns(tmp_path):
    tables = minimal_feed_tables()
    for trip in tables["trips"]:
        trip["seat_capacity"] = "4"
    feed = load_shuttle_feed(write_gtfs(tmp_path / "f", tables), "s")
    assert any("no stop requires booking" in p.message for p in feed.report.warnings)


def test_broken_copy_of_the_example_rejected(tmp_path):
    """An operator's update that breaks the example is refused whole (a bad feed never replaces a good one)."""
    copy = shutil.copytree(EXAMPLE, tmp_path / "upd")
    text = (copy / "stop_times.txt").read_text().replace("WD-0800,08:12:00,08:12:00", "WD-0800,07:12:00,07:12:00")
    (copy / "stop_times.txt").write_text(text)
    with pytest.raises(FeedRejected, match="times go backwards"):
        load_shuttle_feed(copy, NS)


def test_example_has_every_documented_file():
    tables = read_tables(EXAMPLE, ValidationReport("example"))
    assert {"agency", "stops", "routes", "trips", "stop_times", "calendar", "calendar_dates", "booking_rules",
            "translations", "feed_info"} <= set(tables)
    doc = (EXAMPLE.parents[1] / "docs" / "shuttle-feed.md").read_text()
    for name in tables:
        assert f"{name}.txt" in doc
