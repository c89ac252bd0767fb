"""GTFS import: normalised tables, namespacing, times, calendars, translations, and the real feeds of shared/data."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_file
from gtfs_builders import minimal_feed_tables, write_gtfs

from feeds.gtfs import default_namespace, load_feed, parse_feed_spec
from feeds.problems import FeedRejected

MON, SAT = dt.date(2026, 12, 7), dt.date(2026, 12, 5)


def test_minimal_feed_normalised_and_namespaced(tmp_path):
    feed = load_feed(write_gtfs(tmp_path / "f", minimal_feed_tables()), "op")
    assert feed.namespace == "op" and feed.timezone == "Asia/Tokyo" and feed.report.ok
    assert set(feed.stops["stop_id"]) == {"op:S", "op:A", "op:B", "op:C"}
    a = feed.stops.set_index("stop_id").loc["op:A"]
    assert a["parent_station"] == "op:S" and a["location_type"] == 0
    assert a["wheelchair_boarding"] == 1  # empty on the platform: inherited from its station
    assert feed.stops.set_index("stop_id").loc["op:B", "parent_station"] == ""
    assert feed.trips["service_id"].tolist() == ["op:WD", "op:WD", "op:WE"]
    assert (feed.trips["seat_capacity"] == -1).all() and feed.trips["seat_capacity"].dtype == np.int32
    assert feed.routes.loc[0, "agency_id"] == "op:ag" and feed.routes.loc[0, "route_type"] == 3
    st = feed.stop_times
    assert st["arrival"].dtype == np.int32 and st["stop_sequence"].dtype == np.int32
    assert st["trip_id"].tolist()[:3] == ["op:T1"] * 3
    assert st.loc[0, "arrival"] == 8 * 3600 and st.loc[2, "departure"] == 8 * 3600 + 600
    assert feed.service_ids_on(MON) == {"op:WD"} and feed.service_ids_on(SAT) == {"op:WE"}
    assert feed.calendar.loc[0, "start_date"] == dt.date(2026, 1, 1)


def test_zip_and_folder_give_the_same_feed(tmp_path):
    tables = minimal_feed_tables()
    a = load_feed(write_gtfs(tmp_path / "f", tables), "x")
    b = load_feed(write_gtfs(tmp_path / "f.zip", tables, zip=True), "x")
    assert a.stop_times.equals(b.stop_times) and a.stops.equals(b.stops)


def test_stop_times_sorted_by_trip_then_sequence(tmp_path):
    tables = minimal_feed_tables()
    tables["stop_times"].reverse()
    st = load_feed(write_gtfs(tmp_path / "f", tables), "x").stop_times
    assert st["trip_id"].tolist() == sorted(st["trip_id"])
    for _, g in st.groupby("trip_id"):
        assert g["stop_sequence"].is_monotonic_increasing


def test_times_past_midnight(tmp_path):
    tables = minimal_feed_tables()
    for row, t in zip(tables["stop_times"][:3], ("24:50:00", "25:10:00", "25:30:30")):
        row["arrival_time"] = row["departure_time"] = t
    st = load_feed(write_gtfs(tmp_path / "f", tables), "x").stop_times
    t1 = st[st["trip_id"] == "x:T1"]
    assert t1["arrival"].tolist() == [89400, 90600, 91830]


def test_single_digit_hour_and_missing_arrival(tmp_path):
    tables = minimal_feed_tables()
    tables["stop_times"][0]["arrival_time"] = ""  # departure only: arrival = departure
    tables["stop_times"][0]["departure_time"] = "8:00:00"
    st = load_feed(write_gtfs(tmp_path / "f", tables), "x").stop_times
    assert st.loc[0, "arrival"] == st.loc[0, "departure"] == 8 * 3600


def test_calendar_dates_add_and_remove(tmp_path):
    tables = minimal_feed_tables()
    tables["calendar_dates"] = [
        {"service_id": "WD", "date": "20261207", "exception_type": "2"},  # a Monday off
        {"service_id": "WE", "date": "20261207", "exception_type": "1"},  # weekend timetable instead
        {"service_id": "HOL", "date": "20261231", "exception_type": "1"},  # service only in calendar_dates
    ]
    tables["trips"].append({"route_id": "R1", "service_id": "HOL", "trip_id": "T9"})
    tables["stop_times"] += [{"trip_id": "T9", "arrival_time": t, "departure_time": t, "stop_id": s,
                              "stop_sequence": q} for t, s, q in (("11:00:00", "A", "1"), ("11:09:00", "C", "2"))]
    feed = load_feed(write_gtfs(tmp_path / "f", tables), "x")
    assert feed.service_ids_on(MON) == {"x:WE"}
    assert feed.service_ids_on(dt.date(2026, 12, 8)) == {"x:WD"}
    assert feed.service_ids_on(dt.date(2026, 12, 31)) == {"x:WD", "x:HOL"}
    assert feed.calendar_dates["date"].iloc[0] == MON


def test_calendar_dates_only_feed(tmp_path):
    tables = minimal_feed_tables()
    del tables["calendar"]
    tables["calendar_dates"] = [{"service_id": s, "date": "20261207", "exception_type": "1"} for s in ("WD", "WE")]
    feed = load_feed(write_gtfs(tmp_path / "f", tables), "x")
    assert len(feed.calendar) == 0 and feed.service_ids_on(MON) == {"x:WD", "x:WE"}


def test_frequencies(tmp_path):
    tables = minimal_feed_tables()
    tables["frequencies"] = [{"trip_id": "T1", "start_time": "07:00:00", "end_time": "24:30:00",
                              "headway_secs": "600", "exact_times": "1"}]
    fr = load_feed(write_gtfs(tmp_path / "f", tables), "x").frequencies
    assert fr.to_dict("records") == [{"trip_id": "x:T1", "start_time": 25200, "end_time": 88200,
                                      "headway_secs": 600, "exact_times": 1}]


def test_transfers_and_shapes_namespaced(tmp_path):
    tables = minimal_feed_tables()
    tables["transfers"] = [{"from_stop_id": "A", "to_stop_id": "B", "transfer_type": "2", "min_transfer_time": "120"},
                           {"from_stop_id": "C", "to_stop_id": "A", "transfer_type": "4", "from_trip_id": "T1",
                            "to_trip_id": "T2"}]
    tables["shapes"] = [{"shape_id": "sh", "shape_pt_lat": "35.6", "shape_pt_lon": "139.7", "shape_pt_sequence": str(i),
                         "shape_dist_traveled": str(i)} for i in (2, 1)]
    for t in tables["trips"]:
        t["shape_id"] = "sh"
    feed = load_feed(write_gtfs(tmp_path / "f", tables), "x")
    tr = feed.transfers
    assert tr.loc[0, ["from_stop_id", "to_stop_id"]].tolist() == ["x:A", "x:B"]
    assert tr.loc[0, "min_transfer_time"] == 120 and np.isnan(tr.loc[1, "min_transfer_time"])
    assert tr.loc[1, ["from_trip_id", "to_trip_id"]].tolist() == ["x:T1", "x:T2"]
    assert tr.loc[0, "from_trip_id"] == ""
    assert feed.shapes["shape_pt_sequence"].tolist() == [1, 2] and set(feed.trips["shape_id"]) == {"x:sh"}
    # one string object per id across the tables (a server keeps them all: no copy per table)
    trip = {v: v for v in feed.trips["trip_id"].tolist()}["x:T1"]
    assert all(v is trip for v in (tr.loc[1, "from_trip_id"], feed.stop_times["trip_id"].cat.categories.tolist()[
        feed.stop_times["trip_id"].cat.categories.get_loc("x:T1")]))
    stop = {v: v for v in feed.stops["stop_id"].tolist()}["x:A"]
    assert tr.loc[0, "from_stop_id"] is stop and tr.loc[1, "to_stop_id"] is stop


def test_pass_through_rows_interpolated_by_sequence(tmp_path):
    tables = minimal_feed_tables()
    t1 = tables["stop_times"][:3]
    t1[2]["arrival_time"] = t1[2]["departure_time"] = "08:20:00"
    t1[1].update(arrival_time="", departure_time="", pickup_type="1", drop_off_type="1", timepoint="0")
    st = load_feed(write_gtfs(tmp_path / "f", tables), "x").stop_times
    mid = st[(st["trip_id"] == "x:T1") & (st["stop_sequence"] == 2)].iloc[0]
    assert mid["arrival"] == mid["departure"] == 8 * 3600 + 600  # halfway by stop order
    assert (mid["pickup_type"], mid["drop_off_type"], mid["timepoint"]) == (1, 1, 0)
    assert st[st["trip_id"] == "x:T2"]["timepoint"].tolist() == [1, 1, 1]


def test_pass_through_rows_interpolated_by_distance(tmp_path):
    tables = minimal_feed_tables()
    rows = tables["stop_times"][:3]
    for row, d in zip(rows, ("0", "1.0", "4.0")):
        row["shape_dist_traveled"] = d
    rows[2]["arrival_time"] = rows[2]["departure_time"] = "08:20:00"
    rows[1]["arrival_time"] = rows[1]["departure_time"] = ""
    st = load_feed(write_gtfs(tmp_path / "f", tables), "x").stop_times
    assert st.loc[1, "arrival"] == 8 * 3600 + 300  # a quarter of the distance, a quarter of 20 min


def test_translations_keyed_by_field_value_and_by_record_id(tmp_path):
    tables = minimal_feed_tables()
    tables["translations"] = [
        {"table_name": "stops", "field_name": "stop_name", "language": "en", "translation": "Central",
         "field_value": "中央"},
        {"table_name": "stops", "field_name": "stop_name", "language": "ja-Hrkt", "translation": "ちゅうおう",
         "field_value": "中央"},
        {"table_name": "stops", "field_name": "stop_name", "language": "en", "translation": "Station",
         "record_id": "S"},
        {"table_name": "routes", "field_name": "route_long_name", "language": "en", "translation": "Main Line",
         "record_id": "R1"},
    ]
    feed = load_feed(write_gtfs(tmp_path / "f", tables), "x")
    stops = feed.stops.set_index("stop_id")
    assert stops.loc["x:B", "stop_name_en"] == "Central" and stops.loc["x:B", "stop_name_kana"] == "ちゅうおう"
    assert stops.loc["x:S", "stop_name_en"] == "Station"
    assert stops.loc["x:A", "stop_name_en"] == "Station"  # platform inherits its station's name
    assert stops.loc["x:C", "stop_name_en"] == ""
    assert feed.routes.loc[0, "route_long_name_en"] == "Main Line"
    assert any("English name" in p.message for p in feed.report.warnings)


def test_translations_gtfs_jp_v1_form(tmp_path):
    tables = minimal_feed_tables()
    tables["translations"] = [{"trans_id": "中央", "lang": "en", "translation": "Central"},
                              {"trans_id": "本線", "lang": "en", "translation": "Main Line"}]
    feed = load_feed(write_gtfs(tmp_path / "f", tables), "x")
    assert feed.stops.set_index("stop_id").loc["x:B", "stop_name_en"] == "Central"
    assert feed.routes.loc[0, "route_long_name_en"] == "Main Line"


def test_bom_spaced_headers_and_extra_files(tmp_path):
    tables = minimal_feed_tables()
    agency = tables.pop("agency")[0]
    raw = {"agency.txt": "\ufeffagency_id, agency_name ,agency_url,agency_timezone\n"
                         f"{agency['agency_id']},{agency['agency_name']},{agency['agency_url']},Asia/Tokyo\r\n",
           "agency_jp.txt": "agency_id,agency_official_name\nag,テスト\n", "office_jp.txt": "office_id\n1\n"}
    feed = load_feed(write_gtfs(tmp_path / "f", tables, raw=raw), "x")
    assert feed.agencies.loc[0, "agency_name"] == "Test Transit"


def test_leading_zero_ids_are_kept(tmp_path):
    tables = minimal_feed_tables()
    for row in tables["trips"]:
        row["service_id"] = "01" if row["service_id"] == "WD" else "001"
    tables["calendar"][0]["service_id"], tables["calendar"][1]["service_id"] = "01", "001"
    feed = load_feed(write_gtfs(tmp_path / "f", tables), "x")
    assert set(feed.trips["service_id"]) == {"x:01", "x:001"}


def test_routes_without_agency_id_belong_to_the_single_agency(tmp_path):
    tables = minimal_feed_tables()
    del tables["routes"][0]["agency_id"]
    feed = load_feed(write_gtfs(tmp_path / "f", tables), "x")
    assert feed.routes.loc[0, "agency_id"] == feed.agencies.loc[0, "agency_id"] == "x:ag"
    del tables["agency"][0]["agency_id"]
    feed = load_feed(write_gtfs(tmp_path / "g", tables), "x")
    assert feed.routes.loc[0, "agency_id"] == feed.agencies.loc[0, "agency_id"] == "x:agency"


def test_feed_specs_and_default_namespace():
    assert parse_feed_spec("toei=/data/a.zip") == ("toei", Path("/data/a.zip"))
    assert parse_feed_spec("/data/toei-rail-gtfs.zip") == ("toei-rail", Path("/data/toei-rail-gtfs.zip"))
    assert default_namespace("/x/Chii Bus GTFS/") == "chii-bus"
    with pytest.raises(ValueError):
        parse_feed_spec("=x.zip")
    for url in ("https://example.org/gtfs.zip", "toei=https://example.org/gtfs.zip"):
        with pytest.raises(ValueError, match="local files only"):
            parse_feed_spec(url)


def test_urls_and_missing_paths_refused(tmp_path):
    with pytest.raises(ValueError, match="local files only"):
        load_feed("https://example.org/gtfs.zip", "x")
    with pytest.raises(FileNotFoundError):
        load_feed(tmp_path / "nope.zip", "x")
    with pytest.raises(ValueError, match="namespace"):
        load_feed(write_gtfs(tmp_path / "f", minimal_feed_tables()), "bad:ns")


# --------------------------------------------------------------------------- real feeds (skip without shared/data)

@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["toei-rail-gtfs.zip", "toei-rail-gtfs"])
def test_toei_rail_zip_and_folder(name):
    feed = load_feed(shared_file(name), "toei")
    assert feed.report.ok and len(feed.stop_times) == 122_258 and len(feed.trips) == 5_600
    assert (feed.stops["location_type"] == 1).sum() == 141
    assert feed.stop_times["arrival"].max() == 24 * 3600 + 59 * 60
    assert (feed.stop_times["departure"] >= 86400).sum() == 1318  # README: rows at or after 24:00
    trips = feed.trips[feed.trips["service_id"].isin(feed.service_ids_on(dt.date(2026, 12, 1)))]
    assert len(trips) == 2818
    daimon = feed.stops[feed.stops["stop_id"] == "toei:Toei.Oedo.Daimon"].iloc[0]
    assert daimon["stop_name_en"] == "Daimon" and daimon["parent_station"].startswith("toei:P:")
    assert feed.transfers["from_stop_id"].str.startswith("toei:").all()
    assert (feed.trips["shape_id"] != "").all() and len(feed.shapes)


@pytest.mark.shared_data
def test_toei_official_pass_through_and_field_value_translations():
    feed = load_feed(shared_file("toei-train-official-gtfs.zip"), "toei-official")
    st = feed.stop_times
    assert len(st) == 122_798
    passing = st[(st["pickup_type"] == 1) & (st["drop_off_type"] == 1) & (st["timepoint"] == 0)]
    assert len(passing) == 540
    # interpolated times lie between the neighbours' times
    idx = passing.index.to_numpy()
    assert (st.loc[idx, "arrival"].to_numpy() >= st.loc[idx - 1, "departure"].to_numpy()).all()
    assert (st.loc[idx, "arrival"].to_numpy() <= st.loc[idx + 1, "arrival"].to_numpy()).all()
    stops = feed.stops.set_index("stop_id")
    assert stops.loc["toei-official:101", "stop_name"] == "西馬込"
    assert stops.loc["toei-official:101", "stop_name_en"] == "Nishi-magome"
    assert (feed.stops["stop_name_en"] != "").all()
    assert (feed.routes["route_long_name_en"] != "").all()
    assert stops.loc["toei-official:101", "zone_id"] == "toei-official:101"
    assert len(feed.fare_rules) == 11_271 and feed.fare_rules["origin_id"].str.startswith("toei-official:").all()


@pytest.mark.shared_data
def test_tokyo_metro():
    feed = load_feed(shared_file("tokyo-metro-gtfs.zip"), "metro")
    assert len(feed.stop_times) == 168_230 and len(feed.routes) == 10
    assert len(feed.trips[feed.trips["service_id"].isin(feed.service_ids_on(dt.date(2026, 12, 1)))]) == 5464
    assert (feed.transfers["transfer_type"] == 4).sum() == 234


@pytest.mark.shared_data
def test_chiibus_holidays_from_calendar_dates():
    feed = load_feed(shared_file("chiibus-minato-gtfs.zip"), "chiibus")
    assert len(feed.stop_times) == 27_103
    weekday, holiday = dt.date(2026, 11, 24), dt.date(2026, 11, 23)  # Labour Thanksgiving Day, a Monday
    assert feed.service_ids_on(weekday) == {"chiibus:01"}
    assert feed.service_ids_on(holiday) == {"chiibus:06"}
    assert (feed.stops["stop_name_kana"] != "").mean() > 0.9


@pytest.mark.shared_data
def test_vilnius_bom_spaced_header_and_late_times():
    feed = load_feed(shared_file("vilnius-gtfs.zip"), "vilnius")
    assert feed.timezone == "Europe/Vilnius" and "agency_name" in feed.agencies.columns
    assert feed.agencies.loc[0, "agency_name"].startswith("UAB")
    assert feed.stop_times["departure"].max() == 27 * 3600 + 36 * 60
    assert len(feed.stop_times) == 445_217


@pytest.mark.shared_data
def test_carta_header_only_files_and_new_york():
    feed = load_feed(shared_file("chattanooga-carta-gtfs.zip"), "carta")
    assert feed.timezone == "America/New_York"
    assert len(feed.frequencies) == 0 and len(feed.transfers) == 0
    assert list(feed.frequencies.columns) == ["trip_id", "start_time", "end_time", "headway_secs", "exact_times"]
    assert len(feed.stop_times) == 82_644


@pytest.mark.shared_data
def test_toei_bus_without_stop_times_rejected():
    with pytest.raises(FeedRejected) as exc:
        load_feed(shared_file("toei-bus-gtfs-no-stop-times.zip"), "toei-bus")
    errors = exc.value.report.errors
    assert errors[0].file == "stop_times.txt"
    assert errors[0].message.startswith("stop_times.txt is missing: the feed has no timetable")
