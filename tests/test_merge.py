"""Merging operators: the same raw ids in two feeds stay distinct once namespaced; one namespace per operator."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import shared_file
from gtfs_builders import minimal_feed_tables, write_gtfs

from feeds.feed import Network
from feeds.gtfs import load_feed


@pytest.fixture()
def two_feeds(tmp_path):
    """Two operators whose feeds use exactly the same raw ids (stops A/B/C, trips T1-T3, services WD/WE...)."""
    a = load_feed(write_gtfs(tmp_path / "a", minimal_feed_tables()), "bus-a")
    tables = minimal_feed_tables()
    tables["calendar"][0]["end_date"] = "20260630"  # operator b's weekday service ends mid-year
    b = load_feed(write_gtfs(tmp_path / "b.zip", tables, zip=True), "bus-b")
    return a, b


def test_colliding_raw_ids_are_distinct_after_namespacing(two_feeds):
    a, b = two_feeds
    net = Network([a, b])
    for table, col in (("stops", "stop_id"), ("trips", "trip_id"), ("routes", "route_id"),
                       ("agencies", "agency_id"), ("calendar", "service_id")):
        merged = net.table(table)
        assert len(merged) == len(getattr(a, table)) + len(getattr(b, table))
        assert merged[col].is_unique, f"{table}.{col} collides"
    st = net.table("stop_times")
    assert len(st) == 18 and st.groupby("trip_id").size().eq(3).all()
    # each stop time points at its own operator's stop and trip
    assert (st["trip_id"].str.split(":").str[0] == st["stop_id"].str.split(":").str[0]).all()
    stops = net.table("stops")
    assert set(stops.loc[stops["parent_station"] != "", "parent_station"]) == {"bus-a:S", "bus-b:S"}


def test_network_service_days_per_operator(two_feeds):
    net = Network(list(two_feeds))
    assert net.service_ids_on(dt.date(2026, 3, 2)) == {"bus-a:WD", "bus-b:WD"}
    assert net.service_ids_on(dt.date(2026, 9, 7)) == {"bus-a:WD"}
    assert net.feed("bus-b").namespace == "bus-b"


def test_duplicate_namespace_refused(tmp_path):
    a = load_feed(write_gtfs(tmp_path / "a", minimal_feed_tables()), "same")
    b = load_feed(write_gtfs(tmp_path / "b", minimal_feed_tables()), "same")
    with pytest.raises(ValueError, match="share the namespace"):
        Network([a, b])


@pytest.mark.shared_data
def test_two_real_feeds_of_the_same_lines(tmp_path):
    """The converted and the official Toei feeds cover the same six lines with different ids; merged they coexist."""
    conv = load_feed(shared_file("toei-rail-gtfs.zip"), "toei-conv")
    official = load_feed(shared_file("toei-train-official-gtfs.zip"), "toei-official")
    net = Network([conv, official])
    assert net.table("trips")["trip_id"].is_unique and len(net.table("trips")) == 11_200
    assert len(net.table("stop_times")) == 122_258 + 122_798
    day = net.service_ids_on(dt.date(2026, 12, 1))
    assert {s.split(":")[0] for s in day} == {"toei-conv", "toei-official"}
