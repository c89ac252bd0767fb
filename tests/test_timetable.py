"""The transit model builder: service days, past-midnight trips, frequencies, FIFO patterns, footpaths, save/load.

`make_feed` builds a contract-conforming `Feed` from plain rows; the RAPTOR and planner tests use it too.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from feeds.feed import Feed, Network
from feeds.problems import ValidationReport
from routing.timetable import BuildSettings, TransitModel, build_model

DATE = dt.date(2026, 12, 1)  # a Tuesday
WEEK = dict(monday=1, tuesday=1, wednesday=1, thursday=1, friday=1, saturday=1, sunday=1)


def make_feed(ns: str, stops: list[dict], routes: list[dict], trips: list[dict], stop_times: list[dict],
              transfers: list[dict] | None = None, frequencies: list[dict] | None = None,
              services: dict[str, list[int]] | None = None, shapes: list[dict] | None = None) -> Feed:
    """A Feed from raw rows (ids un-namespaced; times in seconds). ``services``: service_id → weekdays (0=Mon)."""
    def p(v):
        return f"{ns}:{v}" if v != "" else ""

    st = pd.DataFrame([{"stop_id": p(s["id"]), "stop_code": "", "stop_name": s.get("name", s["id"]),
                        "stop_name_en": s.get("name_en", ""), "stop_name_kana": "",
                        "stop_lat": float(s["lat"]), "stop_lon": float(s["lon"]),
                        "location_type": s.get("location_type", 0), "parent_station": p(s.get("parent", "")),
                        "wheelchair_boarding": s.get("wheelchair", 0), "platform_code": "", "zone_id": ""}
                       for s in stops])
    st["location_type"] = st["location_type"].astype("int8")
    st["wheelchair_boarding"] = st["wheelchair_boarding"].astype("int8")
    ro = pd.DataFrame([{"route_id": p(r["id"]), "agency_id": p("A"), "route_short_name": r.get("short", r["id"]),
                        "route_long_name": r.get("long", ""), "route_long_name_en": "",
                        "route_type": r.get("type", 1), "route_color": r.get("color", ""), "route_text_color": ""}
                       for r in routes])
    ro["route_type"] = ro["route_type"].astype("int16")
    tr = pd.DataFrame([{"trip_id": p(t["id"]), "route_id": p(t["route"]), "service_id": p(t.get("service", "S")),
                        "trip_headsign": t.get("headsign", ""), "direction_id": -1,
                        "shape_id": p(t.get("shape", "")), "wheelchair_accessible": t.get("wheelchair", 0),
                        "seat_capacity": t.get("seats", -1)} for t in trips])
    tr = tr.astype({"direction_id": "int8", "wheelchair_accessible": "int8", "seat_capacity": "int32"})
    stt = pd.DataFrame([{"trip_id": p(x["trip"]), "stop_sequence": x["seq"], "stop_id": p(x["stop"]),
                         "arrival": x["arr"], "departure": x["dep"], "pickup_type": x.get("pickup", 0),
                         "drop_off_type": x.get("dropoff", 0), "timepoint": 1,
                         "pickup_booking_rule_id": p(x.get("rule", "")), "drop_off_booking_rule_id": "",
                         "shape_dist_traveled": np.nan} for x in stop_times])
    stt = stt.astype({"stop_sequence": "int32", "arrival": "int32", "departure": "int32", "pickup_type": "int8",
                      "drop_off_type": "int8", "timepoint": "int8"}).sort_values(["trip_id", "stop_sequence"])
    services = services or {"S": list(range(7))}
    cal = pd.DataFrame([{"service_id": p(sid), **{d: int(i in days) for i, d in enumerate(WEEK)},
                         "start_date": dt.date(2026, 1, 1), "end_date": dt.date(2027, 12, 31)}
                        for sid, days in services.items()])
    cd = pd.DataFrame(columns=["service_id", "date", "exception_type"])
    tf = pd.DataFrame([{"from_stop_id": p(x["from"]), "to_stop_id": p(x["to"]), "transfer_type": x.get("type", 2),
                        "min_transfer_time": x.get("time", np.nan)} for x in (transfers or [])],
                      columns=["from_stop_id", "to_stop_id", "transfer_type", "min_transfer_time"])
    fq = pd.DataFrame([{"trip_id": p(x["trip"]), "start_time": x["start"], "end_time": x["end"],
                        "headway_secs": x["headway"], "exact_times": 1} for x in (frequencies or [])],
                      columns=["trip_id", "start_time", "end_time", "headway_secs", "exact_times"])
    sh = pd.DataFrame([{"shape_id": p(x["id"]), "shape_pt_lat": x["lat"], "shape_pt_lon": x["lon"],
                        "shape_pt_sequence": x["seq"], "shape_dist_traveled": np.nan} for x in (shapes or [])],
                      columns=["shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence",
                               "shape_dist_traveled"])
    ag = pd.DataFrame([{"agency_id": p("A"), "agency_name": f"Agency {ns}", "agency_url": "https://example.org",
                        "agency_timezone": "Asia/Tokyo", "agency_lang": "ja"}])
    br = pd.DataFrame(columns=["booking_rule_id", "booking_type", "prior_notice_duration_min", "message"])
    empty = pd.DataFrame()
    return Feed(ns, "Asia/Tokyo", ValidationReport(ns, []), ag, st, ro, tr, stt, cal, cd, fq, tf, sh, br,
                empty, empty)


def line_rows(trip: str, stops: list[str], start: int, hop: int = 120, dwell: int = 30, **kw) -> list[dict]:
    rows, t = [], start
    for i, s in enumerate(stops):
        rows.append({"trip": trip, "seq": i + 1, "stop": s, "arr": t, "dep": t + (dwell if 0 < i < len(stops) - 1 else 0),
                     **kw})
        t += hop + (dwell if 0 < i < len(stops) - 1 else 0)
    return rows


def grid_stops(n: int, lat0: float = 35.68, lon0: float = 139.76, step: float = 0.01) -> list[dict]:
    return [{"id": f"S{i}", "lat": lat0 + step * (i // 4), "lon": lon0 + step * (i % 4)} for i in range(n)]


def _small_feed() -> Feed:
    stops = grid_stops(6) + [{"id": "P", "lat": 35.70, "lon": 139.80, "location_type": 1, "name": "Parent"},
                             {"id": "X1", "lat": 35.70, "lon": 139.8001, "parent": "P"},
                             {"id": "X2", "lat": 35.7001, "lon": 139.80, "parent": "P"}]
    routes = [{"id": "R1"}, {"id": "R2", "type": 3}, {"id": "SH", "type": 3}]
    trips = [{"id": "a", "route": "R1"}, {"id": "b", "route": "R1"}, {"id": "late", "route": "R1"},
             {"id": "exp", "route": "R1"}, {"id": "we", "route": "R2", "service": "WE"},
             {"id": "f", "route": "R2"}, {"id": "sh", "route": "SH", "seats": 8}]
    rows = (line_rows("a", ["S0", "S1", "S2", "S3"], 8 * 3600)
            + line_rows("b", ["S0", "S1", "S2", "S3"], 8 * 3600 + 600)
            + line_rows("late", ["S0", "S1", "S2", "S3"], 23 * 3600 + 55 * 60, hop=600)
            # overtakes "b" (leaves after, arrives before): must land in another pattern
            + line_rows("exp", ["S0", "S1", "S2", "S3"], 8 * 3600 + 660, hop=20, dwell=0)
            + line_rows("we", ["S4", "S5"], 9 * 3600)
            + line_rows("f", ["S4", "X1"], 0)
            + line_rows("sh", ["X2", "S5"], 10 * 3600))
    return make_feed("t", stops, routes, trips, rows,
                     transfers=[{"from": "X1", "to": "X2", "time": 90}, {"from": "S1", "to": "S1", "time": 200}],
                     frequencies=[{"trip": "f", "start": 6 * 3600, "end": 7 * 3600, "headway": 600}],
                     services={"S": list(range(7)), "WE": [5, 6]})


@pytest.fixture(scope="module")
def small_model() -> TransitModel:
    return build_model(Network([_small_feed()]), DATE, BuildSettings())


def trip_of_day(m: TransitModel, trip_id: str, day: int = 0) -> int:
    """The model trip running ``trip_id`` on service day ``day`` (relative to the model's date)."""
    return next(i for i, t in enumerate(m.trip_ids) if t == trip_id and m.trip_day_offset[i] == day)


def _times(m: TransitModel, trip_id: str) -> tuple[np.ndarray, np.ndarray]:
    t = trip_of_day(m, trip_id)
    off, n = m.trip_times_offset(t)
    return m.st_arr[off:off + n], m.departures_of_trip(t)


def test_service_day_and_previous_day_past_midnight(small_model):
    m = small_model
    assert "t:we" not in m.trip_ids  # weekend service, the date is a Tuesday
    # the day before's, the day's, the next two days', and the one from two days back still running after the
    # day before's midnight
    idx = [i for i, t in enumerate(m.trip_ids) if t == "t:late"]
    offsets = sorted(int(m.trip_day_offset[i]) for i in idx)
    assert offsets == [-2, -1, 0, 1, 2]
    for day in offsets:
        dep = m.departures_of_trip(trip_of_day(m, "t:late", day))[0]
        assert dep == 23 * 3600 + 55 * 60 + day * 86400  # shifted onto the model date's clock
    off, n = m.trip_times_offset(trip_of_day(m, "t:late", -2))
    assert m.st_arr[off + n - 1] >= -86400  # reaches past the day before's midnight
    # a trip of two days back that ends before the day before's midnight is left out
    assert sorted(int(m.trip_day_offset[i]) for i, t in enumerate(m.trip_ids) if t == "t:a") == [-1, 0, 1, 2]


def test_frequencies_expanded(small_model):
    m = small_model
    f = sorted(t for i, t in enumerate(m.trip_ids) if t.startswith("t:f@") and m.trip_day_offset[i] == 0)
    assert f == [f"t:f@0{h}:{mm:02d}:00" for h, mm in [(6, 0), (6, 10), (6, 20), (6, 30), (6, 40), (6, 50)]]
    arr, dep = _times(m, "t:f@06:20:00")
    assert dep[0] == 6 * 3600 + 1200 and arr[1] == 6 * 3600 + 1200 + 120
    assert "t:f" not in m.trip_ids  # the template itself does not run


def test_patterns_fifo_and_sorted(small_model):
    m = small_model
    for p in range(m.n_patterns):
        n = m.pattern_len(p)
        a, b = m.pattern_trips_start[p], m.pattern_trips_start[p + 1]
        dep = m.dep_by_pos[m.pattern_times_start[p]:m.pattern_times_start[p] + (b - a) * n].reshape(n, b - a).T
        arr = m.st_arr[m.pattern_times_start[p]:m.pattern_times_start[p] + (b - a) * n].reshape(b - a, n)
        assert np.all(np.diff(dep, axis=0) >= 0) and np.all(np.diff(arr, axis=0) >= 0)
        for t in range(a, b):
            assert m.trip_pattern[t] == p
    pa = m.trip_pattern[trip_of_day(m, "t:b")]
    pe = m.trip_pattern[trip_of_day(m, "t:exp")]
    assert pa != pe  # the express overtakes b: different patterns
    assert m.pattern_route[pa] == m.pattern_route[pe]


def test_stop_pattern_index_and_stations(small_model):
    m = small_model
    for s in range(m.n_stops):
        for e in range(m.sp_start[s], m.sp_start[s + 1]):
            p, pos = m.sp_pattern[e], m.sp_pos[e]
            assert m.pattern_stops[m.pattern_stops_start[p] + pos] == s
    x1, x2 = m.stop_index("t:X1"), m.stop_index("t:X2")
    assert m.stop_station[x1] == m.stop_station[x2]
    st = m.stop_station[x1]
    assert m.station_ids[st] == "t:P"
    assert set(m.station_stops[m.station_stops_start[st]:m.station_stops_start[st + 1]].tolist()) == {x1, x2}
    assert "t:P" not in m.stop_ids  # stations are not boarding places


def test_footpaths_transfers_first(small_model):
    m = small_model
    x1, x2 = m.stop_index("t:X1"), m.stop_index("t:X2")
    e = [i for i in range(m.fp_start[x1], m.fp_start[x1 + 1]) if m.fp_to[i] == x2]
    assert len(e) == 1 and m.fp_fixed_s[e[0]] == 90
    back = [i for i in range(m.fp_start[x2], m.fp_start[x2 + 1]) if m.fp_to[i] == x1]
    assert len(back) == 1 and m.fp_fixed_s[back[0]] == -1 and 0 < m.fp_dist[back[0]] < 30  # walked
    s0, s1 = m.stop_index("t:S0"), m.stop_index("t:S1")
    assert s1 not in m.fp_to[m.fp_start[s0]:m.fp_start[s0 + 1]]  # 900 m apart: beyond the radius
    assert m.stop_min_transfer[s1] == 200 and m.stop_min_transfer[s0] == -1
    for s in range(m.n_stops):
        assert s not in m.fp_to[m.fp_start[s]:m.fp_start[s + 1]]  # no self loops


def test_modes_and_shuttle(small_model):
    m = small_model
    assert m.route_modes[m.route_ids.index("t:R1")] == "SUBWAY"
    assert m.route_modes[m.route_ids.index("t:R2")] == "BUS"
    assert m.route_modes[m.route_ids.index("t:SH")] == "SHUTTLE"
    assert m.trip_booking[m.trip_ids.index("t:sh")] == 1 and m.trip_seat_capacity[m.trip_ids.index("t:sh")] == 8


def test_pickup_dropoff_flags():
    stops = grid_stops(3)
    rows = line_rows("a", ["S0", "S1", "S2"], 3600)
    rows[1]["pickup"] = 1
    rows[2]["dropoff"] = 1
    m = build_model(Network([make_feed("n", stops, [{"id": "R"}], [{"id": "a", "route": "R"}], rows)]), DATE)
    off, n = m.trip_times_offset(0)
    assert m.st_pickup[off:off + n].tolist() == [1, 0, 1]
    assert m.st_dropoff[off:off + n].tolist() == [1, 1, 0]


def test_loop_stop_twice_in_pattern():
    stops = grid_stops(3)
    rows = line_rows("loop", ["S0", "S1", "S2", "S0"], 3600)
    m = build_model(Network([make_feed("o", stops, [{"id": "E"}], [{"id": "loop", "route": "E"}], rows)]), DATE)
    s0 = m.stop_index("o:S0")
    assert sorted(m.sp_pos[m.sp_start[s0]:m.sp_start[s0 + 1]].tolist()) == [0, 3]


def test_save_load_round_trip(small_model, tmp_path):
    small_model.save(tmp_path / "m")
    back = TransitModel.load(tmp_path / "m")
    for name, v in vars(small_model).items():
        if name.startswith("_"):
            continue
        if isinstance(v, np.ndarray):
            assert np.array_equal(v, getattr(back, name), equal_nan=v.dtype.kind == "f") and v.dtype == getattr(back, name).dtype, name
        else:
            assert v == getattr(back, name), name
    assert back.stop_index("t:X1") == small_model.stop_index("t:X1")
    # departures are saved by trip, as before they were kept by position (a directory reads the same either side)
    on_disk = np.load(tmp_path / "m" / "st_dep.npy")
    assert not (tmp_path / "m" / "dep_by_pos.npy").exists()
    for t in range(small_model.n_trips):
        off, n = small_model.trip_times_offset(t)
        assert on_disk[off:off + n].tolist() == small_model.departures_of_trip(t).tolist()


def test_trip_index_finds_each_run_by_trip_and_day(small_model):
    m = dataclasses.replace(small_model, trip_ids=list(small_model.trip_ids))  # its own ids and index, built here
    want = {(t, int(d)): i for i, (t, d) in enumerate(zip(m.trip_ids, m.trip_day_offset.tolist()))}
    assert len(want) == m.n_trips  # one run per (trip, day): frequency runs are named by their start
    for (t, d), i in want.items():
        got = m.trip_index(t, d)
        assert got == i and type(got) is int
    assert m.trip_index("t:late") == want[("t:late", 0)]  # the default is the model's own date
    assert m.trip_index("t:a", -2) is None  # ended before the day before's midnight: not in the model
    assert m.trip_index("t:we") is None and m.trip_index("t:f") is None and m.trip_index("nope", 0) is None
    assert m.trip_index("t:late", 5) is None
    assert m.trip_index("t:f@06:20:00", 1) == want[("t:f@06:20:00", 1)]


def test_pattern_columns_read_as_the_flat_stop_time_columns():
    """st_seq and st_dist are kept per pattern (`PatternColumn`): one row where a pattern's trips agree, one per
    trip where they don't; every read (index, item, slice inside and across trips, the whole column) gives what
    the flat column of the feed's values would."""
    from routing.timetable import PatternColumn

    stops = grid_stops(4)
    routes = [{"id": "R1"}, {"id": "R2"}]
    b = line_rows("b", ["S0", "S1", "S2", "S3"], 8 * 3600 + 600)
    for i, r in enumerate(b):
        r["seq"] = 10 * (i + 1)  # the same stops and times pattern as "a", other stop_sequence values
    rows = (line_rows("a", ["S0", "S1", "S2", "S3"], 8 * 3600) + b
            + line_rows("c", ["S3", "S2"], 9 * 3600) + line_rows("d", ["S3", "S2"], 9 * 3600 + 600))
    trips = [{"id": "a", "route": "R1"}, {"id": "b", "route": "R1"}, {"id": "c", "route": "R2"},
             {"id": "d", "route": "R2"}]
    m = build_model(Network([make_feed("o", stops, routes, trips, rows)]), DATE)
    assert isinstance(m.st_seq, PatternColumn) and isinstance(m.st_dist, PatternColumn)
    want = {"a": [1, 2, 3, 4], "b": [10, 20, 30, 40], "c": [1, 2], "d": [1, 2]}
    flat = np.asarray(m.st_seq)
    assert flat.dtype == np.int32 and len(flat) == len(m.st_arr) == len(m.st_seq)
    for t in range(m.n_trips):
        off, L = m.trip_times_offset(t)
        assert m.st_seq[off:off + L].tolist() == want[m.trip_ids[t].split(":")[1]]
        assert [m.st_seq.item(off + i) for i in range(L)] == flat[off:off + L].tolist()
        assert m.st_seq[off + 1:off + L + 2].tolist() == flat[off + 1:off + L + 2].tolist()  # across trips
    shared = dict(zip(m.pattern_route.tolist(), m.st_seq.shared.tolist()))
    assert shared == {m.route_ids.index("o:R1"): False, m.route_ids.index("o:R2"): True}
    for p in range(m.n_patterns):  # the row all of a pattern's trips have, only when they have one
        row = m.st_seq.shared_row(p)
        assert (row is None) == (not m.st_seq.shared[p])
        assert row is None or row.tolist() == want["c"] == want["d"]
    assert m.st_seq[-1] == flat[-1] and m.st_seq[[0, -1]].tolist() == flat[[0, -1]].tolist()
    assert np.isnan(np.asarray(m.st_dist)).all() and m.st_dist.dtype == np.float32
    assert m.st_seq.nbytes < flat.nbytes or len(flat) < 64
    with pytest.raises(IndexError):
        m.st_seq[len(flat)]
