"""The real Toei rail TripUpdates capture (2026-09-30 07:22:50 JST, 8 trips) on the official Toei feed: every trip
matched, and the departure boards and plan legs at the capture's time show exactly the capture's times, with
delays against the static stop_times.txt. Expected values are read from the capture's JSON and the feed's
stop_times.txt here, never from the overlay."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile

import numpy as np
import pytest

from conftest import shared_file

JST = dt.timezone(dt.timedelta(hours=9))
DAY = dt.date(2026, 9, 30)
HEADER_TS = 1790720570
NS = "toei"
CAPTURE = "gtfs-rt/toei_train_trip_update_20260930-072259.subset8"


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(int(ts), JST).isoformat()


def _secs(hhmmss: str) -> int:
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return h * 3600 + m * 60 + s


@pytest.fixture(scope="module")
def world():
    from feeds.feed import Network
    from feeds.gtfs import load_feed
    from feeds.gtfs_rt import decode
    from routing.planner import Planner
    from routing.realtime import build_overlay
    from routing.timetable import build_model
    from routing.walking import StraightLineWalker

    feed_path = shared_file("toei-train-official-gtfs.zip")
    pb_bytes = shared_file(CAPTURE + ".pb").read_bytes()
    capture = json.loads(shared_file(CAPTURE + ".json").read_text(encoding="utf-8"))
    with zipfile.ZipFile(feed_path) as z:
        rows = list(csv.DictReader(io.StringIO(z.read("stop_times.txt").decode("utf-8-sig"))))
    static = {}
    for r in rows:
        static[(r["trip_id"], int(r["stop_sequence"]))] = r
    model = build_model(Network([load_feed(feed_path, NS)]), DAY)
    msg = decode(pb_bytes, "application/x-protobuf", NS, now=HEADER_TS)
    ov = build_overlay(model, msg.trip_updates)
    planner = ov.planner(Planner(model, StraightLineWalker(model.stop_lat, model.stop_lon)))
    return model, ov, planner, capture, static


def _expected(capture, static):
    """(trip, seq, stop id, static row, arrival ts | None, departure ts | None) of every stop update."""
    midnight = dt.datetime.combine(DAY, dt.time(), JST).timestamp()
    for e in capture["entity"]:
        tu = e["tripUpdate"]
        trip = tu["trip"]["tripId"]
        for s in tu["stopTimeUpdate"]:
            seq = int(s["stopSequence"])
            row = static[(trip, seq)]
            arr = int(s["arrival"]["time"]) if "arrival" in s else None
            dep = int(s["departure"]["time"]) if "departure" in s else None
            yield trip, seq, row, arr, dep, midnight


def test_every_capture_trip_is_matched(world):
    model, ov, _, capture, _ = world
    assert ov.counts.entities == len(capture["entity"]) == 8
    assert ov.counts.matched == 8 and ov.counts.unmatched == 0 and ov.counts.bad_stops == 0
    assert ov.counts.cancelled == ov.counts.added == 0


def test_departure_boards_show_the_capture_times_and_delays(world):
    from api.departures import next_departures

    model, ov, _, capture, static = world
    checked = 0
    for trip, seq, row, arr, dep, midnight in _expected(capture, static):
        if dep is None or row["pickup_type"] == "1" or (trip, seq + 1) not in static:
            continue  # no departure to show (a last stop, or no boarding there)
        stop = model.stop_index(f"{NS}:{row['stop_id']}")
        t = int(dep - midnight)
        rows = next_departures(ov.model, np.array([stop]), t - 1, 2, 50)
        mine = [r for r in rows if r["trip_id"] == f"{NS}:{trip}"]
        assert len(mine) == 1, (trip, seq, rows)
        r = mine[0]
        assert r["departure"] == _iso(dep) and r["realtime"] is True
        assert r["delay_s"] == t - _secs(row["departure_time"]), (trip, seq)
        assert r["scheduled_departure"] == _iso(midnight + _secs(row["departure_time"]))
        checked += 1
    assert checked >= 150  # (174 stop updates, less the trips' last stops)


def test_plan_legs_at_the_capture_time_show_the_capture(world):
    """A ride on the Oedo train 410602A0 between two stops still ahead of it at 07:22:50 (predicted times):
    the leg's departure, arrival and delays are the capture's."""
    model, ov, planner, capture, static = world
    ups = [(seq, row, arr, dep, midnight) for trip, seq, row, arr, dep, midnight in _expected(capture, static)
           if trip == "410602A0" and dep is not None and dep > HEADER_TS + 120]
    (s1, row1, _, dep1, midnight), (s2, row2, arr2, _, _) = ups[0], ups[3]
    when = dt.datetime.fromtimestamp(dep1 - 30, JST)
    its = planner.plan(f"{NS}:{row1['stop_id']}", f"{NS}:{row2['stop_id']}", when)
    rides = [leg.to_dict() for it in its for leg in it.legs if leg.mode != "WALK"]
    leg = next(r for r in rides if r["trip_id"] == f"{NS}:410602A0")
    assert leg["departure"] == _iso(dep1) and leg["arrival"] == _iso(arr2)
    assert leg["from"]["sequence"] == s1 and leg["to"]["sequence"] == s2
    assert leg["delay_s"] == dep1 - midnight - _secs(row1["departure_time"])
    assert leg["arrival_delay_s"] == arr2 - midnight - _secs(row2["arrival_time"])
    assert leg["scheduled_departure"] == _iso(midnight + _secs(row1["departure_time"]))
    assert leg["realtime"] is True
    # the same query on the timetable alone rides the train at its scheduled time
    from routing.planner import Planner

    sched = Planner(model, planner.walker).plan(f"{NS}:{row1['stop_id']}", f"{NS}:{row2['stop_id']}",
                                                 dt.datetime.fromtimestamp(midnight + _secs(row1["departure_time"])
                                                                           - 30, JST))
    legs = [leg.to_dict() for it in sched for leg in it.legs if leg.mode != "WALK"]
    s_leg = next(r for r in legs if r["trip_id"] == f"{NS}:410602A0")
    assert s_leg["departure"] == _iso(midnight + _secs(row1["departure_time"])) and s_leg["realtime"] is False
